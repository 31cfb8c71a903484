/*
 * lcache.h — Redis values held in the gateway process and invalidated by
 * Redis itself (server-assisted client-side caching over RESP2).
 *
 * One thread of the process keeps a connection subscribed to
 * __redis__:invalidate.  Each data connection that reads a value meant for
 * the local cache first turns on CLIENT TRACKING ... REDIRECT <that
 * connection's id> (gw_lcache_track), so Redis remembers the keys it read and
 * sends an invalidation for each to the subscriber when the key changes or
 * goes; the subscriber drops the key here.  While the subscriber is down
 * (or has not subscribed yet) the cache is empty and refuses every entry:
 * invalidations may be lost then, so nothing held could be trusted.  Each
 * (re)subscription flushes it once more and starts a new generation; data
 * connections re-point their tracking at the new subscriber on their next
 * tracked read.
 *
 * Redis sends a change's invalidation before its reply to the writer, so a
 * request that finds none waiting (gw_lcache_begin_request) knows every
 * change anyone has been told of is applied here: a read after a write,
 * through any gateway, is never answered from a stale copy.
 *
 * A read races an invalidation that arrives between the command's send and
 * the store of its reply: every entry is stored with a ticket taken before
 * the send (gw_lcache_ticket), and the store is refused when the key's shard
 * saw any invalidation, or the cache a flush, since.
 *
 * Values are opaque bytes keyed by the Redis key name they came from (a
 * caller may keep several derived facts of one key in one value).  The
 * number of entries is bounded (CHIRP_LOCAL_CACHE, 0 turns it off); every
 * entry also expires after its own deadline (e.g. a session's end).
 * Thread-safe.
 */
#ifndef GW_LCACHE_H
#define GW_LCACHE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* Starts the invalidation subscriber (call once, before serving; a no-op
   when CHIRP_LOCAL_CACHE is 0).  0 or CHIRP_ENOMEM. */
int gw_lcache_start(void);
/* Stops it and frees every entry. */
void gw_lcache_stop(void);

/* Called as each request starts: when invalidations have reached this
   process but are not applied yet, the request reads around the local
   cache (misses only; what it reads from Redis may still be stored). */
void gw_lcache_begin_request(void);

/* What a store must match: taken before the read is sent. */
typedef struct gw_lc_ticket {
  uint64_t gen;   /* 0: no store allowed */
  uint64_t seq;
} gw_lc_ticket;

/* Makes sure r tracks its reads for the current subscriber (one
   synchronous CLIENT TRACKING when it does not yet: call it with nothing
   pipelined on r).  1 when the reads that follow on r may be stored, 0
   when not (cache off or down, or Redis refused). */
int gw_lcache_track(redisContext *r);
/* Forgets this thread's tracked connection (it was replaced). */
void gw_lcache_untrack(void);
/* The ticket for key (gen 0 when nothing may be stored). */
void gw_lcache_ticket(const char *key, gw_lc_ticket *t);

/* A copy of the value of key (free it), *len its size; NULL on a miss. */
void *gw_lcache_get(const char *key, size_t *len);
/* The same into buf (cap bytes: values up to cap - 1 bytes, NUL added):
   1 on a hit, 0 on a miss or a value too long. */
int gw_lcache_get_into(const char *key, void *buf, size_t cap, size_t *len);
/* Stores a copy of val[0..len) under key until expires_ms (CLOCK_REALTIME,
   0 = the default lifetime), unless t no longer holds.  1 when stored. */
int gw_lcache_put(const char *key, const void *val, size_t len, int64_t expires_ms,
                  const gw_lc_ticket *t);
/* Drops key (a writer that changed it need not wait for Redis's word). */
void gw_lcache_drop(const char *key);

/* Counters for /metrics: hits, misses, invalidations, flushes; and whether
   the subscriber is up. */
void gw_lcache_counts(unsigned long long *hits, unsigned long long *misses,
                      unsigned long long *invalidations, unsigned long long *flushes, int *up);

#endif
