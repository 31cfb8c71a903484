/*
 * role_fanout.c — the fan-out role: pushes each tweet into its followers'
 * feeds, takes deleted tweets out of them, and owns the follow graph.
 *
 * Follows are applied here, not by the persist role, so that a follow and
 * the tweets fanned out after it go through one queue in order: the tweet
 * fan-out reads the follower list that the earlier follow event wrote.
 *
 * Each event is applied in two steps: PostgreSQL in the transaction
 * (fanout_apply), then Redis after the commit and before the ack
 * (fanout_after_commit), both idempotent, so a crash anywhere repeats
 * work but never loses or doubles it.
 *
 * A tweet whose author has more followers than one chunk is split into
 * fanout.chunk messages (a range of follower ids each) published back to
 * this queue before the original is acked, so several workers share a big
 * fan-out and a crash repeats one chunk, never the whole.  An author past
 * the huge threshold is not pushed at all: readers merge its timeline.
 * Every Redis write here is idempotent (see chirp_feed.h), so the events a
 * crash makes us repeat change nothing twice.
 *
 * Blocks and mutes are applied here too (they change the follow graph: a
 * block ends the follows both ways, in order with the fan-out) and keep
 * each account's hidden set cached in Redis (chirp_block.h).
 *
 * After each batch of feeds it changed, it announces the change to those
 * of the feeds' owners who have a stream open (chirp_live.h): a pipelined
 * presence check per batch, a PUBLISH only for the present.  Edits change
 * no feed; they are fanned out to the followers only to be announced.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_block.h"
#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_follow.h"
#include "chirp_keys.h"
#include "chirp_live.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_repost.h"
#include "chirp_tweet.h"
#include "fanout_lists.h"
#include "worker.h"

enum fanout_op { OP_PUSH, OP_REMOVE, OP_MARK, OP_EDIT };

struct fanout_state {
  enum {
    EV_TWEET_CREATED,
    EV_TWEET_DELETED,
    EV_TWEET_EDITED,
    EV_CHUNK,
    EV_FOLLOW,
    EV_UNFOLLOW,
    EV_LIST,
    EV_REPOST,
    EV_UNREPOST,
    EV_BLOCK, /* block.added / removed, mute.added / removed: follower = actor, followee = target */
  } kind;
  enum chirp_block_kind block_kind; /* blocks and mutes */
  int block_active;
  chirp_tweet tweet;           /* tweet events */
  enum fanout_op op;           /* chunks */
  int64_t tweet_id, author_id; /* chunks */
  int64_t from, to;            /* chunks: follower id range */
  int64_t follower, followee;  /* follows */
  int huge;                    /* the author / followee / reposter is merged at read time */
  fl_event list;               /* list events (fanout_lists.h) */
  int lists_done;              /* the tweet's list pushes are done (push_run) */
  /* reposts (tweet_id, author_id: the original) and chunks of a repost */
  int64_t reposter, repost_id;
  int pg_active;               /* PostgreSQL's state after the commit */
  int64_t pg_repost_id, pg_event_id;
  char entry[CHIRP_FEED_ENTRY_BUFSZ]; /* the feed entry; "" for a tweet */
};

static const char *const op_names[] = {"push", "remove", "mark", "edit"};

static void fanout_free(void *arg) {
  struct fanout_state *s = arg;
  if (!s) return;
  chirp_tweet_cleanup(&s->tweet);
  if (s->kind == EV_LIST) fl_cleanup(&s->list);
  free(s);
}

static int bad(char *why, size_t n, const char *reason) {
  snprintf(why, n, "%s", reason);
  return CHIRP_EMALFORMED;
}

static int fanout_decode(const chirp_event *ev, void **state, char *why, size_t n) {
  struct fanout_state *s = calloc(1, sizeof *s);
  if (!s) return CHIRP_ENOMEM;
  const json_t *p = ev->payload;
  int rc = 0;
  if (strcmp(ev->type, "tweet.created") == 0 || strcmp(ev->type, "tweet.deleted") == 0 ||
      strcmp(ev->type, "tweet.edited") == 0) {
    s->kind = ev->type[6] == 'c' ? EV_TWEET_CREATED
              : ev->type[6] == 'd' ? EV_TWEET_DELETED
                                   : EV_TWEET_EDITED;
    const json_t *tj = s->kind == EV_TWEET_CREATED ? p : json_object_get(p, "tweet");
    if (!tj || chirp_tweet_from_json(tj, &s->tweet) || s->tweet.author_id != ev->actor_id)
      rc = bad(why, n, "payload is not a tweet of the actor");
    else if (s->kind == EV_TWEET_DELETED &&
             chirp_json_get_time(p, "deleted_at", &s->tweet.deleted_ms))
      rc = bad(why, n, "delete without deleted_at");
  } else if (strcmp(ev->type, "fanout.chunk") == 0) {
    s->kind = EV_CHUNK;
    const char *op = json_string_value(json_object_get(p, "op"));
    s->op = OP_PUSH;
    while (op && s->op <= OP_EDIT && strcmp(op, op_names[s->op]) != 0) s->op++;
    if (!op || s->op > OP_EDIT || chirp_json_get_id(p, "tweet_id", &s->tweet_id) ||
        chirp_json_get_id(p, "author_id", &s->author_id) || chirp_json_get_id(p, "from", &s->from) ||
        chirp_json_get_id(p, "to", &s->to) || s->from > s->to)
      rc = bad(why, n, "chunk without a valid op, tweet_id, author_id, from and to");
    const char *entry = json_string_value(json_object_get(p, "entry"));
    chirp_feed_entry fe;
    if (!rc && entry) {
      if (chirp_feed_entry_parse(entry, &fe) || !fe.reposter || fe.tweet != s->tweet_id)
        rc = bad(why, n, "chunk with an entry that is not a repost of its tweet");
      else
        chirp_feed_entry_format(&fe, s->entry);
    }
  } else if (strcmp(ev->type, "repost.added") == 0 || strcmp(ev->type, "repost.removed") == 0) {
    s->kind = ev->type[7] == 'a' ? EV_REPOST : EV_UNREPOST;
    if (chirp_json_get_id(p, "tweet_id", &s->tweet_id) ||
        chirp_json_get_id(p, "author_id", &s->author_id) ||
        chirp_json_get_id(p, "user_id", &s->reposter) ||
        chirp_json_get_id(p, "repost_id", &s->repost_id) || s->reposter != ev->actor_id ||
        (s->kind == EV_REPOST && s->repost_id != ev->event_id))
      rc = bad(why, n, "repost without tweet_id, author_id, user_id (the actor) and repost_id");
    chirp_feed_entry fe = {s->repost_id, s->tweet_id, s->reposter};
    chirp_feed_entry_format(&fe, s->entry);
  } else if (strcmp(ev->type, "follow.added") == 0 || strcmp(ev->type, "follow.removed") == 0) {
    s->kind = ev->type[7] == 'a' ? EV_FOLLOW : EV_UNFOLLOW;
    if (chirp_json_get_id(p, "follower_id", &s->follower) ||
        chirp_json_get_id(p, "followee_id", &s->followee) || s->follower != ev->actor_id ||
        s->follower == s->followee)
      rc = bad(why, n, "follow without follower_id (the actor) and another followee_id");
  } else if (strncmp(ev->type, "block.", 6) == 0 || strncmp(ev->type, "mute.", 5) == 0) {
    s->kind = EV_BLOCK;
    s->block_kind = ev->type[0] == 'b' ? CHIRP_BLOCK : CHIRP_MUTE;
    const char *verb = strchr(ev->type, '.') + 1;
    s->block_active = strcmp(verb, "added") == 0;
    if ((!s->block_active && strcmp(verb, "removed") != 0) ||
        chirp_json_get_id(p, "account_id", &s->follower) ||
        chirp_json_get_id(p, "target_id", &s->followee) || s->follower != ev->actor_id ||
        s->follower == s->followee)
      rc = bad(why, n, "block or mute without account_id (the actor) and another target_id");
  } else {
    int is_list = 0;
    rc = fl_decode(ev, &s->list, &is_list, why, n);
    if (is_list) s->kind = EV_LIST;
    else rc = CHIRP_ENOTFOUND;
  }
  if (rc) {
    fanout_free(s);
    return rc;
  }
  *state = s;
  return 0;
}

/* The follower ranges of followee, one per chunk, in follower-id order. */
static int chunk_ranges(wk_ctx *ctx, int64_t followee, int64_t **ranges, size_t *n) {
  char a[24], c[24];
  snprintf(a, sizeof a, "%lld", (long long)followee);
  snprintf(c, sizeof c, "%d", ctx->cfg->fanout_chunk);
  const char *p[] = {a, c};
  PGresult *r;
  int rc = chirp_pg_exec(ctx->pg,
                         "SELECT min(follower_id), max(follower_id) FROM ("
                         "  SELECT follower_id, (row_number() OVER (ORDER BY follower_id) - 1) / $2 AS g"
                         "  FROM follows WHERE followee_id = $1 AND active) s "
                         "GROUP BY g ORDER BY 1",
                         2, p, &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  int64_t *out = malloc((rows ? rows : 1) * 2 * sizeof *out);
  if (!out) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++) {
    out[2 * i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    out[2 * i + 1] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
  }
  PQclear(r);
  *ranges = out;
  *n = rows;
  return 0;
}

/* Announces a change of tweet_id to those of ids who listen.  The feeds
   are already written: a failed announcement is only logged (a stream
   catches up from the feed when it reconnects). */
static void announce(wk_ctx *ctx, const char *kind, int64_t tweet_id, const int64_t *ids, size_t n) {
  if (chirp_live_announce(ctx->redis, ids, n, kind, tweet_id) != 0)
    chirp_warn("tweet %lld: %s not announced to %zu readers", (long long)tweet_id, kind, n);
}

/* Announces a batch's feed pushes (not the timelines') to the owners who
   listen, all in one pipeline; like announce, a failure is only logged. */
static void announce_pushes(wk_ctx *ctx, const chirp_feed_push_req *reqs, size_t nreq) {
  chirp_live_note *notes = malloc((nreq ? nreq : 1) * sizeof *notes);
  size_t nn = 0;
  for (size_t q = 0; notes && q < nreq; q++)
    if (reqs[q].kind == CHIRP_LIST_FEED)
      notes[nn++] = (chirp_live_note){CHIRP_LIVE_TWEET, reqs[q].tweet_id, reqs[q].owners, reqs[q].n};
  if (!notes || chirp_live_announce_many(ctx->redis, notes, nn) != 0)
    chirp_warn("a batch of %zu feed pushes not announced", nreq);
  free(notes);
}

/* Applies op to ids (feed owners). */
static int apply_ids(wk_ctx *ctx, enum fanout_op op, int64_t tweet_id, const char *entry,
                     int64_t author, const int64_t *ids, size_t n) {
  int rc = 0;
  chirp_feed_push_req req = {CHIRP_LIST_FEED, tweet_id, ids, n, entry};
  switch (op) {
    case OP_PUSH:
      rc = chirp_feed_push_many(ctx->redis, &req, 1, ctx->cfg->feed_cap);
      if (!rc) announce(ctx, CHIRP_LIVE_TWEET, tweet_id, ids, n);
      return rc;
    case OP_REMOVE:
      rc = entry ? chirp_feed_remove_entry(ctx->redis, CHIRP_LIST_FEED, ids, n, entry)
                 : chirp_feed_remove(ctx->redis, CHIRP_LIST_FEED, ids, n, tweet_id);
      if (!rc) announce(ctx, CHIRP_LIVE_DELETED, tweet_id, ids, n);
      return rc;
    case OP_EDIT:
      announce(ctx, CHIRP_LIVE_EDITED, tweet_id, ids, n);
      return 0;
    case OP_MARK:
      break;
  }
  return chirp_feed_huge_add(ctx->redis, ids, n, author);
}

/* Applies op for the followers of author in [from, to]. */
static int apply_range(wk_ctx *ctx, enum fanout_op op, int64_t tweet_id, const char *entry,
                       int64_t author, int64_t from, int64_t to) {
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = chirp_follow_followers_range(ctx->pg, author, from, to, (size_t)ctx->cfg->fanout_chunk * 2,
                                        &ids, &n);
  if (rc) return rc;
  rc = apply_ids(ctx, op, tweet_id, entry, author, ids, n);
  free(ids);
  return rc;
}

/* Applies op to every follower of author: inline for one chunk, else as
   fanout.chunk messages to share among the workers. */
/* Applies op to every follower of author (and to the author's own feed
   when with_author): in one go for up to a chunk of followers — one query,
   one pipelined push — else as fanout.chunk messages that the workers
   share. */
static int fan_out(wk_ctx *ctx, enum fanout_op op, int64_t tweet_id, const char *entry,
                   int64_t author, int with_author) {
  size_t chunk = (size_t)ctx->cfg->fanout_chunk, n = 0;
  int64_t *ids = NULL;
  int rc = chirp_follow_followers_range(ctx->pg, author, 1, INT64_MAX, chunk + 1, &ids, &n);
  if (rc) return rc;
  if (n <= chunk) {
    int64_t *owners = malloc((n + 1) * sizeof *owners);
    rc = owners ? 0 : CHIRP_ENOMEM;
    if (!rc) {
      memcpy(owners, ids, n * sizeof *ids);
      if (with_author) owners[n++] = author;
      rc = n ? apply_ids(ctx, op, tweet_id, entry, author, owners, n) : 0;
    }
    free(owners);
    free(ids);
    return rc;
  }
  free(ids);
  if (with_author && (rc = apply_ids(ctx, op, tweet_id, entry, author, &author, 1))) return rc;
  int64_t *ranges = NULL;
  rc = chunk_ranges(ctx, author, &ranges, &n);
  if (rc) return rc;
  json_t **payloads = calloc(n ? n : 1, sizeof *payloads);
  rc = payloads ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    payloads[i] = json_pack("{s:s, s:o, s:o, s:o, s:o}", "op", op_names[op], "tweet_id",
                            chirp_json_id(tweet_id), "author_id", chirp_json_id(author), "from",
                            chirp_json_id(ranges[2 * i]), "to", chirp_json_id(ranges[2 * i + 1]));
    if (!payloads[i]) rc = CHIRP_ENOMEM;
    else if (entry) json_object_set_new(payloads[i], "entry", json_string(entry));
  }
  if (!rc) rc = wk_publish(ctx, "fanout.chunk", author, payloads, n);
  for (size_t i = 0; payloads && i < n; i++) json_decref(payloads[i]);
  free(payloads);
  free(ranges);
  if (!rc) chirp_debug("tweet %lld: %s split into %zu chunks", (long long)tweet_id, op_names[op], n);
  return rc;
}

/* Reads whether author is huge, making it so (for good) when its followers
   passed the threshold.  Inside the transaction. */
static int author_huge(wk_ctx *ctx, int64_t author, int *huge) {
  char a[24], t[24];
  snprintf(a, sizeof a, "%lld", (long long)author);
  snprintf(t, sizeof t, "%d", ctx->cfg->huge_threshold);
  const char *p[] = {a, t};
  PGresult *r;
  int rc = chirp_pg_exec(ctx->pg,
                         "SELECT huge, followers_count > $2 FROM accounts WHERE id = $1", 2, p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return CHIRP_EMALFORMED; /* no such author */
  }
  *huge = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  int over = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
  PQclear(r);
  if (*huge || !over) return 0;
  *huge = 1;
  chirp_info("account %lld passed %d followers: merged at read time from now on",
             (long long)author, ctx->cfg->huge_threshold);
  return chirp_pg_exec(ctx->pg, "UPDATE accounts SET huge = true WHERE id = $1", 1, p, NULL);
}

/* Once an account is huge, every follower's feed must know to merge its
   timeline: mark them all, once (a Redis marker remembers it was done; if
   Redis is lost the marking runs again, which changes nothing). */
static int ensure_marked(wk_ctx *ctx, int64_t author) {
  char key[CHIRP_KEY_BUFSZ];
  chirp_key_huge_marked(key, author);
  redisReply *r = redisCommand(ctx->redis, "EXISTS %s", key);
  int bad = chirp_redis_reply_failed(ctx->redis, r), done = !bad && r->integer == 1;
  if (r) freeReplyObject(r);
  if (bad) return CHIRP_EUNAVAILABLE;
  if (done) return 0;
  int rc = fan_out(ctx, OP_MARK, 0, NULL, author, 0);
  if (rc) return rc;
  r = redisCommand(ctx->redis, "SET %s 1", key);
  bad = chirp_redis_reply_failed(ctx->redis, r);
  if (r) freeReplyObject(r);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

/* PostgreSQL first: the tweet (or its deletion) is committed before any
   feed shows it, so a feed rebuilt from PostgreSQL at any moment after a
   push contains it.  The fan-out role stores it itself (idempotently, like
   the persist role) rather than wait for that role. */
static int fanout_apply(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct fanout_state *s = arg;
  int rc = 0;
  switch (s->kind) {
    case EV_TWEET_CREATED:
      rc = chirp_tweet_store_create(ctx->pg, &s->tweet, NULL);
      return rc ? rc : author_huge(ctx, s->tweet.author_id, &s->huge);
    case EV_TWEET_DELETED:
      rc = chirp_tweet_store_delete(ctx->pg, &s->tweet, NULL);
      return rc ? rc : author_huge(ctx, s->tweet.author_id, &s->huge);
    case EV_TWEET_EDITED: /* stored by the persist role; announced only */
      return author_huge(ctx, s->tweet.author_id, &s->huge);
    case EV_CHUNK:
      return 0;
    case EV_REPOST:
    case EV_UNREPOST:
      rc = chirp_repost_store_apply(ctx->pg, s->tweet_id, s->reposter, s->kind == EV_REPOST,
                                    s->repost_id, ev->event_id);
      if (!rc)
        rc = chirp_repost_store_state(ctx->pg, s->tweet_id, s->reposter, &s->pg_active,
                                      &s->pg_repost_id, &s->pg_event_id);
      return rc ? rc : author_huge(ctx, s->reposter, &s->huge);
    case EV_FOLLOW:
    case EV_UNFOLLOW: {
      int changed = 0, blocked = 0;
      rc = chirp_follow_apply(ctx->pg, s->follower, s->followee, s->kind == EV_FOLLOW,
                              ev->event_id, ev->occurred_ms, &changed);
      /* A follow that raced a block loses: checked once the pair is locked
         (chirp_follow_apply), so a block committed meanwhile is seen, and
         a block still in flight ends this follow itself. */
      if (!rc && s->kind == EV_FOLLOW)
        rc = chirp_block_between(ctx->pg, s->follower, s->followee, &blocked);
      if (!rc && blocked)
        rc = chirp_follow_end(ctx->pg, s->follower, s->followee, ev->event_id, ev->occurred_ms,
                              &changed);
      return rc ? rc : author_huge(ctx, s->followee, &s->huge);
    }
    case EV_LIST:
      return fl_apply(ctx, ev, &s->list);
    case EV_BLOCK: {
      int changed = 0, ended = 0;
      rc = chirp_block_apply(ctx->pg, s->block_kind, s->follower, s->followee, s->block_active,
                             ev->event_id, ev->occurred_ms, &changed);
      /* A block that holds ends the follows both ways (even when it changed
         nothing now: a redelivery completes the work). */
      int holds = 0;
      if (!rc && s->block_kind == CHIRP_BLOCK)
        rc = chirp_block_state(ctx->pg, CHIRP_BLOCK, s->follower, s->followee, &holds);
      /* The lower id's follow first: blocks of one pair both ways at once
         lock the two rows in the same order. */
      int64_t lo = s->follower < s->followee ? s->follower : s->followee;
      int64_t hi = lo == s->follower ? s->followee : s->follower;
      if (!rc && holds)
        rc = chirp_follow_end(ctx->pg, lo, hi, ev->event_id, ev->occurred_ms, &ended);
      if (!rc && holds)
        rc = chirp_follow_end(ctx->pg, hi, lo, ev->event_id, ev->occurred_ms, &ended);
      s->huge = holds; /* here: the follows' feeds need mending */
      return rc;
    }
  }
  return CHIRP_EINTERNAL;
}

/* The new tweets of a run of tweet.created events: stored in one
   statement, and whether each author is huge read in one more (the rare
   author that passes the threshold now goes the single way, author_huge).
   An author that does not exist fails the whole: the loop then retries
   event by event, and that one is dead-lettered alone. */
static int apply_created_run(wk_ctx *ctx, const wk_item *items, size_t n) {
  const chirp_tweet **tweets = malloc(n * sizeof *tweets);
  int64_t *authors = malloc(n * sizeof *authors);
  char *arr = NULL, t[24];
  int rc = tweets && authors ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    tweets[i] = &((struct fanout_state *)items[i].state)->tweet;
    authors[i] = tweets[i]->author_id;
  }
  if (!rc) rc = chirp_tweet_store_create_many(ctx->pg, tweets, n);
  if (!rc && !(arr = chirp_pg_id_array(authors, n))) rc = CHIRP_ENOMEM;
  PGresult *r = NULL;
  if (!rc) {
    snprintf(t, sizeof t, "%d", ctx->cfg->huge_threshold);
    const char *p[] = {arr, t};
    rc = chirp_pg_exec(ctx->pg,
                       "SELECT id, huge, followers_count > $2 FROM accounts "
                       "WHERE id = ANY($1::bigint[])",
                       2, p, &r);
  }
  for (size_t i = 0; !rc && i < n; i++) {
    struct fanout_state *s = items[i].state;
    int found = 0;
    for (int row = 0; !found && row < PQntuples(r); row++) {
      if (strtoll(PQgetvalue(r, row, 0), NULL, 10) != s->tweet.author_id) continue;
      found = 1;
      s->huge = strcmp(PQgetvalue(r, row, 1), "t") == 0;
      if (!s->huge && strcmp(PQgetvalue(r, row, 2), "t") == 0)
        rc = author_huge(ctx, s->tweet.author_id, &s->huge); /* passes now: marks it */
    }
    if (!found) rc = CHIRP_EMALFORMED; /* no such author */
  }
  PQclear(r);
  free(arr);
  free(authors);
  free(tweets);
  return rc;
}

/* apply for a batch: runs of new tweets together, every other event alone. */
static int fanout_apply_many(wk_ctx *ctx, const wk_item *items, size_t n) {
  int rc = 0;
  for (size_t i = 0; !rc && i < n;) {
    size_t j = i;
    while (j < n && ((struct fanout_state *)items[j].state)->kind == EV_TWEET_CREATED) j++;
    if (j > i) {
      rc = apply_created_run(ctx, items + i, j - i);
      i = j;
    } else {
      rc = fanout_apply(ctx, items[i].ev, items[i].state);
      i++;
    }
  }
  return rc;
}

static int after_tweet(wk_ctx *ctx, struct fanout_state *s) {
  const chirp_tweet *t = &s->tweet;
  int created = s->kind == EV_TWEET_CREATED, rc;
  if (s->kind == EV_TWEET_EDITED) /* no list changes: tell the readers */
    return s->huge ? apply_ids(ctx, OP_EDIT, t->id, NULL, t->author_id, &t->author_id, 1)
                   : fan_out(ctx, OP_EDIT, t->id, NULL, t->author_id, 1);
  /* The tweet is in PostgreSQL (committed) and was cached by the gateway:
     a reader hydrating it finds it either way. */
  rc = created ? chirp_feed_push(ctx->redis, CHIRP_LIST_TIMELINE, &t->author_id, 1, t->id,
                                 ctx->cfg->feed_cap)
               : chirp_feed_remove(ctx->redis, CHIRP_LIST_TIMELINE, &t->author_id, 1, t->id);
  if (rc) return rc;
  /* The lists containing the author: pushed to, huge or not. */
  if (!s->lists_done && (rc = fl_tweet(ctx, created, t->id, t->author_id))) return rc;
  enum fanout_op op = created ? OP_PUSH : OP_REMOVE;
  if (s->huge) {
    rc = apply_ids(ctx, op, t->id, NULL, t->author_id, &t->author_id, 1); /* own feed only */
    return rc ? rc : ensure_marked(ctx, t->author_id);
  }
  return fan_out(ctx, op, t->id, NULL, t->author_id, 1);
}

/* Whether a repost event's entry goes into the feeds now: a repost that
   PostgreSQL still holds as this very repost (an undo or a newer repost
   that came first wins). */
static int repost_pushes(const struct fanout_state *s) {
  return s->kind == EV_REPOST && s->pg_active && s->pg_repost_id == s->repost_id;
}

/* A repost goes where the reposter's tweets go (the followers' feeds and
   its own, or for a huge reposter its timeline, merged at read time), an
   undone one comes out of them.  Redis's repost keys first take
   PostgreSQL's state. */
static int after_repost(wk_ctx *ctx, struct fanout_state *s) {
  int rc = chirp_repost_sync(ctx->redis, s->tweet_id, s->reposter, s->pg_event_id,
                             s->pg_active ? s->pg_repost_id : 0);
  if (rc) return rc;
  int push = repost_pushes(s);
  if (s->kind == EV_REPOST && !push) return 0; /* undone or replaced meanwhile */
  enum fanout_op op = push ? OP_PUSH : OP_REMOVE;
  if (s->huge) {
    chirp_feed_push_req req = {CHIRP_LIST_TIMELINE, s->tweet_id, &s->reposter, 1, s->entry};
    rc = push ? chirp_feed_push_many(ctx->redis, &req, 1, ctx->cfg->feed_cap)
              : chirp_feed_remove_entry(ctx->redis, CHIRP_LIST_TIMELINE, &s->reposter, 1, s->entry);
    if (!rc) rc = apply_ids(ctx, op, s->tweet_id, s->entry, s->reposter, &s->reposter, 1);
    return rc ? rc : ensure_marked(ctx, s->reposter);
  }
  return fan_out(ctx, op, s->tweet_id, s->entry, s->reposter, 1);
}

/* The feed follows the pair's state as PostgreSQL has it now, whatever
   this event changed: so a redelivery after a crash completes the work. */
static int after_follow(wk_ctx *ctx, struct fanout_state *s) {
  int active = 0;
  int rc = chirp_follow_state(ctx->pg, s->follower, s->followee, &active);
  if (rc) return rc;
  if (s->huge && (rc = ensure_marked(ctx, s->followee))) return rc;
  char **ids = NULL;
  size_t n = 0;
  if (active && s->huge) {
    rc = chirp_feed_huge_add(ctx->redis, &s->follower, 1, s->followee);
  } else {
    rc = active ? 0 : chirp_feed_huge_remove(ctx->redis, s->follower, s->followee);
    /* Merge the followee's recent tweets, or take them all out (also those
       pushed before the account became huge). */
    if (!rc) rc = chirp_feed_recent_entries(ctx->pg, s->followee, ctx->cfg->feed_cap, &ids, &n);
    if (!rc && n)
      rc = active ? chirp_feed_merge_entries(ctx->redis, s->follower, ids, n, ctx->cfg->feed_cap)
                  : chirp_feed_unmerge_entries(ctx->redis, s->follower, ids, n);
    chirp_feed_entries_free(ids, n);
  }
  if (rc) return rc;
  /* The counts changed: drop the cached accounts. */
  chirp_account_cache_forget(ctx->redis, s->follower);
  chirp_account_cache_forget(ctx->redis, s->followee);
  return 0;
}

/* A quoting tweet made or deleted: the quoted tweet's count is read
   again from PostgreSQL (committed now) by the next reader. */
static int forget_quote_count(wk_ctx *ctx, const struct fanout_state *s) {
  if ((s->kind != EV_TWEET_CREATED && s->kind != EV_TWEET_DELETED) || !s->tweet.quote_of) return 0;
  char key[CHIRP_KEY_BUFSZ];
  redisReply *r = redisCommand(ctx->redis, "DEL %s", chirp_key_quote_count(key, s->tweet.quote_of));
  int bad = chirp_redis_reply_failed(ctx->redis, r);
  if (r) freeReplyObject(r);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

/* After a block or mute: a block takes each side's tweets out of the
   other's feed (as an unfollow does, both ways); then the hidden sets of
   the accounts concerned are read again and cached (versioned: an older
   set never replaces a newer one). */
static int after_block(wk_ctx *ctx, struct fanout_state *s) {
  int rc = 0;
  if (s->huge) { /* the block holds */
    struct fanout_state one = *s, other = *s;
    memset(&one.tweet, 0, sizeof one.tweet);
    memset(&other.tweet, 0, sizeof other.tweet);
    other.follower = s->followee;
    other.followee = s->follower;
    one.huge = other.huge = 0;
    if ((rc = author_huge(ctx, one.followee, &one.huge)) ||
        (rc = author_huge(ctx, other.followee, &other.huge)) || (rc = after_follow(ctx, &one)) ||
        (rc = after_follow(ctx, &other)))
      return rc;
  }
  rc = chirp_block_hidden_refresh(ctx->redis, ctx->pg, s->follower, NULL);
  if (!rc && s->block_kind == CHIRP_BLOCK)
    rc = chirp_block_hidden_refresh(ctx->redis, ctx->pg, s->followee, NULL);
  return rc;
}

static int fanout_after_commit(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct fanout_state *s = arg;
  (void)ev;
  if (!ctx->redis) return CHIRP_EUNAVAILABLE;
  int rc = forget_quote_count(ctx, s);
  if (rc) return rc;
  switch (s->kind) {
    case EV_TWEET_CREATED:
    case EV_TWEET_DELETED:
    case EV_TWEET_EDITED:
      rc = after_tweet(ctx, s);
      break;
    case EV_CHUNK:
      rc = apply_range(ctx, s->op, s->tweet_id, s->entry[0] ? s->entry : NULL, s->author_id,
                       s->from, s->to);
      break;
    case EV_REPOST:
    case EV_UNREPOST:
      rc = after_repost(ctx, s);
      break;
    case EV_LIST:
      rc = fl_after_commit(ctx, &s->list);
      break;
    case EV_BLOCK:
      rc = after_block(ctx, s);
      break;
    default:
      rc = after_follow(ctx, s);
  }
  /* A lost connection is worth a retry; so is PostgreSQL, read here too. */
  if (rc == CHIRP_EINTERNAL && ctx->pg && PQstatus(ctx->pg) != CONNECTION_OK) rc = CHIRP_EUNAVAILABLE;
  return rc;
}

/* Whether the event's Redis side is a plain push to followers found in
   one go: a new tweet of an author that is not huge.  (Push chunks stay
   one at a time: a worker's 50 chunks joined into one statement of 50 000
   rows and one pipeline ran at about a quarter of the speed of one chunk
   after another, in one run on a busy machine.) */
static int joins_run(const struct fanout_state *s) {
  return (s->kind == EV_TWEET_CREATED || repost_pushes(s)) && !s->huge;
}

/* The list pushes of a run's new tweets, appended to reqs (the lists of
   all the run's authors found in one statement). */
static int run_list_reqs(wk_ctx *ctx, const wk_item *items, size_t n, chirp_feed_push_req *reqs,
                         size_t *nreq, int64_t **pairs) {
  int64_t *tids = malloc(n * sizeof *tids), *authors = malloc(n * sizeof *authors);
  size_t m = 0;
  int rc = tids && authors ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    struct fanout_state *s = items[i].state;
    if (s->kind != EV_TWEET_CREATED) continue;
    tids[m] = s->tweet.id;
    authors[m++] = s->tweet.author_id;
  }
  if (!rc) rc = fl_tweet_reqs(ctx, tids, authors, m, reqs, nreq, pairs);
  free(tids);
  free(authors);
  return rc;
}

/* Pushes a run of joins_run events together: the followers of all of them
   in one statement (chirp_follow_followers_many), then every push —
   timelines, followers' feeds, the authors' own feeds — in one pipeline
   (chirp_feed_push_many: the one place where a batch of (tweet,
   followers) pushes is executed).  A tweet whose author has more than a
   chunk of followers goes the single way (fan_out: chunk messages). */
static int push_run(wk_ctx *ctx, const wk_item *items, size_t n) {
  size_t chunk = (size_t)ctx->cfg->fanout_chunk, nr = 0;
  chirp_follow_range *ranges = malloc(n * sizeof *ranges);
  size_t *which = malloc(n * sizeof *which); /* item -> range */
  chirp_feed_push_req *reqs = malloc(3 * n * sizeof *reqs);
  int64_t *ids = NULL, **owners = NULL, *list_pairs = NULL;
  size_t *off = NULL;
  int rc = ranges && which && reqs ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    const struct fanout_state *s = items[i].state;
    chirp_follow_range q = s->kind == EV_CHUNK    ? (chirp_follow_range){s->author_id, s->from, s->to}
                           : s->kind == EV_REPOST ? (chirp_follow_range){s->reposter, 1, INT64_MAX}
                                                  : (chirp_follow_range){s->tweet.author_id, 1, INT64_MAX};
    size_t k = 0;
    while (k < nr && memcmp(&ranges[k], &q, sizeof q) != 0) k++;
    if (k == nr) ranges[nr++] = q;
    which[i] = k;
  }
  if (!rc) rc = chirp_follow_followers_many(ctx->pg, ranges, nr, chunk * 2, &ids, &off);
  /* Each range's feed owners: its followers, then the followee (a tweet's
     author: its own feed; not pushed for a chunk). */
  if (!rc && !(owners = calloc(nr, sizeof *owners))) rc = CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    const struct fanout_state *s = items[i].state;
    size_t k = which[i], m = off[k + 1] - off[k];
    if (owners[k] || (s->kind != EV_CHUNK && m > chunk)) continue; /* done, or big */
    if (!(owners[k] = malloc((m + 1) * sizeof **owners))) {
      rc = CHIRP_ENOMEM;
      break;
    }
    memcpy(owners[k], ids + off[k], m * sizeof *ids);
    owners[k][m] = ranges[k].followee; /* for a tweet: its author */
  }
  size_t nreq = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    const struct fanout_state *s = items[i].state;
    size_t k = which[i], m = off[k + 1] - off[k];
    if (!owners[k]) continue;
    if (s->kind == EV_CHUNK) {
      reqs[nreq++] = (chirp_feed_push_req){CHIRP_LIST_FEED, s->tweet_id, owners[k], m,
                                           s->entry[0] ? s->entry : NULL};
      continue;
    }
    if (s->kind == EV_REPOST) { /* the repost keys take PostgreSQL's state first */
      rc = chirp_repost_sync(ctx->redis, s->tweet_id, s->reposter, s->pg_event_id, s->pg_repost_id);
      reqs[nreq++] = (chirp_feed_push_req){CHIRP_LIST_FEED, s->tweet_id, owners[k], m + 1, s->entry};
      continue;
    }
    reqs[nreq++] = (chirp_feed_push_req){CHIRP_LIST_TIMELINE, s->tweet.id, &s->tweet.author_id, 1, NULL};
    reqs[nreq++] = (chirp_feed_push_req){CHIRP_LIST_FEED, s->tweet.id, owners[k], m + 1, NULL};
  }
  if (!rc) rc = run_list_reqs(ctx, items, n, reqs, &nreq, &list_pairs);
  if (!rc) rc = chirp_feed_push_many(ctx->redis, reqs, nreq, ctx->cfg->feed_cap);
  /* Pushed: the big ones' single way below must not push their lists again
     (marked only now, so a failed pipeline repeated any way pushes them). */
  for (size_t i = 0; !rc && i < n; i++) ((struct fanout_state *)items[i].state)->lists_done = 1;
  if (!rc) announce_pushes(ctx, reqs, nreq);
  /* The big ones, one by one, in order. */
  for (size_t i = 0; !rc && i < n; i++) {
    if (owners[which[i]]) continue;
    struct fanout_state *s = items[i].state;
    int r = s->kind == EV_REPOST ? after_repost(ctx, s) : after_tweet(ctx, s);
    if (r == CHIRP_EUNAVAILABLE) rc = r;
    else if (r) chirp_warn("tweet.created: after the commit: %s", chirp_strerror(r));
  }
  for (size_t k = 0; owners && k < nr; k++) free(owners[k]);
  free(owners);
  free(list_pairs);
  free(ids);
  free(off);
  free(reqs);
  free(which);
  free(ranges);
  return rc;
}

/* The Redis side of a batch, in order: runs of new tweets together
   (push_run), every other event alone. */
static int fanout_after_commit_many(wk_ctx *ctx, const wk_item *items, size_t n) {
  if (!ctx->redis) return CHIRP_EUNAVAILABLE;
  for (size_t i = 0; i < n; i++)
    if (joins_run(items[i].state) && forget_quote_count(ctx, items[i].state)) return CHIRP_EUNAVAILABLE;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && joins_run(items[j].state)) j++;
    int rc;
    const char *what;
    if (j > i) {
      rc = push_run(ctx, items + i, j - i);
      what = "tweet.created";
      if (rc == CHIRP_EINTERNAL && ctx->pg && PQstatus(ctx->pg) != CONNECTION_OK)
        rc = CHIRP_EUNAVAILABLE;
    } else {
      rc = fanout_after_commit(ctx, items[i].ev, items[i].state);
      what = items[i].ev->type;
      j = i + 1;
    }
    if (rc == CHIRP_EUNAVAILABLE) return rc; /* all again: every step is idempotent */
    if (rc) chirp_warn("%s: after the commit: %s", what, chirp_strerror(rc));
    i = j;
  }
  return 0;
}

const wk_role_ops wk_role_fanout = {
    .name = "fanout",
    .decode = fanout_decode,
    .apply = fanout_apply,
    .apply_many = fanout_apply_many,
    .after_commit = fanout_after_commit,
    .after_commit_many = fanout_after_commit_many,
    .free_state = fanout_free,
    .claims = 0, /* every step is idempotent; see fanout_apply */
};
