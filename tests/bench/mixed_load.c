/*
 * mixed_load.c — the open-loop load generator of tests/bench/bench_mixed_rate.sh:
 * requests go out on a fixed schedule whatever the server does, and each one's
 * latency is measured from the moment it was scheduled, not from the moment a
 * connection was free to send it, so that a server falling behind shows its
 * queueing in the percentiles (no coordinated omission, as with wrk's closed
 * loop).
 *
 *   mixed_load -u HOST:PORT -R RATE -d SECONDS [-a ACCOUNTS] [-m FEED/TIMELINE/POST]
 *              [-c CONNS] [-t TIMEOUT_S] [-o IDS_FILE] [-H HOT] [-s SEED] [-g PATH] [-k IDLE_S]
 *
 *   -u   the target, 127.0.0.1 / localhost / another 127.x.y.z only (loopback)
 *   -R   offered rate, requests per second (request i is due at t0 + i / RATE)
 *   -d   seconds of scheduling; then the requests in flight get up to -t more
 *   -a   the accounts: tests/bench/mixed_setup.py's accounts.lua ({"ID","TOKEN"}
 *        lines) or "ID TOKEN" lines; each request is made by a random account
 *   -m   the mix in percent (60/30/10): GET /api/v1/feed?limit=20 (own token),
 *        GET /api/v1/accounts/{id}/tweets?limit=20 (half the time one of the -H
 *        first accounts, the most followed ones in mixed_setup.py's data),
 *        POST /api/v1/tweets
 *   -c   keep-alive HTTP/1.1 connections (256); a request due while all are
 *        busy waits in a queue, and its wait counts in its latency
 *   -t   per-request timeout in seconds (10)
 *   -o   append the id of every tweet answered 202 to this file (one a line)
 *   -k   a connection idle this many seconds is closed and opened anew (5),
 *        ahead of the server's keep-alive timeout (HAProxy's is 10 s): else the
 *        server may close it just as a request goes out (a 408 or a reset)
 *   -H   hot accounts for the timelines (200); -s random seed (1)
 *   -g   instead of the mix: every request GET PATH without a token (kind
 *        "get"; e.g. a smoke run against /healthz or the bare ulfius server)
 *
 * Output, one line per kind that was offered, then one for all:
 *   RATE kind=K offered=N offered_rps=R sent=N done=N achieved_rps=R
 *        p50_ms=A p99_ms=B p999_ms=C max_ms=D svc_p99_ms=E statuses=200:N,...
 *        unexpected=N errors_read=N errors_timeout=N unsent=N
 * achieved_rps counts the answers (any status) that came back before the end of
 * the scheduling window; unexpected counts statuses other than 200 (202 for a
 * post); svc_p99_ms is from the actual send (the server's part alone).  The
 * "all" line adds seconds=, conns=, errors_connect= and late_p99_ms= / late_max_ms=:
 * how late the generator itself noticed that requests were due (a busy machine
 * starving it; that part of the latency is not the server's).  Exit 0 when the run
 * completed (whatever the figures), 1 on a setup error, 2 on bad arguments.
 * Single-threaded (epoll, one timerfd for the schedule).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { K_FEED, K_TIMELINE, K_POST, K_GET, NKINDS };
static const char *const KIND_NAME[NKINDS] = {"feed", "timeline", "post", "get"};

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

#define WBUF_CAP 2048
#define RBUF_MAX (8 * 1024 * 1024)
#define HIST_N 4608 /* log-linear microsecond buckets up to 2^43 us */

typedef struct {
  int64_t due; /* scheduled send time, ns */
  int kind;
} job;

typedef struct {
  int fd, state;
  job cur;
  int64_t sent_at, reopen_at, idle_since;
  char wbuf[WBUF_CAP];
  size_t wlen, woff;
  char *rbuf;
  size_t rlen, rcap;
} conn;

typedef struct {
  uint64_t lat[HIST_N], svc[HIST_N];
  uint64_t offered, sent, done, done_in_window, unexpected, err_read, err_timeout, unsent;
  uint64_t status[600];
  int64_t max_us;
} stats;

typedef struct {
  char id[24];
  char token[96];
} account;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mixed_load: ", stderr);
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

/* ---- histograms: exact below 256 us, then 128 buckets per power of two (< 1 %) ---- */
static int hist_index(int64_t us) {
  if (us < 0) us = 0;
  if (us < 256) return (int)us;
  int b = 63 - __builtin_clzll((unsigned long long)us);
  int i = 256 + (b - 8) * 128 + (int)((us >> (b - 7)) - 128);
  return i < HIST_N ? i : HIST_N - 1;
}
static int64_t hist_upper(int i) { /* the largest value of bucket i, us */
  if (i < 256) return i;
  int b = (i - 256) / 128 + 8, s = (i - 256) % 128;
  return (((int64_t)(128 + s + 1)) << (b - 7)) - 1;
}
static double hist_pct_ms(const uint64_t *h, double p) {
  uint64_t n = 0;
  for (int i = 0; i < HIST_N; i++) n += h[i];
  if (n == 0) return -1;
  uint64_t want = (uint64_t)(p / 100.0 * (double)n + 0.999999), c = 0;
  if (want < 1) want = 1;
  for (int i = 0; i < HIST_N; i++) {
    c += h[i];
    if (c >= want) return (double)hist_upper(i) / 1000.0;
  }
  return (double)hist_upper(HIST_N - 1) / 1000.0;
}

/* ---- settings and state ---- */
static char host_hdr[300];
static struct sockaddr_in target;
static account *accounts;
static size_t n_accounts, hot = 200;
static int mix[3] = {60, 30, 10};
static const char *get_path;
static double rate;
static int seconds, nconns = 256, timeout_s = 10, idle_max_s = 5;
static FILE *ids_out;
static uint64_t rng = 1;
static stats st[NKINDS];
static uint64_t errors_connect, post_seq;
static uint64_t late[HIST_N]; /* the generator's own lateness: due -> noticed due */
static unsigned run_tag;
static conn *conns;
static int *idle; /* a stack of idle connection indices */
static int n_idle, epfd;
static job *queue; /* ring of due requests waiting for a connection */
static size_t q_cap, q_head, q_len;
static int64_t t0, t_end;

static uint64_t rnd(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * UINT64_C(2685821657736338717);
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void load_accounts(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open %s", path);
  size_t cap = 1024;
  accounts = malloc(cap * sizeof *accounts);
  if (!accounts) die("out of memory");
  char line[512];
  while (fgets(line, sizeof line, f)) {
    account a;
    if (sscanf(line, " {\"%23[0-9]\",\"%95[A-Za-z0-9_-]\"}", a.id, a.token) != 2 &&
        sscanf(line, " %23[0-9] %95[A-Za-z0-9_-]", a.id, a.token) != 2)
      continue;
    if (n_accounts == cap) {
      cap *= 2;
      account *b = realloc(accounts, cap * sizeof *accounts);
      if (!b) die("out of memory");
      accounts = b;
    }
    accounts[n_accounts++] = a;
  }
  fclose(f);
  if (n_accounts == 0) die("no accounts in %s", path);
}

static void parse_target(const char *s) {
  const char *c = strrchr(s, ':');
  if (!c || c == s || (size_t)(c - s) >= 256) die("expected HOST:PORT, got %s", s);
  char host[256];
  memcpy(host, s, (size_t)(c - s));
  host[c - s] = '\0';
  int port = atoi(c + 1);
  if (port <= 0 || port > 65535) die("bad port in %s", s);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)port);
  if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) die("not an IPv4 address: %s", host);
  if ((ntohl(target.sin_addr.s_addr) >> 24) != 127) die("%s is not a loopback address", host);
  snprintf(host_hdr, sizeof host_hdr, "%s:%d", host, port);
}

/* ---- connections ---- */
static void conn_close(conn *c, int64_t now) {
  if (c->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = C_CLOSED;
  c->rlen = 0;
  c->reopen_at = now;
}

static void conn_open(conn *c, int64_t now) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errors_connect++;
    c->reopen_at = now + 100000000;
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->rlen = 0;
  if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) {
    errors_connect++;
    close(fd);
    c->fd = -1;
    c->reopen_at = now + 100000000;
    return;
  }
  c->state = C_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void make_idle(conn *c, int64_t now) {
  c->state = C_IDLE;
  c->idle_since = now;
  idle[n_idle++] = (int)(c - conns);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* An idle connection closed by the server while idle: off the idle stack. */
static void idle_remove(conn *c) {
  int k = (int)(c - conns);
  for (int i = 0; i < n_idle; i++)
    if (idle[i] == k) {
      idle[i] = idle[--n_idle];
      return;
    }
}

static size_t build_request(char *out, size_t cap, int kind) {
  const account *a = n_accounts ? &accounts[rnd_below(n_accounts)] : NULL;
  int n = 0;
  switch (kind) {
    case K_FEED:
      n = snprintf(out, cap,
                   "GET /api/v1/feed?limit=20 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                   host_hdr, a->token);
      break;
    case K_TIMELINE: {
      const account *b = rnd_below(2) ? &accounts[rnd_below(hot < n_accounts ? hot : n_accounts)]
                                       : &accounts[rnd_below(n_accounts)];
      n = snprintf(out, cap,
                   "GET /api/v1/accounts/%s/tweets?limit=20 HTTP/1.1\r\nHost: %s\r\n"
                   "Authorization: Bearer %s\r\n\r\n",
                   b->id, host_hdr, a->token);
      break;
    }
    case K_POST: {
      char body[160];
      int bl = snprintf(body, sizeof body,
                        "{\"text\":\"bench rate %06x-%llu lorem ipsum dolor sit amet\"}", run_tag,
                        (unsigned long long)++post_seq);
      n = snprintf(out, cap,
                   "POST /api/v1/tweets HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                   host_hdr, a->token, bl, body);
      break;
    }
    default:
      n = snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", get_path, host_hdr);
  }
  if (n < 0 || (size_t)n >= cap) die("request longer than %zu bytes", cap);
  return (size_t)n;
}

static void conn_write(conn *c, int64_t now) {
  while (c->woff < c->wlen) {
    ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    if (w > 0) {
      c->woff += (size_t)w;
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
      epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
      return;
    }
    st[c->cur.kind].err_read++;
    conn_close(c, now);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void dispatch(int64_t now) {
  while (q_len > 0 && n_idle > 0) {
    conn *c = &conns[idle[--n_idle]];
    c->cur = queue[q_head];
    q_head = (q_head + 1) % q_cap;
    q_len--;
    c->state = C_BUSY;
    c->wlen = build_request(c->wbuf, sizeof c->wbuf, c->cur.kind);
    c->woff = 0;
    c->rlen = 0;
    c->sent_at = now;
    st[c->cur.kind].sent++;
    conn_write(c, now);
  }
}

/* The answer to c's request is complete: record it. */
static void record(conn *c, int status, const char *body, size_t body_len, int64_t now) {
  stats *s = &st[c->cur.kind];
  int64_t lat_us = (now - c->cur.due) / 1000, svc_us = (now - c->sent_at) / 1000;
  s->lat[hist_index(lat_us)]++;
  s->svc[hist_index(svc_us)]++;
  if (lat_us > s->max_us) s->max_us = lat_us;
  s->done++;
  if (now <= t_end) s->done_in_window++;
  if (status >= 100 && status < 600) s->status[status]++;
  int want = c->cur.kind == K_POST ? 202 : 200;
  if (status != want) s->unexpected++;
  if (status == 202 && c->cur.kind == K_POST && ids_out) {
    const char *p = memmem(body, body_len, "\"id\":\"", 6);
    if (p) {
      p += 6;
      const char *e = p;
      while (e < body + body_len && *e >= '0' && *e <= '9') e++;
      if (e > p && e < body + body_len && *e == '"') fprintf(ids_out, "%.*s\n", (int)(e - p), p);
    }
  }
}

/* Case-insensitive header value of NAME in the head [h, h+n), or NULL. */
static const char *header(const char *h, size_t n, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  const char *p = memchr(h, '\n', n), *end = h + n;
  while (p && p + 1 < end) {
    p++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) break;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

/* Parses c->rbuf: 1 when a complete answer was recorded, 0 when more bytes are
 * needed, -1 on a malformed answer.  *close_after: the server said close. */
static int parse(conn *c, int64_t now, int eof, int *close_after) {
  char *b = c->rbuf;
  size_t n = c->rlen;
  char *hend = memmem(b, n, "\r\n\r\n", 4);
  if (!hend) return eof ? -1 : 0;
  size_t hlen = (size_t)(hend - b) + 4;
  int status = 0;
  if (n < 12 || strncmp(b, "HTTP/1.", 7) != 0 || sscanf(b + 9, "%3d", &status) != 1) return -1;
  size_t vl;
  const char *v = header(b, hlen, "Connection", &vl);
  *close_after = v && vl == 5 && strncasecmp(v, "close", 5) == 0;
  v = header(b, hlen, "Transfer-Encoding", &vl);
  if (v && vl >= 7 && strncasecmp(v, "chunked", 7) == 0) {
    /* Chunks: SIZE\r\nDATA\r\n ... 0\r\n\r\n; the body is kept in place. */
    size_t off = hlen;
    for (;;) {
      char *le = memmem(b + off, n - off, "\r\n", 2);
      if (!le) return eof ? -1 : 0;
      unsigned long sz = strtoul(b + off, NULL, 16);
      size_t data = (size_t)(le - b) + 2;
      if (sz == 0) {
        if (n - data < 2) return eof ? -1 : 0;
        char *te = memmem(b + data, n - data, "\r\n", 2); /* the end of the (empty) trailers */
        if (!te) return eof ? -1 : 0;
        break;
      }
      if (n < data + sz + 2) return eof ? -1 : 0;
      off = data + sz + 2;
    }
    record(c, status, b + hlen, n - hlen, now);
    return 1;
  }
  v = header(b, hlen, "Content-Length", &vl);
  if (v) {
    size_t cl = (size_t)strtoull(v, NULL, 10);
    if (n < hlen + cl) return eof ? -1 : 0;
    record(c, status, b + hlen, cl, now);
    return 1;
  }
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
    record(c, status, b + hlen, 0, now);
    return 1;
  }
  if (!eof) return 0; /* the body ends with the connection */
  *close_after = 1;
  record(c, status, b + hlen, n - hlen, now);
  return 1;
}

static void conn_read(conn *c, int64_t now) {
  int eof = 0;
  for (;;) {
    if (c->rcap - c->rlen < 4096) {
      size_t cap = c->rcap ? c->rcap * 2 : 16384;
      if (cap > RBUF_MAX) {
        eof = -1;
        break;
      }
      char *r = realloc(c->rbuf, cap + 1);
      if (!r) die("out of memory");
      c->rbuf = r;
      c->rcap = cap;
    }
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (r > 0) {
      c->rlen += (size_t)r;
      continue;
    }
    if (r == 0) eof = 1;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = -1;
    break;
  }
  if (c->state != C_BUSY) { /* bytes or a close on an idle connection */
    if (c->state == C_IDLE) idle_remove(c);
    conn_close(c, now);
    return;
  }
  int close_after = 0, p = eof < 0 ? -1 : parse(c, now, eof == 1, &close_after);
  if (p == 1) {
    if (close_after || eof) conn_close(c, now);
    else {
      c->rlen = 0;
      make_idle(c, now);
    }
    return;
  }
  if (p < 0 || eof) {
    st[c->cur.kind].err_read++;
    conn_close(c, now);
  }
}

static void on_event(conn *c, uint32_t events, int64_t now) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    if ((events & (EPOLLERR | EPOLLHUP)) || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
        err != 0) {
      errors_connect++;
      conn_close(c, now);
      c->reopen_at = now + 100000000;
      return;
    }
    if (events & EPOLLOUT) make_idle(c, now);
    return;
  }
  if (c->state == C_BUSY && (events & EPOLLOUT) && c->woff < c->wlen) conn_write(c, now);
  if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) conn_read(c, now);
}

static int64_t due_of(uint64_t i) { return t0 + (int64_t)((double)i * 1e9 / rate); }

static int pick_kind(void) {
  if (get_path) return K_GET;
  int r = (int)rnd_below(100);
  if (r < mix[0]) return K_FEED;
  if (r < mix[0] + mix[1]) return K_TIMELINE;
  return K_POST;
}

static void usage(void) {
  fprintf(stderr,
          "usage: mixed_load -u HOST:PORT -R RATE -d SECONDS [-a ACCOUNTS] [-m F/T/P] [-c CONNS]\n"
          "                  [-t TIMEOUT_S] [-o IDS_FILE] [-H HOT] [-s SEED] [-g PATH] [-k IDLE_S]\n");
  exit(2);
}

static void print_line(const char *kind, const stats *s, double secs) {
  char list[2048] = "";
  size_t used = 0;
  for (int code = 0; code < 600; code++)
    if (s->status[code] && used < sizeof list - 32)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%d:%llu", used ? "," : "", code,
                               (unsigned long long)s->status[code]);
  printf("RATE kind=%s offered=%llu offered_rps=%.1f sent=%llu done=%llu achieved_rps=%.1f "
         "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f svc_p99_ms=%.3f statuses=%s "
         "unexpected=%llu errors_read=%llu errors_timeout=%llu unsent=%llu",
         kind, (unsigned long long)s->offered, (double)s->offered / secs, (unsigned long long)s->sent,
         (unsigned long long)s->done, (double)s->done_in_window / secs, hist_pct_ms(s->lat, 50),
         hist_pct_ms(s->lat, 99), hist_pct_ms(s->lat, 99.9), (double)s->max_us / 1000.0,
         hist_pct_ms(s->svc, 99), used ? list : "-", (unsigned long long)s->unexpected,
         (unsigned long long)s->err_read, (unsigned long long)s->err_timeout,
         (unsigned long long)s->unsent);
}

int main(int argc, char **argv) {
  const char *url = NULL, *acc = NULL, *ids = NULL;
  int opt;
  unsigned long seed = 1;
  while ((opt = getopt(argc, argv, "u:R:d:a:m:c:t:o:H:s:g:k:")) != -1) {
    switch (opt) {
      case 'u': url = optarg; break;
      case 'R': rate = atof(optarg); break;
      case 'd': seconds = atoi(optarg); break;
      case 'a': acc = optarg; break;
      case 'm':
        if (sscanf(optarg, "%d/%d/%d", &mix[0], &mix[1], &mix[2]) != 3 || mix[0] < 0 || mix[1] < 0 ||
            mix[2] < 0 || mix[0] + mix[1] + mix[2] != 100)
          die("-m wants three percentages adding up to 100, like 60/30/10");
        break;
      case 'c': nconns = atoi(optarg); break;
      case 't': timeout_s = atoi(optarg); break;
      case 'o': ids = optarg; break;
      case 'H': hot = (size_t)strtoul(optarg, NULL, 10); break;
      case 's': seed = strtoul(optarg, NULL, 10); break;
      case 'g': get_path = optarg; break;
      case 'k': idle_max_s = atoi(optarg); break;
      default: usage();
    }
  }
  if (!url || rate <= 0 || rate > 1e6 || seconds <= 0 || nconns < 1 || nconns > 60000 ||
      timeout_s < 1 || idle_max_s < 1 || (!get_path && !acc) || (get_path && get_path[0] != '/'))
    usage();
  parse_target(url);
  if (acc) load_accounts(acc);
  if (hot < 1) hot = 1;
  rng = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
  run_tag = (unsigned)(now_ns() & 0xffffff);
  if (ids && !(ids_out = fopen(ids, "a"))) die("cannot open %s", ids);
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)(seconds + 2 * timeout_s + 30)); /* a last guard: it stops by itself */

  epfd = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (epfd < 0 || tfd < 0) die("epoll/timerfd: %s", strerror(errno));
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev) != 0) die("epoll_ctl: %s", strerror(errno));
  conns = calloc((size_t)nconns, sizeof *conns);
  idle = calloc((size_t)nconns, sizeof *idle);
  double want = rate * seconds + 16;
  q_cap = want < (double)(1 << 22) ? (size_t)want : (size_t)1 << 22;
  queue = malloc(q_cap * sizeof *queue);
  if (!conns || !idle || !queue) die("out of memory");

  int64_t start = now_ns();
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = -1;
    conn_open(&conns[i], start);
  }
  /* Connect first (up to 2 s), then start the clock. */
  struct epoll_event evs[256];
  while (n_idle < nconns && now_ns() - start < 2000000000) {
    int k = epoll_wait(epfd, evs, 256, 50);
    int64_t now = now_ns();
    for (int i = 0; i < k; i++)
      if (evs[i].data.u32 != UINT32_MAX) on_event(&conns[evs[i].data.u32], evs[i].events, now);
  }
  t0 = now_ns() + 10000000;
  t_end = t0 + (int64_t)seconds * 1000000000;
  int64_t t_stop = t_end + (int64_t)timeout_s * 1000000000, last_check = 0;
  uint64_t next = 0;
  int scheduling = 1;
  for (;;) {
    int64_t now = now_ns();
    while (scheduling) {
      int64_t due = due_of(next);
      if (due >= t_end) {
        scheduling = 0;
        break;
      }
      if (due > now) break;
      int kind = pick_kind();
      st[kind].offered++;
      late[hist_index((now - due) / 1000)]++;
      if (q_len == q_cap) st[kind].unsent++;
      else {
        queue[(q_head + q_len) % q_cap] = (job){due, kind};
        q_len++;
      }
      next++;
    }
    dispatch(now);
    if (now - last_check >= 5000000) { /* timeouts and reconnects, every 5 ms */
      last_check = now;
      for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        if (c->state == C_BUSY && now - c->sent_at > (int64_t)timeout_s * 1000000000) {
          st[c->cur.kind].err_timeout++;
          conn_close(c, now);
        }
        if (c->state == C_IDLE && now - c->idle_since > (int64_t)idle_max_s * 1000000000) {
          idle_remove(c); /* before the server's keep-alive timeout closes it under a request */
          conn_close(c, now);
        }
        if (c->state == C_CLOSED && now >= c->reopen_at && now < t_stop) conn_open(c, now);
      }
    }
    int busy = 0;
    for (int i = 0; i < nconns && !busy; i++) busy = conns[i].state == C_BUSY;
    if (!scheduling && q_len == 0 && !busy) break;
    if (now >= t_stop) break;
    int64_t wake = scheduling ? due_of(next) : now + 5000000;
    if (wake > now + 5000000) wake = now + 5000000;
    if (wake <= now) wake = now + 1000;
    struct itimerspec its = {.it_value = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    int k = epoll_wait(epfd, evs, 256, 10);
    now = now_ns();
    for (int i = 0; i < k; i++) {
      if (evs[i].data.u32 == UINT32_MAX) {
        uint64_t x;
        while (read(tfd, &x, sizeof x) > 0) {
        }
        continue;
      }
      on_event(&conns[evs[i].data.u32], evs[i].events, now);
    }
  }
  /* What is left: still in flight (timeouts) or never sent. */
  for (int i = 0; i < nconns; i++) {
    if (conns[i].state == C_BUSY) st[conns[i].cur.kind].err_timeout++;
    if (conns[i].fd >= 0) close(conns[i].fd);
    free(conns[i].rbuf);
  }
  for (; q_len > 0; q_len--, q_head = (q_head + 1) % q_cap) st[queue[q_head].kind].unsent++;

  double secs = (double)seconds;
  stats all = {0};
  for (int k = 0; k < NKINDS; k++) {
    if (st[k].offered == 0) continue;
    print_line(KIND_NAME[k], &st[k], secs);
    putchar('\n');
    for (int i = 0; i < HIST_N; i++) {
      all.lat[i] += st[k].lat[i];
      all.svc[i] += st[k].svc[i];
    }
    all.offered += st[k].offered;
    all.sent += st[k].sent;
    all.done += st[k].done;
    all.done_in_window += st[k].done_in_window;
    all.unexpected += st[k].unexpected;
    all.err_read += st[k].err_read;
    all.err_timeout += st[k].err_timeout;
    all.unsent += st[k].unsent;
    for (int code = 0; code < 600; code++) all.status[code] += st[k].status[code];
    if (st[k].max_us > all.max_us) all.max_us = st[k].max_us;
  }
  print_line("all", &all, secs);
  printf(" seconds=%d conns=%d errors_connect=%llu late_p99_ms=%.3f late_max_ms=%.3f\n", seconds, nconns,
         (unsigned long long)errors_connect, hist_pct_ms(late, 99), hist_pct_ms(late, 100));
  fflush(stdout);
  if (ids_out) fclose(ids_out);
  free(conns);
  free(idle);
  free(queue);
  free(accounts);
  close(tfd);
  close(epfd);
  return 0;
}
