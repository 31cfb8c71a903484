/*
 * notify_items.h — turns inbox rows (chirp_notify_list) into the items
 * clients see: each with its actor's card and its tweet hydrated for the
 * viewer.  Shared by GET /notifications and the stream's notification
 * events, so both carry the same object.
 */
#ifndef GW_NOTIFY_ITEMS_H
#define GW_NOTIFY_ITEMS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

/* Adds "actor" and "tweet" (null when gone) to every row of items (a
   borrowed array, changed in place). */
void gw_notify_items_hydrate(PGconn *pg, int64_t viewer, json_t *items);

#endif
