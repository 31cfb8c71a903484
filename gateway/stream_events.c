/*
 * stream_events.c — what a stream is sent: the SSE blocks, the hydrated
 * tweets of a batch of announcements, and the catch-up from the feed and
 * the inbox (see stream_hub.c for the ids and when each runs).  Runs on a
 * hub thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_notify.h"
#include "gw.h"
#include "notify_items.h"
#include "stream_events.h"

/* Feed entries a catch-up sends at most (older ones: the client pages
   GET /feed); notifications likewise. */
#define CATCHUP_FEED 200
#define CATCHUP_NOTES 50
/* Ids a fresh stream takes as already known (the top of its feed). */
#define PRIME_FEED 20
#define MAX_REBUILDS 8

/* --- writing events --- */

static void emit(gw_stream *s, const char *event, const char *data, size_t len) {
  char head[160];
  s->seq++;
  int h = snprintf(head, sizeof head, "id: %" PRId64 "-%" PRId64 "-%" PRId64 "\nevent: %s\ndata: ",
                   s->feed_hw, s->notif_hw, s->seq, event);
  size_t total = (size_t)h + len + 2;
  char stackbuf[4096], *b = total <= sizeof stackbuf ? stackbuf : malloc(total);
  if (!b) return;
  memcpy(b, head, (size_t)h);
  memcpy(b + h, data, len);
  memcpy(b + h + len, "\n\n", 2);
  (void)gw_stream_write(s, b, total);
  if (b != stackbuf) free(b);
}

/* An id-only block: EventSource takes it as its last event id without
   firing an event, so even a stream that has delivered nothing yet
   resumes from where it started. */
static void emit_position(gw_stream *s) {
  char b[128];
  int n = snprintf(b, sizeof b, "retry: 3000\nid: %" PRId64 "-%" PRId64 "-%" PRId64 "\n\n",
                   s->feed_hw, s->notif_hw, s->seq);
  (void)gw_stream_write(s, b, (size_t)n);
}

static int ring_has(const gw_stream *s, int64_t id) {
  for (size_t i = 0; i < GW_STREAM_RING; i++)
    if (s->ring[i] == id) return 1;
  return 0;
}

static void ring_add(gw_stream *s, int64_t id) {
  s->ring[s->ring_pos] = id;
  s->ring_pos = (s->ring_pos + 1) % GW_STREAM_RING;
}


void gw_ev_hydrated_free(hydrated *h) {
  free(h->text.buf);
  free(h->shown);
  free(h->start);
  free(h->end);
  memset(h, 0, sizeof *h);
}

int gw_ev_hydrate(const int64_t *ids, size_t n, int64_t viewer, hydrated *h) {
  memset(h, 0, sizeof *h);
  if (n == 0) return 0;
  h->shown = malloc(n * sizeof *h->shown);
  h->start = malloc(n * sizeof *h->start);
  h->end = malloc(n * sizeof *h->end);
  size_t got = 0;
  int rc = h->shown && h->start && h->end
               ? gw_hydrate_raw(ids, n, viewer, &h->text, h->shown, h->end, &got)
               : CHIRP_ENOMEM;
  gw_conns_check();
  /* Items are joined by commas: each starts one byte after the one before. */
  for (size_t k = 0; !rc && k < got; k++) h->start[k] = k ? h->end[k - 1] + 1 : 0;
  if (rc) {
    gw_ev_hydrated_free(h);
    return rc;
  }
  h->n = got;
  return 0;
}

static int hydrated_find(const hydrated *h, int64_t id, const char **text, size_t *len) {
  for (size_t k = 0; k < h->n; k++)
    if (h->shown[k] == id) {
      *text = h->text.buf + h->start[k];
      *len = h->end[k] - h->start[k];
      return 0;
    }
  return -1;
}

static void emit_tweet(gw_stream *s, const hydrated *h, int64_t id) {
  const char *t;
  size_t len;
  if (ring_has(s, id) || hydrated_find(h, id, &t, &len)) return;
  if (id > s->feed_hw) s->feed_hw = id;
  ring_add(s, id);
  emit(s, "tweet", t, len);
}

/* --- catching up from the feed and the inbox --- */

/* The newest ids of reader's feed (rebuilt from PostgreSQL when Redis
   lost it, as GET /feed does). */
static int feed_top(int64_t reader, size_t want, int64_t *ids, size_t *n) {
  for (int attempt = 0; attempt <= MAX_REBUILDS; attempt++) {
    redisContext *r = gw_redis();
    if (!r) return CHIRP_EUNAVAILABLE;
    int64_t stale = 0;
    int rc = chirp_feed_page(r, reader, 0, want, ids, n, &stale);
    if (rc != CHIRP_ENOTFOUND) return rc;
    PGconn *pg = gw_pg();
    if (!pg) return CHIRP_EUNAVAILABLE;
    rc = stale < 0 ? chirp_feed_rebuild(r, pg, reader, gw.cfg.feed_cap)
                   : chirp_timeline_rebuild(r, pg, stale, gw.cfg.feed_cap);
    if (rc) return rc;
  }
  return CHIRP_EINTERNAL;
}

/* The newest notifications of reader, newest first, hydrated for them
   when full (else bare rows: only their ids are wanted). */
static int inbox_top(int64_t reader, int limit, int full, json_t **items) {
  PGconn *pg = gw_pg();
  int64_t next = 0;
  int rc = pg ? chirp_notify_list(pg, reader, 0, limit, items, &next) : CHIRP_EUNAVAILABLE;
  if (!rc && full && (rc = gw_notify_items_hydrate(reader, *items))) {
    json_decref(*items);
    *items = NULL;
  }
  return rc;
}

static int64_t item_id(json_t *item) {
  const char *v = json_string_value(json_object_get(item, "id"));
  return v ? strtoll(v, NULL, 10) : 0;
}

/* Sends the notifications of items (newest first) above each stream's
   mark, oldest first. */
static void emit_notes(gw_stream **ss, size_t ns, json_t *items) {
  for (size_t k = json_array_size(items); k-- > 0;) {
    json_t *it = json_array_get(items, k);
    int64_t id = item_id(it);
    char *text = NULL;
    for (size_t j = 0; j < ns; j++) {
      gw_stream *s = ss[j];
      if (id <= s->notif_hw) continue;
      if (!text && !(text = json_dumps(it, JSON_COMPACT | JSON_REAL_PRECISION(6)))) return;
      s->notif_hw = id;
      emit(s, "notification", text, strlen(text));
    }
    free(text);
  }
}

/* Catch-up of the streams of u that need it: a fresh stream takes the
   top of the feed and inbox as known and says where it starts; a resumed
   one (or any after a lost subscription) is sent what is newer than its
   marks.  A stream whose catch-up failed (Redis or PostgreSQL down) is
   retried with the next heartbeat. */
void gw_ev_catch_up(hub_user *u) {
  gw_stream *todo[64];
  size_t nt = 0;
  for (size_t i = 0; i < u->n && nt < 64; i++)
    if (u->streams[i]->catchup) todo[nt++] = u->streams[i];
  if (!nt) return;
  /* Fresh streams only need the newest ids; resumed ones what they missed. */
  int full = 0;
  for (size_t j = 0; j < nt; j++) full |= todo[j]->primed || todo[j]->resumed;
  int64_t ids[CATCHUP_FEED];
  size_t n = 0;
  json_t *notes = NULL;
  int rc = feed_top(u->id, full ? CATCHUP_FEED : PRIME_FEED, ids, &n);
  if (!rc) rc = inbox_top(u->id, full ? CATCHUP_NOTES : 1, full, &notes);
  gw_conns_check();
  if (rc) {
    chirp_warn("stream of %lld: catch-up failed (%s); retried", (long long)u->id,
               chirp_strerror(rc));
    return;
  }
  for (size_t j = 0; j < nt; j++) {
    gw_stream *s = todo[j];
    s->catchup = 0;
    if (!s->primed && !s->resumed) {
      for (size_t i = 0; i < n && i < PRIME_FEED; i++) ring_add(s, ids[i]);
      if (n && ids[0] > s->feed_hw) s->feed_hw = ids[0];
      int64_t top = json_array_size(notes) ? item_id(json_array_get(notes, 0)) : 0;
      if (top > s->notif_hw) s->notif_hw = top;
    } else {
      /* Above the mark, oldest first. */
      size_t above = 0;
      while (above < n && ids[above] > s->feed_hw) above++;
      int64_t asc[CATCHUP_FEED];
      for (size_t i = 0; i < above; i++) asc[i] = ids[above - 1 - i];
      hydrated h;
      if (above && gw_ev_hydrate(asc, above, u->id, &h) == 0) {
        for (size_t i = 0; i < above; i++) emit_tweet(s, &h, asc[i]);
        gw_ev_hydrated_free(&h);
      }
      emit_notes(&s, 1, notes);
    }
    s->primed = 1;
    emit_position(s);
  }
  json_decref(notes);
}

/* The hydrated text of tweet id for viewer u: the batch's shared text
   (hydrated for nobody) with liked_by_me as the viewer's, or NULL.  The
   first "liked_by_me" member is the tweet's own: the numbers' tail comes
   before any nested object (the tweet's own JSON has no such key, and a
   quote inside a string value is escaped). */
static const char *tweet_for(const hydrated *h, const struct msg *m, size_t *len, char **owned) {
  static const char no[] = "\"liked_by_me\":false";
  const char *t;
  *owned = NULL;
  if (hydrated_find(h, m->id, &t, len)) return NULL;
  if (!m->liked) return t;
  size_t nl = sizeof no - 1, at = 0;
  while (at + nl <= *len && memcmp(t + at, no, nl) != 0) at++;
  if (at + nl > *len) return NULL; /* not our shape */
  char *c = malloc(*len);
  if (!c) return NULL;
  size_t head = at + nl - 5; /* up to "false" */
  memcpy(c, t, head);
  memcpy(c + head, "true", 4);
  memcpy(c + head + 4, t + at + nl, *len - at - nl);
  *len -= 1;
  *owned = c;
  return c;
}

/* The announcements u received in this batch, in order. */
void gw_ev_deliver(hub_user *u, const hydrated *h) {
  int notes = 0;
  for (size_t i = 0; i < u->nmsgs; i++) {
    const struct msg *m = &u->msgs[i];
    if (m->kind == 'n') notes = 1;
    size_t len = 0;
    char *owned = NULL, del[64];
    const char *t = NULL;
    if (m->kind == 't' || m->kind == 'e') {
      if (!(t = tweet_for(h, m, &len, &owned))) continue; /* deleted meanwhile */
    } else if (m->kind == 'd') {
      len = (size_t)snprintf(del, sizeof del, "{\"id\":\"%" PRId64 "\"}", m->id);
      t = del;
    }
    for (size_t j = 0; t && j < u->n; j++) {
      gw_stream *s = u->streams[j];
      if (s->catchup) continue; /* its catch-up covers it */
      if (m->kind == 't') {
        if (ring_has(s, m->id)) continue;
        if (m->id > s->feed_hw) s->feed_hw = m->id;
        ring_add(s, m->id);
      }
      emit(s, m->kind == 't' ? "tweet" : m->kind == 'e' ? "tweet.edited" : "tweet.deleted", t, len);
    }
    free(owned);
  }
  u->nmsgs = 0;
  if (notes) {
    json_t *items = NULL;
    if (inbox_top(u->id, CATCHUP_NOTES, 1, &items) == 0) {
      gw_stream **live = malloc(u->n * sizeof *live);
      size_t nl = 0;
      for (size_t j = 0; live && j < u->n; j++)
        if (!u->streams[j]->catchup) live[nl++] = u->streams[j];
      if (live) emit_notes(live, nl, items);
      free(live);
      json_decref(items);
    }
    gw_conns_check();
  }
}

/* liked_by_me of every (reader, tweet) pair of the batch: one pipelined
   SISMEMBER each, in one round trip (the liker sets are built: hydrating
   the tweets just now rebuilt any that Redis had lost). */
int gw_ev_likes(hub_user **users, size_t nu, const hydrated *h) {
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  char key[CHIRP_KEY_BUFSZ];
  const char *t;
  size_t len;
  for (size_t i = 0; i < nu; i++)
    for (size_t k = 0; k < users[i]->nmsgs; k++) {
      struct msg *m = &users[i]->msgs[k];
      m->liked = 0;
      if ((m->kind != 't' && m->kind != 'e') || hydrated_find(h, m->id, &t, &len)) continue;
      redisAppendCommand(r, "SISMEMBER %s %lld", chirp_key_likers(key, m->id),
                         (long long)users[i]->id);
    }
  int rc = 0;
  for (size_t i = 0; i < nu; i++)
    for (size_t k = 0; k < users[i]->nmsgs; k++) {
      struct msg *m = &users[i]->msgs[k];
      if ((m->kind != 't' && m->kind != 'e') || hydrated_find(h, m->id, &t, &len)) continue;
      redisReply *rep = NULL;
      if (rc || redisGetReply(r, (void **)&rep) != REDIS_OK || !rep) {
        rc = CHIRP_EUNAVAILABLE;
        continue;
      }
      m->liked = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
      freeReplyObject(rep);
    }
  gw_conns_check();
  return rc;
}

