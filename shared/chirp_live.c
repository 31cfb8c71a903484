/* chirp_live.c — presence keys and live announcements, see chirp_live.h. */
#include "chirp_live.h"

#include <stdio.h>
#include <stdlib.h>

#include "chirp_error.h"
#include "chirp_keys.h"

/* Reads count replies; 0 when all came, CHIRP_EUNAVAILABLE otherwise.  When
   present is not NULL, present[i] = 1 for each integer reply 1. */
static int read_replies(redisContext *r, size_t count, unsigned char *present) {
  int rc = 0;
  for (size_t i = 0; i < count; i++) {
    redisReply *rep = NULL;
    if (redisGetReply(r, (void **)&rep) != REDIS_OK || !rep) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    if (present) present[i] = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
  }
  return rc;
}

int chirp_live_announce(redisContext *r, const int64_t *readers, size_t n, const char *kind,
                        int64_t id) {
  if (!r) return CHIRP_EUNAVAILABLE;
  if (n == 0) return 0;
  unsigned char *present = calloc(n, 1);
  if (!present) return CHIRP_ENOMEM;
  char key[CHIRP_KEY_BUFSZ];
  /* Single-key commands, so a cluster client could route each. */
  for (size_t i = 0; i < n; i++)
    if (redisAppendCommand(r, "EXISTS %s", chirp_key_live_presence(key, readers[i])) != REDIS_OK) {
      free(present);
      return CHIRP_EUNAVAILABLE;
    }
  int rc = read_replies(r, n, present);
  size_t sent = 0;
  char msg[64];
  snprintf(msg, sizeof msg, "%s %lld", kind, (long long)id);
  for (size_t i = 0; !rc && i < n; i++) {
    if (!present[i]) continue;
    if (redisAppendCommand(r, "PUBLISH %s %s", chirp_key_live_channel(key, readers[i]), msg) !=
        REDIS_OK)
      rc = CHIRP_EUNAVAILABLE;
    else
      sent++;
  }
  if (sent) {
    int rc2 = read_replies(r, sent, NULL);
    if (!rc) rc = rc2;
  }
  free(present);
  return rc;
}

int chirp_live_present(redisContext *r, const int64_t *readers, size_t n, int ttl_s) {
  if (!r) return CHIRP_EUNAVAILABLE;
  char key[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++)
    if (redisAppendCommand(r, "SET %s 1 EX %d", chirp_key_live_presence(key, readers[i]), ttl_s) !=
        REDIS_OK)
      return CHIRP_EUNAVAILABLE;
  return read_replies(r, n, NULL);
}
