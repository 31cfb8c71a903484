/*
 * chirp_poll.h — polls: validation, PostgreSQL store, live counts in Redis.
 *
 * A poll is created with its tweet; its definition travels inside the
 * tweet as {"id", "options": [...], "multiple", "expires_at"} and is stored
 * by the persist worker.  A vote is accepted by the gateway against a Redis
 * set of voters (built from PostgreSQL when missing), which makes "once per
 * user" and the per-option counts exact under concurrency; the persist
 * worker stores the vote and replays it onto the set, so counts converge
 * even after Redis was lost.
 */
#ifndef CHIRP_POLL_H
#define CHIRP_POLL_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "chirp_id.h"

#define CHIRP_POLL_MIN_OPTIONS 2
#define CHIRP_POLL_MAX_OPTIONS 4
#define CHIRP_POLL_MAX_OPTION_CHARS 50
#define CHIRP_POLL_MIN_SECONDS 300
#define CHIRP_POLL_MAX_SECONDS (7 * 86400)

/* Validates a request's {"options", "expires_in", "multiple"?} and makes
   the definition (new reference in *out) with a new id.  On error returns
   CHIRP_EINVAL with *field and *why (static strings) set. */
int chirp_poll_from_request(const json_t *req, int64_t now_ms, chirp_idgen *ids, json_t **out,
                            const char **field, const char **why);

/* Validates choices (a JSON array of 0-based indexes) against a
   definition: CHIRP_EINVAL with *why.  out gets the n distinct indexes. */
int chirp_poll_check_choices(const json_t *def, const json_t *choices, int *out, size_t *n,
                             const char **why);

/* Fields of a definition. */
int chirp_poll_id(const json_t *def, int64_t *id);
int64_t chirp_poll_expires_ms(const json_t *def);
size_t chirp_poll_option_count(const json_t *def);

/* --- PostgreSQL --- */
int chirp_poll_store_create(PGconn *pg, const json_t *def, int64_t tweet_id, int64_t author_id);
/* Stores a vote once: *applied = 0 when the user had voted already. */
int chirp_poll_store_vote(PGconn *pg, int64_t poll, int64_t user, const int *choices, size_t n,
                          int64_t event_id, int64_t at_ms, int *applied);
/* The definition (new reference), the tweet, and its author. */
int chirp_poll_store_get(PGconn *pg, int64_t poll, json_t **def, int64_t *tweet_id,
                         int64_t *author_id);

/* --- Redis --- */
/* Records user's vote: 0 and *accepted = 1, or *accepted = 0 when the user
   had voted.  Builds voters and counts from PostgreSQL first if missing. */
int chirp_poll_vote(redisContext *r, PGconn *pg, int64_t poll, int64_t user, const int *choices,
                    size_t n, int *accepted);
/* Takes back a vote recorded by chirp_poll_vote (its publish failed). */
int chirp_poll_unvote(redisContext *r, int64_t poll, int64_t user, const int *choices, size_t n);
/* Replays a stored vote onto a built voter set (worker side). */
int chirp_poll_replay(redisContext *r, int64_t poll, int64_t user, const int *choices, size_t n);
/* Counts per option (counts[0..nopt)), voters, and whether viewer voted. */
int chirp_poll_results(redisContext *r, PGconn *pg, int64_t poll, size_t nopt, long long *counts,
                       long long *voters, int64_t viewer, int *voted);

#endif
