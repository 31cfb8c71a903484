/* chirp_account_purge.c — the purge of a deleted account, see
   chirp_account_purge.h. */
#include "chirp_account_purge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_poll.h"
#include "chirp_redis.h"
#include "chirp_repost.h"
#include "chirp_search.h"
#include "chirp_tweet.h"

#define TS(param) "to_timestamp(" param "::bigint / 1000.0)"

void chirp_purge_cleanup(chirp_purge *p) {
  chirp_session_hashes_free(p->sessions, p->nsessions);
  free(p->tweets);
  free(p->reply_parents);
  free(p->comments);
  free(p->comment_tweets);
  free(p->vote_polls);
  free(p->vote_choices);
  free(p->vote_nchoices);
  free(p->accounts);
  free(p->reposts);
  free(p->repost_tweets);
  memset(p, 0, sizeof *p);
}

/* Reads column col of every row as ids. */
static int ids_of(PGresult *r, int col, int64_t **out, size_t *n) {
  int rc = chirp_pg_ids(r, col, out, n);
  PQclear(r);
  return rc;
}

static int purge_tweets(PGconn *pg, const char *const *p, chirp_purge *out) {
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "UPDATE tweets SET deleted_at = " TS("$2") " "
                         "WHERE author_id = $1 AND deleted_at IS NULL RETURNING id, reply_to",
                         2, p, &r);
  if (rc) return rc;
  /* The tweets they replied to: their reply counts are recounted. */
  out->reply_parents = malloc((size_t)(PQntuples(r) + 1) * sizeof *out->reply_parents);
  for (int i = 0; out->reply_parents && i < PQntuples(r); i++)
    if (!PQgetisnull(r, i, 1))
      out->reply_parents[out->nreply_parents++] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
  if (!out->reply_parents) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  return ids_of(r, 0, &out->tweets, &out->ntweets);
}

/* The account's own bookmarks and pin (private to it: nobody reads them
   any more). */
static int purge_marks(PGconn *pg, const char *const *p) {
  int rc = chirp_pg_exec(pg, "DELETE FROM bookmarks WHERE user_id = $1", 1, p, NULL);
  return rc ? rc : chirp_pg_exec(pg, "DELETE FROM pins WHERE account_id = $1", 1, p, NULL);
}

/* Ends every follow of and by the account, moving the other sides'
   counts; the event id makes older follow events that arrive later lose
   (chirp_follow_apply keeps the newest). */
static int purge_follows(PGconn *pg, const char *const *p, chirp_purge *out) {
  PGresult *r;
  int rc = chirp_pg_exec(
      pg,
      "WITH f AS (UPDATE follows SET active = false, event_id = $3, changed_at = " TS("$2") " "
      "    WHERE (follower_id = $1 OR followee_id = $1) AND active AND event_id < $3 "
      "    RETURNING follower_id, followee_id), "
      "d AS (SELECT id, sum(fr) AS fr, sum(fg) AS fg FROM ("
      "    SELECT followee_id AS id, 1 AS fr, 0 AS fg FROM f WHERE follower_id = $1 "
      "    UNION ALL SELECT follower_id, 0, 1 FROM f WHERE followee_id = $1) s GROUP BY id), "
      "u AS (UPDATE accounts a SET followers_count = a.followers_count - d.fr, "
      "    following_count = a.following_count - d.fg FROM d WHERE a.id = d.id RETURNING a.id) "
      "SELECT id FROM u",
      3, p, &r);
  if (rc) return rc;
  if ((rc = ids_of(r, 0, &out->accounts, &out->naccounts))) return rc;
  return chirp_pg_exec(pg,
                       "UPDATE accounts SET followers_count = 0, following_count = 0 WHERE id = $1",
                       1, p, NULL);
}

/* Deletes the account's lists and takes it out of every list; the event id
   makes older member events that arrive later lose (newest wins). */
static int purge_lists(PGconn *pg, const char *const *p) {
  int rc = chirp_pg_exec(pg,
                         "UPDATE lists SET deleted_at = " TS("$2") " "
                         "WHERE owner_id = $1 AND deleted_at IS NULL",
                         2, p, NULL);
  if (rc) return rc;
  return chirp_pg_exec(pg,
                       "UPDATE list_members SET active = false, event_id = $3, changed_at = " TS("$2") " "
                       "WHERE account_id = $1 AND active AND event_id < $3",
                       3, p, NULL);
}

/* Ends the account's reposts: every row takes the deletion's event id (so
   an older repost event arriving later loses); the ones that were active
   come back for the Redis side. */
static int purge_reposts(PGconn *pg, const char *const *p, chirp_purge *out) {
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "WITH old AS (SELECT tweet_id, repost_id, active FROM reposts "
                         "    WHERE user_id = $1 AND event_id < $3 FOR UPDATE), "
                         "u AS (UPDATE reposts r SET active = false, event_id = $3, changed_at = "
                         TS("$2") " FROM old WHERE r.user_id = $1 AND r.tweet_id = old.tweet_id "
                         "    RETURNING r.tweet_id) "
                         "SELECT repost_id, tweet_id FROM old WHERE active",
                         3, p, &r);
  if (rc) return rc;
  rc = chirp_pg_ids(r, 0, &out->reposts, &out->nreposts);
  size_t n2 = 0;
  if (!rc) rc = chirp_pg_ids(r, 1, &out->repost_tweets, &n2);
  PQclear(r);
  return rc;
}

/* Deletes the account's live comments, each tweet's count moving down by
   the number it lost, in one statement. */
static int purge_comments(PGconn *pg, const char *const *p, chirp_purge *out) {
  PGresult *r;
  int rc = chirp_pg_exec(
      pg,
      "WITH d AS (UPDATE comments SET deleted_at = " TS("$2") " "
      "    WHERE author_id = $1 AND deleted_at IS NULL RETURNING id, tweet_id), "
      "c AS (INSERT INTO tweet_counts (tweet_id, comments) "
      "    SELECT tweet_id, -count(*) FROM d GROUP BY tweet_id "
      "    ON CONFLICT (tweet_id) DO UPDATE SET comments = tweet_counts.comments + EXCLUDED.comments "
      "    RETURNING 1) "
      "SELECT id, tweet_id FROM d",
      2, p, &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  out->comments = malloc((rows ? rows : 1) * sizeof *out->comments);
  out->comment_tweets = malloc((rows ? rows : 1) * sizeof *out->comment_tweets);
  if (!out->comments || !out->comment_tweets) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++) {
    out->comments[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    out->comment_tweets[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
  }
  out->ncomments = rows;
  PQclear(r);
  return 0;
}

/* Takes back the account's poll votes and their counts. */
static int purge_votes(PGconn *pg, const char *const *p, chirp_purge *out) {
  PGresult *r;
  int rc = chirp_pg_exec(
      pg,
      "WITH d AS (DELETE FROM poll_votes WHERE user_id = $1 RETURNING poll_id, choices), "
      "c AS (UPDATE poll_counts pc SET votes = pc.votes - x.k "
      "    FROM (SELECT poll_id, choice, count(*) AS k "
      "          FROM (SELECT poll_id, unnest(choices) AS choice FROM d) u GROUP BY 1, 2) x "
      "    WHERE pc.poll_id = x.poll_id AND pc.choice = x.choice RETURNING 1) "
      "SELECT poll_id, array_to_string(choices, ',') FROM d",
      1, p, &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  out->vote_polls = malloc((rows ? rows : 1) * sizeof *out->vote_polls);
  out->vote_choices = malloc((rows ? rows : 1) * sizeof *out->vote_choices);
  out->vote_nchoices = malloc((rows ? rows : 1) * sizeof *out->vote_nchoices);
  if (!out->vote_polls || !out->vote_choices || !out->vote_nchoices) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++) {
    out->vote_polls[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    size_t k = 0;
    for (char *s = PQgetvalue(r, (int)i, 1); *s && k < CHIRP_PURGE_MAX_CHOICES;) {
      char *end;
      long v = strtol(s, &end, 10);
      if (end == s) break;
      out->vote_choices[i][k++] = (int)v;
      s = *end == ',' ? end + 1 : end;
    }
    out->vote_nchoices[i] = k;
  }
  out->nvotes = rows;
  PQclear(r);
  return 0;
}

int chirp_account_purge(PGconn *pg, int64_t account, int64_t event_id, int64_t at_ms,
                        chirp_purge *out) {
  memset(out, 0, sizeof *out);
  out->account_id = account;
  out->at_ms = at_ms;
  char a[24], at[24], ev[24];
  snprintf(a, sizeof a, "%lld", (long long)account);
  snprintf(at, sizeof at, "%lld", (long long)at_ms);
  snprintf(ev, sizeof ev, "%lld", (long long)event_id);
  const char *p[] = {a, at, ev};
  /* The gateway did this already unless its commit failed after the
     publish; idempotent either way. */
  int rc = chirp_account_mark_deleted(pg, account, at_ms, &out->sessions, &out->nsessions);
  if (!rc) rc = purge_tweets(pg, p, out);
  if (!rc) rc = purge_follows(pg, p, out);
  if (!rc) rc = purge_lists(pg, p);
  if (!rc) rc = purge_marks(pg, p);
  if (!rc) rc = purge_comments(pg, p, out);
  if (!rc) rc = purge_votes(pg, p, out);
  if (!rc) rc = purge_reposts(pg, p, out);
  out->event_id = event_id;
  if (rc) chirp_purge_cleanup(out);
  return rc;
}

int chirp_account_purge_cache(redisContext *r, const chirp_purge *p, int cache_ttl_s) {
  if (!r) return CHIRP_EUNAVAILABLE;
  int rc = chirp_account_forget_sessions(r, p->account_id, p->sessions, p->nsessions);
  for (size_t i = 0; !rc && i < p->naccounts; i++) chirp_account_cache_forget(r, p->accounts[i]);
  /* Versioned tombstones: a reader that refills from an older row cannot
     bring a tweet or comment back. */
  for (size_t i = 0; !rc && i < p->ntweets; i++) {
    chirp_tweet t = {.id = p->tweets[i], .author_id = p->account_id, .deleted_ms = p->at_ms};
    rc = chirp_tweet_cache_put(r, &t, cache_ttl_s);
  }
  char key[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; !rc && i < p->ncomments; i++) {
    chirp_comment c = {.id = p->comments[i], .tweet_id = p->comment_tweets[i],
                       .author_id = p->account_id, .deleted_ms = p->at_ms};
    rc = chirp_comment_cache_put(r, &c, cache_ttl_s);
    if (!rc) rc = chirp_counter_add(r, chirp_key_comment_count(key, c.tweet_id), -1);
  }
  for (size_t i = 0; !rc && i < p->nvotes; i++)
    rc = chirp_poll_unvote(r, p->vote_polls[i], p->account_id, p->vote_choices[i],
                           p->vote_nchoices[i]);
  if (!rc) {
    /* The author's own timeline: rebuilt (empty) from PostgreSQL if read. */
    char ok[CHIRP_KEY_BUFSZ];
    redisReply *rep = redisCommand(r, "DEL %s %s", chirp_key_timeline(key, p->account_id),
                                   chirp_key_timeline_ok(ok, p->account_id));
    if (chirp_redis_reply_failed(r, rep)) rc = CHIRP_EUNAVAILABLE;
    if (rep) freeReplyObject(rep);
  }
  for (size_t i = 0; !rc && i < p->nreposts; i++) {
    char e[CHIRP_FEED_ENTRY_BUFSZ];
    chirp_feed_entry fe = {p->reposts[i], p->repost_tweets[i], p->account_id};
    rc = chirp_repost_sync(r, p->repost_tweets[i], p->account_id, p->event_id, 0);
    if (!rc && p->naccounts)
      rc = chirp_feed_remove_entry(r, CHIRP_LIST_FEED, p->accounts, p->naccounts,
                                   chirp_feed_entry_format(&fe, e));
  }
  /* Its bookmarks and pin (one owner's keys), and the reply counts of the
     tweets it replied to (recounted at their next read). */
  if (!rc) {
    char k2[CHIRP_KEY_BUFSZ], k3[CHIRP_KEY_BUFSZ], k4[CHIRP_KEY_BUFSZ];
    redisReply *rep = redisCommand(r, "DEL %s %s %s %s", chirp_key_bookmarks(key, p->account_id),
                                   chirp_key_bookmarks_order(k2, p->account_id),
                                   chirp_key_bookmarks_ok(k3, p->account_id),
                                   chirp_key_pin(k4, p->account_id));
    if (chirp_redis_reply_failed(r, rep)) rc = CHIRP_EUNAVAILABLE;
    if (rep) freeReplyObject(rep);
  }
  for (size_t i = 0; !rc && i < p->nreply_parents; i++) {
    redisReply *rep = redisCommand(r, "DEL %s", chirp_key_reply_count(key, p->reply_parents[i]));
    if (chirp_redis_reply_failed(r, rep)) rc = CHIRP_EUNAVAILABLE;
    if (rep) freeReplyObject(rep);
  }
  if (!rc) rc = chirp_search_bump(r);
  return rc;
}

int chirp_account_purge_likes(PGconn *pg, int64_t account, int64_t event_id, int64_t at_ms,
                              int64_t **tweets, size_t *n) {
  char a[24], ev[24], at[24];
  snprintf(a, sizeof a, "%lld", (long long)account);
  snprintf(ev, sizeof ev, "%lld", (long long)event_id);
  snprintf(at, sizeof at, "%lld", (long long)at_ms);
  const char *p[] = {a, ev, at};
  PGresult *r;
  /* The same transition as a flushed unlike (prev_active records the state
     replaced, migration 004), and the count moves in the same statement. */
  int rc = chirp_pg_exec(
      pg,
      "WITH up AS (UPDATE likes SET prev_active = active, active = false, event_id = $2, "
      "    changed_at = " TS("$3") " WHERE user_id = $1 AND active AND event_id < $2 "
      "    RETURNING tweet_id), "
      "c AS (UPDATE tweet_counts t SET likes = t.likes - 1 FROM up "
      "    WHERE t.tweet_id = up.tweet_id RETURNING 1) "
      "SELECT tweet_id FROM up",
      3, p, &r);
  return rc ? rc : ids_of(r, 0, tweets, n);
}
