/*
 * chirp_event.h — the envelope of every message on the bus.
 *
 *   {"event_id": "…", "type": "tweet.created", "occurred_at": "RFC 3339",
 *    "actor_id": "…", "payload": {…}}
 *
 * Ids travel as decimal strings, like everywhere in the API.  Workers apply
 * an event at most once per role by its event_id.
 *
 * A message may also carry many events of one routing key (a batch):
 *
 *   {"events": [<envelope>, <envelope>, …]}
 *
 * (what the gateway sends when several requests wait on one confirm).
 * Each envelope in it is an event of its own: its own id, its own claim,
 * its own dead letter.  Consumers accept both forms.
 */
#ifndef CHIRP_EVENT_H
#define CHIRP_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CHIRP_EVENT_TYPE_MAX 32

typedef struct chirp_event {
  int64_t event_id;
  char type[CHIRP_EVENT_TYPE_MAX];
  int64_t occurred_ms;
  int64_t actor_id;
  json_t *payload; /* owned: a new reference, released by chirp_event_cleanup */
} chirp_event;

/* Serialises an event.  payload is borrowed.  On success *out is a new
   malloc'd NUL-terminated buffer (free) of *len bytes. */
int chirp_event_encode(int64_t event_id, const char *type, int64_t occurred_ms,
                       int64_t actor_id, const json_t *payload, char **out, size_t *len);

/* Parses and validates an envelope.  On success fills ev (release with
   chirp_event_cleanup); on failure returns CHIRP_EMALFORMED, writes the
   reason into why, and ev holds nothing to release. */
int chirp_event_decode(const char *buf, size_t len, chirp_event *ev, char *why, size_t whylen);
void chirp_event_cleanup(chirp_event *ev);
/* chirp_event_decode for an envelope already parsed (root borrowed). */
int chirp_event_from_json(const json_t *root, chirp_event *ev, char *why, size_t whylen);

/* Joins n encoded envelopes (bodies[i] of lens[i] bytes, each a JSON
   object) into one batch message {"events":[…]}.  On success *out is a new
   malloc'd NUL-terminated buffer (free) of *len bytes.  n >= 1. */
int chirp_event_batch_join(char *const *bodies, const size_t *lens, size_t n, char **out,
                           size_t *len);
/* The "events" array of a parsed batch message (borrowed), or NULL when
   root is not a batch (then it is read as one envelope). */
json_t *chirp_event_batch_events(const json_t *root);

/* Reads a decimal-string id member of obj; 0 or CHIRP_EMALFORMED. */
int chirp_json_get_id(const json_t *obj, const char *key, int64_t *out);
/* Reads an RFC 3339 time member of obj; 0 or CHIRP_EMALFORMED. */
int chirp_json_get_time(const json_t *obj, const char *key, int64_t *out_ms);
/* New JSON string with the decimal form of id (new reference). */
json_t *chirp_json_id(int64_t id);
/* New JSON string with the RFC 3339 form of ms (new reference). */
json_t *chirp_json_time(int64_t ms);

#endif
