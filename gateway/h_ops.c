/* h_ops.c — /healthz (the process answers) and /readyz (its dependencies do). */
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
