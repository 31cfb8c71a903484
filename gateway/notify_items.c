/* notify_items.c — hydrated notification items, see notify_items.h. */
#include "notify_items.h"

#include <stdlib.h>

#include "chirp_error.h"
#include "chirp_event.h"
#include "hidden.h"
#include "hydrate.h"

/* Takes out the rows whose actor is hidden from viewer (blocked either
   way, or muted: hidden.h); the page may come out short, its cursor
   unchanged (the last row read), so paging stays stable. */
static int drop_hidden(int64_t viewer, json_t *items) {
  gw_hidden h;
  int rc = gw_hidden_load(viewer, &h);
  if (rc) return rc;
  for (size_t i = json_array_size(items); i-- > 0;) {
    int64_t actor;
    if (chirp_json_get_id(json_array_get(items, i), "actor_id", &actor) == 0 &&
        gw_hidden_any(&h, &actor, 1, CHIRP_HIDDEN_ALL))
      json_array_remove(items, i);
  }
  gw_hidden_cleanup(&h);
  return 0;
}

int gw_notify_items_hydrate(int64_t viewer, json_t *items) {
  int drc = drop_hidden(viewer, items);
  if (drc) return drc;
  /* The page's actors and tweets, each hydrated once for the whole page
     (one round trip and at most one query each), never per item. */
  size_t n = json_array_size(items), na = 0, nt = 0, got = 0;
  int64_t *actors = calloc(n ? n : 1, sizeof *actors), *tweets = calloc(n ? n : 1, sizeof *tweets);
  int64_t *shown = calloc(n ? n : 1, sizeof *shown);
  json_t **cards = calloc(n ? n : 1, sizeof *cards), *hydrated = json_array();
  int rc = actors && tweets && shown && cards && hydrated ? 0 : CHIRP_ENOMEM;
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    int64_t id;
    if (rc) break;
    if (chirp_json_get_id(it, "actor_id", &id) == 0) actors[na++] = id;
    if (chirp_json_get_id(it, "tweet_id", &id) == 0) tweets[nt++] = id;
  }
  if (!rc) rc = gw_hydrate_accounts(actors, na, 1, cards);
  if (!rc) rc = gw_hydrate_tweets_hiding(tweets, nt, viewer, CHIRP_HIDDEN_ALL, hydrated, shown, &got);
  if (!rc) {
    size_t ka = 0;
    json_array_foreach(items, i, it) {
      int64_t id;
      json_t *a = json_null(), *t = json_null();
      if (chirp_json_get_id(it, "actor_id", &id) == 0) {
        if (cards[ka]) a = json_incref(cards[ka]);
        ka++;
      }
      if (chirp_json_get_id(it, "tweet_id", &id) == 0)
        for (size_t k = 0; k < got; k++)
          if (shown[k] == id) {
            t = json_incref(json_array_get(hydrated, k));
            break;
          }
      json_object_set_new(it, "actor", a);
      json_object_set_new(it, "tweet", t); /* null when the tweet is gone */
    }
  }
  for (size_t k = 0; cards && k < na; k++) json_decref(cards[k]);
  free(cards);
  free(actors);
  free(tweets);
  free(shown);
  json_decref(hydrated);
  return rc;
}
