#!/usr/bin/env python3
"""openapi_gen.py — writes gateway/openapi.json, the OpenAPI 3.1 document of
Chirp's /api/v1 (served by the gateway at GET /api/v1/openapi.json).

The document is generated rather than written by hand so that the answers
every route shares (the errors of the request pipeline, the list envelope,
the rate-limit headers) are stated once.  Edit this file, then run

    python3 gateway/openapi_gen.py          # rewrites gateway/openapi.json
    python3 gateway/openapi_gen.py --check  # exit 1 when the file is stale

The unit test tests/unit/test_openapi_routes.py runs --check and compares the
document's paths with the gateway's route table (chirp-gateway
--print-routes); the e2e harness validates every answer it receives against
the schemas here.  Keep both true: what a route answers is read from its
handler (gateway/h_*.c) and the pipeline (gateway/http.c, gateway/guard.c).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "openapi.json")


def ref(kind, name):
    return {"$ref": "#/components/%s/%s" % (kind, name)}


def S(name):
    return ref("schemas", name)


def obj(props, required=None, desc=None):
    """An object schema; required defaults to every property.  Further
    properties are allowed: a newer server may add fields."""
    o = {"type": "object", "properties": props,
         "required": sorted(props) if required is None else required}
    if desc:
        o["description"] = desc
    return o


def nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def list_of(item, desc=None):
    """The list envelope {items, next_cursor} of item."""
    return {"allOf": [S("ListEnvelope"), obj({"items": {"type": "array", "items": item}},
                                             ["items"])],
            **({"description": desc} if desc else {})}


STR = {"type": "string"}
# reply_count and bookmarked_by_me of every hydrated tweet (threads, bookmarks).
MARK_STATS = {"reply_count": {"type": "integer", "minimum": 0},
              "bookmarked_by_me": {"type": "boolean"}}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}

# ---- schemas ----------------------------------------------------------------

SCHEMAS = {
    "Id": {"type": "string", "pattern": "^[0-9]{1,19}$",
           "description": "A 64-bit, time-ordered id, sent as a string of decimal digits."},
    "Time": {"type": "string", "format": "date-time",
             "description": "UTC, millisecond precision: 2026-01-31T12:00:00.000Z."},
    "Error": obj({"error": obj({
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$",
                 "description": "snake_case, stable: malformed, malformed_json, invalid_cursor, "
                                "unauthorized, invalid_token, invalid_credentials, forbidden, "
                                "wrong_password, not_found, conflict, username_taken, "
                                "email_taken, edit_conflict, already_voted, "
                                "idempotency_in_progress, payload_too_large, "
                                "unsupported_media_type, invalid_field, missing_field, "
                                "wrong_type, too_long, too_few, too_many, out_of_range, "
                                "empty, invalid_value, cannot_follow_self, poll_expired, "
                                "invalid_id, no_such_account, "
                                "cannot_block_self, cannot_mute_self, blocked, "
                                "missing_id, too_many_ids, "
                                "idempotency_key_reused, rate_limited, unavailable, timeout..."},
        "message": {"type": "string", "minLength": 1, "description": "Human text."},
        "field": {"type": "string",
                  "description": "The input at fault (a body member such as text or "
                                 "poll.options, a query or path parameter such as limit, "
                                 "cursor or id, or a header such as Idempotency-Key); absent "
                                 "when no single input is."},
    }, ["code", "message"])}, desc="Every error answer."),
    "ListEnvelope": obj({
        "items": {"type": "array"},
        "next_cursor": {"type": ["string", "null"],
                        "description": "Pass as cursor for the next page; null on the last "
                                       "page (then there is no Link header)."},
    }, desc="Every list: one page of items, newest first unless the route says otherwise."),
    "Account": obj({
        "id": S("Id"),
        "username": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,30}$"},
        "display_name": {"type": "string", "maxLength": 50},
        "bio": {"type": "string", "maxLength": 160},
        "avatar_url": {"type": "string", "description": "An http(s) URL, or \"\"."},
        "created_at": S("Time"),
        "followers_count": COUNT,
        "following_count": COUNT,
        "email": {"type": "string",
                  "description": "Only in answers about the caller's own account."},
    }, ["id", "username", "display_name", "bio", "avatar_url", "created_at",
        "followers_count", "following_count"]),
    "AuthorCard": obj({
        "id": S("Id"), "username": STR, "display_name": STR, "avatar_url": STR,
    }, desc="The author of a hydrated tweet, or the actor of a notification."),
    "Poll": obj({
        "id": S("Id"),
        "options": {"type": "array", "minItems": 2, "maxItems": 4, "items": STR},
        "multiple": BOOL,
        "expires_at": S("Time"),
    }, desc="A poll as its tweet carries it; results at GET /polls/{id}."),
    "Tweet": obj({
        "id": S("Id"),
        "author_id": S("Id"),
        "text": {"type": "string", "description": "1-280 Unicode code points."},
        "reply_to": nullable(S("Id")),
        "created_at": S("Time"),
        "edited_at": nullable(S("Time")),
        "poll": nullable(S("Poll")),
        "quote_of": {"anyOf": [S("Id"), {"type": "null"}],
                     "description": "The tweet this one quotes (null: none)."},
    }, ["id", "author_id", "text", "reply_to", "created_at", "edited_at"]),
    "TweetStats": obj({"like_count": COUNT, "comment_count": COUNT, "liked_by_me": BOOL,
                       "repost_count": COUNT, "reposted_by_me": BOOL, "quote_count": COUNT,
                       **MARK_STATS},
                      desc="Live numbers (liked_by_me, reposted_by_me and bookmarked_by_me are "
                           "false for anonymous readers; quote_count counts live quoting tweets)."),
    "TweetWithStats": {"allOf": [S("Tweet"), S("TweetStats")]},
    "QuotedTweet": {"allOf": [S("Tweet"), S("TweetStats"), obj({"author": S("AuthorCard")})],
                    "description": "The quoted tweet hydrated one level deep (its own quote "
                                   "is only its quote_of id)."},
    "QuoteUnavailable": obj({"id": S("Id"), "unavailable": {"const": True}},
                            desc="A quoted tweet that was deleted."),
    "FeedItem": {"allOf": [S("Tweet"), S("TweetStats"), obj({
        "author": S("AuthorCard"),
        "quote": {"anyOf": [S("QuotedTweet"), S("QuoteUnavailable")],
                  "description": "Present when quote_of is set."},
        "repost_id": {"allOf": [S("Id")], "description": "A feed item that is a repost: the "
                                                          "repost's own id (its feed position)."},
        "reposted_by": {"allOf": [S("AuthorCard")],
                        "description": "A feed item that is a repost: who reposted it."},
    }, ["author"])],
                 "description": "A hydrated tweet: with its author and live numbers; a repost "
                                "in a feed is the original tweet with repost_id and "
                                "reposted_by."},
    "Deleted": obj({"id": S("Id"), "deleted": {"const": True}, "deleted_at": S("Time")}),
    "AccountDeleted": {"allOf": [S("Deleted"), obj({"username": STR})]},
    "HistoryEntry": obj({"text": STR, "since": S("Time"), "until": nullable(S("Time"))},
                        desc="One version of a tweet's text; the current one has until null."),
    "Comment": obj({
        "id": S("Id"), "tweet_id": S("Id"), "author_id": S("Id"),
        "text": {"type": "string", "description": "1-280 Unicode code points."},
        "created_at": S("Time"), "edited_at": nullable(S("Time")),
    }),
    "PollResults": obj({
        "id": S("Id"), "tweet_id": S("Id"),
        "options": {"type": "array",
                    "items": obj({"text": STR, "votes": COUNT})},
        "multiple": BOOL, "expires_at": S("Time"),
        "total_votes": {"type": "integer", "minimum": 0,
                        "description": "Choices counted (a multiple-choice vote counts each)."},
        "voters": COUNT, "voted_by_me": BOOL, "expired": BOOL,
    }),
    "Notification": obj({
        "id": S("Id"),
        "type": {"type": "string", "enum": ["follow", "like", "comment", "mention",
                                            "poll_ended", "repost"]},
        "actor_id": nullable(S("Id")),
        "actor": nullable(S("AuthorCard")),
        "tweet_id": nullable(S("Id")),
        "tweet": {"anyOf": [S("FeedItem"), {"type": "null"}],
                  "description": "The tweet hydrated; null when there is none or it is gone."},
        "comment_id": nullable(S("Id")),
        "created_at": S("Time"),
        "read": BOOL,
    }),
    "Session": obj({"token": {"type": "string", "minLength": 1,
                              "description": "Send as Authorization: Bearer <token>."},
                    "account": S("Account")}),
    "SessionStatus": obj({"authenticated": {"const": True}, "account": S("Account")}),
    "FollowState": obj({"follower_id": S("Id"), "followee_id": S("Id"), "following": BOOL}),
    "BookmarkState": obj({"tweet_id": S("Id"), "bookmarked": BOOL}),
    "PinState": obj({"tweet_id": S("Id"), "pinned": BOOL}),
    "TimelineItem": {"allOf": [S("FeedItem"), obj({"pinned": {"const": True}}, [])],
                     "description": "A hydrated tweet of a user timeline; the pinned one "
                                    "(first on the first page only) has pinned: true."},
    "Unavailable": obj({"id": S("Id"), "unavailable": {"const": True}},
                       desc="A tweet of the thread that was deleted."),
    "Context": obj({
        "ancestors": {"type": "array", "items": {"anyOf": [S("FeedItem"), S("Unavailable")]},
                      "description": "From the root down to the parent (first page only; "
                                     "empty on later pages)."},
        "descendants": {"type": "array", "items": S("FeedItem"),
                        "description": "The replies below, depth first, oldest first at "
                                       "each level."},
        "next_cursor": nullable(STR),
    }, desc="The conversation around a tweet (the tweet itself is GET /tweets/{id})."),
    "LikeState": obj({"tweet_id": S("Id"), "liked": BOOL, "like_count": COUNT}),
    "RepostState": obj({"tweet_id": S("Id"), "user_id": S("Id"), "reposted": BOOL,
                        "repost_count": COUNT,
                        "repost_id": {"allOf": [S("Id")],
                                      "description": "The active repost's own id (reposted)."},
                        "created_at": {"allOf": [S("Time")],
                                       "description": "When the repost was made (reposted)."}},
                       ["tweet_id", "user_id", "reposted", "repost_count"]),
    "BlockState": obj({"account_id": S("Id"), "target_id": S("Id"), "blocking": BOOL}),
    "MuteState": obj({"account_id": S("Id"), "target_id": S("Id"), "muting": BOOL}),
    "Relationship": obj({"id": S("Id"), "following": BOOL, "followed_by": BOOL,
                         "blocking": BOOL, "blocked_by": BOOL, "muting": BOOL},
                        desc="The viewer's relationship with account id (all false for an "
                             "unknown id)."),
    "Relationships": obj({"items": {"type": "array", "items": S("Relationship"),
                                    "maxItems": 100}},
                         desc="One entry per distinct id asked, in the order asked."),
    "HashtagCount": obj({"tag": {"type": "string", "description": "Without the #."},
                         "count": COUNT}),
    "Count": obj({"count": COUNT}),
    "NotificationRead": obj({"id": S("Id"), "read": {"const": True}}),
    "AdminCall": obj({
        "seq": {"type": "integer", "minimum": 1}, "at": S("Time"), "method": STR, "path": STR,
        "status": INT, "duration_ms": {"type": "number", "minimum": 0}, "db_queries": COUNT,
        "account_id": nullable(S("Id")),
    }),
    "Service": {"type": "object", "additionalProperties": STR,
                "properties": {"instance": STR, "role": STR, "address": STR, "pid": STR,
                               "started_at": STR, "beat_at": STR,
                               "health": {"type": "string",
                                          "description": "ok, or why not (broker_down...)"}},
                "description": "A registry entry, as the instance beat it (every value a "
                               "string)."},
    # request bodies
    "SignUp": obj({"username": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,30}$"},
                   "email": {"type": "string", "format": "email"},
                   "password": {"type": "string", "minLength": 8,
                                "description": "8-256 bytes of UTF-8."}}),
    "LogIn": obj({"login": {"type": "string", "description": "The username or the e-mail."},
                  "password": STR}),
    "ProfileUpdate": obj({
        "display_name": {"type": "string", "maxLength": 50},
        "bio": {"type": "string", "maxLength": 160},
        "avatar_url": {"type": "string", "maxLength": 512,
                       "description": "An http(s) URL, or \"\" to clear it."},
    }, [], desc="At least one member."),
    "AccountDelete": obj({"password": {"type": "string",
                                       "description": "Optional; when sent it must be right "
                                                      "(else 403, nothing deleted)."}}, []),
    "PollCreate": obj({
        "options": {"type": "array", "minItems": 2, "maxItems": 4,
                    "items": {"type": "string", "description": "1-50 code points."}},
        "expires_in": {"type": "integer", "minimum": 300, "maximum": 604800,
                       "description": "Seconds from now."},
        "multiple": {"type": ["boolean", "null"], "default": False},
    }, ["options", "expires_in"]),
    "TweetCreate": obj({
        "text": {"type": "string", "description": "1-280 Unicode code points, not only spaces."},
        "reply_to": nullable(S("Id")),
        "quote_of": nullable(S("Id")),
        "poll": nullable(S("PollCreate")),
    }, ["text"]),
    "List": obj({"id": S("Id"), "owner_id": S("Id"),
                 "title": {"type": "string", "minLength": 1,
                           "description": "1-100 Unicode code points."},
                 "created_at": S("Time")},
                desc="A list: private to its owner (another's list is 404)."),
    "ListTitle": obj({"title": {"type": "string",
                                "description": "1-100 Unicode code points, not only spaces."}}),
    "ListMemberAdd": obj({"account_id": S("Id")}),
    "ListMember": obj({"list_id": S("Id"), "account_id": S("Id"), "member": BOOL}),
    "Text": obj({"text": {"type": "string",
                          "description": "1-280 Unicode code points, not only spaces."}}),
    "Vote": obj({"choices": {"type": "array", "minItems": 1, "maxItems": 4, "uniqueItems": True,
                             "items": {"type": "integer", "minimum": 0},
                             "description": "0-based option indexes; one unless the poll is "
                                            "multiple."}}),
    # streaming
    "StreamTweet": {"allOf": [S("FeedItem")],
                    "description": "event: tweet — a new tweet in the reader's home feed."},
    "StreamTweetEdited": {"allOf": [S("FeedItem")],
                          "description": "event: tweet.edited — a feed tweet's new version, "
                                         "hydrated."},
    "StreamTweetDeleted": obj({"id": S("Id")},
                              desc="event: tweet.deleted — a feed tweet is gone."),
    "StreamNotification": {"allOf": [S("Notification")],
                           "description": "event: notification — a new notification."},
}

# ---- parameters, headers ----------------------------------------------------

PARAMETERS = {
    "Limit": {"name": "limit", "in": "query", "required": False,
              "description": "Page size: default 20, above 100 capped to 100; 0, negative or "
                             "not an integer is 422 (field limit).",
              "schema": {"type": "integer", "minimum": 1, "default": 20}},
    "Cursor": {"name": "cursor", "in": "query", "required": False,
               "description": "The next_cursor of the previous page (opaque); a malformed one, "
                              "or one of another list, is 400 (field cursor).",
               "schema": {"type": "string"}},
    "RelationshipIds": {"name": "id", "in": "query", "required": True, "style": "form",
                        "explode": True,
                        "description": "1-100 account ids: id=1&id=2, id[]=1&id[]=2 or "
                                       "id=1,2 (else 422 invalid_id, missing_id or "
                                       "too_many_ids, field id).",
                        "schema": {"type": "array", "items": S("Id"), "minItems": 1,
                                   "maxItems": 100}},
    "AccountRef": {"name": "id", "in": "path", "required": True,
                   "description": "An account id, or @username.",
                   "schema": {"type": "string"}},
    "ListId": {"name": "id", "in": "path", "required": True,
               "description": "One of the caller's lists (another's is 404).",
               "schema": S("Id")},
    "MemberId": {"name": "account_id", "in": "path", "required": True,
                 "description": "The member's account id.", "schema": S("Id")},
    "TweetId": {"name": "id", "in": "path", "required": True, "description": "A tweet id.",
                "schema": S("Id")},
    "CommentId": {"name": "id", "in": "path", "required": True, "description": "A comment id.",
                  "schema": S("Id")},
    "PollId": {"name": "id", "in": "path", "required": True, "description": "A poll id.",
               "schema": S("Id")},
    "NotificationId": {"name": "id", "in": "path", "required": True,
                       "description": "A notification id.", "schema": S("Id")},
    "Tag": {"name": "tag", "in": "path", "required": True,
            "description": "A hashtag (letters, digits and _), with or without its #.",
            "schema": {"type": "string"}},
    "Query": {"name": "q", "in": "query", "required": True,
              "description": "1-200 characters, not only spaces, # or @ (else 422, field q).",
              "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
    "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "1-255 characters.  A retry with the same key by the "
                                      "same client within 24 h answers the first status and "
                                      "body and does nothing again; the same key on another "
                                      "request is 422, a retry while the first still runs 409.",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
}

HEADERS = {
    "Link": {"description": "<…?limit=…&cursor=…>; rel=\"next\" — the next page, when there is "
                            "one.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                    "schema": {"type": "integer", "minimum": 1}},
    "X-RateLimit-Limit": {"description": "The budget of this class of request (read, write, "
                                         "login) per window.",
                          "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "What is left of it.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Seconds until the window ends.",
                          "schema": {"type": "integer"}},
    "Idempotent-Replayed": {"description": "true when the answer is the stored first answer of "
                                           "an Idempotency-Key.",
                            "schema": {"type": "string", "enum": ["true"]}},
    "ETag": {"description": "The document's version.", "schema": {"type": "string"}},
}

RL_HEADERS = {h: ref("headers", h) for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining",
                                              "X-RateLimit-Reset")}


def err_response(desc, retry=False, may_retry=False, html=False):
    h = dict(RL_HEADERS)
    if retry:
        h["Retry-After"] = ref("headers", "Retry-After")
    elif may_retry:
        h["Retry-After"] = {"description": "Seconds to wait (idempotency_in_progress).",
                            "schema": {"type": "integer", "minimum": 1}}
    content = {"application/json": {"schema": S("Error")}}
    if html:
        content["text/html"] = {"schema": {"type": "string"}}
    return {"description": desc, "headers": h, "content": content}


RESPONSES = {
    "400": err_response("Malformed: the body is not JSON or not an object (malformed_json), or "
                        "the cursor is not one of this list (invalid_cursor)."),
    "401": err_response("No token where one is required, or a token that is unknown, expired "
                        "or revoked (also on routes where the token is optional), or wrong "
                        "log-in credentials."),
    "403": err_response("Not yours: only the author may change it (or a wrong password); or "
                        "an interaction across a block (blocked)."),
    "404": err_response("No such resource (field names the path parameter)."),
    "409": err_response("Conflict: see the route; also a retry whose Idempotency-Key's first "
                        "request is still running (idempotency_in_progress, with Retry-After).",
                        may_retry=True),
    "413": err_response("The request body is over 1 MiB."),
    "414": err_response("The request line is over 8 KiB (far over it, libmicrohttpd answers "
                        "by itself, in HTML).", html=True),
    "415": err_response("The body is not sent as Content-Type: application/json."),
    "422": err_response("An invalid field (field names it), or an Idempotency-Key that is too "
                        "long or was used for another request."),
    "429": err_response("Over the rate budget.", retry=True),
    "431": err_response("The request headers are over 8 KiB (far over them, libmicrohttpd "
                        "answers by itself, in HTML).", html=True),
    "503": err_response("A dependency (PostgreSQL, Redis, RabbitMQ) is down or slow; nothing was "
                        "changed, retry shortly."),
}

# ---- operations -------------------------------------------------------------

AUTH, OPTIONAL, ADMIN, NONE = "auth", "optional", "admin", "none"


def ok(status, schema, desc, headers=None):
    r = {"description": desc, "headers": dict(RL_HEADERS)}
    if headers:
        r["headers"].update(headers)
    if schema is not None:
        r["content"] = {"application/json": {"schema": schema}}
    return {str(status): r}


def listing(item, desc):
    return ok(200, list_of(item), desc, {"Link": ref("headers", "Link")})


REPLAY = {"Idempotent-Replayed": ref("headers", "Idempotent-Replayed")}


class Op:
    def __init__(self, method, path, op_id, summary, tag, auth, answers, body=None,
                 body_optional=False, paging=False, params=(), errors=(), desc=None,
                 deps=True):
        self.__dict__.update(locals())
        del self.__dict__["self"]


OPS = [
    # accounts and sessions
    Op("POST", "/accounts", "signUp", "Sign up", "accounts", NONE,
       ok(201, S("Session"), "The account and a session for it.", REPLAY), body="SignUp",
       errors=["409"], desc="Written synchronously to PostgreSQL.  409 username_taken or "
                            "email_taken (field says which).  Counts against the log-in "
                            "budget."),
    Op("GET", "/accounts", "listAccounts", "Every live account, newest first", "accounts",
       OPTIONAL, listing(S("Account"), "A page of accounts."), paging=True),
    Op("GET", "/accounts/search", "searchAccounts", "Accounts by username / display-name prefix",
       "search", OPTIONAL, listing(S("Account"), "A page of accounts, best first."),
       paging=True, params=["Query"], errors=["422"],
       desc="The same answers as GET /search?type=accounts."),
    Op("PATCH", "/accounts/me", "updateMe", "Edit one's profile", "accounts", AUTH,
       ok(200, S("Account"), "The account as it now is (with its e-mail)."),
       body="ProfileUpdate"),
    Op("DELETE", "/accounts/me", "deleteMe", "Delete one's account", "accounts", AUTH,
       ok(202, S("AccountDeleted"), "Deleted: its tokens and log-in fail at once; the workers "
                                    "take its tweets, follows, lists, likes, votes and comments away.",
          REPLAY),
       body="AccountDelete", body_optional=True, errors=["403"],
       desc="The body is optional; a password sent must be right (403 wrong_password, nothing "
            "deleted).  The username stays reserved, the e-mail is freed."),
    Op("GET", "/accounts/{id}", "getAccount", "An account", "accounts", OPTIONAL,
       ok(200, S("Account"), "The account (without e-mail)."), params=["AccountRef"],
       errors=["404"]),
    Op("GET", "/accounts/{id}/tweets", "accountTweets", "An account's tweets, newest first",
       "tweets", OPTIONAL, listing(S("TimelineItem"), "A page of the account's tweets, "
                                                      "hydrated; the pinned one first on the "
                                                      "first page."),
       paging=True, params=["AccountRef"], errors=["404"]),
    Op("POST", "/accounts/{id}/follow", "follow", "Follow an account", "follows", AUTH,
       {**ok(202, S("FollowState"), "Published: the follow takes effect shortly.", REPLAY),
        **ok(200, S("FollowState"), "Already following: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["403", "404", "422"],
       desc="Following oneself is 422; across a block (either way) 403 blocked."),
    Op("DELETE", "/accounts/{id}/follow", "unfollow", "Unfollow an account", "follows", AUTH,
       {**ok(202, S("FollowState"), "Published.", REPLAY),
        **ok(200, S("FollowState"), "Not following: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["404", "422"]),
    Op("GET", "/accounts/relationships", "relationships", "The viewer's relationships with "
       "many accounts", "follows", AUTH,
       ok(200, S("Relationships"), "following, followed_by, blocking, blocked_by, muting per id."),
       params=["RelationshipIds"], errors=["422"],
       desc="Changes still in flight count (as a repeat of a follow or block sees them)."),
    Op("POST", "/accounts/{id}/block", "block", "Block an account", "follows", AUTH,
       {**ok(202, S("BlockState"), "Published: the block takes effect shortly.", REPLAY),
        **ok(200, S("BlockState"), "Already blocking: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["404", "422"],
       desc="Ends the follows both ways.  While it holds, neither side can follow, reply to, "
            "comment on or like the other's tweets (403 blocked), and neither sees the "
            "other's tweets, comments or notifications anywhere.  Blocking oneself is 422 "
            "cannot_block_self."),
    Op("DELETE", "/accounts/{id}/block", "unblock", "Unblock an account", "follows", AUTH,
       {**ok(202, S("BlockState"), "Published.", REPLAY),
        **ok(200, S("BlockState"), "Not blocking: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["404", "422"], desc="The follows do not come back."),
    Op("POST", "/accounts/{id}/mute", "mute", "Mute an account", "follows", AUTH,
       {**ok(202, S("MuteState"), "Published: the mute takes effect shortly.", REPLAY),
        **ok(200, S("MuteState"), "Already muting: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["404", "422"],
       desc="Hides the account's tweets from the muter's feed and stream and its "
            "notifications; the follow stays.  Muting oneself is 422 cannot_mute_self."),
    Op("DELETE", "/accounts/{id}/mute", "unmute", "Unmute an account", "follows", AUTH,
       {**ok(202, S("MuteState"), "Published.", REPLAY),
        **ok(200, S("MuteState"), "Not muting: nothing changed.", REPLAY)},
       params=["AccountRef"], errors=["404", "422"]),
    Op("GET", "/blocks", "blocks", "The accounts the viewer blocks", "follows", AUTH,
       listing(S("Account"), "A page of accounts, latest block first."), paging=True),
    Op("GET", "/mutes", "mutes", "The accounts the viewer mutes", "follows", AUTH,
       listing(S("Account"), "A page of accounts, latest mute first."), paging=True),
    Op("GET", "/accounts/{id}/followers", "followers", "Who follows an account", "follows",
       OPTIONAL, listing(S("Account"), "A page of accounts, latest follow first."),
       paging=True, params=["AccountRef"], errors=["404"]),
    Op("GET", "/accounts/{id}/following", "following", "Whom an account follows", "follows",
       OPTIONAL, listing(S("Account"), "A page of accounts, latest follow first."),
       paging=True, params=["AccountRef"], errors=["404"]),
    Op("GET", "/feed", "feed", "The home feed", "feed", AUTH,
       listing(S("FeedItem"), "A page of the followed accounts' and own tweets, newest first, "
                              "hydrated."),
       paging=True, desc="Endless paging: a page never repeats or skips an item however the "
                         "feed changes meanwhile."),
    # lists
    Op("POST", "/lists", "createList", "Create a list", "lists", AUTH,
       ok(202, S("List"), "Published: the list as it will be.", REPLAY), body="ListTitle",
       desc="422 field title (1-100 characters), or too_many: an account owns at most "
            "CHIRP_LISTS_MAX lists (100)."),
    Op("GET", "/lists", "lists", "One's lists, newest first", "lists", AUTH,
       listing(S("List"), "A page of the caller's lists (a list shows here once applied)."),
       paging=True),
    Op("GET", "/lists/{id}", "getList", "One of one's lists", "lists", AUTH,
       ok(200, S("List"), "The list."), params=["ListId"], errors=["404"]),
    Op("PATCH", "/lists/{id}", "renameList", "Rename a list", "lists", AUTH,
       {**ok(202, S("List"), "Published: the list as it will be.", REPLAY),
        **ok(200, S("List"), "Already so titled: nothing changed.", REPLAY)},
       body="ListTitle", params=["ListId"], errors=["404"]),
    Op("DELETE", "/lists/{id}", "deleteList", "Delete a list", "lists", AUTH,
       ok(202, S("Deleted"), "Published: the list and its feed go.", REPLAY),
       params=["ListId"], errors=["404"]),
    Op("POST", "/lists/{id}/members", "addListMember", "Add an account to a list", "lists",
       AUTH,
       {**ok(202, S("ListMember"), "Published: the member's recent tweets join the list's feed.",
             REPLAY),
        **ok(200, S("ListMember"), "Already a member: nothing changed.", REPLAY)},
       body="ListMemberAdd", params=["ListId"], errors=["404"],
       desc="One account per request (Mastodon takes account_ids[]).  422 field account_id: "
            "not an id (invalid_id), no such account (no_such_account), or too_many: a list "
            "has at most CHIRP_LIST_MEMBERS_MAX members (1000)."),
    Op("DELETE", "/lists/{id}/members/{account_id}", "removeListMember",
       "Remove an account from a list", "lists", AUTH,
       {**ok(202, S("ListMember"), "Published: the member's tweets leave the list's feed.",
             REPLAY),
        **ok(200, S("ListMember"), "Not a member: nothing changed.", REPLAY)},
       params=["ListId", "MemberId"], errors=["404"]),
    Op("GET", "/lists/{id}/members", "listMembers", "A list's members", "lists", AUTH,
       listing(S("Account"), "A page of accounts, latest added first."), paging=True,
       params=["ListId"], errors=["404"]),
    Op("GET", "/lists/{id}/tweets", "listTweets", "A list's timeline", "lists", AUTH,
       listing(S("FeedItem"), "A page of the members' tweets, newest first, hydrated like the "
                              "home feed's."),
       paging=True, params=["ListId"], errors=["404"],
       desc="Endless paging with the home feed's guarantees: a page never repeats or skips an "
            "item however the list changes meanwhile."),
    Op("POST", "/sessions", "logIn", "Log in", "accounts", NONE,
       ok(201, S("Session"), "A new session.", REPLAY), body="LogIn", errors=["401"],
       desc="A wrong login or password is 401 invalid_credentials (which half is not told)."),
    Op("GET", "/sessions/current", "session", "Login status", "accounts", AUTH,
       ok(200, S("SessionStatus"), "The token is good: its account (with its e-mail).")),
    Op("DELETE", "/sessions/current", "logOut", "Log out", "accounts", AUTH,
       ok(204, None, "The token is revoked.")),
    # tweets
    Op("POST", "/tweets", "postTweet", "Post a tweet", "tweets", AUTH,
       ok(202, S("Tweet"), "Published: the tweet as it will be.", REPLAY), body="TweetCreate",
       errors=["403"],
       desc="422 with field text, reply_to or quote_of (not a live tweet), or poll.options / "
            "poll.expires_in / poll.multiple; a reply across a block (either way) is 403 "
            "blocked (field reply_to), and so is a quote (field quote_of).  A mention of an account across a block stays as "
            "text and notifies nobody."),
    Op("GET", "/tweets/{id}", "getTweet", "A tweet", "tweets", OPTIONAL,
       ok(200, S("TweetWithStats"), "The tweet with its live numbers."), params=["TweetId"],
       errors=["404"]),
    Op("PATCH", "/tweets/{id}", "editTweet", "Edit one's tweet", "tweets", AUTH,
       ok(202, S("Tweet"), "Published: the new version.", REPLAY), body="Text",
       params=["TweetId"], errors=["403", "404", "409"],
       desc="Author only.  409 edit_conflict when it changed meanwhile (fetch it and retry)."),
    Op("DELETE", "/tweets/{id}", "deleteTweet", "Delete one's tweet", "tweets", AUTH,
       ok(202, S("Deleted"), "Published.", REPLAY), params=["TweetId"],
       errors=["403", "404", "409"], desc="Author only."),
    Op("GET", "/tweets/{id}/history", "tweetHistory", "A tweet's edit history", "tweets",
       OPTIONAL, ok(200, list_of(S("HistoryEntry")), "Every version, the current one first "
                                                      "(one page: next_cursor is null)."),
       params=["TweetId"], errors=["404"]),
    # likes
    Op("POST", "/tweets/{id}/like", "like", "Like a tweet", "likes", AUTH,
       {**ok(202, S("LikeState"), "Published; like_count is live.", REPLAY),
        **ok(200, S("LikeState"), "Already liked: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["403", "404"],
       desc="A like of a tweet whose author a block stands between is 403 blocked."),
    Op("DELETE", "/tweets/{id}/like", "unlike", "Unlike a tweet", "likes", AUTH,
       {**ok(202, S("LikeState"), "Published.", REPLAY),
        **ok(200, S("LikeState"), "Not liked: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["404"]),
    Op("GET", "/tweets/{id}/likes", "tweetLikes", "Who liked a tweet", "likes", OPTIONAL,
       listing(S("Account"), "A page of accounts, latest like first."), paging=True,
       params=["TweetId"], errors=["404"]),
    Op("GET", "/accounts/{id}/likes", "accountLikes", "What an account liked", "likes",
       OPTIONAL, listing(S("FeedItem"), "A page of tweets, latest like first."), paging=True,
       params=["AccountRef"], errors=["404"]),
    Op("GET", "/trending/liked", "trendingLiked", "The most liked tweets of the last 24 hours",
       "likes", OPTIONAL, listing(S("FeedItem"), "The top limit tweets, most liked first "
                                                 "(one list: next_cursor is null)."),
       params=["Limit"], errors=["400", "422"],
       desc="A single top-N list, not paged (the ranking moves with every like): a "
            "non-empty cursor is 400 invalid_cursor (field cursor)."),
    # reposts and quotes
    Op("POST", "/tweets/{id}/repost", "repost", "Repost a tweet", "reposts", AUTH,
       {**ok(202, S("RepostState"), "Published; repost_count is live.", REPLAY),
        **ok(200, S("RepostState"), "Already reposted: nothing changed (the same repost).",
             REPLAY)},
       params=["TweetId"], errors=["403", "404"],
       desc="The repost goes to the reposter's followers' feeds (and their own) as the "
            "original tweet with reposted_by; 404 for a deleted or unknown tweet; 403 "
            "blocked across a block (either way)."),
    Op("DELETE", "/tweets/{id}/repost", "unrepost", "Undo a repost", "reposts", AUTH,
       {**ok(202, S("RepostState"), "Published: the repost leaves the feeds.", REPLAY),
        **ok(200, S("RepostState"), "Not reposted: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["404"]),
    Op("GET", "/tweets/{id}/reposts", "tweetReposts", "Who reposted a tweet", "reposts",
       OPTIONAL, listing(S("Account"), "A page of accounts, newest repost first."),
       paging=True, params=["TweetId"], errors=["404"]),
    Op("GET", "/tweets/{id}/quotes", "tweetQuotes", "The tweets quoting a tweet", "reposts",
       OPTIONAL, listing(S("FeedItem"), "A page of quoting tweets, newest first."),
       paging=True, params=["TweetId"], errors=["404"]),
    # threads, bookmarks, pins
    Op("GET", "/tweets/{id}/context", "tweetContext", "The thread around a tweet", "threads",
       OPTIONAL, ok(200, S("Context"), "Ancestors and a page of descendants, hydrated.",
                    {"Link": ref("headers", "Link")}),
       paging=True, params=["TweetId"], errors=["404"],
       desc="Read from PostgreSQL: a reply shows once the persist worker stored it.  The "
            "cursor names the last descendant shown: replies arriving meanwhile never repeat "
            "or skip an item.  At most 64 levels up and down."),
    Op("POST", "/tweets/{id}/bookmark", "bookmark", "Bookmark a tweet (private)", "bookmarks",
       AUTH, {**ok(202, S("BookmarkState"), "Published; GET /bookmarks shows it at once.",
                   REPLAY),
              **ok(200, S("BookmarkState"), "Already bookmarked: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["404"]),
    Op("DELETE", "/tweets/{id}/bookmark", "unbookmark", "Remove a bookmark", "bookmarks", AUTH,
       {**ok(202, S("BookmarkState"), "Published.", REPLAY),
        **ok(200, S("BookmarkState"), "Not bookmarked: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["404"]),
    Op("GET", "/bookmarks", "bookmarks", "One's bookmarks, newest bookmark first", "bookmarks",
       AUTH, listing(S("FeedItem"), "A page of bookmarked tweets, hydrated (deleted ones "
                                    "left out)."), paging=True),
    Op("POST", "/tweets/{id}/pin", "pin", "Pin one's tweet on one's profile", "pins", AUTH,
       {**ok(202, S("PinState"), "Published; it replaces the pinned tweet, if any.", REPLAY),
        **ok(200, S("PinState"), "Already pinned: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["403", "404"], desc="Author only (403)."),
    Op("DELETE", "/tweets/{id}/pin", "unpin", "Unpin one's tweet", "pins", AUTH,
       {**ok(202, S("PinState"), "Published.", REPLAY),
        **ok(200, S("PinState"), "Not pinned: nothing changed.", REPLAY)},
       params=["TweetId"], errors=["403", "404"], desc="Author only (403)."),
    # comments
    Op("POST", "/tweets/{id}/comments", "postComment", "Comment on a tweet", "comments", AUTH,
       ok(202, S("Comment"), "Published.", REPLAY), body="Text", params=["TweetId"],
       errors=["403", "404"],
       desc="A comment on a tweet whose author a block stands between is 403 blocked."),
    Op("GET", "/tweets/{id}/comments", "listComments", "A tweet's comments, oldest first",
       "comments", OPTIONAL, listing(S("Comment"), "A page of comments, oldest first."),
       paging=True, params=["TweetId"], errors=["404"]),
    Op("PATCH", "/comments/{id}", "editComment", "Edit one's comment", "comments", AUTH,
       ok(202, S("Comment"), "Published: the new version.", REPLAY), body="Text",
       params=["CommentId"], errors=["403", "404"], desc="Author only."),
    Op("DELETE", "/comments/{id}", "deleteComment", "Delete one's comment", "comments", AUTH,
       ok(202, S("Deleted"), "Published.", REPLAY), params=["CommentId"],
       errors=["403", "404"], desc="Author only."),
    # polls
    Op("GET", "/polls/{id}", "getPoll", "A poll's results", "polls", OPTIONAL,
       ok(200, S("PollResults"), "Counts per option, voted_by_me, expired."),
       params=["PollId"], errors=["404"], desc="Polls are created with their tweet "
                                               "(POST /tweets, member poll)."),
    Op("POST", "/polls/{id}/votes", "vote", "Vote in a poll", "polls", AUTH,
       ok(202, S("PollResults"), "Published: the results with the vote.", REPLAY), body="Vote",
       params=["PollId"], errors=["404", "409"],
       desc="Once per account: a second vote is 409 already_voted; a vote on an expired poll "
            "is 422 poll_expired."),
    # notifications
    Op("GET", "/notifications", "notifications", "One's notifications, newest first",
       "notifications", AUTH, listing(S("Notification"), "A page of notifications."),
       paging=True),
    Op("GET", "/notifications/unread_count", "unreadCount", "How many are unread",
       "notifications", AUTH, ok(200, S("Count"), "The unread count.")),
    Op("POST", "/notifications/read_all", "readAll", "Mark every notification read",
       "notifications", AUTH, ok(200, S("Count"), "Done: count is 0.", REPLAY)),
    Op("POST", "/notifications/{id}/read", "readOne", "Mark one notification read",
       "notifications", AUTH, ok(200, S("NotificationRead"), "Done.", REPLAY),
       params=["NotificationId"], errors=["404"]),
    # search
    Op("GET", "/search", "search", "Search tweets, accounts or hashtags", "search", OPTIONAL,
       listing({"anyOf": [S("FeedItem"), S("Account"), S("HashtagCount")]},
               "A page of results, best first: hydrated tweets (type=tweets), accounts "
               "(type=accounts) or hashtags with their tweet counts (type=hashtags)."),
       paging=True,
       params=["Query", {"name": "type", "in": "query", "required": False,
                         "description": "What to search (else 422, field type).",
                         "schema": {"type": "string", "enum": ["tweets", "accounts",
                                                               "hashtags"],
                                    "default": "tweets"}}],
       errors=["422"]),
    Op("GET", "/hashtags/{tag}/tweets", "hashtagTweets", "Tweets with a hashtag, newest first",
       "search", OPTIONAL, listing(S("FeedItem"), "A page of hydrated tweets."), paging=True,
       params=["Tag"], errors=["404"]),
    # operations
    Op("GET", "/admin/logs", "adminLogs", "The calls since the gateway started", "admin",
       ADMIN, ok(200, obj({"items": {"type": "array", "items": S("AdminCall")},
                           "last_seq": {"type": "integer", "minimum": 0,
                                        "description": "Pass as after for the next calls."}}),
                 "Calls after `after`, oldest first."),
       params=[{"name": "after", "in": "query", "required": False,
                "description": "A sequence number (else 422).",
                "schema": {"type": "integer", "minimum": 0, "default": 0}},
               {"name": "limit", "in": "query", "required": False,
                "description": "1-1000, default 100 (else 422).",
                "schema": {"type": "integer", "minimum": 1, "default": 100}}],
       errors=["422"], desc="This gateway instance's calls: method, path, status, time and "
                            "database queries."),
    Op("GET", "/admin/services", "adminServices", "The service registry", "admin", ADMIN,
       ok(200, obj({"items": {"type": "array", "items": S("Service")}}),
          "Every gateway and worker instance with its last heartbeat and health.")),
    Op("GET", "/openapi.json", "openapi", "This document", "meta", NONE,
       {**ok(200, {"type": "object"}, "The OpenAPI 3.1 document of /api/v1.",
             {"ETag": ref("headers", "ETag"),
              "Cache-Control": {"schema": {"type": "string"}}}),
        "304": {"description": "If-None-Match named the current ETag.",
                "headers": {"ETag": ref("headers", "ETag")}}},
       params=[{"name": "If-None-Match", "in": "header", "required": False,
                "schema": {"type": "string"}}], deps=False),
    Op("GET", "/streaming/user", "streamUser", "Live updates (server-sent events)", "streaming",
       AUTH,
       {"200": {"description":
                "text/event-stream, kept open.  Each event has an id (\"feed-notification-seq\"; "
                "pass the last one back as Last-Event-ID when reconnecting), a type and one "
                "line of JSON data: "
                "`tweet` (StreamTweet), `tweet.edited` (StreamTweetEdited), `tweet.deleted` "
                "(StreamTweetDeleted), `notification` (StreamNotification).  A comment line "
                "is sent as a heartbeat every 15-30 s.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
       params=[{"name": "access_token", "in": "query", "required": False,
                "description": "The bearer token, for clients that cannot set headers "
                               "(EventSource); never logged.",
                "schema": {"type": "string"}},
               {"name": "Last-Event-ID", "in": "header", "required": False,
                "description": "The last event id received: what was missed since is sent "
                               "first (one this stream did not send is 400 "
                               "invalid_event_id).",
                "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+-[0-9]+$"}}],
       errors=["400"],
       desc="The reader's home feed (new, edited and deleted tweets of followed accounts and "
            "their own) and their notifications, as the REST API shows them.  The token comes "
            "as Authorization: Bearer or as access_token."),
]

TAGS = ["accounts", "follows", "feed", "lists", "tweets", "likes", "reposts", "threads",
        "bookmarks", "pins", "comments", "polls",
        "notifications", "search", "streaming", "admin", "meta"]


def operation(op):
    o = {"operationId": op.op_id, "summary": op.summary, "tags": [op.tag]}
    if op.desc:
        o["description"] = op.desc
    params = [ref("parameters", p) if isinstance(p, str) else p for p in op.params]
    if op.paging:
        params += [ref("parameters", "Limit"), ref("parameters", "Cursor")]
    if op.method != "GET":
        params.append(ref("parameters", "IdempotencyKey"))
    if params:
        o["parameters"] = params
    if op.body:
        o["requestBody"] = {"required": not op.body_optional,
                            "content": {"application/json": {"schema": S(op.body)}}}
    if op.auth == AUTH:
        o["security"] = [{"bearer": []}]
    elif op.auth == OPTIONAL:
        o["security"] = [{"bearer": []}, {}]
    elif op.auth == ADMIN:
        o["security"] = [{"admin": []}]
    else:
        o["security"] = []
    # The statuses every request may meet on its way through the pipeline
    # (gateway/http.c, gateway/guard.c), then the route's own.
    codes = {"413", "414", "429", "431"}
    if op.deps:
        codes.add("503")
    if op.auth != NONE:
        codes.add("401")
    if op.body:
        codes |= {"400", "415", "422"}
    if op.paging:
        codes |= {"400", "422"}
    if op.method != "GET":  # Idempotency-Key
        codes |= {"409", "422", "503"}
    codes |= set(op.errors)
    responses = dict(op.answers)
    for c in sorted(codes):
        responses[c] = ref("responses", c)
    o["responses"] = dict(sorted(responses.items()))
    return o


def document():
    paths = {}
    for op in OPS:
        paths.setdefault("/api/v1" + op.path, {})[op.method.lower()] = operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chirp API",
            "version": "1",
            "description": (
                "Chirp, a Twitter-like service.  JSON over HTTP.  Ids are 64-bit and "
                "time-ordered, sent as strings.  Lists take limit and cursor and answer "
                "{items, next_cursor} with a Link header to the next page.  Errors are "
                "{\"error\": {code, message, field?}}.  Writes answer 202 once the event is "
                "durable in the broker (the workers apply it shortly), repeating one whose "
                "effect already holds answers 200, and every write takes an Idempotency-Key.  "
                "Every /api answer counts against a rate budget (X-RateLimit-* headers; 429 "
                "with Retry-After)."),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in TAGS],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A session token from POST /api/v1/accounts or "
                                          "POST /api/v1/sessions."},
                "admin": {"type": "http", "scheme": "bearer",
                          "description": "The operator's CHIRP_ADMIN_TOKEN."},
            },
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "responses": RESPONSES,
        },
    }


def render():
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                print("gateway/openapi.json is stale: run python3 gateway/openapi_gen.py",
                      file=sys.stderr)
                return 1
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
