/* hydrate.c — tweet ids to hydrated feed items, see hydrate.h. */
#include "hydrate.h"

#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_redis.h"
#include "chirp_tweet.h"
#include "gw.h"
#include "stats.h"

/* Sends one command per key with pipelining and collects the replies
   (replies[i] may be NULL after a failure).  Returns 0 or CHIRP_EUNAVAILABLE. */
static int pipeline(redisContext *r, const char *fmt, char (*keys)[CHIRP_KEY_BUFSZ], size_t n,
                    redisReply **replies) {
  for (size_t i = 0; i < n; i++)
    if (redisAppendCommand(r, fmt, keys[i]) != REDIS_OK) return CHIRP_EUNAVAILABLE;
  for (size_t i = 0; i < n; i++) {
    if (redisGetReply(r, (void **)&replies[i]) != REDIS_OK) {
      replies[i] = NULL;
      return CHIRP_EUNAVAILABLE;
    }
  }
  return 0;
}

/* The tweet of a cache reply, or from PostgreSQL (refilling the cache);
   NULL when deleted, unknown, or unreadable. New reference. */
static json_t *tweet_json(redisContext *r, const redisReply *rep, int64_t id) {
  if (rep && rep->type == REDIS_REPLY_STRING) {
    if (rep->len == 0) return NULL; /* tombstone */
    json_t *j = json_loadb(rep->str, rep->len, 0, NULL);
    if (j) return j;
  }
  PGconn *pg = gw_pg();
  chirp_tweet t;
  if (!pg || chirp_tweet_store_get(pg, id, &t) != 0) return NULL;
  if (r && !r->err) (void)chirp_tweet_cache_put(r, &t, gw.cfg.cache_ttl_s);
  json_t *j = t.deleted_ms ? NULL : chirp_tweet_to_json(&t);
  chirp_tweet_cleanup(&t);
  return j;
}

/* The public author object from an account cache reply or PostgreSQL. */
static json_t *author_json(redisContext *r, const redisReply *rep, int64_t id, const char *key) {
  json_t *full = NULL;
  if (rep && rep->type == REDIS_REPLY_STRING) full = json_loadb(rep->str, rep->len, 0, NULL);
  if (!full) {
    PGconn *pg = gw_pg();
    chirp_account a;
    if (!pg || chirp_account_get(pg, id, &a) != 0) return NULL;
    full = chirp_account_to_json(&a, 0);
    chirp_account_cleanup(&a);
    char *s = full ? json_dumps(full, JSON_COMPACT) : NULL;
    if (s && r && !r->err) {
      redisReply *w = redisCommand(r, "SET %s %s EX %d", key, s, CHIRP_ACCOUNT_CACHE_TTL_S);
      if (w) freeReplyObject(w);
    }
    free(s);
  }
  if (!full) return NULL;
  json_t *author = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(full, "id"), "username",
                             json_object_get(full, "username"), "display_name",
                             json_object_get(full, "display_name"), "avatar_url",
                             json_object_get(full, "avatar_url"));
  json_decref(full);
  return author;
}

int gw_hydrate_tweets(const int64_t *ids, size_t n, int64_t viewer, json_t *items, int64_t *shown,
                      size_t *nshown) {
  *nshown = 0;
  if (n == 0) return 0;
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  int rc = CHIRP_ENOMEM;
  char(*keys)[CHIRP_KEY_BUFSZ] = calloc(n, sizeof *keys);
  redisReply **replies = calloc(n, sizeof *replies);
  json_t **tweets = calloc(n, sizeof *tweets);
  int64_t *authors = calloc(n, sizeof *authors);
  json_t **author_objs = calloc(n, sizeof *author_objs);
  gw_tweet_stats *stats = calloc(n, sizeof *stats);
  size_t na = 0;
  if (!keys || !replies || !tweets || !authors || !author_objs || !stats) goto out;

  /* Round trip 1: the tweets. */
  for (size_t i = 0; i < n; i++) chirp_key_tweet(keys[i], ids[i]);
  if ((rc = pipeline(r, "HGET %s j", keys, n, replies))) goto out;
  for (size_t i = 0; i < n; i++) {
    tweets[i] = tweet_json(r, replies[i], ids[i]);
    if (replies[i]) freeReplyObject(replies[i]);
    replies[i] = NULL;
    int64_t a;
    if (!tweets[i] || chirp_json_get_id(tweets[i], "author_id", &a)) continue;
    size_t k = 0;
    while (k < na && authors[k] != a) k++;
    if (k == na) authors[na++] = a;
  }
  /* Round trip 2: their authors, each once. */
  for (size_t k = 0; k < na; k++) chirp_key_account(keys[k], authors[k]);
  if ((rc = pipeline(r, "GET %s", keys, na, replies))) goto out;
  for (size_t k = 0; k < na; k++) author_objs[k] = author_json(r, replies[k], authors[k], keys[k]);
  /* Round trip 3: counts and liked_by_me. */
  if ((rc = gw_stats_get(ids, n, viewer, stats))) goto out;

  for (size_t i = 0; i < n; i++) {
    int64_t a;
    if (!tweets[i] || chirp_json_get_id(tweets[i], "author_id", &a)) continue;
    size_t k = 0;
    while (k < na && authors[k] != a) k++;
    if (!author_objs[k]) continue; /* an author that no longer exists */
    json_object_set(tweets[i], "author", author_objs[k]);
    gw_stats_apply(tweets[i], &stats[i]);
    json_array_append(items, tweets[i]);
    shown[(*nshown)++] = ids[i];
  }
  rc = 0;
out:
  for (size_t i = 0; keys && i < n; i++) {
    if (replies && replies[i]) freeReplyObject(replies[i]);
    if (tweets) json_decref(tweets[i]);
    if (author_objs) json_decref(author_objs[i]);
  }
  free(keys);
  free(replies);
  free(tweets);
  free(authors);
  free(author_objs);
  free(stats);
  return rc;
}
