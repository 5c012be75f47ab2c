/* Request accessors, form decoding, replies and the one error renderer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/html.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/util.h"
#include "http/http-internal.h"
#include "byoc/banned.h"

const char *byoc_req_method(const struct byoc_req *r)
{
    return r->method;
}

const char *byoc_req_path(const struct byoc_req *r)
{
    return r->path;
}

const char *byoc_req_id(const struct byoc_req *r)
{
    return r->id;
}

void *byoc_req_app(const struct byoc_req *r)
{
    return r->h->cfg.app;
}

static const char *kv_find(const struct http_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    }
    return NULL;
}

const char *byoc_req_param(const struct byoc_req *r, const char *name)
{
    return kv_find(r->params, r->nparams, name);
}

const char *byoc_req_query(const struct byoc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_text {
    char *dst;
    size_t cap, len;
    bool overflow;
};

/* Appends s percent-encoded (byoc_url_escape: all but RFC 3986 unreserved characters). */
static void query_put(struct query_text *q, const char *s)
{
    if (q->overflow || !s)
        return;
    if (!byoc_url_escape(s, q->dst + q->len, q->cap - q->len)) {
        q->overflow = true;
        return;
    }
    q->len += strlen(q->dst + q->len);
}

static void query_raw(struct query_text *q, char c)
{
    if (q->len + 1 >= q->cap)
        q->overflow = true;
    else
        q->dst[q->len++] = c;
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    struct query_text *q = cls;
    if (q->len > 0)
        query_raw(q, '&');
    query_put(q, key);
    if (value) {
        query_raw(q, '=');
        query_put(q, value);
    }
    return q->overflow ? MHD_NO : MHD_YES;
}

enum byoc_err byoc_req_query_string(const struct byoc_req *r, char *dst, size_t cap)
{
    if (cap == 0)
        return BYOC_ERR_TOO_LARGE;
    struct query_text q = {.dst = dst, .cap = cap};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    dst[q.overflow ? 0 : q.len] = '\0';
    return q.overflow ? BYOC_ERR_TOO_LARGE : BYOC_ERR_OK;
}

const char *byoc_req_header(const struct byoc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *byoc_req_body(const struct byoc_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return byoc_buf_str(&r->body);
}

const cJSON *byoc_req_json(const struct byoc_req *r)
{
    return r->json;
}

const char *byoc_req_form(const struct byoc_req *r, const char *name)
{
    return kv_find(r->form, r->nform, name);
}

const char *byoc_req_bearer(const struct byoc_req *r)
{
    const char *v = byoc_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncasecmp(v, "Bearer ", 7) != 0)
        return NULL;
    v += 7;
    while (*v == ' ')
        v++;
    return *v ? v : NULL;
}

const char *byoc_req_remote(const struct byoc_req *r)
{
    return r->remote;
}

void byoc_req_set_principal(struct byoc_req *r, const char *principal)
{
    if (!byoc_strlcpy(r->principal, principal, sizeof r->principal))
        r->principal[0] = '\0';
}

const char *byoc_req_principal(const struct byoc_req *r)
{
    return r->principal[0] ? r->principal : NULL;
}

void byoc_req_set_ctx(struct byoc_req *r, void *ctx, void (*free_fn)(void *))
{
    r->ctx = ctx;
    r->ctx_free = free_fn;
}

void *byoc_req_ctx(const struct byoc_req *r)
{
    return r->ctx;
}

void byoc_req_suspend(struct byoc_req *r, byoc_handler_fn cont)
{
    r->cont = cont;
    atomic_fetch_add(&r->h->suspended, 1);
    MHD_suspend_connection(r->conn);
}

void byoc_req_resume(struct byoc_req *r)
{
    MHD_resume_connection(r->conn);
}

enum byoc_err http_form_parse(struct byoc_req *r, const char *s, size_t len)
{
    const char *end = s + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        if (stop > s) {
            if (r->nform >= HTTP_MAX_FORM_FIELDS)
                return BYOC_ERR_INVALID;
            struct http_kv *grown = realloc(r->form, (r->nform + 1) * sizeof *grown);
            if (!grown)
                return BYOC_ERR_NOMEM;
            r->form = grown;
            const char *kend = eq ? eq : stop;
            struct http_kv *kv = &r->form[r->nform];
            kv->key = byoc_form_decode(s, (size_t)(kend - s));
            kv->value = eq ? byoc_form_decode(eq + 1, (size_t)(stop - eq - 1)) : strdup("");
            r->nform++;
            if (!kv->key || !kv->value)
                return BYOC_ERR_INVALID;
            /* A repeated name is refused (RFC 6749 section 3.2), as JSON intake refuses a
             * repeated member: which copy counts would depend on the reader. */
            if (kv_find(r->form, r->nform - 1, kv->key))
                return BYOC_ERR_INVALID;
        }
        s = stop + 1;
    }
    return BYOC_ERR_OK;
}

/* ---- replies ---- */

void byoc_reply_header(struct byoc_req *r, const char *name, const char *value)
{
    if (r->replied || r->nheaders >= HTTP_MAX_REPLY_HEADERS)
        return;
    struct http_kv *kv = &r->headers[r->nheaders];
    kv->key = strdup(name);
    kv->value = strdup(value);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        r->nomem = true; /* an answer without its header would be wrong, not just short */
        return;
    }
    r->nheaders++;
}

void byoc_reply(struct byoc_req *r, int status, const char *content_type, char *body, size_t len)
{
    if (r->replied) {
        free(body);
        return;
    }
    r->replied = true;
    r->status = status;
    r->resp_body = body;
    r->resp_len = body ? len : 0;
    r->resp_type = content_type ? strdup(content_type) : NULL;
    if (content_type && !r->resp_type)
        r->nomem = true;
}

void byoc_reply_json(struct byoc_req *r, int status, cJSON *json)
{
    char *text = json ? byoc_json_render(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        byoc_reply(r, 503, NULL, NULL, 0);
        r->nomem = true; /* http_req_flush answers without the heap */
        return;
    }
    byoc_reply(r, status, "application/json", text, strlen(text));
}

/* RFC 6749 5.2 codes; server-side failures are not blamed on the client. */
static const char *oauth_code(enum byoc_err err)
{
    int status = byoc_err_http_status(err);
    if (err == BYOC_ERR_UNAUTHORIZED || err == BYOC_ERR_TOKEN_INVALID)
        return "invalid_client";
    if (status == 503)
        return "temporarily_unavailable";
    return status >= 500 ? "server_error" : "invalid_request";
}

static void reply_error_json(struct byoc_req *r, int status, const char *code, const char *msg,
                             bool oauth)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && oauth) {
        ok = byoc_json_add_str(root, "error", code) &&
             byoc_json_add_str(root, "error_description", msg);
    } else if (ok) {
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        ok = e && byoc_json_add_str(e, "code", code) && byoc_json_add_str(e, "message", msg) &&
             byoc_json_add_str(root, "request_id", r->id);
    }
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_reply_json(r, status, root);
}

static const char *html_title(int status)
{
    if (status == 401 || status == 403)
        return "Access denied";
    if (status == 404)
        return "Not found";
    if (status >= 500)
        return "byocd could not finish this";
    return "Something is not right";
}

void byoc_reply_error(struct byoc_req *r, enum byoc_err err, const char *message)
{
    if (r->replied)
        return;
    int status = byoc_err_http_status(err);
    const char *msg = message ? message : byoc_strerror(err);
    if (status == 503 || status == 429) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", BYOC_STORE_RETRY_AFTER_S);
        byoc_reply_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (status == 405 && r->allow[0])
        byoc_reply_header(r, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum byoc_err_style style = r->route ? r->route->errors : BYOC_ERRSTYLE_JSON;
    if (style == BYOC_ERRSTYLE_HTML) {
        size_t len = 0;
        char *page = byoc_html_message_page(html_title(status), msg, &len);
        byoc_reply_header(r, "Content-Security-Policy", BYOC_HTML_CSP);
        byoc_reply(r, status, "text/html; charset=utf-8", page, len);
        r->nomem = r->nomem || !page;
        return;
    }
    if (style == BYOC_ERRSTYLE_OAUTH)
        reply_error_json(r, status, oauth_code(err), msg, true);
    else
        reply_error_json(r, status, byoc_err_name(err), msg, false);
}

void byoc_reply_redirect(struct byoc_req *r, const char *location)
{
    byoc_reply_header(r, MHD_HTTP_HEADER_LOCATION, location);
    byoc_reply(r, 303, NULL, NULL, 0);
}

/* ---- lifecycle ---- */

static void kv_free(struct http_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
}

void http_req_free(struct byoc_req *r)
{
    if (!r)
        return;
    if (r->ctx_free)
        r->ctx_free(r->ctx);
    http_route_release(r);
    kv_free(r->form, r->nform);
    free(r->form);
    kv_free(r->headers, r->nheaders);
    cJSON_Delete(r->json);
    byoc_buf_release(&r->body);
    free(r->resp_body);
    free(r->resp_type);
    free(r);
}

static bool add_headers(struct byoc_req *r, struct MHD_Response *resp)
{
    bool ok = MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
              MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
              MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") == MHD_YES;
    if (ok && r->resp_type)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type) == MHD_YES;
    for (size_t i = 0; ok && i < r->nheaders; i++)
        ok = MHD_add_response_header(resp, r->headers[i].key, r->headers[i].value) == MHD_YES;
    return ok;
}

/* The stored reply with every header, or NULL when memory ran out on the way. */
static struct MHD_Response *full_response(struct byoc_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->resp_len, r->resp_body ? r->resp_body : (void *)"",
        r->resp_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return NULL;
    r->resp_body = NULL; /* MHD owns it now */
    if (!add_headers(r, resp)) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

/* 503 out_of_memory in the route's error style, its body in the request (which outlives the
 * response: MHD reports the request complete only after the answer went out): a reply the
 * server could not keep whole goes out as this rather than as a wrong or headerless answer.
 * NULL when even this cannot be made; the connection is then closed. */
static struct MHD_Response *nomem_response(struct byoc_req *r)
{
    enum byoc_err_style style = r->route ? r->route->errors : BYOC_ERRSTYLE_JSON;
    const char *msg = byoc_strerror(BYOC_ERR_NOMEM), *type = "application/json";
    char *b = r->nomem_body;
    int n;
    if (style == BYOC_ERRSTYLE_OAUTH) {
        n = snprintf(b, sizeof r->nomem_body,
                     "{\"error\":\"temporarily_unavailable\",\"error_description\":\"%s\"}", msg);
    } else if (style == BYOC_ERRSTYLE_HTML) {
        type = "text/html; charset=utf-8";
        n = snprintf(b, sizeof r->nomem_body,
                     "<!doctype html><title>%s</title><p>%s. Please try again.</p>",
                     html_title(503), msg);
    } else {
        n = snprintf(b, sizeof r->nomem_body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"},\"request_id\":\"%s\"}",
                     byoc_err_name(BYOC_ERR_NOMEM), msg, r->id);
    }
    if (n < 0 || (size_t)n >= sizeof r->nomem_body)
        return NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, b, MHD_RESPMEM_PERSISTENT);
    char secs[16];
    snprintf(secs, sizeof secs, "%d", BYOC_STORE_RETRY_AFTER_S);
    bool ok = resp && MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs) == MHD_YES;
    if (!ok && resp) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    r->status = 503;
    return resp;
}

enum MHD_Result http_req_flush(struct byoc_req *r)
{
    /* With a continuation pending the request is parked: MHD calls the handler on resume only
     * while no response is queued, so queueing now would leave it parked for good. */
    if (!r->replied || r->queued || r->cont)
        return MHD_YES;
    struct MHD_Response *resp = r->nomem ? NULL : full_response(r);
    if (!resp)
        resp = nomem_response(r);
    if (!resp)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->queued = rc == MHD_YES;
    return rc;
}
