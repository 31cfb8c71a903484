/* test_slot.c — chirp_slot_of against the slots Redis itself gives
   (`CLUSTER KEYSLOT` of a cluster-enabled redis-server 7.0, Debian 12). */
#include <string.h>

#include "../check.h"
#include "chirp_keys.h"
#include "chirp_slot.h"

static void slot_is(const char *key, unsigned want) {
  CHECK_INT_EQ(chirp_slot_of(key, strlen(key)), want);
}

int main(void) {
  slot_is("foo", 12182);
  slot_is("bar", 5061);
  slot_is("hello", 866);
  slot_is("123456789", 12739);
  /* hash tags: the first {...} with something inside */
  slot_is("chirp:f:{42}", 8000);
  slot_is("chirp:lf:{42}:7", 8000);
  slot_is("{user1000}.following", 3443);
  slot_is("x{a}{b}", 15495);
  slot_is("chirp:t:{1861234567890123456}", 4269);
  /* an empty or unclosed tag hashes the whole key */
  slot_is("{}x", 10595);
  slot_is("a{}b", 13694);
  slot_is("{", 4092);
  slot_is("ab}{c}", 7365);
  /* one owner's keys share a slot */
  char a[CHIRP_KEY_BUFSZ], b[CHIRP_KEY_BUFSZ];
  chirp_key_feed(a, 987654321);
  chirp_key_list_feed(b, 987654321, 5);
  CHECK_INT_EQ(chirp_slot_of(a, strlen(a)), chirp_slot_of(b, strlen(b)));
  CHECK_INT_EQ(chirp_slot_of("", 0), 0);
  CHECK_DONE();
}
