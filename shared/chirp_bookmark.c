/* chirp_bookmark.c — bookmarks in Redis and PostgreSQL, see chirp_bookmark.h. */
#include "chirp_bookmark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

/* KEYS: hash, zset, flag.  ARGV: tweet, padded event, "1"/"0" active,
   "g" gateway or "w" worker.  Returns -1 unbuilt, 0 unchanged, or
   {prior} (a one-element array; "" when there was none). */
static chirp_lua set_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end "
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) "
    "local want = ARGV[3] == '1' "
    "local live = cur and string.sub(cur, 1, 1) == '+' "
    "if ARGV[4] == 'g' then if (live and true or false) == want then return 0 end "
    "elseif cur and string.sub(cur, 2) >= ARGV[2] then return 0 end "
    "if live then redis.call('ZREM', KEYS[2], string.sub(cur, 2) .. ':' .. ARGV[1]) end "
    "redis.call('HSET', KEYS[1], ARGV[1], (want and '+' or '-') .. ARGV[2]) "
    "if want then redis.call('ZADD', KEYS[2], 0, ARGV[2] .. ':' .. ARGV[1]) end "
    "return {cur or ''}");

/* KEYS as above.  ARGV: tweet, the value set, the prior value ("" none). */
static chirp_lua undo_script = CHIRP_LUA(
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end "
    "if string.sub(ARGV[2], 1, 1) == '+' then "
    "  redis.call('ZREM', KEYS[2], string.sub(ARGV[2], 2) .. ':' .. ARGV[1]) end "
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) "
    "if string.sub(ARGV[3], 1, 1) == '+' then "
    "  redis.call('ZADD', KEYS[2], 0, string.sub(ARGV[3], 2) .. ':' .. ARGV[1]) end "
    "return 1");

/* KEYS as above.  ARGV: triples tweet, "+E"/"-E" from PostgreSQL; each
   merged unless Redis holds a newer one; then the flag. */
static chirp_lua build_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end "
    "for i = 1, #ARGV, 2 do "
    "  local t, v = ARGV[i], ARGV[i + 1] "
    "  local cur = redis.call('HGET', KEYS[1], t) "
    "  if not cur or string.sub(cur, 2) < string.sub(v, 2) then "
    "    if cur and string.sub(cur, 1, 1) == '+' then "
    "      redis.call('ZREM', KEYS[2], string.sub(cur, 2) .. ':' .. t) end "
    "    redis.call('HSET', KEYS[1], t, v) "
    "    if string.sub(v, 1, 1) == '+' then "
    "      redis.call('ZADD', KEYS[2], 0, string.sub(v, 2) .. ':' .. t) end "
    "  end "
    "end "
    "redis.call('SET', KEYS[3], '1') return 1");

static void keys_of(int64_t user, char k[3][CHIRP_KEY_BUFSZ]) {
  chirp_key_bookmarks(k[0], user);
  chirp_key_bookmarks_order(k[1], user);
  chirp_key_bookmarks_ok(k[2], user);
}

static void pad(char out[24], int64_t v) { snprintf(out, 24, "%020lld", (long long)v); }

int chirp_bookmark_set(redisContext *r, int64_t user, int64_t tweet, int64_t event, int active,
                       int gateway, int *result, char prior[CHIRP_BOOKMARK_VBUFSZ]) {
  char k[3][CHIRP_KEY_BUFSZ], t[24], e[24];
  keys_of(user, k);
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  pad(e, event);
  const char *argv[] = {k[0], k[1], k[2], t, e, active ? "1" : "0", gateway ? "g" : "w"};
  redisReply *rep = chirp_redis_eval(r, &set_script, 3, 7, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int rc = 0;
  if (rep->type == REDIS_REPLY_INTEGER) {
    *result = (int)rep->integer;
  } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
             rep->element[0]->type == REDIS_REPLY_STRING &&
             rep->element[0]->len < CHIRP_BOOKMARK_VBUFSZ) {
    *result = 1;
    if (prior) {
      memcpy(prior, rep->element[0]->str, rep->element[0]->len);
      prior[rep->element[0]->len] = '\0';
    }
  } else {
    rc = CHIRP_EUNAVAILABLE;
  }
  freeReplyObject(rep);
  return rc;
}

int chirp_bookmark_undo(redisContext *r, int64_t user, int64_t tweet, int64_t event, int active,
                        const char *prior) {
  char k[3][CHIRP_KEY_BUFSZ], t[24], v[CHIRP_BOOKMARK_VBUFSZ + 1];
  keys_of(user, k);
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(v, sizeof v, "%c%020lld", active ? '+' : '-', (long long)event);
  const char *argv[] = {k[0], k[1], t, v, prior};
  redisReply *rep = chirp_redis_eval(r, &undo_script, 2, 5, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_bookmark_ensure(redisContext *r, PGconn *pg, int64_t user) {
  char k[3][CHIRP_KEY_BUFSZ];
  keys_of(user, k);
  redisReply *ok = chirp_redis_command(r, "EXISTS %s", k[2]);
  if (!ok) return CHIRP_EUNAVAILABLE;
  int built = ok->type == REDIS_REPLY_INTEGER && ok->integer == 1;
  freeReplyObject(ok);
  if (built) return 0;
  if (!pg) return CHIRP_EUNAVAILABLE;
  char u[24];
  snprintf(u, sizeof u, "%lld", (long long)user);
  const char *p[] = {u};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT tweet_id, CASE WHEN active THEN '+' ELSE '-' END || "
                         "lpad(event_id::text, 20, '0') FROM bookmarks WHERE user_id = $1",
                         1, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res);
  const char **argv = malloc((size_t)(3 + 2 * rows) * sizeof *argv);
  if (!argv) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  argv[0] = k[0];
  argv[1] = k[1];
  argv[2] = k[2];
  for (int i = 0; i < rows; i++) {
    argv[3 + 2 * i] = PQgetvalue(res, i, 0);
    argv[4 + 2 * i] = PQgetvalue(res, i, 1);
  }
  redisReply *rep = chirp_redis_eval(r, &build_script, 3, 3 + 2 * rows, argv, NULL);
  free(argv);
  PQclear(res);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_bookmark_page(redisContext *r, int64_t user, int64_t before_event, int limit,
                        int64_t **tweets, int64_t **events, size_t *n) {
  char k[CHIRP_KEY_BUFSZ], max[32];
  *tweets = *events = NULL;
  *n = 0;
  chirp_key_bookmarks_order(k, user);
  if (before_event) snprintf(max, sizeof max, "(%020lld:", (long long)before_event);
  else snprintf(max, sizeof max, "+");
  redisReply *rep = chirp_redis_command(r, "ZREVRANGEBYLEX %s %s - LIMIT 0 %d", k, max, limit);
  if (!rep) return CHIRP_EUNAVAILABLE;
  if (rep->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(rep);
    return CHIRP_EUNAVAILABLE;
  }
  size_t m = rep->elements;
  *tweets = malloc((m ? m : 1) * sizeof **tweets);
  *events = malloc((m ? m : 1) * sizeof **events);
  if (!*tweets || !*events) {
    free(*tweets);
    free(*events);
    *tweets = *events = NULL;
    freeReplyObject(rep);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < m; i++) {
    const redisReply *e = rep->element[i];
    if (e->type != REDIS_REPLY_STRING) continue;
    char *colon = NULL;
    long long ev = strtoll(e->str, &colon, 10);
    if (!colon || *colon != ':') continue;
    (*events)[*n] = ev;
    (*tweets)[(*n)++] = strtoll(colon + 1, NULL, 10);
  }
  freeReplyObject(rep);
  return 0;
}

int chirp_bookmark_store_put(PGconn *pg, int64_t user, int64_t tweet, int active, int64_t event) {
  char u[24], t[24], e[24];
  snprintf(u, sizeof u, "%lld", (long long)user);
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(e, sizeof e, "%lld", (long long)event);
  const char *p[] = {u, t, active ? "t" : "f", e};
  return chirp_pg_exec(pg,
                       "INSERT INTO bookmarks (user_id, tweet_id, active, event_id) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, tweet_id) DO UPDATE "
                       "SET active = EXCLUDED.active, event_id = EXCLUDED.event_id "
                       "WHERE bookmarks.event_id < EXCLUDED.event_id",
                       4, p, NULL);
}
