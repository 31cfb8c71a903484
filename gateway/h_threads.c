/*
 * h_threads.c — the conversation around a tweet: GET /tweets/{id}/context,
 * {"ancestors": [...], "descendants": [...], "next_cursor"} (the shape of
 * Mastodon's context, paged).  The ancestors (root first, a deleted one as
 * {"id", "unavailable": true}) come on the first page only; the
 * descendants in reading order (chirp_thread.h), limit per page, the
 * cursor naming the last one shown.  Each page is one recursive statement
 * per list and ONE hydration for all its tweets.
 */
#include <stdio.h>
#include <stdlib.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_thread.h"
#include "gw.h"
#include "handlers.h"
#include "hydrate.h"
#include "tweet_load.h"

void h_tweet_context(gw_req *req, gw_reply *rep) {
  int64_t id, after;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "cx", &limit, &after) ||
      gw_load_tweet(id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  PGconn *pg = gw_pg();
  int64_t *up = NULL, *down = NULL, *all = NULL, *shown = NULL;
  size_t nu = 0, nd = 0, ns = 0;
  int rc = pg ? 0 : CHIRP_EUNAVAILABLE;
  if (!rc && !after) rc = chirp_thread_ancestors(pg, id, &up, &nu);
  /* One row more than the page tells whether a next page exists. */
  if (!rc) rc = chirp_thread_descendants(pg, id, after, limit + 1, &down, &nd);
  size_t page = nd > (size_t)limit ? (size_t)limit : nd;
  json_t *items = json_array(), *anc = json_array(), *desc = json_array();
  if (!rc) {
    all = malloc((nu + page + 1) * sizeof *all);
    shown = malloc((nu + page + 1) * sizeof *shown);
    rc = all && shown && items && anc && desc ? 0 : CHIRP_ENOMEM;
  }
  if (!rc) {
    for (size_t i = 0; i < nu; i++) all[i] = up[i];
    for (size_t i = 0; i < page; i++) all[nu + i] = down[i];
    rc = gw_hydrate_tweets(all, nu + page, req->account_id, items, shown, &ns);
  }
  if (!rc) {
    /* shown lists the live ones in the order of all: split it. */
    size_t k = 0;
    for (size_t i = 0; i < nu; i++) {
      if (k < ns && shown[k] == up[i]) json_array_append(anc, json_array_get(items, k++));
      else
        json_array_append_new(anc, json_pack("{s:o, s:b}", "id", chirp_json_id(up[i]),
                                             "unavailable", 1));
    }
    for (; k < ns; k++) json_array_append(desc, json_array_get(items, k));
  }
  char cursor[CHIRP_CURSOR_BUFSZ];
  const char *next = !rc && nd > page ? chirp_cursor_encode("cx", down[page - 1], cursor) : NULL;
  free(up);
  free(down);
  free(all);
  free(shown);
  json_decref(items);
  if (rc) {
    json_decref(anc);
    json_decref(desc);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_json(rep, 200,
                json_pack("{s:o, s:o, s:o}", "ancestors", anc, "descendants", desc, "next_cursor",
                          next ? json_string(next) : json_null()));
  if (next)
    snprintf(rep->link, sizeof rep->link, "<%s?limit=%d&cursor=%s>; rel=\"next\"",
             req->u->url_path, limit, next);
}
