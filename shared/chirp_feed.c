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
#include "chirp_num.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_slot.h"

/* An entry is a tweet id, or a repost "repost_id:tweet_id:reposter_id"
   (chirp_feed.h): entries order by their leading id (nk), and tw() is
   the tweet an entry shows. */
#define LUA_LT                                                                         \
  "local function nk(v) local c = string.find(v, ':', 1, true) "                        \
  "  if c then return string.sub(v, 1, c - 1) end return v end\n"                       \
  "local function tw(v) local c = string.find(v, ':', 1, true) "                        \
  "  if not c then return v end local d = string.find(v, ':', c + 1, true) "            \
  "  return string.sub(v, c + 1, (d or 0) - 1) end\n"                                   \
  "local function lt(a, b) a = nk(a) b = nk(b) return #a < #b or (#a == #b and a < b) end\n"

/* Collapse of reposts: within the newest COLLAPSE_WINDOW entries a tweet
   shows once.  A repost arriving when that tweet is already there as the
   original is not added; when it is there as an older repost, the newer
   repost replaces it; an older repost than the one there is dropped. */
#define COLLAPSE_WINDOW "40"
/* collapse(all): all sorted newest first and deduplicated; returns the
   entries the pushes, made oldest first, would have left. */
#define LUA_COLLAPSE                                                                   \
  "local function collapse(all)\n"                                                     \
  "  local kept = {}\n"                                                                \
  "  for i = #all, 1, -1 do\n"                                                         \
  "    local v = all[i] local t = tw(v) local add = true\n"                            \
  "    if v ~= t then\n"                                                               \
  "      for j = #kept, math.max(1, #kept - " COLLAPSE_WINDOW " + 1), -1 do\n"          \
  "        local w = kept[j]\n"                                                        \
  "        if tw(w) == t then\n"                                                       \
  "          if w == t then add = false else table.remove(kept, j) end\n"              \
  "          break\n"                                                                  \
  "        end\n"                                                                      \
  "      end\n"                                                                        \
  "    end\n"                                                                          \
  "    if add then kept[#kept + 1] = v end\n"                                          \
  "  end\n"                                                                            \
  "  local out = {}\n"                                                                 \
  "  for i = #kept, 1, -1 do out[#out + 1] = kept[i] end\n"                            \
  "  return out\n"                                                                     \
  "end\n"

/* How far below the top a late (out-of-order) entry is placed; one found
   there already (a repeat) is skipped, and one older than all of it in a
   longer list is not added (the list is a cache of the newest entries). */
#define PUSH_WINDOW "100"
/* The window is read in steps (ends of the ranges read, the last one
   PUSH_WINDOW), only as deep as the oldest late entry of a call needs:
   competing fan-out workers interleave by a few entries when they keep up
   and by a batch's worth when they fall behind.  Each element a script reads
   costs it about as much as a command. */
#define PUSH_STEPS "8, 32, " PUSH_WINDOW

/* A list that passes its cap is trimmed to cap - cap / TRIM_SLACK_DIV
   entries (775 of 800; exactly cap below 32), so one push in ~25 pays an
   LTRIM: the list holds at most cap, and what it lost is paged from
   PostgreSQL like anything below it. */
#define TRIM_SLACK_DIV "32"

/* KEYS: lists of one hash slot (Redis Cluster lets a script touch one);
   ARGV[1] cap, then for each key in turn the number of its entries and
   the entries, oldest first.  Returns how many went in.
   - The common list, plain ids all newer than its head, costs one LINDEX
     and one LPUSH (at most 500 ids: unpack's stack), in a loop that runs
     before any helper is defined.
   - Late entries (below the head: competing fan-out workers interleave,
     a huge fan-out's chunks land below newer tweets) are
     placed by a binary search of the top of the list, read in steps
     (PUSH_STEPS), and the part above the deepest of them is rewritten by
     one LTRIM and one LPUSH: a few commands for any number of them, where
     a search by commands per entry cost a dozen.  A repeat (a
     redelivered push) is found the same way.
   - A repost first collapses against the top COLLAPSE_WINDOW entries
     (LUA_COLLAPSE's rule), then goes in like a plain id.
   The cap is applied after each write that passes it, so each push sees
   the list it would see alone; the call is atomic, nobody sees a list
   longer than the cap. */
static chirp_lua push_script = CHIRP_LUA(
    "local cap = tonumber(ARGV[1])\n"
    "local keep = cap - math.floor(cap / " TRIM_SLACK_DIV ")\n"
    "local ki, at, added, head = 1, 2, 0, nil\n"
    "while ki <= #KEYS do\n"
    "  local k, n = KEYS[ki], tonumber(ARGV[at])\n"
    "  head = redis.call('LINDEX', k, 0)\n"
    "  local prev, fast = head, n > 0 and n <= 500\n"
    "  local c = prev and string.find(prev, ':', 1, true)\n"
    "  if c then prev = string.sub(prev, 1, c - 1) end\n"
    "  for i = at + 1, at + n do\n"
    "    local v = ARGV[i]\n"
    "    if not fast then break end\n"
    "    fast = not string.find(v, ':', 1, true)\n"
    "      and (not prev or #prev < #v or (#prev == #v and prev < v))\n"
    "    prev = v\n"
    "  end\n"
    "  if not fast then break end\n"
    "  if redis.call('LPUSH', k, unpack(ARGV, at + 1, at + n)) > cap then\n"
    "    redis.call('LTRIM', k, 0, keep - 1)\n"
    "  end\n"
    "  added, at, ki = added + n, at + n + 1, ki + 1\n"
    "end\n"
    "if ki > #KEYS then return added end\n"
    LUA_LT
    "local function trim(k, len)\n"
    "  if len > cap then redis.call('LTRIM', k, 0, keep - 1) end\n"
    "  return 1\n"
    "end\n"
    /* late: entries, none newer than the head; returns how many went in */
    "local function place(k, late)\n"
    "  if #late > 1 then table.sort(late, lt) end\n"
    /* the top of the list, read in steps as deep as the oldest entry needs */
    "  local top, ended, from = {}, false, 0\n"
    "  for _, to in ipairs({" PUSH_STEPS "}) do\n"
    "    local got = redis.call('LRANGE', k, from, to - 1)\n"
    "    for i = 1, #got do top[#top + 1] = got[i] end\n"
    "    ended = #got < to - from\n"
    "    if ended or lt(top[#top], late[1]) then break end\n"
    "    from = to\n"
    "  end\n"
    /* newest first: out[1..cut] is what changes, popped of them the top
       entries it replaces */
    "  local out, i, cut, popped, prev = {}, 1, 0, 0, nil\n"
    "  for j = #late, 1, -1 do\n"
    "    local b = late[j]\n"
    "    if b ~= prev then\n"
    "      local lo, hi = i, #top + 1\n" /* the first of top[i..] not newer than b */
    "      while lo < hi do\n"
    "        local mid = math.floor((lo + hi) / 2)\n"
    "        if lt(b, top[mid]) then lo = mid + 1 else hi = mid end\n"
    "      end\n"
    "      for x = i, lo - 1 do out[#out + 1] = top[x] end\n"
    "      i = lo\n"
    "      if top[i] ~= b then\n"
    "        if not top[i] and not ended then break end\n"
    "        out[#out + 1] = b cut = #out popped = i - 1 prev = b\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if cut == 0 then return 0 end\n"
    "  if popped > 0 then redis.call('LTRIM', k, popped, -1) end\n"
    "  local rev = {}\n"
    "  for x = cut, 1, -1 do rev[#rev + 1] = out[x] end\n"
    "  local len = 0\n"
    "  for x = 1, #rev, 500 do\n"
    "    len = redis.call('LPUSH', k, unpack(rev, x, math.min(x + 499, #rev)))\n"
    "  end\n"
    "  trim(k, len)\n"
    "  return cut - popped\n"
    "end\n"
    /* a repost: absorbed by its original or a newer repost of it in the
       window, replacing an older repost of it */
    "local function repost(k, id, head)\n"
    "  local t = tw(id)\n"
    "  local tag = ':' .. t .. ':'\n"
    "  for _, v in ipairs(redis.call('LRANGE', k, 0, " COLLAPSE_WINDOW " - 1)) do\n"
    "    if v == id then return 0 end\n"
    "    if v == t or (string.find(v, tag, 1, true) and tw(v) == t) then\n"
    "      if v == t or not lt(v, id) then return 0 end\n"
    "      redis.call('LREM', k, 1, v) head = redis.call('LINDEX', k, 0) break\n"
    "    end\n"
    "  end\n"
    "  if not head or lt(head, id) then return trim(k, redis.call('LPUSH', k, id)) end\n"
    "  return place(k, {id})\n"
    "end\n"
    /* ARGV[first..last] into list k, whose head is head: runs of newer
       plain ids pushed at once, runs of late ones placed at once */
    "local function push(k, first, last, head)\n"
    "  local n, pend, late = 0, {}, {}\n"
    "  local function flush()\n" /* the head stays pend's last: late entries go below it */
    "    if #pend > 0 then\n"
    "      trim(k, redis.call('LPUSH', k, unpack(pend))) n = n + #pend pend = {}\n"
    "    end\n"
    "    if #late > 0 then n = n + place(k, late) late = {} end\n"
    "  end\n"
    "  for i = first, last do\n"
    "    local id = ARGV[i]\n"
    "    if string.find(id, ':', 1, true) then\n"
    "      flush() n = n + repost(k, id, head) head = redis.call('LINDEX', k, 0)\n"
    "    elseif not head or lt(head, id) then\n"
    "      if #late > 0 or #pend >= 500 then flush() end\n"
    "      pend[#pend + 1] = id head = id\n"
    "    else\n"
    "      if #pend > 0 then flush() end\n"
    "      late[#late + 1] = id\n"
    "    end\n"
    "  end\n"
    "  flush()\n"
    "  return n\n"
    "end\n"
    "while ki <= #KEYS do\n" /* head: this key's, read by the loop above */
    "  local n = tonumber(ARGV[at])\n"
    "  added = added + push(KEYS[ki], at + 1, at + n, head)\n"
    "  at, ki = at + n + 1, ki + 1\n"
    "  if ki <= #KEYS then head = redis.call('LINDEX', KEYS[ki], 0) end\n"
    "end\n"
    "return added\n");

/* KEYS[1] list, KEYS[2] built flag (or none), KEYS[3] huge set (or none);
   ARGV[1] cap, ARGV[2] number of ids n, ARGV[3..2+n] ids, then huge ids.
   Union of the list and the ids, sorted, deduplicated, capped. */
static chirp_lua merge_script = CHIRP_LUA(
    LUA_LT LUA_COLLAPSE
    "local cap, n = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local all = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "for i = 3, 2 + n do all[#all + 1] = ARGV[i] end\n"
    "table.sort(all, function(a, b) return lt(b, a) end)\n"
    "local uniq, last = {}, nil\n"
    "for _, v in ipairs(all) do\n"
    "  if v ~= last then uniq[#uniq + 1] = v last = v end\n"
    "end\n"
    "local out = collapse(uniq)\n"
    "for i = #out, cap + 1, -1 do out[i] = nil end\n"
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
   (ARGV[3] 'list'), the list's pending state ('' = being deleted: answers
   {'gone'}, so a list page checks it in the same round trip); ARGV[1] before ('' =
   top), ARGV[2] want.  Only the owner's keys (one hash slot): the huge
   accounts' timelines are read by the caller (read_huge).
   Returns {'rebuild'}, {'gone'}, a list feed's ids, or a feed's {ids, huge ids}. */
static chirp_lua page_script = CHIRP_LUA(
    LUA_LT
    "local list = ARGV[3] == 'list'\n"
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
    "if list then return res end\n"
    "return {res, redis.call('SMEMBERS', KEYS[3])}\n");

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

int chirp_feed_push(redisContext *r, enum chirp_list_kind kind, const int64_t *owners, size_t n,
                    int64_t tweet_id, int cap) {
  chirp_feed_push_req req = {kind, tweet_id, owners, n, NULL};
  return chirp_feed_push_many(r, &req, 1, cap);
}

/* One push of a batch: an entry for one list. */
typedef struct push_one {
  char key[CHIRP_KEY_BUFSZ];
  const char *entry;
  int64_t order; /* the entry's leading id: the list's order */
  unsigned slot;
} push_one;

/* By slot, then list, then oldest entry first: the order the pushes
   would leave anyway (a sorted list; reposts collapse by age), and the
   one that keeps the script on its fast path. */
static int by_slot_list_order(const void *pa, const void *pb) {
  const push_one *a = pa, *b = pb;
  if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
  int c = strcmp(a->key, b->key);
  if (c) return c;
  return (a->order > b->order) - (a->order < b->order);
}

/* At most this many lists in one script call (one slot's lists of a huge
   fan-out: ~6 per slot for 100 000 followers), so a call stays short. */
#define PUSH_KEYS_PER_CALL 64

int chirp_feed_push_many(redisContext *r, const chirp_feed_push_req *reqs, size_t nreq, int cap) {
  size_t total = 0;
  for (size_t q = 0; q < nreq; q++) total += reqs[q].n;
  if (total == 0) return 0;
  push_one *p = malloc(total * sizeof *p);
  char(*ids)[24] = malloc(nreq * sizeof *ids);
  /* EVALSHA sha numkeys, the keys, cap, and a count and the entries per key */
  const char **argv = malloc((4 + 3 * total) * sizeof *argv);
  char(*counts)[16] = malloc(total * sizeof *counts);
  if (!p || !ids || !argv || !counts) {
    free(p);
    free(ids);
    free(argv);
    free(counts);
    return CHIRP_ENOMEM;
  }
  size_t m = 0;
  for (size_t q = 0; q < nreq; q++) {
    snprintf(ids[q], sizeof ids[q], "%lld", (long long)reqs[q].tweet_id);
    const char *entry = reqs[q].entry ? reqs[q].entry : ids[q];
    int64_t order = chirp_num_leading(entry);
    for (size_t i = 0; i < reqs[q].n; i++, m++) {
      kind_key(p[m].key, reqs[q].kind, reqs[q].owners, i);
      p[m].entry = entry;
      p[m].order = order;
      p[m].slot = chirp_slot_of(p[m].key, strlen(p[m].key));
    }
  }
  qsort(p, total, sizeof *p, by_slot_list_order);
  char capbuf[16], sha[41];
  snprintf(capbuf, sizeof capbuf, "%d", cap);
  chirp_redis_script_sha(&push_script, sha);
  /* One call per slot (at most PUSH_KEYS_PER_CALL lists) with all of the
     batch's entries for its lists.  The first call runs alone (it loads
     the script if Redis lacks it); every other is sent back to back and
     their replies read afterwards, so the lot costs one round trip and
     Redis never waits between calls. */
  size_t sent = 0, ncounts = 0;
  int rc = 0;
  for (size_t i = 0; !rc && i < total;) {
    /* the lists of this call: [i, end) */
    size_t end = i, nkeys = 0;
    while (end < total && p[end].slot == p[i].slot && nkeys < PUSH_KEYS_PER_CALL) {
      size_t e = end;
      while (e < total && strcmp(p[e].key, p[end].key) == 0) e++;
      end = e;
      nkeys++;
    }
    size_t a = 0;
    argv[a++] = "EVALSHA";
    argv[a++] = sha;
    char nkbuf[16];
    snprintf(nkbuf, sizeof nkbuf, "%zu", nkeys);
    argv[a++] = nkbuf;
    for (size_t j = i; j < end; j++)
      if (j == i || strcmp(p[j].key, p[j - 1].key) != 0) argv[a++] = p[j].key;
    argv[a++] = capbuf;
    for (size_t j = i; j < end;) {
      size_t count_at = a++, n = 0, e = j;
      for (; e < end && strcmp(p[e].key, p[j].key) == 0; e++)
        if (e == j || strcmp(p[e].entry, p[e - 1].entry) != 0) { /* (the same entry twice) */
          argv[a++] = p[e].entry;
          n++;
        }
      snprintf(counts[ncounts], sizeof counts[0], "%zu", n);
      argv[count_at] = counts[ncounts++];
      j = e;
    }
    if (i == 0) {
      redisReply *rep = chirp_redis_eval(r, &push_script, (int)nkeys, (int)a - 3, argv + 3, NULL);
      if (!rep) rc = CHIRP_EUNAVAILABLE;
      else freeReplyObject(rep);
    } else if (chirp_redis_append_argv(r, (int)a, argv, NULL)) {
      rc = CHIRP_EUNAVAILABLE; /* the connection is marked broken */
    } else {
      sent++;
    }
    i = end;
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
  free(p);
  free(ids);
  free(argv);
  free(counts);
  return rc;
}

/* LREM of each of entries[0..nids) from the kind lists of owners, pipelined. */
static int pipeline_lrem(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                         size_t n, const char *const *entries, size_t nids) {
  char k[CHIRP_KEY_BUFSZ];
  size_t sent = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    kind_key(k, kind, owners, i);
    for (size_t j = 0; j < nids; j++) {
      if (chirp_redis_append(r, "LREM %s 0 %s", k, entries[j]))
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

/* Decimal texts of ids (one allocation: free the array). */
static char **id_texts(const int64_t *ids, size_t n) {
  char **out = malloc((n ? n : 1) * (sizeof(char *) + 24));
  if (!out) return NULL;
  char *buf = (char *)(out + (n ? n : 1));
  for (size_t i = 0; i < n; i++) {
    out[i] = buf + 24 * i;
    snprintf(out[i], 24, "%lld", (long long)ids[i]);
  }
  return out;
}

int chirp_feed_remove(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                      size_t n, int64_t tweet_id) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)tweet_id);
  const char *e[] = {id};
  return pipeline_lrem(r, kind, owners, n, e, 1);
}

int chirp_feed_remove_entry(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                            size_t n, const char *entry) {
  return pipeline_lrem(r, kind, owners, n, &entry, 1);
}

int chirp_feed_unmerge(redisContext *r, int64_t owner, const int64_t *ids, size_t n) {
  char **e = id_texts(ids, n);
  if (!e) return CHIRP_ENOMEM;
  int rc = pipeline_lrem(r, CHIRP_LIST_FEED, &owner, 1, (const char *const *)e, n);
  free(e);
  return rc;
}

int chirp_feed_unmerge_entries(redisContext *r, int64_t owner, char *const *entries, size_t n) {
  return pipeline_lrem(r, CHIRP_LIST_FEED, &owner, 1, (const char *const *)entries, n);
}

static int run_merge(redisContext *r, const char *list, const char *flag, const char *huge_set,
                     char *const *items, size_t n, const int64_t *huge, size_t nh, int cap) {
  size_t argc = 3 + 2 + n + nh;
  const char **argv = calloc(argc, sizeof *argv);
  char *nums = calloc(nh + 2, 24);
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
  for (size_t i = 0; i < n; i++) argv[a++] = items[i];
  for (size_t i = 0; i < nh; i++) {
    char *s = nums + 24 * (i + 2);
    snprintf(s, 24, "%lld", (long long)huge[i]);
    argv[a++] = s;
  }
  redisReply *rep = chirp_redis_eval(r, &merge_script, numkeys, (int)a, argv, NULL);
  free(argv);
  free(nums);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int bad = rep->type == REDIS_REPLY_ERROR;
  freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

int chirp_feed_merge(redisContext *r, int64_t owner, const int64_t *ids, size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ];
  char **e = id_texts(ids, n);
  if (!e) return CHIRP_ENOMEM;
  int rc = run_merge(r, chirp_key_feed(k, owner), NULL, NULL, e, n, NULL, 0, cap);
  free(e);
  return rc;
}

int chirp_feed_merge_entries(redisContext *r, int64_t owner, char *const *entries, size_t n,
                             int cap) {
  char k[CHIRP_KEY_BUFSZ];
  return run_merge(r, chirp_key_feed(k, owner), NULL, NULL, entries, n, NULL, 0, cap);
}

int chirp_feed_list_merge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                          size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ];
  char **e = id_texts(ids, n);
  if (!e) return CHIRP_ENOMEM;
  int rc = run_merge(r, chirp_key_list_feed(k, owner, list), NULL, NULL, e, n, NULL, 0, cap);
  free(e);
  return rc;
}

int chirp_feed_list_unmerge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                            size_t n) {
  int64_t pair[2] = {owner, list};
  char **e = id_texts(ids, n);
  if (!e) return CHIRP_ENOMEM;
  int rc = pipeline_lrem(r, CHIRP_LIST_LIST, pair, 1, (const char *const *)e, n);
  free(e);
  return rc;
}

int chirp_feed_list_fill(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                         size_t n, int cap) {
  char k[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
  char **e = id_texts(ids, n);
  if (!e) return CHIRP_ENOMEM;
  int rc = run_merge(r, chirp_key_list_feed(k, owner, list),
                     chirp_key_list_feed_ok(ok, owner, list), NULL, e, n, NULL, 0, cap);
  free(e);
  return rc;
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

int chirp_feed_entry_parse(const char *s, chirp_feed_entry *e) {
  char *end;
  memset(e, 0, sizeof *e);
  e->key = strtoll(s, &end, 10);
  if (end == s) return CHIRP_EMALFORMED;
  e->tweet = e->key;
  if (*end != ':') return *end ? CHIRP_EMALFORMED : 0;
  const char *t = end + 1;
  e->tweet = strtoll(t, &end, 10);
  if (end == t || *end != ':') return CHIRP_EMALFORMED;
  t = end + 1;
  e->reposter = strtoll(t, &end, 10);
  return end == t || *end ? CHIRP_EMALFORMED : 0;
}

char *chirp_feed_entry_format(const chirp_feed_entry *e, char buf[CHIRP_FEED_ENTRY_BUFSZ]) {
  if (e->reposter)
    snprintf(buf, CHIRP_FEED_ENTRY_BUFSZ, "%lld:%lld:%lld", (long long)e->key,
             (long long)e->tweet, (long long)e->reposter);
  else
    snprintf(buf, CHIRP_FEED_ENTRY_BUFSZ, "%lld", (long long)e->tweet);
  return buf;
}

/* Appends the entries of the array reply arr to out[*n..): those below
   before (all when before is 0), at most want of them. */
static void take_entries(const redisReply *arr, int64_t before, size_t want,
                         chirp_feed_entry *out, size_t *n) {
  size_t took = 0;
  for (size_t i = 0; arr->type == REDIS_REPLY_ARRAY && i < arr->elements && took < want; i++) {
    const redisReply *e = arr->element[i];
    if (e->type != REDIS_REPLY_STRING || chirp_feed_entry_parse(e->str, &out[*n]) != 0) continue;
    if (before > 0 && out[*n].key >= before) continue;
    (*n)++;
    took++;
  }
}

/* The page of each huge account's timeline (members: the feed's huge set),
   pipelined single-key commands — EXISTS of its built flag and LRANGE of
   the list (its top want entries, or the whole list below a cursor: one
   key each, so a cluster client can split them by node) — appended to
   cand[*nc..) (room for want per account).  CHIRP_ENOTFOUND with *stale
   the author when a timeline is not built. */
static int read_huge(redisContext *r, const redisReply *members, int64_t before, size_t want,
                     chirp_feed_entry *cand, size_t *nc, int64_t *stale) {
  char k[CHIRP_KEY_BUFSZ];
  size_t nh = members->elements, sent = 0;
  for (size_t i = 0; i < nh; i++) {
    long long h = strtoll(members->element[i]->str ? members->element[i]->str : "0", NULL, 10);
    if (chirp_redis_append(r, "EXISTS %s", chirp_key_timeline_ok(k, h)) ||
        chirp_redis_append(r, "LRANGE %s 0 %lld", chirp_key_timeline(k, h),
                           before > 0 ? -1LL : (long long)want - 1))
      return CHIRP_EUNAVAILABLE; /* the connection is marked broken */
    sent += 2;
  }
  int rc = 0;
  for (size_t i = 0; i < sent; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) {
      if (!rc) rc = CHIRP_EUNAVAILABLE;
    } else if (i % 2 == 0) {
      if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 && !rc) {
        *stale = strtoll(members->element[i / 2]->str, NULL, 10);
        rc = CHIRP_ENOTFOUND;
      }
    } else if (!rc) {
      take_entries(rep, before, want, cand, nc);
    }
    freeReplyObject(rep);
  }
  return rc;
}

/* The page script on a feed (third its huge set) or a list feed (third
   its pending key, list set); *stale = -2 when the list is being deleted.
   A feed following huge accounts costs one more round trip (read_huge). */
static int run_page(redisContext *r, const char *feed, const char *ok, const char *third,
                    int list, int64_t before, size_t want, chirp_feed_entry *out, size_t *n,
                    int64_t *stale) {
  char b[24] = "", w[24];
  if (before > 0) snprintf(b, sizeof b, "%lld", (long long)before);
  snprintf(w, sizeof w, "%zu", want);
  const char *argv[] = {feed, ok, third, b, w, list ? "list" : ""};
  redisReply *rep = chirp_redis_eval(r, &page_script, 3, 6, argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  int rc = 0;
  *n = 0;
  const redisReply *ids = rep, *huge = NULL;
  if (rep->type != REDIS_REPLY_ARRAY) {
    rc = CHIRP_EUNAVAILABLE;
  } else if (rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "gone") == 0) {
    *stale = -2;
    rc = CHIRP_ENOTFOUND;
  } else if (rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "rebuild") == 0) {
    *stale = -1;
    rc = CHIRP_ENOTFOUND;
  } else if (!list) {
    if (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_ARRAY ||
        rep->element[1]->type != REDIS_REPLY_ARRAY)
      rc = CHIRP_EUNAVAILABLE;
    else
      ids = rep->element[0], huge = rep->element[1];
  }
  if (!rc && (!huge || huge->elements == 0)) {
    take_entries(ids, 0, want, out, n);
  } else if (!rc) {
    /* room for the feed's page and each timeline's */
    size_t room = want * (1 + huge->elements), nc = 0;
    chirp_feed_entry *cand = malloc((room ? room : 1) * sizeof *cand);
    if (!cand) {
      rc = CHIRP_ENOMEM;
    } else {
      take_entries(ids, 0, want, cand, &nc);
      rc = read_huge(r, huge, before, want, cand, &nc, stale);
      if (!rc) *n = chirp_feed_page_merge(cand, nc, want, out);
      free(cand);
    }
  }
  freeReplyObject(rep);
  return rc;
}

int chirp_feed_page(redisContext *r, int64_t owner, int64_t before, size_t want, int64_t *out,
                    size_t *n, int64_t *stale) {
  chirp_feed_entry *e = malloc((want ? want : 1) * sizeof *e);
  if (!e) return CHIRP_ENOMEM;
  int rc = chirp_feed_page_entries(r, owner, before, want, e, n, stale);
  for (size_t i = 0; !rc && i < *n; i++) out[i] = e[i].key;
  free(e);
  return rc;
}

int chirp_feed_page_entries(redisContext *r, int64_t owner, int64_t before, size_t want,
                            chirp_feed_entry *out, size_t *n, int64_t *stale) {
  char feed[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ], huge[CHIRP_KEY_BUFSZ];
  return run_page(r, chirp_key_feed(feed, owner), chirp_key_feed_ok(ok, owner),
                  chirp_key_feed_huge(huge, owner), 0, before, want, out, n, stale);
}

int chirp_feed_list_page(redisContext *r, int64_t owner, int64_t list, int64_t before,
                         size_t want, int64_t *out, size_t *n, int *gone) {
  char feed[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ], pending[CHIRP_KEY_BUFSZ];
  chirp_feed_entry *e = malloc((want ? want : 1) * sizeof *e);
  if (!e) return CHIRP_ENOMEM;
  int64_t stale = 0;
  int rc = run_page(r, chirp_key_list_feed(feed, owner, list),
                    chirp_key_list_feed_ok(ok, owner, list),
                    chirp_key_list_pending(pending, owner, list), 1, before, want, e, n, &stale);
  *gone = rc == CHIRP_ENOTFOUND && stale == -2;
  for (size_t i = 0; !rc && i < *n; i++) out[i] = e[i].key;
  free(e);
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

/* The entries of one author s.a inside a LATERAL: its live tweets and its
   active reposts of live tweets, each newest first and limited to LIM,
   filtered by COND_T / COND_R (e.g. an upper bound). */
#define AUTHOR_ENTRIES(COND_T, COND_R, LIM)                                             \
  "LATERAL ((SELECT id AS k, id::text AS e FROM tweets WHERE author_id = s.a "          \
  "  AND deleted_at IS NULL " COND_T " ORDER BY id DESC LIMIT " LIM ") UNION ALL "       \
  " (SELECT r.repost_id, r.repost_id || ':' || r.tweet_id || ':' || r.user_id "         \
  "  FROM reposts r JOIN tweets o ON o.id = r.tweet_id AND o.deleted_at IS NULL "       \
  "  WHERE r.user_id = s.a AND r.active " COND_R " ORDER BY r.repost_id DESC LIMIT " LIM \
  ")) t "

/* Column 0 of every row as new strings (*out: free each, then it). */
static int query_entries(PGconn *pg, const char *sql, int nparams, const char *const *p,
                         char ***out, size_t *n) {
  PGresult *res;
  int rc = chirp_pg_exec(pg, sql, nparams, p, &res);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(res);
  char **e = calloc(rows ? rows : 1, sizeof *e);
  rc = e ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < rows; i++)
    if (!(e[i] = strdup(PQgetvalue(res, (int)i, 0)))) rc = CHIRP_ENOMEM;
  PQclear(res);
  if (rc) {
    chirp_feed_entries_free(e, rows);
    return rc;
  }
  *out = e;
  *n = rows;
  return 0;
}

void chirp_feed_entries_free(char **e, size_t n) {
  if (!e) return;
  for (size_t i = 0; i < n; i++) free(e[i]);
  free(e);
}

int chirp_feed_recent_entries(PGconn *pg, int64_t author, int limit, char ***out, size_t *n) {
  char a[24], l[24];
  snprintf(a, sizeof a, "%lld", (long long)author);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {a, l};
  return query_entries(pg,
                       "SELECT t.e FROM (SELECT $1::bigint AS a) s, " AUTHOR_ENTRIES("", "", "$2")
                       "ORDER BY t.k DESC LIMIT $2",
                       2, p, out, n);
}

int chirp_feed_page_pg_entries(PGconn *pg, int64_t owner, int64_t before, size_t want,
                               chirp_feed_entry *out, size_t *n) {
  char o[24], b[24], l[24];
  snprintf(o, sizeof o, "%lld", (long long)owner);
  snprintf(b, sizeof b, "%lld", (long long)(before > 0 ? before : INT64_MAX));
  snprintf(l, sizeof l, "%zu", want);
  const char *p[] = {o, b, l};
  char **e = NULL;
  size_t got = 0;
  /* Below the Redis list the collapse is by the whole feed: a repost
     shows unless the original is one of the feed's own tweets or a newer
     repost of it is in the feed too (so what Redis collapsed does not come
     back below it). */
  int rc = query_entries(pg,
                         "WITH s AS (SELECT $1::bigint AS a UNION "
                         "  SELECT followee_id FROM follows WHERE follower_id = $1 AND active) "
                         "SELECT t.e FROM s, "
                         AUTHOR_ENTRIES("AND id < $2",
                                        "AND r.repost_id < $2 AND o.author_id NOT IN (SELECT a FROM s) "
                                        "AND NOT EXISTS (SELECT 1 FROM reposts r2 JOIN s s2 ON "
                                        "s2.a = r2.user_id WHERE r2.tweet_id = r.tweet_id AND "
                                        "r2.active AND r2.repost_id > r.repost_id)",
                                        "$3")
                         "ORDER BY t.k DESC LIMIT $3",
                         3, p, &e, &got);
  if (rc) return rc;
  *n = 0;
  for (size_t i = 0; i < got && *n < want; i++)
    if (chirp_feed_entry_parse(e[i], &out[*n]) == 0) (*n)++;
  chirp_feed_entries_free(e, got);
  return 0;
}

int chirp_feed_page_pg(PGconn *pg, int64_t owner, int64_t before, size_t want, int64_t *out,
                       size_t *n) {
  chirp_feed_entry *e = malloc((want ? want : 1) * sizeof *e);
  if (!e) return CHIRP_ENOMEM;
  int rc = chirp_feed_page_pg_entries(pg, owner, before, want, e, n);
  for (size_t i = 0; !rc && i < *n; i++) out[i] = e[i].key;
  free(e);
  return rc;
}

int chirp_feed_rebuild(redisContext *r, PGconn *pg, int64_t owner, int cap) {
  char o[24], l[24];
  snprintf(o, sizeof o, "%lld", (long long)owner);
  snprintf(l, sizeof l, "%d", cap);
  const char *p[] = {o, l};
  char **ids = NULL;
  int64_t *huge = NULL;
  size_t n = 0, nh = 0;
  /* The newest tweets and reposts of self and every followed account that
     is pushed to, one index range scan per account and kind (LATERAL),
     merged by id; the merge script collapses the reposts as pushes do. */
  int rc = query_entries(pg,
                         "SELECT t.e FROM (SELECT $1::bigint AS a UNION "
                         "  SELECT f.followee_id FROM follows f JOIN accounts ac ON ac.id = f.followee_id "
                         "  WHERE f.follower_id = $1 AND f.active AND NOT ac.huge) s, "
                         AUTHOR_ENTRIES("", "", "$2") "ORDER BY t.k DESC LIMIT $2",
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
  chirp_feed_entries_free(ids, n);
  free(huge);
  return rc;
}

int chirp_timeline_rebuild(redisContext *r, PGconn *pg, int64_t author, int cap) {
  char **ids = NULL;
  size_t n = 0;
  int rc = chirp_feed_recent_entries(pg, author, cap, &ids, &n);
  if (!rc) {
    char list[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
    rc = run_merge(r, chirp_key_timeline(list, author), chirp_key_timeline_ok(ok, author), NULL,
                   ids, n, NULL, 0, cap);
  }
  chirp_feed_entries_free(ids, n);
  return rc;
}
