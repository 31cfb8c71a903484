/* test_parsers.c — regression tests for what the fuzz targets of tests/fuzz
   found in the parsers of outside bytes (each also a seed in its corpus). */
#include <sodium.h>

#include "../check.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_redis.h"
#include "chirp_time.h"

int main(void) {
  /* fuzz_cursor: base64url("feed:1\0junk") decoded to feed:1, a cursor no
     list ever made. */
  char cur[CHIRP_CURSOR_BUFSZ];
  static const unsigned char raw[] = "feed:1\0\x03\x00\x8f";
  sodium_bin2base64(cur, sizeof cur, raw, sizeof raw - 1, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  int64_t id = 0;
  CHECK_INT_EQ(chirp_cursor_decode(cur, "feed", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode("ZmVlZDoxAAMAj0MNTY3jM0DNTY3z", "feed", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode(chirp_cursor_encode("feed", 1, cur), "feed", &id), 0);
  CHECK_INT_EQ(id, 1);

  /* fuzz_id: sscanf's %d took signs and spaces inside a time. */
  int64_t ms = 0;
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T 7:01:41.123Z", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T-1:01:41Z", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms(" 2026-12-01T07:01:41Z", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("+026-12-01T07:01:41Z", &ms), CHIRP_EINVAL);
  /* ... an offset past 23:59, or one that carries the time past year 9999
     (which chirp_time_format_ms cannot write back) ... */
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T07:01:41+99:00", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T07:01:41+02:", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("9999-12-31T23:59:59-23:00", &ms), CHIRP_EINVAL);
  /* ... while every form in use still parses. */
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T07:01:41.123Z", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1796108501123));
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01 09:01:41.123+02:00", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1796108501123));
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T09:01:41.123+0200", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1796108501123));
  CHECK_INT_EQ(chirp_time_parse_ms("2026-12-01T09:01:41.123+02", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1796108501123));
  char buf[CHIRP_TIME_BUFSZ];
  chirp_time_format_ms(INT64_C(253402300799999), buf, sizeof buf);
  CHECK_INT_EQ(chirp_time_parse_ms(buf, &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(253402300799999));

  /* fuzz_redis_url: credentials end at the last '@' of the authority; the
     first one left "pa@ss@host" with a host of "ss@host". */
  chirp_redis_url u;
  char why[160];
  CHECK_INT_EQ(chirp_redis_parse_url("redis://user:pa@ss@cache.example.org:6380/2", &u, why,
                                     sizeof why), 0);
  CHECK_STR_EQ(u.host, "cache.example.org");
  CHECK_STR_EQ(u.user, "user");
  CHECK_STR_EQ(u.password, "pa@ss");
  CHECK_INT_EQ(u.port, 6380);
  CHECK_INT_EQ(u.db, 2);
  CHECK_INT_EQ(chirp_redis_parse_url("redis://1@.@.0.0.1:6379/0", &u, why, sizeof why), 0);
  CHECK_STR_EQ(u.host, ".0.0.1");
  CHECK_INT_EQ(chirp_redis_parse_url("redis://localhost/@x", &u, why, sizeof why), CHIRP_EINVAL);
  CHECK_DONE();
}
