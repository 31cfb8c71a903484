/*
 * h_tweets.c — posting, reading, editing and deleting tweets, their edit
 * history, and an account's timeline.
 *
 * Writes are validated here, published as events (the 202 comes only after
 * the broker's confirm), and written into the Redis cache so the author
 * reads their own write at once; the persist worker makes them durable in
 * PostgreSQL.  Reads come from Redis and fall back to PostgreSQL.
 */
#include <stdlib.h>
#include <string.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pin.h"
#include "chirp_poll.h"
#include "chirp_redis.h"
#include "chirp_text.h"
#include "chirp_time.h"
#include "chirp_tweet.h"
#include "guard.h"
#include "lcache.h"
#include "gw.h"
#include "handlers.h"
#include "hidden.h"
#include "hydrate.h"
#include "poll_cache.h"
#include "resolve.h"
#include "stats.h"
#include "stats_marks.h"
#include "tweet_load.h"

/* Publishes an event and mirrors the new state into the cache. */
static int publish_and_cache(const char *type, int64_t actor, json_t *payload,
                             const chirp_tweet *state, const char *text) {
  int rc = gw_publish_event(type, actor, payload);
  if (rc) return rc;
  redisContext *r = gw_redis();
  char key[CHIRP_KEY_BUFSZ];
  if (r && chirp_tweet_cache_put_text(r, state, text, gw.cfg.cache_ttl_s) != 0)
    chirp_warn("tweet %lld: cache write failed; readers fall back to PostgreSQL",
               (long long)state->id);
  /* Redis tells every gateway holding it a moment later; this one at once. */
  gw_lcache_drop(chirp_key_tweet(key, state->id));
  return 0;
}

static int check_text(const gw_req *req, gw_reply *rep, const char **text) {
  const char *why;
  if (gw_body_string(req, rep, "text", 1, text)) return -1;
  size_t len = json_string_length(json_object_get(req->body, "text"));
  if (chirp_text_check_body(*text, len, CHIRP_MAX_TWEET_CHARS, &why)) {
    gw_reply_error(rep, CHIRP_EINVAL, why, "text",
                   "text must be 1-%d characters of UTF-8, not only spaces",
                   CHIRP_MAX_TWEET_CHARS);
    return -1;
  }
  return 0;
}

void h_tweet_create(gw_req *req, gw_reply *rep) {
  const char *text, *reply_to, *quote_of;
  if (check_text(req, rep, &text) || gw_body_string(req, rep, "reply_to", 0, &reply_to) ||
      gw_body_string(req, rep, "quote_of", 0, &quote_of))
    return;
  chirp_tweet t = {.author_id = req->account_id};
  const json_t *poll = json_object_get(req->body, "poll");
  if (poll && !json_is_null(poll)) {
    const char *field, *why;
    int rc = chirp_poll_from_request(poll, chirp_time_now_ms(), &gw.ids, &t.poll, &field, &why);
    if (rc) {
      gw_reply_error(rep, rc, why, field,
                     "a poll has 2-4 options of 1-50 characters, expires_in of 300-604800 "
                     "seconds, and an optional boolean multiple");
      return;
    }
  }
  if (reply_to) {
    chirp_tweet parent;
    if (chirp_id_parse(reply_to, &t.reply_to) != 0) {
      gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "reply_to", "reply_to must be a tweet id");
      return;
    }
    if (gw_load_tweet(t.reply_to, &parent, rep)) {
      if (rep->err == CHIRP_ENOTFOUND)
        gw_reply_error(rep, CHIRP_EINVAL, "not_found", "reply_to",
                       "reply_to names no live tweet");
      json_decref(t.poll);
      return;
    }
    int64_t parent_author = parent.author_id;
    chirp_tweet_cleanup(&parent);
    /* No reply across a block. */
    if (gw_hidden_refuse(req, rep, parent_author, "reply_to")) {
      json_decref(t.poll);
      return;
    }
  }
  if (quote_of) { /* as reply_to: a tweet that is not there to quote is the body's fault */
    chirp_tweet quoted;
    if (chirp_id_parse(quote_of, &t.quote_of) != 0) {
      gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "quote_of", "quote_of must be a tweet id");
      json_decref(t.poll);
      return;
    }
    if (gw_load_tweet(t.quote_of, &quoted, rep)) {
      if (rep->err == CHIRP_ENOTFOUND)
        gw_reply_error(rep, CHIRP_EINVAL, "not_found", "quote_of",
                       "quote_of names no live tweet");
      json_decref(t.poll);
      return;
    }
    int64_t quoted_author = quoted.author_id;
    chirp_tweet_cleanup(&quoted);
    /* No quote across a block. */
    if (gw_hidden_refuse(req, rep, quoted_author, "quote_of")) {
      json_decref(t.poll);
      return;
    }
  }
  /* Ids through the Idempotency-Key: a retry of an ambiguous publish makes
     the same tweet (and poll) again, not a second one. */
  if (t.poll) json_object_set_new(t.poll, "id", chirp_json_id(gw_idem_next_id()));
  t.id = gw_idem_next_id();
  t.created_ms = chirp_id_time_ms(t.id);
  t.text = (char *)text; /* borrowed from the body for the call; not freed */
  json_t *j = chirp_tweet_to_json(&t);
  /* One text for the cache and the answer (the same bytes: encoding the
     tweet was a third of a POST's instructions, done three times). */
  char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
  int rc = body ? publish_and_cache("tweet.created", t.author_id, j, &t, body) : CHIRP_ENOMEM;
  if (!rc && t.poll) gw_poll_remember(t.poll, t.id, t.author_id);
  json_decref(t.poll);
  json_decref(j);
  if (rc) {
    free(body);
    return gw_reply_from_err(rep, rc);
  }
  rep->status = 202;
  rep->raw = body;
  rep->raw_len = strlen(body);
}

/* The cached JSON with the live numbers spliced in before its closing
   brace: the hot path never decodes and re-encodes the tweet. */
static int splice_stats(gw_reply *rep, char *raw, size_t len, const gw_tweet_stats *st,
                        const gw_mark_stats *ms) {
  char tail[GW_STATS_TAIL_MAX + 64];
  size_t n = gw_stats_tail(st, tail);
  n += (size_t)gw_marks_tail(tail + n, sizeof tail - n - 2, ms);
  tail[n++] = '}';
  tail[n] = '\0';
  char *out = len && raw[len - 1] == '}' ? realloc(raw, len + n) : NULL;
  if (!out) {
    free(raw);
    return CHIRP_EINTERNAL;
  }
  memcpy(out + len - 1, tail, n + 1);
  rep->raw = out;
  rep->raw_len = len - 1 + n;
  return 0;
}

void h_tweet_get(gw_req *req, gw_reply *rep) {
  int64_t id;
  if (gw_param_id(req, rep, "id", &id)) return;
  int deleted = 0;
  char *raw = NULL;
  size_t len = 0;
  gw_tweet_stats st;
  gw_mark_stats ms;
  redisContext *r = gw_redis();
  if (r) {
    /* The tweet and its numbers from the local cache when held there
       (lcache.h), the rest in one round trip, held for the next reader. */
    char key[CHIRP_KEY_BUFSZ];
    gw_lc_ticket ticket;
    redisReply *hit = NULL;
    gw_lcache_track(r);
    chirp_key_tweet(key, id);
    raw = gw_lcache_get(key, &len);
    int local = raw != NULL;
    if (!local) gw_lcache_ticket(key, &ticket);
    int ok = (local || chirp_redis_append(r, "HGET %s j", key) == 0) &&
             gw_marks_append(r, &id, 1, req->account_id) == 0 &&
             gw_stats_append(r, &id, 1, req->account_id) == 0 &&
             (local || chirp_redis_read(r, &hit) == 0);
    int marks_ok = ok && gw_marks_read(r, &id, 1, req->account_id, &ms) == 0;
    int stats_ok = marks_ok && gw_stats_read(r, &id, 1, req->account_id, &st) == 0 &&
                   gw_marks_finish(r, &id, 1, req->account_id, &ms) == 0;
    if (!local && ok && hit->type == REDIS_REPLY_STRING) {
      (void)gw_lcache_put(key, hit->str, hit->len, 0, &ticket);
      if (hit->len > 0 && (raw = malloc(hit->len + 1))) {
        memcpy(raw, hit->str, hit->len);
        len = hit->len;
        raw[len] = '\0';
      }
    }
    deleted = (ok && hit && hit->type == REDIS_REPLY_STRING && hit->len == 0) ||
              (local && len == 0);
    if (hit) freeReplyObject(hit);
    if (deleted) {
      free(raw);
      gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "no tweet has the id %lld", (long long)id);
      return;
    }
    if (stats_ok && raw) {
      if (splice_stats(rep, raw, len, &st, &ms) == 0) { /* takes raw */
        gw_cache_hits++;
        rep->status = 200;
        return;
      }
      rep->raw = NULL;
    } else {
      free(raw);
    }
    if (chirp_redis_pending(r)) chirp_redis_abandon(r, "tweet read failed midway");
  }
  chirp_tweet t;
  if (gw_load_tweet(id, &t, rep)) return;
  int rc = gw_stats_get(&id, 1, req->account_id, &st);
  if (!rc) rc = gw_marks_get(&id, 1, req->account_id, &ms);
  if (rc) {
    chirp_tweet_cleanup(&t);
    return gw_reply_from_err(rep, rc);
  }
  json_t *j = chirp_tweet_to_json(&t);
  gw_stats_apply(j, &st);
  json_object_set_new(j, "reply_count", json_integer(ms.replies));
  json_object_set_new(j, "bookmarked_by_me", json_boolean(ms.bookmarked_by_me));
  gw_reply_json(rep, 200, j);
  chirp_tweet_cleanup(&t);
}

/* Loads the tweet of the route and checks the caller wrote it. */
static int load_own_tweet(const gw_req *req, gw_reply *rep, chirp_tweet *t) {
  int64_t id;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, t, rep)) return -1;
  if (t->author_id != req->account_id) {
    gw_reply_error(rep, CHIRP_EFORBIDDEN, NULL, NULL, "only the author may change this tweet");
    chirp_tweet_cleanup(t);
    return -1;
  }
  return 0;
}

/* A change time strictly after the tweet's current version, so that the
   versions of one tweet are totally ordered even within a millisecond. */
static int64_t next_version_ms(const chirp_tweet *t) {
  int64_t now = chirp_time_now_ms(), floor = chirp_tweet_version(t);
  if (floor < t->created_ms) floor = t->created_ms;
  return now > floor ? now : floor + 1;
}

/* Publishes a change from old to now of one tweet.  The change first
   takes its place in the cache by compare-and-set against the version the
   caller read, so two concurrent changes cannot both build on the same
   version (the second gets 409 and retries on fresh data) and every edit
   gets its own version; a failed publish hands the place back. */
static int publish_change(const char *type, const chirp_tweet *old, const chirp_tweet *now,
                          json_t *payload, gw_reply *rep) {
  redisContext *r = gw_redis();
  int swapped = 0;
  int rc = r ? chirp_tweet_cache_swap(r, old, now, gw.cfg.cache_ttl_s, &swapped)
             : CHIRP_EUNAVAILABLE;
  char key[CHIRP_KEY_BUFSZ];
  gw_lcache_drop(chirp_key_tweet(key, now->id)); /* at once here; Redis tells the others */
  if (!rc && !swapped) {
    gw_reply_error(rep, CHIRP_ECONFLICT, "edit_conflict", NULL,
                   "the tweet changed meanwhile; fetch it again and retry");
    return -1;
  }
  if (!rc) rc = gw_publish_event(type, now->author_id, payload);
  if (rc) {
    if (swapped && (r = gw_redis())) (void)chirp_tweet_cache_swap(r, now, old, gw.cfg.cache_ttl_s, &swapped);
    gw_lcache_drop(key);
    gw_reply_from_err(rep, rc);
    return -1;
  }
  return 0;
}

void h_tweet_edit(gw_req *req, gw_reply *rep) {
  const char *text;
  chirp_tweet t;
  if (check_text(req, rep, &text) || load_own_tweet(req, rep, &t)) return;
  chirp_tweet old = t; /* shares t's text and poll; t is the one cleaned up */
  int64_t prev_since = t.edited_ms ? t.edited_ms : t.created_ms;
  char *prev_text = t.text;
  t.text = (char *)text;
  t.edited_ms = next_version_ms(&old);
  json_t *tj = chirp_tweet_to_json(&t);
  json_t *payload = json_pack("{s:O, s:s, s:o}", "tweet", tj, "previous_text", prev_text,
                              "previous_since", chirp_json_time(prev_since));
  int rc = payload ? publish_change("tweet.edited", &old, &t, payload, rep) : -1;
  if (!payload) gw_reply_from_err(rep, CHIRP_ENOMEM);
  json_decref(payload);
  t.text = prev_text;
  chirp_tweet_cleanup(&t);
  if (rc) {
    json_decref(tj);
    return;
  }
  gw_reply_json(rep, 202, tj);
}

void h_tweet_delete(gw_req *req, gw_reply *rep) {
  chirp_tweet t;
  if (load_own_tweet(req, rep, &t)) return;
  chirp_tweet old = t;
  t.deleted_ms = next_version_ms(&old);
  json_t *payload = json_pack("{s:o, s:o}", "tweet", chirp_tweet_to_json(&t), "deleted_at",
                              chirp_json_time(t.deleted_ms));
  int rc = payload ? publish_change("tweet.deleted", &old, &t, payload, rep) : -1;
  if (!payload) gw_reply_from_err(rep, CHIRP_ENOMEM);
  json_decref(payload);
  if (rc == 0)
    gw_reply_json(rep, 202, json_pack("{s:o, s:b, s:o}", "id", chirp_json_id(t.id), "deleted", 1,
                                      "deleted_at", chirp_json_time(t.deleted_ms)));
  chirp_tweet_cleanup(&t);
}

void h_tweet_history(gw_req *req, gw_reply *rep) {
  int64_t id;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &id) || gw_load_tweet(id, &t, rep)) return;
  PGconn *pg = gw_pg();
  json_t *older = NULL;
  int rc = pg ? chirp_tweet_store_history(pg, id, &older) : CHIRP_EUNAVAILABLE;
  if (rc) {
    chirp_tweet_cleanup(&t);
    return gw_reply_from_err(rep, rc);
  }
  json_t *items = json_array();
  json_array_append_new(items, json_pack("{s:s, s:o, s:n}", "text", t.text, "since",
                                         chirp_json_time(t.edited_ms ? t.edited_ms : t.created_ms),
                                         "until"));
  json_array_extend(items, older);
  json_decref(older);
  chirp_tweet_cleanup(&t);
  gw_reply_list(rep, req, items, NULL, 0);
}

/* The author's tweets, newest first, hydrated like the feed's items.  The
   pinned tweet (chirp_pin.h) comes first on the first page, marked
   "pinned": true, and is left out further down; a pinned tweet that was
   deleted is simply not shown. */
void h_account_tweets(gw_req *req, gw_reply *rep) {
  int64_t author, before, pinned = 0;
  int limit;
  if (gw_resolve_account(req, rep, &author) || gw_param_paging(req, rep, "ut", &limit, &before))
    return;
  PGconn *pg = gw_pg();
  redisContext *r = gw_redis();
  chirp_tweet *tweets = NULL;
  size_t n = 0;
  int rc = r ? chirp_pin_get(r, pg, author, &pinned) : CHIRP_EUNAVAILABLE;
  /* One row more than the page tells whether a next page exists. */
  if (!rc) rc = pg ? chirp_tweet_store_list_by_author(pg, author, before, limit + 1, &tweets, &n)
                   : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  size_t page = n > (size_t)limit ? (size_t)limit : n, m = 0;
  int64_t *ids = malloc((page + 1) * sizeof *ids), *shown = malloc((page + 1) * sizeof *shown);
  json_t *items = json_array();
  char cursor[CHIRP_CURSOR_BUFSZ];
  const char *next = n > page ? chirp_cursor_encode("ut", tweets[page - 1].id, cursor) : NULL;
  rc = ids && shown && items ? 0 : CHIRP_ENOMEM;
  if (!rc && pinned && !before) ids[m++] = pinned;
  for (size_t i = 0; !rc && i < page; i++)
    if (tweets[i].id != pinned) ids[m++] = tweets[i].id;
  chirp_tweet_array_free(tweets, n);
  size_t got = 0;
  if (!rc) rc = gw_hydrate_tweets(ids, m, req->account_id, items, shown, &got);
  if (!rc && pinned && !before && got && shown[0] == pinned)
    json_object_set_new(json_array_get(items, 0), "pinned", json_true());
  free(ids);
  free(shown);
  if (rc) {
    json_decref(items);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_list(rep, req, items, next, limit);
}
