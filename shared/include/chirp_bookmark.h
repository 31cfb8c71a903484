/*
 * chirp_bookmark.h — bookmarks: private, one per (user, tweet), in
 * PostgreSQL (the truth, table bookmarks) and in Redis for reading.
 *
 * Redis keeps, per user and under that user's hash tag only:
 *   a hash tweet -> "+E" (bookmarked by event E) or "-E" (removed by E),
 *     E zero-padded to 20 digits so versions compare as strings in Lua;
 *   a zset of "E:tweet" members (score 0, read by lex order), the live
 *     bookmarks newest first;
 *   a flag saying both were built from PostgreSQL.
 * The gateway changes them before publishing (so the owner reads the
 * bookmark at once); the persist worker applies the event again after its
 * commit, newest event wins, so Redis and PostgreSQL settle on the same
 * state whatever the order.  A set on keys that are not built answers
 * CHIRP_BOOKMARK_UNBUILT: build (chirp_bookmark_build) and retry.
 */
#ifndef CHIRP_BOOKMARK_H
#define CHIRP_BOOKMARK_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_BOOKMARK_UNBUILT (-1)
#define CHIRP_BOOKMARK_VBUFSZ 24 /* a hash value "+E" and its NUL */

/* Sets the (user, tweet) bookmark to active as of event.  gateway: change
   only when the state differs (a repeat changes nothing); else (the
   worker): change only when event is newer than the stored one.  *result:
   1 changed (prior receives the value before, "" when none), 0 unchanged,
   CHIRP_BOOKMARK_UNBUILT.  Returns 0 or CHIRP_EUNAVAILABLE. */
int chirp_bookmark_set(redisContext *r, int64_t user, int64_t tweet, int64_t event, int active,
                       int gateway, int *result, char prior[CHIRP_BOOKMARK_VBUFSZ]);
/* Takes back a gateway set whose publish failed: back to prior unless
   another change came since. */
int chirp_bookmark_undo(redisContext *r, int64_t user, int64_t tweet, int64_t event, int active,
                        const char *prior);
/* Builds the user's keys from PostgreSQL (merging, newest wins, with what
   Redis holds) unless they are built. */
int chirp_bookmark_ensure(redisContext *r, PGconn *pg, int64_t user);
/* The user's live bookmarks older than before_event (0 = from the newest),
   newest first, at most limit: tweets[k] bookmarked by events[k] (new
   arrays, free both).  The keys must be built (chirp_bookmark_ensure). */
int chirp_bookmark_page(redisContext *r, int64_t user, int64_t before_event, int limit,
                        int64_t **tweets, int64_t **events, size_t *n);
/* PostgreSQL: the event's state unless a newer one is stored. */
int chirp_bookmark_store_put(PGconn *pg, int64_t user, int64_t tweet, int active, int64_t event);

#endif
