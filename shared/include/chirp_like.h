/*
 * chirp_like.h — likes: the live state in Redis, the truth in PostgreSQL.
 *
 * Redis keeps, per tweet, the set of accounts that like it (its size is
 * the live count, exact by construction: a set holds a user once), the
 * same likes in order, and a "built" flag, and per user the tweets they
 * like in order; what was lost is rebuilt from PostgreSQL before use.
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

/* A built index is rebuilt from PostgreSQL this often (its flag expires),
   so that a difference no event can mend (a gateway that died between its
   Redis change and its publish) heals by itself; a rebuild keeps what Redis
   knew of the last CHIRP_LIKES_PENDING_MS (likes a batcher may still hold:
   more than its flush age, CHIRP_LIKES_FLUSH_AGE_MS at most one hour). */
#define CHIRP_LIKES_BUILT_TTL_S (24 * 3600)
#define CHIRP_LIKES_PENDING_MS (2 * 3600 * 1000LL)

/* What it takes to take a change of chirp_like_set back. */
typedef struct chirp_like_prior {
  int64_t tweet, user;
  int like;
  char event[24];
  int by_tweet, by_user;   /* which index changed */
  char prev_by_tweet[24];  /* the member's event id before ("" none) */
  char prev_by_user[24];
} chirp_like_prior;

/* Adds (like = 1) or removes (0) user in the tweet's likers and the tweet
   in the user's likes (each rebuilt from PostgreSQL first when missing),
   as the change with id event_id.  *changed = 1 when it changed (a real
   like or unlike).  Each member's newest event id is kept beside it, so
   the batcher's later replay of an older event never undoes a newer
   change.  *undo can take it back (chirp_like_undo). */
int chirp_like_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int like,
                   int64_t event_id, int *changed, chirp_like_prior *undo);
/* Takes back a change whose event could not be published: each index
   returns to the state AND the event id it had (if the change is still its
   newest), so that the event, should it still be delivered (a publish with
   an unknown outcome), applies there like any other newer event and Redis
   ends where PostgreSQL does.  (Taking it back with a newer event id, as a
   new unlike, would make both sides ignore the delivered like for good.) */
int chirp_like_undo(redisContext *r, const chirp_like_prior *undo);
/* Builds the tweet's likers from PostgreSQL unless they are built. */
int chirp_like_build(redisContext *r, PGconn *pg, int64_t tweet);

/* Applies flushed changes onto the tweet's likers and each user's likes
   (no-op for an index that is not built: its build reads them from
   PostgreSQL). */
int chirp_like_replay(redisContext *r, int64_t tweet, const int64_t *users, const int *active,
                      const int64_t *event_ids, size_t n);

/* One page of the accounts liking tweet id (by_tweet) or the tweets liked
   by user id, newest like first, from Redis (exact as soon as a like is
   accepted; rebuilt from PostgreSQL when lost): *ids a new array (free) of
   at most limit, *next the cursor (an event id) for the next page or 0.
   before is the cursor given (0 = first page). */
int chirp_like_page(redisContext *r, PGconn *pg, int by_tweet, int64_t id, int64_t before,
                    int limit, int64_t **ids, size_t *n, int64_t *next);

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

/* The same page from PostgreSQL (flushed likes only: for when Redis is
   unreachable): accounts liking tweet or tweets liked by user, newest
   first, by event id; *ids a new array (free) of *n ids; *next the cursor
   for the next page or 0. */
int chirp_like_list(PGconn *pg, int by_tweet, int64_t id, int64_t before, int limit,
                    int64_t **ids, size_t *n, int64_t *next);

/* The most liked tweets of the last 24 hours (flushed likes), at most
   limit: *ids a new array (free). */
int chirp_like_trending(PGconn *pg, int limit, int64_t **ids, size_t *n);

#endif
