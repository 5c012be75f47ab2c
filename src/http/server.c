/* The daemon, the access-handler state machine and the access log. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/metrics.h"
#include "byoc/util.h"
#include "http/http-internal.h"
#include "byoc/banned.h"

static bool media_is(const char *content_type, const char *want)
{
    size_t n = strlen(want);
    if (!content_type || strncasecmp(content_type, want, n) != 0)
        return false;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ';
}

static void request_id_init(struct byoc_req *r)
{
    const char *given = byoc_req_header(r, "X-Request-Id");
    if (given && byoc_id_valid(given, BYOC_REQUEST_ID_MAX) &&
        byoc_strlcpy(r->id, given, sizeof r->id))
        return;
    char rnd[21];
    if (byoc_random_token(rnd, 20) != BYOC_ERR_OK)
        snprintf(rnd, sizeof rnd, "%lld", (long long)byoc_mono_ms());
    snprintf(r->id, sizeof r->id, "req_%s", rnd);
}

struct header_join {
    const char *name;
    char buf[BYOC_FORWARDED_FOR_MAX];
    size_t len;
    bool cut; /* the start was dropped: buf begins inside an entry */
};

/* Appends n bytes, keeping only the last bytes when they do not fit: for X-Forwarded-For the
 * right end is what trusted proxies wrote. */
static void join_tail(struct header_join *j, const char *s, size_t n)
{
    size_t cap = sizeof j->buf - 1;
    if (n >= cap) {
        memcpy(j->buf, s + (n - cap), cap);
        j->len = cap;
        j->cut = true;
    } else {
        size_t keep = j->len + n > cap ? cap - n : j->len;
        if (keep < j->len) {
            memmove(j->buf, j->buf + (j->len - keep), keep);
            j->cut = true;
        }
        memcpy(j->buf + keep, s, n);
        j->len = keep + n;
    }
    j->buf[j->len] = '\0';
}

/* Joins every line of one header with ", " (a list header may come on several lines). */
static enum MHD_Result join_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_join *j = cls;
    if (!key || !value || strcasecmp(key, j->name) != 0)
        return MHD_YES;
    if (j->len)
        join_tail(j, ", ", 2);
    join_tail(j, value, strlen(value));
    return MHD_YES;
}

/* The entries of a joined header, without a partial first one when its start was dropped. */
static const char *joined_entries(const struct header_join *j)
{
    if (!j->cut)
        return j->buf;
    const char *comma = strchr(j->buf, ',');
    return comma ? comma + 1 : "";
}

/* The last element of X-Forwarded-Proto, if it is a scheme we know. */
static const char *forwarded_proto(const struct byoc_req *r)
{
    const char *v = byoc_req_header(r, "X-Forwarded-Proto");
    if (!v)
        return NULL;
    const char *last = strrchr(v, ',');
    last = last ? last + 1 : v;
    last += strspn(last, " \t");
    size_t n = strcspn(last, " \t");
    if (n == 5 && strncasecmp(last, "https", 5) == 0)
        return "https";
    if (n == 4 && strncasecmp(last, "http", 4) == 0)
        return "http";
    return NULL;
}

/* remote, peer and proto: the TCP peer unless it is a trusted proxy that forwarded a client. */
static void req_client(struct byoc_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct byoc_ip peer, client;
    if (!ci || !byoc_ip_from_sockaddr(ci->client_addr, &peer))
        return;
    byoc_ip_format(&peer, r->remote, sizeof r->remote);
    if (!byoc_cidrs_contain(&r->h->trusted, &peer))
        return;
    struct header_join xff = {.name = "X-Forwarded-For"};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_header, &xff);
    r->proto = forwarded_proto(r);
    if (xff.len == 0 ||
        !byoc_forwarded_client(&r->h->trusted, &peer, joined_entries(&xff), &client))
        return;
    char text[BYOC_IP_TEXT_MAX];
    byoc_ip_format(&client, text, sizeof text);
    if (strcmp(text, r->remote) == 0)
        return;
    memcpy(r->peer, r->remote, sizeof r->peer);
    memcpy(r->remote, text, sizeof r->remote);
}

/* The module this server's log lines carry (byocd's own: "http"). */
static const char *log_module(const struct byoc_http *h)
{
    return h->cfg.log_module ? h->cfg.log_module : "http";
}

static struct byoc_req *req_new(struct byoc_http *h, struct MHD_Connection *conn, const char *url,
                                const char *method)
{
    struct byoc_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->h = h;
    r->conn = conn;
    r->start_us = byoc_mono_us();
    /* An over-long path or method matches no route (404) rather than a truncated one. */
    r->path = byoc_strlcpy(r->path_buf, url, sizeof r->path_buf) ? r->path_buf : NULL;
    if (!byoc_strlcpy(r->method, method, sizeof r->method))
        r->method[0] = '\0';
    byoc_buf_init(&r->body, BYOC_BODY_MAX_SMALL);
    request_id_init(r);
    req_client(r);
    atomic_fetch_add(&h->inflight, 1);
    return r;
}

static bool body_expected_type_ok(const struct byoc_route *rt, const char *ct)
{
    switch (rt->body) {
    case BYOC_BODY_JSON:
        return media_is(ct, "application/json");
    case BYOC_BODY_FORM:
        return media_is(ct, "application/x-www-form-urlencoded");
    case BYOC_BODY_JSON_OR_FORM:
        return media_is(ct, "application/json") ||
               media_is(ct, "application/x-www-form-urlencoded");
    default:
        return true;
    }
}

/* Counts the lines of the header named by cls's name. */
struct header_count {
    const char *name;
    int n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    struct header_count *c = cls;
    if (key && strcasecmp(key, c->name) == 0)
        c->n++;
    return MHD_YES;
}

/* Conflicting length headers (RFC 9112 section 6.3): libmicrohttpd 0.9.75 reads the body by
 * the first of two Content-Length lines and accepts one next to Transfer-Encoding, where a
 * proxy in front may have used the other: refused, never guessed at. */
static bool framing_conflicts(struct byoc_req *r, const char *cl, const char *te)
{
    if (cl && te)
        return true;
    struct header_count lengths = {.name = MHD_HTTP_HEADER_CONTENT_LENGTH};
    if (cl)
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_header, &lengths);
    return lengths.n > 1;
}

/* Checks that need only the headers: route, framing, authorization, size, media type. */
static void req_start(struct byoc_req *r)
{
    bool path_matched = false;
    const struct byoc_http_config *cfg = &r->h->cfg;
    r->route = r->path ? http_route_match(r, cfg->routes, cfg->nroutes, &path_matched) : NULL;
    if (!r->route) {
        byoc_reply_error(r, path_matched ? BYOC_ERR_METHOD : BYOC_ERR_NOT_FOUND, NULL);
        return;
    }
    const char *cl = byoc_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = byoc_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (framing_conflicts(r, cl, te)) {
        byoc_reply_error(r, BYOC_ERR_BAD_FRAMING, NULL);
        return;
    }
    /* Authorization before anything else about the body: strangers learn nothing more. */
    if (cfg->authorize_or_reply && !cfg->authorize_or_reply(r, r->route->auth))
        return;
    /* a route that takes no body refuses one (413) rather than reading and ignoring it */
    r->body.max = r->route->body == BYOC_BODY_NONE ? 0
                  : r->route->max_body             ? r->route->max_body
                                                   : BYOC_BODY_MAX_SMALL;
    int64_t declared = 0;
    if (cl && (!byoc_parse_i64(cl, 0, INT64_MAX, &declared) || (uint64_t)declared > r->body.max)) {
        byoc_reply_error(r, BYOC_ERR_TOO_LARGE, NULL);
        return;
    }
    const char *ct = byoc_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && !body_expected_type_ok(r->route, ct))
        byoc_reply_error(r, BYOC_ERR_MEDIA_TYPE, NULL);
}

/* Decodes the complete body per the route; false after replying with the error. */
static bool req_decode_body(struct byoc_req *r)
{
    if (r->body_overflow) {
        byoc_reply_error(r, BYOC_ERR_TOO_LARGE, NULL);
        return false;
    }
    enum byoc_body_kind kind = r->route->body;
    if (kind == BYOC_BODY_NONE || kind == BYOC_BODY_RAW || r->body.len == 0)
        return true;
    const char *ct = byoc_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || !body_expected_type_ok(r->route, ct)) {
        byoc_reply_error(r, BYOC_ERR_MEDIA_TYPE, NULL);
        return false;
    }
    enum byoc_err e;
    if (media_is(ct, "application/json"))
        e = byoc_json_parse(r->body.data, r->body.len, &r->json);
    else
        e = http_form_parse(r, r->body.data, r->body.len);
    if (e) {
        byoc_reply_error(r, e, e == BYOC_ERR_INVALID ? "the form body is not valid" : NULL);
        return false;
    }
    return true;
}

static void req_run(struct byoc_req *r)
{
    if (r->cont) {
        byoc_handler_fn cont = r->cont;
        r->cont = NULL;
        atomic_fetch_sub(&r->h->suspended, 1);
        if (!r->replied) /* answered before the resume, e.g. when a worker refused the job */
            cont(r);
    } else if (!r->body_done) {
        r->body_done = true;
        if (req_decode_body(r))
            r->route->handler(r);
    }
    if (!r->replied && !r->cont) {
        byoc_log(BYOC_LOG_ERROR, log_module(r->h), "handler returned without a reply");
        byoc_reply_error(r, BYOC_ERR_INTERNAL, NULL);
    }
}

/* An answer decided from the headers alone (401, 413 ...) waits until a body of known, bounded
 * length has been read and dropped: a reverse proxy that sends the whole body before reading
 * the answer would otherwise hit a closed connection and turn the answer into a 502. */
static bool drain_first(const struct byoc_req *r)
{
    const char *cl = byoc_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *expect = byoc_req_header(r, MHD_HTTP_HEADER_EXPECT);
    int64_t n = 0;
    /* A client waiting for 100 Continue has sent nothing yet: answer it at once. */
    return cl && !expect && !byoc_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
           byoc_parse_i64(cl, 1, BYOC_HTTP_DRAIN_MAX, &n);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct byoc_req *r = *con_cls;
    if (!r) {
        r = req_new(cls, conn, url, method);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        byoc_log_set_request_id(r->id);
        req_start(r);
        if (r->replied && drain_first(r)) {
            byoc_log_set_request_id(NULL);
            return MHD_YES; /* the answer goes out after the body, see drain_first */
        }
    } else if (*upload_size) {
        enum byoc_err e =
            r->replied ? BYOC_ERR_OK : byoc_buf_append(&r->body, upload, *upload_size);
        r->body_overflow = r->body_overflow || e != BYOC_ERR_OK;
        r->nomem = r->nomem || e == BYOC_ERR_NOMEM; /* 503, not the 413 of an overflow */
        *upload_size = 0;
        return MHD_YES;
    } else {
        byoc_log_set_request_id(r->id);
        if (r->cont || !r->replied)
            req_run(r);
    }
    enum MHD_Result rc = http_req_flush(r);
    byoc_log_set_request_id(NULL);
    return rc;
}

/* The path as logged: a secret route's pattern instead of the path, also for requests that
 * only look like one (another method, a trailing slash) and matched nothing. */
static const char *loggable_path(const struct byoc_req *r)
{
    if (r->route)
        return r->route->secret_path ? r->route->pattern : r->path;
    for (size_t i = 0; r->path && i < r->h->cfg.nroutes; i++) {
        const struct byoc_route *rt = &r->h->cfg.routes[i];
        size_t fixed = strcspn(rt->pattern, "{");
        if (rt->secret_path && strncmp(r->path, rt->pattern, fixed) == 0)
            return rt->pattern;
    }
    return r->path;
}

static void access_log(struct byoc_req *r, enum MHD_RequestTerminationCode toe)
{
    struct byoc_log_line l;
    byoc_log_set_request_id(r->id);
    enum byoc_log_level ok_level = r->h->cfg.access_log_debug ? BYOC_LOG_DEBUG : BYOC_LOG_INFO;
    byoc_log_begin(&l, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ok_level : BYOC_LOG_WARN,
                   log_module(r->h), "request");
    byoc_log_str(&l, "method", r->method);
    /* MHD keeps the query apart; it never reaches the log. A secret path is not logged. */
    byoc_log_str(&l, "path", loggable_path(r));
    byoc_log_str(&l, "route", r->route ? r->route->pattern : NULL);
    byoc_log_str(&l, "principal", r->principal[0] ? r->principal : NULL);
    byoc_log_int(&l, "status", r->queued ? r->status : 0);
    byoc_log_int(&l, "req_bytes", (long long)r->body.len);
    int64_t dur_us = byoc_mono_us() - r->start_us;
    byoc_log_int(&l, "dur_ms", (long long)(dur_us / 1000));
    byoc_log_str(&l, "remote", r->remote);
    byoc_log_str(&l, "peer", r->peer[0] ? r->peer : NULL);
    byoc_log_str(&l, "proto", r->proto);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        byoc_log_int(&l, "termination", (long long)toe);
    byoc_log_end(&l);
    byoc_log_set_request_id(NULL);
    if (!r->h->cfg.no_metrics)
        byoc_metrics_http(r->route ? (int)(r->route - r->h->cfg.routes) : -1,
                          r->queued ? r->status : 0, dur_us);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct byoc_http *h = cls;
    struct byoc_req *r = *con_cls;
    if (!r)
        return;
    access_log(r, toe);
    http_req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&h->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "http", "libmicrohttpd");
    byoc_log_str(&l, "detail", msg);
    byoc_log_end(&l);
}

static bool make_addr(const char *host, int port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return true;
    }
    return false;
}

enum byoc_err byoc_http_start(const struct byoc_http_config *cfg, struct byoc_http **out, char *why,
                              size_t why_cap)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (!make_addr(cfg->host, cfg->port, &ss, &v6)) {
        snprintf(why, why_cap, "BYOCD_LISTEN: %s is not a numeric IPv4 or IPv6 address", cfg->host);
        return BYOC_ERR_CONFIG;
    }
    struct byoc_cidrs trusted;
    char bad[128];
    if (!byoc_cidrs_parse(cfg->trusted_proxies, &trusted, bad, sizeof bad)) {
        snprintf(why, why_cap, "BYOCD_TRUSTED_PROXIES: %s", bad);
        return BYOC_ERR_CONFIG;
    }
    struct byoc_http *h = calloc(1, sizeof *h);
    if (!h)
        return BYOC_ERR_NOMEM;
    h->cfg = *cfg;
    h->trusted = trusted;
    /* epoll. Known (BENCHMARKS.md): libmicrohttpd 0.9.75's epoll loop collapses to a few hundred
     * answers/s when 256 or 512 keep-alive clients are busy at once; its poll loop does not, but
     * when the loop's own pollfd calloc fails right after a resume, it never polls that
     * connection again (tests/integration/test_alloc_fail.c). bench/ceiling.c: the same. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)BYOC_HTTP_CONN_MEMORY,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (!h->d) {
        snprintf(why, why_cap, "%s: cannot listen on %s:%d (in use or not permitted)",
                 cfg->listen_setting ? cfg->listen_setting : "BYOCD_LISTEN", cfg->host, cfg->port);
        free(h);
        return BYOC_ERR_CONFIG;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    *out = h;
    return BYOC_ERR_OK;
}

int byoc_http_port(const struct byoc_http *h)
{
    return h->port;
}

static void wait_until_zero(atomic_int *counter, int64_t budget_ms)
{
    int64_t deadline = byoc_mono_ms() + budget_ms;
    while (atomic_load(counter) > 0 && byoc_mono_ms() < deadline)
        usleep(10 * 1000);
}

void byoc_http_quiesce(struct byoc_http *h)
{
    if (!h || h->quiesced)
        return;
    MHD_socket lsock = MHD_quiesce_daemon(h->d);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    h->quiesced = true;
}

bool byoc_http_stop(struct byoc_http *h)
{
    if (!h)
        return true;
    byoc_http_quiesce(h);
    /* Parked requests must be resumed and answered before the daemon may stop. */
    wait_until_zero(&h->suspended, HTTP_SUSPEND_DRAIN_MS);
    wait_until_zero(&h->inflight, HTTP_INFLIGHT_DRAIN_MS);
    if (atomic_load(&h->suspended) > 0) {
        byoc_log(BYOC_LOG_ERROR, log_module(h), "requests still parked at shutdown; leaving them");
        return false; /* MHD_stop_daemon with suspended connections is undefined */
    }
    MHD_stop_daemon(h->d);
    free(h);
    return true;
}
