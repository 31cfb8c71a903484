/* routes.c — the gateway's one route table.  A literal path wins over a
   pattern that also matches it ("/accounts/search" over "/accounts/:id"):
   gw_http_register gives patterns a lower priority. */
#include "routes.h"

#include "handlers.h"
#include "stream.h"

#define V1 "/api/v1"

static const gw_route routes[] = {
    {"GET", "/healthz", h_healthz, 0},
    {"GET", "/readyz", h_readyz, 0},
    {"GET", "/metrics", h_metrics, 0},

    {"POST", V1 "/accounts", h_account_create, GW_BODY | GW_LOGIN},
    {"GET", V1 "/accounts", h_account_list, GW_AUTH_OPTIONAL},
    {"GET", V1 "/accounts/search", h_account_search, GW_AUTH_OPTIONAL},
    {"GET", V1 "/accounts/relationships", h_relationships, GW_AUTH},
    {"PATCH", V1 "/accounts/me", h_account_update_me, GW_AUTH | GW_BODY},
    {"DELETE", V1 "/accounts/me", h_account_delete_me, GW_AUTH | GW_BODY_OPTIONAL},
    {"GET", V1 "/accounts/:id", h_account_get, GW_AUTH_OPTIONAL},
    {"GET", V1 "/accounts/:id/tweets", h_account_tweets, GW_AUTH_OPTIONAL},
    {"POST", V1 "/accounts/:id/follow", h_follow, GW_AUTH},
    {"DELETE", V1 "/accounts/:id/follow", h_unfollow, GW_AUTH},
    {"GET", V1 "/accounts/:id/followers", h_followers, GW_AUTH_OPTIONAL},
    {"GET", V1 "/accounts/:id/following", h_following, GW_AUTH_OPTIONAL},
    {"POST", V1 "/accounts/:id/block", h_block, GW_AUTH},
    {"DELETE", V1 "/accounts/:id/block", h_unblock, GW_AUTH},
    {"POST", V1 "/accounts/:id/mute", h_mute, GW_AUTH},
    {"DELETE", V1 "/accounts/:id/mute", h_unmute, GW_AUTH},
    {"GET", V1 "/blocks", h_blocks, GW_AUTH},
    {"GET", V1 "/mutes", h_mutes, GW_AUTH},
    {"GET", V1 "/feed", h_feed, GW_AUTH},
    {"POST", V1 "/lists", h_list_create, GW_AUTH | GW_BODY},
    {"GET", V1 "/lists", h_lists, GW_AUTH},
    {"GET", V1 "/lists/:id", h_list_get, GW_AUTH},
    {"PATCH", V1 "/lists/:id", h_list_update, GW_AUTH | GW_BODY},
    {"DELETE", V1 "/lists/:id", h_list_delete, GW_AUTH},
    {"POST", V1 "/lists/:id/members", h_list_member_add, GW_AUTH | GW_BODY},
    {"GET", V1 "/lists/:id/members", h_list_members, GW_AUTH},
    {"DELETE", V1 "/lists/:id/members/:account_id", h_list_member_remove, GW_AUTH},
    {"GET", V1 "/lists/:id/tweets", h_list_tweets, GW_AUTH},
    {"GET", V1 "/streaming/user", h_streaming_user, GW_AUTH | GW_QUERY_TOKEN},
    {"POST", V1 "/sessions", h_session_create, GW_BODY | GW_LOGIN},
    {"GET", V1 "/sessions/current", h_session_get, GW_AUTH},
    {"DELETE", V1 "/sessions/current", h_session_delete, GW_AUTH},

    {"POST", V1 "/tweets", h_tweet_create, GW_AUTH | GW_BODY},
    {"GET", V1 "/tweets/:id", h_tweet_get, GW_AUTH_OPTIONAL},
    {"PATCH", V1 "/tweets/:id", h_tweet_edit, GW_AUTH | GW_BODY},
    {"DELETE", V1 "/tweets/:id", h_tweet_delete, GW_AUTH},
    {"GET", V1 "/tweets/:id/history", h_tweet_history, GW_AUTH_OPTIONAL},
    {"POST", V1 "/tweets/:id/like", h_like, GW_AUTH},
    {"DELETE", V1 "/tweets/:id/like", h_unlike, GW_AUTH},
    {"GET", V1 "/tweets/:id/likes", h_tweet_likes, GW_AUTH_OPTIONAL},
    {"GET", V1 "/tweets/:id/context", h_tweet_context, GW_AUTH_OPTIONAL},
    {"POST", V1 "/tweets/:id/bookmark", h_bookmark, GW_AUTH},
    {"DELETE", V1 "/tweets/:id/bookmark", h_unbookmark, GW_AUTH},
    {"GET", V1 "/bookmarks", h_bookmarks, GW_AUTH},
    {"POST", V1 "/tweets/:id/pin", h_pin, GW_AUTH},
    {"DELETE", V1 "/tweets/:id/pin", h_unpin, GW_AUTH},
    {"GET", V1 "/accounts/:id/likes", h_account_likes, GW_AUTH_OPTIONAL},
    {"POST", V1 "/tweets/:id/repost", h_repost, GW_AUTH},
    {"DELETE", V1 "/tweets/:id/repost", h_unrepost, GW_AUTH},
    {"GET", V1 "/tweets/:id/reposts", h_tweet_reposts, GW_AUTH_OPTIONAL},
    {"GET", V1 "/tweets/:id/quotes", h_tweet_quotes, GW_AUTH_OPTIONAL},
    {"GET", V1 "/trending/liked", h_trending_liked, GW_AUTH_OPTIONAL},
    {"POST", V1 "/tweets/:id/comments", h_comment_create, GW_AUTH | GW_BODY},
    {"GET", V1 "/tweets/:id/comments", h_comment_list, GW_AUTH_OPTIONAL},
    {"PATCH", V1 "/comments/:id", h_comment_edit, GW_AUTH | GW_BODY},
    {"DELETE", V1 "/comments/:id", h_comment_delete, GW_AUTH},
    {"GET", V1 "/polls/:id", h_poll_get, GW_AUTH_OPTIONAL},
    {"POST", V1 "/polls/:id/votes", h_poll_vote, GW_AUTH | GW_BODY},
    {"GET", V1 "/notifications", h_notifications, GW_AUTH},
    {"GET", V1 "/notifications/unread_count", h_notifications_unread, GW_AUTH},
    {"POST", V1 "/notifications/read_all", h_notifications_read_all, GW_AUTH},
    {"POST", V1 "/notifications/:id/read", h_notification_read, GW_AUTH},

    {"GET", V1 "/search", h_search, GW_AUTH_OPTIONAL},
    {"GET", V1 "/hashtags/:tag/tweets", h_hashtag_tweets, GW_AUTH_OPTIONAL},
    {"GET", V1 "/admin/logs", h_admin_logs, GW_ADMIN},
    {"GET", V1 "/admin/services", h_admin_services, GW_ADMIN},
    {"GET", V1 "/openapi.json", h_openapi, 0},

    {NULL, NULL, NULL, 0},
};

const gw_route *gw_routes(void) { return routes; }
