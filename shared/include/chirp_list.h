/*
 * chirp_list.h — lists in PostgreSQL: a person's curated timelines,
 * private to their owner.
 *
 * The fan-out role applies the list events (list.created, list.updated,
 * list.deleted, list.member_added, list.member_removed) with the store
 * functions below, inside its transaction; each is idempotent and keeps the
 * state of the newest event (by event id), so a repeat or a late event
 * changes nothing.  The gateway reads with the other functions.  Every
 * function returns 0, CHIRP_ENOTFOUND where said, or the chirp_pg_exec
 * error (CHIRP_EUNAVAILABLE, CHIRP_EINTERNAL), or CHIRP_ENOMEM.
 */
#ifndef CHIRP_LIST_H
#define CHIRP_LIST_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_LIST_TITLE_MAX 100 /* Unicode code points */

/* list.created: a list id of owner titled title, created at created_ms. */
int chirp_list_store_create(PGconn *pg, int64_t id, int64_t owner, const char *title,
                            int64_t created_ms, int64_t event_id);
/* list.updated: a new title, unless a newer event was applied. */
int chirp_list_store_rename(PGconn *pg, int64_t id, int64_t owner, const char *title,
                            int64_t event_id);
/* list.deleted: the list is gone for good (a tombstone row if it came first). */
int chirp_list_store_delete(PGconn *pg, int64_t id, int64_t owner, int64_t event_id,
                            int64_t deleted_ms);
/* list.member_added (active 1) / list.member_removed (0). */
int chirp_list_member_apply(PGconn *pg, int64_t list, int64_t account, int active,
                            int64_t event_id, int64_t occurred_ms);

/* The live list id of owner as JSON {id, owner_id, title, created_at} (a
   new reference); CHIRP_ENOTFOUND when missing, deleted or another's. */
int chirp_list_get(PGconn *pg, int64_t owner, int64_t id, json_t **out);
/* How many live lists owner has. */
int chirp_list_count(PGconn *pg, int64_t owner, int64_t *n);
/* owner's live lists, newest first, ids below before (0 = from the top), at
   most limit: *items a new JSON array; *next the cursor id or 0. */
int chirp_list_page(PGconn *pg, int64_t owner, int64_t before, int limit, json_t **items,
                    int64_t *next);
/* *active = 1 when account is a member of list and the list is live (so
   the fan-out never writes the feed of a deleted list back). */
int chirp_list_member_state(PGconn *pg, int64_t list, int64_t account, int *active);
/* How many members list has. */
int chirp_list_member_count(PGconn *pg, int64_t list, int64_t *n);
/* Member ids of list, latest added first, with an add event below before
   (0 = from the top), at most limit: *ids a new array; *next the cursor id
   (an event id) or 0 on the last page. */
int chirp_list_members_page(PGconn *pg, int64_t list, int64_t before, int limit, int64_t **ids,
                            size_t *n, int64_t *next);
/* The newest live tweets below before (0 = top) of list's members, at most
   want, into out[0..*n): the list feed from PostgreSQL alone. */
int chirp_list_tweets_pg(PGconn *pg, int64_t list, int64_t before, size_t want, int64_t *out,
                         size_t *n);
/* Rebuilds owner's list feed from PostgreSQL (members' recent tweets),
   merging what the fan-out pushed meanwhile, and marks it built. */
int chirp_list_rebuild(redisContext *r, PGconn *pg, int64_t owner, int64_t list, int cap);

/* The live lists containing any of authors[0..n), in ONE statement (a
   fan-out batch): *rows is a new array of *nrows triples (author, owner,
   list), ordered by author. */
int chirp_list_containing(PGconn *pg, const int64_t *authors, size_t n, int64_t **rows,
                          size_t *nrows);

#endif
