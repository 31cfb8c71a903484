/*
 * depths.h — queue depths for /metrics, from one broker connection that
 * stays open.
 *
 * A scrape must not cost the broker a connection: the depths (a passive
 * queue.declare per queue) are read on one connection kept between scrapes
 * and shared by every HTTP thread, and at most once every
 * GW_DEPTHS_REFRESH_MS; scrapes in between answer the last figures.  While
 * the broker is unreachable, a reconnect is tried at most once per refresh
 * interval.  Thread-safe.
 */
#ifndef GW_DEPTHS_H
#define GW_DEPTHS_H

#include <stddef.h>

#define GW_DEPTHS_REFRESH_MS 1000

/* Fills depth[i] with the messages ready in queues[i] (i < n), or -1 when
   unknown (broker unreachable, no such queue). */
void gw_depths_get(const char *const *queues, size_t n, long long *depth);
/* Closes the connection (at shutdown). */
void gw_depths_cleanup(void);

#endif
