/* chirp_tweet_cache.c — versioned tweet entries in Redis. */
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "chirp_tweet.h"

/* Replace the entry unless the cached one is newer; then (re)arm the TTL.
   Redis caches the script by its SHA, so sending it each time costs only
   its ~250 bytes on the wire. */
static const char put_script[] =
    "local v = redis.call('HGET', KEYS[1], 'v') "
    "if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end "
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'j', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
    "return 1";

int chirp_tweet_cache_get(redisContext *r, int64_t id, char **json, size_t *len, int *deleted) {
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rep = redisCommand(r, "HGET %s j", chirp_key_tweet(key, id));
  if (chirp_redis_reply_failed(r, rep)) {
    if (rep) freeReplyObject(rep);
    return CHIRP_EUNAVAILABLE;
  }
  int rc;
  *deleted = 0;
  if (rep->type != REDIS_REPLY_STRING) {
    rc = CHIRP_ENOTFOUND;
  } else if (rep->len == 0) {
    *deleted = 1;
    rc = CHIRP_ENOTFOUND;
  } else if (!(*json = malloc(rep->len + 1))) {
    rc = CHIRP_ENOMEM;
  } else {
    memcpy(*json, rep->str, rep->len);
    (*json)[rep->len] = '\0';
    *len = rep->len;
    rc = 0;
  }
  freeReplyObject(rep);
  return rc;
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
  redisReply *rep = redisCommand(r, "EVAL %s 1 %s %lld %s %d", put_script,
                                 chirp_key_tweet(key, t->id), (long long)chirp_tweet_version(t),
                                 s ? s : "", ttl_s);
  free(s);
  int bad = chirp_redis_reply_failed(r, rep);
  if (rep) freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}
