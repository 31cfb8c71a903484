/* hidden.c — the accounts hidden from a viewer, see hidden.h. */
#include "hidden.h"

#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "gw.h"
#include "lcache.h"

static int by_id(const void *a, const void *b) {
  int64_t x = ((const gw_hidden_entry *)a)->id, y = ((const gw_hidden_entry *)b)->id;
  return x < y ? -1 : x > y;
}

/* "h,<id>:<flags>,..." (chirp_block.h) into h. */
static int parse(const char *s, size_t len, gw_hidden *h) {
  size_t cap = 0;
  for (size_t i = 0; i < len; i++) cap += s[i] == ',';
  h->e = malloc((cap ? cap : 1) * sizeof *h->e);
  h->n = 0;
  if (!h->e) return CHIRP_ENOMEM;
  const char *p = s, *end = s + len;
  while (p < end && (p = memchr(p, ',', (size_t)(end - p)))) {
    char *q;
    long long id = strtoll(p + 1, &q, 10);
    unsigned long f = *q == ':' ? strtoul(q + 1, &q, 10) : 0;
    if (id > 0 && f) h->e[h->n++] = (gw_hidden_entry){(int64_t)id, (uint32_t)f, 0};
    p = q;
  }
  qsort(h->e, h->n, sizeof *h->e, by_id);
  return 0;
}

int gw_hidden_load(int64_t viewer, gw_hidden *h) {
  h->e = NULL;
  h->n = 0;
  if (viewer <= 0) return 0;
  char key[CHIRP_KEY_BUFSZ];
  chirp_key_hidden(key, viewer);
  size_t len = 0;
  void *held = gw_lcache_get(key, &len);
  if (held) { /* the common case: no round trip */
    h->n = len / sizeof *h->e;
    h->e = held;
    return 0;
  }
  redisContext *r = gw_redis();
  if (r) {
    gw_lc_ticket t;
    gw_lcache_track(r);
    gw_lcache_ticket(key, &t);
    redisReply *rep = chirp_redis_command(r, "HGET %s j", key);
    int failed = chirp_redis_reply_failed(r, rep);
    int rc = failed || rep->type != REDIS_REPLY_STRING ? -1 : parse(rep->str, rep->len, h);
    if (rep) freeReplyObject(rep);
    if (rc == 0) {
      (void)gw_lcache_put(key, h->e, h->n * sizeof *h->e, 0, &t);
      return 0;
    }
    if (rc == CHIRP_ENOMEM) return rc;
    if (failed) r = NULL;
  }
  /* Lost (or Redis down): from PostgreSQL, written back. */
  PGconn *pg = gw_pg();
  if (!pg) return CHIRP_EUNAVAILABLE;
  if (r && r->err) r = NULL;
  char *text = NULL;
  int rc = chirp_block_hidden_refresh(r, pg, viewer, &text);
  if (rc == CHIRP_EUNAVAILABLE && r) /* Redis failed the write-back: the read holds */
    rc = chirp_block_hidden_refresh(NULL, pg, viewer, &text);
  if (!rc) rc = parse(text, strlen(text), h);
  free(text);
  return rc;
}

void gw_hidden_cleanup(gw_hidden *h) {
  free(h->e);
  h->e = NULL;
  h->n = 0;
}

unsigned gw_hidden_flags(const gw_hidden *h, int64_t id) {
  size_t lo = 0, hi = h->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (h->e[mid].id == id) return h->e[mid].flags;
    if (h->e[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

int gw_hidden_any(const gw_hidden *h, const int64_t *ids, size_t n, unsigned mask) {
  if (h->n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (ids[i] && (gw_hidden_flags(h, ids[i]) & mask)) return 1;
  return 0;
}

/* flags corrected by the blocks and unblocks between viewer and other
   still in flight (published, not applied yet): both pending keys in one
   pipelined round trip; Redis failing leaves flags as they are. */
static unsigned with_pending(int64_t viewer, int64_t other, unsigned flags) {
  redisContext *r = gw_redis();
  if (!r) return flags;
  char key[CHIRP_KEY_BUFSZ];
  redisReply *a = NULL, *b = NULL;
  int ok = chirp_redis_append(r, "GET %s", chirp_key_block_pending(key, CHIRP_BLOCK, viewer, other)) == 0 &&
           chirp_redis_append(r, "GET %s", chirp_key_block_pending(key, CHIRP_BLOCK, other, viewer)) == 0 &&
           chirp_redis_read(r, &a) == 0 && chirp_redis_read(r, &b) == 0;
  if (!ok && chirp_redis_pending(r)) chirp_redis_abandon(r, "pending blocks read failed midway");
  const unsigned bits[2] = {CHIRP_HIDDEN_BLOCKING, CHIRP_HIDDEN_BLOCKED_BY};
  redisReply *rr[2] = {a, b};
  for (int k = 0; ok && k < 2; k++)
    if (rr[k]->type == REDIS_REPLY_STRING && rr[k]->len == 1)
      flags = rr[k]->str[0] == '1' ? flags | bits[k] : flags & ~bits[k];
  if (a) freeReplyObject(a);
  if (b) freeReplyObject(b);
  return flags;
}

int gw_hidden_refuse(const gw_req *req, gw_reply *rep, int64_t other, const char *field) {
  gw_hidden h;
  int rc = gw_hidden_load(req->account_id, &h);
  if (rc) {
    gw_reply_from_err(rep, rc);
    return -1;
  }
  unsigned f = gw_hidden_flags(&h, other);
  gw_hidden_cleanup(&h);
  f = with_pending(req->account_id, other, f);
  if (!(f & CHIRP_HIDDEN_BLOCKS)) return 0;
  gw_reply_error(rep, CHIRP_EFORBIDDEN, "blocked", field,
                 f & CHIRP_HIDDEN_BLOCKING ? "you block this account: unblock it first"
                                           : "this account blocks you");
  return -1;
}
