/*
 * http.h — the gateway's request pipeline and reply helpers.
 *
 * Every route goes through one dispatcher (gw_http_dispatch), which in order:
 * checks the body's size (413) and type (415) and parses it (400) when the
 * route takes one, resolves the bearer token (401) when the route needs
 * one, calls the handler, writes the reply or the API's error body,
 * and logs one line.  A handler only parses its inputs, validates, calls the
 * domain, and fills a gw_reply.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include <ulfius.h>

#define GW_MAX_BODY (1024 * 1024)
#define GW_DEFAULT_LIMIT 20
#define GW_MAX_LIMIT 100

enum gw_route_flags {
  GW_AUTH = 1 << 0,          /* a valid bearer token is required */
  GW_AUTH_OPTIONAL = 1 << 1, /* a token is used when given (and must be valid) */
  GW_BODY = 1 << 2,          /* a JSON object body is required */
  GW_ADMIN = 1 << 3,         /* the operator's CHIRP_ADMIN_TOKEN is required */
  GW_LOGIN = 1 << 4,         /* counts against the log-in attempt budget */
  GW_BODY_OPTIONAL = 1 << 5, /* a JSON object body may be sent (then parsed as GW_BODY) */
  GW_QUERY_TOKEN = 1 << 6,   /* the token may come as ?access_token= (EventSource sets no
                                headers); the request line is never logged, only its path */
};

typedef struct gw_req {
  const struct _u_request *u;
  int64_t account_id; /* 0 when anonymous */
  const char *token;  /* the bearer token as sent, or NULL (borrowed) */
  json_t *body;       /* the parsed body for GW_BODY routes (borrowed) */
} gw_req;

typedef struct gw_reply {
  int status;
  json_t *json; /* owned: the body, or NULL */
  char *raw;    /* owned: a ready JSON body, used instead of json when set */
  size_t raw_len;
  /* error body, when err != 0 */
  int err;
  const char *err_code;  /* static; NULL = the code of err */
  const char *err_field; /* static or NULL */
  char err_msg[200];
  int err_status;        /* overrides the status of err when nonzero */
  char link[4096];  /* Link header, "" = none (a search query may be long) */
  const char *etag;          /* static; ETag header when set */
  const char *cache_control; /* static; Cache-Control header when set */
  int retry_after;  /* seconds; > 0 adds Retry-After */
  const char *content_type; /* static; NULL = application/json */
  int rl_limit, rl_remaining, rl_reset; /* X-RateLimit-*, when rl_limit > 0 */
  int replayed;     /* the answer is a stored one (Idempotency-Key) */
  /* A streamed answer (text/event-stream) instead of a body: the content
     reader and its free callback, which owns stream from then on. */
  void *stream;
  ssize_t (*stream_read)(void *stream, uint64_t pos, char *out, size_t max);
  void (*stream_free)(void *stream);
} gw_reply;

typedef void (*gw_handler)(gw_req *req, gw_reply *rep);

typedef struct gw_route {
  const char *method;
  const char *path; /* ulfius pattern, e.g. "/api/v1/tweets/:id" */
  gw_handler handler;
  unsigned flags;
} gw_route;

/* Routes every request through the table (terminated by a NULL method;
   matched by router.h); anything else to the web client's files
   (static.h), else the JSON 404. */
int gw_http_register(struct _u_instance *u, const gw_route *routes);

/* Appends the per-route request counters and latency sums in Prometheus
   text format to *buf (a malloc'd string grown as needed). */
void gw_http_metrics(char **buf, size_t *len, size_t *cap);
void gw_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- reply helpers --- */
/* Sets status and a JSON body (steals the reference). */
void gw_reply_json(gw_reply *rep, int status, json_t *body);
/* Sets an error: err is a CHIRP_E… code; code and field may be NULL. */
void gw_reply_error(gw_reply *rep, int err, const char *code, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sets a list body {"items", "next_cursor"} (steals items) and, when
   next_cursor is not NULL, the Link header for the next page. */
void gw_reply_list(gw_reply *rep, const gw_req *req, json_t *items, const char *next_cursor,
                   int limit);

/* --- input helpers; each sets the error reply and returns nonzero on bad input --- */
/* The route parameter name as an id; 404 when it is not one. */
int gw_param_id(const gw_req *req, gw_reply *rep, const char *name, int64_t *out);
/* limit (default 20, capped at 100, 422 when not a positive integer) and
   cursor (read byte for byte from the raw query: 400 unless made for this
   kind of list; *before = 0 when absent or empty). */
int gw_param_paging(const gw_req *req, gw_reply *rep, const char *kind, int *limit,
                    int64_t *before);
/* The query parameter name, percent-decoded byte for byte from the raw
   request line (a NUL or any other byte included), into out (cap bytes,
   NUL-terminated after *len bytes): 1 when present, 0 when absent, -1 when
   its escapes are malformed or it does not fit. */
#define GW_MAX_CURSOR 128
int gw_query_raw(const gw_req *req, const char *name, char *out, size_t cap, size_t *len);
/* A string member of the body; required or optional (then *out = NULL when
   absent).  422 when present with another type. */
int gw_body_string(const gw_req *req, gw_reply *rep, const char *name, int required,
                   const char **out);
/* Maps a domain error to a reply ("unavailable" 503 and friends). */
void gw_reply_from_err(gw_reply *rep, int err);

#endif
