/* test_num.c — chirp_num's decimal writing and reading against stdio's, and
   the key names written with it against their snprintf spelling. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../check.h"
#include "chirp_keys.h"
#include "chirp_num.h"
#include "chirp_time.h"

/* chirp_time_format_ms writes by hand what this printf wrote. */
static void time_is_printf(int64_t ms) {
  char got[CHIRP_TIME_BUFSZ], want[64];
  time_t secs = (time_t)(ms / 1000);
  int frac = (int)(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  chirp_time_format_ms(ms, got, sizeof got);
  CHECK_STR_EQ(got, want);
}

static void format_is_printf(long long v) {
  char got[CHIRP_NUM_STRSZ], want[32];
  size_t n = chirp_num_format(v, got);
  snprintf(want, sizeof want, "%lld", v);
  CHECK_STR_EQ(got, want);
  CHECK_INT_EQ(n, strlen(want));
}

int main(void) {
  long long edge[] = {0, 1, -1, 9, 10, 11, 99, 100, 101, 999, 1000, -10, -99, -100,
                      386101437616496640LL, 999999999999999999LL, 1000000000000000000LL,
                      LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) format_is_printf(edge[i]);
  unsigned long long x = 88172645463325252ULL; /* xorshift: every length and digit */
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    format_is_printf((long long)(x >> (i % 64)));
    format_is_printf(-(long long)(x >> (1 + i % 63)));
  }

  /* Times: the epoch, before it, the ids' range, leap days, far years. */
  int64_t times[] = {0, 1, 999, 1000, -1, -1001, INT64_C(1704067200000), INT64_C(1764590956145),
                     INT64_C(951782400000), INT64_C(4102444799999), INT64_C(253402300799999),
                     INT64_C(253402300800000), INT64_C(-62167219200000), INT64_C(-62167219200001)};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) time_is_printf(times[i]);
  for (int i = 0; i < 5000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    time_is_printf((int64_t)(x % UINT64_C(4102444800000)));
  }

  /* Leading digits, as strtoll reads them from our own JSON. */
  CHECK_INT_EQ(chirp_num_leading("386101433053093888\",\"text\""), 386101433053093888LL);
  CHECK_INT_EQ(chirp_num_leading("0"), 0);
  CHECK_INT_EQ(chirp_num_leading("7x"), 7);
  CHECK_INT_EQ(chirp_num_leading(""), 0);
  CHECK_INT_EQ(chirp_num_leading("\"12"), 0);
  CHECK_INT_EQ(chirp_num_leading("9223372036854775807"), INT64_MAX);
  CHECK_INT_EQ(chirp_num_leading("9223372036854775808"), 0);  /* does not fit */
  CHECK_INT_EQ(chirp_num_leading("12345678901234567890"), 0); /* 20 digits */

  /* Keys: the same bytes as their printf spelling, truncation included. */
  char k[CHIRP_KEY_BUFSZ], want[CHIRP_KEY_BUFSZ];
  CHECK_STR_EQ(chirp_key_tweet(k, 386101437616496640LL), "chirp:t:{386101437616496640}");
  CHECK_STR_EQ(chirp_key_likers(k, 386101437616496640LL), "chirp:lk:{386101437616496640}");
  CHECK_STR_EQ(chirp_key_tweet(k, 5), "chirp:t:{5}"); /* another id after the last one */
  CHECK_STR_EQ(chirp_key_comment_count(k, -12), "chirp:cc:{-12}");
  CHECK_STR_EQ(chirp_key_rate(k, "ip:127.0.0.1", "read", 1234567), "chirp:rl:{ip:127.0.0.1}:read:1234567");
  char long_client[200];
  memset(long_client, 'c', sizeof long_client - 1);
  long_client[sizeof long_client - 1] = '\0';
  snprintf(want, sizeof want, "chirp:rl:{%.80s}:%.8s:%lld", long_client, "writewritewrite", -5LL);
  CHECK_STR_EQ(chirp_key_rate(k, long_client, "writewritewrite", -5), want);
  const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  snprintf(want, sizeof want, "chirp:s:{%.64s}", hex);
  CHECK_STR_EQ(chirp_key_session(k, hex), want);
  char hex_long[100];
  snprintf(hex_long, sizeof hex_long, "%sEXTRA", hex);
  CHECK_STR_EQ(chirp_key_session(k, hex_long), want);
  CHECK_STR_EQ(chirp_key_session(k, "ab"), "chirp:s:{ab}");
  CHECK_DONE();
}
