/*
 * chirp_amqp.h — RabbitMQ connections and the one topology of Chirp.
 *
 * Topology (declared by every gateway and worker at connect, idempotently,
 * so that no event is ever published before the queues that must keep it
 * exist):
 *   exchange "chirp"      topic, durable: every event, routing key = type
 *   exchange "chirp.dlx"  fanout, durable: dead letters
 *   queue "chirp.dead"    durable: what a worker rejected, with x-death
 *   queue "chirp.<role>"  durable, one per worker role, bound to the keys
 *                         that role needs, dead-lettering to chirp.dlx
 *
 * An amqp_connection_state_t is not thread-safe: one per thread.  Channel 1
 * is the only channel used.
 */
#ifndef CHIRP_AMQP_H
#define CHIRP_AMQP_H

#include <amqp.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_AMQP_EXCHANGE "chirp"
#define CHIRP_AMQP_DLX "chirp.dlx"
#define CHIRP_AMQP_DEAD_QUEUE "chirp.dead"
#define CHIRP_AMQP_CHANNEL 1

typedef struct chirp_amqp_role {
  const char *name;            /* "persist" */
  const char *queue;           /* "chirp.persist" */
  const char *const *bindings; /* NULL-terminated routing-key patterns */
} chirp_amqp_role;

/* The role named name, or NULL. Borrowed, static. */
const chirp_amqp_role *chirp_amqp_role_find(const char *name);
/* All roles, terminated by an entry whose name is NULL. */
const chirp_amqp_role *chirp_amqp_roles(void);

/* Connects to an amqp:// URL, logs in, opens channel 1, with every socket
   wait bounded by timeout_ms.  heartbeat is in seconds (0 = none).  On
   success *out is a new connection (chirp_amqp_close); on failure returns
   CHIRP_EUNAVAILABLE or CHIRP_EINVAL (bad URL) and *out is untouched. */
int chirp_amqp_connect(const char *url, int timeout_ms, int heartbeat,
                       amqp_connection_state_t *out);
/* Closes and frees a connection; NULL is harmless. */
void chirp_amqp_close(amqp_connection_state_t conn);

/* Declares the exchanges and every role's queue and bindings.  The queue
   type is CHIRP_AMQP_QUEUE_TYPE from the environment: "classic" (default)
   or "quorum" (for a RabbitMQ cluster; every process of a deployment must
   use the same, as RabbitMQ refuses to redeclare a queue differently). */
int chirp_amqp_declare_topology(amqp_connection_state_t conn);

/* Publishes n persistent messages with routing key on a connection in
   confirm mode and waits (each wait bounded by timeout_ms) until the broker
   confirmed them all.  *tag counts the channel's delivery tags (start at 0
   after confirm.select).  0 or CHIRP_EUNAVAILABLE. */
int chirp_amqp_publish_confirmed(amqp_connection_state_t conn, uint64_t *tag, const char *key,
                                 char *const *bodies, const size_t *lens, size_t n,
                                 int timeout_ms);

/* Maps an RPC reply to 0 or CHIRP_EUNAVAILABLE, logging what failed. */
int chirp_amqp_check(amqp_rpc_reply_t r, const char *what);

#endif
