/*
 * router.h — finding a request's route in the table, the way ulfius
 * matches its endpoints (path split on '/', empty segments skipped, ":name"
 * matching one segment, a trailing "*" the rest; literal routes before
 * patterns), without allocating: ulfius tries every registered endpoint on
 * each request, splitting both paths into fresh strings each time, which was
 * a third of the gateway's CPU on a read served from memory.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <ulfius.h>

#include "http.h"

/* The route of method and path in table (terminated by a NULL method), or
   NULL.  Its ":name" segments go into params (as ulfius does: raw text, left
   out when not valid UTF-8). */
const gw_route *gw_route_match(const gw_route *table, const char *method, const char *path,
                               struct _u_map *params);

/* Splits table's paths once, so that gw_route_match on that table splits
   only the request's path (other tables take the general way).  Call it
   before the threads that match start; -1 when the table is too big to
   prepare (matching still works, the general way). */
int gw_router_prepare(const gw_route *table);

#endif
