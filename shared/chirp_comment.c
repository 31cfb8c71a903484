/* chirp_comment.c — comments, see chirp_comment.h. */
#include "chirp_comment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

#define MS(col) "(extract(epoch from " col ") * 1000)::bigint"
#define COMMENT_COLS                                                                   \
  "id, tweet_id, author_id, text, " MS("created_at") ", coalesce(" MS("edited_at") \
  ", 0), coalesce(" MS("deleted_at") ", 0)"

void chirp_comment_cleanup(chirp_comment *c) {
  free(c->text);
  c->text = NULL;
}

json_t *chirp_comment_to_json(const chirp_comment *c) {
  return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o}", "id", chirp_json_id(c->id), "tweet_id",
                   chirp_json_id(c->tweet_id), "author_id", chirp_json_id(c->author_id), "text",
                   c->text ? c->text : "", "created_at", chirp_json_time(c->created_ms),
                   "edited_at", c->edited_ms ? chirp_json_time(c->edited_ms) : json_null());
}

int chirp_comment_from_json(const json_t *j, chirp_comment *c) {
  memset(c, 0, sizeof *c);
  const char *text = json_string_value(json_object_get(j, "text"));
  const json_t *edited = json_object_get(j, "edited_at");
  if (!text || chirp_json_get_id(j, "id", &c->id) || chirp_json_get_id(j, "tweet_id", &c->tweet_id) ||
      chirp_json_get_id(j, "author_id", &c->author_id) ||
      chirp_json_get_time(j, "created_at", &c->created_ms))
    return CHIRP_EMALFORMED;
  if (edited && !json_is_null(edited) && chirp_json_get_time(j, "edited_at", &c->edited_ms))
    return CHIRP_EMALFORMED;
  c->text = strdup(text);
  return c->text ? 0 : CHIRP_ENOMEM;
}

static void fmt(char *b, int64_t v) { snprintf(b, 24, "%lld", (long long)v); }

int chirp_comment_store_put(PGconn *pg, const chirp_comment *c, int *delta, int *applied) {
  char id[24], t[24], a[24], cr[24], ed[24], de[24];
  fmt(id, c->id);
  fmt(t, c->tweet_id);
  fmt(a, c->author_id);
  fmt(cr, c->created_ms);
  fmt(ed, c->edited_ms);
  fmt(de, c->deleted_ms);
  const char *p[] = {id, t, a, c->text, cr, c->edited_ms ? ed : NULL, c->deleted_ms ? de : NULL};
  PGresult *r;
  /* Insert, or move an existing row forward: a delete always wins, an edit
     only over an older edit, and only for the row's own author and tweet
     (an event naming another author changes nothing).  The UPDATE records
     the liveness it replaced (prev_live, migration 006): it sees the
     latest committed row, also one inserted by a transaction that was still
     open when this statement began, so the count in tweet_counts moves by
     exactly what changed, in the same statement. */
  int rc = chirp_pg_exec(
      pg,
      "WITH up AS (INSERT INTO comments (id, tweet_id, author_id, text, created_at, edited_at, "
      "                                  deleted_at, prev_live) "
      "  VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), "
      "          to_timestamp($6::bigint / 1000.0), "
      /* A comment still in flight when its author was deleted is stored
         deleted: the author's purge may have run already. */
      "          coalesce(to_timestamp($7::bigint / 1000.0), "
      "                   (SELECT deleted_at FROM accounts WHERE id = $3)), false) "
      "  ON CONFLICT (id) DO UPDATE SET "
      "    prev_live = comments.deleted_at IS NULL, "
      "    text = CASE WHEN EXCLUDED.edited_at > coalesce(comments.edited_at, '-infinity') "
      "                THEN EXCLUDED.text ELSE comments.text END, "
      "    edited_at = greatest(comments.edited_at, EXCLUDED.edited_at), "
      "    deleted_at = coalesce(comments.deleted_at, EXCLUDED.deleted_at) "
      "  WHERE comments.author_id = EXCLUDED.author_id AND comments.tweet_id = EXCLUDED.tweet_id "
      "  RETURNING tweet_id, (deleted_at IS NULL)::int - prev_live::int AS d), "
      "counted AS (INSERT INTO tweet_counts (tweet_id, comments) "
      "  SELECT tweet_id, d FROM up WHERE d <> 0 "
      "  ON CONFLICT (tweet_id) DO UPDATE SET comments = tweet_counts.comments + EXCLUDED.comments) "
      "SELECT d FROM up",
      7, p, &r);
  if (rc) return rc;
  int rows = PQntuples(r);
  *delta = rows == 1 ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  if (applied) *applied = rows == 1;
  PQclear(r);
  return 0;
}

static int row_to_comment(PGresult *r, int row, chirp_comment *c) {
  memset(c, 0, sizeof *c);
  c->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
  c->tweet_id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
  c->author_id = strtoll(PQgetvalue(r, row, 2), NULL, 10);
  c->text = strdup(PQgetvalue(r, row, 3));
  c->created_ms = strtoll(PQgetvalue(r, row, 4), NULL, 10);
  c->edited_ms = strtoll(PQgetvalue(r, row, 5), NULL, 10);
  c->deleted_ms = strtoll(PQgetvalue(r, row, 6), NULL, 10);
  return c->text ? 0 : CHIRP_ENOMEM;
}

int chirp_comment_store_get(PGconn *pg, int64_t id, chirp_comment *out) {
  char i[24];
  fmt(i, id);
  const char *p[] = {i};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT " COMMENT_COLS " FROM comments WHERE id = $1", 1, p, &r);
  if (rc) return rc;
  rc = PQntuples(r) == 1 ? row_to_comment(r, 0, out) : CHIRP_ENOTFOUND;
  PQclear(r);
  return rc;
}

int chirp_comment_store_list(PGconn *pg, int64_t tweet, int64_t after, int limit, json_t **items,
                             int64_t *next) {
  char t[24], a[24], l[24];
  fmt(t, tweet);
  fmt(a, after);
  fmt(l, limit + 1);
  const char *p[] = {t, a, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " COMMENT_COLS " FROM comments WHERE tweet_id = $1 AND id > $2 "
                         "AND deleted_at IS NULL ORDER BY id LIMIT $3",
                         3, p, &r);
  if (rc) return rc;
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  json_t *arr = json_array();
  *next = 0;
  for (int i = 0; arr && i < shown; i++) {
    chirp_comment c;
    if (row_to_comment(r, i, &c) == 0) json_array_append_new(arr, chirp_comment_to_json(&c));
    if (i == shown - 1 && rows > limit) *next = c.id;
    chirp_comment_cleanup(&c);
  }
  PQclear(r);
  if (!arr) return CHIRP_ENOMEM;
  *items = arr;
  return 0;
}

int chirp_comment_store_count(PGconn *pg, int64_t tweet, long long *count) {
  char t[24];
  fmt(t, tweet);
  const char *p[] = {t};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT comments FROM tweet_counts WHERE tweet_id = $1", 1, p, &r);
  if (rc) return rc;
  *count = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return 0;
}

int chirp_comment_cache_put(redisContext *r, const chirp_comment *c, int ttl_s) {
  char key[CHIRP_KEY_BUFSZ], *s = NULL;
  if (!c->deleted_ms) {
    json_t *j = chirp_comment_to_json(c);
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return CHIRP_ENOMEM;
  }
  int64_t version = c->deleted_ms > c->edited_ms ? c->deleted_ms : c->edited_ms;
  int rc = chirp_cache_put(r, chirp_key_comment(key, c->id), version, s ? s : "", ttl_s);
  free(s);
  return rc;
}

int chirp_comment_cache_get(redisContext *r, int64_t id, char **json, size_t *len, int *deleted) {
  char key[CHIRP_KEY_BUFSZ];
  return chirp_cache_get(r, chirp_key_comment(key, id), json, len, deleted);
}
