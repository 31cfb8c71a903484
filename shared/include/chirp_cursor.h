/*
 * chirp_cursor.h — opaque paging cursors.
 *
 * A cursor names the list it belongs to and the last id a page showed:
 * base64url("<kind>:<id>").  Decoding checks the kind, so a cursor from one
 * list handed to another is refused (the gateway answers 400) instead of
 * paging somewhere unexpected.  Pure and thread-safe.
 */
#ifndef CHIRP_CURSOR_H
#define CHIRP_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CHIRP_CURSOR_BUFSZ 64

/* kind: a short tag of [a-z_], at most 16 bytes. Returns buf. */
char *chirp_cursor_encode(const char *kind, int64_t id, char *buf);
/* 0, or CHIRP_EMALFORMED for anything not made by encode with this kind. */
int chirp_cursor_decode(const char *s, const char *kind, int64_t *id);
/* The same for len bytes at s, which may hold any byte (a NUL included):
   anything outside the base64url alphabet is CHIRP_EMALFORMED. */
int chirp_cursor_decode_len(const char *s, size_t len, const char *kind, int64_t *id);

#endif
