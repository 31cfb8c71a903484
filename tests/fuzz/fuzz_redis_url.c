/*
 * fuzz_redis_url.c — CHIRP_REDIS_URL through chirp_redis_parse_url, the
 * parser chirp_redis_connect uses.
 *
 * An accepted URL gives a non-empty host that fits its buffer and has no
 * separator in it, a port of 1-65535 and a database of 0-15.
 */
#include "chirp_redis.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = fuzz_cstr(data, size);
  char host[64];
  memset(host, 'x', sizeof host);
  int port = -1, db = -1;
  if (chirp_redis_parse_url(url, host, sizeof host, &port, &db) == 0) {
    size_t hl = strnlen(host, sizeof host);
    FUZZ_ASSERT(hl >= 1 && hl < sizeof host);
    FUZZ_ASSERT(!strpbrk(host, ":/@"));
    FUZZ_ASSERT(port >= 1 && port <= 65535);
    FUZZ_ASSERT(db >= 0 && db <= 15);
  }
  free(url);
  return 0;
}
