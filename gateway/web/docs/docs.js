// docs.js — starts Swagger UI (vendored by deploy/install-deps.sh) on the
// gateway's own OpenAPI document.  A file of its own, so the page needs no
// inline script under the Content-Security-Policy.
window.addEventListener('DOMContentLoaded', () => {
  if (typeof window.SwaggerUIBundle !== 'function') {
    document.getElementById('docs-missing').hidden = false;
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: '/api/v1/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: 'none', // never ask another host to validate the document
  });
});
