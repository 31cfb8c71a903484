/*
 * chirp_pg.h — libpq helpers: connect with a timeout, run parameterised
 * statements, map failures onto CHIRP_E… codes.
 *
 * A PGconn is not thread-safe: one per thread.  SQL is always sent with
 * parameters ($1…); nothing here builds SQL from data.
 */
#ifndef CHIRP_PG_H
#define CHIRP_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Connects to url with a 3 s connect timeout.  On success *out is a new
   connection (PQfinish); on failure CHIRP_EUNAVAILABLE and *out untouched. */
int chirp_pg_connect(const char *url, PGconn **out);

/* Runs sql with n text parameters.  On success returns 0 and, if out is not
   NULL, *out is the result (PQclear); otherwise the result is cleared.
   Errors: CHIRP_ECONFLICT (unique violation), CHIRP_EUNAVAILABLE (the
   connection is broken: reconnect), CHIRP_EINTERNAL (anything else, logged). */
int chirp_pg_exec(PGconn *conn, const char *sql, int n, const char *const *params,
                  PGresult **out);

/* Reads column col of every row of r as an int64 id: *out is a new array
   (free) of *n ids.  0 or CHIRP_ENOMEM. */
int chirp_pg_ids(const PGresult *r, int col, int64_t **out, size_t *n);

/* The array literal "{1,2,3}" of ids[0..n), to send as one bigint[]
   parameter (WHERE id = ANY($1::bigint[])): a new string (free), or NULL
   when out of memory. */
char *chirp_pg_id_array(const int64_t *ids, size_t n);

/* Statements this thread has sent (a per-thread counter, for the admin
   log's "database accesses per call"), and all threads together. */
unsigned long chirp_pg_thread_queries(void);
unsigned long long chirp_pg_total_queries(void);

/* BEGIN / COMMIT / ROLLBACK with the same error mapping. */
int chirp_pg_begin(PGconn *conn);
int chirp_pg_commit(PGconn *conn);
void chirp_pg_rollback(PGconn *conn);

#endif
