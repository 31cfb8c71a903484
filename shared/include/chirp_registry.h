/*
 * chirp_registry.h — the service registry in Redis.
 *
 * Every gateway and worker process beats every few seconds: a hash
 * chirp:svc:{instance} {role, address, pid, started_at, beat_at, health}
 * with a TTL, and its name in the sorted set chirp:services scored by the
 * beat time.  A process that stops beating drops out when its hash
 * expires (CHIRP_REGISTRY_TTL_S); listing also prunes the names whose hash
 * is gone.
 */
#ifndef CHIRP_REGISTRY_H
#define CHIRP_REGISTRY_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

#define CHIRP_REGISTRY_BEAT_S 5
#define CHIRP_REGISTRY_TTL_S 15

int chirp_registry_beat(redisContext *r, const char *instance, const char *role,
                        const char *address, int64_t started_ms, const char *health);
/* Every live instance: a new JSON array of objects. */
int chirp_registry_list(redisContext *r, json_t **out);

#endif
