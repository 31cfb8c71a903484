/*
 * test_feed.c — the Redis feed lists over a real server: order kept under
 * late pushes, repeated pushes deduplicated, the cap (and its trim slack),
 * merge and unmerge, cursor pages, the built flag, a batch grouped per
 * list, and huge timelines merged into pages (chirp_feed_page_merge).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_redis.h"

static long long llen(redisContext *r, const char *key) {
  redisReply *rep = redisCommand(r, "LLEN %s", key);
  long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
  if (rep) freeReplyObject(rep);
  return n;
}

static void set_flag(redisContext *r, const char *key) {
  redisReply *rep = redisCommand(r, "SET %s 1", key);
  if (rep) freeReplyObject(rep);
}

int main(void) {
  chirp_config cfg;
  char err[256], key[CHIRP_KEY_BUFSZ], ok[CHIRP_KEY_BUFSZ];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  redisContext *r;
  REQUIRE(chirp_redis_connect(cfg.redis_url, 2000, &r) == 0);
  /* Owners unlikely to clash with other tests' accounts. */
  int64_t base = INT64_C(7000000000000000000) + (int64_t)randombytes_uniform(1000000) * 100;
  int64_t owner = base + 1, huge = base + 3;
  int64_t ids[64], out[64];
  size_t n = 0;
  int64_t stale = 0;

  /* Not built yet: a read asks for a rebuild. */
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 10, out, &n, &stale), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(stale, -1);

  /* Pushes in a scrambled order, some repeated, end up sorted and unique. */
  for (int i = 0; i < 30; i++) ids[i] = INT64_C(400000000000000000) + i * 7;
  int order[] = {3, 1, 2, 0, 5, 4, 4, 3, 9, 8, 7, 6, 6, 29, 10, 28, 11, 27, 12, 26, 13, 25, 14,
                 24, 15, 23, 16, 22, 17, 21, 18, 20, 19, 19};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, &owner, 1, ids[order[i]], 25), 0);
  chirp_key_feed(key, owner);
  CHECK_INT_EQ(llen(r, key), 25); /* capped: the five oldest went */
  set_flag(r, chirp_key_feed_ok(ok, owner));
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 10, out, &n, &stale), 0);
  CHECK_INT_EQ(n, 10);
  int sorted = 1;
  for (size_t i = 0; i < n; i++) sorted &= out[i] == ids[29 - i];
  CHECK(sorted);
  /* The next page starts right below the cursor... */
  CHECK_INT_EQ(chirp_feed_page(r, owner, out[9], 10, out, &n, &stale), 0);
  CHECK_INT_EQ(n, 10);
  CHECK_INT_EQ(out[0], ids[19]);
  /* ...also when the cursor's own item was removed meanwhile. */
  CHECK_INT_EQ(chirp_feed_remove(r, CHIRP_LIST_FEED, &owner, 1, ids[19]), 0);
  CHECK_INT_EQ(chirp_feed_page(r, owner, ids[19], 3, out, &n, &stale), 0);
  CHECK_INT_EQ(n, 3);
  CHECK_INT_EQ(out[0], ids[18]);
  CHECK_INT_EQ(out[2], ids[16]);
  /* The end of the feed: a short page. */
  CHECK_INT_EQ(chirp_feed_page(r, owner, ids[7], 10, out, &n, &stale), 0);
  CHECK_INT_EQ(n, 2);

  /* Merge and unmerge keep order and uniqueness. */
  int64_t extra[3] = {ids[0] + 1, ids[29] + 1, ids[15] + 3};
  CHECK_INT_EQ(chirp_feed_merge(r, owner, extra, 3, 100), 0);
  CHECK_INT_EQ(chirp_feed_merge(r, owner, extra, 3, 100), 0);
  CHECK_INT_EQ(llen(r, key), 24 + 3);
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 1, out, &n, &stale), 0);
  CHECK_INT_EQ(out[0], ids[29] + 1);
  CHECK_INT_EQ(chirp_feed_unmerge(r, owner, extra, 3), 0);
  CHECK_INT_EQ(llen(r, key), 24);

  /* A huge account's timeline is merged into every page. */
  CHECK_INT_EQ(chirp_feed_huge_add(r, &owner, 1, huge), 0);
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 5, out, &n, &stale), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(stale, huge); /* its timeline is not built */
  int64_t h1 = ids[29] + 2, h2 = ids[20] + 1;
  CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_TIMELINE, &huge, 1, h2, 100), 0);
  CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_TIMELINE, &huge, 1, h1, 100), 0);
  set_flag(r, chirp_key_timeline_ok(ok, huge));
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 12, out, &n, &stale), 0);
  CHECK_INT_EQ(n, 12);
  CHECK_INT_EQ(out[0], h1);
  CHECK_INT_EQ(out[1], ids[29]);
  int found_h2 = 0, desc = 1;
  for (size_t i = 0; i < n; i++) {
    found_h2 |= out[i] == h2;
    if (i) desc &= out[i] < out[i - 1];
  }
  CHECK(found_h2);
  CHECK(desc);
  CHECK_INT_EQ(chirp_feed_huge_remove(r, owner, huge), 0);
  CHECK_INT_EQ(chirp_feed_page(r, owner, 0, 1, out, &n, &stale), 0);
  CHECK_INT_EQ(out[0], ids[29]);

  /* A push to many owners in one call reaches each once. */
  int64_t owners[600];
  for (int i = 0; i < 600; i++) owners[i] = base + 10 + i;
  CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, owners, 600, ids[5], 800), 0);
  CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, owners, 600, ids[5], 800), 0);
  int all_one = 1;
  for (int i = 0; i < 600; i += 37) all_one &= llen(r, chirp_key_feed(key, owners[i])) == 1;
  CHECK(all_one);

  /* A batch grouped per list (one script call per owner's list): pushes
     to the same list from several requests, out of order and repeated,
     end sorted, unique and capped. */
  {
    int64_t o2[2] = {base + 700, base + 701}, top = ids[29] + 500;
    chirp_feed_push_req b[4] = {{CHIRP_LIST_FEED, top, o2, 2, NULL},
                                {CHIRP_LIST_FEED, top - 2, o2, 2, NULL},
                                {CHIRP_LIST_FEED, top, o2, 1, NULL},
                                {CHIRP_LIST_FEED, top - 1, o2 + 1, 1, NULL}};
    CHECK_INT_EQ(chirp_feed_push_many(r, b, 4, 2), 0);
    CHECK_INT_EQ(chirp_feed_push_many(r, b, 4, 2), 0);
    CHECK_INT_EQ(llen(r, chirp_key_feed(key, o2[0])), 2);
    CHECK_INT_EQ(llen(r, chirp_key_feed(key, o2[1])), 2); /* capped at 2: top, top - 1 */
    redisReply *lr = redisCommand(r, "LRANGE %s 0 -1", chirp_key_feed(key, o2[1]));
    CHECK(lr && lr->elements == 2 && strtoll(lr->element[0]->str, NULL, 10) == top &&
          strtoll(lr->element[1]->str, NULL, 10) == top - 1);
    if (lr) freeReplyObject(lr);
  }

  /* A list past its cap is trimmed to cap - cap/32 (64 -> 62), the oldest
     entries going; below 32 the cap is exact (above). */
  {
    int64_t o3 = base + 710;
    int64_t run[65];
    for (int i = 0; i < 65; i++) run[i] = ids[0] + 10 * i;
    for (int i = 0; i < 64; i++) CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, &o3, 1, run[i], 64), 0);
    CHECK_INT_EQ(llen(r, chirp_key_feed(key, o3)), 64);
    CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, &o3, 1, run[64], 64), 0);
    CHECK_INT_EQ(llen(r, key), 62);
    redisReply *lr = redisCommand(r, "LINDEX %s -1", key);
    CHECK(lr && lr->type == REDIS_REPLY_STRING && strtoll(lr->str, NULL, 10) == run[3]);
    if (lr) freeReplyObject(lr);
  }

  /* The merge of a page with huge timelines' pages: newest first by key,
     a tweet once (its newest entry), at most want. */
  {
    chirp_feed_entry c[] = {{10, 10, 0}, {30, 5, 7}, {20, 20, 0}, {30, 5, 7},
                            {25, 10, 8}, {5, 5, 0},  {15, 15, 0}};
    chirp_feed_entry m[8];
    size_t got = chirp_feed_page_merge(c, sizeof c / sizeof c[0], 8, m);
    CHECK_INT_EQ(got, 4);
    CHECK(m[0].key == 30 && m[0].tweet == 5 && m[0].reposter == 7);
    CHECK(m[1].key == 25 && m[1].tweet == 10); /* the repost outranks the original 10 */
    CHECK(m[2].key == 20 && m[3].key == 15);
    CHECK_INT_EQ(chirp_feed_page_merge(c, sizeof c / sizeof c[0], 2, m), 2);
  }

  /* A huge account's repost of a tweet the feed has as an original: the
     page shows the tweet once, as its newest entry; a cursor page reads
     the timeline below the cursor. */
  {
    int64_t rd = base + 800, hg = base + 801;
    int64_t t1 = ids[29] + 900, t2 = t1 + 10, rp = t1 + 20;
    CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, &rd, 1, t1, 100), 0);
    set_flag(r, chirp_key_feed_ok(ok, rd));
    CHECK_INT_EQ(chirp_feed_huge_add(r, &rd, 1, hg), 0);
    char eb[CHIRP_FEED_ENTRY_BUFSZ];
    chirp_feed_entry re = {rp, t1, hg};
    chirp_feed_push_req hr[2] = {{CHIRP_LIST_TIMELINE, t2, &hg, 1, NULL},
                                 {CHIRP_LIST_TIMELINE, rp, &hg, 1,
                                  chirp_feed_entry_format(&re, eb)}};
    CHECK_INT_EQ(chirp_feed_push_many(r, hr, 2, 100), 0);
    CHECK_INT_EQ(chirp_feed_page(r, rd, 0, 10, out, &n, &stale), CHIRP_ENOTFOUND);
    CHECK_INT_EQ(stale, hg);
    set_flag(r, chirp_key_timeline_ok(ok, hg));
    chirp_feed_entry pe[10];
    CHECK_INT_EQ(chirp_feed_page_entries(r, rd, 0, 10, pe, &n, &stale), 0);
    CHECK_INT_EQ(n, 2);
    CHECK(pe[0].key == rp && pe[0].tweet == t1 && pe[0].reposter == hg);
    CHECK(n == 2 && pe[1].key == t2);
    CHECK_INT_EQ(chirp_feed_page_entries(r, rd, t2, 10, pe, &n, &stale), 0);
    CHECK_INT_EQ(n, 1);
    CHECK(n == 1 && pe[0].key == t1 && pe[0].reposter == 0);
  }

  /* Random batches into three list feeds of one owner (one hash slot:
     one script call for the three): new ids, late ones at any depth (the
     script reads the top 32, then the rest of its window of 100) and
     repeats.  Each list ends sorted, unique, holding every id pushed. */
  {
    int64_t po = base + 900;
    int64_t pl[6] = {po, base + 901, po, base + 902, po, base + 903};
    int64_t pool[90];
    int seen[3][90];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 90; i++) pool[i] = ids[0] + 3 * i + 1;
    for (int round = 0; round < 60; round++) {
      chirp_feed_push_req rq[6];
      size_t m = 1 + randombytes_uniform(6);
      for (size_t q = 0; q < m; q++) {
        int pick = (int)randombytes_uniform(90), s = (int)randombytes_uniform(3);
        size_t cnt = 1 + randombytes_uniform((uint32_t)(3 - s));
        rq[q] = (chirp_feed_push_req){CHIRP_LIST_LIST, pool[pick], pl + 2 * s, cnt, NULL};
        for (size_t l = 0; l < cnt; l++) seen[s + l][pick] = 1;
      }
      CHECK_INT_EQ(chirp_feed_push_many(r, rq, m, 1000), 0);
    }
    for (int l = 0; l < 3; l++) {
      redisReply *lr = redisCommand(r, "LRANGE %s 0 -1", chirp_key_list_feed(key, po, pl[2 * l + 1]));
      size_t want = 0, at = 0;
      for (int i = 0; i < 90; i++) want += (size_t)seen[l][i];
      CHECK(lr && lr->type == REDIS_REPLY_ARRAY && lr->elements == want);
      int ok_order = lr != NULL;
      for (int i = 89; lr && i >= 0; i--) {
        if (!seen[l][i]) continue;
        ok_order &= at < lr->elements && strtoll(lr->element[at]->str, NULL, 10) == pool[i];
        at++;
      }
      CHECK(ok_order);
      if (lr) freeReplyObject(lr);
    }
  }

  /* A list longer than the push window (150 entries): a late id 50 deep
     lands in order, a repeat 70 deep changes nothing, and an id older
     than the whole window is not added (below it the list is a cache,
     PostgreSQL pages the rest). */
  {
    int64_t dq = base + 950, d0 = ids[0] + 100000, deep[150];
    for (int i = 0; i < 150; i++) deep[i] = d0 + 2 * i;
    CHECK_INT_EQ(chirp_feed_merge(r, dq, deep, 150, 800), 0);
    chirp_key_feed(key, dq);
    CHECK_INT_EQ(llen(r, key), 150);
    /* position p holds d0 + 2 (149 - p) */
    chirp_feed_push_req dr[3] = {{CHIRP_LIST_FEED, d0 + 2 * 99 + 1, &dq, 1, NULL},
                                 {CHIRP_LIST_FEED, d0 + 2 * 79, &dq, 1, NULL},
                                 {CHIRP_LIST_FEED, d0 + 2 * 29 + 1, &dq, 1, NULL}};
    CHECK_INT_EQ(chirp_feed_push_many(r, dr, 3, 800), 0);
    CHECK_INT_EQ(llen(r, key), 151);
    redisReply *lr = redisCommand(r, "LRANGE %s 49 51", key);
    CHECK(lr && lr->elements == 3 && strtoll(lr->element[0]->str, NULL, 10) == d0 + 2 * 100 &&
          strtoll(lr->element[1]->str, NULL, 10) == d0 + 2 * 99 + 1 &&
          strtoll(lr->element[2]->str, NULL, 10) == d0 + 2 * 99);
    if (lr) freeReplyObject(lr);
  }

  /* List feeds: (owner, list) pairs, keys of the owner's hash tag, no
     huge set; a pending delete answers "gone" in the same script. */
  int64_t lists[2 * 3] = {owner, base + 90, owner, base + 91, base + 2, base + 92};
  int64_t newest = ids[29] + 1000;
  char lk[CHIRP_KEY_BUFSZ];
  CHECK(strstr(chirp_key_list_feed(lk, owner, base + 90), "}:") != NULL);
  int gone = 0;
  CHECK_INT_EQ(chirp_feed_list_page(r, owner, base + 90, 0, 5, out, &n, &gone), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(gone, 0); /* not built */
  CHECK_INT_EQ(chirp_feed_list_fill(r, owner, base + 90, ids, 3, 10), 0);
  chirp_feed_push_req lreq = {CHIRP_LIST_LIST, newest, lists, 3, NULL};
  CHECK_INT_EQ(chirp_feed_push_many(r, &lreq, 1, 10), 0);
  CHECK_INT_EQ(chirp_feed_push_many(r, &lreq, 1, 10), 0); /* a repeat changes nothing */
  CHECK_INT_EQ(llen(r, chirp_key_list_feed(lk, base + 2, base + 92)), 1);
  CHECK_INT_EQ(chirp_feed_list_page(r, owner, base + 90, 0, 5, out, &n, &gone), 0);
  CHECK_INT_EQ(n, 4);
  CHECK_INT_EQ(out[0], newest);
  CHECK_INT_EQ(out[1], ids[2]);
  CHECK_INT_EQ(chirp_feed_list_page(r, owner, base + 90, ids[2], 5, out, &n, &gone), 0);
  CHECK_INT_EQ(n, 2);
  CHECK_INT_EQ(chirp_feed_list_unmerge(r, owner, base + 90, &newest, 1), 0);
  CHECK_INT_EQ(chirp_feed_remove(r, CHIRP_LIST_LIST, lists + 2, 2, newest), 0);
  CHECK_INT_EQ(llen(r, chirp_key_list_feed(lk, owner, base + 90)), 3);
  CHECK_INT_EQ(llen(r, chirp_key_list_feed(lk, base + 2, base + 92)), 0);
  redisReply *pr = redisCommand(r, "SET %s %s", chirp_key_list_pending(lk, owner, base + 90), "");
  if (pr) freeReplyObject(pr);
  CHECK_INT_EQ(chirp_feed_list_page(r, owner, base + 90, 0, 5, out, &n, &gone), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(gone, 1);
  CHECK_INT_EQ(chirp_feed_list_drop(r, owner, base + 90), 0);
  CHECK_INT_EQ(llen(r, chirp_key_list_feed(lk, owner, base + 90)), 0);
  pr = redisCommand(r, "DEL %s", chirp_key_list_pending(lk, owner, base + 90));
  if (pr) freeReplyObject(pr);
  redisFree(r);
  CHECK_DONE();
}
