/* chirp_redis.c — redis:// URLs, connections with timeouts, counted
   pipelines and Lua scripts by SHA, see chirp_redis.h. */
#include "chirp_redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_log.h"
#include "chirp_sha1.h"

/* --- URLs --- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (outlen bytes with the NUL); -1 on a
   bad escape, an encoded NUL or no room. */
static int decode(const char *s, size_t n, char *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int ch = (unsigned char)s[i];
    if (ch == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
      ch = hi * 16 + lo;
      i += 2;
    }
    if (o + 1 >= outlen) return -1;
    out[o++] = (char)ch;
  }
  out[o] = '\0';
  return 0;
}

#define URL_FAIL(...)                  \
  do {                                 \
    snprintf(why, whylen, __VA_ARGS__); \
    return CHIRP_EINVAL;               \
  } while (0)

int chirp_redis_parse_url(const char *url, chirp_redis_url *out, char *why, size_t whylen) {
  memset(out, 0, sizeof *out);
  out->port = 6379;
  if (!url || strncmp(url, "redis://", 8) != 0)
    URL_FAIL("must start with redis:// (TLS, rediss://, is not supported)");
  const char *p = url + 8;
  /* Credentials end at the last '@' of the authority (before any '/', '?'
     or '#'): a host, port or database has none, and an '@' inside a
     password should be written %40 but need not be. */
  const char *at = NULL;
  for (const char *q = p; *q && !strchr("/?#", *q); q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (at == p) URL_FAIL("has an '@' but no credentials before it");
    if (colon) {
      if (decode(p, (size_t)(colon - p), out->user, sizeof out->user))
        URL_FAIL("has a user name that is too long or badly %%-encoded");
      if (colon + 1 == at) URL_FAIL("has an empty password after \"user:\"");
      if (decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof out->password))
        URL_FAIL("has a password that is too long or badly %%-encoded");
    } else if (decode(p, (size_t)(at - p), out->password, sizeof out->password)) {
      URL_FAIL("has a password that is too long or badly %%-encoded");
    }
    p = at + 1;
  }
  size_t hl = strcspn(p, ":/?#");
  if (hl == 0) URL_FAIL("has no host");
  if (hl >= sizeof out->host) URL_FAIL("has a host name longer than %zu bytes", sizeof out->host - 1);
  memcpy(out->host, p, hl);
  out->host[hl] = '\0';
  p += hl;
  if (*p == ':') {
    long v = 0;
    const char *d = p + 1;
    while (*d >= '0' && *d <= '9' && v <= 65535) v = v * 10 + (*d++ - '0');
    if (d == p + 1 || v < 1 || v > 65535 || (*d && *d != '/' && *d != '?' && *d != '#'))
      URL_FAIL("has a port that is not a number from 1 to 65535");
    out->port = (int)v;
    p = d;
  }
  if (*p == '/') {
    p++;
    if (*p && *p != '?' && *p != '#') {
      long v = 0;
      const char *d = p;
      while (*d >= '0' && *d <= '9' && v <= 1000000) v = v * 10 + (*d++ - '0');
      if (d == p || v > 1000000 || (*d && *d != '?' && *d != '#'))
        URL_FAIL("has a database that is not a number (redis://host:port/DB)");
      out->db = (int)v;
      p = d;
    }
  }
  if (*p == '?' || *p == '#') URL_FAIL("has query options or a fragment, which are not supported");
  if (*p) URL_FAIL("has unexpected text after the host");
  return 0;
}

/* --- pending pipelined replies, per thread and context --- */

/* Only contexts with replies pending take a slot, and a context belongs
   to one thread: a few slots per thread are plenty. */
#define PENDING_SLOTS 8
static __thread struct {
  const redisContext *c;
  size_t n;
} pending[PENDING_SLOTS];

static size_t *pending_of(const redisContext *c, int create) {
  int free_slot = -1;
  for (int i = 0; i < PENDING_SLOTS; i++) {
    if (pending[i].c == c && pending[i].n) return &pending[i].n;
    if (!pending[i].n && free_slot < 0) free_slot = i;
  }
  if (!create || free_slot < 0) return NULL;
  pending[free_slot].c = c;
  return &pending[free_slot].n;
}

static void mark_broken(redisContext *c, const char *why) {
  size_t *n = pending_of(c, 0);
  if (n) *n = 0;
  if (!c->err) {
    c->err = REDIS_ERR_OTHER;
    snprintf(c->errstr, sizeof c->errstr, "%s", why);
  }
}

size_t chirp_redis_pending(const redisContext *c) {
  size_t *n = pending_of(c, 0);
  return n ? *n : 0;
}

void chirp_redis_abandon(redisContext *c, const char *why) {
  if (chirp_redis_pending(c)) chirp_debug("redis: abandoning a pipeline: %s", why);
  mark_broken(c, why);
}

static int counted(redisContext *c, int status) {
  if (status != REDIS_OK || c->err) {
    mark_broken(c, "a pipelined command could not be queued");
    return CHIRP_EUNAVAILABLE;
  }
  size_t *n = pending_of(c, 1);
  if (!n) {
    /* No slot: cannot count, so cannot vouch for the pipeline. */
    chirp_error("redis: more than %d contexts with pipelines pending on one thread", PENDING_SLOTS);
    mark_broken(c, "too many pipelines on one thread");
    return CHIRP_EUNAVAILABLE;
  }
  ++*n;
  return 0;
}

int chirp_redis_append(redisContext *c, const char *fmt, ...) {
  if (c->err) return CHIRP_EUNAVAILABLE;
  va_list ap;
  va_start(ap, fmt);
  int st = redisvAppendCommand(c, fmt, ap);
  va_end(ap);
  return counted(c, st);
}

int chirp_redis_append_argv(redisContext *c, int argc, const char **argv, const size_t *lens) {
  if (c->err) return CHIRP_EUNAVAILABLE;
  return counted(c, redisAppendCommandArgv(c, argc, argv, lens));
}

int chirp_redis_read(redisContext *c, redisReply **rep) {
  *rep = NULL;
  size_t *n = pending_of(c, 0);
  if (c->err || !n) {
    if (!c->err) chirp_error("redis: a reply read with no command pending (a bug)");
    mark_broken(c, "reply read with nothing pending");
    return CHIRP_EUNAVAILABLE;
  }
  void *r = NULL;
  if (redisGetReply(c, &r) != REDIS_OK || !r) {
    if (r) freeReplyObject(r);
    mark_broken(c, c->err ? c->errstr : "no reply");
    return CHIRP_EUNAVAILABLE;
  }
  --*n;
  *rep = r;
  return 0;
}

/* A synchronous call is only safe with nothing pending. */
static int sync_allowed(redisContext *c, const char *what) {
  if (c->err) return 0;
  size_t n = chirp_redis_pending(c);
  if (!n) return 1;
  chirp_error("redis: %s on a connection with %zu pipelined replies pending (a bug); dropping it",
              what, n);
  mark_broken(c, "synchronous call inside a pipeline");
  return 0;
}

redisReply *chirp_redis_command(redisContext *c, const char *fmt, ...) {
  if (!sync_allowed(c, "a synchronous command")) return NULL;
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  return r;
}

/* --- connecting --- */

static int setup_command(redisContext *c, int argc, const char **argv, const char *what,
                         const chirp_redis_url *u) {
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  int bad = chirp_redis_reply_failed(c, r);
  if (bad)
    chirp_warn("redis %s:%d: %s failed: %s", u->host, u->port, what,
               r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
  if (r) freeReplyObject(r);
  return bad;
}

int chirp_redis_connect(const char *url, int timeout_ms, redisContext **out) {
  chirp_redis_url u;
  char why[160];
  if (chirp_redis_parse_url(url, &u, why, sizeof why)) {
    chirp_error("CHIRP_REDIS_URL %s", why);
    return CHIRP_EINVAL;
  }
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
  if (!c) return CHIRP_ENOMEM;
  if (c->err) {
    chirp_debug("redis connect %s:%d: %s", u.host, u.port, c->errstr);
    redisFree(c);
    return CHIRP_EUNAVAILABLE;
  }
  redisSetTimeout(c, tv);
  int bad = 0;
  if (u.password[0]) {
    const char *auth[] = {"AUTH", u.user, u.password};
    bad = u.user[0] ? setup_command(c, 3, auth, "AUTH user password", &u)
                    : setup_command(c, 2, (const char *[]){"AUTH", u.password}, "AUTH password", &u);
  }
  if (!bad && u.db != 0) {
    char db[16];
    snprintf(db, sizeof db, "%d", u.db);
    bad = setup_command(c, 2, (const char *[]){"SELECT", db}, "SELECT", &u);
  }
  memset(&u, 0, sizeof u); /* the password */
  if (bad) {
    redisFree(c);
    return CHIRP_EUNAVAILABLE;
  }
  size_t *n = pending_of(c, 0); /* a new context where a dropped one was */
  if (n) *n = 0;
  *out = c;
  return 0;
}

int chirp_redis_reply_failed(const redisContext *c, const redisReply *r) {
  return c->err || !r || r->type == REDIS_REPLY_ERROR;
}

/* --- Lua scripts --- */

static pthread_mutex_t lua_lock = PTHREAD_MUTEX_INITIALIZER;

void chirp_redis_script_sha(chirp_lua *script, char sha[41]) {
  pthread_mutex_lock(&lua_lock);
  if (!script->sha[0]) chirp_sha1_hex(script->src, strlen(script->src), script->sha);
  memcpy(sha, script->sha, 41);
  pthread_mutex_unlock(&lua_lock);
}

int chirp_redis_script_load(redisContext *c, chirp_lua *script) {
  if (!sync_allowed(c, "SCRIPT LOAD")) return CHIRP_EUNAVAILABLE;
  char sha[41];
  chirp_redis_script_sha(script, sha);
  redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script->src);
  int ok = !chirp_redis_reply_failed(c, r) && r->type == REDIS_REPLY_STRING && r->len == 40 &&
           memcmp(r->str, sha, 40) == 0;
  if (!ok && r && r->type == REDIS_REPLY_ERROR) chirp_error("redis SCRIPT LOAD: %s", r->str);
  else if (!ok && r && r->type == REDIS_REPLY_STRING)
    chirp_error("redis SCRIPT LOAD named the script %.*s, not %s", (int)r->len, r->str, sha);
  if (r) freeReplyObject(r);
  return ok ? 0 : CHIRP_EUNAVAILABLE;
}

int chirp_redis_noscript(const redisReply *rep) {
  return rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* argv for EVALSHA sha numkeys args...: in v/l (room for argc + 3). */
static void evalsha_argv(const char *sha, const char *nk, int argc, const char **argv,
                         const size_t *argvlen, const char **v, size_t *l) {
  v[0] = "EVALSHA";
  l[0] = 7;
  v[1] = sha;
  l[1] = 40;
  v[2] = nk;
  l[2] = strlen(nk);
  for (int i = 0; i < argc; i++) {
    v[i + 3] = argv[i];
    l[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
  }
}

enum { STACK_ARGS = 64 };

int chirp_redis_append_eval(redisContext *c, chirp_lua *script, int numkeys, int argc,
                            const char **argv, const size_t *argvlen) {
  const char *sv[STACK_ARGS + 3], **v = sv;
  size_t sl[STACK_ARGS + 3], *l = sl;
  char sha[41], nk[16];
  if (argc > STACK_ARGS) {
    v = malloc((size_t)(argc + 3) * sizeof *v);
    l = malloc((size_t)(argc + 3) * sizeof *l);
  }
  int rc = CHIRP_EUNAVAILABLE;
  if (v && l) {
    chirp_redis_script_sha(script, sha);
    snprintf(nk, sizeof nk, "%d", numkeys);
    evalsha_argv(sha, nk, argc, argv, argvlen, v, l);
    rc = chirp_redis_append_argv(c, argc + 3, v, l);
  } else {
    mark_broken(c, "out of memory queueing a script");
  }
  if (v != sv) free(v);
  if (l != sl) free(l);
  return rc;
}

redisReply *chirp_redis_eval(redisContext *c, chirp_lua *script, int numkeys, int argc,
                             const char **argv, const size_t *argvlen) {
  if (!sync_allowed(c, "a script call")) return NULL;
  redisReply *r = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (chirp_redis_append_eval(c, script, numkeys, argc, argv, argvlen) ||
        chirp_redis_read(c, &r))
      return NULL;
    if (!chirp_redis_noscript(r)) break;
    freeReplyObject(r);
    r = NULL;
    if (chirp_redis_script_load(c, script)) return NULL;
  }
  if (r && r->type == REDIS_REPLY_ERROR) {
    chirp_error("redis script: %s", r->str);
    freeReplyObject(r);
    r = NULL;
  }
  return r;
}

/* --- versioned cache entries --- */

static chirp_lua put_script = CHIRP_LUA(
    "local v = redis.call('HGET', KEYS[1], 'v') "
    "if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end "
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'j', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
    "return 1");

int chirp_cache_put(redisContext *c, const char *key, int64_t version, const char *json,
                    int ttl_s) {
  char v[24], t[16];
  snprintf(v, sizeof v, "%lld", (long long)version);
  snprintf(t, sizeof t, "%d", ttl_s);
  const char *argv[] = {key, v, json, t};
  redisReply *r = chirp_redis_eval(c, &put_script, 1, 4, argv, NULL);
  if (!r) return CHIRP_EUNAVAILABLE;
  freeReplyObject(r);
  return 0;
}

static chirp_lua swap_script = CHIRP_LUA(
    "if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[1], 'v', ARGV[2], 'j', ARGV[3]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
    "return 1");

int chirp_cache_swap(redisContext *c, const char *key, int64_t expect, int64_t version,
                     const char *json, int ttl_s, int *swapped) {
  char e[24], v[24], t[16];
  snprintf(e, sizeof e, "%lld", (long long)expect);
  snprintf(v, sizeof v, "%lld", (long long)version);
  snprintf(t, sizeof t, "%d", ttl_s);
  const char *argv[] = {key, e, v, json, t};
  redisReply *r = chirp_redis_eval(c, &swap_script, 1, 5, argv, NULL);
  if (!r) return CHIRP_EUNAVAILABLE;
  *swapped = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  freeReplyObject(r);
  return 0;
}

int chirp_cache_get(redisContext *c, const char *key, char **json, size_t *len, int *deleted) {
  redisReply *rep = chirp_redis_command(c, "HGET %s j", key);
  if (chirp_redis_reply_failed(c, rep)) {
    if (rep) freeReplyObject(rep);
    return CHIRP_EUNAVAILABLE;
  }
  int rc;
  *deleted = 0;
  if (rep->type != REDIS_REPLY_STRING) {
    rc = CHIRP_ENOTFOUND;
  } else if (rep->len == 0) {
    *deleted = 1;
    rc = CHIRP_ENOTFOUND;
  } else if (!(*json = malloc(rep->len + 1))) {
    rc = CHIRP_ENOMEM;
  } else {
    memcpy(*json, rep->str, rep->len);
    (*json)[rep->len] = '\0';
    *len = rep->len;
    rc = 0;
  }
  freeReplyObject(rep);
  return rc;
}

static chirp_lua incr_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end "
    "return false");

int chirp_counter_add(redisContext *c, const char *key, long long delta) {
  char d[24];
  snprintf(d, sizeof d, "%lld", delta);
  const char *argv[] = {key, d};
  redisReply *r = chirp_redis_eval(c, &incr_script, 1, 2, argv, NULL);
  if (!r) return CHIRP_EUNAVAILABLE;
  freeReplyObject(r);
  return 0;
}
