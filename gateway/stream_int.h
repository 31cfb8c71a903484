/*
 * stream_int.h — what the stream files share (not for other modules).
 *
 * A gw_stream is owned by two holders, counted in refs: the MHD response
 * (released by its free callback once libmicrohttpd is done with the
 * connection) and the hub (released when the hub saw it leave, or when the
 * hub stops).  The bytes waiting to be sent and the flags are guarded by
 * mu; the fields marked "hub" are touched by the hub thread alone.
 */
#ifndef GW_STREAM_INT_H
#define GW_STREAM_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Bytes a slow client may leave unread before its stream is ended (it
   reconnects with Last-Event-ID and catches up from the feed). */
#define GW_STREAM_MAX_PENDING (4u << 20)
/* Tweet ids a stream remembers having sent, against duplicates. */
#define GW_STREAM_RING 256

typedef struct gw_stream {
  pthread_mutex_t mu;
  struct MHD_Connection *con;
  int64_t reader;
  _Atomic int refs;
  /* under mu */
  char *buf;
  size_t off, len, cap; /* bytes [off, len) wait to be sent */
  int suspended;        /* the content reader suspended (or is about to) */
  int closing;          /* end after what is queued */
  int dead;             /* the response is gone: write nothing more */
  /* hub */
  int primed;           /* the first catch-up ran */
  int resumed;          /* the client sent Last-Event-ID */
  int64_t feed_hw, notif_hw, seq; /* the event id: feed-notifications-sequence */
  int64_t ring[GW_STREAM_RING];
  size_t ring_pos;
  int catchup;          /* its catch-up is due (joined, or the subscription was remade) */
} gw_stream;

/* stream.c */
void gw_stream_unref(gw_stream *s);
/* Queues bytes and resumes the connection; 0, or -1 when the stream is
   over (closing, dead, or its backlog passed GW_STREAM_MAX_PENDING, which
   closes it). */
int gw_stream_write(gw_stream *s, const char *data, size_t len);
/* Ends the stream after what is queued. */
void gw_stream_close(gw_stream *s);

/* stream_conn.c: the MHD connection noted for the client address of a
   streaming request (removed from the notes), or NULL. */
struct MHD_Connection *gw_stream_conn_take(const struct sockaddr *client);

/* stream_hub.c */
/* Hands a new stream (with the hub's reference) to the hub; -1 when the
   hub is not running (the caller keeps the reference). */
int gw_hub_join(gw_stream *s);
/* Tells the hub that s is gone (the hub drops its reference). */
void gw_hub_leave(gw_stream *s);

#endif
