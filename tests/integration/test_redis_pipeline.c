/*
 * test_redis_pipeline.c — counted pipelines over a real Redis: replies come
 * back in order; a synchronous call (a command, a script, a script load)
 * on a connection with pipelined replies pending is refused and the
 * connection marked broken instead of reading someone else's reply; a
 * pipelined EVALSHA of a script Redis forgot answers NOSCRIPT and works
 * after a load; an abandoned pipeline leaves the connection marked broken.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_redis.h"

static chirp_lua echo_script = CHIRP_LUA("return 'echo:' .. ARGV[1] .. ':' .. KEYS[1]");

/* Threads running one script for the first time at once: its SHA is
   computed and read under the script's lock (a ThreadSanitizer build
   reports a read outside it). */
static chirp_lua race_script = CHIRP_LUA("return 'race:' .. ARGV[1]");
struct racer {
  const chirp_config *cfg;
  int ok;
};

static void *race(void *arg) {
  struct racer *rc = arg;
  redisContext *c = NULL;
  if (chirp_redis_connect(rc->cfg->redis_url, 2000, &c) != 0) return NULL;
  const char *argv[] = {"k", "go"};
  for (int i = 0; i < 20; i++) {
    redisReply *rep = NULL;
    if (i % 2 && chirp_redis_append_eval(c, &race_script, 1, 2, argv, NULL) == 0 &&
        chirp_redis_read(c, &rep) == 0 && chirp_redis_noscript(rep)) {
      freeReplyObject(rep); /* pipelined, by its SHA: load and run it */
      rep = chirp_redis_script_load(c, &race_script) ? NULL
                                                     : chirp_redis_eval(c, &race_script, 1, 2, argv, NULL);
    } else if (!(i % 2)) {
      rep = chirp_redis_eval(c, &race_script, 1, 2, argv, NULL);
    }
    if (rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "race:go") == 0) rc->ok++;
    if (rep) freeReplyObject(rep);
  }
  redisFree(c);
  return NULL;
}

static redisContext *connect_or_die(const chirp_config *cfg) {
  redisContext *r = NULL;
  if (chirp_redis_connect(cfg->redis_url, 2000, &r) != 0) {
    fprintf(stderr, "cannot connect to %s\n", cfg->redis_url);
    exit(1);
  }
  return r;
}

int main(void) {
  chirp_config cfg;
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  char key[64];
  snprintf(key, sizeof key, "chirp:test:pipe:%u", randombytes_random());

  /* In order, counted. */
  redisContext *r = connect_or_die(&cfg);
  CHECK_INT_EQ(chirp_redis_append(r, "SET %s a", key), 0);
  CHECK_INT_EQ(chirp_redis_append(r, "GET %s", key), 0);
  CHECK_INT_EQ(chirp_redis_append(r, "ECHO %s", "third"), 0);
  CHECK_INT_EQ(chirp_redis_pending(r), 3);
  redisReply *rep = NULL;
  CHECK_INT_EQ(chirp_redis_read(r, &rep), 0);
  freeReplyObject(rep);
  CHECK_INT_EQ(chirp_redis_read(r, &rep), 0);
  CHECK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "a") == 0);
  freeReplyObject(rep);
  CHECK_INT_EQ(chirp_redis_read(r, &rep), 0);
  CHECK(rep && strcmp(rep->str, "third") == 0);
  freeReplyObject(rep);
  CHECK_INT_EQ(chirp_redis_pending(r), 0);
  /* Nothing pending: synchronous calls work. */
  rep = chirp_redis_command(r, "GET %s", key);
  CHECK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "a") == 0);
  if (rep) freeReplyObject(rep);

  /* A pipelined EVALSHA of a script Redis does not know: NOSCRIPT, then a
     load (allowed: nothing pending) and it runs. */
  rep = chirp_redis_command(r, "SCRIPT FLUSH");
  if (rep) freeReplyObject(rep);
  const char *argv[] = {key, "x"};
  CHECK_INT_EQ(chirp_redis_append(r, "GET %s", key), 0);
  CHECK_INT_EQ(chirp_redis_append_eval(r, &echo_script, 1, 2, argv, NULL), 0);
  CHECK_INT_EQ(chirp_redis_read(r, &rep), 0);
  CHECK(rep && strcmp(rep->str, "a") == 0); /* the GET's own reply */
  freeReplyObject(rep);
  CHECK_INT_EQ(chirp_redis_read(r, &rep), 0);
  CHECK(chirp_redis_noscript(rep));
  freeReplyObject(rep);
  CHECK_INT_EQ(chirp_redis_script_load(r, &echo_script), 0);
  rep = chirp_redis_eval(r, &echo_script, 1, 2, argv, NULL);
  char want[128];
  snprintf(want, sizeof want, "echo:x:%s", key);
  CHECK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, want) == 0);
  if (rep) freeReplyObject(rep);

  /* The defect this guards against: a synchronous call with pipelined
     replies queued.  Each is refused (NULL / an error) and the connection
     is marked broken, so its owner drops it. */
  for (int kind = 0; kind < 3; kind++) {
    redisContext *c = connect_or_die(&cfg);
    CHECK_INT_EQ(chirp_redis_append(c, "GET %s", key), 0);
    if (kind == 0) {
      CHECK(chirp_redis_command(c, "PING") == NULL);
    } else if (kind == 1) {
      rep = chirp_redis_command(c, "SCRIPT FLUSH");
      CHECK(rep == NULL);
      CHECK_INT_EQ(chirp_redis_script_load(c, &echo_script), CHIRP_EUNAVAILABLE);
    } else {
      CHECK(chirp_redis_eval(c, &echo_script, 1, 2, argv, NULL) == NULL);
    }
    CHECK(c->err != 0);
    CHECK_INT_EQ(chirp_redis_pending(c), 0);
    CHECK_INT_EQ(chirp_redis_read(c, &rep), CHIRP_EUNAVAILABLE); /* no stale reply handed out */
    redisFree(c);
  }

  /* Reading what was never sent is refused too. */
  redisContext *c = connect_or_die(&cfg);
  CHECK_INT_EQ(chirp_redis_read(c, &rep), CHIRP_EUNAVAILABLE);
  CHECK(c->err != 0);
  redisFree(c);

  /* An abandoned pipeline: marked broken, nothing left counted. */
  c = connect_or_die(&cfg);
  CHECK_INT_EQ(chirp_redis_append(c, "GET %s", key), 0);
  chirp_redis_abandon(c, "test");
  CHECK(c->err != 0);
  CHECK_INT_EQ(chirp_redis_pending(c), 0);
  CHECK_INT_EQ(chirp_redis_append(c, "GET %s", key), CHIRP_EUNAVAILABLE);
  redisFree(c);

  /* Eight threads, one script, first use. */
  enum { RACERS = 8 };
  pthread_t th[RACERS];
  struct racer rs[RACERS];
  for (int i = 0; i < RACERS; i++) {
    rs[i] = (struct racer){&cfg, 0};
    CHECK_INT_EQ(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  for (int i = 0; i < RACERS; i++) {
    pthread_join(th[i], NULL);
    CHECK_INT_EQ(rs[i].ok, 20);
  }

  rep = chirp_redis_command(r, "DEL %s", key);
  if (rep) freeReplyObject(rep);
  redisFree(r);
  CHECK_DONE();
}
