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

/* One event.  A delivery holding a batch (chirp_event.h) becomes several,
   consecutive, with the same tag; `last` marks the final one of each
   delivery.  Each event has its own fate: a bad one in a batch is
   dead-lettered alone, with its reason, and the others applied. */
typedef struct wk_msg {
  uint64_t tag;
  int last;         /* the last event of its delivery */
  char *body;       /* this event's own JSON, kept for a dead letter */
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
/* Events of a batch of deliveries (grows: a delivery may hold many). */
typedef struct wk_batch {
  wk_msg *m;
  size_t n, cap;
  size_t deliveries;
} wk_batch;

typedef struct wk_consumer {
  amqp_connection_state_t conn;
  wk_batch early;
  size_t cap; /* the prefetch: deliveries unacked at most */
  int broken; /* the connection failed: drop it, the broker redelivers */
} wk_consumer;

static void msg_cleanup(const wk_role_ops *role, wk_msg *m) {
  if (m->state) role->free_state(m->state);
  if (m->decoded) chirp_event_cleanup(&m->ev);
  free(m->body);
  memset(m, 0, sizeof *m);
}

/* Decodes one event (root borrowed) into m: its fate and, for a role's
   event, its state.  body/len: that event's own text. */
static void decode_one(const wk_role_ops *role, wk_msg *m, const json_t *root) {
  int rc = chirp_event_from_json(root, &m->ev, m->why, sizeof m->why);
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

static char *copy_bytes(const void *p, size_t n) {
  char *c = malloc(n ? n : 1);
  if (c) memcpy(c, p, n);
  return c;
}

/* Room for one more event in b (0, or CHIRP_ENOMEM). */
static int batch_grow(wk_batch *b) {
  if (b->n < b->cap) return 0;
  size_t cap = b->cap ? b->cap * 2 : 64;
  wk_msg *m = realloc(b->m, cap * sizeof *m);
  if (!m) return CHIRP_ENOMEM;
  memset(m + b->cap, 0, (cap - b->cap) * sizeof *m);
  b->m = m;
  b->cap = cap;
  return 0;
}

/* Appends the events of one delivery to b: one for a single event (or a
   message that is not JSON: dead), one per element of a batch.  Returns 0,
   or CHIRP_ENOMEM (nothing appended: the caller drops the connection and
   the broker redelivers). */
static int decode(const wk_role_ops *role, wk_batch *b, const amqp_envelope_t *env) {
  size_t first = b->n;
  char key[64];
  snprintf(key, sizeof key, "%.*s", (int)env->routing_key.len, (char *)env->routing_key.bytes);
  json_error_t jerr;
  json_t *root = json_loadb(env->message.body.bytes, env->message.body.len,
                            JSON_REJECT_DUPLICATES, &jerr);
  json_t *events = root ? chirp_event_batch_events(root) : NULL;
  size_t count = events ? json_array_size(events) : 1;
  int rc = 0;
  for (size_t i = 0; !rc && i < (count ? count : 1); i++) {
    if ((rc = batch_grow(b))) break;
    wk_msg *m = &b->m[b->n];
    memset(m, 0, sizeof *m);
    m->tag = env->delivery_tag;
    snprintf(m->key, sizeof m->key, "%s", key);
    if (!events) { /* one event, or not JSON at all */
      m->len = env->message.body.len;
      m->body = copy_bytes(env->message.body.bytes, m->len);
      if (root)
        decode_one(role, m, root);
      else {
        m->fate = FATE_DEAD;
        snprintf(m->why, sizeof m->why, "not JSON: %.140s", jerr.text);
      }
    } else if (count == 0) { /* nothing to apply: dead, so it is seen */
      m->len = env->message.body.len;
      m->body = copy_bytes(env->message.body.bytes, m->len);
      m->fate = FATE_DEAD;
      snprintf(m->why, sizeof m->why, "a batch without events");
    } else {
      json_t *e = json_array_get(events, i);
      m->body = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
      m->len = m->body ? strlen(m->body) : 0;
      decode_one(role, m, e);
    }
    if (!m->body) { /* no copy: no dead letter with a reason could be sent */
      msg_cleanup(role, m);
      rc = CHIRP_ENOMEM;
      break;
    }
    b->n++;
  }
  json_decref(root);
  if (rc) {
    while (b->n > first) msg_cleanup(role, &b->m[--b->n]);
    return rc;
  }
  b->m[b->n - 1].last = 1;
  b->deliveries++;
  return 0;
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

/* Claims the events of msgs[0..n) to apply, in ONE statement: fresh[i]
   is 1 for the first occurrence of each event id the role had not claimed
   before (the same event twice in a batch is applied once). */
static int claim_many(PGconn *pg, const char *role, const wk_msg *msgs, size_t n, int *fresh) {
  int64_t *ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids) return CHIRP_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    fresh[i] = 0;
    if (msgs[i].fate == FATE_APPLY) ids[k++] = msgs[i].ev.event_id;
  }
  char *arr = chirp_pg_id_array(ids, k);
  free(ids);
  if (!arr) return CHIRP_ENOMEM;
  const char *p[] = {role, arr};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO processed_events (role, event_id) "
                         "SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING RETURNING event_id",
                         2, p, &r);
  free(arr);
  if (rc) return rc;
  /* Each returned id marks its first occurrence in the batch. */
  for (int row = 0; row < PQntuples(r); row++) {
    int64_t id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
    for (size_t i = 0; i < n; i++)
      if (msgs[i].fate == FATE_APPLY && msgs[i].ev.event_id == id) {
        fresh[i] = 1;
        break;
      }
  }
  PQclear(r);
  return 0;
}

/* One transaction over msgs[0..n): returns 0 after COMMIT.  applied[i] is
   set for the events applied now (not before). */
static int apply_tx(wk_ctx *ctx, const wk_role_ops *role, wk_msg *msgs, size_t n, int *applied) {
  int rc = chirp_pg_begin(ctx->pg);
  if (!rc && role->apply_many && !role->claims && n > 1) { /* the batch in one call */
    wk_item *items = malloc(n * sizeof *items);
    size_t m = 0;
    rc = items ? 0 : CHIRP_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
      applied[i] = msgs[i].fate == FATE_APPLY;
      if (applied[i]) items[m++] = (wk_item){&msgs[i].ev, msgs[i].state};
    }
    if (!rc && m) rc = role->apply_many(ctx, items, m);
    free(items);
    n = 0; /* done */
  }
  /* Claims for a batch in one statement (applied[] holds them a moment). */
  int batch_claims = !rc && role->claims && n > 1;
  if (batch_claims) rc = claim_many(ctx->pg, role->name, msgs, n, applied);
  if (!rc && batch_claims && role->apply_many) { /* the claimed ones in one call */
    wk_item *items = malloc(n * sizeof *items);
    size_t m = 0;
    rc = items ? 0 : CHIRP_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
      if (applied[i]) items[m++] = (wk_item){&msgs[i].ev, msgs[i].state};
    if (!rc && m) rc = role->apply_many(ctx, items, m);
    free(items);
    n = 0; /* done: applied[] holds the claims, now applied */
  }
  for (size_t i = 0; !rc && i < n; i++) {
    int is_new = batch_claims ? applied[i] : 1;
    applied[i] = 0;
    if (msgs[i].fate != FATE_APPLY) continue;
    if (role->claims && !batch_claims) rc = claim(ctx->pg, role->name, msgs[i].ev.event_id, &is_new);
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
   batch; `held` deliveries are in the batch being retried.  Returns 0, or -1
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
    if (held + c->early.deliveries >= c->cap) { /* more than the prefetch: cannot happen */
      chirp_error("delivery beyond the prefetch (%zu held); reconnecting",
                  held + c->early.deliveries);
      amqp_destroy_envelope(&env);
      c->broken = 1;
      break;
    }
    if (decode(role, &c->early, &env)) c->broken = 1; /* out of memory: redelivered */
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
                        size_t n, size_t held, int *applied, volatile sig_atomic_t *stop) {
  for (;;) {
    if (*stop) return -1;
    if (wk_ensure_pg(ctx) != 0) {
      chirp_warn("PostgreSQL unreachable; holding %zu message(s) unacked", n);
      if (pause_serviced(c, role, held, 1000)) return 1;
      continue;
    }
    wk_ensure_redis(ctx);
    int rc = apply_tx(ctx, role, msgs, n, applied);
    if (rc == 0) return 0;
    if (rc == CHIRP_EUNAVAILABLE) { /* a dependency is down: wait, reconnect, retry */
      chirp_warn("a dependency is unavailable; retrying %zu message(s)", n);
      if (pause_serviced(c, role, held, 200)) return 1;
      continue;
    }
    break;
  }
  chirp_warn("batch of %zu failed; retrying message by message", n);
  for (size_t i = 0; i < n; i++) {
    for (int tries = 1;; tries++) {
      if (*stop) return -1;
      if (wk_ensure_pg(ctx) != 0) {
        if (pause_serviced(c, role, held, 1000)) return 1;
        continue;
      }
      wk_ensure_redis(ctx);
      int rc = apply_tx(ctx, role, &msgs[i], 1, &applied[i]);
      if (rc == CHIRP_EUNAVAILABLE) {
        if (pause_serviced(c, role, held, 200)) return 1;
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
                            size_t n, size_t held, const int *applied,
                            volatile sig_atomic_t *stop) {
  if (role->after_commit_many) { /* the whole batch at once, retried whole */
    wk_item *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) return -1; /* unacked: redelivered */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (applied[i]) items[m++] = (wk_item){&msgs[i].ev, msgs[i].state};
    for (;;) {
      wk_ensure_redis(ctx);
      if (m == 0) break;
      if (wk_ensure_pg(ctx) == 0) {
        int rc = role->after_commit_many(ctx, items, m);
        if (rc != CHIRP_EUNAVAILABLE) {
          if (rc) chirp_warn("%zu event(s): after the commit: %s", m, chirp_strerror(rc));
          break;
        }
      }
      if (*stop) {
        free(items);
        return -1;
      }
      chirp_warn("%zu event(s): Redis side unavailable; retrying", m);
      (void)pause_serviced(c, role, held, 200);
    }
    free(items);
    return 0;
  }
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
      (void)pause_serviced(c, role, held, 200);
    }
  }
  return 0;
}

/* Acks the batch (one multiple-ack when nothing is dead-lettered).  A
   dead event is published alone, with its reason, to the dead letters; its
   delivery is acked once every dead event of it is there (the others of it
   were applied), else rejected whole to the broker's dead-lettering (bare:
   the events applied in it are applied again on a replay, once by id). */
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
  int kept = 1; /* every dead event of the current delivery is in the dead letters */
  for (size_t i = 0; i < n; i++) {
    if (msgs[i].fate == FATE_DEAD) {
      chirp_error("dead-lettering delivery %llu (%s): %s",
                  (unsigned long long)msgs[i].tag,
                  msgs[i].decoded ? msgs[i].ev.type : "undecodable", msgs[i].why);
      /* With its reason when we can; else the broker dead-letters it bare. */
      if (kept && (!msgs[i].body || wk_dead_letter(ctx, role, msgs[i].body, msgs[i].len,
                                                   msgs[i].key, msgs[i].why) != 0))
        kept = 0;
    }
    if (!msgs[i].last) continue;
    int st = kept ? amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, msgs[i].tag, 0)
                  : amqp_basic_nack(conn, CHIRP_AMQP_CHANNEL, msgs[i].tag, 0, 0);
    if (st != AMQP_STATUS_OK) return -1;
    kept = 1;
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
  for (size_t i = 0; i < c->early.n; i++) msg_cleanup(role, &c->early.m[i]);
  c->early.n = c->early.deliveries = 0;
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
  wk_batch b = {0};
  int *applied = NULL;
  size_t applied_cap = 0;
  wk_consumer c = {.cap = cap};
  unsigned long long total = 0, queries = chirp_pg_total_queries();

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
       already arrived, up to the prefetch (in deliveries; a delivery may
       hold many events: a batch also stops once it holds a prefetch's
       worth of events, so one transaction stays bounded). */
    wk_batch spare = b;
    b = c.early;
    c.early = spare;
    c.early.n = c.early.deliveries = 0;
    while (b.deliveries < cap && b.n < cap) {
      amqp_envelope_t env;
      struct timeval tv = {0, b.n == 0 ? 500000 : 0};
      amqp_maybe_release_buffers(c.conn);
      amqp_rpc_reply_t r = amqp_consume_message(c.conn, &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        chirp_amqp_check(r, "consume");
        c.broken = 1;
        break;
      }
      if (decode(role, &b, &env)) {
        chirp_error("out of memory decoding a delivery; reconnecting");
        c.broken = 1;
      }
      amqp_destroy_envelope(&env);
      if (c.broken) break;
    }
    size_t n = b.n;
    if (n > applied_cap) {
      int *a = realloc(applied, n * sizeof *a);
      if (a) {
        applied = a;
        applied_cap = n;
      } else {
        c.broken = 1;
      }
    }
    if (n > 0 && !c.broken) {
      wk_msg *msgs = b.m;
      int rc = commit_batch(&ctx, role, &c, msgs, n, b.deliveries, applied, stop);
      if (rc < 0) {
        /* Stopping with the batch unacked: the broker redelivers it. */
        for (size_t i = 0; i < n; i++) msg_cleanup(role, &msgs[i]);
        b.n = 0;
        break;
      }
      if (rc == 0 && (role->after_commit || role->after_commit_many) &&
          after_commit_all(&ctx, role, &c, msgs, n, b.deliveries, applied, stop) != 0) {
        for (size_t i = 0; i < n; i++) msg_cleanup(role, &msgs[i]);
        b.n = 0;
        break; /* stopping: unacked, redelivered */
      }
      if (rc == 0 && !c.broken) {
        if (settle(&ctx, role->name, c.conn, msgs, n) != 0) c.broken = 1;
        /* The cost model: deliveries and statements per event. */
        char name[64];
        snprintf(name, sizeof name, "deliveries:%s", role->name);
        wk_metric(&ctx, name, (long long)b.deliveries);
        unsigned long long q = chirp_pg_total_queries();
        snprintf(name, sizeof name, "pg_statements:%s", role->name);
        wk_metric(&ctx, name, (long long)(q - queries));
        queries = q;
        total += n;
        chirp_debug("batch of %zu event(s) in %zu deliveries settled (%llu in all)", n,
                    b.deliveries, total);
      }
    }
    for (size_t i = 0; i < n; i++) msg_cleanup(role, &b.m[i]);
    b.n = b.deliveries = 0;
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
  chirp_info("stopping after %llu event(s)", total);
  for (size_t i = 0; i < c.early.n; i++) msg_cleanup(role, &c.early.m[i]);
  chirp_amqp_close(c.conn);
  chirp_amqp_close(ctx.pub);
  if (ctx.pg) PQfinish(ctx.pg);
  if (ctx.redis) redisFree(ctx.redis);
  free(b.m);
  free(c.early.m);
  free(applied);
  return 0;
}
