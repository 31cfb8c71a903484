/* chirp_pg.c — libpq connection and statement helpers. */
#include "chirp_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_log.h"

int chirp_pg_connect(const char *url, PGconn **out) {
  const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
  const char *const vals[] = {url, "3", "chirp", NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (!c) return CHIRP_ENOMEM;
  if (PQstatus(c) != CONNECTION_OK) {
    chirp_debug("postgres connect: %s", PQerrorMessage(c));
    PQfinish(c);
    return CHIRP_EUNAVAILABLE;
  }
  *out = c;
  return 0;
}

static _Thread_local unsigned long thread_queries;
static _Atomic unsigned long long total_queries;

unsigned long chirp_pg_thread_queries(void) { return thread_queries; }
unsigned long long chirp_pg_total_queries(void) { return total_queries; }

int chirp_pg_exec(PGconn *conn, const char *sql, int n, const char *const *params,
                  PGresult **out) {
  thread_queries++;
  total_queries++;
  PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out)
      *out = r;
    else
      PQclear(r);
    return 0;
  }
  int rc;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (PQstatus(conn) != CONNECTION_OK) {
    rc = CHIRP_EUNAVAILABLE;
  } else if (state && strcmp(state, "23505") == 0) {
    rc = CHIRP_ECONFLICT;
  } else {
    chirp_error("postgres: %s (sqlstate %s)", PQerrorMessage(conn), state ? state : "?");
    rc = CHIRP_EINTERNAL;
  }
  PQclear(r);
  return rc;
}

int chirp_pg_begin(PGconn *conn) { return chirp_pg_exec(conn, "BEGIN", 0, NULL, NULL); }
int chirp_pg_commit(PGconn *conn) { return chirp_pg_exec(conn, "COMMIT", 0, NULL, NULL); }
void chirp_pg_rollback(PGconn *conn) {
  if (PQstatus(conn) == CONNECTION_OK) (void)chirp_pg_exec(conn, "ROLLBACK", 0, NULL, NULL);
}

char *chirp_pg_id_array(const int64_t *ids, size_t n) {
  char *arr = malloc(n * 21 + 3); /* each "-9223372036854775808" or ",…" */
  if (!arr) return NULL;
  size_t w = 0;
  arr[w++] = '{';
  for (size_t i = 0; i < n; i++)
    w += (size_t)snprintf(arr + w, 22, "%s%lld", i ? "," : "", (long long)ids[i]);
  arr[w++] = '}';
  arr[w] = '\0';
  return arr;
}

int chirp_pg_ids(const PGresult *r, int col, int64_t **out, size_t *n) {
  size_t rows = (size_t)PQntuples(r);
  int64_t *ids = malloc((rows ? rows : 1) * sizeof *ids);
  if (!ids) return CHIRP_ENOMEM;
  for (size_t i = 0; i < rows; i++) ids[i] = strtoll(PQgetvalue(r, (int)i, col), NULL, 10);
  *out = ids;
  *n = rows;
  return 0;
}
