/*
 * feed_page.h — answering one page of a feed-like list: the home feed
 * (h_feed.c) and a list's feed (h_lists.c) share it.
 *
 * The ids come from the source's Redis list (capped, rebuilt from
 * PostgreSQL when lost), and below its oldest entry from PostgreSQL, so
 * paging is endless; every item is hydrated with gw_hydrate_entries (the same
 * items, and the same filters, everywhere).  The page is read on until it
 * is full or the list ends (deleted tweets thin it out).
 */
#ifndef GW_FEED_PAGE_H
#define GW_FEED_PAGE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "chirp_feed.h"
#include "http.h"

typedef struct gw_feed_source {
  /* Entries (tweets, reposts: chirp_feed.h) whose key is below before
     (0 = top), newest first, at most want, from Redis (rebuilding a lost
     list): fewer than want when the Redis list ends. */
  int (*redis_ids)(void *arg, int64_t before, size_t want, chirp_feed_entry *ids, size_t *n);
  /* The same from PostgreSQL alone (for paging past the Redis cap). */
  int (*pg_ids)(void *arg, PGconn *pg, int64_t before, size_t want, chirp_feed_entry *ids,
                size_t *n);
  void *arg;               /* borrowed, passed to both */
  const char *cursor_kind; /* chirp_cursor kind of the list */
} gw_feed_source;

/* Answers the page of limit items below before (from gw_param_paging),
   {"items", "next_cursor"} with a Link header, or the error. */
void gw_feed_reply(gw_req *req, gw_reply *rep, const gw_feed_source *src, int limit,
                   int64_t before);

#endif
