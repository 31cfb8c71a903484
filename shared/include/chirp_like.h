/*
 * chirp_like.h — likes: the live state in Redis, the truth in PostgreSQL.
 *
 * Redis keeps, per tweet, the set of accounts that like it (its size is
 * the live count, exact by construction: a set holds a user once) and a
 * "built" flag; a set that was lost is rebuilt from PostgreSQL before use.
 * The gateway changes the set when it accepts a like, the like batcher
 * replays its flushed changes onto it, so the set converges to the truth
 * even when it was rebuilt while likes were still pending.
 *
 * PostgreSQL keeps one row per (user, tweet) with the newest event's state,
 * and per-tweet counts in tweet_counts, written by the like batcher in one
 * statement per flush (chirp_like_store_flush).
 */
#ifndef CHIRP_LIKE_H
#define CHIRP_LIKE_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Adds (like = 1) or removes (0) user in the tweet's liker set, which is
   rebuilt from PostgreSQL first when missing, as the change with id
   event_id.  *changed = 1 when the set changed (a real like or unlike).
   Each user's newest event id is kept beside the set, so the batcher's
   later replay of an older event never undoes a newer change. */
int chirp_like_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int like,
                   int64_t event_id, int *changed);
/* Builds the tweet's liker set from PostgreSQL unless it is built. */
int chirp_like_build(redisContext *r, PGconn *pg, int64_t tweet);

/* Applies flushed changes onto a built set (no-op when the set is not
   built: its rebuild will read them from PostgreSQL). */
int chirp_like_replay(redisContext *r, int64_t tweet, const int64_t *users, const int *active,
                      const int64_t *event_ids, size_t n);

/* One event of a batch to flush. */
typedef struct chirp_like_change {
  int64_t user;
  int active;        /* 1 like, 0 unlike */
  int64_t event_id;  /* orders the events of one (user, tweet) */
  int64_t at_ms;
} chirp_like_change;

/* Writes a batch of changes of one tweet in ONE statement: the newest
   change per user wins over older ones and over the stored row, the count
   in tweet_counts moves by the net number of real changes, and a like
   notification is created for every user whose like is new (not for the
   author's own).  *likes is the tweet's count afterwards; *notified the
   number of notifications created. */
int chirp_like_store_flush(PGconn *pg, int64_t tweet, int64_t author,
                           const chirp_like_change *changes, size_t n, long long *likes,
                           long long *notified);

/* Accounts liking tweet (newest first) or tweets liked by user (newest
   first), with cursor paging by event id: *ids a new array (free) of *n
   ids; *next the cursor for the next page or 0. */
int chirp_like_list(PGconn *pg, int by_tweet, int64_t id, int64_t before, int limit,
                    int64_t **ids, size_t *n, int64_t *next);

/* The most liked tweets of the last 24 hours (flushed likes), at most
   limit: *ids a new array (free). */
int chirp_like_trending(PGconn *pg, int limit, int64_t **ids, size_t *n);

#endif
