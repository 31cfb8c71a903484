/* chirp_redis.c — redis:// URL parsing and connections with timeouts. */
#include "chirp_redis.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_log.h"

int chirp_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db) {
  const char *p;
  if (strncmp(url, "redis://", 8) != 0) return CHIRP_EINVAL;
  p = url + 8;
  /* Skip credentials (not used locally).  They end at the last '@' of the
     authority: a password may hold an '@' (found by tests/fuzz/fuzz_redis_url). */
  const char *at = NULL;
  for (const char *q = p; *q && *q != '/'; q++)
    if (*q == '@') at = q;
  if (at) p = at + 1;
  size_t hl = strcspn(p, ":/");
  if (hl == 0 || hl >= hostlen) return CHIRP_EINVAL;
  memcpy(host, p, hl);
  host[hl] = '\0';
  p += hl;
  *port = 6379;
  *db = 0;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v < 1 || v > 65535) return CHIRP_EINVAL;
    *port = (int)v;
    p = end;
  }
  if (*p == '/') {
    if (p[1] != '\0') {
      char *end;
      long v = strtol(p + 1, &end, 10);
      if (end == p + 1 || *end != '\0' || v < 0 || v > 15) return CHIRP_EINVAL;
      *db = (int)v;
    }
  } else if (*p != '\0') {
    return CHIRP_EINVAL;
  }
  return 0;
}

int chirp_redis_connect(const char *url, int timeout_ms, redisContext **out) {
  char host[256];
  int port, db;
  if (chirp_redis_parse_url(url, host, sizeof host, &port, &db)) return CHIRP_EINVAL;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (!c) return CHIRP_ENOMEM;
  if (c->err) {
    chirp_debug("redis connect %s:%d: %s", host, port, c->errstr);
    redisFree(c);
    return CHIRP_EUNAVAILABLE;
  }
  redisSetTimeout(c, tv);
  if (db != 0) {
    redisReply *r = redisCommand(c, "SELECT %d", db);
    int bad = chirp_redis_reply_failed(c, r);
    if (r) freeReplyObject(r);
    if (bad) {
      redisFree(c);
      return CHIRP_EUNAVAILABLE;
    }
  }
  *out = c;
  return 0;
}

int chirp_redis_reply_failed(const redisContext *c, const redisReply *r) {
  return c->err || !r || r->type == REDIS_REPLY_ERROR;
}

static pthread_mutex_t lua_lock = PTHREAD_MUTEX_INITIALIZER;

static int lua_load(redisContext *c, chirp_lua *script) {
  redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script->src);
  int ok = !chirp_redis_reply_failed(c, r) && r->type == REDIS_REPLY_STRING && r->len == 40;
  if (ok) {
    pthread_mutex_lock(&lua_lock);
    memcpy(script->sha, r->str, 40);
    script->sha[40] = '\0';
    pthread_mutex_unlock(&lua_lock);
  } else if (r && r->type == REDIS_REPLY_ERROR) {
    chirp_error("redis SCRIPT LOAD: %s", r->str);
  }
  if (r) freeReplyObject(r);
  return ok ? 0 : -1;
}

int chirp_redis_script_ready(redisContext *c, chirp_lua *script) {
  pthread_mutex_lock(&lua_lock);
  int ready = script->sha[0] != '\0';
  pthread_mutex_unlock(&lua_lock);
  return ready ? 0 : lua_load(c, script) == 0 ? 0 : CHIRP_EUNAVAILABLE;
}

int chirp_redis_script_reload(redisContext *c, chirp_lua *script) {
  return lua_load(c, script) == 0 ? 0 : CHIRP_EUNAVAILABLE;
}

redisReply *chirp_redis_eval(redisContext *c, chirp_lua *script, int numkeys, int argc,
                             const char **argv, const size_t *argvlen) {
  enum { STACK_ARGS = 64 };
  const char *sv[STACK_ARGS + 3];
  size_t sl[STACK_ARGS + 3];
  const char **v = sv;
  size_t *l = sl;
  char sha[41], nk[16];
  redisReply *r = NULL;
  if (argc > STACK_ARGS) {
    v = malloc((size_t)(argc + 3) * sizeof *v);
    l = malloc((size_t)(argc + 3) * sizeof *l);
    if (!v || !l) goto out;
  }
  snprintf(nk, sizeof nk, "%d", numkeys);
  for (int attempt = 0; attempt < 2; attempt++) {
    pthread_mutex_lock(&lua_lock);
    memcpy(sha, script->sha, sizeof sha);
    pthread_mutex_unlock(&lua_lock);
    if (!sha[0]) {
      if (lua_load(c, script)) goto out;
      continue;
    }
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
    r = redisCommandArgv(c, argc + 3, v, l);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
      freeReplyObject(r);
      r = NULL;
      if (lua_load(c, script)) goto out;
      continue;
    }
    break;
  }
  if (r && r->type == REDIS_REPLY_ERROR) {
    chirp_error("redis script: %s", r->str);
    freeReplyObject(r);
    r = NULL;
  }
out:
  if (v != sv) free(v);
  if (l != sl) free(l);
  return r;
}

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
  redisReply *rep = redisCommand(c, "HGET %s j", key);
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
