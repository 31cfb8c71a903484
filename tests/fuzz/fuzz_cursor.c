/*
 * fuzz_cursor.c — paging cursors (the ?cursor= of every list).
 *
 * Every kind the gateway pages with decodes the input; an accepted cursor
 * must be exactly what chirp_cursor_encode makes of its id (the encoding is
 * canonical, so a forged variant cannot page somewhere the real one would
 * not), and its id is a positive id.
 */
#include "chirp_cursor.h"
#include "fuzz.h"

static const char *const kinds[] = {"feed", "ut", "cm", "nt", "lk", "al", "tr", "sq", "ht", "fl",
                                    "fw", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size);
  for (int i = 0; kinds[i]; i++) {
    int64_t id = -1;
    if (chirp_cursor_decode(s, kinds[i], &id) != 0) continue;
    FUZZ_ASSERT(id > 0);
    char again[CHIRP_CURSOR_BUFSZ];
    chirp_cursor_encode(kinds[i], id, again);
    FUZZ_ASSERT(strcmp(again, s) == 0);
  }
  free(s);
  return 0;
}
