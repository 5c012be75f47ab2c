/* HTTP hygiene of the real byocd: routing errors, request ids, body caps, media types, JSON
 * limits, framing, admin authentication, health probes, and what reaches the log. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 30
#define NO_CXONE "http://127.0.0.1:9"
#define WRONG_ADMIN "Authorization: Bearer wrong-admin-token-0123456789"
#define SECRET_OTT "SECRET-OTT-123"

static struct byocd B;

/* ---- fixtures: one byocd per TCase, started in the runner process ---- */

static void server_up(void)
{
    byocd_start(&B, NULL, NULL);
}

/* Stops byocd; keeps its directory (and says so) unless it exited 0 with a clean log. */
static void server_down(void)
{
    byocd_stop_and_clean(&B);
}

/* glibc's getenv() returns the first of duplicate entries and the harness puts its own
 * BYOCD_ADMIN_TOKEN first, so extra_env cannot unset it: a wrapper removes it instead. */
static char wrapper_path[300];

static void write_wrapper(const char *real)
{
    char dir[] = "/tmp/byocd-itest-wrap-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(wrapper_path, sizeof wrapper_path, "%s/byocd-no-admin", dir);
    FILE *f = fopen(wrapper_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\nexec /usr/bin/env -u BYOCD_ADMIN_TOKEN '%s' \"$@\"\n", real);
    fclose(f);
    ck_assert_int_eq(chmod(wrapper_path, 0700), 0);
}

static void server_up_no_admin(void)
{
    static const char *const env[] = {"BYOCD_ADMIN_TOKEN=", NULL};
    char *real = strdup(getenv("BYOCD_TEST_BINARY"));
    write_wrapper(real);
    setenv("BYOCD_TEST_BINARY", wrapper_path, 1);
    byocd_start(&B, NULL, env);
    setenv("BYOCD_TEST_BINARY", real, 1);
    free(real);
}

static void server_down_no_admin(void)
{
    server_down();
    unlink(wrapper_path);
    char *slash = strrchr(wrapper_path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(wrapper_path);
    }
}

/* ---- helpers ---- */

static void req(const char *method, const char *path, const char *const *headers, const char *body,
                size_t len, struct test_resp *r)
{
    char *url = byocd_url(&B, path);
    ck_assert_msg(test_http(method, url, headers, body, len, r), "%s %s: no answer", method, path);
    free(url);
}

static void admin_post(const char *path, const char *content_type, const char *body, size_t len,
                       struct test_resp *r)
{
    const char *h[] = {B.admin_auth, content_type, NULL};
    req("POST", path, h, body, len, r);
}

/* The error.code of a JSON error body, or "" (static storage, overwritten per call). */
static const char *err_code(const struct test_resp *r)
{
    static char code[64];
    code[0] = '\0';
    cJSON *j = test_resp_json(r);
    const cJSON *c =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
    if (cJSON_IsString(c))
        snprintf(code, sizeof code, "%s", c->valuestring);
    cJSON_Delete(j);
    return code;
}

/* A JSON error answer; like every answer it carries an X-Request-Id, the body's request_id. */
static void assert_json_error(const struct test_resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    char *ct = test_resp_header(r, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "application/json", 16) == 0, "content type %s", ct);
    free(ct);
    ck_assert_str_eq(err_code(r), code);
    char *rid = test_resp_header(r, "X-Request-Id");
    ck_assert_msg(rid && rid[0], "no X-Request-Id on a %ld", status);
    cJSON *j = test_resp_json(r);
    const cJSON *body_rid = cJSON_GetObjectItemCaseSensitive(j, "request_id");
    ck_assert_msg(cJSON_IsString(body_rid) && strcmp(body_rid->valuestring, rid) == 0,
                  "request_id in body differs from X-Request-Id %s", rid);
    cJSON_Delete(j);
    free(rid);
}

static void assert_healthy(void)
{
    struct test_resp r;
    req("GET", "/healthz", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}

/* A body of n bytes: a JSON object with one long string (valid JSON, just too big). */
static char *big_json(size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', n);
    memcpy(s, "{\"name\":\"", 9);
    memcpy(s + n - 2, "\"}", 2);
    s[n] = '\0';
    return s;
}

/* {"a":{"a":...{}...}} with `depth` objects. */
static char *nested_json(int depth)
{
    size_t cap = (size_t)depth * 8 + 8, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < depth - 1; i++)
        n += (size_t)snprintf(s + n, cap - n, "{\"a\":");
    n += (size_t)snprintf(s + n, cap - n, "{}");
    for (int i = 0; i < depth - 1; i++)
        s[n++] = '}';
    s[n] = '\0';
    return s;
}

/* Status code from a raw "HTTP/1.x NNN ..." answer, or 0. */
static int raw_status(const char *answer)
{
    if (!answer || strncmp(answer, "HTTP/1.", 7) != 0 || strlen(answer) < 12)
        return 0;
    return (int)strtol(answer + 9, NULL, 10);
}

/* ---- routing ---- */

START_TEST(test_unknown_path_404_json)
{
    struct test_resp r;
    req("GET", "/no/such/thing", NULL, NULL, 0, &r);
    assert_json_error(&r, 404, "not_found");
    cJSON *j = test_resp_json(&r);
    const cJSON *msg =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "message");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "request_id");
    ck_assert(cJSON_IsString(msg) && msg->valuestring[0]);
    ck_assert(cJSON_IsString(rid));
    char *hdr = test_resp_header(&r, "X-Request-Id");
    ck_assert_ptr_nonnull(hdr);
    ck_assert_str_eq(rid->valuestring, hdr);
    free(hdr);
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

START_TEST(test_wrong_method_405_allow)
{
    struct test_resp r;
    req("PUT", "/admin/v1/providers", NULL, "{}", 2, &r);
    assert_json_error(&r, 405, "method_not_allowed");
    char *allow = test_resp_header(&r, "Allow");
    ck_assert_msg(allow && strstr(allow, "GET") && strstr(allow, "POST"), "Allow: %s", allow);
    free(allow);
    test_resp_release(&r);
    req("DELETE", "/healthz", NULL, NULL, 0, &r);
    assert_json_error(&r, 405, "method_not_allowed");
    allow = test_resp_header(&r, "Allow");
    ck_assert_msg(allow && strcmp(allow, "GET") == 0, "Allow: %s", allow);
    free(allow);
    test_resp_release(&r);
}
END_TEST

/* ---- request ids ---- */

START_TEST(test_request_id_generated)
{
    struct test_resp r1, r2;
    req("GET", "/healthz", NULL, NULL, 0, &r1);
    req("GET", "/no/such/thing", NULL, NULL, 0, &r2);
    char *a = test_resp_header(&r1, "X-Request-Id"), *b = test_resp_header(&r2, "X-Request-Id");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_gt(strlen(a), 8);
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
    test_resp_release(&r1);
    test_resp_release(&r2);
}
END_TEST

static char *id_for(const char *given)
{
    char line[512];
    snprintf(line, sizeof line, "X-Request-Id: %s", given);
    const char *h[] = {line, NULL};
    struct test_resp r;
    req("GET", "/healthz", h, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    char *id = test_resp_header(&r, "X-Request-Id");
    ck_assert_ptr_nonnull(id);
    test_resp_release(&r);
    return id;
}

START_TEST(test_request_id_valid_echoed)
{
    char *id = id_for("client-req_42.abc:7");
    ck_assert_str_eq(id, "client-req_42.abc:7");
    free(id);
    char max[65];
    memset(max, 'k', 64);
    max[64] = '\0';
    id = id_for(max);
    ck_assert_str_eq(id, max);
    free(id);
}
END_TEST

START_TEST(test_request_id_invalid_replaced)
{
    char *id = id_for("has spaces in it");
    ck_assert_str_ne(id, "has spaces in it");
    ck_assert_ptr_null(strchr(id, ' '));
    free(id);
    char longid[201];
    memset(longid, 'x', 200);
    longid[200] = '\0';
    id = id_for(longid);
    ck_assert_str_ne(id, longid);
    ck_assert_uint_le(strlen(id), 64);
    free(id);
    char over[66];
    memset(over, 'k', 65);
    over[65] = '\0';
    id = id_for(over);
    ck_assert_str_ne(id, over);
    free(id);
    id = id_for("bad\"quote<script>");
    ck_assert_ptr_null(strchr(id, '"'));
    ck_assert_ptr_null(strchr(id, '<'));
    free(id);
}
END_TEST

/* ---- body caps ---- */

START_TEST(test_admin_body_over_cap_413)
{
    char *body = big_json(17 * 1024);
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type: application/json", body, strlen(body), &r);
    assert_json_error(&r, 413, "body_too_large");
    test_resp_release(&r);
    free(body);
    assert_healthy();
}
END_TEST

START_TEST(test_box_body_over_cap_413)
{
    struct provider p;
    provider_create(&B, NO_CXONE, "int-1", &p);
    char *tok = cxone_token(&B, &p), *auth = bearer_line(tok);
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/post-1/messages", p.id);
    char *body = big_json(256 * 1024 + 1);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct test_resp r;
    req("POST", path, h, body, strlen(body), &r);
    assert_json_error(&r, 413, "body_too_large");
    test_resp_release(&r);
    free(body);
    free(auth);
    free(tok);
    provider_release(&p);
    assert_healthy();
}
END_TEST

/* Sends `total` bytes of JSON in 4 KiB chunks without a Content-Length; returns the answer. */
static char *send_chunked(const char *path, size_t total)
{
    char *body = big_json(total);
    size_t cap = total + total / 1024 * 16 + 1024, n = 0;
    char *raw = malloc(cap);
    ck_assert_ptr_nonnull(raw);
    n += (size_t)snprintf(raw, cap,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n",
                          path, B.admin_auth);
    for (size_t off = 0; off < total; off += 4096) {
        size_t len = total - off < 4096 ? total - off : 4096;
        n += (size_t)snprintf(raw + n, cap - n, "%zx\r\n", len);
        memcpy(raw + n, body + off, len);
        n += len;
        n += (size_t)snprintf(raw + n, cap - n, "\r\n");
    }
    n += (size_t)snprintf(raw + n, cap - n, "0\r\n\r\n");
    char *answer = test_raw_http(B.port, raw, n, 10000);
    free(raw);
    free(body);
    return answer;
}

START_TEST(test_chunked_over_cap_413)
{
    char *answer = send_chunked("/admin/v1/providers", 17 * 1024);
    ck_assert_ptr_nonnull(answer);
    ck_assert_msg(raw_status(answer) == 413, "answer: %.300s", answer);
    ck_assert_ptr_nonnull(strstr(answer, "body_too_large"));
    free(answer);
    assert_healthy();
}
END_TEST

START_TEST(test_chunked_under_cap_accepted)
{
    /* Same framing under the cap reaches the handler (which rejects the content, not the size). */
    char *answer = send_chunked("/admin/v1/providers", 8 * 1024);
    ck_assert_ptr_nonnull(answer);
    ck_assert_msg(raw_status(answer) == 400, "answer: %.300s", answer);
    ck_assert_ptr_nonnull(strstr(answer, "invalid_request"));
    free(answer);
}
END_TEST

/* A route that takes no body refuses one, declared or chunked, instead of ignoring it. */
START_TEST(test_body_on_bodiless_route_413)
{
    struct provider p;
    provider_create(&B, NO_CXONE, "int-1", &p);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", p.id);
    struct test_resp r;
    const char *h[] = {B.admin_auth, "Content-Type: application/json", NULL};
    req("DELETE", path, h, "{\"really\":true}", 15, &r);
    assert_json_error(&r, 413, "body_too_large");
    test_resp_release(&r);
    snprintf(path, sizeof path, "/admin/v1/providers/%s/deliveries/replay", p.id);
    char *answer = send_chunked(path, 100);
    ck_assert_ptr_nonnull(answer);
    ck_assert_msg(raw_status(answer) == 413, "answer: %.300s", answer);
    free(answer);
    snprintf(path, sizeof path, "/admin/v1/providers/%s", p.id);
    req("GET", path, h, NULL, 0, &r); /* nothing was deleted */
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    provider_release(&p);
    assert_healthy();
}
END_TEST

/* ---- media types ---- */

START_TEST(test_text_plain_415)
{
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type: text/plain", "{}", 2, &r);
    assert_json_error(&r, 415, "unsupported_media_type");
    test_resp_release(&r);
}
END_TEST

START_TEST(test_json_without_content_type_415)
{
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type:", "{\"name\":\"x\"}", 12, &r);
    assert_json_error(&r, 415, "unsupported_media_type");
    test_resp_release(&r);
}
END_TEST

START_TEST(test_json_with_charset_accepted)
{
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type: application/json; charset=utf-8", "{}", 2, &r);
    assert_json_error(&r, 400, "invalid_request");
    test_resp_release(&r);
}
END_TEST

/* ---- JSON limits ---- */

static void post_json_expect(const char *body, size_t len, const char *code)
{
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type: application/json", body, len, &r);
    assert_json_error(&r, 400, code);
    test_resp_release(&r);
}

START_TEST(test_invalid_json_400)
{
    post_json_expect("{\"name\": ", 9, "invalid_json");
    post_json_expect("{'name':'x'}", 12, "invalid_json");
}
END_TEST

START_TEST(test_invalid_utf8_400)
{
    static const char body[] = "{\"name\":\"\xC3\x28\"}";
    post_json_expect(body, sizeof body - 1, "invalid_utf8");
}
END_TEST

START_TEST(test_depth_33_too_deep)
{
    char *body = nested_json(33);
    post_json_expect(body, strlen(body), "json_too_deep");
    free(body);
}
END_TEST

START_TEST(test_depth_32_parsed)
{
    char *body = nested_json(32);
    struct test_resp r;
    admin_post("/admin/v1/providers", "Content-Type: application/json", body, strlen(body), &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_ne(err_code(&r), "json_too_deep"); /* parsed; the handler judged content */
    ck_assert_str_ne(err_code(&r), "invalid_json");
    test_resp_release(&r);
    free(body);
}
END_TEST

START_TEST(test_array_body_invalid_request)
{
    post_json_expect("[{\"name\":\"x\"}]", 14, "invalid_request");
}
END_TEST

START_TEST(test_trailing_garbage_invalid_json)
{
    post_json_expect("{\"name\":\"x\"} garbage", 20, "invalid_json");
    post_json_expect("{}{}", 4, "invalid_json");
}
END_TEST

START_TEST(test_nul_byte_invalid_json)
{
    static const char body[] = "{\"name\":\"a\0b\"}";
    post_json_expect(body, sizeof body - 1, "invalid_json");
}
END_TEST

/* ---- framing ---- */

START_TEST(test_cl_and_te_rejected)
{
    static const char raw[] = "POST /admin/v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Authorization: Bearer " HARNESS_ADMIN_TOKEN "\r\n"
                              "Content-Type: application/json\r\nContent-Length: 7\r\n"
                              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                              "2\r\n{}\r\n0\r\n\r\n";
    char *answer = test_raw_http(B.port, raw, sizeof raw - 1, 5000);
    ck_assert_ptr_nonnull(answer);
    int status = raw_status(answer);
    ck_assert_msg(status >= 400 && status < 500, "answer: %.300s", answer);
    /* When byocd (not libmicrohttpd) answered, it names the reason. */
    if (strstr(answer, "\"error\""))
        ck_assert_msg(strstr(answer, "bad_framing"), "answer: %.300s", answer);
    free(answer);
    assert_healthy();
}
END_TEST

START_TEST(test_garbage_request_line_survived)
{
    static const char raw[] = "\x01\x02 NOT HTTP AT ALL\r\n\r\n";
    char *answer = test_raw_http(B.port, raw, sizeof raw - 1, 3000);
    ck_assert_ptr_nonnull(answer);
    ck_assert_msg(answer[0] == '\0' || (raw_status(answer) >= 400 && raw_status(answer) < 500),
                  "answer: %.300s", answer);
    free(answer);
    assert_healthy();
}
END_TEST

START_TEST(test_huge_header_rejected)
{
    size_t n = 70 * 1024;
    char *line = malloc(n + 16);
    ck_assert_ptr_nonnull(line);
    memcpy(line, "X-Filler: ", 10);
    memset(line + 10, 'f', n);
    line[10 + n] = '\0';
    const char *h[] = {line, NULL};
    struct test_resp r;
    char *url = byocd_url(&B, "/healthz");
    bool got = test_http("GET", url, h, NULL, 0, &r);
    ck_assert_msg(!got || (r.status >= 400 && r.status < 500), "status %ld", r.status);
    test_resp_release(&r);
    free(url);
    free(line);
    assert_healthy();
}
END_TEST

/* ---- admin authentication ---- */

START_TEST(test_admin_no_token_401)
{
    struct test_resp r;
    req("GET", "/admin/v1/providers", NULL, NULL, 0, &r);
    assert_json_error(&r, 401, "unauthorized");
    char *www = test_resp_header(&r, "WWW-Authenticate");
    ck_assert_msg(www && strncmp(www, "Bearer", 6) == 0, "WWW-Authenticate: %s", www);
    free(www);
    test_resp_release(&r);
}
END_TEST

/* A client that waits for 100 Continue before its body gets the refusal at once, not an
 * invitation to upload 2 MB first. */
START_TEST(test_refusal_before_100_continue)
{
    static const char raw[] = "POST /admin/v1/providers HTTP/1.1\r\nHost: t\r\n"
                              "Content-Type: application/json\r\nContent-Length: 2000000\r\n"
                              "Expect: 100-continue\r\n\r\n";
    char *answer = test_raw_http(B.port, raw, sizeof raw - 1, 3000);
    ck_assert_ptr_nonnull(answer);
    ck_assert_msg(strncmp(answer, "HTTP/1.1 401", 12) == 0, "answer: %.80s", answer);
    free(answer);
}
END_TEST

START_TEST(test_admin_wrong_token_401)
{
    static const char *const cases[] = {WRONG_ADMIN, "Authorization: Bearer ",
                                        "Authorization: Basic dGVzdDp0ZXN0",
                                        "Authorization: Bearer " HARNESS_ADMIN_TOKEN "x", NULL};
    for (size_t i = 0; cases[i]; i++) {
        const char *h[] = {cases[i], NULL};
        struct test_resp r;
        req("GET", "/admin/v1/providers", h, NULL, 0, &r);
        ck_assert_msg(r.status == 401, "%s: %ld", cases[i], r.status);
        ck_assert_str_eq(err_code(&r), "unauthorized");
        test_resp_release(&r);
    }
}
END_TEST

START_TEST(test_admin_token_accepted)
{
    const char *h[] = {B.admin_auth, NULL};
    struct test_resp r;
    req("GET", "/admin/v1/providers", h, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "items")));
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

START_TEST(test_admin_off_404)
{
    static const char *const auths[] = {"Authorization: Bearer " HARNESS_ADMIN_TOKEN, NULL};
    for (size_t i = 0; i < 2; i++) {
        const char *h[] = {auths[i], NULL};
        struct test_resp r;
        req("GET", "/admin/v1/providers", h, NULL, 0, &r);
        assert_json_error(&r, 404, "not_found");
        ck_assert_msg(strstr(r.body, "BYOCD_ADMIN_TOKEN"), "body: %s", r.body);
        test_resp_release(&r);
    }
    assert_healthy();
}
END_TEST

/* ---- health ---- */

START_TEST(test_healthz)
{
    struct test_resp r;
    req("GET", "/healthz", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
    ck_assert(cJSON_IsString(s));
    ck_assert_str_eq(s->valuestring, "ok");
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

START_TEST(test_readyz)
{
    struct test_resp r;
    req("GET", "/readyz", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
    ck_assert(cJSON_IsString(s));
    ck_assert_str_eq(s->valuestring, "ready");
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

/* ---- the log ---- */

/* Fires a mix of bad requests carrying secrets; returns nothing, asserts nothing. */
static void bad_request_battery(const struct provider *p, const char *bearer)
{
    const char *wrong[] = {WRONG_ADMIN, NULL};
    const char *with_bearer[] = {bearer, "Content-Type: application/json", NULL};
    struct test_resp r;
    char path[256];
    req("GET", "/admin/v1/providers", wrong, NULL, 0, &r);
    test_resp_release(&r);
    admin_post("/admin/v1/providers", "Content-Type: application/json", "{bad", 4, &r);
    test_resp_release(&r);
    admin_post("/admin/v1/providers", "Content-Type: text/plain", "x", 1, &r);
    test_resp_release(&r);
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/p1/messages", p->id);
    req("POST", path, with_bearer, "{\"x\":", 5, &r);
    test_resp_release(&r);
    snprintf(path, sizeof path, "/cxone/%s/box/9.9/unknown", p->id);
    req("POST", path, with_bearer, "{\"secret\":\"body\"}", 17, &r);
    test_resp_release(&r);
    snprintf(path, sizeof path, "/cxone/%s/auth/token", p->id);
    char body[512];
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s-nope\","
             "\"grant_type\":\"client_credentials\"}",
             p->client_id, p->client_secret);
    req("POST", path, with_bearer + 1, body, strlen(body), &r);
    test_resp_release(&r);
    /* Control characters, quotes and broken UTF-8 in the path must not break a log line. */
    req("GET", "/evil%0Apath%22%5C%01%1B%7D%0A%7B", NULL, NULL, 0, &r);
    test_resp_release(&r);
    req("FOO", "/healthz", NULL, NULL, 0, &r);
    test_resp_release(&r);
}

static void assert_log_json_lines(const char *log)
{
    size_t lines = 0;
    /* A last line without its newline may still be being written: only whole lines count. */
    for (const char *s = log, *nl = strchr(s, '\n'); nl; s = nl + 1, nl = strchr(s, '\n')) {
        size_t len = (size_t)(nl - s);
        cJSON *j = cJSON_ParseWithLength(s, len);
        ck_assert_msg(cJSON_IsObject(j),
                      "log line of %zu bytes is not a JSON object: %.150s ... %.60s", len, s,
                      len > 60 ? nl - 60 : s);
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "msg")));
        cJSON_Delete(j);
        lines++;
    }
    ck_assert_uint_gt(lines, 2);
}

static void assert_absent(const char *log, const char *secret)
{
    ck_assert_msg(strstr(log, secret) == NULL, "the log contains a secret: %s", secret);
}

START_TEST(test_log_json_and_secret_free)
{
    struct provider p;
    provider_create(&B, NO_CXONE, "int-1", &p);
    char *tok = cxone_token(&B, &p), *bearer = bearer_line(tok);
    bad_request_battery(&p, bearer);
    assert_healthy();
    char *log = byocd_log(&B);
    assert_log_json_lines(log);
    assert_absent(log, HARNESS_ADMIN_TOKEN);
    assert_absent(log, "wrong-admin-token-0123456789");
    assert_absent(log, tok);
    assert_absent(log, p.client_secret);
    assert_absent(log, p.bot_api_key);
    assert_absent(log, p.webhook_secret);
    assert_absent(log, p.studio_secret);
    assert_absent(log, "client-secret");
    assert_absent(log, "key-secret");
    free(log);
    free(bearer);
    free(tok);
    provider_release(&p);
}
END_TEST

START_TEST(test_log_has_no_action_query)
{
    struct byoc_cxsim *f = test_cxsim_start();
    struct provider p;
    provider_create(&B, byoc_cxsim_url(f), "int-1", &p);
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/actions/add?token=" SECRET_OTT "&brandId=1&userId=2",
             p.id);
    struct test_resp r;
    req("GET", path, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 401, "status %ld: %s", r.status, r.body);
    test_resp_release(&r);
    /* The token did reach CXone's verification, so byocd held it. */
    struct byoc_cxsim_call c;
    ck_assert(byoc_cxsim_get_call(f, "POST", "/dfo/3.0/one-time-token/verification", 0, &c));
    ck_assert_ptr_nonnull(strstr(c.body, SECRET_OTT));
    byoc_cxsim_call_release(&c);
    assert_healthy();
    char *log = byocd_log(&B);
    assert_log_json_lines(log);
    assert_absent(log, SECRET_OTT);
    ck_assert_ptr_nonnull(strstr(log, "/actions/add"));
    free(log);
    provider_release(&p);
    byoc_cxsim_stop(f);
}
END_TEST

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), 0 if ill-formed. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
    unsigned lo = s[0] == 0xE0 ? 0xA0 : s[0] == 0xF0 ? 0x90 : 0x80;
    unsigned hi = s[0] == 0xED ? 0x9F : s[0] == 0xF4 ? 0x8F : 0xBF;
    if (n == 0 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

/* JSON text is UTF-8 (RFC 8259 section 8.1): strict consumers (jq, Python) reject other bytes. */
static void assert_log_utf8(const char *log)
{
    const unsigned char *s = (const unsigned char *)log;
    for (size_t i = 0; s[i];) {
        size_t n = utf8_len(s + i);
        ck_assert_msg(n > 0, "log byte %zu (0x%02x 0x%02x) is not UTF-8", i, s[i], s[i + 1]);
        i += n;
    }
}

START_TEST(test_log_utf8_with_broken_path)
{
    struct test_resp r;
    req("GET", "/broken-%C3%28-%FF%FE-utf8", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    assert_healthy();
    char *log = byocd_log(&B);
    assert_log_json_lines(log);
    assert_log_utf8(log);
    free(log);
}
END_TEST

START_TEST(test_log_json_with_long_escaped_path)
{
    /* 1000 control bytes: within the 1024-byte path cap, but 6 bytes each once escaped. */
    size_t n = 1000;
    char *path = malloc(3 * n + 2);
    ck_assert_ptr_nonnull(path);
    path[0] = '/';
    for (size_t i = 0; i < n; i++)
        memcpy(path + 1 + 3 * i, "%01", 3);
    path[1 + 3 * n] = '\0';
    struct test_resp r;
    req("GET", path, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    free(path);
    assert_healthy();
    char *log = byocd_log(&B);
    assert_log_json_lines(log);
    free(log);
}
END_TEST

/* ---- reverse proxies: X-Forwarded-* believed only from BYOCD_TRUSTED_PROXIES ---- */

static void server_up_trusting_loopback(void)
{
    static const char *const env[] = {"BYOCD_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1", NULL};
    byocd_start(&B, NULL, env);
}

/* The access-log line of the request with this X-Request-Id, malloc'd (NULL if none). */
static char *access_line(const char *request_id)
{
    char *log = byocd_log(&B), *found = NULL;
    char needle[128];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", request_id);
    for (char *line = log; line && *line && !found;) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, n);
        if (strstr(copy, needle) && strstr(copy, "\"msg\":\"request\""))
            found = copy;
        else
            free(copy);
        line = end ? end + 1 : NULL;
    }
    free(log);
    return found;
}

/* Sends GET /healthz with the given X-Forwarded-* headers and returns its access-log line. */
static char *forwarded_request(const char *request_id, const char *xff, const char *proto)
{
    char rid[96], f[8192], p[128];
    snprintf(rid, sizeof rid, "X-Request-Id: %s", request_id);
    snprintf(f, sizeof f, "X-Forwarded-For: %s", xff);
    snprintf(p, sizeof p, "X-Forwarded-Proto: %s", proto);
    const char *h[] = {rid, f, p, NULL};
    struct test_resp r;
    req("GET", "/healthz", h, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    char *line = NULL;
    for (int i = 0; i < 100 && !line; i++) { /* the line is written when the answer is done */
        line = access_line(request_id);
        if (!line)
            usleep(10000);
    }
    ck_assert_msg(line != NULL, "no access-log line for %s", request_id);
    return line;
}

START_TEST(test_forwarded_from_trusted_proxy)
{
    /* the client a trusted proxy names is logged as remote; the proxy as peer */
    char *line = forwarded_request("fwd-1", "198.51.100.7, 203.0.113.9", "https");
    ck_assert_msg(strstr(line, "\"remote\":\"203.0.113.9\""), "%s", line);
    ck_assert_msg(strstr(line, "\"peer\":\"127.0.0.1\""), "%s", line);
    ck_assert_msg(strstr(line, "\"proto\":\"https\""), "%s", line);
    free(line);
    /* trusted hops are skipped from the right */
    line = forwarded_request("fwd-2", "203.0.113.9, 10.1.2.3", "http");
    ck_assert_msg(strstr(line, "\"remote\":\"203.0.113.9\""), "%s", line);
    ck_assert_msg(strstr(line, "\"proto\":\"http\""), "%s", line);
    free(line);
    /* an unreadable entry and an unknown scheme are not believed */
    line = forwarded_request("fwd-3", "unknown", "gopher");
    ck_assert_msg(strstr(line, "\"remote\":\"127.0.0.1\""), "%s", line);
    ck_assert_msg(!strstr(line, "\"peer\""), "%s", line);
    ck_assert_msg(!strstr(line, "\"proto\""), "%s", line);
    free(line);
}
END_TEST

START_TEST(test_forwarded_long_list_keeps_the_right_end)
{
    /* a client may send a long forged list; what the trusted proxy appended is at the right */
    char xff[6000];
    size_t used = 0;
    for (int i = 0; i < 400; i++)
        used += (size_t)snprintf(xff + used, sizeof xff - used, "1.1.%d.%d, ", i / 250, i % 250);
    snprintf(xff + used, sizeof xff - used, "203.0.113.9, 10.0.0.7");
    char *line = forwarded_request("fwd-long", xff, "https");
    ck_assert_msg(strstr(line, "\"remote\":\"203.0.113.9\""), "%s", line);
    free(line);
}
END_TEST

START_TEST(test_forwarded_from_stranger_ignored)
{
    char *line = forwarded_request("fwd-4", "203.0.113.9", "https");
    ck_assert_msg(strstr(line, "\"remote\":\"127.0.0.1\""), "%s", line);
    ck_assert_msg(!strstr(line, "203.0.113.9"), "%s", line);
    ck_assert_msg(!strstr(line, "\"proto\""), "%s", line);
    free(line);
}
END_TEST

/* ---- suite ---- */

static TCase *tcase(const char *name, void (*up)(void), void (*down)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    return tc;
}

#define MAX_GROUP_TESTS 12

struct group {
    const char *name;
    void (*up)(void), (*down)(void);
    const TTest *tests[MAX_GROUP_TESTS];
};

static Suite *hygiene_suite(void)
{
    const struct group groups[] = {
        {"routing",
         server_up,
         server_down,
         {test_unknown_path_404_json, test_wrong_method_405_allow, NULL}},
        {"request_id",
         server_up,
         server_down,
         {test_request_id_generated, test_request_id_valid_echoed, test_request_id_invalid_replaced,
          NULL}},
        {"body_caps",
         server_up,
         server_down,
         {test_admin_body_over_cap_413, test_box_body_over_cap_413, test_chunked_over_cap_413,
          test_chunked_under_cap_accepted, test_body_on_bodiless_route_413, NULL}},
        {"media_type",
         server_up,
         server_down,
         {test_text_plain_415, test_json_without_content_type_415, test_json_with_charset_accepted,
          NULL}},
        {"json_limits",
         server_up,
         server_down,
         {test_invalid_json_400, test_invalid_utf8_400, test_depth_33_too_deep,
          test_depth_32_parsed, test_array_body_invalid_request, test_trailing_garbage_invalid_json,
          test_nul_byte_invalid_json, NULL}},
        {"framing",
         server_up,
         server_down,
         {test_cl_and_te_rejected, test_garbage_request_line_survived, test_huge_header_rejected,
          NULL}},
        {"admin_auth",
         server_up,
         server_down,
         {test_admin_no_token_401, test_admin_wrong_token_401, test_admin_token_accepted,
          test_refusal_before_100_continue, NULL}},
        {"admin_off", server_up_no_admin, server_down_no_admin, {test_admin_off_404, NULL}},
        {"health", server_up, server_down, {test_healthz, test_readyz, NULL}},
        {"proxy_trusted",
         server_up_trusting_loopback,
         server_down,
         {test_forwarded_from_trusted_proxy, test_forwarded_long_list_keeps_the_right_end, NULL}},
        {"proxy_stranger", server_up, server_down, {test_forwarded_from_stranger_ignored, NULL}},
        {"log",
         server_up,
         server_down,
         {test_log_json_and_secret_free, test_log_has_no_action_query, NULL}},
        {"log_hostile",
         server_up,
         server_down,
         {test_log_utf8_with_broken_path, test_log_json_with_long_escaped_path, NULL}},
    };
    Suite *s = suite_create("http_hygiene");
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        TCase *tc = tcase(groups[g].name, groups[g].up, groups[g].down);
        for (size_t i = 0; groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return harness_run(hygiene_suite(), CK_ENV);
}
