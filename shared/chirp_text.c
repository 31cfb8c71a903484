/* chirp_text.c — UTF-8 decoding and field validation rules. */
#include "chirp_text.h"

#include <string.h>
#include <strings.h>

#include "chirp_error.h"

long chirp_utf8_count(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  long count = 0;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t need;
    unsigned cp;
    if (c == 0) return -1;
    if (c < 0x80) {
      i++;
      count++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
    } else {
      return -1; /* continuation byte, overlong 2-byte lead, or > U+10FFFF */
    }
    if (len - i <= need) return -1;
    for (size_t k = 1; k <= need; k++) {
      unsigned cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return -1; /* overlong or out of range */
    if (cp >= 0xd800 && cp <= 0xdfff) return -1; /* UTF-16 surrogates */
    i += need + 1;
    count++;
  }
  return count;
}

static int fail(const char **why, const char *reason) {
  if (why) *why = reason;
  return CHIRP_EINVAL;
}

static int only_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!strchr(" \t\r\n", s[i])) return 0;
  return 1;
}

int chirp_text_check_body(const char *s, size_t len, long max_chars, const char **why) {
  long n = chirp_utf8_count(s, len);
  if (n < 0) return fail(why, "invalid_utf8");
  if (n == 0 || only_space(s, len)) return fail(why, "empty");
  if (n > max_chars) return fail(why, "too_long");
  return 0;
}

int chirp_text_check_username(const char *s, const char **why) {
  size_t len = strlen(s);
  if (len == 0) return fail(why, "empty");
  if (len > CHIRP_MAX_USERNAME_CHARS) return fail(why, "too_long");
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return fail(why, "invalid_format");
  }
  return 0;
}

int chirp_text_check_email(const char *s, const char **why) {
  size_t len = strlen(s);
  if (len == 0) return fail(why, "empty");
  if (len > CHIRP_MAX_EMAIL_BYTES) return fail(why, "too_long");
  if (chirp_utf8_count(s, len) < 0) return fail(why, "invalid_utf8");
  const char *at = strchr(s, '@');
  if (!at || at == s || strchr(at + 1, '@')) return fail(why, "invalid_format");
  const char *dot = strrchr(at + 1, '.');
  if (!dot || dot == at + 1 || dot[1] == '\0') return fail(why, "invalid_format");
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ') return fail(why, "invalid_format");
  return 0;
}

int chirp_text_check_password(const char *s, size_t len, const char **why) {
  if (chirp_utf8_count(s, len) < 0) return fail(why, "invalid_utf8");
  if (len < CHIRP_MIN_PASSWORD_BYTES) return fail(why, "too_short");
  if (len > CHIRP_MAX_PASSWORD_BYTES) return fail(why, "too_long");
  return 0;
}

int chirp_text_check_free(const char *s, size_t len, long max_chars, int multiline,
                          const char **why) {
  long n = chirp_utf8_count(s, len);
  if (n < 0) return fail(why, "invalid_utf8");
  if (n > max_chars) return fail(why, "too_long");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && !(multiline && c == '\n')) || c == 0x7f) return fail(why, "invalid_format");
  }
  return 0;
}

int chirp_text_check_url(const char *s, const char **why) {
  size_t len = strlen(s);
  if (len == 0) return 0;
  if (len > CHIRP_MAX_AVATAR_URL_BYTES) return fail(why, "too_long");
  if (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0)
    return fail(why, "invalid_format");
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) return fail(why, "invalid_format");
  return 0;
}
