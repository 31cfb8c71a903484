/* test_router.c — the prepared route table (split once at start) matches
   exactly as the general way does: same route, same parameters. */
#include <string.h>
#include <ulfius.h>

#include "../check.h"
#include "router.h"

#define ROUTES                                                                       \
  {"GET", "/healthz", NULL, 0}, {"POST", "/api/v1/accounts", NULL, 0},               \
      {"GET", "/api/v1/accounts/search", NULL, 0},                                   \
      {"GET", "/api/v1/accounts/:id", NULL, 0},                                      \
      {"GET", "/api/v1/accounts/:id/tweets", NULL, 0},                               \
      {"PATCH", "/api/v1/accounts/me", NULL, 0},                                     \
      {"GET", "/api/v1/tweets/:id", NULL, 0}, {"DELETE", "/api/v1/tweets/:id", NULL, 0}, \
      {"GET", "/api/v1/tweets/:id/likes", NULL, 0},                                  \
      {"POST", "/api/v1/tweets/:id/like", NULL, 0},                                  \
      {"GET", "/api/v1/hashtags/:tag/tweets", NULL, 0},                              \
      {"GET", "/files/@name", NULL, 0}, {"*", "/any/:x", NULL, 0},                   \
      {"GET", "/static/*", NULL, 0}, {"GET", "/a/*/b", NULL, 0},                     \
      {"GET", "/api/v1/feed", NULL, 0}, {NULL, NULL, NULL, 0}

static const gw_route prepared[] = {ROUTES};
static const gw_route general[] = {ROUTES}; /* a copy: never prepared */

static void same(const char *method, const char *path) {
  struct _u_map pa, pb;
  u_map_init(&pa);
  u_map_init(&pb);
  const gw_route *a = gw_route_match(prepared, method, path, &pa);
  const gw_route *b = gw_route_match(general, method, path, &pb);
  long ia = a ? (long)(a - prepared) : -1, ib = b ? (long)(b - general) : -1;
  if (ia != ib) fprintf(stderr, "%s %s: prepared %ld, general %ld\n", method, path, ia, ib);
  CHECK_INT_EQ(ia, ib);
  CHECK_INT_EQ(pa.nb_values, pb.nb_values);
  for (int i = 0; i < pa.nb_values && i < pb.nb_values; i++) {
    CHECK_STR_EQ(pa.keys[i], pb.keys[i]);
    CHECK_STR_EQ(pa.values[i], pb.values[i]);
  }
  u_map_clean(&pa);
  u_map_clean(&pb);
}

int main(void) {
  CHECK_INT_EQ(gw_router_prepare(prepared), 0);
  const char *methods[] = {"GET", "get", "POST", "DELETE", "PATCH", "PUT"};
  const char *paths[] = {
      "/", "", "/healthz", "//healthz//", "/api/v1/accounts", "/api/v1/accounts/",
      "/api/v1/accounts/search", "/api/v1/accounts/me", "/api/v1/accounts/123",
      "/api/v1/accounts/123/tweets", "/api/v1/accounts/123/tweets/x", "/api/v1/tweets/9",
      "/api/v1//tweets//9/", "/api/v1/tweets/9/likes", "/api/v1/tweets/9/like",
      "/api/v1/tweets/9/liked", "/api/v1/tweets", "/api/v1/hashtags/caf\xc3\xa9/tweets",
      "/api/v1/hashtags/bad\xff/tweets", "/files/report.pdf", "/files/a/b", "/any/thing",
      "/any", "/static", "/static/", "/static/js/app.js", "/a/x/b", "/a/*/b", "/a/*/c", "/a/*", "/a/x",
      "/api/v1/feed", "/api/v1/feedx", "/api/v1/fee", "/x/y/z/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
      "/api/v1/tweets/12345678901234567890123456789012345678901234567890"};
  for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) same(methods[m], paths[p]);
  /* A few answers spelled out, so that both ways being wrong together fails too. */
  struct _u_map pm;
  u_map_init(&pm);
  CHECK(gw_route_match(prepared, "GET", "/api/v1/accounts/search", &pm) == &prepared[2]);
  CHECK(gw_route_match(prepared, "get", "/api/v1/tweets/42/likes", &pm) == &prepared[8]);
  CHECK_STR_EQ(u_map_get(&pm, "id"), "42");
  CHECK(gw_route_match(prepared, "PUT", "/any/1", NULL) == &prepared[12]);
  CHECK(gw_route_match(prepared, "GET", "/static", NULL) == &prepared[13]);
  CHECK(gw_route_match(prepared, "GET", "/api/v1/tweets", NULL) == NULL);
  u_map_clean(&pm);
  CHECK_DONE();
}
