/*
 * role_persist.c — the persist role: tweets into PostgreSQL, the source of
 * truth, then the settled state into the Redis cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_log.h"
#include "chirp_tweet.h"
#include "worker.h"

struct persist_state {
  chirp_tweet tweet;        /* the state after the event */
  char *previous_text;      /* tweet.edited: the version it replaced */
  int64_t previous_since_ms;
};

static void persist_free(void *arg) {
  struct persist_state *s = arg;
  if (!s) return;
  chirp_tweet_cleanup(&s->tweet);
  free(s->previous_text);
  free(s);
}

static int bad(char *why, size_t n, const char *reason) {
  snprintf(why, n, "%s", reason);
  return CHIRP_EMALFORMED;
}

static int persist_decode(const chirp_event *ev, void **state, char *why, size_t n) {
  int created = strcmp(ev->type, "tweet.created") == 0;
  int edited = strcmp(ev->type, "tweet.edited") == 0;
  int deleted = strcmp(ev->type, "tweet.deleted") == 0;
  if (!created && !edited && !deleted) return CHIRP_ENOTFOUND;
  struct persist_state *s = calloc(1, sizeof *s);
  if (!s) return CHIRP_ENOMEM;
  const json_t *tj = created ? ev->payload : json_object_get(ev->payload, "tweet");
  int rc = tj ? chirp_tweet_from_json(tj, &s->tweet) : CHIRP_EMALFORMED;
  if (rc) {
    persist_free(s);
    return rc == CHIRP_ENOMEM ? rc : bad(why, n, "payload is not a tweet");
  }
  if (s->tweet.author_id != ev->actor_id) rc = bad(why, n, "actor is not the tweet's author");
  if (!rc && edited) {
    const char *prev = json_string_value(json_object_get(ev->payload, "previous_text"));
    if (!prev || !s->tweet.edited_ms ||
        chirp_json_get_time(ev->payload, "previous_since", &s->previous_since_ms))
      rc = bad(why, n, "edit without previous_text, previous_since or edited_at");
    else if (!(s->previous_text = strdup(prev)))
      rc = CHIRP_ENOMEM;
  }
  if (!rc && deleted && chirp_json_get_time(ev->payload, "deleted_at", &s->tweet.deleted_ms))
    rc = bad(why, n, "delete without deleted_at");
  if (rc) {
    persist_free(s);
    return rc;
  }
  *state = s;
  return 0;
}

static int persist_apply(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct persist_state *s = arg;
  if (strcmp(ev->type, "tweet.created") == 0) return chirp_tweet_store_create(ctx->pg, &s->tweet);
  if (strcmp(ev->type, "tweet.edited") == 0)
    return chirp_tweet_store_edit(ctx->pg, ev->event_id, &s->tweet, s->previous_text,
                                  s->previous_since_ms);
  return chirp_tweet_store_delete(ctx->pg, &s->tweet);
}

static void persist_after_commit(wk_ctx *ctx, const chirp_event *ev, void *arg) {
  struct persist_state *s = arg;
  (void)ev;
  if (ctx->redis && chirp_tweet_cache_put(ctx->redis, &s->tweet, ctx->cfg->cache_ttl_s) != 0)
    chirp_warn("tweet %lld: cache refresh failed", (long long)s->tweet.id);
}

const wk_role_ops wk_role_persist = {
    .name = "persist",
    .decode = persist_decode,
    .apply = persist_apply,
    .after_commit = persist_after_commit,
    .free_state = persist_free,
};
