/*
 * main.c — chirp-gateway: configuration, the HTTP server (ulfius on
 * libmicrohttpd with an epoll thread pool), the publisher, the stream hub
 * (stream.h), and a clean stop on SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_log.h"
#include "chirp_redis.h"
#include "chirp_registry.h"
#include "chirp_time.h"
#include "depths.h"
#include "gw.h"
#include "lcache.h"
#include "routes.h"
#include "static.h"
#include "stream.h"

/* Beats into the service registry every few seconds until stopped. */
static volatile int beating = 1;
static pthread_mutex_t beat_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t beat_cv = PTHREAD_COND_INITIALIZER;

static void *heartbeat_main(void *arg) {
  (void)arg;
  char instance[96], address[64];
  snprintf(instance, sizeof instance, "gateway-%s:%d-%d", gw.cfg.http_bind, gw.cfg.http_port,
           (int)getpid());
  snprintf(address, sizeof address, "http://%s:%d", gw.cfg.http_bind, gw.cfg.http_port);
  redisContext *r = NULL;
  pthread_mutex_lock(&beat_mu);
  while (beating) {
    pthread_mutex_unlock(&beat_mu);
    if (!r && chirp_redis_connect(gw.cfg.redis_url, 1000, &r) != 0) r = NULL;
    if (r && chirp_registry_beat(r, instance, "gateway", address, gw.started_ms,
                                 gw_publisher_ready(gw.pub, NULL, 0) ? "ok" : "broker_down") != 0) {
      redisFree(r);
      r = NULL;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CHIRP_REGISTRY_BEAT_S;
    pthread_mutex_lock(&beat_mu);
    if (beating) pthread_cond_timedwait(&beat_cv, &beat_mu, &until);
  }
  pthread_mutex_unlock(&beat_mu);
  if (r) redisFree(r);
  return NULL;
}

/* At most this many HTTP connections at once (a gateway behind HAProxy
   sees at most its maxconn). */
#define GW_MAX_CONNECTIONS 16384
/* A connection that sends nothing for this long is closed (an idle
   keep-alive, a stalled request).  HAProxy's own limits are shorter. */
#define GW_CONNECTION_TIMEOUT_S 60

/* How many HTTP connections may be open at once: what the descriptor limit
   leaves after the process's own connections (PostgreSQL, Redis and the
   broker: a few per HTTP thread), raising the soft limit to the hard one
   first.  libmicrohttpd's default is FD_SETSIZE - 4 = 1020, and at its limit
   it stops accepting: 1 020 idle sockets then left every other client
   waiting in the listen backlog (tests/e2e/test_hostile.py). */
static unsigned connection_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1020;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
    struct rlimit up = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  long long fds = rl.rlim_cur == RLIM_INFINITY ? GW_MAX_CONNECTIONS * 2LL : (long long)rl.rlim_cur;
  long long n = fds - 4LL * gw.cfg.http_threads - 64;
  if (n > GW_MAX_CONNECTIONS) n = GW_MAX_CONNECTIONS;
  if (n < 64) n = 64;
  return (unsigned)n;
}

int main(int argc, char **argv) {
  /* --print-routes: the route table, one "METHOD /path" a line (the tests
     compare it with the OpenAPI document). */
  if (argc == 2 && strcmp(argv[1], "--print-routes") == 0) {
    for (const gw_route *r = gw_routes(); r->method; r++) printf("%s %s\n", r->method, r->path);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  char err[256];
  if (chirp_config_load(&gw.cfg, err, sizeof err)) {
    fprintf(stderr, "chirp-gateway: bad configuration: %s\n", err);
    return 2;
  }
  chirp_log_set_name("gateway");
  chirp_log_set_level(gw.cfg.log_level);
  if (sodium_init() < 0) {
    chirp_error("libsodium failed to initialise");
    return 1;
  }
  int node = gw.cfg.node_id >= 0 ? gw.cfg.node_id : (int)(getpid() % (CHIRP_ID_NODE_MAX + 1));
  chirp_idgen_init(&gw.ids, node);
  gw.started_ms = chirp_time_now_ms();

  /* Signals are taken by sigwait below; every thread inherits the mask. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Every open stream holds a descriptor: take the hard limit (Debian's
     soft default of 1 024 would cap the streams near 1 000). */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &nofile);
  }

  int rc = 1;
  struct _u_instance u;
  int u_ready = 0, started = 0, streams = 0;
  if (gw_conns_init() || gw_lcache_start() ||
      gw_publisher_new(gw.cfg.amqp_url, gw.cfg.publish_timeout_ms, &gw.pub)) {
    chirp_error("cannot start the publisher");
    goto out;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw.cfg.http_port)};
  inet_pton(AF_INET, gw.cfg.http_bind, &addr.sin_addr);
  if (ulfius_init_instance(&u, (unsigned)gw.cfg.http_port, &addr, NULL) != U_OK) {
    chirp_error("cannot initialise ulfius");
    goto out;
  }
  u_ready = 1;
  /* One byte over the limit is kept, so the dispatcher can tell "at the
     limit" from "over it" and answer 413. */
  u.max_post_body_size = GW_MAX_BODY + 1;
  if (gw_static_init() || gw_http_register(&u, gw_routes())) goto out;
  if (gw_stream_start(err, sizeof err)) {
    chirp_error("cannot start the streams: %s", err);
    goto out;
  }
  streams = 1;

  /* Passing MHD options ourselves means ulfius adds none of its own: the
     completion and URI-log callbacks are required (without them requests
     leak and routing breaks). */
  unsigned conn_limit = connection_limit();
  struct MHD_OptionItem ops[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, gw.cfg.http_threads, NULL},
      /* ulfius's own callbacks, wrapped: a stream needs its MHD connection. */
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)gw_stream_request_completed, NULL},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)gw_stream_uri_logger, NULL},
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      /* Request line and headers share this per-connection buffer: past it
         libmicrohttpd answers 414/431 by itself (in HTML).  It is kept well
         above the API's 8 KiB limit so that the dispatcher, which
         answers in JSON, sees every request up to about 20 KiB. */
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
      /* Open streams and idle or trickling connections count alike (the
         default limit is about 1 000): see connection_limit() and
         docs/decisions.md (hostile clients). */
      {MHD_OPTION_CONNECTION_LIMIT, conn_limit, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, GW_CONNECTION_TIMEOUT_S, NULL},
      {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  if (ulfius_start_framework_with_mhd_options(
          &u, MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME,
          ops) != U_OK) {
    chirp_error("cannot listen on %s:%d", gw.cfg.http_bind, gw.cfg.http_port);
    goto out;
  }
  started = 1;
  pthread_t beat;
  int beat_started = pthread_create(&beat, NULL, heartbeat_main, NULL) == 0;
  chirp_info("listening on http://%s:%d/ with %d threads, up to %u connections (node %d)",
             gw.cfg.http_bind, gw.cfg.http_port, gw.cfg.http_threads, conn_limit, node);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  chirp_info("signal %d: stopping", sig);
  rc = 0;
  if (beat_started) {
    pthread_mutex_lock(&beat_mu);
    beating = 0;
    pthread_cond_signal(&beat_cv);
    pthread_mutex_unlock(&beat_mu);
    pthread_join(beat, NULL);
  }
out:
  /* Streams end first: libmicrohttpd cannot stop with suspended ones. */
  if (streams) gw_stream_stop();
  if (started) ulfius_stop_framework(&u);
  if (u_ready) ulfius_clean_instance(&u);
  gw_lcache_stop();
  gw_publisher_free(gw.pub);
  gw_depths_cleanup();
  gw_static_cleanup();
  return rc;
}
