/* adminlog.c — a ring of the latest calls, see adminlog.h. */
#include "adminlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_event.h"
#include "chirp_time.h"

struct call {
  uint64_t seq;
  int64_t at_ms;
  char method[8];
  char path[120];
  int status;
  int64_t micros;
  unsigned long queries;
  int64_t account;
};

static struct call *ring;
static uint64_t last_seq;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* What snprintf "%s" stores in dst[cap]: src, cut to cap - 1 bytes. */
static void copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = src ? strnlen(src, cap - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
}

void gw_adminlog_add(const char *method, const char *path, int status, int64_t micros,
                     unsigned long db_queries, int64_t account) {
  pthread_mutex_lock(&lock);
  if (!ring) ring = calloc(GW_ADMINLOG_CAP, sizeof *ring);
  if (ring) {
    struct call *c = &ring[last_seq % GW_ADMINLOG_CAP];
    c->seq = ++last_seq;
    c->at_ms = chirp_time_now_ms();
    copy_cut(c->method, sizeof c->method, method);
    copy_cut(c->path, sizeof c->path, path);
    c->status = status;
    c->micros = micros;
    c->queries = db_queries;
    c->account = account;
  }
  pthread_mutex_unlock(&lock);
}

json_t *gw_adminlog_list(uint64_t after, int limit, uint64_t *next) {
  json_t *arr = json_array();
  *next = 0;
  pthread_mutex_lock(&lock);
  uint64_t first = last_seq > GW_ADMINLOG_CAP ? last_seq - GW_ADMINLOG_CAP + 1 : 1;
  if (after + 1 > first) first = after + 1;
  for (uint64_t s = first; ring && arr && s <= last_seq && limit > 0; s++, limit--) {
    const struct call *c = &ring[(s - 1) % GW_ADMINLOG_CAP];
    json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:i, s:f, s:I}", "seq", (json_int_t)c->seq, "at",
                          chirp_json_time(c->at_ms), "method", c->method, "path", c->path,
                          "status", c->status, "duration_ms", (double)c->micros / 1000.0,
                          "db_queries", (json_int_t)c->queries);
    json_object_set_new(o, "account_id", c->account ? chirp_json_id(c->account) : json_null());
    json_array_append_new(arr, o);
    *next = c->seq;
  }
  pthread_mutex_unlock(&lock);
  return arr;
}
