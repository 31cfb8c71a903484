/*
 * chirp_time.h — wall-clock and monotonic time in milliseconds, and the one
 * timestamp format of the API (RFC 3339, UTC, millisecond precision:
 * "2026-11-26T23:40:00.123Z").  Pure and thread-safe.
 */
#ifndef CHIRP_TIME_H
#define CHIRP_TIME_H

#include <stddef.h>
#include <stdint.h>

#define CHIRP_TIME_BUFSZ 32

int64_t chirp_time_now_ms(void);       /* Unix epoch milliseconds */
int64_t chirp_time_mono_us(void);      /* monotonic microseconds */
/* Writes ms as RFC 3339 into buf (at least CHIRP_TIME_BUFSZ bytes). */
void chirp_time_format_ms(int64_t ms, char *buf, size_t n);
/* Parses what chirp_time_format_ms writes (and PostgreSQL's "…+00" form);
   returns 0 or CHIRP_EINVAL. */
int chirp_time_parse_ms(const char *s, int64_t *out);

#endif
