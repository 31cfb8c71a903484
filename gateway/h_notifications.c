/*
 * h_notifications.c — the inbox (newest first, each with its actor and
 * target hydrated), the unread count, and marking read.  Marking read is a
 * private bookkeeping write and goes straight to PostgreSQL (200).
 */
#include <stdlib.h>

#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_notify.h"
#include "gw.h"
#include "handlers.h"
#include "notify_items.h"

void h_notifications(gw_req *req, gw_reply *rep) {
  int64_t before, next = 0;
  int limit;
  if (gw_param_paging(req, rep, "nt", &limit, &before)) return;
  PGconn *pg = gw_pg();
  json_t *items = NULL;
  int rc = pg ? chirp_notify_list(pg, req->account_id, before, limit, &items, &next)
              : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  rc = gw_notify_items_hydrate(req->account_id, items);
  if (rc) {
    json_decref(items);
    return gw_reply_from_err(rep, rc);
  }
  char cursor[CHIRP_CURSOR_BUFSZ];
  gw_reply_list(rep, req, items, next ? chirp_cursor_encode("nt", next, cursor) : NULL, limit);
}

void h_notifications_unread(gw_req *req, gw_reply *rep) {
  long long count = 0;
  int rc = chirp_notify_unread(gw_redis(), gw_pg(), req->account_id, &count);
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, json_pack("{s:I}", "count", (json_int_t)count));
}

void h_notifications_read_all(gw_req *req, gw_reply *rep) {
  PGconn *pg = gw_pg();
  int rc = pg ? chirp_notify_read_all(gw_redis(), pg, req->account_id) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, json_pack("{s:i}", "count", 0));
}

void h_notification_read(gw_req *req, gw_reply *rep) {
  int64_t id;
  if (gw_param_id(req, rep, "id", &id)) return;
  PGconn *pg = gw_pg();
  int rc = pg ? chirp_notify_read_one(gw_redis(), pg, req->account_id, id) : CHIRP_EUNAVAILABLE;
  if (rc == CHIRP_ENOTFOUND) {
    gw_reply_error(rep, rc, NULL, "id", "you have no notification with the id %lld", (long long)id);
    return;
  }
  if (rc) return gw_reply_from_err(rep, rc);
  gw_reply_json(rep, 200, json_pack("{s:o, s:b}", "id", chirp_json_id(id), "read", 1));
}
