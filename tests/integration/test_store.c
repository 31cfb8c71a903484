/*
 * test_store.c — the PostgreSQL store and the Redis cache over real
 * connections: accounts and sessions, tweets whose events arrive in any
 * order, history, timeline paging, the versioned cache, and the comment
 * count when two workers write one comment at the same time.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "../pg_scalar.h"
#include "chirp_account.h"
#include "chirp_comment.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_search.h"
#include "chirp_time.h"
#include "chirp_tweet.h"

static chirp_idgen ids;

static int64_t make_account(PGconn *pg, const char *tag) {
  char name[32], email[64];
  snprintf(name, sizeof name, "s%s%06u", tag, randombytes_uniform(1000000));
  snprintf(email, sizeof email, "%s@test.io", name);
  chirp_account a;
  const char *field;
  if (chirp_account_create(pg, &ids, name, email, "password1", 1, &a, &field)) return 0;
  int64_t id = a.id;
  chirp_account_cleanup(&a);
  return id;
}

static chirp_tweet tweet(int64_t author, const char *text) {
  int64_t id = chirp_idgen_next(&ids);
  return (chirp_tweet){.id = id, .author_id = author, .created_ms = chirp_id_time_ms(id),
                       .text = (char *)text};
}

/* A batch of creations (the persist role's run of tweet.created): each
   tweet told apart as stored now, already there as its author's, or
   another author's; the hashtags of the batch stored in two statements,
   the same as one by one. */
static void test_create_batch(PGconn *pg, int64_t author, int64_t other) {
  chirp_tweet a = tweet(author, "new #One #two"), b = tweet(author, "there #three"),
              c = tweet(author, "foreign #four"), d = tweet(author, "plain");
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &b, NULL), 0); /* e.g. by the fan-out role */
  chirp_tweet c_other = c;
  c_other.author_id = other;
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &c_other, NULL), 0);
  const chirp_tweet *batch[] = {&a, &b, &c, &d};
  unsigned char ok[4] = {9, 9, 9, 9};
  CHECK_INT_EQ(chirp_tweet_store_create_checked(pg, batch, 4, ok), 0);
  CHECK(ok[0] == 1 && ok[1] == 1 && ok[2] == 0 && ok[3] == 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE author_id = $1 AND text = 'plain'",
                         author), 1);
  int64_t tids[] = {a.id, b.id, d.id};
  const char *texts[] = {a.text, b.text, d.text};
  CHECK_INT_EQ(chirp_search_store_hashtags_many(pg, tids, texts, 3), 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", a.id), 2);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1 AND "
                             "tag = 'one'", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", b.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", d.id), 0);
  /* Again with other texts (an edit's): the tags become exactly the new ones. */
  const char *edited[] = {"now #two only", "none", "#five"};
  CHECK_INT_EQ(chirp_search_store_hashtags_many(pg, tids, edited, 3), 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1 AND "
                             "tag = 'two'", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", a.id), 1);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1", b.id), 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweet_hashtags WHERE tweet_id = $1 AND "
                             "tag = 'five'", d.id), 1);
  CHECK_INT_EQ(chirp_search_store_hashtags_many(pg, tids, texts, 0), 0);
  CHECK_INT_EQ(chirp_tweet_store_create_checked(pg, batch, 0, ok), 0);

  /* One new id twice in a batch, by two authors (a forged event): the
     first is stored and its author's, the second another author's — as
     one by one. */
  chirp_tweet e = tweet(author, "first"), f = e;
  f.author_id = other;
  f.text = (char *)"forged";
  const chirp_tweet *dup[] = {&e, &f};
  unsigned char dok[2] = {9, 9};
  CHECK_INT_EQ(chirp_tweet_store_create_checked(pg, dup, 2, dok), 0);
  CHECK(dok[0] == 1 && dok[1] == 0);
  CHECK_INT_EQ(pg_scalar(pg, "SELECT count(*) FROM tweets WHERE id = $1 AND text = 'first'",
                         e.id), 1);
}

static void test_accounts(PGconn *pg, redisContext *r) {
  char name[32], email[64];
  snprintf(name, sizeof name, "Acc%06u", randombytes_uniform(1000000));
  snprintf(email, sizeof email, "%s@Test.io", name);
  chirp_account a, b;
  const char *field = NULL;
  CHECK_INT_EQ(chirp_account_create(pg, &ids, name, email, "password1", 1, &a, &field), 0);
  /* Taken, whatever the case, and the error says which field. */
  char upper[32];
  snprintf(upper, sizeof upper, "%s", name);
  for (char *p = upper; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  CHECK_INT_EQ(chirp_account_create(pg, &ids, upper, "other@test.io", "password1", 1, &b, &field),
               CHIRP_ECONFLICT);
  CHECK_STR_EQ(field, "username");
  CHECK_INT_EQ(chirp_account_create(pg, &ids, "fresh_name_x", email, "password1", 1, &b, &field),
               CHIRP_ECONFLICT);
  CHECK_STR_EQ(field, "email");

  CHECK_INT_EQ(chirp_account_authenticate(pg, name, "password1", &b), 0);
  CHECK_INT_EQ(b.id, a.id);
  chirp_account_cleanup(&b);
  CHECK_INT_EQ(chirp_account_authenticate(pg, email, "password1", &b), 0);
  chirp_account_cleanup(&b);
  CHECK_INT_EQ(chirp_account_authenticate(pg, name, "password2", &b), CHIRP_EUNAUTHORIZED);
  CHECK_INT_EQ(chirp_account_authenticate(pg, "nobody_here", "password1", &b),
               CHIRP_EUNAUTHORIZED);

  /* Only the hash of a token is stored; lookups go through Redis. */
  char token[CHIRP_TOKEN_BUFSZ];
  CHECK_INT_EQ(chirp_session_create(pg, a.id, 3600, token), 0);
  CHECK_INT_EQ(strlen(token), CHIRP_TOKEN_CHARS);
  const char *p[] = {token};
  PGresult *res;
  CHECK_INT_EQ(chirp_pg_exec(pg, "SELECT count(*) FROM sessions WHERE token_hash = $1", 1, p, &res), 0);
  CHECK_STR_EQ(PQgetvalue(res, 0, 0), "0");
  PQclear(res);
  int64_t who = 0;
  CHECK_INT_EQ(chirp_session_lookup(r, pg, token, 60, &who), 0);
  CHECK_INT_EQ(who, a.id);
  who = 0;
  CHECK_INT_EQ(chirp_session_lookup(r, NULL, token, 60, &who), 0); /* from Redis alone */
  CHECK_INT_EQ(who, a.id);
  CHECK_INT_EQ(chirp_session_delete(r, pg, token), 0);
  CHECK_INT_EQ(chirp_session_lookup(r, pg, token, 60, &who), CHIRP_EUNAUTHORIZED);
  CHECK_INT_EQ(chirp_session_lookup(r, pg, "short", 60, &who), CHIRP_EUNAUTHORIZED);

  CHECK_INT_EQ(chirp_account_update(pg, a.id, "Disp", NULL, NULL), 0);
  CHECK_INT_EQ(chirp_account_get(pg, a.id, &b), 0);
  CHECK_STR_EQ(b.display_name, "Disp");
  chirp_account_cleanup(&b);
  CHECK_INT_EQ(chirp_account_update(pg, 1, "x", NULL, NULL), CHIRP_ENOTFOUND);
  chirp_account_cleanup(&a);
}

static void test_tweet_orders(PGconn *pg, int64_t author) {
  chirp_tweet got;
  /* created, then edited twice: history keeps both earlier versions. */
  chirp_tweet t = tweet(author, "v1");
  int inserted = -1;
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &t, &inserted), 0);
  CHECK_INT_EQ(inserted, 1);
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &t, &inserted), 0); /* a replay changes nothing */
  CHECK_INT_EQ(inserted, 0);
  chirp_tweet e1 = t, e2 = t;
  e1.text = (char *)"v2";
  e1.edited_ms = t.created_ms + 10;
  e2.text = (char *)"v3";
  e2.edited_ms = t.created_ms + 20;
  int64_t ev1 = chirp_idgen_next(&ids), ev2 = chirp_idgen_next(&ids);
  CHECK_INT_EQ(chirp_tweet_store_edit(pg, ev2, &e2, "v2", e1.edited_ms, NULL), 0);
  /* The older edit arrives late: it must not win. */
  CHECK_INT_EQ(chirp_tweet_store_edit(pg, ev1, &e1, "v1", t.created_ms, NULL), 0);
  CHECK_INT_EQ(chirp_tweet_store_edit(pg, ev1, &e1, "v1", t.created_ms, NULL), 0); /* replay */
  CHECK_INT_EQ(chirp_tweet_store_get(pg, t.id, &got), 0);
  CHECK_STR_EQ(got.text, "v3");
  CHECK_INT_EQ(got.edited_ms, e2.edited_ms);
  chirp_tweet_cleanup(&got);
  json_t *hist = NULL;
  CHECK_INT_EQ(chirp_tweet_store_history(pg, t.id, &hist), 0);
  CHECK_INT_EQ(json_array_size(hist), 2);
  CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(hist, 0), "text")), "v2");
  CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(hist, 1), "text")), "v1");
  json_decref(hist);

  /* An edit that overtakes its create: the create must not undo it. */
  chirp_tweet u = tweet(author, "orig");
  chirp_tweet ue = u;
  ue.text = (char *)"edited first";
  ue.edited_ms = u.created_ms + 5;
  CHECK_INT_EQ(chirp_tweet_store_edit(pg, chirp_idgen_next(&ids), &ue, "orig", u.created_ms, NULL), 0);
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &u, &inserted), 0);
  CHECK_INT_EQ(inserted, 0); /* the edit made the row: do not cache the create */
  CHECK_INT_EQ(chirp_tweet_store_get(pg, u.id, &got), 0);
  CHECK_STR_EQ(got.text, "edited first");
  chirp_tweet_cleanup(&got);

  /* A delete without its time is refused (it would read as live). */
  chirp_tweet nodate = tweet(author, "no date");
  CHECK_INT_EQ(chirp_tweet_store_delete(pg, &nodate, NULL), CHIRP_EINVAL);

  /* A delete that overtakes its create leaves the tweet deleted. */
  chirp_tweet d = tweet(author, "doomed");
  d.deleted_ms = d.created_ms + 1;
  CHECK_INT_EQ(chirp_tweet_store_delete(pg, &d, NULL), 0);
  d.deleted_ms = 0;
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &d, NULL), 0);
  CHECK_INT_EQ(chirp_tweet_store_get(pg, d.id, &got), 0);
  CHECK(got.deleted_ms != 0);
  chirp_tweet_cleanup(&got);
  CHECK_INT_EQ(chirp_tweet_store_get(pg, 12345, &got), CHIRP_ENOTFOUND);
}

static void test_timeline(PGconn *pg, int64_t author) {
  int64_t made[25];
  for (int i = 0; i < 25; i++) {
    chirp_tweet t = tweet(author, "timeline");
    made[i] = t.id;
    CHECK_INT_EQ(chirp_tweet_store_create(pg, &t, NULL), 0);
  }
  chirp_tweet del = tweet(author, "gone");
  del.deleted_ms = del.created_ms + 1;
  CHECK_INT_EQ(chirp_tweet_store_delete(pg, &del, NULL), 0);
  /* Pages of 10 from the newest, each starting below the last one shown. */
  int64_t before = 0;
  int seen = 0, ordered = 1;
  for (int page = 0; page < 3; page++) {
    chirp_tweet *a = NULL;
    size_t n = 0;
    CHECK_INT_EQ(chirp_tweet_store_list_by_author(pg, author, before, 10, &a, &n), 0);
    CHECK_INT_EQ(n, page < 2 ? 10 : 5);
    for (size_t i = 0; i < n; i++) {
      if (a[i].id != made[24 - seen]) ordered = 0;
      seen++;
    }
    if (n) before = a[n - 1].id;
    chirp_tweet_array_free(a, n);
  }
  CHECK(ordered);
  CHECK_INT_EQ(seen, 25);
}

static void test_cache(redisContext *r, int64_t author) {
  chirp_tweet t = tweet(author, "cached");
  char *json = NULL;
  size_t len;
  int deleted = -1;
  CHECK_INT_EQ(chirp_tweet_cache_get(r, t.id, &json, &len, &deleted), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(deleted, 0);
  chirp_tweet newer = t;
  newer.text = (char *)"newer";
  newer.edited_ms = t.created_ms + 100;
  CHECK_INT_EQ(chirp_tweet_cache_put(r, &newer, 60), 0);
  /* A reader refilling from an older row does not hide the newer edit. */
  CHECK_INT_EQ(chirp_tweet_cache_put(r, &t, 60), 0);
  CHECK_INT_EQ(chirp_tweet_cache_get(r, t.id, &json, &len, &deleted), 0);
  CHECK(json && strstr(json, "\"newer\"") != NULL);
  free(json);
  chirp_tweet gone = newer;
  gone.deleted_ms = newer.edited_ms + 1;
  CHECK_INT_EQ(chirp_tweet_cache_put(r, &gone, 60), 0);
  CHECK_INT_EQ(chirp_tweet_cache_put(r, &newer, 60), 0);
  CHECK_INT_EQ(chirp_tweet_cache_get(r, t.id, &json, &len, &deleted), CHIRP_ENOTFOUND);
  CHECK_INT_EQ(deleted, 1);
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rr = redisCommand(r, "TTL %s", chirp_key_tweet(key, t.id));
  CHECK(rr && rr->type == REDIS_REPLY_INTEGER && rr->integer > 0 && rr->integer <= 60);
  if (rr) freeReplyObject(rr);
}

static void test_unreachable(void) {
  redisContext *r = NULL;
  PGconn *pg = NULL;
  /* Nothing listens on port 1: a clear "unavailable", quickly. */
  int64_t t0 = chirp_time_mono_us();
  CHECK_INT_EQ(chirp_redis_connect("redis://127.0.0.1:1/0", 500, &r), CHIRP_EUNAVAILABLE);
  CHECK_INT_EQ(chirp_pg_connect("postgresql://chirp@127.0.0.1:1/chirp", &pg), CHIRP_EUNAVAILABLE);
  CHECK(chirp_time_mono_us() - t0 < 5000000);
  CHECK(r == NULL && pg == NULL);
  CHECK_INT_EQ(chirp_redis_connect("http://x", 500, &r), CHIRP_EINVAL);
}

/* One worker's transaction writing one comment state, on its own
   connection (a thread, as the second worker). */
struct put_job {
  PGconn *pg;
  const chirp_comment *c;
  int rc, delta;
};

static void *put_commit_main(void *arg) {
  struct put_job *j = arg;
  j->rc = chirp_pg_begin(j->pg);
  if (!j->rc) j->rc = chirp_comment_store_put(j->pg, j->c, &j->delta, NULL);
  if (!j->rc) j->rc = chirp_pg_commit(j->pg);
  return NULL;
}

/* 1 once the backend pid waits for a lock (the other transaction's row). */
static int waits_for_lock(PGconn *pg, int pid) {
  char p[24];
  snprintf(p, sizeof p, "%d", pid);
  const char *params[] = {p};
  PGresult *r;
  if (chirp_pg_exec(pg, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 "
                        "AND wait_event_type = 'Lock'", 1, params, &r))
    return 0;
  int waiting = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
  PQclear(r);
  return waiting;
}

/* first is written in an open transaction; second starts on another
   connection while it is open (and waits for the row), then first commits.
   Returns the tweet's comment count afterwards, or -1. */
static long long race(PGconn *pg, const char *url, const chirp_comment *first,
                      const chirp_comment *second) {
  PGconn *a = NULL;
  struct put_job b = {.c = second};
  long long count = -1;
  if (chirp_pg_connect(url, &a) || chirp_pg_connect(url, &b.pg)) goto out;
  int delta = 0;
  CHECK_INT_EQ(chirp_pg_begin(a), 0);
  CHECK_INT_EQ(chirp_comment_store_put(a, first, &delta, NULL), 0);
  pthread_t th;
  if (pthread_create(&th, NULL, put_commit_main, &b) != 0) {
    CHECK(!"pthread_create");
    goto out;
  }
  int waited = 0;
  for (int i = 0; i < 500 && !(waited = waits_for_lock(pg, PQbackendPID(b.pg))); i++)
    usleep(10000);
  CHECK(waited); /* the second write really overlapped the first */
  CHECK_INT_EQ(chirp_pg_commit(a), 0);
  pthread_join(th, NULL);
  CHECK_INT_EQ(b.rc, 0);
  CHECK_INT_EQ(chirp_comment_store_count(pg, first->tweet_id, &count), 0);
out:
  if (a) PQfinish(a);
  if (b.pg) PQfinish(b.pg);
  return count;
}

static void test_comment_race(PGconn *pg, const char *url, int64_t author) {
  /* Created, then deleted while the create is uncommitted: no comment. */
  chirp_tweet t = tweet(author, "commented");
  CHECK_INT_EQ(chirp_tweet_store_create(pg, &t, NULL), 0);
  int64_t id = chirp_idgen_next(&ids);
  chirp_comment c = {.id = id, .tweet_id = t.id, .author_id = author,
                     .created_ms = chirp_id_time_ms(id), .text = (char *)"hello"};
  chirp_comment gone = c;
  gone.deleted_ms = c.created_ms + 5;
  CHECK_INT_EQ(race(pg, url, &c, &gone), 0);
  /* The other way round: the delete first, the create waits for it. */
  id = chirp_idgen_next(&ids);
  c.id = gone.id = id;
  CHECK_INT_EQ(race(pg, url, &gone, &c), 0);
  /* Created, then edited while the create is uncommitted: one comment. */
  id = chirp_idgen_next(&ids);
  c.id = id;
  chirp_comment edited = c;
  edited.text = (char *)"hello again";
  edited.edited_ms = c.created_ms + 3;
  CHECK_INT_EQ(race(pg, url, &c, &edited), 1);
  chirp_comment got;
  CHECK_INT_EQ(chirp_comment_store_get(pg, id, &got), 0);
  CHECK_STR_EQ(got.text, "hello again");
  chirp_comment_cleanup(&got);
  /* Deleted, then the delete redelivered to another worker: still one. */
  id = chirp_idgen_next(&ids);
  c.id = gone.id = id;
  int delta = 0;
  CHECK_INT_EQ(chirp_comment_store_put(pg, &c, &delta, NULL), 0);
  CHECK_INT_EQ(delta, 1);
  CHECK_INT_EQ(race(pg, url, &gone, &gone), 1);
}

int main(void) {
  chirp_config cfg;
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  chirp_idgen_init(&ids, 1001);
  PGconn *pg = NULL;
  redisContext *r = NULL;
  REQUIRE(chirp_pg_connect(cfg.pg_url, &pg) == 0);
  REQUIRE(chirp_redis_connect(cfg.redis_url, 2000, &r) == 0);
  int64_t author = make_account(pg, "t");
  REQUIRE(author != 0);
  test_accounts(pg, r);
  test_tweet_orders(pg, author);
  int64_t author2 = make_account(pg, "l");
  REQUIRE(author2 != 0);
  test_timeline(pg, author2);
  test_create_batch(pg, author, author2);
  test_cache(r, author);
  test_comment_race(pg, cfg.pg_url, author);
  test_unreachable();
  PQfinish(pg);
  redisFree(r);
  CHECK_DONE();
}
