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

/* KEYS[1] set, KEYS[2] flag; ARGV[1] user, ARGV[2] 1/0.
   Returns -1 when the set must be built first, else whether it changed. */
static chirp_lua set_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end "
    "if ARGV[2] == '1' then return redis.call('SADD', KEYS[1], ARGV[1]) end "
    "return redis.call('SREM', KEYS[1], ARGV[1])");

/* KEYS[1] set, KEYS[2] flag; ARGV: users. Builds the set once. */
static chirp_lua build_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end "
    "redis.call('DEL', KEYS[1]) "
    "for i = 1, #ARGV, 1000 do "
    "  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV))) "
    "end "
    "redis.call('SET', KEYS[2], '1') return 1");

/* KEYS[1] set, KEYS[2] flag; ARGV: pairs of user, 1/0. */
static chirp_lua replay_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end "
    "for i = 1, #ARGV, 2 do "
    "  if ARGV[i + 1] == '1' then redis.call('SADD', KEYS[1], ARGV[i]) "
    "  else redis.call('SREM', KEYS[1], ARGV[i]) end "
    "end return 1");

static int build(redisContext *r, PGconn *pg, int64_t tweet, const char *set, const char *flag) {
  if (!pg) return CHIRP_EUNAVAILABLE;
  char t[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  const char *p[] = {t};
  PGresult *res;
  int rc = chirp_pg_exec(pg, "SELECT user_id FROM likes WHERE tweet_id = $1 AND active", 1, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res);
  const char **argv = calloc((size_t)rows + 2, sizeof *argv);
  if (!argv) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  argv[0] = set;
  argv[1] = flag;
  for (int i = 0; i < rows; i++) argv[i + 2] = PQgetvalue(res, i, 0);
  redisReply *rep = chirp_redis_eval(r, &build_script, 2, rows + 2, argv, NULL);
  free(argv);
  PQclear(res);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_like_build(redisContext *r, PGconn *pg, int64_t tweet) {
  char set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ];
  return build(r, pg, tweet, chirp_key_likers(set, tweet), chirp_key_likers_ok(flag, tweet));
}

int chirp_like_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int like,
                   int *changed) {
  char set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ], u[24];
  chirp_key_likers(set, tweet);
  chirp_key_likers_ok(flag, tweet);
  snprintf(u, sizeof u, "%lld", (long long)user);
  const char *argv[] = {set, flag, u, like ? "1" : "0"};
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep = chirp_redis_eval(r, &set_script, 2, 4, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -2;
    freeReplyObject(rep);
    if (v >= 0) {
      *changed = v > 0;
      return 0;
    }
    if (v != -1) return CHIRP_EUNAVAILABLE;
    int rc = build(r, pg, tweet, set, flag);
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_like_replay(redisContext *r, int64_t tweet, const int64_t *users, const int *active,
                      size_t n) {
  char set[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ];
  const char **argv = calloc(2 * n + 2, sizeof *argv);
  char(*nums)[24] = calloc(n ? n : 1, sizeof *nums);
  if (!argv || !nums) {
    free(argv);
    free(nums);
    return CHIRP_ENOMEM;
  }
  argv[0] = chirp_key_likers(set, tweet);
  argv[1] = chirp_key_likers_ok(flag, tweet);
  for (size_t i = 0; i < n; i++) {
    snprintf(nums[i], 24, "%lld", (long long)users[i]);
    argv[2 + 2 * i] = nums[i];
    argv[3 + 2 * i] = active[i] ? "1" : "0";
  }
  redisReply *rep = chirp_redis_eval(r, &replay_script, 2, (int)(2 * n + 2), argv, NULL);
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
        "prev AS (SELECT l.user_id, l.active FROM likes l JOIN latest USING (user_id) "
        "    WHERE l.tweet_id = $1 FOR UPDATE OF l), "
        "up AS (INSERT INTO likes (user_id, tweet_id, active, event_id, changed_at) "
        "    SELECT user_id, $1, active, event_id, to_timestamp(at_ms / 1000.0) FROM latest "
        "    ON CONFLICT (tweet_id, user_id) DO UPDATE SET active = EXCLUDED.active, "
        "    event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at "
        "    WHERE likes.event_id < EXCLUDED.event_id RETURNING user_id, active, event_id), "
        "moved AS (SELECT up.user_id, up.event_id, "
        "    CASE WHEN up.active AND NOT coalesce(prev.active, false) THEN 1 "
        "         WHEN NOT up.active AND coalesce(prev.active, false) THEN -1 ELSE 0 END AS d "
        "    FROM up LEFT JOIN prev USING (user_id)), "
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
