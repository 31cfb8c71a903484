/* test_text.c — UTF-8 counting and the field rules. */
#include <string.h>

#include "../check.h"
#include "chirp_error.h"
#include "chirp_text.h"

static long count(const char *s) { return chirp_utf8_count(s, strlen(s)); }

int main(void) {
  const char *why = NULL;
  CHECK_INT_EQ(count(""), 0);
  CHECK_INT_EQ(count("abc"), 3);
  CHECK_INT_EQ(count("h\xc3\xa9llo"), 5);              /* é */
  CHECK_INT_EQ(count("\xe2\x9c\x93"), 1);              /* ✓ */
  CHECK_INT_EQ(count("\xf0\x9f\x90\xa6"), 1);          /* 🐦 */
  CHECK_INT_EQ(count("\xc3"), -1);                     /* truncated */
  CHECK_INT_EQ(count("\x80"), -1);                     /* lone continuation */
  CHECK_INT_EQ(count("\xc0\xaf"), -1);                 /* overlong '/' */
  CHECK_INT_EQ(count("\xe0\x80\xaf"), -1);             /* overlong, 3 bytes */
  CHECK_INT_EQ(count("\xed\xa0\x80"), -1);             /* surrogate U+D800 */
  CHECK_INT_EQ(count("\xf4\x90\x80\x80"), -1);         /* above U+10FFFF */
  CHECK_INT_EQ(count("\xf8\x88\x80\x80\x80"), -1);     /* 5-byte form */
  CHECK_INT_EQ(chirp_utf8_count("a\0b", 3), -1);       /* NUL */

  /* 280 code points of a 4-byte character pass; 281 do not. */
  char body[4 * 281 + 1];
  for (int i = 0; i < 281; i++) memcpy(body + 4 * i, "\xf0\x9f\x90\xa6", 4);
  CHECK_INT_EQ(chirp_text_check_body(body, 4 * 280, CHIRP_MAX_TWEET_CHARS, &why), 0);
  CHECK_INT_EQ(chirp_text_check_body(body, 4 * 281, CHIRP_MAX_TWEET_CHARS, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "too_long");
  CHECK_INT_EQ(chirp_text_check_body("", 0, 280, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "empty");
  CHECK_INT_EQ(chirp_text_check_body(" \n\t ", 4, 280, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "empty");
  CHECK_INT_EQ(chirp_text_check_body("\xc3", 1, 280, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "invalid_utf8");

  CHECK_INT_EQ(chirp_text_check_username("alice_01", &why), 0);
  CHECK_INT_EQ(chirp_text_check_username("", &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "empty");
  CHECK_INT_EQ(chirp_text_check_username("al ice", &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "invalid_format");
  CHECK_INT_EQ(chirp_text_check_username("a234567890123456789012345678901", &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "too_long");
  CHECK_INT_EQ(chirp_text_check_username("a23456789012345678901234567890", &why), 0);

  CHECK_INT_EQ(chirp_text_check_email("a@b.io", &why), 0);
  CHECK_INT_EQ(chirp_text_check_email("ab.io", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_email("a@b", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_email("@b.io", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_email("a@@b.io", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_email("a b@c.io", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_email("a@b.", &why), CHIRP_EINVAL);

  CHECK_INT_EQ(chirp_text_check_password("12345678", 8, &why), 0);
  CHECK_INT_EQ(chirp_text_check_password("1234567", 7, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "too_short");

  CHECK_INT_EQ(chirp_text_check_free("", 0, 50, 0, &why), 0);
  CHECK_INT_EQ(chirp_text_check_free("line\nline", 9, 160, 1, &why), 0);
  CHECK_INT_EQ(chirp_text_check_free("line\nline", 9, 50, 0, &why), CHIRP_EINVAL); /* a name */
  CHECK_INT_EQ(chirp_text_check_free("tab\there", 8, 160, 1, &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_url("", &why), 0);
  CHECK_INT_EQ(chirp_text_check_url("https://x.io/a.png", &why), 0);
  CHECK_INT_EQ(chirp_text_check_url("javascript:alert(1)", &why), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_text_check_url("https://x.io/a b", &why), CHIRP_EINVAL);
  CHECK_DONE();
}
