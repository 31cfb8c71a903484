/*
 * h_feed.c — the home feed: the followed accounts' and own tweets, newest
 * first, endless paging by "ids below the last one shown".
 *
 * The page comes from the owner's Redis feed list (huge accounts merged in
 * by the same script); a feed or timeline missing from Redis is rebuilt
 * from PostgreSQL on the spot.  Deleted tweets still in a list are skipped
 * at hydration, and the next page starts below the last item shown, so a
 * page never repeats or skips an item however the feed changes meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_log.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "gw.h"
#include "handlers.h"
#include "hydrate.h"
#include "lcache.h"

/* A read gives up after this many rebuilds (each fixes one missing list). */
#define MAX_REBUILDS 8

/* The page of a whole feed list held here: the ids below before (after
   it when it is in the list), as the page script answers. */
static void page_of(const int64_t *list, size_t len, int64_t before, size_t want, int64_t *ids,
                    size_t *n) {
  size_t i = 0;
  *n = 0;
  if (before > 0)
    while (i < len && list[i] >= before) i++; /* newest first: past before */
  for (; i < len && *n < want; i++) ids[(*n)++] = list[i];
}

/* The common case, a feed with no huge accounts merged in, from the local
   cache (lcache.h): its built flag, its empty set of huge accounts and its
   whole list (at most CHIRP_FEED_CAP ids), each dropped when Redis says the
   key changed.  On a miss the three come in one round trip and are held.
   1 with the page, 0 when the script must answer (huge accounts, not built,
   Redis failed). */
static int read_ids_local(redisContext *r, int64_t owner, int64_t before, size_t want,
                          int64_t *ids, size_t *n) {
  char ok[CHIRP_KEY_BUFSZ], huge[CHIRP_KEY_BUFSZ], feed[CHIRP_KEY_BUFSZ];
  chirp_key_feed_ok(ok, owner);
  chirp_key_feed_huge(huge, owner);
  chirp_key_feed(feed, owner);
  size_t l1, l2, l3;
  char v1[8], v2[8];
  int held = gw_lcache_get_into(ok, v1, sizeof v1, &l1) && strcmp(v1, "1") == 0 &&
             gw_lcache_get_into(huge, v2, sizeof v2, &l2) && strcmp(v2, "0") == 0;
  int64_t *list = held ? gw_lcache_get(feed, &l3) : NULL;
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
  int64_t *all = usable ? malloc((c->elements ? c->elements : 1) * sizeof *all) : NULL;
  if (all) {
    for (size_t i = 0; i < c->elements; i++)
      all[i] = c->element[i]->type == REDIS_REPLY_STRING ? strtoll(c->element[i]->str, NULL, 10) : 0;
    (void)gw_lcache_put(ok, "1", 1, 0, &t1);
    (void)gw_lcache_put(huge, "0", 1, 0, &t2);
    (void)gw_lcache_put(feed, all, c->elements * sizeof *all, 0, &t3);
    page_of(all, c->elements, before, want, ids, n);
    free(all);
  }
  if (a) freeReplyObject(a);
  if (b) freeReplyObject(b);
  if (c) freeReplyObject(c);
  return all != NULL;
}

static int read_ids(int64_t owner, int64_t before, size_t want, int64_t *ids, size_t *n) {
  for (int attempt = 0; attempt <= MAX_REBUILDS; attempt++) {
    redisContext *r = gw_redis();
    if (!r) return CHIRP_EUNAVAILABLE;
    if (read_ids_local(r, owner, before, want, ids, n)) return 0;
    if (!(r = gw_redis())) return CHIRP_EUNAVAILABLE; /* (dropped if it failed) */
    int64_t stale = 0;
    int rc = chirp_feed_page(r, owner, before, want, ids, n, &stale);
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

/* {"items": [...], "next_cursor": ...} written as text, with the Link
   header for the next page. */
static int reply_page(gw_req *req, gw_reply *rep, const gw_buf *items, const char *next,
                      int limit) {
  static const char head[] = "{\"items\":[", mid[] = "],\"next_cursor\":";
  size_t nl = next ? strlen(next) : 0;
  char *body = malloc(sizeof head + items->len + sizeof mid + nl + 8);
  if (!body) return CHIRP_ENOMEM;
  /* (Pieces copied, not snprintf'd: the items are kilobytes.) */
  size_t n = 0;
  memcpy(body, head, sizeof head - 1);
  n += sizeof head - 1;
  if (items->len) memcpy(body + n, items->buf, items->len);
  n += items->len;
  memcpy(body + n, mid, sizeof mid - 1);
  n += sizeof mid - 1;
  if (next) {
    body[n++] = '"';
    memcpy(body + n, next, nl);
    n += nl;
    body[n++] = '"';
  } else {
    memcpy(body + n, "null", 4);
    n += 4;
  }
  body[n++] = '}';
  body[n] = '\0';
  rep->status = 200;
  rep->raw = body;
  rep->raw_len = n;
  if (next)
    snprintf(rep->link, sizeof rep->link, "<%s?limit=%d&cursor=%s>; rel=\"next\"",
             req->u->url_path, limit, next);
  return 0;
}

void h_feed(gw_req *req, gw_reply *rep) {
  int64_t before;
  int limit;
  if (gw_param_paging(req, rep, "feed", &limit, &before)) return;
  size_t want = (size_t)limit + 1; /* one more tells whether a next page exists */
  int64_t *ids = malloc(want * sizeof *ids), *shown = malloc(want * sizeof *shown);
  size_t *ends = malloc(want * sizeof *ends); /* ends[k]: the items text's length after item k */
  gw_buf items = {0};
  size_t total = 0;
  int rc = ids && shown && ends ? 0 : CHIRP_ENOMEM;
  /* Deleted tweets can thin a page out: read on until it is full or the
     feed ends.  Redis keeps the newest CHIRP_FEED_CAP entries; below them
     the feed goes on from PostgreSQL, so paging is endless. */
  int from_pg = 0;
  while (!rc && total < want) {
    size_t n = 0, got = 0, asked = want - total;
    if (!from_pg) {
      rc = read_ids(req->account_id, before, asked, ids, &n);
    } else {
      PGconn *pg = gw_pg();
      rc = pg ? chirp_feed_page_pg(pg, req->account_id, before, asked, ids, &n) : CHIRP_EUNAVAILABLE;
    }
    if (rc) break;
    if (n > 0) {
      rc = gw_hydrate_raw(ids, n, req->account_id, &items, shown + total, ends + total, &got);
      total += got;
      before = ids[n - 1];
    }
    if (n < asked) { /* this source has no more */
      if (from_pg) break;
      from_pg = 1;
    }
  }
  if (!rc) {
    char cursor[CHIRP_CURSOR_BUFSZ];
    const char *next = NULL;
    if (total > (size_t)limit) {
      items.len = ends[limit - 1]; /* the page ends after its limit-th item */
      next = chirp_cursor_encode("feed", shown[limit - 1], cursor);
    }
    rc = reply_page(req, rep, &items, next, limit);
  }
  free(items.buf);
  free(ids);
  free(shown);
  free(ends);
  if (rc) gw_reply_from_err(rep, rc);
}
