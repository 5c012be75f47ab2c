/* Outbound HTTP(S) calls: the only user of libcurl. Blocking; call it from worker threads,
 * never from the HTTP thread. Only http and https, no redirects, capped responses. */
#ifndef BYOC_OUTBOUND_H
#define BYOC_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_out_req {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *url;
    const char *content_type; /* of body; NULL if none */
    const char *body;         /* may be NULL */
    size_t body_len;
    const char *bearer;     /* adds Authorization: Bearer; NULL if none */
    const char *basic_user; /* HTTP Basic when both set */
    const char *basic_password;
    long connect_timeout_ms; /* 0: BYOC_OUT_CONNECT_TIMEOUT_MS */
    long total_timeout_ms;   /* 0: BYOC_OUT_TOTAL_TIMEOUT_MS */
    size_t max_response;     /* 0: BYOC_OUT_RESPONSE_MAX */
    bool deny_link_local;    /* refuse link-local, unspecified and multicast addresses
                                (cloud metadata endpoints) at connect time */
};

struct byoc_out_resp {
    long status;
    char *body; /* NUL-terminated, never NULL after success */
    size_t body_len;
    long retry_after_s; /* -1 when absent */
};

/* Once per process, before threads start; false on failure. */
bool byoc_out_global_init(void);
void byoc_out_global_cleanup(void);

/* Performs the request. Any HTTP status is success here (the caller judges it).
 * Errors: UPSTREAM_TIMEOUT, UPSTREAM_NET, TOO_LARGE (response over cap), INVALID (bad URL),
 * FORBIDDEN (deny_link_local refused the address), NOMEM.
 * resp is the caller's; release it with byoc_out_resp_release. */
BYOC_MUST_USE enum byoc_err byoc_out_do(const struct byoc_out_req *req, struct byoc_out_resp *resp);
void byoc_out_resp_release(struct byoc_out_resp *resp);

#endif
