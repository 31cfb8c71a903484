/*
 * chirp_amqp.h — RabbitMQ connections and the one topology of Chirp.
 *
 * Topology (declared by every gateway and worker at connect, idempotently,
 * so that no event is ever published before the queues that must keep it
 * exist):
 *   exchange "chirp"      topic, durable: every event, routing key = type
 *   exchange "chirp.dlx"  fanout, durable: dead letters
 *   queue "chirp.dead"    durable: what a worker rejected, with x-death
 *   queue "chirp.<role>"  durable, one per worker role, bound to exactly
 *                         the keys that role uses, dead-lettering to chirp.dlx
 *
 * Routing key = event type, except a tweet.created that mentions someone:
 * tweet.created.mention (the notify role needs only those).  A message
 * holds one event or a batch of events of one key (chirp_event.h).
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
  const char *const *unbind;   /* bindings of earlier versions, removed */
  int single_active;           /* one consumer at a time (see chirp_amqp_declare_topology) */
} chirp_amqp_role;

/* The role named name, or NULL. Borrowed, static. */
const chirp_amqp_role *chirp_amqp_role_find(const char *name);
/* All roles, terminated by an entry whose name is NULL. */
const chirp_amqp_role *chirp_amqp_roles(void);
/* 1 when events of routing key may share a message (a batch); 0 for the
   keys the like batcher consumes (it acks per event, at different times). */
int chirp_amqp_key_packs(const char *key);
/* The routing key of a tweet.created: with mentions or without. */
const char *chirp_amqp_tweet_created_key(int mentions);

/* Connects to an amqp:// URL, logs in, opens channel 1, with every socket
   wait bounded by timeout_ms.  heartbeat is in seconds (0 = none).  On
   success *out is a new connection (chirp_amqp_close); on failure returns
   CHIRP_EUNAVAILABLE or CHIRP_EINVAL (bad URL) and *out is untouched. */
int chirp_amqp_connect(const char *url, int timeout_ms, int heartbeat,
                       amqp_connection_state_t *out);

enum chirp_amqp_flags {
  /* Ask the broker for connection.blocked / connection.unblocked (sent
     when a memory or disk alarm makes it stop reading from publishers).
     Only for connections that read them (chirp_amqp_read_signal): a
     consumer would take them for a protocol error. */
  CHIRP_AMQP_NOTIFY_BLOCKED = 1 << 0,
};
/* chirp_amqp_connect with flags (chirp_amqp_flags). */
int chirp_amqp_connect_flags(const char *url, int timeout_ms, int heartbeat, unsigned flags,
                             amqp_connection_state_t *out);
/* Closes and frees a connection; NULL is harmless. */
void chirp_amqp_close(amqp_connection_state_t conn);

/* Declares the exchanges and every role's queue and bindings.  The queue
   type is CHIRP_AMQP_QUEUE_TYPE from the environment: "classic" (default)
   or "quorum" (for a RabbitMQ cluster; every process of a deployment must
   use the same, as RabbitMQ refuses to redeclare a queue differently).
   The fan-out queue is declared single-active-consumer unless
   CHIRP_FANOUT_SINGLE_ACTIVE is 0 (chirp_config checks the value): of its
   workers one consumes and the others stand by, so each feed receives its
   entries in the queue's order (see docs/decisions.md).  A queue that
   exists with the other choice is used as it is, with a warning (a queue's
   arguments change only by deleting it); that path reopens the channel, so
   call this before setting the channel up (confirms, qos, consumers). */
int chirp_amqp_declare_topology(amqp_connection_state_t conn);

/* ---- Publisher confirms: the one place that reads and interprets them. ----

   On a channel in confirm mode (confirm.select) the broker numbers the
   messages published on it 1, 2, 3... (delivery tags) and answers each with
   basic.ack (stored) or basic.nack (lost).  One ack with `multiple` set
   settles every tag up to and including its own that is still unsettled;
   without it, only its own tag. */

/* Whether a confirm for tag with multiple settles delivery tag t (if t is
   still unsettled).  Pure. */
int chirp_amqp_confirm_covers(uint64_t tag, int multiple, uint64_t t);

/* Bookkeeping of a window of n tags first..first+n-1: settled[i] is nonzero
   once tag first+i is settled.  Marks what a confirm for tag (multiple or
   not) settles and returns how many tags of the window it newly settled.
   Pure. */
size_t chirp_amqp_confirm_mark(unsigned char *settled, uint64_t first, size_t n, uint64_t tag,
                               int multiple);

typedef enum chirp_amqp_signal_kind {
  CHIRP_AMQP_SIG_ACK,       /* tag, multiple */
  CHIRP_AMQP_SIG_NACK,      /* tag, multiple */
  CHIRP_AMQP_SIG_BLOCKED,   /* reason: the broker stopped reading (an alarm) */
  CHIRP_AMQP_SIG_UNBLOCKED, /* it reads again */
} chirp_amqp_signal_kind;

typedef struct chirp_amqp_signal {
  chirp_amqp_signal_kind kind;
  uint64_t tag;
  int multiple;
  char reason[96];
} chirp_amqp_signal;

/* Reads frames on a publishing connection until one a publisher must act
   on: a confirm or a connection.(un)blocked; other frames are skipped.
   Waits at most timeout_ms in all (0: only what has already arrived).
   Returns 0 with *out set; CHIRP_ETIMEDOUT when nothing came in time;
   CHIRP_EUNAVAILABLE when the connection broke or the broker closed the
   connection or channel (logged) — the connection is then unusable. */
int chirp_amqp_read_signal(amqp_connection_state_t conn, int timeout_ms, chirp_amqp_signal *out);

/* Waits until the broker confirmed delivery tags first..first+n-1, for at
   most timeout_ms in all.  Confirms of other tags are ignored.  0 when
   every one was acked; CHIRP_EUNAVAILABLE when one was nacked or the
   connection broke; CHIRP_ETIMEDOUT when time ran out (each unconfirmed
   message may still be delivered).  After an error the caller drops the
   connection: its tags can no longer be accounted for. */
int chirp_amqp_wait_confirms(amqp_connection_state_t conn, uint64_t first, size_t n,
                             int timeout_ms);

/* Publishes n persistent messages with routing key to the chirp exchange
   on a connection in confirm mode and waits (timeout_ms in all) until the
   broker confirmed them all.  *tag counts the channel's delivery tags
   (start at 0 after confirm.select); it advances by what was published.
   0, or CHIRP_EUNAVAILABLE for any failure (nack, broken connection, time
   out): the caller then drops the connection. */
int chirp_amqp_publish_confirmed(amqp_connection_state_t conn, uint64_t *tag, const char *key,
                                 char *const *bodies, const size_t *lens, size_t n,
                                 int timeout_ms);

/* Maps an RPC reply to 0 or CHIRP_EUNAVAILABLE, logging what failed. */
int chirp_amqp_check(amqp_rpc_reply_t r, const char *what);

#endif
