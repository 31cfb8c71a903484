/*
 * main.c — chirp-gateway: configuration, the HTTP server (ulfius on
 * libmicrohttpd with an epoll thread pool), the publisher, and a clean stop
 * on SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void) {
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

  int rc = 1;
  struct _u_instance u;
  int u_ready = 0, started = 0;
  if (gw_conns_init() || gw_lcache_start() || gw_publisher_new(gw.cfg.amqp_url, gw.cfg.publish_timeout_ms, &gw.pub)) {
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
  if (gw_http_register(&u, gw_routes())) goto out;

  /* Passing MHD options ourselves means ulfius adds none of its own: the
     completion and URI-log callbacks are required (without them requests
     leak and routing breaks). */
  struct MHD_OptionItem ops[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, gw.cfg.http_threads, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      /* Request line and headers share this per-connection buffer: past it
         libmicrohttpd answers 414/431 by itself (in HTML).  It is kept well
         above the 8 KiB limit of DESIGN.md so that the dispatcher, which
         answers in JSON, sees every request up to about 20 KiB. */
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL},
      {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  if (ulfius_start_framework_with_mhd_options(
          &u, MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_INTERNAL_POLLING_THREAD, ops) != U_OK) {
    chirp_error("cannot listen on %s:%d", gw.cfg.http_bind, gw.cfg.http_port);
    goto out;
  }
  started = 1;
  pthread_t beat;
  int beat_started = pthread_create(&beat, NULL, heartbeat_main, NULL) == 0;
  chirp_info("listening on http://%s:%d/ with %d threads (node %d)", gw.cfg.http_bind,
             gw.cfg.http_port, gw.cfg.http_threads, node);

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
  if (started) ulfius_stop_framework(&u);
  if (u_ready) ulfius_clean_instance(&u);
  gw_lcache_stop();
  gw_publisher_free(gw.pub);
  gw_depths_cleanup();
  return rc;
}
