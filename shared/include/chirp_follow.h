/*
 * chirp_follow.h — the social graph in PostgreSQL.
 *
 * A follow event carries its event id, which orders events in time: the
 * store keeps, per pair, the state set by the newest event it has seen, so
 * follow/unfollow events applied in any order, or twice, settle on the
 * same state, and the two counts change only when the state really does.
 */
#ifndef CHIRP_FOLLOW_H
#define CHIRP_FOLLOW_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Applies "follower follows followee" (active = 1) or its undoing (0) from
   event_id at occurred_ms.  Must run inside a transaction.  *changed is set
   to 1 when the pair's state changed (and the counts moved with it). */
int chirp_follow_apply(PGconn *pg, int64_t follower, int64_t followee, int active,
                       int64_t event_id, int64_t occurred_ms, int *changed);

/* Ends "follower follows followee" whatever the order of events (a block
   ends the follows both ways even when a newer follow event was applied
   first): the pair becomes inactive, its event id at least event_id, so
   no older follow event can bring it back.  Inside a transaction; *changed
   is 1 when a follow really ended (the counts moved). */
int chirp_follow_end(PGconn *pg, int64_t follower, int64_t followee, int64_t event_id,
                     int64_t occurred_ms, int *changed);

/* *active = 1 when follower currently follows followee. */
int chirp_follow_state(PGconn *pg, int64_t follower, int64_t followee, int *active);

/* Followers (followers = 1) or followed accounts (0) of id, newest follow
   first, with a follow event id below before (0 = from the newest), at most
   limit.  *items is a new JSON array of public accounts; *next is the
   cursor for the next page (the event id of the last item), 0 when this
   page is the last. */
int chirp_follow_list(PGconn *pg, int64_t id, int followers, int64_t before, int limit,
                      json_t **items, int64_t *next);

/* Follower ids of followee in [from, to] (follower-id order), at most max.
   *out is a new array (free) of *n ids. */
int chirp_follow_followers_range(PGconn *pg, int64_t followee, int64_t from, int64_t to,
                                 size_t max, int64_t **out, size_t *n);

/* A range of one account's followers: ids in [from, to]. */
typedef struct chirp_follow_range {
  int64_t followee, from, to;
} chirp_follow_range;
/* The active followers in each of ranges[0..n), at most max each, in ONE
   statement (a worker's batch of tweets or chunks): those of ranges[i]
   are (*ids)[(*offsets)[i] .. (*offsets)[i+1]), in id order.  *ids and
   *offsets (n + 1 entries) are new arrays (free). */
int chirp_follow_followers_many(PGconn *pg, const chirp_follow_range *ranges, size_t n, size_t max,
                                int64_t **ids, size_t **offsets);
/* followers_count of an account (CHIRP_ENOTFOUND if none). */
int chirp_follow_count(PGconn *pg, int64_t account, int64_t *followers);

#endif
