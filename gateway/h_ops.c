/* h_ops.c — /healthz (the process answers) and /readyz (its dependencies do). */
#include <stdlib.h>

#include "chirp_amqp.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "gw.h"
#include "handlers.h"

void h_healthz(gw_req *req, gw_reply *rep) {
  (void)req;
  gw_reply_json(rep, 200, json_pack("{s:s}", "status", "ok"));
}

void h_readyz(gw_req *req, gw_reply *rep) {
  (void)req;
  int redis_up = 0, pg_up = 0, amqp_up = gw_publisher_connected(gw.pub);
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = redisCommand(r, "PING");
    redis_up = !chirp_redis_reply_failed(r, rr);
    if (rr) freeReplyObject(rr);
  }
  PGconn *pg = gw_pg();
  if (pg) pg_up = chirp_pg_exec(pg, "SELECT 1", 0, NULL, NULL) == 0;
  int ready = redis_up && pg_up && amqp_up;
  gw_reply_json(rep, ready ? 200 : 503,
                json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", ready ? "ready" : "unavailable",
                          "checks", "redis", redis_up ? "up" : "down", "postgres",
                          pg_up ? "up" : "down", "rabbitmq", amqp_up ? "up" : "down"));
}

/* Prometheus text: the gateway's own counters, then the workers' (they
   keep theirs in Redis under chirp:m:*). */
void h_metrics(gw_req *req, gw_reply *rep) {
  (void)req;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  gw_http_metrics(&buf, &len, &cap);
  gw_publisher_stats ps;
  gw_publisher_get_stats(gw.pub, &ps);
  gw_appendf(&buf, &len, &cap,
             "# TYPE chirp_amqp_published_total counter\nchirp_amqp_published_total %llu\n"
             "# TYPE chirp_amqp_confirmed_total counter\nchirp_amqp_confirmed_total %llu\n"
             "# TYPE chirp_amqp_failed_total counter\nchirp_amqp_failed_total %llu\n"
             "# TYPE chirp_amqp_connects_total counter\nchirp_amqp_connects_total %llu\n"
             "# TYPE chirp_amqp_connected gauge\nchirp_amqp_connected %d\n",
             ps.published, ps.confirmed, ps.failed, ps.reconnects, gw_publisher_connected(gw.pub));
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
    redisReply *rr = redisCommand(r, "GET chirp:m:%s", worker_metrics[i][0]);
    long long v = rr && rr->type == REDIS_REPLY_STRING ? strtoll(rr->str, NULL, 10) : 0;
    if (rr) freeReplyObject(rr);
    gw_appendf(&buf, &len, &cap, "# HELP chirp_%s_total %s.\n# TYPE chirp_%s_total counter\nchirp_%s_total %lld\n",
               worker_metrics[i][0], worker_metrics[i][1], worker_metrics[i][0], worker_metrics[i][0], v);
  }
  /* Per worker role: events processed and failed (dead-lettered), dead
     letters, and the depth of its queue. */
  amqp_connection_state_t q = NULL;
  int have_q = chirp_amqp_connect(gw.cfg.amqp_url, 1000, 0, &q) == 0;
  gw_appendf(&buf, &len, &cap,
             "# TYPE chirp_worker_events_total counter\n# TYPE chirp_dead_letters_total counter\n"
             "# TYPE chirp_queue_depth gauge\n");
  for (const chirp_amqp_role *role = chirp_amqp_roles(); role->name; role++) {
    static const char *const what[] = {"processed", "failed"};
    for (int k = 0; r && k < 2; k++) {
      redisReply *rr = redisCommand(r, "GET chirp:m:events:%s:%s", role->name, what[k]);
      long long v = rr && rr->type == REDIS_REPLY_STRING ? strtoll(rr->str, NULL, 10) : 0;
      if (rr) freeReplyObject(rr);
      gw_appendf(&buf, &len, &cap, "chirp_worker_events_total{role=\"%s\",result=\"%s\"} %lld\n",
                 role->name, what[k], v);
    }
    if (r) {
      redisReply *rr = redisCommand(r, "GET chirp:m:dead_letters:%s", role->name);
      long long v = rr && rr->type == REDIS_REPLY_STRING ? strtoll(rr->str, NULL, 10) : 0;
      if (rr) freeReplyObject(rr);
      gw_appendf(&buf, &len, &cap, "chirp_dead_letters_total{role=\"%s\"} %lld\n", role->name, v);
    }
    if (have_q) {
      amqp_queue_declare_ok_t *ok = amqp_queue_declare(q, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(role->queue),
                                                       1, 0, 0, 0, amqp_empty_table);
      if (ok)
        gw_appendf(&buf, &len, &cap, "chirp_queue_depth{queue=\"%s\"} %u\n", role->queue,
                   ok->message_count);
      else
        have_q = 0; /* a failed passive declare closes the channel */
    }
  }
  if (have_q) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(
        q, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE), 1, 0, 0, 0, amqp_empty_table);
    if (ok)
      gw_appendf(&buf, &len, &cap, "chirp_queue_depth{queue=\"%s\"} %u\n", CHIRP_AMQP_DEAD_QUEUE,
                 ok->message_count);
  }
  chirp_amqp_close(q);
  rep->status = 200;
  rep->raw = buf;
  rep->raw_len = len;
  rep->content_type = "text/plain; version=0.0.4";
}
