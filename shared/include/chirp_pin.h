/*
 * chirp_pin.h — an account's pinned tweet: at most one, a last-writer-wins
 * register ordered by event id, in PostgreSQL (table pins, the truth) and
 * in Redis (one string per account, "tweet:E" with E zero-padded, tweet 0
 * for none).  The gateway writes Redis after the confirmed publish (so the
 * owner sees the pin at once), the persist worker writes PostgreSQL and
 * then Redis again; the newest event wins in both.
 */
#ifndef CHIRP_PIN_H
#define CHIRP_PIN_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdint.h>

/* Stores tweet (0 = none) as of event unless a newer event is stored. */
int chirp_pin_set(redisContext *r, int64_t account, int64_t tweet, int64_t event);
/* The pinned tweet id (0 = none): Redis, else PostgreSQL (written back). */
int chirp_pin_get(redisContext *r, PGconn *pg, int64_t account, int64_t *tweet);
/* PostgreSQL: the event's state unless a newer one is stored. */
int chirp_pin_store_put(PGconn *pg, int64_t account, int64_t tweet, int64_t event);

#endif
