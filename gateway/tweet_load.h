/*
 * tweet_load.h — loading one live tweet for a handler (tweets, comments,
 * likes and polls all need the tweet a request names): the Redis cache,
 * else PostgreSQL, refilling the cache, counted in the cache hit/miss
 * metrics.
 */
#ifndef GW_TWEET_LOAD_H
#define GW_TWEET_LOAD_H

#include <stdint.h>

#include "chirp_tweet.h"
#include "http.h"

/* Loads the live tweet id into t (the caller's: chirp_tweet_cleanup).
   Returns 0, or sets a reply (404 unknown or deleted, 503 a dependency
   down) and returns -1. */
int gw_load_tweet(int64_t id, chirp_tweet *t, gw_reply *rep);

#endif
