/*
 * h_lists.c — lists: a person's curated timelines, private to their owner
 * (as in Mastodon).  Someone else's list answers 404, never 403: its
 * existence is private too.
 *
 * Writes are validated here and published (list.created, list.updated,
 * list.deleted, list.member_added, list.member_removed); the fan-out role
 * applies them (fanout_lists.h).  Until it did, a change in flight is
 * remembered in Redis for a minute (the pending keys of chirp_keys.h) so
 * the owner reads their own write: a list just created, renamed or
 * deleted, a member just added or removed.  The list of one's lists and of
 * a list's members come from PostgreSQL and show a change once applied.
 *
 * A list's tweets are its own feed (a Redis list of the owner's hash tag,
 * pushed by the fan-out), paged exactly like the home feed (feed_page.h).
 */
#include <stdlib.h>
#include <string.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_list.h"
#include "chirp_log.h"
#include "chirp_redis.h"
#include "chirp_text.h"
#include "chirp_time.h"
#include "feed_page.h"
#include "gw.h"
#include "handlers.h"
#include "hydrate.h"
#include "resolve.h"

/* How long a change just published counts as the state, until the fan-out
   worker has written it to PostgreSQL. */
#define PENDING_TTL_S 60
/* A read gives up after this many rebuilds of a lost list feed. */
#define MAX_REBUILDS 3

/* The pending value of key: 1 with a new string in *out, 0 when none. */
static int pending_get(const char *key, char **out) {
  redisContext *r = gw_redis();
  if (!r) return 0;
  redisReply *rr = redisCommand(r, "GET %s", key);
  int found = !chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING;
  if (found && !(*out = strdup(rr->str))) found = 0;
  if (rr) freeReplyObject(rr);
  return found;
}

/* Remembers a change just published; a failure only costs read-your-writes
   for a moment, so it is logged. */
static void pending_set(const char *key, const char *value) {
  redisContext *r = gw_redis();
  redisReply *rr = r ? redisCommand(r, "SET %s %s EX %d", key, value, PENDING_TTL_S) : NULL;
  if (!rr || (r && chirp_redis_reply_failed(r, rr))) chirp_warn("%s: pending state not kept", key);
  if (rr) freeReplyObject(rr);
}

/* owner's list id: a change in flight first, then PostgreSQL.  0 with
   *list a new JSON object, CHIRP_ENOTFOUND (missing, deleted, another's),
   or CHIRP_EUNAVAILABLE. */
static int list_lookup(int64_t owner, int64_t id, json_t **list) {
  char key[CHIRP_KEY_BUFSZ], *raw = NULL;
  *list = NULL;
  if (pending_get(chirp_key_list_pending(key, owner, id), &raw)) {
    *list = raw[0] ? json_loads(raw, 0, NULL) : NULL;
    int deleted = raw[0] == '\0';
    free(raw);
    if (deleted) return CHIRP_ENOTFOUND;
    if (*list) return 0;
  }
  PGconn *pg = gw_pg();
  return pg ? chirp_list_get(pg, owner, id, list) : CHIRP_EUNAVAILABLE;
}

static void reply_no_list(gw_reply *rep, int64_t id) {
  gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "you have no list %lld", (long long)id);
}

/* The viewer's list named by the route parameter "id": 0 with *list a new
   JSON object, or -1 with a 404 / 503 reply set. */
static int find_list(const gw_req *req, gw_reply *rep, int64_t *id, json_t **list) {
  if (gw_param_id(req, rep, "id", id)) return -1;
  int rc = list_lookup(req->account_id, *id, list);
  if (rc == CHIRP_ENOTFOUND) reply_no_list(rep, *id);
  else if (rc) gw_reply_from_err(rep, rc);
  return rc ? -1 : 0;
}

static int check_title(const gw_req *req, gw_reply *rep, const char **title) {
  const char *why;
  if (gw_body_string(req, rep, "title", 1, title)) return -1;
  size_t len = json_string_length(json_object_get(req->body, "title"));
  if (chirp_text_check_body(*title, len, CHIRP_LIST_TITLE_MAX, &why)) {
    gw_reply_error(rep, CHIRP_EINVAL, why, "title",
                   "title must be 1-%d characters of UTF-8, not only spaces", CHIRP_LIST_TITLE_MAX);
    return -1;
  }
  return 0;
}

/* Publishes type with payload (borrowed) and keeps state (borrowed) as the
   pending list: a dump of it, or "" for a deleted list. */
static int publish_list(gw_req *req, const char *type, const json_t *payload, int64_t id,
                        const json_t *state) {
  int rc = gw_publish_event(type, req->account_id, payload);
  if (rc) return rc;
  char key[CHIRP_KEY_BUFSZ], *dump = state ? json_dumps(state, JSON_COMPACT) : NULL;
  if (!state || dump) pending_set(chirp_key_list_pending(key, req->account_id, id), dump ? dump : "");
  free(dump);
  return 0;
}

void h_list_create(gw_req *req, gw_reply *rep) {
  const char *title;
  if (check_title(req, rep, &title)) return;
  PGconn *pg = gw_pg();
  int64_t have = 0;
  int rc = pg ? chirp_list_count(pg, req->account_id, &have) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  if (have >= gw.cfg.lists_max) {
    gw_reply_error(rep, CHIRP_EINVAL, "too_many", "title", "an account has at most %d lists",
                   gw.cfg.lists_max);
    return;
  }
  int64_t id = chirp_idgen_next(&gw.ids);
  json_t *list = json_pack("{s:o, s:o, s:s, s:o}", "id", chirp_json_id(id), "owner_id",
                           chirp_json_id(req->account_id), "title", title, "created_at",
                           chirp_json_time(chirp_id_time_ms(id)));
  if (!list) return gw_reply_from_err(rep, CHIRP_ENOMEM);
  rc = publish_list(req, "list.created", list, id, list);
  if (rc) {
    json_decref(list);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_json(rep, 202, list);
}

void h_list_get(gw_req *req, gw_reply *rep) {
  int64_t id;
  json_t *list;
  if (find_list(req, rep, &id, &list)) return;
  gw_reply_json(rep, 200, list);
}

void h_lists(gw_req *req, gw_reply *rep) {
  int64_t before, next = 0;
  int limit;
  if (gw_param_paging(req, rep, "lists", &limit, &before)) return;
  PGconn *pg = gw_pg();
  json_t *items = NULL;
  int rc = pg ? chirp_list_page(pg, req->account_id, before, limit, &items, &next)
              : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode("lists", next, cursor) : NULL, limit);
}

void h_list_update(gw_req *req, gw_reply *rep) {
  int64_t id;
  json_t *list;
  const char *title;
  if (check_title(req, rep, &title) || find_list(req, rep, &id, &list)) return;
  if (strcmp(json_string_value(json_object_get(list, "title")), title) == 0) {
    gw_reply_json(rep, 200, list); /* already so: nothing to publish */
    return;
  }
  json_object_set_new(list, "title", json_string(title));
  json_t *payload = json_pack("{s:o, s:o, s:s}", "id", chirp_json_id(id), "owner_id",
                              chirp_json_id(req->account_id), "title", title);
  int rc = payload ? publish_list(req, "list.updated", payload, id, list) : CHIRP_ENOMEM;
  json_decref(payload);
  if (rc) {
    json_decref(list);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_json(rep, 202, list);
}

void h_list_delete(gw_req *req, gw_reply *rep) {
  int64_t id;
  json_t *list;
  if (find_list(req, rep, &id, &list)) return;
  json_decref(list);
  json_t *payload = json_pack("{s:o, s:o}", "id", chirp_json_id(id), "owner_id",
                              chirp_json_id(req->account_id));
  int rc = payload ? publish_list(req, "list.deleted", payload, id, NULL) : CHIRP_ENOMEM;
  json_decref(payload);
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 202,
                json_pack("{s:o, s:b, s:o}", "id", chirp_json_id(id), "deleted", 1, "deleted_at",
                          chirp_json_time(chirp_time_now_ms())));
}

/* Whether account is a member of the viewer's list: a change in flight
   first, then the committed state. */
static int member_state(int64_t owner, int64_t list, int64_t account, int *active) {
  char key[CHIRP_KEY_BUFSZ], *raw = NULL;
  if (pending_get(chirp_key_list_member_pending(key, owner, list, account), &raw)) {
    *active = raw[0] == '1';
    free(raw);
    return 0;
  }
  PGconn *pg = gw_pg();
  return pg ? chirp_list_member_state(pg, list, account, active) : CHIRP_EUNAVAILABLE;
}

static void member_change(gw_req *req, gw_reply *rep, int64_t list, int64_t account, int add) {
  int active = 0;
  int rc = member_state(req->account_id, list, account, &active);
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *body = json_pack("{s:o, s:o, s:b}", "list_id", chirp_json_id(list), "account_id",
                           chirp_json_id(account), "member", add);
  if (!body) return gw_reply_from_err(rep, CHIRP_ENOMEM);
  if (active == add) { /* already so: nothing to publish */
    gw_reply_json(rep, 200, body);
    return;
  }
  if (add) {
    PGconn *pg = gw_pg();
    int64_t have = 0;
    rc = pg ? chirp_list_member_count(pg, list, &have) : CHIRP_EUNAVAILABLE;
    if (!rc && have >= gw.cfg.list_members_max) {
      json_decref(body);
      gw_reply_error(rep, CHIRP_EINVAL, "too_many", "account_id", "a list has at most %d members",
                     gw.cfg.list_members_max);
      return;
    }
  }
  json_t *payload = rc ? NULL
                       : json_pack("{s:o, s:o, s:o}", "list_id", chirp_json_id(list), "owner_id",
                                   chirp_json_id(req->account_id), "account_id",
                                   chirp_json_id(account));
  if (!rc && !payload) rc = CHIRP_ENOMEM;
  if (!rc) rc = gw_publish_event(add ? "list.member_added" : "list.member_removed",
                                 req->account_id, payload);
  json_decref(payload);
  if (rc) {
    json_decref(body);
    return gw_reply_from_err(rep, rc);
  }
  char key[CHIRP_KEY_BUFSZ];
  pending_set(chirp_key_list_member_pending(key, req->account_id, list, account), add ? "1" : "0");
  gw_reply_json(rep, 202, body);
}

void h_list_member_add(gw_req *req, gw_reply *rep) {
  int64_t id, account;
  json_t *list;
  const char *raw_id;
  if (gw_body_string(req, rep, "account_id", 1, &raw_id)) return;
  if (chirp_id_parse(raw_id, &account) != 0) {
    gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "account_id", "account_id must be an id");
    return;
  }
  if (find_list(req, rep, &id, &list)) return;
  json_decref(list);
  char *acc = NULL;
  size_t len = 0;
  int rc = gw_account_public_json(account, &acc, &len);
  free(acc);
  if (rc == CHIRP_ENOTFOUND) {
    gw_reply_error(rep, CHIRP_EINVAL, "no_such_account", "account_id", "no account %lld",
                   (long long)account);
    return;
  }
  if (rc) return gw_reply_from_err(rep, rc);
  member_change(req, rep, id, account, 1);
}

void h_list_member_remove(gw_req *req, gw_reply *rep) {
  int64_t id, account;
  json_t *list;
  if (find_list(req, rep, &id, &list)) return;
  json_decref(list);
  if (gw_param_id(req, rep, "account_id", &account)) return;
  member_change(req, rep, id, account, 0);
}

void h_list_members(gw_req *req, gw_reply *rep) {
  int64_t id, before, next = 0;
  int limit;
  json_t *list;
  if (find_list(req, rep, &id, &list)) return;
  json_decref(list);
  if (gw_param_paging(req, rep, "members", &limit, &before)) return;
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_list_members_page(pg, id, before, limit, &ids, &n, &next) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_accounts(req, rep, ids, n, next ? chirp_cursor_encode("members", next, cursor) : NULL,
                    limit);
  free(ids);
}

struct list_ref {
  int64_t owner, list;
  int checked; /* list_lookup found it during this request */
};

/* The list feed's page from Redis, rebuilt from PostgreSQL when lost.  A
   built list feed of the viewer's hash tag is the viewer's own list (see
   chirp_feed_list_page): the page costs one round trip; only a rebuild
   looks the list up first (CHIRP_ENOTFOUND when it is not theirs). */
static int list_redis_page(struct list_ref *l, int64_t before, size_t want, int64_t *ids,
                           size_t *n) {
  for (int attempt = 0; attempt <= MAX_REBUILDS; attempt++) {
    redisContext *r = gw_redis();
    if (!r) return CHIRP_EUNAVAILABLE;
    int gone = 0;
    int rc = chirp_feed_list_page(r, l->owner, l->list, before, want, ids, n, &gone);
    if (rc != CHIRP_ENOTFOUND || gone) return rc;
    if (!l->checked) {
      json_t *found = NULL;
      if ((rc = list_lookup(l->owner, l->list, &found))) return rc;
      json_decref(found);
      l->checked = 1;
      if (!(r = gw_redis())) return CHIRP_EUNAVAILABLE;
    }
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    if ((rc = chirp_list_rebuild(r, pg, l->owner, l->list, gw.cfg.feed_cap))) return rc;
    chirp_debug("rebuilt list %lld of %lld", (long long)l->list, (long long)l->owner);
  }
  return CHIRP_EINTERNAL;
}

/* A list feed holds tweets only: a page of its ids as feed entries. */
typedef int (*list_ids_fn)(struct list_ref *l, PGconn *pg, int64_t before, size_t want,
                           int64_t *ids, size_t *n);

static int as_entries(list_ids_fn fn, struct list_ref *l, PGconn *pg, int64_t before,
                      size_t want, chirp_feed_entry *out, size_t *n) {
  int64_t *ids = malloc((want ? want : 1) * sizeof *ids);
  if (!ids) return CHIRP_ENOMEM;
  int rc = fn(l, pg, before, want, ids, n);
  for (size_t i = 0; !rc && i < *n; i++) out[i] = (chirp_feed_entry){ids[i], ids[i], 0};
  free(ids);
  return rc;
}

static int list_redis_fn(struct list_ref *l, PGconn *pg, int64_t before, size_t want,
                         int64_t *ids, size_t *n) {
  (void)pg;
  return list_redis_page(l, before, want, ids, n);
}

static int list_pg_fn(struct list_ref *l, PGconn *pg, int64_t before, size_t want, int64_t *ids,
                      size_t *n) {
  return chirp_list_tweets_pg(pg, l->list, before, want, ids, n);
}

static int list_redis_ids(void *arg, int64_t before, size_t want, chirp_feed_entry *out,
                          size_t *n) {
  return as_entries(list_redis_fn, arg, NULL, before, want, out, n);
}

static int list_pg_ids(void *arg, PGconn *pg, int64_t before, size_t want, chirp_feed_entry *out,
                       size_t *n) {
  return as_entries(list_pg_fn, arg, pg, before, want, out, n);
}

void h_list_tweets(gw_req *req, gw_reply *rep) {
  int64_t id, before;
  int limit;
  if (gw_param_id(req, rep, "id", &id) || gw_param_paging(req, rep, "list", &limit, &before))
    return;
  struct list_ref ref = {req->account_id, id, 0};
  gw_feed_source src = {list_redis_ids, list_pg_ids, &ref, "list"};
  gw_feed_reply(req, rep, &src, limit, before);
  if (rep->err == CHIRP_ENOTFOUND) reply_no_list(rep, id);
}
