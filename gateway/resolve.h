/*
 * resolve.h — finding the account a request names, shared by the handlers
 * of accounts, follows, likes and timelines.
 *
 * Both functions run on the calling HTTP thread with its own connections
 * (gw_redis, gw_pg).  A deleted account is not found.
 */
#ifndef GW_RESOLVE_H
#define GW_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* The public JSON of account id: Redis first, then PostgreSQL (refilling
   Redis).  On success *raw is a new string (the caller frees it) of *len
   bytes; CHIRP_ENOTFOUND, CHIRP_EUNAVAILABLE or CHIRP_ENOMEM otherwise. */
int gw_account_public_json(int64_t id, char **raw, size_t *len);

/* Resolves the route parameter "id" (a decimal id or "@username") to an
   existing account id: 0, or -1 with a 404/503 reply set. */
int gw_resolve_account(const gw_req *req, gw_reply *rep, int64_t *id);

#endif
