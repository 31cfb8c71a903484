/*
 * stream_conn.c — finds the libmicrohttpd connection of a streaming
 * request for its route handler.
 *
 * ulfius gives a route callback the request, not the MHD connection that
 * suspending needs.  libmicrohttpd does pass the connection to the URI-log
 * callback, which runs (on the connection's thread) once per request before
 * any route: there we note the connection of each request under
 * /api/v1/streaming/, keyed by its client address, which ulfius copies into
 * the request (sizeof(struct sockaddr) bytes: family, port and IPv4
 * address, unique among the open connections of one listening socket).
 * The handler takes the note; the completion callback drops a note nobody
 * took (an unauthenticated request, say).  Other requests pay one prefix
 * compare.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

#include "stream.h"
#include "stream_int.h"

#define STREAM_PREFIX "/api/v1/streaming/"

struct note {
  unsigned char addr[sizeof(struct sockaddr)];
  struct MHD_Connection *con;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct note *notes;
static _Atomic size_t nnotes;
static size_t capnotes;

static void forget_locked(struct MHD_Connection *con) {
  for (size_t i = 0; i < nnotes; i++)
    if (notes[i].con == con) {
      notes[i] = notes[--nnotes];
      return;
    }
}

void *gw_stream_uri_logger(void *cls, const char *uri, struct MHD_Connection *con) {
  void *ctx = ulfius_uri_logger(cls, uri);
  if (!ctx || !uri || strncmp(uri, STREAM_PREFIX, sizeof STREAM_PREFIX - 1) != 0) return ctx;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr) return ctx;
  pthread_mutex_lock(&mu);
  forget_locked(con); /* a second request on a kept-alive connection */
  if (nnotes == capnotes) {
    size_t ncap = capnotes ? capnotes * 2 : 64;
    struct note *nn = realloc(notes, ncap * sizeof *nn);
    if (nn) {
      notes = nn;
      capnotes = ncap;
    }
  }
  if (nnotes < capnotes) {
    memcpy(notes[nnotes].addr, ci->client_addr, sizeof notes[nnotes].addr);
    notes[nnotes++].con = con;
  }
  pthread_mutex_unlock(&mu);
  return ctx;
}

void gw_stream_request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                                 enum MHD_RequestTerminationCode toe) {
  if (nnotes) { /* a racy peek is fine: a note is only ever added for con on this thread */
    pthread_mutex_lock(&mu);
    forget_locked(con);
    pthread_mutex_unlock(&mu);
  }
  mhd_request_completed(cls, con, con_cls, toe);
}

struct MHD_Connection *gw_stream_conn_take(const struct sockaddr *client) {
  struct MHD_Connection *con = NULL;
  if (!client) return NULL;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nnotes; i++)
    if (memcmp(notes[i].addr, client, sizeof notes[i].addr) == 0) {
      con = notes[i].con;
      notes[i] = notes[--nnotes];
      break;
    }
  pthread_mutex_unlock(&mu);
  return con;
}
