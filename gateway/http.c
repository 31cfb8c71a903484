/* http.c — the request pipeline shared by every route, see http.h. */
#include "http.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chirp_account.h"
#include "chirp_cursor.h"
#include "chirp_error.h"
#include "chirp_id.h"
#include "chirp_log.h"
#include "chirp_num.h"
#include "chirp_time.h"
#include "adminlog.h"
#include "chirp_pg.h"
#include "guard.h"
#include "gw.h"
#include "lcache.h"
#include "router.h"
#include "session_cache.h"
#include "static.h"

void gw_reply_json(gw_reply *rep, int status, json_t *body) {
  rep->status = status;
  json_decref(rep->json);
  rep->json = body;
}

void gw_reply_error(gw_reply *rep, int err, const char *code, const char *field,
                    const char *fmt, ...) {
  rep->status = chirp_err_status(err);
  rep->err = err;
  rep->err_code = code;
  rep->err_field = field;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rep->err_msg, sizeof rep->err_msg, fmt, ap);
  va_end(ap);
}

void gw_reply_from_err(gw_reply *rep, int err) {
  switch (err) {
    case CHIRP_EUNAVAILABLE:
      gw_reply_error(rep, err, NULL, NULL, "a backing service is unavailable; retry shortly");
      break;
    case CHIRP_ETIMEDOUT:
      gw_reply_error(rep, err, NULL, NULL, "a backing service did not answer in time; retry");
      break;
    default:
      gw_reply_error(rep, err, NULL, NULL, "%s", chirp_strerror(err));
  }
}

void gw_reply_list(gw_reply *rep, const gw_req *req, json_t *items, const char *next_cursor,
                   int limit) {
  json_t *body = json_object();
  json_object_set_new(body, "items", items);
  json_object_set_new(body, "next_cursor", next_cursor ? json_string(next_cursor) : json_null());
  gw_reply_json(rep, 200, body);
  if (next_cursor)
    snprintf(rep->link, sizeof rep->link, "<%s?limit=%d&cursor=%s>; rel=\"next\"",
             req->u->url_path, limit, next_cursor);
}

int gw_param_id(const gw_req *req, gw_reply *rep, const char *name, int64_t *out) {
  const char *v = u_map_get(req->u->map_url, name);
  if (!v || chirp_id_parse(v, out) != 0) {
    gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, name, "no resource has the id \"%.40s\"",
                   v ? v : "");
    return -1;
  }
  return 0;
}

int gw_param_paging(const gw_req *req, gw_reply *rep, const char *kind, int *limit,
                    int64_t *before) {
  const char *l = u_map_get(req->u->map_url, "limit");
  *limit = GW_DEFAULT_LIMIT;
  *before = 0;
  if (l) {
    char *end;
    long v = strtol(l, &end, 10);
    if (end == l || *end != '\0' || v <= 0) {
      gw_reply_error(rep, CHIRP_EINVAL, NULL, "limit", "limit must be a positive integer");
      return -1;
    }
    *limit = v > GW_MAX_LIMIT ? GW_MAX_LIMIT : (int)v;
  }
  /* The cursor is read from the raw query, not from the parsed map: the
     map holds C strings, so "cursor=%00" arrived there as "" (the first
     page) and "x%00y" as "x".  Every byte of the value counts. */
  char raw[GW_MAX_CURSOR];
  size_t len = 0;
  int found = gw_query_raw(req, "cursor", raw, sizeof raw, &len);
  if (found < 0 || (found > 0 && len > 0 && chirp_cursor_decode_len(raw, len, kind, before) != 0)) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "invalid_cursor", "cursor",
                   "the cursor is malformed or belongs to another list");
    return -1;
  }
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int gw_query_raw(const gw_req *req, const char *name, char *out, size_t cap, size_t *len) {
  const char *url = req->u->http_url, *q = url ? strchr(url, '?') : NULL;
  size_t nl = strlen(name);
  *len = 0;
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    const char *end = strchr(p, '&'), *stop = end ? end : p + strlen(p);
    const char *hash = memchr(p, '#', (size_t)(stop - p));
    if (hash) stop = hash;
    if ((size_t)(stop - p) >= nl && strncmp(p, name, nl) == 0 && (p[nl] == '=' || p + nl == stop)) {
      size_t o = 0;
      for (const char *v = p[nl] == '=' ? p + nl + 1 : stop; v < stop; v++) {
        int c = (unsigned char)*v;
        if (c == '%') {
          if (stop - v < 3 || hex_value(v[1]) < 0 || hex_value(v[2]) < 0) return -1;
          c = hex_value(v[1]) * 16 + hex_value(v[2]);
          v += 2;
        } else if (c == '+') {
          c = ' ';
        }
        if (o + 1 >= cap) return -1; /* longer than any valid value */
        out[o++] = (char)c;
      }
      out[o] = '\0';
      *len = o;
      return 1;
    }
    if (hash || !end) break;
    p = end + 1;
  }
  return 0;
}

int gw_body_string(const gw_req *req, gw_reply *rep, const char *name, int required,
                   const char **out) {
  json_t *v = json_object_get(req->body, name);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (!required) return 0;
    gw_reply_error(rep, CHIRP_EINVAL, "missing_field", name, "%s is required", name);
    return -1;
  }
  if (!json_is_string(v)) {
    gw_reply_error(rep, CHIRP_EINVAL, "wrong_type", name, "%s must be a string", name);
    return -1;
  }
  *out = json_string_value(v);
  return 0;
}

/* --- the pipeline --- */

static int is_json_type(const char *ct) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  if (strncasecmp(ct, "application/json", 16) != 0) return 0;
  return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* The API: request lines or headers over 8 KiB are 414/431.  (Far larger
   ones never reach us: libmicrohttpd refuses them by itself.) */
#define GW_MAX_LINE 8192
#define GW_MAX_HEADERS 8192

static int check_sizes(gw_req *req, gw_reply *rep) {
  if (req->u->http_url && strlen(req->u->http_url) > GW_MAX_LINE) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "uri_too_long", NULL, "the request line is over %d bytes",
                   GW_MAX_LINE);
    rep->err_status = 414;
    return -1;
  }
  size_t total = 0;
  const struct _u_map *h = req->u->map_header;
  for (int i = 0; h && i < h->nb_values; i++) total += strlen(h->keys[i]) + h->lengths[i] + 4;
  if (total > GW_MAX_HEADERS) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "headers_too_large", NULL, "the headers are over %d bytes",
                   GW_MAX_HEADERS);
    rep->err_status = 431;
    return -1;
  }
  return 0;
}

static int read_body(const gw_route *route, gw_req *req, gw_reply *rep) {
  const char *cl = u_map_get_case(req->u->map_header, "Content-Length");
  if (req->u->binary_body_length > GW_MAX_BODY || (cl && strtoll(cl, NULL, 10) > GW_MAX_BODY)) {
    gw_reply_error(rep, CHIRP_ETOOLARGE, NULL, NULL, "the body is larger than %d bytes",
                   GW_MAX_BODY);
    return -1;
  }
  if (!(route->flags & (GW_BODY | GW_BODY_OPTIONAL))) return 0;
  if ((route->flags & GW_BODY_OPTIONAL) && req->u->binary_body_length == 0) return 0;
  if (!is_json_type(u_map_get_case(req->u->map_header, "Content-Type"))) {
    gw_reply_error(rep, CHIRP_EMEDIATYPE, NULL, NULL,
                   "send the body as Content-Type: application/json");
    return -1;
  }
  json_error_t jerr;
  req->body = json_loadb(req->u->binary_body, req->u->binary_body_length,
                         JSON_REJECT_DUPLICATES, &jerr);
  if (!req->body) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "malformed_json", NULL, "invalid JSON at line %d: %s",
                   jerr.line, jerr.text);
    return -1;
  }
  if (!json_is_object(req->body)) {
    gw_reply_error(rep, CHIRP_EMALFORMED, "malformed_json", NULL,
                   "the body must be a JSON object");
    return -1;
  }
  return 0;
}

static const char *bearer(const struct _u_request *u) {
  const char *h = u_map_get_case(u->map_header, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
  h += 7;
  while (*h == ' ') h++;
  return *h ? h : NULL;
}

static int authenticate(const gw_route *route, gw_req *req, gw_reply *rep) {
  req->token = bearer(req->u);
  if (!req->token && (route->flags & GW_QUERY_TOKEN)) {
    const char *q = u_map_get(req->u->map_url, "access_token");
    req->token = q && *q ? q : NULL;
  }
  if (route->flags & GW_ADMIN) {
    size_t n = strlen(gw.cfg.admin_token);
    if (!req->token || n == 0 || strlen(req->token) != n ||
        sodium_memcmp(req->token, gw.cfg.admin_token, n) != 0) {
      gw_reply_error(rep, CHIRP_EUNAUTHORIZED, NULL, NULL, "the operator's admin token is required");
      return -1;
    }
    return 0;
  }
  if (!(route->flags & (GW_AUTH | GW_AUTH_OPTIONAL))) return 0;
  if (!req->token) {
    if (route->flags & GW_AUTH_OPTIONAL) return 0;
    gw_reply_error(rep, CHIRP_EUNAUTHORIZED, NULL, NULL,
                   "send Authorization: Bearer <token> (log in with POST /api/v1/sessions)");
    return -1;
  }
  redisContext *r = gw_redis();
  /* Held in the gateway, else Redis (and the copy held); PostgreSQL below. */
  int rc = gw_session_cached(r, req->token, &req->account_id);
  if (rc == CHIRP_ENOTFOUND || rc == CHIRP_EUNAVAILABLE) { /* not cached (or Redis down) */
    PGconn *pg = gw_pg();
    rc = pg ? chirp_session_lookup(r && !r->err ? r : NULL, pg, req->token, gw.cfg.cache_ttl_s,
                                   &req->account_id)
            : CHIRP_EUNAVAILABLE;
  }
  if (rc == CHIRP_EUNAUTHORIZED) {
    gw_reply_error(rep, rc, "invalid_token", NULL, "the token is unknown, expired or revoked");
    return -1;
  }
  if (rc) {
    gw_reply_from_err(rep, rc);
    return -1;
  }
  return 0;
}

/* Turns the reply into its final body (rep->raw), error bodies included. */
static void finalize(gw_reply *rep) {
  if (rep->raw) return; /* already final */
  if (rep->err) {
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(rep->err_code ? rep->err_code : chirp_err_code(rep->err)));
    json_object_set_new(e, "message", json_string(rep->err_msg));
    if (rep->err_field) json_object_set_new(e, "field", json_string(rep->err_field));
    gw_reply_json(rep, rep->err_status ? rep->err_status : chirp_err_status(rep->err),
                  json_pack("{s:o}", "error", e));
  }
  if (rep->status == 0) rep->status = 500;
  if (rep->stream) return; /* streamed, no body */
  if (!rep->raw && rep->json) {
    rep->raw = json_dumps(rep->json, JSON_COMPACT | JSON_REAL_PRECISION(6));
    rep->raw_len = rep->raw ? strlen(rep->raw) : 0;
    if (!rep->raw) rep->status = 500;
  }
}

static void write_reply(struct _u_response *resp, gw_reply *rep) {
  if (rep->stream) {
    if (ulfius_set_stream_response(resp, (unsigned)rep->status, rep->stream_read, rep->stream_free,
                                   U_STREAM_SIZE_UNKNOWN, 4096, rep->stream) != U_OK) {
      rep->stream_free(rep->stream);
      resp->status = 500;
    } else {
      u_map_put(resp->map_header, "Content-Type", "text/event-stream; charset=utf-8");
      u_map_put(resp->map_header, "Cache-Control", "no-cache");
      u_map_put(resp->map_header, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    }
    rep->stream = NULL;
  } else if (rep->raw) {
    ulfius_set_binary_body_response(resp, (unsigned)rep->status, rep->raw, rep->raw_len);
    u_map_put(resp->map_header, "Content-Type",
              rep->content_type ? rep->content_type : "application/json");
  } else {
    resp->status = (unsigned)rep->status;
  }
  if (rep->link[0]) u_map_put(resp->map_header, "Link", rep->link);
  char num[CHIRP_NUM_STRSZ];
  if (rep->retry_after > 0) {
    chirp_num_format(rep->retry_after, num);
    u_map_put(resp->map_header, "Retry-After", num);
  }
  if (rep->rl_limit > 0) {
    chirp_num_format(rep->rl_limit, num);
    u_map_put(resp->map_header, "X-RateLimit-Limit", num);
    chirp_num_format(rep->rl_remaining, num);
    u_map_put(resp->map_header, "X-RateLimit-Remaining", num);
    chirp_num_format(rep->rl_reset, num);
    u_map_put(resp->map_header, "X-RateLimit-Reset", num);
  }
  if (rep->replayed) u_map_put(resp->map_header, "Idempotent-Replayed", "true");
  if (rep->etag) u_map_put(resp->map_header, "ETag", rep->etag);
  if (rep->cache_control) u_map_put(resp->map_header, "Cache-Control", rep->cache_control);
}

/* Per route: answers by status class (1xx..5xx) and total microseconds. */
#define MAX_ROUTES 64
static const gw_route *route_table;
static _Atomic unsigned long long route_answers[MAX_ROUTES + 1][6];
static _Atomic unsigned long long route_micros[MAX_ROUTES + 1];
/* Latency histogram per route: upper bounds in microseconds (+Inf last). */
static const int64_t bucket_us[] = {1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])
static _Atomic unsigned long long route_buckets[MAX_ROUTES + 1][NBUCKETS + 1];

static void count(const gw_route *route, long status, int64_t micros) {
  size_t i = MAX_ROUTES; /* the JSON 404 of unknown paths */
  if (route_table && route >= route_table && route < route_table + MAX_ROUTES)
    i = (size_t)(route - route_table);
  int cls = status >= 100 && status < 600 ? (int)(status / 100) : 0;
  route_answers[i][cls]++;
  route_micros[i] += (unsigned long long)micros;
  size_t b = 0;
  while (b < NBUCKETS && micros > bucket_us[b]) b++;
  route_buckets[i][b]++; /* counted in its own bucket; cumulated when printed */
}

void gw_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (*buf && *len + (size_t)n < *cap) {
      *len += (size_t)n;
      return;
    }
    size_t ncap = (*cap ? *cap * 2 : 4096) + (size_t)n;
    char *nb = realloc(*buf, ncap);
    if (!nb) return;
    *buf = nb;
    *cap = ncap;
  }
}

void gw_http_metrics(char **buf, size_t *len, size_t *cap) {
  gw_appendf(buf, len, cap,
             "# HELP chirp_http_requests_total HTTP answers by route and status class.\n"
             "# TYPE chirp_http_requests_total counter\n");
  for (size_t i = 0; route_table && i <= MAX_ROUTES; i++) {
    const char *m = "ANY", *p = "unmatched";
    if (i < MAX_ROUTES) {
      if (!route_table[i].method) {
        i = MAX_ROUTES - 1; /* jump to the unmatched row */
        continue;
      }
      m = route_table[i].method;
      p = route_table[i].path;
    }
    for (int c = 1; c < 6; c++)
      if (route_answers[i][c])
        gw_appendf(buf, len, cap, "chirp_http_requests_total{method=\"%s\",route=\"%s\",status=\"%dxx\"} %llu\n",
                   m, p, c, (unsigned long long)route_answers[i][c]);
  }
  gw_appendf(buf, len, cap,
             "# HELP chirp_http_request_seconds_sum Time spent answering, by route.\n"
             "# TYPE chirp_http_request_seconds_sum counter\n");
  for (size_t i = 0; route_table && i < MAX_ROUTES && route_table[i].method; i++)
    if (route_micros[i])
      gw_appendf(buf, len, cap, "chirp_http_request_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
                 route_table[i].method, route_table[i].path, (double)route_micros[i] / 1e6);
  gw_appendf(buf, len, cap,
             "# HELP chirp_http_request_duration_seconds Answer latency, by route.\n"
             "# TYPE chirp_http_request_duration_seconds histogram\n");
  /* Buckets of every route, then the sums, then the counts: each sample
     name stays one group. */
  for (int part = 0; part < 3; part++) {
    for (size_t i = 0; route_table && i < MAX_ROUTES && route_table[i].method; i++) {
      if (!route_micros[i]) continue;
      const char *m = route_table[i].method, *p = route_table[i].path;
      unsigned long long cum = 0;
      for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += route_buckets[i][b];
        if (part != 0) continue;
        char le[24];
        if (b < NBUCKETS) snprintf(le, sizeof le, "%g", (double)bucket_us[b] / 1e6);
        else snprintf(le, sizeof le, "+Inf");
        gw_appendf(buf, len, cap,
                   "chirp_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%s\"} %llu\n",
                   m, p, le, cum);
      }
      if (part == 1)
        gw_appendf(buf, len, cap, "chirp_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
                   m, p, (double)route_micros[i] / 1e6);
      if (part == 2)
        gw_appendf(buf, len, cap, "chirp_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
                   m, p, cum);
    }
  }
}

static int dispatch(const struct _u_request *u, struct _u_response *resp, void *user_data) {
  const gw_route *route = user_data;
  int64_t t0 = chirp_time_mono_us();
  unsigned long q0 = chirp_pg_thread_queries();
  gw_req req = {.u = u};
  gw_reply rep = {0};
  gw_idem idem = {.secret = 0};
  gw_lcache_begin_request(); /* every change already answered to anyone is applied */
  /* Every API answer is counted against a budget, refusals included (so
     guessing tokens is limited too): by account when the token was good,
     else by address. */
  int sized = check_sizes(&req, &rep) == 0;
  int authed = sized && authenticate(route, &req, &rep) == 0;
  int allowed = sized && gw_guard_rate(route, &req, &rep) == 0;
  if (authed && allowed && read_body(route, &req, &rep) == 0 &&
      gw_guard_idem_begin(route, &req, &rep, &idem) == 0) {
    route->handler(&req, &rep);
    finalize(&rep);
    gw_guard_idem_end(&idem, rep.status, rep.raw, rep.raw_len);
  }
  finalize(&rep);
  write_reply(resp, &rep);
  gw_conns_check();
  int64_t micros = chirp_time_mono_us() - t0;
  count(route, (long)resp->status, micros);
  gw_adminlog_add(u->http_verb, u->url_path, (int)resp->status, micros,
                  chirp_pg_thread_queries() - q0, req.account_id);
  if (chirp_log_enabled(CHIRP_LOG_INFO)) {
    char acct[CHIRP_ID_STRSZ] = "-";
    if (req.account_id) chirp_id_format(req.account_id, acct);
    chirp_info("%s %s %ld %.3fms account=%s", u->http_verb, u->url_path, (long)resp->status,
               (double)(chirp_time_mono_us() - t0) / 1000.0, acct);
  }
  json_decref(req.body);
  json_decref(rep.json);
  free(rep.raw);
  return U_CALLBACK_COMPLETE;
}

static void not_found(gw_req *req, gw_reply *rep) {
  (void)req;
  gw_reply_error(rep, CHIRP_ENOTFOUND, NULL, NULL, "no such endpoint");
}

static const gw_route not_found_route = {"*", "*", not_found, 0};

/* Every request comes here and is matched against the table by
   gw_route_match: no endpoint is registered with ulfius, which would try
   each of them on every request (router.h).  Paths no route matches are
   the web client's files and pages, else the JSON 404. */
static int route_request(const struct _u_request *u, struct _u_response *resp, void *unused) {
  (void)unused;
  const gw_route *r = gw_route_match(route_table, u->http_verb, u->url_path, u->map_url);
  if (!r && gw_static_answer(u, resp)) return U_CALLBACK_COMPLETE;
  return dispatch(u, resp, (void *)(r ? r : &not_found_route));
}

int gw_http_register(struct _u_instance *u, const gw_route *routes) {
  route_table = routes;
  if (gw_router_prepare(routes)) chirp_warn("router: the route table is too big to prepare; matching the slow way");
  return ulfius_set_default_endpoint(u, route_request, NULL) == U_OK ? 0 : CHIRP_EINTERNAL;
}
