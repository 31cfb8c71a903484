/*
 * confirm_publisher.c — the reference figure for POST /api/v1/tweets: how many
 * persistent messages per second a bare C publisher gets confirmed by the
 * broker when it keeps up to W messages in flight (batched publisher
 * confirms), on the same RabbitMQ the gateway uses.
 *
 *   confirm_publisher [-u URL] [-n COUNT] [-t SECONDS] [-w WINDOW] [-s BYTES]
 *                     [-q NAME] [-k]
 *
 *   -u URL      amqp://user:pass@host:port/vhost   (default: $CHIRP_AMQP_URL,
 *               else amqp://guest:guest@127.0.0.1:5672/%2f)
 *   -n COUNT    messages to publish (default 100000; 0 = no limit, use -t)
 *   -t SECONDS  stop publishing after this long (default 30); outstanding
 *               confirms are then awaited for at most 10 s more
 *   -w WINDOW   most messages published but not yet confirmed (default 256)
 *   -s BYTES    size of each JSON message body (default 300, at least 64)
 *   -q NAME     exchange and queue to use (default chirp.bench.ref); both are
 *               declared durable, the queue is purged first and the exchange
 *               and queue are deleted at the end
 *   -k          keep the queue and exchange (and what was published)
 *
 * It never touches Chirp's own exchanges and queues.  On success it prints
 * one line of key=value pairs on stdout, e.g.
 *   confirmed=100000 nacked=0 seconds=9.871 rate=10130.7 window=256 size=300
 * where rate = confirmed / (time of the last confirm - time of the first
 * publish).  Exit status: 0 when every published message was acked, 1 on a
 * broker or library error, 2 on bad usage, 3 when some were nacked or never
 * confirmed.
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra -Werror confirm_publisher.c -lrabbitmq
 */
#define _POSIX_C_SOURCE 200809L

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 1
#define ROUTING_KEY "ref"
#define CONNECT_TIMEOUT_S 10
#define DRAIN_GRACE_S 10.0

static const char *prog = "confirm_publisher";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reports a failed RPC; returns 0 when r is a normal reply, else -1. */
static int check_rpc(amqp_rpc_reply_t r, const char *what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return 0;
    case AMQP_RESPONSE_NONE:
      fprintf(stderr, "%s: %s: missing RPC reply\n", prog, what);
      break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      fprintf(stderr, "%s: %s: %s\n", prog, what, amqp_error_string2(r.library_error));
      break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        fprintf(stderr, "%s: %s: server closed the connection: %u %.*s\n", prog, what,
                m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
      } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        fprintf(stderr, "%s: %s: server closed the channel: %u %.*s\n", prog, what,
                m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
      } else {
        fprintf(stderr, "%s: %s: server exception 0x%08x\n", prog, what, (unsigned)r.reply.id);
      }
      break;
  }
  return -1;
}

static int check_status(int st, const char *what) {
  if (st == AMQP_STATUS_OK) return 0;
  fprintf(stderr, "%s: %s: %s\n", prog, what, amqp_error_string2(st));
  return -1;
}

/* Parses a whole decimal number in [lo, hi]; returns 0 or -1. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "%s: -%s \"%s\" must be an integer from %ld to %ld\n", prog, opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: %s [-u URL] [-n COUNT] [-t SECONDS] [-w WINDOW] [-s BYTES] [-q NAME] [-k]\n",
          prog);
}

/* Writes a JSON body of exactly size bytes (size >= 64) for message seq into
   buf (size + 1 bytes), shaped like a tweet.created event. */
static void fill_body(char *buf, size_t size, uint64_t seq) {
  int head = snprintf(buf, size + 1,
                      "{\"type\":\"tweet.created\",\"seq\":%" PRIu64 ",\"payload\":{\"text\":\"", seq);
  static const char tail[] = "\"}}";
  size_t pos = head < 0 ? 0 : (size_t)head;
  size_t text_end = size - (sizeof tail - 1);
  while (pos < text_end) {
    buf[pos] = (char)('a' + (pos % 26));
    pos++;
  }
  memcpy(buf + text_end, tail, sizeof tail); /* with its NUL */
}

/* Connects, logs in and opens CHANNEL; returns NULL (after a message) on failure. */
static amqp_connection_state_t connect_broker(const struct amqp_connection_info *info) {
  amqp_connection_state_t conn = amqp_new_connection();
  if (!conn) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return NULL;
  }
  amqp_socket_t *sock = amqp_tcp_socket_new(conn);
  if (!sock) {
    fprintf(stderr, "%s: cannot create a TCP socket\n", prog);
    goto fail;
  }
  struct timeval tv = {CONNECT_TIMEOUT_S, 0};
  int st = amqp_socket_open_noblock(sock, info->host, info->port, &tv);
  if (st != AMQP_STATUS_OK) {
    fprintf(stderr, "%s: cannot connect to %s:%d: %s\n", prog, info->host, info->port,
            amqp_error_string2(st));
    goto fail;
  }
  if (check_status(amqp_set_handshake_timeout(conn, &tv), "set handshake timeout") ||
      check_status(amqp_set_rpc_timeout(conn, &tv), "set RPC timeout"))
    goto fail;
  if (check_rpc(amqp_login(conn, info->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info->user,
                           info->password),
                "login"))
    goto fail;
  amqp_channel_open(conn, CHANNEL);
  if (check_rpc(amqp_get_rpc_reply(conn), "channel.open")) goto fail;
  return conn;
fail:
  if (amqp_destroy_connection(conn) != AMQP_STATUS_OK)
    fprintf(stderr, "%s: amqp_destroy_connection failed\n", prog);
  return NULL;
}

/* Declares the durable exchange and queue NAME, binds them, purges the queue. */
static int declare(amqp_connection_state_t conn, const char *name) {
  amqp_bytes_t n = amqp_cstring_bytes(name);
  amqp_exchange_declare(conn, CHANNEL, n, amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                        amqp_empty_table);
  if (check_rpc(amqp_get_rpc_reply(conn), "exchange.declare")) return -1;
  amqp_queue_declare(conn, CHANNEL, n, 0, 1, 0, 0, amqp_empty_table);
  if (check_rpc(amqp_get_rpc_reply(conn), "queue.declare")) return -1;
  amqp_queue_bind(conn, CHANNEL, n, n, amqp_cstring_bytes(ROUTING_KEY), amqp_empty_table);
  if (check_rpc(amqp_get_rpc_reply(conn), "queue.bind")) return -1;
  amqp_queue_purge(conn, CHANNEL, n);
  if (check_rpc(amqp_get_rpc_reply(conn), "queue.purge")) return -1;
  return 0;
}

static int undeclare(amqp_connection_state_t conn, const char *name) {
  amqp_bytes_t n = amqp_cstring_bytes(name);
  amqp_queue_delete(conn, CHANNEL, n, 0, 0);
  if (check_rpc(amqp_get_rpc_reply(conn), "queue.delete")) return -1;
  amqp_exchange_delete(conn, CHANNEL, n, 0);
  if (check_rpc(amqp_get_rpc_reply(conn), "exchange.delete")) return -1;
  return 0;
}

struct counts {
  uint64_t published; /* delivery tags 1..published were sent */
  uint64_t acked, nacked;
  uint64_t settled_to; /* every tag <= settled_to is settled (for `multiple`) */
  unsigned char *single; /* settled[tag] for single acks beyond settled_to */
  double last_confirm;
};

/* Marks delivery tag (or every tag up to it, if multiple) as settled. */
static int settle(struct counts *c, uint64_t tag, int multiple, int ack) {
  if (tag == 0 || tag > c->published) {
    fprintf(stderr, "%s: broker confirmed unknown delivery tag %" PRIu64 "\n", prog, tag);
    return -1;
  }
  uint64_t n = 0;
  if (multiple) {
    for (uint64_t t = c->settled_to + 1; t <= tag; t++)
      if (!c->single[t]) n++;
    if (tag > c->settled_to) c->settled_to = tag;
  } else if (tag > c->settled_to && !c->single[tag]) {
    c->single[tag] = 1;
    n = 1;
  }
  /* Advance past single acks that are now contiguous. */
  while (c->settled_to < c->published && c->single[c->settled_to + 1]) c->settled_to++;
  if (ack)
    c->acked += n;
  else
    c->nacked += n;
  c->last_confirm = now_s();
  return 0;
}

/* Waits up to timeout_s for one frame, then handles it and every frame
   already buffered.  Returns 0 (also on a plain timeout) or -1. */
static int read_confirms(amqp_connection_state_t conn, struct counts *c, double timeout_s) {
  if (timeout_s < 0) timeout_s = 0;
  struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
  for (;;) {
    amqp_frame_t frame;
    int st = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
    if (st == AMQP_STATUS_TIMEOUT) return 0;
    if (check_status(st, "waiting for confirms")) return -1;
    tv = (struct timeval){0, 0}; /* after the first frame: only what is there */
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = frame.payload.method.decoded;
        if (settle(c, a->delivery_tag, a->multiple, 1)) return -1;
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *nk = frame.payload.method.decoded;
        if (settle(c, nk->delivery_tag, nk->multiple, 0)) return -1;
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *m = frame.payload.method.decoded;
        fprintf(stderr, "%s: broker closed the channel: %u %.*s\n", prog, m->reply_code,
                (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        return -1;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *m = frame.payload.method.decoded;
        fprintf(stderr, "%s: broker closed the connection: %u %.*s\n", prog, m->reply_code,
                (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        return -1;
      }
      default:
        break; /* basic.return cannot happen (not mandatory); ignore others */
    }
    amqp_maybe_release_buffers(conn);
  }
}

int main(int argc, char **argv) {
  const char *url = getenv("CHIRP_AMQP_URL");
  if (!url || !*url) url = "amqp://guest:guest@127.0.0.1:5672/%2f";
  const char *name = "chirp.bench.ref";
  long count = 100000, seconds = 30, window = 256, size = 300;
  int keep = 0, opt;
  while ((opt = getopt(argc, argv, "u:n:t:w:s:q:kh")) != -1) {
    switch (opt) {
      case 'u': url = optarg; break;
      case 'n': if (parse_long("n", optarg, 0, 100000000L, &count)) return 2; break;
      case 't': if (parse_long("t", optarg, 1, 3600, &seconds)) return 2; break;
      case 'w': if (parse_long("w", optarg, 1, 65536, &window)) return 2; break;
      case 's': if (parse_long("s", optarg, 64, 1 << 20, &size)) return 2; break;
      case 'q': name = optarg; break;
      case 'k': keep = 1; break;
      default: usage(); return 2;
    }
  }
  if (optind != argc || !*name) {
    usage();
    return 2;
  }

  char *url_copy = strdup(url);
  if (!url_copy) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  struct amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(url_copy, &info) != AMQP_STATUS_OK) {
    fprintf(stderr, "%s: cannot parse the AMQP URL\n", prog);
    free(url_copy);
    return 2;
  }

  int rc = 1;
  char *body = NULL;
  struct counts c = {0};
  /* Tags are bounded by what can be sent before the time limit; with no
     count, allocate settle marks as publishing goes. */
  uint64_t cap = count ? (uint64_t)count : 1u << 20;
  c.single = calloc((size_t)cap + 2, 1);
  body = malloc((size_t)size + 1);
  amqp_connection_state_t conn = NULL;
  if (!c.single || !body) {
    fprintf(stderr, "%s: out of memory\n", prog);
    goto out;
  }
  conn = connect_broker(&info);
  if (!conn || declare(conn, name)) goto out;
  amqp_confirm_select(conn, CHANNEL);
  if (check_rpc(amqp_get_rpc_reply(conn), "confirm.select")) goto out;

  amqp_basic_properties_t props = {
      ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
      .content_type = amqp_cstring_bytes("application/json"),
      .delivery_mode = AMQP_DELIVERY_PERSISTENT,
  };
  amqp_bytes_t exchange = amqp_cstring_bytes(name), key = amqp_cstring_bytes(ROUTING_KEY);
  const double t0 = now_s(), stop_publishing = t0 + (double)seconds;
  const double give_up = stop_publishing + DRAIN_GRACE_S;
  c.last_confirm = t0;
  int failed = 0;
  for (;;) {
    double t = now_s();
    int may_publish = t < stop_publishing && (count == 0 || c.published < (uint64_t)count);
    uint64_t outstanding = c.published - c.acked - c.nacked;
    if (!may_publish && outstanding == 0) break;
    if (t >= give_up) {
      fprintf(stderr, "%s: %" PRIu64 " message(s) still unconfirmed %.0f s after the end\n",
              prog, outstanding, DRAIN_GRACE_S);
      break;
    }
    /* Fill the window, then read whatever confirms came. */
    while (may_publish && outstanding < (uint64_t)window) {
      if (count == 0 && c.published + 1 >= cap) { /* grow the settle marks */
        unsigned char *grown = realloc(c.single, (size_t)cap * 2 + 2);
        if (!grown) {
          fprintf(stderr, "%s: out of memory\n", prog);
          failed = 1;
          break;
        }
        memset(grown + cap + 2, 0, (size_t)cap);
        c.single = grown;
        cap *= 2;
      }
      fill_body(body, (size_t)size, c.published + 1);
      int st = amqp_basic_publish(conn, CHANNEL, exchange, key, 0, 0, &props,
                                  (amqp_bytes_t){(size_t)size, body});
      if (check_status(st, "basic.publish")) {
        failed = 1;
        break;
      }
      c.published++;
      outstanding++;
      may_publish = count == 0 || c.published < (uint64_t)count;
    }
    if (failed) break;
    /* Block for the first confirm (bounded), then drain what is buffered. */
    double wait = (may_publish ? stop_publishing : give_up) - now_s();
    if (wait > 1.0) wait = 1.0;
    if (read_confirms(conn, &c, wait)) {
      failed = 1;
      break;
    }
  }
  double elapsed = c.last_confirm - t0;
  if (!failed) {
    if (!keep && undeclare(conn, name)) failed = 1;
  }
  if (c.acked > 0 && elapsed > 0) {
    printf("confirmed=%" PRIu64 " nacked=%" PRIu64 " unconfirmed=%" PRIu64
           " seconds=%.3f rate=%.1f window=%ld size=%ld\n",
           c.acked, c.nacked, c.published - c.acked - c.nacked, elapsed,
           (double)c.acked / elapsed, window, size);
  } else {
    fprintf(stderr, "%s: nothing was confirmed\n", prog);
  }
  if (failed)
    rc = 1;
  else if (c.nacked || c.acked != c.published || c.acked == 0)
    rc = 3;
  else
    rc = 0;

out:
  if (conn) {
    if (rc != 1) {
      /* A clean close; after an error the socket may be unusable, so only destroy. */
      if (check_rpc(amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS), "channel.close") ||
          check_rpc(amqp_connection_close(conn, AMQP_REPLY_SUCCESS), "connection.close"))
        rc = 1;
    }
    if (check_status(amqp_destroy_connection(conn), "destroy connection")) rc = 1;
  }
  free(body);
  free(c.single);
  free(url_copy);
  return rc;
}
