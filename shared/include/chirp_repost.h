/*
 * chirp_repost.h — reposts: the live state in Redis, the truth in
 * PostgreSQL (one row per tweet and user, changed by the newest event).
 *
 * Redis keeps, per tweet (one owner's keys, one hash tag), the set of
 * reposting users (its size is repost_count, SISMEMBER reposted_by_me),
 * user -> "event|repost_id" of the newest change (repost_id empty when
 * undone), the active reposts as "repost_id:user" for the newest-first
 * list, and a built flag.  The gateway changes them when it accepts a
 * repost (so a repeat, or the same repost twice at once, has one effect);
 * the fan-out role writes PostgreSQL's state back after each commit
 * (older changes than the newest known are ignored), so the keys converge
 * to the truth even when they were rebuilt while an event was on its way.
 */
#ifndef CHIRP_REPOST_H
#define CHIRP_REPOST_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* What chirp_repost_set changed, to take it back (chirp_repost_undo). */
typedef struct chirp_repost_prior {
  int64_t tweet, user;
  char event[24];
  char prev[64]; /* the user's "event|repost_id" before, "" none */
} chirp_repost_prior;

/* Reposts (on) or undoes (off) tweet for user with event_id (a new
   repost's id).  *changed = 0 when it was already so; *repost_id the
   active repost's id (on) or the undone one's (off; 0 when none). */
int chirp_repost_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int on,
                     int64_t event_id, int *changed, int64_t *repost_id, chirp_repost_prior *undo);
int chirp_repost_undo(redisContext *r, const chirp_repost_prior *undo);
/* Builds the keys of tweet from PostgreSQL unless built. */
int chirp_repost_build(redisContext *r, PGconn *pg, int64_t tweet);
/* Writes the state of (tweet, user) as of event_id into Redis unless a
   newer change is known (repost_id 0 = not reposted).  A group not built
   is left alone (its build reads PostgreSQL). */
int chirp_repost_sync(redisContext *r, int64_t tweet, int64_t user, int64_t event_id,
                      int64_t repost_id);
/* A page of the reposting users of tweet, newest repost first, below the
   repost id before (0 = top).  *ids new (free); *next the cursor or 0. */
int chirp_repost_page(redisContext *r, PGconn *pg, int64_t tweet, int64_t before, int limit,
                      int64_t **ids, size_t *n, int64_t *next);

/* --- PostgreSQL (the fan-out role) --- */
/* Applies a change carried by event_id (older than the row's: nothing). */
int chirp_repost_store_apply(PGconn *pg, int64_t tweet, int64_t user, int active,
                             int64_t repost_id, int64_t event_id);
/* The row's state now: *active, *repost_id, *event_id (0s when none). */
int chirp_repost_store_state(PGconn *pg, int64_t tweet, int64_t user, int *active,
                             int64_t *repost_id, int64_t *event_id);
/* Live quoting tweets of tweet: count, and a page of ids newest first. */
int chirp_repost_quote_count(PGconn *pg, int64_t tweet, long long *count);
int chirp_repost_quotes(PGconn *pg, int64_t tweet, int64_t before, int limit, int64_t **ids,
                        size_t *n, int64_t *next);

#endif
