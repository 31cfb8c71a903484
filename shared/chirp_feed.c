/*
 * chirp_feed.c — feed and timeline lists in Redis, see chirp_feed.h.
 *
 * Ids are compared as decimal strings inside Lua (Lua numbers are doubles
 * and would round ids above 2^53): shorter is smaller, equal lengths
 * compare lexicographically.
 */
#include "chirp_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

#define LUA_LT "local function lt(a, b) return #a < #b or (#a == #b and a < b) end\n"

/* How far below the top a late (out-of-order) id is looked for; a repeat
   of a push is found and skipped within this window. */
#define PUSH_WINDOW "100"

/* KEYS: lists; ARGV[1] id, ARGV[2] cap. */
static chirp_lua push_script = CHIRP_LUA(
    LUA_LT
    "local id, cap = ARGV[1], tonumber(ARGV[2])\n"
    "for _, k in ipairs(KEYS) do\n"
    "  local head = redis.call('LINDEX', k, 0)\n"
    "  if not head or lt(head, id) then\n"
    "    if redis.call('LPUSH', k, id) > cap then redis.call('LTRIM', k, 0, cap - 1) end\n"
    "  elseif head ~= id then\n"
    "    local win = redis.call('LRANGE', k, 0, " PUSH_WINDOW " - 1)\n"
    "    local done = false\n"
    "    for _, v in ipairs(win) do\n"
    "      if v == id then done = true break end\n"
    "      if lt(v, id) then redis.call('LINSERT', k, 'BEFORE', v, id) done = true break end\n"
    "    end\n"
    "    if not done and #win < " PUSH_WINDOW " then redis.call('RPUSH', k, id) end\n"
    "    if redis.call('LLEN', k) > cap then redis.call('LTRIM', k, 0, cap - 1) end\n"
    "  end\n"
    "end\n"
    "return #KEYS\n");

/* KEYS[1] list, KEYS[2] built flag (or none), KEYS[3] huge set (or none);
   ARGV[1] cap, ARGV[2] number of ids n, ARGV[3..2+n] ids, then huge ids.
   Union of the list and the ids, sorted, deduplicated, capped. */
static chirp_lua merge_script = CHIRP_LUA(
    LUA_LT
    "local cap, n = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local all = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "for i = 3, 2 + n do all[#all + 1] = ARGV[i] end\n"
    "table.sort(all, function(a, b) return lt(b, a) end)\n"
    "local out, last = {}, nil\n"
    "for _, v in ipairs(all) do\n"
    "  if v ~= last then out[#out + 1] = v last = v if #out >= cap then break end end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for i = 1, #out, 500 do\n"
    "  redis.call('RPUSH', KEYS[1], unpack(out, i, math.min(i + 499, #out)))\n"
    "end\n"
    "if KEYS[3] then\n"
    "  for i = 3 + n, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end\n"
    "end\n"
    "if KEYS[2] then redis.call('SET', KEYS[2], '1') end\n"
    "return #out\n");

/* KEYS[1] feed, KEYS[2] built flag, KEYS[3] huge set — or, for a list feed
   (ARGV[5] 'list'), the list's pending state ('' = being deleted: answers
   {'gone'}, so a list page checks it in the same round trip); ARGV[1] before ('' =
   top), ARGV[2] want, ARGV[3]/ARGV[4] timeline key / flag prefixes.
   Returns ids, or {'rebuild'}, or {'timeline', author}. */
static chirp_lua page_script = CHIRP_LUA(
    LUA_LT
    "local list = ARGV[5] == 'list'\n"
    "if list and redis.call('GET', KEYS[3]) == '' then return {'gone'} end\n"
    "if redis.call('EXISTS', KEYS[2]) == 0 then return {'rebuild'} end\n"
    "local before, want = ARGV[1], tonumber(ARGV[2])\n"
    "local function page(key)\n"
    "  if before == '' then return redis.call('LRANGE', key, 0, want - 1) end\n"
    "  local pos = redis.call('LPOS', key, before)\n"
    "  if pos then return redis.call('LRANGE', key, pos + 1, pos + want) end\n"
    "  local out = {}\n"
    "  for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do\n"
    "    if lt(v, before) then out[#out + 1] = v if #out >= want then break end end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local res = page(KEYS[1])\n"
    "local huge = (not list) and redis.call('SMEMBERS', KEYS[3]) or {}\n"
    "if #huge == 0 then return res end\n"
    "for _, h in ipairs(huge) do\n"
    "  if redis.call('EXISTS', ARGV[4] .. h .. '}') == 0 then return {'timeline', h} end\n"
    "  for _, v in ipairs(page(ARGV[3] .. h .. '}')) do res[#res + 1] = v end\n"
    "end\n"
    "table.sort(res, function(a, b) return lt(b, a) end)\n"
    "local out, last = {}, nil\n"
    "for _, v in ipairs(res) do\n"
    "  if v ~= last then out[#out + 1] = v last = v if #out >= want then break end end\n"
    "end\n"
    "return out\n");

/* The key of entry i of owners (of the kind: see CHIRP_LIST_LIST). */
static char *kind_key(char *buf, enum chirp_list_kind kind, const int64_t *owners, size_t i) {
  switch (kind) {
    case CHIRP_LIST_FEED:
      return chirp_key_feed(buf, owners[i]);
    case CHIRP_LIST_TIMELINE:
      return chirp_key_timeline(buf, owners[i]);
    case CHIRP_LIST_LIST:
      break;
  }
  return chirp_key_list_feed(buf, owners[2 * i], owners[2 * i + 1]);
}

/* Keys per script call: large fan-outs go in slices so one call never
   blocks Redis for long. */
#define SLICE 256

int chirp_feed_push(redisContext *r, enum chirp_list_kind kind, const int64_t *owners, size_t n,
                    int64_t tweet_id, int cap) {
  chirp_feed_push_req req = {kind, tweet_id, owners, n};
  return chirp_feed_push_many(r, &req, 1, cap);
}

int chirp_feed_push_many(redisContext *r, const chirp_feed_push_req *reqs, size_t nreq, int cap) {
  char capbuf[16];
  snprintf(capbuf, sizeof capbuf, "%d", cap);
  size_t most = 0;
  for (size_t q = 0; q < nreq; q++)
    if (reqs[q].n > most) most = reqs[q].n;
  if (most == 0) return 0;
  size_t slice_max = most < SLICE ? most : SLICE;
  char(*keys)[CHIRP_KEY_BUFSZ] = malloc(slice_max * sizeof *keys);
  const char **argv = malloc((slice_max + 2) * sizeof *argv);
  int rc = keys && argv ? 0 : CHIRP_ENOMEM;
  /* The first call runs alone (it loads the script if Redis lacks it);
     every other is sent back to back — across the requests, so many
     tweets' pushes cost one round trip — and their replies read
     afterwards, so Redis never waits on a round trip between calls. */
  size_t sent = 0;
  int first = 1;
  for (size_t q = 0; !rc && q < nreq; q++) {
    const chirp_feed_push_req *req = &reqs[q];
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)req->tweet_id);
    for (size_t off = 0; !rc && off < req->n; off += SLICE) {
      size_t m = req->n - off < SLICE ? req->n - off : SLICE;
      for (size_t i = 0; i < m; i++) argv[i] = kind_key(keys[i], req->kind, req->owners, off + i);
      argv[m] = id;
      argv[m + 1] = capbuf;
      if (first) {
        first = 0;
        redisReply *rep = chirp_redis_eval(r, &push_script, (int)m, (int)m + 2, argv, NULL);
        if (!rep) rc = CHIRP_EUNAVAILABLE;
        else freeReplyObject(rep);
      } else if (chirp_redis_append_eval(r, &push_script, (int)m, (int)m + 2, argv, NULL)) {
        rc = CHIRP_EUNAVAILABLE; /* the connection is marked broken */
      } else {
        sent++;
      }
    }
  }
  for (size_t sl = 0; sl < sent && !r->err; sl++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) {
      rc = CHIRP_EUNAVAILABLE;
      break;
    }
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE; /* e.g. NOSCRIPT: retried whole */
    freeReplyObject(rep);
  }
  free(keys);
  free(argv);
  return rc;
}

/* Sends cmd[i] for each i with pipelining, then reads every reply. */
static int pipeline_lrem(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                         size_t n, const int64_t *ids, size_t nids) {
  char k[CHIRP_KEY_BUFSZ];
  size_t sent = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    kind_key(k, kind, owners, i);
    for (size_t j = 0; j < nids; j++) {
      if (chirp_redis_append(r, "LREM %s 0 %lld", k, (long long)ids[j]))
        return CHIRP_EUNAVAILABLE; /* the connection is marked broken */
      sent++;
    }
  }
  for (size_t i = 0; i < sent; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    freeReplyObject(rep);
  }
  return rc;
}

int chirp_feed_remove(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                      size_t n, int64_t tweet_id) {
  return pipeline_lrem(r, kind, owners, n, &tweet_id, 1);
}

int chirp_feed_unmerge(redisContext *r, int64_t owner, const int64_t *ids, size_t n) {
  return pipeline_lrem(r, CHIRP_LIST_FEED, &owner, 1, ids, n);
}

static int run_merge(redisContext *r, const char *list, const char *flag, const char *huge_set,
                     const int64_t *ids, size_t n, const int64_t *huge, size_t nh, int cap) {
  size_t argc = 3 + 2 + n + nh;
  const char **argv = calloc(argc, sizeof *argv);
  char *nums = calloc(n + nh + 2, 24);
  if (!argv || !nums) {
    free(argv);
    free(nums);
    return CHIRP_ENOMEM;
  }
  int numkeys = 1;
  argv[0] = list;
  if (flag) argv[numkeys++] = flag;
  if (huge_set) argv[numkeys++] = huge_set;
  size_t a = (size_t)numkeys;
  snprintf(nums, 24, "%d", cap);
  snprintf(nums + 24, 24, "%zu", n);
  argv[a++] = nums;
  argv[a++] = nums + 24;
  for (size_t i = 0; i < n + nh; i++) {
    char *s = nums + 24 * (i + 2);
    snprintf(s, 24, "%lld", (long long)(i < n ? ids[i] : huge[i - n]));
    argv[a++] = s;
  }
  redisReply *rep = chirp_redis_eval(r, &merge_script, numkeys, (int)a, argv, NULL);
  free(argv);
  free(nums);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

int chirp_feed_merge(redisContext *r, int64_t owner, const int64_t *ids, size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ];
  return run_merge(r, chirp_key_feed(k, owner), NULL, NULL, ids, n, NULL, 0, cap);
}

int chirp_feed_list_merge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                          size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ];
  return run_merge(r, chirp_key_list_feed(k, owner, list), NULL, NULL, ids, n, NULL, 0, cap);
}

int chirp_feed_list_unmerge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                            size_t n) {
  int64_t pair[2] = {owner, list};
  return pipeline_lrem(r, CHIRP_LIST_LIST, pair, 1, ids, n);
}

int chirp_feed_list_fill(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                         size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
  return run_merge(r, chirp_key_list_feed(k, owner, list), chirp_key_list_feed_ok(ok, owner, list),
                   NULL, ids, n, NULL, 0, cap);
}

int chirp_feed_list_drop(redisContext *r, int64_t owner, int64_t list) {
  char k[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
  redisReply *rep = chirp_redis_command(r, "DEL %s %s", chirp_key_list_feed(k, owner, list),
                                        chirp_key_list_feed_ok(ok, owner, list));
  int bad = chirp_redis_reply_failed(r, rep);
  if (rep) freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

int chirp_feed_huge_add(redisContext *r, const int64_t *owners, size_t n, int64_t huge) {
  char k[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++)
    if (chirp_redis_append(r, "SADD %s %lld", chirp_key_feed_huge(k, owners[i]), (long long)huge))
      return CHIRP_EUNAVAILABLE; /* the connection is marked broken */
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    freeReplyObject(rep);
  }
  return rc;
}

int chirp_feed_huge_remove(redisContext *r, int64_t owner, int64_t huge) {
  char k[CHIRP_KEY_BUFSZ];
  redisReply *rep = chirp_redis_command(r, "SREM %s %lld", chirp_key_feed_huge(k, owner), (long long)huge);
  int bad = chirp_redis_reply_failed(r, rep);
  if (rep) freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

/* The page script on a feed (third its huge set) or a list feed (third
   its pending key, list set); *stale = -2 when the list is being deleted. */
static int run_page(redisContext *r, const char *feed, const char *ok, const char *third,
                    int list, int64_t before, size_t want, int64_t *out, size_t *n,
                    int64_t *stale) {
  char b[24] = "", w[24];
  if (before > 0) snprintf(b, sizeof b, "%lld", (long long)before);
  snprintf(w, sizeof w, "%zu", want);
  const char *argv[] = {feed, ok, third, b, w, CHIRP_KEY_TIMELINE_PREFIX,
                        CHIRP_KEY_TIMELINE_OK_PREFIX, list ? "list" : ""};
  redisReply *rep = chirp_redis_eval(r, &page_script, 3, 8, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int rc = 0;
  *n = 0;
  if (rep->type != REDIS_REPLY_ARRAY) {
    rc = CHIRP_EUNAVAILABLE;
  } else if (rep->elements == 1 && strcmp(rep->element[0]->str, "gone") == 0) {
    *stale = -2;
    rc = CHIRP_ENOTFOUND;
  } else if (rep->elements >= 1 && strcmp(rep->element[0]->str, "rebuild") == 0) {
    *stale = -1;
    rc = CHIRP_ENOTFOUND;
  } else if (rep->elements == 2 && strcmp(rep->element[0]->str, "timeline") == 0) {
    *stale = strtoll(rep->element[1]->str, NULL, 10);
    rc = CHIRP_ENOTFOUND;
  } else {
    for (size_t i = 0; i < rep->elements && i < want; i++) {
      const redisReply *e = rep->element[i];
      if (e->type == REDIS_REPLY_STRING) out[(*n)++] = strtoll(e->str, NULL, 10);
    }
  }
  freeReplyObject(rep);
  return rc;
}

int chirp_feed_page(redisContext *r, int64_t owner, int64_t before, size_t want, int64_t *out,
                    size_t *n, int64_t *stale) {
  char feed[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ], huge[CHIRP_KEY_BUFSZ];
  return run_page(r, chirp_key_feed(feed, owner), chirp_key_feed_ok(ok, owner),
                  chirp_key_feed_huge(huge, owner), 0, before, want, out, n, stale);
}

int chirp_feed_list_page(redisContext *r, int64_t owner, int64_t list, int64_t before,
                         size_t want, int64_t *out, size_t *n, int *gone) {
  char feed[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ], pending[CHIRP_KEY_BUFSZ];
  int64_t stale = 0;
  int rc = run_page(r, chirp_key_list_feed(feed, owner, list),
                    chirp_key_list_feed_ok(ok, owner, list),
                    chirp_key_list_pending(pending, owner, list), 1, before, want, out, n, &stale);
  *gone = rc == CHIRP_ENOTFOUND && stale == -2;
  return rc;
}

static int query_ids(PGconn *pg, const char *sql, int nparams, const char *const *p, int64_t **out,
                     size_t *n) {
  PGresult *res;
  int rc = chirp_pg_exec(pg, sql, nparams, p, &res);
  if (rc) return rc;
  rc = chirp_pg_ids(res, 0, out, n);
  PQclear(res);
  return rc;
}

int chirp_feed_recent_ids(PGconn *pg, int64_t author, int limit, int64_t **out, size_t *n) {
  char a[24], l[24];
  snprintf(a, sizeof a, "%lld", (long long)author);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {a, l};
  return query_ids(pg,
                   "SELECT id FROM tweets WHERE author_id = $1 AND deleted_at IS NULL "
                   "ORDER BY id DESC LIMIT $2",
                   2, p, out, n);
}

int chirp_feed_page_pg(PGconn *pg, int64_t owner, int64_t before, size_t want, int64_t *out,
                       size_t *n) {
  char o[24], b[24], l[24];
  snprintf(o, sizeof o, "%lld", (long long)owner);
  snprintf(b, sizeof b, "%lld", (long long)(before > 0 ? before : INT64_MAX));
  snprintf(l, sizeof l, "%zu", want);
  const char *p[] = {o, b, l};
  int64_t *ids = NULL;
  size_t got = 0;
  int rc = query_ids(pg,
                     "SELECT t.id FROM (SELECT $1::bigint AS a UNION "
                     "  SELECT followee_id FROM follows WHERE follower_id = $1 AND active) s, "
                     "LATERAL (SELECT id FROM tweets WHERE author_id = s.a AND deleted_at IS NULL "
                     "  AND id < $2 ORDER BY id DESC LIMIT $3) t ORDER BY t.id DESC LIMIT $3",
                     3, p, &ids, &got);
  if (rc) return rc;
  for (size_t i = 0; i < got && i < want; i++) out[i] = ids[i];
  *n = got < want ? got : want;
  free(ids);
  return 0;
}

int chirp_feed_rebuild(redisContext *r, PGconn *pg, int64_t owner, int cap) {
  char o[24], l[24];
  snprintf(o, sizeof o, "%lld", (long long)owner);
  snprintf(l, sizeof l, "%d", cap);
  const char *p[] = {o, l};
  int64_t *ids = NULL, *huge = NULL;
  size_t n = 0, nh = 0;
  /* The newest tweets of self and every followed account that is pushed
     to, one index range scan per account (LATERAL), merged by id. */
  int rc = query_ids(pg,
                     "SELECT t.id FROM (SELECT $1::bigint AS a UNION "
                     "  SELECT f.followee_id FROM follows f JOIN accounts ac ON ac.id = f.followee_id "
                     "  WHERE f.follower_id = $1 AND f.active AND NOT ac.huge) s, "
                     "LATERAL (SELECT id FROM tweets WHERE author_id = s.a AND deleted_at IS NULL "
                     "  ORDER BY id DESC LIMIT $2) t ORDER BY t.id DESC LIMIT $2",
                     2, p, &ids, &n);
  if (!rc)
    rc = query_ids(pg,
                   "SELECT f.followee_id FROM follows f JOIN accounts ac ON ac.id = f.followee_id "
                   "WHERE f.follower_id = $1 AND f.active AND ac.huge",
                   1, p, &huge, &nh);
  if (!rc) {
    char feed[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ], hs[CHIRP_KEY_BUFSZ];
    rc = run_merge(r, chirp_key_feed(feed, owner), chirp_key_feed_ok(ok, owner),
                   chirp_key_feed_huge(hs, owner), ids, n, huge, nh, cap);
  }
  free(ids);
  free(huge);
  return rc;
}

int chirp_timeline_rebuild(redisContext *r, PGconn *pg, int64_t author, int cap) {
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = chirp_feed_recent_ids(pg, author, cap, &ids, &n);
  if (!rc) {
    char list[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
    rc = run_merge(r, chirp_key_timeline(list, author), chirp_key_timeline_ok(ok, author), NULL,
                   ids, n, NULL, 0, cap);
  }
  free(ids);
  return rc;
}
