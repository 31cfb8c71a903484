/* stats.c — like/comment counts and liked_by_me, see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_like.h"
#include "chirp_num.h"
#include "chirp_redis.h"
#include "gw.h"
#include "lcache.h"

/* A comment counter refilled from PostgreSQL lives this long, so a refill
   that raced a new comment heals by itself. */
#define COUNT_TTL_S 3600

/* The numbers are single-key commands (pipelined: a cluster-aware client
   can split them by node) and each answer is held in the local cache
   (lcache.h), invalidated by Redis when the key changes: per tweet,
   EXISTS of the liker set's built flag, SCARD of the set, SISMEMBER of the
   viewer (never for the anonymous viewer 0, who likes nothing) and GET of
   the comment counter.  A hot tweet's numbers then cost no round trip.
   Local values: the flag "0"/"1", the counter's text (only when present),
   and for the liker set a struct likers (its size and the memberships of
   the last few viewers asked). */
#define LIKERS_VIEWERS 8
struct likers {
  long long count;
  int n;
  int64_t viewer[LIKERS_VIEWERS];
  char member[LIKERS_VIEWERS];
};

/* What gw_stats_append sent for each tweet, for gw_stats_read (the two
   run back to back on one thread). */
enum { NEED_OK = 1, NEED_COUNT = 2, NEED_MEMBER = 4, NEED_COMMENTS = 8 };
struct plan {
  unsigned need;
  gw_lc_ticket t_ok, t_likers, t_comments;
  struct likers have; /* the local liker entry when there was one */
  int has_likers;
  long long comments; /* the local counter when there was one */
};
static _Thread_local struct plan *plan;
static _Thread_local size_t plan_n;

/* The membership of viewer in a local liker entry: 0/1, or -1 unknown. */
static int member_of(const struct likers *l, int64_t viewer) {
  if (viewer == 0) return 0;
  for (int k = 0; k < l->n; k++)
    if (l->viewer[k] == viewer) return l->member[k];
  return -1;
}

int gw_stats_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer) {
  free(plan);
  plan_n = 0;
  plan = calloc(n ? n : 1, sizeof *plan);
  if (!plan) {
    chirp_redis_abandon(r, "out of memory");
    return CHIRP_EUNAVAILABLE;
  }
  plan_n = n;
  char k[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++) {
    struct plan *p = &plan[i];
    size_t len;
    char v[32];
    if (!gw_lcache_get_into(chirp_key_likers_ok(k, ids[i]), v, sizeof v, &len) ||
        strcmp(v, "1") != 0) {
      p->need |= NEED_OK;
      gw_lcache_ticket(k, &p->t_ok);
      if (chirp_redis_append(r, "EXISTS %s", k)) goto fail;
    }
    char lb[sizeof(struct likers) + 1];
    if (gw_lcache_get_into(chirp_key_likers(k, ids[i]), lb, sizeof lb, &len) &&
        len == sizeof(struct likers)) {
      memcpy(&p->have, lb, sizeof p->have);
      p->has_likers = 1;
    }
    if (!p->has_likers || member_of(&p->have, viewer) < 0) {
      gw_lcache_ticket(k, &p->t_likers);
      p->need |= NEED_COUNT;
      if (chirp_redis_append(r, "SCARD %s", k)) goto fail;
      if (viewer) {
        p->need |= NEED_MEMBER;
        if (chirp_redis_append(r, "SISMEMBER %s %lld", k, (long long)viewer)) goto fail;
      }
    }
    if (gw_lcache_get_into(chirp_key_comment_count(k, ids[i]), v, sizeof v, &len)) {
      p->comments = strtoll(v, NULL, 10);
    } else {
      p->need |= NEED_COMMENTS;
      gw_lcache_ticket(k, &p->t_comments);
      if (chirp_redis_append(r, "GET %s", k)) goto fail;
    }
  }
  return 0;
fail:
  free(plan);
  plan = NULL;
  plan_n = 0;
  return CHIRP_EUNAVAILABLE;
}

int gw_stats_get(const int64_t *ids, size_t n, int64_t viewer, gw_tweet_stats *out) {
  if (n == 0) return 0;
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  gw_lcache_track(r);
  int rc = gw_stats_append(r, ids, n, viewer);
  return rc ? rc : gw_stats_read(r, ids, n, viewer, out);
}

/* Reads one integer reply; -1 when it failed. */
static int read_int(redisContext *r, long long *v) {
  redisReply *rep = NULL;
  if (chirp_redis_read(r, &rep)) return -1;
  int ok = rep->type == REDIS_REPLY_INTEGER;
  if (ok) *v = rep->integer;
  freeReplyObject(rep);
  return ok ? 0 : -1;
}

/* Fills out from the replies and the local entries; stores what Redis
   answered.  -1 when a reply failed (the rest are then abandoned). */
static int read_replies(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                        gw_tweet_stats *out) {
  char k[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++) {
    struct plan *p = &plan[i];
    long long ok = 1, count = p->have.count, member = member_of(&p->have, viewer);
    if (p->need & NEED_OK) {
      if (read_int(r, &ok)) return -1;
      if (ok == 1) (void)gw_lcache_put(chirp_key_likers_ok(k, ids[i]), "1", 1, 0, &p->t_ok);
    }
    if (p->need & NEED_COUNT) {
      if (read_int(r, &count)) return -1;
      member = 0;
      if ((p->need & NEED_MEMBER) && read_int(r, &member)) return -1;
      if (ok == 1) { /* a set not built yet is rebuilt below, not held */
        struct likers l = p->has_likers ? p->have : (struct likers){0};
        l.count = count;
        if (viewer) {
          int slot = l.n < LIKERS_VIEWERS ? l.n++ : (int)(ids[i] % LIKERS_VIEWERS);
          l.viewer[slot] = viewer;
          l.member[slot] = member == 1;
        }
        (void)gw_lcache_put(chirp_key_likers(k, ids[i]), &l, sizeof l, 0, &p->t_likers);
      }
    }
    out[i].likes = ok == 1 ? count : -1;
    out[i].liked_by_me = member == 1;
    if (p->need & NEED_COMMENTS) {
      redisReply *rep = NULL;
      if (chirp_redis_read(r, &rep)) return -1;
      out[i].comments = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
      if (rep->type == REDIS_REPLY_STRING)
        (void)gw_lcache_put(chirp_key_comment_count(k, ids[i]), rep->str, rep->len, 0,
                            &p->t_comments);
      freeReplyObject(rep);
    } else {
      out[i].comments = p->comments;
    }
  }
  return 0;
}

int gw_stats_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_tweet_stats *out) {
  char k1[CHIRP_KEY_BUFSZ], k3[CHIRP_KEY_BUFSZ];
  int rc = 0;
  if (!plan || plan_n != n) {
    chirp_error("stats: read without its append (a bug)");
    return CHIRP_EINTERNAL;
  }
  int bad = read_replies(r, ids, n, viewer, out);
  free(plan);
  plan = NULL;
  plan_n = 0;
  if (bad) {
    if (chirp_redis_pending(r)) chirp_redis_abandon(r, "the numbers failed midway");
    return CHIRP_EUNAVAILABLE;
  }
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

/* Appends the n bytes of s at *p. */
static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

size_t gw_stats_tail(const gw_tweet_stats *s, char *buf) {
  static const char likes[] = ",\"like_count\":", comments[] = ",\"comment_count\":",
                    by_me[] = ",\"liked_by_me\":";
  char *p = put(buf, likes, sizeof likes - 1);
  p += chirp_num_format(s->likes, p);
  p = put(p, comments, sizeof comments - 1);
  p += chirp_num_format(s->comments, p);
  p = put(p, by_me, sizeof by_me - 1);
  p = s->liked_by_me ? put(p, "true}", 5) : put(p, "false}", 6);
  *p = '\0';
  return (size_t)(p - buf);
}

void gw_stats_apply(json_t *tweet, const gw_tweet_stats *s) {
  json_object_set_new(tweet, "like_count", json_integer(s->likes));
  json_object_set_new(tweet, "comment_count", json_integer(s->comments));
  json_object_set_new(tweet, "liked_by_me", json_boolean(s->liked_by_me));
}
