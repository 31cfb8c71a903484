/*
 * chirp_live.h — live announcements for the streaming API.
 *
 * A gateway holding a reader's stream keeps the reader's presence key
 * alive (a TTL it refreshes) and subscribes to the reader's channel.  The
 * workers, after they applied an event to a feed or an inbox, announce it
 * on the channel of each reader who is present, and to no one else: one
 * pipelined EXISTS per batch of readers, then one pipelined PUBLISH for the
 * few who listen.  A message is "<kind> <id>" (kind one of the CHIRP_LIVE_*
 * names, which are also the event names of the stream).
 *
 * An announcement is a hint, never the truth: a gateway that missed one
 * (Redis restarted, a reconnect) catches up from the feed and the inbox.
 * So a failed announcement is not retried (the effect is committed).
 */
#ifndef CHIRP_LIVE_H
#define CHIRP_LIVE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_LIVE_TWEET "tweet"
#define CHIRP_LIVE_EDITED "tweet.edited"
#define CHIRP_LIVE_DELETED "tweet.deleted"
#define CHIRP_LIVE_NOTIFICATION "notification"

/* One announcement: "<kind> <id>" to readers[0..n) (borrowed). */
typedef struct chirp_live_note {
  const char *kind;
  int64_t id;
  const int64_t *readers;
  size_t n;
} chirp_live_note;

/* Publishes each note to the channel of each of its readers whose presence
   key exists: every note of a batch in two round trips when someone
   listens, one when nobody does.  0 or CHIRP_EUNAVAILABLE / CHIRP_ENOMEM. */
int chirp_live_announce_many(redisContext *r, const chirp_live_note *notes, size_t nn);
/* The same for one note. */
int chirp_live_announce(redisContext *r, const int64_t *readers, size_t n, const char *kind,
                        int64_t id);

/* Marks readers[0..n) present for ttl_s seconds (pipelined SET EX). */
int chirp_live_present(redisContext *r, const int64_t *readers, size_t n, int ttl_s);

#endif
