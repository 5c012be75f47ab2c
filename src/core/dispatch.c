#include "byoc/dispatch.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/log.h"
#include "byoc/metrics.h"
#include "byoc/outbound.h"
#include "byoc/provider.h"
#include "byoc/util.h"
#include "byoc/webhook.h"
#include "byoc/banned.h"

#define POLL_MS 1000     /* longest sleep between looks for due work */
#define IDLE_FLOOR_MS 20 /* shortest sleep when nothing could be claimed */
#define HEADER_MAX 192   /* one "Name: value" line we add */

struct byoc_dispatch {
    struct byoc_store *store;
    const struct byoc_keys *keys;
    struct byoc_dispatch_config cfg;
    struct byoc_out_multi *multi;
    pthread_t thread;
    atomic_bool stopping, kicked;
    atomic_llong clock_steps, clock_step_ms; /* noticed by the hook, logged by the thread */
    /* outcomes of attempts that finished, recorded in one write per round */
    struct byoc_delivery_outcome outcomes[BYOC_WEBHOOK_IN_FLIGHT];
    struct attempt *finished[BYOC_WEBHOOK_IN_FLIGHT];
    size_t nfinished;
};

/* One attempt in flight: everything the transfer points to lives here until it is reported. */
struct attempt {
    struct byoc_delivery_job job;
    char *body;
    char id_line[HEADER_MAX], ts_line[HEADER_MAX], sig_line[2 * BYOC_WEBHOOK_SIGNATURE_MAX + 32];
    const char *headers[4];
    struct byoc_out_req req;
    char error[BYOC_WEBHOOK_ERROR_MAX];
    int64_t started_us; /* for /metrics */
};

static void attempt_free(struct attempt *a)
{
    if (!a)
        return;
    byoc_delivery_job_release(&a->job);
    free(a->body);
    free(a);
}

/* The signature header: the current secret's, then the previous one's during an overlap. */
static enum byoc_err sign(const struct byoc_dispatch *d, struct attempt *a, int64_t ts)
{
    const char *owner = a->job.d.event.provider_id;
    const struct byoc_blob *sealed[2] = {&a->job.secret_sealed, &a->job.old_secret_sealed};
    size_t used = (size_t)snprintf(a->sig_line, sizeof a->sig_line, "webhook-signature:");
    enum byoc_err e = BYOC_ERR_OK;
    for (size_t i = 0; !e && i < 2; i++) {
        if (!sealed[i]->data)
            continue;
        char *secret = NULL, sig[BYOC_WEBHOOK_SIGNATURE_MAX];
        e = byoc_unseal_field(d->keys, owner, BYOC_SEALED_WEBHOOK_SECRET, sealed[i], &secret);
        if (e && i == 1) { /* the previous secret is a courtesy: never let it block a delivery */
            e = BYOC_ERR_OK;
            continue;
        }
        if (!e)
            e = byoc_webhook_sign(secret, a->job.d.event.id, ts, a->body, strlen(a->body), sig);
        byoc_free_secret(secret);
        if (!e)
            used += (size_t)snprintf(a->sig_line + used, sizeof a->sig_line - used, " %s", sig);
    }
    return e;
}

/* Builds the signed request of a claimed delivery. */
static enum byoc_err prepare(const struct byoc_dispatch *d, struct attempt *a)
{
    a->body = byoc_event_envelope(&a->job.d.event);
    if (!a->body)
        return BYOC_ERR_NOMEM;
    int64_t ts = byoc_now_ms() / 1000;
    snprintf(a->id_line, sizeof a->id_line, "webhook-id: %s", a->job.d.event.id);
    snprintf(a->ts_line, sizeof a->ts_line, "webhook-timestamp: %" PRId64, ts);
    enum byoc_err e = sign(d, a, ts);
    if (e)
        return e;
    a->headers[0] = a->id_line;
    a->headers[1] = a->ts_line;
    a->headers[2] = a->sig_line;
    a->headers[3] = NULL;
    a->req = (struct byoc_out_req){.method = "POST",
                                   .url = a->job.url,
                                   .content_type = "application/json",
                                   .body = a->body,
                                   .body_len = strlen(a->body),
                                   .connect_timeout_ms = BYOC_WEBHOOK_CONNECT_TIMEOUT_MS,
                                   .total_timeout_ms = d->cfg.timeout_ms,
                                   .max_response = BYOC_WEBHOOK_RESPONSE_KEPT,
                                   .truncate_response = true,
                                   .deny_link_local = true,
                                   .deny_private = !d->cfg.allow_private,
                                   .headers = a->headers};
    return BYOC_ERR_OK;
}

/* ---- outcomes ---- */

/* "HTTP 500: <the start of the answer>" with controls blanked, valid UTF-8. */
static void describe_status(struct attempt *a, long status, const char *body)
{
    char snippet[160] = "";
    size_t len = body ? strlen(body) : 0;
    size_t keep = body ? byoc_utf8_prefix(body, len, sizeof snippet - 1) : 0;
    if (body && byoc_utf8_valid(body, keep)) {
        memcpy(snippet, body, keep);
        snippet[keep] = '\0';
        for (char *p = snippet; *p; p++)
            *p = ((unsigned char)*p < ' ' || *p == 0x7f) ? ' ' : *p;
    }
    const char *what = (status >= 300 && status < 400) ? " (redirects are not followed)" : "";
    snprintf(a->error, sizeof a->error, "the endpoint answered HTTP %ld%s%s%s", status, what,
             snippet[0] ? ": " : "", snippet);
}

static void describe_err(struct attempt *a, enum byoc_err e)
{
    const char *why = e == BYOC_ERR_UPSTREAM_TIMEOUT ? "the endpoint did not answer in time"
                      : e == BYOC_ERR_FORBIDDEN
                          ? "the endpoint's address is not allowed (loopback, private or "
                            "link-local; see BYOCD_WEBHOOK_ALLOW_PRIVATE)"
                      : e == BYOC_ERR_UPSTREAM_NET ? "the endpoint could not be reached"
                                                   : byoc_strerror(e);
    snprintf(a->error, sizeof a->error, "%s", why);
}

static void log_outcome(const struct attempt *a, const struct byoc_delivery_outcome *o)
{
    if (o->state == BYOC_DELIVERY_DELIVERED)
        return;
    char host[256] = "";
    if (!byoc_url_authority(a->job.url, host, sizeof host))
        byoc_strlcpy(host, "?", sizeof host);
    struct byoc_log_line l;
    bool dead = o->state == BYOC_DELIVERY_DEAD;
    byoc_log_begin(&l, dead ? BYOC_LOG_WARN : BYOC_LOG_INFO, "webhooks",
                   o->disable ? "endpoint disabled (410 Gone)"
                   : dead     ? "delivery dead"
                              : "delivery will be retried");
    byoc_log_str(&l, "delivery_id", a->job.d.id);
    byoc_log_str(&l, "webhook_id", a->job.d.webhook_id);
    byoc_log_str(&l, "event_id", a->job.d.event.id);
    byoc_log_str(&l, "host", host); /* never the whole URL: it may carry a token */
    byoc_log_int(&l, "attempts", (long long)a->job.d.attempts);
    byoc_log_str(&l, "error", a->error);
    byoc_log_end(&l);
}

/* Judges one finished attempt into d->outcomes. */
static enum byoc_metrics_attempt attempt_result(enum byoc_err err,
                                                const struct byoc_delivery_outcome *o)
{
    if (err == BYOC_ERR_SHUTTING_DOWN)
        return BYOC_ATTEMPT_INTERRUPTED;
    if (o->state == BYOC_DELIVERY_DELIVERED)
        return BYOC_ATTEMPT_DELIVERED;
    if (o->state == BYOC_DELIVERY_DEAD)
        return o->disable ? BYOC_ATTEMPT_GONE : BYOC_ATTEMPT_DEADLINE;
    return BYOC_ATTEMPT_FAILED;
}

static void judge(struct byoc_dispatch *d, struct attempt *a, enum byoc_err err, long status,
                  long retry_after_s, const char *body)
{
    int64_t now = byoc_now_ms();
    struct byoc_delivery_outcome *o = &d->outcomes[d->nfinished];
    *o = (struct byoc_delivery_outcome){.delivery_id = a->job.d.id,
                                        .webhook_id = a->job.d.webhook_id,
                                        .attempt = a->job.d.attempts,
                                        .status = err ? 0 : status,
                                        .next_attempt_at = now};
    if (err == BYOC_ERR_SHUTTING_DOWN) { /* cut short by a stop: again first thing after it */
        snprintf(a->error, sizeof a->error, "the attempt was interrupted by a shutdown");
        o->state = BYOC_DELIVERY_PENDING;
    } else if (!err && status >= 200 && status < 300) {
        o->state = BYOC_DELIVERY_DELIVERED;
    } else if (!err && status == 410) {
        describe_status(a, status, body);
        o->state = BYOC_DELIVERY_DEAD;
        o->disable = true;
    } else {
        if (err)
            describe_err(a, err);
        else
            describe_status(a, status, body);
        bool honour = !err && (status == 429 || status == 503);
        o->state = BYOC_DELIVERY_PENDING;
        o->failure = true;
        o->circuit_until = now + d->cfg.cooldown_ms;
        o->next_attempt_at = now + byoc_backoff_ms(a->job.d.attempts, BYOC_WEBHOOK_BACKOFF_BASE_MS,
                                                   d->cfg.retry_cap_ms, BYOC_WEBHOOK_RETRY_FLOOR_MS,
                                                   honour ? retry_after_s : -1);
        if (o->next_attempt_at > a->job.d.window_start + d->cfg.deadline_ms) {
            o->state = BYOC_DELIVERY_DEAD;
            char last[BYOC_WEBHOOK_ERROR_MAX];
            byoc_strlcpy(last, a->error, sizeof last);
            snprintf(a->error, sizeof a->error, "gave up at the deadline; last error: %.*s",
                     (int)(sizeof a->error - 40), last);
        }
    }
    o->last_error = o->state == BYOC_DELIVERY_DELIVERED ? NULL : a->error;
    log_outcome(a, o);
    byoc_metrics_webhook_attempt(attempt_result(err, o), byoc_mono_us() - a->started_us);
    d->finished[d->nfinished++] = a;
}

static void on_done(void *ctx, const struct byoc_out_done *r)
{
    struct byoc_dispatch *d = ctx;
    judge(d, r->user, r->err, r->status, r->retry_after_s, r->body);
}

/* Records the outcomes gathered this round and frees their attempts. */
static void record(struct byoc_dispatch *d)
{
    if (!d->nfinished)
        return;
    struct byoc_write w = {.kind = BYOC_WRITE_DELIVERY_OUTCOMES};
    w.in.doutcomes.list = d->outcomes;
    w.in.doutcomes.n = d->nfinished;
    w.in.doutcomes.now = byoc_now_ms();
    w.in.doutcomes.breaker_failures = BYOC_WEBHOOK_BREAKER_FAILURES;
    enum byoc_err e = byoc_store_write(d->store, &w);
    if (e) { /* the leases run out and the deliveries are sent again */
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_ERROR, "webhooks", "delivery outcomes not recorded");
        byoc_log_err(&l, e);
        byoc_log_int(&l, "count", (long long)d->nfinished);
        byoc_log_end(&l);
    }
    for (size_t i = 0; i < d->nfinished; i++)
        attempt_free(d->finished[i]);
    d->nfinished = 0;
}

/* ---- claims ---- */

static void start(struct byoc_dispatch *d, struct byoc_delivery_job *job)
{
    struct attempt *a = calloc(1, sizeof *a);
    if (!a)
        return; /* the lease runs out and it is claimed again */
    a->job = *job;
    *job = (struct byoc_delivery_job){0}; /* moved */
    a->started_us = byoc_mono_us();
    enum byoc_err e = prepare(d, a);
    if (!e)
        e = byoc_out_multi_add(d->multi, &a->req, a);
    if (e)
        judge(d, a, e, 0, -1, NULL);
}

/* Claims what is due, up to the free slots; returns how many were started. */
static size_t claim(struct byoc_dispatch *d)
{
    size_t busy = byoc_out_multi_count(d->multi) + d->nfinished;
    if (busy >= BYOC_WEBHOOK_IN_FLIGHT)
        return 0;
    struct byoc_write w = {.kind = BYOC_WRITE_DELIVERY_CLAIM};
    w.in.dclaim.now = byoc_now_ms();
    w.in.dclaim.lease_ms = d->cfg.timeout_ms + BYOC_WEBHOOK_LEASE_SLACK_MS;
    w.in.dclaim.max = BYOC_WEBHOOK_IN_FLIGHT - busy;
    w.in.dclaim.per_endpoint = BYOC_WEBHOOK_PER_ENDPOINT;
    w.in.dclaim.probe_ms = d->cfg.timeout_ms + BYOC_WEBHOOK_LEASE_SLACK_MS;
    w.in.dclaim.breaker_failures = BYOC_WEBHOOK_BREAKER_FAILURES;
    if (byoc_store_write(d->store, &w) != BYOC_ERR_OK) {
        byoc_delivery_jobs_free(w.out.jobs.list, w.out.jobs.n);
        return 0;
    }
    for (size_t i = 0; i < w.out.jobs.n; i++)
        start(d, &w.out.jobs.list[i]);
    size_t n = w.out.jobs.n;
    byoc_delivery_jobs_free(w.out.jobs.list, n); /* empty shells: each job was moved */
    return n;
}

/* How long to wait for network activity before looking for due work again. */
static int wait_ms(const struct byoc_dispatch *d, size_t started, int64_t due)
{
    if (started > 0 || d->nfinished > 0 || atomic_load(&d->kicked))
        return 0;
    int64_t ms = due == INT64_MAX ? POLL_MS : due - byoc_now_ms();
    if (ms <= 0)
        ms = POLL_MS; /* due but not claimable (an attempt in flight, a probe, a stale lease):
                         an attempt's end, a kick or the next poll brings it */
    return (int)(ms < IDLE_FLOOR_MS ? IDLE_FLOOR_MS : ms > POLL_MS ? POLL_MS : ms);
}

/* The wall clock stepped (byoc_clock_on_step, under the clock's lock: no logging here): the
 * store shifts every stored schedule before anyone uses a time of the new frame, so retries
 * neither stall (a step back) nor all fall due at once (a step forward). */
static void on_clock_step(void *arg, int64_t delta_ms)
{
    struct byoc_dispatch *d = arg;
    byoc_store_clock_step(d->store, delta_ms);
    atomic_fetch_add(&d->clock_step_ms, delta_ms);
    atomic_fetch_add(&d->clock_steps, 1);
    byoc_dispatch_kick(d);
}

static void log_clock_steps(struct byoc_dispatch *d)
{
    if (atomic_load(&d->clock_steps) == 0)
        return;
    long long steps = atomic_exchange(&d->clock_steps, 0);
    long long ms = atomic_exchange(&d->clock_step_ms, 0);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "clock",
                   "the wall clock stepped; pending retries, leases and deadlines moved with it");
    byoc_log_int(&l, "step_ms", ms);
    byoc_log_int(&l, "steps", steps);
    byoc_log_end(&l);
}

static void *dispatch_main(void *arg)
{
    struct byoc_dispatch *d = arg;
    while (!atomic_load(&d->stopping)) {
        log_clock_steps(d);
        bool kicked = atomic_exchange(&d->kicked, false);
        int64_t due = byoc_store_delivery_next_due(d->store);
        size_t started = (kicked || due <= byoc_now_ms()) ? claim(d) : 0;
        byoc_out_multi_run(d->multi, wait_ms(d, started, due), on_done, d);
        record(d);
    }
    return NULL;
}

static void on_events(void *arg)
{
    byoc_dispatch_kick(arg);
}

enum byoc_err byoc_dispatch_start(struct byoc_store *store, const struct byoc_keys *keys,
                                  const struct byoc_dispatch_config *cfg,
                                  struct byoc_dispatch **out)
{
    struct byoc_dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return BYOC_ERR_NOMEM;
    d->store = store;
    d->keys = keys;
    d->cfg = *cfg;
    atomic_init(&d->stopping, false);
    atomic_init(&d->kicked, true);
    atomic_init(&d->clock_steps, 0);
    atomic_init(&d->clock_step_ms, 0);
    enum byoc_err e = byoc_out_multi_new(BYOC_WEBHOOK_PER_ENDPOINT, &d->multi);
    if (!e && pthread_create(&d->thread, NULL, dispatch_main, d) != 0)
        e = BYOC_ERR_INTERNAL;
    if (e) {
        byoc_out_multi_free(d->multi);
        free(d);
        return e;
    }
    byoc_store_on_events(store, on_events, d);
    (void)byoc_now_ms(); /* anchors the clock: a step is measured from here on */
    byoc_clock_on_step(on_clock_step, d);
    if (cfg->allow_private) {
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_WARN, "webhooks",
                       "BYOCD_WEBHOOK_ALLOW_PRIVATE=1: webhook URLs may reach loopback and private "
                       "addresses; for development and tests only");
        byoc_log_end(&l);
    }
    *out = d;
    return BYOC_ERR_OK;
}

void byoc_dispatch_kick(struct byoc_dispatch *d)
{
    if (!d)
        return;
    atomic_store(&d->kicked, true);
    byoc_out_multi_wakeup(d->multi);
}

/* Attempts cut short by the stop go back to pending at once (no lease wait after a restart). */
static void abandon_in_flight(struct byoc_dispatch *d)
{
    byoc_out_multi_abort(d->multi, on_done, d);
    record(d);
}

void byoc_dispatch_stop(struct byoc_dispatch *d)
{
    if (!d)
        return;
    byoc_store_on_events(d->store, NULL, NULL);
    byoc_clock_on_step(NULL, NULL);
    atomic_store(&d->stopping, true);
    byoc_out_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    abandon_in_flight(d);
    byoc_out_multi_free(d->multi);
    free(d);
}
