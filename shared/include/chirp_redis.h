/*
 * chirp_redis.h — hiredis connections made from a redis:// URL, pipelining
 * with bookkeeping, and Lua scripts run by their SHA.
 *
 * A redisContext is not thread-safe: one per thread.  Connect and command
 * timeouts are always set, so a Redis that hangs costs a bounded wait, never
 * a stuck thread.  The caller owns the context (redisFree).
 *
 * Pipelining: commands sent with chirp_redis_append* are counted per
 * context until their replies are read with chirp_redis_read.  A
 * synchronous call (chirp_redis_command, chirp_redis_eval, a script load)
 * on a context with replies still pending would read one of THOSE replies
 * as its own and shift every later one; these functions refuse it (logged
 * as a bug) and mark the context broken instead.  A context whose pipeline
 * could not be completed (an append failed, a caller gave up) is marked
 * broken too (c->err is set): its owner drops it and reconnects, so no
 * stale reply can ever be read as a new one.
 */
#ifndef CHIRP_REDIS_H
#define CHIRP_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed redis://[[user]:password@]host[:port][/db] URL.  "user:pw@"
   authenticates as an ACL user (AUTH user pw), ":pw@" or "pw@" with the
   password only (AUTH pw); user and password may be percent-encoded. */
typedef struct chirp_redis_url {
  char host[256];
  int port; /* 6379 when not given */
  int db;   /* 0 when not given */
  char user[128];     /* "" when none */
  char password[256]; /* "" when none */
} chirp_redis_url;

/* Parses url into *out: 0, or CHIRP_EINVAL with the reason in why (never
   the password). */
int chirp_redis_parse_url(const char *url, chirp_redis_url *out, char *why, size_t whylen);

/* Connects, sets a timeout of timeout_ms for connect and for every command,
   authenticates when the URL has credentials, selects the database.  On
   success *out is a new context; on failure returns CHIRP_EUNAVAILABLE
   (server down, or it refused the credentials or the database: logged) or
   CHIRP_EINVAL (bad URL) and *out is untouched. */
int chirp_redis_connect(const char *url, int timeout_ms, redisContext **out);

/* True when a reply is an error or missing (the connection then needs a
   reconnect if c->err is set). */
int chirp_redis_reply_failed(const redisContext *c, const redisReply *r);

/* --- pipelining --- */

/* Queues one command; 0, or CHIRP_EUNAVAILABLE when it could not be queued
   (the context is then marked broken: abandon the pipeline). */
int chirp_redis_append(redisContext *c, const char *fmt, ...);
int chirp_redis_append_argv(redisContext *c, int argc, const char **argv, const size_t *lens);
/* Reads the reply of the oldest queued command: 0 with *rep (free it), or
   CHIRP_EUNAVAILABLE (connection lost or nothing pending: marked broken). */
int chirp_redis_read(redisContext *c, redisReply **rep);
/* Replies queued and not read yet on c. */
size_t chirp_redis_pending(const redisContext *c);
/* Gives up a pipeline: marks c broken (its owner drops it). */
void chirp_redis_abandon(redisContext *c, const char *why);

/* One command, sent and answered at once; NULL (and c marked broken) when
   c still has pipelined replies pending, or when it failed. */
redisReply *chirp_redis_command(redisContext *c, const char *fmt, ...);

/* --- Lua scripts --- */

/* A Lua script run by its SHA-1 (EVALSHA), which is computed here from the
   source (the same name Redis gives it), and loaded into Redis when Redis
   answers NOSCRIPT.  Declare one per script with CHIRP_LUA(src); it may be
   shared by threads. */
typedef struct chirp_lua {
  const char *src;
  char sha[41]; /* computed once under a lock; read it through chirp_redis_script_sha */
} chirp_lua;
#define CHIRP_LUA(source) {(source), {0}}

/* Copies the script's SHA-1 (40 hex digits and a NUL) into sha. */
void chirp_redis_script_sha(chirp_lua *script, char sha[41]);
/* Loads the script into Redis (SCRIPT LOAD), e.g. after a pipelined EVALSHA
   answered NOSCRIPT; synchronous, so only with nothing pending.  0 or
   CHIRP_EUNAVAILABLE. */
int chirp_redis_script_load(redisContext *c, chirp_lua *script);
/* Queues EVALSHA of script with argv (numkeys keys first, then args;
   argvlen NULL for NUL-terminated strings).  Its reply may be a NOSCRIPT
   error (chirp_redis_noscript): read every pending reply, load, resend. */
int chirp_redis_append_eval(redisContext *c, chirp_lua *script, int numkeys, int argc,
                            const char **argv, const size_t *argvlen);
/* True when rep is Redis's NOSCRIPT error. */
int chirp_redis_noscript(const redisReply *rep);

/* Runs script with argv (numkeys keys first, then args), loading it on a
   NOSCRIPT.  Returns the reply (freeReplyObject) or NULL when the
   connection failed or the script raised an error (logged). */
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
