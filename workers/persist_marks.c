/* persist_marks.c — bookmarks and pins of the persist role, see persist_marks.h. */
#include "persist_marks.h"

#include <stdio.h>
#include <string.h>

#include "chirp_bookmark.h"
#include "chirp_error.h"
#include "chirp_pin.h"

int wk_mark_is(const char *type) {
  return strcmp(type, "bookmark.added") == 0 || strcmp(type, "bookmark.removed") == 0 ||
         strcmp(type, "pin.added") == 0 || strcmp(type, "pin.removed") == 0;
}

int wk_mark_decode(const chirp_event *ev, wk_mark *m, char *why, size_t n) {
  memset(m, 0, sizeof *m);
  m->pin = ev->type[0] == 'p';
  m->active = strstr(ev->type, ".added") != NULL;
  m->event = ev->event_id;
  if (chirp_json_get_id(ev->payload, "tweet_id", &m->tweet) ||
      chirp_json_get_id(ev->payload, m->pin ? "account_id" : "user_id", &m->owner)) {
    snprintf(why, n, "%s without tweet_id or its owner", ev->type);
    return CHIRP_EMALFORMED;
  }
  if (m->owner != ev->actor_id) {
    snprintf(why, n, "%s: actor is not the owner", ev->type);
    return CHIRP_EMALFORMED;
  }
  return 0;
}

int wk_mark_apply(wk_ctx *ctx, const wk_mark *m) {
  if (m->pin) return chirp_pin_store_put(ctx->pg, m->owner, m->active ? m->tweet : 0, m->event);
  return chirp_bookmark_store_put(ctx->pg, m->owner, m->tweet, m->active, m->event);
}

int wk_mark_after_commit(wk_ctx *ctx, const wk_mark *m) {
  /* Keys not built stay so: their next reader builds them from
     PostgreSQL, which holds this event now. */
  if (m->pin) return chirp_pin_set(ctx->redis, m->owner, m->active ? m->tweet : 0, m->event);
  int result;
  return chirp_bookmark_set(ctx->redis, m->owner, m->tweet, m->event, m->active, 0, &result, NULL);
}
