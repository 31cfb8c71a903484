/* test_config.c — CHIRP_* parsing: defaults, overrides, and named errors. */
#include <string.h>

#include "../check.h"
#include "chirp_config.h"
#include "chirp_error.h"

/* A fake environment: pairs of name, value, ending with NULL. */
static const char *fake_get(const char *name, void *arg) {
  const char *const *kv = arg;
  for (; kv[0]; kv += 2)
    if (strcmp(kv[0], name) == 0) return kv[1];
  return NULL;
}

static int parse(const char *const *kv, chirp_config *cfg, char *err) {
  return chirp_config_parse(cfg, fake_get, (void *)kv, err, 256);
}

int main(void) {
  chirp_config cfg;
  char err[256];
  const char *const none[] = {NULL};
  CHECK_INT_EQ(parse(none, &cfg, err), 0);
  CHECK_STR_EQ(cfg.pg_url, "postgresql://chirp@127.0.0.1:54321/chirp");
  CHECK_STR_EQ(cfg.redis_url, "redis://127.0.0.1:63791/0");
  CHECK_STR_EQ(cfg.amqp_url, "amqp://guest:guest@127.0.0.1:56721/%2f");
  CHECK_INT_EQ(cfg.http_port, 8080);
  CHECK_STR_EQ(cfg.role, "persist");
  CHECK_INT_EQ(cfg.log_level, CHIRP_LOG_INFO);
  CHECK_INT_EQ(cfg.pwhash_min, 0);
  CHECK_INT_EQ(cfg.feed_cap, 800);
  CHECK_INT_EQ(cfg.huge_threshold, 10000);
  CHECK_INT_EQ(cfg.fanout_chunk, 1000);
  CHECK_INT_EQ(cfg.fanout_single_active, 1);
  CHECK_INT_EQ(cfg.likes_flush_count, 10);
  CHECK_INT_EQ(cfg.likes_flush_age_ms, 60000);
  CHECK_INT_EQ(cfg.amqp_heartbeat_s, 30);

  const char *const good[] = {"CHIRP_HTTP_PORT", "9000", "CHIRP_PREFETCH", "10",
                              "CHIRP_LOG_LEVEL", "debug", "CHIRP_PWHASH", "min",
                              "CHIRP_ROLE", "fanout", "CHIRP_NODE_ID", "1023",
                              "CHIRP_AMQP_HEARTBEAT", "5", "CHIRP_FANOUT_SINGLE_ACTIVE", "0",
                              NULL};
  CHECK_INT_EQ(parse(good, &cfg, err), 0);
  CHECK_INT_EQ(cfg.http_port, 9000);
  CHECK_INT_EQ(cfg.prefetch, 10);
  CHECK_INT_EQ(cfg.log_level, CHIRP_LOG_DEBUG);
  CHECK_INT_EQ(cfg.pwhash_min, 1);
  CHECK_STR_EQ(cfg.role, "fanout");
  CHECK_INT_EQ(cfg.node_id, 1023);
  CHECK_INT_EQ(cfg.amqp_heartbeat_s, 5);
  CHECK_INT_EQ(cfg.fanout_single_active, 0);

  struct {
    const char *name, *value;
  } bad[] = {
      {"CHIRP_HTTP_PORT", "0"},       {"CHIRP_HTTP_PORT", "80x"},
      {"CHIRP_HTTP_PORT", "65536"},   {"CHIRP_HTTP_PORT", ""},
      {"CHIRP_PREFETCH", "-1"},       {"CHIRP_LOG_LEVEL", "loud"},
      {"CHIRP_PG_URL", "mysql://x"},  {"CHIRP_REDIS_URL", "http://x"},
      {"CHIRP_AMQP_URL", "amqp:/x"},  {"CHIRP_HTTP_BIND", "localhost"},
      {"CHIRP_NODE_ID", "1024"},      {"CHIRP_PWHASH", "fast"},
      {"CHIRP_ADMIN_TOKEN", "short"}, {"CHIRP_PUBLISH_TIMEOUT_MS", "5"},
      {"CHIRP_FEED_CAP", "5"},        {"CHIRP_FANOUT_CHUNK", "0"},
      {"CHIRP_HUGE_THRESHOLD", "0"},  {"CHIRP_LIKES_FLUSH_COUNT", "-1"},
      {"CHIRP_LIKES_FLUSH_AGE_MS", "soon"}, {"CHIRP_AMQP_HEARTBEAT", "-1"},
      {"CHIRP_AMQP_HEARTBEAT", "3601"}, {"CHIRP_FANOUT_SINGLE_ACTIVE", "2"},
      {"CHIRP_FANOUT_SINGLE_ACTIVE", "yes"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *const kv[] = {bad[i].name, bad[i].value, NULL};
    err[0] = '\0';
    CHECK_INT_EQ(parse(kv, &cfg, err), CHIRP_EINVAL);
    /* The message names the variable that is wrong. */
    CHECK(strstr(err, bad[i].name) != NULL);
  }
  CHECK_DONE();
}
