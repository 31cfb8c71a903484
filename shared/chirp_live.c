/* chirp_live.c — presence keys and live announcements, see chirp_live.h. */
#include "chirp_live.h"

#include <stdio.h>
#include <stdlib.h>

#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"

/* Reads count pipelined replies; 0 when all came, CHIRP_EUNAVAILABLE
   otherwise (an error reply, or the connection broke: then every reply
   still pending is given up with it).  When present is not NULL,
   present[i] = 1 for each integer reply 1. */
static int read_replies(redisContext *r, size_t count, unsigned char *present) {
  int rc = 0;
  for (size_t i = 0; i < count; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) {
      chirp_redis_abandon(r, "live announcement");
      return CHIRP_EUNAVAILABLE;
    }
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    if (present) present[i] = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
  }
  return rc;
}

int chirp_live_announce_many(redisContext *r, const chirp_live_note *notes, size_t nn) {
  if (!r) return CHIRP_EUNAVAILABLE;
  size_t total = 0;
  for (size_t k = 0; k < nn; k++) total += notes[k].n;
  if (total == 0) return 0;
  unsigned char *present = calloc(total, 1);
  if (!present) return CHIRP_ENOMEM;
  char key[CHIRP_KEY_BUFSZ], msg[64];
  /* Single-key commands, so a cluster client could route each; one
     pipeline for every reader of every note. */
  size_t queued = 0;
  int rc = 0;
  for (size_t k = 0; !rc && k < nn; k++)
    for (size_t i = 0; !rc && i < notes[k].n; i++, queued++)
      rc = chirp_redis_append(r, "EXISTS %s", chirp_key_live_presence(key, notes[k].readers[i]));
  if (!rc) rc = read_replies(r, queued, present);
  size_t sent = 0, at = 0;
  for (size_t k = 0; !rc && k < nn; k++) {
    snprintf(msg, sizeof msg, "%s %lld", notes[k].kind, (long long)notes[k].id);
    for (size_t i = 0; !rc && i < notes[k].n; i++, at++) {
      if (!present[at]) continue;
      rc = chirp_redis_append(r, "PUBLISH %s %s", chirp_key_live_channel(key, notes[k].readers[i]),
                              msg);
      if (!rc) sent++;
    }
  }
  if (sent) {
    int rc2 = read_replies(r, sent, NULL);
    if (!rc) rc = rc2;
  }
  if (chirp_redis_pending(r)) chirp_redis_abandon(r, "live announcement failed midway");
  free(present);
  return rc;
}

int chirp_live_announce(redisContext *r, const int64_t *readers, size_t n, const char *kind,
                        int64_t id) {
  chirp_live_note note = {kind, id, readers, n};
  return chirp_live_announce_many(r, &note, 1);
}

int chirp_live_present(redisContext *r, const int64_t *readers, size_t n, int ttl_s) {
  if (!r) return CHIRP_EUNAVAILABLE;
  char key[CHIRP_KEY_BUFSZ];
  size_t queued = 0;
  int rc = 0;
  for (; !rc && queued < n; queued++)
    if ((rc = chirp_redis_append(r, "SET %s 1 EX %d", chirp_key_live_presence(key, readers[queued]),
                                 ttl_s)))
      break;
  if (!rc) rc = read_replies(r, n, NULL);
  if (chirp_redis_pending(r)) chirp_redis_abandon(r, "presence refresh failed midway");
  return rc;
}
