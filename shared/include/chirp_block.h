/*
 * chirp_block.h — blocks and mutes in PostgreSQL, and each account's
 * "hidden set" (the accounts it blocks, those that block it, those it
 * mutes) as the Redis cache holds it.
 *
 * Like follows, a block or mute event carries its event id, which orders
 * events in time: the store keeps, per (kind, actor, target), the state set
 * by the newest event it has seen, so events applied in any order, or
 * twice, settle on the same state.  Every real change bumps the hidden-set
 * version of the accounts whose set it changed (both sides of a block, the
 * muter of a mute) in the same transaction; the Redis copy of a set carries
 * its version and is never replaced by an older one.
 *
 * Redis: chirp:hid:{id} is a versioned cache entry (chirp_cache_put) whose
 * text is "h" followed by ",<account id>:<flags>" per hidden account, with
 * flags a sum of CHIRP_HIDDEN_* bits.
 */
#ifndef CHIRP_BLOCK_H
#define CHIRP_BLOCK_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

enum chirp_block_kind { CHIRP_BLOCK = 1, CHIRP_MUTE = 2 };

/* Bits of a hidden-set entry: what the owner has to do with the account. */
#define CHIRP_HIDDEN_BLOCKING 1u   /* the owner blocks it */
#define CHIRP_HIDDEN_BLOCKED_BY 2u /* it blocks the owner */
#define CHIRP_HIDDEN_MUTING 4u     /* the owner mutes it */
#define CHIRP_HIDDEN_BLOCKS (CHIRP_HIDDEN_BLOCKING | CHIRP_HIDDEN_BLOCKED_BY)
#define CHIRP_HIDDEN_ALL (CHIRP_HIDDEN_BLOCKS | CHIRP_HIDDEN_MUTING)

/* Seconds a cached hidden set lives in Redis unless rewritten. */
#define CHIRP_HIDDEN_TTL_S (24 * 3600)

/* Applies "actor blocks / mutes target" (active = 1) or its undoing (0)
   from event_id at occurred_ms.  Must run inside a transaction.  *changed
   is 1 when the state changed (the versions were bumped with it). */
int chirp_block_apply(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t target,
                      int active, int64_t event_id, int64_t occurred_ms, int *changed);

/* *active = 1 when actor currently blocks / mutes target. */
int chirp_block_state(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t target,
                      int *active);

/* *blocked = 1 when a or b blocks the other. */
int chirp_block_between(PGconn *pg, int64_t a, int64_t b, int *blocked);

/* The hidden set of owner as one consistent read: *text a new string (free)
   in the Redis format above, *version its version (0 when the owner never
   had one). */
int chirp_block_hidden_read(PGconn *pg, int64_t owner, char **text, int64_t *version);

/* Reads owner's hidden set from PostgreSQL and stores it in Redis (unless
   Redis holds a newer one).  *text, when not NULL, receives the text read
   (free).  0, or CHIRP_EUNAVAILABLE. */
int chirp_block_hidden_refresh(redisContext *r, PGconn *pg, int64_t owner, char **text);

/* The accounts actor blocks / mutes, newest first, with an event id below
   before (0 = from the newest), at most limit: *ids a new array (free) of
   *n ids; *next the cursor of the next page, 0 on the last. */
int chirp_block_list(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t before,
                     int limit, int64_t **ids, size_t *n, int64_t *next);

/* For each of ids[0..n): bit 1 viewer follows it, bit 2 it follows the
   viewer (committed state, ONE statement for them all). */
int chirp_block_follow_bits(PGconn *pg, int64_t viewer, const int64_t *ids, size_t n,
                            unsigned *bits);

#endif
