/*
 * gw.h — the gateway's process state and its per-thread connections.
 *
 * One gateway process has one gw_state (configuration, id generator,
 * publisher), set up by main() before the HTTP server starts and read-only
 * afterwards.  Each HTTP worker thread owns its own Redis and PostgreSQL
 * connections (neither library is thread-safe), made on first use, dropped
 * when broken and remade on the next request, freed when the thread ends.
 */
#ifndef GW_H
#define GW_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "chirp_config.h"
#include "chirp_id.h"
#include "publisher.h"

typedef struct gw_state {
  chirp_config cfg;
  chirp_idgen ids;
  gw_publisher *pub;
  int64_t started_ms;
} gw_state;

extern gw_state gw;

/* Tweet reads answered from Redis, and those that went to PostgreSQL. */
extern _Atomic unsigned long long gw_cache_hits, gw_cache_misses;

/* Installs the thread-exit destructor; call once before serving. */
int gw_conns_init(void);

/* This thread's Redis connection, or NULL when Redis is unreachable. */
redisContext *gw_redis(void);
/* This thread's PostgreSQL connection, or NULL when unreachable. */
PGconn *gw_pg(void);
/* Drops this thread's connections that broke during the last call, so the
   next gw_redis()/gw_pg() reconnects. */
void gw_conns_check(void);

/* Publishes an event (type is also the routing key) and waits for the
   broker's confirm.  payload is borrowed. */
int gw_publish_event(const char *type, int64_t actor_id, const void *payload);
/* The same with an event id the caller took from gw.ids beforehand. */
int gw_publish_event_id(const char *type, int64_t event_id, int64_t actor_id, const void *payload);

#endif
