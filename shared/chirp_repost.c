/* chirp_repost.c — reposts in Redis and PostgreSQL, see chirp_repost.h. */
#include "chirp_repost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

/* KEYS[1] flag, KEYS[2] versions (user -> "event|repost_id"), KEYS[3]
   order ("repost_id:user", ids zero-padded so lex order is numeric),
   KEYS[4] set.  put() is the one change of a user's state, so the keys
   always agree. */
#define LUA_COMMON                                                                    \
  "local function lt(a, b) return #a < #b or (#a == #b and a < b) end "                \
  "local function om(e, m) return string.rep('0', 19 - #e) .. e .. ':' .. m end "      \
  "local function parse(v) if not v then return nil, '' end "                          \
  "  local e, r = string.match(v, '^(%d+)|(%d*)$') return e, r or '' end "             \
  "local function put(m, nv) "                                                         \
  "  local _, cr = parse(redis.call('HGET', KEYS[2], m)) "                             \
  "  if cr ~= '' then redis.call('ZREM', KEYS[3], om(cr, m)) redis.call('SREM', KEYS[4], m) end " \
  "  if nv == '' then redis.call('HDEL', KEYS[2], m) return end "                      \
  "  redis.call('HSET', KEYS[2], m, nv) "                                              \
  "  local _, nr = parse(nv) "                                                         \
  "  if nr ~= '' then redis.call('ZADD', KEYS[3], 0, om(nr, m)) redis.call('SADD', KEYS[4], m) end " \
  "end "

/* ARGV[1] user, ARGV[2] 1/0, ARGV[3] event id.  {-1} not built, else
   {changed 0/1, the active (or undone) repost id or '', the prior value}. */
static chirp_lua set_script = CHIRP_LUA(
    LUA_COMMON
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '', ''} end "
    "local m, on, e = ARGV[1], ARGV[2], ARGV[3] "
    "local v = redis.call('HGET', KEYS[2], m) "
    "local _, r = parse(v) "
    "if on == '1' then "
    "  if r ~= '' then return {0, r, v} end "
    "  put(m, e .. '|' .. e) return {1, e, v or ''} "
    "end "
    "if r == '' then return {0, '', v or ''} end "
    "put(m, e .. '|') return {1, r, v}");

/* ARGV[1] user, ARGV[2] the event id set, ARGV[3] the value before: put
   back only while that change is still the newest. */
static chirp_lua undo_script = CHIRP_LUA(
    LUA_COMMON
    "local e = parse(redis.call('HGET', KEYS[2], ARGV[1])) "
    "if e ~= ARGV[2] then return 0 end "
    "put(ARGV[1], ARGV[3]) return 1");

/* ARGV[1] user, ARGV[2] event id, ARGV[3] repost id or ''. */
static chirp_lua sync_script = CHIRP_LUA(
    LUA_COMMON
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "local e = parse(redis.call('HGET', KEYS[2], ARGV[1])) "
    "if e and not lt(e, ARGV[2]) then return 0 end "
    "put(ARGV[1], ARGV[2] .. '|' .. ARGV[3]) return 1");

/* ARGV: pairs of user, "event|repost_id" from PostgreSQL.  Builds once;
   a change known here that is newer than PostgreSQL's (its event still on
   the way) is kept. */
static chirp_lua build_script = CHIRP_LUA(
    LUA_COMMON
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "local old = redis.call('HGETALL', KEYS[2]) "
    "redis.call('DEL', KEYS[2], KEYS[3], KEYS[4]) "
    "for i = 1, #ARGV, 2 do put(ARGV[i], ARGV[i + 1]) end "
    "for i = 1, #old, 2 do "
    "  local e = parse(old[i + 1]) "
    "  local have = parse(redis.call('HGET', KEYS[2], old[i])) "
    "  if e and (not have or lt(have, e)) then put(old[i], old[i + 1]) end "
    "end "
    "redis.call('SET', KEYS[1], '1') return 1");

/* ARGV[1] upper bound, ARGV[2] how many: -1 not built, else entries. */
static chirp_lua page_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
    "return redis.call('ZREVRANGEBYLEX', KEYS[3], ARGV[1], '-', 'LIMIT', 0, ARGV[2])");

typedef struct group {
  char k[4][CHIRP_KEY_BUFSZ];
} group;

static void group_of(group *g, int64_t tweet) {
  chirp_key_reposters_ok(g->k[0], tweet);
  chirp_key_reposters_version(g->k[1], tweet);
  chirp_key_reposters_order(g->k[2], tweet);
  chirp_key_reposters(g->k[3], tweet);
}

int chirp_repost_build(redisContext *r, PGconn *pg, int64_t tweet) {
  if (!pg) return CHIRP_EUNAVAILABLE;
  char t[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  const char *p[] = {t};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT user_id, event_id || '|' || CASE WHEN active THEN repost_id::text "
                         "ELSE '' END FROM reposts WHERE tweet_id = $1",
                         1, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res);
  const char **argv = calloc((size_t)rows * 2 + 4, sizeof *argv);
  if (!argv) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  group g;
  group_of(&g, tweet);
  for (int k = 0; k < 4; k++) argv[k] = g.k[k];
  for (int i = 0; i < rows; i++) {
    argv[4 + 2 * i] = PQgetvalue(res, i, 0);
    argv[5 + 2 * i] = PQgetvalue(res, i, 1);
  }
  redisReply *rep = chirp_redis_eval(r, &build_script, 4, 4 + 2 * rows, argv, NULL);
  free(argv);
  PQclear(res);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int bad = rep->type == REDIS_REPLY_ERROR;
  freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

static void copy_str(char *dst, size_t cap, const redisReply *e) {
  if (e && e->type == REDIS_REPLY_STRING) snprintf(dst, cap, "%.*s", (int)e->len, e->str);
  else dst[0] = '\0';
}

int chirp_repost_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int on,
                     int64_t event_id, int *changed, int64_t *repost_id, chirp_repost_prior *undo) {
  memset(undo, 0, sizeof *undo);
  undo->tweet = tweet;
  undo->user = user;
  snprintf(undo->event, sizeof undo->event, "%lld", (long long)event_id);
  group g;
  group_of(&g, tweet);
  char m[24];
  snprintf(m, sizeof m, "%lld", (long long)user);
  const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], m, on ? "1" : "0", undo->event};
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep = chirp_redis_eval(r, &set_script, 4, 7, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    long long v = -2;
    char rid[24] = "";
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
      v = rep->element[0]->integer;
      copy_str(rid, sizeof rid, rep->element[1]);
      copy_str(undo->prev, sizeof undo->prev, rep->element[2]);
    }
    freeReplyObject(rep);
    if (v >= 0) {
      *changed = v == 1;
      *repost_id = strtoll(rid, NULL, 10);
      return 0;
    }
    if (v != -1) return CHIRP_EUNAVAILABLE;
    int rc = chirp_repost_build(r, pg, tweet);
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_repost_undo(redisContext *r, const chirp_repost_prior *undo) {
  group g;
  group_of(&g, undo->tweet);
  char m[24];
  snprintf(m, sizeof m, "%lld", (long long)undo->user);
  const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], m, undo->event, undo->prev};
  redisReply *rep = chirp_redis_eval(r, &undo_script, 4, 7, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_repost_sync(redisContext *r, int64_t tweet, int64_t user, int64_t event_id,
                      int64_t repost_id) {
  group g;
  group_of(&g, tweet);
  char m[24], e[24], rid[24] = "";
  snprintf(m, sizeof m, "%lld", (long long)user);
  snprintf(e, sizeof e, "%lld", (long long)event_id);
  if (repost_id) snprintf(rid, sizeof rid, "%lld", (long long)repost_id);
  const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], m, e, rid};
  redisReply *rep = chirp_redis_eval(r, &sync_script, 4, 7, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int bad = rep->type == REDIS_REPLY_ERROR;
  freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

int chirp_repost_page(redisContext *r, PGconn *pg, int64_t tweet, int64_t before, int limit,
                      int64_t **ids, size_t *n, int64_t *next) {
  group g;
  group_of(&g, tweet);
  char bound[24], count[16];
  if (before > 0) snprintf(bound, sizeof bound, "(%019lld", (long long)before);
  else snprintf(bound, sizeof bound, "+");
  snprintf(count, sizeof count, "%d", limit + 1);
  const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], bound, count};
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep = chirp_redis_eval(r, &page_script, 4, 6, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_INTEGER) {
      freeReplyObject(rep);
      int rc = chirp_repost_build(r, pg, tweet);
      if (rc) return rc;
      continue;
    }
    if (rep->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(rep);
      return CHIRP_EUNAVAILABLE;
    }
    size_t rows = rep->elements, shown = rows > (size_t)limit ? (size_t)limit : rows;
    int64_t *out = malloc((shown ? shown : 1) * sizeof *out);
    if (!out) {
      freeReplyObject(rep);
      return CHIRP_ENOMEM;
    }
    *next = 0;
    for (size_t k = 0; k < shown; k++) {
      const char *s = rep->element[k]->str ? rep->element[k]->str : "";
      const char *colon = strchr(s, ':');
      out[k] = colon ? strtoll(colon + 1, NULL, 10) : 0;
      if (k + 1 == shown && rows > shown) *next = strtoll(s, NULL, 10);
    }
    freeReplyObject(rep);
    *ids = out;
    *n = shown;
    return 0;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_repost_store_apply(PGconn *pg, int64_t tweet, int64_t user, int active,
                             int64_t repost_id, int64_t event_id) {
  char t[24], u[24], rid[24], e[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(u, sizeof u, "%lld", (long long)user);
  snprintf(rid, sizeof rid, "%lld", (long long)repost_id);
  snprintf(e, sizeof e, "%lld", (long long)event_id);
  const char *p[] = {t, u, rid, active ? "t" : "f", e};
  /* The newest event wins; a repeat or an older one changes nothing. */
  return chirp_pg_exec(pg,
                       "INSERT INTO reposts (tweet_id, user_id, repost_id, active, event_id) "
                       "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tweet_id, user_id) DO UPDATE SET "
                       "repost_id = CASE WHEN EXCLUDED.active THEN EXCLUDED.repost_id "
                       "ELSE reposts.repost_id END, active = EXCLUDED.active, "
                       "event_id = EXCLUDED.event_id, changed_at = now() "
                       "WHERE reposts.event_id < EXCLUDED.event_id",
                       5, p, NULL);
}

int chirp_repost_store_state(PGconn *pg, int64_t tweet, int64_t user, int *active,
                             int64_t *repost_id, int64_t *event_id) {
  char t[24], u[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(u, sizeof u, "%lld", (long long)user);
  const char *p[] = {t, u};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT active, repost_id, event_id FROM reposts "
                         "WHERE tweet_id = $1 AND user_id = $2",
                         2, p, &res);
  if (rc) return rc;
  *active = 0;
  *repost_id = *event_id = 0;
  if (PQntuples(res) == 1) {
    *active = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    *repost_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    *event_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
  }
  PQclear(res);
  return 0;
}

int chirp_repost_quote_count(PGconn *pg, int64_t tweet, long long *count) {
  char t[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  const char *p[] = {t};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT count(*) FROM tweets WHERE quote_of = $1 AND deleted_at IS NULL",
                         1, p, &res);
  if (rc) return rc;
  *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return 0;
}

int chirp_repost_quotes(PGconn *pg, int64_t tweet, int64_t before, int limit, int64_t **ids,
                        size_t *n, int64_t *next) {
  char t[24], b[24], l[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(b, sizeof b, "%lld", (long long)(before > 0 ? before : INT64_MAX));
  snprintf(l, sizeof l, "%d", limit + 1);
  const char *p[] = {t, b, l};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT id FROM tweets WHERE quote_of = $1 AND deleted_at IS NULL "
                         "AND id < $2 ORDER BY id DESC LIMIT $3",
                         3, p, &res);
  if (rc) return rc;
  rc = chirp_pg_ids(res, 0, ids, n);
  PQclear(res);
  if (rc) return rc;
  *next = 0;
  if (*n > (size_t)limit) {
    *n = (size_t)limit;
    *next = (*ids)[limit - 1];
  }
  return 0;
}
