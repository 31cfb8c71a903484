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
 *
 * An ambiguous first attempt (a 5xx after its event went to the broker, as
 * on a confirm timeout: the event may still be delivered) keeps its key: the
 * ids it took (gw_idem_next_id: the new tweet's or comment's id, the event
 * id) were stored with the key before the publish, and the retry runs the
 * handler again with the same ids, so it republishes the same event (same
 * event_id, same tweet id) and the workers' event-id idempotency makes the
 * two deliveries one effect.
 *
 * Sign-up and log-in answers hold a session token, which must exist in
 * clear only in the answer: their stored answer leaves the token out, and
 * a replay answers the stored account with a fresh session (its token
 * stored hashed like every other).
 */
#ifndef GW_GUARD_H
#define GW_GUARD_H

#include "http.h"

/* Counts the request; sets the X-RateLimit-* values on rep and, over
   budget, a 429 reply with Retry-After.  Returns -1 when refused. */
int gw_guard_rate(const gw_route *route, const gw_req *req, gw_reply *rep);
/* Requests let through unchecked since start because Redis failed. */
unsigned long long gw_guard_rate_fail_open(void);

#define GW_IDEM_MAX_IDS 16

typedef struct gw_idem {
  char key[192]; /* the Redis key, "" when the request has no Idempotency-Key */
  int secret;    /* the answer holds a session token (sign-up, log-in) */
  int saved;     /* ids were stored with the key (a publish was attempted) */
  size_t n_ids, n_replay;
  int64_t ids[GW_IDEM_MAX_IDS];    /* taken by this attempt, in order */
  int64_t replay[GW_IDEM_MAX_IDS]; /* the first attempt's, to take again */
} gw_idem;

/* Before the handler: returns 0 to run it, or -1 when rep already holds the
   answer (the stored first answer, 409 or 422).  On 0 the request's ids
   come from idem (gw_idem_next_id) until gw_guard_idem_end. */
int gw_guard_idem_begin(const gw_route *route, const gw_req *req, gw_reply *rep, gw_idem *idem);
/* After the handler: stores the answer (status < 500), keeps the key with
   its ids after an ambiguous publish, or releases it. */
void gw_guard_idem_end(gw_idem *idem, int status, const char *body, size_t len);

/* The next new id of this thread's request: the one its first attempt took
   at the same point when the request retries an ambiguous publish, else a
   fresh one from gw.ids. */
int64_t gw_idem_next_id(void);
/* Call before publishing an event: stores the ids the request took so far
   with its Idempotency-Key (nothing without one).  0, or CHIRP_EUNAVAILABLE
   when they cannot be stored: then do not publish (a retry could not
   republish the same event). */
int gw_idem_before_publish(void);

#endif
