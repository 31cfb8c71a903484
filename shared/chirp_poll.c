/* chirp_poll.c — polls, see chirp_poll.h. */
#include "chirp_poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_text.h"
#include "chirp_time.h"

static int invalid(const char **field, const char *f, const char **why, const char *w) {
  *field = f;
  *why = w;
  return CHIRP_EINVAL;
}

int chirp_poll_from_request(const json_t *req, int64_t now_ms, chirp_idgen *ids, json_t **out,
                            const char **field, const char **why) {
  if (!json_is_object(req)) return invalid(field, "poll", why, "wrong_type");
  const json_t *opts = json_object_get(req, "options");
  const json_t *exp = json_object_get(req, "expires_in");
  const json_t *mul = json_object_get(req, "multiple");
  if (!json_is_array(opts)) return invalid(field, "poll.options", why, "wrong_type");
  size_t n = json_array_size(opts);
  if (n < CHIRP_POLL_MIN_OPTIONS) return invalid(field, "poll.options", why, "too_few");
  if (n > CHIRP_POLL_MAX_OPTIONS) return invalid(field, "poll.options", why, "too_many");
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(opts, i);
    if (!json_is_string(o)) return invalid(field, "poll.options", why, "wrong_type");
    const char *w;
    if (chirp_text_check_body(json_string_value(o), json_string_length(o),
                              CHIRP_POLL_MAX_OPTION_CHARS, &w))
      return invalid(field, "poll.options", why, w);
  }
  if (!json_is_integer(exp)) return invalid(field, "poll.expires_in", why, "wrong_type");
  json_int_t secs = json_integer_value(exp);
  if (secs < CHIRP_POLL_MIN_SECONDS || secs > CHIRP_POLL_MAX_SECONDS)
    return invalid(field, "poll.expires_in", why, "out_of_range");
  if (mul && !json_is_boolean(mul) && !json_is_null(mul))
    return invalid(field, "poll.multiple", why, "wrong_type");
  json_t *def = json_pack("{s:o, s:O, s:b, s:o}", "id", chirp_json_id(chirp_idgen_next(ids)),
                          "options", opts, "multiple", json_is_true(mul), "expires_at",
                          chirp_json_time(now_ms + (int64_t)secs * 1000));
  if (!def) return CHIRP_ENOMEM;
  *out = def;
  return 0;
}

int chirp_poll_id(const json_t *def, int64_t *id) { return chirp_json_get_id(def, "id", id); }

int64_t chirp_poll_expires_ms(const json_t *def) {
  int64_t ms = 0;
  return chirp_json_get_time(def, "expires_at", &ms) == 0 ? ms : 0;
}

size_t chirp_poll_option_count(const json_t *def) {
  return json_array_size(json_object_get(def, "options"));
}

int chirp_poll_check_choices(const json_t *def, const json_t *choices, int *out, size_t *n,
                             const char **why) {
  size_t nopt = chirp_poll_option_count(def);
  *n = 0;
  if (!json_is_array(choices)) {
    *why = "wrong_type";
    return CHIRP_EINVAL;
  }
  size_t k = json_array_size(choices);
  if (k == 0) {
    *why = "empty";
    return CHIRP_EINVAL;
  }
  if (k > 1 && !json_is_true(json_object_get(def, "multiple"))) {
    *why = "single_choice";
    return CHIRP_EINVAL;
  }
  if (k > nopt) {
    *why = "too_many";
    return CHIRP_EINVAL;
  }
  for (size_t i = 0; i < k; i++) {
    const json_t *c = json_array_get(choices, i);
    if (!json_is_integer(c) || json_integer_value(c) < 0 ||
        (size_t)json_integer_value(c) >= nopt) {
      *why = "out_of_range";
      return CHIRP_EINVAL;
    }
    int v = (int)json_integer_value(c);
    for (size_t j = 0; j < *n; j++)
      if (out[j] == v) {
        *why = "duplicate";
        return CHIRP_EINVAL;
      }
    out[(*n)++] = v;
  }
  return 0;
}

static void fmt(char *b, int64_t v) { snprintf(b, 24, "%lld", (long long)v); }

static char *choices_literal(const int *c, size_t n) {
  char *s = malloc(n * 12 + 3);
  if (!s) return NULL;
  size_t o = 0;
  s[o++] = '{';
  for (size_t i = 0; i < n; i++) o += (size_t)sprintf(s + o, i ? ",%d" : "%d", c[i]);
  s[o++] = '}';
  s[o] = '\0';
  return s;
}

int chirp_poll_store_create(PGconn *pg, const json_t *def, int64_t tweet_id, int64_t author_id) {
  int64_t id;
  if (chirp_poll_id(def, &id)) return CHIRP_EMALFORMED;
  char i[24], t[24], a[24], e[24];
  fmt(i, id);
  fmt(t, tweet_id);
  fmt(a, author_id);
  fmt(e, chirp_poll_expires_ms(def));
  char *opts = json_dumps(json_object_get(def, "options"), JSON_COMPACT);
  if (!opts) return CHIRP_ENOMEM;
  const char *p[] = {i, t, a, opts, json_is_true(json_object_get(def, "multiple")) ? "t" : "f", e};
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO polls (id, tweet_id, author_id, options, multiple, expires_at) "
                         "SELECT $1, $2, $3, array_agg(o ORDER BY n), $5, "
                         "to_timestamp($6::bigint / 1000.0) "
                         "FROM json_array_elements_text($4::json) WITH ORDINALITY AS x(o, n) "
                         "ON CONFLICT DO NOTHING",
                         6, p, NULL);
  free(opts);
  return rc;
}

int chirp_poll_store_vote(PGconn *pg, int64_t poll, int64_t user, const int *choices, size_t n,
                          int64_t event_id, int64_t at_ms, int *applied) {
  char pl[24], u[24], ev[24], at[24];
  fmt(pl, poll);
  fmt(u, user);
  fmt(ev, event_id);
  fmt(at, at_ms);
  char *c = choices_literal(choices, n);
  if (!c) return CHIRP_ENOMEM;
  const char *p[] = {pl, u, c, ev, at};
  PGresult *r;
  /* The vote and its counts in one statement: counted only if inserted. */
  int rc = chirp_pg_exec(pg,
                         "WITH v AS (INSERT INTO poll_votes (poll_id, user_id, choices, event_id, voted_at) "
                         "  VALUES ($1, $2, $3::smallint[], $4, to_timestamp($5::bigint / 1000.0)) "
                         "  ON CONFLICT DO NOTHING RETURNING choices), "
                         "c AS (INSERT INTO poll_counts (poll_id, choice, votes) "
                         "  SELECT $1, unnest(choices), 1 FROM v "
                         "  ON CONFLICT (poll_id, choice) DO UPDATE SET votes = poll_counts.votes + 1 "
                         "  RETURNING 1) "
                         "SELECT count(*) FROM v",
                         5, p, &r);
  free(c);
  if (rc) return rc;
  *applied = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
  PQclear(r);
  return 0;
}

int chirp_poll_store_get(PGconn *pg, int64_t poll, json_t **def, int64_t *tweet_id,
                         int64_t *author_id) {
  char pl[24];
  fmt(pl, poll);
  const char *p[] = {pl};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT json_build_object('id', id::text, 'options', options, 'multiple', "
                         "multiple, 'expires_at', to_char(expires_at AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), tweet_id, author_id "
                         "FROM polls WHERE id = $1",
                         1, p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return CHIRP_ENOTFOUND;
  }
  *def = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
  *tweet_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  *author_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
  PQclear(r);
  return *def ? 0 : CHIRP_ENOMEM;
}

/* KEYS[1] voters, KEYS[2] counts, KEYS[3] built flag; ARGV[1] user,
   ARGV[2] mode ('vote', 'unvote', 'replay'), ARGV[3..] choices.
   Returns -1 when not built (vote), else 1 when applied, 0 when not. */
static chirp_lua vote_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[3]) == 0 then "
    "  if ARGV[2] == 'vote' then return -1 end return 0 end "
    "local changed "
    "if ARGV[2] == 'unvote' then changed = redis.call('SREM', KEYS[1], ARGV[1]) "
    "else changed = redis.call('SADD', KEYS[1], ARGV[1]) end "
    "if changed == 1 then "
    "  local d = ARGV[2] == 'unvote' and -1 or 1 "
    "  for i = 3, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], d) end "
    "end return changed");

/* KEYS[1] voters, KEYS[2] counts, KEYS[3] flag; ARGV: n_voters, voters...,
   then pairs choice, votes. */
static chirp_lua build_script = CHIRP_LUA(
    "if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end "
    "redis.call('DEL', KEYS[1], KEYS[2]) "
    "local nv = tonumber(ARGV[1]) "
    "for i = 2, 1 + nv, 1000 do "
    "  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, 1 + nv))) end "
    "for i = 2 + nv, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end "
    "redis.call('SET', KEYS[3], '1') return 1");

static int build(redisContext *r, PGconn *pg, int64_t poll, const char *voters, const char *counts,
                 const char *flag) {
  if (!pg) return CHIRP_EUNAVAILABLE;
  char pl[24];
  fmt(pl, poll);
  const char *p[] = {pl};
  PGresult *v, *c;
  int rc = chirp_pg_exec(pg, "SELECT user_id FROM poll_votes WHERE poll_id = $1", 1, p, &v);
  if (rc) return rc;
  rc = chirp_pg_exec(pg, "SELECT choice, votes FROM poll_counts WHERE poll_id = $1", 1, p, &c);
  if (rc) {
    PQclear(v);
    return rc;
  }
  int nv = PQntuples(v), nc = PQntuples(c);
  const char **argv = calloc((size_t)(4 + nv + 2 * nc), sizeof *argv);
  char nvs[24];
  snprintf(nvs, sizeof nvs, "%d", nv);
  int a = 0;
  if (argv) {
    argv[a++] = voters;
    argv[a++] = counts;
    argv[a++] = flag;
    argv[a++] = nvs;
    for (int i = 0; i < nv; i++) argv[a++] = PQgetvalue(v, i, 0);
    for (int i = 0; i < nc; i++) {
      argv[a++] = PQgetvalue(c, i, 0);
      argv[a++] = PQgetvalue(c, i, 1);
    }
  }
  redisReply *rep = argv ? chirp_redis_eval(r, &build_script, 3, a, argv, NULL) : NULL;
  free(argv);
  PQclear(v);
  PQclear(c);
  if (!rep) return CHIRP_EUNAVAILABLE;
  freeReplyObject(rep);
  return 0;
}

static int run_vote(redisContext *r, int64_t poll, int64_t user, const char *mode,
                    const int *choices, size_t n, long long *result) {
  char voters[CHIRP_KEY_BUFSZ], counts[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ], u[24];
  char cs[CHIRP_POLL_MAX_OPTIONS][12];
  const char *argv[5 + CHIRP_POLL_MAX_OPTIONS];
  argv[0] = chirp_key_poll_voters(voters, poll);
  argv[1] = chirp_key_poll_counts(counts, poll);
  argv[2] = chirp_key_poll_voters_ok(flag, poll);
  fmt(u, user);
  argv[3] = u;
  argv[4] = mode;
  if (n > CHIRP_POLL_MAX_OPTIONS) n = CHIRP_POLL_MAX_OPTIONS;
  for (size_t i = 0; i < n; i++) {
    snprintf(cs[i], sizeof cs[i], "%d", choices[i]);
    argv[5 + i] = cs[i];
  }
  redisReply *rep = chirp_redis_eval(r, &vote_script, 3, (int)(5 + n), argv, NULL);
  if (!rep) return CHIRP_EUNAVAILABLE;
  *result = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
  freeReplyObject(rep);
  return 0;
}

int chirp_poll_vote(redisContext *r, PGconn *pg, int64_t poll, int64_t user, const int *choices,
                    size_t n, int *accepted) {
  for (int attempt = 0; attempt < 2; attempt++) {
    long long v;
    int rc = run_vote(r, poll, user, "vote", choices, n, &v);
    if (rc) return rc;
    if (v >= 0) {
      *accepted = v == 1;
      return 0;
    }
    char voters[CHIRP_KEY_BUFSZ], counts[CHIRP_KEY_BUFSZ], flag[CHIRP_KEY_BUFSZ];
    rc = build(r, pg, poll, chirp_key_poll_voters(voters, poll), chirp_key_poll_counts(counts, poll),
               chirp_key_poll_voters_ok(flag, poll));
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}

int chirp_poll_unvote(redisContext *r, int64_t poll, int64_t user, const int *choices, size_t n) {
  long long v;
  return run_vote(r, poll, user, "unvote", choices, n, &v);
}

int chirp_poll_replay(redisContext *r, int64_t poll, int64_t user, const int *choices, size_t n) {
  long long v;
  return run_vote(r, poll, user, "replay", choices, n, &v);
}

int chirp_poll_results(redisContext *r, PGconn *pg, int64_t poll, size_t nopt, long long *counts,
                       long long *voters, int64_t viewer, int *voted) {
  char vk[CHIRP_KEY_BUFSZ], ck[CHIRP_KEY_BUFSZ], fk[CHIRP_KEY_BUFSZ];
  chirp_key_poll_voters(vk, poll);
  chirp_key_poll_counts(ck, poll);
  chirp_key_poll_voters_ok(fk, poll);
  for (int attempt = 0; attempt < 2; attempt++) {
    redisReply *rep[4] = {0};
    int bad = chirp_redis_append(r, "EXISTS %s", fk) || chirp_redis_append(r, "SCARD %s", vk) ||
              chirp_redis_append(r, "SISMEMBER %s %lld", vk, (long long)viewer) ||
              chirp_redis_append(r, "HGETALL %s", ck);
    for (int i = 0; i < 4 && !bad; i++)
      if (chirp_redis_read(r, &rep[i])) bad = 1;
    int built = !bad && rep[0]->type == REDIS_REPLY_INTEGER && rep[0]->integer == 1;
    if (built) {
      *voters = rep[1]->integer;
      *voted = rep[2]->integer == 1;
      for (size_t i = 0; i < nopt; i++) counts[i] = 0;
      for (size_t i = 0; i + 1 < rep[3]->elements; i += 2) {
        long c = strtol(rep[3]->element[i]->str, NULL, 10);
        if (c >= 0 && (size_t)c < nopt) counts[c] = strtoll(rep[3]->element[i + 1]->str, NULL, 10);
      }
    }
    for (int i = 0; i < 4; i++)
      if (rep[i]) freeReplyObject(rep[i]);
    if (bad) return CHIRP_EUNAVAILABLE;
    if (built) return 0;
    int rc = build(r, pg, poll, vk, ck, fk);
    if (rc) return rc;
  }
  return CHIRP_EUNAVAILABLE;
}
