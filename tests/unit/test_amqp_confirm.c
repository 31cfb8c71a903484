/* test_amqp_confirm.c — publisher-confirm bookkeeping (chirp_amqp.h):
   an ack without `multiple` settles its own delivery tag only; one with it
   settles every unsettled tag up to its own. */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "chirp_amqp.h"

int main(void) {
  /* covers: single and multiple. */
  CHECK(chirp_amqp_confirm_covers(5, 0, 5));
  CHECK(!chirp_amqp_confirm_covers(5, 0, 4));
  CHECK(!chirp_amqp_confirm_covers(5, 0, 6));
  CHECK(chirp_amqp_confirm_covers(5, 1, 1));
  CHECK(chirp_amqp_confirm_covers(5, 1, 5));
  CHECK(!chirp_amqp_confirm_covers(5, 1, 6));

  /* A window of tags 11..15.  A single ack of the last tag settles only it:
     10..14 stay outstanding (the old loop took the highest acked tag as
     "everything up to here", and so let 11..14 pass unconfirmed). */
  unsigned char s[5] = {0};
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 15, 0), 1);
  CHECK_INT_EQ(s[0] + s[1] + s[2] + s[3], 0);
  CHECK_INT_EQ(s[4], 1);
  /* The same ack again (never sent by a broker) settles nothing new. */
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 15, 0), 0);
  /* Single acks out of order. */
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 12, 0), 1);
  CHECK_INT_EQ(s[1], 1);
  CHECK_INT_EQ(s[0], 0);
  /* A multiple ack of 14 settles 11, 13 and 14 (12 was already). */
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 14, 1), 3);
  CHECK_INT_EQ(s[0] + s[1] + s[2] + s[3] + s[4], 5);

  /* Tags outside the window: earlier ones (a previous publish on the same
     channel) and later ones settle nothing of it, single or multiple. */
  memset(s, 0, sizeof s);
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 10, 1), 0);
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 10, 0), 0);
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 16, 0), 0);
  CHECK_INT_EQ(s[0] + s[1] + s[2] + s[3] + s[4], 0);
  /* A multiple ack past the window settles all of it. */
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 99, 1), 5);
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 5, 0, 1), 0);
  CHECK_INT_EQ(chirp_amqp_confirm_mark(s, 11, 0, 11, 0), 0);
  CHECK_DONE();
}
