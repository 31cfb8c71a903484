/* chirp_tweet_cache.c — versioned tweet entries in Redis. */
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "chirp_tweet.h"

int chirp_tweet_cache_get(redisContext *r, int64_t id, char **json, size_t *len, int *deleted) {
  char key[CHIRP_KEY_BUFSZ];
  return chirp_cache_get(r, chirp_key_tweet(key, id), json, len, deleted);
}

/* The cached form: the JSON, or "" for a tombstone; NULL when out of memory. */
static char *cached_form(const chirp_tweet *t) {
  if (t->deleted_ms) return strdup("");
  json_t *j = chirp_tweet_to_json(t);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return s;
}

int chirp_tweet_cache_put_text(redisContext *r, const chirp_tweet *t, const char *text, int ttl_s) {
  char key[CHIRP_KEY_BUFSZ];
  return chirp_cache_put(r, chirp_key_tweet(key, t->id), chirp_tweet_version(t), text, ttl_s);
}

int chirp_tweet_cache_put(redisContext *r, const chirp_tweet *t, int ttl_s) {
  char *s = cached_form(t);
  if (!s) return CHIRP_ENOMEM;
  int rc = chirp_tweet_cache_put_text(r, t, s, ttl_s);
  free(s);
  return rc;
}

int chirp_tweet_cache_swap(redisContext *r, const chirp_tweet *old, const chirp_tweet *t,
                           int ttl_s, int *swapped) {
  char key[CHIRP_KEY_BUFSZ];
  char *s = cached_form(t);
  if (!s) return CHIRP_ENOMEM;
  int rc = chirp_cache_swap(r, chirp_key_tweet(key, t->id), chirp_tweet_version(old),
                            chirp_tweet_version(t), s, ttl_s, swapped);
  free(s);
  return rc;
}
