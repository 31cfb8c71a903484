/*
 * notify_items.h — turns inbox rows (chirp_notify_list) into the items
 * clients see: each with its actor's card and its tweet hydrated for the
 * viewer.  Shared by GET /notifications and the stream's notification
 * events, so both carry the same object.
 */
#ifndef GW_NOTIFY_ITEMS_H
#define GW_NOTIFY_ITEMS_H

#include <jansson.h>
#include <stdint.h>

/* Adds "actor" and "tweet" (null when gone) to every row of items (a
   borrowed array, changed in place), with one round trip and at most one
   query each for the page's actors and tweets.  Returns 0, or a CHIRP_E*
   code (Redis and PostgreSQL both unable to answer: items unchanged or
   partly filled; the caller answers the error). */
int gw_notify_items_hydrate(int64_t viewer, json_t *items);

#endif
