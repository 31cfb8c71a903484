/*
 * stats.h — the live numbers of tweets: like count, comment count, and
 * whether the viewer likes each, for any number of tweets in one pipelined
 * Redis round trip (plus a rebuild from PostgreSQL for a set or counter
 * that Redis lost).
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_tweet_stats {
  long long likes;
  long long comments;
  int liked_by_me;
  long long reposts; /* repost_count */
  int reposted_by_me;
  long long quotes;  /* quote_count: live quoting tweets */
} gw_tweet_stats;

/* Fills out[0..n) for ids[0..n) as seen by viewer (0 = anonymous). */
int gw_stats_get(const int64_t *ids, size_t n, int64_t viewer, gw_tweet_stats *out);
/* The same in two halves, so a caller can pipeline its own commands in
   the same round trip: append, (append more), read theirs in order, then
   read these.  gw_stats_append returns 0 or CHIRP_EUNAVAILABLE (the
   connection is then marked broken: give the pipeline up). */
int gw_stats_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer);
int gw_stats_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_tweet_stats *out);
/* Room for gw_stats_tail's text and its NUL. */
#define GW_STATS_TAIL_MAX 192
/* Writes the numbers as members of a tweet's JSON text,
   `,"like_count":N,"comment_count":N,"liked_by_me":B,"repost_count":N,
   "reposted_by_me":B,"quote_count":N` (the same members as gw_stats_apply;
   no closing brace: more members may follow), at buf (GW_STATS_TAIL_MAX
   bytes) with a NUL; returns its length.  The hot reads splice it over the
   cached text's '}'. */
size_t gw_stats_tail(const gw_tweet_stats *s, char *buf);
/* Sets "like_count", "comment_count", "liked_by_me" on a tweet object. */
void gw_stats_apply(json_t *tweet, const gw_tweet_stats *s);

#endif
