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

/*
 * Two indexes of the same likes live in Redis, each a group of keys under
 * one owner's hash tag (a script touches one owner only):
 *   by tweet: flag, versions (user -> newest event id), order (a sorted set
 *             of "event:user" for the active likes, compared as text with
 *             the event id zero-padded: exact where a double score is not,
 *             and newest first by ZREVRANGEBYLEX), set (the users: its size
 *             is the live count, SISMEMBER is liked_by_me);
 *   by user:  flag, versions (tweet -> newest event id), order ("event:tweet").
 * KEYS[1] flag, KEYS[2] versions, KEYS[3] order, KEYS[4] set (by tweet only).
 * Every change of a member goes through apply(), so the keys of a group
 * always agree; a member's change older than its newest known is ignored,
 * so any order or repetition of events ends in the newest one's state.
 */
#define LUA_COMMON                                                                      \
  "local function lt(a, b) return #a < #b or (#a == #b and a < b) end "                  \
  "local function om(e, m) return string.rep('0', 19 - #e) .. e .. ':' .. m end "        \
  "local function built() "                                                             \
  "  if redis.call('EXISTS', KEYS[1]) == 0 then return false end "                       \
  /* a set built before the order existed is rebuilt once */                           \
  "  return not KEYS[4] or redis.call('EXISTS', KEYS[3]) == 1 "                          \
  "      or redis.call('SCARD', KEYS[4]) == 0 end "                                      \
  "local function apply(m, a, e, v) "                                                   \
  "  if v then redis.call('ZREM', KEYS[3], om(v, m)) end "                               \
  "  if a == '1' then redis.call('ZADD', KEYS[3], 0, om(e, m)) end "                     \
  "  if KEYS[4] then "                                                                  \
  "    if a == '1' then redis.call('SADD', KEYS[4], m) else redis.call('SREM', KEYS[4], m) end "\
  "  end "                                                                              \
  "  redis.call('HSET', KEYS[2], m, e) end "

/* ARGV[1] member, ARGV[2] 1/0, ARGV[3] event id.  {-1, ''} when the group
   must be built first, {0, ''} when nothing changed (already so, or older
   than the member's newest change), else {1, the previous event id or ''}. */
static chirp_lua set_script = CHIRP_LUA(
    LUA_COMMON
    "if not built() then return {-1, ''} end "
    "local m, a, e = ARGV[1], ARGV[2], ARGV[3] "
    "local v = redis.call('HGET', KEYS[2], m) "
    "if v and not lt(v, e) then return {0, ''} end "
    "local on = v and redis.call('ZSCORE', KEYS[3], om(v, m)) or false "
    "if (a == '1') == (on ~= false) then return {0, ''} end "
    "apply(m, a, e, v) "
    "return {1, v or ''}");

/* Takes back the change ARGV[2] (event id) of member ARGV[1] in direction
   ARGV[4], restoring the state and event id ARGV[3] it had before — only
   if that change is still the member's newest.  The event may yet arrive
   (an ambiguous publish): restored to its old id, the member takes it like
   any other newer event. */
static chirp_lua undo_script = CHIRP_LUA(
    LUA_COMMON
    "local m, e, p = ARGV[1], ARGV[2], ARGV[3] "
    "if redis.call('HGET', KEYS[2], m) ~= e then return 0 end "
    "redis.call('ZREM', KEYS[3], om(e, m)) "
    "local was = ARGV[4] == '1' and '0' or '1' "
    "if was == '1' and p ~= '' then redis.call('ZADD', KEYS[3], 0, om(p, m)) end "
    "if KEYS[4] then "
    "  if was == '1' then redis.call('SADD', KEYS[4], m) else redis.call('SREM', KEYS[4], m) end "
    "end "
    "if p == '' then redis.call('HDEL', KEYS[2], m) else redis.call('HSET', KEYS[2], m, p) end "
    "return 1");

/* ARGV[1] the built flag's TTL, ARGV[2] the oldest event id that may still
   be pending in a batcher; then triples of member, 1/0, event id from
   PostgreSQL.  Builds once.  A change the group already knew that is
   newer than PostgreSQL's and recent enough to be still on its way (not
   flushed yet) is kept: a rebuild must not hide a like just accepted.
   Older ones that PostgreSQL never got (a gateway that died between its
   Redis change and its publish) are dropped: the flag expires, so such a
   difference lasts until the next rebuild at most. */
static chirp_lua build_script = CHIRP_LUA(
    LUA_COMMON
    "if built() then return 0 end "
    "local keep, old = {}, redis.call('HGETALL', KEYS[2]) "
    "for i = 1, #old, 2 do "
    "  local m, v = old[i], old[i + 1] "
    "  if not lt(v, ARGV[2]) then "
    "    local on = KEYS[4] and redis.call('SISMEMBER', KEYS[4], m) == 1 "
    "      or redis.call('ZSCORE', KEYS[3], om(v, m)) ~= false "
    "    keep[#keep + 1] = {m, on and '1' or '0', v} "
    "  end "
    "end "
    "redis.call('DEL', KEYS[2], KEYS[3]) "
    "if KEYS[4] then redis.call('DEL', KEYS[4]) end "
    "for i = 3, #ARGV, 3 do apply(ARGV[i], ARGV[i + 1], ARGV[i + 2], false) end "
    "for _, k in ipairs(keep) do "
    "  local v = redis.call('HGET', KEYS[2], k[1]) "
    "  if not v or lt(v, k[3]) then apply(k[1], k[2], k[3], v) end "
    "end "
    "redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) return 1");

/* The same triples: each applied unless the member's newest known change
   is at least as new.  A group not built is left alone (its build reads
   PostgreSQL, which already holds these). */
static chirp_lua replay_script = CHIRP_LUA(
    LUA_COMMON
    "if not built() then return 0 end "
    "for i = 1, #ARGV, 3 do "
    "  local v = redis.call('HGET', KEYS[2], ARGV[i]) "
    "  if not v or lt(v, ARGV[i + 2]) then apply(ARGV[i], ARGV[i + 1], ARGV[i + 2], v) end "
    "end return 1");

/* ARGV[1] the page's upper bound ('+' or '(' and a padded event id),
   ARGV[2] how many.  -1 when not built, else "event:member" newest first. */
static chirp_lua page_script = CHIRP_LUA(
    LUA_COMMON
    "if not built() then return -1 end "
    "return redis.call('ZREVRANGEBYLEX', KEYS[3], ARGV[1], '-', 'LIMIT', 0, ARGV[2])");

/* One group's key names. */
typedef struct group {
  char k[4][CHIRP_KEY_BUFSZ];
  int nkeys;
} group;

static void group_of(group *g, int by_tweet, int64_t owner) {
  if (by_tweet) {
    chirp_key_likers_ok(g->k[0], owner);
    chirp_key_likers_version(g->k[1], owner);
    chirp_key_likers_order(g->k[2], owner);
    chirp_key_likers(g->k[3], owner);
    g->nkeys = 4;
  } else {
    chirp_key_liked_by_ok(g->k[0], owner);
    chirp_key_liked_by_version(g->k[1], owner);
    chirp_key_liked_by(g->k[2], owner);
    g->nkeys = 3;
  }
}

static int build(redisContext *r, PGconn *pg, int by_tweet, int64_t owner) {
  if (!pg) return CHIRP_EUNAVAILABLE;
  char o[24];
  snprintf(o, sizeof o, "%lld", (long long)owner);
  const char *p[] = {o};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         by_tweet ? "SELECT user_id, CASE WHEN active THEN '1' ELSE '0' END, event_id "
                                    "FROM likes WHERE tweet_id = $1"
                                  : "SELECT tweet_id, CASE WHEN active THEN '1' ELSE '0' END, event_id "
                                    "FROM likes WHERE user_id = $1",
                         1, p, &res);
  if (rc) return rc;
  int rows = PQntuples(res);
  group g;
  group_of(&g, by_tweet, owner);
  const char **argv = calloc((size_t)rows * 3 + 6, sizeof *argv);
  if (!argv) {
    PQclear(res);
    return CHIRP_ENOMEM;
  }
  char ttl[16], pending[24];
  snprintf(ttl, sizeof ttl, "%d", CHIRP_LIKES_BUILT_TTL_S);
  snprintf(pending, sizeof pending, "%lld",
           (long long)chirp_id_min_at_ms(chirp_time_now_ms() - CHIRP_LIKES_PENDING_MS));
  for (int k = 0; k < g.nkeys; k++) argv[k] = g.k[k];
  argv[g.nkeys] = ttl;
  argv[g.nkeys + 1] = pending;
  for (int i = 0; i < rows; i++)
    for (int k = 0; k < 3; k++) argv[g.nkeys + 2 + 3 * i + k] = PQgetvalue(res, i, k);
  redisReply *rep =
      chirp_redis_eval(r, &build_script, g.nkeys, rows * 3 + g.nkeys + 2, argv, NULL);
  free(argv);
  PQclear(res);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_like_build(redisContext *r, PGconn *pg, int64_t tweet) { return build(r, pg, 1, tweet); }

/* set_script on one group, building it first when missing.  *prev gets
   the member's previous event id ("" when none). */
static int side_set(redisContext *r, PGconn *pg, int by_tweet, int64_t owner, int64_t member,
                    int like, const char *event, int *changed, char prev[24]) {
  group g;
  group_of(&g, by_tweet, owner);
  char m[24];
  snprintf(m, sizeof m, "%lld", (long long)member);
  const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], m, like ? "1" : "0", event};
  if (!by_tweet) argv[3] = m, argv[4] = like ? "1" : "0", argv[5] = event;
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep = chirp_redis_eval(r, &set_script, g.nkeys, g.nkeys + 3, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    long long v = -2;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
      v = rep->element[0]->integer;
      snprintf(prev, 24, "%.*s", rep->element[1]->type == REDIS_REPLY_STRING ? (int)rep->element[1]->len : 0,
               rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "");
    }
    freeReplyObject(rep);
    if (v >= 0) {
      *changed = v > 0;
      return 0;
    }
    if (v != -1) return CHIRP_EUNAVAILABLE;
    int rc = build(r, pg, by_tweet, owner);
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}

static int side_undo(redisContext *r, int by_tweet, int64_t owner, int64_t member, int like,
                     const char *event, const char *prev) {
  group g;
  group_of(&g, by_tweet, owner);
  char m[24];
  snprintf(m, sizeof m, "%lld", (long long)member);
  const char *argv[8];
  int k = 0;
  for (; k < g.nkeys; k++) argv[k] = g.k[k];
  argv[k++] = m;
  argv[k++] = event;
  argv[k++] = prev;
  argv[k++] = like ? "1" : "0";
  redisReply *rep = chirp_redis_eval(r, &undo_script, g.nkeys, k, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_like_set(redisContext *r, PGconn *pg, int64_t tweet, int64_t user, int like,
                   int64_t event_id, int *changed, chirp_like_prior *undo) {
  memset(undo, 0, sizeof *undo);
  undo->tweet = tweet;
  undo->user = user;
  undo->like = like;
  snprintf(undo->event, sizeof undo->event, "%lld", (long long)event_id);
  int rc = side_set(r, pg, 1, tweet, user, like, undo->event, changed, undo->prev_by_tweet);
  if (rc || !*changed) return rc;
  undo->by_tweet = 1;
  int user_changed = 0;
  rc = side_set(r, pg, 0, user, tweet, like, undo->event, &user_changed, undo->prev_by_user);
  if (rc) {
    /* Both indexes or neither: take the first change back. */
    (void)chirp_like_undo(r, undo);
    *changed = 0;
    return rc;
  }
  undo->by_user = user_changed;
  return 0;
}

int chirp_like_undo(redisContext *r, const chirp_like_prior *undo) {
  int rc = 0;
  if (undo->by_tweet)
    rc = side_undo(r, 1, undo->tweet, undo->user, undo->like, undo->event, undo->prev_by_tweet);
  if (undo->by_user) {
    int rc2 = side_undo(r, 0, undo->user, undo->tweet, undo->like, undo->event, undo->prev_by_user);
    if (!rc) rc = rc2;
  }
  return rc;
}

int chirp_like_replay(redisContext *r, int64_t tweet, const int64_t *users, const int *active,
                      const int64_t *event_ids, size_t n) {
  group g;
  group_of(&g, 1, tweet);
  const char **argv = calloc(3 * n + 4, sizeof *argv);
  char(*nums)[24] = calloc(3 * n + 1, sizeof *nums);
  if (!argv || !nums) {
    free(argv);
    free(nums);
    return CHIRP_ENOMEM;
  }
  snprintf(nums[2 * n], 24, "%lld", (long long)tweet);
  for (int k = 0; k < 4; k++) argv[k] = g.k[k];
  for (size_t i = 0; i < n; i++) {
    snprintf(nums[2 * i], 24, "%lld", (long long)users[i]);
    snprintf(nums[2 * i + 1], 24, "%lld", (long long)event_ids[i]);
    argv[4 + 3 * i] = nums[2 * i];
    argv[5 + 3 * i] = active[i] ? "1" : "0";
    argv[6 + 3 * i] = nums[2 * i + 1];
  }
  int rc = 0;
  redisReply *rep = chirp_redis_eval(r, &replay_script, 4, (int)(3 * n + 4), argv, NULL);
  if (!rep) rc = CHIRP_EUNAVAILABLE;
  else freeReplyObject(rep);
  /* Each user's own index: one script call per user, pipelined (the
     script is loaded by a synchronous call first if Redis lacks it). */
  size_t sent = 0;
  int noscript = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    group u;
    group_of(&u, 0, users[i]);
    const char *uv[] = {u.k[0], u.k[1], u.k[2], nums[2 * n], active[i] ? "1" : "0", nums[2 * i + 1]};
    if (chirp_redis_append_eval(r, &replay_script, 3, 6, uv, NULL)) rc = CHIRP_EUNAVAILABLE;
    else sent++;
  }
  for (size_t i = 0; i < sent && !r->err; i++) {
    redisReply *x = NULL;
    if (chirp_redis_read(r, &x)) {
      rc = CHIRP_EUNAVAILABLE;
      break;
    }
    if (chirp_redis_noscript(x)) noscript = 1;
    else if (x->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    freeReplyObject(x);
  }
  for (size_t i = 0; !rc && noscript && i < n; i++) { /* Redis forgot it: once more, one by one */
    group u;
    group_of(&u, 0, users[i]);
    const char *uv[] = {u.k[0], u.k[1], u.k[2], nums[2 * n], active[i] ? "1" : "0", nums[2 * i + 1]};
    redisReply *x = chirp_redis_eval(r, &replay_script, 3, 6, uv, NULL);
    if (!x) rc = CHIRP_EUNAVAILABLE;
    else freeReplyObject(x);
  }
  free(argv);
  free(nums);
  return rc;
}

int chirp_like_page(redisContext *r, PGconn *pg, int by_tweet, int64_t id, int64_t before,
                    int limit, int64_t **ids, size_t *n, int64_t *next) {
  group g;
  group_of(&g, by_tweet, id);
  char bound[24], count[16];
  if (before > 0) snprintf(bound, sizeof bound, "(%019lld", (long long)before);
  else snprintf(bound, sizeof bound, "+");
  snprintf(count, sizeof count, "%d", limit + 1);
  for (int attempt = 0; attempt < 2; attempt++) {
    const char *argv[] = {g.k[0], g.k[1], g.k[2], g.k[3], bound, count};
    if (!by_tweet) argv[3] = bound, argv[4] = count;
    redisReply *rep = chirp_redis_eval(r, &page_script, g.nkeys, g.nkeys + 2, argv, NULL);
    if (!rep) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_INTEGER) { /* lost: rebuild from PostgreSQL */
      freeReplyObject(rep);
      int rc = build(r, pg, by_tweet, id);
      if (rc) return rc;
      continue;
    }
    size_t rows = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
    size_t shown = rows > (size_t)limit ? (size_t)limit : rows;
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
       notifications for new likes (none across a block, none from a muted
       account: the like itself stands). */
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
        "    WHERE d = 1 AND user_id <> $2 AND NOT EXISTS (SELECT 1 FROM blocks_mutes b "
        "      WHERE b.active AND ((b.actor_id = $2 AND b.target_id = moved.user_id) OR "
        "      (b.kind = 1 AND b.actor_id = moved.user_id AND b.target_id = $2))) "
        "    ON CONFLICT (dedup_key) DO NOTHING RETURNING 1), "
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
