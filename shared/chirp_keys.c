/* chirp_keys.c — Redis key names. */
#include "chirp_keys.h"

#include <stdio.h>
#include <string.h>

/* prefix, the decimal id and "}" (what snprintf "%lld}" wrote, without its
   cost: a feed page builds a hundred keys). */
static char *id_key(char *buf, const char *prefix, int64_t id) {
  size_t n = strlen(prefix);
  char digits[24];
  int k = 0;
  unsigned long long v = id < 0 ? 0ULL - (unsigned long long)id : (unsigned long long)id;
  do {
    digits[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (id < 0) digits[k++] = '-';
  if (n + (size_t)k + 2 > CHIRP_KEY_BUFSZ) { /* never for our prefixes */
    snprintf(buf, CHIRP_KEY_BUFSZ, "%s%lld}", prefix, (long long)id);
    return buf;
  }
  memcpy(buf, prefix, n);
  while (k) buf[n++] = digits[--k];
  buf[n++] = '}';
  buf[n] = '\0';
  return buf;
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
char *chirp_key_session(char *buf, const char *hash_hex) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:s:{%.64s}", hash_hex);
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
char *chirp_key_rate(char *buf, const char *client, const char *cls, int64_t window) {
  snprintf(buf, CHIRP_KEY_BUFSZ, "chirp:rl:{%.80s}:%.8s:%lld", client, cls, (long long)window);
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
