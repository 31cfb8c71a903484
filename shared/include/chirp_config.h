/*
 * chirp_config.h — process configuration from CHIRP_* environment variables.
 *
 * Every setting has a default that matches the local run stack
 * (deploy/stack.sh run); the README documents them.  A value that cannot be
 * parsed stops start-up: chirp_config_parse returns CHIRP_EINVAL and writes a
 * message naming the variable into err.
 *
 * Strings in a chirp_config point into the environment or at literals: they
 * are borrowed and live as long as the process does.
 */
#ifndef CHIRP_CONFIG_H
#define CHIRP_CONFIG_H

#include <stddef.h>

#include "chirp_log.h"

typedef struct chirp_config {
  const char *pg_url;      /* CHIRP_PG_URL */
  const char *redis_url;   /* CHIRP_REDIS_URL */
  const char *amqp_url;    /* CHIRP_AMQP_URL */
  const char *http_bind;   /* CHIRP_HTTP_BIND, an IPv4 address */
  int http_port;           /* CHIRP_HTTP_PORT 1-65535 */
  int http_threads;        /* CHIRP_HTTP_THREADS 1-1024 */
  const char *role;        /* CHIRP_ROLE (workers; --role overrides) */
  int prefetch;            /* CHIRP_PREFETCH 1-65535 */
  chirp_log_level log_level; /* CHIRP_LOG_LEVEL */
  int node_id;             /* CHIRP_NODE_ID 0-1023, -1 = derive from pid */
  const char *admin_token; /* CHIRP_ADMIN_TOKEN, "" = admin endpoints off */
  const char *metrics_token; /* CHIRP_METRICS_TOKEN, "" = /metrics open to all */
  int pwhash_min;          /* CHIRP_PWHASH=interactive|min (min: tests only) */
  int publish_timeout_ms;  /* CHIRP_PUBLISH_TIMEOUT_MS 100-60000 */
  int cache_ttl_s;         /* CHIRP_CACHE_TTL 1-604800 */
  int local_cache;         /* CHIRP_LOCAL_CACHE 0-10000000: objects held in the gateway, 0 = off */
  int session_ttl_s;       /* CHIRP_SESSION_TTL 60-31536000 */
  int feed_cap;            /* CHIRP_FEED_CAP 10-100000: entries kept per feed */
  int huge_threshold;      /* CHIRP_HUGE_THRESHOLD: more followers = merged at read time */
  int fanout_chunk;        /* CHIRP_FANOUT_CHUNK 10-100000: followers per fan-out message */
  int fanout_single_active; /* CHIRP_FANOUT_SINGLE_ACTIVE 0/1: one fan-out consumer at a time
                               (read by chirp_amqp_declare_topology; checked here) */
  int lists_max;           /* CHIRP_LISTS_MAX 1-100000: lists an account may own (100) */
  int list_members_max;    /* CHIRP_LIST_MEMBERS_MAX 1-100000: members of one list (1000) */
  int likes_flush_count;   /* CHIRP_LIKES_FLUSH_COUNT: flush a tweet with more pending likes */
  int likes_flush_age_ms;  /* CHIRP_LIKES_FLUSH_AGE_MS: ... or with an older pending like */
  int rate_read;           /* CHIRP_RATE_READ: GET requests per window per client */
  int rate_write;          /* CHIRP_RATE_WRITE: other requests per window per client */
  int rate_login;          /* CHIRP_RATE_LOGIN: log-in and sign-up attempts per window */
  int rate_window_s;       /* CHIRP_RATE_WINDOW: seconds */
  int trust_forwarded;     /* CHIRP_TRUST_FORWARDED=1: client address from X-Forwarded-For */
  int max_retries;         /* CHIRP_MAX_RETRIES: tries of a failing message before the DLQ */
  int amqp_heartbeat_s;    /* CHIRP_AMQP_HEARTBEAT 0-3600: workers' consumer heartbeat, 0 = off */
} chirp_config;

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*chirp_config_getter)(const char *name, void *arg);

/* Fills cfg from get(); returns 0, or CHIRP_EINVAL with a message in err. */
int chirp_config_parse(chirp_config *cfg, chirp_config_getter get, void *arg, char *err,
                       size_t errlen);
/* chirp_config_parse over the process environment. */
int chirp_config_load(chirp_config *cfg, char *err, size_t errlen);

#endif
