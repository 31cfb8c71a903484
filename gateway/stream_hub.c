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
 * This file is the thread, its readers and their subscriptions; what the
 * streams are sent (hydration, catch-up, the SSE blocks) is in
 * stream_events.c.  Announcements that arrive together are handled
 * together: the batch's tweets are hydrated once for all readers (two
 * Redis round trips), then liked_by_me of every (reader, tweet) pair in
 * one more.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_live.h"
#include "chirp_log.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "gw.h"
#include "stream.h"
#include "stream_events.h"
#include "stream_int.h"

#define SUB_RETRY_MS 1000


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
    if (u->subscribed) gw_ev_catch_up(u);
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
  if (n && (gw_ev_hydrate(ids, n, 0, &h) != 0 || gw_ev_likes(users, nu, &h) != 0)) {
    chirp_warn("stream hub: %zu tweets not hydrated; clients catch up on reconnect", n);
    gw_ev_hydrated_free(&h);
  }
  for (size_t i = 0; i < nu; i++) gw_ev_deliver(users[i], &h);
  gw_ev_hydrated_free(&h);
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
