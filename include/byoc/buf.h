/* A growable byte buffer with a hard cap; always NUL-terminated. One owner: whoever inits it. */
#ifndef BYOC_BUF_H
#define BYOC_BUF_H

#include <stddef.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* bytes of content allowed; beyond: BYOC_ERR_TOO_LARGE */
};

void byoc_buf_init(struct byoc_buf *b, size_t max);
/* NOMEM or TOO_LARGE; on error the buffer is unchanged. */
BYOC_MUST_USE enum byoc_err byoc_buf_append(struct byoc_buf *b, const void *data, size_t len);
BYOC_MUST_USE enum byoc_err byoc_buf_puts(struct byoc_buf *b, const char *s);
BYOC_MUST_USE enum byoc_err byoc_buf_printf(struct byoc_buf *b, const char *fmt, ...)
    BYOC_PRINTF(2, 3);
/* Content as a string ("" when empty). Valid until the next append or release. */
const char *byoc_buf_str(const struct byoc_buf *b);
/* Hands the content to the caller (free()); the buffer is left empty. Never NULL unless NOMEM. */
char *byoc_buf_steal(struct byoc_buf *b, size_t *len);
void byoc_buf_release(struct byoc_buf *b);

#endif
