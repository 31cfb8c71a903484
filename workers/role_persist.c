/*
 * role_persist.c — the persist role: tweets (with their polls), comments
 * and poll votes into PostgreSQL, the source of truth, then the settled
 * state into the Redis cache; and the purge of a deleted account
 * (chirp_account_purge.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account_purge.h"
#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_poll.h"
#include "chirp_redis.h"
#include "chirp_search.h"
#include "chirp_tweet.h"
#include "persist_marks.h"
#include "worker.h"

enum persist_kind { P_TWEET_CREATED, P_TWEET_EDITED, P_TWEET_DELETED, P_COMMENT, P_VOTE,
                    P_ACCOUNT_DELETED, P_MARK };

struct persist_state {
  enum persist_kind kind;
  chirp_tweet tweet;        /* tweet events: the state after the event */
  char *previous_text;      /* tweet.edited: the version it replaced */
  int64_t previous_since_ms;
  chirp_comment comment;    /* comment events: the state after the event */
  int comment_delta;        /* how the live comment count moved */
  int foreign;              /* the row belongs to another author: nothing changed */
  int64_t poll_id, voter;   /* poll.voted */
  int choices[8];
  size_t nchoices;
  int vote_applied;
  int64_t account_id, deleted_ms; /* account.deleted */
  chirp_purge purge;              /* what its purge changed, for Redis */
  wk_mark mark;                   /* bookmark.*, pin.* */
};

static void persist_free(void *arg) {
  struct persist_state *s = arg;
  if (!s) return;
  chirp_tweet_cleanup(&s->tweet);
  chirp_comment_cleanup(&s->comment);
  chirp_purge_cleanup(&s->purge);
  free(s->previous_text);
  free(s);
}

static int bad(char *why, size_t n, const char *reason) {
  snprintf(why, n, "%s", reason);
  return CHIRP_EMALFORMED;
}

static int decode_tweet(const chirp_event *ev, struct persist_state *s, char *why, size_t n) {
  const json_t *tj = s->kind == P_TWEET_CREATED ? ev->payload : json_object_get(ev->payload, "tweet");
  int rc = tj ? chirp_tweet_from_json(tj, &s->tweet) : CHIRP_EMALFORMED;
  if (rc) return rc == CHIRP_ENOMEM ? rc : bad(why, n, "payload is not a tweet");
  if (s->tweet.author_id != ev->actor_id) return bad(why, n, "actor is not the tweet's author");
  if (s->kind == P_TWEET_EDITED) {
    const char *prev = json_string_value(json_object_get(ev->payload, "previous_text"));
    if (!prev || !s->tweet.edited_ms ||
        chirp_json_get_time(ev->payload, "previous_since", &s->previous_since_ms))
      return bad(why, n, "edit without previous_text, previous_since or edited_at");
    if (!(s->previous_text = strdup(prev))) return CHIRP_ENOMEM;
  }
  if (s->kind == P_TWEET_DELETED &&
      chirp_json_get_time(ev->payload, "deleted_at", &s->tweet.deleted_ms))
    return bad(why, n, "delete without deleted_at");
  int64_t poll_id;
  if (s->tweet.poll && chirp_poll_id(s->tweet.poll, &poll_id))
    return bad(why, n, "tweet with a poll that has no id");
  return 0;
}

static int decode_comment(const chirp_event *ev, struct persist_state *s, char *why, size_t n) {
  const json_t *cj = json_object_get(ev->payload, "comment");
  int rc = cj ? chirp_comment_from_json(cj, &s->comment) : CHIRP_EMALFORMED;
  if (rc) return rc == CHIRP_ENOMEM ? rc : bad(why, n, "payload has no comment");
  if (s->comment.author_id != ev->actor_id) return bad(why, n, "actor is not the comment's author");
  if (strcmp(ev->type, "comment.deleted") == 0 &&
      chirp_json_get_time(ev->payload, "deleted_at", &s->comment.deleted_ms))
    return bad(why, n, "delete without deleted_at");
  if (strcmp(ev->type, "comment.edited") == 0 && !s->comment.edited_ms)
    return bad(why, n, "edit without edited_at");
  return 0;
}

static int decode_vote(const chirp_event *ev, struct persist_state *s, char *why, size_t n) {
  const json_t *c = json_object_get(ev->payload, "choices");
  if (chirp_json_get_id(ev->payload, "poll_id", &s->poll_id) || !json_is_array(c) ||
      json_array_size(c) == 0 || json_array_size(c) > 8)
    return bad(why, n, "vote without poll_id or choices");
  s->voter = ev->actor_id;
  for (size_t i = 0; i < json_array_size(c); i++) {
    const json_t *v = json_array_get(c, i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 7)
      return bad(why, n, "a choice is not an option index");
    s->choices[s->nchoices++] = (int)json_integer_value(v);
  }
  return 0;
}

static int decode_account_deleted(const chirp_event *ev, struct persist_state *s, char *why,
                                  size_t n) {
  if (chirp_json_get_id(ev->payload, "account_id", &s->account_id) ||
      chirp_json_get_time(ev->payload, "deleted_at", &s->deleted_ms) || s->deleted_ms <= 0)
    return bad(why, n, "account.deleted without account_id or deleted_at");
  if (s->account_id != ev->actor_id) return bad(why, n, "actor is not the deleted account");
  return 0;
}

static int persist_decode(const chirp_event *ev, void **state, char *why, size_t n) {
  struct persist_state *s = calloc(1, sizeof *s);
  if (!s) return CHIRP_ENOMEM;
  int rc;
  if (strcmp(ev->type, "tweet.created") == 0 || strcmp(ev->type, "tweet.edited") == 0 ||
      strcmp(ev->type, "tweet.deleted") == 0) {
    s->kind = ev->type[6] == 'c' ? P_TWEET_CREATED : ev->type[6] == 'e' ? P_TWEET_EDITED
                                                                        : P_TWEET_DELETED;
    rc = decode_tweet(ev, s, why, n);
  } else if (strncmp(ev->type, "comment.", 8) == 0) {
    s->kind = P_COMMENT;
    rc = decode_comment(ev, s, why, n);
  } else if (strcmp(ev->type, "poll.voted") == 0) {
    s->kind = P_VOTE;
    rc = decode_vote(ev, s, why, n);
  } else if (wk_mark_is(ev->type)) {
    s->kind = P_MARK;
    rc = wk_mark_decode(ev, &s->mark, why, n);
  } else if (strcmp(ev->type, "account.deleted") == 0) {
    s->kind = P_ACCOUNT_DELETED;
    rc = decode_account_deleted(ev, s, why, n);
  } else {
    rc = CHIRP_ENOTFOUND;
  }
  if (rc) {
    persist_free(s);
    return rc;
  }
  *state = s;
  return 0;
}

/* An event whose actor is not the author of the row it names changes
   nothing (the gateway refuses such requests; this is the defence behind
   it, e.g. against a forged message on the broker). */
static int foreign_row(const chirp_event *ev, struct persist_state *s) {
  s->foreign = 1;
  chirp_warn("%s %lld: actor %lld is not the author of that row; ignored", ev->type,
             (long long)ev->event_id, (long long)ev->actor_id);
  return 0;
}

static int persist_apply(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct persist_state *s = arg;
  int rc, ok = 1, inserted = 1;
  switch (s->kind) {
    case P_TWEET_CREATED:
      rc = chirp_tweet_store_create(ctx->pg, &s->tweet, &inserted);
      /* Not new: a delete overtook it (a tombstone of this author), or the
         id is another author's. */
      if (!rc && !inserted) rc = chirp_tweet_store_authored(ctx->pg, s->tweet.id,
                                                            s->tweet.author_id, &ok);
      if (!rc && !ok) return foreign_row(ev, s);
      if (!rc) rc = chirp_search_store_hashtags(ctx->pg, s->tweet.id, s->tweet.text);
      if (!rc && s->tweet.poll)
        rc = chirp_poll_store_create(ctx->pg, s->tweet.poll, s->tweet.id, s->tweet.author_id);
      return rc;
    case P_TWEET_EDITED:
      rc = chirp_tweet_store_edit(ctx->pg, ev->event_id, &s->tweet, s->previous_text,
                                  s->previous_since_ms, &ok);
      if (!rc && !ok) return foreign_row(ev, s);
      return rc ? rc : chirp_search_store_hashtags(ctx->pg, s->tweet.id, s->tweet.text);
    case P_TWEET_DELETED:
      rc = chirp_tweet_store_delete(ctx->pg, &s->tweet, &ok);
      return !rc && !ok ? foreign_row(ev, s) : rc;
    case P_COMMENT:
      rc = chirp_comment_store_put(ctx->pg, &s->comment, &s->comment_delta, &ok);
      return !rc && !ok ? foreign_row(ev, s) : rc;
    case P_VOTE:
      return chirp_poll_store_vote(ctx->pg, s->poll_id, s->voter, s->choices, s->nchoices,
                                   ev->event_id, ev->occurred_ms, &s->vote_applied);
    case P_ACCOUNT_DELETED:
      /* A batch retried message by message applies it again: start clean. */
      chirp_purge_cleanup(&s->purge);
      return chirp_account_purge(ctx->pg, s->account_id, ev->event_id, s->deleted_ms, &s->purge);
    case P_MARK:
      return wk_mark_apply(ctx, &s->mark);
  }
  return CHIRP_EINTERNAL;
}

/* A run of tweet.created events, applied as persist_apply applies each:
   the rows in one statement (two when some were there), the hashtags of
   all in two, the polls one by one. */
static int create_run(wk_ctx *ctx, const wk_item *items, size_t n) {
  const chirp_tweet **tweets = malloc(n * sizeof *tweets);
  const char **texts = malloc(n * sizeof *texts);
  int64_t *ids = malloc(n * sizeof *ids);
  unsigned char *authored = malloc(n);
  int rc = tweets && texts && ids && authored ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) tweets[i] = &((struct persist_state *)items[i].state)->tweet;
  if (!rc) rc = chirp_tweet_store_create_checked(ctx->pg, tweets, n, authored);
  size_t m = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (!authored[i]) {
      foreign_row(items[i].ev, items[i].state);
      continue;
    }
    ids[m] = tweets[i]->id;
    texts[m++] = tweets[i]->text;
  }
  if (!rc) rc = chirp_search_store_hashtags_many(ctx->pg, ids, texts, m);
  for (size_t i = 0; !rc && i < n; i++)
    if (authored[i] && tweets[i]->poll)
      rc = chirp_poll_store_create(ctx->pg, tweets[i]->poll, tweets[i]->id, tweets[i]->author_id);
  free(tweets);
  free(texts);
  free(ids);
  free(authored);
  return rc;
}

/* The claimed events of a batch in order: runs of tweet.created together
   (create_run), every other event by persist_apply. */
static int persist_apply_many(wk_ctx *ctx, const wk_item *items, size_t n) {
  int rc = 0;
  for (size_t i = 0; !rc && i < n;) {
    size_t j = i;
    while (j < n && ((struct persist_state *)items[j].state)->kind == P_TWEET_CREATED) j++;
    if (j > i) {
      rc = create_run(ctx, items + i, j - i);
      i = j;
    } else {
      rc = persist_apply(ctx, items[i].ev, items[i].state);
      i++;
    }
  }
  return rc;
}

/* The parent's reply count is recounted from PostgreSQL at its next read
   (stats_marks.h): whether this event changed it is not known here, as the
   fan-out role may have stored the reply's row first. */
static int drop_reply_count(wk_ctx *ctx, int64_t parent) {
  char key[CHIRP_KEY_BUFSZ];
  redisReply *d = chirp_redis_command(ctx->redis, "DEL %s", chirp_key_reply_count(key, parent));
  if (!d) return CHIRP_EUNAVAILABLE;
  freeReplyObject(d);
  return 0;
}

static int persist_after_commit(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct persist_state *s = arg;
  (void)ev;
  if (s->foreign) return 0;
  if (!ctx->redis) return s->kind == P_ACCOUNT_DELETED ? CHIRP_EUNAVAILABLE : 0;
  int rc = 0;
  char key[CHIRP_KEY_BUFSZ];
  switch (s->kind) {
    case P_TWEET_CREATED:
      /* Nothing to cache: the gateway cached the new tweet before its 202,
         and a reader that misses refills from PostgreSQL.  Caching here
         could bring back a tweet deleted (and evicted) meanwhile.  Cached
         search answers must not hide it: a new generation. */
      rc = chirp_search_bump(ctx->redis);
      if (!rc && s->tweet.reply_to) rc = drop_reply_count(ctx, s->tweet.reply_to);
      break;
    case P_TWEET_EDITED:
    case P_TWEET_DELETED:
      rc = chirp_tweet_cache_put(ctx->redis, &s->tweet, ctx->cfg->cache_ttl_s);
      if (!rc) rc = chirp_search_bump(ctx->redis);
      if (!rc && s->kind == P_TWEET_DELETED && s->tweet.reply_to)
        rc = drop_reply_count(ctx, s->tweet.reply_to);
      break;
    case P_MARK:
      /* Not best effort: the owner's Redis keys must settle on this event. */
      rc = wk_mark_after_commit(ctx, &s->mark);
      if (rc == CHIRP_EUNAVAILABLE) return rc;
      break;
    case P_COMMENT:
      rc = chirp_comment_cache_put(ctx->redis, &s->comment, ctx->cfg->cache_ttl_s);
      if (!rc && s->comment_delta)
        rc = chirp_counter_add(ctx->redis, chirp_key_comment_count(key, s->comment.tweet_id),
                               s->comment_delta);
      break;
    case P_VOTE:
      if (s->vote_applied)
        rc = chirp_poll_replay(ctx->redis, s->poll_id, s->voter, s->choices, s->nchoices);
      break;
    case P_ACCOUNT_DELETED:
      /* Not best effort: the token must stop working and the counts must
         settle, so a Redis failure waits and retries (it is idempotent). */
      rc = chirp_account_purge_cache(ctx->redis, &s->purge, ctx->cfg->cache_ttl_s);
      if (rc == CHIRP_EUNAVAILABLE) return rc;
      break;
  }
  /* Best effort: readers fall back to PostgreSQL and refill the cache. */
  if (rc) chirp_warn("%s: cache refresh failed; readers fall back to PostgreSQL", ev->type);
  return 0;
}

const wk_role_ops wk_role_persist = {
    .name = "persist",
    .decode = persist_decode,
    .apply = persist_apply,
    .apply_many = persist_apply_many,
    .after_commit = persist_after_commit,
    .free_state = persist_free,
    .claims = 1,
};
