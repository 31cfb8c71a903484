/* h_comments.c — comments on tweets: post, list (oldest first), edit, delete. */
#include <stdlib.h>
#include <string.h>

#include "chirp_comment.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_log.h"
#include "chirp_text.h"
#include "chirp_time.h"
#include "guard.h"
#include "gw.h"
#include "handlers.h"
#include "hidden.h"
#include "tweet_load.h"

/* Loads a live comment: Redis, else PostgreSQL.  -1 with a reply set. */
static int load_comment(int64_t id, chirp_comment *c, gw_reply *rep) {
  char *raw = NULL;
  size_t len;
  int deleted = 0;
  redisContext *r = gw_redis();
  int rc = r ? chirp_comment_cache_get(r, id, &raw, &len, &deleted) : CHIRP_EUNAVAILABLE;
  if (rc == 0) {
    json_t *j = json_loadb(raw, len, 0, NULL);
    free(raw);
    rc = j ? chirp_comment_from_json(j, c) : CHIRP_EMALFORMED;
    json_decref(j);
    if (rc == 0) return 0;
  }
  if (!deleted) {
    PGconn *pg = gw_pg();
    rc = pg ? chirp_comment_store_get(pg, id, c) : CHIRP_EUNAVAILABLE;
    if (rc == 0) {
      if (r && !r->err) (void)chirp_comment_cache_put(r, c, gw.cfg.cache_ttl_s);
      if (!c->deleted_ms) return 0;
      chirp_comment_cleanup(c);
      deleted = 1;
    }
  }
  if (deleted || rc == CHIRP_ENOTFOUND)
    gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "no comment has the id %lld", (long long)id);
  else
    gw_reply_from_err(rep, rc);
  return -1;
}

static int check_text(const gw_req *req, gw_reply *rep, const char **text) {
  const char *why;
  if (gw_body_string(req, rep, "text", 1, text)) return -1;
  if (chirp_text_check_body(*text, json_string_length(json_object_get(req->body, "text")),
                            CHIRP_MAX_TWEET_CHARS, &why)) {
    gw_reply_error(rep, CHIRP_EINVAL, why, "text", "text must be 1-%d characters, not only spaces",
                   CHIRP_MAX_TWEET_CHARS);
    return -1;
  }
  return 0;
}

/* Publishes a comment event and mirrors the new state into the cache. */
static int publish(const char *type, const chirp_comment *c, json_t *payload) {
  int rc = gw_publish_event(type, c->author_id, payload);
  redisContext *r = rc ? NULL : gw_redis();
  if (r && chirp_comment_cache_put(r, c, gw.cfg.cache_ttl_s) != 0)
    chirp_warn("comment %lld: cache write failed", (long long)c->id);
  return rc;
}

void h_comment_create(gw_req *req, gw_reply *rep) {
  int64_t tweet_id;
  const char *text;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &tweet_id) || check_text(req, rep, &text) ||
      gw_load_tweet(tweet_id, &t, rep))
    return;
  int64_t tweet_author = t.author_id;
  chirp_tweet_cleanup(&t);
  if (gw_hidden_refuse(req, rep, tweet_author, "id")) return; /* no comment across a block */
  chirp_comment c = {.id = gw_idem_next_id(), .tweet_id = tweet_id,
                     .author_id = req->account_id, .text = (char *)text};
  c.created_ms = chirp_id_time_ms(c.id);
  json_t *cj = chirp_comment_to_json(&c);
  json_t *payload = json_pack("{s:O, s:o}", "comment", cj, "tweet_author_id",
                              chirp_json_id(tweet_author));
  int rc = payload ? publish("comment.created", &c, payload) : CHIRP_ENOMEM;
  json_decref(payload);
  if (rc) {
    json_decref(cj);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_json(rep, 202, cj);
}

/* Takes out the comments of accounts a block stands between the viewer
   and (hidden.h); the page may come out short, its cursor the last comment
   read, so paging stays stable. */
static int drop_hidden(int64_t viewer, json_t *items) {
  gw_hidden h;
  int rc = gw_hidden_load(viewer, &h);
  if (rc) return rc;
  for (size_t i = json_array_size(items); i-- > 0;) {
    int64_t author;
    if (chirp_json_get_id(json_array_get(items, i), "author_id", &author) == 0 &&
        gw_hidden_any(&h, &author, 1, CHIRP_HIDDEN_BLOCKS))
      json_array_remove(items, i);
  }
  gw_hidden_cleanup(&h);
  return 0;
}

void h_comment_list(gw_req *req, gw_reply *rep) {
  int64_t tweet_id, after, next = 0;
  int limit;
  chirp_tweet t;
  if (gw_param_id(req, rep, "id", &tweet_id) || gw_param_paging(req, rep, "cm", &limit, &after) ||
      gw_load_tweet(tweet_id, &t, rep))
    return;
  chirp_tweet_cleanup(&t);
  PGconn *pg = gw_pg();
  json_t *items = NULL;
  int rc = pg ? chirp_comment_store_list(pg, tweet_id, after, limit, &items, &next)
              : CHIRP_EUNAVAILABLE;
  if (!rc) rc = drop_hidden(req->account_id, items);
  if (rc) {
    json_decref(items);
    return gw_reply_from_err(rep, rc);
  }
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode("cm", next, cursor) : NULL, limit);
}

static int load_own(const gw_req *req, gw_reply *rep, chirp_comment *c) {
  int64_t id;
  if (gw_param_id(req, rep, "id", &id) || load_comment(id, c, rep)) return -1;
  if (c->author_id != req->account_id) {
    chirp_comment_cleanup(c);
    gw_reply_error(rep, CHIRP_EFORBIDDEN, NULL, NULL, "only the author may change this comment");
    return -1;
  }
  return 0;
}

/* A change time strictly after the comment's current version. */
static int64_t next_version(const chirp_comment *c) {
  int64_t now = chirp_time_now_ms(), floor = c->edited_ms > c->created_ms ? c->edited_ms : c->created_ms;
  return now > floor ? now : floor + 1;
}

void h_comment_edit(gw_req *req, gw_reply *rep) {
  const char *text;
  chirp_comment c;
  if (check_text(req, rep, &text) || load_own(req, rep, &c)) return;
  free(c.text);
  c.text = strdup(text);
  c.edited_ms = next_version(&c);
  json_t *cj = c.text ? chirp_comment_to_json(&c) : NULL;
  json_t *payload = cj ? json_pack("{s:O}", "comment", cj) : NULL;
  int rc = payload ? publish("comment.edited", &c, payload) : CHIRP_ENOMEM;
  json_decref(payload);
  chirp_comment_cleanup(&c);
  if (rc) {
    json_decref(cj);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_json(rep, 202, cj);
}

void h_comment_delete(gw_req *req, gw_reply *rep) {
  chirp_comment c;
  if (load_own(req, rep, &c)) return;
  c.deleted_ms = next_version(&c);
  json_t *payload = json_pack("{s:o, s:o}", "comment", chirp_comment_to_json(&c), "deleted_at",
                              chirp_json_time(c.deleted_ms));
  int rc = payload ? publish("comment.deleted", &c, payload) : CHIRP_ENOMEM;
  json_decref(payload);
  if (rc == 0)
    gw_reply_json(rep, 202, json_pack("{s:o, s:b, s:o}", "id", chirp_json_id(c.id), "deleted", 1,
                                      "deleted_at", chirp_json_time(c.deleted_ms)));
  else
    gw_reply_from_err(rep, rc);
  chirp_comment_cleanup(&c);
}
