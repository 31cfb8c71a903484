/* routes.h — the table of every endpoint: method, path, handler, needs. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "http.h"

/* The route table, terminated by an entry whose method is NULL (static). */
const gw_route *gw_routes(void);

#endif
