/*
 * test_persist_worker.c — the persist worker over a real broker and
 * database: the same event delivered twice gives one effect, events of one
 * tweet that arrive out of order give the right final row, a malformed
 * message is dead-lettered instead of blocking the queue, and a forged
 * event (an actor editing or deleting another author's tweet or comment)
 * changes nothing.
 *
 * Needs CHIRP_WORKER_BIN (set by ctest) and the CHIRP_* URLs of the test
 * stack.  Publishes straight to the exchange, then runs a worker.
 */
#include <amqp.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "../pg_scalar.h"
#include "chirp_account.h"
#include "chirp_amqp.h"
#include "chirp_comment.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "chirp_tweet.h"

extern char **environ;
static chirp_idgen ids;

/* Publishes one message and waits for its confirm. */
static int publish(amqp_connection_state_t c, const char *key, const char *body) {
  static uint64_t tag;
  amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                   .delivery_mode = AMQP_DELIVERY_PERSISTENT};
  if (amqp_basic_publish(c, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_EXCHANGE),
                         amqp_cstring_bytes(key), 0, 0, &props, amqp_cstring_bytes(body)) != 0)
    return -1;
  tag++;
  for (;;) {
    amqp_frame_t f;
    struct timeval tv = {5, 0};
    if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK) return -1;
    if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD &&
        ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag >= tag)
      return 0;
  }
}

static int publish_event(amqp_connection_state_t c, int64_t event_id, const char *type,
                         int64_t actor, json_t *payload) {
  char *body;
  size_t len;
  if (chirp_event_encode(event_id, type, chirp_time_now_ms(), actor, payload, &body, &len)) return -1;
  int rc = publish(c, type, body);
  free(body);
  json_decref(payload);
  return rc;
}

/* The envelope of an event (payload released): a new string (free). */
static char *encode_event(int64_t event_id, const char *type, int64_t actor, json_t *payload) {
  char *body = NULL;
  size_t len;
  if (chirp_event_encode(event_id, type, chirp_time_now_ms(), actor, payload, &body, &len)) body = NULL;
  json_decref(payload);
  return body;
}

static long long dead_count(amqp_connection_state_t c) {
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(
      c, CHIRP_AMQP_CHANNEL, amqp_cstring_bytes(CHIRP_AMQP_DEAD_QUEUE), 1, 0, 0, 0, amqp_empty_table);
  return ok ? (long long)ok->message_count : -1;
}

static chirp_tweet tweet(int64_t author, const char *text) {
  int64_t id = chirp_idgen_next(&ids);
  return (chirp_tweet){.id = id, .author_id = author, .created_ms = chirp_id_time_ms(id),
                       .text = (char *)text};
}

static int64_t make_account(PGconn *pg) {
  char name[32], email[64];
  snprintf(name, sizeof name, "pw%08u", randombytes_uniform(100000000));
  snprintf(email, sizeof email, "%s@test.io", name);
  chirp_account acct;
  const char *field;
  if (chirp_account_create(pg, &ids, name, email, "password1", 1, &acct, &field)) return 0;
  int64_t id = acct.id;
  chirp_account_cleanup(&acct);
  return id;
}

/* The victim's tweet v with the comment vc; then another actor publishes,
   as if it were theirs, an edit, a delete and a re-create of v and an edit
   and a delete of vc.  Published before the sentinel. */
static void publish_forgeries(amqp_connection_state_t c, int64_t victim, int64_t forger,
                              const chirp_tweet *v, const chirp_comment *vc) {
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.created", victim,
                             chirp_tweet_to_json(v)),
               0);
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "comment.created", victim,
                             json_pack("{s:o}", "comment", chirp_comment_to_json(vc))),
               0);
  chirp_tweet f = *v;
  f.author_id = forger;
  f.text = (char *)"forged #forged";
  f.edited_ms = v->created_ms + 10;
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.edited", forger,
                             json_pack("{s:o, s:s, s:o}", "tweet", chirp_tweet_to_json(&f),
                                       "previous_text", v->text, "previous_since",
                                       chirp_json_time(v->created_ms))),
               0);
  f.edited_ms = 0;
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.created", forger,
                             chirp_tweet_to_json(&f)),
               0);
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.deleted", forger,
                             json_pack("{s:o, s:o}", "tweet", chirp_tweet_to_json(&f), "deleted_at",
                                       chirp_json_time(v->created_ms + 20))),
               0);
  chirp_comment fc = *vc;
  fc.author_id = forger;
  fc.text = (char *)"forged";
  fc.edited_ms = vc->created_ms + 10;
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "comment.edited", forger,
                             json_pack("{s:o}", "comment", chirp_comment_to_json(&fc))),
               0);
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "comment.deleted", forger,
                             json_pack("{s:o, s:o}", "comment", chirp_comment_to_json(&fc),
                                       "deleted_at", chirp_json_time(vc->created_ms + 20))),
               0);
}

static void check_forgeries_failed(PGconn *pg, redisContext *r, const chirp_tweet *v,
                                   const chirp_comment *vc) {
  chirp_tweet got;
  CHECK_INT_EQ(chirp_tweet_store_get(pg, v->id, &got), 0);
  CHECK_STR_EQ(got.text, v->text);
  CHECK_INT_EQ(got.author_id, v->author_id);
  CHECK_INT_EQ(got.edited_ms, 0);
  CHECK_INT_EQ(got.deleted_ms, 0);
  chirp_tweet_cleanup(&got);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_versions WHERE tweet_id = $1", v->id), 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1 AND "
                          "tag = 'mine'", v->id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", v->id), 1);
  chirp_comment gc;
  CHECK_INT_EQ(chirp_comment_store_get(pg, vc->id, &gc), 0);
  CHECK_STR_EQ(gc.text, vc->text);
  CHECK_INT_EQ(gc.edited_ms, 0);
  CHECK_INT_EQ(gc.deleted_ms, 0);
  chirp_comment_cleanup(&gc);
  long long count = -1;
  CHECK_INT_EQ(chirp_comment_store_count(pg, v->id, &count), 0);
  CHECK_INT_EQ(count, 1);
  /* Nor did the forgeries reach the cache. */
  char *json = NULL;
  size_t len = 0;
  int deleted = 0;
  int rc = chirp_tweet_cache_get(r, v->id, &json, &len, &deleted);
  CHECK(rc == CHIRP_ENOTFOUND || rc == 0);
  CHECK_INT_EQ(deleted, 0);
  CHECK(!json || !strstr(json, "forged"));
  free(json);
  json = NULL;
  deleted = 0;
  rc = chirp_comment_cache_get(r, vc->id, &json, &len, &deleted);
  CHECK(rc == CHIRP_ENOTFOUND || rc == 0);
  CHECK_INT_EQ(deleted, 0);
  CHECK(!json || !strstr(json, "forged"));
  free(json);
}

int main(void) {
  chirp_config cfg;
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  const char *bin = getenv("CHIRP_WORKER_BIN");
  REQUIRE(bin != NULL);
  chirp_idgen_init(&ids, 1002);
  PGconn *pg;
  amqp_connection_state_t c;
  REQUIRE(chirp_pg_connect(cfg.pg_url, &pg) == 0);
  redisContext *redis = NULL;
  REQUIRE(chirp_redis_connect(cfg.redis_url, 2000, &redis) == 0);
  REQUIRE(chirp_amqp_connect(cfg.amqp_url, 5000, 0, &c) == 0);
  REQUIRE(chirp_amqp_declare_topology(c) == 0);
  amqp_confirm_select(c, CHIRP_AMQP_CHANNEL);
  REQUIRE(chirp_amqp_check(amqp_get_rpc_reply(c), "confirm.select") == 0);

  int64_t author = make_account(pg), forger = make_account(pg);
  REQUIRE(author != 0 && forger != 0);
  long long dead_before = dead_count(c);
  REQUIRE(dead_before >= 0);

  pid_t pid;
  char *const argv[] = {(char *)bin, (char *)"--role", (char *)"persist", NULL};
  REQUIRE(posix_spawn(&pid, bin, NULL, NULL, argv, environ) == 0);

  /* Tweet A: created twice (same event id), edited twice (same event id). */
  chirp_tweet a = tweet(author, "first words");
  int64_t ev_create = chirp_idgen_next(&ids), ev_edit = chirp_idgen_next(&ids);
  CHECK_INT_EQ(publish_event(c, ev_create, "tweet.created", author, chirp_tweet_to_json(&a)), 0);
  CHECK_INT_EQ(publish_event(c, ev_create, "tweet.created", author, chirp_tweet_to_json(&a)), 0);
  chirp_tweet a2 = a;
  a2.text = (char *)"second words";
  a2.edited_ms = a.created_ms + 7;
  for (int i = 0; i < 2; i++)
    CHECK_INT_EQ(publish_event(c, ev_edit, "tweet.edited", author,
                               json_pack("{s:o, s:s, s:o}", "tweet", chirp_tweet_to_json(&a2),
                                         "previous_text", a.text, "previous_since",
                                         chirp_json_time(a.created_ms))),
                 0);
  /* Tweet B: its delete is published before its create. */
  chirp_tweet b = tweet(author, "regret");
  chirp_tweet b_del = b;
  b_del.deleted_ms = b.created_ms + 3;
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.deleted", author,
                             json_pack("{s:o, s:o}", "tweet", chirp_tweet_to_json(&b), "deleted_at",
                                       chirp_json_time(b_del.deleted_ms))),
               0);
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.created", author,
                             chirp_tweet_to_json(&b)),
               0);
  /* Garbage, and a tweet whose author is not the actor: both dead-lettered. */
  CHECK_INT_EQ(publish(c, "tweet.created", "this is not json"), 0);
  chirp_tweet forged = tweet(author, "forged");
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.created", author + 1,
                             chirp_tweet_to_json(&forged)),
               0);
  /* Another actor's forgeries of the author's tweet and comment. */
  chirp_tweet v = tweet(author, "mine #mine");
  int64_t vc_id = chirp_idgen_next(&ids);
  chirp_comment vc = {.id = vc_id, .tweet_id = v.id, .author_id = author,
                      .created_ms = chirp_id_time_ms(vc_id), .text = (char *)"my comment"};
  publish_forgeries(c, author, forger, &v, &vc);
  /* A batch message (chirp_event.h): a good tweet, the same event again,
     a forged tweet and an element that is no envelope.  The good one is
     stored once; the two bad ones are dead-lettered, each alone. */
  chirp_tweet d = tweet(author, "batched"), dforged = tweet(author, "batched forgery");
  int64_t ev_d = chirp_idgen_next(&ids);
  char *parts[4] = {encode_event(ev_d, "tweet.created", author, chirp_tweet_to_json(&d)),
                    encode_event(ev_d, "tweet.created", author, chirp_tweet_to_json(&d)),
                    encode_event(chirp_idgen_next(&ids), "tweet.created", forger,
                                 chirp_tweet_to_json(&dforged)),
                    strdup("17")};
  REQUIRE(parts[0] && parts[1] && parts[2] && parts[3]);
  size_t lens[4];
  for (int i = 0; i < 4; i++) lens[i] = strlen(parts[i]);
  char *joined;
  size_t jlen;
  REQUIRE(chirp_event_batch_join(parts, lens, 4, &joined, &jlen) == 0);
  CHECK_INT_EQ(publish(c, "tweet.created", joined), 0);
  free(joined);
  for (int i = 0; i < 4; i++) free(parts[i]);
  /* Tweet C, last: once it is stored, everything before it was handled. */
  chirp_tweet sentinel = tweet(author, "sentinel");
  CHECK_INT_EQ(publish_event(c, chirp_idgen_next(&ids), "tweet.created", author,
                             chirp_tweet_to_json(&sentinel)),
               0);

  int stored = 0;
  for (int i = 0; i < 300 && !stored; i++) {
    stored = pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1", sentinel.id) == 1;
    if (!stored) usleep(100000);
  }
  CHECK(stored);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM processed_events WHERE event_id = $1", ev_create), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_versions WHERE tweet_id = $1", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1 AND text = 'second words'", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1 AND deleted_at IS NOT NULL", b.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1", forged.id), 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1 AND text = 'batched'", d.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM processed_events WHERE event_id = $1", ev_d), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1", dforged.id), 0);
  long long dead_after = -1;
  for (int i = 0; i < 50 && dead_after < dead_before + 4; i++) {
    dead_after = dead_count(c);
    if (dead_after < dead_before + 4) usleep(100000);
  }
  CHECK_INT_EQ(dead_after, dead_before + 4);
  check_forgeries_failed(pg, redis, &v, &vc);

  kill(pid, SIGTERM);
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  chirp_amqp_close(c);
  PQfinish(pg);
  redisFree(redis);
  CHECK_DONE();
}
