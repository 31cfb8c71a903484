/* chirp_follow.c — follows in PostgreSQL, see chirp_follow.h. */
#include "chirp_follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_pg.h"

static void fmt(char *buf, int64_t v) { snprintf(buf, 24, "%lld", (long long)v); }

static int move_counts(PGconn *pg, const char *follower, const char *followee, int delta) {
  const char *p[] = {follower, followee, delta > 0 ? "1" : "-1"};
  return chirp_pg_exec(pg,
                       "UPDATE accounts SET "
                       "following_count = following_count + CASE WHEN id = $1 THEN $3::int ELSE 0 END, "
                       "followers_count = followers_count + CASE WHEN id = $2 THEN $3::int ELSE 0 END "
                       "WHERE id IN ($1, $2)",
                       3, p, NULL);
}

int chirp_follow_apply(PGconn *pg, int64_t follower, int64_t followee, int active,
                       int64_t event_id, int64_t occurred_ms, int *changed) {
  char a[24], b[24], ev[24], at[24];
  fmt(a, follower);
  fmt(b, followee);
  fmt(ev, event_id);
  fmt(at, occurred_ms);
  const char *p[] = {a, b, active ? "t" : "f", ev, at};
  PGresult *r;
  *changed = 0;
  /* A follow that was in flight when one side was deleted changes nothing:
     the deletion's purge may already have run (docs/decisions.md). */
  if (active) {
    int rc = chirp_pg_exec(pg,
                           "SELECT 1 FROM accounts WHERE id IN ($1, $2) AND deleted_at IS NOT NULL",
                           2, p, &r);
    if (rc) return rc;
    int gone = PQntuples(r) > 0;
    PQclear(r);
    if (gone) return 0;
  }
  /* First sight of the pair: the row is the new state ("none" counts as not
     following). */
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at) "
                         "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0)) "
                         "ON CONFLICT DO NOTHING",
                         5, p, &r);
  if (rc) return rc;
  int inserted = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  if (inserted) {
    if (!active) return 0;
    *changed = 1;
    return move_counts(pg, a, b, +1);
  }
  /* Known pair: lock it, and take the event only if it is newer. */
  rc = chirp_pg_exec(pg,
                     "SELECT active, event_id FROM follows "
                     "WHERE follower_id = $1 AND followee_id = $2 FOR UPDATE",
                     2, p, &r);
  if (rc) return rc;
  int was_active = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  int64_t seen = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  if (seen >= event_id) return 0;
  rc = chirp_pg_exec(pg,
                     "UPDATE follows SET active = $3, event_id = $4, "
                     "changed_at = to_timestamp($5::bigint / 1000.0) "
                     "WHERE follower_id = $1 AND followee_id = $2",
                     5, p, NULL);
  if (rc || was_active == active) return rc;
  *changed = 1;
  return move_counts(pg, a, b, active ? +1 : -1);
}

int chirp_follow_end(PGconn *pg, int64_t follower, int64_t followee, int64_t event_id,
                     int64_t occurred_ms, int *changed) {
  char a[24], b[24], ev[24], at[24];
  fmt(a, follower);
  fmt(b, followee);
  fmt(ev, event_id);
  fmt(at, occurred_ms);
  const char *p[] = {a, b, "f", ev, at};
  *changed = 0;
  /* Lock the pair; a pair never seen gets an inactive row (a concurrent
     first follow makes the insert conflict: look again, now locked). */
  for (int attempt = 0; attempt < 2; attempt++) {
    PGresult *r;
    int rc = chirp_pg_exec(pg,
                           "SELECT active FROM follows "
                           "WHERE follower_id = $1 AND followee_id = $2 FOR UPDATE",
                           2, p, &r);
    if (rc) return rc;
    if (PQntuples(r) == 1) {
      int was_active = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
      PQclear(r);
      rc = chirp_pg_exec(pg,
                         "UPDATE follows SET active = $3::boolean, event_id = GREATEST(event_id, $4::bigint), "
                         "changed_at = to_timestamp($5::bigint / 1000.0) "
                         "WHERE follower_id = $1 AND followee_id = $2",
                         5, p, NULL);
      if (rc || !was_active) return rc;
      *changed = 1;
      return move_counts(pg, a, b, -1);
    }
    PQclear(r);
    rc = chirp_pg_exec(pg,
                       "INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at) "
                       "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0)) "
                       "ON CONFLICT DO NOTHING",
                       5, p, &r);
    if (rc) return rc;
    int inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (inserted) return 0;
  }
  return CHIRP_EINTERNAL;
}

int chirp_follow_state(PGconn *pg, int64_t follower, int64_t followee, int *active) {
  char a[24], b[24];
  fmt(a, follower);
  fmt(b, followee);
  const char *p[] = {a, b};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2 AND active",
                         2, p, &r);
  if (rc) return rc;
  *active = PQntuples(r) == 1;
  PQclear(r);
  return 0;
}

int chirp_follow_list(PGconn *pg, int64_t id, int followers, int64_t before, int limit,
                      json_t **items, int64_t *next) {
  char i[24], b[24], l[24];
  fmt(i, id);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(l, limit + 1); /* one more row tells whether a next page exists */
  const char *p[] = {i, b, l};
  char sql[768];
  /* The other side of the pair is the account listed. */
  snprintf(sql, sizeof sql,
           "SELECT %s, f.event_id FROM follows f JOIN accounts ON accounts.id = f.%s "
           "WHERE f.%s = $1 AND f.active AND f.event_id < $2 AND accounts.deleted_at IS NULL "
           "ORDER BY f.event_id DESC LIMIT $3",
           chirp_account_columns, followers ? "follower_id" : "followee_id",
           followers ? "followee_id" : "follower_id");
  PGresult *r;
  int rc = chirp_pg_exec(pg, sql, 3, p, &r);
  if (rc) return rc;
  json_t *arr = json_array();
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  *next = 0;
  for (int row = 0; arr && row < shown; row++) {
    chirp_account a;
    if (chirp_account_from_row(r, row, 0, &a) == 0) {
      json_array_append_new(arr, chirp_account_to_json(&a, 0));
      chirp_account_cleanup(&a);
    }
  }
  if (rows > limit) *next = strtoll(PQgetvalue(r, shown - 1, CHIRP_ACCOUNT_NCOLS), NULL, 10);
  PQclear(r);
  if (!arr) return CHIRP_ENOMEM;
  *items = arr;
  return 0;
}

int chirp_follow_followers_range(PGconn *pg, int64_t followee, int64_t from, int64_t to,
                                 size_t max, int64_t **out, size_t *n) {
  char a[24], f[24], t[24], m[24];
  fmt(a, followee);
  fmt(f, from);
  fmt(t, to);
  fmt(m, (int64_t)max);
  const char *p[] = {a, f, t, m};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT follower_id FROM follows WHERE followee_id = $1 AND active "
                         "AND follower_id BETWEEN $2 AND $3 ORDER BY follower_id LIMIT $4",
                         4, p, &r);
  if (rc) return rc;
  rc = chirp_pg_ids(r, 0, out, n);
  PQclear(r);
  return rc;
}

int chirp_follow_followers_many(PGconn *pg, const chirp_follow_range *ranges, size_t n, size_t max,
                                int64_t **ids, size_t **offsets) {
  size_t *off = calloc(n + 1, sizeof *off);
  int64_t *col = malloc((n ? n : 1) * sizeof *col);
  char *arr[3] = {NULL, NULL, NULL}, m[24];
  int rc = off && col ? 0 : CHIRP_ENOMEM;
  for (int k = 0; !rc && k < 3; k++) { /* the followees, the froms, the tos */
    for (size_t i = 0; i < n; i++)
      col[i] = k == 0 ? ranges[i].followee : k == 1 ? ranges[i].from : ranges[i].to;
    if (!(arr[k] = chirp_pg_id_array(col, n))) rc = CHIRP_ENOMEM;
  }
  free(col);
  fmt(m, (int64_t)max);
  const char *p[] = {arr[0], arr[1], arr[2], m};
  PGresult *r = NULL;
  if (!rc)
    rc = chirp_pg_exec(pg,
                       "SELECT a.ord, f.follower_id "
                       "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY "
                       "  AS a(followee, lo, hi, ord) "
                       "CROSS JOIN LATERAL (SELECT follower_id FROM follows "
                       "  WHERE followee_id = a.followee AND active AND follower_id BETWEEN a.lo AND a.hi "
                       "  ORDER BY follower_id LIMIT $4) f "
                       "ORDER BY a.ord, f.follower_id",
                       4, p, &r);
  for (int k = 0; k < 3; k++) free(arr[k]);
  if (rc) {
    free(off);
    return rc;
  }
  size_t rows = (size_t)PQntuples(r);
  int64_t *out = malloc((rows ? rows : 1) * sizeof *out);
  if (!out) {
    PQclear(r);
    free(off);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++) {
    long long ord = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10); /* 1-based */
    out[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
    if (ord >= 1 && (size_t)ord <= n) off[ord]++;
  }
  PQclear(r);
  for (size_t i = 1; i <= n; i++) off[i] += off[i - 1]; /* counts -> ends */
  *ids = out;
  *offsets = off;
  return 0;
}

int chirp_follow_count(PGconn *pg, int64_t account, int64_t *followers) {
  char a[24];
  fmt(a, account);
  const char *p[] = {a};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT followers_count FROM accounts WHERE id = $1", 1, p, &r);
  if (rc) return rc;
  rc = PQntuples(r) == 1 ? 0 : CHIRP_ENOTFOUND;
  if (!rc) *followers = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return rc;
}
