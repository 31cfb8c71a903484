/* h_accounts.c — sign up, profiles, and sessions (log in, status, log out). */
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "chirp_text.h"
#include "gw.h"
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
