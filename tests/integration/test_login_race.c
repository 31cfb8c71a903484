/*
 * test_login_race.c — log-ins of unknown users on many threads at once.
 *
 * An unknown login is checked against a dummy password hash so that it
 * costs what a wrong password costs.  That hash was a static made lazily
 * by whichever thread came first, without synchronisation: two threads
 * could write it while a third verified against it (a data race, found by
 * reading; ThreadSanitizer reports it).  Now it is made once under
 * pthread_once.  This test makes the first log-ins of the process happen
 * on 8 threads released together; every one must be refused (401), and
 * under -fsanitize=thread the run must be free of reports.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>

#include "../check.h"
#include "chirp_account.h"
#include "chirp_config.h"
#include "chirp_error.h"
#include "chirp_pg.h"

#define THREADS 8

static chirp_config cfg;
static pthread_barrier_t start;
static int results[THREADS];

static void *login(void *arg) {
  int *out = arg;
  PGconn *pg = NULL;
  int connected = chirp_pg_connect(cfg.pg_url, &pg) == 0;
  pthread_barrier_wait(&start);
  if (!connected) {
    *out = CHIRP_EUNAVAILABLE;
    return NULL;
  }
  chirp_account a;
  char login_name[48];
  snprintf(login_name, sizeof login_name, "nobody_%u", randombytes_uniform(1u << 30));
  *out = chirp_account_authenticate(pg, login_name, "some password", &a);
  if (*out == 0) chirp_account_cleanup(&a);
  PQfinish(pg);
  return NULL;
}

int main(void) {
  char err[256];
  REQUIRE(chirp_config_load(&cfg, err, sizeof err) == 0);
  REQUIRE(sodium_init() >= 0);
  REQUIRE(pthread_barrier_init(&start, NULL, THREADS) == 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) REQUIRE(pthread_create(&t[i], NULL, login, &results[i]) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++) CHECK_INT_EQ(results[i], CHIRP_EUNAUTHORIZED);
  pthread_barrier_destroy(&start);
  CHECK_DONE();
}
