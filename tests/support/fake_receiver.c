/*
 * fake_receiver — see fake_receiver.h for the contract.
 *
 * Layout: state and small helpers, the rule engine, the libmicrohttpd glue (per-request
 * context created in the URI-log callback, filled by the access handler, freed in the
 * request-completed callback), then the public API.
 *
 * libmicrohttpd runs one thread per connection here. Hanging and slow answers simply block in
 * the access handler on a condition variable; with a thread per connection that holds back
 * nothing else, and stopping only has to wake those waits before MHD_stop_daemon() joins the
 * threads.
 */
/* POSIX 2008 for strnlen, clock_gettime, pthread_condattr_setclock when the build does not
 * already ask for more (the project builds with -D_GNU_SOURCE, which also gives memmem). */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "fake_receiver.h"
#include "testhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FR_CONN_TIMEOUT_S 60 /* idle keep-alive connections are closed after this */
#define FR_BODY_CHUNK 4096   /* first allocation for a request body */

struct fr_rule {
    char *path; /* NULL: any */
    char *body_contains;
    enum fake_receiver_action action;
    int status;
    int retry_after_s;
    char *location;
    int delay_ms;
    int count; /* uses left; 0 = permanent */
};

struct fake_receiver {
    struct MHD_Daemon *daemon;
    int port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every record, release, rule change and stop */
    bool stopping;
    struct fr_rule *rules;
    size_t n_rules, cap_rules;
    struct fake_receiver_request *reqs;
    size_t n_reqs, cap_reqs;
    unsigned long resets;   /* bumped by reset: record indexes taken before are stale */
    unsigned long releases; /* bumped by release: hanging requests compare it */
    int release_status;
    size_t hanging;
};

/* Per-request state; one owner (MHD's request context), freed in fr_completed(). */
struct fr_req {
    long long at_ms;
    char *body;
    size_t len, cap;
    bool too_big;
    bool started;
};

/* What the rules decided for one request. */
struct fr_decision {
    enum fake_receiver_action action;
    int status;
    int retry_after_s;
    char location[512];
    int delay_ms;
};

/* ---------------------------------------------------------------- small helpers */

static void fr_die(const char *what)
{
    fprintf(stderr, "fake_receiver: %s\n", what);
    abort();
}

static void *fr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        fr_die("out of memory");
    return q;
}

static char *fr_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = fr_xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

/* Makes room for one more element in a growable array. */
static void *fr_grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        fr_die("array too large");
    *cap = ncap;
    return fr_xrealloc(arr, ncap * elem);
}

/* Copies src into dst, truncating to fit; NULL copies as "". */
static void fr_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static long long fr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait. */
static struct timespec fr_deadline(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int fr_clamp_delay(int ms)
{
    if (ms < 0)
        return 0;
    return ms > FAKE_RECEIVER_MAX_DELAY_MS ? FAKE_RECEIVER_MAX_DELAY_MS : ms;
}

static bool fr_path_matches(const char *want, const char *path)
{
    return !want || strcmp(want, path) == 0;
}

/* ---------------------------------------------------------------- rules (lock held) */

static void fr_rule_free(struct fr_rule *rule)
{
    free(rule->path);
    free(rule->body_contains);
    free(rule->location);
}

static void fr_rule_remove(struct fake_receiver *f, size_t i)
{
    fr_rule_free(&f->rules[i]);
    memmove(&f->rules[i], &f->rules[i + 1], (f->n_rules - i - 1) * sizeof(*f->rules));
    f->n_rules--;
}

static bool fr_rule_matches(const struct fr_rule *rule, const char *path, const char *body,
                            size_t len)
{
    if (!fr_path_matches(rule->path, path))
        return false;
    if (!rule->body_contains)
        return true;
    return memmem(body, len, rule->body_contains, strlen(rule->body_contains)) != NULL;
}

/* Fills *d from the oldest matching rule, using it up if it counts; 200 without one. */
static void fr_decide(struct fake_receiver *f, const char *path, const char *body, size_t len,
                      struct fr_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->status = MHD_HTTP_OK;
    for (size_t i = 0; i < f->n_rules; i++) {
        struct fr_rule *rule = &f->rules[i];
        if (!fr_rule_matches(rule, path, body, len))
            continue;
        d->action = rule->action;
        d->status = rule->status ? rule->status : MHD_HTTP_OK;
        d->retry_after_s = rule->retry_after_s;
        fr_copy(d->location, sizeof(d->location), rule->location);
        d->delay_ms = rule->delay_ms;
        if (rule->count > 0 && --rule->count == 0)
            fr_rule_remove(f, i);
        return;
    }
}

/* ---------------------------------------------------------------- records (lock held) */

static const char *fr_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Adds the string member key, or aborts: a delivery the log misses would go unchecked. */
static void fr_log_str(cJSON *o, const char *key, const char *value)
{
    if (!cJSON_AddStringToObject(o, key, value))
        fr_die("out of memory");
}

/* Appends the delivery to the exchange log when one is set (testhttp.h), for
 * tests/openapi/validate_responses.mjs to check against the document's webhooks. A truncated
 * body is not recorded: it cannot match. */
static void fr_log(const struct fake_receiver_request *c, const struct fr_req *req)
{
    const char *log = getenv(TEST_HTTP_LOG_ENV);
    if (!log || !log[0] || req->too_big)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON *h = cJSON_CreateObject();
    if (!o || !h || !cJSON_AddItemToObject(o, "headers", h))
        fr_die("out of memory");
    fr_log_str(o, "kind", "webhook");
    fr_log_str(o, "method", c->method);
    fr_log_str(o, "path", c->path);
    fr_log_str(o, "content_type", c->content_type);
    fr_log_str(h, "webhook-id", c->webhook_id);
    fr_log_str(h, "webhook-timestamp", c->webhook_timestamp);
    fr_log_str(h, "webhook-signature", c->webhook_signature);
    fr_log_str(h, "user-agent", c->user_agent);
    fr_log_str(o, "body", c->body);
    test_http_log_append(o);
    cJSON_Delete(o);
}

/* Appends a record for this request and returns its index. */
static size_t fr_record(struct fake_receiver *f, struct MHD_Connection *conn, const char *method,
                        const char *path, const struct fr_req *req, int status)
{
    f->reqs = fr_grow(f->reqs, f->n_reqs, &f->cap_reqs, sizeof(*f->reqs));
    struct fake_receiver_request *c = &f->reqs[f->n_reqs];
    memset(c, 0, sizeof(*c));
    c->at_ms = req->at_ms;
    fr_copy(c->method, sizeof(c->method), method);
    fr_copy(c->path, sizeof(c->path), path);
    fr_copy(c->webhook_id, sizeof(c->webhook_id), fr_header(conn, "webhook-id"));
    fr_copy(c->webhook_timestamp, sizeof(c->webhook_timestamp),
            fr_header(conn, "webhook-timestamp"));
    fr_copy(c->webhook_signature, sizeof(c->webhook_signature),
            fr_header(conn, "webhook-signature"));
    fr_copy(c->content_type, sizeof(c->content_type),
            fr_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE));
    fr_copy(c->user_agent, sizeof(c->user_agent), fr_header(conn, MHD_HTTP_HEADER_USER_AGENT));
    c->body = fr_xrealloc(NULL, req->len + 1);
    if (req->len)
        memcpy(c->body, req->body, req->len);
    c->body[req->len] = '\0';
    c->body_len = req->len;
    c->status = status;
    fr_log(c, req);
    pthread_cond_broadcast(&f->cv);
    return f->n_reqs++;
}

static void fr_forget_records(struct fake_receiver *f)
{
    for (size_t i = 0; i < f->n_reqs; i++)
        free(f->reqs[i].body);
    f->n_reqs = 0;
    f->resets++;
}

/* ---------------------------------------------------------------- waiting (lock held) */

/* Blocks until released or stopping. Returns the release status (0 = close the connection,
 * as on stop). */
static int fr_hang(struct fake_receiver *f)
{
    unsigned long seen = f->releases;
    f->hanging++;
    pthread_cond_broadcast(&f->cv);
    while (!f->stopping && f->releases == seen)
        pthread_cond_wait(&f->cv, &f->mu);
    f->hanging--;
    return f->stopping ? 0 : f->release_status;
}

/* Waits ms milliseconds, or less if the receiver stops. */
static void fr_sleep(struct fake_receiver *f, int ms)
{
    if (ms <= 0)
        return;
    struct timespec deadline = fr_deadline(ms);
    while (!f->stopping) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &deadline) == ETIMEDOUT)
            break;
    }
}

/* ---------------------------------------------------------------- libmicrohttpd glue */

static void *fr_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct fr_req *req = fr_xrealloc(NULL, sizeof(*req));
    memset(req, 0, sizeof(*req));
    req->at_ms = fr_now_ms();
    return req;
}

static void fr_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct fr_req *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Appends upload data, keeping at most FAKE_RECEIVER_MAX_BODY bytes. */
static void fr_req_append(struct fr_req *req, const char *data, size_t n)
{
    if (n > FAKE_RECEIVER_MAX_BODY - req->len) {
        req->too_big = true;
        n = FAKE_RECEIVER_MAX_BODY - req->len;
    }
    if (req->len + n + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : FR_BODY_CHUNK;
        while (cap < req->len + n + 1)
            cap *= 2;
        req->body = fr_xrealloc(req->body, cap);
        req->cap = cap;
    }
    if (n)
        memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
}

static enum MHD_Result fr_send(struct MHD_Connection *conn, const struct fr_decision *d)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (d->retry_after_s > 0) {
        char value[32];
        snprintf(value, sizeof(value), "%d", d->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, value);
    }
    if (d->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, d->location);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)d->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Decides, records, and waits as the rule asks. False: close the connection unanswered. */
static bool fr_prepare(struct fake_receiver *f, struct MHD_Connection *conn, const char *url,
                       const char *method, const struct fr_req *req, struct fr_decision *d)
{
    const char *body = req->body ? req->body : "";
    if (req->too_big) { /* rules do not see truncated bodies */
        memset(d, 0, sizeof(*d));
        d->status = MHD_HTTP_CONTENT_TOO_LARGE;
    } else {
        fr_decide(f, url, body, req->len, d);
    }
    int recorded = d->action == FAKE_RECEIVER_ANSWER ? d->status : 0;
    size_t index = fr_record(f, conn, method, url, req, recorded);
    if (d->action == FAKE_RECEIVER_HANG) {
        unsigned long resets = f->resets;
        d->status = fr_hang(f);
        if (d->status && resets == f->resets)
            f->reqs[index].status = d->status;
        return d->status != 0;
    }
    fr_sleep(f, d->delay_ms);
    return !f->stopping && d->action == FAKE_RECEIVER_ANSWER;
}

static enum MHD_Result fr_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct fake_receiver *f = cls;
    struct fr_req *req = *con_cls;
    if (!req) /* no URI-log callback ran: cannot happen with our options, but be safe */
        req = *con_cls = fr_uri_log(f, url, conn);
    if (!req->started) {
        req->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        fr_req_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct fr_decision d;
    pthread_mutex_lock(&f->mu);
    bool answer = fr_prepare(f, conn, url, method, req, &d);
    pthread_mutex_unlock(&f->mu);
    return answer ? fr_send(conn, &d) : MHD_NO;
}

/* ---------------------------------------------------------------- public API */

static void fr_init_locks(struct fake_receiver *f)
{
    pthread_condattr_t attr;
    if (pthread_mutex_init(&f->mu, NULL) != 0 || pthread_condattr_init(&attr) != 0)
        fr_die("pthread init failed");
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->cv, &attr) != 0)
        fr_die("pthread cond init failed");
    pthread_condattr_destroy(&attr);
}

static void fr_listen(struct fake_receiver *f)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    f->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, fr_access, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, fr_uri_log, f, MHD_OPTION_NOTIFY_COMPLETED, fr_completed, f,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)FR_CONN_TIMEOUT_S, MHD_OPTION_END);
    if (!f->daemon)
        fr_die("MHD_start_daemon failed");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0)
        fr_die("cannot read the bound port");
    f->port = info->port;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
}

struct fake_receiver *fake_receiver_start(void)
{
    struct fake_receiver *f = fr_xrealloc(NULL, sizeof(*f));
    memset(f, 0, sizeof(*f));
    fr_init_locks(f);
    fr_listen(f);
    return f;
}

void fake_receiver_stop(struct fake_receiver *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    MHD_stop_daemon(f->daemon);
    for (size_t i = 0; i < f->n_rules; i++)
        fr_rule_free(&f->rules[i]);
    free(f->rules);
    fr_forget_records(f);
    free(f->reqs);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const char *fake_receiver_url(const struct fake_receiver *f)
{
    return f->url;
}

int fake_receiver_port(const struct fake_receiver *f)
{
    return f->port;
}

void fake_receiver_add_rule(struct fake_receiver *f, const struct fake_receiver_rule *rule)
{
    struct fr_rule copy = {
        .path = fr_xstrdup(rule->path),
        .body_contains = fr_xstrdup(rule->body_contains),
        .action = rule->action,
        .status = rule->status,
        .retry_after_s = rule->retry_after_s,
        .location = fr_xstrdup(rule->location),
        .delay_ms = fr_clamp_delay(rule->delay_ms),
        .count = rule->count > 0 ? rule->count : 0,
    };
    pthread_mutex_lock(&f->mu);
    f->rules = fr_grow(f->rules, f->n_rules, &f->cap_rules, sizeof(*f->rules));
    f->rules[f->n_rules++] = copy;
    pthread_mutex_unlock(&f->mu);
}

void fake_receiver_fail_next(struct fake_receiver *f, const char *path, int n, int status)
{
    if (n <= 0)
        return;
    struct fake_receiver_rule rule = {.path = path, .status = status, .count = n};
    fake_receiver_add_rule(f, &rule);
}

void fake_receiver_clear_rules(struct fake_receiver *f, const char *path)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = f->n_rules; i-- > 0;) {
        const char *rp = f->rules[i].path;
        if (!path || (rp && strcmp(rp, path) == 0))
            fr_rule_remove(f, i);
    }
    pthread_mutex_unlock(&f->mu);
}

size_t fake_receiver_release(struct fake_receiver *f, int status)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->hanging;
    f->release_status = status;
    f->releases++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return n;
}

size_t fake_receiver_hanging(struct fake_receiver *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->hanging;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static size_t fr_count_locked(const struct fake_receiver *f, const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_reqs; i++)
        n += fr_path_matches(path, f->reqs[i].path);
    return n;
}

size_t fake_receiver_count(struct fake_receiver *f, const char *path)
{
    pthread_mutex_lock(&f->mu);
    size_t n = fr_count_locked(f, path);
    pthread_mutex_unlock(&f->mu);
    return n;
}

bool fake_receiver_get(struct fake_receiver *f, const char *path, size_t i,
                       struct fake_receiver_request *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->mu);
    for (size_t k = 0; k < f->n_reqs; k++) {
        const struct fake_receiver_request *c = &f->reqs[k];
        if (!fr_path_matches(path, c->path) || i-- > 0)
            continue;
        *out = *c;
        out->body = fr_xrealloc(NULL, c->body_len + 1);
        memcpy(out->body, c->body, c->body_len + 1);
        pthread_mutex_unlock(&f->mu);
        return true;
    }
    pthread_mutex_unlock(&f->mu);
    return false;
}

void fake_receiver_request_release(struct fake_receiver_request *req)
{
    if (!req)
        return;
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
}

bool fake_receiver_wait(struct fake_receiver *f, const char *path, size_t n, int timeout_ms)
{
    struct timespec deadline = fr_deadline(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&f->mu);
    bool reached = fr_count_locked(f, path) >= n;
    while (!reached && !f->stopping) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &deadline) == ETIMEDOUT) {
            reached = fr_count_locked(f, path) >= n;
            break;
        }
        reached = fr_count_locked(f, path) >= n;
    }
    pthread_mutex_unlock(&f->mu);
    return reached;
}

void fake_receiver_reset(struct fake_receiver *f)
{
    pthread_mutex_lock(&f->mu);
    fr_forget_records(f);
    pthread_mutex_unlock(&f->mu);
}
