/*
 * fanout_lists.h — the fan-out role's part for lists: it applies the list
 * events and pushes tweets into the feeds of the lists containing their
 * authors.
 *
 * List events go through the fan-out queue, like follows (see
 * role_fanout.c): a member added or removed and the tweets fanned out
 * after it are applied in order, so a tweet's list fan-out reads the
 * membership the earlier event wrote.  Each event is applied in
 * PostgreSQL in the role's transaction (fl_apply), then in Redis after
 * the commit (fl_after_commit); both idempotent.  Lists push to every
 * member, huge or not (docs/decisions.md).
 */
#ifndef FANOUT_LISTS_H
#define FANOUT_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include "chirp_event.h"
#include "chirp_feed.h"
#include "worker.h"

typedef struct fl_event {
  enum { FL_CREATED, FL_UPDATED, FL_DELETED, FL_MEMBER_ADDED, FL_MEMBER_REMOVED } kind;
  int64_t list, owner, account, created_ms;
  char *title; /* owned: created / updated */
} fl_event;

/* 1 when ev is a list event; then *out is filled (0) or the payload is
   malformed (CHIRP_EMALFORMED with why).  0 for any other event. */
int fl_decode(const chirp_event *ev, fl_event *out, int *is_list, char *why, size_t n);
void fl_cleanup(fl_event *e);
int fl_apply(wk_ctx *ctx, const chirp_event *ev, const fl_event *e);
int fl_after_commit(wk_ctx *ctx, const fl_event *e);

/* The list pushes of a batch of new tweets (tweet_ids[i] by authors[i]):
   the lists containing the authors found in one statement, one request
   (CHIRP_LIST_LIST pairs) per tweet appended to reqs (room for n more),
   *nreq advanced.  *pairs is a new array the requests borrow (free after
   the push). */
int fl_tweet_reqs(wk_ctx *ctx, const int64_t *tweet_ids, const int64_t *authors, size_t n,
                  chirp_feed_push_req *reqs, size_t *nreq, int64_t **pairs);
/* One tweet into (created) or out of (deleted) the lists containing its author. */
int fl_tweet(wk_ctx *ctx, int created, int64_t tweet_id, int64_t author);

#endif
