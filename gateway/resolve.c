/* resolve.c — the account a request names, see resolve.h. */
#include "resolve.h"

#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_keys.h"
#include "chirp_redis.h"
#include "chirp_text.h"
#include "gw.h"

int gw_account_public_json(int64_t id, char **raw, size_t *len) {
  char key[CHIRP_KEY_BUFSZ];
  chirp_key_account(key, id);
  redisContext *r = gw_redis();
  if (r) {
    redisReply *rr = redisCommand(r, "GET %s", key);
    if (!chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING) {
      *raw = strndup(rr->str, rr->len);
      *len = rr->len;
      freeReplyObject(rr);
      return *raw ? 0 : CHIRP_ENOMEM;
    }
    if (rr) freeReplyObject(rr);
  }
  PGconn *pg = gw_pg();
  if (!pg) return CHIRP_EUNAVAILABLE;
  chirp_account a;
  int rc = chirp_account_get(pg, id, &a);
  if (rc) return rc;
  json_t *j = chirp_account_to_json(&a, 0);
  chirp_account_cleanup(&a);
  *raw = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!*raw) return CHIRP_ENOMEM;
  *len = strlen(*raw);
  if (r && !r->err) {
    redisReply *rr = redisCommand(r, "SET %s %b EX %d", key, *raw, *len, CHIRP_ACCOUNT_CACHE_TTL_S);
    if (rr) freeReplyObject(rr);
  }
  return 0;
}

int gw_resolve_account(const gw_req *req, gw_reply *rep, int64_t *id) {
  const char *v = u_map_get(req->u->map_url, "id");
  if (v && v[0] == '@') {
    const char *why;
    if (chirp_text_check_username(v + 1, &why)) {
      gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "id", "no account is named \"%.40s\"", v);
      return -1;
    }
    PGconn *pg = gw_pg();
    if (!pg) {
      gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);
      return -1;
    }
    chirp_account a;
    int rc = chirp_account_get_by_username(pg, v + 1, &a);
    if (rc == CHIRP_ENOTFOUND) {
      gw_reply_error(rep, rc, NULL, "id", "no account is named \"%s\"", v);
      return -1;
    }
    if (rc) {
      gw_reply_from_err(rep, rc);
      return -1;
    }
    *id = a.id;
    chirp_account_cleanup(&a);
    return 0;
  }
  if (gw_param_id(req, rep, "id", id)) return -1;
  char *raw;
  size_t len;
  int rc = gw_account_public_json(*id, &raw, &len);
  if (rc == CHIRP_ENOTFOUND) {
    gw_reply_error(rep, rc, NULL, "id", "no account has the id %s", v);
    return -1;
  }
  if (rc) {
    gw_reply_from_err(rep, rc);
    return -1;
  }
  free(raw);
  return 0;
}

