/*
 * chirp_account_purge.h — what the workers do with account.deleted.
 *
 * The gateway marks the account deleted and revokes its sessions at once
 * (chirp_account_mark_deleted); the purge, applied by the persist role in
 * its transaction, takes away everything the account left behind in
 * PostgreSQL, then mends the Redis cache after the commit:
 *   - its tweets become tombstones (so they leave every feed, timeline,
 *     search answer and hashtag page; feeds skip them at hydration and a
 *     rebuilt feed never reads them);
 *   - its follows, both ways, end, with the counts of the other sides moved;
 *   - its lists are deleted, and it leaves every list it was a member of;
 *   - its comments are deleted and its poll votes taken back, with their
 *     counts moved;
 *   - its reposts end (by the deletion's event id, so an older repost event
 *     arriving later loses), the reposted tweets' Redis repost keys take
 *     the new state and the entries leave the feeds of the accounts it
 *     followed or was followed by.
 *   - its bookmarks and pin are deleted, and the reply counts of the
 *     tweets it replied to are recounted.
 * Its likes belong to the like batcher's table and go through the likes
 * role (chirp_account_purge_likes), which also holds the likes still
 * pending.  Every step is idempotent: a second purge finds nothing left.
 */
#ifndef CHIRP_ACCOUNT_PURGE_H
#define CHIRP_ACCOUNT_PURGE_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_PURGE_MAX_CHOICES 8

/* What a purge changed, for its Redis side.  Every array is owned. */
typedef struct chirp_purge {
  int64_t account_id;
  int64_t at_ms;
  char **sessions; /* token hashes of the sessions deleted */
  size_t nsessions;
  int64_t *tweets; /* tweets made tombstones */
  size_t ntweets;
  int64_t *reply_parents; /* the tweets some of those replied to */
  size_t nreply_parents;
  int64_t *comments, *comment_tweets; /* comments deleted, and their tweets */
  size_t ncomments;
  int64_t *vote_polls; /* votes taken back: poll, choices */
  int (*vote_choices)[CHIRP_PURGE_MAX_CHOICES];
  size_t *vote_nchoices;
  size_t nvotes;
  int64_t *accounts; /* accounts whose follow counts moved */
  size_t naccounts;
  int64_t event_id;
  int64_t *reposts, *repost_tweets; /* reposts ended (their ids) and their tweets */
  size_t nreposts;
} chirp_purge;

void chirp_purge_cleanup(chirp_purge *p);

/* Applies the purge of account (deleted at at_ms, by event event_id) inside
   the caller's transaction.  On success fills *out (chirp_purge_cleanup);
   on error *out holds nothing to release. */
int chirp_account_purge(PGconn *pg, int64_t account, int64_t event_id, int64_t at_ms,
                        chirp_purge *out);
/* The Redis side after the commit: sessions and cached accounts dropped,
   tweet and comment tombstones cached, comment and vote counts moved, the
   author's timeline dropped, a new search generation.  CHIRP_EUNAVAILABLE
   when Redis failed (safe to call again). */
int chirp_account_purge_cache(redisContext *r, const chirp_purge *p, int cache_ttl_s);

/* The account's stored likes end (as unlikes by event event_id at at_ms,
   so an older like replayed later does not come back), each liked tweet's
   count moving down by one.  *tweets (new array, free) gets the tweets. */
int chirp_account_purge_likes(PGconn *pg, int64_t account, int64_t event_id, int64_t at_ms,
                              int64_t **tweets, size_t *n);

#endif
