/* chirp_like.c — likes in Redis and PostgreSQL, see chirp_like.h. */
#include "chirp_like.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_id.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_time.h"

/* Event ids compare as decimal strings (Lua numbers would round them). */
#define LUA_LT "local function lt(a, b) return #a < #b or (#a == #b and a < b) end "

/* KEYS[1] set, KEYS[2] flag, KEYS[3] versions; ARGV[1] user, ARGV[2] 1/0,
   ARGV[3] event id.  -1 when the set must be built first, else whether it
   changed (a change older than the user's newest is ignored). */
static chirp_lua set_script = CHIRP_LUA(
    LUA_LT
    "if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end "
    "local v = redis.call('HGET', KEYS[3], ARGV[1]) "
    "if v and not lt(v, ARGV[3]) then return 0 end "
    "local changed "
    "if ARGV[2] == '1' then changed = redis.call('SADD', KEYS[1], ARGV[1]) "
    "else changed = redis.call('SREM', KEYS[1], ARGV[1]) end "
    "if changed == 1 then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end "
    "return changed");

/* KEYS[1] set, KEYS[2] flag, KEYS[3] versions; ARGV: triples of user,
   1/0, event id.  Builds the set once. */
static chirp_lua build_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end "
    "redis.call('DEL', KEYS[1], KEYS[3]) "
    "for i = 1, #ARGV, 3 do "
    "  if ARGV[i + 1] == '1' then redis.call('SADD', KEYS[1], ARGV[i]) end "
    "  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2]) "
    "end "
    "redis.call('SET', KEYS[2], '1') return 1");

/* The same triples as build: each applied unless the user's newest known
   change is at least as new. */
static chirp_lua replay_script = CHIRP_LUA(
    LUA_LT
    "if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end "
    "for i = 1, #ARGV, 3 do "
    "  local v = redis.call('HGET', KEYS[3], ARGV[i]) "
    "  if not v or lt(v, ARGV[i + 2]) then "
    "    if ARGV[i + 1] == '1' then redis.call('SADD', KEYS[1], ARGV[i]) "
    "    else redis.call('SREM', KEYS[1], ARGV[i]) end "
    "    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2]) "
    "  end "
    "end return 1");

static int build(redisContext *r, PGconn *pg, int64_t tweet) {
  if (!pg) return CHIRP_EUNAVAILABLE;
  char t[24], set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ], ver[CHIRP_KEY_BUFSZ];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  const char *p[] = {t};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT user_id, CASE WHEN active THEN '1' ELSE '0' END, event_id "
                         "FROM likes WHERE tweet_id = $1",
                         1, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res);
  const char **argv = calloc((size_t)rows * 3 + 3, sizeof *argv);
  if (!argv) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  argv[0] = chirp_key_likers(set, tweet);
  argv[1] = chirp_key_likers_ok(flag, tweet);
  argv[2] = chirp_key_likers_version(ver, tweet);
  for (int i = 0; i < rows; i++)
    for (int k = 0; k < 3; k++) argv[3 + 3 * i + k] = PQgetvalue(res, i, k);
  redisReply *rep = chirp_redis_eval(r, &build_script, 3, rows * 3 + 3, argv, NULL);
  free(argv);
  PQclear(res);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_like_build(redisContext *r, PGconn *pg, int64_t tweet) { return build(r, pg, tweet); }

int chirp_like_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int like,
                   int64_t event_id, int *changed) {
  char set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ], ver[CHIRP_KEY_BUFSZ], u[24], e[24];
  snprintf(u, sizeof u, "%lld", (long long)user);
  snprintf(e, sizeof e, "%lld", (long long)event_id);
  const char *argv[] = {chirp_key_likers(set, tweet), chirp_key_likers_ok(flag, tweet),
                        chirp_key_likers_version(ver, tweet), u, like ? "1" : "0", e};
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep = chirp_redis_eval(r, &set_script, 3, 6, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -2;
    freeReplyObject(rep);
    if (v >= 0) {
      *changed = v > 0;
      return 0;
    }
    if (v != -1) return CHIRP_EUNAVAILABLE;
    int rc = build(r, pg, tweet);
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_like_replay(redisContext *r, int64_t tweet, const int64_t *users, const int *active,
                      const int64_t *event_ids, size_t n) {
  char set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ], ver[CHIRP_KEY_BUFSZ];
  const char **argv = calloc(3 * n + 3, sizeof *argv);
  char(*nums)[24] = calloc(2 * n + 1, sizeof *nums);
  if (!argv || !nums) {
    free(argv);
    free(nums);
    return CHIRP_ENOMEM;
  }
  argv[0] = chirp_key_likers(set, tweet);
  argv[1] = chirp_key_likers_ok(flag, tweet);
  argv[2] = chirp_key_likers_version(ver, tweet);
  for (size_t i = 0; i < n; i++) {
    snprintf(nums[2 * i], 24, "%lld", (long long)users[i]);
    snprintf(nums[2 * i + 1], 24, "%lld", (long long)event_ids[i]);
    argv[3 + 3 * i] = nums[2 * i];
    argv[4 + 3 * i] = active[i] ? "1" : "0";
    argv[5 + 3 * i] = nums[2 * i + 1];
  }
  redisReply *rep = chirp_redis_eval(r, &replay_script, 3, (int)(3 * n + 3), argv, NULL);
  free(argv);
  free(nums);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

/* Builds a PostgreSQL array literal "{a,b,c}" of n int64s (or bools). */
static char *array_literal(size_t n, const chirp_like_change *c, int which) {
  char *s = malloc(n * 22 + 3);
  if (!s) return NULL;
  size_t o = 0;
  s[o++] = '{';
  for (size_t i = 0; i < n; i++) {
    if (i) s[o++] = ',';
    if (which == 1)
      o += (size_t)sprintf(s + o, "%s", c[i].active ? "t" : "f");
    else
      o += (size_t)sprintf(s + o, "%lld",
                           (long long)(which == 0 ? c[i].user : which == 2 ? c[i].event_id : c[i].at_ms));
  }
  s[o++] = '}';
  s[o] = '\0';
  return s;
}

int chirp_like_store_flush(PGconn *pg, int64_t tweet, int64_t author,
                           const chirp_like_change *changes, size_t n, long long *likes,
                           long long *notified) {
  char t[24], a[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(a, sizeof a, "%lld", (long long)author);
  char *users = array_literal(n, changes, 0), *active = array_literal(n, changes, 1);
  char *events = array_literal(n, changes, 2), *ats = array_literal(n, changes, 3);
  int rc = CHIRP_ENOMEM;
  if (users && active && events && ats) {
    const char *p[] = {t, a, users, active, events, ats};
    PGresult *res;
    /* One statement per flush (the batcher's whole point): the newest event
       per user, the rows it changes, the net move of the count, and the
       notifications for new likes. */
    rc = chirp_pg_exec(
        pg,
        "WITH ev AS (SELECT * FROM unnest($3::bigint[], $4::bool[], $5::bigint[], $6::bigint[]) "
        "    AS e(user_id, active, event_id, at_ms)), "
        "latest AS (SELECT DISTINCT ON (user_id) * FROM ev ORDER BY user_id, event_id DESC), "
        "up AS (INSERT INTO likes (user_id, tweet_id, active, prev_active, event_id, changed_at) "
        "    SELECT user_id, $1, active, false, event_id, to_timestamp(at_ms / 1000.0) FROM latest "
        "    ON CONFLICT (tweet_id, user_id) DO UPDATE SET prev_active = likes.active, "
        "    active = EXCLUDED.active, event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at "
        "    WHERE likes.event_id < EXCLUDED.event_id RETURNING user_id, active, prev_active, event_id), "
        "moved AS (SELECT user_id, event_id, "
        "    CASE WHEN active AND NOT prev_active THEN 1 "
        "         WHEN NOT active AND prev_active THEN -1 ELSE 0 END AS d FROM up), "
        "notes AS (INSERT INTO notifications (recipient, type, actor_id, tweet_id, dedup_key) "
        "    SELECT $2, 'like', user_id, $1, 'like:' || $1 || ':' || event_id FROM moved "
        "    WHERE d = 1 AND user_id <> $2 ON CONFLICT (dedup_key) DO NOTHING RETURNING 1), "
        "counted AS (INSERT INTO tweet_counts (tweet_id, likes) "
        "    SELECT $1, coalesce(sum(d), 0) FROM moved "
        "    ON CONFLICT (tweet_id) DO UPDATE SET likes = tweet_counts.likes + EXCLUDED.likes "
        "    RETURNING likes) "
        "SELECT (SELECT likes FROM counted), (SELECT count(*) FROM notes)",
        6, p, &res);
    if (!rc) {
      *likes = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
      *notified = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
      PQclear(res);
    }
  }
  free(users);
  free(active);
  free(events);
  free(ats);
  return rc;
}

int chirp_like_list(PGconn *pg, int by_tweet, int64_t id, int64_t before, int limit,
                    int64_t **ids, size_t *n, int64_t *next) {
  char i[24], b[24], l[24];
  snprintf(i, sizeof i, "%lld", (long long)id);
  snprintf(b, sizeof b, "%lld", (long long)(before > 0 ? before : INT64_MAX));
  snprintf(l, sizeof l, "%d", limit + 1);
  const char *p[] = {i, b, l};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         by_tweet ? "SELECT user_id, event_id FROM likes WHERE tweet_id = $1 AND active "
                                    "AND event_id < $2 ORDER BY event_id DESC LIMIT $3"
                                  : "SELECT tweet_id, event_id FROM likes WHERE user_id = $1 AND active "
                                    "AND event_id < $2 ORDER BY event_id DESC LIMIT $3",
                         3, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res), shown = rows > limit ? limit : rows;
  int64_t *out = malloc((size_t)(shown ? shown : 1) * sizeof *out);
  if (!out) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  for (int k = 0; k < shown; k++) out[k] = strtoll(PQgetvalue(res, k, 0), NULL, 10);
  *next = rows > limit ? strtoll(PQgetvalue(res, shown - 1, 1), NULL, 10) : 0;
  PQclear(res);
  *ids = out;
  *n = (size_t)shown;
  return 0;
}

int chirp_like_trending(PGconn *pg, int limit, int64_t **ids, size_t *n) {
  char since[24], l[24];
  snprintf(since, sizeof since, "%lld",
           (long long)chirp_id_min_at_ms(chirp_time_now_ms() - 24LL * 3600 * 1000));
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {since, l};
  PGresult *res;
  /* Tweet ids are time-ordered: "posted in the last 24 h" is an id range. */
  int rc = chirp_pg_exec(pg,
                         "SELECT c.tweet_id FROM tweet_counts c JOIN tweets t ON t.id = c.tweet_id "
                         "WHERE c.tweet_id >= $1 AND c.likes > 0 AND t.deleted_at IS NULL "
                         "ORDER BY c.likes DESC, c.tweet_id DESC LIMIT $2",
                         2, p, &res);
  if (rc) return rc;
  rc = chirp_pg_ids(res, 0, ids, n);
  PQclear(res);
  return rc;
}
