/* stats.c — like/comment counts and liked_by_me, see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_like.h"
#include "chirp_redis.h"
#include "gw.h"

/* A comment counter refilled from PostgreSQL lives this long, so a refill
   that raced a new comment heals by itself. */
#define COUNT_TTL_S 3600

/* One script call for any number of tweets: per tweet (keys: liker set,
   its built flag, comment counter; ARGV[1] the viewer) whether the set is
   built, its size, whether the viewer is in it, and the comment count (-1
   when missing).  One command instead of four per tweet: on a feed page
   that was most of Redis's work. */
static chirp_lua stats_script = CHIRP_LUA(
    "local out = {} "
    "for i = 1, #KEYS, 3 do "
    "  out[#out + 1] = redis.call('EXISTS', KEYS[i + 1]) "
    "  out[#out + 1] = redis.call('SCARD', KEYS[i]) "
    "  out[#out + 1] = redis.call('SISMEMBER', KEYS[i], ARGV[1]) "
    "  out[#out + 1] = tonumber(redis.call('GET', KEYS[i + 2]) or '-1') "
    "end return out");

int gw_stats_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer) {
  size_t argc = 1 + 3 * n;
  const char **argv = malloc(argc * sizeof *argv);
  char(*keys)[CHIRP_KEY_BUFSZ] = malloc((3 * n + 1) * sizeof *keys);
  char who[24];
  int rc;
  if (!argv || !keys) {
    chirp_redis_abandon(r, "out of memory");
    rc = CHIRP_EUNAVAILABLE;
  } else {
    snprintf(who, sizeof who, "%lld", (long long)viewer);
    for (size_t i = 0; i < n; i++) {
      argv[3 * i] = chirp_key_likers(keys[3 * i], ids[i]);
      argv[1 + 3 * i] = chirp_key_likers_ok(keys[3 * i + 1], ids[i]);
      argv[2 + 3 * i] = chirp_key_comment_count(keys[3 * i + 2], ids[i]);
    }
    argv[argc - 1] = who;
    /* By its SHA, never loading it here: a synchronous SCRIPT LOAD on a
       connection with the caller's commands queued would read one of
       their replies as its own.  A NOSCRIPT is handled in gw_stats_read. */
    rc = chirp_redis_append_eval(r, &stats_script, (int)(3 * n), (int)argc, argv, NULL);
  }
  free(argv);
  free(keys);
  return rc;
}

int gw_stats_get(const int64_t *ids, size_t n, int64_t viewer, gw_tweet_stats *out) {
  if (n == 0) return 0;
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  int rc = gw_stats_append(r, ids, n, viewer);
  return rc ? rc : gw_stats_read(r, ids, n, viewer, out);
}

int gw_stats_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_tweet_stats *out) {
  char k1[CHIRP_KEY_BUFSZ], k3[CHIRP_KEY_BUFSZ];
  int rc = 0;
  redisReply *rep = NULL;
  if (chirp_redis_read(r, &rep)) return CHIRP_EUNAVAILABLE;
  if (chirp_redis_noscript(rep)) {
    /* Redis does not know the script (first use, or it restarted): load it
       and ask again, once nothing else is pending on the connection. */
    freeReplyObject(rep);
    rep = NULL;
    if (chirp_redis_pending(r)) {
      chirp_redis_abandon(r, "NOSCRIPT with replies pending");
      return CHIRP_EUNAVAILABLE;
    }
    if (chirp_redis_script_load(r, &stats_script) || gw_stats_append(r, ids, n, viewer) ||
        chirp_redis_read(r, &rep))
      return CHIRP_EUNAVAILABLE;
  }
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 * n) {
    freeReplyObject(rep);
    return CHIRP_EUNAVAILABLE;
  }
  for (size_t i = 0; i < n; i++) {
    redisReply **e = rep->element + 4 * i;
    out[i].likes = e[0]->integer == 1 ? e[1]->integer : -1;
    out[i].liked_by_me = e[2]->integer == 1;
    out[i].comments = e[3]->integer;
  }
  freeReplyObject(rep);
  if (rc) return rc;
  /* What Redis lost comes from PostgreSQL, once, and is put back. */
  for (size_t i = 0; i < n; i++) {
    if (out[i].likes >= 0 && out[i].comments >= 0) continue;
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    if (out[i].likes < 0) {
      if ((rc = chirp_like_build(r, pg, ids[i]))) return rc;
      chirp_key_likers(k1, ids[i]);
      redisReply *a = chirp_redis_command(r, "SCARD %s", k1);
      redisReply *b = chirp_redis_command(r, "SISMEMBER %s %lld", k1, (long long)viewer);
      if (a && a->type == REDIS_REPLY_INTEGER) out[i].likes = a->integer;
      if (b && b->type == REDIS_REPLY_INTEGER) out[i].liked_by_me = b->integer == 1;
      if (a) freeReplyObject(a);
      if (b) freeReplyObject(b);
      if (out[i].likes < 0) return CHIRP_EUNAVAILABLE;
    }
    if (out[i].comments < 0) {
      if ((rc = chirp_comment_store_count(pg, ids[i], &out[i].comments))) return rc;
      redisReply *w = chirp_redis_command(r, "SET %s %lld NX EX %d", chirp_key_comment_count(k3, ids[i]),
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
