/* chirp_amqp.c — connect, check replies, declare the topology, and read
   publisher confirms (the one home of confirm waiting). */
#include "chirp_amqp.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "chirp_error.h"
#include "chirp_log.h"

/* Each role is bound to exactly the routing keys of the events it uses:
   no queue stores and delivers events its role would only ack.  A tweet
   that mentions someone is published as tweet.created.mention (see
   chirp_amqp_tweet_created_key): only those concern the notify role. */

/* Every event type the persist role stores. */
static const char *const persist_keys[] = {"tweet.created", "tweet.created.mention", "tweet.edited",
                                           "tweet.deleted", "comment.*", "poll.voted",
                                           "account.deleted", "bookmark.*", "pin.*", NULL};
/* Bindings of earlier versions, removed at declare (a durable queue keeps
   its bindings across restarts). */
static const char *const persist_old[] = {"tweet.*", "account.*", "poll.*", NULL};

/* The fan-out role owns the follow graph and the lists (see
   docs/decisions.md) and re-publishes big fan-outs to itself in chunks; it
   also owns reposts (applied and fanned out in one queue, like follows),
   and blocks and mutes (a block ends follows, see role_fanout.c).
   tweet.edited changes no feed: the fan-out only announces it to the followers that have a stream
   open (chirp_live.h). */
static const char *const fanout_keys[] = {"tweet.created", "tweet.created.mention",
                                          "tweet.deleted", "tweet.edited",
                                          "follow.*",      "fanout.*",
                                          "list.*",        "repost.*",
                                          "block.*",       "mute.*",
                                          NULL};

/* account.deleted: the likes role takes a deleted account's likes away,
   pending ones included (chirp_account_purge.h). */
/* notify: repost.added for the repost notification (not removed: an undo
   takes no notification back). */
static const char *const likes_keys[] = {"like.*", "account.deleted", NULL};
static const char *const notify_keys[] = {"follow.added", "comment.created",
                                          "tweet.created.mention", "repost.added", NULL};
static const char *const notify_old[] = {"tweet.created", NULL};
static const char *const none[] = {NULL};

/* The fan-out consumes one worker at a time (single_active): two workers
   pushing their batches into the same feeds at once make about half of
   the entries arrive below newer ones, and a late entry costs the push
   script several times a plain one (docs/decisions.md). */
static const chirp_amqp_role roles[] = {
    {"likes", "chirp.likes", likes_keys, none, 0},
    {"notify", "chirp.notify", notify_keys, notify_old, 0},
    {"persist", "chirp.persist", persist_keys, persist_old, 0},
    {"fanout", "chirp.fanout", fanout_keys, none, 1},
    {NULL, NULL, NULL, NULL, 0},
};

const chirp_amqp_role *chirp_amqp_roles(void) { return roles; }

int chirp_amqp_key_packs(const char *key) {
  /* The like batcher holds each like's delivery until that tweet's flush,
     likes of many tweets at once: a delivery shared by likes of different
     tweets would tie their acks together.  Its events go one a message. */
  return strncmp(key, "like.", 5) != 0 && strcmp(key, "account.deleted") != 0;
}

const char *chirp_amqp_tweet_created_key(int mentions) {
  return mentions ? "tweet.created.mention" : "tweet.created";
}

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
  return chirp_amqp_connect_flags(url, timeout_ms, heartbeat, 0, out);
}

int chirp_amqp_connect_flags(const char *url, int timeout_ms, int heartbeat, unsigned flags,
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
  /* librabbitmq merges these capabilities into its own client properties. */
  amqp_table_entry_t cap = {.key = amqp_cstring_bytes("connection.blocked"),
                            .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
  amqp_table_entry_t prop = {.key = amqp_cstring_bytes("capabilities"),
                             .value = {.kind = AMQP_FIELD_KIND_TABLE,
                                       .value.table = {.num_entries = 1, .entries = &cap}}};
  amqp_table_t props = {.num_entries = (flags & CHIRP_AMQP_NOTIFY_BLOCKED) ? 1 : 0,
                        .entries = &prop};
  if (chirp_amqp_check(amqp_login_with_properties(conn, info.vhost, 0, 131072, heartbeat, &props,
                                                  AMQP_SASL_METHOD_PLAIN, info.user,
                                                  info.password),
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

/* After the server closed the channel: acknowledges and opens it again. */
static int reopen_channel(amqp_connection_state_t conn) {
  amqp_channel_close_ok_t ok = {0};
  if (amqp_send_method(conn, CHIRP_AMQP_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK)
    return CHIRP_EUNAVAILABLE;
  amqp_channel_open(conn, CHIRP_AMQP_CHANNEL);
  return chirp_amqp_check(amqp_get_rpc_reply(conn), "channel.open");
}

static int declare_queue(amqp_connection_state_t conn, const char *queue, int quorum, int single,
                         amqp_rpc_reply_t *reply) {
  amqp_table_entry_t arg[3] = {
      {.key = amqp_cstring_bytes("x-dead-letter-exchange"),
       .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(CHIRP_AMQP_DLX)}},
  };
  int n = 1;
  if (quorum)
    arg[n++] = (amqp_table_entry_t){
        .key = amqp_cstring_bytes("x-queue-type"),
        .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum")}};
  if (single)
    arg[n++] = (amqp_table_entry_t){
        .key = amqp_cstring_bytes("x-single-active-consumer"),
        .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
  amqp_table_t args = {.num_entries = n, .entries = arg};
  amqp_queue_declare(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
  *reply = amqp_get_rpc_reply(conn);
  return reply->reply_type == AMQP_RESPONSE_NORMAL ? 0 : CHIRP_EUNAVAILABLE;
}

/* A role's queue; when it exists with the other single-active-consumer
   choice (406 PRECONDITION_FAILED, which closes the channel), it is used
   as it is: consuming it either way is correct, only slower or less
   parallel. */
static int declare_role_queue(amqp_connection_state_t conn, const char *queue, int quorum,
                              int single) {
  amqp_rpc_reply_t r;
  if (!declare_queue(conn, queue, quorum, single, &r)) return 0;
  int mismatch = r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                 r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
                 ((amqp_channel_close_t *)r.reply.decoded)->reply_code == AMQP_PRECONDITION_FAILED;
  if (!mismatch || reopen_channel(conn)) return chirp_amqp_check(r, queue);
  if (declare_queue(conn, queue, quorum, !single, &r)) {
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
      reopen_channel(conn); /* left open for the caller's next attempt */
    return chirp_amqp_check(r, queue);
  }
  chirp_warn("queue %s exists %s single-active-consumer, unlike this setting; used as it is "
             "(delete it while it is empty to change it)", queue, single ? "without" : "with");
  return 0;
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

  const char *qtype = getenv("CHIRP_AMQP_QUEUE_TYPE"), *single = getenv("CHIRP_FANOUT_SINGLE_ACTIVE");
  int quorum = qtype && strcmp(qtype, "quorum") == 0;
  int single_ok = !single || strcmp(single, "0") != 0;
  for (const chirp_amqp_role *r = roles; r->name; r++) {
    if (declare_role_queue(conn, r->queue, quorum, r->single_active && single_ok))
      return CHIRP_EUNAVAILABLE;
    for (const char *const *k = r->bindings; *k; k++) {
      amqp_queue_bind(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(r->queue),
                      amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE), amqp_cstring_bytes(*k),
                      amqp_empty_table);
      if (chirp_amqp_check(amqp_get_rpc_reply(conn), *k)) return CHIRP_EUNAVAILABLE;
    }
    for (const char *const *k = r->unbind; *k; k++) { /* a no-op when absent */
      amqp_queue_unbind(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(r->queue),
                        amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE), amqp_cstring_bytes(*k),
                        amqp_empty_table);
      if (chirp_amqp_check(amqp_get_rpc_reply(conn), *k)) return CHIRP_EUNAVAILABLE;
    }
  }
  return 0;
}

int chirp_amqp_confirm_covers(uint64_t tag, int multiple, uint64_t t) {
  return multiple ? t <= tag : t == tag;
}

size_t chirp_amqp_confirm_mark(unsigned char *settled, uint64_t first, size_t n, uint64_t tag,
                               int multiple) {
  if (n == 0 || tag < first) return 0;
  size_t newly = 0;
  if (!multiple) {
    if (tag - first >= n) return 0; /* another window's tag */
    if (!settled[tag - first]) newly++;
    settled[tag - first] = 1;
    return newly;
  }
  size_t upto = tag - first >= n ? n : (size_t)(tag - first) + 1;
  for (size_t i = 0; i < upto; i++) {
    if (!settled[i]) newly++;
    settled[i] = 1;
  }
  return newly;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int chirp_amqp_read_signal(amqp_connection_state_t conn, int timeout_ms, chirp_amqp_signal *out) {
  int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left < 0) left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT) return CHIRP_ETIMEDOUT;
    if (st != AMQP_STATUS_OK) {
      chirp_warn("amqp confirm wait: %s", amqp_error_string2(st));
      return CHIRP_EUNAVAILABLE;
    }
    if (f.frame_type != AMQP_FRAME_METHOD) { /* nothing a publisher reads */
      amqp_maybe_release_buffers(conn);
      continue;
    }
    int rc = 0, done = 1;
    memset(out, 0, sizeof *out);
    switch (f.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f.payload.method.decoded;
        *out = (chirp_amqp_signal){.kind = CHIRP_AMQP_SIG_ACK, .tag = a->delivery_tag,
                                   .multiple = a->multiple};
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *n = f.payload.method.decoded;
        *out = (chirp_amqp_signal){.kind = CHIRP_AMQP_SIG_NACK, .tag = n->delivery_tag,
                                   .multiple = n->multiple};
        chirp_warn("amqp: the broker nacked delivery %llu%s", (unsigned long long)n->delivery_tag,
                   n->multiple ? " and earlier" : "");
        break;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        const amqp_connection_blocked_t *b = f.payload.method.decoded;
        out->kind = CHIRP_AMQP_SIG_BLOCKED;
        snprintf(out->reason, sizeof out->reason, "%.*s", (int)b->reason.len,
                 (const char *)b->reason.bytes);
        break;
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        out->kind = CHIRP_AMQP_SIG_UNBLOCKED;
        break;
      case AMQP_CONNECTION_CLOSE_METHOD:
      case AMQP_CHANNEL_CLOSE_METHOD:
        chirp_warn("amqp: the broker closed the %s",
                   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ? "connection" : "channel");
        rc = CHIRP_EUNAVAILABLE;
        break;
      default:
        done = 0; /* e.g. basic.return: not ours to act on */
        break;
    }
    amqp_maybe_release_buffers(conn); /* out holds copies only */
    if (done) return rc;
  }
}

int chirp_amqp_wait_confirms(amqp_connection_state_t conn, uint64_t first, size_t n,
                             int timeout_ms) {
  if (n == 0) return 0;
  unsigned char one, *settled = n == 1 ? &one : calloc(n, 1);
  if (!settled) return CHIRP_ENOMEM;
  one = 0;
  int64_t deadline = mono_ms() + timeout_ms;
  size_t left = n;
  int rc = 0;
  while (left > 0) {
    int64_t wait = deadline - mono_ms();
    chirp_amqp_signal s;
    rc = wait > 0 ? chirp_amqp_read_signal(conn, (int)wait, &s) : CHIRP_ETIMEDOUT;
    if (rc) break;
    if (s.kind == CHIRP_AMQP_SIG_BLOCKED)
      chirp_warn("amqp: the broker blocked publishing (%s); waiting for confirms", s.reason);
    if (s.kind != CHIRP_AMQP_SIG_ACK && s.kind != CHIRP_AMQP_SIG_NACK) continue;
    size_t newly = chirp_amqp_confirm_mark(settled, first, n, s.tag, s.multiple);
    if (s.kind == CHIRP_AMQP_SIG_NACK && newly > 0) {
      rc = CHIRP_EUNAVAILABLE;
      break;
    }
    left -= newly;
  }
  if (settled != &one) free(settled);
  return rc;
}

int chirp_amqp_publish_confirmed(amqp_connection_state_t conn, uint64_t *tag, const char *key,
                                 char *const *bodies, const size_t *lens, size_t n,
                                 int timeout_ms) {
  amqp_basic_properties_t props = {
      ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
      .content_type = amqp_cstring_bytes("application/json"),
      .delivery_mode = AMQP_DELIVERY_PERSISTENT,
  };
  uint64_t first = *tag + 1;
  for (size_t i = 0; i < n; i++) {
    if (amqp_basic_publish(conn, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE),
                           amqp_cstring_bytes(key), 0, 0, &props,
                           (amqp_bytes_t){lens[i], bodies[i]}) != AMQP_STATUS_OK)
      return CHIRP_EUNAVAILABLE;
    ++*tag;
  }
  return chirp_amqp_wait_confirms(conn, first, n, timeout_ms) ? CHIRP_EUNAVAILABLE : 0;
}
