/* like_batch.c — pending likes per tweet and the flush rule, see like_batch.h. */
#include "like_batch.h"

#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"

void lb_init(lb_batcher *b, size_t max_pending, int64_t max_age_ms, size_t max_held) {
  memset(b, 0, sizeof *b);
  b->max_pending = max_pending;
  b->max_age_ms = max_age_ms;
  b->max_held = max_held;
}

void lb_tweet_free(lb_tweet *t) {
  for (size_t i = 0; i < t->n; i++) free(t->likes[i].body);
  free(t->likes);
  t->likes = NULL;
  t->n = t->cap = 0;
}

void lb_clear(lb_batcher *b) {
  for (size_t i = 0; i < b->n; i++) lb_tweet_free(&b->tweets[i]);
  b->n = 0;
  b->pending = 0;
}

void lb_cleanup(lb_batcher *b) {
  lb_clear(b);
  free(b->tweets);
  b->tweets = NULL;
  b->cap = 0;
}

int lb_add(lb_batcher *b, int64_t tweet, int64_t author, const lb_like *like) {
  size_t i = 0;
  while (i < b->n && b->tweets[i].tweet != tweet) i++;
  if (i == b->n) {
    if (b->n == b->cap) {
      size_t cap = b->cap ? b->cap * 2 : 16;
      lb_tweet *t = realloc(b->tweets, cap * sizeof *t);
      if (!t) return CHIRP_ENOMEM;
      b->tweets = t;
      b->cap = cap;
    }
    b->tweets[i] = (lb_tweet){.tweet = tweet, .author = author, .oldest_ms = like->recv_ms};
    b->n++;
  }
  lb_tweet *t = &b->tweets[i];
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    lb_like *l = realloc(t->likes, cap * sizeof *l);
    if (!l) return CHIRP_ENOMEM;
    t->likes = l;
    t->cap = cap;
  }
  t->likes[t->n++] = *like;
  if (like->recv_ms < t->oldest_ms) t->oldest_ms = like->recv_ms;
  b->pending++;
  return 0;
}

long lb_due(const lb_batcher *b, int64_t now_ms) {
  long oldest = -1;
  for (size_t i = 0; i < b->n; i++) {
    const lb_tweet *t = &b->tweets[i];
    if (t->n > b->max_pending || now_ms - t->oldest_ms >= b->max_age_ms) return (long)i;
    if (oldest < 0 || t->oldest_ms < b->tweets[oldest].oldest_ms) oldest = (long)i;
  }
  /* Full hands: nothing more will arrive until something is acked. */
  return b->max_held && b->pending >= b->max_held ? oldest : -1;
}

int64_t lb_wait_ms(const lb_batcher *b, int64_t now_ms) {
  int64_t best = -1;
  for (size_t i = 0; i < b->n; i++) {
    int64_t w = b->tweets[i].oldest_ms + b->max_age_ms - now_ms;
    if (w < 0) w = 0;
    if (best < 0 || w < best) best = w;
  }
  return best;
}

void lb_take(lb_batcher *b, size_t i, lb_tweet *out) {
  *out = b->tweets[i];
  b->pending -= out->n;
  b->tweets[i] = b->tweets[--b->n];
}
