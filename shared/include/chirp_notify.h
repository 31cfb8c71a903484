/*
 * chirp_notify.h — notifications: mention parsing, the PostgreSQL inbox,
 * and the unread counter in Redis.
 *
 * Each notification has a dedup_key naming its cause ("follow:<event>",
 * "mention:t:<tweet>:<user>", ...), so creating it twice creates it once.
 * Nobody is notified of their own action.
 */
#ifndef CHIRP_NOTIFY_H
#define CHIRP_NOTIFY_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_MAX_MENTIONS 10

/* The distinct @usernames in text (lowercased, without '@'), at most max,
   each at most 30 characters: an '@' at the start or after a character that
   cannot be part of a username.  Returns how many. Pure. */
size_t chirp_mentions_parse(const char *text, char (*names)[32], size_t max);

/* Creates one notification unless its dedup_key exists; recipient ==
   actor does nothing.  *created = 1 when a row was added. */
int chirp_notify_add(PGconn *pg, int64_t recipient, const char *type, int64_t actor,
                     int64_t tweet_id, int64_t comment_id, const char *dedup_key, int *created);
/* Creates mention notifications for the accounts named in text.
   recipients gets the notified accounts (room for CHIRP_MAX_MENTIONS). */
int chirp_notify_mentions(PGconn *pg, const char *text, int64_t actor, int64_t tweet_id,
                          int64_t comment_id, int64_t *recipients, size_t *n);
/* Notifies author and voters of polls that ended (at most 100 polls a
   call, each once).  recipients is a new array (free) of *n entries, one
   per notification made. */
int chirp_notify_polls_ended(PGconn *pg, int64_t **recipients, size_t *n);

/* The inbox of recipient, newest first, ids below before; rows are JSON
   {id, type, actor_id|null, tweet_id|null, comment_id|null, created_at,
   read}; *next the cursor or 0. */
int chirp_notify_list(PGconn *pg, int64_t recipient, int64_t before, int limit, json_t **items,
                      int64_t *next);
/* Unread count: Redis, else PostgreSQL (refilling Redis). */
int chirp_notify_unread(redisContext *r, PGconn *pg, int64_t recipient, long long *count);
/* Marks all read; or one (CHIRP_ENOTFOUND when not the recipient's).
   Keeps the Redis counter in step. */
int chirp_notify_read_all(redisContext *r, PGconn *pg, int64_t recipient);
int chirp_notify_read_one(redisContext *r, PGconn *pg, int64_t recipient, int64_t id);
/* Adds to the counters of recipients after a commit (counters that are
   not in Redis are left to be rebuilt). */
void chirp_notify_bump(redisContext *r, const int64_t *recipients, size_t n);

#endif
