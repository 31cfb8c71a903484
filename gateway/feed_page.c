/*
 * feed_page.c — one page of a feed-like list (the home feed, a list's
 * feed), see feed_page.h.
 *
 * Deleted tweets still in a list are skipped at hydration, and the next
 * page starts below the last item shown, so a page never repeats or skips
 * an item however the list changes meanwhile.
 */
#include "feed_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "gw.h"
#include "hidden.h"
#include "hydrate.h"

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

void gw_feed_reply(gw_req *req, gw_reply *rep, const gw_feed_source *src, int limit,
                   int64_t before) {
  size_t want = (size_t)limit + 1; /* one more tells whether a next page exists */
  chirp_feed_entry *ids = malloc(want * sizeof *ids);
  int64_t *shown = malloc(want * sizeof *shown);
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
      rc = src->redis_ids(src->arg, before, asked, ids, &n);
    } else {
      PGconn *pg = gw_pg();
      rc = pg ? src->pg_ids(src->arg, pg, before, asked, ids, &n) : CHIRP_EUNAVAILABLE;
    }
    if (rc) break;
    if (n > 0) {
      /* Blocked and muted accounts' items go (hidden.h); reading on fills
         the page, and the next page starts below the last entry read. */
      rc = gw_hydrate_entries(ids, n, req->account_id, CHIRP_HIDDEN_ALL, &items, shown + total,
                              ends + total, &got);
      total += got;
      before = ids[n - 1].key;
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
      next = chirp_cursor_encode(src->cursor_kind, shown[limit - 1], cursor);
    }
    rc = reply_page(req, rep, &items, next, limit);
  }
  free(items.buf);
  free(ids);
  free(shown);
  free(ends);
  if (rc) gw_reply_from_err(rep, rc);
}
