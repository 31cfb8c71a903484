/*
 * h_likes.c — like / unlike, who liked a tweet, what an account liked, and
 * the most liked tweets of the last 24 hours.
 *
 * The gateway changes the tweet's liker set in Redis first (a set: one
 * like per user, so concurrent likes count exactly), then publishes; when
 * the publish fails it takes the change back (to the exact state before,
 * chirp_like_undo) and answers 503.  The likers of a tweet and the likes
 * of an account are read from Redis, so a like shows as soon as it is
 * accepted (PostgreSQL follows when the batcher flushes).
 */
#include <stdlib.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_like.h"
#include "chirp_log.h"
#include "chirp_keys.h"
#include "gw.h"
#include "lcache.h"
#include "handlers.h"
#include "resolve.h"
#include "hydrate.h"
#include "hidden.h"
#include "stats.h"
#include "tweet_load.h"

static void like_change(gw_req *req, gw_reply *rep, int like) {
  int64_t id;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  int64_t author = t.author_id;
  chirp_tweet_cleanup(&t);
  /* No like across a block (an unlike is always allowed). */
  if (like && gw_hidden_refuse(req, rep, author, "id")) return;
  redisContext *r = gw_redis();
  int changed = 0;
  int64_t event_id = chirp_idgen_next(&gw.ids);
  chirp_like_prior undo;
  int rc = r ? chirp_like_set(r, gw_pg(), id, req->account_id, like, event_id, &changed, &undo)
             : CHIRP_EUNAVAILABLE;
  /* This request's own write, read back below: the local copies go now,
     not when Redis's word arrives. */
  char key[CHIRP_KEY_BUFSZ];
  gw_lcache_drop(chirp_key_likers(key, id));
  gw_lcache_drop(chirp_key_likers_ok(key, id));
  if (rc) return gw_reply_from_err(rep, rc);
  if (changed) {
    json_t *payload = json_pack("{s:o, s:o, s:o}", "tweet_id", chirp_json_id(id), "author_id",
                                chirp_json_id(author), "user_id", chirp_json_id(req->account_id));
    rc = gw_publish_event_id(like ? "like.added" : "like.removed", event_id, req->account_id,
                             payload);
    json_decref(payload);
    if (rc) {
      /* Back to the state and event id from before: if the event was
         delivered after all, it then applies in Redis as in PostgreSQL. */
      r = gw_redis();
      int undone = r && chirp_like_undo(r, &undo) == 0;
      gw_lcache_drop(chirp_key_likers(key, id));
      if (!undone)
        chirp_warn("tweet %lld: could not take back the %s of %lld in Redis (healed at the next "
                   "rebuild, within 24 h)", (long long)id, like ? "like" : "unlike",
                   (long long)req->account_id);
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

/* A page of likes from Redis, or from PostgreSQL (flushed likes only)
   when Redis is unreachable. */
static int like_page(int by_tweet, int64_t id, int64_t before, int limit, int64_t **ids, size_t *n,
                     int64_t *next) {
  redisContext *r = gw_redis();
  int rc = r ? chirp_like_page(r, gw_pg(), by_tweet, id, before, limit, ids, n, next)
             : CHIRP_EUNAVAILABLE;
  if (rc == CHIRP_EUNAVAILABLE && (!r || r->err)) {
    PGconn *pg = gw_pg();
    rc = pg ? chirp_like_list(pg, by_tweet, id, before, limit, ids, n, next) : CHIRP_EUNAVAILABLE;
  }
  return rc;
}

void h_tweet_likes(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "lk", &limit, &before) ||
      gw_load_tweet(id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = like_page(1, id, before, limit, &ids, &n, &next);
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_accounts(req, rep, ids, n, next ? chirp_cursor_encode("lk", next, cursor) : NULL, limit);
  free(ids);
}

void h_account_likes(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  if (gw_resolve_account(req, rep, &id) || gw_param_paging(req, rep, "al", &limit, &before)) return;
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = like_page(0, id, before, limit, &ids, &n, &next);
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_tweets(req, rep, ids, n, next ? chirp_cursor_encode("al", next, cursor) : NULL, limit);
  free(ids);
}

/* A single top-N list (limit, up to the usual maximum): a ranking that
   moves with every like has no stable pages, so there is no cursor and
   none is taken (an empty one is the first page, as on every list). */
void h_trending_liked(gw_req *req, gw_reply *rep) {
  int64_t before;
  int limit;
  if (gw_param_paging(req, rep, "tr", &limit, &before)) return;
  char raw[GW_MAX_CURSOR];
  size_t len = 0;
  if (gw_query_raw(req, "cursor", raw, sizeof raw, &len) != 0 && len > 0) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "invalid_cursor", "cursor",
                   "trending is one list of the top tweets, without pages: send no cursor");
    return;
  }
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_like_trending(pg, limit, &ids, &n) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_tweets(req, rep, ids, n, NULL, limit);
  free(ids);
}
