/* notify_items.c — hydrated notification items, see notify_items.h. */
#include "notify_items.h"

#include "chirp_account.h"
#include "chirp_event.h"
#include "hydrate.h"

void gw_notify_items_hydrate(PGconn *pg, int64_t viewer, json_t *items) {
  size_t i;
  json_t *n;
  json_array_foreach(items, i, n) {
    int64_t actor, tweet;
    json_t *a = json_null(), *t = json_null();
    if (chirp_json_get_id(n, "actor_id", &actor) == 0) {
      chirp_account acc;
      if (chirp_account_get(pg, actor, &acc) == 0) {
        a = json_pack("{s:o, s:s, s:s, s:s}", "id", chirp_json_id(acc.id), "username",
                      acc.username, "display_name", acc.display_name, "avatar_url", acc.avatar_url);
        chirp_account_cleanup(&acc);
      }
    }
    if (chirp_json_get_id(n, "tweet_id", &tweet) == 0) {
      json_t *one = json_array();
      int64_t shown;
      size_t got = 0;
      if (gw_hydrate_tweets(&tweet, 1, viewer, one, &shown, &got) == 0 && got == 1)
        t = json_incref(json_array_get(one, 0));
      json_decref(one);
    }
    json_object_set_new(n, "actor", a);
    json_object_set_new(n, "tweet", t); /* null when the tweet is gone */
  }
}
