/*
 * fuzz.h — what every libFuzzer target of tests/fuzz shares.
 *
 * A target is one LLVMFuzzerTestOneInput over one parser.  Besides "no
 * crash, no leak, no undefined behaviour" (the sanitizers' part), each
 * target checks properties of the answer with FUZZ_ASSERT: an accepted input
 * must round-trip, a value must be in its range.  A failed assertion prints
 * the expression and aborts, which libFuzzer reports as a crash and saves
 * as an artifact.
 */
#ifndef CHIRP_FUZZ_H
#define CHIRP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                       \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed\n", __FILE__, __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

/* The input as a C string (a new malloc'd copy, free it): what a C-string
   API sees of those bytes, i.e. up to the first NUL. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* The input as an exact-size heap buffer (no NUL after it), so that ASan
   catches any read past its end.  Free it. */
static inline char *fuzz_exact(const uint8_t *data, size_t size) {
  char *s = malloc(size ? size : 1);
  if (!s) abort();
  if (size) memcpy(s, data, size);
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
