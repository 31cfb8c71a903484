/*
 * chirp_keys.h — every Redis key name of Chirp, built in one place.
 *
 * Keys are namespaced "chirp:<kind>:{<id>}"; the braces are Redis Cluster
 * hash tags, so everything about one object lands in one slot.  Each
 * function writes into buf (CHIRP_KEY_BUFSZ bytes) and returns buf.
 */
#ifndef CHIRP_KEYS_H
#define CHIRP_KEYS_H

#include <stdint.h>

#define CHIRP_KEY_BUFSZ 128

char *chirp_key_tweet(char *buf, int64_t tweet_id);       /* hash {v, j} */
char *chirp_key_account(char *buf, int64_t account_id);   /* string: account JSON */
char *chirp_key_username(char *buf, const char *lower);   /* string: account id */
char *chirp_key_session(char *buf, const char *hash_hex); /* string: account id */
char *chirp_key_feed(char *buf, int64_t owner);          /* list: tweet ids, newest first */
char *chirp_key_feed_ok(char *buf, int64_t owner);       /* string: the feed is built */
char *chirp_key_feed_huge(char *buf, int64_t owner);     /* set: huge accounts followed */
char *chirp_key_timeline(char *buf, int64_t author);     /* list: own tweet ids */
char *chirp_key_timeline_ok(char *buf, int64_t author);  /* string: the timeline is built */
char *chirp_key_huge_marked(char *buf, int64_t account); /* string: followers were told */
char *chirp_key_follow_pending(char *buf, int64_t follower, int64_t followee); /* "1"/"0" */
/* Lists belong to their owner: every key of a list carries the owner's hash
   tag, so a list page script touches one owner's keys. */
char *chirp_key_list_feed(char *buf, int64_t owner, int64_t list);    /* list: tweet ids, newest first */
char *chirp_key_list_feed_ok(char *buf, int64_t owner, int64_t list); /* string: the list feed is built */
char *chirp_key_list_pending(char *buf, int64_t owner, int64_t list); /* string: list JSON in flight, "" deleted */
char *chirp_key_list_member_pending(char *buf, int64_t owner, int64_t list,
                                    int64_t account); /* "1"/"0": a change in flight */
/* An account's hidden set (chirp_block.h), and a block (kind 1) or mute
   (kind 2) change in flight, "1"/"0", until the worker applied it. */
char *chirp_key_hidden(char *buf, int64_t owner);
char *chirp_key_block_pending(char *buf, int kind, int64_t actor, int64_t target);

char *chirp_key_likers(char *buf, int64_t tweet);        /* set: user ids liking the tweet */
char *chirp_key_likers_ok(char *buf, int64_t tweet);     /* string: the set is built */
char *chirp_key_likers_version(char *buf, int64_t tweet); /* hash: user -> newest event id */
char *chirp_key_comment_count(char *buf, int64_t tweet); /* string: live comments */
char *chirp_key_comment(char *buf, int64_t comment);     /* hash {v, j} */
char *chirp_key_poll(char *buf, int64_t poll);           /* string: poll JSON */
char *chirp_key_poll_voters(char *buf, int64_t poll);    /* set: user ids */
char *chirp_key_poll_voters_ok(char *buf, int64_t poll); /* string: voters and counts built */
char *chirp_key_poll_counts(char *buf, int64_t poll);    /* hash: choice -> votes */
char *chirp_key_unread(char *buf, int64_t account);      /* string: unread notifications */
char *chirp_key_trending(char *buf, int64_t hour);       /* zset: tweet -> likes that hour */
char *chirp_key_liked_by(char *buf, int64_t user);       /* zset: "event:tweet" of the user's likes */
char *chirp_key_liked_by_ok(char *buf, int64_t user);    /* string: the zset is built */
char *chirp_key_liked_by_version(char *buf, int64_t user); /* hash: tweet -> newest event id */
char *chirp_key_likers_order(char *buf, int64_t tweet);  /* zset: "event:user" of the tweet's likes */
char *chirp_key_reply_count(char *buf, int64_t tweet);   /* string: live replies */
char *chirp_key_bookmarks(char *buf, int64_t user);      /* hash: tweet -> "+event"/"-event" */
char *chirp_key_bookmarks_order(char *buf, int64_t user); /* zset: "event:tweet" of live ones */
char *chirp_key_bookmarks_ok(char *buf, int64_t user);   /* string: the two are built */
char *chirp_key_pin(char *buf, int64_t account);         /* string: "tweet:event" (tweet 0 = none) */

/* Reposts of a tweet, one owner (the tweet): the set of reposting users
   (its size is repost_count, SISMEMBER reposted_by_me), its built flag,
   user -> the active repost's id, and "repost_id:user" (zero-padded, by
   lex) for the newest-first list. */
char *chirp_key_reposters(char *buf, int64_t tweet);
char *chirp_key_reposters_ok(char *buf, int64_t tweet);
char *chirp_key_reposters_version(char *buf, int64_t tweet);
char *chirp_key_reposters_order(char *buf, int64_t tweet);
char *chirp_key_quote_count(char *buf, int64_t tweet);   /* string: live quoting tweets */

/* Rate-limit counter of one client (an account or an address), class
   (read, write, login) and fixed window number. */
char *chirp_key_rate(char *buf, const char *client, const char *cls, int64_t window);
char *chirp_key_service(char *buf, const char *instance); /* hash: one instance's heartbeat */
char *chirp_key_services(char *buf);                      /* zset: instance -> last beat (ms) */
char *chirp_key_metric(char *buf, const char *name);     /* string: a worker counter */
char *chirp_key_search_generation(char *buf);            /* string: advanced by every search-visible write */
/* A cached search answer: generation, type, hex hash of the query, page. */
char *chirp_key_search_cache(char *buf, long long gen, const char *type, const char *qhex,
                             int offset, int limit);
char *chirp_key_live_presence(char *buf, int64_t reader); /* string with a TTL: a stream is open */
char *chirp_key_live_channel(char *buf, int64_t reader);  /* pub/sub channel: live announcements */
/* The channels' common prefix (PSUBSCRIBE-able): prefix + id + "}". */
#define CHIRP_KEY_LIVE_CHANNEL_PREFIX "chirp:live:{"

/* Prefixes the feed scripts use to name timeline keys from an author id:
   prefix + id + "}" (must agree with the functions above). */
#define CHIRP_KEY_TIMELINE_PREFIX "chirp:ut:{"
#define CHIRP_KEY_TIMELINE_OK_PREFIX "chirp:utok:{"

#endif
