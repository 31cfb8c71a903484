/* chirp_amqp.c — connect, check replies, declare the topology. */
#include "chirp_amqp.h"

#include <amqp_tcp_socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "chirp_error.h"
#include "chirp_log.h"

/* Every event type the persist role stores; later roles add their own. */
static const char *const persist_keys[] = {"tweet.*", "account.*", "comment.*", "poll.*", NULL};

/* The fan-out role owns the follow graph (see docs/decisions.md) and
   re-publishes big fan-outs to itself in chunks. */
static const char *const fanout_keys[] = {"tweet.created", "tweet.deleted", "follow.*",
                                          "fanout.*", NULL};

/* account.deleted: the likes role takes a deleted account's likes away,
   pending ones included (chirp_account_purge.h). */
static const char *const likes_keys[] = {"like.*", "account.deleted", NULL};
static const char *const notify_keys[] = {"follow.added", "comment.created", "tweet.created", NULL};

static const chirp_amqp_role roles[] = {
    {"likes", "chirp.likes", likes_keys},
    {"notify", "chirp.notify", notify_keys},
    {"persist", "chirp.persist", persist_keys},
    {"fanout", "chirp.fanout", fanout_keys},
    {NULL, NULL, NULL},
};

const chirp_amqp_role *chirp_amqp_roles(void) { return roles; }

const chirp_amqp_role *chirp_amqp_role_find(const char *name) {
  for (const chirp_amqp_role *r = roles; r->name; r++)
    if (strcmp(r->name, name) == 0) return r;
  return NULL;
}

int chirp_amqp_check(amqp_rpc_reply_t r, const char *what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return 0;
    case AMQP_RESPONSE_NONE:
      chirp_warn("amqp %s: missing RPC reply", what);
      break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      chirp_warn("amqp %s: %s", what, amqp_error_string2(r.library_error));
      break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        chirp_warn("amqp %s: server closed connection: %u %.*s", what, m->reply_code,
                   (int)m->reply_text.len, (char *)m->reply_text.bytes);
      } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        chirp_warn("amqp %s: server closed channel: %u %.*s", what, m->reply_code,
                   (int)m->reply_text.len, (char *)m->reply_text.bytes);
      } else {
        chirp_warn("amqp %s: server exception 0x%08x", what, r.reply.id);
      }
      break;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_amqp_connect(const char *url, int timeout_ms, int heartbeat,
                       amqp_connection_state_t *out) {
  struct amqp_connection_info info;
  char *copy = strdup(url);
  if (!copy) return CHIRP_ENOMEM;
  if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
    free(copy);
    return CHIRP_EINVAL;
  }
  int rc = CHIRP_EUNAVAILABLE;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  amqp_connection_state_t conn = amqp_new_connection();
  if (!conn) {
    free(copy);
    return CHIRP_ENOMEM;
  }
  amqp_socket_t *sock = amqp_tcp_socket_new(conn);
  if (!sock) goto fail;
  if (amqp_socket_open_noblock(sock, info.host, info.port, &tv) != AMQP_STATUS_OK) {
    chirp_debug("amqp connect %s:%d refused or timed out", info.host, info.port);
    goto fail;
  }
  amqp_set_handshake_timeout(conn, &tv);
  amqp_set_rpc_timeout(conn, &tv);
  if (chirp_amqp_check(amqp_login(conn, info.vhost, 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN,
                                  info.user, info.password),
                       "login"))
    goto fail;
  amqp_channel_open(conn, CHIRP_AMQP_CHANNEL);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "channel.open")) goto fail;
  free(copy);
  *out = conn;
  return 0;
fail:
  amqp_destroy_connection(conn);
  free(copy);
  return rc;
}

void chirp_amqp_close(amqp_connection_state_t conn) {
  if (!conn) return;
  /* Best effort: a broken socket makes these fail fast, which is fine. */
  amqp_channel_close(conn, CHIRP_AMQP_CHANNEL, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
}

int chirp_amqp_declare_topology(amqp_connection_state_t conn) {
  amqp_exchange_declare(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE),
                        amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "exchange.declare chirp")) return CHIRP_EUNAVAILABLE;
  amqp_exchange_declare(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DLX),
                        amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "exchange.declare dlx")) return CHIRP_EUNAVAILABLE;
  amqp_queue_declare(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE), 0, 1, 0,
                     0, amqp_empty_table);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "queue.declare dead")) return CHIRP_EUNAVAILABLE;
  amqp_queue_bind(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE),
                  amqp_cstring_bytes(CHIRP_AMQP_DLX), amqp_cstring_bytes(""), amqp_empty_table);
  if (chirp_amqp_check(amqp_get_rpc_reply(conn), "queue.bind dead")) return CHIRP_EUNAVAILABLE;

  const char *qtype = getenv("CHIRP_AMQP_QUEUE_TYPE");
  int quorum = qtype && strcmp(qtype, "quorum") == 0;
  amqp_table_entry_t arg[2] = {
      {.key = amqp_cstring_bytes("x-dead-letter-exchange"),
       .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(CHIRP_AMQP_DLX)}},
      {.key = amqp_cstring_bytes("x-queue-type"),
       .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum")}},
  };
  amqp_table_t args = {.num_entries = quorum ? 2 : 1, .entries = arg};
  for (const chirp_amqp_role *r = roles; r->name; r++) {
    amqp_queue_declare(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(r->queue), 0, 1, 0, 0, args);
    if (chirp_amqp_check(amqp_get_rpc_reply(conn), r->queue)) return CHIRP_EUNAVAILABLE;
    for (const char *const *k = r->bindings; *k; k++) {
      amqp_queue_bind(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(r->queue),
                      amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE), amqp_cstring_bytes(*k),
                      amqp_empty_table);
      if (chirp_amqp_check(amqp_get_rpc_reply(conn), *k)) return CHIRP_EUNAVAILABLE;
    }
  }
  return 0;
}

int chirp_amqp_publish_confirmed(amqp_connection_state_t conn, uint64_t *tag, const char *key,
                                 char *const *bodies, const size_t *lens, size_t n,
                                 int timeout_ms) {
  amqp_basic_properties_t props = {
      ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
      .content_type = amqp_cstring_bytes("application/json"),
      .delivery_mode = AMQP_DELIVERY_PERSISTENT,
  };
  for (size_t i = 0; i < n; i++) {
    if (amqp_basic_publish(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE),
                           amqp_cstring_bytes(key), 0, 0, &props,
                           (amqp_bytes_t){lens[i], bodies[i]}) != AMQP_STATUS_OK)
      return CHIRP_EUNAVAILABLE;
  }
  uint64_t last = *tag + n;
  while (*tag < last) {
    amqp_frame_t f;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (amqp_simple_wait_frame_noblock(conn, &f, &tv) != AMQP_STATUS_OK) return CHIRP_EUNAVAILABLE;
    if (f.frame_type != AMQP_FRAME_METHOD) continue;
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      if (a->delivery_tag > *tag) *tag = a->delivery_tag;
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD ||
               f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
               f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      return CHIRP_EUNAVAILABLE;
    }
  }
  return 0;
}
