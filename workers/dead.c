/*
 * dead.c — dead letters: a message a worker cannot apply is published to
 * the chirp.dlx exchange (queue chirp.dead) with why, by which role and
 * from which routing key, confirmed, and only then acked — kept and
 * countable, never dropped.  `chirp-worker --replay-dead` puts them back.
 */
#include <amqp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_keys.h"
#include "chirp_amqp.h"
#include "chirp_error.h"
#include "chirp_log.h"
#include "worker.h"

#define H_REASON "x-chirp-reason"
#define H_ROLE "x-chirp-role"
#define H_KEY "x-chirp-routing-key"

static amqp_table_entry_t header(const char *k, const char *v) {
  return (amqp_table_entry_t){.key = amqp_cstring_bytes(k),
                              .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                        .value.bytes = amqp_cstring_bytes(v)}};
}

int wk_dead_letter(wk_ctx *ctx, const char *role, const void *body, size_t len,
                   const char *routing_key, const char *reason) {
  int rc = wk_publisher(ctx);
  if (rc) return rc;
  amqp_table_entry_t h[3] = {header(H_REASON, reason), header(H_ROLE, role),
                             header(H_KEY, routing_key)};
  amqp_basic_properties_t props = {
      ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG,
      .content_type = amqp_cstring_bytes("application/json"),
      .delivery_mode = AMQP_DELIVERY_PERSISTENT,
      .headers = {.num_entries = 3, .entries = h},
  };
  if (amqp_basic_publish(ctx->pub, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DLX),
                         amqp_cstring_bytes(routing_key), 0, 0, &props,
                         (amqp_bytes_t){len, (void *)body}) != AMQP_STATUS_OK ||
      chirp_amqp_wait_confirms(ctx->pub, ++ctx->pub_tag, 1, 5000) != 0) {
    amqp_destroy_connection(ctx->pub);
    ctx->pub = NULL;
    return CHIRP_EUNAVAILABLE;
  }
  if (ctx->redis) {
    char key[CHIRP_KEY_BUFSZ], name[64];
    snprintf(name, sizeof name, "dead_letters:%s", role);
    redisReply *r = redisCommand(ctx->redis, "INCR %s", chirp_key_metric(key, name));
    if (r) freeReplyObject(r);
  }
  return 0;
}

/* The value of a text header, or NULL. */
static const char *find_header(const amqp_basic_properties_t *p, const char *name, char *buf,
                               size_t n) {
  if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG)) return NULL;
  for (int i = 0; i < p->headers.num_entries; i++) {
    const amqp_table_entry_t *e = &p->headers.entries[i];
    if (e->key.len == strlen(name) && memcmp(e->key.bytes, name, e->key.len) == 0 &&
        (e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES)) {
      snprintf(buf, n, "%.*s", (int)e->value.value.bytes.len, (char *)e->value.value.bytes.bytes);
      return buf;
    }
  }
  return NULL;
}

int wk_replay_dead(const chirp_config *cfg, long limit) {
  amqp_connection_state_t in = NULL;
  wk_ctx ctx = {.cfg = cfg};
  long moved = 0;
  int rc = chirp_amqp_connect(cfg->amqp_url, 5000, 0, &in);
  if (!rc) rc = chirp_amqp_declare_topology(in);
  if (!rc) rc = wk_publisher(&ctx);
  /* At most what the queue holds now: a letter that fails again comes
     back behind them, and is left for the next run. */
  if (!rc) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(
        in, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE), 1, 0, 0, 0, amqp_empty_table);
    if (!ok) rc = CHIRP_EUNAVAILABLE;
    else if (limit <= 0 || (long)ok->message_count < limit) limit = (long)ok->message_count;
  }
  while (!rc && moved < limit) {
    amqp_rpc_reply_t r = amqp_basic_get(in, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE), 0);
    if ((rc = chirp_amqp_check(r, "basic.get"))) break;
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    uint64_t tag = ok->delivery_tag;
    char key_from_envelope[256];
    snprintf(key_from_envelope, sizeof key_from_envelope, "%.*s", (int)ok->routing_key.len,
             (char *)ok->routing_key.bytes);
    amqp_message_t msg;
    if ((rc = chirp_amqp_check(amqp_read_message(in, CHIRP_AMQP_CHANNEL, &msg, 0), "read message")))
      break;
    char key[256], reason[256];
    const char *k = find_header(&msg.properties, H_KEY, key, sizeof key);
    if (!k) k = key_from_envelope; /* dead-lettered by the broker: same key */
    const char *why = find_header(&msg.properties, H_REASON, reason, sizeof reason);
    char *body = (char *)msg.body.bytes;
    size_t len = msg.body.len;
    rc = chirp_amqp_publish_confirmed(ctx.pub, &ctx.pub_tag, k, &body, &len, 1, 5000);
    if (!rc && amqp_basic_ack(in, CHIRP_AMQP_CHANNEL, tag, 0) != AMQP_STATUS_OK) rc = CHIRP_EUNAVAILABLE;
    if (!rc) {
      moved++;
      printf("replayed %s (was: %s)\n", k, why ? why : "rejected by the broker");
    }
    amqp_destroy_message(&msg);
    amqp_maybe_release_buffers(in);
  }
  printf("%ld dead letter(s) replayed\n", moved);
  chirp_amqp_close(in);
  chirp_amqp_close(ctx.pub);
  return rc;
}
