/* Small helpers for the self-contained HTML pages byocd serves to browsers. */
#ifndef BYOC_HTML_H
#define BYOC_HTML_H

#include "byoc/buf.h"

/* Appends s with &, <, >, " and ' escaped. */
BYOC_MUST_USE enum byoc_err byoc_html_escape(struct byoc_buf *b, const char *s);
/* Opens a page: doctype, title, inline stylesheet, header with the heading. */
BYOC_MUST_USE enum byoc_err byoc_html_begin(struct byoc_buf *b, const char *title);
BYOC_MUST_USE enum byoc_err byoc_html_end(struct byoc_buf *b);
/* A whole page with one heading and one paragraph (both escaped). NULL on NOMEM. */
char *byoc_html_message_page(const char *title, const char *message, size_t *len);

/* Content-Security-Policy of every page: nothing external, inline styles only, forms to self. */
#define BYOC_HTML_CSP BYOC_HTML_CSP_FORM_TO("")
/* The same, with more form targets (a string literal or "%s" for snprintf). */
#define BYOC_HTML_CSP_FORM_TO(extra)                                                               \
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" extra "; base-uri 'none'"

#endif
