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

/* One plain stylesheet for every page: system fonts, no images, readable on a phone. */
static const char page_style[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
    "main{max-width:680px;margin:40px auto;background:#fff;border:1px solid #d8dce3;"
    "border-radius:8px;padding:24px 32px}"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px}"
    "p{margin:8px 0}a{color:#1f5fd6}"
    "p.meta{color:#5b6475;font-size:14px;margin:0 0 16px}"
    "p.foot{margin:28px 0 0;padding-top:12px;border-top:1px solid #eceef2}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:16px 0 8px;"
    "font-size:15px}dl.facts dt{color:#5b6475}dl.facts dd{margin:0;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:6px 8px;"
    "border-bottom:1px solid #eceef2;font-size:14px;vertical-align:top;overflow-wrap:anywhere}"
    "th{color:#5b6475;font-weight:600}"
    ".id{font-family:ui-monospace,monospace;font-size:13px}"
    ".state{display:inline-block;padding:0 8px;border-radius:10px;font-size:13px;"
    "white-space:nowrap;background:#eceef2;color:#3a4150}"
    ".state.on{background:#e3f2e5;color:#1b5e20}.state.warn{background:#fff1d6;color:#7a4300}"
    "label{display:block;font-weight:600;margin:16px 0 4px}"
    "input[type=text]{width:100%;box-sizing:border-box;padding:8px;font-size:15px;"
    "border:1px solid #8c95a6;border-radius:4px}"
    ".hint{color:#5b6475;font-size:14px;margin:4px 0 0}"
    ".actions{display:flex;flex-wrap:wrap;gap:12px 20px;align-items:center;margin-top:20px}"
    "button,a.button{display:inline-block;padding:9px 18px;font:inherit;font-size:15px;border:0;"
    "border-radius:4px;background:#1f5fd6;color:#fff;cursor:pointer;text-decoration:none}"
    "button:hover,a.button:hover{background:#174bb0}"
    ":focus-visible{outline:3px solid #8fb3f3;outline-offset:2px}"
    ".error{border-left:4px solid #c62828;padding:8px 12px;background:#fdecea}"
    ".ok{border-left:4px solid #2e7d32;padding:8px 12px;background:#edf7ee}"
    "ol.turns{padding-left:20px}ol.turns p{margin:2px 0 12px;white-space:pre-wrap}"
    ".meta{color:#5b6475;font-size:14px}"
    "@media (max-width:600px){main{margin:0;border:0;border-radius:0;padding:16px}}";

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
