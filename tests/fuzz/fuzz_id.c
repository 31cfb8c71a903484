/*
 * fuzz_id.c — ids as they come over the API (path segments, JSON strings)
 * and RFC 3339 times as events and cache entries carry them.
 *
 * An accepted id is positive and prints back to exactly the input; an
 * accepted time has the fields of a real time of day and survives
 * format -> parse unchanged.
 */
#include "chirp_id.h"
#include "chirp_time.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size);
  int64_t id = -1;
  if (chirp_id_parse(s, &id) == 0) {
    char buf[CHIRP_ID_STRSZ];
    FUZZ_ASSERT(id > 0);
    FUZZ_ASSERT(strcmp(chirp_id_format(id, buf), s) == 0);
  }
  int64_t ms;
  if (chirp_time_parse_ms(s, &ms) == 0) {
    /* Only the digits and separators of RFC 3339 ("2026-12-01T07:01:41.5Z"):
       no signs, no spaces inside a field. */
    for (int i = 0; i < 19; i++) {
      int sep = i == 4 || i == 7 || i == 10 || i == 13 || i == 16;
      FUZZ_ASSERT(sep || (s[i] >= '0' && s[i] <= '9'));
    }
    char buf[CHIRP_TIME_BUFSZ];
    int64_t back;
    chirp_time_format_ms(ms, buf, sizeof buf);
    FUZZ_ASSERT(chirp_time_parse_ms(buf, &back) == 0);
    FUZZ_ASSERT(back == ms);
  }
  free(s);
  return 0;
}
