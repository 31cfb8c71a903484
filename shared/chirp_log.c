/* chirp_log.c — stderr logger: "2026-11-26T23:40:00.123Z INFO gateway: …". */
#include "chirp_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chirp_error.h"
#include "chirp_time.h"

static atomic_int current_level = CHIRP_LOG_INFO;
static const char *log_name = "chirp";

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int chirp_log_level_parse(const char *s, chirp_log_level *out) {
  static const char *const lower[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, lower[i]) == 0) {
      *out = (chirp_log_level)i;
      return 0;
    }
  }
  return CHIRP_EINVAL;
}

void chirp_log_set_level(chirp_log_level level) { atomic_store(&current_level, level); }
void chirp_log_set_name(const char *name) { log_name = name; }
int chirp_log_enabled(chirp_log_level level) { return (int)level >= atomic_load(&current_level); }

void chirp_log(chirp_log_level level, const char *fmt, ...) {
  if (!chirp_log_enabled(level)) return;
  char line[2048];
  char ts[32];
  chirp_time_format_ms(chirp_time_now_ms(), ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s %s %s: ", ts, level_names[level], log_name);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}
