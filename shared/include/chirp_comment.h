/*
 * chirp_comment.h — comments on tweets: model, JSON, PostgreSQL, cache.
 *
 * JSON form: {"id", "tweet_id", "author_id", "text", "created_at",
 * "edited_at": time|null}.  Like tweets, the store's writes commute (an
 * edit or delete may reach PostgreSQL before the create), and the tweet's
 * comment count in tweet_counts moves exactly when a comment becomes live
 * or stops being so.  Cached in Redis as a versioned entry.
 */
#ifndef CHIRP_COMMENT_H
#define CHIRP_COMMENT_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chirp_comment {
  int64_t id, tweet_id, author_id;
  int64_t created_ms, edited_ms, deleted_ms;
  char *text; /* owned */
} chirp_comment;

void chirp_comment_cleanup(chirp_comment *c);
json_t *chirp_comment_to_json(const chirp_comment *c); /* new reference */
int chirp_comment_from_json(const json_t *j, chirp_comment *c);

/* Writes the state c (created, edited or deleted, by its times), exact
   when several workers write one comment at once.  *delta is how the
   tweet's live comment count moved (-1, 0, +1).  *applied (may be NULL) is
   0 when a row with this id belongs to another author or tweet: then
   nothing changed (the gateway checks the author; this is the defence
   behind it). */
int chirp_comment_store_put(PGconn *pg, const chirp_comment *c, int *delta, int *applied);
int chirp_comment_store_get(PGconn *pg, int64_t id, chirp_comment *out);
/* Live comments of tweet with id > after, oldest first, at most limit;
   *items a new JSON array; *next the cursor (last id) or 0 at the end. */
int chirp_comment_store_list(PGconn *pg, int64_t tweet, int64_t after, int limit, json_t **items,
                             int64_t *next);
/* The tweet's live comments (tweet_counts). */
int chirp_comment_store_count(PGconn *pg, int64_t tweet, long long *count);

int chirp_comment_cache_put(redisContext *r, const chirp_comment *c, int ttl_s);
/* As chirp_cache_get. */
int chirp_comment_cache_get(redisContext *r, int64_t id, char **json, size_t *len, int *deleted);

#endif
