/*
 * chirp_text.h — UTF-8 checks and the field rules of the API.
 *
 * Pure functions, thread-safe.  Each validator returns 0 or CHIRP_EINVAL and,
 * on error, points *why at a static snake_case reason ("too_long", "empty",
 * "invalid_utf8", "invalid_format") that the gateway sends as the error code.
 */
#ifndef CHIRP_TEXT_H
#define CHIRP_TEXT_H

#include <stddef.h>

#define CHIRP_MAX_TWEET_CHARS 280
#define CHIRP_MAX_USERNAME_CHARS 30
#define CHIRP_MAX_DISPLAY_NAME_CHARS 50
#define CHIRP_MAX_BIO_CHARS 160
#define CHIRP_MAX_AVATAR_URL_BYTES 512
#define CHIRP_MAX_EMAIL_BYTES 254
#define CHIRP_MIN_PASSWORD_BYTES 8
#define CHIRP_MAX_PASSWORD_BYTES 256

/* Number of code points in s[0..len) if it is valid UTF-8 (no overlongs,
   no surrogates, nothing above U+10FFFF, no NUL); -1 otherwise. */
long chirp_utf8_count(const char *s, size_t len);

/* Text of a tweet or comment: valid UTF-8, 1..max code points, not only
   white space. */
int chirp_text_check_body(const char *s, size_t len, long max_chars, const char **why);
/* 1-30 of [A-Za-z0-9_]. */
int chirp_text_check_username(const char *s, const char **why);
/* local@domain, one '@', a dot in the domain, no spaces, <= 254 bytes. */
int chirp_text_check_email(const char *s, const char **why);
/* 8-256 bytes of valid UTF-8. */
int chirp_text_check_password(const char *s, size_t len, const char **why);
/* Free text of 0..max code points (display name, bio): valid UTF-8, no
   control characters; newlines only when multiline (a bio). */
int chirp_text_check_free(const char *s, size_t len, long max_chars, int multiline,
                          const char **why);
/* Empty, or an http(s) URL of at most 512 bytes without spaces. */
int chirp_text_check_url(const char *s, const char **why);

#endif
