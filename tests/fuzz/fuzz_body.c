/*
 * fuzz_body.c — request bodies: the JSON parse of the gateway's pipeline
 * (gateway/http.c) and the field rules of the handlers that take a body:
 * sign-up (h_account_create), profile patch (h_account_update_me), log-in
 * (h_session_create), a tweet (h_tweet_create, with its optional poll) and
 * a comment (h_comment_create).
 *
 * Each rule is applied the way its handler applies it, and what a rule
 * accepts must hold what the contract promises (lengths, one '@', ...).
 * An accepted tweet then goes the way it travels: chirp_tweet_to_json, the
 * bytes of the event, and chirp_tweet_from_json on the worker's side must
 * give back the same tweet.
 */
#include <jansson.h>

#include "chirp_id.h"
#include "chirp_poll.h"
#include "chirp_text.h"
#include "chirp_tweet.h"
#include "fuzz.h"

/* gw_body_string: a string member, or NULL (absent, null or not a string). */
static const char *str(const json_t *body, const char *name, size_t *len) {
  const json_t *v = json_object_get(body, name);
  if (!json_is_string(v)) return NULL;
  if (len) *len = json_string_length(v);
  return json_string_value(v);
}

static void sign_up(const json_t *b) {
  const char *why;
  size_t plen = 0;
  const char *u = str(b, "username", NULL), *e = str(b, "email", NULL),
             *p = str(b, "password", &plen);
  if (u && chirp_text_check_username(u, &why) == 0) FUZZ_ASSERT(strlen(u) >= 1 && strlen(u) <= 30);
  if (e && chirp_text_check_email(e, &why) == 0) {
    const char *at = strchr(e, '@');
    FUZZ_ASSERT(at && at != e && !strchr(at + 1, '@') && strlen(e) <= CHIRP_MAX_EMAIL_BYTES);
    FUZZ_ASSERT(!strpbrk(e, " \t\r\n"));
  }
  if (p && chirp_text_check_password(p, plen, &why) == 0)
    FUZZ_ASSERT(plen >= CHIRP_MIN_PASSWORD_BYTES && plen <= CHIRP_MAX_PASSWORD_BYTES &&
                strlen(p) == plen);
}

static void patch(const json_t *b) {
  const char *why;
  const char *name = str(b, "display_name", NULL), *bio = str(b, "bio", NULL),
             *avatar = str(b, "avatar_url", NULL);
  if (name && chirp_text_check_free(name, strlen(name), CHIRP_MAX_DISPLAY_NAME_CHARS, 0, &why) == 0)
    FUZZ_ASSERT(!strpbrk(name, "\n\r\t"));
  if (bio) (void)chirp_text_check_free(bio, strlen(bio), CHIRP_MAX_BIO_CHARS, 1, &why);
  if (avatar && chirp_text_check_url(avatar, &why) == 0 && *avatar)
    FUZZ_ASSERT(strlen(avatar) <= CHIRP_MAX_AVATAR_URL_BYTES && !strchr(avatar, ' ') &&
                (strncasecmp(avatar, "http://", 7) == 0 || strncasecmp(avatar, "https://", 8) == 0));
}

/* The tweet through its event and back. */
static void round_trip(const chirp_tweet *t) {
  json_t *j = chirp_tweet_to_json(t);
  FUZZ_ASSERT(j);
  char *wire = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  FUZZ_ASSERT(wire);
  json_t *back = json_loads(wire, JSON_REJECT_DUPLICATES, NULL);
  free(wire);
  FUZZ_ASSERT(back);
  chirp_tweet u;
  FUZZ_ASSERT(chirp_tweet_from_json(back, &u) == 0);
  json_decref(back);
  FUZZ_ASSERT(u.id == t->id && u.author_id == t->author_id && u.reply_to == t->reply_to);
  FUZZ_ASSERT(u.created_ms == t->created_ms && strcmp(u.text, t->text) == 0);
  FUZZ_ASSERT(!u.poll == !t->poll);
  if (t->poll) FUZZ_ASSERT(json_equal(u.poll, t->poll));
  chirp_tweet_cleanup(&u);
}

static void tweet(const json_t *b) {
  const char *why, *field;
  size_t len = 0;
  const char *text = str(b, "text", &len), *reply_to = str(b, "reply_to", NULL);
  if (!text || chirp_text_check_body(text, len, CHIRP_MAX_TWEET_CHARS, &why) != 0) return;
  FUZZ_ASSERT(strlen(text) == len); /* no NUL inside an accepted text */
  chirp_idgen ids;
  chirp_idgen_init(&ids, 7);
  int64_t now = INT64_C(1764547200000);
  chirp_tweet t = {.author_id = 42};
  const json_t *poll = json_object_get(b, "poll");
  if (poll && !json_is_null(poll) &&
      chirp_poll_from_request(poll, now, &ids, &t.poll, &field, &why) != 0)
    return;
  if (reply_to && chirp_id_parse(reply_to, &t.reply_to) != 0) {
    json_decref(t.poll);
    return;
  }
  t.id = chirp_idgen_next_at(&ids, now);
  t.created_ms = chirp_id_time_ms(t.id);
  t.text = (char *)text;
  round_trip(&t);
  json_decref(t.poll);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *b = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (!b) return 0;
  if (json_is_object(b)) {
    sign_up(b);
    patch(b);
    tweet(b);
    /* Log-in takes any strings: nothing to check but that it is read safely. */
    (void)str(b, "login", NULL);
  }
  json_decref(b);
  return 0;
}
