/* openapi_doc.h — the OpenAPI document of /api/v1 (gateway/openapi.json),
   embedded in the binary at build time by embed.cmake. */
#ifndef GW_OPENAPI_DOC_H
#define GW_OPENAPI_DOC_H

#include <stddef.h>

/* The document's bytes (gw_openapi_doc_len of them, then a NUL). */
extern const unsigned char gw_openapi_doc[];
extern const size_t gw_openapi_doc_len;

#endif
