/*
 * chirp_account.h — accounts and sessions, written synchronously to
 * PostgreSQL (uniqueness must be known at once) and looked up through Redis.
 *
 * Passwords are hashed with argon2id (libsodium crypto_pwhash_str).  A
 * session token is 32 random bytes, base64url (43 characters); only its
 * SHA-256 is stored, in PostgreSQL and as the Redis key that maps it to the
 * account id.
 *
 * JSON form: {"id", "username", "display_name", "bio", "avatar_url",
 * "created_at", "followers_count", "following_count"}, plus "email" where
 * the viewer is the account itself.
 */
#ifndef CHIRP_ACCOUNT_H
#define CHIRP_ACCOUNT_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "chirp_id.h"

#define CHIRP_TOKEN_CHARS 43
#define CHIRP_TOKEN_BUFSZ 48
#define CHIRP_TOKEN_HASH_BUFSZ 65

typedef struct chirp_account {
  int64_t id;
  int64_t created_ms;
  char username[32];
  char *email;        /* owned */
  char *display_name; /* owned */
  char *bio;          /* owned */
  char *avatar_url;   /* owned */
  int64_t followers_count;
  int64_t following_count;
} chirp_account;

/* The account columns in SQL, in the order chirp_account_from_row reads
   them (CHIRP_ACCOUNT_NCOLS of them), for queries that join accounts. */
#define CHIRP_ACCOUNT_NCOLS 9
extern const char *const chirp_account_columns;
/* Reads an account from row, starting at column col. */
int chirp_account_from_row(const PGresult *r, int row, int col, chirp_account *a);

void chirp_account_cleanup(chirp_account *a);
/* New reference; with_email adds the private "email" member. */
json_t *chirp_account_to_json(const chirp_account *a, int with_email);

/* Hashes a password with argon2id (min: the smallest costs, for tests).
   hash must have crypto_pwhash_STRBYTES bytes. */
int chirp_password_hash(const char *password, int min, char *hash);

/* Creates an account.  CHIRP_ECONFLICT with *field "username" or "email"
   when taken.  On success fills *out (chirp_account_cleanup). */
int chirp_account_create(PGconn *pg, chirp_idgen *ids, const char *username, const char *email,
                         const char *password, int pwhash_min, chirp_account *out,
                         const char **field);
/* A live account (CHIRP_ENOTFOUND for a deleted one). */
int chirp_account_get(PGconn *pg, int64_t id, chirp_account *out);
int chirp_account_get_by_username(PGconn *pg, const char *username, chirp_account *out);
/* Checks login (username or e-mail) and password; CHIRP_EUNAUTHORIZED for
   either being wrong, with the same work done in both cases. */
int chirp_account_authenticate(PGconn *pg, const char *login, const char *password,
                               chirp_account *out);
/* Sets the non-NULL fields. */
int chirp_account_update(PGconn *pg, int64_t id, const char *display_name, const char *bio,
                         const char *avatar_url);
/* Live accounts, newest first, ids below before (0: from the newest):
   *items a new JSON array of public accounts, *next the cursor id for the
   next page or 0. */
int chirp_account_list(PGconn *pg, int64_t before, int limit, json_t **items, int64_t *next);

/* Checks the password of live account id (NULL: no check) and locks its
   row for the caller's open transaction: 0, CHIRP_EUNAUTHORIZED (wrong
   password) or CHIRP_ENOTFOUND (no such live account). */
int chirp_account_password_check(PGconn *pg, int64_t id, const char *password);
/* Deletes account id (idempotent): sets deleted_at to at_ms, scrubs its
   personal fields, deletes its sessions.  *hashes is a new array of the
   deleted sessions' token hashes (chirp_session_hashes_free), *n of them,
   for chirp_account_forget_sessions.  Meant to run in a transaction. */
int chirp_account_mark_deleted(PGconn *pg, int64_t id, int64_t at_ms, char ***hashes, size_t *n);
void chirp_session_hashes_free(char **hashes, size_t n);
/* Drops the Redis entries of those sessions and the cached account, in
   one round trip.  CHIRP_EUNAVAILABLE when Redis is down (r NULL). */
int chirp_account_forget_sessions(redisContext *r, int64_t id, char *const *hashes, size_t n);

/* Seconds a cached account lives: short, because its counts move with
   every follow, and a reader refilling from a row read just before a
   follow committed would otherwise keep the old count for long. */
#define CHIRP_ACCOUNT_CACHE_TTL_S 60

/* Forgets the cached JSON of an account. */
void chirp_account_cache_forget(redisContext *r, int64_t id);

/* Creates a session for account_id valid ttl_s seconds; token gets the
   bearer token (CHIRP_TOKEN_BUFSZ bytes). */
int chirp_session_create(PGconn *pg, int64_t account_id, int ttl_s, char *token);
/* Resolves a bearer token: Redis first (r may be NULL when Redis is down),
   then PostgreSQL, refilling Redis.  CHIRP_EUNAUTHORIZED for an unknown or
   expired token. */
int chirp_session_lookup(redisContext *r, PGconn *pg, const char *token, int cache_ttl_s,
                         int64_t *account_id);
int chirp_session_delete(redisContext *r, PGconn *pg, const char *token);

#endif
