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

int chirp_tweet_cache_put(redisContext *r, const chirp_tweet *t, int ttl_s) {
  char key[CHIRP_KEY_BUFSZ];
  char *s = NULL;
  if (!t->deleted_ms) {
    json_t *j = chirp_tweet_to_json(t);
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return CHIRP_ENOMEM;
  }
  int rc = chirp_cache_put(r, chirp_key_tweet(key, t->id), chirp_tweet_version(t), s ? s : "", ttl_s);
  free(s);
  return rc;
}
