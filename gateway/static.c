/* static.c — the web client's files: lookup, cache, ETag, gzip and the
   security headers of every answer.  See static.h. */
#include "static.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "chirp_log.h"

/* No file of the client is near this; a bigger one is refused, not cached. */
#define MAX_FILE (16 * 1024 * 1024)
/* Below this gzip saves less than its header costs. */
#define GZIP_MIN 256

/* What every HTML answer may do: its own scripts, styles and connections
   only, nothing inline, no framing.  img-src allows https: for avatar_url. */
static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

typedef struct file {
  char *rel; /* path below the root, e.g. "js/api.js" */
  char *body;
  size_t len;
  char *gz; /* gzipped body, or NULL when it would not be smaller */
  size_t gz_len;
  char etag[2 + 32 + 1];    /* "hex" */
  char gz_etag[2 + 35 + 1]; /* "hex-gz" */
  const char *type;
  struct timespec mtime;
  off_t size;
  struct file *next;
} file;

static char root[PATH_MAX]; /* resolved; "" = no web folder */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static file *files;

static const struct {
  const char *ext, *type;
  int compress;
} types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".map", "application/json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".png", "image/png", 0},
    {".ico", "image/x-icon", 0},
    {".woff2", "font/woff2", 0},
};

static const char *type_of(const char *rel, int *compress) {
  size_t n = strlen(rel);
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    size_t e = strlen(types[i].ext);
    if (n > e && strcasecmp(rel + n - e, types[i].ext) == 0) {
      *compress = types[i].compress;
      return types[i].type;
    }
  }
  *compress = 0;
  return "application/octet-stream";
}

static int usable_dir(const char *dir) {
  struct stat st;
  return realpath(dir, root) && stat(root, &st) == 0 && S_ISDIR(st.st_mode);
}

int gw_static_init(void) {
  const char *env = getenv("CHIRP_WEB_ROOT");
  char exe[PATH_MAX], cand[PATH_MAX + 32];
  ssize_t n;
  if (env && *env) {
    if (!usable_dir(env)) {
      chirp_warn("CHIRP_WEB_ROOT=%s is not a folder: no web client", env);
      root[0] = '\0';
    }
  } else if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(cand, sizeof cand, "%s/web", exe);
    if (!usable_dir(cand)) {
      snprintf(cand, sizeof cand, "%s/../share/chirp/web", exe);
      if (!usable_dir(cand)) root[0] = '\0';
    }
  }
  if (root[0]) chirp_info("web client from %s", root);
  else chirp_warn("no web folder found (set CHIRP_WEB_ROOT): / answers 404");
  return 0;
}

static void file_free(file *f) {
  if (!f) return;
  free(f->rel);
  free(f->body);
  free(f->gz);
  free(f);
}

void gw_static_cleanup(void) {
  pthread_mutex_lock(&mu);
  while (files) {
    file *next = files->next;
    file_free(files);
    files = next;
  }
  pthread_mutex_unlock(&mu);
}

/* A path the API owns (its JSON 404 stays). */
static int api_path(const char *p) {
  static const char *const owned[] = {"/api", "/healthz", "/readyz", "/metrics"};
  for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
    size_t n = strlen(owned[i]);
    if (strncmp(p, owned[i], n) == 0 && (p[n] == '\0' || p[n] == '/')) return 1;
  }
  return 0;
}

/* A path below the root made only of plain segments: letters, digits, "-",
   "_", "." and "@", no empty, hidden ("."-led) or ".." segment. */
static int plain_path(const char *rel) {
  const char *seg = rel;
  for (const char *p = rel;; p++) {
    if (*p == '/' || *p == '\0') {
      if (p == seg || *seg == '.') return 0;
      if (*p == '\0') return 1;
      seg = p + 1;
      continue;
    }
    unsigned char c = (unsigned char)*p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == '@'))
      return 0;
  }
}

/* Any "." or ".." segment, or a byte no URL path needs: refused outright. */
static int hostile_path(const char *p) {
  if (strchr(p, '\\')) return 1;
  for (const char *s = p; (s = strstr(s, "/.")) != NULL; s++)
    if (s[2] == '\0' || s[2] == '/' || (s[2] == '.' && (s[3] == '\0' || s[3] == '/'))) return 1;
  for (; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return 1;
  return 0;
}

/* A page of the client, not a missing asset: no "." in its last segment. */
static int page_path(const char *p) {
  const char *last = strrchr(p, '/');
  return !strchr(last ? last + 1 : p, '.');
}

/* Sets f->gz when gzip makes the body smaller; on any failure the file is
   simply served as it is. */
static void gzip_body(file *f) {
  z_stream z = {0};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return;
  uLong cap = deflateBound(&z, (uLong)f->len);
  f->gz = malloc(cap);
  int ok = 0;
  if (f->gz) {
    z.next_in = (Bytef *)f->body;
    z.avail_in = (uInt)f->len;
    z.next_out = (Bytef *)f->gz;
    z.avail_out = (uInt)cap;
    ok = deflate(&z, Z_FINISH) == Z_STREAM_END;
  }
  if (ok && z.total_out < f->len) {
    f->gz_len = z.total_out;
  } else {
    free(f->gz);
    f->gz = NULL;
  }
  deflateEnd(&z);
}

/* Reads rel (below the root, already checked) into a new file; NULL when it
   is not a regular file inside the root or cannot be read. */
static file *file_load(const char *rel, const struct stat *st) {
  char path[PATH_MAX + 1];
  if (st->st_size > MAX_FILE) return NULL;
  if (snprintf(path, sizeof path, "%s/%s", root, rel) >= (int)sizeof path) return NULL;
  FILE *in = fopen(path, "rb");
  if (!in) return NULL;
  file *f = calloc(1, sizeof *f);
  size_t want = (size_t)st->st_size;
  if (f) {
    f->rel = strdup(rel);
    f->body = malloc(want ? want : 1);
  }
  if (!f || !f->rel || !f->body || fread(f->body, 1, want, in) != want) {
    fclose(in);
    file_free(f);
    return NULL;
  }
  fclose(in);
  f->len = want;
  f->size = st->st_size;
  f->mtime = st->st_mtim;
  int compress;
  f->type = type_of(rel, &compress);
  unsigned char h[16];
  crypto_generichash(h, sizeof h, (const unsigned char *)f->body, f->len, NULL, 0);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  snprintf(f->etag, sizeof f->etag, "\"%s\"", hex);
  snprintf(f->gz_etag, sizeof f->gz_etag, "\"%s-gz\"", hex);
  if (compress && f->len >= GZIP_MIN) gzip_body(f);
  return f;
}

/* The cached file for rel, loaded or reloaded as needed.  Called with mu
   held; the answer stays valid while it is. */
static file *file_get(const char *rel) {
  char path[PATH_MAX + 1], real[PATH_MAX];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s", root, rel) >= (int)sizeof path) return NULL;
  /* A link inside the folder must not lead out of it. */
  size_t rn = strlen(root);
  if (!realpath(path, real) || strncmp(real, root, rn) != 0 || real[rn] != '/') return NULL;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  file **at = &files;
  while (*at && strcmp((*at)->rel, rel) != 0) at = &(*at)->next;
  file *f = *at;
  if (f && f->size == st.st_size && f->mtime.tv_sec == st.st_mtim.tv_sec &&
      f->mtime.tv_nsec == st.st_mtim.tv_nsec)
    return f;
  file *nf = file_load(rel, &st);
  if (!nf) return NULL;
  if (f) {
    nf->next = f->next;
    file_free(f);
  }
  *at = nf;
  return nf;
}

/* Does Accept-Encoding allow gzip (a "gzip" token whose q is not 0)? */
static int accepts_gzip(const char *ae) {
  for (const char *p = ae; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    size_t n = strcspn(p, ",;");
    while (n && p[n - 1] == ' ') n--;
    int gz = n == 4 && strncasecmp(p, "gzip", 4) == 0;
    const char *end = p + strcspn(p, ",");
    if (gz) {
      const char *q = memchr(p, ';', (size_t)(end - p));
      if (!q) return 1;
      q++;
      while (*q == ' ') q++;
      return !(strncasecmp(q, "q=", 2) == 0 && strtod(q + 2, NULL) <= 0.0);
    }
    p = end;
  }
  return 0;
}

/* Does If-None-Match name etag (or "*")? */
static int etag_matches(const char *inm, const char *etag) {
  return inm && (strstr(inm, etag) || strcmp(inm, "*") == 0);
}

static void answer(struct _u_response *resp, const file *f, const struct _u_request *req) {
  const char *ae = u_map_get_case(req->map_header, "Accept-Encoding");
  int gz = f->gz && accepts_gzip(ae);
  const char *etag = gz ? f->gz_etag : f->etag;
  if (etag_matches(u_map_get_case(req->map_header, "If-None-Match"), etag)) {
    resp->status = 304;
  } else {
    if (ulfius_set_binary_body_response(resp, 200, gz ? f->gz : f->body, gz ? f->gz_len : f->len) !=
        U_OK) {
      resp->status = 503; /* out of memory: no half answer */
      return;
    }
    u_map_put(resp->map_header, "Content-Type", f->type);
    if (gz) u_map_put(resp->map_header, "Content-Encoding", "gzip");
  }
  u_map_put(resp->map_header, "ETag", etag);
  if (f->gz) u_map_put(resp->map_header, "Vary", "Accept-Encoding");
  /* No file name carries a content hash, so each use revalidates (a 304 is
     a few bytes); the vendored docs bundle changes only with the set-up. */
  u_map_put(resp->map_header, "Cache-Control",
            strncmp(f->rel, "docs/vendor/", 12) == 0 ? "public, max-age=86400" : "no-cache");
  u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
  u_map_put(resp->map_header, "Referrer-Policy", "same-origin");
  if (strncmp(f->type, "text/html", 9) == 0)
    u_map_put(resp->map_header, "Content-Security-Policy", csp);
}

int gw_static_answer(const struct _u_request *req, struct _u_response *resp) {
  const char *p = req->url_path;
  if (!root[0] || !p || p[0] != '/' || api_path(p) || hostile_path(p)) return 0;
  if (strcmp(req->http_verb, "GET") != 0 && strcmp(req->http_verb, "HEAD") != 0) return 0;
  char rel[PATH_MAX];
  const char *r = p + 1;
  size_t n = strlen(r);
  if (n >= sizeof rel - 16) return 0;
  memcpy(rel, r, n + 1);
  while (n && rel[n - 1] == '/') rel[--n] = '\0';
  int done = 0;
  pthread_mutex_lock(&mu);
  file *f = NULL;
  if (n == 0) {
    f = file_get("index.html");
  } else if (plain_path(rel)) {
    f = file_get(rel);
    if (!f) { /* a folder: its index.html */
      memcpy(rel + n, "/index.html", 12);
      f = file_get(rel);
      rel[n] = '\0';
    }
  }
  if (!f && n && page_path(p)) f = file_get("index.html");
  if (f) {
    answer(resp, f, req);
    done = 1;
  }
  pthread_mutex_unlock(&mu);
  if (done) chirp_debug("GET %s %d (static)", p, (int)resp->status);
  return done;
}
