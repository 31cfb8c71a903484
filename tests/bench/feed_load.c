/*
 * feed_load.c — the load generator and probes of tests/bench/bench_feed.sh and
 * tests/bench/bench_likes.sh (compiled by those scripts into var/bench/).
 *
 *   feed_load fill   -r HOST:PORT [-f FEEDS] [-e ENTRIES] [-b OWNER0] [-k]
 *       Redis bytes per feed entry: INFO memory used_memory before and after
 *       FEEDS lists chirp:f:{OWNER0+i} of ENTRIES decimal tweet ids each,
 *       pushed one LPUSH per id, oldest first (the encoding chirp_feed_push
 *       leaves), plus MEMORY USAGE of one list.  The lists are deleted
 *       afterwards unless -k.
 *   feed_load fanout -g HOST:PORT -t TOKEN -B BODY -r HOST:PORT -c COUNTER
 *                    -x EVENTS -F FIRST -n N [-T SECONDS]
 *       POSTs one tweet (expects 202), then polls the Redis counter COUNTER
 *       (chirp:m:events:fanout:processed) every 1 ms until it grew by EVENTS
 *       (the tweet and its fanout.chunk messages), then counts with one Lua
 *       script how many of the N lists chirp:f:{FIRST..FIRST+N-1} hold the
 *       tweet (waiting on, every 20 ms, until all do).  Time: from the 202 to
 *       the moment all N were seen.
 *   feed_load fresh  -g HOST:PORT -A AUTHORS -B BODY -r HOST:PORT [-R RATE]
 *                    [-d SECONDS] [-C CONNS] [-p POLL_US] [-W WAIT_S]
 *       Open-loop POST /api/v1/tweets at RATE per second for SECONDS over
 *       CONNS keep-alive connections (tweet i goes out at t0 + i/RATE, by
 *       author i mod #authors; AUTHORS has one "TOKEN FOLLOWER_ID" per
 *       line).  A poller looks, every POLL_US, for the oldest 64 accepted
 *       tweets not seen yet in their author's follower's feed list (LPOS
 *       chirp:f:{FOLLOWER} ID, in one pipeline; backing off to 10 x POLL_US
 *       while none turns up) and records post -> visible latency (from
 *       sending the POST, and from its 202).  Give each author a follower
 *       that follows nobody else: its list stays short, the probe cheap.
 *   feed_load purge  -a AMQP_URL QUEUE...   purge queues (prints counts)
 *   feed_load delete -a AMQP_URL QUEUE...   delete queues (prints counts): the
 *       processes declare them afresh, with this version's arguments
 *   feed_load depth  -a AMQP_URL QUEUE...   print "QUEUE DEPTH" lines
 *
 * Output: one machine-readable line ("FILL ...", "FANOUT ...", "FRESH ...")
 * of key=value pairs.  Every wait is bounded.  Exit 0 on a complete run.
 */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EPOCH_MS INT64_C(1704067200000)

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("feed_load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t) {
  struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static void split_hostport(const char *s, char *host, size_t n, int *port) {
  const char *c = strrchr(s, ':');
  if (!c || (size_t)(c - s) >= n) die("expected HOST:PORT, got %s", s);
  memcpy(host, s, (size_t)(c - s));
  host[c - s] = '\0';
  *port = atoi(c + 1);
  if (*port <= 0) die("bad port in %s", s);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("cannot read %s", path);
  b[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return b;
}

static redisContext *redis_open(const char *hp) {
  char host[256];
  int port;
  split_hostport(hp, host, sizeof host, &port);
  struct timeval tv = {10, 0};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (!c || c->err) die("redis %s: %s", hp, c ? c->errstr : "out of memory");
  redisSetTimeout(c, tv);
  return c;
}

static long long redis_int(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (!r) die("redis: %s", c->errstr);
  long long v = 0;
  if (r->type == REDIS_REPLY_INTEGER)
    v = r->integer;
  else if (r->type == REDIS_REPLY_STRING)
    v = strtoll(r->str, NULL, 10);
  else if (r->type == REDIS_REPLY_ERROR)
    die("redis: %s", r->str);
  freeReplyObject(r);
  return v;
}

static long long used_memory(redisContext *c) {
  redisReply *r = redisCommand(c, "INFO memory");
  if (!r || r->type != REDIS_REPLY_STRING) die("INFO memory failed");
  const char *p = strstr(r->str, "used_memory:");
  long long v = p ? strtoll(p + 12, NULL, 10) : -1;
  freeReplyObject(r);
  return v;
}

/* ---- HTTP/1.1 keep-alive client (just enough for the gateway) ---------- */

typedef struct {
  char host[256];
  int port;
  int fd;
  char *buf;
  size_t cap;
} http_conn;

static int http_open(http_conn *h) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
  char port[16];
  snprintf(port, sizeof port, "%d", h->port);
  if (getaddrinfo(h->host, port, &hints, &ai) != 0) return -1;
  h->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {10, 0};
  setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc = connect(h->fd, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc != 0) {
    close(h->fd);
    h->fd = -1;
    return -1;
  }
  return 0;
}

/* Sends req and reads one answer.  Returns the status (body in h->buf at
   *body, NUL-terminated), or -1 on a socket error (the connection is
   closed and reopened on the next call). */
static int http_do(http_conn *h, const char *req, size_t len, const char **body) {
  if (h->fd < 0 && http_open(h) != 0) return -1;
  if (!h->buf) {
    h->cap = 1 << 20;
    h->buf = malloc(h->cap);
    if (!h->buf) die("out of memory");
  }
  for (size_t off = 0; off < len;) {
    ssize_t w = send(h->fd, req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0) goto broken;
    off += (size_t)w;
  }
  size_t got = 0, head = 0, clen = 0;
  for (;;) {
    if (got + 1 >= h->cap) goto broken;
    ssize_t r = recv(h->fd, h->buf + got, h->cap - 1 - got, 0);
    if (r <= 0) goto broken;
    got += (size_t)r;
    h->buf[got] = '\0';
    if (!head) {
      char *e = strstr(h->buf, "\r\n\r\n");
      if (!e) continue;
      head = (size_t)(e - h->buf) + 4;
      const char *cl = strcasestr(h->buf, "\r\nContent-Length:");
      if (!cl || cl > e) goto broken; /* chunked answers are not expected */
      clen = strtoul(cl + 17, NULL, 10);
    }
    if (got >= head + clen) break;
  }
  int status = atoi(h->buf + 9);
  *body = h->buf + head;
  return status;
broken:
  close(h->fd);
  h->fd = -1;
  return -1;
}

static size_t post_request(char *out, size_t n, const char *host, int port, const char *token,
                           const char *body, size_t blen) {
  int k = snprintf(out, n,
                   "POST /api/v1/tweets HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   host, port, token, blen);
  if (k < 0 || (size_t)k + blen >= n) die("request too large");
  memcpy(out + k, body, blen);
  return (size_t)k + blen;
}

static int64_t body_id(const char *body) {
  const char *p = strstr(body, "\"id\":\"");
  return p ? strtoll(p + 6, NULL, 10) : 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Percentile p (0-100) of sorted v[n], in ms. */
static double pct_ms(const int64_t *v, size_t n, double p) {
  if (n == 0) return -1;
  size_t i = (size_t)(p / 100.0 * (double)n);
  if (i >= n) i = n - 1;
  return (double)v[i] / 1e6;
}

/* ---- fill ------------------------------------------------------------------ */

static int cmd_fill(int argc, char **argv) {
  const char *redis = NULL;
  long feeds = 1250, entries = 800, owner0 = 900000000;
  int keep = 0, o;
  while ((o = getopt(argc, argv, "r:f:e:b:k")) != -1) {
    switch (o) {
      case 'r': redis = optarg; break;
      case 'f': feeds = atol(optarg); break;
      case 'e': entries = atol(optarg); break;
      case 'b': owner0 = atol(optarg); break;
      case 'k': keep = 1; break;
      default: return 2;
    }
  }
  if (!redis || feeds <= 0 || entries <= 0) die("fill: -r HOST:PORT required");
  redisContext *c = redis_open(redis);
  for (long f = 0; f < feeds; f++) redis_int(c, "DEL chirp:f:{%ld}", owner0 + f);
  long long before = used_memory(c);
  int64_t t0 = now_ns();
  /* Ids as the gateway makes them: time-ordered snowflakes, spread over the
     last day, different per feed; the oldest is pushed first so that the
     newest ends at the head, as chirp_feed_push leaves it. */
  int64_t ms0 = (int64_t)time(NULL) * 1000 - 86400000 - EPOCH_MS;
  long pending = 0;
  for (long f = 0; f < feeds; f++) {
    for (long e = 0; e < entries; e++) {
      int64_t id = ((ms0 + e * 97 + f % 97) << 22) | ((int64_t)(f * 7 + e) & 0x3fffff);
      redisAppendCommand(c, "LPUSH chirp:f:{%ld} %lld", owner0 + f, (long long)id);
      if (++pending == 2000) {
        for (; pending > 0; pending--) {
          redisReply *r;
          if (redisGetReply(c, (void **)&r) != REDIS_OK) die("redis: %s", c->errstr);
          freeReplyObject(r);
        }
      }
    }
  }
  for (; pending > 0; pending--) {
    redisReply *r;
    if (redisGetReply(c, (void **)&r) != REDIS_OK) die("redis: %s", c->errstr);
    freeReplyObject(r);
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  long long after = used_memory(c);
  long long one = redis_int(c, "MEMORY USAGE chirp:f:{%ld} SAMPLES 0", owner0);
  long long len = redis_int(c, "LLEN chirp:f:{%ld}", owner0);
  redisReply *enc = redisCommand(c, "OBJECT ENCODING chirp:f:{%ld}", owner0);
  char encoding[32] = "?";
  if (enc && enc->type == REDIS_REPLY_STRING) snprintf(encoding, sizeof encoding, "%s", enc->str);
  if (enc) freeReplyObject(enc);
  redisReply *cfg = redisCommand(c, "CONFIG GET list-max-listpack-size");
  char lmls[32] = "?";
  if (cfg && cfg->type == REDIS_REPLY_ARRAY && cfg->elements == 2)
    snprintf(lmls, sizeof lmls, "%s", cfg->element[1]->str);
  if (cfg) freeReplyObject(cfg);
  long long total = (long long)feeds * entries;
  printf("FILL feeds=%ld entries=%lld used_before=%lld used_after=%lld delta=%lld "
         "bytes_per_entry=%.2f one_list_usage=%lld one_list_len=%lld one_list_per_entry=%.2f "
         "encoding=%s list_max_listpack_size=%s fill_seconds=%.2f\n",
         feeds, total, before, after, after - before, (double)(after - before) / (double)total,
         one, len, len ? (double)one / (double)len : 0.0, encoding, lmls, secs);
  if (!keep)
    for (long f = 0; f < feeds; f++) redis_int(c, "DEL chirp:f:{%ld}", owner0 + f);
  redisFree(c);
  return 0;
}

/* ---- fanout ---------------------------------------------------------------- */

static const char count_lua[] =
    "local id, first, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]) "
    "local c = 0 "
    "for i = first, first + n - 1 do "
    "  if redis.call('LPOS', 'chirp:f:{' .. string.format('%d', i) .. '}', id, 'MAXLEN', 100) "
    "  then c = c + 1 end "
    "end return c";

static int cmd_fanout(int argc, char **argv) {
  const char *gwhp = NULL, *token = NULL, *bodyf = NULL, *redis = NULL, *counter = NULL;
  long expect = 0, first = 0, n = 0, timeout_s = 120;
  int o;
  while ((o = getopt(argc, argv, "g:t:B:r:c:x:F:n:T:")) != -1) {
    switch (o) {
      case 'g': gwhp = optarg; break;
      case 't': token = optarg; break;
      case 'B': bodyf = optarg; break;
      case 'r': redis = optarg; break;
      case 'c': counter = optarg; break;
      case 'x': expect = atol(optarg); break;
      case 'F': first = atol(optarg); break;
      case 'n': n = atol(optarg); break;
      case 'T': timeout_s = atol(optarg); break;
      default: return 2;
    }
  }
  if (!gwhp || !token || !bodyf || !redis || !counter || expect <= 0 || n <= 0)
    die("fanout: -g -t -B -r -c -x -F -n are required");
  size_t blen;
  char *body = read_file(bodyf, &blen);
  http_conn h = {.fd = -1};
  split_hostport(gwhp, h.host, sizeof h.host, &h.port);
  redisContext *c = redis_open(redis);
  long long base = redis_int(c, "GET %s", counter);
  static char req[65536];
  size_t rl = post_request(req, sizeof req, h.host, h.port, token, body, blen);
  const char *rb;
  int64_t t_send = now_ns();
  int st = http_do(&h, req, rl, &rb);
  int64_t t_202 = now_ns();
  if (st != 202) die("fanout: POST answered %d: %.200s", st, st > 0 ? rb : "");
  int64_t tid = body_id(rb);
  if (!tid) die("fanout: no id in %.200s", rb);
  int64_t deadline = t_202 + (int64_t)timeout_s * 1000000000;
  long long v = base;
  int64_t t_events = 0;
  while (now_ns() < deadline) {
    v = redis_int(c, "GET %s", counter);
    if (v - base >= expect) {
      t_events = now_ns();
      break;
    }
    usleep(1000);
  }
  char idbuf[24], fb[24], nb[24];
  snprintf(idbuf, sizeof idbuf, "%lld", (long long)tid);
  snprintf(fb, sizeof fb, "%ld", first);
  snprintf(nb, sizeof nb, "%ld", n);
  long long seen = 0;
  int64_t t_all = 0, t_count = 0;
  int polls = 0;
  while (now_ns() < deadline) {
    int64_t a = now_ns();
    seen = redis_int(c, "EVAL %s 0 %s %s %s", count_lua, idbuf, fb, nb);
    t_count = now_ns() - a;
    polls++;
    if (seen >= n) {
      t_all = a + t_count; /* conservative: the end of the count that saw all */
      break;
    }
    usleep(20000);
  }
  double events_s = t_events ? (double)(t_events - t_202) / 1e9 : -1;
  double all_s = t_all ? (double)((t_events && polls == 1 ? t_events : t_all) - t_202) / 1e9 : -1;
  printf("FANOUT tweet=%lld entries=%ld seen=%lld post_ms=%.1f events=%lld/%ld events_s=%.3f "
         "all_seen_s=%.3f entries_per_s=%.0f count_polls=%d count_ms=%.1f complete=%d\n",
         (long long)tid, n, seen, (double)(t_202 - t_send) / 1e6, v - base, expect, events_s,
         all_s, all_s > 0 ? (double)n / all_s : 0.0, polls, (double)t_count / 1e6,
         seen >= n && t_events ? 1 : 0);
  redisFree(c);
  return seen >= n && t_events ? 0 : 1;
}

/* ---- fresh ----------------------------------------------------------------- */

#define POLL_MAX 64

typedef struct {
  int64_t id;
  int64_t follower;
  int64_t sent, got;
} pend;

static struct {
  char host[256];
  int port;
  char **tokens;
  int64_t *followers;
  size_t nauth;
  const char *body;
  size_t blen;
  double rate;
  long total;
  int conns;
  int64_t t0;
  pthread_mutex_t mu;
  pend *pending;
  size_t npending, cap;
  int64_t *post_lat; /* per tweet, ns; -1 = failed */
  long ok, failed, late;
  int senders_done;
  char statuses[256];
} F;

static void *sender(void *arg) {
  int k = (int)(intptr_t)arg;
  http_conn h = {.fd = -1};
  snprintf(h.host, sizeof h.host, "%s", F.host);
  h.port = F.port;
  char *req = malloc(65536);
  for (long i = k; i < F.total; i += F.conns) {
    int64_t sched = F.t0 + (int64_t)((double)i * 1e9 / F.rate);
    int64_t now = now_ns();
    if (now < sched)
      sleep_until_ns(sched);
    else if (now - sched > 5000000)
      __atomic_fetch_add(&F.late, 1, __ATOMIC_RELAXED);
    size_t a = (size_t)i % F.nauth;
    size_t rl = post_request(req, 65536, h.host, h.port, F.tokens[a], F.body, F.blen);
    const char *rb;
    int64_t sent = now_ns();
    int st = http_do(&h, req, rl, &rb);
    int64_t got = now_ns();
    int64_t id = st == 202 ? body_id(rb) : 0;
    pthread_mutex_lock(&F.mu);
    if (id) {
      F.ok++;
      F.post_lat[i] = got - sent;
      if (F.npending == F.cap) {
        F.cap = F.cap ? F.cap * 2 : 4096;
        F.pending = realloc(F.pending, F.cap * sizeof *F.pending);
        if (!F.pending) die("out of memory");
      }
      F.pending[F.npending++] = (pend){id, F.followers[a], sent, got};
    } else {
      F.failed++;
      F.post_lat[i] = -1;
      if (strlen(F.statuses) < sizeof F.statuses - 16)
        snprintf(F.statuses + strlen(F.statuses), sizeof F.statuses - strlen(F.statuses), "%s%d",
                 F.statuses[0] ? "," : "", st);
    }
    pthread_mutex_unlock(&F.mu);
  }
  free(req);
  free(h.buf);
  if (h.fd >= 0) close(h.fd);
  pthread_mutex_lock(&F.mu);
  F.senders_done++;
  pthread_mutex_unlock(&F.mu);
  return NULL;
}

static int cmd_fresh(int argc, char **argv) {
  const char *gwhp = NULL, *authors = NULL, *bodyf = NULL, *redis = NULL;
  double seconds = 20;
  long poll_us = 2000, wait_s = 30;
  int o;
  F.rate = 1000;
  F.conns = 64;
  while ((o = getopt(argc, argv, "g:A:B:r:R:d:C:p:W:")) != -1) {
    switch (o) {
      case 'g': gwhp = optarg; break;
      case 'A': authors = optarg; break;
      case 'B': bodyf = optarg; break;
      case 'r': redis = optarg; break;
      case 'R': F.rate = atof(optarg); break;
      case 'd': seconds = atof(optarg); break;
      case 'C': F.conns = atoi(optarg); break;
      case 'p': poll_us = atol(optarg); break;
      case 'W': wait_s = atol(optarg); break;
      default: return 2;
    }
  }
  if (!gwhp || !authors || !bodyf || !redis || F.rate <= 0 || seconds <= 0 || F.conns <= 0)
    die("fresh: -g -A -B -r are required");
  split_hostport(gwhp, F.host, sizeof F.host, &F.port);
  F.body = read_file(bodyf, &F.blen);
  size_t alen;
  char *a = read_file(authors, &alen), *save = NULL;
  for (char *line = strtok_r(a, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char tok[128];
    long long fol;
    if (sscanf(line, "%127s %lld", tok, &fol) != 2) continue;
    F.tokens = realloc(F.tokens, (F.nauth + 1) * sizeof *F.tokens);
    F.followers = realloc(F.followers, (F.nauth + 1) * sizeof *F.followers);
    F.tokens[F.nauth] = strdup(tok);
    F.followers[F.nauth++] = fol;
  }
  if (!F.nauth) die("fresh: no authors in %s", authors);
  F.total = (long)(F.rate * seconds);
  F.post_lat = calloc((size_t)F.total, sizeof *F.post_lat);
  int64_t *vis_sent = malloc((size_t)F.total * sizeof(int64_t));
  int64_t *vis_202 = malloc((size_t)F.total * sizeof(int64_t));
  if (!F.post_lat || !vis_sent || !vis_202) die("out of memory");
  pthread_mutex_init(&F.mu, NULL);
  redisContext *c = redis_open(redis);
  pthread_t *th = calloc((size_t)F.conns, sizeof *th);
  F.t0 = now_ns() + 200000000; /* connections get ready meanwhile */
  for (int k = 0; k < F.conns; k++)
    if (pthread_create(&th[k], NULL, sender, (void *)(intptr_t)k)) die("pthread_create");

  /* The poller: this thread. */
  size_t nvis = 0, max_backlog = 0;
  long polls = 0;
  pend *batch = NULL;
  size_t bcap = 0;
  int64_t end_deadline = 0, t_last_post = 0;
  long wait_us = poll_us;
  for (;;) {
    usleep((useconds_t)wait_us);
    pthread_mutex_lock(&F.mu);
    /* The oldest POLL_MAX only: the fan-out queue is FIFO, so newer tweets
       are not visible before older ones are, and a backlog must not turn
       the probe into load on Redis. */
    size_t n = F.npending < POLL_MAX ? F.npending : POLL_MAX;
    if (n > bcap) {
      bcap = F.cap;
      batch = realloc(batch, bcap * sizeof *batch);
    }
    memcpy(batch, F.pending, n * sizeof *batch);
    int done = F.senders_done == F.conns;
    size_t backlog = F.npending;
    pthread_mutex_unlock(&F.mu);
    if (backlog > max_backlog) max_backlog = backlog;
    if (done && !end_deadline) {
      t_last_post = now_ns();
      end_deadline = t_last_post + (int64_t)wait_s * 1000000000;
    }
    if (n == 0) {
      if (done) break;
      continue;
    }
    if (end_deadline && now_ns() > end_deadline) break;
    for (size_t i = 0; i < n; i++)
      redisAppendCommand(c, "LPOS chirp:f:{%lld} %lld", (long long)batch[i].follower,
                         (long long)batch[i].id);
    unsigned char *found = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
      redisReply *r;
      if (redisGetReply(c, (void **)&r) != REDIS_OK) die("redis: %s", c->errstr);
      found[i] = r->type == REDIS_REPLY_INTEGER;
      freeReplyObject(r);
    }
    int64_t t = now_ns();
    polls++;
    /* Back off (to 10x POLL_US) while nothing turns up: a backlog must not
       turn the probe into load on Redis. */
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) hits += found[i];
    wait_us = hits ? poll_us : (wait_us * 2 > poll_us * 10 ? poll_us * 10 : wait_us * 2);
    /* Drop the found ones from the shared list.  Only this thread removes
       and senders only append, so its first n entries are still batch[]. */
    pthread_mutex_lock(&F.mu);
    size_t w = 0;
    for (size_t i = 0; i < F.npending; i++) {
      if (i < n && found[i]) {
        vis_sent[nvis] = t - F.pending[i].sent;
        vis_202[nvis++] = t - F.pending[i].got;
      } else {
        F.pending[w++] = F.pending[i];
      }
    }
    F.npending = w;
    pthread_mutex_unlock(&F.mu);
    free(found);
  }
  for (int k = 0; k < F.conns; k++) pthread_join(th[k], NULL);
  int64_t t_end = t_last_post ? t_last_post : now_ns();
  /* Posting rate reached: accepted posts over the time the posting took. */
  double post_secs = (double)(t_end - F.t0) / 1e9;
  int64_t *pl = malloc((size_t)F.total * sizeof *pl);
  size_t npl = 0;
  for (long i = 0; i < F.total; i++)
    if (F.post_lat[i] > 0) pl[npl++] = F.post_lat[i];
  qsort(pl, npl, sizeof *pl, cmp_i64);
  qsort(vis_sent, nvis, sizeof *vis_sent, cmp_i64);
  qsort(vis_202, nvis, sizeof *vis_202, cmp_i64);
  printf("FRESH target_rate=%.0f seconds=%.1f conns=%d posted=%ld accepted=%ld failed=%ld "
         "failed_statuses=%s late_starts=%ld achieved_rate=%.1f post_p50_ms=%.2f post_p99_ms=%.2f "
         "visible=%zu missing=%zu vis_p50_ms=%.2f vis_p99_ms=%.2f vis_max_ms=%.2f "
         "vis202_p50_ms=%.2f vis202_p99_ms=%.2f poll_us=%ld polls=%ld max_unseen=%zu\n",
         F.rate, seconds, F.conns, F.total, F.ok, F.failed, F.statuses[0] ? F.statuses : "-",
         F.late, (double)F.ok / post_secs, pct_ms(pl, npl, 50), pct_ms(pl, npl, 99), nvis,
         (size_t)F.ok - nvis, pct_ms(vis_sent, nvis, 50), pct_ms(vis_sent, nvis, 99),
         nvis ? (double)vis_sent[nvis - 1] / 1e6 : -1.0, pct_ms(vis_202, nvis, 50),
         pct_ms(vis_202, nvis, 99), poll_us, polls, max_backlog);
  redisFree(c);
  return 0;
}

/* ---- AMQP: purge / depth ------------------------------------------------------- */

static amqp_connection_state_t amqp_open(const char *url) {
  struct amqp_connection_info ci;
  char *u = strdup(url);
  amqp_default_connection_info(&ci);
  if (amqp_parse_url(u, &ci) != AMQP_STATUS_OK) die("bad AMQP URL %s", url);
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *s = amqp_tcp_socket_new(conn);
  struct timeval tv = {10, 0};
  if (!s || amqp_socket_open_noblock(s, ci.host, ci.port, &tv) != AMQP_STATUS_OK)
    die("cannot connect to %s:%d", ci.host, ci.port);
  amqp_rpc_reply_t r = amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user,
                                  ci.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) die("AMQP login failed");
  amqp_channel_open(conn, 1);
  if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) die("AMQP channel.open failed");
  return conn;
}

enum amqp_cmd { AMQP_DEPTH, AMQP_PURGE, AMQP_DELETE };

static int cmd_amqp(enum amqp_cmd cmd, int argc, char **argv) {
  const char *url = NULL;
  int o;
  while ((o = getopt(argc, argv, "a:")) != -1) {
    if (o == 'a')
      url = optarg;
    else
      return 2;
  }
  if (!url) die("-a AMQP_URL required");
  amqp_connection_state_t conn = amqp_open(url);
  for (int i = optind; i < argc; i++) {
    /* Passive declare: a queue that does not exist yet is simply empty. */
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(argv[i]), 1, 0, 0, 0, amqp_empty_table);
    if (!ok) {
      printf("%s 0\n", argv[i]);
      amqp_channel_open(conn, 1); /* the failed declare closed the channel */
      (void)amqp_get_rpc_reply(conn);
      continue;
    }
    if (cmd == AMQP_PURGE) {
      amqp_queue_purge_ok_t *p = amqp_queue_purge(conn, 1, amqp_cstring_bytes(argv[i]));
      printf("%s %u\n", argv[i], p ? p->message_count : 0);
    } else if (cmd == AMQP_DELETE) {
      amqp_queue_delete_ok_t *d = amqp_queue_delete(conn, 1, amqp_cstring_bytes(argv[i]), 0, 0);
      if (!d) die("cannot delete %s", argv[i]);
      printf("%s %u\n", argv[i], d->message_count);
    } else {
      printf("%s %u\n", argv[i], ok->message_count);
    }
  }
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) die("usage: feed_load fill|fanout|fresh|purge|delete|depth ...");
  const char *mode = argv[1];
  argc--;
  argv++;
  if (strcmp(mode, "fill") == 0) return cmd_fill(argc, argv);
  if (strcmp(mode, "fanout") == 0) return cmd_fanout(argc, argv);
  if (strcmp(mode, "fresh") == 0) return cmd_fresh(argc, argv);
  if (strcmp(mode, "purge") == 0) return cmd_amqp(AMQP_PURGE, argc, argv);
  if (strcmp(mode, "delete") == 0) return cmd_amqp(AMQP_DELETE, argc, argv);
  if (strcmp(mode, "depth") == 0) return cmd_amqp(AMQP_DEPTH, argc, argv);
  die("unknown mode %s", mode);
  return 2;
}
