/* chirp_registry.c — heartbeats and the list of live instances. */
#include "chirp_keys.h"
#include "chirp_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_redis.h"
#include "chirp_time.h"

int chirp_registry_beat(redisContext *r, const char *instance, const char *role,
                        const char *address, int64_t started_ms, const char *health) {
  char key[CHIRP_KEY_BUFSZ], all[CHIRP_KEY_BUFSZ], started[32], beat[32];
  int64_t now = chirp_time_now_ms();
  chirp_key_service(key, instance);
  chirp_key_services(all);
  chirp_time_format_ms(started_ms, started, sizeof started);
  chirp_time_format_ms(now, beat, sizeof beat);
  if (chirp_redis_append(r, "HSET %s instance %s role %s address %s pid %d started_at %s beat_at %s health %s",
                         key, instance, role, address, (int)getpid(), started, beat, health) ||
      chirp_redis_append(r, "EXPIRE %s %d", key, CHIRP_REGISTRY_TTL_S) ||
      chirp_redis_append(r, "ZADD %s %lld %s", all, (long long)now, instance))
    return CHIRP_EUNAVAILABLE; /* the connection is marked broken */
  int rc = 0;
  for (int i = 0; i < 3; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) return CHIRP_EUNAVAILABLE;
    if (rep->type == REDIS_REPLY_ERROR) rc = CHIRP_EUNAVAILABLE;
    freeReplyObject(rep);
  }
  return rc;
}

int chirp_registry_list(redisContext *r, json_t **out) {
  char all[CHIRP_KEY_BUFSZ], key[CHIRP_KEY_BUFSZ];
  chirp_key_services(all);
  redisReply *names = redisCommand(r, "ZRANGE %s 0 -1", all);
  if (chirp_redis_reply_failed(r, names)) {
    if (names) freeReplyObject(names);
    return CHIRP_EUNAVAILABLE;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr && names->type == REDIS_REPLY_ARRAY && i < names->elements; i++) {
    const char *inst = names->element[i]->str;
    redisReply *h = redisCommand(r, "HGETALL %s", chirp_key_service(key, inst));
    if (chirp_redis_reply_failed(r, h)) {
      if (h) freeReplyObject(h);
      break;
    }
    if (h->elements == 0) { /* expired: it stopped beating */
      redisReply *z = redisCommand(r, "ZREM %s %s", all, inst);
      if (z) freeReplyObject(z);
    } else {
      json_t *o = json_object();
      for (size_t k = 0; k + 1 < h->elements; k += 2)
        json_object_set_new(o, h->element[k]->str, json_string(h->element[k + 1]->str));
      json_array_append_new(arr, o);
    }
    freeReplyObject(h);
  }
  freeReplyObject(names);
  if (!arr) return CHIRP_ENOMEM;
  *out = arr;
  return 0;
}
