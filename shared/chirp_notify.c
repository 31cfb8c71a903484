/* chirp_notify.c — notifications, see chirp_notify.h. */
#include "chirp_notify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_pg.h"
#include "chirp_redis.h"

/* An unread counter refilled from PostgreSQL lives this long, so that a
   refill racing a new notification heals by itself. */
#define UNREAD_TTL_S 300

static int name_char(int c) { return isalnum(c) || c == '_'; }

size_t chirp_mentions_parse(const char *text, char (*names)[32], size_t max) {
  size_t n = 0;
  for (const char *p = text; *p && n < max; p++) {
    if (*p != '@' || (p > text && (name_char((unsigned char)p[-1]) || p[-1] == '@'))) continue;
    const char *s = p + 1;
    size_t len = 0;
    while (name_char((unsigned char)s[len])) len++;
    if (len == 0 || len > 30) {
      p = s + len - 1;
      continue;
    }
    char name[32];
    for (size_t i = 0; i < len; i++) name[i] = (char)tolower((unsigned char)s[i]);
    name[len] = '\0';
    size_t k = 0;
    while (k < n && strcmp(names[k], name) != 0) k++;
    if (k == n) memcpy(names[n++], name, len + 1);
    p = s + len - 1;
  }
  return n;
}

static void fmt(char *b, int64_t v) { snprintf(b, 24, "%lld", (long long)v); }

int chirp_notify_add(PGconn *pg, int64_t recipient, const char *type, int64_t actor,
                     int64_t tweet_id, int64_t comment_id, const char *dedup_key, int *created) {
  *created = 0;
  if (recipient == actor) return 0;
  char rc_[24], a[24], t[24], c[24];
  fmt(rc_, recipient);
  fmt(a, actor);
  fmt(t, tweet_id);
  fmt(c, comment_id);
  const char *p[] = {rc_, type, actor ? a : NULL, tweet_id ? t : NULL, comment_id ? c : NULL,
                     dedup_key};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         /* Nobody is notified across a block, nor of an
                            account they mute (the mention stays as text). */
                         "INSERT INTO notifications (recipient, type, actor_id, tweet_id, comment_id, "
                         "dedup_key) SELECT $1::bigint, $2::text, $3::bigint, $4::bigint, $5::bigint, "
                         "$6::text WHERE $3::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM blocks_mutes b "
                         "WHERE b.active AND ((b.actor_id = $1::bigint AND b.target_id = $3::bigint) OR "
                         "(b.kind = 1 AND b.actor_id = $3::bigint AND b.target_id = $1::bigint))) "
                         "ON CONFLICT (dedup_key) DO NOTHING",
                         6, p, &r);
  if (rc) return rc;
  *created = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  return 0;
}

int chirp_notify_mentions(PGconn *pg, const char *text, int64_t actor, int64_t tweet_id,
                          int64_t comment_id, int64_t *recipients, size_t *n) {
  char names[CHIRP_MAX_MENTIONS][32];
  size_t k = chirp_mentions_parse(text, names, CHIRP_MAX_MENTIONS);
  *n = 0;
  if (k == 0) return 0;
  char list[CHIRP_MAX_MENTIONS * 33 + 3];
  size_t o = 0;
  list[o++] = '{';
  for (size_t i = 0; i < k; i++) o += (size_t)sprintf(list + o, i ? ",%s" : "%s", names[i]);
  list[o++] = '}';
  list[o] = '\0';
  const char *p[] = {list};
  PGresult *r;
  int rc = chirp_pg_exec(pg, "SELECT id FROM accounts WHERE lower(username) = ANY($1::text[])", 1,
                         p, &r);
  if (rc) return rc;
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    int64_t who = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    char key[96];
    snprintf(key, sizeof key, "mention:%c:%lld:%lld", comment_id ? 'c' : 't',
             (long long)(comment_id ? comment_id : tweet_id), (long long)who);
    int created = 0;
    rc = chirp_notify_add(pg, who, "mention", actor, tweet_id, comment_id, key, &created);
    if (!rc && created) recipients[(*n)++] = who;
  }
  PQclear(r);
  return rc;
}

int chirp_notify_polls_ended(PGconn *pg, int64_t **recipients, size_t *n) {
  PGresult *r;
  /* SKIP LOCKED: several notify workers share the work without waiting. */
  int rc = chirp_pg_exec(
      pg,
      "WITH due AS (SELECT id, tweet_id, author_id FROM polls "
      "  WHERE NOT ended_notified AND expires_at <= now() ORDER BY expires_at LIMIT 100 "
      "  FOR UPDATE SKIP LOCKED), "
      "done AS (UPDATE polls SET ended_notified = true WHERE id IN (SELECT id FROM due)), "
      "who AS (SELECT d.id, d.tweet_id, d.author_id AS recipient FROM due d "
      "  UNION SELECT d.id, d.tweet_id, v.user_id FROM due d JOIN poll_votes v ON v.poll_id = d.id) "
      "INSERT INTO notifications (recipient, type, tweet_id, dedup_key) "
      "SELECT recipient, 'poll_ended', tweet_id, 'poll_ended:' || id || ':' || recipient FROM who "
      "ON CONFLICT (dedup_key) DO NOTHING RETURNING recipient",
      0, NULL, &r);
  if (rc) return rc;
  rc = chirp_pg_ids(r, 0, recipients, n);
  PQclear(r);
  return rc;
}

static json_t *id_or_null(PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? json_null()
                                  : chirp_json_id(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

int chirp_notify_list(PGconn *pg, int64_t recipient, int64_t before, int limit, json_t **items,
                      int64_t *next) {
  char rc_[24], b[24], l[24];
  fmt(rc_, recipient);
  fmt(b, before > 0 ? before : INT64_MAX);
  fmt(l, limit + 1);
  const char *p[] = {rc_, b, l};
  PGresult *r;
  int rc = chirp_pg_exec(pg,
                         "SELECT id, type, actor_id, tweet_id, comment_id, "
                         "(extract(epoch from created_at) * 1000)::bigint, read_at IS NOT NULL "
                         "FROM notifications WHERE recipient = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                         3, p, &r);
  if (rc) return rc;
  int rows = PQntuples(r), shown = rows > limit ? limit : rows;
  json_t *arr = json_array();
  for (int i = 0; arr && i < shown; i++)
    json_array_append_new(
        arr, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:b}", "id", id_or_null(r, i, 0), "type",
                       PQgetvalue(r, i, 1), "actor_id", id_or_null(r, i, 2), "tweet_id",
                       id_or_null(r, i, 3), "comment_id", id_or_null(r, i, 4), "created_at",
                       chirp_json_time(strtoll(PQgetvalue(r, i, 5), NULL, 10)), "read",
                       strcmp(PQgetvalue(r, i, 6), "t") == 0));
  *next = rows > limit ? strtoll(PQgetvalue(r, shown - 1, 0), NULL, 10) : 0;
  PQclear(r);
  if (!arr) return CHIRP_ENOMEM;
  *items = arr;
  return 0;
}

int chirp_notify_unread(redisContext *r, PGconn *pg, int64_t recipient, long long *count) {
  char key[CHIRP_KEY_BUFSZ];
  chirp_key_unread(key, recipient);
  if (r) {
    redisReply *rep = redisCommand(r, "GET %s", key);
    if (!chirp_redis_reply_failed(r, rep) && rep->type == REDIS_REPLY_STRING) {
      *count = strtoll(rep->str, NULL, 10);
      freeReplyObject(rep);
      return 0;
    }
    if (rep) freeReplyObject(rep);
  }
  if (!pg) return CHIRP_EUNAVAILABLE;
  char rc_[24];
  fmt(rc_, recipient);
  const char *p[] = {rc_};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "SELECT count(*) FROM notifications WHERE recipient = $1 AND read_at IS NULL",
                         1, p, &res);
  if (rc) return rc;
  *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  if (r && !r->err) {
    redisReply *rep = redisCommand(r, "SET %s %lld NX EX %d", key, *count, UNREAD_TTL_S);
    if (rep) freeReplyObject(rep);
  }
  return 0;
}

int chirp_notify_read_all(redisContext *r, PGconn *pg, int64_t recipient) {
  char rc_[24], key[CHIRP_KEY_BUFSZ];
  fmt(rc_, recipient);
  const char *p[] = {rc_};
  int rc = chirp_pg_exec(pg,
                         "UPDATE notifications SET read_at = now() WHERE recipient = $1 AND read_at IS NULL",
                         1, p, NULL);
  if (rc) return rc;
  if (!r) return 0;
  /* Forget rather than zero: a notification committed meanwhile would be
     lost from a zeroed counter; a rebuild counts it. */
  redisReply *rep = redisCommand(r, "DEL %s", chirp_key_unread(key, recipient));
  if (rep) freeReplyObject(rep);
  return 0;
}

int chirp_notify_read_one(redisContext *r, PGconn *pg, int64_t recipient, int64_t id) {
  char rc_[24], i[24], key[CHIRP_KEY_BUFSZ];
  fmt(rc_, recipient);
  fmt(i, id);
  const char *p[] = {rc_, i};
  PGresult *res;
  int rc = chirp_pg_exec(pg,
                         "WITH n AS (SELECT id, read_at FROM notifications WHERE id = $2 AND recipient = $1), "
                         "u AS (UPDATE notifications SET read_at = now() WHERE id = $2 AND recipient = $1 "
                         "  AND read_at IS NULL RETURNING 1) "
                         "SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM u)",
                         2, p, &res);
  if (rc) return rc;
  int exists = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
  int changed = strcmp(PQgetvalue(res, 0, 1), "1") == 0;
  PQclear(res);
  if (!exists) return CHIRP_ENOTFOUND;
  if (changed && r) chirp_counter_add(r, chirp_key_unread(key, recipient), -1);
  return 0;
}

void chirp_notify_bump(redisContext *r, const int64_t *recipients, size_t n) {
  if (!r) return;
  char key[CHIRP_KEY_BUFSZ];
  for (size_t i = 0; i < n; i++) chirp_counter_add(r, chirp_key_unread(key, recipients[i]), 1);
}
