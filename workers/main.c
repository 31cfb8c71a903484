/*
 * main.c — chirp-worker: one binary for every worker role, chosen by
 * --role NAME or CHIRP_ROLE.  SIGINT/SIGTERM finish the batch in hand and
 * stop; anything not yet acked is redelivered to the next worker.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_config.h"
#include "chirp_log.h"
#include "worker.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static const wk_role_ops *const roles[] = {&wk_role_persist, &wk_role_fanout, &wk_role_notify,
                                           NULL};

static void usage(void) {
  fprintf(stderr, "usage: chirp-worker [--role ROLE] | --replay-dead [MAX]\nroles:");
  for (int i = 0; roles[i]; i++) fprintf(stderr, " %s", roles[i]->name);
  fprintf(stderr, " likes");
  fprintf(stderr, "\nconfiguration: CHIRP_* environment variables (see README.md)\n");
}

int main(int argc, char **argv) {
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  chirp_config cfg;
  char err[256];
  if (chirp_config_load(&cfg, err, sizeof err)) {
    fprintf(stderr, "chirp-worker: bad configuration: %s\n", err);
    return 2;
  }
  const char *role_name = cfg.role;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--replay-dead") == 0) {
      /* Puts the dead letters back on their routing keys, then exits. */
      long limit = i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : 0;
      return wk_replay_dead(&cfg, limit) == 0 ? 0 : 1;
    }
    if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
      role_name = argv[++i];
    } else if (strncmp(argv[i], "--role=", 7) == 0) {
      role_name = argv[i] + 7;
    } else {
      usage();
      return 2;
    }
  }
  if (strcmp(role_name, "likes") == 0) { /* the batcher runs its own loop */
    chirp_log_set_name("worker[likes]");
    chirp_log_set_level(cfg.log_level);
    return wk_run_likes(&cfg, &stop_flag) == 0 ? 0 : 1;
  }
  const wk_role_ops *role = NULL;
  for (int i = 0; roles[i]; i++)
    if (strcmp(roles[i]->name, role_name) == 0) role = roles[i];
  if (!role) {
    fprintf(stderr, "chirp-worker: unknown role \"%s\"\n", role_name);
    usage();
    return 2;
  }
  static char log_name[48];
  snprintf(log_name, sizeof log_name, "worker[%s]", role->name);
  chirp_log_set_name(log_name);
  chirp_log_set_level(cfg.log_level);

  return wk_run(&cfg, role, &stop_flag) == 0 ? 0 : 1;
}
