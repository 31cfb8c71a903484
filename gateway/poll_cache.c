/* poll_cache.c — a poll's definition in Redis, see poll_cache.h. */
#include "poll_cache.h"

#include <stdlib.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_poll.h"
#include "chirp_redis.h"
#include "gw.h"

int gw_poll_load(int64_t id, json_t **def, gw_reply *rep) {
  char key[CHIRP_KEY_BUFSZ];
  chirp_key_poll(key, id);
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = redisCommand(r, "GET %s", key);
    if (!chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING)
      *def = json_loadb(rr->str, rr->len, 0, NULL);
    else
      *def = NULL;
    if (rr) freeReplyObject(rr);
    if (*def) return 0;
  }
  PGconn *pg = gw_pg();
  int64_t tweet, author;
  int rc = pg ? chirp_poll_store_get(pg, id, def, &tweet, &author) : CHIRP_EUNAVAILABLE;
  if (rc == CHIRP_ENOTFOUND) {
    gw_reply_error(rep, rc, NULL, "id", "no poll has the id %lld", (long long)id);
    return -1;
  }
  if (rc) {
    gw_reply_from_err(rep, rc);
    return -1;
  }
  json_object_set_new(*def, "tweet_id", chirp_json_id(tweet));
  json_object_set_new(*def, "author_id", chirp_json_id(author));
  char *s = json_dumps(*def, JSON_COMPACT);
  r = gw_redis();
  if (s && r) {
    redisReply *w = redisCommand(r, "SET %s %s EX %d", key, s, gw.cfg.cache_ttl_s);
    if (w) freeReplyObject(w);
  }
  free(s);
  return 0;
}

void gw_poll_remember(const json_t *def, int64_t tweet, int64_t author) {
  int64_t id;
  redisContext *r = gw_redis();
  if (!r || chirp_poll_id(def, &id)) return;
  json_t *copy = json_deep_copy(def);
  json_object_set_new(copy, "tweet_id", chirp_json_id(tweet));
  json_object_set_new(copy, "author_id", chirp_json_id(author));
  char *s = json_dumps(copy, JSON_COMPACT), key[CHIRP_KEY_BUFSZ];
  json_decref(copy);
  if (!s) return;
  redisReply *w = redisCommand(r, "SET %s %s EX %d", chirp_key_poll(key, id), s, gw.cfg.cache_ttl_s);
  if (w) freeReplyObject(w);
  free(s);
}
