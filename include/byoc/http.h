/* The HTTP edge: the only user of libmicrohttpd. Routes are data (struct byoc_route); handlers
 * see struct byoc_req and the reply functions below, never MHD.
 *
 * Threads: handlers and continuations run on the HTTP thread and must not block. Blocking work
 * goes to another thread after byoc_req_suspend(); that thread calls byoc_req_resume() as its
 * very last touch of the request, and the continuation then runs on the HTTP thread. */
#ifndef BYOC_HTTP_H
#define BYOC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_req;
struct byoc_http;

typedef void (*byoc_handler_fn)(struct byoc_req *req);

enum byoc_body_kind {
    BYOC_BODY_NONE,         /* any body is ignored */
    BYOC_BODY_JSON,         /* application/json, parsed strictly before the handler */
    BYOC_BODY_JSON_OR_FORM, /* either; JSON parsed, form decoded */
    BYOC_BODY_FORM,         /* application/x-www-form-urlencoded, decoded */
    BYOC_BODY_RAW,          /* any type, kept as bytes */
};

/* How errors detected before or by the handler are rendered. */
enum byoc_err_style {
    BYOC_ERRSTYLE_JSON,  /* {"error":{"code","message"},"request_id"} */
    BYOC_ERRSTYLE_OAUTH, /* RFC 6749 §5.2 {"error","error_description"} */
    BYOC_ERRSTYLE_HTML,  /* a plain self-contained page, for browsers */
};

struct byoc_route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE"; "*" matches any */
    const char *pattern; /* "/a/{name}/b"; a final "{*}" segment matches the rest */
    byoc_handler_fn handler;
    int auth; /* policy, interpreted by byoc_http_config.authorize_or_reply */
    enum byoc_body_kind body;
    size_t max_body;
    enum byoc_err_style errors;
    bool secret_path; /* the path holds a credential: the log shows the pattern instead */
};

struct byoc_http_config {
    const char *host;
    int port; /* 0: any free port */
    unsigned max_connections;
    unsigned idle_timeout_s;
    const struct byoc_route *routes; /* first match wins */
    size_t nroutes;
    /* Runs before the body is read; returns false after replying (e.g. 401). */
    bool (*authorize_or_reply)(struct byoc_req *req, int policy);
    void *app; /* handed to handlers through byoc_req_app */
    /* Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (BYOCD_TRUSTED_PROXIES
     * syntax); NULL or empty: none. */
    const char *trusted_proxies;
    const char *log_module;     /* the access log's module; NULL: "http" */
    const char *listen_setting; /* what sets host:port, named when it cannot listen;
                                   NULL: "BYOCD_LISTEN" */
    bool no_metrics;       /* another server in byocd's process (the sandbox): not in /metrics */
    bool access_log_debug; /* access lines at debug level, not info (the sandbox's helpers) */
};

BYOC_MUST_USE enum byoc_err byoc_http_start(const struct byoc_http_config *cfg,
                                            struct byoc_http **out, char *why, size_t why_cap);
int byoc_http_port(const struct byoc_http *h);
/* Stops accepting new connections; requests in progress go on. NULL ok. */
void byoc_http_quiesce(struct byoc_http *h);
/* Quiesces, waits (bounded) for parked requests to be resumed and answered, stops. Stop the
 * threads that resume requests (tasks) after quiesce and before this. If requests are still
 * parked after the wait, the daemon is left running (stopping it would be undefined) and freed
 * with the process. NULL ok. */
BYOC_MUST_USE bool byoc_http_stop(struct byoc_http *h); /* false: requests left parked */

/* ---- request ---- */
const char *byoc_req_method(const struct byoc_req *r);
const char *byoc_req_path(const struct byoc_req *r);
const char *byoc_req_id(const struct byoc_req *r);
void *byoc_req_app(const struct byoc_req *r);
/* {name} from the route pattern, percent-decoded; NULL if none. */
const char *byoc_req_param(const struct byoc_req *r, const char *name);
const char *byoc_req_query(const struct byoc_req *r, const char *name);
/* The whole query string without '?', names and values percent-encoded again (RFC 3986
 * unreserved characters stay as they are), in the order received; "" when none.
 * Errors: TOO_LARGE when it does not fit in cap (dst is then ""). */
BYOC_MUST_USE enum byoc_err byoc_req_query_string(const struct byoc_req *r, char *dst, size_t cap);
const char *byoc_req_header(const struct byoc_req *r, const char *name);
/* Raw body (NUL-terminated) and its length; "" when none. */
const char *byoc_req_body(const struct byoc_req *r, size_t *len);
/* Parsed JSON body (BYOC_BODY_JSON*) or NULL when the body was empty or a form. */
const cJSON *byoc_req_json(const struct byoc_req *r);
/* Decoded form field (BYOC_BODY_FORM, BYOC_BODY_JSON_OR_FORM); NULL if absent. */
const char *byoc_req_form(const struct byoc_req *r, const char *name);
/* The bearer token of an "Authorization: Bearer" header, or NULL. */
const char *byoc_req_bearer(const struct byoc_req *r);
/* Who the authorization step found (e.g. a provider id); copied; logged with the request. */
void byoc_req_set_principal(struct byoc_req *r, const char *principal);
const char *byoc_req_principal(const struct byoc_req *r); /* NULL when none */
/* The client's address: the TCP peer, or the address a trusted proxy forwarded ("" if unknown). */
const char *byoc_req_remote(const struct byoc_req *r);
/* Handler state freed by free_fn when the request completes (one owner, one free point). */
void byoc_req_set_ctx(struct byoc_req *r, void *ctx, void (*free_fn)(void *));
void *byoc_req_ctx(const struct byoc_req *r);

/* ---- async ---- */
/* Parks the request; cont runs on the HTTP thread after byoc_req_resume. HTTP thread only. */
void byoc_req_suspend(struct byoc_req *r, byoc_handler_fn cont);
/* Any thread, once per suspend. */
void byoc_req_resume(struct byoc_req *r);

/* ---- reply (exactly one per request; later calls are ignored) ---- */
/* Adds a response header (copied). At most 8 per response. */
void byoc_reply_header(struct byoc_req *r, const char *name, const char *value);
/* Takes ownership of body (malloc'd, may be NULL when len is 0). */
void byoc_reply(struct byoc_req *r, int status, const char *content_type, char *body, size_t len);
/* Takes ownership of json (cJSON_Delete). NULL json replies 503 out_of_memory. */
void byoc_reply_json(struct byoc_req *r, int status, cJSON *json);
/* Renders err in the route's style; message NULL uses byoc_strerror(err). 503/429 get
 * Retry-After. */
void byoc_reply_error(struct byoc_req *r, enum byoc_err err, const char *message);
/* 303 See Other to location. */
void byoc_reply_redirect(struct byoc_req *r, const char *location);

#endif
