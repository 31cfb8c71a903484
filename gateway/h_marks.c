/*
 * h_marks.c — bookmarks (private: POST/DELETE /tweets/{id}/bookmark,
 * GET /bookmarks) and the pinned tweet (POST/DELETE /tweets/{id}/pin).
 *
 * A bookmark changes the owner's Redis keys first, atomically (so two
 * requests at once make one change and one event), then is published; a
 * failed publish takes the change back (chirp_bookmark.h).  A pin is a
 * last-writer-wins register: published, then written to Redis so the
 * owner sees it at once (chirp_pin.h).  A repeat of a state that already
 * holds answers 200 and publishes nothing.
 */
#include <stdlib.h>

#include "chirp_bookmark.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pin.h"
#include "guard.h"
#include "gw.h"
#include "handlers.h"
#include "hydrate.h"
#include "lcache.h"
#include "tweet_load.h"

static void bookmark_change(gw_req *req, gw_reply *rep, int on) {
  int64_t id, me = req->account_id;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  chirp_tweet_cleanup(&t);
  redisContext *r = gw_redis();
  int64_t event = gw_idem_next_id();
  int result = 0;
  char prior[CHIRP_BOOKMARK_VBUFSZ] = "";
  int rc = r ? chirp_bookmark_set(r, me, id, event, on, 1, &result, prior) : CHIRP_EUNAVAILABLE;
  if (!rc && result == CHIRP_BOOKMARK_UNBUILT) {
    rc = chirp_bookmark_ensure(r, gw_pg(), me);
    if (!rc) rc = chirp_bookmark_set(r, me, id, event, on, 1, &result, prior);
    if (!rc && result == CHIRP_BOOKMARK_UNBUILT) rc = CHIRP_EUNAVAILABLE;
  }
  /* This request's own write, read back at once: the local copy goes now,
     not when Redis's word arrives. */
  char key[CHIRP_KEY_BUFSZ];
  gw_lcache_drop(chirp_key_bookmarks(key, me));
  if (rc) return gw_reply_from_err(rep, rc);
  if (result == 1) {
    json_t *payload = json_pack("{s:o, s:o}", "tweet_id", chirp_json_id(id), "user_id",
                                chirp_json_id(me));
    rc = payload ? gw_publish_event_id(on ? "bookmark.added" : "bookmark.removed", event, me,
                                       payload)
                 : CHIRP_ENOMEM;
    json_decref(payload);
    if (rc) {
      /* Back to the state before: if the event was delivered after all,
         the worker applies it in Redis as in PostgreSQL. */
      if (!(r = gw_redis()) || chirp_bookmark_undo(r, me, id, event, on, prior))
        chirp_warn("bookmark %lld/%lld: could not take back the change in Redis",
                   (long long)me, (long long)id);
      gw_lcache_drop(key);
      return gw_reply_from_err(rep, rc);
    }
  }
  gw_reply_json(rep, result == 1 ? 202 : 200,
                json_pack("{s:o, s:b}", "tweet_id", chirp_json_id(id), "bookmarked", on));
}

void h_bookmark(gw_req *req, gw_reply *rep) { bookmark_change(req, rep, 1); }
void h_unbookmark(gw_req *req, gw_reply *rep) { bookmark_change(req, rep, 0); }

void h_bookmarks(gw_req *req, gw_reply *rep) {
  int64_t before, me = req->account_id;
  int limit;
  if (gw_param_paging(req, rep, "bk", &limit, &before)) return;
  redisContext *r = gw_redis();
  int64_t *tweets = NULL, *events = NULL;
  size_t n = 0;
  int rc = r ? chirp_bookmark_ensure(r, gw_pg(), me) : CHIRP_EUNAVAILABLE;
  /* One more than the page tells whether a next page exists. */
  if (!rc) rc = chirp_bookmark_page(r, me, before, limit + 1, &tweets, &events, &n);
  if (rc) return gw_reply_from_err(rep, rc);
  size_t page = n > (size_t)limit ? (size_t)limit : n;
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_tweets(req, rep, tweets, page,
                  n > page ? chirp_cursor_encode("bk", events[page - 1], cursor) : NULL, limit);
  free(tweets);
  free(events);
}

static void pin_change(gw_req *req, gw_reply *rep, int on) {
  int64_t id, me = req->account_id, cur = 0;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  int64_t author = t.author_id;
  chirp_tweet_cleanup(&t);
  if (author != me)
    return gw_reply_error(rep, CHIRP_EFORBIDDEN, NULL, "id", "only the author may pin this tweet");
  redisContext *r = gw_redis();
  int rc = r ? chirp_pin_get(r, gw_pg(), me, &cur) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  int change = on ? cur != id : cur == id;
  if (change) {
    int64_t event = gw_idem_next_id();
    json_t *payload = json_pack("{s:o, s:o}", "tweet_id", chirp_json_id(id), "account_id",
                                chirp_json_id(me));
    rc = payload ? gw_publish_event_id(on ? "pin.added" : "pin.removed", event, me, payload)
                 : CHIRP_ENOMEM;
    json_decref(payload);
    if (rc) return gw_reply_from_err(rep, rc);
    if (!(r = gw_redis()) || chirp_pin_set(r, me, on ? id : 0, event))
      chirp_warn("pin of %lld: Redis not written; shown once the worker applies it",
                 (long long)me);
  }
  gw_reply_json(rep, change ? 202 : 200,
                json_pack("{s:o, s:b}", "tweet_id", chirp_json_id(id), "pinned", on));
}

void h_pin(gw_req *req, gw_reply *rep) { pin_change(req, rep, 1); }
void h_unpin(gw_req *req, gw_reply *rep) { pin_change(req, rep, 0); }
