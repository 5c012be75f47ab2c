/* The only file that includes curl/curl.h. */
#include "byoc/outbound.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "byoc/buf.h"
#include "byoc/limits.h"
#include "byoc/metrics.h"
#include "byoc/util.h"
#include "byoc/banned.h"

bool byoc_out_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void byoc_out_global_cleanup(void)
{
    curl_global_cleanup();
}

struct sink {
    struct byoc_buf body;
    bool overflow;
    bool vetoed; /* the resolved address was refused (deny_link_local, deny_private) */
    bool deny_private, truncate;
    size_t cap;
    long retry_after_s;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    if (s->truncate) {
        size_t room = s->cap > s->body.len ? s->cap - s->body.len : 0;
        size_t take = size * n < room ? size * n : room;
        if (take && byoc_buf_append(&s->body, data, take) != BYOC_ERR_OK)
            return 0;
        return size * n;
    }
    if (byoc_buf_append(&s->body, data, size * n) != BYOC_ERR_OK) {
        s->overflow = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name && strncasecmp(data, name, sizeof name - 1) == 0) {
        char v[32];
        size_t vlen = len - (sizeof name - 1);
        if (vlen < sizeof v) {
            memcpy(v, data + sizeof name - 1, vlen);
            v[vlen] = '\0';
            char *p = v;
            while (*p == ' ')
                p++;
            p[strcspn(p, "\r\n ")] = '\0';
            int64_t secs;
            if (byoc_parse_i64(p, 0, 86400, &secs))
                s->retry_after_s = (long)secs;
        }
    }
    return len;
}

static struct curl_slist *build_headers(const struct byoc_out_req *req, bool *ok)
{
    struct curl_slist *h = NULL, *next;
    char line[BYOC_TOKEN_MAX_LEN + 64];
    h = curl_slist_append(h, "Accept: application/json");
    if (h && req->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        next = curl_slist_append(h, line);
        h = next ? next : h;
        *ok = *ok && next;
    }
    if (h && req->bearer) {
        int n = snprintf(line, sizeof line, "Authorization: Bearer %s", req->bearer);
        next = (n > 0 && (size_t)n < sizeof line) ? curl_slist_append(h, line) : NULL;
        h = next ? next : h;
        *ok = *ok && next;
    }
    for (size_t i = 0; h && *ok && req->headers && req->headers[i]; i++) {
        next = curl_slist_append(h, req->headers[i]);
        h = next ? next : h;
        *ok = next != NULL;
    }
    h = h ? curl_slist_append(h, "Expect:") : h; /* no 100-continue round trip */
    *ok = *ok && h;
    return h;
}

static enum byoc_err map_curl(CURLcode rc, const struct sink *s)
{
    if (rc == CURLE_OK)
        return BYOC_ERR_OK;
    if (s->overflow || rc == CURLE_FILESIZE_EXCEEDED)
        return BYOC_ERR_TOO_LARGE;
    if (s->vetoed)
        return BYOC_ERR_FORBIDDEN;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return BYOC_ERR_UPSTREAM_TIMEOUT;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return BYOC_ERR_INVALID;
    if (rc == CURLE_OUT_OF_MEMORY)
        return BYOC_ERR_NOMEM;
    return BYOC_ERR_UPSTREAM_NET;
}

/* True for IPv4 addresses that are not public (host byte order); link_only: only those no
 * tenant-supplied URL may ever reach (link-local incl. cloud metadata, unspecified, multicast). */
static bool v4_refused(uint32_t ip, bool link_only)
{
    bool link = (ip >> 16) == 0xA9FE || (ip >> 24) == 0 || (ip >> 28) == 0xE || ip == 0xFFFFFFFF;
    if (link || link_only)
        return link;
    return (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == 0xAC1 /* 172.16/12 */ ||
           (ip >> 16) == 0xC0A8 /* 192.168/16 */ || (ip >> 22) == 0x191 /* 100.64/10 */ ||
           (ip >> 8) == 0xC00000 /* 192.0.0/24 */ || (ip >> 17) == 0x6309 /* 198.18/15 */ ||
           (ip >> 28) == 0xF /* 240/4 reserved */;
}

static bool v6_refused(const struct in6_addr *a, bool link_only)
{
    const uint8_t *b = a->s6_addr;
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b}; /* 64:ff9b::/96 embeds IPv4 */
    static const uint8_t ec2_metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54};
    if (memcmp(b, ec2_metadata, sizeof ec2_metadata) == 0)
        return true; /* fd00:ec2::254, the IPv6 cloud metadata address, even in link-only mode */
    if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) || memcmp(b, nat64, 12) == 0) {
        uint32_t ip = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return link_only || v4_refused(ip, false); /* a mapped address is never needed here */
    }
    bool link =
        (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || b[0] == 0xFF || IN6_IS_ADDR_UNSPECIFIED(a);
    if (link || link_only)
        return link;
    return IN6_IS_ADDR_LOOPBACK(a) || (b[0] & 0xFE) == 0xFC /* fc00::/7 */ ||
           (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) /* fec0::/10 site-local */ ||
           (b[0] == 0x20 && b[1] == 0x02) /* 6to4 can embed any IPv4 address */;
}

/* Vetoes addresses the request may not reach; sees the resolved address, so a DNS name cannot
 * smuggle one in (nor rebind to one after a check). */
static curl_socket_t open_checked(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct sink *s = user;
    bool bad = true; /* unknown families too */
    if (a->family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
        bad = v4_refused(ntohl(in->sin_addr.s_addr), !s->deny_private);
    } else if (a->family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;
        bad = v6_refused(&in6->sin6_addr, !s->deny_private);
    }
    if (bad) {
        s->vetoed = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static void set_options(CURL *c, const struct byoc_out_req *req, struct curl_slist *h,
                        struct sink *s)
{
    if (req->deny_link_local || req->deny_private) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s);
    }
    if (req->deny_private || req->no_proxy)
        curl_easy_setopt(c, CURLOPT_PROXY, ""); /* a proxy would hide the address checked */
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms
                                             : (long)BYOC_OUT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->total_timeout_ms ? req->total_timeout_ms
                                           : (long)BYOC_OUT_TOTAL_TIMEOUT_MS);
    if (!req->truncate_response)
        curl_easy_setopt(
            c, CURLOPT_MAXFILESIZE_LARGE,
            (curl_off_t)(req->max_response ? req->max_response : BYOC_OUT_RESPONSE_MAX));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "byocd/" BYOC_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    bool sends_body = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0;
    if (req->body || sends_body) { /* an empty POST still says Content-Length: 0 */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->basic_user && req->basic_password) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->basic_password);
    }
}

static void sink_init(struct sink *s, const struct byoc_out_req *req)
{
    *s = (struct sink){.retry_after_s = -1,
                       .deny_private = req->deny_private,
                       .truncate = req->truncate_response,
                       .cap = req->max_response ? req->max_response : BYOC_OUT_RESPONSE_MAX};
    byoc_buf_init(&s->body, s->cap);
}

enum byoc_err byoc_out_do(const struct byoc_out_req *req, struct byoc_out_resp *resp)
{
    struct sink s;
    sink_init(&s, req);
    bool ok = true;
    struct curl_slist *h = build_headers(req, &ok);
    CURL *c = ok ? curl_easy_init() : NULL;
    if (!c) {
        curl_slist_free_all(h);
        return BYOC_ERR_NOMEM;
    }
    set_options(c, req, h, &s);
    int64_t started = byoc_mono_us();
    enum byoc_err e = map_curl(curl_easy_perform(c), &s);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (req->metric)
        byoc_metrics_cxone(req->metric, e ? 0 : status, byoc_mono_us() - started);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (e) {
        byoc_buf_release(&s.body);
        return e;
    }
    resp->status = status;
    resp->retry_after_s = s.retry_after_s;
    resp->body = byoc_buf_steal(&s.body, &resp->body_len);
    return resp->body ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

void byoc_out_resp_release(struct byoc_out_resp *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

/* ---- URLs tenants give us ---- */

static bool host_refused(const char *host)
{
    char h[256];
    size_t len = strlen(host);
    if (len >= sizeof h)
        return true; /* longer than any DNS name (253): nothing to examine, so no */
    memcpy(h, host, len + 1);
    for (char *p = h; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (len && h[len - 1] == '.')
        h[--len] = '\0'; /* "localhost." is localhost */
    static const char local[] = ".localhost";
    if (strcmp(h, "localhost") == 0 ||
        (len > sizeof local - 1 && strcmp(h + len - (sizeof local - 1), local) == 0))
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (h[0] == '[' && len > 2 && h[len - 1] == ']') {
        h[len - 1] = '\0';
        char *zone = strchr(h + 1, '%');
        if (zone)
            *zone = '\0';
        return inet_pton(AF_INET6, h + 1, &v6) != 1 || v6_refused(&v6, false);
    }
    /* inet_aton takes the legacy forms too (0x7f000001, 2130706433, 0177.1). */
    return inet_aton(h, &v4) && v4_refused(ntohl(v4.s_addr), false);
}

static enum byoc_err url_refuse(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return BYOC_ERR_INVALID;
}

enum byoc_err byoc_out_url_check(const char *url, bool allow_private, char *why, size_t why_cap)
{
    if (!url || !url[0] || strlen(url) > BYOC_URL_MAX)
        return url_refuse(why, why_cap, "an http or https URL of at most 2048 bytes");
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return url_refuse(why, why_cap, "spaces and control characters are not allowed");
    }
    CURLU *u = curl_url();
    if (!u)
        return BYOC_ERR_NOMEM;
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL, *fragment = NULL;
    enum byoc_err e = BYOC_ERR_OK;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
        e = url_refuse(why, why_cap, "not an absolute URL with a host");
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        e = url_refuse(why, why_cap, "only http and https are allowed");
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
        e = url_refuse(why, why_cap, "credentials in the URL are not allowed");
    else if (curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK)
        e = url_refuse(why, why_cap, "a fragment is not allowed");
    else if (!allow_private && host_refused(host))
        e = url_refuse(why, why_cap,
                       "the host is a loopback, private, link-local or otherwise non-public "
                       "address");
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_free(fragment);
    curl_url_cleanup(u);
    return e;
}

/* ---- many transfers at once ---- */

struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    struct sink sink;
    void *user;
    struct xfer *prev, *next; /* the multi's list of what runs */
};

struct byoc_out_multi {
    CURLM *m;
    struct xfer *head;
    size_t count;
};

enum byoc_err byoc_out_multi_new(long max_per_host, struct byoc_out_multi **out)
{
    struct byoc_out_multi *m = calloc(1, sizeof *m);
    if (!m)
        return BYOC_ERR_NOMEM;
    m->m = curl_multi_init();
    if (!m->m) {
        free(m);
        return BYOC_ERR_NOMEM;
    }
    curl_multi_setopt(m->m, CURLMOPT_MAX_HOST_CONNECTIONS, max_per_host);
    curl_multi_setopt(m->m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    *out = m;
    return BYOC_ERR_OK;
}

static void xfer_free(struct byoc_out_multi *m, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        m->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    curl_multi_remove_handle(m->m, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    byoc_buf_release(&x->sink.body);
    free(x);
    m->count--;
}

void byoc_out_multi_free(struct byoc_out_multi *m)
{
    if (!m)
        return;
    while (m->head)
        xfer_free(m, m->head);
    curl_multi_cleanup(m->m);
    free(m);
}

enum byoc_err byoc_out_multi_add(struct byoc_out_multi *m, const struct byoc_out_req *req,
                                 void *user)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x)
        return BYOC_ERR_NOMEM;
    sink_init(&x->sink, req);
    x->user = user;
    bool ok = true;
    x->headers = build_headers(req, &ok);
    x->easy = ok ? curl_easy_init() : NULL;
    if (!x->easy) {
        curl_slist_free_all(x->headers);
        free(x);
        return BYOC_ERR_NOMEM;
    }
    set_options(x->easy, req, x->headers, &x->sink);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
    x->next = m->head;
    if (m->head)
        m->head->prev = x;
    m->head = x;
    m->count++;
    if (curl_multi_add_handle(m->m, x->easy) != CURLM_OK) {
        xfer_free(m, x);
        return BYOC_ERR_NOMEM;
    }
    return BYOC_ERR_OK;
}

void byoc_out_multi_run(struct byoc_out_multi *m, int timeout_ms,
                        void (*done)(void *ctx, const struct byoc_out_done *d), void *ctx)
{
    int running = 0, left = 0;
    curl_multi_poll(m->m, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(m->m, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m->m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        struct byoc_out_done d = {.user = x->user,
                                  .err = map_curl(msg->data.result, &x->sink),
                                  .retry_after_s = x->sink.retry_after_s};
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &d.status);
        d.body = byoc_buf_str(&x->sink.body);
        done(ctx, &d);
        xfer_free(m, x);
    }
}

void byoc_out_multi_abort(struct byoc_out_multi *m,
                          void (*done)(void *ctx, const struct byoc_out_done *d), void *ctx)
{
    while (m->head) {
        struct xfer *x = m->head;
        struct byoc_out_done d = {
            .user = x->user, .err = BYOC_ERR_SHUTTING_DOWN, .retry_after_s = -1, .body = ""};
        done(ctx, &d);
        xfer_free(m, x);
    }
}

size_t byoc_out_multi_count(const struct byoc_out_multi *m)
{
    return m->count;
}

void byoc_out_multi_wakeup(struct byoc_out_multi *m)
{
    curl_multi_wakeup(m->m);
}
