/* tweet_load.c — one live tweet for a handler, see tweet_load.h. */
#include "tweet_load.h"

#include <stdlib.h>

#include "chirp_error.h"
#include "chirp_log.h"
#include "gw.h"

int gw_load_tweet(int64_t id, chirp_tweet *t, gw_reply *rep) {
  char *raw = NULL;
  size_t len;
  int deleted = 0;
  redisContext *r = gw_redis();
  int rc = r ? chirp_tweet_cache_get(r, id, &raw, &len, &deleted) : CHIRP_EUNAVAILABLE;
  if (rc == 0) {
    json_t *j = json_loadb(raw, len, 0, NULL);
    free(raw);
    rc = j ? chirp_tweet_from_json(j, t) : CHIRP_EMALFORMED;
    json_decref(j);
    if (rc == 0) {
      gw_cache_hits++;
      return 0;
    }
    chirp_warn("tweet %lld: unreadable cache entry; using PostgreSQL", (long long)id);
  }
  if (deleted) gw_cache_hits++;
  if (!deleted) {
    gw_cache_misses++;
    PGconn *pg = gw_pg();
    rc = pg ? chirp_tweet_store_get(pg, id, t) : CHIRP_EUNAVAILABLE;
    if (rc == 0) {
      if (r && !r->err) (void)chirp_tweet_cache_put(r, t, gw.cfg.cache_ttl_s);
      if (!t->deleted_ms) return 0;
      chirp_tweet_cleanup(t);
      deleted = 1;
    }
  }
  if (deleted || rc == CHIRP_ENOTFOUND) {
    gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "no tweet has the id %lld", (long long)id);
  } else {
    gw_reply_from_err(rep, rc);
  }
  return -1;
}
