/* conns.c — per-thread Redis and PostgreSQL connections of the gateway. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_amqp.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_notify.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "guard.h"
#include "gw.h"
#include "lcache.h"

gw_state gw;
_Atomic unsigned long long gw_cache_hits, gw_cache_misses;

struct conns {
  redisContext *redis;
  PGconn *pg;
  int64_t redis_retry_us; /* no reconnect attempt before this time */
  int64_t pg_retry_us;
};

static pthread_key_t conns_key;

static void conns_free(void *arg) {
  struct conns *c = arg;
  if (c->redis) redisFree(c->redis);
  if (c->pg) PQfinish(c->pg);
  free(c);
}

int gw_conns_init(void) { return pthread_key_create(&conns_key, conns_free) ? CHIRP_ENOMEM : 0; }

static struct conns *conns_get(void) {
  struct conns *c = pthread_getspecific(conns_key);
  if (!c) {
    c = calloc(1, sizeof *c);
    if (c && pthread_setspecific(conns_key, c) != 0) {
      free(c);
      c = NULL;
    }
  }
  return c;
}

/* While a server is down, each thread tries it at most every 200 ms, so a
   request fails fast instead of paying a connect timeout every time. */
#define RETRY_US 200000

redisContext *gw_redis(void) {
  struct conns *c = conns_get();
  if (!c) return NULL;
  if (!c->redis && chirp_time_mono_us() >= c->redis_retry_us) {
    gw_lcache_untrack(); /* a new connection tracks nothing yet */
    if (chirp_redis_connect(gw.cfg.redis_url, 1000, &c->redis) != 0) {
      c->redis = NULL;
      c->redis_retry_us = chirp_time_mono_us() + RETRY_US;
    }
  }
  return c->redis;
}

PGconn *gw_pg(void) {
  struct conns *c = conns_get();
  if (!c) return NULL;
  if (!c->pg && chirp_time_mono_us() >= c->pg_retry_us) {
    if (chirp_pg_connect(gw.cfg.pg_url, &c->pg) != 0) {
      c->pg = NULL;
      c->pg_retry_us = chirp_time_mono_us() + RETRY_US;
    }
  }
  return c->pg;
}

void gw_conns_check(void) {
  struct conns *c = pthread_getspecific(conns_key);
  if (!c) return;
  /* A handler that left pipelined replies unread would hand them to the
     next request as its own: such a connection goes too. */
  if (c->redis && (c->redis->err || chirp_redis_pending(c->redis))) {
    redisFree(c->redis);
    c->redis = NULL;
  }
  if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
}

int gw_publish_event(const char *type, int64_t actor_id, const void *payload) {
  /* A retry of an ambiguous publish (Idempotency-Key) takes the first
     attempt's event id again: the workers then apply the event once. */
  return gw_publish_event_id(type, gw_idem_next_id(), actor_id, payload);
}

/* The routing key of an event: its type, but a tweet that mentions
   someone goes as tweet.created.mention (the only ones the notify role is
   bound to). */
static const char *routing_key(const char *type, const json_t *payload) {
  if (strcmp(type, "tweet.created") != 0) return type;
  const char *text = json_string_value(json_object_get(payload, "text"));
  char names[1][32];
  return chirp_amqp_tweet_created_key(text && chirp_mentions_parse(text, names, 1) > 0);
}

int gw_publish_event_id(const char *type, int64_t event_id, int64_t actor_id, const void *payload) {
  char *body;
  size_t len;
  int64_t now = chirp_time_now_ms();
  int rc = gw_idem_before_publish(); /* the ids go with the key first */
  if (rc) return rc;
  rc = chirp_event_encode(event_id, type, now, actor_id, payload, &body, &len);
  if (rc) return rc;
  rc = gw_publisher_publish(gw.pub, routing_key(type, payload), body, len);
  free(body);
  return rc;
}
