/* test_like_batch.c — the like batcher's flush rule, with a fake clock. */
#include <stdlib.h>

#include "../check.h"
#include "../../workers/like_batch.h"

static lb_like like_at(int64_t user, int64_t recv_ms, uint64_t tag) {
  return (lb_like){.user = user, .active = 1, .event_id = (int64_t)tag, .at_ms = recv_ms,
                   .recv_ms = recv_ms, .tag = tag};
}

int main(void) {
  lb_batcher b;
  lb_init(&b, 10, 60000, 0);
  int64_t t0 = 1000000;
  CHECK_INT_EQ(lb_due(&b, t0), -1);
  CHECK_INT_EQ(lb_wait_ms(&b, t0), -1);

  /* Ten pending likes are not enough: the rule is "more than ten". */
  for (int i = 0; i < 10; i++) {
    lb_like l = like_at(i, t0 + i, (uint64_t)i + 1);
    CHECK_INT_EQ(lb_add(&b, 42, 7, &l), 0);
  }
  CHECK_INT_EQ(lb_due(&b, t0 + 100), -1);
  CHECK_INT_EQ(b.pending, 10);
  lb_like eleventh = like_at(10, t0 + 200, 11);
  CHECK_INT_EQ(lb_add(&b, 42, 7, &eleventh), 0);
  CHECK_INT_EQ(lb_due(&b, t0 + 200), 0);
  lb_tweet t;
  lb_take(&b, 0, &t);
  CHECK_INT_EQ(t.tweet, 42);
  CHECK_INT_EQ(t.author, 7);
  CHECK_INT_EQ(t.n, 11);
  CHECK_INT_EQ(t.likes[10].tag, 11);
  CHECK_INT_EQ(b.pending, 0);
  CHECK_INT_EQ(b.n, 0);
  lb_tweet_free(&t);

  /* A lone like waits for the age limit, measured from its arrival. */
  lb_like lone = like_at(1, t0, 20);
  CHECK_INT_EQ(lb_add(&b, 43, 7, &lone), 0);
  CHECK_INT_EQ(lb_due(&b, t0 + 59999), -1);
  CHECK_INT_EQ(lb_wait_ms(&b, t0 + 59000), 1000);
  CHECK_INT_EQ(lb_due(&b, t0 + 60000), 0);
  CHECK_INT_EQ(lb_wait_ms(&b, t0 + 70000), 0);

  /* Tweets are kept apart; a second tweet does not make the first due. */
  for (int i = 0; i < 5; i++) {
    lb_like l = like_at(i, t0 + 1000, (uint64_t)30 + (uint64_t)i);
    CHECK_INT_EQ(lb_add(&b, 44, 8, &l), 0);
  }
  CHECK_INT_EQ(b.n, 2);
  CHECK_INT_EQ(b.pending, 6);
  long due = lb_due(&b, t0 + 60500); /* only tweet 43 is old enough */
  CHECK(due >= 0);
  CHECK_INT_EQ(b.tweets[due].tweet, 43);
  /* A like put back after a failed flush keeps its age. */
  lb_take(&b, (size_t)due, &t);
  CHECK_INT_EQ(lb_add(&b, t.tweet, t.author, &t.likes[0]), 0);
  lb_tweet_free(&t);
  CHECK(lb_due(&b, t0 + 60500) >= 0);

  /* Clearing forgets everything (a lost connection redelivers it). */
  lb_clear(&b);
  CHECK_INT_EQ(b.n, 0);
  CHECK_INT_EQ(b.pending, 0);
  CHECK_INT_EQ(lb_due(&b, t0 + 1000000), -1);

  /* Zero thresholds flush at once (used by tests that want no delay). */
  /* Holding as many likes as the prefetch lets in: the oldest tweet goes,
     young and small as it is, or the batcher would wait for nothing. */
  lb_batcher full;
  lb_init(&full, 10, 60000, 4);
  for (int i = 0; i < 4; i++) {
    lb_like l = like_at(i, t0 + 100 * i, (uint64_t)i + 1);
    CHECK_INT_EQ(lb_add(&full, 50 + i % 2, 7, &l), 0); /* two tweets, two likes each */
  }
  long first = lb_due(&full, t0 + 500);
  CHECK(first >= 0);
  CHECK_INT_EQ(full.tweets[first].tweet, 50); /* its oldest like came first */
  lb_take(&full, (size_t)first, &t);
  lb_tweet_free(&t);
  CHECK_INT_EQ(lb_due(&full, t0 + 500), -1); /* room again: back to the rule */
  lb_cleanup(&full);

  lb_batcher z;
  lb_init(&z, 0, 0, 0);
  lb_like one = like_at(1, t0, 1);
  CHECK_INT_EQ(lb_add(&z, 1, 1, &one), 0);
  CHECK_INT_EQ(lb_due(&z, t0), 0);
  lb_cleanup(&z);
  lb_cleanup(&b);
  CHECK_DONE();
}
