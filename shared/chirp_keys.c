/* chirp_keys.c — Redis key names. */
#include "chirp_keys.h"

#include <stdio.h>

char *chirp_key_tweet(char *buf, int64_t id) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:t:{%lld}", (long long)id);
  return buf;
}
char *chirp_key_account(char *buf, int64_t id) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:a:{%lld}", (long long)id);
  return buf;
}
char *chirp_key_username(char *buf, const char *lower) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:u:{%.40s}", lower);
  return buf;
}
char *chirp_key_session(char *buf, const char *hash_hex) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:s:{%.64s}", hash_hex);
  return buf;
}
