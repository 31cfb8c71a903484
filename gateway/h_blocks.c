/*
 * h_blocks.c — blocks and mutes (POST/DELETE /accounts/{id}/block and
 * /mute), the viewer's lists of them (GET /blocks, GET /mutes), and
 * GET /accounts/relationships for many accounts at once.
 *
 * A change is a block.* / mute.* event applied by the fan-out role (a
 * block ends the follows both ways there, in order with the fan-out);
 * like a follow, the change just published counts as the state for a
 * while (a pending key), so a repeat answers 200 and publishes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_block.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_id.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "gw.h"
#include "handlers.h"
#include "hidden.h"
#include "hydrate.h"
#include "resolve.h"

/* How long a change just published counts as the state, until the fan-out
   worker has written it to PostgreSQL (as for follows). */
#define PENDING_TTL_S 60
#define MAX_RELATIONSHIPS 100

/* Whether actor blocks / mutes target: a change in flight first, then the
   committed state. */
static int block_state(enum chirp_block_kind kind, int64_t actor, int64_t target, int *active) {
  char key[CHIRP_KEY_BUFSZ];
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = chirp_redis_command(r, "GET %s", chirp_key_block_pending(key, kind, actor, target));
    if (!chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING) {
      *active = rr->str[0] == '1';
      freeReplyObject(rr);
      return 0;
    }
    if (rr) freeReplyObject(rr);
  }
  PGconn *pg = gw_pg();
  return pg ? chirp_block_state(pg, kind, actor, target, active) : CHIRP_EUNAVAILABLE;
}

static void block_change(gw_req *req, gw_reply *rep, enum chirp_block_kind kind, int on) {
  const char *noun = kind == CHIRP_BLOCK ? "block" : "mute";
  const char *state = kind == CHIRP_BLOCK ? "blocking" : "muting";
  int64_t target;
  if (gw_resolve_account(req, rep, &target)) return;
  if (target == req->account_id) {
    gw_reply_error(rep, CHIRP_EINVAL, kind == CHIRP_BLOCK ? "cannot_block_self" : "cannot_mute_self",
                   "id", "you cannot %s%s yourself", on ? "" : "un", noun);
    return;
  }
  int active = 0;
  int rc = block_state(kind, req->account_id, target, &active);
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *body = json_pack("{s:o, s:o, s:b}", "account_id", chirp_json_id(req->account_id),
                           "target_id", chirp_json_id(target), state, on);
  if (active == on) { /* already so: nothing to publish */
    gw_reply_json(rep, 200, body);
    return;
  }
  json_t *payload = json_pack("{s:o, s:o}", "account_id", chirp_json_id(req->account_id),
                              "target_id", chirp_json_id(target));
  char type[24];
  snprintf(type, sizeof type, "%s.%s", noun, on ? "added" : "removed");
  rc = payload ? gw_publish_event(type, req->account_id, payload) : CHIRP_ENOMEM;
  json_decref(payload);
  if (rc) {
    json_decref(body);
    return gw_reply_from_err(rep, rc);
  }
  redisContext *r = gw_redis();
  if (r) {
    char key[CHIRP_KEY_BUFSZ];
    redisReply *rr = chirp_redis_command(r, "SET %s %s EX %d",
                                         chirp_key_block_pending(key, kind, req->account_id, target),
                                         on ? "1" : "0", PENDING_TTL_S);
    if (rr) freeReplyObject(rr);
    /* A block ends the follows both ways: a follow still counted as in
       flight is over too. */
    for (int way = 0; kind == CHIRP_BLOCK && on && way < 2; way++) {
      rr = chirp_redis_command(r, "SET %s 0 EX %d",
                               way ? chirp_key_follow_pending(key, target, req->account_id)
                                   : chirp_key_follow_pending(key, req->account_id, target),
                               PENDING_TTL_S);
      if (rr) freeReplyObject(rr);
    }
  }
  gw_reply_json(rep, 202, body);
}

void h_block(gw_req *req, gw_reply *rep) { block_change(req, rep, CHIRP_BLOCK, 1); }
void h_unblock(gw_req *req, gw_reply *rep) { block_change(req, rep, CHIRP_BLOCK, 0); }
void h_mute(gw_req *req, gw_reply *rep) { block_change(req, rep, CHIRP_MUTE, 1); }
void h_unmute(gw_req *req, gw_reply *rep) { block_change(req, rep, CHIRP_MUTE, 0); }

/* The viewer's blocked or muted accounts, newest first, as account objects. */
static void block_list(gw_req *req, gw_reply *rep, enum chirp_block_kind kind) {
  const char *cursor_kind = kind == CHIRP_BLOCK ? "bk" : "mt";
  int64_t before, next = 0;
  int limit;
  if (gw_param_paging(req, rep, cursor_kind, &limit, &before)) return;
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_block_list(pg, kind, req->account_id, before, limit, &ids, &n, &next)
              : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_accounts(req, rep, ids, n, next ? chirp_cursor_encode(cursor_kind, next, cursor) : NULL,
                    limit);
  free(ids);
}

void h_blocks(gw_req *req, gw_reply *rep) { block_list(req, rep, CHIRP_BLOCK); }
void h_mutes(gw_req *req, gw_reply *rep) { block_list(req, rep, CHIRP_MUTE); }

/* The ids of the query: every "id", "id[]" (or "id%5B%5D") parameter,
   each a decimal id or several joined by commas; at most
   MAX_RELATIONSHIPS distinct ones.  -1 with a 422 reply set. */
static int query_ids(const gw_req *req, gw_reply *rep, int64_t *ids, size_t *n) {
  const char *url = req->u->http_url, *q = url ? strchr(url, '?') : NULL;
  *n = 0;
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    const char *end = strchr(p, '&'), *stop = end ? end : p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    size_t nl = eq ? (size_t)(eq - p) : (size_t)(stop - p);
    int named = (nl == 2 && strncmp(p, "id", 2) == 0) || (nl == 4 && strncmp(p, "id[]", 4) == 0) ||
                (nl == 8 && strncasecmp(p, "id%5B%5D", 8) == 0);
    if (named && (!eq || eq + 1 == stop)) {
      gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "id", "each id must be an account id");
      return -1;
    }
    for (const char *v = eq ? eq + 1 : stop; named && v < stop;) {
      const char *comma = memchr(v, ',', (size_t)(stop - v)), *vend = comma ? comma : stop;
      char one[32];
      size_t len = (size_t)(vend - v);
      int64_t id;
      if (len == 0 || len >= sizeof one) {
        gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "id", "each id must be an account id");
        return -1;
      }
      memcpy(one, v, len);
      one[len] = '\0';
      if (chirp_id_parse(one, &id) != 0) {
        gw_reply_error(rep, CHIRP_EINVAL, "invalid_id", "id", "each id must be an account id");
        return -1;
      }
      size_t k = 0;
      while (k < *n && ids[k] != id) k++;
      if (k == *n) {
        if (*n == MAX_RELATIONSHIPS) {
          gw_reply_error(rep, CHIRP_EINVAL, "too_many_ids", "id", "at most %d ids at once",
                         MAX_RELATIONSHIPS);
          return -1;
        }
        ids[(*n)++] = id;
      }
      v = comma ? comma + 1 : stop;
    }
    if (!end) break;
    p = end + 1;
  }
  if (*n == 0) {
    gw_reply_error(rep, CHIRP_EINVAL, "missing_id", "id", "give one or more id parameters");
    return -1;
  }
  return 0;
}

/* Per id: the changes still in flight, as pending keys (4 per id: the
   viewer's follow of it, its follow of the viewer, the viewer's block and
   mute of it), all in ONE pipelined round trip.  pending[4 * i + k] is
   '1', '0' or 0 (none). */
static int read_pending(int64_t viewer, const int64_t *ids, size_t n, char *pending) {
  memset(pending, 0, 4 * n);
  redisContext *r = gw_redis();
  if (!r) return 0; /* the committed state then */
  char key[CHIRP_KEY_BUFSZ];
  int ok = 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = chirp_redis_append(r, "GET %s", chirp_key_follow_pending(key, viewer, ids[i])) == 0 &&
         chirp_redis_append(r, "GET %s", chirp_key_follow_pending(key, ids[i], viewer)) == 0 &&
         chirp_redis_append(r, "GET %s", chirp_key_block_pending(key, CHIRP_BLOCK, viewer, ids[i])) == 0 &&
         chirp_redis_append(r, "GET %s", chirp_key_block_pending(key, CHIRP_MUTE, viewer, ids[i])) == 0;
  for (size_t j = 0; ok && j < 4 * n; j++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) {
      ok = 0;
      break;
    }
    if (rep->type == REDIS_REPLY_STRING && rep->len > 0) pending[j] = rep->str[0];
    freeReplyObject(rep);
  }
  if (chirp_redis_pending(r)) chirp_redis_abandon(r, "relationships read failed midway");
  if (!ok) memset(pending, 0, 4 * n);
  return 0;
}

static int pick(char pending, int committed) { return pending ? pending == '1' : committed; }

void h_relationships(gw_req *req, gw_reply *rep) {
  int64_t ids[MAX_RELATIONSHIPS];
  size_t n = 0;
  if (query_ids(req, rep, ids, &n)) return;
  gw_hidden h;
  int rc = gw_hidden_load(req->account_id, &h);
  if (rc) return gw_reply_from_err(rep, rc);
  char pending[4 * MAX_RELATIONSHIPS];
  unsigned follows[MAX_RELATIONSHIPS];
  (void)read_pending(req->account_id, ids, n, pending);
  /* The follow graph lives in PostgreSQL: one statement for every id. */
  PGconn *pg = gw_pg();
  rc = pg ? chirp_block_follow_bits(pg, req->account_id, ids, n, follows) : CHIRP_EUNAVAILABLE;
  json_t *items = rc ? NULL : json_array();
  if (!rc && !items) rc = CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    unsigned f = gw_hidden_flags(&h, ids[i]);
    const char *p = pending + 4 * i;
    json_array_append_new(
        items, json_pack("{s:o, s:b, s:b, s:b, s:b, s:b}", "id", chirp_json_id(ids[i]), "following",
                         pick(p[0], follows[i] & 1), "followed_by", pick(p[1], (follows[i] & 2) != 0),
                         "blocking", pick(p[2], (f & CHIRP_HIDDEN_BLOCKING) != 0), "blocked_by",
                         (f & CHIRP_HIDDEN_BLOCKED_BY) != 0, "muting",
                         pick(p[3], (f & CHIRP_HIDDEN_MUTING) != 0)));
  }
  gw_hidden_cleanup(&h);
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, json_pack("{s:o}", "items", items));
}
