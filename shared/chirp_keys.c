/* chirp_keys.c — Redis key names. */
#include "chirp_keys.h"

#include "chirp_num.h"

#include <stdio.h>
#include <string.h>

/* prefix, the decimal id and "}" (what snprintf "%lld}" wrote, without its
   cost: a feed page builds a hundred keys).  Inlined, so that the prefix's
   length is a constant. */
static inline char *id_key(char *buf, const char *prefix, int64_t id) {
  size_t n = strlen(prefix);
  if (n + CHIRP_NUM_STRSZ + 1 > CHIRP_KEY_BUFSZ) { /* never for our prefixes */
    snprintf(buf, CHIRP_KEY_BUFSZ, "%s%lld}", prefix, (long long)id);
    return buf;
  }
  /* The last id written by this thread is kept in decimal: the numbers of
     a tweet take three keys of the same id in a row. */
  static _Thread_local int64_t last_id;
  static _Thread_local size_t last_len; /* 0: none yet */
  static _Thread_local char last[CHIRP_NUM_STRSZ];
  if (!last_len || last_id != id) {
    last_len = chirp_num_format(id, last);
    last_id = id;
  }
  memcpy(buf, prefix, n);
  memcpy(buf + n, last, last_len);
  n += last_len;
  buf[n++] = '}';
  buf[n] = '\0';
  return buf;
}

/* Appends at most max bytes of s at buf + *n. */
static void put_upto(char *buf, size_t *n, const char *s, size_t max) {
  size_t k = strnlen(s, max);
  memcpy(buf + *n, s, k);
  *n += k;
}

char *chirp_key_tweet(char *buf, int64_t id) {
  return id_key(buf, "chirp:t:{", id);
}
char *chirp_key_account(char *buf, int64_t id) {
  return id_key(buf, "chirp:a:{", id);
}
char *chirp_key_username(char *buf, const char *lower) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:u:{%.40s}", lower);
  return buf;
}
/* "chirp:s:{%.64s}" (one per authenticated request). */
char *chirp_key_session(char *buf, const char *hash_hex) {
  size_t n = 0;
  put_upto(buf, &n, "chirp:s:{", 9);
  put_upto(buf, &n, hash_hex, 64);
  buf[n++] = '}';
  buf[n] = '\0';
  return buf;
}
char *chirp_key_feed(char *buf, int64_t id) {
  return id_key(buf, "chirp:f:{", id);
}
char *chirp_key_feed_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:fok:{", id);
}
char *chirp_key_feed_huge(char *buf, int64_t id) {
  return id_key(buf, "chirp:fh:{", id);
}
char *chirp_key_timeline(char *buf, int64_t id) {
  return id_key(buf, CHIRP_KEY_TIMELINE_PREFIX, id);
}
char *chirp_key_timeline_ok(char *buf, int64_t id) {
  return id_key(buf, CHIRP_KEY_TIMELINE_OK_PREFIX, id);
}
char *chirp_key_follow_pending(char *buf, int64_t follower, int64_t followee) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:fp:{%lld}:%lld", (long long)follower, (long long)followee);
  return buf;
}
char *chirp_key_list_feed(char *buf, int64_t owner, int64_t list) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:lf:{%lld}:%lld", (long long)owner, (long long)list);
  return buf;
}
char *chirp_key_list_feed_ok(char *buf, int64_t owner, int64_t list) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:lfok:{%lld}:%lld", (long long)owner, (long long)list);
  return buf;
}
char *chirp_key_list_pending(char *buf, int64_t owner, int64_t list) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:lp:{%lld}:%lld", (long long)owner, (long long)list);
  return buf;
}
char *chirp_key_list_member_pending(char *buf, int64_t owner, int64_t list, int64_t account) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:lmp:{%lld}:%lld:%lld", (long long)owner, (long long)list,
           (long long)account);
  return buf;
}
char *chirp_key_hidden(char *buf, int64_t owner) {
  return id_key(buf, "chirp:hid:{", owner);
}
char *chirp_key_block_pending(char *buf, int kind, int64_t actor, int64_t target) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:bp:{%lld}:%d:%lld", (long long)actor, kind, (long long)target);
  return buf;
}
char *chirp_key_likers(char *buf, int64_t id) {
  return id_key(buf, "chirp:lk:{", id);
}
char *chirp_key_likers_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:lkok:{", id);
}
char *chirp_key_comment_count(char *buf, int64_t id) {
  return id_key(buf, "chirp:cc:{", id);
}
char *chirp_key_reply_count(char *buf, int64_t id) {
  return id_key(buf, "chirp:rc:{", id);
}
char *chirp_key_bookmarks(char *buf, int64_t id) {
  return id_key(buf, "chirp:bm:{", id);
}
char *chirp_key_bookmarks_order(char *buf, int64_t id) {
  return id_key(buf, "chirp:bmo:{", id);
}
char *chirp_key_bookmarks_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:bmok:{", id);
}
char *chirp_key_pin(char *buf, int64_t id) {
  return id_key(buf, "chirp:pin:{", id);
}
char *chirp_key_comment(char *buf, int64_t id) {
  return id_key(buf, "chirp:c:{", id);
}
char *chirp_key_poll(char *buf, int64_t id) {
  return id_key(buf, "chirp:p:{", id);
}
char *chirp_key_poll_voters(char *buf, int64_t id) {
  return id_key(buf, "chirp:pv:{", id);
}
char *chirp_key_poll_voters_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:pvok:{", id);
}
char *chirp_key_poll_counts(char *buf, int64_t id) {
  return id_key(buf, "chirp:pc:{", id);
}
char *chirp_key_unread(char *buf, int64_t id) {
  return id_key(buf, "chirp:nu:{", id);
}
char *chirp_key_trending(char *buf, int64_t id) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:tr:%lld", (long long)id);
  return buf;
}
char *chirp_key_huge_marked(char *buf, int64_t id) {
  return id_key(buf, "chirp:hm:{", id);
}
char *chirp_key_likers_version(char *buf, int64_t id) {
  return id_key(buf, "chirp:lkv:{", id);
}
char *chirp_key_liked_by(char *buf, int64_t id) {
  return id_key(buf, "chirp:al:{", id);
}
char *chirp_key_liked_by_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:alok:{", id);
}
char *chirp_key_liked_by_version(char *buf, int64_t id) {
  return id_key(buf, "chirp:alv:{", id);
}
char *chirp_key_reposters(char *buf, int64_t id) {
  return id_key(buf, "chirp:rp:{", id);
}
char *chirp_key_reposters_ok(char *buf, int64_t id) {
  return id_key(buf, "chirp:rpok:{", id);
}
char *chirp_key_reposters_version(char *buf, int64_t id) {
  return id_key(buf, "chirp:rpv:{", id);
}
char *chirp_key_reposters_order(char *buf, int64_t id) {
  return id_key(buf, "chirp:rpo:{", id);
}
char *chirp_key_quote_count(char *buf, int64_t id) {
  return id_key(buf, "chirp:qc:{", id);
}
char *chirp_key_likers_order(char *buf, int64_t id) {
  return id_key(buf, "chirp:lko:{", id);
}
/* "chirp:rl:{%.80s}:%.8s:%lld", written by hand (one per API request). */
char *chirp_key_rate(char *buf, const char *client, const char *cls, int64_t window) {
  size_t n = 0;
  put_upto(buf, &n, "chirp:rl:{", 10);
  put_upto(buf, &n, client, 80);
  put_upto(buf, &n, "}:", 2);
  put_upto(buf, &n, cls, 8);
  buf[n++] = ':';
  chirp_num_format(window, buf + n); /* 10 + 80 + 2 + 8 + 1 + 21 <= CHIRP_KEY_BUFSZ */
  return buf;
}
char *chirp_key_service(char *buf, const char *instance) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:svc:{%.100s}", instance);
  return buf;
}
char *chirp_key_services(char *buf) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:services");
  return buf;
}
char *chirp_key_metric(char *buf, const char *name) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:m:%.100s", name);
  return buf;
}
char *chirp_key_search_generation(char *buf) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:sgen");
  return buf;
}
char *chirp_key_search_cache(char *buf, long long gen, const char *type, const char *qhex,
                             int offset, int limit) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:sc:%lld:%.16s:%.32s:%d:%d", gen, type, qhex, offset, limit);
  return buf;
}
char *chirp_key_live_presence(char *buf, int64_t id) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:on:{%lld}", (long long)id);
  return buf;
}
char *chirp_key_live_channel(char *buf, int64_t id) {
  snprintf(buf, CHIRP_KEY_BUFSZ, CHIRP_KEY_LIVE_CHANNEL_PREFIX "%lld}", (long long)id);
  return buf;
}
