/* Process-wide counters and histograms for GET /metrics (Prometheus text format 0.0.4).
 * Recording is lock-free (relaxed atomics) and allocation-free, from any thread. */
#ifndef BYOC_METRICS_H
#define BYOC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byoc/buf.h"
#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_route;
struct byoc_store_stats;
struct byoc_backlog;

/* Routes the HTTP counters can tell apart; more are counted as the last one. */
#define BYOC_METRICS_ROUTES_MAX 64

/* One answered request: route_index into the route table (-1: no route matched), the status
 * sent (0: none), and how long it took in microseconds. */
void byoc_metrics_http(int route_index, int status, int64_t dur_us);

/* One call to CXone: endpoint is one of the labels of byoc_metrics_cxone_endpoints (another
 * string counts as "other"); status 0 when no answer came. */
void byoc_metrics_cxone(const char *endpoint, long status, int64_t dur_us);
void byoc_metrics_token_refresh(bool ok);

enum byoc_metrics_attempt {
    BYOC_ATTEMPT_DELIVERED,
    BYOC_ATTEMPT_FAILED,      /* will be retried */
    BYOC_ATTEMPT_GONE,        /* 410: the subscription is disabled */
    BYOC_ATTEMPT_DEADLINE,    /* failed and out of time: dead */
    BYOC_ATTEMPT_INTERRUPTED, /* cut short by a stop */
    BYOC_ATTEMPT_RESULTS
};
void byoc_metrics_webhook_attempt(enum byoc_metrics_attempt result, int64_t dur_us);

/* The whole exposition: the recorded metrics with route labels from routes, and the store's
 * statistics and backlog (either may be NULL when it could not be read). */
BYOC_MUST_USE enum byoc_err byoc_metrics_render(struct byoc_buf *out,
                                                const struct byoc_route *routes, size_t nroutes,
                                                const struct byoc_store_stats *store,
                                                const struct byoc_backlog *backlog);

/* Notes the process start time; call once at start. */
void byoc_metrics_init(void);

/* For tests: back to zero. */
void byoc_metrics_reset(void);

#endif
