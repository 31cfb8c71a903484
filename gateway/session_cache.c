/* session_cache.c — bearer tokens held in the gateway, see session_cache.h. */
#include "session_cache.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_id.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "lcache.h"

/* The value Redis keeps for a token that matches no session (chirp_account.c). */
#define UNKNOWN_TOKEN "-"

static int well_formed(const char *token) {
  if (strlen(token) != CHIRP_TOKEN_CHARS) return 0;
  for (const char *p = token; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

/* Answers from the entry's text ("id" or UNKNOWN_TOKEN). */
static int answer(const char *v, int64_t *account_id) {
  if (chirp_id_parse(v, account_id) == 0) return 0;
  if (strcmp(v, UNKNOWN_TOKEN) == 0) return CHIRP_EUNAUTHORIZED;
  return CHIRP_ENOTFOUND;
}

/* The Redis key of token's session entry.  The last token's key is kept
   per thread (a keep-alive connection stays on its thread, so a busy
   client's next request usually finds it): only a digest, no answer. */
static char *key_of(const char *token, char key[CHIRP_KEY_BUFSZ]) {
  static _Thread_local char last_token[CHIRP_TOKEN_CHARS + 1];
  static _Thread_local char last_key[CHIRP_KEY_BUFSZ];
  size_t n = strlen(token);
  if (n == CHIRP_TOKEN_CHARS && last_key[0] && memcmp(token, last_token, n) == 0) {
    memcpy(key, last_key, CHIRP_KEY_BUFSZ);
    return key;
  }
  unsigned char h[crypto_hash_sha256_BYTES];
  char hex[CHIRP_TOKEN_HASH_BUFSZ];
  crypto_hash_sha256(h, (const unsigned char *)token, n);
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  chirp_key_session(key, hex);
  if (n == CHIRP_TOKEN_CHARS) {
    memcpy(last_token, token, n + 1);
    memcpy(last_key, key, CHIRP_KEY_BUFSZ);
  }
  return key;
}

void gw_session_forget(const char *token) {
  char key[CHIRP_KEY_BUFSZ];
  gw_lcache_drop(key_of(token, key));
}

int gw_session_cached(redisContext *r, const char *token, int64_t *account_id) {
  if (!well_formed(token)) return CHIRP_EUNAUTHORIZED;
  char key[CHIRP_KEY_BUFSZ];
  key_of(token, key);
  size_t len;
  char v[CHIRP_ID_STRSZ + 8];
  if (gw_lcache_get_into(key, v, sizeof v, &len)) return answer(v, account_id);
  if (!r) return CHIRP_EUNAVAILABLE;
  /* The entry and its time to live in one round trip: the local copy must
     not outlive a session's expiry (Redis expires keys lazily, and an
     expired key is only announced once Redis notices). */
  gw_lc_ticket t;
  gw_lcache_track(r);
  gw_lcache_ticket(key, &t);
  redisReply *got = NULL, *ttl = NULL;
  if (chirp_redis_append(r, "GET %s", key) || chirp_redis_append(r, "PTTL %s", key) ||
      chirp_redis_read(r, &got) || chirp_redis_read(r, &ttl)) {
    if (got) freeReplyObject(got);
    if (chirp_redis_pending(r)) chirp_redis_abandon(r, "session read failed midway");
    return CHIRP_EUNAVAILABLE;
  }
  int rc = CHIRP_ENOTFOUND;
  if (got->type == REDIS_REPLY_STRING) {
    rc = answer(got->str, account_id);
    if (rc != CHIRP_ENOTFOUND && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0)
      (void)gw_lcache_put(key, got->str, got->len, chirp_time_now_ms() + ttl->integer, &t);
  } else if (got->type == REDIS_REPLY_ERROR) {
    rc = CHIRP_EUNAVAILABLE;
  }
  freeReplyObject(got);
  freeReplyObject(ttl);
  return rc;
}
