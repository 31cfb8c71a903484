/*
 * stats_marks.h — the thread and bookmark numbers of hydrated tweets:
 * reply_count (live replies, a Redis counter per tweet that the persist
 * worker drops when a reply comes or goes, recounted from PostgreSQL in ONE
 * statement for all the page's misses) and
 * bookmarked_by_me (ONE HMGET on the viewer's bookmark hash for the whole
 * page, chirp_bookmark.h).  Appended to the same pipeline as stats.h's
 * numbers: append (before the others), read, (read the others), finish.
 */
#ifndef GW_STATS_MARKS_H
#define GW_STATS_MARKS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_mark_stats {
  long long replies;
  int bookmarked_by_me;
} gw_mark_stats;

/* 0 or CHIRP_EUNAVAILABLE (give the pipeline up). */
int gw_marks_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer);
/* Reads this module's replies only (what others appended after it may
   still be pending)... */
int gw_marks_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_mark_stats *out);
/* ...and, once nothing is pending, recounts what Redis lost from
   PostgreSQL and builds the viewer's bookmark keys if they were lost. */
int gw_marks_finish(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                    gw_mark_stats *out);
/* gw_marks_append, gw_marks_read and gw_marks_finish on their own. */
int gw_marks_get(const int64_t *ids, size_t n, int64_t viewer, gw_mark_stats *out);
/* The JSON members ,"reply_count":N,"bookmarked_by_me":b into buf (cap
   bytes, 64 is enough); returns their length. */
int gw_marks_tail(char *buf, size_t cap, const gw_mark_stats *s);

#endif
