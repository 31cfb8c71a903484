/*
 * stream.h — GET /api/v1/streaming/user: server-sent events of the
 * reader's home feed and notifications (see docs/decisions.md, "Live
 * updates").
 *
 * A stream is a ulfius stream response whose content reader never waits:
 * with nothing to send it suspends its libmicrohttpd connection
 * (MHD_ALLOW_SUSPEND_RESUME), and the stream hub (stream_hub.c, one
 * thread for all streams) resumes it when it queued bytes.  ulfius does not
 * hand the MHD connection to a route callback, so the gateway's URI-log
 * and request-completed callbacks (which libmicrohttpd calls with it) note
 * the connection of each streaming request, by client address, for the
 * handler to take (stream_conn.c).
 *
 * Life cycle: gw_stream_start() before the HTTP server serves,
 * gw_stream_stop() before it stops (libmicrohttpd refuses to stop with
 * suspended connections): every stream ends cleanly, the hub thread ends.
 */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <microhttpd.h>

#include "http.h"

/* Reads CHIRP_STREAM_HEARTBEAT_S (seconds between heartbeat comments,
   default 20, 1..300) and starts the hub thread.  0, or CHIRP_EINVAL with a
   message in err, or CHIRP_EINTERNAL. */
int gw_stream_start(char *err, size_t errlen);
/* Ends every open stream and the hub thread; later streaming requests are
   answered 503.  Safe to call when not started. */
void gw_stream_stop(void);

/* The MHD_OPTION_URI_LOG_CALLBACK and MHD_OPTION_NOTIFY_COMPLETED callbacks
   of the gateway: ulfius's own (ulfius_uri_logger, mhd_request_completed)
   plus the bookkeeping of streaming connections. */
void *gw_stream_uri_logger(void *cls, const char *uri, struct MHD_Connection *con);
void gw_stream_request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                                 enum MHD_RequestTerminationCode toe);

/* The route handler (GW_AUTH | GW_QUERY_TOKEN). */
void h_streaming_user(gw_req *req, gw_reply *rep);

#endif
