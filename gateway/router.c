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

const gw_route *gw_route_match(const gw_route *table, const char *method, const char *path,
                               struct _u_map *params) {
  if (!table || !method || !path) return NULL;
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
