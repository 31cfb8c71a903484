/*
 * h_likes.c — like / unlike, who liked a tweet, what an account liked, and
 * the most liked tweets of the last 24 hours.
 *
 * The gateway changes the tweet's liker set in Redis first (a set: one
 * like per user, so concurrent likes count exactly), then publishes; when
 * the publish fails it takes the change back and answers 503.
 */
#include <stdlib.h>

#include "chirp_account.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_like.h"
#include "gw.h"
#include "handlers.h"
#include "resolve.h"
#include "hydrate.h"
#include "stats.h"
#include "tweet_load.h"

static void like_change(gw_req *req, gw_reply *rep, int like) {
  int64_t id;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  int64_t author = t.author_id;
  chirp_tweet_cleanup(&t);
  redisContext *r = gw_redis();
  int changed = 0;
  int64_t event_id = chirp_idgen_next(&gw.ids);
  int rc = r ? chirp_like_set(r, gw_pg(), id, req->account_id, like, event_id, &changed)
             : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  if (changed) {
    json_t *payload = json_pack("{s:o, s:o, s:o}", "tweet_id", chirp_json_id(id), "author_id",
                                chirp_json_id(author), "user_id", chirp_json_id(req->account_id));
    rc = gw_publish_event_id(like ? "like.added" : "like.removed", event_id, req->account_id,
                             payload);
    json_decref(payload);
    if (rc) {
      int undone = 0;
      r = gw_redis();
      if (r)
        (void)chirp_like_set(r, gw_pg(), id, req->account_id, !like, chirp_idgen_next(&gw.ids),
                             &undone);
      return gw_reply_from_err(rep, rc);
    }
  }
  gw_tweet_stats st = {0};
  rc = gw_stats_get(&id, 1, req->account_id, &st);
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, changed ? 202 : 200,
                json_pack("{s:o, s:b, s:I}", "tweet_id", chirp_json_id(id), "liked", like,
                          "like_count", (json_int_t)st.likes));
}

void h_like(gw_req *req, gw_reply *rep) { like_change(req, rep, 1); }
void h_unlike(gw_req *req, gw_reply *rep) { like_change(req, rep, 0); }

void h_tweet_likes(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "lk", &limit, &before) ||
      gw_load_tweet(id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_like_list(pg, 1, id, before, limit, &ids, &n, &next) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *items = json_array();
  for (size_t i = 0; i < n; i++) {
    chirp_account a;
    if (chirp_account_get(pg, ids[i], &a) == 0) {
      json_array_append_new(items, chirp_account_to_json(&a, 0));
      chirp_account_cleanup(&a);
    }
  }
  free(ids);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode("lk", next, cursor) : NULL, limit);
}

void h_account_likes(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  if (gw_resolve_account(req, rep, &id) || gw_param_paging(req, rep, "al", &limit, &before)) return;
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_like_list(pg, 0, id, before, limit, &ids, &n, &next) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_tweets(req, rep, ids, n, next ? chirp_cursor_encode("al", next, cursor) : NULL, limit);
  free(ids);
}

void h_trending_liked(gw_req *req, gw_reply *rep) {
  int64_t before;
  int limit;
  if (gw_param_paging(req, rep, "tr", &limit, &before)) return;
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_like_trending(pg, limit, &ids, &n) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_tweets(req, rep, ids, n, NULL, limit);
  free(ids);
}
