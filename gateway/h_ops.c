/* h_ops.c — /healthz (the process answers), /readyz (its dependencies do)
   and /metrics. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chirp_keys.h"
#include "chirp_amqp.h"
#include "chirp_error.h"
#include "depths.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "guard.h"
#include "gw.h"
#include "lcache.h"
#include "handlers.h"

void h_healthz(gw_req *req, gw_reply *rep) {
  (void)req;
  gw_reply_json(rep, 200, json_pack("{s:s}", "status", "ok"));
}

/* Each check is "up" or "down" ("blocked" for a broker that stopped
   reading from us under an alarm); a failing check has its reason under
   "reasons". */
void h_readyz(gw_req *req, gw_reply *rep) {
  (void)req;
  char why[128] = "";
  int redis_up = 0, pg_up = 0, amqp_up = gw_publisher_ready(gw.pub, why, sizeof why);
  int amqp_connected = gw_publisher_connected(gw.pub);
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = redisCommand(r, "PING");
    redis_up = !chirp_redis_reply_failed(r, rr);
    if (rr) freeReplyObject(rr);
  }
  PGconn *pg = gw_pg();
  if (pg) pg_up = chirp_pg_exec(pg, "SELECT 1", 0, NULL, NULL) == 0;
  int ready = redis_up && pg_up && amqp_up;
  json_t *body = json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", ready ? "ready" : "unavailable",
                           "checks", "redis", redis_up ? "up" : "down", "postgres",
                           pg_up ? "up" : "down", "rabbitmq",
                           amqp_up ? "up" : amqp_connected ? "blocked" : "down");
  if (body && !ready) {
    json_t *reasons = json_object();
    if (!redis_up) json_object_set_new(reasons, "redis", json_string("unreachable"));
    if (!pg_up) json_object_set_new(reasons, "postgres", json_string("unreachable"));
    if (!amqp_up) json_object_set_new(reasons, "rabbitmq", json_string(why));
    json_object_set_new(body, "reasons", reasons);
  }
  gw_reply_json(rep, ready ? 200 : 503, body);
}

/* A worker counter kept in Redis under chirp:m:<name>, 0 when absent. */
static long long redis_counter(redisContext *r, const char *fmt, const char *a, const char *b) {
  char name[128];
  snprintf(name, sizeof name, fmt, a, b);
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rr = redisCommand(r, "GET %s", chirp_key_metric(key, name));
  long long v = rr && rr->type == REDIS_REPLY_STRING ? strtoll(rr->str, NULL, 10) : 0;
  if (rr) freeReplyObject(rr);
  return v;
}

/* Prometheus text: the gateway's own counters, then the workers' (they
   keep theirs in Redis under chirp:m:*).  With CHIRP_METRICS_TOKEN set, only
   for "Authorization: Bearer <that token>". */
void h_metrics(gw_req *req, gw_reply *rep) {
  size_t tn = strlen(gw.cfg.metrics_token);
  if (tn) {
    const char *h = u_map_get_case(req->u->map_header, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != tn ||
        sodium_memcmp(h + 7, gw.cfg.metrics_token, tn) != 0) {
      gw_reply_error(rep, CHIRP_EUNAUTHORIZED, NULL, NULL,
                     "send Authorization: Bearer <CHIRP_METRICS_TOKEN>");
      return;
    }
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  gw_http_metrics(&buf, &len, &cap);
  gw_publisher_stats ps;
  gw_publisher_get_stats(gw.pub, &ps);
  gw_appendf(&buf, &len, &cap,
             "# TYPE chirp_amqp_published_total counter\nchirp_amqp_published_total %llu\n"
             "# HELP chirp_amqp_messages_total AMQP messages the published events went out in "
             "(events waiting together share one).\n"
             "# TYPE chirp_amqp_messages_total counter\nchirp_amqp_messages_total %llu\n"
             "# TYPE chirp_amqp_confirmed_total counter\nchirp_amqp_confirmed_total %llu\n"
             "# TYPE chirp_amqp_failed_total counter\nchirp_amqp_failed_total %llu\n"
             "# TYPE chirp_amqp_connects_total counter\nchirp_amqp_connects_total %llu\n"
             "# TYPE chirp_amqp_connected gauge\nchirp_amqp_connected %d\n"
             "# HELP chirp_amqp_blocked 1 while the broker blocks this gateway's publishing "
             "(a memory or disk alarm) or a write to it is stuck.\n"
             "# TYPE chirp_amqp_blocked gauge\nchirp_amqp_blocked %d\n"
             "# TYPE chirp_amqp_blocked_total counter\nchirp_amqp_blocked_total %llu\n",
             ps.published, ps.messages, ps.confirmed, ps.failed, ps.reconnects, gw_publisher_connected(gw.pub),
             ps.blocked, ps.blocked_total);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_cache_requests_total Tweet reads by where they were answered from.\n"
             "# TYPE chirp_cache_requests_total counter\n"
             "chirp_cache_requests_total{result=\"hit\"} %llu\nchirp_cache_requests_total{result=\"miss\"} %llu\n",
             (unsigned long long)gw_cache_hits, (unsigned long long)gw_cache_misses);
  unsigned long long lh, lm, li, lf;
  int lup;
  gw_lcache_counts(&lh, &lm, &li, &lf, &lup);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_local_cache_lookups_total Lookups in the objects held in this gateway.\n"
             "# TYPE chirp_local_cache_lookups_total counter\n"
             "chirp_local_cache_lookups_total{result=\"hit\"} %llu\n"
             "chirp_local_cache_lookups_total{result=\"miss\"} %llu\n"
             "# HELP chirp_local_cache_invalidations_total Keys Redis said changed.\n"
             "# TYPE chirp_local_cache_invalidations_total counter\n"
             "chirp_local_cache_invalidations_total %llu\n"
             "# HELP chirp_local_cache_flushes_total Times the whole local cache was dropped "
             "(the invalidation link came up, went down, or Redis was flushed).\n"
             "# TYPE chirp_local_cache_flushes_total counter\nchirp_local_cache_flushes_total %llu\n"
             "# HELP chirp_local_cache_up 1 while invalidations are subscribed and the local cache "
             "is in use.\n"
             "# TYPE chirp_local_cache_up gauge\nchirp_local_cache_up %d\n",
             lh, lm, li, lf, lup);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_rate_limit_fail_open_total Requests let through unchecked because "
             "the rate limiter could not reach Redis.\n"
             "# TYPE chirp_rate_limit_fail_open_total counter\nchirp_rate_limit_fail_open_total %llu\n",
             gw_guard_rate_fail_open());
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_db_queries_total Statements this gateway sent to PostgreSQL.\n"
             "# TYPE chirp_db_queries_total counter\nchirp_db_queries_total %llu\n",
             chirp_pg_total_queries());
  static const char *const worker_metrics[][2] = {
      {"likes_received", "like events the like batcher took in"},
      {"likes_statements", "statements the like batcher issued to PostgreSQL"},
  };
  redisContext *r = gw_redis();
  for (size_t i = 0; r && i < sizeof worker_metrics / sizeof worker_metrics[0]; i++) {
    char key[CHIRP_KEY_BUFSZ];
    redisReply *rr = redisCommand(r, "GET %s", chirp_key_metric(key, worker_metrics[i][0]));
    long long v = rr && rr->type == REDIS_REPLY_STRING ? strtoll(rr->str, NULL, 10) : 0;
    if (rr) freeReplyObject(rr);
    gw_appendf(&buf, &len, &cap, "# HELP chirp_%s_total %s.\n# TYPE chirp_%s_total counter\nchirp_%s_total %lld\n",
               worker_metrics[i][0], worker_metrics[i][1], worker_metrics[i][0], worker_metrics[i][0], v);
  }
  /* Per worker role: events processed and failed (dead-lettered), dead
     letters, and the depth of its queue — each metric one group of lines,
     as the text format wants. */
  enum { MAX_ROLES = 16 };
  const chirp_amqp_role *roles = chirp_amqp_roles();
  long long ev[MAX_ROLES][2] = {{0}}, dead[MAX_ROLES] = {0};
  long long depth[MAX_ROLES + 1];
  size_t nroles = 0;
  while (roles[nroles].name && nroles < MAX_ROLES) nroles++;
  for (size_t i = 0; i <= nroles; i++) depth[i] = -1;
  static const char *const what[] = {"processed", "failed"};
  for (size_t i = 0; r && i < nroles; i++) {
    for (int k = 0; k < 2; k++) ev[i][k] = redis_counter(r, "events:%s:%s", roles[i].name, what[k]);
    dead[i] = redis_counter(r, "dead_letters:%s", roles[i].name, "");
  }
  const char *queues[MAX_ROLES + 1];
  for (size_t i = 0; i < nroles; i++) queues[i] = roles[i].queue;
  queues[nroles] = CHIRP_AMQP_DEAD_QUEUE;
  gw_depths_get(queues, nroles + 1, depth);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_worker_events_total Events each worker role applied or gave up on.\n"
             "# TYPE chirp_worker_events_total counter\n");
  for (size_t i = 0; i < nroles; i++)
    for (int k = 0; k < 2; k++)
      gw_appendf(&buf, &len, &cap, "chirp_worker_events_total{role=\"%s\",result=\"%s\"} %lld\n",
                 roles[i].name, what[k], ev[i][k]);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_dead_letters_total Messages sent to chirp.dead, by role.\n"
             "# TYPE chirp_dead_letters_total counter\n");
  for (size_t i = 0; i < nroles; i++)
    gw_appendf(&buf, &len, &cap, "chirp_dead_letters_total{role=\"%s\"} %lld\n", roles[i].name,
               dead[i]);
  gw_appendf(&buf, &len, &cap,
             "# HELP chirp_queue_depth Messages ready in each queue.\n# TYPE chirp_queue_depth gauge\n");
  for (size_t i = 0; i <= nroles; i++)
    if (depth[i] >= 0)
      gw_appendf(&buf, &len, &cap, "chirp_queue_depth{queue=\"%s\"} %lld\n",
                 i < nroles ? roles[i].queue : CHIRP_AMQP_DEAD_QUEUE, depth[i]);
  rep->status = 200;
  rep->raw = buf;
  rep->raw_len = len;
  rep->content_type = "text/plain; version=0.0.4";
}
