/* depths.c — queue depths on one long-lived connection, see depths.h. */
#include "depths.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "chirp_amqp.h"
#include "chirp_time.h"
#include "gw.h"

#define MAX_QUEUES 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static amqp_connection_state_t conn; /* NULL while not connected */
static int64_t refreshed_us;         /* last refresh (or attempt); 0 = never */
static size_t cached_n;
static char cached_name[MAX_QUEUES][64];
static long long cached_depth[MAX_QUEUES];

/* Under mu: reads every depth on conn (connecting first if needed). */
static void refresh(const char *const *queues, size_t n) {
  for (size_t i = 0; i < n; i++) {
    snprintf(cached_name[i], sizeof cached_name[i], "%s", queues[i]);
    cached_depth[i] = -1;
  }
  cached_n = n;
  if (!conn && chirp_amqp_connect(gw.cfg.amqp_url, 1000, 0, &conn) != 0) conn = NULL;
  for (size_t i = 0; conn && i < n; i++) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(
        conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(queues[i]), 1, 0, 0, 0, amqp_empty_table);
    if (!ok) {
      /* A failed passive declare closes the channel, and a broken socket
         fails it too: start again on the next refresh. */
      (void)chirp_amqp_check(amqp_get_rpc_reply(conn), "queue depth");
      chirp_amqp_close(conn);
      conn = NULL;
      break;
    }
    cached_depth[i] = ok->message_count;
  }
  if (conn) amqp_maybe_release_buffers(conn);
  refreshed_us = chirp_time_mono_us();
}

void gw_depths_get(const char *const *queues, size_t n, long long *depth) {
  if (n > MAX_QUEUES) n = MAX_QUEUES;
  pthread_mutex_lock(&mu);
  int same = cached_n == n;
  for (size_t i = 0; same && i < n; i++) same = strcmp(cached_name[i], queues[i]) == 0;
  if (!same || !refreshed_us ||
      chirp_time_mono_us() - refreshed_us >= (int64_t)GW_DEPTHS_REFRESH_MS * 1000)
    refresh(queues, n);
  for (size_t i = 0; i < n; i++) depth[i] = cached_depth[i];
  pthread_mutex_unlock(&mu);
}

void gw_depths_cleanup(void) {
  pthread_mutex_lock(&mu);
  chirp_amqp_close(conn);
  conn = NULL;
  pthread_mutex_unlock(&mu);
}
