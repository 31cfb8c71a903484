/* chirp_account.c — accounts, password hashing and sessions. */
#include "chirp_account.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

#define ACCOUNT_COLS                                                                       \
  "id, username, email, display_name, bio, avatar_url, "                                   \
  "(extract(epoch from created_at) * 1000)::bigint, followers_count, following_count"

void chirp_account_cleanup(chirp_account *a) {
  free(a->email);
  free(a->display_name);
  free(a->bio);
  free(a->avatar_url);
  a->email = a->display_name = a->bio = a->avatar_url = NULL;
}

json_t *chirp_account_to_json(const chirp_account *a, int with_email) {
  json_t *j = json_object();
  if (!j) return NULL;
  json_object_set_new(j, "id", chirp_json_id(a->id));
  json_object_set_new(j, "username", json_string(a->username));
  json_object_set_new(j, "display_name", json_string(a->display_name ? a->display_name : ""));
  json_object_set_new(j, "bio", json_string(a->bio ? a->bio : ""));
  json_object_set_new(j, "avatar_url", json_string(a->avatar_url ? a->avatar_url : ""));
  json_object_set_new(j, "created_at", chirp_json_time(a->created_ms));
  json_object_set_new(j, "followers_count", json_integer(a->followers_count));
  json_object_set_new(j, "following_count", json_integer(a->following_count));
  if (with_email) json_object_set_new(j, "email", json_string(a->email ? a->email : ""));
  return j;
}

const char *const chirp_account_columns = ACCOUNT_COLS;

int chirp_account_from_row(const PGresult *r, int row, int col, chirp_account *a) {
  memset(a, 0, sizeof *a);
  a->id = strtoll(PQgetvalue(r, row, col + 0), NULL, 10);
  snprintf(a->username, sizeof a->username, "%s", PQgetvalue(r, row, col + 1));
  a->email = strdup(PQgetvalue(r, row, col + 2));
  a->display_name = strdup(PQgetvalue(r, row, col + 3));
  a->bio = strdup(PQgetvalue(r, row, col + 4));
  a->avatar_url = strdup(PQgetvalue(r, row, col + 5));
  a->created_ms = strtoll(PQgetvalue(r, row, col + 6), NULL, 10);
  a->followers_count = strtoll(PQgetvalue(r, row, col + 7), NULL, 10);
  a->following_count = strtoll(PQgetvalue(r, row, col + 8), NULL, 10);
  if (!a->email || !a->display_name || !a->bio || !a->avatar_url) {
    chirp_account_cleanup(a);
    return CHIRP_ENOMEM;
  }
  return 0;
}

static int row_to_account(PGresult *r, int row, chirp_account *a) {
  return chirp_account_from_row(r, row, 0, a);
}

static int select_one(PGconn *pg, const char *sql, const char *param, chirp_account *out) {
  const char *p[] = {param};
  PGresult *r;
  int rc = chirp_pg_exec(pg, sql, 1, p, &r);
  if (rc) return rc;
  rc = PQntuples(r) == 1 ? row_to_account(r, 0, out) : CHIRP_ENOTFOUND;
  PQclear(r);
  return rc;
}

int chirp_password_hash(const char *password, int min, char *hash) {
  unsigned long long ops = min ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t mem = min ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (crypto_pwhash_str_alg(hash, password, strlen(password), ops, mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return CHIRP_ENOMEM;
  return 0;
}

int chirp_account_create(PGconn *pg, chirp_idgen *ids, const char *username, const char *email,
                         const char *password, int pwhash_min, chirp_account *out,
                         const char **field) {
  char hash[crypto_pwhash_STRBYTES];
  int rc = chirp_password_hash(password, pwhash_min, hash);
  if (rc) return rc;
  char idbuf[CHIRP_ID_STRSZ];
  chirp_id_format(chirp_idgen_next(ids), idbuf);
  const char *p[] = {idbuf, username, email, hash};
  PGresult *r;
  rc = chirp_pg_exec(pg,
                     "INSERT INTO accounts (id, username, email, password_hash) "
                     "VALUES ($1, $2, $3, $4) RETURNING " ACCOUNT_COLS,
                     4, p, &r);
  if (rc == CHIRP_ECONFLICT) {
    /* Say which one is taken; the unique indexes are case-insensitive. */
    const char *q[] = {username};
    PGresult *c;
    *field = "email";
    if (chirp_pg_exec(pg, "SELECT 1 FROM accounts WHERE lower(username) = lower($1)", 1, q,
                      &c) == 0) {
      if (PQntuples(c) > 0) *field = "username";
      PQclear(c);
    }
    return rc;
  }
  if (rc) return rc;
  rc = row_to_account(r, 0, out);
  PQclear(r);
  return rc;
}

int chirp_account_get(PGconn *pg, int64_t id, chirp_account *out) {
  char idbuf[CHIRP_ID_STRSZ];
  return select_one(pg, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1 AND deleted_at IS NULL",
                    chirp_id_format(id, idbuf), out);
}

int chirp_account_get_by_username(PGconn *pg, const char *username, chirp_account *out) {
  return select_one(pg,
                    "SELECT " ACCOUNT_COLS " FROM accounts "
                    "WHERE lower(username) = lower($1) AND deleted_at IS NULL",
                    username, out);
}

/* A hash to verify against when the login is unknown, so that an unknown
   login costs the same time as a wrong password.  Made once, under
   pthread_once: log-ins run on many HTTP threads at once, and a plain
   lazily set static was a data race (two threads writing it together). */
static char dummy_hash[crypto_pwhash_STRBYTES];
static int dummy_ready;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_make(void) {
  dummy_ready = chirp_password_hash("chirp-dummy-password", 0, dummy_hash) == 0;
}

int chirp_account_authenticate(PGconn *pg, const char *login, const char *password,
                               chirp_account *out) {
  const char *p[] = {login};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " ACCOUNT_COLS ", password_hash FROM accounts "
                         "WHERE (lower(username) = lower($1) OR lower(email) = lower($1)) "
                         "AND deleted_at IS NULL LIMIT 1",
                         1, p, &r);
  if (rc) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    pthread_once(&dummy_once, dummy_make);
    if (dummy_ready && crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
      chirp_warn("login: a password matched the dummy hash");
    return CHIRP_EUNAUTHORIZED;
  }
  const char *hash = PQgetvalue(r, 0, CHIRP_ACCOUNT_NCOLS);
  if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
    PQclear(r);
    return CHIRP_EUNAUTHORIZED;
  }
  rc = row_to_account(r, 0, out);
  PQclear(r);
  return rc;
}

int chirp_account_update(PGconn *pg, int64_t id, const char *display_name, const char *bio,
                         const char *avatar_url) {
  char idbuf[CHIRP_ID_STRSZ];
  const char *p[] = {chirp_id_format(id, idbuf), display_name, bio, avatar_url};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "UPDATE accounts SET display_name = coalesce($2, display_name), "
                         "bio = coalesce($3, bio), avatar_url = coalesce($4, avatar_url) "
                         "WHERE id = $1",
                         4, p, &r);
  if (rc) return rc;
  rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : CHIRP_ENOTFOUND;
  PQclear(r);
  return rc;
}

int chirp_account_list(PGconn *pg, int64_t before, int limit, json_t **items, int64_t *next) {
  char b[24], l[24];
  snprintf(b, sizeof b, "%lld", (long long)(before > 0 ? before : INT64_MAX));
  snprintf(l, sizeof l, "%d", limit + 1); /* one more row tells whether a next page exists */
  const char *p[] = {b, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " ACCOUNT_COLS " FROM accounts WHERE id < $1 AND deleted_at IS NULL "
                         "ORDER BY id DESC LIMIT $2",
                         2, p, &r);
  if (rc) return rc;
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  json_t *arr = json_array();
  *next = 0;
  for (int i = 0; arr && i < shown; i++) {
    chirp_account a;
    if (row_to_account(r, i, &a) != 0) {
      json_decref(arr);
      arr = NULL;
      break;
    }
    json_array_append_new(arr, chirp_account_to_json(&a, 0));
    if (i == shown - 1 && rows > limit) *next = a.id;
    chirp_account_cleanup(&a);
  }
  PQclear(r);
  if (!arr) return CHIRP_ENOMEM;
  *items = arr;
  return 0;
}

void chirp_session_hashes_free(char **hashes, size_t n) {
  for (size_t i = 0; hashes && i < n; i++) free(hashes[i]);
  free(hashes);
}

int chirp_account_mark_deleted(PGconn *pg, int64_t id, int64_t at_ms, char ***hashes, size_t *n) {
  char idbuf[CHIRP_ID_STRSZ], at[24];
  snprintf(at, sizeof at, "%lld", (long long)at_ms);
  const char *p[] = {chirp_id_format(id, idbuf), at};
  *hashes = NULL;
  *n = 0;
  /* The row stays (the username stays reserved, events in flight find
     their actor deleted); what identifies the person goes. */
  int rc = chirp_pg_exec(pg,
                         "UPDATE accounts SET deleted_at = to_timestamp($2::bigint / 1000.0), "
                         "email = '', password_hash = '', display_name = '', bio = '', "
                         "avatar_url = '' WHERE id = $1 AND deleted_at IS NULL",
                         2, p, NULL);
  if (rc) return rc;
  PGresult *r;
  rc = chirp_pg_exec(pg, "DELETE FROM sessions WHERE account_id = $1 RETURNING token_hash", 1, p,
                     &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  char **out = calloc(rows ? rows : 1, sizeof *out);
  for (size_t i = 0; out && i < rows; i++)
    if (!(out[i] = strdup(PQgetvalue(r, (int)i, 0)))) {
      chirp_session_hashes_free(out, i);
      out = NULL;
    }
  PQclear(r);
  if (!out) return CHIRP_ENOMEM;
  *hashes = out;
  *n = rows;
  return 0;
}

int chirp_account_password_check(PGconn *pg, int64_t id, const char *password) {
  char idbuf[CHIRP_ID_STRSZ];
  const char *p[] = {chirp_id_format(id, idbuf)};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT password_hash FROM accounts WHERE id = $1 AND deleted_at IS NULL "
                         "FOR UPDATE",
                         1, p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return CHIRP_ENOTFOUND;
  }
  rc = !password || crypto_pwhash_str_verify(PQgetvalue(r, 0, 0), password, strlen(password)) == 0
           ? 0
           : CHIRP_EUNAUTHORIZED;
  PQclear(r);
  return rc;
}

int chirp_account_forget_sessions(redisContext *r, int64_t id, char *const *hashes, size_t n) {
  if (!r) return CHIRP_EUNAVAILABLE;
  char key[CHIRP_KEY_BUFSZ];
  int bad = 0;
  /* One pipelined round trip: every session entry and the account. */
  for (size_t i = 0; i < n; i++) redisAppendCommand(r, "DEL %s", chirp_key_session(key, hashes[i]));
  redisAppendCommand(r, "DEL %s", chirp_key_account(key, id));
  for (size_t i = 0; i <= n; i++) {
    redisReply *rep = NULL;
    if (redisGetReply(r, (void **)&rep) != REDIS_OK) return CHIRP_EUNAVAILABLE;
    bad |= !rep || rep->type == REDIS_REPLY_ERROR;
    freeReplyObject(rep);
  }
  return bad ? CHIRP_EUNAVAILABLE : 0;
}

void chirp_account_cache_forget(redisContext *r, int64_t id) {
  if (!r) return;
  char key[CHIRP_KEY_BUFSZ];
  redisReply *rep = redisCommand(r, "DEL %s", chirp_key_account(key, id));
  if (rep) freeReplyObject(rep);
}

/* SHA-256 of the token, as lowercase hex. */
static void token_hash(const char *token, char hex[CHIRP_TOKEN_HASH_BUFSZ]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
  sodium_bin2hex(hex, CHIRP_TOKEN_HASH_BUFSZ, h, sizeof h);
}

int chirp_session_create(PGconn *pg, int64_t account_id, int ttl_s, char *token) {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(token, CHIRP_TOKEN_BUFSZ, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  char hex[CHIRP_TOKEN_HASH_BUFSZ], idbuf[CHIRP_ID_STRSZ], ttl[16];
  token_hash(token, hex);
  snprintf(ttl, sizeof ttl, "%d", ttl_s);
  const char *p[] = {hex, chirp_id_format(account_id, idbuf), ttl};
  return chirp_pg_exec(pg,
                       "INSERT INTO sessions (token_hash, account_id, expires_at) "
                       "VALUES ($1, $2, now() + make_interval(secs => $3::int))",
                       3, p, NULL);
}

static int token_well_formed(const char *token) {
  if (strlen(token) != CHIRP_TOKEN_CHARS) return 0;
  for (const char *p = token; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

/* The cached answer for a token that matches no session. */
#define UNKNOWN_TOKEN "-"
#define UNKNOWN_TOKEN_TTL_S 60

int chirp_session_lookup(redisContext *r, PGconn *pg, const char *token, int cache_ttl_s,
                         int64_t *account_id) {
  if (!token_well_formed(token)) return CHIRP_EUNAUTHORIZED;
  char hex[CHIRP_TOKEN_HASH_BUFSZ], key[CHIRP_KEY_BUFSZ];
  token_hash(token, hex);
  chirp_key_session(key, hex);
  if (r) {
    redisReply *rep = redisCommand(r, "GET %s", key);
    if (!chirp_redis_reply_failed(r, rep) && rep->type == REDIS_REPLY_STRING) {
      int known = chirp_id_parse(rep->str, account_id) == 0;
      int refused = strcmp(rep->str, UNKNOWN_TOKEN) == 0;
      freeReplyObject(rep);
      if (known) return 0;
      if (refused) return CHIRP_EUNAUTHORIZED;
    } else if (rep) {
      freeReplyObject(rep);
    }
  }
  if (!pg) return CHIRP_EUNAVAILABLE;
  const char *p[] = {hex};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT account_id, floor(extract(epoch from expires_at - now()) * 1000)"
                         "::bigint FROM sessions WHERE token_hash = $1 AND expires_at > now()",
                         1, p, &res);
  if (rc) return rc;
  if (PQntuples(res) != 1) {
    PQclear(res);
    /* Remember the refusal for a while: guessed tokens then cost Redis,
       not PostgreSQL.  (Tokens are random: a new one never matches.) */
    if (r && !r->err) {
      redisReply *rep = redisCommand(r, "SET %s %s EX %d", key, UNKNOWN_TOKEN, UNKNOWN_TOKEN_TTL_S);
      if (rep) freeReplyObject(rep);
    }
    return CHIRP_EUNAUTHORIZED;
  }
  *account_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  long long left_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  PQclear(res);
  /* Cached no longer than the session has left, to the millisecond, so an
     expired token never outlives its expiry in Redis. */
  if (r && !r->err && left_ms > 0) {
    long long ttl = left_ms < cache_ttl_s * 1000LL ? left_ms : cache_ttl_s * 1000LL;
    redisReply *rep = redisCommand(r, "SET %s %lld PX %lld", key, (long long)*account_id, ttl);
    if (rep) freeReplyObject(rep);
  }
  return 0;
}

int chirp_session_delete(redisContext *r, PGconn *pg, const char *token) {
  char hex[CHIRP_TOKEN_HASH_BUFSZ], key[CHIRP_KEY_BUFSZ];
  token_hash(token, hex);
  const char *p[] = {hex};
  int rc = chirp_pg_exec(pg, "DELETE FROM sessions WHERE token_hash = $1", 1, p, NULL);
  if (rc) return rc;
  /* The Redis entry must go too, or the token would live on until its TTL. */
  if (!r) return CHIRP_EUNAVAILABLE;
  redisReply *rep = redisCommand(r, "DEL %s", chirp_key_session(key, hex));
  int bad = chirp_redis_reply_failed(r, rep);
  if (rep) freeReplyObject(rep);
  return bad ? CHIRP_EUNAVAILABLE : 0;
}
