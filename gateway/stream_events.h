/*
 * stream_events.h — the events of the streams (stream_events.c), for the
 * hub (stream_hub.c).  Everything here runs on the hub thread.
 */
#ifndef GW_STREAM_EVENTS_H
#define GW_STREAM_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hydrate.h"
#include "stream_int.h"

/* One announcement a reader received. */
struct msg {
  char kind; /* 't' tweet, 'e' edited, 'd' deleted, 'n' notification */
  char liked; /* 't'/'e': the reader likes the tweet */
  int64_t id;
};

typedef struct hub_user {
  int64_t id;
  gw_stream **streams;
  size_t n, cap;
  int subscribed; /* confirmed on the current subscriber connection */
  int sent;       /* SUBSCRIBE sent on it */
  int dirty;      /* listed in hub.dirty */
  struct msg *msgs;
  size_t nmsgs, capmsgs;
} hub_user;

/* Hydrated tweets for viewer: items[k] is the text of ids shown[k]. */
typedef struct hydrated {
  gw_buf text;
  int64_t *shown;
  size_t *start, *end, n;
} hydrated;

/* Hydrates ids for viewer (0: nobody) into h (freed with
   gw_ev_hydrated_free); CHIRP_E… on failure, h then empty. */
int gw_ev_hydrate(const int64_t *ids, size_t n, int64_t viewer, hydrated *h);
void gw_ev_hydrated_free(hydrated *h);
/* Sets msgs[].liked for every tweet announcement of users (one round trip). */
int gw_ev_likes(hub_user **users, size_t nu, const hydrated *h);
/* Runs the catch-up of u's streams that are due one. */
void gw_ev_catch_up(hub_user *u);
/* Sends u's announcements of this batch (h: the batch's tweets, hydrated
   for nobody) and empties them. */
void gw_ev_deliver(hub_user *u, const hydrated *h);

#endif
