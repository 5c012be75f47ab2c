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
    bool vetoed; /* the resolved address was refused (deny_link_local) */
    long retry_after_s;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct sink *s = user;
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

/* Vetoes addresses no tenant-supplied URL may reach; sees the resolved address, so a DNS name
 * cannot smuggle one in. */
static curl_socket_t open_checked(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct sink *s = user;
    bool bad = false;
    if (a->family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
        uint32_t ip = ntohl(in->sin_addr.s_addr);
        bad = (ip >> 16) == 0xA9FE || ip == 0 || (ip >> 28) == 0xE; /* 169.254/16, 0, 224/4 */
    } else if (a->family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        bad = (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || b[0] == 0xFF ||
              IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
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
    if (req->deny_link_local) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s);
    }
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
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)(req->max_response ? req->max_response : BYOC_OUT_RESPONSE_MAX));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "byocd/0.1");
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

enum byoc_err byoc_out_do(const struct byoc_out_req *req, struct byoc_out_resp *resp)
{
    struct sink s = {.retry_after_s = -1};
    byoc_buf_init(&s.body, req->max_response ? req->max_response : BYOC_OUT_RESPONSE_MAX);
    bool ok = true;
    struct curl_slist *h = build_headers(req, &ok);
    CURL *c = ok ? curl_easy_init() : NULL;
    if (!c) {
        curl_slist_free_all(h);
        return BYOC_ERR_NOMEM;
    }
    set_options(c, req, h, &s);
    enum byoc_err e = map_curl(curl_easy_perform(c), &s);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
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
