/*
 * stream_hub.c — the one thread behind every stream of this gateway.
 *
 * It holds one Redis connection subscribed to the channel of each reader
 * with a stream open here (one subscription per reader, whatever the
 * number of their streams), keeps the readers' presence keys alive so the
 * workers announce to them (chirp_live.h), turns each announcement into
 * the event the client sees (hydrated exactly as GET /feed and GET
 * /notifications items are), writes a heartbeat comment to every stream
 * each CHIRP_STREAM_HEARTBEAT_S, and sleeps in poll() otherwise: idle
 * streams cost no CPU and no thread.
 *
 * Event ids are "F-N-S": the newest feed tweet id and the newest
 * notification id the stream has delivered, and a count of events.  Ids
 * are time-ordered, so a client reconnecting with Last-Event-ID (to this
 * gateway or another, after a restart too) is sent the feed entries above
 * F and the notifications above N, then goes on live.  The catch-up runs
 * after the subscription is confirmed, so an announcement published
 * meanwhile is not lost; a tweet that came both ways is sent once (each
 * stream remembers the tweet ids it sent).  The same catch-up runs after
 * the subscriber connection to Redis was lost and remade.
 *
 * Announcements that arrive together are handled together: the batch's
 * tweets are hydrated once for all readers (two Redis round trips), then
 * liked_by_me of every (reader, tweet) pair in one more.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_live.h"
#include "chirp_log.h"
#include "chirp_notify.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "gw.h"
#include "hydrate.h"
#include "notify_items.h"
#include "stream.h"
#include "stream_int.h"

/* Feed entries a catch-up sends at most (older ones: the client pages
   GET /feed); notifications likewise. */
#define CATCHUP_FEED 200
#define CATCHUP_NOTES 50
/* Ids a fresh stream takes as already known (the top of its feed). */
#define PRIME_FEED 20
#define MAX_REBUILDS 8
#define SUB_RETRY_MS 1000

struct msg {
  char kind; /* 't' tweet, 'e' edited, 'd' deleted, 'n' notification */
  char liked; /* 't'/'e': the reader likes the tweet */
  int64_t id;
};

typedef struct hub_user {
  int64_t id;
  gw_stream **streams;
  size_t n, cap;
  int subscribed; /* confirmed on the current subscriber connection */
  int sent;       /* SUBSCRIBE sent on it */
  int dirty;      /* listed in hub.dirty */
  struct msg *msgs;
  size_t nmsgs, capmsgs;
} hub_user;

static struct {
  pthread_mutex_t mu; /* guards running, stopping, joining, leaving */
  int running, stopping;
  gw_stream **joining, **leaving;
  size_t njoining, capjoining, nleaving, capleaving;
  int wake[2];
  pthread_t th;
  int hb_s;
  /* hub thread only */
  redisContext *sub;
  int64_t sub_retry_ms;
  hub_user **tab; /* open addressing by user id */
  size_t tabcap, tabn;
  int64_t *dirty;
  size_t ndirty, capdirty;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = {-1, -1}};

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 16;
  while (ncap < need) ncap *= 2;
  void *n = realloc(*arr, ncap * elem);
  if (!n) return -1;
  *arr = n;
  *cap = ncap;
  return 0;
}

/* --- the user table --- */

static size_t slot_of(int64_t id, size_t cap) {
  uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
  return (size_t)(x >> 17) & (cap - 1);
}

static hub_user *user_find(int64_t id) {
  if (!hub.tabcap) return NULL;
  for (size_t i = slot_of(id, hub.tabcap);; i = (i + 1) & (hub.tabcap - 1)) {
    if (!hub.tab[i]) return NULL;
    if (hub.tab[i]->id == id) return hub.tab[i];
  }
}

static int table_put(hub_user **tab, size_t cap, hub_user *u) {
  size_t i = slot_of(u->id, cap);
  while (tab[i]) i = (i + 1) & (cap - 1);
  tab[i] = u;
  return 0;
}

static hub_user *user_add(int64_t id) {
  if ((hub.tabn + 1) * 2 > hub.tabcap) {
    size_t ncap = hub.tabcap ? hub.tabcap * 2 : 64;
    hub_user **nt = calloc(ncap, sizeof *nt);
    if (!nt) return NULL;
    for (size_t i = 0; i < hub.tabcap; i++)
      if (hub.tab[i]) table_put(nt, ncap, hub.tab[i]);
    free(hub.tab);
    hub.tab = nt;
    hub.tabcap = ncap;
  }
  hub_user *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->id = id;
  table_put(hub.tab, hub.tabcap, u);
  hub.tabn++;
  return u;
}

/* Removes u from the table (linear probing: the entries after it that
   hashed at or before its slot move back). */
static void user_remove(hub_user *u) {
  size_t cap = hub.tabcap, i = slot_of(u->id, cap);
  while (hub.tab[i] != u) i = (i + 1) & (cap - 1);
  hub.tab[i] = NULL;
  for (size_t j = (i + 1) & (cap - 1); hub.tab[j]; j = (j + 1) & (cap - 1)) {
    hub_user *m = hub.tab[j];
    hub.tab[j] = NULL;
    table_put(hub.tab, cap, m);
  }
  hub.tabn--;
  free(u->streams);
  free(u->msgs);
  free(u);
}

static void mark_dirty(hub_user *u) {
  if (u->dirty) return;
  if (grow((void **)&hub.dirty, &hub.capdirty, hub.ndirty + 1, sizeof *hub.dirty)) return;
  hub.dirty[hub.ndirty++] = u->id;
  u->dirty = 1;
}

/* --- the subscriber connection --- */

static void sub_drop(const char *why) {
  if (!hub.sub) return;
  chirp_warn("stream hub: Redis subscriber lost (%s); reconnecting", why);
  redisFree(hub.sub);
  hub.sub = NULL;
  hub.sub_retry_ms = chirp_time_now_ms() + SUB_RETRY_MS;
  for (size_t i = 0; i < hub.tabcap; i++)
    if (hub.tab[i]) hub.tab[i]->subscribed = hub.tab[i]->sent = 0;
}

static void sub_send(const char *cmd, int64_t reader) {
  char ch[CHIRP_KEY_BUFSZ];
  if (hub.sub && redisAppendCommand(hub.sub, "%s %s", cmd, chirp_key_live_channel(ch, reader)) !=
                     REDIS_OK)
    sub_drop("append");
}

static void sub_flush(void) {
  int done = 0;
  while (hub.sub && !done)
    if (redisBufferWrite(hub.sub, &done) != REDIS_OK) sub_drop("write");
}

static void sub_connect(void) {
  if (hub.sub || chirp_time_now_ms() < hub.sub_retry_ms) return;
  if (chirp_redis_connect(gw.cfg.redis_url, 1000, &hub.sub) != 0) {
    hub.sub = NULL;
    hub.sub_retry_ms = chirp_time_now_ms() + SUB_RETRY_MS;
    return;
  }
  /* Announcements may have been missed while there was no subscriber:
     every stream catches up once its subscription is confirmed. */
  for (size_t i = 0; i < hub.tabcap; i++)
    if (hub.tab[i]) {
      sub_send("SUBSCRIBE", hub.tab[i]->id);
      hub.tab[i]->sent = 1;
      for (size_t j = 0; j < hub.tab[i]->n; j++) hub.tab[i]->streams[j]->catchup = 1;
    }
}

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

/* The top-level objects of a comma-joined list: starts and ends. */
static size_t split_items(const char *t, size_t len, size_t *start, size_t *end, size_t max) {
  int depth = 0, in_str = 0;
  size_t k = 0;
  for (size_t i = 0; i < len && k < max; i++) {
    char c = t[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{') {
      if (depth++ == 0) start[k] = i;
    } else if (c == '}') {
      if (--depth == 0) end[k++] = i + 1;
    }
  }
  return k;
}

/* Hydrated tweets for viewer: items[k] is the text of ids shown[k]. */
typedef struct hydrated {
  gw_buf text;
  int64_t *shown;
  size_t *start, *end, n;
} hydrated;

static void hydrated_free(hydrated *h) {
  free(h->text.buf);
  free(h->shown);
  free(h->start);
  free(h->end);
  memset(h, 0, sizeof *h);
}

static int hydrate(const int64_t *ids, size_t n, int64_t viewer, hydrated *h) {
  memset(h, 0, sizeof *h);
  if (n == 0) return 0;
  h->shown = malloc(n * sizeof *h->shown);
  h->start = malloc(n * sizeof *h->start);
  h->end = malloc(n * sizeof *h->end);
  size_t got = 0;
  int rc = h->shown && h->start && h->end ? gw_hydrate_raw(ids, n, viewer, &h->text, h->shown, &got)
                                          : CHIRP_ENOMEM;
  gw_conns_check();
  if (!rc && split_items(h->text.buf, h->text.len, h->start, h->end, got) != got) rc = CHIRP_EINTERNAL;
  if (rc) {
    hydrated_free(h);
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
  if (!rc && full) gw_notify_items_hydrate(pg, reader, *items);
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
static void catch_up(hub_user *u) {
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
      if (above && hydrate(asc, above, u->id, &h) == 0) {
        for (size_t i = 0; i < above; i++) emit_tweet(s, &h, asc[i]);
        hydrated_free(&h);
      }
      emit_notes(&s, 1, notes);
    }
    s->primed = 1;
    emit_position(s);
  }
  json_decref(notes);
}

/* The hydrated text of tweet id for viewer u: the batch's shared text
   (hydrated for nobody) with liked_by_me as the viewer's, or NULL. */
static const char *tweet_for(const hydrated *h, const struct msg *m, size_t *len, char **owned) {
  static const char no[] = "\"liked_by_me\":false}";
  const char *t;
  *owned = NULL;
  if (hydrated_find(h, m->id, &t, len)) return NULL;
  if (!m->liked) return t;
  size_t nl = sizeof no - 1;
  if (*len < nl || memcmp(t + *len - nl, no, nl) != 0) return NULL; /* not our shape */
  char *c = malloc(*len);
  if (!c) return NULL;
  memcpy(c, t, *len - 6);
  memcpy(c + *len - 6, "true}", 5);
  *len -= 1;
  *owned = c;
  return c;
}

/* The announcements u received in this batch, in order. */
static void deliver(hub_user *u, const hydrated *h) {
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
static int batch_likes(hub_user **users, size_t nu, const hydrated *h) {
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

/* One batch: catch-ups first, then every announcement, the tweets of the
   whole batch hydrated once (the text, author and counts are the same for
   every reader; only liked_by_me differs, see batch_likes). */
static void process_dirty(void) {
  if (!hub.ndirty) return;
  hub_user **users = malloc(hub.ndirty * sizeof *users);
  int64_t *ids = NULL;
  size_t nu = 0, n = 0, capids = 0;
  for (size_t i = 0; users && i < hub.ndirty; i++) {
    hub_user *u = user_find(hub.dirty[i]);
    if (!u) continue;
    u->dirty = 0;
    if (u->subscribed) catch_up(u);
    if (!u->nmsgs) continue;
    users[nu++] = u;
    for (size_t k = 0; k < u->nmsgs; k++) {
      const struct msg *m = &u->msgs[k];
      if (m->kind != 't' && m->kind != 'e') continue;
      size_t j = 0;
      while (j < n && ids[j] != m->id) j++; /* few distinct tweets per batch */
      if (j == n && grow((void **)&ids, &capids, n + 1, sizeof *ids) == 0) ids[n++] = m->id;
    }
  }
  hub.ndirty = 0;
  hydrated h = {0};
  if (n && (hydrate(ids, n, 0, &h) != 0 || batch_likes(users, nu, &h) != 0)) {
    chirp_warn("stream hub: %zu tweets not hydrated; clients catch up on reconnect", n);
    hydrated_free(&h);
  }
  for (size_t i = 0; i < nu; i++) deliver(users[i], &h);
  hydrated_free(&h);
  free(ids);
  free(users);
}

/* --- announcements from Redis --- */

static void on_reply(redisReply *r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_STRING)
    return;
  const char *kind = r->element[0]->str, *ch = r->element[1]->str;
  size_t pl = sizeof CHIRP_KEY_LIVE_CHANNEL_PREFIX - 1;
  if (strncmp(ch, CHIRP_KEY_LIVE_CHANNEL_PREFIX, pl) != 0) return;
  hub_user *u = user_find(strtoll(ch + pl, NULL, 10));
  if (!u) return; /* unsubscribed meanwhile */
  if (strcmp(kind, "subscribe") == 0) {
    u->subscribed = 1;
    mark_dirty(u); /* its streams catch up now */
    return;
  }
  if (strcmp(kind, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING) return;
  const char *p = r->element[2]->str, *sp = strchr(p, ' ');
  if (!sp) return;
  size_t kl = (size_t)(sp - p);
  struct msg m = {0, 0, strtoll(sp + 1, NULL, 10)};
  if (kl == strlen(CHIRP_LIVE_TWEET) && strncmp(p, CHIRP_LIVE_TWEET, kl) == 0) m.kind = 't';
  else if (strncmp(p, CHIRP_LIVE_EDITED " ", kl + 1) == 0) m.kind = 'e';
  else if (strncmp(p, CHIRP_LIVE_DELETED " ", kl + 1) == 0) m.kind = 'd';
  else if (strncmp(p, CHIRP_LIVE_NOTIFICATION " ", kl + 1) == 0) m.kind = 'n';
  else return;
  if (grow((void **)&u->msgs, &u->capmsgs, u->nmsgs + 1, sizeof *u->msgs)) return;
  u->msgs[u->nmsgs++] = m;
  mark_dirty(u);
}

/* Reads what the subscriber connection holds: hiredis reads 16 KiB a call,
   so it reads on while more is waiting (up to SUB_READ_MAX calls), and
   the batch covers everything that arrived meanwhile — under load the
   batches grow and the per-batch round trips stay few. */
#define SUB_READ_MAX 256
static void sub_read(void) {
  for (int round = 0; hub.sub && round < SUB_READ_MAX; round++) {
    if (redisBufferRead(hub.sub) != REDIS_OK) {
      sub_drop(hub.sub->errstr);
      return;
    }
    void *reply = NULL;
    while (hub.sub && redisGetReplyFromReader(hub.sub, &reply) == REDIS_OK && reply) {
      on_reply(reply);
      freeReplyObject(reply);
      reply = NULL;
    }
    struct pollfd more = {.fd = hub.sub ? hub.sub->fd : -1, .events = POLLIN};
    if (!hub.sub || poll(&more, 1, 0) != 1 || !(more.revents & POLLIN)) return;
  }
}

/* --- streams coming and going --- */

static int ttl_s(void) { return hub.hb_s * 3 + 5; }

static void take_joining(gw_stream **list, size_t n) {
  int64_t *fresh = malloc((n ? n : 1) * sizeof *fresh);
  size_t nf = 0;
  for (size_t i = 0; i < n; i++) {
    gw_stream *s = list[i];
    hub_user *u = user_find(s->reader);
    if (!u && !(u = user_add(s->reader))) goto refuse;
    if (grow((void **)&u->streams, &u->cap, u->n + 1, sizeof *u->streams)) {
      if (u->n == 0) user_remove(u);
      goto refuse;
    }
    u->streams[u->n++] = s;
    s->catchup = 1;
    if (u->subscribed) {
      mark_dirty(u);
    } else if (!u->sent && hub.sub) {
      sub_send("SUBSCRIBE", u->id);
      u->sent = 1;
    }
    if (u->n == 1 && fresh) fresh[nf++] = u->id;
    continue;
  refuse:
    gw_stream_close(s);
    gw_stream_unref(s);
  }
  /* Present before the catch-up reads the feed: a fan-out that saw no
     presence pushed before our read. */
  if (nf && chirp_live_present(gw_redis(), fresh, nf, ttl_s()) != 0)
    chirp_warn("stream hub: presence not set for %zu readers", nf);
  gw_conns_check();
  free(fresh);
}

static void take_leaving(gw_stream **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    gw_stream *s = list[i];
    hub_user *u = user_find(s->reader);
    size_t j = 0;
    while (u && j < u->n && u->streams[j] != s) j++;
    if (!u || j == u->n) continue; /* not ours (refused at join) */
    u->streams[j] = u->streams[--u->n];
    if (u->n == 0) {
      if (u->sent) sub_send("UNSUBSCRIBE", u->id);
      user_remove(u);
    }
    gw_stream_unref(s);
  }
}

static void heartbeat(void) {
  static const char beat[] = ": heartbeat\n\n";
  int64_t *ids = malloc((hub.tabn ? hub.tabn : 1) * sizeof *ids);
  size_t n = 0;
  for (size_t i = 0; i < hub.tabcap; i++) {
    hub_user *u = hub.tab[i];
    if (!u) continue;
    if (ids) ids[n++] = u->id;
    for (size_t j = 0; j < u->n; j++) (void)gw_stream_write(u->streams[j], beat, sizeof beat - 1);
    for (size_t j = 0; j < u->n; j++)
      if (u->streams[j]->catchup && u->subscribed) mark_dirty(u); /* a failed catch-up */
  }
  if (n && chirp_live_present(gw_redis(), ids, n, ttl_s()) != 0)
    chirp_warn("stream hub: presence not refreshed for %zu readers", n);
  gw_conns_check();
  free(ids);
}

/* Swaps the queues out under the lock. */
static void take_queues(gw_stream ***join, size_t *nj, gw_stream ***leave, size_t *nl) {
  pthread_mutex_lock(&hub.mu);
  *join = hub.joining;
  *nj = hub.njoining;
  *leave = hub.leaving;
  *nl = hub.nleaving;
  hub.joining = hub.leaving = NULL;
  hub.njoining = hub.capjoining = hub.nleaving = hub.capleaving = 0;
  pthread_mutex_unlock(&hub.mu);
}

static void *hub_main(void *arg) {
  (void)arg;
  int64_t next_beat = chirp_time_now_ms() + (int64_t)hub.hb_s * 1000;
  for (;;) {
    pthread_mutex_lock(&hub.mu);
    int stop = hub.stopping;
    if (stop) hub.running = 0; /* no one joins or queues a leave from now on */
    pthread_mutex_unlock(&hub.mu);
    gw_stream **join, **leave;
    size_t nj, nl;
    take_queues(&join, &nj, &leave, &nl);
    if (!stop) sub_connect();
    take_joining(join, nj);
    take_leaving(leave, nl);
    free(join);
    free(leave);
    if (stop) break;
    sub_flush();
    process_dirty();

    int64_t now = chirp_time_now_ms();
    int timeout = next_beat > now ? (int)(next_beat - now) : 0;
    if (!hub.sub && timeout > SUB_RETRY_MS) timeout = SUB_RETRY_MS;
    struct pollfd fds[2] = {{.fd = hub.wake[0], .events = POLLIN},
                            {.fd = hub.sub ? hub.sub->fd : -1, .events = POLLIN}};
    int rc = poll(fds, 2, timeout);
    if (rc < 0 && errno != EINTR) chirp_warn("stream hub: poll: %s", strerror(errno));
    if (rc > 0 && (fds[0].revents & POLLIN)) {
      char drain[64];
      while (read(hub.wake[0], drain, sizeof drain) > 0) {
      }
    }
    if (rc > 0 && hub.sub && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) sub_read();
    process_dirty();
    now = chirp_time_now_ms();
    if (now >= next_beat) {
      heartbeat();
      process_dirty();
      next_beat = now + (int64_t)hub.hb_s * 1000;
    }
  }
  /* Stopping: every stream ends after what is queued. */
  for (size_t i = 0; i < hub.tabcap; i++) {
    hub_user *u = hub.tab[i];
    if (!u) continue;
    for (size_t j = 0; j < u->n; j++) {
      gw_stream_close(u->streams[j]);
      gw_stream_unref(u->streams[j]);
    }
    u->n = 0;
    user_remove(u);
    i = (size_t)-1; /* removal moves entries: rescan */
  }
  free(hub.tab);
  hub.tab = NULL;
  hub.tabcap = hub.tabn = 0;
  free(hub.dirty);
  if (hub.sub) redisFree(hub.sub);
  hub.sub = NULL;
  return NULL;
}

static void wake_hub(void) {
  char c = 1;
  if (write(hub.wake[1], &c, 1) < 0 && errno != EAGAIN)
    chirp_warn("stream hub: wake: %s", strerror(errno));
}

int gw_hub_join(gw_stream *s) {
  pthread_mutex_lock(&hub.mu);
  int ok = hub.running && !hub.stopping &&
           grow((void **)&hub.joining, &hub.capjoining, hub.njoining + 1, sizeof *hub.joining) == 0;
  if (ok) hub.joining[hub.njoining++] = s;
  pthread_mutex_unlock(&hub.mu);
  if (ok) wake_hub();
  return ok ? 0 : -1;
}

void gw_hub_leave(gw_stream *s) {
  pthread_mutex_lock(&hub.mu);
  int queued = 0;
  if (hub.running &&
      grow((void **)&hub.leaving, &hub.capleaving, hub.nleaving + 1, sizeof *hub.leaving) == 0) {
    hub.leaving[hub.nleaving++] = s;
    queued = 1;
  }
  int running = hub.running;
  pthread_mutex_unlock(&hub.mu);
  if (queued) wake_hub();
  else if (running) chirp_error("stream hub: out of memory queueing a closed stream");
}

int gw_stream_start(char *err, size_t errlen) {
  const char *v = getenv("CHIRP_STREAM_HEARTBEAT_S");
  hub.hb_s = 20;
  if (v && *v) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 1 || x > 300) {
      snprintf(err, errlen, "CHIRP_STREAM_HEARTBEAT_S must be 1..300 seconds, not \"%.20s\"", v);
      return CHIRP_EINVAL;
    }
    hub.hb_s = (int)x;
  }
  if (pipe(hub.wake) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return CHIRP_EINTERNAL;
  }
  for (int i = 0; i < 2; i++) {
    int fl = fcntl(hub.wake[i], F_GETFL);
    fcntl(hub.wake[i], F_SETFL, fl | O_NONBLOCK);
  }
  hub.running = 1;
  if (pthread_create(&hub.th, NULL, hub_main, NULL) != 0) {
    hub.running = 0;
    snprintf(err, errlen, "cannot start the stream hub thread");
    return CHIRP_EINTERNAL;
  }
  return 0;
}

void gw_stream_stop(void) {
  pthread_mutex_lock(&hub.mu);
  int was = hub.running;
  hub.stopping = 1;
  pthread_mutex_unlock(&hub.mu);
  if (!was) return;
  wake_hub();
  pthread_join(hub.th, NULL);
  close(hub.wake[0]);
  close(hub.wake[1]);
}
