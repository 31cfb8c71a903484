/*
 * test_reposts.c — reposts below the HTTP layer, over the real servers:
 * the feed push script's collapse (an original in the window absorbs a
 * repost, a newer repost replaces an older one, an older one is dropped, a
 * repeated push changes nothing), the merge script's same rule, removal of
 * a repost entry; the PostgreSQL row applied by event id (the same event
 * twice is one repost, an older event changes nothing); the Redis repost
 * keys (a repeat has no effect, an older state written back is ignored).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_repost.h"

/* The owner's feed as "e1 e2 ..." */
static void feed_text(redisContext *r, int64_t owner, char *out, size_t cap) {
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rep = redisCommand(r, "LRANGE %s 0 -1", chirp_key_feed(key, owner));
  out[0] = '\0';
  for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s", i ? " " : "", rep->element[i]->str);
  }
  if (rep) freeReplyObject(rep);
}

static char *entry(char buf[CHIRP_FEED_ENTRY_BUFSZ], int64_t key, int64_t tweet, int64_t by) {
  chirp_feed_entry e = {key, tweet, by};
  return chirp_feed_entry_format(&e, buf);
}

static int push(redisContext *r, int64_t owner, const char *e) {
  chirp_feed_push_req q = {CHIRP_LIST_FEED, 0, &owner, 1, e};
  return chirp_feed_push_many(r, &q, 1, 800);
}

static long long scard(redisContext *r, int64_t tweet) {
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rep = redisCommand(r, "SCARD %s", chirp_key_reposters(key, tweet));
  long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
  if (rep) freeReplyObject(rep);
  return n;
}

int main(void) {
  chirp_config cfg;
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  redisContext *r;
  PGconn *pg;
  REQUIRE(chirp_redis_connect(cfg.redis_url, 2000, &r) == 0);
  REQUIRE(chirp_pg_connect(cfg.pg_url, &pg) == 0);
  int64_t base = INT64_C(7100000000000000000) + (int64_t)randombytes_uniform(1000000) * 1000;
  int64_t owner = base + 1, t1 = base + 100, t2 = base + 200, u1 = base + 11, u2 = base + 12,
          u3 = base + 13;
  char e1[CHIRP_FEED_ENTRY_BUFSZ], e2[CHIRP_FEED_ENTRY_BUFSZ], e3[CHIRP_FEED_ENTRY_BUFSZ],
      e4[CHIRP_FEED_ENTRY_BUFSZ], want[512], got[512];

  /* Entries print and parse back. */
  chirp_feed_entry pe;
  CHECK_INT_EQ(chirp_feed_entry_parse(entry(e1, base + 300, t2, u1), &pe), 0);
  CHECK(pe.key == base + 300 && pe.tweet == t2 && pe.reposter == u1);
  CHECK_INT_EQ(chirp_feed_entry_parse("12:x:3", &pe), CHIRP_EMALFORMED);

  /* The original in the window absorbs a repost of it. */
  CHECK_INT_EQ(chirp_feed_push(r, CHIRP_LIST_FEED, &owner, 1, t1, 800), 0);
  CHECK_INT_EQ(push(r, owner, entry(e1, base + 150, t1, u1)), 0);
  snprintf(want, sizeof want, "%lld", (long long)t1);
  feed_text(r, owner, got, sizeof got);
  CHECK_STR_EQ(got, want);
  /* A repost of another tweet goes in; a newer one replaces it; the same
     push again and an older repost change nothing. */
  CHECK_INT_EQ(push(r, owner, entry(e2, base + 300, t2, u1)), 0);
  CHECK_INT_EQ(push(r, owner, entry(e3, base + 400, t2, u2)), 0);
  CHECK_INT_EQ(push(r, owner, e3), 0);
  CHECK_INT_EQ(push(r, owner, entry(e4, base + 350, t2, u3)), 0);
  snprintf(want, sizeof want, "%s %lld", e3, (long long)t1);
  feed_text(r, owner, got, sizeof got);
  CHECK_STR_EQ(got, want);
  /* The merge (rebuilds, follows) keeps to the same rule. */
  char *merged[] = {e2, e4};
  CHECK_INT_EQ(chirp_feed_merge_entries(r, owner, merged, 2, 800), 0);
  feed_text(r, owner, got, sizeof got);
  CHECK_STR_EQ(got, want);
  /* Pages carry whole entries; the cursor is the entry's key. */
  chirp_feed_entry page[4];
  size_t n = 0;
  int64_t stale = 0;
  char ok[CHIRP_KEY_BUFSZ];
  redisReply *x = redisCommand(r, "SET %s 1", chirp_key_feed_ok(ok, owner));
  if (x) freeReplyObject(x);
  CHECK_INT_EQ(chirp_feed_page_entries(r, owner, 0, 4, page, &n, &stale), 0);
  CHECK_INT_EQ((long long)n, 2);
  CHECK(page[0].key == base + 400 && page[0].tweet == t2 && page[0].reposter == u2);
  CHECK(page[1].key == t1 && page[1].tweet == t1 && page[1].reposter == 0);
  CHECK_INT_EQ(chirp_feed_page_entries(r, owner, base + 400, 4, page, &n, &stale), 0);
  CHECK(n == 1 && page[0].key == t1);
  /* An undone repost leaves. */
  CHECK_INT_EQ(chirp_feed_remove_entry(r, CHIRP_LIST_FEED, &owner, 1, e3), 0);
  snprintf(want, sizeof want, "%lld", (long long)t1);
  feed_text(r, owner, got, sizeof got);
  CHECK_STR_EQ(got, want);

  /* PostgreSQL: the same event twice is one repost; an older event is
     ignored; the newest wins. */
  int active = 0;
  int64_t rid = 0, ev = 0;
  CHECK_INT_EQ(chirp_repost_store_apply(pg, t2, u1, 1, base + 300, base + 300), 0);
  CHECK_INT_EQ(chirp_repost_store_apply(pg, t2, u1, 1, base + 300, base + 300), 0);
  CHECK_INT_EQ(chirp_repost_store_state(pg, t2, u1, &active, &rid, &ev), 0);
  CHECK(active && rid == base + 300 && ev == base + 300);
  CHECK_INT_EQ(chirp_repost_store_apply(pg, t2, u1, 0, base + 300, base + 290), 0);
  CHECK_INT_EQ(chirp_repost_store_state(pg, t2, u1, &active, &rid, &ev), 0);
  CHECK(active && ev == base + 300);
  CHECK_INT_EQ(chirp_repost_store_apply(pg, t2, u1, 0, base + 300, base + 310), 0);
  CHECK_INT_EQ(chirp_repost_store_state(pg, t2, u1, &active, &rid, &ev), 0);
  CHECK(!active && ev == base + 310);
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM reposts WHERE tweet_id = %lld", (long long)t2);
  PGresult *res;
  REQUIRE(chirp_pg_exec(pg, sql, 0, NULL, &res) == 0);
  CHECK_STR_EQ(PQgetvalue(res, 0, 0), "1");
  PQclear(res);

  /* Redis: built from PostgreSQL (u1 undone), a repost counts once however
     often it is asked for, an older state written back is ignored. */
  int changed = 0;
  chirp_repost_prior undo;
  CHECK_INT_EQ(chirp_repost_set(r, pg, t2, u2, 1, base + 500, &changed, &rid, &undo), 0);
  CHECK(changed && rid == base + 500);
  CHECK_INT_EQ(chirp_repost_set(r, pg, t2, u2, 1, base + 501, &changed, &rid, &undo), 0);
  CHECK(!changed && rid == base + 500);
  CHECK_INT_EQ(scard(r, t2), 1);
  CHECK_INT_EQ(chirp_repost_sync(r, t2, u2, base + 400, 0), 0); /* older: ignored */
  CHECK_INT_EQ(scard(r, t2), 1);
  CHECK_INT_EQ(chirp_repost_sync(r, t2, u2, base + 500, base + 500), 0); /* the same: once */
  CHECK_INT_EQ(scard(r, t2), 1);
  CHECK_INT_EQ(chirp_repost_sync(r, t2, u2, base + 600, 0), 0); /* a newer undo */
  CHECK_INT_EQ(scard(r, t2), 0);

  snprintf(sql, sizeof sql, "DELETE FROM reposts WHERE tweet_id = %lld", (long long)t2);
  (void)chirp_pg_exec(pg, sql, 0, NULL, NULL);
  PQfinish(pg);
  redisFree(r);
  CHECK_DONE();
}
