/*
 * chirp_redis.h — hiredis connections made from a redis:// URL.
 *
 * A redisContext is not thread-safe: one per thread.  Connect and command
 * timeouts are always set, so a Redis that hangs costs a bounded wait, never
 * a stuck thread.  The caller owns the context (redisFree).
 */
#ifndef CHIRP_REDIS_H
#define CHIRP_REDIS_H

#include <hiredis/hiredis.h>
#include <stdint.h>

/* Parses redis://host:port[/db]; returns 0 or CHIRP_EINVAL. host gets at
   most hostlen-1 bytes. */
int chirp_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db);

/* Connects, sets a timeout of timeout_ms for connect and for every command,
   selects the database.  On success *out is a new context; on failure
   returns CHIRP_EUNAVAILABLE (server down) or CHIRP_EINVAL (bad URL) and
   *out is untouched. */
int chirp_redis_connect(const char *url, int timeout_ms, redisContext **out);

/* True when a reply is an error or missing (the connection then needs a
   reconnect if c->err is set). */
int chirp_redis_reply_failed(const redisContext *c, const redisReply *r);

/* A Lua script run by its SHA (EVALSHA), loaded on first use and again
   after the server forgot it (NOSCRIPT).  Declare one per script with
   CHIRP_LUA(src); it may be shared by threads. */
typedef struct chirp_lua {
  const char *src;
  char sha[41]; /* written once under a lock, then read-only */
} chirp_lua;
#define CHIRP_LUA(source) {(source), {0}}

/* Loads script into Redis if this process has not yet (for callers that
   pipeline EVALSHA themselves with script->sha).  0 or CHIRP_EUNAVAILABLE. */
int chirp_redis_script_ready(redisContext *c, chirp_lua *script);
/* Loads it again (after a NOSCRIPT: Redis restarted). */
int chirp_redis_script_reload(redisContext *c, chirp_lua *script);

/* Runs script with argv (numkeys keys first, then args).  Returns the reply
   (freeReplyObject) or NULL when the connection failed or the script
   raised an error (logged). */
redisReply *chirp_redis_eval(redisContext *c, chirp_lua *script, int numkeys, int argc,
                             const char **argv, const size_t *argvlen);

/* --- versioned cache entries: a hash {v: version, j: JSON} per object --- */

/* Stores json under key unless the cached version is newer (json "" is a
   tombstone).  A reader refilling from an old row can never hide a newer
   write.  0 or CHIRP_EUNAVAILABLE. */
int chirp_cache_put(redisContext *c, const char *key, int64_t version, const char *json,
                    int ttl_s);
/* Replaces the entry only if its version is exactly expect (a
   compare-and-set, for writers that must not interleave): *swapped = 1
   when it did. */
int chirp_cache_swap(redisContext *c, const char *key, int64_t expect, int64_t version,
                     const char *json, int ttl_s, int *swapped);
/* On a hit *json is a new string (free) of *len bytes and returns 0; a
   tombstone returns CHIRP_ENOTFOUND with *deleted = 1, a miss
   CHIRP_ENOTFOUND with *deleted = 0; CHIRP_EUNAVAILABLE on failure. */
int chirp_cache_get(redisContext *c, const char *key, char **json, size_t *len, int *deleted);

/* INCRBY key by delta only when key exists (a counter that was lost must
   be rebuilt from PostgreSQL, not restarted from zero). */
int chirp_counter_add(redisContext *c, const char *key, long long delta);

#endif
