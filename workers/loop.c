/* loop.c — consume → decode → claim and apply in one transaction → ack. */
#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "chirp_keys.h"
#include "chirp_amqp.h"
#include "chirp_error.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_registry.h"
#include "chirp_time.h"
#include "worker.h"

enum msg_fate { FATE_APPLY, FATE_SKIP, FATE_DEAD };

typedef struct wk_msg {
  uint64_t tag;
  char *body;       /* a copy of the message, kept for a dead letter */
  size_t len;
  char key[64];     /* its routing key */
  enum msg_fate fate;
  int decoded;
  chirp_event ev;
  void *state;
  char why[160];
} wk_msg;

/* The consumer connection of the loop, and the deliveries that arrived
   while a batch waited for a dependency (the next batch takes them first;
   the prefetch bounds them: with the batch they are at most cap). */
typedef struct wk_consumer {
  amqp_connection_state_t conn;
  wk_msg *early;
  size_t nearly, cap;
  int broken; /* the connection failed: drop it, the broker redelivers */
} wk_consumer;

static void msg_cleanup(const wk_role_ops *role, wk_msg *m) {
  if (m->state) role->free_state(m->state);
  if (m->decoded) chirp_event_cleanup(&m->ev);
  free(m->body);
  memset(m, 0, sizeof *m);
}

static void decode(const wk_role_ops *role, wk_msg *m, const amqp_envelope_t *env) {
  m->tag = env->delivery_tag;
  m->len = env->message.body.len;
  m->body = malloc(m->len ? m->len : 1);
  if (m->body) memcpy(m->body, env->message.body.bytes, m->len);
  snprintf(m->key, sizeof m->key, "%.*s", (int)env->routing_key.len, (char *)env->routing_key.bytes);
  int rc = chirp_event_decode(env->message.body.bytes, env->message.body.len, &m->ev, m->why,
                              sizeof m->why);
  if (rc) {
    m->fate = FATE_DEAD;
    return;
  }
  m->decoded = 1;
  rc = role->decode(&m->ev, &m->state, m->why, sizeof m->why);
  m->fate = rc == 0 ? FATE_APPLY : rc == CHIRP_ENOTFOUND ? FATE_SKIP : FATE_DEAD;
  if (rc && rc != CHIRP_ENOTFOUND && rc != CHIRP_EMALFORMED)
    snprintf(m->why, sizeof m->why, "decode failed: %s", chirp_strerror(rc));
}

/* Claims the event for the role: 1 when new, 0 when already applied. */
static int claim(PGconn *pg, const char *role, int64_t event_id, int *is_new) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)event_id);
  const char *p[] = {role, id};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO processed_events (role, event_id) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING",
                         2, p, &r);
  if (rc) return rc;
  *is_new = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  return 0;
}

/* One transaction over msgs[0..n): returns 0 after COMMIT.  applied[i] is
   set for the events applied now (not before). */
static int apply_tx(wk_ctx *ctx, const wk_role_ops *role, wk_msg *msgs, size_t n, int *applied) {
  int rc = chirp_pg_begin(ctx->pg);
  for (size_t i = 0; !rc && i < n; i++) {
    applied[i] = 0;
    if (msgs[i].fate != FATE_APPLY) continue;
    int is_new = 1;
    if (role->claims) rc = claim(ctx->pg, role->name, msgs[i].ev.event_id, &is_new);
    if (!rc && is_new) {
      rc = role->apply(ctx, &msgs[i].ev, msgs[i].state);
      applied[i] = rc == 0;
    }
  }
  if (!rc) rc = chirp_pg_commit(ctx->pg);
  if (rc) chirp_pg_rollback(ctx->pg);
  return rc;
}

int wk_ensure_pg(wk_ctx *ctx) {
  if (ctx->pg && PQstatus(ctx->pg) == CONNECTION_OK) return 0;
  if (ctx->pg) PQfinish(ctx->pg);
  ctx->pg = NULL;
  return chirp_pg_connect(ctx->cfg->pg_url, &ctx->pg);
}

void wk_ensure_redis(wk_ctx *ctx) {
  /* A connection left with pipelined replies unread would hand them to
     the next command as its own: it goes like a broken one. */
  if (ctx->redis && !ctx->redis->err && !chirp_redis_pending(ctx->redis)) return;
  if (ctx->redis) redisFree(ctx->redis);
  ctx->redis = NULL;
  if (chirp_redis_connect(ctx->cfg->redis_url, 1000, &ctx->redis) != 0) ctx->redis = NULL;
}

int wk_publisher(wk_ctx *ctx) {
  if (ctx->pub) return 0;
  if (chirp_amqp_connect(ctx->cfg->amqp_url, 2000, 0, &ctx->pub)) {
    ctx->pub = NULL;
    return CHIRP_EUNAVAILABLE;
  }
  amqp_confirm_select(ctx->pub, CHIRP_AMQP_CHANNEL);
  if (chirp_amqp_check(amqp_get_rpc_reply(ctx->pub), "confirm.select")) {
    chirp_amqp_close(ctx->pub);
    ctx->pub = NULL;
    return CHIRP_EUNAVAILABLE;
  }
  ctx->pub_tag = 0;
  return 0;
}

void wk_metric(wk_ctx *ctx, const char *name, long long delta) {
  if (!ctx->redis || delta == 0) return;
  char key[CHIRP_KEY_BUFSZ];
  redisReply *r = redisCommand(ctx->redis, "INCRBY %s %lld", chirp_key_metric(key, name), delta);
  if (r) freeReplyObject(r);
}

void wk_heartbeat(wk_ctx *ctx, const char *role, int64_t started_ms) {
  int64_t now = chirp_time_now_ms();
  if (!ctx->redis || now - ctx->beat_ms < CHIRP_REGISTRY_BEAT_S * 1000) return;
  ctx->beat_ms = now;
  char instance[96], address[32];
  snprintf(instance, sizeof instance, "worker-%s-%d", role, (int)getpid());
  snprintf(address, sizeof address, "pid %d", (int)getpid());
  /* Health is what the worker can reach now, not what it happened to use. */
  int db = wk_ensure_pg(ctx) == 0;
  (void)chirp_registry_beat(ctx->redis, instance, role, address, started_ms,
                            db ? "ok" : "database_down");
}

int wk_publish(wk_ctx *ctx, const char *type, int64_t actor, json_t *const *payloads, size_t n) {
  if (wk_publisher(ctx)) return CHIRP_EUNAVAILABLE;
  char **bodies = calloc(n ? n : 1, sizeof *bodies);
  size_t *lens = calloc(n ? n : 1, sizeof *lens);
  int rc = bodies && lens ? 0 : CHIRP_ENOMEM;
  int64_t now = chirp_time_now_ms();
  for (size_t i = 0; !rc && i < n; i++)
    rc = chirp_event_encode(chirp_idgen_next(&ctx->ids), type, now, actor, payloads[i], &bodies[i],
                            &lens[i]);
  if (!rc)
    rc = chirp_amqp_publish_confirmed(ctx->pub, &ctx->pub_tag, type, bodies, lens, n, 5000);
  for (size_t i = 0; bodies && i < n; i++) free(bodies[i]);
  free(bodies);
  free(lens);
  if (rc == CHIRP_EUNAVAILABLE) {
    amqp_destroy_connection(ctx->pub);
    ctx->pub = NULL;
  }
  return rc;
}

/* Waits ms milliseconds while servicing the consumer connection: the
   library sends and checks AMQP heartbeats only inside its calls, so a
   worker that slept in a retry loop through an outage longer than two
   heartbeats was dropped by the broker.  Deliveries that arrive meanwhile
   (the prefetch window not yet full) are decoded and kept for the next
   batch; `held` messages are in the batch being retried.  Returns 0, or -1
   once the connection is broken (then it just sleeps: nothing to service,
   and the broker redelivers whatever was unacked). */
static int pause_serviced(wk_consumer *c, const wk_role_ops *role, size_t held, int ms) {
  int64_t deadline = chirp_time_mono_us() + (int64_t)ms * 1000;
  while (!c->broken) {
    int64_t left = deadline - chirp_time_mono_us();
    if (left <= 0) return 0;
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    amqp_envelope_t env;
    amqp_maybe_release_buffers(c->conn);
    amqp_rpc_reply_t r = amqp_consume_message(c->conn, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
      return 0;
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      chirp_amqp_check(r, "consume while waiting");
      c->broken = 1;
      break;
    }
    if (held + c->nearly >= c->cap) { /* more than the prefetch: cannot happen */
      chirp_error("delivery beyond the prefetch (%zu held); reconnecting", held + c->nearly);
      amqp_destroy_envelope(&env);
      c->broken = 1;
      break;
    }
    decode(role, &c->early[c->nearly++], &env);
    amqp_destroy_envelope(&env);
  }
  int64_t left = deadline - chirp_time_mono_us();
  if (left > 0) usleep((useconds_t)left);
  return -1;
}

/* Commits the batch, retrying while PostgreSQL is down (servicing the
   consumer connection meanwhile); a batch that fails for another reason is
   retried one message at a time, and a message that fails alone is
   dead-lettered.  Returns 0; -1 when asked to stop; 1 when the consumer
   connection broke meanwhile (the broker redelivers the batch: drop it). */
static int commit_batch(wk_ctx *ctx, const wk_role_ops *role, wk_consumer *c, wk_msg *msgs,
                        size_t n, int *applied, volatile sig_atomic_t *stop) {
  for (;;) {
    if (*stop) return -1;
    if (wk_ensure_pg(ctx) != 0) {
      chirp_warn("PostgreSQL unreachable; holding %zu message(s) unacked", n);
      if (pause_serviced(c, role, n, 1000)) return 1;
      continue;
    }
    wk_ensure_redis(ctx);
    int rc = apply_tx(ctx, role, msgs, n, applied);
    if (rc == 0) return 0;
    if (rc == CHIRP_EUNAVAILABLE) { /* a dependency is down: wait, reconnect, retry */
      chirp_warn("a dependency is unavailable; retrying %zu message(s)", n);
      if (pause_serviced(c, role, n, 200)) return 1;
      continue;
    }
    break;
  }
  chirp_warn("batch of %zu failed; retrying message by message", n);
  for (size_t i = 0; i < n; i++) {
    for (int tries = 1;; tries++) {
      if (*stop) return -1;
      if (wk_ensure_pg(ctx) != 0) {
        if (pause_serviced(c, role, n, 1000)) return 1;
        continue;
      }
      wk_ensure_redis(ctx);
      int rc = apply_tx(ctx, role, &msgs[i], 1, &applied[i]);
      if (rc == CHIRP_EUNAVAILABLE) {
        if (pause_serviced(c, role, n, 200)) return 1;
        continue;
      }
      if (rc && tries < ctx->cfg->max_retries) continue; /* a bounded number of tries */
      if (rc) {
        msgs[i].fate = FATE_DEAD;
        snprintf(msgs[i].why, sizeof msgs[i].why, "apply failed %d times: %s", tries,
                 chirp_strerror(rc));
      }
      break;
    }
  }
  return 0;
}

/* Runs the Redis side of each applied event, waiting out a Redis outage
   (the batch stays unacked meanwhile, the consumer connection serviced).
   It completes even if that connection broke: a redelivered event finds
   its claim and would not run this again.  Returns 0, or -1 when asked to
   stop. */
static int after_commit_all(wk_ctx *ctx, const wk_role_ops *role, wk_consumer *c, wk_msg *msgs,
                            size_t n, const int *applied, volatile sig_atomic_t *stop) {
  for (size_t i = 0; i < n; i++) {
    if (!applied[i]) continue;
    for (;;) {
      wk_ensure_redis(ctx);
      if (wk_ensure_pg(ctx) == 0) {
        int rc = role->after_commit(ctx, &msgs[i].ev, msgs[i].state);
        if (rc != CHIRP_EUNAVAILABLE) {
          if (rc) chirp_warn("%s: after the commit: %s", msgs[i].ev.type, chirp_strerror(rc));
          break;
        }
      }
      if (*stop) return -1;
      chirp_warn("%s: Redis side unavailable; retrying", msgs[i].ev.type);
      (void)pause_serviced(c, role, n, 200);
    }
  }
  return 0;
}

/* Acks the batch (one multiple-ack when nothing is dead-lettered). */
static int settle(wk_ctx *ctx, const char *role, amqp_connection_state_t conn, wk_msg *msgs,
                  size_t n) {
  size_t dead = 0;
  for (size_t i = 0; i < n; i++) dead += msgs[i].fate == FATE_DEAD;
  char name[64];
  snprintf(name, sizeof name, "events:%s:processed", role);
  wk_metric(ctx, name, (long long)(n - dead));
  snprintf(name, sizeof name, "events:%s:failed", role);
  wk_metric(ctx, name, (long long)dead);
  if (!dead)
    return amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, msgs[n - 1].tag, 1) == AMQP_STATUS_OK ? 0 : -1;
  for (size_t i = 0; i < n; i++) {
    int st;
    if (msgs[i].fate == FATE_DEAD) {
      chirp_error("dead-lettering delivery %llu (%s): %s", (unsigned long long)msgs[i].tag,
                  msgs[i].decoded ? msgs[i].ev.type : "undecodable", msgs[i].why);
      /* With its reason when we can; else the broker dead-letters it bare. */
      if (msgs[i].body &&
          wk_dead_letter(ctx, role, msgs[i].body, msgs[i].len, msgs[i].key, msgs[i].why) == 0)
        st = amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, msgs[i].tag, 0);
      else
        st = amqp_basic_nack(conn, CHIRP_AMQP_CHANNEL, msgs[i].tag, 0, 0);
    } else {
      st = amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, msgs[i].tag, 0);
    }
    if (st != AMQP_STATUS_OK) return -1;
  }
  return 0;
}

amqp_connection_state_t wk_consumer_connect(const chirp_config *cfg, const char *queue) {
  amqp_connection_state_t conn;
  if (chirp_amqp_connect(cfg->amqp_url, 2000, cfg->amqp_heartbeat_s, &conn)) return NULL;
  if (chirp_amqp_declare_topology(conn)) goto fail;
  amqp_basic_qos(conn, CHIRP_AMQP_CHANNEL, 0, (uint16_t)cfg->prefetch, 0);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "basic.qos")) goto fail;
  amqp_basic_consume(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0,
                     0, amqp_empty_table);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "basic.consume")) goto fail;
  return conn;
fail:
  chirp_amqp_close(conn);
  return NULL;
}

/* Drops the consumer connection and what it delivered: the broker
   redelivers every unacked message. */
static void consumer_drop(wk_consumer *c, const wk_role_ops *role) {
  for (size_t i = 0; i < c->nearly; i++) msg_cleanup(role, &c->early[i]);
  c->nearly = 0;
  c->broken = 0;
  if (c->conn) amqp_destroy_connection(c->conn);
  c->conn = NULL;
}

int wk_run(const chirp_config *cfg, const wk_role_ops *role, volatile sig_atomic_t *stop) {
  const chirp_amqp_role *topo = chirp_amqp_role_find(role->name);
  if (!topo) {
    chirp_error("role %s has no queue in the topology", role->name);
    return CHIRP_EINVAL;
  }
  wk_ctx ctx = {.cfg = cfg};
  int64_t started_ms = chirp_time_now_ms();
  int node = cfg->node_id >= 0 ? cfg->node_id : (int)(getpid() % (CHIRP_ID_NODE_MAX + 1));
  chirp_idgen_init(&ctx.ids, node);
  size_t cap = (size_t)cfg->prefetch;
  wk_msg *msgs = calloc(cap, sizeof *msgs);
  int *applied = calloc(cap, sizeof *applied);
  wk_consumer c = {.early = calloc(cap, sizeof(wk_msg)), .cap = cap};
  unsigned long long total = 0;
  if (!msgs || !applied || !c.early) goto out;

  while (!*stop) {
    if (!c.conn) {
      if (!(c.conn = wk_consumer_connect(cfg, topo->queue))) {
        chirp_warn("RabbitMQ unreachable; retrying");
        sleep(1);
        continue;
      }
      chirp_info("consuming %s (prefetch %d)", topo->queue, cfg->prefetch);
    }
    /* Gather a batch: first what arrived while the last batch waited, then
       wait up to 500 ms for a first message, then take whatever else has
       already arrived, up to the prefetch. */
    size_t n = c.nearly;
    memcpy(msgs, c.early, n * sizeof *msgs);
    memset(c.early, 0, n * sizeof *c.early);
    c.nearly = 0;
    while (n < cap) {
      amqp_envelope_t env;
      struct timeval tv = {0, n == 0 ? 500000 : 0};
      amqp_maybe_release_buffers(c.conn);
      amqp_rpc_reply_t r = amqp_consume_message(c.conn, &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        chirp_amqp_check(r, "consume");
        c.broken = 1;
        break;
      }
      decode(role, &msgs[n], &env);
      amqp_destroy_envelope(&env);
      n++;
    }
    if (n > 0 && !c.broken) {
      int rc = commit_batch(&ctx, role, &c, msgs, n, applied, stop);
      if (rc < 0) {
        /* Stopping with the batch unacked: the broker redelivers it. */
        for (size_t i = 0; i < n; i++) msg_cleanup(role, &msgs[i]);
        break;
      }
      if (rc == 0 && role->after_commit &&
          after_commit_all(&ctx, role, &c, msgs, n, applied, stop) != 0) {
        for (size_t i = 0; i < n; i++) msg_cleanup(role, &msgs[i]);
        break; /* stopping: unacked, redelivered */
      }
      if (rc == 0 && !c.broken) {
        if (settle(&ctx, role->name, c.conn, msgs, n) != 0) c.broken = 1;
        total += n;
        chirp_debug("batch of %zu settled (%llu in all)", n, total);
      }
    }
    for (size_t i = 0; i < n; i++) msg_cleanup(role, &msgs[i]);
    wk_ensure_redis(&ctx);
    wk_heartbeat(&ctx, role->name, started_ms);
    if (role->tick && !c.broken && wk_ensure_pg(&ctx) == 0) {
      wk_ensure_redis(&ctx);
      role->tick(&ctx);
    }
    if (c.broken) {
      chirp_warn("lost the RabbitMQ connection; unacked messages will be redelivered");
      consumer_drop(&c, role);
    }
  }
out:
  chirp_info("stopping after %llu message(s)", total);
  for (size_t i = 0; c.early && i < c.nearly; i++) msg_cleanup(role, &c.early[i]);
  chirp_amqp_close(c.conn);
  chirp_amqp_close(ctx.pub);
  if (ctx.pg) PQfinish(ctx.pg);
  if (ctx.redis) redisFree(ctx.redis);
  free(msgs);
  free(applied);
  free(c.early);
  return 0;
}
