/* chirp_time.c — clocks and RFC 3339 timestamps. */
#define _POSIX_C_SOURCE 200809L
#include "chirp_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chirp_error.h"

int64_t chirp_time_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t chirp_time_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void chirp_time_format_ms(int64_t ms, char *buf, size_t n) {
  time_t secs = (time_t)(ms / 1000);
  int frac = (int)(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  int year = tm.tm_year + 1900;
  if (n < 25 || year < 0 || year > 9999) {
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return;
  }
  /* The same text by hand: a POST writes three of them (snprintf was 3.7 k
     instructions each). */
  int v[] = {year / 100, year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
  static const char sep[] = "\0--T::"; /* what follows v[0..6] (its NUL too): '\0' nothing */
  char *p = buf;
  for (int i = 0; i < 7; i++) {
    *p++ = (char)('0' + v[i] / 10);
    *p++ = (char)('0' + v[i] % 10);
    if (sep[i]) *p++ = sep[i];
  }
  *p++ = '.';
  *p++ = (char)('0' + frac / 100);
  *p++ = (char)('0' + frac / 10 % 10);
  *p++ = (char)('0' + frac % 10);
  *p++ = 'Z';
  *p = '\0';
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s into *out; -1 at the first byte that is not one
   (so it never reads past a NUL). */
static int fixed_digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int chirp_time_parse_ms(const char *s, int64_t *out) {
  int y, mo, d, h, mi, sec;
  /* Fixed positions, digits only: sscanf's %d would also take signs and
     leading spaces ("2026-12-01T-1: 7:01Z"). */
  if (fixed_digits(s, 4, &y) || s[4] != '-' || fixed_digits(s + 5, 2, &mo) || s[7] != '-' ||
      fixed_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') ||
      fixed_digits(s + 11, 2, &h) || s[13] != ':' || fixed_digits(s + 14, 2, &mi) ||
      s[16] != ':' || fixed_digits(s + 17, 2, &sec))
    return CHIRP_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return CHIRP_EINVAL;
  const char *p = s + 19;
  int64_t frac_ms = 0;
  if (*p == '.') {
    p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (*p - '0');
      digits++;
      p++;
    }
    if (digits == 0) return CHIRP_EINVAL;
    for (; digits < 3; digits++) frac_ms *= 10;
  }
  int64_t offset_s = 0;
  if (*p == 'Z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh = 0, om = 0;
    p++;
    if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9')) return CHIRP_EINVAL;
    oh = (p[0] - '0') * 10 + (p[1] - '0');
    p += 2;
    if (*p == ':' && fixed_digits(p + 1, 2, &om)) return CHIRP_EINVAL;
    if (*p == ':') {
      p += 3;
    } else if (fixed_digits(p, 2, &om) == 0) {
      p += 2;
    }
    if (oh > 23 || om > 59) return CHIRP_EINVAL;
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return CHIRP_EINVAL;
  }
  if (*p != '\0') return CHIRP_EINVAL;
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  int64_t ms = secs * 1000 + frac_ms;
  /* Only what chirp_time_format_ms can write back (years 0000-9999): an
     offset must not carry a time past either end. */
  if (ms < INT64_C(-62167219200000) || ms >= INT64_C(253402300800000)) return CHIRP_EINVAL;
  *out = ms;
  return 0;
}
