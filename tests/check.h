/*
 * check.h — the assertion macros of Chirp's C tests.
 *
 * A failed check prints the file, the line, the expression and both values,
 * counts the failure and goes on; CHECK_DONE() ends main with the count.
 * Each test is its own small executable registered with ctest.
 */
#ifndef CHIRP_CHECK_H
#define CHIRP_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures_;
static int check_count_;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    check_count_++;                                                                  \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
      check_failures_++;                                                             \
    }                                                                                \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                           \
  do {                                                                               \
    long long a_ = (long long)(a), b_ = (long long)(b);                              \
    check_count_++;                                                                  \
    if (a_ != b_) {                                                                  \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
              #a, #b, a_, b_);                                                       \
      check_failures_++;                                                             \
    }                                                                                \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                             \
  do {                                                                                 \
    const char *a_ = (a), *b_ = (b);                                                   \
    check_count_++;                                                                    \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
              #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
      check_failures_++;                                                               \
    }                                                                                  \
  } while (0)

/* Stops the test at once (for a failed precondition, e.g. no server). */
#define REQUIRE(cond)                                                                \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond);    \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

#define CHECK_DONE()                                                                 \
  do {                                                                               \
    fprintf(stderr, "%d checks, %d failed\n", check_count_, check_failures_);        \
    return check_failures_ ? 1 : 0;                                                  \
  } while (0)

#endif
