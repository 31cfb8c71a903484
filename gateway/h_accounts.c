/* h_accounts.c — sign up, profiles, the account list, deletion, and sessions
   (log in, status, log out). */
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_search.h"
#include "chirp_text.h"
#include "chirp_time.h"
#include "gw.h"
#include "session_cache.h"
#include "handlers.h"
#include "resolve.h"

static void reply_invalid(gw_reply *rep, const char *field, const char *why, const char *rule) {
  gw_reply_error(rep, CHIRP_EINVAL, why, field, "%s %s", field, rule);
}

/* Answers {"account", "token"} for a new session of account a. */
static void reply_session(gw_reply *rep, PGconn *pg, const chirp_account *a) {
  char token[CHIRP_TOKEN_BUFSZ];
  int rc = chirp_session_create(pg, a->id, gw.cfg.session_ttl_s, token);
  if (rc) {
    gw_reply_from_err(rep, rc);
    return;
  }
  gw_reply_json(rep, 201,
                json_pack("{s:o, s:s}", "account", chirp_account_to_json(a, 1), "token", token));
}

void h_account_create(gw_req *req, gw_reply *rep) {
  const char *username, *email, *password, *why;
  if (gw_body_string(req, rep, "username", 1, &username) ||
      gw_body_string(req, rep, "email", 1, &email) ||
      gw_body_string(req, rep, "password", 1, &password))
    return;
  if (chirp_text_check_username(username, &why))
    return reply_invalid(rep, "username", why, "must be 1-30 letters, digits or underscores");
  if (chirp_text_check_email(email, &why))
    return reply_invalid(rep, "email", why, "must be an e-mail address");
  if (chirp_text_check_password(password,
                                json_string_length(json_object_get(req->body, "password")), &why))
    return reply_invalid(rep, "password", why, "must be 8-256 bytes of UTF-8");
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  chirp_account a;
  const char *field = NULL;
  int rc = chirp_account_create(pg, &gw.ids, username, email, password, gw.cfg.pwhash_min, &a,
                                &field);
  if (rc == CHIRP_ECONFLICT) {
    int is_user = strcmp(field, "username") == 0;
    gw_reply_error(rep, rc, is_user ? "username_taken" : "email_taken", field,
                   "this %s is already taken", field);
    return;
  }
  if (rc) return gw_reply_from_err(rep, rc);
  reply_session(rep, pg, &a);
  chirp_account_cleanup(&a);
}

void h_session_create(gw_req *req, gw_reply *rep) {
  const char *login, *password;
  if (gw_body_string(req, rep, "login", 1, &login) ||
      gw_body_string(req, rep, "password", 1, &password))
    return;
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  chirp_account a;
  int rc = chirp_account_authenticate(pg, login, password, &a);
  if (rc == CHIRP_EUNAUTHORIZED) {
    gw_reply_error(rep, rc, "invalid_credentials", NULL, "wrong login or password");
    return;
  }
  if (rc) return gw_reply_from_err(rep, rc);
  reply_session(rep, pg, &a);
  chirp_account_cleanup(&a);
}

void h_session_get(gw_req *req, gw_reply *rep) {
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  chirp_account a;
  int rc = chirp_account_get(pg, req->account_id, &a);
  if (rc) return gw_reply_from_err(rep, rc == CHIRP_ENOTFOUND ? CHIRP_EUNAUTHORIZED : rc);
  gw_reply_json(rep, 200,
                json_pack("{s:b, s:o}", "authenticated", 1, "account", chirp_account_to_json(&a, 1)));
  chirp_account_cleanup(&a);
}

void h_session_delete(gw_req *req, gw_reply *rep) {
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  int rc = chirp_session_delete(gw_redis(), pg, req->token);
  gw_session_forget(req->token);
  if (rc) return gw_reply_from_err(rep, rc);
  rep->status = 204;
}

void h_account_get(gw_req *req, gw_reply *rep) {
  int64_t id;
  if (gw_resolve_account(req, rep, &id)) return;
  int rc = gw_account_public_json(id, &rep->raw, &rep->raw_len);
  if (rc) return gw_reply_from_err(rep, rc);
  rep->status = 200;
}

void h_account_update_me(gw_req *req, gw_reply *rep) {
  const char *name, *bio, *avatar, *why;
  if (gw_body_string(req, rep, "display_name", 0, &name) ||
      gw_body_string(req, rep, "bio", 0, &bio) ||
      gw_body_string(req, rep, "avatar_url", 0, &avatar))
    return;
  if (!name && !bio && !avatar) {
    gw_reply_error(rep, CHIRP_EINVAL, "nothing_to_update", NULL,
                   "send at least one of display_name, bio, avatar_url");
    return;
  }
  if (name && chirp_text_check_free(name, strlen(name), CHIRP_MAX_DISPLAY_NAME_CHARS, 0, &why))
    return reply_invalid(rep, "display_name", why, "must be at most 50 characters of text");
  if (bio && chirp_text_check_free(bio, strlen(bio), CHIRP_MAX_BIO_CHARS, 1, &why))
    return reply_invalid(rep, "bio", why, "must be at most 160 characters of text");
  if (avatar && chirp_text_check_url(avatar, &why))
    return reply_invalid(rep, "avatar_url", why, "must be an http(s) URL of at most 512 bytes");
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  int rc = chirp_account_update(pg, req->account_id, name, bio, avatar);
  if (rc) return gw_reply_from_err(rep, rc);
  chirp_account_cache_forget(gw_redis(), req->account_id);
  chirp_account a;
  rc = chirp_account_get(pg, req->account_id, &a);
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, chirp_account_to_json(&a, 1));
  chirp_account_cleanup(&a);
}

/* GET /accounts: every live account, newest first. */
void h_account_list(gw_req *req, gw_reply *rep) {
  int64_t before;
  int limit;
  if (gw_param_paging(req, rep, "ac", &limit, &before)) return;
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  json_t *items = NULL;
  int64_t next = 0;
  int rc = chirp_account_list(pg, before, limit, &items, &next);
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode("ac", next, cursor) : NULL, limit);
}

/* DELETE /accounts/me, optional body {"password"}.  The synchronous part,
   in one transaction: check the password when one is sent, mark the
   account deleted, delete its sessions, publish account.deleted (the
   workers take its tweets, follows, likes, votes and comments away), and
   commit only once the broker confirmed — so a 503 changes nothing.  Then
   the sessions' Redis entries go: the token fails at once, and so does a
   log-in.  202 {"id", "username", "deleted": true, "deleted_at"}. */
void h_account_delete_me(gw_req *req, gw_reply *rep) {
  const char *password = NULL;
  if (req->body && gw_body_string(req, rep, "password", 0, &password)) return;
  PGconn *pg = gw_pg();
  redisContext *r = gw_redis();
  /* Without Redis the cached sessions could not be dropped: refuse now. */
  if (!pg || !r) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
  chirp_account a;
  int rc = chirp_account_get(pg, req->account_id, &a);
  if (rc) return gw_reply_from_err(rep, rc == CHIRP_ENOTFOUND ? CHIRP_EUNAUTHORIZED : rc);
  char **hashes = NULL;
  size_t n = 0;
  int64_t now = chirp_time_now_ms();
  int open = 0;
  json_t *payload = NULL;
  if ((rc = chirp_pg_begin(pg))) goto out;
  open = 1;
  rc = chirp_account_password_check(pg, a.id, password);
  if (rc == CHIRP_EUNAUTHORIZED) {
    gw_reply_error(rep, CHIRP_EFORBIDDEN, "wrong_password", "password",
                   "the password is wrong; nothing was deleted");
    goto out;
  }
  if (rc == CHIRP_ENOTFOUND) rc = CHIRP_EUNAUTHORIZED; /* deleted meanwhile */
  if (rc || (rc = chirp_account_mark_deleted(pg, a.id, now, &hashes, &n))) goto out;
  payload = json_pack("{s:o, s:o}", "account_id", chirp_json_id(a.id), "deleted_at",
                      chirp_json_time(now));
  if (!payload) {
    rc = CHIRP_ENOMEM;
    goto out;
  }
  if ((rc = gw_publish_event("account.deleted", a.id, payload))) goto out;
  open = 0;
  if ((rc = chirp_pg_commit(pg))) {
    /* The event is durable and its purge does all of this again. */
    chirp_warn("account %lld: commit after publish failed; the worker completes the deletion",
               (long long)a.id);
    rc = 0;
  }
  /* Cached search answers must not show the account either. */
  r = gw_redis();
  if (!r || chirp_account_forget_sessions(r, a.id, hashes, n) || chirp_search_bump(r))
    chirp_warn("account %lld: cached sessions or searches not dropped; the worker does it",
               (long long)a.id);
  gw_reply_json(rep, 202,
                json_pack("{s:o, s:s, s:b, s:o}", "id", chirp_json_id(a.id), "username", a.username,
                          "deleted", 1, "deleted_at", chirp_json_time(now)));
out:
  if (open) chirp_pg_rollback(pg);
  if (rc && !rep->err) gw_reply_from_err(rep, rc);
  json_decref(payload);
  chirp_session_hashes_free(hashes, n);
  chirp_account_cleanup(&a);
}
