/* h_admin.c — operator endpoints (CHIRP_ADMIN_TOKEN): the call log and the
   service registry. */
#include <stdlib.h>

#include "adminlog.h"
#include "chirp_error.h"
#include "chirp_registry.h"
#include "gw.h"
#include "handlers.h"

/* ?after=<seq>&limit=<n> (default 100, at most 1000): calls after seq. */
void h_admin_logs(gw_req *req, gw_reply *rep) {
  const char *a = u_map_get(req->u->map_url, "after"), *l = u_map_get(req->u->map_url, "limit");
  char *end = NULL;
  unsigned long long after = a ? strtoull(a, &end, 10) : 0;
  if (a && (*a < '0' || *a > '9' || *end != '\0')) {
    gw_reply_error(rep, CHIRP_EINVAL, NULL, "after", "after must be a sequence number");
    return;
  }
  long limit = l ? strtol(l, &end, 10) : 100;
  if (l && (*l == '\0' || *end != '\0' || limit <= 0)) {
    gw_reply_error(rep, CHIRP_EINVAL, NULL, "limit", "limit must be a positive integer");
    return;
  }
  if (limit > 1000) limit = 1000;
  uint64_t next = 0;
  json_t *items = gw_adminlog_list(after, (int)limit, &next);
  if (next < after) next = after; /* an empty page keeps the client's place */
  gw_reply_json(rep, 200, json_pack("{s:o, s:I}", "items", items, "last_seq", (json_int_t)next));
}

void h_admin_services(gw_req *req, gw_reply *rep) {
  (void)req;
  redisContext *r = gw_redis();
  json_t *items = NULL;
  int rc = r ? chirp_registry_list(r, &items) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, json_pack("{s:o}", "items", items));
}
