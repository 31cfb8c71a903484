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
#include "chirp_repost.h"
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

/* Two such set groups per tweet (likers, reposters) and two counters
   (comments, quoting tweets), each handled alike. */
enum { G_LIKES, G_REPOSTS, NGROUPS };
enum { C_COMMENTS, C_QUOTES, NCOUNTERS };
typedef char *(*key_fn)(char *, int64_t);
static const key_fn ok_key[NGROUPS] = {chirp_key_likers_ok, chirp_key_reposters_ok};
static const key_fn set_key[NGROUPS] = {chirp_key_likers, chirp_key_reposters};
static const key_fn counter_key[NCOUNTERS] = {chirp_key_comment_count, chirp_key_quote_count};

/* What gw_stats_append sent for each tweet, for gw_stats_read (the two
   run back to back on one thread). */
enum { NEED_OK = 1, NEED_COUNT = 2, NEED_MEMBER = 4 };
struct group_plan {
  unsigned need;
  gw_lc_ticket t_ok, t_set;
  struct likers have; /* the local entry when there was one */
  int has;
};
struct plan {
  struct group_plan g[NGROUPS];
  int need_counter[NCOUNTERS];
  gw_lc_ticket t_counter[NCOUNTERS];
  long long counter[NCOUNTERS]; /* the local counter when there was one */
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

static int group_append(redisContext *r, int g, int64_t id, int64_t viewer, struct group_plan *p) {
  char k[CHIRP_KEY_BUFSZ], v[32];
  size_t len;
  if (!gw_lcache_get_into(ok_key[g](k, id), v, sizeof v, &len) || strcmp(v, "1") != 0) {
    p->need |= NEED_OK;
    gw_lcache_ticket(k, &p->t_ok);
    if (chirp_redis_append(r, "EXISTS %s", k)) return -1;
  }
  char lb[sizeof(struct likers) + 1];
  if (gw_lcache_get_into(set_key[g](k, id), lb, sizeof lb, &len) && len == sizeof(struct likers)) {
    memcpy(&p->have, lb, sizeof p->have);
    p->has = 1;
  }
  if (!p->has || member_of(&p->have, viewer) < 0) {
    gw_lcache_ticket(k, &p->t_set);
    p->need |= NEED_COUNT;
    if (chirp_redis_append(r, "SCARD %s", k)) return -1;
    if (viewer) {
      p->need |= NEED_MEMBER;
      if (chirp_redis_append(r, "SISMEMBER %s %lld", k, (long long)viewer)) return -1;
    }
  }
  return 0;
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
    for (int g = 0; g < NGROUPS; g++)
      if (group_append(r, g, ids[i], viewer, &p->g[g])) goto fail;
    for (int c = 0; c < NCOUNTERS; c++) {
      size_t len;
      char v[32];
      if (gw_lcache_get_into(counter_key[c](k, ids[i]), v, sizeof v, &len)) {
        p->counter[c] = strtoll(v, NULL, 10);
      } else {
        p->need_counter[c] = 1;
        gw_lcache_ticket(k, &p->t_counter[c]);
        if (chirp_redis_append(r, "GET %s", k)) goto fail;
      }
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

/* One group's replies: *count (-1 when the set is not built) and
   *member. */
static int group_read(redisContext *r, int g, int64_t id, int64_t viewer, struct group_plan *p,
                      long long *count_out, int *member_out) {
  char k[CHIRP_KEY_BUFSZ];
  long long ok = 1, count = p->have.count, member = member_of(&p->have, viewer);
  if (p->need & NEED_OK) {
    if (read_int(r, &ok)) return -1;
    if (ok == 1) (void)gw_lcache_put(ok_key[g](k, id), "1", 1, 0, &p->t_ok);
  }
  if (p->need & NEED_COUNT) {
    if (read_int(r, &count)) return -1;
    member = 0;
    if ((p->need & NEED_MEMBER) && read_int(r, &member)) return -1;
    if (ok == 1) { /* a set not built yet is rebuilt below, not held */
      struct likers l = p->has ? p->have : (struct likers){0};
      l.count = count;
      if (viewer) {
        int slot = l.n < LIKERS_VIEWERS ? l.n++ : (int)(id % LIKERS_VIEWERS);
        l.viewer[slot] = viewer;
        l.member[slot] = member == 1;
      }
      (void)gw_lcache_put(set_key[g](k, id), &l, sizeof l, 0, &p->t_set);
    }
  }
  *count_out = ok == 1 ? count : -1;
  *member_out = member == 1;
  return 0;
}

/* Fills out from the replies and the local entries; stores what Redis
   answered.  -1 when a reply failed (the rest are then abandoned). */
static int read_replies(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                        gw_tweet_stats *out) {
  char k[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++) {
    struct plan *p = &plan[i];
    if (group_read(r, G_LIKES, ids[i], viewer, &p->g[G_LIKES], &out[i].likes,
                   &out[i].liked_by_me) ||
        group_read(r, G_REPOSTS, ids[i], viewer, &p->g[G_REPOSTS], &out[i].reposts,
                   &out[i].reposted_by_me))
      return -1;
    long long *dst[NCOUNTERS] = {&out[i].comments, &out[i].quotes};
    for (int c = 0; c < NCOUNTERS; c++) {
      if (!p->need_counter[c]) {
        *dst[c] = p->counter[c];
        continue;
      }
      redisReply *rep = NULL;
      if (chirp_redis_read(r, &rep)) return -1;
      *dst[c] = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
      if (rep->type == REDIS_REPLY_STRING)
        (void)gw_lcache_put(counter_key[c](k, ids[i]), rep->str, rep->len, 0, &p->t_counter[c]);
      freeReplyObject(rep);
    }
  }
  return 0;
}

/* A set group Redis lost, rebuilt from PostgreSQL and read again. */
static int group_rebuild(redisContext *r, PGconn *pg, int g, int64_t id, int64_t viewer,
                         long long *count, int *member) {
  int rc = g == G_LIKES ? chirp_like_build(r, pg, id) : chirp_repost_build(r, pg, id);
  if (rc) return rc;
  char k[CHIRP_KEY_BUFSZ];
  set_key[g](k, id);
  redisReply *a = chirp_redis_command(r, "SCARD %s", k);
  redisReply *b = chirp_redis_command(r, "SISMEMBER %s %lld", k, (long long)viewer);
  if (a && a->type == REDIS_REPLY_INTEGER) *count = a->integer;
  if (b && b->type == REDIS_REPLY_INTEGER) *member = b->integer == 1;
  if (a) freeReplyObject(a);
  if (b) freeReplyObject(b);
  return *count < 0 ? CHIRP_EUNAVAILABLE : 0;
}

int gw_stats_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_tweet_stats *out) {
  char k3[CHIRP_KEY_BUFSZ];
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
    if (out[i].likes >= 0 && out[i].comments >= 0 && out[i].reposts >= 0 && out[i].quotes >= 0)
      continue;
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    if (out[i].likes < 0 &&
        (rc = group_rebuild(r, pg, G_LIKES, ids[i], viewer, &out[i].likes, &out[i].liked_by_me)))
      return rc;
    if (out[i].reposts < 0 && (rc = group_rebuild(r, pg, G_REPOSTS, ids[i], viewer, &out[i].reposts,
                                                  &out[i].reposted_by_me)))
      return rc;
    if (out[i].comments < 0) {
      if ((rc = chirp_comment_store_count(pg, ids[i], &out[i].comments))) return rc;
      redisReply *w = chirp_redis_command(r, "SET %s %lld NX EX %d", chirp_key_comment_count(k3, ids[i]),
                                   out[i].comments, COUNT_TTL_S);
      if (w) freeReplyObject(w);
    }
    if (out[i].quotes < 0) {
      if ((rc = chirp_repost_quote_count(pg, ids[i], &out[i].quotes))) return rc;
      redisReply *w = chirp_redis_command(r, "SET %s %lld NX EX %d",
                                          chirp_key_quote_count(k3, ids[i]), out[i].quotes,
                                          COUNT_TTL_S);
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
                    by_me[] = ",\"liked_by_me\":", reposts[] = ",\"repost_count\":",
                    reposted[] = ",\"reposted_by_me\":", quotes[] = ",\"quote_count\":";
  char *p = put(buf, likes, sizeof likes - 1);
  p += chirp_num_format(s->likes, p);
  p = put(p, comments, sizeof comments - 1);
  p += chirp_num_format(s->comments, p);
  p = put(p, by_me, sizeof by_me - 1);
  p = s->liked_by_me ? put(p, "true", 4) : put(p, "false", 5);
  p = put(p, reposts, sizeof reposts - 1);
  p += chirp_num_format(s->reposts, p);
  p = put(p, reposted, sizeof reposted - 1);
  p = s->reposted_by_me ? put(p, "true", 4) : put(p, "false", 5);
  p = put(p, quotes, sizeof quotes - 1);
  p += chirp_num_format(s->quotes, p);
  *p = '\0';
  return (size_t)(p - buf);
}

void gw_stats_apply(json_t *tweet, const gw_tweet_stats *s) {
  json_object_set_new(tweet, "like_count", json_integer(s->likes));
  json_object_set_new(tweet, "comment_count", json_integer(s->comments));
  json_object_set_new(tweet, "liked_by_me", json_boolean(s->liked_by_me));
  json_object_set_new(tweet, "repost_count", json_integer(s->reposts));
  json_object_set_new(tweet, "reposted_by_me", json_boolean(s->reposted_by_me));
  json_object_set_new(tweet, "quote_count", json_integer(s->quotes));
}

