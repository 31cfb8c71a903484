/*
 * session_cache.h — a bearer token's account from the gateway's local
 * cache (lcache.h), filled from Redis's session entry and dropped when Redis
 * says that entry changed or went (log-out, account deletion, expiry): a
 * busy client's requests authenticate without a Redis round trip, and a
 * revoked token is refused at once by every gateway.
 */
#ifndef GW_SESSION_CACHE_H
#define GW_SESSION_CACHE_H

#include <hiredis/hiredis.h>
#include <stdint.h>

/* 0 with *account_id; CHIRP_EUNAUTHORIZED for a malformed token or one
   Redis remembers as unknown; CHIRP_ENOTFOUND when Redis has no entry (ask
   PostgreSQL); CHIRP_EUNAVAILABLE when Redis failed. */
int gw_session_cached(redisContext *r, const char *token, int64_t *account_id);

/* Drops token's local copy (this gateway logged it out; Redis tells the
   others). */
void gw_session_forget(const char *token);

#endif
