/*
 * hidden.h — the accounts hidden from a viewer: those it blocks, those that
 * block it (both sides of a block see nothing of each other, as on
 * Twitter), and those it mutes, each with the flags of chirp_block.h
 * saying which.  The one place the gateway learns them; hydration
 * (hydrate.c) drops every item that involves one of them, and the write
 * paths refuse an interaction across a block (gw_hidden_refuse).
 *
 * Where the set comes from, cheapest first: the gateway's local cache
 * (lcache.h: held until Redis says chirp:hid:{viewer} changed, so a busy
 * viewer's page costs no round trip for it), Redis (one HGET, tracked),
 * PostgreSQL when Redis lost it (read in one statement and written back,
 * versioned so an older set never replaces a newer one the fan-out role
 * wrote).  The fan-out role rewrites the Redis copy after each block or
 * mute it applied.  Thread-safe (each thread uses its own connections).
 */
#ifndef GW_HIDDEN_H
#define GW_HIDDEN_H

#include <stddef.h>
#include <stdint.h>

#include "chirp_block.h"
#include "http.h"

typedef struct gw_hidden_entry {
  int64_t id;
  uint32_t flags; /* CHIRP_HIDDEN_* bits */
  uint32_t pad;
} gw_hidden_entry;

/* A viewer's hidden set, sorted by id.  Owns e (gw_hidden_cleanup). */
typedef struct gw_hidden {
  gw_hidden_entry *e;
  size_t n;
} gw_hidden;

/* Loads viewer's set into *h (empty for viewer 0).  0, or
   CHIRP_EUNAVAILABLE when neither Redis nor PostgreSQL could answer (*h
   empty), CHIRP_ENOMEM. */
int gw_hidden_load(int64_t viewer, gw_hidden *h);
void gw_hidden_cleanup(gw_hidden *h);

/* The flags of account id in h (0 when not hidden). */
unsigned gw_hidden_flags(const gw_hidden *h, int64_t id);
/* 1 when any of ids[0..n) (the accounts one item involves: its author,
   reposter, ...) has a flag of mask in h. */
int gw_hidden_any(const gw_hidden *h, const int64_t *ids, size_t n, unsigned mask);

/* The write-path check of an interaction of the request's account with
   other (follow, reply, comment, like, quote): when a block stands
   between them (applied, or published and still in flight: the pending
   keys, one more pipelined round trip), answers 403 "blocked" and returns
   nonzero; also
   answers (and returns nonzero) when the set cannot be read. */
int gw_hidden_refuse(const gw_req *req, gw_reply *rep, int64_t other, const char *field);

#endif
