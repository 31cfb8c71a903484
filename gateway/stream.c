/*
 * stream.c — one server-sent-events stream: its queued bytes, the content
 * reader libmicrohttpd calls, and the route handler that opens it.
 *
 * The content reader never waits and never spins: it hands out what is
 * queued, and with nothing queued it suspends the connection (libmicrohttpd
 * then leaves it alone) until gw_stream_write() resumes it.  Resuming before
 * the suspension took effect is harmless: libmicrohttpd then skips the
 * suspension (internal_suspend_connection_ checks "resuming").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ulfius.h>

#include "chirp_error.h"
#include "gw.h"
#include "stream.h"
#include "stream_int.h"

void gw_stream_unref(gw_stream *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  pthread_mutex_destroy(&s->mu);
  free(s->buf);
  free(s);
}

int gw_stream_write(gw_stream *s, const char *data, size_t len) {
  pthread_mutex_lock(&s->mu);
  if (s->dead || s->closing) {
    pthread_mutex_unlock(&s->mu);
    return -1;
  }
  int rc = 0;
  if (s->off > 0 && s->off == s->len) s->off = s->len = 0;
  if (s->len - s->off + len > GW_STREAM_MAX_PENDING) {
    s->closing = 1; /* a client that reads nothing: it catches up when it reconnects */
    rc = -1;
  } else {
    if (s->len + len > s->cap && s->off > 0) { /* slide the unsent bytes down */
      memmove(s->buf, s->buf + s->off, s->len - s->off);
      s->len -= s->off;
      s->off = 0;
    }
    if (s->len + len > s->cap) {
      size_t ncap = s->cap ? s->cap : 1024;
      while (ncap < s->len + len) ncap *= 2;
      char *nb = realloc(s->buf, ncap);
      if (!nb) {
        s->closing = 1;
        rc = -1;
      } else {
        s->buf = nb;
        s->cap = ncap;
      }
    }
    if (!rc) {
      memcpy(s->buf + s->len, data, len);
      s->len += len;
    }
  }
  int wake = s->suspended;
  s->suspended = 0;
  pthread_mutex_unlock(&s->mu);
  /* Not under mu: libmicrohttpd takes its own lock here.  The connection
     is alive: it is suspended (or its reader is on the way to suspend). */
  if (wake) MHD_resume_connection(s->con);
  return rc;
}

void gw_stream_close(gw_stream *s) {
  pthread_mutex_lock(&s->mu);
  s->closing = 1;
  int wake = s->suspended && !s->dead;
  s->suspended = 0;
  pthread_mutex_unlock(&s->mu);
  if (wake) MHD_resume_connection(s->con);
}

/* The MHD content reader: called on the connection's own thread. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
  (void)pos;
  gw_stream *s = cls;
  pthread_mutex_lock(&s->mu);
  size_t n = s->len - s->off;
  if (n > 0) {
    if (n > max) n = max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
  }
  if (s->closing) {
    pthread_mutex_unlock(&s->mu);
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  s->suspended = 1;
  pthread_mutex_unlock(&s->mu);
  MHD_suspend_connection(s->con);
  return 0;
}

/* The MHD response is gone (the client left, or the server stops). */
static void stream_free(void *cls) {
  gw_stream *s = cls;
  pthread_mutex_lock(&s->mu);
  s->dead = 1;
  s->suspended = 0;
  pthread_mutex_unlock(&s->mu);
  gw_hub_leave(s);
  gw_stream_unref(s);
}

/* "F-N-S": three decimal numbers (the feed's and the inbox's newest ids
   sent, and the event count), as written by the hub. */
static int parse_event_id(const char *v, int64_t out[3]) {
  for (int i = 0; i < 3; i++) {
    if (*v < '0' || *v > '9') return -1;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (x > INT64_MAX || end - v > 19) return -1;
    out[i] = (int64_t)x;
    v = end;
    if (i < 2 && *v++ != '-') return -1;
  }
  return *v == '\0' ? 0 : -1;
}

void h_streaming_user(gw_req *req, gw_reply *rep) {
  int64_t last[3] = {0, 0, 0};
  const char *lid = u_map_get_case(req->u->map_header, "Last-Event-ID");
  int resumed = lid && *lid;
  if (resumed && parse_event_id(lid, last)) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "invalid_event_id", "Last-Event-ID",
                   "Last-Event-ID is not an id this stream sent");
    return;
  }
  if (!gw_redis()) { /* the hub could not deliver anything */
    gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
    return;
  }
  struct MHD_Connection *con = gw_stream_conn_take(req->u->client_address);
  gw_stream *s = con ? calloc(1, sizeof *s) : NULL;
  if (!s) {
    gw_reply_error(rep, CHIRP_EINTERNAL, NULL, NULL, "the stream could not be opened");
    return;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->con = con;
  s->reader = req->account_id;
  s->resumed = resumed;
  s->feed_hw = last[0];
  s->notif_hw = last[1];
  s->seq = last[2];
  atomic_init(&s->refs, 2); /* the response and the hub */
  if (gw_hub_join(s)) {
    gw_stream_unref(s);
    gw_stream_unref(s);
    gw_reply_error(rep, CHIRP_EUNAVAILABLE, NULL, NULL, "the server is stopping; reconnect");
    return;
  }
  rep->status = 200;
  rep->stream = s;
  rep->stream_read = stream_read;
  rep->stream_free = stream_free;
}
