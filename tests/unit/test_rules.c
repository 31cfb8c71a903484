/* test_rules.c — mention parsing and poll validation. */
#include <string.h>

#include "../check.h"
#include "chirp_error.h"
#include "chirp_notify.h"
#include "chirp_poll.h"
#include "chirp_search.h"

static json_t *parse(const char *s) { return json_loads(s, 0, NULL); }

int main(void) {
  char names[CHIRP_MAX_MENTIONS][32];
  CHECK_INT_EQ(chirp_mentions_parse("no mentions here", names, CHIRP_MAX_MENTIONS), 0);
  CHECK_INT_EQ(chirp_mentions_parse("@Alice hi @bob_2, and @alice again", names, CHIRP_MAX_MENTIONS), 2);
  CHECK_STR_EQ(names[0], "alice");
  CHECK_STR_EQ(names[1], "bob_2");
  /* An address is not a mention; nor is a bare '@' or '@@x'. */
  CHECK_INT_EQ(chirp_mentions_parse("mail me@example.org or @ or @@x", names, CHIRP_MAX_MENTIONS), 0);
  CHECK_INT_EQ(chirp_mentions_parse("(@carol)", names, CHIRP_MAX_MENTIONS), 1);
  CHECK_STR_EQ(names[0], "carol");
  /* Longer than a username can be: ignored. */
  CHECK_INT_EQ(chirp_mentions_parse("@a234567890123456789012345678901", names, CHIRP_MAX_MENTIONS), 0);
  CHECK_INT_EQ(chirp_mentions_parse("@a @b @c", names, 2), 2);

  char tags[CHIRP_MAX_HASHTAGS][CHIRP_MAX_HASHTAG_CHARS + 1];
  CHECK_INT_EQ(chirp_hashtags_parse("no tags", tags, CHIRP_MAX_HASHTAGS), 0);
  CHECK_INT_EQ(chirp_hashtags_parse("#C is #fun, #c again and x#notatag", tags, CHIRP_MAX_HASHTAGS), 2);
  CHECK_STR_EQ(tags[0], "c");
  CHECK_STR_EQ(tags[1], "fun");
  CHECK_INT_EQ(chirp_hashtags_parse("# alone, ## and (#in_parens)", tags, CHIRP_MAX_HASHTAGS), 1);
  CHECK_STR_EQ(tags[0], "in_parens");

  chirp_idgen ids;
  chirp_idgen_init(&ids, 3);
  const char *field = NULL, *why = NULL;
  json_t *def = NULL, *req;
  int64_t now = 1764200000000;
  req = parse("{\"options\":[\"yes\",\"no\"],\"expires_in\":300}");
  CHECK_INT_EQ(chirp_poll_from_request(req, now, &ids, &def, &field, &why), 0);
  CHECK_INT_EQ(chirp_poll_option_count(def), 2);
  CHECK_INT_EQ(chirp_poll_expires_ms(def), now + 300000);
  CHECK(json_is_false(json_object_get(def, "multiple")));
  int64_t pid = 0;
  CHECK_INT_EQ(chirp_poll_id(def, &pid), 0);
  CHECK(pid > 0);
  json_decref(req);

  struct {
    const char *body, *field, *why;
  } bad[] = {
      {"{\"options\":[\"only\"],\"expires_in\":300}", "poll.options", "too_few"},
      {"{\"options\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"expires_in\":300}", "poll.options", "too_many"},
      {"{\"options\":[\"a\",\"\"],\"expires_in\":300}", "poll.options", "empty"},
      {"{\"options\":[\"a\",5],\"expires_in\":300}", "poll.options", "wrong_type"},
      {"{\"options\":[\"a\",\"123456789012345678901234567890123456789012345678901\"],\"expires_in\":300}",
       "poll.options", "too_long"},
      {"{\"options\":[\"a\",\"b\"],\"expires_in\":299}", "poll.expires_in", "out_of_range"},
      {"{\"options\":[\"a\",\"b\"],\"expires_in\":604801}", "poll.expires_in", "out_of_range"},
      {"{\"options\":[\"a\",\"b\"],\"expires_in\":\"300\"}", "poll.expires_in", "wrong_type"},
      {"{\"options\":[\"a\",\"b\"],\"expires_in\":300,\"multiple\":1}", "poll.multiple", "wrong_type"},
      {"[]", "poll", "wrong_type"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *b = parse(bad[i].body), *d = NULL;
    CHECK_INT_EQ(chirp_poll_from_request(b, now, &ids, &d, &field, &why), CHIRP_EINVAL);
    CHECK_STR_EQ(field, bad[i].field);
    CHECK_STR_EQ(why, bad[i].why);
    json_decref(b);
  }

  int choices[4];
  size_t n = 0;
  json_t *c = parse("[1]");
  CHECK_INT_EQ(chirp_poll_check_choices(def, c, choices, &n, &why), 0);
  CHECK_INT_EQ(n, 1);
  CHECK_INT_EQ(choices[0], 1);
  json_decref(c);
  const char *bad_choices[][2] = {{"[0,1]", "single_choice"}, {"[2]", "out_of_range"},
                                  {"[-1]", "out_of_range"},   {"[]", "empty"},
                                  {"\"0\"", "wrong_type"},    {"[\"0\"]", "out_of_range"}};
  for (size_t i = 0; i < sizeof bad_choices / sizeof bad_choices[0]; i++) {
    c = parse(bad_choices[i][0]);
    if (!c) c = json_string("0");
    CHECK_INT_EQ(chirp_poll_check_choices(def, c, choices, &n, &why), CHIRP_EINVAL);
    CHECK_STR_EQ(why, bad_choices[i][1]);
    json_decref(c);
  }
  json_decref(def);
  req = parse("{\"options\":[\"a\",\"b\",\"c\"],\"expires_in\":3600,\"multiple\":true}");
  CHECK_INT_EQ(chirp_poll_from_request(req, now, &ids, &def, &field, &why), 0);
  c = parse("[2,0]");
  CHECK_INT_EQ(chirp_poll_check_choices(def, c, choices, &n, &why), 0);
  CHECK_INT_EQ(n, 2);
  json_decref(c);
  c = parse("[1,1]");
  CHECK_INT_EQ(chirp_poll_check_choices(def, c, choices, &n, &why), CHIRP_EINVAL);
  CHECK_STR_EQ(why, "duplicate");
  json_decref(c);
  json_decref(def);
  json_decref(req);
  CHECK_DONE();
}
