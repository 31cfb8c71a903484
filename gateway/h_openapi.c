/* h_openapi.c — GET /api/v1/openapi.json: the API's OpenAPI 3.1 document
   (gateway/openapi.json, embedded at build time), with a strong ETag so
   that a client holding the current one gets 304 without the body. */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chirp_error.h"
#include "handlers.h"
#include "openapi_doc.h"

#define ETAG_BYTES 16
static char etag[2 * ETAG_BYTES + 3]; /* "hex" with its quotes */
static pthread_once_t etag_once = PTHREAD_ONCE_INIT;

static void make_etag(void) {
  unsigned char h[ETAG_BYTES];
  crypto_generichash(h, sizeof h, gw_openapi_doc, gw_openapi_doc_len, NULL, 0);
  etag[0] = '"';
  sodium_bin2hex(etag + 1, sizeof etag - 1, h, sizeof h);
  etag[1 + 2 * ETAG_BYTES] = '"';
  etag[2 + 2 * ETAG_BYTES] = '\0';
}

/* Whether an If-None-Match value names our ETag ("*", or in a list, weak
   or strong: a GET compares weakly). */
static int matches(const char *inm) {
  return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

void h_openapi(gw_req *req, gw_reply *rep) {
  pthread_once(&etag_once, make_etag);
  rep->etag = etag;
  rep->cache_control = "no-cache";
  if (matches(u_map_get_case(req->u->map_header, "If-None-Match"))) {
    rep->status = 304;
    return;
  }
  rep->raw = malloc(gw_openapi_doc_len + 1);
  if (!rep->raw) return gw_reply_error(rep, CHIRP_ENOMEM, NULL, NULL, "out of memory");
  memcpy(rep->raw, gw_openapi_doc, gw_openapi_doc_len + 1);
  rep->raw_len = gw_openapi_doc_len;
  rep->status = 200;
}
