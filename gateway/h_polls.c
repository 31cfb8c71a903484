/*
 * h_polls.c — poll results and votes.  A vote is recorded in Redis first
 * (the voter set makes "once per user" exact), then published; a failed
 * publish takes it back.
 */
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_poll.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "gw.h"
#include "handlers.h"
#include "poll_cache.h"
#include "tweet_load.h"

static void reply_results(gw_req *req, gw_reply *rep, int status, int64_t id, json_t *def) {
  size_t nopt = chirp_poll_option_count(def);
  long long counts[CHIRP_POLL_MAX_OPTIONS] = {0}, voters = 0;
  int voted = 0;
  redisContext *r = gw_redis();
  int rc = r ? chirp_poll_results(r, gw_pg(), id, nopt, counts, &voters, req->account_id, &voted)
             : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  json_t *options = json_array();
  long long total = 0;
  for (size_t i = 0; i < nopt; i++) {
    total += counts[i];
    json_array_append_new(options, json_pack("{s:O, s:I}", "text",
                                             json_array_get(json_object_get(def, "options"), i),
                                             "votes", (json_int_t)counts[i]));
  }
  int expired = chirp_poll_expires_ms(def) <= chirp_time_now_ms();
  gw_reply_json(rep, status,
                json_pack("{s:O, s:O, s:o, s:O, s:O, s:I, s:I, s:b, s:b}", "id",
                          json_object_get(def, "id"), "tweet_id", json_object_get(def, "tweet_id"),
                          "options", options, "multiple", json_object_get(def, "multiple"),
                          "expires_at", json_object_get(def, "expires_at"), "total_votes",
                          (json_int_t)total, "voters", (json_int_t)voters, "voted_by_me", voted,
                          "expired", expired));
}

/* A poll lives as long as its tweet. */
static int load_live_poll(int64_t id, json_t **def, gw_reply *rep) {
  if (gw_poll_load(id, def, rep)) return -1;
  int64_t tweet_id;
  chirp_tweet t;
  if (chirp_json_get_id(*def, "tweet_id", &tweet_id) == 0 && gw_load_tweet(tweet_id, &t, rep) == 0) {
    chirp_tweet_cleanup(&t);
    return 0;
  }
  json_decref(*def);
  if (rep->err == CHIRP_ENOTFOUND)
    gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "no poll has the id %lld", (long long)id);
  return -1;
}

void h_poll_get(gw_req *req, gw_reply *rep) {
  int64_t id;
  json_t *def;
  if (gw_param_id(req, rep, "id", &id) || load_live_poll(id, &def, rep)) return;
  reply_results(req, rep, 200, id, def);
  json_decref(def);
}

void h_poll_vote(gw_req *req, gw_reply *rep) {
  int64_t id;
  json_t *def;
  if (gw_param_id(req, rep, "id", &id) || load_live_poll(id, &def, rep)) return;
  int choices[CHIRP_POLL_MAX_OPTIONS];
  size_t n = 0;
  const char *why;
  const json_t *cj = json_object_get(req->body, "choices");
  int rc;
  if (!cj) {
    gw_reply_error(rep, CHIRP_EINVAL, "missing_field", "choices", "choices is required");
  } else if (chirp_poll_expires_ms(def) <= chirp_time_now_ms()) {
    gw_reply_error(rep, CHIRP_EINVAL, "poll_expired", NULL, "this poll has ended");
  } else if (chirp_poll_check_choices(def, cj, choices, &n, &why)) {
    gw_reply_error(rep, CHIRP_EINVAL, why, "choices",
                   "choices must be distinct 0-based option indexes (one unless multiple)");
  } else {
    redisContext *r = gw_redis();
    int accepted = 0;
    rc = r ? chirp_poll_vote(r, gw_pg(), id, req->account_id, choices, n, &accepted)
           : CHIRP_EUNAVAILABLE;
    if (rc) {
      gw_reply_from_err(rep, rc);
    } else if (!accepted) {
      gw_reply_error(rep, CHIRP_ECONFLICT, "already_voted", NULL, "you have voted in this poll");
    } else {
      json_t *payload = json_pack("{s:o, s:O}", "poll_id", chirp_json_id(id), "choices", cj);
      rc = gw_publish_event("poll.voted", req->account_id, payload);
      json_decref(payload);
      if (rc) {
        if ((r = gw_redis())) (void)chirp_poll_unvote(r, id, req->account_id, choices, n);
        gw_reply_from_err(rep, rc);
      } else {
        reply_results(req, rep, 202, id, def);
      }
    }
  }
  json_decref(def);
}
