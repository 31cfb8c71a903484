/*
 * persist_marks.h — the persist role's part for bookmarks and pins
 * (bookmark.added/removed, pin.added/removed): PostgreSQL first, newest
 * event wins, then the same state in Redis (chirp_bookmark.h, chirp_pin.h).
 */
#ifndef WK_PERSIST_MARKS_H
#define WK_PERSIST_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "worker.h"

typedef struct wk_mark {
  int pin;     /* 1 pin.*, 0 bookmark.* */
  int active;  /* added */
  int64_t owner, tweet, event;
} wk_mark;

/* 1 when ev->type is one of the four. */
int wk_mark_is(const char *type);
int wk_mark_decode(const chirp_event *ev, wk_mark *m, char *why, size_t n);
int wk_mark_apply(wk_ctx *ctx, const wk_mark *m);
int wk_mark_after_commit(wk_ctx *ctx, const wk_mark *m);

#endif
