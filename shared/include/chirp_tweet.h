/*
 * chirp_tweet.h — the tweet: model, JSON form, PostgreSQL store, Redis cache.
 *
 * JSON form (the API's and the events' payload):
 *   {"id", "author_id", "text", "reply_to": id|null, "created_at",
 *    "edited_at": time|null, "poll": {...}|null}
 *
 * Store functions take a PGconn owned by the caller and return 0 or a
 * CHIRP_E… code (CHIRP_EUNAVAILABLE when the connection broke).  The store
 * is written so that events commute: an edit or delete that reaches
 * PostgreSQL before its tweet.created leaves the right final row.
 *
 * The cache keeps one Redis hash per tweet, {v: version, j: JSON}, where an
 * empty j is a tombstone (deleted).  A write only replaces an entry whose
 * version is not newer, so a slow reader refilling from an old row never
 * hides a newer edit.
 */
#ifndef CHIRP_TWEET_H
#define CHIRP_TWEET_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chirp_tweet {
  int64_t id;
  int64_t author_id;
  int64_t reply_to;    /* 0 = none */
  int64_t quote_of;    /* the quoted tweet; 0 = none */
  int64_t created_ms;
  int64_t edited_ms;   /* 0 = never edited */
  int64_t deleted_ms;  /* 0 = live */
  char *text;          /* owned, NUL-terminated UTF-8 */
  json_t *poll;        /* owned reference or NULL: the poll's definition
                          {id, options, multiple, expires_at} (chirp_poll.h) */
} chirp_tweet;

void chirp_tweet_cleanup(chirp_tweet *t); /* frees text and poll; t itself is the caller's */
/* Frees an array of n tweets from a store list; NULL is harmless. */
void chirp_tweet_array_free(chirp_tweet *a, size_t n);

/* The JSON form (new reference), or NULL when out of memory. */
json_t *chirp_tweet_to_json(const chirp_tweet *t);
/* Reads the JSON form; on success t->text is a new string. */
int chirp_tweet_from_json(const json_t *j, chirp_tweet *t);
/* Version used by the cache: the latest of edited/deleted times. */
int64_t chirp_tweet_version(const chirp_tweet *t);

/* --- PostgreSQL (worker side writes, gateway side reads) --- */
/* Inserts a new tweet; *inserted = 0 when its row existed already (another
   worker, a replay, or a delete that overtook it), in which case the caller
   must not cache t as the tweet's state.  inserted may be NULL. */
int chirp_tweet_store_create(PGconn *pg, const chirp_tweet *t, int *inserted);
/* chirp_tweet_store_create for n tweets in ONE statement (a worker's
   batch; the same tweet twice is stored once). */
int chirp_tweet_store_create_many(PGconn *pg, const chirp_tweet *const *tweets, size_t n);
/* chirp_tweet_store_create_many that also tells, for each tweet, what
   chirp_tweet_store_create and chirp_tweet_store_authored tell together:
   authored[i] = 1 when tweets[i]'s row is there and its author's (stored
   now, or before by another role, or a tombstone of that author), 0 when
   the id is another author's.  Two statements at most, whatever n. */
int chirp_tweet_store_create_checked(PGconn *pg, const chirp_tweet *const *tweets, size_t n,
                                     unsigned char *authored);
/* Applies an edit carried by event_id: t is the new state, prev_text and
   prev_since_ms the version it replaced (kept in the history).  Only a
   tweet of t->author_id changes: *authored (may be NULL) is 0 when the
   row belongs to another author, and then nothing was written (the
   gateway checks the author; this is the defence behind it). */
int chirp_tweet_store_edit(PGconn *pg, int64_t event_id, const chirp_tweet *t,
                           const char *prev_text, int64_t prev_since_ms, int *authored);
/* t->deleted_ms must be set (else CHIRP_EINVAL).  *authored (may be NULL)
   as for an edit: another author's tweet is left alone. */
int chirp_tweet_store_delete(PGconn *pg, const chirp_tweet *t, int *authored);
/* *authored = 1 when tweet id exists and belongs to author. */
int chirp_tweet_store_authored(PGconn *pg, int64_t id, int64_t author, int *authored);
/* Loads one tweet, deleted ones included (check deleted_ms).  CHIRP_ENOTFOUND
   when there is no row. */
int chirp_tweet_store_get(PGconn *pg, int64_t id, chirp_tweet *out);
/* Loads the tweets of ids that exist, deleted ones included, in ONE
   statement, in no particular order: *out a new array of *nout tweets
   (chirp_tweet_array_free). */
int chirp_tweet_store_get_many(PGconn *pg, const int64_t *ids, size_t n, chirp_tweet **out,
                               size_t *nout);
/* Live tweets of author with id < before (0 = from the newest), newest
   first, at most limit.  *out is a new array of *n tweets
   (chirp_tweet_array_free). */
int chirp_tweet_store_list_by_author(PGconn *pg, int64_t author_id, int64_t before, int limit,
                                     chirp_tweet **out, size_t *n);
/* Earlier versions of a tweet, newest first: a new JSON array of
   {"text", "since", "until"} (new reference in *out). */
int chirp_tweet_store_history(PGconn *pg, int64_t id, json_t **out);

/* --- Redis cache --- */
/* On a hit *json is a new malloc'd string (free) and returns 0; a tombstone
   returns CHIRP_ENOTFOUND with *deleted = 1; a miss returns CHIRP_ENOTFOUND
   with *deleted = 0; a broken connection CHIRP_EUNAVAILABLE. */
int chirp_tweet_cache_get(redisContext *r, int64_t id, char **json, size_t *len, int *deleted);
/* Stores t (a tombstone when t->deleted_ms) unless a newer version is
   cached. */
int chirp_tweet_cache_put(redisContext *r, const chirp_tweet *t, int ttl_s);
/* The same with t's cached text already made by the caller: what
   chirp_tweet_to_json(t) dumps with JSON_COMPACT ("" for a tombstone). */
int chirp_tweet_cache_put_text(redisContext *r, const chirp_tweet *t, const char *text, int ttl_s);
/* Stores t only if the cached entry is still exactly old (compare-and-
   set): *swapped = 0 when another change came first. */
int chirp_tweet_cache_swap(redisContext *r, const chirp_tweet *old, const chirp_tweet *t,
                           int ttl_s, int *swapped);

#endif
