/*
 * fuzz_text.c — UTF-8 and the text rules of tweets, comments, hashtags and
 * mentions.
 *
 * chirp_utf8_count is checked against an independent decoder written from
 * the table of well-formed byte sequences (Unicode 15, table 3-7); the
 * hashtag and mention parsers must stay within their bounds and return
 * distinct, lower-case, non-empty names.  The input is an exact-size
 * buffer, so a read past its end is an ASan report.
 */
#include <ctype.h>

#include "chirp_notify.h"
#include "chirp_search.h"
#include "chirp_text.h"
#include "fuzz.h"

/* Code points in s[0..n) per table 3-7 (NUL refused too), or -1. */
static long ref_count(const unsigned char *s, size_t n) {
  long count = 0;
  for (size_t i = 0; i < n; count++) {
    unsigned char b = s[i];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (b == 0) return -1;
    if (b <= 0x7f) len = 1;
    else if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b == 0xe0) len = 3, lo = 0xa0;
    else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) len = 3;
    else if (b == 0xed) len = 3, hi = 0x9f;
    else if (b == 0xf0) len = 4, lo = 0x90;
    else if (b >= 0xf1 && b <= 0xf3) len = 4;
    else if (b == 0xf4) len = 4, hi = 0x8f;
    else return -1;
    if (n - i < len) return -1;
    if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return -1;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return -1;
    i += len;
  }
  return count;
}

static void check_names(char (*names)[32], size_t n, size_t max, size_t maxlen) {
  FUZZ_ASSERT(n <= max);
  for (size_t i = 0; i < n; i++) {
    size_t len = strnlen(names[i], 32);
    FUZZ_ASSERT(len >= 1 && len <= maxlen);
    for (size_t k = 0; k < len; k++)
      FUZZ_ASSERT(names[i][k] == '_' || isdigit((unsigned char)names[i][k]) ||
                  islower((unsigned char)names[i][k]));
    for (size_t j = 0; j < i; j++) FUZZ_ASSERT(strcmp(names[i], names[j]) != 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_exact(data, size);
  long n = chirp_utf8_count(buf, size);
  FUZZ_ASSERT(n == ref_count(data, size));

  const char *why = NULL;
  int rc = chirp_text_check_body(buf, size, CHIRP_MAX_TWEET_CHARS, &why);
  FUZZ_ASSERT(rc == 0 ? n >= 1 && n <= CHIRP_MAX_TWEET_CHARS : why != NULL);
  why = NULL;
  if (chirp_text_check_free(buf, size, CHIRP_MAX_BIO_CHARS, 1, &why) == 0)
    FUZZ_ASSERT(n >= 0 && n <= CHIRP_MAX_BIO_CHARS);
  else
    FUZZ_ASSERT(why != NULL);
  free(buf);

  char *s = fuzz_cstr(data, size);
  char tags[CHIRP_MAX_HASHTAGS][CHIRP_MAX_HASHTAG_CHARS + 1];
  size_t nt = chirp_hashtags_parse(s, tags, CHIRP_MAX_HASHTAGS);
  FUZZ_ASSERT(nt <= CHIRP_MAX_HASHTAGS);
  for (size_t i = 0; i < nt; i++) {
    size_t len = strnlen(tags[i], CHIRP_MAX_HASHTAG_CHARS + 1);
    FUZZ_ASSERT(len >= 1 && len <= CHIRP_MAX_HASHTAG_CHARS);
    FUZZ_ASSERT(strstr(s, "#") != NULL);
    for (size_t j = 0; j < i; j++) FUZZ_ASSERT(strcmp(tags[i], tags[j]) != 0);
  }
  char names[CHIRP_MAX_MENTIONS][32];
  size_t nm = chirp_mentions_parse(s, names, CHIRP_MAX_MENTIONS);
  check_names(names, nm, CHIRP_MAX_MENTIONS, CHIRP_MAX_USERNAME_CHARS);
  /* A mention names a possible account. */
  for (size_t i = 0; i < nm; i++) FUZZ_ASSERT(chirp_text_check_username(names[i], NULL) == 0);
  free(s);
  return 0;
}
