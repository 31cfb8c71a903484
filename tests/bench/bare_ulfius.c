/*
 * bare_ulfius.c — the framework's own ceiling: a ulfius server that answers
 * every request with the bytes of one file, held in memory, with the
 * gateway's libmicrohttpd settings (gateway/main.c: an epoll thread pool of
 * the same size, the same per-connection memory and timeout).  The
 * benchmarks compare the gateway's figures to it: the ratio is Chirp's own
 * overhead on top of ulfius.
 *
 *   bare_ulfius PORT THREADS FILE
 *
 * Listens on 127.0.0.1:PORT until SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

static char *body;
static size_t body_len;

static int answer(const struct _u_request *req, struct _u_response *resp, void *data) {
  (void)req;
  (void)data;
  ulfius_set_binary_body_response(resp, 200, body, body_len);
  u_map_put(resp->map_header, "Content-Type", "application/json");
  return U_CALLBACK_COMPLETE;
}

static int load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int rc = -1;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (body = malloc((size_t)n + 1))) {
      body_len = fread(body, 1, (size_t)n, f);
      rc = body_len == (size_t)n ? 0 : -1;
    }
  }
  fclose(f);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: bare_ulfius PORT THREADS FILE\n");
    return 2;
  }
  int port = atoi(argv[1]), threads = atoi(argv[2]);
  if (port < 1 || port > 65535 || threads < 1 || load(argv[3])) {
    fprintf(stderr, "bare_ulfius: bad port, thread count or file\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  struct _u_instance u;
  if (ulfius_init_instance(&u, (unsigned)port, &addr, NULL) != U_OK) return 1;
  ulfius_set_default_endpoint(&u, answer, NULL);
  struct MHD_OptionItem ops[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL},
      {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  if (ulfius_start_framework_with_mhd_options(
          &u, MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_INTERNAL_POLLING_THREAD, ops) != U_OK) {
    fprintf(stderr, "bare_ulfius: cannot listen on 127.0.0.1:%d\n", port);
    ulfius_clean_instance(&u);
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  ulfius_stop_framework(&u);
  ulfius_clean_instance(&u);
  free(body);
  return 0;
}
