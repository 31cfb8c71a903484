/*
 * handlers.h — every route handler of the gateway, grouped by file:
 * h_ops.c (health, readiness), h_accounts.c (accounts and sessions),
 * h_tweets.c (tweets and timelines), h_follows.c (the social graph),
 * h_feed.c (the home feed).  routes.c puts them in one table.
 */
#ifndef GW_HANDLERS_H
#define GW_HANDLERS_H

#include "http.h"

void h_healthz(gw_req *req, gw_reply *rep);
void h_readyz(gw_req *req, gw_reply *rep);

void h_account_create(gw_req *req, gw_reply *rep);
void h_account_get(gw_req *req, gw_reply *rep);
void h_account_update_me(gw_req *req, gw_reply *rep);
void h_session_create(gw_req *req, gw_reply *rep);
void h_session_get(gw_req *req, gw_reply *rep);
void h_session_delete(gw_req *req, gw_reply *rep);

void h_tweet_create(gw_req *req, gw_reply *rep);
void h_tweet_get(gw_req *req, gw_reply *rep);
void h_tweet_edit(gw_req *req, gw_reply *rep);
void h_tweet_delete(gw_req *req, gw_reply *rep);
void h_tweet_history(gw_req *req, gw_reply *rep);
void h_account_tweets(gw_req *req, gw_reply *rep);

void h_follow(gw_req *req, gw_reply *rep);
void h_unfollow(gw_req *req, gw_reply *rep);
void h_followers(gw_req *req, gw_reply *rep);
void h_following(gw_req *req, gw_reply *rep);
void h_feed(gw_req *req, gw_reply *rep);

/* Shared by handlers: resolves the route parameter "id" (a decimal id or
   "@username") to an existing account id; sets a 404/503 reply otherwise. */
int gw_resolve_account(const gw_req *req, gw_reply *rep, int64_t *id);

#endif
