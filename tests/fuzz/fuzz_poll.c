/*
 * fuzz_poll.c — poll bodies: the "poll" member of a new tweet
 * (chirp_poll_from_request) and the choices of a vote
 * (chirp_poll_check_choices), as h_tweets.c and h_polls.c use them.
 *
 * The input is "<poll JSON>\n<choices JSON>".  An accepted poll has 2-4
 * options and an expiry in range; accepted choices are distinct indexes of
 * its options, never more than the gateway's array of CHIRP_POLL_MAX_OPTIONS.
 */
#include <jansson.h>

#include "chirp_id.h"
#include "chirp_poll.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t plen = nl ? (size_t)(nl - data) : size;
  json_t *req = json_loadb((const char *)data, plen, JSON_REJECT_DUPLICATES, NULL);
  json_t *choices =
      nl ? json_loadb((const char *)nl + 1, size - plen - 1, JSON_REJECT_DUPLICATES, NULL) : NULL;
  if (!req) goto out;
  chirp_idgen ids;
  chirp_idgen_init(&ids, 1);
  int64_t now = INT64_C(1764547200000);
  json_t *def = NULL;
  const char *field = NULL, *why = NULL;
  if (chirp_poll_from_request(req, now, &ids, &def, &field, &why) != 0) {
    FUZZ_ASSERT(field && why && !def);
    goto out;
  }
  size_t nopt = chirp_poll_option_count(def);
  FUZZ_ASSERT(nopt >= CHIRP_POLL_MIN_OPTIONS && nopt <= CHIRP_POLL_MAX_OPTIONS);
  int64_t exp = chirp_poll_expires_ms(def), pid = 0;
  FUZZ_ASSERT(exp >= now + CHIRP_POLL_MIN_SECONDS * 1000 &&
              exp <= now + (int64_t)CHIRP_POLL_MAX_SECONDS * 1000);
  FUZZ_ASSERT(chirp_poll_id(def, &pid) == 0 && pid > 0);
  if (choices) {
    int out[CHIRP_POLL_MAX_OPTIONS];
    size_t n = 0;
    why = NULL;
    if (chirp_poll_check_choices(def, choices, out, &n, &why) == 0) {
      FUZZ_ASSERT(n >= 1 && n <= nopt);
      FUZZ_ASSERT(n == 1 || json_is_true(json_object_get(def, "multiple")));
      for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(out[i] >= 0 && (size_t)out[i] < nopt);
        for (size_t j = 0; j < i; j++) FUZZ_ASSERT(out[i] != out[j]);
      }
    } else {
      FUZZ_ASSERT(why != NULL);
    }
  }
  json_decref(def);
out:
  json_decref(req);
  json_decref(choices);
  return 0;
}
