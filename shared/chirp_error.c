/* chirp_error.c — tables generated from CHIRP_ERRNO_MAP. */
#include "chirp_error.h"

#include <stddef.h>

struct err_row {
  int err;
  int status;
  const char *code;
  const char *msg;
};

static const struct err_row rows[] = {
#define ROW_(name, status, code, msg) {CHIRP_##name, status, code, msg},
    CHIRP_ERRNO_MAP(ROW_)
#undef ROW_
};

static const struct err_row *find(int err) {
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (rows[i].err == err) return &rows[i];
  return NULL;
}

const char *chirp_strerror(int err) {
  if (err == 0) return "success";
  const struct err_row *r = find(err);
  return r ? r->msg : "unknown error";
}

int chirp_err_status(int err) {
  if (err == 0) return 200;
  const struct err_row *r = find(err);
  return r ? r->status : 500;
}

const char *chirp_err_code(int err) {
  const struct err_row *r = find(err);
  return r ? r->code : "internal";
}
