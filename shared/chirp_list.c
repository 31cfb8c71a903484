/* chirp_list.c — lists in PostgreSQL, see chirp_list.h. */
#include "chirp_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_feed.h"
#include "chirp_pg.h"

static void fmt(char *buf, int64_t v) { snprintf(buf, 24, "%lld", (long long)v); }

int chirp_list_store_create(PGconn *pg, int64_t id, int64_t owner, const char *title,
                            int64_t created_ms, int64_t event_id) {
  char a[24], o[24], at[24], ev[24];
  fmt(a, id);
  fmt(o, owner);
  fmt(at, created_ms);
  fmt(ev, event_id);
  const char *p[] = {a, o, title, at, ev};
  return chirp_pg_exec(pg,
                       "INSERT INTO lists (id, owner_id, title, created_at, event_id) "
                       "VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5) "
                       "ON CONFLICT (id) DO NOTHING",
                       5, p, NULL);
}

int chirp_list_store_rename(PGconn *pg, int64_t id, int64_t owner, const char *title,
                            int64_t event_id) {
  char a[24], o[24], ev[24];
  fmt(a, id);
  fmt(o, owner);
  fmt(ev, event_id);
  const char *p[] = {a, o, title, ev};
  return chirp_pg_exec(pg,
                       "UPDATE lists SET title = $3, event_id = $4 "
                       "WHERE id = $1 AND owner_id = $2 AND event_id < $4 AND deleted_at IS NULL",
                       4, p, NULL);
}

int chirp_list_store_delete(PGconn *pg, int64_t id, int64_t owner, int64_t event_id,
                            int64_t deleted_ms) {
  char a[24], o[24], ev[24], at[24];
  fmt(a, id);
  fmt(o, owner);
  fmt(ev, event_id);
  fmt(at, deleted_ms);
  const char *p[] = {a, o, ev, at};
  /* A delete applied before its create leaves a tombstone, which the late
     create then leaves alone (ON CONFLICT DO NOTHING). */
  return chirp_pg_exec(pg,
                       "INSERT INTO lists (id, owner_id, title, created_at, event_id, deleted_at) "
                       "VALUES ($1, $2, '', to_timestamp($4::bigint / 1000.0), $3, "
                       "        to_timestamp($4::bigint / 1000.0)) "
                       "ON CONFLICT (id) DO UPDATE SET deleted_at = "
                       "  coalesce(lists.deleted_at, EXCLUDED.deleted_at) "
                       "WHERE lists.owner_id = EXCLUDED.owner_id",
                       4, p, NULL);
}

int chirp_list_member_apply(PGconn *pg, int64_t list, int64_t account, int active,
                            int64_t event_id, int64_t occurred_ms) {
  char l[24], a[24], ev[24], at[24];
  fmt(l, list);
  fmt(a, account);
  fmt(ev, event_id);
  fmt(at, occurred_ms);
  const char *p[] = {l, a, active ? "t" : "f", ev, at};
  return chirp_pg_exec(pg,
                       "INSERT INTO list_members (list_id, account_id, active, event_id, changed_at) "
                       "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0)) "
                       "ON CONFLICT (list_id, account_id) DO UPDATE SET active = EXCLUDED.active, "
                       "  event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at "
                       "WHERE list_members.event_id < EXCLUDED.event_id",
                       5, p, NULL);
}

#define LIST_COLS "id, owner_id, title, (extract(epoch FROM created_at) * 1000)::bigint"

static json_t *row_json(const PGresult *r, int row) {
  return json_pack("{s:o, s:o, s:s, s:o}", "id",
                   chirp_json_id(strtoll(PQgetvalue(r, row, 0), NULL, 10)), "owner_id",
                   chirp_json_id(strtoll(PQgetvalue(r, row, 1), NULL, 10)), "title",
                   PQgetvalue(r, row, 2), "created_at",
                   chirp_json_time(strtoll(PQgetvalue(r, row, 3), NULL, 10)));
}

int chirp_list_get(PGconn *pg, int64_t owner, int64_t id, json_t **out) {
  char a[24], o[24];
  fmt(a, id);
  fmt(o, owner);
  const char *p[] = {a, o};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " LIST_COLS " FROM lists "
                         "WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
                         2, p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) rc = CHIRP_ENOTFOUND;
  else if (!(*out = row_json(r, 0))) rc = CHIRP_ENOMEM;
  PQclear(r);
  return rc;
}

static int count_of(PGconn *pg, const char *sql, int64_t v, int64_t *n) {
  char a[24];
  fmt(a, v);
  const char *p[] = {a};
  PGresult *r;
  int rc = chirp_pg_exec(pg, sql, 1, p, &r);
  if (rc) return rc;
  *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return 0;
}

int chirp_list_count(PGconn *pg, int64_t owner, int64_t *n) {
  return count_of(pg, "SELECT count(*) FROM lists WHERE owner_id = $1 AND deleted_at IS NULL",
                  owner, n);
}

int chirp_list_member_count(PGconn *pg, int64_t list, int64_t *n) {
  return count_of(pg, "SELECT count(*) FROM list_members WHERE list_id = $1 AND active", list, n);
}

int chirp_list_page(PGconn *pg, int64_t owner, int64_t before, int limit, json_t **items,
                    int64_t *next) {
  char o[24], b[24], l[24];
  fmt(o, owner);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(l, (int64_t)limit + 1);
  const char *p[] = {o, b, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " LIST_COLS " FROM lists "
                         "WHERE owner_id = $1 AND deleted_at IS NULL AND id < $2 "
                         "ORDER BY id DESC LIMIT $3",
                         3, p, &r);
  if (rc) return rc;
  json_t *arr = json_array();
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  for (int i = 0; arr && i < shown; i++)
    if (json_array_append_new(arr, row_json(r, i))) rc = CHIRP_ENOMEM;
  *next = rows > limit ? strtoll(PQgetvalue(r, shown - 1, 0), NULL, 10) : 0;
  PQclear(r);
  if (!arr || rc) {
    json_decref(arr);
    return CHIRP_ENOMEM;
  }
  *items = arr;
  return 0;
}

int chirp_list_member_state(PGconn *pg, int64_t list, int64_t account, int *active) {
  char l[24], a[24];
  fmt(l, list);
  fmt(a, account);
  const char *p[] = {l, a};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT 1 FROM list_members m JOIN lists l ON l.id = m.list_id "
                         "WHERE m.list_id = $1 AND m.account_id = $2 AND m.active "
                         "AND l.deleted_at IS NULL",
                         2, p, &r);
  if (rc) return rc;
  *active = PQntuples(r) > 0;
  PQclear(r);
  return 0;
}

int chirp_list_members_page(PGconn *pg, int64_t list, int64_t before, int limit, int64_t **ids,
                            size_t *n, int64_t *next) {
  char l[24], b[24], m[24];
  fmt(l, list);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(m, (int64_t)limit + 1);
  const char *p[] = {l, b, m};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT account_id, event_id FROM list_members "
                         "WHERE list_id = $1 AND active AND event_id < $2 "
                         "ORDER BY event_id DESC LIMIT $3",
                         3, p, &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r), shown = rows > (size_t)limit ? (size_t)limit : rows;
  int64_t *out = malloc((shown ? shown : 1) * sizeof *out);
  if (!out) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < shown; i++) out[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
  *next = rows > shown ? strtoll(PQgetvalue(r, (int)shown - 1, 1), NULL, 10) : 0;
  PQclear(r);
  *ids = out;
  *n = shown;
  return 0;
}

/* One index range scan per member (LATERAL), merged by id. */
#define MEMBER_TWEETS                                                                  \
  "SELECT t.id FROM list_members m, "                                                  \
  "LATERAL (SELECT id FROM tweets WHERE author_id = m.account_id AND deleted_at IS NULL " \
  "  AND id < $2 ORDER BY id DESC LIMIT $3) t "                                        \
  "WHERE m.list_id = $1 AND m.active ORDER BY t.id DESC LIMIT $3"

static int member_tweets(PGconn *pg, int64_t list, int64_t before, size_t want, int64_t **ids,
                         size_t *n) {
  char l[24], b[24], w[24];
  fmt(l, list);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(w, (int64_t)want);
  const char *p[] = {l, b, w};
  PGresult *r;
  int rc = chirp_pg_exec(pg, MEMBER_TWEETS, 3, p, &r);
  if (rc) return rc;
  rc = chirp_pg_ids(r, 0, ids, n);
  PQclear(r);
  return rc;
}

int chirp_list_tweets_pg(PGconn *pg, int64_t list, int64_t before, size_t want, int64_t *out,
                         size_t *n) {
  int64_t *ids = NULL;
  size_t got = 0;
  int rc = member_tweets(pg, list, before, want, &ids, &got);
  if (rc) return rc;
  *n = got < want ? got : want;
  memcpy(out, ids, *n * sizeof *ids);
  free(ids);
  return 0;
}

int chirp_list_rebuild(redisContext *r, PGconn *pg, int64_t owner, int64_t list, int cap) {
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = member_tweets(pg, list, 0, (size_t)cap, &ids, &n);
  if (!rc) rc = chirp_feed_list_fill(r, owner, list, ids, n, cap);
  free(ids);
  return rc;
}

int chirp_list_containing(PGconn *pg, const int64_t *authors, size_t n, int64_t **rows,
                          size_t *nrows) {
  char *arr = chirp_pg_id_array(authors, n);
  if (!arr) return CHIRP_ENOMEM;
  const char *p[] = {arr};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT m.account_id, l.owner_id, l.id FROM list_members m "
                         "JOIN lists l ON l.id = m.list_id "
                         "WHERE m.account_id = ANY($1::bigint[]) AND m.active "
                         "AND l.deleted_at IS NULL ORDER BY m.account_id",
                         1, p, &r);
  free(arr);
  if (rc) return rc;
  size_t k = (size_t)PQntuples(r);
  int64_t *out = malloc((k ? k : 1) * 3 * sizeof *out);
  if (!out) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < k; i++)
    for (int c = 0; c < 3; c++) out[3 * i + (size_t)c] = strtoll(PQgetvalue(r, (int)i, c), NULL, 10);
  PQclear(r);
  *rows = out;
  *nrows = k;
  return 0;
}
