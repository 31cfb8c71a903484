/*
 * chirp_log.h — leveled logging to stderr, one line per call.
 *
 * Thread-safe (each line is written with a single write(2)).  The level is
 * process-wide and set once at start-up from the configuration.
 */
#ifndef CHIRP_LOG_H
#define CHIRP_LOG_H

typedef enum chirp_log_level {
  CHIRP_LOG_DEBUG = 0,
  CHIRP_LOG_INFO,
  CHIRP_LOG_WARN,
  CHIRP_LOG_ERROR,
} chirp_log_level;

/* Parses "debug", "info", "warn" or "error"; returns 0 or CHIRP_EINVAL. */
int chirp_log_level_parse(const char *s, chirp_log_level *out);
void chirp_log_set_level(chirp_log_level level);
/* Sets the component name shown on every line (borrowed; keep it static). */
void chirp_log_set_name(const char *name);
int chirp_log_enabled(chirp_log_level level);

void chirp_log(chirp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define chirp_debug(...) chirp_log(CHIRP_LOG_DEBUG, __VA_ARGS__)
#define chirp_info(...) chirp_log(CHIRP_LOG_INFO, __VA_ARGS__)
#define chirp_warn(...) chirp_log(CHIRP_LOG_WARN, __VA_ARGS__)
#define chirp_error(...) chirp_log(CHIRP_LOG_ERROR, __VA_ARGS__)

#endif
