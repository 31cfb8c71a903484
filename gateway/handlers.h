/*
 * handlers.h — every route handler of the gateway, grouped by file:
 * h_ops.c (health, readiness, metrics), h_accounts.c (accounts and
 * sessions), h_tweets.c (tweets and timelines), h_follows.c (the social
 * graph), h_feed.c (the home feed), h_lists.c (lists), h_likes.c, h_comments.c, h_polls.c,
 * h_notifications.c, h_search.c (search and hashtag pages), h_admin.c,
 * h_openapi.c (the API's OpenAPI document).
 * routes.c puts them in one table.  Helpers that several handlers share
 * live in modules of their own (resolve.h, tweet_load.h,
 * poll_cache.h, hydrate.h).
 */
#ifndef GW_HANDLERS_H
#define GW_HANDLERS_H

#include "http.h"

void h_healthz(gw_req *req, gw_reply *rep);
void h_readyz(gw_req *req, gw_reply *rep);

void h_account_create(gw_req *req, gw_reply *rep);
void h_account_get(gw_req *req, gw_reply *rep);
void h_account_list(gw_req *req, gw_reply *rep);
void h_account_search(gw_req *req, gw_reply *rep);
void h_account_delete_me(gw_req *req, gw_reply *rep);
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
/* h_threads.c */
void h_tweet_context(gw_req *req, gw_reply *rep);
/* h_marks.c: bookmarks and the pinned tweet */
void h_bookmark(gw_req *req, gw_reply *rep);
void h_unbookmark(gw_req *req, gw_reply *rep);
void h_bookmarks(gw_req *req, gw_reply *rep);
void h_pin(gw_req *req, gw_reply *rep);
void h_unpin(gw_req *req, gw_reply *rep);

void h_follow(gw_req *req, gw_reply *rep);
void h_unfollow(gw_req *req, gw_reply *rep);
void h_followers(gw_req *req, gw_reply *rep);
void h_following(gw_req *req, gw_reply *rep);
void h_feed(gw_req *req, gw_reply *rep);

/* h_lists.c */
void h_list_create(gw_req *req, gw_reply *rep);
void h_lists(gw_req *req, gw_reply *rep);
void h_list_get(gw_req *req, gw_reply *rep);
void h_list_update(gw_req *req, gw_reply *rep);
void h_list_delete(gw_req *req, gw_reply *rep);
void h_list_member_add(gw_req *req, gw_reply *rep);
void h_list_member_remove(gw_req *req, gw_reply *rep);
void h_list_members(gw_req *req, gw_reply *rep);
void h_list_tweets(gw_req *req, gw_reply *rep);
/* h_blocks.c */
void h_block(gw_req *req, gw_reply *rep);
void h_unblock(gw_req *req, gw_reply *rep);
void h_mute(gw_req *req, gw_reply *rep);
void h_unmute(gw_req *req, gw_reply *rep);
void h_blocks(gw_req *req, gw_reply *rep);
void h_mutes(gw_req *req, gw_reply *rep);
void h_relationships(gw_req *req, gw_reply *rep);

void h_like(gw_req *req, gw_reply *rep);
void h_unlike(gw_req *req, gw_reply *rep);
void h_tweet_likes(gw_req *req, gw_reply *rep);
void h_account_likes(gw_req *req, gw_reply *rep);
void h_repost(gw_req *req, gw_reply *rep);
void h_unrepost(gw_req *req, gw_reply *rep);
void h_tweet_reposts(gw_req *req, gw_reply *rep);
void h_tweet_quotes(gw_req *req, gw_reply *rep);
void h_trending_liked(gw_req *req, gw_reply *rep);
void h_comment_create(gw_req *req, gw_reply *rep);
void h_comment_list(gw_req *req, gw_reply *rep);
void h_comment_edit(gw_req *req, gw_reply *rep);
void h_comment_delete(gw_req *req, gw_reply *rep);
void h_poll_get(gw_req *req, gw_reply *rep);
void h_poll_vote(gw_req *req, gw_reply *rep);
void h_notifications(gw_req *req, gw_reply *rep);
void h_notifications_unread(gw_req *req, gw_reply *rep);
void h_notifications_read_all(gw_req *req, gw_reply *rep);
void h_notification_read(gw_req *req, gw_reply *rep);
void h_metrics(gw_req *req, gw_reply *rep);
void h_search(gw_req *req, gw_reply *rep);
void h_hashtag_tweets(gw_req *req, gw_reply *rep);
void h_admin_logs(gw_req *req, gw_reply *rep);
void h_admin_services(gw_req *req, gw_reply *rep);
void h_openapi(gw_req *req, gw_reply *rep);

#endif
