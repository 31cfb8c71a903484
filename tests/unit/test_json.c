/* test_json.c — the JSON forms: events, tweets, accounts, times, cursors, errors. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "chirp_account.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_time.h"
#include "chirp_tweet.h"

static int decode(const char *s, chirp_event *ev) {
  char why[160];
  return chirp_event_decode(s, strlen(s), ev, why, sizeof why);
}

int main(void) {
  /* Times: RFC 3339 with milliseconds, both ways, PostgreSQL's form too. */
  char ts[CHIRP_TIME_BUFSZ];
  int64_t ms = 0;
  chirp_time_format_ms(INT64_C(1764200000123), ts, sizeof ts);
  CHECK_STR_EQ(ts, "2025-11-26T23:33:20.123Z");
  CHECK_INT_EQ(chirp_time_parse_ms(ts, &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1764200000123));
  CHECK_INT_EQ(chirp_time_parse_ms("2025-11-26 23:33:20.1+00", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1764200000100));
  CHECK_INT_EQ(chirp_time_parse_ms("2025-11-27T01:33:20+02:00", &ms), 0);
  CHECK_INT_EQ(ms, INT64_C(1764200000000));
  CHECK_INT_EQ(chirp_time_parse_ms("2025-13-01T00:00:00Z", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("2025-11-26T23:33:20", &ms), CHIRP_EINVAL);
  CHECK_INT_EQ(chirp_time_parse_ms("yesterday", &ms), CHIRP_EINVAL);

  /* A tweet survives the round trip, with reply_to and edited_at. */
  chirp_tweet t = {.id = 42, .author_id = 7, .reply_to = 41, .created_ms = 1764200000123,
                   .edited_ms = 1764200000999, .text = (char *)"h\xc3\xa9 \"quoted\""};
  json_t *tj = chirp_tweet_to_json(&t);
  CHECK_STR_EQ(json_string_value(json_object_get(tj, "id")), "42");
  CHECK_STR_EQ(json_string_value(json_object_get(tj, "reply_to")), "41");
  chirp_tweet back;
  CHECK_INT_EQ(chirp_tweet_from_json(tj, &back), 0);
  CHECK_INT_EQ(back.id, 42);
  CHECK_INT_EQ(back.author_id, 7);
  CHECK_INT_EQ(back.reply_to, 41);
  CHECK_INT_EQ(back.created_ms, t.created_ms);
  CHECK_INT_EQ(back.edited_ms, t.edited_ms);
  CHECK_STR_EQ(back.text, t.text);
  CHECK_INT_EQ(chirp_tweet_version(&back), t.edited_ms);
  chirp_tweet_cleanup(&back);
  json_object_set_new(tj, "id", json_integer(42)); /* ids must be strings */
  CHECK_INT_EQ(chirp_tweet_from_json(tj, &back), CHIRP_EMALFORMED);
  json_decref(tj);

  /* An event envelope round trip. */
  json_t *payload = json_pack("{s:s}", "k", "v");
  char *buf;
  size_t len;
  CHECK_INT_EQ(chirp_event_encode(99, "tweet.created", 1764200000123, 7, payload, &buf, &len), 0);
  CHECK_INT_EQ(len, strlen(buf));
  chirp_event ev;
  CHECK_INT_EQ(decode(buf, &ev), 0);
  CHECK_INT_EQ(ev.event_id, 99);
  CHECK_STR_EQ(ev.type, "tweet.created");
  CHECK_INT_EQ(ev.occurred_ms, 1764200000123);
  CHECK_INT_EQ(ev.actor_id, 7);
  CHECK_STR_EQ(json_string_value(json_object_get(ev.payload, "k")), "v");
  chirp_event_cleanup(&ev);
  free(buf);
  json_decref(payload);

  /* Malformed envelopes are refused, each for its own reason. */
  const char *bad[] = {
      "not json",
      "[]",
      "{\"event_id\":\"1\",\"type\":\"tweet.created\",\"occurred_at\":\"2025-11-26T23:33:20Z\","
      "\"actor_id\":\"7\"}",
      "{\"event_id\":1,\"type\":\"tweet.created\",\"occurred_at\":\"2025-11-26T23:33:20Z\","
      "\"actor_id\":\"7\",\"payload\":{}}",
      "{\"event_id\":\"1\",\"type\":\"created\",\"occurred_at\":\"2025-11-26T23:33:20Z\","
      "\"actor_id\":\"7\",\"payload\":{}}",
      "{\"event_id\":\"1\",\"type\":\"tweet.created\",\"occurred_at\":\"now\","
      "\"actor_id\":\"7\",\"payload\":{}}",
      "{\"event_id\":\"1\",\"event_id\":\"2\",\"type\":\"tweet.created\","
      "\"occurred_at\":\"2025-11-26T23:33:20Z\",\"actor_id\":\"7\",\"payload\":{}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_INT_EQ(decode(bad[i], &ev), CHIRP_EMALFORMED);

  /* Accounts: the public form has no e-mail. */
  chirp_account a = {.id = 5, .created_ms = 1764200000123, .username = "alice"};
  a.email = strdup("a@x.io");
  a.display_name = strdup("Alice");
  a.bio = strdup("");
  a.avatar_url = strdup("");
  json_t *pub = chirp_account_to_json(&a, 0), *own = chirp_account_to_json(&a, 1);
  CHECK(json_object_get(pub, "email") == NULL);
  CHECK_STR_EQ(json_string_value(json_object_get(own, "email")), "a@x.io");
  CHECK_STR_EQ(json_string_value(json_object_get(pub, "id")), "5");
  json_decref(pub);
  json_decref(own);
  chirp_account_cleanup(&a);

  /* Cursors name their list. */
  char cur[CHIRP_CURSOR_BUFSZ];
  int64_t id = 0;
  chirp_cursor_encode("ut", 384489201654534144, cur);
  CHECK_INT_EQ(chirp_cursor_decode(cur, "ut", &id), 0);
  CHECK_INT_EQ(id, 384489201654534144);
  CHECK_INT_EQ(chirp_cursor_decode(cur, "feed", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode("!!!", "ut", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode("dXQ6", "ut", &id), CHIRP_EMALFORMED); /* "ut:" */
  CHECK_INT_EQ(chirp_cursor_decode("", "ut", &id), CHIRP_EMALFORMED);
  /* Every byte counts: a NUL or a byte outside base64url never shortens a
     cursor into a valid one. */
  size_t cl = strlen(cur);
  char with[CHIRP_CURSOR_BUFSZ + 2];
  memcpy(with, cur, cl);
  with[cl] = '\0';
  with[cl + 1] = 'A';
  CHECK_INT_EQ(chirp_cursor_decode_len(cur, cl, "ut", &id), 0);
  CHECK_INT_EQ(chirp_cursor_decode_len(with, cl + 1, "ut", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode_len(with, cl + 2, "ut", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode_len("\0", 1, "ut", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode_len("dXQ6MQ\xff", 7, "ut", &id), CHIRP_EMALFORMED);
  CHECK_INT_EQ(chirp_cursor_decode_len("dXQ6MQ", 6, "ut", &id), 0); /* "ut:1" */
  CHECK_INT_EQ(chirp_cursor_decode_len("dXQ6MQ ", 7, "ut", &id), CHIRP_EMALFORMED);

  /* The error table agrees with the contract. */
  CHECK_INT_EQ(chirp_err_status(CHIRP_EINVAL), 422);
  CHECK_STR_EQ(chirp_err_code(CHIRP_EINVAL), "invalid_field");
  CHECK_INT_EQ(chirp_err_status(CHIRP_EUNAVAILABLE), 503);
  CHECK_INT_EQ(chirp_err_status(CHIRP_ETOOLARGE), 413);
  CHECK_INT_EQ(chirp_err_status(CHIRP_EMEDIATYPE), 415);
  CHECK_INT_EQ(chirp_err_status(-12345), 500);
  CHECK_STR_EQ(chirp_strerror(-12345), "unknown error");
  CHECK_DONE();
}
