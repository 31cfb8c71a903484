/* guard.c — rate limits and Idempotency-Key, see guard.h. */
#include "guard.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_id.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_num.h"
#include "chirp_redis.h"
#include "chirp_time.h"
#include "gw.h"

#define IDEM_TTL_S 86400
#define IDEM_LEASE_S 60 /* a key whose first request never finished frees itself */
#define IDEM_MAX_KEY 255

/* The client: the account for token holders, else the address. */
static void client_of(const gw_req *req, char *buf, size_t n) {
  if (req->account_id) { /* "a:%lld", without snprintf's cost on every request */
    memcpy(buf, "a:", 2);
    chirp_num_format(req->account_id, buf + 2);
    return;
  }
  const char *xff = gw.cfg.trust_forwarded ? u_map_get_case(req->u->map_header, "X-Forwarded-For") : NULL;
  if (xff && *xff) {
    /* The last entry: the one our proxy appended.  Earlier ones are
       whatever the client chose to send. */
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ') last++;
    size_t len = strcspn(last, " ");
    snprintf(buf, n, "ip:%.*s", (int)(len < 64 ? len : 64), last);
    return;
  }
  char ip[INET6_ADDRSTRLEN] = "?";
  const struct sockaddr *sa = req->u->client_address;
  if (sa && sa->sa_family == AF_INET) { /* what inet_ntop writes: a.b.c.d */
    const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    memcpy(buf, "ip:", 3);
    size_t k = 3;
    for (int i = 0; i < 4; i++) {
      if (i) buf[k++] = '.';
      k += chirp_num_format(b[i], buf + k);
    }
    return;
  }
  if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
  snprintf(buf, n, "ip:%s", ip);
}

/* KEYS[1] the window's counter; ARGV[1] its TTL, ARGV[2] how many
   requests to take.  Returns the counter after taking them. */
static chirp_lua rate_script = CHIRP_LUA(
    "local n = redis.call('INCRBY', KEYS[1], ARGV[2]) "
    "if n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n");

/* Leases: a gateway takes a busy client's budget from Redis a slice at a
   time (1/50 of it, at least 1, at most MAX_SLICE) and hands it out locally, so a client at
   full speed costs Redis one round trip per slice, not one per request.
   The shared counter still bounds every client across all gateways: each
   gateway can leave at most a slice unused at the end of a window, never
   let more through than the budget.  Budgets under 100 are exact (slice 1). */
#define LEASE_SLOTS 1024
#define MAX_SLICE 100
struct lease {
  char key[192];
  long long upto; /* the lease covers counter values up to here */
  long long next; /* the next value to hand out */
};
static struct lease leases[LEASE_SLOTS];
static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *key) {
  size_t h = 5381;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = h * 33 + *p;
  return h % LEASE_SLOTS;
}

/* The request's position in the window's shared count: from a lease when
   one is left, else by taking a new slice from Redis.  -1 when Redis fails. */
static long long take(const char *key, const char *ttl, int slice) {
  struct lease *l = &leases[slot_of(key)];
  if (slice > 1) {
    pthread_mutex_lock(&lease_lock);
    long long n = -1;
    if (strcmp(l->key, key) == 0 && l->next <= l->upto) n = l->next++;
    pthread_mutex_unlock(&lease_lock);
    if (n > 0) return n;
  }
  char take_n[16];
  snprintf(take_n, sizeof take_n, "%d", slice);
  const char *argv[] = {key, ttl, take_n};
  redisContext *r = gw_redis();
  redisReply *rr = r ? chirp_redis_eval(r, &rate_script, 1, 3, argv, NULL) : NULL;
  long long upto = rr && rr->type == REDIS_REPLY_INTEGER ? rr->integer : -1;
  if (rr) freeReplyObject(rr);
  if (upto < 0) return -1;
  long long first = upto - slice + 1;
  if (slice > 1) {
    pthread_mutex_lock(&lease_lock);
    snprintf(l->key, sizeof l->key, "%s", key);
    l->upto = upto;
    l->next = first + 1;
    pthread_mutex_unlock(&lease_lock);
  }
  return first;
}

/* Requests let through unchecked because Redis could not be asked, and
   the last time that was logged (a warning at most every FAIL_OPEN_LOG_MS,
   with the number let through meanwhile: an outage must not become a
   warning per request). */
#define FAIL_OPEN_LOG_MS 10000
static _Atomic unsigned long long fail_open_total;
static _Atomic long long fail_open_logged_ms;
static _Atomic unsigned long long fail_open_logged_total;

unsigned long long gw_guard_rate_fail_open(void) { return fail_open_total; }

static void fail_open(const char *cls) {
  unsigned long long n = ++fail_open_total;
  long long now = chirp_time_now_ms(), last = fail_open_logged_ms;
  if (now - last < FAIL_OPEN_LOG_MS || !atomic_compare_exchange_strong(&fail_open_logged_ms, &last, now))
    return;
  unsigned long long before = atomic_exchange(&fail_open_logged_total, n);
  chirp_warn("rate limiter: Redis unreachable, letting %s requests through unchecked "
             "(%llu since the last warning, %llu in all)",
             cls, n - before, n);
}

int gw_guard_rate(const gw_route *route, const gw_req *req, gw_reply *rep) {
  if (strncmp(req->u->url_path, "/api/", 5) != 0) return 0; /* health checks and metrics */
  const char *cls;
  int limit;
  if (route->flags & GW_LOGIN) {
    cls = "login";
    limit = gw.cfg.rate_login;
  } else if (strcmp(req->u->http_verb, "GET") == 0) {
    cls = "read";
    limit = gw.cfg.rate_read;
  } else {
    cls = "write";
    limit = gw.cfg.rate_write;
  }
  int64_t now_s = chirp_time_now_ms() / 1000, w = gw.cfg.rate_window_s;
  char who[96], key[192], ttl[CHIRP_NUM_STRSZ];
  client_of(req, who, sizeof who);
  chirp_key_rate(key, who, cls, now_s / w);
  chirp_num_format((long long)w + 1, ttl);
  /* Capped: every gateway process may strand up to a slice per window
     (seen with many short-lived gateways in the tests burning a budget of
     10 000 000 in 200 000-request slices). */
  int slice = limit >= 100 ? limit / 50 : 1;
  if (slice > MAX_SLICE) slice = MAX_SLICE;
  long long n = take(key, ttl, slice);
  if (n < 0) { /* Redis down: fail open, counted and logged */
    fail_open(cls);
    return 0;
  }
  rep->rl_limit = limit;
  rep->rl_remaining = n >= limit ? 0 : (int)(limit - n);
  rep->rl_reset = (int)(w - now_s % w);
  if (n <= limit) return 0;
  gw_reply_error(rep, CHIRP_ERATELIMIT, NULL, NULL, "over the %s budget of %d per %lld s", cls,
                 limit, (long long)w);
  rep->retry_after = rep->rl_reset;
  return -1;
}

/* The record of a key, a hash: st (pending, unsure, done), h (the request's
   fingerprint), s and b (the stored answer), ids (those the first attempt
   took, stored before it published) and lease (until when, in ms, a pending
   attempt that stored ids is presumed alive).
   KEYS[1] record; ARGV[1] fingerprint, ARGV[2] lease seconds, ARGV[3] now ms.
   A pending attempt past its lease (its gateway died mid-publish) and an
   ambiguous one (unsure) are taken over by the retry, with their ids. */
static chirp_lua idem_script = CHIRP_LUA(
    "local st = redis.call('HGET', KEYS[1], 'st') "
    "if not st then "
    "  redis.call('HSET', KEYS[1], 'st', 'pending', 'h', ARGV[1]) "
    "  redis.call('EXPIRE', KEYS[1], ARGV[2]) return {'new'} end "
    "if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return {'mismatch'} end "
    "if st == 'pending' then "
    "  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease') or '0') "
    "  if lease == 0 or lease > tonumber(ARGV[3]) then return {'pending'} end "
    "  st = 'unsure' end "
    "if st == 'unsure' then "
    "  redis.call('HSET', KEYS[1], 'st', 'pending', 'lease', "
    "             tonumber(ARGV[3]) + 1000 * tonumber(ARGV[2])) "
    "  return {'retry', redis.call('HGET', KEYS[1], 'ids') or ''} end "
    "return {'done', redis.call('HGET', KEYS[1], 's'), redis.call('HGET', KEYS[1], 'b')}");

/* KEYS[1] record; ARGV[1] ids, ARGV[2] lease until (ms), ARGV[3] TTL.
   0 when the record is gone (the attempt outlived its lease). */
static chirp_lua idem_save_script = CHIRP_LUA(
    "if redis.call('HGET', KEYS[1], 'st') ~= 'pending' then return 0 end "
    "redis.call('HSET', KEYS[1], 'ids', ARGV[1], 'lease', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1");

/* The request being served by this thread, when it has a key. */
static _Thread_local gw_idem *cur_idem;

int64_t gw_idem_next_id(void) {
  gw_idem *i = cur_idem;
  int64_t id = i && i->n_ids < i->n_replay ? i->replay[i->n_ids] : chirp_idgen_next(&gw.ids);
  if (i && i->n_ids < GW_IDEM_MAX_IDS) i->ids[i->n_ids++] = id;
  return id;
}

int gw_idem_before_publish(void) {
  gw_idem *i = cur_idem;
  if (!i || !i->key[0]) return 0;
  char ids[GW_IDEM_MAX_IDS * 21 + 1] = "", lease[24], ttl[16];
  size_t off = 0;
  for (size_t k = 0; k < i->n_ids; k++)
    off += (size_t)snprintf(ids + off, sizeof ids - off, "%s%lld", k ? "," : "",
                            (long long)i->ids[k]);
  snprintf(lease, sizeof lease, "%lld", (long long)(chirp_time_now_ms() + IDEM_LEASE_S * 1000LL));
  snprintf(ttl, sizeof ttl, "%d", IDEM_TTL_S);
  const char *argv[] = {i->key, ids, lease, ttl};
  redisContext *r = gw_redis();
  redisReply *rr = r ? chirp_redis_eval(r, &idem_save_script, 1, 4, argv, NULL) : NULL;
  int ok = rr && rr->type == REDIS_REPLY_INTEGER && rr->integer == 1;
  if (rr) freeReplyObject(rr);
  if (!ok) {
    chirp_warn("cannot store the ids of an Idempotency-Key request; not publishing");
    return CHIRP_EUNAVAILABLE;
  }
  i->saved = 1;
  return 0;
}

/* The first attempt's ids, "id,id,..." into idem->replay. */
static void parse_replay(gw_idem *idem, const char *s) {
  idem->n_replay = 0;
  while (s && *s && idem->n_replay < GW_IDEM_MAX_IDS) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s) break;
    idem->replay[idem->n_replay++] = v;
    s = *end == ',' ? end + 1 : end;
  }
}

/* A stored sign-up or log-in answer holds no token (guard.h): the replay
   answers the stored account with a fresh session.  0, or -1 with rep set
   to the error. */
static int replay_session(gw_reply *rep) {
  json_t *j = json_loadb(rep->raw, rep->raw_len, 0, NULL);
  int64_t account = 0;
  const char *id = json_string_value(json_object_get(json_object_get(j, "account"), "id"));
  if (!id || chirp_id_parse(id, &account) != 0) {
    json_decref(j);
    return 0; /* not a session answer: as stored */
  }
  char token[CHIRP_TOKEN_BUFSZ];
  PGconn *pg = gw_pg();
  int rc = pg ? chirp_session_create(pg, account, gw.cfg.session_ttl_s, token) : CHIRP_EUNAVAILABLE;
  char *out = NULL;
  if (!rc) {
    json_object_set_new(j, "token", json_string(token));
    out = json_dumps(j, JSON_COMPACT);
    sodium_memzero(token, sizeof token);
  }
  json_decref(j);
  free(rep->raw);
  rep->raw = NULL;
  rep->raw_len = 0;
  rep->replayed = 0;
  if (!out) {
    gw_reply_from_err(rep, rc ? rc : CHIRP_ENOMEM);
    return -1;
  }
  rep->raw = out;
  rep->raw_len = strlen(out);
  rep->replayed = 1;
  return 0;
}

static void sha256_hex(const void *data, size_t len, char hex[65]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, data, len);
  sodium_bin2hex(hex, 65, h, sizeof h);
}

/* The fingerprint of a request: its method, path and body, as hex.  The
   body of a log-in or sign-up holds a password, so there the fingerprint is
   argon2id (salted by the key, as costly as the stored password hashes):
   the record in Redis must not be a fast way to guess the password. */
static int fingerprint(const gw_route *route, const gw_req *req, int secret, const char *khex,
                       char fp[65]) {
  crypto_hash_sha256_state st;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const unsigned char *)route->method, strlen(route->method));
  crypto_hash_sha256_update(&st, (const unsigned char *)req->u->url_path, strlen(req->u->url_path) + 1);
  if (req->u->binary_body)
    crypto_hash_sha256_update(&st, req->u->binary_body, req->u->binary_body_length);
  crypto_hash_sha256_final(&st, h);
  if (secret) {
    unsigned char salt[crypto_pwhash_SALTBYTES];
    crypto_hash_sha256_state ss;
    unsigned char sh[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&ss);
    crypto_hash_sha256_update(&ss, (const unsigned char *)"chirp idem ", 11);
    crypto_hash_sha256_update(&ss, (const unsigned char *)khex, strlen(khex));
    crypto_hash_sha256_final(&ss, sh);
    memcpy(salt, sh, sizeof salt);
    int min = gw.cfg.pwhash_min;
    unsigned char body[sizeof h];
    memcpy(body, h, sizeof body);
    if (crypto_pwhash(h, sizeof h, (const char *)body, sizeof body, salt,
                      min ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
                      min ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
      return -1;
  }
  sodium_bin2hex(fp, 65, h, sizeof h);
  return 0;
}

int gw_guard_idem_begin(const gw_route *route, const gw_req *req, gw_reply *rep, gw_idem *idem) {
  cur_idem = NULL;
  idem->key[0] = '\0';
  idem->secret = (route->flags & GW_LOGIN) != 0;
  idem->saved = 0;
  idem->n_ids = idem->n_replay = 0;
  const char *k = u_map_get_case(req->u->map_header, "Idempotency-Key");
  if (!k || strcmp(route->method, "GET") == 0) return 0;
  size_t kl = strlen(k);
  if (kl == 0 || kl > IDEM_MAX_KEY) {
    gw_reply_error(rep, CHIRP_EINVAL, "invalid_format", "Idempotency-Key",
                   "Idempotency-Key must be 1-%d characters", IDEM_MAX_KEY);
    return -1;
  }
  char who[96], khex[65], fp[65];
  client_of(req, who, sizeof who);
  sha256_hex(k, kl, khex);
  if (fingerprint(route, req, idem->secret, khex, fp)) {
    idem->key[0] = '\0';
    gw_reply_error(rep, CHIRP_ENOMEM, NULL, NULL, "out of memory");
    return -1;
  }
  snprintf(idem->key, sizeof idem->key, "chirp:idem:{%s}:%.64s", who, khex);

  char lease[16], now[24];
  snprintf(lease, sizeof lease, "%d", IDEM_LEASE_S);
  snprintf(now, sizeof now, "%lld", (long long)chirp_time_now_ms());
  const char *argv[] = {idem->key, fp, lease, now};
  redisContext *r = gw_redis();
  redisReply *rr = r ? chirp_redis_eval(r, &idem_script, 1, 4, argv, NULL) : NULL;
  if (!rr || rr->type != REDIS_REPLY_ARRAY || rr->elements < 1 ||
      rr->element[0]->type != REDIS_REPLY_STRING) {
    if (rr) freeReplyObject(rr);
    idem->key[0] = '\0';
    gw_reply_error(rep, CHIRP_EUNAVAILABLE, NULL, NULL,
                   "cannot honour Idempotency-Key now; retry shortly");
    return -1;
  }
  const char *what = rr->element[0]->str;
  int rc = -1;
  if (strcmp(what, "new") == 0) {
    rc = 0;
  } else if (strcmp(what, "retry") == 0) {
    /* The first attempt's publish was ambiguous: run again with its ids. */
    parse_replay(idem, rr->elements == 2 && rr->element[1]->type == REDIS_REPLY_STRING
                           ? rr->element[1]->str
                           : NULL);
    rc = 0;
  } else if (strcmp(what, "mismatch") == 0) {
    gw_reply_error(rep, CHIRP_EINVAL, "idempotency_key_reused", "Idempotency-Key",
                   "this Idempotency-Key was used for a different request");
  } else if (strcmp(what, "pending") == 0) {
    gw_reply_error(rep, CHIRP_ECONFLICT, "idempotency_in_progress", "Idempotency-Key",
                   "the first request with this Idempotency-Key is still running");
    rep->retry_after = 1;
  } else if (rr->elements == 3 && rr->element[1]->type == REDIS_REPLY_STRING &&
             rr->element[2]->type == REDIS_REPLY_STRING) {
    rep->status = atoi(rr->element[1]->str);
    rep->raw_len = rr->element[2]->len;
    rep->raw = malloc(rep->raw_len + 1);
    if (rep->raw) {
      memcpy(rep->raw, rr->element[2]->str, rep->raw_len);
      rep->raw[rep->raw_len] = '\0';
    }
    if (!rep->raw) rep->status = 500;
    rep->replayed = 1;
    if (rep->raw && idem->secret && rep->status == 201) (void)replay_session(rep);
  }
  if (rc)
    idem->key[0] = '\0'; /* nothing of ours to finish */
  else
    cur_idem = idem;
  freeReplyObject(rr);
  return rc;
}

/* The answer to store: a sign-up or log-in answer without its token (a
   new string the caller frees), else NULL (store body as it is). */
static char *without_token(const gw_idem *idem, const char *body, size_t len, size_t *out_len) {
  if (!idem->secret || !body) return NULL;
  json_t *j = json_loadb(body, len, 0, NULL);
  if (!j || !json_object_get(j, "token")) {
    json_decref(j);
    return NULL;
  }
  json_object_del(j, "token");
  char *out = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  *out_len = out ? strlen(out) : 0;
  return out ? out : strdup("{}");
}

void gw_guard_idem_end(gw_idem *idem, int status, const char *body, size_t len) {
  cur_idem = NULL;
  if (!idem->key[0]) return;
  redisContext *r = gw_redis();
  if (!r) return; /* the lease runs out by itself */
  redisReply *rr;
  int keep = status < 500 || idem->saved;
  if (status >= 500 && !idem->saved) {
    rr = redisCommand(r, "DEL %s", idem->key); /* nothing was sent: start afresh */
  } else if (status >= 500) {
    /* Ambiguous: the event may still be delivered.  Keep the key and its
       ids, so that a retry republishes the same event. */
    rr = redisCommand(r, "HSET %s st unsure", idem->key);
  } else {
    size_t slen = len;
    char *stripped = without_token(idem, body, len, &slen);
    const char *b = stripped ? stripped : body ? body : "";
    rr = redisCommand(r, "HSET %s st done s %d b %b", idem->key, status, b,
                      stripped || body ? slen : (size_t)0);
    free(stripped);
  }
  if (rr) freeReplyObject(rr);
  if (keep) {
    rr = redisCommand(r, "EXPIRE %s %d", idem->key, IDEM_TTL_S);
    if (rr) freeReplyObject(rr);
  }
}
