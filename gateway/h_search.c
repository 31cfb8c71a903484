/*
 * h_search.c — GET /search?q=&type=tweets|accounts|hashtags, its alias
 * GET /accounts/search?q= (accounts), and GET /hashtags/{tag}/tweets.
 *
 * Ranked results page by offset (the cursor carries it).  Answers are
 * cached in Redis for a minute under the search generation, which the
 * persist worker advances after every tweet it commits, so a cached answer
 * never hides a newer tweet.  Tweets are cached as ids and hydrated fresh,
 * so their like and comment counts are live.
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_keys.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_redis.h"
#include "chirp_search.h"
#include "chirp_text.h"
#include "gw.h"
#include "handlers.h"
#include "hydrate.h"

#define MAX_QUERY_CHARS 200

/* The cache key of an answer: generation, type, query hash, page. */
static void cache_key(char *buf, long long gen, const char *type, const char *q, int offset,
                      int limit) {
  unsigned char h[crypto_hash_sha256_BYTES];
  char hex[2 * sizeof h + 1];
  crypto_hash_sha256(h, (const unsigned char *)q, strlen(q));
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  chirp_key_search_cache(buf, gen, type, hex, offset, limit);
}

/* A cursor carries an offset this gateway made: page after page, each below
   SEARCH_MAX_OFFSET.  A larger one (forged) would not fit the int the
   queries take (a cast made 2^31 a negative OFFSET: a 500). */
#define SEARCH_MAX_OFFSET (INT_MAX / 2)

static int search_paging(const gw_req *req, gw_reply *rep, int *limit, int *offset) {
  int64_t o;
  if (gw_param_paging(req, rep, "sq", limit, &o)) return -1;
  if (o > SEARCH_MAX_OFFSET) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "invalid_cursor", "cursor",
                   "the cursor is malformed or belongs to another list");
    return -1;
  }
  *offset = (int)o;
  return 0;
}

/* One search of type (tweets, accounts or hashtags) for the query's q;
   typed: the next page's Link carries type= (GET /search) or not (GET
   /accounts/search, where the path says it). */
static void search(gw_req *req, gw_reply *rep, const char *type, int typed) {
  const char *q = u_map_get(req->u->map_url, "q");
  long chars = q ? chirp_utf8_count(q, strlen(q)) : 0;
  if (!q || chars <= 0 || (strspn(q, " \t\r\n#@") == strlen(q))) {
    gw_reply_error(rep, CHIRP_EINVAL, q && chars < 0 ? "invalid_utf8" : "empty", "q",
                   "q must be some text to search for");
    return;
  }
  if (chars > MAX_QUERY_CHARS) {
    gw_reply_error(rep, CHIRP_EINVAL, "too_long", "q", "q must be at most %d characters",
                   MAX_QUERY_CHARS);
    return;
  }
  int limit, offset;
  if (search_paging(req, rep, &limit, &offset)) return;
  PGconn *pg = gw_pg();
  if (!pg) return gw_reply_from_err(rep, CHIRP_EUNAVAILABLE);

  /* One row more than the page tells whether a next page exists. */
  char key[CHIRP_KEY_BUFSZ], cursor[CHIRP_CURSOR_BUFSZ];
  long long gen = 0;
  redisContext *r = gw_redis();
  int cached = r && chirp_search_generation(r, &gen) == 0;
  if (cached) cache_key(key, gen, type, q, offset, limit);
  json_t *answer = NULL;
  if (cached) {
    redisReply *rr = redisCommand(r, "GET %s", key);
    if (!chirp_redis_reply_failed(r, rr) && rr->type == REDIS_REPLY_STRING)
      answer = json_loadb(rr->str, rr->len, 0, NULL);
    if (rr) freeReplyObject(rr);
  }
  int rc = 0;
  if (!answer) {
    if (strcmp(type, "tweets") == 0) {
      int64_t *ids = NULL;
      size_t n = 0;
      rc = chirp_search_tweets(pg, q, offset, limit + 1, &ids, &n);
      if (!rc) {
        answer = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(answer, json_integer(ids[i]));
      }
      free(ids);
    } else if (strcmp(type, "accounts") == 0) {
      rc = chirp_search_accounts(pg, q, offset, limit + 1, &answer);
    } else {
      rc = chirp_search_hashtags(pg, q, offset, limit + 1, &answer);
    }
    if (rc) return gw_reply_from_err(rep, rc);
    char *s = cached ? json_dumps(answer, JSON_COMPACT) : NULL;
    if (s && (r = gw_redis())) {
      redisReply *w = redisCommand(r, "SET %s %s EX %d", key, s, CHIRP_SEARCH_CACHE_TTL_S);
      if (w) freeReplyObject(w);
    }
    free(s);
  }
  size_t total = json_array_size(answer);
  const char *next = NULL;
  if (total > (size_t)limit) {
    json_array_remove(answer, (size_t)limit);
    /* No next page past the deepest offset a cursor may carry. */
    if (offset <= SEARCH_MAX_OFFSET - limit)
      next = chirp_cursor_encode("sq", (int64_t)offset + limit, cursor);
  }
  if (strcmp(type, "tweets") == 0) {
    size_t n = json_array_size(answer);
    int64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < n; i++) ids[i] = json_integer_value(json_array_get(answer, i));
    if (ids) gw_reply_tweets(req, rep, ids, n, next, limit);
    else gw_reply_from_err(rep, CHIRP_ENOMEM);
    free(ids);
    json_decref(answer);
  } else {
    gw_reply_list(rep, req, answer, next, limit);
  }
  if (next) {
    /* The Link header must carry the query as well. */
    char *eq = NULL;
    size_t qlen = strlen(q) * 3 + 1;
    if ((eq = malloc(qlen))) {
      size_t o = 0;
      for (const unsigned char *s = (const unsigned char *)q; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            *s == '-' || *s == '_' || *s == '.')
          eq[o++] = (char)*s;
        else
          o += (size_t)sprintf(eq + o, "%%%02X", *s);
      }
      eq[o] = '\0';
      snprintf(rep->link, sizeof rep->link, "<%s?q=%s%s%s&limit=%d&cursor=%s>; rel=\"next\"",
               req->u->url_path, eq, typed ? "&type=" : "", typed ? type : "", limit, next);
      free(eq);
    }
  }
}

void h_search(gw_req *req, gw_reply *rep) {
  const char *type = u_map_get(req->u->map_url, "type");
  if (!type || !*type) type = "tweets";
  if (strcmp(type, "tweets") && strcmp(type, "accounts") && strcmp(type, "hashtags")) {
    gw_reply_error(rep, CHIRP_EINVAL, "invalid_value", "type",
                   "type must be tweets, accounts or hashtags");
    return;
  }
  search(req, rep, type, 1);
}

/* GET /accounts/search?q=: the same answers as /search?type=accounts. */
void h_account_search(gw_req *req, gw_reply *rep) { search(req, rep, "accounts", 0); }

void h_hashtag_tweets(gw_req *req, gw_reply *rep) {
  const char *tag = u_map_get(req->u->map_url, "tag");
  char tags[1][CHIRP_MAX_HASHTAG_CHARS + 1], with_hash[CHIRP_MAX_HASHTAG_CHARS + 3];
  snprintf(with_hash, sizeof with_hash, "#%s", tag && *tag != '#' ? tag : tag ? tag + 1 : "");
  if (!tag || chirp_hashtags_parse(with_hash, tags, 1) != 1 ||
      strlen(tags[0]) != strlen(with_hash) - 1) {
    gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, "tag", "not a hashtag: letters, digits and _");
    return;
  }
  int64_t before;
  int limit;
  if (gw_param_paging(req, rep, "ht", &limit, &before)) return;
  PGconn *pg = gw_pg();
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = pg ? chirp_search_tag_tweets(pg, tags[0], before, limit + 1, &ids, &n) : CHIRP_EUNAVAILABLE;
  if (rc) return gw_reply_from_err(rep, rc);
  char cursor[CHIRP_CURSOR_BUFSZ];
  const char *next = n > (size_t)limit ? chirp_cursor_encode("ht", ids[limit - 1], cursor) : NULL;
  gw_reply_tweets(req, rep, ids, n > (size_t)limit ? (size_t)limit : n, next, limit);
  free(ids);
}
