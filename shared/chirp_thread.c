/* chirp_thread.c — ancestors and descendants of a tweet, see chirp_thread.h. */
#include "chirp_thread.h"

#include <stdio.h>

#include "chirp_error.h"
#include "chirp_pg.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int chirp_thread_ancestors(PGconn *pg, int64_t tweet, int64_t **out, size_t *n) {
  char t[24];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  const char *p[] = {t};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "WITH RECURSIVE up (id, reply_to, depth) AS ("
                         " SELECT id, reply_to, 0 FROM tweets WHERE id = $1"
                         " UNION ALL SELECT t.id, t.reply_to, up.depth + 1 FROM tweets t"
                         " JOIN up ON t.id = up.reply_to WHERE up.depth < "
                         STR(CHIRP_THREAD_MAX_DEPTH) ")"
                         " SELECT id FROM up WHERE depth > 0 ORDER BY depth DESC",
                         1, p, &res);
  if (rc) return rc;
  rc = chirp_pg_ids(res, 0, out, n);
  PQclear(res);
  return rc;
}

int chirp_thread_descendants(PGconn *pg, int64_t tweet, int64_t after_id, int limit,
                             int64_t **out, size_t *n) {
  char t[24], a[24], l[16];
  snprintf(t, sizeof t, "%lld", (long long)tweet);
  snprintf(a, sizeof a, "%lld", (long long)after_id);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {t, a, l};
  PGresult *res;
  /* A cursor that names no descendant of this tweet compares with NULL:
     an empty page. */
  int rc = chirp_pg_exec(pg,
                         "WITH RECURSIVE down (id, live, path) AS ("
                         " SELECT id, deleted_at IS NULL, ARRAY[id] FROM tweets WHERE reply_to = $1"
                         " UNION ALL SELECT t.id, t.deleted_at IS NULL, d.path || t.id"
                         " FROM tweets t JOIN down d ON t.reply_to = d.id"
                         " WHERE cardinality(d.path) < " STR(CHIRP_THREAD_MAX_DEPTH) ")"
                         " SELECT id FROM down WHERE live AND"
                         " ($2::bigint = 0 OR path > (SELECT path FROM down WHERE id = $2::bigint))"
                         " ORDER BY path LIMIT $3::int",
                         3, p, &res);
  if (rc) return rc;
  rc = chirp_pg_ids(res, 0, out, n);
  PQclear(res);
  return rc;
}
