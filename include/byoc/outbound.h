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
    bool deny_private;      /* also loopback, RFC 1918, CGNAT, unique-local: any address that is not
                               public (OWASP SSRF); proxies from the environment are ignored */
    bool truncate_response; /* keep the first max_response bytes, drop the rest (no error) */
    bool no_proxy;          /* ignore proxies from the environment (implied by deny_private) */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const char *metric; /* CXone endpoint label for /metrics (byoc_metrics_cxone); NULL: none */
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

/* Checks a URL a tenant wants byocd to call later: http or https, a host, no user:password, no
 * fragment, at most BYOC_URL_MAX bytes; unless allow_private, a host that is a literal
 * non-public address (in any notation curl accepts) or "localhost" is refused (the resolved
 * address is checked again at connect time with deny_private). INVALID with why. */
BYOC_MUST_USE enum byoc_err byoc_out_url_check(const char *url, bool allow_private, char *why,
                                               size_t why_cap);

/* ---- many transfers at once (libcurl multi): one thread drives them all, connections to the
 * same host are reused. Not thread-safe except byoc_out_multi_wakeup. ---- */
struct byoc_out_multi;

struct byoc_out_done {
    void *user;
    enum byoc_err err; /* as byoc_out_do */
    long status;
    long retry_after_s; /* -1 when absent */
    const char *body;   /* the (capped) response body, NUL-terminated; valid during the call */
};

/* max_per_host: connections at once to one host (more transfers wait for one). */
BYOC_MUST_USE enum byoc_err byoc_out_multi_new(long max_per_host, struct byoc_out_multi **out);
/* Aborts what is running (no callbacks). NULL ok. */
void byoc_out_multi_free(struct byoc_out_multi *m);
/* Starts req; everything req points to (url, body, headers) must stay valid until its
 * completion is reported. Errors: NOMEM. */
BYOC_MUST_USE enum byoc_err byoc_out_multi_add(struct byoc_out_multi *m,
                                               const struct byoc_out_req *req, void *user);
/* Moves the transfers on, waiting at most timeout_ms for network activity or a wakeup, and
 * calls done once for each transfer that finished. */
void byoc_out_multi_run(struct byoc_out_multi *m, int timeout_ms,
                        void (*done)(void *ctx, const struct byoc_out_done *d), void *ctx);
/* Stops every transfer still running and reports each to done with err SHUTTING_DOWN. */
void byoc_out_multi_abort(struct byoc_out_multi *m,
                          void (*done)(void *ctx, const struct byoc_out_done *d), void *ctx);
/* Transfers added and not yet reported. */
size_t byoc_out_multi_count(const struct byoc_out_multi *m);
/* Makes a waiting byoc_out_multi_run return now. Any thread. */
void byoc_out_multi_wakeup(struct byoc_out_multi *m);

#endif
