/* chirp_num.c — decimal integers without stdio, see chirp_num.h. */
#include "chirp_num.h"

#include <string.h>

static const char pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t chirp_num_format(long long v, char *buf) {
  char tmp[CHIRP_NUM_STRSZ];
  char *p = tmp + sizeof tmp;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100);
    u /= 100;
    p -= 2;
    memcpy(p, pairs + 2 * d, 2);
  }
  if (u >= 10) {
    p -= 2;
    memcpy(p, pairs + 2 * u, 2);
  } else {
    *--p = (char)('0' + u);
  }
  if (v < 0) *--p = '-';
  size_t n = (size_t)(tmp + sizeof tmp - p);
  memcpy(buf, p, n);
  buf[n] = '\0';
  return n;
}

int64_t chirp_num_leading(const char *s) {
  uint64_t v = 0;
  int k = 0;
  for (; s[k] >= '0' && s[k] <= '9'; k++) {
    if (k == 19) return 0; /* more digits than any int64_t */
    v = v * 10 + (uint64_t)(s[k] - '0');
  }
  return v > (uint64_t)INT64_MAX ? 0 : (int64_t)v;
}
