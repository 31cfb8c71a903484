/*
 * hydrate.h — turns lists of tweet ids into the items clients see: each
 * tweet with its author (id, username, display name, avatar), its like and
 * comment counts and liked_by_me, in a bounded number of Redis round trips
 * whatever the page size (one pipelined read each of the tweets, the
 * authors and the counts), with PostgreSQL only for misses, which are
 * written back to Redis.
 */
#ifndef GW_HYDRATE_H
#define GW_HYDRATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Appends to items (borrowed array) one object per live tweet of ids, in
   order; deleted or unknown ids are left out.  shown[k] receives the id of
   the k-th appended item (shown has room for n); *nshown counts them. */
int gw_hydrate_tweets(const int64_t *ids, size_t n, int64_t viewer, json_t *items, int64_t *shown,
                      size_t *nshown);

#endif
