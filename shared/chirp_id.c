/* chirp_id.c — Snowflake-style id generator, see chirp_id.h. */
#include "chirp_id.h"

#include <pthread.h>
#include <stdio.h>

#include "chirp_error.h"
#include "chirp_time.h"

/* One lock for all generators: a process has one, and the critical section
   is a handful of instructions. */
static pthread_mutex_t idgen_lock = PTHREAD_MUTEX_INITIALIZER;

int chirp_idgen_init(chirp_idgen *g, int node) {
  if (node < 0 || node > CHIRP_ID_NODE_MAX) return CHIRP_EINVAL;
  g->last_ms = 0;
  g->seq = 0;
  g->node = node;
  return 0;
}

int64_t chirp_idgen_next_at(chirp_idgen *g, int64_t now_ms) {
  pthread_mutex_lock(&idgen_lock);
  int64_t ms = now_ms - CHIRP_ID_EPOCH_MS;
  if (ms < g->last_ms) ms = g->last_ms; /* clock stepped back */
  if (ms == g->last_ms) {
    if (++g->seq > 0xfff) { /* sequence exhausted: borrow the next ms */
      ms = ++g->last_ms;
      g->seq = 0;
    }
  } else {
    g->seq = 0;
  }
  g->last_ms = ms;
  int64_t id = (ms << 22) | (g->node << 12) | g->seq;
  pthread_mutex_unlock(&idgen_lock);
  return id;
}

int64_t chirp_idgen_next(chirp_idgen *g) { return chirp_idgen_next_at(g, chirp_time_now_ms()); }

int64_t chirp_id_time_ms(int64_t id) { return (id >> 22) + CHIRP_ID_EPOCH_MS; }

int64_t chirp_id_min_at_ms(int64_t ms) { return (ms - CHIRP_ID_EPOCH_MS) << 22; }

int chirp_id_parse(const char *s, int64_t *out) {
  if (!s || *s < '1' || *s > '9') return CHIRP_EINVAL;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return CHIRP_EINVAL;
    int d = *p - '0';
    if (v > (INT64_MAX - d) / 10) return CHIRP_EINVAL;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

char *chirp_id_format(int64_t id, char *buf) {
  snprintf(buf, CHIRP_ID_STRSZ, "%lld", (long long)id);
  return buf;
}
