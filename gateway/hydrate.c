/* hydrate.c — tweet ids to hydrated items, see hydrate.h. */
#include "hydrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_account.h"
#include "chirp_error.h"
#include "chirp_event.h"
#include "chirp_keys.h"
#include "chirp_log.h"
#include "chirp_num.h"
#include "chirp_pg.h"
#include "chirp_redis.h"
#include "chirp_tweet.h"
#include "gw.h"
#include "hidden.h"
#include "lcache.h"
#include "stats.h"
#include "stats_marks.h"

static int buf_add(gw_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
    char *nb = realloc(b->buf, cap);
    if (!nb) return CHIRP_ENOMEM;
    b->buf = nb;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
  return 0;
}

/* The author id inside a tweet's JSON.  The text is our own compact
   output: a quote inside a string value is always escaped, so the key's
   spelling with bare quotes occurs only as the key. */
static int64_t author_of(const char *json) {
  const char *p = strstr(json, "\"author_id\":\"");
  return p ? chirp_num_leading(p + 13) : 0;
}

/* The JSON text of the tweets of ids[0..n) that the cache did not answer
   (tweets[i] NULL and miss[i] set), from PostgreSQL in ONE statement,
   written back to the cache; deleted or unknown ones stay NULL. */
static int tweets_from_pg(redisContext *r, const int64_t *ids, size_t n, const int *miss,
                          char **tweets) {
  int64_t *want = malloc(n * sizeof *want);
  size_t nw = 0;
  if (!want) return CHIRP_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (miss[i]) want[nw++] = ids[i];
  int rc = 0;
  if (nw) {
    PGconn *pg = gw_pg();
    chirp_tweet *got = NULL;
    size_t ng = 0;
    rc = pg ? chirp_tweet_store_get_many(pg, want, nw, &got, &ng) : CHIRP_EUNAVAILABLE;
    for (size_t k = 0; !rc && k < ng; k++) {
      if (r && !r->err) (void)chirp_tweet_cache_put(r, &got[k], gw.cfg.cache_ttl_s);
      if (got[k].deleted_ms) continue;
      json_t *j = chirp_tweet_to_json(&got[k]);
      char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
      json_decref(j);
      for (size_t i = 0; text && i < n; i++)
        if (miss[i] && ids[i] == got[k].id && !tweets[i]) tweets[i] = strdup(text);
      free(text);
    }
    if (got) chirp_tweet_array_free(got, ng);
  }
  free(want);
  return rc;
}

/* The 4-member card of a full account object (new reference). */
static json_t *card_of(json_t *full) {
  return json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(full, "id"), "username",
                   json_object_get(full, "username"), "display_name",
                   json_object_get(full, "display_name"), "avatar_url",
                   json_object_get(full, "avatar_url"));
}

/* Public objects of accounts from PostgreSQL, ONE query for them all:
   out[i] for every i whose ids[i] exists (and is NULL), written back to
   the cache. */
static int accounts_from_pg(redisContext *r, const int64_t *ids, size_t n, json_t **out) {
  PGconn *pg = gw_pg();
  if (!pg) return CHIRP_EUNAVAILABLE;
  char *arr = chirp_pg_id_array(ids, n);
  if (!arr) return CHIRP_ENOMEM;
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT %s FROM accounts WHERE id = ANY($1::bigint[])",
           chirp_account_columns);
  const char *p[] = {arr};
  PGresult *res;
  int rc = chirp_pg_exec(pg, sql, 1, p, &res);
  free(arr);
  if (rc) return rc;
  for (int row = 0; row < PQntuples(res); row++) {
    chirp_account a;
    if (chirp_account_from_row(res, row, 0, &a)) continue;
    json_t *full = chirp_account_to_json(&a, 0);
    char *text = full ? json_dumps(full, JSON_COMPACT) : NULL, key[CHIRP_KEY_BUFSZ];
    if (text && r && !r->err) {
      redisReply *w = chirp_redis_command(r, "SET %s %s EX %d", chirp_key_account(key, a.id), text,
                                          CHIRP_ACCOUNT_CACHE_TTL_S);
      if (w) freeReplyObject(w);
    }
    free(text);
    for (size_t i = 0; full && i < n; i++)
      if (ids[i] == a.id && !out[i]) out[i] = json_incref(full);
    json_decref(full);
    chirp_account_cleanup(&a);
  }
  PQclear(res);
  return 0;
}

/* The author card of a full account object as JSON text (new string), or
   NULL. */
static char *card_text(json_t *full) {
  json_t *card = full ? card_of(full) : NULL;
  char *s = card ? json_dumps(card, JSON_COMPACT) : NULL;
  json_decref(card);
  return s;
}

int gw_hydrate_accounts(const int64_t *ids, size_t n, int cards, json_t **out) {
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  if (n == 0) return 0;
  redisContext *r = gw_redis();
  /* One round trip for the cached ones. */
  char key[CHIRP_KEY_BUFSZ];
  int cached = r != NULL;
  for (size_t i = 0; cached && i < n; i++)
    if (chirp_redis_append(r, "GET %s", chirp_key_account(key, ids[i]))) cached = 0;
  for (size_t i = 0; cached && i < n; i++) {
    redisReply *rep = NULL;
    if (chirp_redis_read(r, &rep)) {
      cached = 0;
      break;
    }
    if (rep->type == REDIS_REPLY_STRING) out[i] = json_loadb(rep->str, rep->len, 0, NULL);
    freeReplyObject(rep);
  }
  if (r && chirp_redis_pending(r)) chirp_redis_abandon(r, "account cards failed midway");
  /* The misses in one query. */
  int64_t *miss = malloc(n * sizeof *miss);
  size_t nm = 0;
  int rc = miss ? 0 : CHIRP_ENOMEM;
  for (size_t i = 0; miss && i < n; i++)
    if (!out[i]) miss[nm++] = ids[i];
  if (!rc && nm) {
    json_t **got = calloc(nm, sizeof *got);
    rc = got ? accounts_from_pg(r, miss, nm, got) : CHIRP_ENOMEM;
    for (size_t k = 0, i = 0; got && i < n; i++)
      if (!out[i]) out[i] = got[k++];
    free(got);
  }
  free(miss);
  for (size_t i = 0; cards && i < n; i++) {
    if (!out[i]) continue;
    json_t *c = card_of(out[i]);
    json_decref(out[i]);
    out[i] = c;
  }
  if (rc)
    for (size_t i = 0; i < n; i++) {
      json_decref(out[i]);
      out[i] = NULL;
    }
  return rc;
}

/* The id after "key":" in a tweet's JSON text (0 when absent or null);
   see author_of for why the bare spelling is only ever the key. */
static int64_t id_field(const char *json, const char *key) {
  const char *p = strstr(json, key);
  return p ? strtoll(p + strlen(key), NULL, 10) : 0;
}

/* Round trip 1: the JSON texts of ids[0..n) into tweets[] (NULL: deleted
   or unknown): the ones held here cost nothing, the others come in one
   pipeline, the misses from PostgreSQL in one statement (written back). */
static int fetch_tweets(redisContext *r, const int64_t *ids, size_t n, char **tweets) {
  int rc = CHIRP_ENOMEM;
  redisReply **replies = calloc(n, sizeof *replies);
  int *miss = calloc(n, sizeof *miss), *local = calloc(n, sizeof *local);
  gw_lc_ticket *tickets = calloc(n, sizeof *tickets);
  char key[CHIRP_KEY_BUFSZ];
  if (!replies || !miss || !local || !tickets) goto out;
  /* Every reply is read before any miss is filled in: filling sends
     commands of its own on this connection. */
  rc = CHIRP_EUNAVAILABLE;
  gw_lcache_track(r);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    char *t = gw_lcache_get(chirp_key_tweet(key, ids[i]), &len);
    local[i] = t != NULL;
    if (t && len > 0) tweets[i] = t;
    else free(t); /* "" is a tombstone: deleted */
    if (local[i]) continue;
    gw_lcache_ticket(key, &tickets[i]);
    if (chirp_redis_append(r, "HGET %s j", key)) goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (!local[i] && chirp_redis_read(r, &replies[i])) goto out;
  for (size_t i = 0; i < n; i++) {
    const redisReply *rep = replies[i];
    if (local[i]) continue;
    if (rep->type == REDIS_REPLY_STRING && rep->len > 0) tweets[i] = strndup(rep->str, rep->len);
    miss[i] = rep->type != REDIS_REPLY_STRING; /* "" is a tombstone: deleted */
    if (rep->type == REDIS_REPLY_STRING)
      (void)gw_lcache_put(chirp_key_tweet(key, ids[i]), rep->str, rep->len, 0, &tickets[i]);
    freeReplyObject(replies[i]);
    replies[i] = NULL;
  }
  rc = tweets_from_pg(r, ids, n, miss, tweets);
out:
  if (chirp_redis_pending(r)) chirp_redis_abandon(r, "hydration failed midway");
  for (size_t i = 0; replies && i < n; i++)
    if (replies[i]) freeReplyObject(replies[i]);
  free(replies);
  free(miss);
  free(local);
  free(tickets);
  return rc;
}

/* The accounts an item involves — its author, its reposter, the quoted
   tweet's author (0 when none) — gathered in one place: the viewer's
   hidden accounts (hidden.h) decide here whether an item shows. */
typedef struct item_accounts {
  int64_t author, reposter, quoted_author;
} item_accounts;

/* The index of account a in accts[0..na), adding it (room given). */
static size_t account_slot(int64_t *accts, size_t *na, int64_t a) {
  size_t k = 0;
  while (k < *na && accts[k] != a) k++;
  if (k == *na) accts[(*na)++] = a;
  return k;
}

/* Appends one tweet's text with its author card and numbers, without the
   closing brace: the caller adds what follows (a quote, a repost) and it. */
static int add_tweet_body(gw_buf *out, const char *tweet, size_t tl, const char *card,
                          const gw_tweet_stats *st, const gw_mark_stats *ms) {
  char tail[GW_STATS_TAIL_MAX + 64];
  size_t m = gw_stats_tail(st, tail);
  m += (size_t)gw_marks_tail(tail + m, sizeof tail - m, ms);
  int rc;
  if ((rc = buf_add(out, tweet, tl - 1))) return rc;
  /* (texts cached before quotes existed lack the field) */
  if (!strstr(tweet, "\"quote_of\":") && (rc = buf_add(out, ",\"quote_of\":null", 16))) return rc;
  if ((rc = buf_add(out, ",\"author\":", 10)) || (rc = buf_add(out, card, strlen(card))) ||
      (rc = buf_add(out, tail, m)))
    return rc;
  return 0;
}

int gw_hydrate_entries(const chirp_feed_entry *items, size_t n, int64_t viewer, unsigned hide,
                       gw_buf *out, int64_t *shown, size_t *ends, size_t *nshown) {
  *nshown = 0;
  if (n == 0) return 0;
  /* The viewer's hidden accounts: held in the gateway in the common case
     (no round trip), read before this call's pipelines start. */
  gw_hidden hidden = {0};
  int rc = viewer && hide ? gw_hidden_load(viewer, &hidden) : 0;
  if (rc) return rc;
  redisContext *r = gw_redis();
  if (!r) {
    gw_hidden_cleanup(&hidden);
    return CHIRP_EUNAVAILABLE;
  }
  rc = CHIRP_ENOMEM;
  /* all[0..n) the items' tweets, all[n..n+nq) the tweets they quote. */
  int64_t *all = calloc(2 * n, sizeof *all);
  char **tweets = calloc(2 * n, sizeof *tweets);
  /* Accounts: every tweet's author and every reposter, each once. */
  int64_t *accts = calloc(3 * n, sizeof *accts), *missing = calloc(3 * n, sizeof *missing);
  char **cards = calloc(3 * n, sizeof *cards);
  redisReply **replies = calloc(3 * n, sizeof *replies);
  int *alocal = calloc(3 * n, sizeof *alocal);
  gw_lc_ticket *atickets = calloc(3 * n, sizeof *atickets);
  gw_tweet_stats *stats = calloc(2 * n, sizeof *stats);
  gw_mark_stats *marks = calloc(2 * n, sizeof *marks);
  size_t na = 0, nq = 0;
  char key[CHIRP_KEY_BUFSZ];
  if (!all || !tweets || !accts || !missing || !cards || !replies || !alocal || !atickets || !stats ||
      !marks)
    goto out;
  for (size_t i = 0; i < n; i++) all[i] = items[i].tweet;
  if ((rc = fetch_tweets(r, all, n, tweets))) goto out;
  /* The quoted tweets, each once: one more round trip, only for a page
     that has quotes. */
  for (size_t i = 0; i < n; i++) {
    int64_t q = tweets[i] ? id_field(tweets[i], "\"quote_of\":\"") : 0;
    size_t k = n;
    while (q && k < n + nq && all[k] != q) k++;
    if (q && k == n + nq) all[n + nq++] = q;
  }
  if (nq) {
    if (!(r = gw_redis())) {
      rc = CHIRP_EUNAVAILABLE;
      goto out;
    }
    if ((rc = fetch_tweets(r, all + n, nq, tweets + n))) goto out;
  }
  for (size_t i = 0; i < n + nq; i++)
    if (tweets[i]) (void)account_slot(accts, &na, author_of(tweets[i]));
  for (size_t i = 0; i < n; i++)
    if (items[i].reposter) (void)account_slot(accts, &na, items[i].reposter);
  /* Round trip 2: the accounts, each once, and every tweet's numbers (the
     numbers' script goes by its SHA: nothing synchronous may run while
     these replies are queued). */
  rc = CHIRP_EUNAVAILABLE;
  if (!(r = gw_redis())) goto out;
  gw_lcache_track(r); /* (a fetch may have replaced the connection) */
  for (size_t k = 0; k < na; k++) {
    /* Held here: the card, made from the account JSON of Redis's key (and
       dropped with it). */
    size_t len;
    cards[k] = gw_lcache_get(chirp_key_account(key, accts[k]), &len);
    alocal[k] = cards[k] != NULL;
    if (alocal[k]) continue;
    gw_lcache_ticket(key, &atickets[k]);
    if (chirp_redis_append(r, "GET %s", key)) goto out;
  }
  if (gw_marks_append(r, all, n + nq, viewer) || gw_stats_append(r, all, n + nq, viewer)) goto out;
  for (size_t k = 0; k < na; k++)
    if (!alocal[k] && chirp_redis_read(r, &replies[k])) goto out;
  if ((rc = gw_marks_read(r, all, n + nq, viewer, marks)) ||
      (rc = gw_stats_read(r, all, n + nq, viewer, stats)) ||
      (rc = gw_marks_finish(r, all, n + nq, viewer, marks)))
    goto out;
  /* The cards: from the cache replies, the misses from PostgreSQL in one
     query for the page (written back). */
  size_t nm = 0;
  for (size_t k = 0; k < na; k++) {
    if (alocal[k]) continue;
    json_t *full = NULL;
    if (replies[k] && replies[k]->type == REDIS_REPLY_STRING)
      full = json_loadb(replies[k]->str, replies[k]->len, 0, NULL);
    if (replies[k]) freeReplyObject(replies[k]);
    replies[k] = NULL;
    cards[k] = card_text(full);
    json_decref(full);
    if (cards[k])
      (void)gw_lcache_put(chirp_key_account(key, accts[k]), cards[k], strlen(cards[k]), 0,
                          &atickets[k]);
    if (!cards[k]) missing[nm++] = accts[k];
  }
  if (nm) {
    json_t **got = calloc(nm, sizeof *got);
    if (!got || (rc = accounts_from_pg(r, missing, nm, got))) {
      if (!got) rc = CHIRP_ENOMEM;
    } else {
      for (size_t k = 0, m = 0; k < na; k++)
        if (!cards[k]) {
          cards[k] = card_text(got[m]);
          json_decref(got[m++]);
        }
    }
    free(got);
    if (rc) goto out;
  }

  for (size_t i = 0; i < n && !rc; i++) {
    size_t tl = tweets[i] ? strlen(tweets[i]) : 0;
    if (!tl || tweets[i][tl - 1] != '}') continue; /* gone */
    item_accounts who = {author_of(tweets[i]), items[i].reposter, 0};
    const char *card = cards[account_slot(accts, &na, who.author)];
    const char *rcard = who.reposter ? cards[account_slot(accts, &na, who.reposter)] : NULL;
    if (!card || (who.reposter && !rcard)) continue; /* an account gone */
    /* The quoted tweet, when there is one and it is there to show. */
    int64_t q = id_field(tweets[i], "\"quote_of\":\"");
    size_t qi = n, ql = 0;
    while (q && qi < n + nq && all[qi] != q) qi++;
    const char *qcard = NULL;
    if (q && qi < n + nq && tweets[qi]) {
      ql = strlen(tweets[qi]);
      who.quoted_author = author_of(tweets[qi]);
      qcard = cards[account_slot(accts, &na, who.quoted_author)];
    }
    /* An item by or reposted by a hidden account goes; a quote of a hidden
       account's tweet shows as unavailable. */
    int64_t involved[] = {who.author, who.reposter};
    if (gw_hidden_any(&hidden, involved, who.reposter ? 2 : 1, hide)) continue;
    if (qcard && gw_hidden_any(&hidden, &who.quoted_author, 1, hide)) qcard = NULL;
    if ((out->len && (rc = buf_add(out, ",", 1))) ||
        (rc = add_tweet_body(out, tweets[i], tl, card, &stats[i], &marks[i])))
      break;
    if (q) {
      if (qcard && ql && tweets[qi][ql - 1] == '}') {
        rc = buf_add(out, ",\"quote\":", 9);
        if (!rc) rc = add_tweet_body(out, tweets[qi], ql, qcard, &stats[qi], &marks[qi]);
        if (!rc) rc = buf_add(out, "}", 1);
      } else { /* deleted (or its author gone): shown as unavailable */
        char gone[96];
        int m = snprintf(gone, sizeof gone, ",\"quote\":{\"id\":\"%lld\",\"unavailable\":true}",
                         (long long)q);
        rc = buf_add(out, gone, (size_t)m);
      }
      if (rc) break;
    }
    if (who.reposter) {
      char rid[64];
      int m = snprintf(rid, sizeof rid, ",\"repost_id\":\"%lld\",\"reposted_by\":",
                       (long long)items[i].key);
      if ((rc = buf_add(out, rid, (size_t)m)) || (rc = buf_add(out, rcard, strlen(rcard)))) break;
    }
    if ((rc = buf_add(out, "}", 1))) break;
    if (ends) ends[*nshown] = out->len;
    shown[(*nshown)++] = items[i].key;
  }
out:
  /* A pipeline given up midway leaves replies queued: drop the connection. */
  if (r && chirp_redis_pending(r)) chirp_redis_abandon(r, "hydration failed midway");
  for (size_t i = 0; tweets && i < 2 * n; i++) free(tweets[i]);
  for (size_t k = 0; cards && k < 3 * n; k++) free(cards[k]);
  for (size_t k = 0; replies && k < 3 * n; k++)
    if (replies[k]) freeReplyObject(replies[k]);
  free(replies);
  free(tweets);
  free(cards);
  free(all);
  free(accts);
  free(missing);
  free(alocal);
  free(atickets);
  free(stats);
  free(marks);
  gw_hidden_cleanup(&hidden);
  return rc;
}

int gw_hydrate_raw_hiding(const int64_t *ids, size_t n, int64_t viewer, unsigned hide, gw_buf *out,
                          int64_t *shown, size_t *ends, size_t *nshown) {
  chirp_feed_entry *items = malloc((n ? n : 1) * sizeof *items);
  if (!items) return CHIRP_ENOMEM;
  for (size_t i = 0; i < n; i++) items[i] = (chirp_feed_entry){ids[i], ids[i], 0};
  int rc = gw_hydrate_entries(items, n, viewer, hide, out, shown, ends, nshown);
  free(items);
  return rc;
}

int gw_hydrate_raw(const int64_t *ids, size_t n, int64_t viewer, gw_buf *out, int64_t *shown,
                   size_t *ends, size_t *nshown) {
  return gw_hydrate_raw_hiding(ids, n, viewer, CHIRP_HIDDEN_BLOCKS, out, shown, ends, nshown);
}

int gw_hydrate_tweets(const int64_t *ids, size_t n, int64_t viewer, json_t *items, int64_t *shown,
                      size_t *nshown) {
  return gw_hydrate_tweets_hiding(ids, n, viewer, CHIRP_HIDDEN_BLOCKS, items, shown, nshown);
}

int gw_hydrate_tweets_hiding(const int64_t *ids, size_t n, int64_t viewer, unsigned hide,
                             json_t *items, int64_t *shown, size_t *nshown) {
  gw_buf b = {0};
  int rc = gw_hydrate_raw_hiding(ids, n, viewer, hide, &b, shown, NULL, nshown);
  if (!rc && *nshown) {
    /* Wrap the comma-joined objects as an array and decode it once. */
    char *text = malloc(b.len + 3);
    if (!text) {
      rc = CHIRP_ENOMEM;
    } else {
      text[0] = '[';
      memcpy(text + 1, b.buf, b.len);
      text[b.len + 1] = ']';
      text[b.len + 2] = '\0';
      json_t *arr = json_loads(text, 0, NULL);
      free(text);
      if (!arr) rc = CHIRP_EINTERNAL;
      else json_array_extend(items, arr);
      json_decref(arr);
    }
  }
  free(b.buf);
  return rc;
}

void gw_reply_accounts(gw_req *req, gw_reply *rep, const int64_t *ids, size_t n,
                       const char *next_cursor, int limit) {
  json_t **accts = calloc(n ? n : 1, sizeof *accts), *items = json_array();
  int rc = accts && items ? gw_hydrate_accounts(ids, n, 0, accts) : CHIRP_ENOMEM;
  for (size_t i = 0; accts && i < n; i++) {
    if (!rc && accts[i]) json_array_append(items, accts[i]);
    json_decref(accts[i]);
  }
  free(accts);
  if (rc) {
    json_decref(items);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_list(rep, req, items, next_cursor, limit);
}

void gw_reply_tweets(gw_req *req, gw_reply *rep, const int64_t *ids, size_t n,
                     const char *next_cursor, int limit) {
  json_t *items = json_array();
  int64_t *shown = malloc((n ? n : 1) * sizeof *shown);
  size_t got = 0;
  int rc = items && shown ? gw_hydrate_tweets(ids, n, req->account_id, items, shown, &got)
                          : CHIRP_ENOMEM;
  free(shown);
  if (rc) {
    json_decref(items);
    return gw_reply_from_err(rep, rc);
  }
  gw_reply_list(rep, req, items, next_cursor, limit);
}
