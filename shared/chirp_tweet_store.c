/*
 * chirp_tweet_store.c — tweets in PostgreSQL.
 *
 * Times cross the wire as epoch milliseconds (bigint text) and are turned
 * into timestamptz by the statements themselves, so no code formats dates
 * for SQL.  Each write is an upsert chosen so that the three events of a
 * tweet (created, edited, deleted) give the same row in any order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_pg.h"
#include "chirp_tweet.h"

#define MS(col) "(extract(epoch from " col ") * 1000)::bigint"
#define TS(param) "to_timestamp(" param "::bigint / 1000.0)"
/* The poll's definition comes along as JSON in the shape chirp_poll.h
   gives it. */
#define TWEET_COLS                                                                       \
  "id, author_id, text, coalesce(reply_to, 0), " MS("created_at") ", coalesce(" MS(   \
      "edited_at") ", 0), coalesce(" MS("deleted_at") ", 0), "                           \
  "coalesce(quote_of, 0), "                                                        \
  "(SELECT json_build_object('id', p.id::text, 'options', p.options, 'multiple', "       \
  "p.multiple, 'expires_at', to_char(p.expires_at AT TIME ZONE 'UTC', "                  \
  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM polls p WHERE p.tweet_id = tweets.id)"

static void fmt_i64(char *buf, int64_t v) { snprintf(buf, 24, "%lld", (long long)v); }

int chirp_tweet_store_create(PGconn *pg, const chirp_tweet *t, int *inserted) {
  char id[24], author[24], reply[24], created[24], quote[24];
  fmt_i64(id, t->id);
  fmt_i64(author, t->author_id);
  fmt_i64(reply, t->reply_to);
  fmt_i64(created, t->created_ms);
  fmt_i64(quote, t->quote_of);
  const char *p[] = {id, author, t->text, t->reply_to ? reply : NULL, created,
                     t->quote_of ? quote : NULL};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO tweets (id, author_id, text, reply_to, created_at, quote_of) "
                         "VALUES ($1, $2, $3, $4, " TS("$5") ", $6) ON CONFLICT (id) DO NOTHING",
                         6, p, &r);
  if (rc) return rc;
  if (inserted) *inserted = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  return 0;
}

/* The rows of tweets[0..n) as one JSON array (a statement's parameter for
   json_to_recordset): a new string, NULL when out of memory. */
static char *rows_json(const chirp_tweet *const *tweets, size_t n) {
  json_t *rows = json_array();
  int rc = rows ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    const chirp_tweet *t = tweets[i];
    /* Ids as strings: a JSON number would pass through a double. */
    json_t *row = json_pack("{s:o, s:o, s:s, s:o, s:I, s:o}", "id", chirp_json_id(t->id), "author_id",
                            chirp_json_id(t->author_id), "text", t->text ? t->text : "",
                            "reply_to", t->reply_to ? chirp_json_id(t->reply_to) : json_null(),
                            "created_ms", (json_int_t)t->created_ms, "quote_of",
                            t->quote_of ? chirp_json_id(t->quote_of) : json_null());
    if (!row || json_array_append_new(rows, row)) rc = CHIRP_ENOMEM;
  }
  char *doc = rc ? NULL : json_dumps(rows, JSON_COMPACT);
  json_decref(rows);
  return doc;
}

/* The rows of the document, locked in id order (so that two workers
   storing overlapping batches never deadlock). */
#define INSERT_ROWS                                                                          \
  "INSERT INTO tweets (id, author_id, text, reply_to, created_at, quote_of) "              \
  "SELECT id::bigint, author_id::bigint, text, reply_to::bigint, " TS("created_ms")        \
  ", quote_of::bigint FROM json_to_recordset($1::json) "                                    \
  "AS x(id text, author_id text, text text, reply_to text, created_ms bigint, quote_of text) " \
  "ORDER BY 1 ON CONFLICT (id) DO NOTHING"

int chirp_tweet_store_create_many(PGconn *pg, const chirp_tweet *const *tweets, size_t n) {
  if (n == 0) return 0;
  char *doc = rows_json(tweets, n);
  if (!doc) return CHIRP_ENOMEM;
  const char *p[] = {doc};
  int rc = chirp_pg_exec(pg, INSERT_ROWS, 1, p, NULL);
  free(doc);
  return rc;
}

/* Sets authored[i] for each tweet whose (id, author) is a row of r. */
static void mark_ids(PGresult *r, const chirp_tweet *const *tweets, size_t n,
                     unsigned char *authored) {
  for (int row = 0; row < PQntuples(r); row++) {
    int64_t id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
    int64_t author = strtoll(PQgetvalue(r, row, 1), NULL, 10);
    for (size_t i = 0; i < n; i++)
      if (tweets[i]->id == id && tweets[i]->author_id == author) authored[i] = 1;
  }
}

int chirp_tweet_store_create_checked(PGconn *pg, const chirp_tweet *const *tweets, size_t n,
                                     unsigned char *authored) {
  for (size_t i = 0; i < n; i++) authored[i] = 0;
  if (n == 0) return 0;
  /* The first tweet of each id is the one inserted (as one by one: a
     later event naming the same id with another author finds the row
     there and is another author's). */
  const chirp_tweet **first = malloc(n * sizeof *first);
  if (!first) return CHIRP_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < m && first[k]->id != tweets[i]->id) k++;
    if (k == m) first[m++] = tweets[i];
  }
  char *ins = rows_json(first, m), *doc = rows_json(tweets, n);
  free(first);
  if (!ins || !doc) {
    free(ins);
    free(doc);
    return CHIRP_ENOMEM;
  }
  const char *pi[] = {ins}, *p[] = {doc};
  PGresult *r;
  int rc = chirp_pg_exec(pg, INSERT_ROWS " RETURNING id, author_id", 1, pi, &r);
  free(ins);
  if (!rc) {
    mark_ids(r, tweets, n, authored);
    PQclear(r);
  }
  size_t left = 0;
  for (size_t i = 0; !rc && i < n; i++) left += !authored[i];
  /* Rows that were there (the fan-out role's, a tombstone, another
     author's): read after the upsert, which waited for and locked them, by
     a statement of its own, whose snapshot sees them whoever wrote them. */
  if (!rc && left) {
    rc = chirp_pg_exec(pg,
                       "SELECT t.id, t.author_id FROM json_to_recordset($1::json) AS "
                       "x(id text, author_id text) "
                       "JOIN tweets t ON t.id = x.id::bigint AND t.author_id = x.author_id::bigint",
                       1, p, &r);
    if (!rc) {
      mark_ids(r, tweets, n, authored);
      PQclear(r);
    }
  }
  free(doc);
  return rc;
}

/* After an upsert of the row, which locked it: this read sees that row
   whoever wrote it. */
static int check_author(PGconn *pg, const char *id, const char *author, int *authored) {
  const char *p[] = {id, author};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT count(*) FROM tweets WHERE id = $1 AND author_id = $2", 2,
                         p, &r);
  if (rc) return rc;
  *authored = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
  PQclear(r);
  return 0;
}

int chirp_tweet_store_authored(PGconn *pg, int64_t id, int64_t author, int *authored) {
  char i[24], a[24];
  fmt_i64(i, id);
  fmt_i64(a, author);
  return check_author(pg, i, a, authored);
}

int chirp_tweet_store_edit(PGconn *pg, int64_t event_id, const chirp_tweet *t,
                           const char *prev_text, int64_t prev_since_ms, int *authored) {
  char id[24], author[24], reply[24], created[24], edited[24], ev[24], since[24];
  fmt_i64(id, t->id);
  fmt_i64(author, t->author_id);
  fmt_i64(reply, t->reply_to);
  fmt_i64(created, t->created_ms);
  fmt_i64(edited, t->edited_ms);
  fmt_i64(ev, event_id);
  fmt_i64(since, prev_since_ms);
  char quote[24];
  fmt_i64(quote, t->quote_of);
  const char *p[] = {id, author, t->text, t->reply_to ? reply : NULL, created, edited,
                     t->quote_of ? quote : NULL};
  /* Last writer wins by edit time: a late, older edit does not overwrite.
     Only the tweet's author edits it (the gateway checks; this is the
     defence behind it). */
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO tweets (id, author_id, text, reply_to, created_at, edited_at, "
                         "quote_of) VALUES ($1, $2, $3, $4, " TS("$5") ", " TS("$6") ", $7) "
                         "ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, "
                         "edited_at = EXCLUDED.edited_at "
                         "WHERE tweets.author_id = EXCLUDED.author_id AND "
                         "(tweets.edited_at IS NULL OR tweets.edited_at < EXCLUDED.edited_at)",
                         7, p, NULL);
  int mine = 0;
  if (!rc) rc = check_author(pg, id, author, &mine);
  if (rc) return rc;
  if (authored) *authored = mine;
  if (!mine) return 0; /* another author's tweet: no history either */
  const char *q[] = {ev, id, prev_text, since, edited};
  return chirp_pg_exec(pg,
                       "INSERT INTO tweet_versions (event_id, tweet_id, text, since, until) "
                       "VALUES ($1, $2, $3, " TS("$4") ", " TS("$5") ") "
                       "ON CONFLICT (event_id) DO NOTHING",
                       5, q, NULL);
}

int chirp_tweet_store_delete(PGconn *pg, const chirp_tweet *t, int *authored) {
  /* A delete without its time would store the epoch, which reads as "not
     deleted" (regression: the fan-out role once forgot to read it). */
  if (t->deleted_ms <= 0) return CHIRP_EINVAL;
  char id[24], author[24], created[24], deleted[24];
  fmt_i64(id, t->id);
  fmt_i64(author, t->author_id);
  fmt_i64(created, t->created_ms);
  fmt_i64(deleted, t->deleted_ms);
  const char *p[] = {id, author, created, deleted};
  /* A delete that overtakes its create leaves a tombstone row; the create
     then finds the id taken and changes nothing.  Only the author's delete
     touches an existing row. */
  int rc = chirp_pg_exec(pg,
                         "INSERT INTO tweets (id, author_id, text, created_at, deleted_at) "
                         "VALUES ($1, $2, '', " TS("$3") ", " TS("$4") ") "
                         "ON CONFLICT (id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at "
                         "WHERE tweets.deleted_at IS NULL AND tweets.author_id = EXCLUDED.author_id",
                         4, p, NULL);
  int mine = 0;
  if (!rc && authored) rc = check_author(pg, id, author, &mine);
  if (!rc && authored) *authored = mine;
  return rc;
}

static int row_to_tweet(PGresult *r, int row, chirp_tweet *t) {
  memset(t, 0, sizeof *t);
  t->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
  t->author_id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
  t->text = strdup(PQgetvalue(r, row, 2));
  t->reply_to = strtoll(PQgetvalue(r, row, 3), NULL, 10);
  t->created_ms = strtoll(PQgetvalue(r, row, 4), NULL, 10);
  t->edited_ms = strtoll(PQgetvalue(r, row, 5), NULL, 10);
  t->deleted_ms = strtoll(PQgetvalue(r, row, 6), NULL, 10);
  t->quote_of = strtoll(PQgetvalue(r, row, 7), NULL, 10);
  if (!PQgetisnull(r, row, 8)) t->poll = json_loads(PQgetvalue(r, row, 8), 0, NULL);
  return t->text ? 0 : CHIRP_ENOMEM;
}

int chirp_tweet_store_get(PGconn *pg, int64_t id, chirp_tweet *out) {
  char ids[24];
  fmt_i64(ids, id);
  const char *p[] = {ids};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT " TWEET_COLS " FROM tweets WHERE id = $1", 1, p, &r);
  if (rc) return rc;
  rc = PQntuples(r) == 1 ? row_to_tweet(r, 0, out) : CHIRP_ENOTFOUND;
  PQclear(r);
  return rc;
}

int chirp_tweet_store_get_many(PGconn *pg, const int64_t *ids, size_t n, chirp_tweet **out,
                               size_t *nout) {
  *out = NULL;
  *nout = 0;
  char *arr = chirp_pg_id_array(ids, n);
  if (!arr) return CHIRP_ENOMEM;
  const char *p[] = {arr};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT " TWEET_COLS " FROM tweets WHERE id = ANY($1::bigint[])", 1, p,
                         &r);
  free(arr);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r), got = 0;
  chirp_tweet *a = calloc(rows ? rows : 1, sizeof *a);
  if (!a) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++)
    if (row_to_tweet(r, (int)i, &a[got]) == 0) got++;
  PQclear(r);
  *out = a;
  *nout = got;
  return 0;
}

int chirp_tweet_store_list_by_author(PGconn *pg, int64_t author_id, int64_t before, int limit,
                                     chirp_tweet **out, size_t *n) {
  char a[24], b[24], l[24];
  fmt_i64(a, author_id);
  fmt_i64(b, before > 0 ? before : INT64_MAX);
  fmt_i64(l, limit);
  const char *p[] = {a, b, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT " TWEET_COLS " FROM tweets WHERE author_id = $1 AND id < $2 "
                         "AND deleted_at IS NULL ORDER BY id DESC LIMIT $3",
                         3, p, &r);
  if (rc) return rc;
  size_t rows = (size_t)PQntuples(r);
  chirp_tweet *a_out = calloc(rows ? rows : 1, sizeof *a_out);
  if (!a_out) {
    PQclear(r);
    return CHIRP_ENOMEM;
  }
  for (size_t i = 0; i < rows; i++) {
    if (row_to_tweet(r, (int)i, &a_out[i])) {
      chirp_tweet_array_free(a_out, i + 1);
      PQclear(r);
      return CHIRP_ENOMEM;
    }
  }
  PQclear(r);
  *out = a_out;
  *n = rows;
  return 0;
}

int chirp_tweet_store_history(PGconn *pg, int64_t id, json_t **out) {
  char ids[24];
  fmt_i64(ids, id);
  const char *p[] = {ids};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT text, " MS("since") ", " MS("until") " FROM tweet_versions "
                         "WHERE tweet_id = $1 ORDER BY until DESC LIMIT 100",
                         1, p, &r);
  if (rc) return rc;
  json_t *arr = json_array();
  for (int i = 0; arr && i < PQntuples(r); i++) {
    json_t *v = json_object();
    json_object_set_new(v, "text", json_string(PQgetvalue(r, i, 0)));
    json_object_set_new(v, "since", chirp_json_time(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    json_object_set_new(v, "until", chirp_json_time(strtoll(PQgetvalue(r, i, 2), NULL, 10)));
    json_array_append_new(arr, v);
  }
  PQclear(r);
  if (!arr) return CHIRP_ENOMEM;
  *out = arr;
  return 0;
}
