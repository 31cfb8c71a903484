/* chirp_event.c — event envelope encoding and validation. */
#include "chirp_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_id.h"
#include "chirp_time.h"

json_t *chirp_json_id(int64_t id) {
  char buf[CHIRP_ID_STRSZ];
  return json_string(chirp_id_format(id, buf));
}

json_t *chirp_json_time(int64_t ms) {
  char buf[CHIRP_TIME_BUFSZ];
  chirp_time_format_ms(ms, buf, sizeof buf);
  return json_string(buf);
}

int chirp_json_get_id(const json_t *obj, const char *key, int64_t *out) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s && chirp_id_parse(s, out) == 0 ? 0 : CHIRP_EMALFORMED;
}

int chirp_json_get_time(const json_t *obj, const char *key, int64_t *out_ms) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s && chirp_time_parse_ms(s, out_ms) == 0 ? 0 : CHIRP_EMALFORMED;
}

int chirp_event_encode(int64_t event_id, const char *type, int64_t occurred_ms,
                       int64_t actor_id, const json_t *payload, char **out, size_t *len) {
  json_t *env = json_object();
  if (!env) return CHIRP_ENOMEM;
  json_object_set_new(env, "event_id", chirp_json_id(event_id));
  json_object_set_new(env, "type", json_string(type));
  json_object_set_new(env, "occurred_at", chirp_json_time(occurred_ms));
  json_object_set_new(env, "actor_id", chirp_json_id(actor_id));
  /* json_object_set takes its own reference; the cast drops const only for
     the reference count, the payload itself is not modified. */
  json_object_set(env, "payload", (json_t *)payload);
  char *s = json_dumps(env, JSON_COMPACT);
  json_decref(env);
  if (!s) return CHIRP_ENOMEM;
  *out = s;
  *len = strlen(s);
  return 0;
}

int chirp_event_from_json(const json_t *root, chirp_event *ev, char *why, size_t whylen) {
  const char *type = json_string_value(json_object_get(root, "type"));
  json_t *payload = json_object_get(root, "payload");
  const char *bad = NULL;
  if (!json_is_object(root))
    bad = "envelope is not an object";
  else if (chirp_json_get_id(root, "event_id", &ev->event_id))
    bad = "event_id missing or not an id string";
  else if (!type || strlen(type) >= CHIRP_EVENT_TYPE_MAX || !strchr(type, '.'))
    bad = "type missing or invalid";
  else if (chirp_json_get_time(root, "occurred_at", &ev->occurred_ms))
    bad = "occurred_at missing or not RFC 3339";
  else if (chirp_json_get_id(root, "actor_id", &ev->actor_id))
    bad = "actor_id missing or not an id string";
  else if (!json_is_object(payload))
    bad = "payload missing or not an object";
  if (bad) {
    snprintf(why, whylen, "%s", bad);
    return CHIRP_EMALFORMED;
  }
  snprintf(ev->type, sizeof ev->type, "%s", type);
  ev->payload = json_incref(payload);
  return 0;
}

int chirp_event_decode(const char *buf, size_t len, chirp_event *ev, char *why, size_t whylen) {
  json_error_t jerr;
  json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    snprintf(why, whylen, "not JSON: %s", jerr.text);
    return CHIRP_EMALFORMED;
  }
  int rc = chirp_event_from_json(root, ev, why, whylen);
  json_decref(root);
  return rc;
}

int chirp_event_batch_join(char *const *bodies, const size_t *lens, size_t n, char **out,
                           size_t *len) {
  if (n == 0) return CHIRP_EINVAL;
  static const char head[] = "{\"events\":[", tail[] = "]}";
  size_t total = sizeof head - 1 + sizeof tail - 1 + (n - 1);
  for (size_t i = 0; i < n; i++) total += lens[i];
  char *s = malloc(total + 1), *w = s;
  if (!s) return CHIRP_ENOMEM;
  memcpy(w, head, sizeof head - 1);
  w += sizeof head - 1;
  for (size_t i = 0; i < n; i++) {
    if (i) *w++ = ',';
    memcpy(w, bodies[i], lens[i]);
    w += lens[i];
  }
  memcpy(w, tail, sizeof tail); /* with the NUL */
  *out = s;
  *len = total;
  return 0;
}

json_t *chirp_event_batch_events(const json_t *root) {
  if (!json_is_object(root) || json_object_get(root, "event_id")) return NULL;
  json_t *events = json_object_get(root, "events");
  return json_is_array(events) ? events : NULL;
}

void chirp_event_cleanup(chirp_event *ev) {
  json_decref(ev->payload);
  ev->payload = NULL;
}
