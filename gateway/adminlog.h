/*
 * adminlog.h — the record of calls for GET /api/v1/admin/logs: every call
 * since start-up in order (method, path, status, duration, account) with
 * the number of database statements it made, so that answers served from
 * the cache show as calls with none.  Kept in memory, the newest
 * GW_ADMINLOG_CAP calls; thread-safe.
 */
#ifndef GW_ADMINLOG_H
#define GW_ADMINLOG_H

#include <jansson.h>
#include <stdint.h>

#define GW_ADMINLOG_CAP 100000

void gw_adminlog_add(const char *method, const char *path, int status, int64_t micros,
                     unsigned long db_queries, int64_t account);
/* Calls with sequence numbers above after, oldest first, at most limit:
   a new JSON array; *next is the last sequence number listed (0 = none). */
json_t *gw_adminlog_list(uint64_t after, int limit, uint64_t *next);

#endif
