/*
 * chirp_feed.h — home feeds and author timelines in Redis.
 *
 * A feed is a Redis list of tweet ids (as decimal strings, which Redis
 * stores as packed integers: ~11 bytes an entry), kept sorted newest first
 * and capped (a push past the cap trims to cap - cap/32, so most pushes need
 * no LTRIM).  Every write is idempotent: pushing an id already near the
 * top changes nothing, so a fan-out repeated after a crash delivers each
 * tweet once.  An author timeline ("ut") is the same structure holding one
 * author's own tweets; feeds merge the timelines of huge accounts (too many
 * followers to push to) at read time.
 *
 * A list is trusted only when its "built" flag exists: fan-out may push into
 * a list that was lost (FLUSHALL, eviction), and the first read then
 * rebuilds it from PostgreSQL, merging what was pushed meanwhile.  So losing
 * Redis costs a rebuild, never a tweet.
 *
 * Each script call touches one owner's keys (one hash tag, one Redis Cluster
 * slot, see docs/scaling.md); reads across owners (a feed's huge accounts'
 * timelines) are pipelined single-key commands.  Functions return 0,
 * CHIRP_EUNAVAILABLE (Redis failed) or CHIRP_ENOMEM.
 */
#ifndef CHIRP_FEED_H
#define CHIRP_FEED_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* CHIRP_LIST_LIST: the feed of one of an owner's lists (chirp_list.h).
   Where a function takes owners[0..n) of a kind, for this kind it takes n
   (owner, list) pairs instead: owners[2i] the owner, owners[2i+1] the list. */
enum chirp_list_kind { CHIRP_LIST_FEED, CHIRP_LIST_TIMELINE, CHIRP_LIST_LIST };

/* A list entry.  A tweet is its id in decimal ("123"); a repost is
   "repost_id:tweet_id:reposter_id" ("130:123:77"): the list orders
   entries by their first id (a repost's own time-ordered id), so a repost
   sits where it happened, and the entry alone says what to show (the
   original tweet) and who reposted it, so hydration needs no lookup. */
typedef struct chirp_feed_entry {
  int64_t key;      /* the order: the tweet's or the repost's id */
  int64_t tweet;    /* the tweet shown */
  int64_t reposter; /* 0 for a tweet */
} chirp_feed_entry;
#define CHIRP_FEED_ENTRY_BUFSZ 72
int chirp_feed_entry_parse(const char *s, chirp_feed_entry *e);
char *chirp_feed_entry_format(const chirp_feed_entry *e, char buf[CHIRP_FEED_ENTRY_BUFSZ]);
void chirp_feed_entries_free(char **e, size_t n);
/* Removes one entry (a repost's) from the lists of owners[0..n). */
int chirp_feed_remove_entry(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                            size_t n, const char *entry);
/* Merges / removes entries (texts) into / from owner's feed. */
int chirp_feed_merge_entries(redisContext *r, int64_t owner, char *const *entries, size_t n,
                             int cap);
int chirp_feed_unmerge_entries(redisContext *r, int64_t owner, char *const *entries, size_t n);
/* chirp_feed_page / chirp_feed_page_pg with whole entries. */
int chirp_feed_page_entries(redisContext *r, int64_t owner, int64_t before, size_t want,
                            chirp_feed_entry *out, size_t *n, int64_t *stale);
int chirp_feed_page_pg_entries(PGconn *pg, int64_t owner, int64_t before, size_t want,
                               chirp_feed_entry *out, size_t *n);
/* The merge of a feed's page with its huge accounts' timeline pages:
   cand[0..n) in any order (sorted in place), into out newest first by
   key, each tweet once (its newest entry: an original or the newest
   repost, the collapse rule of reposts), at most want.  Returns the count. */
size_t chirp_feed_page_merge(chirp_feed_entry *cand, size_t n, size_t want,
                             chirp_feed_entry *out);
/* author's newest entries (live tweets and reposts of live tweets),
   newest first, at most limit: new strings (chirp_feed_entries_free). */
int chirp_feed_recent_entries(PGconn *pg, int64_t author, int limit, char ***out, size_t *n);

/* Inserts tweet_id, in order, into the lists of owners[0..n). */
int chirp_feed_push(redisContext *r, enum chirp_list_kind kind, const int64_t *owners, size_t n,
                    int64_t tweet_id, int cap);
/* One push of a batch: tweet_id into the kind lists of owners[0..n). */
typedef struct chirp_feed_push_req {
  enum chirp_list_kind kind;
  int64_t tweet_id;
  const int64_t *owners; /* borrowed */
  size_t n;
  const char *entry; /* borrowed; NULL: the plain entry of tweet_id */
} chirp_feed_push_req;
/* Every push of reqs[0..nreq), pipelined together: one round trip for the
   lot (a worker's batch of tweets), one script call per hash slot's lists.
   Each list receives its entries oldest first (by their leading id: the
   order the pushes would leave anyway, and the one the collapse of
   reposts is defined by), whatever the order of reqs.  0, or
   CHIRP_EUNAVAILABLE (then repeat it whole: each push is idempotent). */
int chirp_feed_push_many(redisContext *r, const chirp_feed_push_req *reqs, size_t nreq, int cap);
/* Removes tweet_id from the lists of owners[0..n). */
int chirp_feed_remove(redisContext *r, enum chirp_list_kind kind, const int64_t *owners,
                      size_t n, int64_t tweet_id);
/* Merges ids (any order) into owner's feed, keeping it sorted and capped. */
int chirp_feed_merge(redisContext *r, int64_t owner, const int64_t *ids, size_t n, int cap);
/* Removes ids from owner's feed. */
int chirp_feed_unmerge(redisContext *r, int64_t owner, const int64_t *ids, size_t n);
/* Adds / removes a huge account in the set of those owner follows. */
int chirp_feed_huge_add(redisContext *r, const int64_t *owners, size_t n, int64_t huge);
int chirp_feed_huge_remove(redisContext *r, int64_t owner, int64_t huge);

/* One page of owner's feed: ids below before (0 = from the top), newest
   first, at most want, with the timelines of followed huge accounts merged
   in (chirp_feed_page_merge; one more round trip when there are any).  Returns 0 with ids in out[0..*n); CHIRP_ENOTFOUND when the feed must
   be rebuilt first (*stale = -1) or when the timeline of huge account
   *stale must be rebuilt first. */
int chirp_feed_page(redisContext *r, int64_t owner, int64_t before, size_t want, int64_t *out,
                    size_t *n, int64_t *stale);

/* The same page from PostgreSQL alone: the newest live tweets below
   before of owner and of every account owner follows.  For paging past the
   oldest entry a capped Redis feed keeps. */
int chirp_feed_page_pg(PGconn *pg, int64_t owner, int64_t before, size_t want, int64_t *out,
                       size_t *n);

/* Rebuilds owner's feed from PostgreSQL (followed accounts' and own recent
   tweets, the followed huge accounts), merging what is already there. */
int chirp_feed_rebuild(redisContext *r, PGconn *pg, int64_t owner, int cap);
/* A list feed (CHIRP_LIST_LIST) of owner: the same structure as a home
   feed, without huge accounts (lists push to every member, see
   docs/decisions.md), under keys of the owner's hash tag. */
/* Merges ids into the list feed (not marking it built). */
int chirp_feed_list_merge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                          size_t n, int cap);
/* Removes ids from the list feed. */
int chirp_feed_list_unmerge(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                            size_t n);
/* Merges ids (read from PostgreSQL) into the list feed and marks it built. */
int chirp_feed_list_fill(redisContext *r, int64_t owner, int64_t list, const int64_t *ids,
                         size_t n, int cap);
/* Deletes the list feed and its built flag. */
int chirp_feed_list_drop(redisContext *r, int64_t owner, int64_t list);
/* One page of the list feed, as chirp_feed_page: CHIRP_ENOTFOUND when it
   must be rebuilt first, or (*gone = 1) when the list's pending state
   (chirp_key_list_pending) says it is being deleted.  One round trip: the
   built flag proves the owner's list (it is set only by a rebuild after
   the gateway checked the owner, and deleted with the list). */
int chirp_feed_list_page(redisContext *r, int64_t owner, int64_t list, int64_t before,
                         size_t want, int64_t *out, size_t *n, int *gone);

/* Rebuilds an author's timeline list from PostgreSQL. */
int chirp_timeline_rebuild(redisContext *r, PGconn *pg, int64_t author, int cap);

/* Reads up to limit ids of author's newest live tweets from PostgreSQL.
   *out is a new array (free). */
int chirp_feed_recent_ids(PGconn *pg, int64_t author, int limit, int64_t **out, size_t *n);

#endif
