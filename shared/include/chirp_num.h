/*
 * chirp_num.h — decimal integers written and read without stdio: the hot
 * read paths format a hundred keys and numbers per answer, where snprintf
 * and strtoll cost more than the rest of the work around them.
 */
#ifndef CHIRP_NUM_H
#define CHIRP_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Room for any long long in decimal, sign and NUL included. */
#define CHIRP_NUM_STRSZ 21

/* Writes v in decimal at buf (what "%lld" writes) followed by a NUL;
   returns the number of characters before the NUL.  buf holds at least
   CHIRP_NUM_STRSZ bytes. */
size_t chirp_num_format(long long v, char *buf);

/* The leading decimal digits of s (no sign, no spaces) as a value, what
   strtoll(s, NULL, 10) gives for such text; 0 when s starts with no digit
   or the digits do not fit. */
int64_t chirp_num_leading(const char *s);

#endif
