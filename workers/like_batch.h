/*
 * like_batch.h — the like batcher's pending deltas and its flush rule.
 *
 * Pure bookkeeping, no I/O, with the clock passed in (so the rule is unit
 * tested with a fake clock): likes are grouped per tweet; a tweet is due
 * when it has more than max_pending likes waiting, or when its oldest
 * waiting like is at least max_age_ms old — or, when the batcher holds
 * max_held likes in all (the broker's prefetch: it sends no more until
 * some are acked), the tweet with the oldest like.  Not thread-safe.
 */
#ifndef WK_LIKE_BATCH_H
#define WK_LIKE_BATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct lb_like {
  int64_t user;
  int active;        /* 1 like, 0 unlike */
  int64_t event_id;
  int64_t at_ms;     /* when the user acted */
  int64_t recv_ms;   /* when the batcher got it (the age rule) */
  uint64_t tag;      /* the AMQP delivery to ack after the flush */
  char *body;        /* owned copy of the message, for a dead letter (may be NULL) */
  size_t len;
  int tries;         /* failed flushes it was part of */
} lb_like;

typedef struct lb_tweet {
  int64_t tweet, author;
  lb_like *likes; /* owned */
  size_t n, cap;
  int64_t oldest_ms;
} lb_tweet;

typedef struct lb_batcher {
  lb_tweet *tweets; /* owned */
  size_t n, cap;
  size_t max_pending;
  int64_t max_age_ms;
  size_t max_held; /* 0 = no limit */
  size_t pending; /* likes waiting, all tweets */
} lb_batcher;

void lb_init(lb_batcher *b, size_t max_pending, int64_t max_age_ms, size_t max_held);
void lb_cleanup(lb_batcher *b);
/* Adds a like (taking over like->body); 0 or CHIRP_ENOMEM. */
int lb_add(lb_batcher *b, int64_t tweet, int64_t author, const lb_like *like);
/* The index of a tweet due at now_ms, or -1. */
long lb_due(const lb_batcher *b, int64_t now_ms);
/* Milliseconds from now_ms until a tweet becomes due by age (0 if one is
   due already), or -1 when nothing waits. */
int64_t lb_wait_ms(const lb_batcher *b, int64_t now_ms);
/* Removes tweet i, handing it to *out (the caller releases it with
   lb_tweet_free, or gives its likes back with lb_add). */
void lb_take(lb_batcher *b, size_t i, lb_tweet *out);
/* Frees the likes of a taken tweet and their message copies. */
void lb_tweet_free(lb_tweet *t);
/* Forgets everything (after the connection that delivered it was lost). */
void lb_clear(lb_batcher *b);

#endif
