/*
 * chirp_error.h — the one list of Chirp error codes.
 *
 * Every function of the project that can fail returns int: 0 on success or a
 * negative CHIRP_E… code from CHIRP_ERRNO_MAP.  The same table gives the text
 * (chirp_strerror), the HTTP status and the snake_case "code" the gateway puts
 * in its JSON error body, so the three can never disagree.
 */
#ifndef CHIRP_ERROR_H
#define CHIRP_ERROR_H

/* X(name, http status, json code, default message) */
#define CHIRP_ERRNO_MAP(X)                                                     \
  X(EMALFORMED, 400, "malformed", "the request is malformed")                  \
  X(EUNAUTHORIZED, 401, "unauthorized", "a valid bearer token is required")    \
  X(EFORBIDDEN, 403, "forbidden", "this resource is not yours")                \
  X(ENOTFOUND, 404, "not_found", "no such resource")                           \
  X(EMETHOD, 405, "method_not_allowed", "method not allowed on this path")     \
  X(ECONFLICT, 409, "conflict", "the resource already exists")                 \
  X(ETOOLARGE, 413, "payload_too_large", "the request body is too large")      \
  X(EMEDIATYPE, 415, "unsupported_media_type",                                 \
    "the body must be application/json")                                       \
  X(EINVAL, 422, "invalid_field", "a field is invalid")                        \
  X(ERATELIMIT, 429, "rate_limited", "too many requests")                      \
  X(EINTERNAL, 500, "internal", "internal error")                              \
  X(ENOMEM, 500, "out_of_memory", "out of memory")                             \
  X(EUNAVAILABLE, 503, "unavailable", "a dependency is unavailable")           \
  X(ETIMEDOUT, 503, "timeout", "a dependency did not answer in time")

typedef enum chirp_errno {
  CHIRP_OK = 0,
#define CHIRP_ERR_ENUM_(name, status, code, msg) CHIRP_##name,
  CHIRP_ERR_FIRST_ = -100,
  CHIRP_ERRNO_MAP(CHIRP_ERR_ENUM_)
#undef CHIRP_ERR_ENUM_
  CHIRP_ERR_LAST_
} chirp_errno;

/* Human text for an error code; never NULL ("unknown error" for others). */
const char *chirp_strerror(int err);
/* HTTP status for an error code (500 for unknown codes, 200 for 0). */
int chirp_err_status(int err);
/* The JSON "code" string for an error code ("internal" for unknown codes). */
const char *chirp_err_code(int err);

#endif
