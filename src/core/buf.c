#include "byoc/buf.h"

#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "byoc/banned.h"

void byoc_buf_init(struct byoc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static enum byoc_err buf_reserve(struct byoc_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return BYOC_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return BYOC_ERR_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return BYOC_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_buf_append(struct byoc_buf *b, const void *data, size_t len)
{
    enum byoc_err e = buf_reserve(b, len);
    if (e)
        return e;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return BYOC_ERR_OK;
}

enum byoc_err byoc_buf_puts(struct byoc_buf *b, const char *s)
{
    return byoc_buf_append(b, s, strlen(s));
}

enum byoc_err byoc_buf_printf(struct byoc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BYOC_ERR_INTERNAL;
    enum byoc_err e = buf_reserve(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BYOC_ERR_OK;
}

const char *byoc_buf_str(const struct byoc_buf *b)
{
    return b->data ? b->data : "";
}

char *byoc_buf_steal(struct byoc_buf *b, size_t *len)
{
    char *p = b->data ? b->data : calloc(1, 1);
    if (len)
        *len = b->data ? b->len : 0;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void byoc_buf_release(struct byoc_buf *b)
{
    if (!b)
        return;
    free(b->data);
    byoc_buf_init(b, b->max);
}
