/* h_follows.c — follow, unfollow, and the follower / following lists. */
#include <string.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_follow.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "gw.h"
#include "handlers.h"
#include "hidden.h"
#include "resolve.h"

/* How long a follow change just published counts as the state, until the
   fan-out worker has written it to PostgreSQL. */
#define PENDING_TTL_S 60

/* Whether follower follows followee: a change in flight first, then the
   committed state. */
static int follow_state(int64_t follower, int64_t followee, int *active) {
  char key[CHIRP_KEY_BUFSZ];
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = redisCommand(r, "GET %s", chirp_key_follow_pending(key, follower, followee));
    if (!chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING) {
      *active = rr->str[0] == '1';
      freeReplyObject(rr);
      return 0;
    }
    if (rr) freeReplyObject(rr);
  }
  PGconn *pg = gw_pg();
  return pg ? chirp_follow_state(pg, follower, followee, active) : CHIRP_EUNAVAILABLE;
}

static void follow_change(gw_req *req, gw_reply *rep, int follow) {
  int64_t target;
  if (gw_resolve_account(req, rep, &target)) return;
  if (target == req->account_id) {
    gw_reply_error(rep, CHIRP_EINVAL, "cannot_follow_self", "id", "you cannot %s yourself",
                   follow ? "follow" : "unfollow");
    return;
  }
  /* No follow across a block (an unfollow is always allowed). */
  if (follow && gw_hidden_refuse(req, rep, target, "id")) return;
  int active = 0;
  int rc = follow_state(req->account_id, target, &active);
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *body = json_pack("{s:o, s:o, s:b}", "follower_id", chirp_json_id(req->account_id),
                           "followee_id", chirp_json_id(target), "following", follow);
  if (active == follow) { /* already so: nothing to publish */
    gw_reply_json(rep, 200, body);
    return;
  }
  json_t *payload = json_pack("{s:o, s:o}", "follower_id", chirp_json_id(req->account_id),
                              "followee_id", chirp_json_id(target));
  rc = gw_publish_event(follow ? "follow.added" : "follow.removed", req->account_id, payload);
  json_decref(payload);
  if (rc) {
    json_decref(body);
    return gw_reply_from_err(rep, rc);
  }
  redisContext *r = gw_redis();
  if (r) {
    char key[CHIRP_KEY_BUFSZ];
    redisReply *rr = redisCommand(r, "SET %s %s EX %d",
                                  chirp_key_follow_pending(key, req->account_id, target),
                                  follow ? "1" : "0", PENDING_TTL_S);
    if (rr) freeReplyObject(rr);
  }
  gw_reply_json(rep, 202, body);
}

void h_follow(gw_req *req, gw_reply *rep) { follow_change(req, rep, 1); }
void h_unfollow(gw_req *req, gw_reply *rep) { follow_change(req, rep, 0); }

static void follow_list(gw_req *req, gw_reply *rep, int followers) {
  const char *kind = followers ? "fr" : "fg";
  int64_t id, before, next = 0;
  int limit;
  if (gw_resolve_account(req, rep, &id) || gw_param_paging(req, rep, kind, &limit, &before)) return;
  PGconn *pg = gw_pg();
  json_t *items = NULL;
  int rc = pg ? chirp_follow_list(pg, id, followers, before, limit, &items, &next)
              : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode(kind, next, cursor) : NULL, limit);
}

void h_followers(gw_req *req, gw_reply *rep) { follow_list(req, rep, 1); }
void h_following(gw_req *req, gw_reply *rep) { follow_list(req, rep, 0); }
