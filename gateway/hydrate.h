/*
 * hydrate.h — turns lists of tweet ids into the items clients see: each
 * tweet with its author (id, username, display name, avatar), its like,
 * comment and reply counts, liked_by_me and bookmarked_by_me (stats.h,
 * stats_marks.h).
 *
 * Two Redis round trips whatever the page size: the cached tweets, then the
 * authors (and reposters) and every tweet's numbers together — one more,
 * for the quoted tweets, only on a page that has quotes; PostgreSQL only for misses,
 * which are written back (the tweets' misses in one statement per page, the
 * authors' misses in another).  Both round trips are
 * pipelined, so nothing synchronous may run on the connection between
 * their sends and their reads (chirp_redis.h refuses it): the numbers'
 * script goes by its SHA and is loaded only after every reply was read.
 * It also serves lists of accounts (gw_hydrate_accounts) the same way.
 * Items are built by splicing the cached JSON as
 * text (it is our own compact output), never decoding and re-encoding it:
 * on the feed's hot path that was most of the gateway's time.
 */
#ifndef GW_HYDRATE_H
#define GW_HYDRATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chirp_feed.h"
#include "http.h"

/* A growing text buffer (malloc'd; the owner frees buf). */
typedef struct gw_buf {
  char *buf;
  size_t len, cap;
} gw_buf;

/* Appends to out one JSON object per live tweet of ids, in order, joined by
   commas (a comma first when out is not empty); deleted or unknown ids are
   left out.  shown[k] receives the id of the k-th item and, unless ends
   is NULL, ends[k] the length of out just after it (room for n each), so
   a caller can cut the text after any item without parsing it. */
int gw_hydrate_raw(const int64_t *ids, size_t n, int64_t viewer, gw_buf *out, int64_t *shown,
                   size_t *ends, size_t *nshown);

/* gw_hydrate_raw leaves out, for a signed-in viewer, every item that
   involves an account hidden from it by a block either way (hidden.h).
   This one leaves out those with a flag of hide (CHIRP_HIDDEN_* bits):
   the home feed, list feeds, the stream and notifications pass
   CHIRP_HIDDEN_ALL, so mutes count too; 0 hides nothing.  A page thinned
   by it is filled by the caller reading on (the feed does); its cursor is
   the last entry examined, so paging stays stable. */
int gw_hydrate_raw_hiding(const int64_t *ids, size_t n, int64_t viewer, unsigned hide, gw_buf *out,
                          int64_t *shown, size_t *ends, size_t *nshown);

/* gw_hydrate_raw_hiding for feed entries: each item is its entry's tweet,
   with for a repost "repost_id" and "reposted_by" (the reposter's card);
   shown[k] receives the k-th item's entry key (the feed's cursor).  A
   quoting tweet carries "quote": the quoted tweet hydrated one level
   deep, or {"id", "unavailable": true} when it is gone or its author is
   hidden — the page's quoted tweets come in ONE more round trip, only
   when it has any.  An item whose author or reposter is hidden goes. */
int gw_hydrate_entries(const chirp_feed_entry *items, size_t n, int64_t viewer, unsigned hide,
                       gw_buf *out, int64_t *shown, size_t *ends, size_t *nshown);

/* The same as JSON values appended to items (a borrowed array). */
int gw_hydrate_tweets(const int64_t *ids, size_t n, int64_t viewer, json_t *items, int64_t *shown,
                      size_t *nshown);
int gw_hydrate_tweets_hiding(const int64_t *ids, size_t n, int64_t viewer, unsigned hide,
                             json_t *items, int64_t *shown, size_t *nshown);

/* Account objects for ids, in order: out[i] the public account JSON (or
   with cards set only {id, username, display_name, avatar_url}), a new
   reference, or NULL when there is no such account.  One pipelined Redis
   round trip for the cached ones and ONE PostgreSQL query for all misses
   (written back), whatever n: never a query per item. */
int gw_hydrate_accounts(const int64_t *ids, size_t n, int cards, json_t **out);

/* Answers a list of the accounts of ids (public objects, in order; one
   gone meanwhile is left out), with next_cursor (NULL on the last page). */
void gw_reply_accounts(gw_req *req, gw_reply *rep, const int64_t *ids, size_t n,
                       const char *next_cursor, int limit);

/* Answers a list of the live tweets of ids, hydrated for the request's
   viewer, with next_cursor (NULL on the last page). */
void gw_reply_tweets(gw_req *req, gw_reply *rep, const int64_t *ids, size_t n,
                     const char *next_cursor, int limit);

#endif
