/* chirp_pin.c — the pinned tweet, see chirp_pin.h. */
#include "chirp_pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

/* KEYS: the pin.  ARGV: tweet, padded event. */
static chirp_lua set_script = CHIRP_LUA(
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur then local c = string.find(cur, ':', 1, true) "
    "  if c and string.sub(cur, c + 1) >= ARGV[2] then return 0 end end "
    "redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2]) return 1");

int chirp_pin_set(redisContext *r, int64_t account, int64_t tweet, int64_t event) {
  char k[CHIRP_KEY_BUFSZ], t[24], e[24];
  chirp_key_pin(k, account);
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(e, sizeof e, "%020lld", (long long)event);
  const char *argv[] = {k, t, e};
  redisReply *rep = chirp_redis_eval(r, &set_script, 1, 3, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_pin_get(redisContext *r, PGconn *pg, int64_t account, int64_t *tweet) {
  char k[CHIRP_KEY_BUFSZ];
  *tweet = 0;
  redisReply *rep = chirp_redis_command(r, "GET %s", chirp_key_pin(k, account));
  if (!rep) return CHIRP_EUNAVAILABLE;
  int hit = rep->type == REDIS_REPLY_STRING;
  if (hit) *tweet = strtoll(rep->str, NULL, 10);
  freeReplyObject(rep);
  if (hit) return 0;
  if (!pg) return CHIRP_EUNAVAILABLE;
  char a[24];
  snprintf(a, sizeof a, "%lld", (long long)account);
  const char *p[] = {a};
  PGresult *res;
  int rc = chirp_pg_exec(pg, "SELECT coalesce(tweet_id, 0), event_id FROM pins WHERE account_id = $1",
                         1, p, &res);
  if (rc) return rc;
  int64_t event = 0;
  if (PQntuples(res) == 1) {
    *tweet = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    event = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  }
  PQclear(res);
  return chirp_pin_set(r, account, *tweet, event);
}

int chirp_pin_store_put(PGconn *pg, int64_t account, int64_t tweet, int64_t event) {
  char a[24], t[24], e[24];
  snprintf(a, sizeof a, "%lld", (long long)account);
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(e, sizeof e, "%lld", (long long)event);
  const char *p[] = {a, tweet ? t : NULL, e};
  return chirp_pg_exec(pg,
                       "INSERT INTO pins (account_id, tweet_id, event_id) VALUES ($1, $2, $3) "
                       "ON CONFLICT (account_id) DO UPDATE SET tweet_id = EXCLUDED.tweet_id, "
                       "event_id = EXCLUDED.event_id WHERE pins.event_id < EXCLUDED.event_id",
                       3, p, NULL);
}
