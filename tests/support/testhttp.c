/*
 * testhttp — see testhttp.h.
 */
/* POSIX 2008 for strnlen, clock_gettime, pthread_condattr_setclock when the build does not
 * already ask for more (the project builds with -D_GNU_SOURCE). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testhttp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SW_VERIFY_SOURCE_ROOT
#error "build with -DSW_VERIFY_SOURCE_ROOT=\"<source root>\" (tests/support/meson.build)"
#endif

#define TH_VALIDATOR "/tests/openapi/validate_responses.mjs"
#define TH_PATH_MAX 4096

extern char **environ;

/* A growable byte buffer with a hard cap; always NUL-terminated once allocated. */
struct th_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool overflow;
};

static bool th_buf_append(struct th_buf *b, const char *p, size_t n)
{
    if (b->overflow || n > b->max - b->len) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->overflow = true;
            return false;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* Hands the buffer's text over (an empty string if nothing was appended). */
static char *th_buf_take(struct th_buf *b)
{
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    if (!d)
        d = calloc(1, 1);
    return d;
}

static pthread_once_t th_curl_once = PTHREAD_ONCE_INIT;
static bool th_curl_ok;

static void th_curl_init(void)
{
    th_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t th_on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct th_buf *b = userdata;
    return th_buf_append(b, p, size * n) ? size * n : 0;
}

/* Keeps only the last response's headers: a status line (after 100 Continue) starts over. */
static size_t th_on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct th_buf *b = userdata;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        b->len = 0;
    if (b->data)
        b->data[b->len] = '\0';
    return th_buf_append(b, p, len) ? len : 0;
}

static struct curl_slist *th_headers(const char *const *headers, bool *ok)
{
    struct curl_slist *list = NULL;
    *ok = true;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *next = curl_slist_append(list, headers[i]);
        if (!next) {
            *ok = false;
            return list;
        }
        list = next;
    }
    return list;
}

static void th_set_method(CURL *c, const char *method, const char *body, size_t body_len)
{
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || body)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
}

static void th_set_common(CURL *c, const char *url, long timeout_ms, struct th_buf *body,
                          struct th_buf *hdrs)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
}

/* ---------------------------------------------------------------- exchange log */

static char *th_trimmed(const char *p, const char *end);

static void th_log_die(const char *path, const char *what)
{
    fprintf(stderr, "test_http: cannot record to %s=%s: %s\n", TEST_HTTP_LOG_ENV, path, what);
    abort();
}

void test_http_log_append(const cJSON *obj)
{
    const char *path = getenv(TEST_HTTP_LOG_ENV);
    if (!path || !path[0])
        return;
    char *text = cJSON_PrintUnformatted(obj);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (!line) {
        free(text);
        th_log_die(path, "out of memory");
    }
    line[n++] = '\n';
    line[n] = '\0';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        th_log_die(path, strerror(errno));
    ssize_t w;
    do { /* one write per line: O_APPEND keeps concurrent lines whole */
        w = write(fd, line, n);
    } while (w < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    free(line);
    if (w != (ssize_t)n)
        th_log_die(path, w < 0 ? strerror(err) : "short write");
}

/* Adds the header block as {"lower-case-name": "value"} (repeated headers joined by ", ").
 * False if out of memory. */
static bool th_log_headers(cJSON *o, const char *raw)
{
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (const char *line = raw; h && line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *colon = memchr(line, ':', (size_t)(end - line));
        char name[256];
        size_t n = colon ? (size_t)(colon - line) : 0;
        if (n > 0 && n < sizeof(name) && memcmp(line, "HTTP/", 5) != 0) {
            for (size_t i = 0; i < n; i++)
                name[i] = (char)tolower((unsigned char)line[i]);
            name[n] = '\0';
            char *value = th_trimmed(colon + 1, end);
            if (!value)
                return false;
            cJSON *old = cJSON_GetObjectItemCaseSensitive(h, name);
            bool ok;
            if (cJSON_IsString(old)) {
                size_t len = strlen(old->valuestring) + strlen(value) + 3;
                char *both = malloc(len);
                ok = both != NULL;
                if (ok) {
                    snprintf(both, len, "%s, %s", old->valuestring, value);
                    ok = cJSON_ReplaceItemInObjectCaseSensitive(h, name, cJSON_CreateString(both));
                }
                free(both);
            } else {
                ok = cJSON_AddStringToObject(h, name, value) != NULL;
            }
            free(value);
            if (!ok)
                return false;
        }
        line = eol ? eol + 1 : NULL;
    }
    return h != NULL;
}

/* Records a completed exchange when a log is set. */
static void th_log_exchange(const char *method, const char *url, const struct test_resp *r)
{
    const char *path = getenv(TEST_HTTP_LOG_ENV);
    if (!path || !path[0] || r->body_len > TEST_HTTP_MAX_BODY)
        return;
    char *type = test_resp_header(r, "Content-Type");
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "kind", "response") &&
              cJSON_AddStringToObject(o, "method", method) &&
              cJSON_AddStringToObject(o, "url", url) &&
              cJSON_AddNumberToObject(o, "status", (double)r->status) &&
              (type ? cJSON_AddStringToObject(o, "content_type", type) != NULL
                    : cJSON_AddNullToObject(o, "content_type") != NULL) &&
              th_log_headers(o, r->headers) && cJSON_AddStringToObject(o, "body", r->body);
    free(type);
    if (!ok) {
        cJSON_Delete(o);
        th_log_die(path, "out of memory");
    }
    test_http_log_append(o);
    cJSON_Delete(o);
}

static const char *th_source_root(void)
{
    const char *root = getenv("BYOCD_SOURCE_ROOT");
    return root && root[0] ? root : SW_VERIFY_SOURCE_ROOT;
}

int test_http_log_validate(const char *path, bool allow_empty)
{
    const char *node = getenv("BYOCD_NODE");
    if (!node || !node[0])
        node = "node";
    char script[TH_PATH_MAX];
    int w = snprintf(script, sizeof(script), "%s%s", th_source_root(), TH_VALIDATOR);
    if (w < 0 || (size_t)w >= sizeof(script))
        return -1;
    char allow[] = "--allow-empty";
    char *const argv[] = {(char *)node, script, allow_empty ? allow : (char *)path,
                          allow_empty ? (char *)path : NULL, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, node, NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "test_http: cannot run %s: %s\n", node, strerror(rc));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---------------------------------------------------------------- requests */

/* Runs a prepared handle; on success moves the buffers into *out. */
static bool th_perform(CURL *c, struct th_buf *body, struct th_buf *hdrs, struct test_resp *out)
{
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK || body->overflow || hdrs->overflow) {
        fprintf(stderr, "test_http: %s\n", curl_easy_strerror(rc));
        return false;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body_len = body->len;
    out->body = th_buf_take(body);
    out->headers = th_buf_take(hdrs);
    if (!out->body || !out->headers) {
        test_resp_release(out);
        return false;
    }
    return true;
}

bool test_http_timeout(const char *method, const char *url, const char *const *headers,
                       const char *body, size_t body_len, long timeout_ms, struct test_resp *out)
{
    memset(out, 0, sizeof(*out));
    pthread_once(&th_curl_once, th_curl_init);
    if (!th_curl_ok)
        return false;
    CURL *c = curl_easy_init();
    bool ok = false;
    struct curl_slist *list = th_headers(headers, &ok);
    struct th_buf b = {.max = TEST_HTTP_MAX_BODY};
    struct th_buf h = {.max = TEST_HTTP_MAX_HEADERS};
    if (c && ok) {
        th_set_common(c, url, timeout_ms, &b, &h);
        th_set_method(c, method, body, body_len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
        ok = th_perform(c, &b, &h, out);
        if (ok)
            th_log_exchange(method, url, out);
    } else {
        ok = false;
    }
    free(b.data);
    free(h.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return ok;
}

bool test_http(const char *method, const char *url, const char *const *headers, const char *body,
               size_t body_len, struct test_resp *out)
{
    return test_http_timeout(method, url, headers, body, body_len, TEST_HTTP_TIMEOUT_MS, out);
}

/* Copies [p, end) without surrounding blanks. */
static char *th_trimmed(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - p);
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    memcpy(v, p, n);
    v[n] = '\0';
    return v;
}

char *test_resp_header(const struct test_resp *r, const char *name)
{
    size_t name_len = strlen(name);
    const char *line = r && r->headers ? r->headers : NULL;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *colon = memchr(line, ':', (size_t)(end - line));
        if (colon && (size_t)(colon - line) == name_len && strncasecmp(line, name, name_len) == 0)
            return th_trimmed(colon + 1, end);
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

cJSON *test_resp_json(const struct test_resp *r)
{
    if (!r || !r->body)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

void test_resp_release(struct test_resp *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static void th_b64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

char *test_basic_auth(const char *user, const char *pass)
{
    enum { MAX_PAIR = 4096 };
    static const char prefix[] = "Authorization: Basic ";
    char pair[MAX_PAIR + 1];
    int n = snprintf(pair, sizeof(pair), "%s:%s", user, pass);
    if (n < 0 || (size_t)n > MAX_PAIR)
        return NULL;
    size_t cap = sizeof(prefix) + ((size_t)n + 2) / 3 * 4;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    memcpy(out, prefix, sizeof(prefix) - 1);
    th_b64_encode((const unsigned char *)pair, (size_t)n, out + sizeof(prefix) - 1);
    return out;
}

/* ---------------------------------------------------------------- raw sockets */

static long th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int th_connect(int port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool th_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads into b until EOF, error, the cap, or the deadline. */
static void th_read_until(int fd, struct th_buf *b, long deadline_ms)
{
    char chunk[4096];
    for (;;) {
        long left = deadline_ms - th_now_ms();
        if (left <= 0)
            return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return;
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || !th_buf_append(b, chunk, (size_t)r))
            return;
    }
}

char *test_raw_http(int port, const char *raw, size_t raw_len, int timeout_ms)
{
    long deadline = th_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int fd = th_connect(port);
    if (fd < 0)
        return NULL;
    /* The server may answer and close before it has read everything (a 431 or 413), so a
     * failed send still reads what came back. */
    bool sent = th_send_all(fd, raw, raw_len);
    struct th_buf b = {.max = TEST_RAW_HTTP_MAX};
    th_read_until(fd, &b, deadline);
    close(fd);
    if (!sent && b.len == 0) {
        free(b.data);
        return NULL;
    }
    return th_buf_take(&b);
}
