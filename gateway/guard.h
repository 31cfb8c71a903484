/*
 * guard.h — the per-request checks the dispatcher makes around a handler:
 * rate limits and idempotent retries, both kept in Redis so that every
 * gateway instance shares them.
 *
 * Rate limits: fixed windows of CHIRP_RATE_WINDOW seconds, one counter per
 * client (the account when a token was given, else the client address)
 * and class (read = GET, write = other methods, login = sign-up and log-in
 * attempts).  A busy client's budget is leased to a gateway a slice at a
 * time (guard.c), so it costs Redis one round trip per slice.  When Redis
 * is down, requests are let through (fail open) — losing the limiter must
 * not take the service down with it — but never silently: each one is
 * counted (gw_guard_rate_fail_open, chirp_rate_limit_fail_open_total at
 * /metrics) and a warning is logged at most every 10 s.
 *
 * Idempotency-Key: a write retried with the same key by the same client
 * within 24 h answers the first status and body and does nothing again;
 * the same key with a different request is 422; a retry while the first is
 * still running is 409.
 */
#ifndef GW_GUARD_H
#define GW_GUARD_H

#include "http.h"

/* Counts the request; sets the X-RateLimit-* values on rep and, over
   budget, a 429 reply with Retry-After.  Returns -1 when refused. */
int gw_guard_rate(const gw_route *route, const gw_req *req, gw_reply *rep);
/* Requests let through unchecked since start because Redis failed. */
unsigned long long gw_guard_rate_fail_open(void);

typedef struct gw_idem {
  char key[192]; /* the Redis key, "" when the request has no Idempotency-Key */
} gw_idem;

/* Before the handler: returns 0 to run it, or -1 when rep already holds the
   answer (the stored first answer, 409 or 422). */
int gw_guard_idem_begin(const gw_route *route, const gw_req *req, gw_reply *rep, gw_idem *idem);
/* After the handler: stores the answer (status < 500) or releases the key. */
void gw_guard_idem_end(const gw_idem *idem, int status, const char *body, size_t len);

#endif
