/* test_id.c — Snowflake ids: order, layout, parsing. */
#include <stdint.h>

#include "../check.h"
#include "chirp_error.h"
#include "chirp_id.h"

int main(void) {
  chirp_idgen g;
  CHECK_INT_EQ(chirp_idgen_init(&g, 1024), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_idgen_init(&g, -1), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_idgen_init(&g, 7), 0);

  int64_t t = INT64_C(1764200000123);
  int64_t a = chirp_idgen_next_at(&g, t);
  CHECK(a > 0);
  CHECK_INT_EQ(chirp_id_time_ms(a), t);
  CHECK_INT_EQ((a >> 12) & 0x3ff, 7);

  /* Strictly increasing within a millisecond, across the sequence limit,
     and when the clock steps back. */
  int64_t prev = a;
  int ordered = 1;
  for (int i = 0; i < 10000; i++) {
    int64_t id = chirp_idgen_next_at(&g, t);
    if (id <= prev) ordered = 0;
    prev = id;
  }
  CHECK(ordered);
  int64_t back = chirp_idgen_next_at(&g, t - 5000);
  CHECK(back > prev);
  int64_t later = chirp_idgen_next_at(&g, t + 60000);
  CHECK(later > back);
  CHECK_INT_EQ(chirp_id_time_ms(later), t + 60000);
  CHECK(chirp_id_min_at_ms(t + 60000) <= later);
  CHECK(chirp_id_min_at_ms(t + 60001) > later);

  /* Parsing accepts exactly the decimal form. */
  char buf[CHIRP_ID_STRSZ];
  int64_t out = 0;
  CHECK_INT_EQ(chirp_id_parse(chirp_id_format(a, buf), &out), 0);
  CHECK_INT_EQ(out, a);
  CHECK_INT_EQ(chirp_id_parse("9223372036854775807", &out), 0);
  CHECK_INT_EQ(out, INT64_MAX);
  CHECK_INT_EQ(chirp_id_parse("9223372036854775808", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse("", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse("0", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse("012", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse("-5", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse("12a", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse(" 12", &out), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_id_parse(NULL, &out), CHIRP_EINVAL);
  CHECK_DONE();
}
