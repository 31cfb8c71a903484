/* router.c — matching a request against the route table, see router.h. */
#include "router.h"

#include <string.h>
#include <strings.h>

/* The next non-empty segment of *p: its start, its length in *n; NULL at
   the end.  *p moves past it. */
static const char *segment(const char **p, size_t *n) {
  const char *s = *p;
  while (*s == '/') s++;
  if (!*s) return NULL;
  size_t len = strcspn(s, "/");
  *p = s + len;
  *n = len;
  return s;
}

/* Whether path matches the pattern (no parameters stored). */
static int matches(const char *pattern, const char *path) {
  const char *pp = pattern, *up = path;
  for (;;) {
    size_t pn, un;
    const char *ps = segment(&pp, &pn), *us = segment(&up, &un);
    if (ps && ps[0] == '*' && pn == 1 && !segment(&pp, &pn)) return 1;
    if (!ps || !us) return !ps && !us;
    if (ps[0] == ':' || ps[0] == '@') continue;
    if (pn != un || memcmp(ps, us, pn) != 0) return 0;
  }
}

/* Lead and continuation bytes of UTF-8 (what a parameter must be). */
static int utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : 4;
    if (k == 4 || i + k >= n + (k == 0)) return 0;
    for (size_t j = 1; j <= k; j++)
      if ((s[i + j] & 0xc0) != 0x80) return 0;
    i += k + 1;
  }
  return 1;
}

/* Stores the ":name" segments of path for pattern into params. */
static void store_params(const char *pattern, const char *path, struct _u_map *params) {
  const char *pp = pattern, *up = path;
  char name[64], value[512];
  for (;;) {
    size_t pn, un;
    const char *ps = segment(&pp, &pn), *us = segment(&up, &un);
    if (!ps || !us) return;
    if ((ps[0] != ':' && ps[0] != '@') || pn - 1 >= sizeof name || un >= sizeof value) continue;
    if (!utf8_ok((const unsigned char *)us, un)) continue;
    memcpy(name, ps + 1, pn - 1);
    name[pn - 1] = '\0';
    memcpy(value, us, un);
    value[un] = '\0';
    u_map_put(params, name, value);
  }
}

/* The table of gw_router_prepare, split once: literal routes first, then
   patterns, each in table order (the order gw_route_match tries them). */
#define MAX_SEGS 16
#define MAX_PREPARED 128
struct seg {
  const char *s;
  size_t n;
  int param; /* ":name" or "@name": any one segment */
};
struct prepared {
  const gw_route *r;
  int patterns; /* the path holds a ':' (its parameters are stored) */
  int any_method;
  int star; /* a last segment "*": the rest of the path, even nothing */
  int general; /* a "*" before the end: matched the general way (matches()) */
  int nseg; /* segments before that "*" */
  struct seg seg[MAX_SEGS];
};
static const gw_route *prepared_table;
static struct prepared prepared[MAX_PREPARED];
static int nprepared;

/* Splits path into at most MAX_SEGS segments; -1 when it has more. */
static int split(const char *path, struct seg *out) {
  int n = 0;
  const char *p = path;
  size_t len;
  for (const char *s; (s = segment(&p, &len));) {
    if (n == MAX_SEGS) return -1;
    out[n].s = s;
    out[n].n = len;
    out[n].param = s[0] == ':' || s[0] == '@';
    n++;
  }
  return n;
}

int gw_router_prepare(const gw_route *table) {
  prepared_table = NULL;
  nprepared = 0;
  if (!table) return 0;
  for (int patterns = 0; patterns < 2; patterns++)
    for (const gw_route *r = table; r->method; r++) {
      if ((strchr(r->path, ':') != NULL) != patterns) continue;
      if (nprepared == MAX_PREPARED) goto slow;
      struct prepared *c = &prepared[nprepared++];
      c->r = r;
      c->patterns = patterns;
      c->any_method = r->method[0] == '*';
      int n = split(r->path, c->seg);
      if (n < 0) goto slow;
      c->star = n > 0 && c->seg[n - 1].n == 1 && c->seg[n - 1].s[0] == '*';
      c->nseg = c->star ? n - 1 : n;
      c->general = 0;
      for (int k = 0; k < c->nseg; k++)
        if (c->seg[k].n == 1 && c->seg[k].s[0] == '*') c->general = 1;
    }
  prepared_table = table;
  return 0;
slow: /* too big to prepare: every match takes the general way */
  nprepared = 0;
  return -1;
}

/* The general way: each route's path split on every request. */
static const gw_route *match_slow(const gw_route *table, const char *method, const char *path,
                                  struct _u_map *params) {
  for (int patterns = 0; patterns < 2; patterns++)
    for (const gw_route *r = table; r->method; r++) {
      if ((strchr(r->path, ':') != NULL) != patterns) continue;
      if (strcasecmp(r->method, method) != 0 && r->method[0] != '*') continue;
      if (!matches(r->path, path)) continue;
      if (patterns && params) store_params(r->path, path, params);
      return r;
    }
  return NULL;
}

const gw_route *gw_route_match(const gw_route *table, const char *method, const char *path,
                               struct _u_map *params) {
  if (!table || !method || !path) return NULL;
  struct seg req[MAX_SEGS];
  int n = table == prepared_table ? split(path, req) : -1;
  if (n < 0) return match_slow(table, method, path, params);
  for (int i = 0; i < nprepared; i++) {
    const struct prepared *c = &prepared[i];
    if (c->general) {
      if (!c->any_method && strcasecmp(c->r->method, method) != 0) continue;
      if (!matches(c->r->path, path)) continue;
      if (c->patterns && params) store_params(c->r->path, path, params);
      return c->r;
    }
    if (c->star ? n < c->nseg : n != c->nseg) continue;
    /* (Most routes differ in their last segment: "/tweets/:id/likes".) */
    if (!c->star && n && !c->seg[n - 1].param &&
        (c->seg[n - 1].n != req[n - 1].n || c->seg[n - 1].s[0] != req[n - 1].s[0]))
      continue;
    int k = 0;
    while (k < c->nseg && (c->seg[k].param ||
                           (c->seg[k].n == req[k].n && memcmp(c->seg[k].s, req[k].s, req[k].n) == 0)))
      k++;
    if (k < c->nseg) continue;
    if (!c->any_method && strcasecmp(c->r->method, method) != 0) continue;
    if (c->patterns && params) store_params(c->r->path, path, params);
    return c->r;
  }
  return NULL;
}
