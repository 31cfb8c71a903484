/* chirp_block.c — blocks, mutes and hidden sets, see chirp_block.h. */
#include "chirp_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

static void fmt(char *buf, int64_t v) { snprintf(buf, 24, "%lld", (long long)v); }

/* Bumps the hidden-set version of the accounts in p[0] (and p[1] when
   both): inside the caller's transaction. */
static int bump(PGconn *pg, const char *a, const char *b) {
  const char *p[] = {a, b ? b : a};
  return chirp_pg_exec(pg,
                       /* in id order: two blocks of one pair at once lock
                          the rows in the same order (no deadlock) */
                       "INSERT INTO hidden_versions (account_id, ver) "
                       "SELECT id, 1 FROM (SELECT DISTINCT unnest(ARRAY[$1::bigint, $2::bigint]) AS id) s "
                       "ORDER BY id ON CONFLICT (account_id) DO UPDATE SET ver = hidden_versions.ver + 1",
                       2, p, NULL);
}

int chirp_block_apply(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t target,
                      int active, int64_t event_id, int64_t occurred_ms, int *changed) {
  char k[24], a[24], t[24], ev[24], at[24];
  fmt(k, kind);
  fmt(a, actor);
  fmt(t, target);
  fmt(ev, event_id);
  fmt(at, occurred_ms);
  const char *p[] = {k, a, t, active ? "t" : "f", ev, at};
  PGresult *r;
  *changed = 0;
  /* One that was in flight when either side was deleted changes nothing. */
  if (active) {
    int rc = chirp_pg_exec(pg,
                           "SELECT 1 FROM accounts WHERE id IN ($1, $2) AND deleted_at IS NOT NULL",
                           2, p + 1, &r);
    if (rc) return rc;
    int gone = PQntuples(r) > 0;
    PQclear(r);
    if (gone) return 0;
  }
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO blocks_mutes (kind, actor_id, target_id, active, event_id, changed_at) "
                         "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0)) "
                         "ON CONFLICT DO NOTHING",
                         6, p, &r);
  if (rc) return rc;
  int inserted = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  if (!inserted) {
    rc = chirp_pg_exec(pg,
                       "SELECT active, event_id FROM blocks_mutes "
                       "WHERE kind = $1 AND actor_id = $2 AND target_id = $3 FOR UPDATE",
                       3, p, &r);
    if (rc) return rc;
    if (PQntuples(r) != 1) {
      PQclear(r);
      return CHIRP_EINTERNAL;
    }
    int was_active = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    int64_t seen = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (seen >= event_id) return 0; /* a newer event already decided */
    rc = chirp_pg_exec(pg,
                       "UPDATE blocks_mutes SET active = $4, event_id = $5, "
                       "changed_at = to_timestamp($6::bigint / 1000.0) "
                       "WHERE kind = $1 AND actor_id = $2 AND target_id = $3",
                       6, p, NULL);
    if (rc || was_active == active) return rc;
  } else if (!active) {
    return 0; /* first sight, and "none" already */
  }
  *changed = 1;
  return bump(pg, a, kind == CHIRP_BLOCK ? t : NULL);
}

int chirp_block_state(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t target,
                      int *active) {
  char k[24], a[24], t[24];
  fmt(k, kind);
  fmt(a, actor);
  fmt(t, target);
  const char *p[] = {k, a, t};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT 1 FROM blocks_mutes WHERE kind = $1 AND actor_id = $2 "
                         "AND target_id = $3 AND active",
                         3, p, &r);
  if (rc) return rc;
  *active = PQntuples(r) == 1;
  PQclear(r);
  return 0;
}

int chirp_block_between(PGconn *pg, int64_t a, int64_t b, int *blocked) {
  char x[24], y[24];
  fmt(x, a);
  fmt(y, b);
  const char *p[] = {x, y};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT 1 FROM blocks_mutes WHERE kind = 1 AND active AND "
                         "((actor_id = $1 AND target_id = $2) OR (actor_id = $2 AND target_id = $1))",
                         2, p, &r);
  if (rc) return rc;
  *blocked = PQntuples(r) > 0;
  PQclear(r);
  return 0;
}

int chirp_block_hidden_read(PGconn *pg, int64_t owner, char **text, int64_t *version) {
  char o[24];
  fmt(o, owner);
  const char *p[] = {o};
  PGresult *r;
  /* One statement: one snapshot, so the set and its version agree. */
  int rc = chirp_pg_exec(pg,
                         "SELECT (SELECT coalesce(max(ver), 0) FROM hidden_versions WHERE account_id = $1), "
                         "  'h' || coalesce(string_agg(',' || other || ':' || f, '' ORDER BY other), '') "
                         "FROM (SELECT other, bit_or(f) AS f FROM ("
                         "  SELECT target_id AS other, 1 AS f FROM blocks_mutes "
                         "    WHERE kind = 1 AND actor_id = $1 AND active "
                         "  UNION ALL SELECT actor_id, 2 FROM blocks_mutes "
                         "    WHERE kind = 1 AND target_id = $1 AND active "
                         "  UNION ALL SELECT target_id, 4 FROM blocks_mutes "
                         "    WHERE kind = 2 AND actor_id = $1 AND active) e GROUP BY other) s",
                         1, p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return CHIRP_EINTERNAL;
  }
  *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  *text = strdup(PQgetvalue(r, 0, 1));
  PQclear(r);
  return *text ? 0 : CHIRP_ENOMEM;
}

int chirp_block_hidden_refresh(redisContext *r, PGconn *pg, int64_t owner, char **text) {
  char *t = NULL, key[CHIRP_KEY_BUFSZ];
  int64_t ver = 0;
  int rc = chirp_block_hidden_read(pg, owner, &t, &ver);
  if (!rc && r)
    rc = chirp_cache_put(r, chirp_key_hidden(key, owner), ver, t, CHIRP_HIDDEN_TTL_S);
  if (!rc && text) *text = t;
  else free(t);
  return rc;
}

int chirp_block_list(PGconn *pg, enum chirp_block_kind kind, int64_t actor, int64_t before,
                     int limit, int64_t **ids, size_t *n, int64_t *next) {
  char k[24], a[24], b[24], l[24];
  fmt(k, kind);
  fmt(a, actor);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(l, limit + 1); /* one more row tells whether a next page exists */
  const char *p[] = {k, a, b, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT m.target_id, m.event_id FROM blocks_mutes m "
                         "JOIN accounts ON accounts.id = m.target_id "
                         "WHERE m.kind = $1 AND m.actor_id = $2 AND m.active AND m.event_id < $3 "
                         "AND accounts.deleted_at IS NULL ORDER BY m.event_id DESC LIMIT $4",
                         4, p, &r);
  if (rc) return rc;
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  int64_t *out = malloc((size_t)(shown ? shown : 1) * sizeof *out);
  if (!out) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (int i = 0; i < shown; i++) out[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
  *next = rows > limit ? strtoll(PQgetvalue(r, shown - 1, 1), NULL, 10) : 0;
  PQclear(r);
  *ids = out;
  *n = (size_t)shown;
  return 0;
}

int chirp_block_follow_bits(PGconn *pg, int64_t viewer, const int64_t *ids, size_t n,
                            unsigned *bits) {
  for (size_t i = 0; i < n; i++) bits[i] = 0;
  if (n == 0) return 0;
  char v[24], *arr = chirp_pg_id_array(ids, n);
  if (!arr) return CHIRP_ENOMEM;
  fmt(v, viewer);
  const char *p[] = {v, arr};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT followee_id, 1 FROM follows WHERE follower_id = $1 AND active "
                         "  AND followee_id = ANY($2::bigint[]) "
                         "UNION ALL SELECT follower_id, 2 FROM follows WHERE followee_id = $1 "
                         "  AND active AND follower_id = ANY($2::bigint[])",
                         2, p, &r);
  free(arr);
  if (rc) return rc;
  for (int row = 0; row < PQntuples(r); row++) {
    int64_t id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
    unsigned b = (unsigned)atoi(PQgetvalue(r, row, 1));
    for (size_t i = 0; i < n; i++)
      if (ids[i] == id) bits[i] |= b;
  }
  PQclear(r);
  return 0;
}
