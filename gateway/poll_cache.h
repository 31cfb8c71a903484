/*
 * poll_cache.h — a poll's definition cached in Redis (chirp_key_poll),
 * with its tweet_id and author_id: written when the tweet is posted (so a
 * vote finds it before the persist worker stored the poll), read by the
 * poll handlers, refilled from PostgreSQL on a miss.
 */
#ifndef GW_POLL_CACHE_H
#define GW_POLL_CACHE_H

#include <jansson.h>
#include <stdint.h>

#include "http.h"

/* Caches a new poll's definition def (borrowed) of tweet by author. */
void gw_poll_remember(const json_t *def, int64_t tweet, int64_t author);
/* The definition of poll id plus its tweet_id and author_id: Redis, else
   PostgreSQL (refilling Redis).  0 with a new reference in *def; -1 with a
   reply set (404 unknown, 503 a dependency down). */
int gw_poll_load(int64_t id, json_t **def, gw_reply *rep);

#endif
