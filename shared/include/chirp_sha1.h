/*
 * chirp_sha1.h — SHA-1 as lower-case hex, for naming Lua scripts the way
 * Redis does (EVALSHA takes the SHA-1 of the script's source), so a
 * script's name is known without asking Redis.  Not for security.
 */
#ifndef CHIRP_SHA1_H
#define CHIRP_SHA1_H

#include <stddef.h>

/* Writes the 40 hex digits and a NUL into hex. */
void chirp_sha1_hex(const void *data, size_t len, char hex[41]);

#endif
