/*
 * worker.h — the consume loop shared by every worker role, and the contract
 * a role implements.
 *
 * The loop: consume a batch (up to the prefetch) → decode and validate each
 * event (a message may hold a batch of them, chirp_event.h; a malformed
 * event is dead-lettered alone with its reason, never retried)
 * → in ONE PostgreSQL transaction, claim each event id for the role in
 * processed_events and apply the ones not seen before → COMMIT → side
 * effects in Redis (best effort: Redis is a cache) → ack.  An ack follows
 * only a commit, and a redelivered event finds its claim, so a worker killed
 * at any point loses nothing and applies nothing twice.
 */
#ifndef WK_WORKER_H
#define WK_WORKER_H

#include <amqp.h>
#include <signal.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "chirp_config.h"
#include "chirp_event.h"
#include "chirp_id.h"

typedef struct wk_ctx {
  const chirp_config *cfg;
  chirp_idgen ids;      /* event ids of the events a role publishes */
  PGconn *pg;           /* owned by the loop; NULL while PostgreSQL is down */
  redisContext *redis;  /* owned by the loop; NULL while Redis is down */
  amqp_connection_state_t pub; /* publishing connection, made on first use */
  uint64_t pub_tag;     /* delivery tags confirmed on pub */
  int64_t beat_ms;      /* last heartbeat */
} wk_ctx;

/* Publishes n events of type (also the routing key) by actor with the
   given payloads (borrowed), and waits for the broker's confirms.  For a
   role that splits work into further messages inside apply(): the input is
   acked only after this returned 0. */
int wk_publish(wk_ctx *ctx, const char *type, int64_t actor, json_t *const *payloads, size_t n);

/* An applied event and the role's state for it (after_commit_many). */
typedef struct wk_item {
  const chirp_event *ev;
  void *state;
} wk_item;

typedef struct wk_role_ops {
  const char *name;
  /* Validates ev and builds the role's private state for it in *state.
     Returns 0; CHIRP_ENOTFOUND when this role has nothing to do with the
     event type (it is acked untouched); CHIRP_EMALFORMED with a reason in
     why (it is dead-lettered). */
  int (*decode)(const chirp_event *ev, void **state, char *why, size_t whylen);
  /* Applies the event inside the open transaction.  0 or a CHIRP_E… code. */
  int (*apply)(wk_ctx *ctx, const chirp_event *ev, void *state);
  /* May be NULL.  apply for the events of a batch, in order, in one call
     (so a role can send one statement for many events); for a role with
     claims, the events claimed now.  On an error the loop retries the
     batch event by event with apply, so a bad event is found and
     dead-lettered alone. */
  int (*apply_many)(wk_ctx *ctx, const wk_item *items, size_t n);
  /* After the commit, before the ack: the Redis side; may be NULL.  A
     CHIRP_EUNAVAILABLE return makes the loop wait and call it again (the
     messages stay unacked), so it must be idempotent; other errors are
     logged and the message acked. */
  int (*after_commit)(wk_ctx *ctx, const chirp_event *ev, void *state);
  /* Instead of after_commit, when set: the Redis side of every event the
     batch applied, in order, in one call (so a role can pipeline across
     events).  CHIRP_EUNAVAILABLE makes the loop wait and call it again
     with the same items, so it must be idempotent as a whole. */
  int (*after_commit_many)(wk_ctx *ctx, const wk_item *items, size_t n);
  /* 1: record each event id in processed_events with its effect, and skip
     an event seen before (for effects that are not idempotent by
     themselves).  0: apply and after_commit run again on a redelivery, so
     a crash between the commit and the ack still completes the Redis side. */
  int claims;
  void (*free_state)(void *state);
  /* Called about twice a second between batches, for timed work; may be
     NULL.  Runs its own transactions. */
  void (*tick)(wk_ctx *ctx);
} wk_role_ops;

extern const wk_role_ops wk_role_persist;
extern const wk_role_ops wk_role_fanout;
extern const wk_role_ops wk_role_notify;

/* The like batcher has its own loop (it holds messages across batches). */
int wk_run_likes(const chirp_config *cfg, volatile sig_atomic_t *stop);

/* Dead letters (dead.c): publishes a message to chirp.dlx with its reason
   and waits for the confirm; and the --replay-dead command. */
int wk_dead_letter(wk_ctx *ctx, const char *role, const void *body, size_t len,
                   const char *routing_key, const char *reason);
int wk_replay_dead(const chirp_config *cfg, long limit);
/* Makes ctx->pub, a confirm-mode publishing connection, if needed. */
int wk_publisher(wk_ctx *ctx);
/* Heartbeats into the service registry at most every few seconds. */
void wk_heartbeat(wk_ctx *ctx, const char *role, int64_t started_ms);
/* Adds to a worker counter in Redis (chirp:m:<name>) for /metrics. */
void wk_metric(wk_ctx *ctx, const char *name, long long delta);

/* Shared by the loops. */
amqp_connection_state_t wk_consumer_connect(const chirp_config *cfg, const char *queue);
int wk_ensure_pg(wk_ctx *ctx);
void wk_ensure_redis(wk_ctx *ctx);

/* Runs the loop until *stop becomes nonzero; returns 0 on a clean stop. */
int wk_run(const chirp_config *cfg, const wk_role_ops *role, volatile sig_atomic_t *stop);

#endif
