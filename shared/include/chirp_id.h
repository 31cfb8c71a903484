/*
 * chirp_id.h — time-ordered 64-bit ids (Snowflake layout).
 *
 *   bit 63    : 0 (ids stay positive in PostgreSQL's bigint)
 *   bits 62-22: milliseconds since CHIRP_ID_EPOCH_MS (41 bits, ~69 years)
 *   bits 21-12: node id 0-1023 (one per gateway/worker process)
 *   bits 11-0 : sequence within the millisecond (4096 per ms per node)
 *
 * Ids from one generator strictly increase; ids from different nodes are
 * ordered by millisecond.  A generator is thread-safe.  If the clock steps
 * back, the generator keeps using its last millisecond rather than repeat.
 *
 * Ids go over the API as decimal strings (JSON numbers above 2^53 lose
 * precision in JavaScript); chirp_id_parse accepts exactly that form.
 */
#ifndef CHIRP_ID_H
#define CHIRP_ID_H

#include <stddef.h>
#include <stdint.h>

#define CHIRP_ID_EPOCH_MS INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */
#define CHIRP_ID_NODE_MAX 1023
#define CHIRP_ID_STRSZ 21 /* 19 digits + NUL, rounded */

typedef struct chirp_idgen {
  int64_t last_ms;
  int64_t seq;
  int64_t node;
} chirp_idgen;

/* node must be 0..CHIRP_ID_NODE_MAX; returns 0 or CHIRP_EINVAL. */
int chirp_idgen_init(chirp_idgen *g, int node);
/* Next id for wall-clock time now_ms (injectable for tests). Thread-safe. */
int64_t chirp_idgen_next_at(chirp_idgen *g, int64_t now_ms);
int64_t chirp_idgen_next(chirp_idgen *g);

/* The millisecond (Unix epoch) an id was made in. */
int64_t chirp_id_time_ms(int64_t id);
/* The smallest id that any node could make at unix ms (for range queries). */
int64_t chirp_id_min_at_ms(int64_t ms);

/* Parses a positive decimal id with no sign, spaces or leading zeros;
   returns 0 or CHIRP_EINVAL. */
int chirp_id_parse(const char *s, int64_t *out);
/* Writes the decimal form into buf (CHIRP_ID_STRSZ bytes); returns buf. */
char *chirp_id_format(int64_t id, char *buf);

#endif
