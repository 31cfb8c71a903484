/*
 * chirp_thread.h — the conversation around a tweet, read from PostgreSQL
 * in one statement each (recursive queries over tweets.reply_to):
 *
 * ancestors: from the root of the thread down to the tweet's parent, at
 *   most CHIRP_THREAD_MAX_DEPTH of them, deleted ones included (the caller
 *   shows those as unavailable);
 * descendants: the replies below the tweet in reading order, depth first
 *   (each reply followed by its own replies), oldest first at each level.
 *   Ordered by the path of ids from the tweet down: a page starts after
 *   the path of the last item shown, so replies arriving meanwhile never
 *   repeat or shift an item (one that sorts before the cursor is simply
 *   not on the later pages).  Deleted replies are walked through (their
 *   live replies still show) but not returned; at most
 *   CHIRP_THREAD_MAX_DEPTH levels below the tweet.
 */
#ifndef CHIRP_THREAD_H
#define CHIRP_THREAD_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_THREAD_MAX_DEPTH 64

/* *out a new array (free) of *n ids, the root first. */
int chirp_thread_ancestors(PGconn *pg, int64_t tweet, int64_t **out, size_t *n);
/* The live descendants of tweet after the descendant after_id (0 = from
   the first), at most limit: *out a new array (free) of *n ids. */
int chirp_thread_descendants(PGconn *pg, int64_t tweet, int64_t after_id, int limit,
                             int64_t **out, size_t *n);

#endif
