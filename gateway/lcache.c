/* lcache.c — the gateway's local copies of Redis values, kept exact by
   Redis's invalidation messages, see lcache.h. */
#include "lcache.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chirp_error.h"
#include "chirp_log.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "gw.h"

#define SHARDS 256
#define BUCKETS 256 /* per shard */
#define DEFAULT_LIFE_MS (10 * 60 * 1000)
#define PING_IDLE_MS 2000  /* a quiet subscriber pings Redis ... */
#define DEAD_IDLE_MS 5000  /* ... and gives the link up after this long without a byte */
#define RETRY_MS 200

struct entry {
  struct entry *next;
  int64_t expires_ms;
  size_t len;
  char *val;
  char key[]; /* NUL-terminated */
};

struct shard {
  pthread_mutex_t mu;
  struct entry *b[BUCKETS];
  size_t n;
  unsigned hand; /* the next bucket emptied when the shard is full */
  uint64_t seq;  /* invalidations seen in this shard */
};

static struct shard shards[SHARDS];
static size_t per_shard_max;
/* The generation: odd while the subscriber is up and entries may be
   stored, advanced at every flush.  Read without the lock by data threads;
   the subscriber changes it under sub_mu. */
static _Atomic uint64_t gen;
static _Atomic long long sub_id; /* the subscriber's CLIENT ID while up */
static _Atomic unsigned long long n_inval, n_flush;
/* Hits and misses, counted per thread in a slot of its own (a page makes
   some eighty lookups: one shared counter would be a cache line passed
   between the cores on each), summed when read. */
#define COUNT_SLOTS 64
struct lookups {
  _Alignas(64) _Atomic unsigned long long hits;
  _Atomic unsigned long long misses;
  char pad[64 - 2 * sizeof(unsigned long long)];
};
static struct lookups lookups[COUNT_SLOTS];
static _Atomic unsigned next_slot;
static _Thread_local struct lookups *my_lookups;
/* The subscriber's socket while up (-1 when not), and 1 from before it
   reads the socket until what it read is applied: see
   gw_lcache_begin_request. */
static _Atomic int sub_fd = -1;
static _Atomic int sub_busy;
/* This thread's request started with invalidations still unapplied: it
   reads around the local cache. */
static _Thread_local int bypass;
static pthread_t sub_thread;
static int started;
static _Atomic int stopping;

/* This thread's data connection and the generation its tracking points at. */
static _Thread_local const redisContext *tracked_ctx;
static _Thread_local uint64_t tracked_gen;

/* Eight bytes at a time (a page hashes some eighty keys), then mixed so
   that both the shard (low bits) and the bucket (the next ones) spread. */
static uint64_t hash_of(const char *s) {
  size_t n = strlen(s);
  uint64_t h = 1469598103934665603ULL ^ n, w;
  for (; n >= 8; n -= 8, s += 8) {
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 32;
  }
  w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)(unsigned char)s[i] << (8 * i);
  h = (h ^ w) * 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 29);
}

static void entry_free(struct entry *e) {
  free(e->val);
  free(e);
}

/* Drops every entry of one shard (its lock held). */
static void shard_clear(struct shard *s) {
  for (unsigned b = 0; b < BUCKETS; b++) {
    struct entry *e = s->b[b];
    while (e) {
      struct entry *nx = e->next;
      entry_free(e);
      e = nx;
    }
    s->b[b] = NULL;
  }
  s->n = 0;
}

/* Drops every entry and starts a new generation: odd (open) or even
   (closed).  The generation moves first, so a store holding an older
   ticket is refused from then on. */
static void new_generation(int open) {
  uint64_t g = gen + 1;
  if ((int)(g % 2) != open) g++;
  gen = g;
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&shards[i].mu);
    shard_clear(&shards[i]);
    shards[i].seq++;
    pthread_mutex_unlock(&shards[i].mu);
  }
  n_flush++;
}

static void invalidate(const char *key, size_t klen) {
  char buf[256];
  if (klen >= sizeof buf) { /* none of ours is this long; be safe anyway */
    new_generation((int)(gen % 2));
    return;
  }
  memcpy(buf, key, klen);
  buf[klen] = '\0';
  uint64_t h = hash_of(buf);
  struct shard *s = &shards[h % SHARDS];
  pthread_mutex_lock(&s->mu);
  s->seq++;
  struct entry **pp = &s->b[(h / SHARDS) % BUCKETS];
  while (*pp) {
    if (strcmp((*pp)->key, buf) == 0) {
      struct entry *e = *pp;
      *pp = e->next;
      entry_free(e);
      s->n--;
      break;
    }
    pp = &(*pp)->next;
  }
  pthread_mutex_unlock(&s->mu);
  n_inval++;
}

void gw_lcache_ticket(const char *key, gw_lc_ticket *t) {
  t->gen = gen;
  if (t->gen % 2 == 0 || !per_shard_max) {
    t->gen = 0;
    return;
  }
  struct shard *s = &shards[hash_of(key) % SHARDS];
  pthread_mutex_lock(&s->mu);
  t->seq = s->seq;
  pthread_mutex_unlock(&s->mu);
}

int gw_lcache_track(redisContext *r) {
  uint64_t g = gen;
  if (!per_shard_max || g % 2 == 0 || !r || r->err) return 0;
  if (tracked_ctx == r && tracked_gen == g) return 1;
  long long id = sub_id;
  if (chirp_redis_pending(r)) return 0; /* never synchronous inside a pipeline */
  redisReply *rep = chirp_redis_command(r, "CLIENT TRACKING on REDIRECT %lld", id);
  int ok = rep && rep->type == REDIS_REPLY_STATUS;
  if (!ok)
    chirp_warn("local cache: CLIENT TRACKING refused (%s); this connection reads uncached",
               rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->errstr);
  if (rep) freeReplyObject(rep);
  if (!ok) return 0;
  /* Tracking points at the subscriber that was up when g was read: if it
     went since, g is stale and nothing read now will be stored. */
  tracked_ctx = r;
  tracked_gen = g;
  return 1;
}

void gw_lcache_begin_request(void) {
  bypass = 0;
  int fd = sub_fd;
  if (!per_shard_max || fd < 0) return;
  /* Redis writes a change's invalidation to our subscriber before its
     reply to the writer (both leave in one pass of its event loop, the
     subscriber's queued last and so written first).  So any change whose
     answer anyone has seen is, by now, in our socket, in the subscriber's
     hands (busy) or applied.  The socket first, then busy: bytes read
     between the two were read with busy already set. */
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  if (poll(&pfd, 1, 0) != 0 || sub_busy) bypass = 1;
}

/* Milliseconds of the coarse wall clock added to its reading so that the
   sum is never behind CLOCK_REALTIME (set once in gw_lcache_start; -1: no
   coarse clock, the exact one is read). */
static int64_t coarse_slack_ms = -1;

/* A time no earlier than now, for the expiry checks of lookups: a page
   makes some eighty, and the exact clock costs a TSC read each on a
   virtual machine (5 % of the gateway's CPU on GET /feed); the coarse one
   is a memory read.  An entry is never served past its expiry, at worst
   a tick early. */
static int64_t now_upper_ms(void) {
  struct timespec ts;
  if (coarse_slack_ms < 0 || clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) return chirp_time_now_ms();
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + coarse_slack_ms;
}

/* Looks key up: copies its value into buf (cap bytes, one more for a NUL)
   or, with buf NULL, into a new string at *out; 1 on a hit. */
static int lookup(const char *key, char *buf, size_t cap, void **out, size_t *len) {
  if (!per_shard_max || gen % 2 == 0 || bypass) return 0;
  uint64_t h = hash_of(key);
  struct shard *s = &shards[h % SHARDS];
  int hit = 0;
  int64_t now = now_upper_ms();
  /* A new string's value is copied here under the lock and allocated after
     it (a malloc inside a shard lock that every reader of a page takes made
     them meet: a third of the gateway's futex calls on GET /feed). */
  char near[8192];
  size_t near_len = 0;
  int in_near = 0;
  pthread_mutex_lock(&s->mu);
  for (struct entry **pp = &s->b[(h / SHARDS) % BUCKETS]; *pp; pp = &(*pp)->next) {
    struct entry *e = *pp;
    if (strcmp(e->key, key) != 0) continue;
    if (e->expires_ms <= now) {
      *pp = e->next;
      entry_free(e);
      s->n--;
      break;
    }
    if (!buf && e->len < sizeof near) {
      memcpy(near, e->val, e->len);
      near_len = e->len;
      in_near = 1;
      break;
    }
    char *dst = buf ? (e->len < cap ? buf : NULL) : malloc(e->len + 1);
    if (dst) {
      memcpy(dst, e->val, e->len);
      dst[e->len] = '\0';
      *len = e->len;
      if (!buf) *out = dst;
      hit = 1;
    }
    break;
  }
  pthread_mutex_unlock(&s->mu);
  if (in_near) {
    char *dst = malloc(near_len + 1);
    if (dst) {
      memcpy(dst, near, near_len);
      dst[near_len] = '\0';
      *len = near_len;
      *out = dst;
      hit = 1;
    }
  }
  if (!my_lookups) my_lookups = &lookups[atomic_fetch_add(&next_slot, 1) % COUNT_SLOTS];
  if (hit) atomic_fetch_add_explicit(&my_lookups->hits, 1, memory_order_relaxed);
  else atomic_fetch_add_explicit(&my_lookups->misses, 1, memory_order_relaxed);
  return hit;
}

void *gw_lcache_get(const char *key, size_t *len) {
  void *out = NULL;
  return lookup(key, NULL, 0, &out, len) ? out : NULL;
}

int gw_lcache_get_into(const char *key, void *buf, size_t cap, size_t *len) {
  return lookup(key, buf, cap, NULL, len);
}

int gw_lcache_put(const char *key, const void *val, size_t len, int64_t expires_ms,
                  const gw_lc_ticket *t) {
  if (!t->gen || t->gen != gen || tracked_gen != t->gen) return 0;
  size_t kl = strlen(key);
  struct entry *e = malloc(sizeof *e + kl + 1);
  char *v = e ? malloc(len + 1) : NULL;
  if (!v) {
    free(e);
    return 0;
  }
  memcpy(v, val, len);
  v[len] = '\0';
  memcpy(e->key, key, kl + 1);
  e->val = v;
  e->len = len;
  e->expires_ms = expires_ms ? expires_ms : chirp_time_now_ms() + DEFAULT_LIFE_MS;
  uint64_t h = hash_of(key);
  struct shard *s = &shards[h % SHARDS];
  int stored = 0;
  pthread_mutex_lock(&s->mu);
  if (s->seq == t->seq && gen == t->gen) {
    struct entry **pp = &s->b[(h / SHARDS) % BUCKETS];
    for (; *pp; pp = &(*pp)->next)
      if (strcmp((*pp)->key, key) == 0) {
        struct entry *old = *pp;
        *pp = old->next;
        entry_free(old);
        s->n--;
        break;
      }
    if (s->n >= per_shard_max) { /* full: empty the next bucket round */
      for (unsigned k = 0; k < BUCKETS && s->n >= per_shard_max; k++) {
        unsigned b = s->hand++ % BUCKETS;
        while (s->b[b]) {
          struct entry *x = s->b[b];
          s->b[b] = x->next;
          entry_free(x);
          s->n--;
        }
      }
    }
    e->next = s->b[(h / SHARDS) % BUCKETS];
    s->b[(h / SHARDS) % BUCKETS] = e;
    s->n++;
    stored = 1;
  }
  pthread_mutex_unlock(&s->mu);
  if (!stored) entry_free(e);
  return stored;
}

void gw_lcache_untrack(void) { tracked_ctx = NULL; }

void gw_lcache_drop(const char *key) { invalidate(key, strlen(key)); }

void gw_lcache_counts(unsigned long long *hits, unsigned long long *misses,
                      unsigned long long *invalidations, unsigned long long *flushes, int *up) {
  unsigned long long h = 0, m = 0;
  for (int i = 0; i < COUNT_SLOTS; i++) {
    h += lookups[i].hits;
    m += lookups[i].misses;
  }
  *hits = h;
  *misses = m;
  *invalidations = n_inval;
  *flushes = n_flush;
  *up = per_shard_max && gen % 2 == 1;
}

/* --- the subscriber --- */

/* One message of the subscription: invalidates its keys (a nil payload is
   a flush of the whole database).  Other replies (PONG) are ignored. */
static void on_message(const redisReply *m) {
  if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 || m->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(m->element[0]->str, "message") != 0) return;
  const redisReply *p = m->element[2];
  if (p->type == REDIS_REPLY_NIL) { /* FLUSHALL / FLUSHDB */
    new_generation(1);
    return;
  }
  if (p->type == REDIS_REPLY_STRING) {
    invalidate(p->str, p->len);
    return;
  }
  if (p->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < p->elements; i++)
      if (p->element[i]->type == REDIS_REPLY_STRING)
        invalidate(p->element[i]->str, p->element[i]->len);
}

/* Subscribes c: its client id, or -1. */
static long long subscribe(redisContext *c) {
  redisReply *r = chirp_redis_command(c, "CLIENT SETNAME chirp-gw-invalidate");
  if (r) freeReplyObject(r);
  r = chirp_redis_command(c, "CLIENT ID");
  long long id = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r) freeReplyObject(r);
  if (id < 0) return -1;
  r = chirp_redis_command(c, "SUBSCRIBE __redis__:invalidate");
  int ok = r && r->type == REDIS_REPLY_ARRAY;
  if (r) freeReplyObject(r);
  return ok ? id : -1;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Reads messages until the link fails (or we stop). */
static void listen_on(redisContext *c) {
  int64_t last_byte = chirp_time_mono_us(), pinged = 0;
  while (!stopping) {
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, 200);
    int64_t now = chirp_time_mono_us();
    if (pr < 0) continue;
    if (pr == 0) {
      if (now - last_byte > DEAD_IDLE_MS * 1000LL) {
        chirp_warn("local cache: the invalidation link is silent; reconnecting");
        return;
      }
      if (now - last_byte > PING_IDLE_MS * 1000LL && now - pinged > PING_IDLE_MS * 1000LL) {
        int done = 0;
        if (redisAppendCommand(c, "PING") != REDIS_OK) return;
        while (!done)
          if (redisBufferWrite(c, &done) != REDIS_OK) return;
        pinged = now;
      }
      continue;
    }
    sub_busy = 1;
    if (redisBufferRead(c) != REDIS_OK) return; /* closed or failed (busy stays set) */
    last_byte = now;
    for (;;) {
      void *m = NULL;
      if (redisGetReplyFromReader(c, &m) != REDIS_OK) return;
      if (!m) break;
      on_message(m);
      freeReplyObject(m);
    }
    sub_busy = 0;
  }
}

static void *subscriber_main(void *arg) {
  (void)arg;
  while (!stopping) {
    redisContext *c = NULL;
    if (chirp_redis_connect(gw.cfg.redis_url, 1000, &c) != 0) {
      sleep_ms(RETRY_MS);
      continue;
    }
    long long id = subscribe(c);
    if (id < 0) {
      redisFree(c);
      sleep_ms(RETRY_MS);
      continue;
    }
    sub_id = id;
    sub_busy = 0;
    sub_fd = c->fd;
    new_generation(1);
    chirp_info("local cache: invalidations subscribed (client %lld)", id);
    listen_on(c);
    sub_fd = -1;
    new_generation(0); /* closed until the next subscription */
    if (!stopping) chirp_warn("local cache: invalidation link lost; cache flushed and off until it is back");
    redisFree(c);
    if (!stopping) sleep_ms(RETRY_MS);
  }
  return NULL;
}

int gw_lcache_start(void) {
  if (gw.cfg.local_cache <= 0) return 0;
  struct timespec res;
  if (clock_getres(CLOCK_REALTIME_COARSE, &res) == 0 && res.tv_sec == 0)
    coarse_slack_ms = res.tv_nsec / 1000000 + 2; /* its tick, rounded up, and a margin */
  per_shard_max = (size_t)gw.cfg.local_cache / SHARDS;
  if (per_shard_max < 1) per_shard_max = 1;
  for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&shards[i].mu, NULL);
  if (pthread_create(&sub_thread, NULL, subscriber_main, NULL) != 0) {
    per_shard_max = 0;
    return CHIRP_ENOMEM;
  }
  started = 1;
  return 0;
}

void gw_lcache_stop(void) {
  if (!started) return;
  stopping = 1;
  pthread_join(sub_thread, NULL);
  started = 0;
  new_generation(0);
}
