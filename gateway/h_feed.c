/*
 * h_feed.c — the home feed: the followed accounts' and own tweets, newest
 * first, endless paging by "ids below the last one shown".
 *
 * A list entry is a tweet or a repost (chirp_feed.h): a repost shows as the
 * original tweet with reposted_by and repost_id, and pages by its own id.
 * The page comes from the owner's Redis feed list (the timelines of followed
 * huge accounts read in one more pipelined round trip and merged in, see
 * chirp_feed_page_entries); a feed or timeline missing from Redis is rebuilt
 * from PostgreSQL on the spot.  The page loop (hydration, paging below
 * the Redis cap from PostgreSQL, the cursor) is feed_page.c's, shared with
 * the lists' feeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_log.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "feed_page.h"
#include "gw.h"
#include "handlers.h"
#include "lcache.h"

/* A read gives up after this many rebuilds (each fixes one missing list). */
#define MAX_REBUILDS 8

/* The page of a whole feed list held here: the ids below before (after
   it when it is in the list), as the page script answers. */
static void page_of(const chirp_feed_entry *list, size_t len, int64_t before, size_t want,
                    chirp_feed_entry *ids, size_t *n) {
  size_t i = 0;
  *n = 0;
  if (before > 0)
    while (i < len && list[i].key >= before) i++; /* newest first: past before */
  for (; i < len && *n < want; i++) ids[(*n)++] = list[i];
}

/* The common case, a feed with no huge accounts merged in, from the local
   cache (lcache.h): its built flag, its empty set of huge accounts and its
   whole list (at most CHIRP_FEED_CAP ids), each dropped when Redis says the
   key changed.  On a miss the three come in one round trip and are held.
   1 with the page, 0 when the script must answer (huge accounts, not built,
   Redis failed). */
static int read_ids_local(redisContext *r, int64_t owner, int64_t before, size_t want,
                          chirp_feed_entry *ids, size_t *n) {
  char ok[CHIRP_KEY_BUFSZ], huge[CHIRP_KEY_BUFSZ], feed[CHIRP_KEY_BUFSZ];
  chirp_key_feed_ok(ok, owner);
  chirp_key_feed_huge(huge, owner);
  chirp_key_feed(feed, owner);
  size_t l1, l2, l3;
  char v1[8], v2[8];
  int held = gw_lcache_get_into(ok, v1, sizeof v1, &l1) && strcmp(v1, "1") == 0 &&
             gw_lcache_get_into(huge, v2, sizeof v2, &l2) && strcmp(v2, "0") == 0;
  chirp_feed_entry *list = held ? gw_lcache_get(feed, &l3) : NULL;
  held = list && l3 % sizeof *list == 0;
  if (held) {
    page_of(list, l3 / sizeof *list, before, want, ids, n);
    free(list);
    return 1;
  }
  free(list);
  gw_lc_ticket t1, t2, t3;
  gw_lcache_track(r);
  gw_lcache_ticket(ok, &t1);
  gw_lcache_ticket(huge, &t2);
  gw_lcache_ticket(feed, &t3);
  redisReply *a = NULL, *b = NULL, *c = NULL;
  int sent = chirp_redis_append(r, "EXISTS %s", ok) == 0 &&
             chirp_redis_append(r, "SCARD %s", huge) == 0 &&
             chirp_redis_append(r, "LRANGE %s 0 -1", feed) == 0;
  int got = sent && chirp_redis_read(r, &a) == 0 && chirp_redis_read(r, &b) == 0 &&
            chirp_redis_read(r, &c) == 0;
  if (!got && chirp_redis_pending(r)) chirp_redis_abandon(r, "feed read failed midway");
  int usable = got && a->type == REDIS_REPLY_INTEGER && a->integer == 1 &&
               b->type == REDIS_REPLY_INTEGER && b->integer == 0 && c->type == REDIS_REPLY_ARRAY;
  chirp_feed_entry *all = usable ? malloc((c->elements ? c->elements : 1) * sizeof *all) : NULL;
  if (all) {
    size_t m = 0;
    for (size_t i = 0; i < c->elements; i++)
      if (c->element[i]->type == REDIS_REPLY_STRING &&
          chirp_feed_entry_parse(c->element[i]->str, &all[m]) == 0)
        m++;
    (void)gw_lcache_put(ok, "1", 1, 0, &t1);
    (void)gw_lcache_put(huge, "0", 1, 0, &t2);
    (void)gw_lcache_put(feed, all, m * sizeof *all, 0, &t3);
    page_of(all, m, before, want, ids, n);
    free(all);
  }
  if (a) freeReplyObject(a);
  if (b) freeReplyObject(b);
  if (c) freeReplyObject(c);
  return all != NULL;
}

static int read_ids(int64_t owner, int64_t before, size_t want, chirp_feed_entry *ids, size_t *n) {
  for (int attempt = 0; attempt <= MAX_REBUILDS; attempt++) {
    redisContext *r = gw_redis();
    if (!r) return CHIRP_EUNAVAILABLE;
    if (read_ids_local(r, owner, before, want, ids, n)) return 0;
    if (!(r = gw_redis())) return CHIRP_EUNAVAILABLE; /* (dropped if it failed) */
    int64_t stale = 0;
    int rc = chirp_feed_page_entries(r, owner, before, want, ids, n, &stale);
    if (rc != CHIRP_ENOTFOUND) return rc;
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    rc = stale < 0 ? chirp_feed_rebuild(r, pg, owner, gw.cfg.feed_cap)
                   : chirp_timeline_rebuild(r, pg, stale, gw.cfg.feed_cap);
    if (rc) return rc;
    chirp_debug("rebuilt the %s of %lld", stale < 0 ? "feed" : "timeline",
                (long long)(stale < 0 ? owner : stale));
  }
  return CHIRP_EINTERNAL;
}

static int feed_redis_ids(void *arg, int64_t before, size_t want, chirp_feed_entry *ids,
                          size_t *n) {
  return read_ids(*(const int64_t *)arg, before, want, ids, n);
}

static int feed_pg_ids(void *arg, PGconn *pg, int64_t before, size_t want, chirp_feed_entry *ids,
                       size_t *n) {
  return chirp_feed_page_pg_entries(pg, *(const int64_t *)arg, before, want, ids, n);
}

void h_feed(gw_req *req, gw_reply *rep) {
  int64_t before, owner = req->account_id;
  int limit;
  if (gw_param_paging(req, rep, "feed", &limit, &before)) return;
  gw_feed_source src = {feed_redis_ids, feed_pg_ids, &owner, "feed"};
  gw_feed_reply(req, rep, &src, limit, before);
}
