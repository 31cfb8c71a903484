/*
 * role_likes.c — the like batcher.
 *
 * It holds like events unacked in memory, per tweet (like_batch.h), and
 * writes a tweet's pending likes to PostgreSQL in ONE statement when more
 * than CHIRP_LIKES_FLUSH_COUNT wait or the oldest waited
 * CHIRP_LIKES_FLUSH_AGE_MS.  Only after that statement committed are the
 * messages acked, so a SIGKILL mid-batch loses nothing (the broker
 * redelivers) and counts nothing twice (the statement keeps, per user, the
 * newest event's state, and moves the count only on a real change).
 * Prefetch bounds the likes held: CHIRP_PREFETCH must exceed the flush count.
 *
 * It counts likes received and statements issued in Redis
 * (chirp:m:likes_received, chirp:m:likes_statements) for /metrics.
 */
#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chirp_account_purge.h"
#include "chirp_amqp.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_like.h"
#include "chirp_live.h"
#include "chirp_log.h"
#include "chirp_notify.h"
#include "chirp_pg.h"
#include "chirp_time.h"
#include "like_batch.h"
#include "worker.h"

/* Milliseconds the batcher gathers likes between flush checks.  Longer
   windows make bigger statements (measured: 50 ms gave ~12 likes a
   statement at 250 likes/s on a tweet, 500 ms ~110); a full prefetch
   cuts a window short, so throughput is not bounded by it. */
#define GATHER_MS 500

/* Acks (or, with nack set, rejects to the dead letters) one delivery;
   sets *broken when the connection failed. */
static void settle_one(amqp_connection_state_t conn, uint64_t tag, int nack, int *broken) {
  if (*broken) return; /* the broker redelivers whatever was not settled */
  int st = nack ? amqp_basic_nack(conn, CHIRP_AMQP_CHANNEL, tag, 0, 0)
                : amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, tag, 0);
  if (st != AMQP_STATUS_OK) {
    chirp_warn("amqp %s of delivery %llu: %s", nack ? "nack" : "ack", (unsigned long long)tag,
               amqp_error_string2(st));
    *broken = 1;
  }
}

/* account.deleted: the account's stored likes end (chirp_account_purge_likes)
   and its likes still pending here are dropped — they would otherwise be
   flushed after the purge and count again.  The liker sets lose the
   account (as a change newer than any of its likes), then everything is
   acked.  If PostgreSQL fails the message goes back to the broker and
   nothing here changed.  Returns -1 when an ack or nack failed (the
   connection is broken: the caller reconnects), else 0. */
static int purge_account(amqp_connection_state_t conn, lb_batcher *b, const chirp_event *ev,
                         uint64_t tag, wk_ctx *ctx) {
  int64_t user = ev->actor_id, *tweets = NULL;
  size_t n = 0;
  int rc = wk_ensure_pg(ctx) ? CHIRP_EUNAVAILABLE : chirp_pg_begin(ctx->pg);
  if (!rc) rc = chirp_account_purge_likes(ctx->pg, user, ev->event_id, ev->occurred_ms, &tweets, &n);
  if (!rc) rc = chirp_pg_commit(ctx->pg);
  if (rc) {
    if (ctx->pg) chirp_pg_rollback(ctx->pg);
    free(tweets);
    chirp_warn("account %lld: likes purge failed (%s); back to the broker", (long long)user,
               chirp_strerror(rc));
    sleep(1);
    int st = amqp_basic_nack(conn, CHIRP_AMQP_CHANNEL, tag, 0, 1);
    if (st != AMQP_STATUS_OK)
      chirp_warn("amqp nack of delivery %llu: %s", (unsigned long long)tag, amqp_error_string2(st));
    return st == AMQP_STATUS_OK ? 0 : -1;
  }
  int broken = 0;
  size_t dropped = 0;
  for (size_t i = 0; i < b->n; i++) {
    lb_tweet *t = &b->tweets[i];
    size_t keep = 0;
    for (size_t k = 0; k < t->n; k++) {
      if (t->likes[k].user != user) {
        t->likes[keep++] = t->likes[k];
        continue;
      }
      settle_one(conn, t->likes[k].tag, 0, &broken);
      free(t->likes[k].body);
      dropped++;
      int64_t *grown = realloc(tweets, (n + 1) * sizeof *tweets);
      if (grown) (tweets = grown)[n++] = t->tweet;
    }
    b->pending -= t->n - keep;
    t->n = keep;
  }
  for (size_t i = 0; i < b->n;) { /* tweets left without likes go */
    if (b->tweets[i].n) {
      i++;
      continue;
    }
    lb_tweet t;
    lb_take(b, i, &t);
    lb_tweet_free(&t);
  }
  wk_ensure_redis(ctx);
  int off = 0;
  for (size_t i = 0; ctx->redis && i < n; i++)
    (void)chirp_like_replay(ctx->redis, tweets[i], &user, &off, &ev->event_id, 1);
  free(tweets);
  settle_one(conn, tag, 0, &broken);
  chirp_info("account %lld deleted: %zu stored and %zu pending likes taken away", (long long)user,
             n - dropped, dropped);
  return broken ? -1 : 0;
}

/* Reads one delivery into the batcher, or rejects it (dead letter).
   Returns -1 when acking or nacking the rejected delivery failed (the
   connection is broken: the caller reconnects), else 0. */
static int take_message(amqp_connection_state_t conn, lb_batcher *b, const amqp_envelope_t *env,
                        wk_ctx *ctx) {
  chirp_event ev;
  char why[160] = "";
  int64_t tweet = 0, author = 0;
  int ok = chirp_event_decode(env->message.body.bytes, env->message.body.len, &ev, why,
                              sizeof why) == 0;
  if (ok && strcmp(ev.type, "account.deleted") == 0) {
    int broken = purge_account(conn, b, &ev, env->delivery_tag, ctx);
    chirp_event_cleanup(&ev);
    return broken;
  }
  if (ok) {
    int like = strcmp(ev.type, "like.added") == 0, unlike = strcmp(ev.type, "like.removed") == 0;
    if ((!like && !unlike) || chirp_json_get_id(ev.payload, "tweet_id", &tweet) ||
        chirp_json_get_id(ev.payload, "author_id", &author)) {
      snprintf(why, sizeof why, "not a like event with tweet_id and author_id");
      ok = 0;
    } else {
      lb_like l = {.user = ev.actor_id, .active = like, .event_id = ev.event_id,
                   .at_ms = ev.occurred_ms, .recv_ms = chirp_time_now_ms(),
                   .tag = env->delivery_tag, .len = env->message.body.len};
      /* A copy of the message travels with the like, for a dead letter. */
      if ((l.body = malloc(l.len ? l.len : 1))) memcpy(l.body, env->message.body.bytes, l.len);
      ok = lb_add(b, tweet, author, &l) == 0;
      if (!ok) {
        free(l.body);
        snprintf(why, sizeof why, "out of memory");
      }
      wk_metric(ctx, "likes_received", 1);
    }
    chirp_event_cleanup(&ev);
  }
  if (!ok) {
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)env->routing_key.len, (char *)env->routing_key.bytes);
    chirp_error("dead-lettering delivery %llu: %s", (unsigned long long)env->delivery_tag, why);
    int st;
    if (wk_dead_letter(ctx, "likes", env->message.body.bytes, env->message.body.len, key, why) == 0)
      st = amqp_basic_ack(conn, CHIRP_AMQP_CHANNEL, env->delivery_tag, 0);
    else
      st = amqp_basic_nack(conn, CHIRP_AMQP_CHANNEL, env->delivery_tag, 0, 0);
    if (st != AMQP_STATUS_OK) {
      chirp_warn("amqp ack/nack of delivery %llu: %s", (unsigned long long)env->delivery_tag,
                 amqp_error_string2(st));
      return -1;
    }
  }
  return 0;
}

/* Flushes one tweet's likes.  Returns 0 (acked, or dead-lettered after
   CHIRP_MAX_RETRIES failed flushes, with the reason), CHIRP_EUNAVAILABLE
   when PostgreSQL is down, CHIRP_EINTERNAL when this flush failed and the
   likes should wait for another try (t is then left to the caller).  Sets
   *broken when an ack failed: the connection must be remade (the likes
   come again and the statement keeps each user's newest state, so the
   redelivery changes nothing). */
static int flush(wk_ctx *ctx, amqp_connection_state_t conn, lb_tweet *t, int *broken) {
  chirp_like_change *c = malloc(t->n * sizeof *c);
  if (!c) return CHIRP_EUNAVAILABLE;
  for (size_t i = 0; i < t->n; i++)
    c[i] = (chirp_like_change){t->likes[i].user, t->likes[i].active, t->likes[i].event_id,
                               t->likes[i].at_ms};
  long long likes = 0, notified = 0;
  int rc = wk_ensure_pg(ctx) ? CHIRP_EUNAVAILABLE
                             : chirp_like_store_flush(ctx->pg, t->tweet, t->author, c, t->n,
                                                      &likes, &notified);
  free(c);
  if (rc == CHIRP_EUNAVAILABLE) return rc;
  if (rc) {
    int tries = 0;
    for (size_t i = 0; i < t->n; i++) {
      t->likes[i].tries++;
      if (t->likes[i].tries > tries) tries = t->likes[i].tries;
    }
    if (tries < ctx->cfg->max_retries) {
      chirp_warn("tweet %lld: flush of %zu likes failed (%d of %d tries)", (long long)t->tweet,
                 t->n, tries, ctx->cfg->max_retries);
      return CHIRP_EINTERNAL;
    }
    char why[160];
    snprintf(why, sizeof why, "like flush failed %d times: %s", tries, chirp_strerror(rc));
    chirp_error("tweet %lld: flush of %zu likes failed (%d of %d tries); dead-lettering them",
                (long long)t->tweet, t->n, tries, ctx->cfg->max_retries);
    for (size_t i = 0; i < t->n; i++) {
      const lb_like *l = &t->likes[i];
      int dead = l->body && wk_dead_letter(ctx, "likes", l->body, l->len,
                                           l->active ? "like.added" : "like.removed", why) == 0;
      settle_one(conn, l->tag, !dead, broken);
    }
    wk_metric(ctx, "events:likes:failed", (long long)t->n);
    return 0;
  }
  wk_metric(ctx, "likes_statements", 1);
  wk_metric(ctx, "events:likes:processed", (long long)t->n);
  /* Replay onto the live set (it converges even if rebuilt meanwhile). */
  wk_ensure_redis(ctx);
  if (ctx->redis) {
    int64_t *users = malloc(t->n * sizeof *users), *events = malloc(t->n * sizeof *events);
    int *active = malloc(t->n * sizeof *active);
    if (users && active && events) {
      for (size_t i = 0; i < t->n; i++) {
        users[i] = t->likes[i].user;
        active[i] = t->likes[i].active;
        events[i] = t->likes[i].event_id;
      }
      (void)chirp_like_replay(ctx->redis, t->tweet, users, active, events, t->n);
    }
    free(users);
    free(events);
    free(active);
    for (long long k = 0; k < notified; k++) chirp_notify_bump(ctx->redis, &t->author, 1);
    /* The author's open streams read the new like notifications. */
    if (notified) (void)chirp_live_announce(ctx->redis, &t->author, 1, CHIRP_LIVE_NOTIFICATION, 0);
  }
  chirp_debug("tweet %lld: flushed %zu likes in one statement (count %lld)", (long long)t->tweet,
              t->n, likes);
  for (size_t i = 0; i < t->n; i++) settle_one(conn, t->likes[i].tag, 0, broken);
  return 0;
}

int wk_run_likes(const chirp_config *cfg, volatile sig_atomic_t *stop) {
  const chirp_amqp_role *topo = chirp_amqp_role_find("likes");
  wk_ctx ctx = {.cfg = cfg};
  lb_batcher b;
  lb_init(&b, (size_t)cfg->likes_flush_count, cfg->likes_flush_age_ms, (size_t)cfg->prefetch);
  int64_t started_ms = chirp_time_now_ms();
  amqp_connection_state_t conn = NULL;
  while (!*stop) {
    if (!conn) {
      lb_clear(&b); /* unacked deliveries of a lost connection come again */
      if (!(conn = wk_consumer_connect(cfg, topo->queue))) {
        chirp_warn("RabbitMQ unreachable; retrying");
        sleep(1);
        continue;
      }
      wk_ensure_redis(&ctx);
      chirp_info("batching likes from %s (flush at > %d pending or %d ms)", topo->queue,
                 cfg->likes_flush_count, cfg->likes_flush_age_ms);
    }
    wk_ensure_redis(&ctx);
    wk_heartbeat(&ctx, "likes", started_ms);
    /* Gather for a while before looking for due tweets: under a stream of
       likes a due tweet then carries everything that arrived meanwhile, not
       just the eleventh like (measured: ~12 likes a statement without it).
       The wait is bounded by the prefetch too: once the broker has handed
       over CHIRP_PREFETCH unacked likes, nothing more arrives. */
    int64_t now = chirp_time_now_ms();
    int64_t wait = lb_wait_ms(&b, now);
    if (wait < 0 || wait > 500) wait = 500;
    if (b.pending > 0 && wait > GATHER_MS) wait = GATHER_MS;
    int64_t deadline = now + wait;
    int broken = 0;
    for (;;) {
      amqp_envelope_t env;
      int64_t left = deadline - chirp_time_now_ms();
      if (left < 0) left = 0;
      struct timeval tv = {(long)(left / 1000), (long)(left % 1000) * 1000};
      amqp_maybe_release_buffers(conn);
      amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        chirp_amqp_check(r, "consume");
        broken = 1;
        break;
      }
      wk_ensure_redis(&ctx);
      broken = take_message(conn, &b, &env, &ctx) != 0;
      amqp_destroy_envelope(&env);
      if (broken) break;
      /* A full prefetch ends the window at once: nothing more can arrive
         until something is flushed and acked. */
      if (b.pending >= (size_t)cfg->prefetch) break;
    }
    long i;
    while (!broken && (i = lb_due(&b, chirp_time_now_ms())) >= 0) {
      lb_tweet t;
      lb_take(&b, (size_t)i, &t);
      int rc = flush(&ctx, conn, &t, &broken);
      if (rc) {
        if (rc == CHIRP_EUNAVAILABLE) chirp_warn("PostgreSQL unreachable; keeping %zu likes pending", t.n);
        /* Back into the batcher (their bodies with them) for a later try. */
        for (size_t k = 0; k < t.n; k++)
          if (lb_add(&b, t.tweet, t.author, &t.likes[k]) != 0) free(t.likes[k].body);
        free(t.likes);
        sleep(1);
        break;
      }
      lb_tweet_free(&t);
    }
    if (broken) {
      chirp_warn("lost the RabbitMQ connection; pending likes will be redelivered");
      amqp_destroy_connection(conn);
      conn = NULL;
    }
  }
  chirp_info("stopping with %zu likes pending (the broker redelivers them)", b.pending);
  lb_cleanup(&b);
  chirp_amqp_close(conn);
  chirp_amqp_close(ctx.pub);
  if (ctx.pg) PQfinish(ctx.pg);
  if (ctx.redis) redisFree(ctx.redis);
  return 0;
}
