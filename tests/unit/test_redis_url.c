/* test_redis_url.c — CHIRP_REDIS_URL parsing (credentials, port, database,
   precise errors) and the SHA-1 that names Lua scripts. */
#include <string.h>

#include "../check.h"
#include "chirp_error.h"
#include "chirp_redis.h"
#include "chirp_sha1.h"

static chirp_redis_url u;
static char why[160];

static int parse(const char *url) {
  why[0] = '\0';
  return chirp_redis_parse_url(url, &u, why, sizeof why);
}

/* A bad URL is refused with a reason containing `part`, and the reason
   never repeats the password. */
static void bad(const char *url, const char *part) {
  CHECK_INT_EQ(parse(url), CHIRP_EINVAL);
  if (!strstr(why, part)) fprintf(stderr, "%s: reason \"%s\" lacks \"%s\"\n", url, why, part);
  CHECK(strstr(why, part) != NULL);
  CHECK(strstr(why, "s3cret") == NULL);
}

int main(void) {
  CHECK_INT_EQ(parse("redis://127.0.0.1:63791/0"), 0);
  CHECK_STR_EQ(u.host, "127.0.0.1");
  CHECK_INT_EQ(u.port, 63791);
  CHECK_INT_EQ(u.db, 0);
  CHECK_STR_EQ(u.user, "");
  CHECK_STR_EQ(u.password, "");

  CHECK_INT_EQ(parse("redis://localhost"), 0);
  CHECK_STR_EQ(u.host, "localhost");
  CHECK_INT_EQ(u.port, 6379);
  CHECK_INT_EQ(u.db, 0);
  CHECK_INT_EQ(parse("redis://localhost/"), 0);
  CHECK_INT_EQ(u.db, 0);

  /* An ACL user and password, a database. */
  CHECK_INT_EQ(parse("redis://chirp:s3cret@db.example:6380/3"), 0);
  CHECK_STR_EQ(u.user, "chirp");
  CHECK_STR_EQ(u.password, "s3cret");
  CHECK_STR_EQ(u.host, "db.example");
  CHECK_INT_EQ(u.port, 6380);
  CHECK_INT_EQ(u.db, 3);

  /* A password only: ":pw@" and "pw@" (as redis-cli reads them). */
  CHECK_INT_EQ(parse("redis://:s3cret@h:1"), 0);
  CHECK_STR_EQ(u.user, "");
  CHECK_STR_EQ(u.password, "s3cret");
  CHECK_INT_EQ(parse("redis://s3cret@h"), 0);
  CHECK_STR_EQ(u.user, "");
  CHECK_STR_EQ(u.password, "s3cret");

  /* Percent-encoding, and an unencoded '@' inside the password (the
     credentials end at the authority's last '@'); an unencoded '/' ends the
     authority, as in every URL, so what follows it is the database. */
  CHECK_INT_EQ(parse("redis://us%3Aer:p%40ss%2Fw@h:2/1"), 0);
  CHECK_STR_EQ(u.user, "us:er");
  CHECK_STR_EQ(u.password, "p@ss/w");
  CHECK_INT_EQ(parse("redis://u:a@b@h:2/1"), 0);
  CHECK_STR_EQ(u.password, "a@b");
  CHECK_STR_EQ(u.host, "h");
  CHECK_INT_EQ(u.db, 1);
  bad("redis://u:a@b/c@h:2/1", "database");

  bad("http://h:1", "redis://");
  bad("rediss://h:1", "TLS");
  bad("", "redis://");
  bad("redis://", "no host");
  bad("redis://:6379", "no host");
  bad("redis://@h", "no credentials");
  bad("redis://user:@h", "empty password");
  bad("redis://u:s3cret%zz@h", "%-encoded");
  bad("redis://u:s3cret%00@h", "%-encoded");
  bad("redis://u:s3cret%4@h", "%-encoded");
  bad("redis://h:0", "port");
  bad("redis://h:65536", "port");
  bad("redis://h:99999999999999999999", "port");
  bad("redis://h:x", "port");
  bad("redis://h:", "port");
  bad("redis://h:12ab", "port");
  bad("redis://h:1/x", "database");
  bad("redis://h:1/-1", "database");
  bad("redis://h:1/1x", "database");
  bad("redis://h:1/99999999999", "database");
  bad("redis://h:1/0?timeout=1", "query");
  bad("redis://u:s3cret@h:1/0#frag", "query");
  char longhost[400];
  memset(longhost, 'a', sizeof longhost);
  memcpy(longhost, "redis://", 8);
  longhost[sizeof longhost - 1] = '\0';
  bad(longhost, "host name longer");

  /* SHA-1 test vectors (FIPS 180), and a script named as Redis names it. */
  char hex[41];
  chirp_sha1_hex("abc", 3, hex);
  CHECK_STR_EQ(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  chirp_sha1_hex("", 0, hex);
  CHECK_STR_EQ(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  chirp_sha1_hex(two, strlen(two), hex);
  CHECK_STR_EQ(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  chirp_lua s = CHIRP_LUA("return 1");
  char sha[41];
  chirp_redis_script_sha(&s, sha);
  CHECK_STR_EQ(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"); /* redis-cli SCRIPT LOAD "return 1" */
  CHECK_DONE();
}
