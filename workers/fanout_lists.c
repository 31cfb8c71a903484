/* fanout_lists.c — lists in the fan-out role, see fanout_lists.h. */
#include "fanout_lists.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_list.h"
#include "chirp_log.h"

static const char *const kinds[] = {"list.created", "list.updated", "list.deleted",
                                    "list.member_added", "list.member_removed"};

int fl_decode(const chirp_event *ev, fl_event *out, int *is_list, char *why, size_t n) {
  *is_list = 0;
  size_t k = 0;
  while (k < sizeof kinds / sizeof *kinds && strcmp(ev->type, kinds[k]) != 0) k++;
  if (k == sizeof kinds / sizeof *kinds) return 0;
  *is_list = 1;
  memset(out, 0, sizeof *out);
  out->kind = (int)k;
  const json_t *p = ev->payload;
  int member = out->kind == FL_MEMBER_ADDED || out->kind == FL_MEMBER_REMOVED;
  int bad = chirp_json_get_id(p, member ? "list_id" : "id", &out->list) ||
            chirp_json_get_id(p, "owner_id", &out->owner) || out->owner != ev->actor_id;
  if (!bad && member) bad = chirp_json_get_id(p, "account_id", &out->account);
  if (!bad && (out->kind == FL_CREATED || out->kind == FL_UPDATED)) {
    const char *t = json_string_value(json_object_get(p, "title"));
    bad = !t || !*t;
    if (!bad && !(out->title = strdup(t))) return CHIRP_ENOMEM;
  }
  if (!bad && out->kind == FL_CREATED) bad = chirp_json_get_time(p, "created_at", &out->created_ms);
  if (bad) {
    snprintf(why, n, "%s without its ids (owner_id the actor), title or created_at", ev->type);
    fl_cleanup(out);
    return CHIRP_EMALFORMED;
  }
  return 0;
}

void fl_cleanup(fl_event *e) {
  free(e->title);
  e->title = NULL;
}

int fl_apply(wk_ctx *ctx, const chirp_event *ev, const fl_event *e) {
  switch (e->kind) {
    case FL_CREATED:
      return chirp_list_store_create(ctx->pg, e->list, e->owner, e->title, e->created_ms,
                                     ev->event_id);
    case FL_UPDATED:
      return chirp_list_store_rename(ctx->pg, e->list, e->owner, e->title, ev->event_id);
    case FL_DELETED:
      return chirp_list_store_delete(ctx->pg, e->list, e->owner, ev->event_id, ev->occurred_ms);
    case FL_MEMBER_ADDED:
    case FL_MEMBER_REMOVED:
      return chirp_list_member_apply(ctx->pg, e->list, e->account, e->kind == FL_MEMBER_ADDED,
                                     ev->event_id, ev->occurred_ms);
  }
  return CHIRP_EINTERNAL;
}

int fl_after_commit(wk_ctx *ctx, const fl_event *e) {
  if (e->kind == FL_CREATED || e->kind == FL_UPDATED) return 0; /* no feed changes */
  if (e->kind == FL_DELETED) return chirp_feed_list_drop(ctx->redis, e->owner, e->list);
  /* The list feed follows the membership as PostgreSQL has it now, whatever
     this event changed: a redelivery after a crash completes the work, and
     a late event of an older state undoes nothing. */
  int active = 0;
  int rc = chirp_list_member_state(ctx->pg, e->list, e->account, &active);
  int64_t *ids = NULL;
  size_t n = 0;
  /* The member's newest feed_cap tweets cover every one of theirs a capped
     list feed can hold. */
  if (!rc) rc = chirp_feed_recent_ids(ctx->pg, e->account, ctx->cfg->feed_cap, &ids, &n);
  if (!rc && n)
    rc = active ? chirp_feed_list_merge(ctx->redis, e->owner, e->list, ids, n, ctx->cfg->feed_cap)
                : chirp_feed_list_unmerge(ctx->redis, e->owner, e->list, ids, n);
  free(ids);
  return rc;
}

int fl_tweet_reqs(wk_ctx *ctx, const int64_t *tweet_ids, const int64_t *authors, size_t n,
                  chirp_feed_push_req *reqs, size_t *nreq, int64_t **pairs) {
  int64_t *rows = NULL;
  size_t nrows = 0;
  *pairs = NULL;
  if (n == 0) return 0;
  int rc = chirp_list_containing(ctx->pg, authors, n, &rows, &nrows);
  if (rc) return rc;
  /* (owner, list) pairs grouped by author, as the rows come. */
  int64_t *out = malloc((nrows ? nrows : 1) * 2 * sizeof *out);
  if (!out) {
    free(rows);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < nrows; i++) {
    out[2 * i] = rows[3 * i + 1];
    out[2 * i + 1] = rows[3 * i + 2];
  }
  for (size_t t = 0; t < n; t++) {
    size_t first = 0;
    while (first < nrows && rows[3 * first] != authors[t]) first++;
    size_t last = first;
    while (last < nrows && rows[3 * last] == authors[t]) last++;
    if (last > first)
      reqs[(*nreq)++] =
          (chirp_feed_push_req){CHIRP_LIST_LIST, tweet_ids[t], out + 2 * first, last - first, NULL};
  }
  free(rows);
  *pairs = out;
  return 0;
}

int fl_tweet(wk_ctx *ctx, int created, int64_t tweet_id, int64_t author) {
  chirp_feed_push_req req;
  size_t nreq = 0;
  int64_t *pairs = NULL;
  int rc = fl_tweet_reqs(ctx, &tweet_id, &author, 1, &req, &nreq, &pairs);
  if (!rc && nreq)
    rc = created ? chirp_feed_push_many(ctx->redis, &req, 1, ctx->cfg->feed_cap)
                 : chirp_feed_remove(ctx->redis, CHIRP_LIST_LIST, req.owners, req.n, tweet_id);
  free(pairs);
  return rc;
}
