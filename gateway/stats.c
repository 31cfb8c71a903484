/* stats.c — like/comment counts and liked_by_me, see stats.h. */
#include "stats.h"

#include <stdlib.h>

#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_like.h"
#include "chirp_redis.h"
#include "gw.h"

/* A comment counter refilled from PostgreSQL lives this long, so a refill
   that raced a new comment heals by itself. */
#define COUNT_TTL_S 3600

enum { PER_ID = 4 };

void gw_stats_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer) {
  char k1[CHIRP_KEY_BUFSZ], k2[CHIRP_KEY_BUFSZ], k3[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++) {
    chirp_key_likers(k1, ids[i]);
    redisAppendCommand(r, "EXISTS %s", chirp_key_likers_ok(k2, ids[i]));
    redisAppendCommand(r, "SCARD %s", k1);
    redisAppendCommand(r, "SISMEMBER %s %lld", k1, (long long)viewer);
    redisAppendCommand(r, "GET %s", chirp_key_comment_count(k3, ids[i]));
  }
}

int gw_stats_get(const int64_t *ids, size_t n, int64_t viewer, gw_tweet_stats *out) {
  if (n == 0) return 0;
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  gw_stats_append(r, ids, n, viewer);
  return gw_stats_read(r, ids, n, viewer, out);
}

int gw_stats_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_tweet_stats *out) {
  char k1[CHIRP_KEY_BUFSZ], k3[CHIRP_KEY_BUFSZ];
  int rc = 0;
  redisReply *rep[PER_ID];
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < PER_ID; k++)
      if (redisGetReply(r, (void **)&rep[k]) != REDIS_OK) rep[k] = NULL;
    for (int k = 0; k < PER_ID; k++)
      if (!rep[k] || rep[k]->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    if (!rc) {
      int built = rep[0]->integer == 1;
      out[i].likes = rep[1]->integer;
      out[i].liked_by_me = rep[2]->integer == 1;
      out[i].comments = rep[3]->type == REDIS_REPLY_STRING ? strtoll(rep[3]->str, NULL, 10) : -1;
      if (!built) out[i].likes = -1;
    }
    for (int k = 0; k < PER_ID; k++)
      if (rep[k]) freeReplyObject(rep[k]);
  }
  if (rc) return rc;
  /* What Redis lost comes from PostgreSQL, once, and is put back. */
  for (size_t i = 0; i < n; i++) {
    if (out[i].likes >= 0 && out[i].comments >= 0) continue;
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    if (out[i].likes < 0) {
      if ((rc = chirp_like_build(r, pg, ids[i]))) return rc;
      chirp_key_likers(k1, ids[i]);
      redisReply *a = redisCommand(r, "SCARD %s", k1);
      redisReply *b = redisCommand(r, "SISMEMBER %s %lld", k1, (long long)viewer);
      if (a && a->type == REDIS_REPLY_INTEGER) out[i].likes = a->integer;
      if (b && b->type == REDIS_REPLY_INTEGER) out[i].liked_by_me = b->integer == 1;
      if (a) freeReplyObject(a);
      if (b) freeReplyObject(b);
      if (out[i].likes < 0) return CHIRP_EUNAVAILABLE;
    }
    if (out[i].comments < 0) {
      if ((rc = chirp_comment_store_count(pg, ids[i], &out[i].comments))) return rc;
      redisReply *w = redisCommand(r, "SET %s %lld NX EX %d", chirp_key_comment_count(k3, ids[i]),
                                   out[i].comments, COUNT_TTL_S);
      if (w) freeReplyObject(w);
    }
  }
  return 0;
}

void gw_stats_apply(json_t *tweet, const gw_tweet_stats *s) {
  json_object_set_new(tweet, "like_count", json_integer(s->likes));
  json_object_set_new(tweet, "comment_count", json_integer(s->comments));
  json_object_set_new(tweet, "liked_by_me", json_boolean(s->liked_by_me));
}
