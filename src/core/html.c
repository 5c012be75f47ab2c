#include "byoc/html.h"

#include <string.h>

#include "byoc/banned.h"

enum byoc_err byoc_html_escape(struct byoc_buf *b, const char *s)
{
    enum byoc_err e = BYOC_ERR_OK;
    for (; !e && *s; s++) {
        size_t plain = strcspn(s, "&<>\"'");
        if (plain) {
            e = byoc_buf_append(b, s, plain);
            s += plain - 1;
            continue;
        }
        switch (*s) {
        case '&':
            e = byoc_buf_puts(b, "&amp;");
            break;
        case '<':
            e = byoc_buf_puts(b, "&lt;");
            break;
        case '>':
            e = byoc_buf_puts(b, "&gt;");
            break;
        case '"':
            e = byoc_buf_puts(b, "&quot;");
            break;
        default:
            e = byoc_buf_puts(b, "&#39;");
            break;
        }
    }
    return e;
}

static const char page_style[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
    "main{max-width:640px;margin:40px auto;background:#fff;border:1px solid #d8dce3;"
    "border-radius:8px;padding:24px 32px}"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:24px 0 8px}"
    "p.meta{color:#5b6475;font-size:14px;margin:0 0 16px}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:6px 8px;"
    "border-bottom:1px solid #eceef2;font-size:14px}"
    "label{display:block;font-weight:600;margin:16px 0 4px}"
    "input[type=text]{width:100%;box-sizing:border-box;padding:8px;font-size:15px;"
    "border:1px solid #b8bfcc;border-radius:4px}"
    "button{margin-top:16px;padding:9px 18px;font-size:15px;border:0;border-radius:4px;"
    "background:#1f5fd6;color:#fff;cursor:pointer}"
    ".error{border-left:4px solid #c62828;padding:8px 12px;background:#fdecea}"
    ".ok{border-left:4px solid #2e7d32;padding:8px 12px;background:#edf7ee}"
    "ol.turns{padding-left:20px}ol.turns p{margin:2px 0 12px;white-space:pre-wrap}"
    ".meta{color:#5b6475;font-size:14px}";

enum byoc_err byoc_html_begin(struct byoc_buf *b, const char *title)
{
    enum byoc_err e = byoc_buf_puts(b, "<!doctype html><html lang=\"en\"><head>"
                                       "<meta charset=\"utf-8\"><meta name=\"viewport\" "
                                       "content=\"width=device-width,initial-scale=1\"><title>");
    if (!e)
        e = byoc_html_escape(b, title);
    if (!e)
        e = byoc_buf_printf(b, " – byocd</title><style>%s</style></head><body><main><h1>",
                            page_style);
    if (!e)
        e = byoc_html_escape(b, title);
    return e ? e : byoc_buf_puts(b, "</h1>");
}

enum byoc_err byoc_html_end(struct byoc_buf *b)
{
    return byoc_buf_puts(b, "</main></body></html>\n");
}

char *byoc_html_message_page(const char *title, const char *message, size_t *len)
{
    struct byoc_buf b;
    byoc_buf_init(&b, 64 * 1024);
    enum byoc_err e = byoc_html_begin(&b, title);
    if (!e)
        e = byoc_buf_puts(&b, "<p class=\"error\">");
    if (!e)
        e = byoc_html_escape(&b, message);
    if (!e)
        e = byoc_buf_puts(&b, "</p>");
    if (!e)
        e = byoc_html_end(&b);
    if (e) {
        byoc_buf_release(&b);
        return NULL;
    }
    return byoc_buf_steal(&b, len);
}
