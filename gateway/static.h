/*
 * static.h — the web client's files (gateway/web/), served at "/".
 *
 * The folder is found once at start: $CHIRP_WEB_ROOT when set, else "web"
 * beside the gateway's binary (the build tree links it there), else
 * "../share/chirp/web" from the binary (the CMake install layout).  Without
 * one the gateway still runs and answers the JSON 404 for every page.
 *
 * Each file is read, tagged (ETag) and gzipped on its first request and kept
 * in memory; a change of its size or modification time reloads it.  Paths
 * that name no file and have no extension in their last segment are pages of
 * the client (/@alice, /tweets/123) and get index.html.  Every HTML answer
 * carries a strict Content-Security-Policy.  Thread-safe.
 */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <ulfius.h>

/* Finds the web folder.  Returns 0 (also when there is none: logged). */
int gw_static_init(void);
/* Frees the cached files. */
void gw_static_cleanup(void);

/* Answers a GET or HEAD of a path outside /api, /healthz, /readyz and
   /metrics from the web folder.  Returns 1 when it answered (200, 304),
   0 when the request is not for it or names no file (the caller answers
   the JSON 404). */
int gw_static_answer(const struct _u_request *req, struct _u_response *resp);

#endif
