/* chirp_tweet.c — tweet model and its JSON form. */
#include "chirp_tweet.h"

#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"

void chirp_tweet_cleanup(chirp_tweet *t) {
  free(t->text);
  t->text = NULL;
  json_decref(t->poll);
  t->poll = NULL;
}

void chirp_tweet_array_free(chirp_tweet *a, size_t n) {
  if (!a) return;
  for (size_t i = 0; i < n; i++) chirp_tweet_cleanup(&a[i]);
  free(a);
}

json_t *chirp_tweet_to_json(const chirp_tweet *t) {
  json_t *j = json_object();
  if (!j) return NULL;
  json_object_set_new(j, "id", chirp_json_id(t->id));
  json_object_set_new(j, "author_id", chirp_json_id(t->author_id));
  json_object_set_new(j, "text", json_string(t->text ? t->text : ""));
  json_object_set_new(j, "reply_to", t->reply_to ? chirp_json_id(t->reply_to) : json_null());
  json_object_set_new(j, "quote_of", t->quote_of ? chirp_json_id(t->quote_of) : json_null());
  json_object_set_new(j, "created_at", chirp_json_time(t->created_ms));
  json_object_set_new(j, "edited_at", t->edited_ms ? chirp_json_time(t->edited_ms) : json_null());
  json_object_set_new(j, "poll", t->poll ? json_incref(t->poll) : json_null());
  return j;
}

int chirp_tweet_from_json(const json_t *j, chirp_tweet *t) {
  const char *text = json_string_value(json_object_get(j, "text"));
  json_t *reply = json_object_get(j, "reply_to");
  json_t *quote = json_object_get(j, "quote_of");
  json_t *edited = json_object_get(j, "edited_at");
  json_t *poll = json_object_get(j, "poll");
  memset(t, 0, sizeof *t);
  if (!text || chirp_json_get_id(j, "id", &t->id) ||
      chirp_json_get_id(j, "author_id", &t->author_id) ||
      chirp_json_get_time(j, "created_at", &t->created_ms))
    return CHIRP_EMALFORMED;
  if (reply && !json_is_null(reply) && chirp_json_get_id(j, "reply_to", &t->reply_to))
    return CHIRP_EMALFORMED;
  if (quote && !json_is_null(quote) && chirp_json_get_id(j, "quote_of", &t->quote_of))
    return CHIRP_EMALFORMED;
  if (edited && !json_is_null(edited) && chirp_json_get_time(j, "edited_at", &t->edited_ms))
    return CHIRP_EMALFORMED;
  if (poll && !json_is_null(poll)) {
    if (!json_is_object(poll)) return CHIRP_EMALFORMED;
    t->poll = json_incref(poll);
  }
  t->text = strdup(text);
  if (!t->text) {
    json_decref(t->poll);
    t->poll = NULL;
    return CHIRP_ENOMEM;
  }
  return 0;
}

int64_t chirp_tweet_version(const chirp_tweet *t) {
  return t->deleted_ms > t->edited_ms ? t->deleted_ms : t->edited_ms;
}
