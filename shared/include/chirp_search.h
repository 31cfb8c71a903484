/*
 * chirp_search.h — search: hashtag parsing, the PostgreSQL queries, and the
 * Redis cache of answers.
 *
 * A cached answer is keyed by the search generation, a counter the persist
 * worker advances after every tweet it commits (or deletes): a new tweet
 * changes the generation, so no cached answer can hide it.  Answers live
 * CHIRP_SEARCH_CACHE_TTL_S seconds.
 */
#ifndef CHIRP_SEARCH_H
#define CHIRP_SEARCH_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_MAX_HASHTAGS 10
#define CHIRP_MAX_HASHTAG_CHARS 64
#define CHIRP_SEARCH_CACHE_TTL_S 60

/* The distinct #hashtags of text (lowercased, without '#'), at most max.
   Pure. */
size_t chirp_hashtags_parse(const char *text, char (*tags)[CHIRP_MAX_HASHTAG_CHARS + 1], size_t max);

/* Makes the tweet's recorded hashtags those of text (idempotent). */
int chirp_search_store_hashtags(PGconn *pg, int64_t tweet_id, const char *text);
/* chirp_search_store_hashtags for n tweets (ids[i] with texts[i]) in two
   statements at most, whatever n (a worker's batch). */
int chirp_search_store_hashtags_many(PGconn *pg, const int64_t *ids, const char *const *texts,
                                     size_t n);

/* Tweets matching q, ranked then newest, skipping offset: ids in *out (new
   array), *n of them. */
int chirp_search_tweets(PGconn *pg, const char *q, int offset, int limit, int64_t **out, size_t *n);
/* Accounts whose username or display name starts with q: a new JSON array. */
int chirp_search_accounts(PGconn *pg, const char *q, int offset, int limit, json_t **out);
/* Hashtags starting with q, most used first: [{"tag", "count"}]. */
int chirp_search_hashtags(PGconn *pg, const char *q, int offset, int limit, json_t **out);
/* Live tweets with #tag, newest first, id below before: ids in *out. */
int chirp_search_tag_tweets(PGconn *pg, const char *tag, int64_t before, int limit, int64_t **out,
                            size_t *n);

/* The current generation (0 when Redis has none yet). */
int chirp_search_generation(redisContext *r, long long *gen);
/* Advances it (after a tweet was committed or deleted). */
int chirp_search_bump(redisContext *r);

#endif
