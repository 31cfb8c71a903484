/*
 * push_cost.c — Redis CPU per pushed feed entry (bench_push_cost.sh).
 *
 * A fixed workload through chirp_feed_push_many, the fan-out's own call:
 * M owners with full feeds (cap entries each), then rounds of B tweets
 * per call (a worker's batch) pushed to all M; `INFO commandstats` and
 * `INFO cpu` deltas around each phase, divided by the entries pushed.
 * The lists are refilled to the same state before each phase, so a run
 * does not drift.  Phases:
 *   new      tweets newer than every head (the common case)
 *   repeat   the same pushes again (a redelivered batch: nothing changes)
 *   late     ids below the head (a slower worker's tweets)
 *   repost   reposts, half of tweets in the top of the feeds (absorbed by
 *            the original), half of others (added)
 *
 *   push_cost REDIS_URL [owners=100] [tweets=200] [batch=20] [cap=800]
 * Uses keys of owners 7100000000000000000.. (deleted at the end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_feed.h"
#include "chirp_keys.h"
#include "chirp_redis.h"

#define BASE INT64_C(7100000000000000000)
#define ID0 INT64_C(500000000000000000)

typedef struct stats {
  double cpu_us;
  double usec[64];
  long long calls[64];
  char name[64][32];
  int n;
} stats;

static void snap(redisContext *r, stats *s) {
  memset(s, 0, sizeof *s);
  redisReply *rep = redisCommand(r, "INFO cpu");
  if (rep && rep->type == REDIS_REPLY_STRING) {
    const char *u = strstr(rep->str, "used_cpu_user:"), *y = strstr(rep->str, "used_cpu_sys:");
    if (u) s->cpu_us += atof(u + 14) * 1e6;
    if (y) s->cpu_us += atof(y + 13) * 1e6;
  }
  if (rep) freeReplyObject(rep);
  rep = redisCommand(r, "INFO commandstats");
  if (rep && rep->type == REDIS_REPLY_STRING) {
    for (char *p = strstr(rep->str, "cmdstat_"); p && s->n < 64; p = strstr(p + 1, "cmdstat_")) {
      char name[32];
      long long calls;
      double usec;
      if (sscanf(p, "cmdstat_%31[^:]:calls=%lld,usec=%lf", name, &calls, &usec) == 3) {
        snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
        s->calls[s->n] = calls;
        s->usec[s->n++] = usec;
      }
    }
  }
  if (rep) freeReplyObject(rep);
}

static int find(const stats *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->name[i], name) == 0) return i;
  return -1;
}

static void report(const char *phase, const stats *a, const stats *b, long entries) {
  double evalsha = 0, inner = 0;
  long long ecalls = 0, icalls = 0;
  char detail[512] = "";
  size_t dl = 0;
  for (int i = 0; i < b->n; i++) {
    int j = find(a, b->name[i]);
    double du = b->usec[i] - (j >= 0 ? a->usec[j] : 0);
    long long dc = b->calls[i] - (j >= 0 ? a->calls[j] : 0);
    if (dc <= 0 || strcmp(b->name[i], "info") == 0) continue;
    if (strcmp(b->name[i], "evalsha") == 0 || strcmp(b->name[i], "eval") == 0) {
      evalsha += du;
      ecalls += dc;
    } else {
      inner += du;
      icalls += dc;
      if (dl < sizeof detail - 64)
        dl += (size_t)snprintf(detail + dl, sizeof detail - dl, " %s=%.2f", b->name[i],
                               du / (double)entries);
    }
  }
  printf("%-7s entries %6ld  Redis CPU %6.2f us/entry  EVALSHA %6.2f us/entry (%lld calls)  "
         "commands %5.2f us/entry (%.2f per entry:%s)\n",
         phase, entries, (b->cpu_us - a->cpu_us) / (double)entries, evalsha / (double)entries,
         ecalls, inner / (double)entries, (double)icalls / (double)entries, detail);
}

/* Every owner's feed: cap entries, ids ID0 + 2*(cap-1) .. ID0 (even ids),
   newest first. */
static int refill(redisContext *r, int owners, int cap) {
  char k[CHIRP_KEY_BUFSZ];
  const char **argv = malloc((size_t)(cap + 2) * sizeof *argv);
  char(*ids)[24] = malloc((size_t)cap * sizeof *ids);
  if (!argv || !ids) return -1;
  for (int i = 0; i < cap; i++) snprintf(ids[i], 24, "%lld", (long long)(ID0 + 2 * (cap - 1 - i)));
  for (int o = 0; o < owners; o++) {
    chirp_key_feed(k, BASE + o);
    redisAppendCommand(r, "DEL %s", k);
    argv[0] = "RPUSH";
    argv[1] = k;
    for (int i = 0; i < cap; i++) argv[2 + i] = ids[i];
    redisAppendCommandArgv(r, cap + 2, argv, NULL);
  }
  int rc = 0;
  for (int i = 0; i < 2 * owners; i++) {
    redisReply *rep;
    if (redisGetReply(r, (void **)&rep) != REDIS_OK) return -1;
    if (rep->type == REDIS_REPLY_ERROR) rc = -1;
    freeReplyObject(rep);
  }
  free(argv);
  free(ids);
  return rc;
}

/* Pushes tweets id(t) for t in [0, tweets), batch per call, as entries
   (NULL: plain ids); returns the entries pushed. */
static long run(redisContext *r, const int64_t *owners, int nown, int tweets, int batch, int cap,
                int64_t (*id)(int, int), int repost) {
  chirp_feed_push_req *reqs = calloc((size_t)batch, sizeof *reqs);
  char(*ent)[CHIRP_FEED_ENTRY_BUFSZ] = calloc((size_t)batch, sizeof *ent);
  long pushed = 0;
  for (int t0 = 0; t0 < tweets; t0 += batch) {
    int m = tweets - t0 < batch ? tweets - t0 : batch;
    for (int i = 0; i < m; i++) {
      int64_t v = id(t0 + i, cap);
      reqs[i] = (chirp_feed_push_req){CHIRP_LIST_FEED, v, owners, (size_t)nown, NULL};
      if (repost) {
        /* a repost (newer id): every other one of a tweet in the top 30
           entries (absorbed by the original), the others of a tweet not in
           the feed (added) */
        int t = t0 + i;
        chirp_feed_entry e = {v, t % 2 ? ID0 + 2 * (cap - 1 - t % 30) : ID0 - 1001 - 2 * t, 42};
        reqs[i].entry = chirp_feed_entry_format(&e, ent[i]);
      }
    }
    if (chirp_feed_push_many(r, reqs, (size_t)m, cap)) {
      fprintf(stderr, "push failed\n");
      exit(1);
    }
    pushed += (long)m * nown;
  }
  free(reqs);
  free(ent);
  return pushed;
}

static int64_t id_new(int t, int cap) { return ID0 + 2 * cap + t; }
static int64_t id_late(int t, int cap) { return ID0 + 2 * (cap - 60) + 1 + 2 * (t % 50); }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: push_cost REDIS_URL [owners] [tweets] [batch] [cap]\n");
    return 2;
  }
  int nown = argc > 2 ? atoi(argv[2]) : 100, tweets = argc > 3 ? atoi(argv[3]) : 200;
  int batch = argc > 4 ? atoi(argv[4]) : 20, cap = argc > 5 ? atoi(argv[5]) : 800;
  if (nown <= 0 || tweets <= 0 || batch <= 0 || cap < 100) return 2;
  redisContext *r;
  if (chirp_redis_connect(argv[1], 5000, &r)) {
    fprintf(stderr, "cannot connect to %s\n", argv[1]);
    return 1;
  }
  int64_t *owners = malloc((size_t)nown * sizeof *owners);
  for (int o = 0; o < nown; o++) owners[o] = BASE + o;
  printf("push cost: %d owners with full %d-entry feeds, %d tweets in calls of %d\n", nown, cap,
         tweets, batch);
  stats a, b;
  /* warm-up (loads the script) */
  if (refill(r, nown, cap)) return 1;
  run(r, owners, nown, batch, batch, cap, id_new, 0);

  if (refill(r, nown, cap)) return 1;
  snap(r, &a);
  long e = run(r, owners, nown, tweets, batch, cap, id_new, 0);
  snap(r, &b);
  report("new", &a, &b, e);
  snap(r, &a);
  e = run(r, owners, nown, tweets, batch, cap, id_new, 0);
  snap(r, &b);
  report("repeat", &a, &b, e);

  int late = tweets < 50 ? tweets : 50;
  if (refill(r, nown, cap)) return 1;
  snap(r, &a);
  e = run(r, owners, nown, late, batch, cap, id_late, 0);
  snap(r, &b);
  report("late", &a, &b, e);

  if (refill(r, nown, cap)) return 1;
  snap(r, &a);
  e = run(r, owners, nown, tweets, batch, cap, id_new, 1);
  snap(r, &b);
  report("repost", &a, &b, e);

  char k[CHIRP_KEY_BUFSZ];
  for (int o = 0; o < nown; o++) {
    redisReply *rep = redisCommand(r, "DEL %s", chirp_key_feed(k, BASE + o));
    if (rep) freeReplyObject(rep);
  }
  free(owners);
  redisFree(r);
  return 0;
}
