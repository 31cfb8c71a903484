/*
 * publisher_probe.c — drives the gateway's publisher (gateway/publisher.c)
 * against the test broker for test_broker_blocked.py, which sets and clears
 * the RabbitMQ memory alarm around it.
 *
 *   publisher_probe THREADS BYTES TIMEOUT_MS
 *
 * Connects (CHIRP_AMQP_URL), prints "ready", waits for a line on stdin, then
 * publishes one message of BYTES bytes from each of THREADS threads at once
 * (routing key "probe.blocked", which no queue is bound to) and prints one
 * line: "done <slowest call in ms> <process CPU ms during the calls>
 * <results>".  Under an alarm a big message cannot be written (the broker
 * stops reading), so this is the case of a caller whose message is stuck in
 * the write: it must still return at its deadline, without spinning.  Then
 * it waits for a second line and exits 0 after freeing the publisher.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_time.h"
#include "../../gateway/publisher.h"

static gw_publisher *pub;
static char *body;
static size_t body_len;

struct call {
  pthread_t th;
  int rc;
  int64_t ms;
};

static void *run(void *arg) {
  struct call *c = arg;
  int64_t t0 = chirp_time_mono_us();
  c->rc = gw_publisher_publish(pub, "probe.blocked", body, body_len);
  c->ms = (chirp_time_mono_us() - t0) / 1000;
  return NULL;
}

static int64_t cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: publisher_probe THREADS BYTES TIMEOUT_MS\n");
    return 2;
  }
  int n = atoi(argv[1]), timeout_ms = atoi(argv[3]);
  body_len = (size_t)atol(argv[2]);
  const char *url = getenv("CHIRP_AMQP_URL");
  if (n < 1 || n > 64 || !url || !(body = malloc(body_len))) return 2;
  memset(body, 'x', body_len);
  if (gw_publisher_new(url, timeout_ms, &pub)) return 1;
  for (int i = 0; i < 200 && !gw_publisher_connected(pub); i++) usleep(50000);
  if (!gw_publisher_connected(pub)) {
    fprintf(stderr, "publisher_probe: not connected\n");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return 1;

  struct call calls[64];
  int64_t cpu0 = cpu_ms();
  for (int i = 0; i < n; i++) pthread_create(&calls[i].th, NULL, run, &calls[i]);
  int64_t slowest = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(calls[i].th, NULL);
    if (calls[i].ms > slowest) slowest = calls[i].ms;
  }
  printf("done %lld %lld", (long long)slowest, (long long)(cpu_ms() - cpu0));
  for (int i = 0; i < n; i++) printf(" %s", calls[i].rc ? chirp_err_code(calls[i].rc) : "ok");
  printf("\n");
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) line[0] = '\0';
  gw_publisher_free(pub);
  free(body);
  return 0;
}
