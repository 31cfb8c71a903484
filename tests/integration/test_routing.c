/*
 * test_routing.c — the broker side of the event format, on the test broker:
 *   - each role's queue gets exactly the routing keys its role uses: a
 *     tweet.created without mentions reaches persist and fanout, not
 *     notify; tweet.created.mention reaches all three; likes gets neither;
 *   - the gateway's publisher packs the events that wait together into one
 *     message per routing key ({"events":[...]}), and every event arrives,
 *     once, in a message a consumer can split (chirp_event_batch_events);
 *   - the fan-out queue has one consumer at a time (single-active-consumer),
 *     and a queue declared with the other choice is used as it is.
 * Needs the CHIRP_* URLs of the test stack; no worker runs meanwhile (the
 * role queues are only counted, never consumed).
 */
#include <amqp.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "../../gateway/publisher.h"
#include "chirp_amqp.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_time.h"

#define PACK_KEY "test.packing"
#define THREADS 16
#define PER_THREAD 25

static long long depth(amqp_connection_state_t c, const char *queue) {
  amqp_queue_declare_ok_t *ok =
      amqp_queue_declare(c, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  return ok ? (long long)ok->message_count : -1;
}

static gw_publisher *pub;
static int failures;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *publish_many(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    char *body;
    size_t len;
    json_t *payload = json_pack("{s:i}", "n", t * PER_THREAD + i);
    int rc = payload ? chirp_event_encode(1000 + t * PER_THREAD + i, "test.packing",
                                          chirp_time_now_ms(), 1, payload, &body, &len)
                     : CHIRP_ENOMEM;
    json_decref(payload);
    if (!rc) {
      rc = gw_publisher_publish(pub, PACK_KEY, body, len);
      free(body);
    }
    if (rc) {
      pthread_mutex_lock(&mu);
      failures++;
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

int main(void) {
  chirp_config cfg;
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  amqp_connection_state_t c;
  REQUIRE(chirp_amqp_connect(cfg.amqp_url, 5000, 0, &c) == 0);
  /* A test stack of an earlier version may hold the fan-out queue without
     single-active-consumer (kept as it is by the topology): start afresh. */
  amqp_queue_delete(c, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes("chirp.fanout"), 0, 0);
  REQUIRE(chirp_amqp_check(amqp_get_rpc_reply(c), "queue.delete") == 0);
  REQUIRE(chirp_amqp_declare_topology(c) == 0);
  amqp_confirm_select(c, CHIRP_AMQP_CHANNEL);
  REQUIRE(chirp_amqp_check(amqp_get_rpc_reply(c), "confirm.select") == 0);

  /* 1. Bindings. */
  const char *queues[] = {"chirp.persist", "chirp.fanout", "chirp.notify", "chirp.likes"};
  long long before[4], after[4];
  for (int i = 0; i < 4; i++) REQUIRE((before[i] = depth(c, queues[i])) >= 0);
  uint64_t tag = 0;
  char *body = (char *)"{}"; /* never consumed: only counted */
  size_t len = 2;
  REQUIRE(chirp_amqp_publish_confirmed(c, &tag, "tweet.created", &body, &len, 1, 5000) == 0);
  REQUIRE(chirp_amqp_publish_confirmed(c, &tag, chirp_amqp_tweet_created_key(1), &body, &len, 1,
                                       5000) == 0);
  for (int i = 0; i < 4; i++) REQUIRE((after[i] = depth(c, queues[i])) >= 0);
  CHECK_INT_EQ(after[0] - before[0], 2); /* persist: both */
  CHECK_INT_EQ(after[1] - before[1], 2); /* fanout: both */
  CHECK_INT_EQ(after[2] - before[2], 1); /* notify: the mention only */
  CHECK_INT_EQ(after[3] - before[3], 0); /* likes: neither */
  CHECK(chirp_amqp_key_packs("tweet.created") && chirp_amqp_key_packs("follow.added"));
  CHECK(!chirp_amqp_key_packs("like.added") && !chirp_amqp_key_packs("account.deleted"));

  /* 2. Packing: a private queue bound to PACK_KEY. */
  amqp_queue_declare_ok_t *q = amqp_queue_declare(c, CHIRP_AMQP_CHANNEL, amqp_empty_bytes, 0, 0, 1,
                                                  1, amqp_empty_table);
  REQUIRE(q != NULL);
  amqp_bytes_t qname = amqp_bytes_malloc_dup(q->queue);
  amqp_queue_bind(c, CHIRP_AMQP_CHANNEL, qname, amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE),
                  amqp_cstring_bytes(PACK_KEY), amqp_empty_table);
  REQUIRE(chirp_amqp_check(amqp_get_rpc_reply(c), "queue.bind") == 0);
  REQUIRE(gw_publisher_new(cfg.amqp_url, 5000, &pub) == 0);
  for (int i = 0; i < 100 && !gw_publisher_connected(pub); i++) usleep(50000);
  REQUIRE(gw_publisher_connected(pub));
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    REQUIRE(pthread_create(&th[t], NULL, publish_many, (void *)(intptr_t)t) == 0);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  CHECK_INT_EQ(failures, 0);
  gw_publisher_stats st;
  gw_publisher_get_stats(pub, &st);
  CHECK_INT_EQ((long long)st.published, THREADS * PER_THREAD);
  printf("%llu events in %llu messages\n", st.published, st.messages);
  CHECK(st.messages < st.published); /* sixteen callers at once: some shared a message */
  gw_publisher_free(pub);

  /* Every event arrives once, in messages that split. */
  static unsigned char seen[THREADS * PER_THREAD];
  long long events = 0, messages = 0, packed = 0;
  for (;;) {
    amqp_rpc_reply_t r = amqp_basic_get(c, CHIRP_AMQP_CHANNEL, qname, 1);
    REQUIRE(chirp_amqp_check(r, "basic.get") == 0);
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
    amqp_message_t msg;
    REQUIRE(chirp_amqp_check(amqp_read_message(c, CHIRP_AMQP_CHANNEL, &msg, 0), "read") == 0);
    messages++;
    json_t *root = json_loadb(msg.body.bytes, msg.body.len, 0, NULL);
    CHECK(root != NULL);
    json_t *list = chirp_event_batch_events(root);
    size_t n = list ? json_array_size(list) : 1;
    packed += list != NULL;
    for (size_t i = 0; root && i < n; i++) {
      chirp_event ev;
      char why[128];
      if (chirp_event_from_json(list ? json_array_get(list, i) : root, &ev, why, sizeof why)) {
        CHECK(!"an event in the message does not decode");
        continue;
      }
      json_int_t k = json_integer_value(json_object_get(ev.payload, "n"));
      if (k >= 0 && k < THREADS * PER_THREAD) seen[k]++;
      events++;
      chirp_event_cleanup(&ev);
    }
    json_decref(root);
    amqp_destroy_message(&msg);
    amqp_maybe_release_buffers(c);
  }
  printf("received %lld events in %lld messages (%lld batches)\n", events, messages, packed);
  CHECK_INT_EQ(events, THREADS * PER_THREAD);
  CHECK_INT_EQ(messages, (long long)st.messages);
  CHECK(packed > 0);
  int once = 1;
  for (int i = 0; i < THREADS * PER_THREAD; i++) once &= seen[i] == 1;
  CHECK(once);
  amqp_bytes_free(qname);

  /* 3. The fan-out queue is single-active-consumer: declaring it without
     that argument is refused (406 PRECONDITION_FAILED); the topology
     declared with the other setting still succeeds (the queue used as it
     is), and again with this one. */
  amqp_channel_open(c, 2);
  REQUIRE(chirp_amqp_check(amqp_get_rpc_reply(c), "channel.open 2") == 0);
  amqp_table_entry_t dlx = {
      .key = amqp_cstring_bytes("x-dead-letter-exchange"),
      .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(CHIRP_AMQP_DLX)}};
  amqp_table_t plain = {.num_entries = 1, .entries = &dlx};
  amqp_queue_declare(c, 2, amqp_cstring_bytes("chirp.fanout"), 0, 1, 0, 0, plain);
  amqp_rpc_reply_t rr = amqp_get_rpc_reply(c);
  int refused = rr.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                rr.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
                ((amqp_channel_close_t *)rr.reply.decoded)->reply_code == AMQP_PRECONDITION_FAILED;
  CHECK(refused);
  if (refused) {
    amqp_channel_close_ok_t ok = {0};
    CHECK_INT_EQ(amqp_send_method(c, 2, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), AMQP_STATUS_OK);
  }
  setenv("CHIRP_FANOUT_SINGLE_ACTIVE", "0", 1);
  CHECK_INT_EQ(chirp_amqp_declare_topology(c), 0);
  unsetenv("CHIRP_FANOUT_SINGLE_ACTIVE");
  CHECK_INT_EQ(chirp_amqp_declare_topology(c), 0);
  CHECK(depth(c, "chirp.fanout") >= 0); /* the channel is usable after the fallback */
  chirp_amqp_close(c);
  CHECK_DONE();
}
