/* Shared inside src/http/ only. */
#ifndef BYOC_HTTP_INTERNAL_H
#define BYOC_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <microhttpd.h>

#include "byoc/buf.h"
#include "byoc/http.h"
#include "byoc/limits.h"
#include "byoc/netaddr.h"

#define HTTP_MAX_REPLY_HEADERS 8
#define HTTP_MAX_FORM_FIELDS 64
#define HTTP_SUSPEND_DRAIN_MS 30000 /* stop waits this long for parked requests */
#define HTTP_INFLIGHT_DRAIN_MS 5000 /* and this long for answers to go out */
#define HTTP_NOMEM_BODY_MAX 256     /* the out-of-memory answer, built without the heap */
/* Route parameter names and values: values are parts of the path, names of the pattern. */
#define HTTP_PARAM_BUF_MAX (BYOC_HTTP_MAX_PATH + 1 + BYOC_HTTP_MAX_ROUTE_PARAMS * 64)

struct http_kv {
    char *key;
    char *value;
};

struct byoc_http {
    struct MHD_Daemon *d;
    struct byoc_http_config cfg;
    struct byoc_cidrs trusted; /* parsed cfg.trusted_proxies */
    int port;
    atomic_int suspended; /* parked requests whose continuation has not run yet */
    atomic_int inflight;  /* requests not yet completed */
    bool quiesced;
};

struct byoc_req {
    struct byoc_http *h;
    struct MHD_Connection *conn;
    const struct byoc_route *route;
    char method[8];
    char *path; /* path_buf, or NULL when the path is longer than BYOC_HTTP_MAX_PATH */
    char path_buf[BYOC_HTTP_MAX_PATH + 1];
    char id[BYOC_REQUEST_ID_MAX + 1];
    struct http_kv params[BYOC_HTTP_MAX_ROUTE_PARAMS]; /* point into param_buf */
    size_t nparams;
    char param_buf[HTTP_PARAM_BUF_MAX]; /* no heap: a failed copy would read as a 404 */
    size_t param_used;
    char allow[48]; /* methods of a path matched with another method (405) */
    char principal[BYOC_REQUEST_ID_MAX + 1];
    char remote[BYOC_IP_TEXT_MAX]; /* the client, see byoc_req_remote */
    char peer[BYOC_IP_TEXT_MAX];   /* the TCP peer when a proxy forwarded for someone else */
    const char *proto;             /* "http"/"https" from a trusted proxy, else NULL */
    struct byoc_buf body;
    bool body_overflow, body_done;
    cJSON *json;
    struct http_kv *form;
    size_t nform;
    void *ctx;
    void (*ctx_free)(void *);
    byoc_handler_fn cont;
    /* reply */
    bool replied, queued;
    int status;
    char *resp_body;
    size_t resp_len;
    char *resp_type;
    struct http_kv headers[HTTP_MAX_REPLY_HEADERS];
    size_t nheaders;
    bool nomem; /* a part of the reply could not be kept: 503 out_of_memory goes out instead */
    char nomem_body[HTTP_NOMEM_BODY_MAX];
    int64_t start_us; /* monotonic */
};

/* route.c: matches path against the table; fills params (percent-decoded by MHD already).
 * Returns the route, or NULL with *path_matched telling 405 from 404 and allow listing methods. */
const struct byoc_route *http_route_match(struct byoc_req *r, const struct byoc_route *routes,
                                          size_t n, bool *path_matched);
/* Frees params. */
void http_route_release(struct byoc_req *r);

/* request.c */
enum byoc_err http_form_parse(struct byoc_req *r, const char *s, size_t len);
void http_req_free(struct byoc_req *r);
/* Queues the stored reply with MHD if there is one and it is not queued yet. */
enum MHD_Result http_req_flush(struct byoc_req *r);

#endif
