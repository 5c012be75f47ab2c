#include "byoc/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "byoc/http.h"
#include "byoc/store.h"
#include "byoc/util.h"
#include "byoc/banned.h"

/* Statuses counted by name; any other is counted as "other". */
static const int statuses[] = {0,   200, 201, 202, 204, 301, 302, 303, 304, 307,
                               308, 400, 401, 403, 404, 405, 408, 409, 410, 413,
                               414, 415, 422, 429, 431, 500, 501, 502, 503, 504};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1)

/* Latency bucket bounds in microseconds (Prometheus "le" in seconds). */
static const int64_t bounds_us[] = {500,    1000,   2500,    5000,    10000,   25000,   50000,
                                    100000, 250000, 1000000, 2500000, 5000000, 10000000};
#define NBOUNDS (sizeof bounds_us / sizeof bounds_us[0])

struct hist {
    atomic_uint_fast64_t le[NBOUNDS + 1]; /* non-cumulative; the last is +Inf only */
    atomic_uint_fast64_t sum_us;
};

#define ROUTE_SLOTS (BYOC_METRICS_ROUTES_MAX + 1) /* the last: no route matched */

static const char *const endpoints[] = {
    "token",          "discovery",     "ott_verification", "channels",      "messages", "threads",
    "sender_actions", "routing_queue", "attachments",      "skill_summary", "signal",   "other"};
#define NENDPOINTS (sizeof endpoints / sizeof endpoints[0])

static const char *const attempt_names[BYOC_ATTEMPT_RESULTS] = {"delivered", "failed", "gone",
                                                                "deadline", "interrupted"};

static struct {
    atomic_uint_fast64_t http[ROUTE_SLOTS][NSTATUS];
    struct hist http_lat[ROUTE_SLOTS];
    atomic_uint_fast64_t cxone[NENDPOINTS][NSTATUS];
    struct hist cxone_lat[NENDPOINTS];
    atomic_uint_fast64_t token_refresh[2]; /* error, ok */
    atomic_uint_fast64_t attempts[BYOC_ATTEMPT_RESULTS];
    struct hist attempt_lat;
} m;

static atomic_int_fast64_t started_at_ms;

static size_t status_slot(long status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++) {
        if (statuses[i] == status)
            return i;
    }
    return NSTATUS - 1;
}

static void observe(struct hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t i = 0;
    while (i < NBOUNDS && us > bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->le[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint_fast64_t)us, memory_order_relaxed);
}

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void byoc_metrics_http(int route_index, int status, int64_t dur_us)
{
    size_t slot = route_index < 0                          ? ROUTE_SLOTS - 1
                  : route_index >= BYOC_METRICS_ROUTES_MAX ? BYOC_METRICS_ROUTES_MAX - 1
                                                           : (size_t)route_index;
    count(&m.http[slot][status_slot(status)]);
    observe(&m.http_lat[slot], dur_us);
}

void byoc_metrics_cxone(const char *endpoint, long status, int64_t dur_us)
{
    size_t e = NENDPOINTS - 1;
    for (size_t i = 0; endpoint && i < NENDPOINTS; i++) {
        if (strcmp(endpoints[i], endpoint) == 0)
            e = i;
    }
    count(&m.cxone[e][status_slot(status)]);
    observe(&m.cxone_lat[e], dur_us);
}

void byoc_metrics_token_refresh(bool ok)
{
    count(&m.token_refresh[ok ? 1 : 0]);
}

void byoc_metrics_webhook_attempt(enum byoc_metrics_attempt result, int64_t dur_us)
{
    if ((int)result < 0 || result >= BYOC_ATTEMPT_RESULTS)
        return;
    count(&m.attempts[result]);
    observe(&m.attempt_lat, dur_us);
}

void byoc_metrics_init(void)
{
    atomic_store(&started_at_ms, byoc_now_ms());
}

void byoc_metrics_reset(void)
{
    /* Only for tests, with nothing recording meanwhile. */
    memset((void *)&m, 0, sizeof m);
    atomic_store(&started_at_ms, byoc_now_ms());
}

/* ---- exposition ---- */

struct out {
    struct byoc_buf *b;
    enum byoc_err e;
};

BYOC_PRINTF(2, 3) static void put(struct out *o, const char *fmt, ...)
{
    if (o->e)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        o->e = BYOC_ERR_INTERNAL;
    else
        o->e = byoc_buf_append(o->b, line, (size_t)n);
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void status_label(char *out, size_t cap, size_t slot)
{
    if (slot == NSTATUS - 1)
        snprintf(out, cap, "other");
    else if (statuses[slot] == 0)
        snprintf(out, cap, "none");
    else
        snprintf(out, cap, "%d", statuses[slot]);
}

/* One histogram series; labels is "" or `k="v",` (with the trailing comma). */
static void hist_put(struct out *o, const char *name, const char *labels, const struct hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += get(&h->le[i]);
        put(o, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double)bounds_us[i] / 1e6,
            (unsigned long long)cum);
    }
    cum += get(&h->le[NBOUNDS]);
    put(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
    size_t n = strlen(labels);
    char plain[256];
    snprintf(plain, sizeof plain, "%.*s", (int)(n ? n - 1 : 0), labels); /* no trailing comma */
    put(o, "%s_sum%s%s%s %.6f\n", name, n ? "{" : "", plain, n ? "}" : "",
        (double)get(&h->sum_us) / 1e6);
    put(o, "%s_count%s%s%s %llu\n", name, n ? "{" : "", plain, n ? "}" : "",
        (unsigned long long)cum);
}

static bool hist_empty(const struct hist *h)
{
    for (size_t i = 0; i <= NBOUNDS; i++) {
        if (get(&h->le[i]))
            return false;
    }
    return true;
}

static void route_label(char *out, size_t cap, const struct byoc_route *routes, size_t nroutes,
                        size_t slot)
{
    if (slot == ROUTE_SLOTS - 1 || slot >= nroutes)
        snprintf(out, cap, "method=\"*\",route=\"unmatched\",");
    else
        snprintf(out, cap, "method=\"%s\",route=\"%s\",",
                 strcmp(routes[slot].method, "*") == 0 ? "ANY" : routes[slot].method,
                 routes[slot].pattern);
}

static void http_put(struct out *o, const struct byoc_route *routes, size_t nroutes)
{
    char labels[256], status[16];
    head(o, "byocd_http_requests_total", "counter", "HTTP requests answered, by route and status");
    for (size_t r = 0; r < ROUTE_SLOTS; r++) {
        route_label(labels, sizeof labels, routes, nroutes, r);
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = get(&m.http[r][s]);
            status_label(status, sizeof status, s);
            if (v)
                put(o, "byocd_http_requests_total{%sstatus=\"%s\"} %llu\n", labels, status,
                    (unsigned long long)v);
        }
    }
    head(o, "byocd_http_request_duration_seconds", "histogram",
         "time from the request's first byte to its answer, by route");
    for (size_t r = 0; r < ROUTE_SLOTS; r++) {
        route_label(labels, sizeof labels, routes, nroutes, r);
        if (!hist_empty(&m.http_lat[r]))
            hist_put(o, "byocd_http_request_duration_seconds", labels, &m.http_lat[r]);
    }
}

static void cxone_put(struct out *o)
{
    char labels[64], status[16];
    head(o, "byocd_cxone_requests_total", "counter",
         "calls to CXone, by endpoint and HTTP status (none: no answer)");
    for (size_t e = 0; e < NENDPOINTS; e++) {
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = get(&m.cxone[e][s]);
            status_label(status, sizeof status, s);
            if (v)
                put(o, "byocd_cxone_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n",
                    endpoints[e], status, (unsigned long long)v);
        }
    }
    head(o, "byocd_cxone_request_duration_seconds", "histogram", "duration of calls to CXone");
    for (size_t e = 0; e < NENDPOINTS; e++) {
        snprintf(labels, sizeof labels, "endpoint=\"%s\",", endpoints[e]);
        if (!hist_empty(&m.cxone_lat[e]))
            hist_put(o, "byocd_cxone_request_duration_seconds", labels, &m.cxone_lat[e]);
    }
    head(o, "byocd_cxone_token_refreshes_total", "counter",
         "access tokens fetched from CXone's token endpoint, by result");
    put(o, "byocd_cxone_token_refreshes_total{result=\"ok\"} %llu\n",
        (unsigned long long)get(&m.token_refresh[1]));
    put(o, "byocd_cxone_token_refreshes_total{result=\"error\"} %llu\n",
        (unsigned long long)get(&m.token_refresh[0]));
}

static void webhook_put(struct out *o)
{
    head(o, "byocd_webhook_attempts_total", "counter",
         "webhook delivery attempts, by result (gone, deadline: the attempt made it dead; "
         "deliveries the deadline sweep kills count only in byocd_outbox_depth{state=\"dead\"})");
    for (size_t i = 0; i < BYOC_ATTEMPT_RESULTS; i++)
        put(o, "byocd_webhook_attempts_total{result=\"%s\"} %llu\n", attempt_names[i],
            (unsigned long long)get(&m.attempts[i]));
    head(o, "byocd_webhook_attempt_duration_seconds", "histogram",
         "duration of webhook delivery attempts");
    hist_put(o, "byocd_webhook_attempt_duration_seconds", "", &m.attempt_lat);
}

static void store_put(struct out *o, const struct byoc_store_stats *st)
{
    head(o, "byocd_store_commit_batch_size", "histogram",
         "writes committed together in one transaction (group commit)");
    uint64_t cum = 0;
    for (size_t i = 0; i + 1 < BYOC_STORE_BATCH_BUCKETS; i++) {
        cum += st->batch_sizes[i];
        put(o, "byocd_store_commit_batch_size_bucket{le=\"%llu\"} %llu\n",
            (unsigned long long)1 << i, (unsigned long long)cum);
    }
    cum += st->batch_sizes[BYOC_STORE_BATCH_BUCKETS - 1];
    put(o, "byocd_store_commit_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put(o, "byocd_store_commit_batch_size_sum %llu\n", (unsigned long long)st->writes);
    put(o, "byocd_store_commit_batch_size_count %llu\n", (unsigned long long)st->batches);
    head(o, "byocd_store_failed_commits_total", "counter",
         "transactions that could not be committed (their writes were refused)");
    put(o, "byocd_store_failed_commits_total %llu\n", (unsigned long long)st->failed_commits);
    head(o, "byocd_store_queued_writes", "gauge", "writes waiting for the writer thread");
    put(o, "byocd_store_queued_writes %zu\n", st->queued);
}

static void backlog_put(struct out *o, const struct byoc_backlog *b)
{
    static const char *const labels[BYOC_BACKLOG_KINDS] = {
        "queue=\"relay\",state=\"queued\"", "queue=\"relay\",state=\"sending\"",
        "queue=\"webhook\",state=\"pending\"", "queue=\"webhook\",state=\"sending\"",
        "queue=\"webhook\",state=\"dead\""};
    int64_t now = byoc_now_ms();
    head(o, "byocd_outbox_depth", "gauge",
         "bot messages waiting for CXone (relay) and webhook deliveries not yet delivered");
    for (int i = 0; i < BYOC_BACKLOG_KINDS; i++)
        put(o, "byocd_outbox_depth{%s} %lld\n", labels[i], (long long)b->count[i]);
    head(o, "byocd_outbox_oldest_age_seconds", "gauge",
         "age of the oldest item in each outbox state (0 when empty)");
    for (int i = 0; i < BYOC_BACKLOG_KINDS; i++) {
        int64_t age = b->count[i] && b->oldest_at[i] ? now - b->oldest_at[i] : 0;
        put(o, "byocd_outbox_oldest_age_seconds{%s} %.3f\n", labels[i],
            age > 0 ? (double)age / 1000.0 : 0.0);
    }
    if (b->db_bytes >= 0) {
        head(o, "byocd_database_size_bytes", "gauge", "size of the database");
        put(o, "byocd_database_size_bytes %lld\n", (long long)b->db_bytes);
    }
}

static void process_put(struct out *o)
{
    head(o, "byocd_build_info", "gauge", "version of the running byocd");
    put(o, "byocd_build_info{version=\"%s\"} 1\n", BYOC_VERSION);
    head(o, "process_start_time_seconds", "gauge", "start time of the process (Unix seconds)");
    put(o, "process_start_time_seconds %.3f\n", (double)atomic_load(&started_at_ms) / 1000.0);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    bool ok = f && fscanf(f, "%llu %llu", &size, &resident) == 2;
    if (f)
        fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (ok && page > 0) {
        head(o, "process_resident_memory_bytes", "gauge", "resident memory size");
        put(o, "process_resident_memory_bytes %llu\n", resident * (unsigned long long)page);
    }
}

enum byoc_err byoc_metrics_render(struct byoc_buf *out, const struct byoc_route *routes,
                                  size_t nroutes, const struct byoc_store_stats *store,
                                  const struct byoc_backlog *backlog)
{
    struct out o = {.b = out};
    process_put(&o);
    http_put(&o, routes, nroutes);
    cxone_put(&o);
    webhook_put(&o);
    if (store)
        store_put(&o, store);
    if (backlog)
        backlog_put(&o, backlog);
    return o.e;
}
