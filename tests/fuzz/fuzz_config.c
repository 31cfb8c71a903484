/*
 * fuzz_config.c — configuration values (CHIRP_* variables) through
 * chirp_config_parse.
 *
 * The input is the environment as "NAME=value" lines.  A parse either
 * fails with a message naming the variable, or gives a configuration
 * whose every number lies in its documented range.
 */
#include "chirp_config.h"
#include "fuzz.h"

#define MAX_VARS 64

struct env {
  char *name[MAX_VARS], *value[MAX_VARS];
  int n;
};

static const char *getter(const char *name, void *arg) {
  const struct env *e = arg;
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->name[i], name) == 0) return e->value[i];
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size), *save = NULL;
  struct env e = {.n = 0};
  for (char *line = strtok_r(s, "\n", &save); line && e.n < MAX_VARS;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = '\0';
    e.name[e.n] = line;
    e.value[e.n++] = eq + 1;
  }
  chirp_config cfg;
  char err[256];
  err[0] = '\0';
  if (chirp_config_parse(&cfg, getter, &e, err, sizeof err) == 0) {
    FUZZ_ASSERT(strncmp(cfg.redis_url, "redis://", 8) == 0);
    FUZZ_ASSERT(strncmp(cfg.amqp_url, "amqp://", 7) == 0);
    FUZZ_ASSERT(strncmp(cfg.pg_url, "postgres", 8) == 0);
    FUZZ_ASSERT(cfg.http_port >= 1 && cfg.http_port <= 65535);
    FUZZ_ASSERT(cfg.http_threads >= 1 && cfg.http_threads <= 1024);
    FUZZ_ASSERT(cfg.prefetch >= 1 && cfg.prefetch <= 65535);
    FUZZ_ASSERT(cfg.node_id >= -1 && cfg.node_id <= 1023);
    FUZZ_ASSERT(cfg.publish_timeout_ms >= 100 && cfg.publish_timeout_ms <= 60000);
    FUZZ_ASSERT(cfg.session_ttl_s >= 60 && cfg.cache_ttl_s >= 1);
    FUZZ_ASSERT(cfg.feed_cap >= 10 && cfg.fanout_chunk >= 10 && cfg.huge_threshold >= 1);
    FUZZ_ASSERT(cfg.rate_read >= 1 && cfg.rate_write >= 1 && cfg.rate_login >= 1);
    FUZZ_ASSERT(cfg.rate_window_s >= 1 && cfg.max_retries >= 1);
    FUZZ_ASSERT(cfg.trust_forwarded == 0 || cfg.trust_forwarded == 1);
    FUZZ_ASSERT(cfg.admin_token[0] == '\0' || strlen(cfg.admin_token) >= 16);
  } else {
    FUZZ_ASSERT(strncmp(err, "CHIRP_", 6) == 0);
  }
  free(s);
  return 0;
}
