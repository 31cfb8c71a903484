/*
 * h_reposts.c — repost / undo, who reposted a tweet, and the tweets
 * quoting one.
 *
 * As likes do: the gateway changes the tweet's repost keys in Redis first
 * (one script: the same repost twice at once has one effect, the other
 * answers 200), then publishes with a confirm; when the publish fails it
 * takes the change back and answers 503.  The fan-out role stores the
 * repost, pushes it into the followers' feeds and writes PostgreSQL's
 * state back to Redis.
 */
#include <stdlib.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_id.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_repost.h"
#include "gw.h"
#include "hidden.h"
#include "handlers.h"
#include "hydrate.h"
#include "lcache.h"
#include "stats.h"
#include "tweet_load.h"

/* The local copies of the tweet's repost numbers go now, not when Redis's
   word arrives: this request reads them back. */
static void drop_local(int64_t tweet) {
  char key[CHIRP_KEY_BUFSZ];
  gw_lcache_drop(chirp_key_reposters(key, tweet));
  gw_lcache_drop(chirp_key_reposters_ok(key, tweet));
}

static void repost_change(gw_req *req, gw_reply *rep, int on) {
  int64_t id;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  int64_t author = t.author_id;
  chirp_tweet_cleanup(&t);
  if (on && gw_hidden_refuse(req, rep, author, "id")) return; /* no repost across a block */
  redisContext *r = gw_redis();
  int changed = 0;
  int64_t event_id = chirp_idgen_next(&gw.ids), repost_id = 0;
  chirp_repost_prior undo;
  int rc = r ? chirp_repost_set(r, gw_pg(), id, req->account_id, on, event_id, &changed, &repost_id,
                                &undo)
             : CHIRP_EUNAVAILABLE;
  drop_local(id);
  if (rc) return gw_reply_from_err(rep, rc);
  if (changed) {
    json_t *payload = json_pack("{s:o, s:o, s:o, s:o}", "tweet_id", chirp_json_id(id), "author_id",
                                chirp_json_id(author), "user_id", chirp_json_id(req->account_id),
                                "repost_id", chirp_json_id(repost_id));
    rc = payload ? gw_publish_event_id(on ? "repost.added" : "repost.removed", event_id,
                                       req->account_id, payload)
                 : CHIRP_ENOMEM;
    json_decref(payload);
    if (rc) {
      r = gw_redis();
      if (!r || chirp_repost_undo(r, &undo) != 0)
        chirp_warn("tweet %lld: could not take back the %s of %lld in Redis (PostgreSQL's state "
                   "is written back by the next event of the pair or a rebuild)",
                   (long long)id, on ? "repost" : "undo", (long long)req->account_id);
      drop_local(id);
      return gw_reply_from_err(rep, rc);
    }
  }
  gw_tweet_stats st = {0};
  rc = gw_stats_get(&id, 1, req->account_id, &st);
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *body = json_pack("{s:o, s:o, s:b, s:I}", "tweet_id", chirp_json_id(id), "user_id",
                           chirp_json_id(req->account_id), "reposted", on, "repost_count",
                           (json_int_t)st.reposts);
  if (body && on) {
    json_object_set_new(body, "repost_id", chirp_json_id(repost_id));
    json_object_set_new(body, "created_at", chirp_json_time(chirp_id_time_ms(repost_id)));
  }
  if (!body) return gw_reply_from_err(rep, CHIRP_ENOMEM);
  gw_reply_json(rep, changed ? 202 : 200, body);
}

void h_repost(gw_req *req, gw_reply *rep) { repost_change(req, rep, 1); }
void h_unrepost(gw_req *req, gw_reply *rep) { repost_change(req, rep, 0); }

void h_tweet_reposts(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "rp", &limit, &before) ||
      gw_load_tweet(id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  int64_t *ids = NULL;
  size_t n = 0;
  redisContext *r = gw_redis();
  int rc = r ? chirp_repost_page(r, gw_pg(), id, before, limit, &ids, &n, &next)
             : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_accounts(req, rep, ids, n, next ? chirp_cursor_encode("rp", next, cursor) : NULL, limit);
  free(ids);
}

void h_tweet_quotes(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "qt", &limit, &before) ||
      gw_load_tweet(id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_repost_quotes(pg, id, before, limit, &ids, &n, &next) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_tweets(req, rep, ids, n, next ? chirp_cursor_encode("qt", next, cursor) : NULL, limit);
  free(ids);
}
