/* chirp_redis.c — redis:// URL parsing and connections with timeouts. */
#include "chirp_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_log.h"

int chirp_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db) {
  const char *p;
  if (strncmp(url, "redis://", 8) != 0) return CHIRP_EINVAL;
  p = url + 8;
  const char *at = strchr(p, '@'); /* skip credentials: not used locally */
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
