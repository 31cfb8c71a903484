/* chirp_config.c — CHIRP_* environment variables, parsed and checked. */
#define _POSIX_C_SOURCE 200809L
#include "chirp_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_redis.h"

static const char *env_getter(const char *name, void *arg) {
  (void)arg;
  return getenv(name);
}

static int parse_int(const char *name, const char *v, long lo, long hi, int *out, char *err,
                     size_t errlen) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end != '\0' || n < lo || n > hi) {
    snprintf(err, errlen, "%s=\"%s\" is not an integer between %ld and %ld", name, v, lo, hi);
    return CHIRP_EINVAL;
  }
  *out = (int)n;
  return 0;
}

static int check_url(const char *name, const char *v, const char *const schemes[], char *err,
                     size_t errlen) {
  for (int i = 0; schemes[i]; i++) {
    size_t n = strlen(schemes[i]);
    if (strncmp(v, schemes[i], n) == 0 && v[n] != '\0') return 0;
  }
  snprintf(err, errlen, "%s=\"%s\" must start with %s", name, v, schemes[0]);
  return CHIRP_EINVAL;
}

int chirp_config_parse(chirp_config *cfg, chirp_config_getter get, void *arg, char *err,
                       size_t errlen) {
  static const char *const pg_schemes[] = {"postgresql://", "postgres://", NULL};
  static const char *const amqp_schemes[] = {"amqp://", NULL};
  const char *v;
  int rc;

  *cfg = (chirp_config){
      .pg_url = "postgresql://chirp@127.0.0.1:54321/chirp",
      .redis_url = "redis://127.0.0.1:63791/0",
      .amqp_url = "amqp://guest:guest@127.0.0.1:56721/%2f",
      .http_bind = "127.0.0.1",
      .http_port = 8080,
      .http_threads = 32,
      .role = "persist",
      .prefetch = 500,
      .log_level = CHIRP_LOG_INFO,
      .node_id = -1,
      .admin_token = "",
      .metrics_token = "",
      .pwhash_min = 0,
      .publish_timeout_ms = 5000,
      .cache_ttl_s = 86400,
      .local_cache = 200000,
      .session_ttl_s = 30 * 86400,
      .feed_cap = 800,
      .huge_threshold = 10000,
      .fanout_chunk = 1000,
      .fanout_single_active = 1,
      .lists_max = 100,
      .list_members_max = 1000,
      .likes_flush_count = 10,
      .likes_flush_age_ms = 60000,
      .rate_read = 1200,
      .rate_write = 300,
      .rate_login = 20,
      .rate_window_s = 60,
      .trust_forwarded = 0,
      .max_retries = 3,
      .amqp_heartbeat_s = 30,
  };
  if ((v = get("CHIRP_PG_URL", arg)) && (rc = check_url("CHIRP_PG_URL", v, pg_schemes, err, errlen)))
    return rc;
  if (v) cfg->pg_url = v;
  if ((v = get("CHIRP_REDIS_URL", arg))) {
    chirp_redis_url u;
    char why[160];
    if (chirp_redis_parse_url(v, &u, why, sizeof why)) {
      snprintf(err, errlen, "CHIRP_REDIS_URL %s", why); /* not the URL: it may hold a password */
      return CHIRP_EINVAL;
    }
  }
  if (v) cfg->redis_url = v;
  if ((v = get("CHIRP_AMQP_URL", arg)) &&
      (rc = check_url("CHIRP_AMQP_URL", v, amqp_schemes, err, errlen)))
    return rc;
  if (v) cfg->amqp_url = v;
  if ((v = get("CHIRP_HTTP_BIND", arg))) {
    struct in_addr a;
    if (inet_pton(AF_INET, v, &a) != 1) {
      snprintf(err, errlen, "CHIRP_HTTP_BIND=\"%s\" is not an IPv4 address", v);
      return CHIRP_EINVAL;
    }
    cfg->http_bind = v;
  }
  if ((v = get("CHIRP_ROLE", arg))) cfg->role = v;
  if ((v = get("CHIRP_LOG_LEVEL", arg)) && chirp_log_level_parse(v, &cfg->log_level)) {
    snprintf(err, errlen, "CHIRP_LOG_LEVEL=\"%s\" must be debug, info, warn or error", v);
    return CHIRP_EINVAL;
  }
  if ((v = get("CHIRP_ADMIN_TOKEN", arg))) {
    if (*v && strlen(v) < 16) {
      snprintf(err, errlen, "CHIRP_ADMIN_TOKEN must be empty or at least 16 characters");
      return CHIRP_EINVAL;
    }
    cfg->admin_token = v;
  }
  if ((v = get("CHIRP_METRICS_TOKEN", arg))) {
    if (*v && strlen(v) < 16) {
      snprintf(err, errlen, "CHIRP_METRICS_TOKEN must be empty or at least 16 characters");
      return CHIRP_EINVAL;
    }
    cfg->metrics_token = v;
  }
  if ((v = get("CHIRP_PWHASH", arg))) {
    if (strcmp(v, "min") == 0) {
      cfg->pwhash_min = 1;
    } else if (strcmp(v, "interactive") != 0) {
      snprintf(err, errlen, "CHIRP_PWHASH=\"%s\" must be interactive or min", v);
      return CHIRP_EINVAL;
    }
  }
  static const struct {
    const char *name;
    long lo, hi;
    size_t off;
  } ints[] = {
      {"CHIRP_HTTP_PORT", 1, 65535, offsetof(chirp_config, http_port)},
      {"CHIRP_HTTP_THREADS", 1, 1024, offsetof(chirp_config, http_threads)},
      {"CHIRP_PREFETCH", 1, 65535, offsetof(chirp_config, prefetch)},
      {"CHIRP_NODE_ID", 0, 1023, offsetof(chirp_config, node_id)},
      {"CHIRP_PUBLISH_TIMEOUT_MS", 100, 60000, offsetof(chirp_config, publish_timeout_ms)},
      {"CHIRP_CACHE_TTL", 1, 604800, offsetof(chirp_config, cache_ttl_s)},
      {"CHIRP_LOCAL_CACHE", 0, 10000000, offsetof(chirp_config, local_cache)},
      {"CHIRP_SESSION_TTL", 60, 31536000, offsetof(chirp_config, session_ttl_s)},
      {"CHIRP_FEED_CAP", 10, 100000, offsetof(chirp_config, feed_cap)},
      {"CHIRP_HUGE_THRESHOLD", 1, 1000000000, offsetof(chirp_config, huge_threshold)},
      {"CHIRP_FANOUT_CHUNK", 10, 100000, offsetof(chirp_config, fanout_chunk)},
      {"CHIRP_FANOUT_SINGLE_ACTIVE", 0, 1, offsetof(chirp_config, fanout_single_active)},
      {"CHIRP_LISTS_MAX", 1, 100000, offsetof(chirp_config, lists_max)},
      {"CHIRP_LIST_MEMBERS_MAX", 1, 100000, offsetof(chirp_config, list_members_max)},
      {"CHIRP_LIKES_FLUSH_COUNT", 0, 100000, offsetof(chirp_config, likes_flush_count)},
      {"CHIRP_LIKES_FLUSH_AGE_MS", 0, 3600000, offsetof(chirp_config, likes_flush_age_ms)},
      {"CHIRP_RATE_READ", 1, 100000000, offsetof(chirp_config, rate_read)},
      {"CHIRP_RATE_WRITE", 1, 100000000, offsetof(chirp_config, rate_write)},
      {"CHIRP_RATE_LOGIN", 1, 100000000, offsetof(chirp_config, rate_login)},
      {"CHIRP_RATE_WINDOW", 1, 86400, offsetof(chirp_config, rate_window_s)},
      {"CHIRP_TRUST_FORWARDED", 0, 1, offsetof(chirp_config, trust_forwarded)},
      {"CHIRP_MAX_RETRIES", 1, 100, offsetof(chirp_config, max_retries)},
      {"CHIRP_AMQP_HEARTBEAT", 0, 3600, offsetof(chirp_config, amqp_heartbeat_s)},
  };
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if ((v = get(ints[i].name, arg)) &&
        (rc = parse_int(ints[i].name, v, ints[i].lo, ints[i].hi,
                        (int *)((char *)cfg + ints[i].off), err, errlen)))
      return rc;
  return 0;
}

int chirp_config_load(chirp_config *cfg, char *err, size_t errlen) {
  return chirp_config_parse(cfg, env_getter, NULL, err, errlen);
}
