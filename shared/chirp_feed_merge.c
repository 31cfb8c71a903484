/*
 * chirp_feed_merge.c — the merge of a feed page with the pages of the
 * followed huge accounts' timelines, see chirp_feed.h.
 */
#include <stdlib.h>

#include "chirp_feed.h"

/* Newest first by key; equal keys (the same entry read twice) by tweet
   and reposter, so duplicates sit side by side. */
static int newest_first(const void *pa, const void *pb) {
  const chirp_feed_entry *a = pa, *b = pb;
  if (a->key != b->key) return a->key < b->key ? 1 : -1;
  if (a->tweet != b->tweet) return a->tweet < b->tweet ? 1 : -1;
  if (a->reposter != b->reposter) return a->reposter < b->reposter ? 1 : -1;
  return 0;
}

size_t chirp_feed_page_merge(chirp_feed_entry *cand, size_t n, size_t want,
                             chirp_feed_entry *out) {
  if (n > 1) qsort(cand, n, sizeof *cand, newest_first);
  size_t m = 0;
  for (size_t i = 0; i < n && m < want; i++) {
    int seen = 0; /* a tweet shows once, as its newest entry (a page is small) */
    for (size_t j = 0; j < m && !seen; j++) seen = out[j].tweet == cand[i].tweet;
    if (!seen) out[m++] = cand[i];
  }
  return m;
}
