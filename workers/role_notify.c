/*
 * role_notify.c — the notify role: follow, comment and mention
 * notifications from their events, and "poll ended" from a timer.  Like
 * notifications are made by the like batcher at flush time, so that a
 * like undone within the batch window notifies nobody.
 *
 * After the commit, each new notification is announced to its recipient
 * when a stream of theirs is open (chirp_live.h: one pipelined presence
 * check for the recipients of the event); the stream reads the inbox.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_comment.h"
#include "chirp_error.h"
#include "chirp_live.h"
#include "chirp_log.h"
#include "chirp_notify.h"
#include "chirp_tweet.h"
#include "worker.h"

struct notify_state {
  enum { N_FOLLOW, N_COMMENT, N_TWEET, N_REPOST } kind;
  int64_t followee;             /* N_FOLLOW */
  int64_t tweet_author;         /* N_COMMENT, N_REPOST */
  int64_t tweet_id;             /* N_REPOST */
  chirp_comment comment;        /* N_COMMENT */
  chirp_tweet tweet;            /* N_TWEET */
  int64_t notified[CHIRP_MAX_MENTIONS + 1];
  size_t nnotified;
};

static void notify_free(void *arg) {
  struct notify_state *s = arg;
  if (!s) return;
  chirp_comment_cleanup(&s->comment);
  chirp_tweet_cleanup(&s->tweet);
  free(s);
}

static int notify_decode(const chirp_event *ev, void **state, char *why, size_t n) {
  struct notify_state *s = calloc(1, sizeof *s);
  if (!s) return CHIRP_ENOMEM;
  int rc = 0;
  const char *reason = NULL;
  if (strcmp(ev->type, "follow.added") == 0) {
    s->kind = N_FOLLOW;
    if (chirp_json_get_id(ev->payload, "followee_id", &s->followee)) reason = "no followee_id";
  } else if (strcmp(ev->type, "comment.created") == 0) {
    s->kind = N_COMMENT;
    const json_t *cj = json_object_get(ev->payload, "comment");
    if (!cj || chirp_comment_from_json(cj, &s->comment) ||
        chirp_json_get_id(ev->payload, "tweet_author_id", &s->tweet_author))
      reason = "no comment or tweet_author_id";
  } else if (strcmp(ev->type, "repost.added") == 0) {
    s->kind = N_REPOST;
    if (chirp_json_get_id(ev->payload, "tweet_id", &s->tweet_id) ||
        chirp_json_get_id(ev->payload, "author_id", &s->tweet_author))
      reason = "no tweet_id or author_id";
  } else if (strcmp(ev->type, "tweet.created") == 0) {
    s->kind = N_TWEET;
    if (chirp_tweet_from_json(ev->payload, &s->tweet)) reason = "payload is not a tweet";
  } else {
    rc = CHIRP_ENOTFOUND;
  }
  if (reason) {
    snprintf(why, n, "%s", reason);
    rc = CHIRP_EMALFORMED;
  }
  if (rc) {
    notify_free(s);
    return rc;
  }
  *state = s;
  return 0;
}

static int notify_apply(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct notify_state *s = arg;
  char key[96];
  int created = 0, rc = 0;
  size_t m = 0;
  s->nnotified = 0;
  switch (s->kind) {
    case N_FOLLOW:
      snprintf(key, sizeof key, "follow:%lld", (long long)ev->event_id);
      rc = chirp_notify_add(ctx->pg, s->followee, "follow", ev->actor_id, 0, 0, key, &created);
      if (!rc && created) s->notified[s->nnotified++] = s->followee;
      break;
    case N_COMMENT:
      snprintf(key, sizeof key, "comment:%lld", (long long)s->comment.id);
      rc = chirp_notify_add(ctx->pg, s->tweet_author, "comment", ev->actor_id, s->comment.tweet_id,
                            s->comment.id, key, &created);
      if (!rc && created) s->notified[s->nnotified++] = s->tweet_author;
      if (!rc)
        rc = chirp_notify_mentions(ctx->pg, s->comment.text, ev->actor_id, s->comment.tweet_id,
                                   s->comment.id, s->notified + s->nnotified, &m);
      s->nnotified += m;
      break;
    case N_REPOST: /* one per repost (its event); none for reposting oneself */
      if (s->tweet_author == ev->actor_id) break;
      snprintf(key, sizeof key, "repost:%lld", (long long)ev->event_id);
      rc = chirp_notify_add(ctx->pg, s->tweet_author, "repost", ev->actor_id, s->tweet_id, 0, key,
                            &created);
      if (!rc && created) s->notified[s->nnotified++] = s->tweet_author;
      break;
    case N_TWEET:
      rc = chirp_notify_mentions(ctx->pg, s->tweet.text, ev->actor_id, s->tweet.id, 0, s->notified,
                                 &m);
      s->nnotified = m;
      break;
  }
  return rc;
}

static int notify_after_commit(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct notify_state *s = arg;
  (void)ev;
  chirp_notify_bump(ctx->redis, s->notified, s->nnotified); /* counters rebuild if lost */
  (void)chirp_live_announce(ctx->redis, s->notified, s->nnotified, CHIRP_LIVE_NOTIFICATION, 0);
  return 0;
}

static void notify_tick(wk_ctx *ctx) {
  int64_t *who = NULL;
  size_t n = 0;
  /* One statement: its own transaction. */
  if (chirp_notify_polls_ended(ctx->pg, &who, &n) == 0) {
    if (n) chirp_info("poll ended: %zu notification(s)", n);
    chirp_notify_bump(ctx->redis, who, n);
    (void)chirp_live_announce(ctx->redis, who, n, CHIRP_LIVE_NOTIFICATION, 0);
  }
  free(who);
}

const wk_role_ops wk_role_notify = {
    .name = "notify",
    .decode = notify_decode,
    .apply = notify_apply,
    .after_commit = notify_after_commit,
    .free_state = notify_free,
    .tick = notify_tick,
    .claims = 1,
};
