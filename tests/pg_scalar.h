/*
 * pg_scalar.h — the integer a one-parameter query answers in its first
 * cell, for the C tests that look into PostgreSQL (test_store,
 * test_persist_worker).
 */
#ifndef CHIRP_TEST_PG_SCALAR_H
#define CHIRP_TEST_PG_SCALAR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "chirp_pg.h"

/* The first cell of sql run with arg as $1, as an integer; -1 when the
   query fails or answers no row. */
static inline long long pg_scalar(PGconn *pg, const char *sql, int64_t arg) {
  char a[24];
  snprintf(a, sizeof a, "%lld", (long long)arg);
  const char *p[] = {a};
  PGresult *r;
  if (chirp_pg_exec(pg, sql, 1, p, &r)) return -1;
  long long v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  return v;
}

#endif
