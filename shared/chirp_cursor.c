/* chirp_cursor.c — base64url("<kind>:<id>") cursors. */
#include "chirp_cursor.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_id.h"

char *chirp_cursor_encode(const char *kind, int64_t id, char *buf) {
  char raw[40];
  int n = snprintf(raw, sizeof raw, "%.16s:%lld", kind, (long long)id);
  sodium_bin2base64(buf, CHIRP_CURSOR_BUFSZ, (const unsigned char *)raw, (size_t)n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return buf;
}

/* The base64url alphabet without padding: every byte of a cursor we made. */
static int cursor_byte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int chirp_cursor_decode_len(const char *s, size_t len, const char *kind, int64_t *id) {
  unsigned char raw[48];
  size_t n;
  if (len == 0 || len >= CHIRP_CURSOR_BUFSZ) return CHIRP_EMALFORMED;
  /* Checked here, over all len bytes, rather than left to the decoder: a
     NUL or a stray byte must never shorten a cursor into a valid one. */
  for (size_t i = 0; i < len; i++)
    if (!cursor_byte((unsigned char)s[i])) return CHIRP_EMALFORMED;
  if (sodium_base642bin(raw, sizeof raw - 1, s, len, NULL, &n, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return CHIRP_EMALFORMED;
  raw[n] = '\0';
  /* A NUL inside would end the id early: "feed:1\0<anything>" is no cursor
     encode made (found by tests/fuzz/fuzz_cursor). */
  if (memchr(raw, '\0', n)) return CHIRP_EMALFORMED;
  size_t kl = strlen(kind);
  if (n <= kl + 1 || memcmp(raw, kind, kl) != 0 || raw[kl] != ':') return CHIRP_EMALFORMED;
  return chirp_id_parse((const char *)raw + kl + 1, id) == 0 ? 0 : CHIRP_EMALFORMED;
}

int chirp_cursor_decode(const char *s, const char *kind, int64_t *id) {
  return chirp_cursor_decode_len(s, strlen(s), kind, id);
}
