/* The sandbox's web pages (src/sandbox/pages/), embedded at build time by embed_pages.py so the
 * binary serves them without files next to it. */
#ifndef BYOC_SANDBOX_PAGES_H
#define BYOC_SANDBOX_PAGES_H

#include <stddef.h>

struct byoc_page {
    const char *name; /* file name, e.g. "console.html" */
    const unsigned char *data;
    size_t len;
};

/* The page with this file name, or NULL. Static data; any thread. */
const struct byoc_page *byoc_page_find(const char *name);

#endif
