/* stats_marks.c — reply_count and bookmarked_by_me, see stats_marks.h. */
#include "stats_marks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_bookmark.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "gw.h"
#include "lcache.h"

/* A counter recounted from PostgreSQL lives this long, so a recount that
   raced a new reply heals by itself. */
#define REPLY_COUNT_TTL_S 3600

/* The viewer's flags held in the local cache (lcache.h) under the key of
   their bookmark hash, so that a page read again costs no round trip:
   the last BM_LOCAL tweets asked and whether each is bookmarked.  Any
   change of the hash drops it (Redis's invalidation; the writer's own
   gateway at once).  Held only once the keys are known to be built. */
#define BM_LOCAL 64
struct bm_local {
  int n, next;
  int64_t id[BM_LOCAL];
  char on[BM_LOCAL];
};

/* The flag of tweet in l: 0/1, or -1 not held. */
static int local_flag(const struct bm_local *l, int64_t tweet) {
  for (int k = 0; k < l->n; k++)
    if (l->id[k] == tweet) return l->on[k];
  return -1;
}

/* What gw_marks_append sent, for gw_marks_read (same thread, back to back). */
struct mplan {
  size_t n;
  int asked_bookmarks, read, any, unbuilt, has_local;
  struct bm_local local_bm;
  gw_lc_ticket t_bm;
  int *need;           /* the counter was not in Redis: recount */
  long long *local;    /* the reply count held here, or -1: asked Redis */
  gw_lc_ticket *tickets;
};
static _Thread_local struct mplan mp;

static void plan_free(void) {
  free(mp.local);
  free(mp.tickets);
  free(mp.need);
  memset(&mp, 0, sizeof mp);
}

/* HMGET of the viewer's bookmark hash for ids, appended. */
static int append_hmget(redisContext *r, const int64_t *ids, size_t n, int64_t viewer) {
  const char **argv = malloc((n + 2) * sizeof *argv);
  char *digits = malloc(n * 24 + 1), key[CHIRP_KEY_BUFSZ];
  int rc = argv && digits ? 0 : CHIRP_ENOMEM;
  if (!rc) {
    argv[0] = "HMGET";
    argv[1] = chirp_key_bookmarks(key, viewer);
    for (size_t i = 0; i < n; i++) {
      snprintf(digits + i * 24, 24, "%lld", (long long)ids[i]);
      argv[i + 2] = digits + i * 24;
    }
    rc = chirp_redis_append_argv(r, (int)(n + 2), argv, NULL) ? CHIRP_EUNAVAILABLE : 0;
  }
  free(argv);
  free(digits);
  return rc;
}

int gw_marks_append(redisContext *r, const int64_t *ids, size_t n, int64_t viewer) {
  plan_free();
  mp.n = n;
  mp.local = malloc((n ? n : 1) * sizeof *mp.local);
  mp.tickets = calloc(n ? n : 1, sizeof *mp.tickets);
  if (!mp.local || !mp.tickets) goto fail;
  char k[CHIRP_KEY_BUFSZ], v[32];
  for (size_t i = 0; i < n; i++) {
    size_t len;
    if (gw_lcache_get_into(chirp_key_reply_count(k, ids[i]), v, sizeof v, &len)) {
      mp.local[i] = strtoll(v, NULL, 10);
      continue;
    }
    mp.local[i] = -1;
    gw_lcache_ticket(k, &mp.tickets[i]);
    if (chirp_redis_append(r, "GET %s", k)) goto fail;
  }
  if (viewer && n) {
    char lb[sizeof(struct bm_local) + 1];
    size_t len;
    mp.has_local = gw_lcache_get_into(chirp_key_bookmarks(k, viewer), lb, sizeof lb, &len) &&
                   len == sizeof(struct bm_local);
    if (mp.has_local) memcpy(&mp.local_bm, lb, sizeof mp.local_bm);
    int all = mp.has_local;
    for (size_t i = 0; all && i < n; i++) all = local_flag(&mp.local_bm, ids[i]) >= 0;
    if (!all) {
      mp.asked_bookmarks = 1;
      gw_lcache_ticket(k, &mp.t_bm);
      if (chirp_redis_append(r, "EXISTS %s", chirp_key_bookmarks_ok(k, viewer)) ||
          append_hmget(r, ids, n, viewer))
        goto fail;
    }
  }
  return 0;
fail:
  plan_free();
  chirp_redis_abandon(r, "the thread numbers failed to queue");
  return CHIRP_EUNAVAILABLE;
}

/* The live replies of each of ids[0..n) with need[i] set, in ONE
   statement, into out[i]; written back to Redis. */
static int recount(redisContext *r, const int64_t *ids, size_t n, const int *need,
                   gw_mark_stats *out) {
  int64_t *want = malloc((n ? n : 1) * sizeof *want);
  size_t nw = 0;
  if (!want) return CHIRP_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (need[i]) want[nw++] = ids[i];
  char *arr = chirp_pg_id_array(want, nw);
  free(want);
  if (!arr) return CHIRP_ENOMEM;
  PGconn *pg = gw_pg();
  const char *p[] = {arr};
  PGresult *res = NULL;
  int rc = pg ? chirp_pg_exec(pg,
                              "SELECT p, (SELECT count(*) FROM tweets t WHERE t.reply_to = p "
                              "AND t.deleted_at IS NULL) FROM unnest($1::bigint[]) AS p",
                              1, p, &res)
              : CHIRP_EUNAVAILABLE;
  free(arr);
  if (rc) return rc;
  char k[CHIRP_KEY_BUFSZ];
  for (int row = 0; row < PQntuples(res); row++) {
    int64_t id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    long long c = strtoll(PQgetvalue(res, row, 1), NULL, 10);
    for (size_t i = 0; i < n; i++)
      if (need[i] && ids[i] == id) out[i].replies = c;
    redisReply *w = chirp_redis_command(r, "SET %s %lld NX EX %d", chirp_key_reply_count(k, id), c,
                                        REPLY_COUNT_TTL_S);
    if (w) freeReplyObject(w);
  }
  PQclear(res);
  return 0;
}

/* bookmarked_by_me from an HMGET reply. */
static void read_bookmarks(const redisReply *h, size_t n, gw_mark_stats *out) {
  for (size_t i = 0; i < n; i++)
    out[i].bookmarked_by_me = h && h->type == REDIS_REPLY_ARRAY && i < h->elements &&
                              h->element[i]->type == REDIS_REPLY_STRING &&
                              h->element[i]->len > 0 && h->element[i]->str[0] == '+';
}

int gw_marks_read(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                  gw_mark_stats *out) {
  if (mp.n != n || (n && !mp.local)) {
    chirp_error("marks: read without its append (a bug)");
    plan_free();
    return CHIRP_EINTERNAL;
  }
  char k[CHIRP_KEY_BUFSZ];
  mp.need = calloc(n ? n : 1, sizeof *mp.need);
  if (!mp.need) goto fail;
  for (size_t i = 0; i < n; i++) {
    out[i].replies = mp.local[i];
    out[i].bookmarked_by_me = 0;
    if (mp.local[i] >= 0) continue;
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) goto fail;
    if (rep->type == REDIS_REPLY_STRING) {
      out[i].replies = strtoll(rep->str, NULL, 10);
      (void)gw_lcache_put(chirp_key_reply_count(k, ids[i]), rep->str, rep->len, 0, &mp.tickets[i]);
    } else {
      mp.need[i] = 1;
      mp.any = 1;
    }
    freeReplyObject(rep);
  }
  if (mp.asked_bookmarks) {
    redisReply *ok = NULL, *hm = NULL;
    if (chirp_redis_read(r, &ok) || chirp_redis_read(r, &hm)) {
      if (ok) freeReplyObject(ok);
      goto fail;
    }
    mp.unbuilt = !(ok->type == REDIS_REPLY_INTEGER && ok->integer == 1);
    freeReplyObject(ok);
    read_bookmarks(hm, n, out);
    freeReplyObject(hm);
    if (!mp.unbuilt) { /* hold the answers for the next page */
      struct bm_local l = mp.has_local ? mp.local_bm : (struct bm_local){0};
      for (size_t i = 0; i < n; i++) {
        int k2 = 0;
        while (k2 < l.n && l.id[k2] != ids[i]) k2++;
        if (k2 == l.n) {
          if (l.n < BM_LOCAL) k2 = l.n++;
          else k2 = l.next, l.next = (l.next + 1) % BM_LOCAL;
        }
        l.id[k2] = ids[i];
        l.on[k2] = (char)out[i].bookmarked_by_me;
      }
      (void)gw_lcache_put(chirp_key_bookmarks(k, viewer), &l, sizeof l, 0, &mp.t_bm);
    }
  } else if (mp.has_local) {
    for (size_t i = 0; i < n; i++) out[i].bookmarked_by_me = local_flag(&mp.local_bm, ids[i]) == 1;
  }
  mp.read = 1;
  return 0;
fail:
  plan_free();
  if (chirp_redis_pending(r)) chirp_redis_abandon(r, "the thread numbers failed midway");
  return CHIRP_EUNAVAILABLE;
}

int gw_marks_finish(redisContext *r, const int64_t *ids, size_t n, int64_t viewer,
                    gw_mark_stats *out) {
  int rc = 0;
  if (!mp.read || mp.n != n) {
    chirp_error("marks: finish without its read (a bug)");
    plan_free();
    return CHIRP_EINTERNAL;
  }
  if (mp.any) rc = recount(r, ids, n, mp.need, out);
  if (!rc && mp.unbuilt) {
    redisReply *hm = NULL;
    rc = chirp_bookmark_ensure(r, gw_pg(), viewer);
    if (!rc && (append_hmget(r, ids, n, viewer) || chirp_redis_read(r, &hm)))
      rc = CHIRP_EUNAVAILABLE;
    if (!rc) read_bookmarks(hm, n, out);
    if (hm) freeReplyObject(hm);
  }
  plan_free();
  return rc;
}

int gw_marks_tail(char *buf, size_t cap, const gw_mark_stats *s) {
  int m = snprintf(buf, cap, ",\"reply_count\":%lld,\"bookmarked_by_me\":%s", s->replies,
                   s->bookmarked_by_me ? "true" : "false");
  return m < 0 || (size_t)m >= cap ? 0 : m;
}

int gw_marks_get(const int64_t *ids, size_t n, int64_t viewer, gw_mark_stats *out) {
  redisContext *r = gw_redis();
  if (!r) return CHIRP_EUNAVAILABLE;
  gw_lcache_track(r);
  int rc = gw_marks_append(r, ids, n, viewer);
  if (!rc) rc = gw_marks_read(r, ids, n, viewer, out);
  return rc ? rc : gw_marks_finish(r, ids, n, viewer, out);
}
