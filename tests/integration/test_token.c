/* The Authorization URL CXone calls: client credentials in JSON, form or Basic; RFC 6749 errors;
 * tokens bound to their provider; throttling of repeated failures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct byocd b;
static struct provider p, q;

static void setup(void)
{
    byocd_start(&b, NULL, NULL);
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    provider_create(&b, "http://127.0.0.1:9", NULL, &q);
}

static void teardown(void)
{
    provider_release(&p);
    provider_release(&q);
    ck_assert_int_eq(byocd_stop(&b), 0);
}

static long token_call(const char *provider_id, const char *const *headers, const char *body,
                       struct test_resp *r)
{
    char path[128];
    snprintf(path, sizeof path, "/cxone/%s/auth/token", provider_id);
    char *url = byocd_url(&b, path);
    ck_assert(test_http("POST", url, headers, body, body ? strlen(body) : 0, r));
    free(url);
    return r->status;
}

static void assert_token_response(struct test_resp *r)
{
    ck_assert_int_eq(r->status, 200);
    cJSON *j = test_resp_json(r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "token_type")->valuestring, "Bearer");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "expires_in")->valueint, 3600);
    ck_assert_int_gt((int)strlen(cJSON_GetObjectItem(j, "access_token")->valuestring), 40);
    cJSON_Delete(j);
    char *cc = test_resp_header(r, "Cache-Control"), *pragma = test_resp_header(r, "Pragma");
    ck_assert_str_eq(cc, "no-store");
    ck_assert_str_eq(pragma, "no-cache");
    free(cc);
    free(pragma);
}

START_TEST(json_credentials)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"client_credentials\"}",
        p.client_id, p.client_secret);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct test_resp r;
    token_call(p.id, h, body, &r);
    assert_token_response(&r);
    test_resp_release(&r);
}
END_TEST

START_TEST(form_credentials)
{
    char body[512];
    snprintf(body, sizeof body, "grant_type=client_credentials&client_id=%s&client_secret=%s",
             p.client_id, p.client_secret);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct test_resp r;
    token_call(p.id, h, body, &r);
    assert_token_response(&r);
    test_resp_release(&r);
}
END_TEST

START_TEST(basic_credentials)
{
    char *auth = test_basic_auth(p.client_id, p.client_secret);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", auth, NULL};
    struct test_resp r;
    token_call(p.id, h, "grant_type=client_credentials", &r);
    assert_token_response(&r);
    test_resp_release(&r);
    free(auth);
}
END_TEST

/* RFC 6749 error body: {"error": code}; returns the code (malloc'd). */
static char *oauth_error_code(struct test_resp *r)
{
    cJSON *j = test_resp_json(r);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    ck_assert_msg(cJSON_IsString(e), "no RFC 6749 error in %s", r->body);
    char *code = strdup(e->valuestring);
    cJSON_Delete(j);
    return code;
}

START_TEST(wrong_secret_is_invalid_client)
{
    char *auth = test_basic_auth(p.client_id, "not-the-secret");
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", auth, NULL};
    struct test_resp r;
    ck_assert_int_eq(token_call(p.id, h, "grant_type=client_credentials", &r), 401);
    char *code = oauth_error_code(&r), *www = test_resp_header(&r, "WWW-Authenticate");
    ck_assert_str_eq(code, "invalid_client");
    ck_assert_ptr_nonnull(www);
    ck_assert_ptr_nonnull(strstr(www, "Basic"));
    free(code);
    free(www);
    free(auth);
    test_resp_release(&r);
}
END_TEST

START_TEST(other_providers_credentials_rejected)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"client_credentials\"}",
        q.client_id, q.client_secret);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct test_resp r;
    ck_assert_int_eq(token_call(p.id, h, body, &r), 401);
    test_resp_release(&r);
    ck_assert_int_eq(token_call("prv_doesNotExist000000", h, body, &r), 401);
    char *code = oauth_error_code(&r);
    ck_assert_str_eq(code, "invalid_client");
    free(code);
    test_resp_release(&r);
}
END_TEST

START_TEST(grant_type_errors)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    char body[512];
    struct test_resp r;
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"password\"}",
             p.client_id, p.client_secret);
    ck_assert_int_eq(token_call(p.id, h, body, &r), 400);
    char *code = oauth_error_code(&r);
    ck_assert_str_eq(code, "unsupported_grant_type");
    free(code);
    test_resp_release(&r);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", p.client_id,
             p.client_secret);
    ck_assert_int_eq(token_call(p.id, h, body, &r), 400);
    code = oauth_error_code(&r);
    ck_assert_str_eq(code, "invalid_request");
    free(code);
    test_resp_release(&r);
}
END_TEST

START_TEST(two_auth_methods_rejected)
{
    char body[512];
    snprintf(body, sizeof body, "grant_type=client_credentials&client_secret=%s", p.client_secret);
    char *auth = test_basic_auth(p.client_id, p.client_secret);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", auth, NULL};
    struct test_resp r;
    ck_assert_int_eq(token_call(p.id, h, body, &r), 400);
    char *code = oauth_error_code(&r);
    ck_assert_str_eq(code, "invalid_request");
    free(code);
    free(auth);
    test_resp_release(&r);
}
END_TEST

static long box_post(const char *provider_id, const char *token)
{
    char path[160];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/t1/messages", provider_id);
    char *url = byocd_url(&b, path), *auth = token ? bearer_line(token) : NULL;
    struct test_resp r;
    ck_assert(http_json("POST", url, auth, "{\"id\":\"m1\",\"text\":\"hi\"}", &r));
    long status = r.status;
    if (status == 401) {
        char *www = test_resp_header(&r, "WWW-Authenticate");
        ck_assert_ptr_nonnull(www);
        if (token)
            ck_assert_ptr_nonnull(strstr(www, "error=\"invalid_token\""));
        free(www);
    }
    test_resp_release(&r);
    free(url);
    free(auth);
    return status;
}

START_TEST(token_bound_to_its_provider)
{
    char *tp = cxone_token(&b, &p), *tq = cxone_token(&b, &q);
    ck_assert_int_eq(box_post(p.id, tp), 200);
    ck_assert_int_eq(box_post(q.id, tq), 200);
    ck_assert_int_eq(box_post(q.id, tp), 401);
    ck_assert_int_eq(box_post(p.id, tq), 401);
    ck_assert_int_eq(box_post(p.id, NULL), 401);
    ck_assert_int_eq(box_post(p.id, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), 401);
    free(tp);
    free(tq);
}
END_TEST

START_TEST(deleted_provider_tokens_die)
{
    char *tq = cxone_token(&b, &q);
    ck_assert_int_eq(box_post(q.id, tq), 200);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", q.id);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("DELETE", url, b.admin_auth, NULL, &r));
    ck_assert_int_eq(r.status, 204);
    test_resp_release(&r);
    free(url);
    ck_assert_int_eq(box_post(q.id, tq), 401);
    free(tq);
}
END_TEST

START_TEST(repeated_failures_throttled)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"wrong\",\"grant_type\":\"client_credentials\"}",
        p.client_id);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct test_resp r;
    int unauthorized = 0;
    for (int i = 0; i < 20; i++) {
        unauthorized += token_call(p.id, h, body, &r) == 401;
        test_resp_release(&r);
    }
    ck_assert_int_eq(unauthorized, 20);
    ck_assert_int_eq(token_call(p.id, h, body, &r), 429);
    char *ra = test_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_le(strtol(ra, NULL, 10), 60);
    ck_assert_int_ge(strtol(ra, NULL, 10), 1);
    free(ra);
    test_resp_release(&r);
    /* The right credentials still work: the throttle never locks CXone itself out. */
    char *tp = cxone_token(&b, &p);
    free(tp);
    /* Another provider is not affected. */
    char *tq = cxone_token(&b, &q);
    free(tq);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("grants");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, json_credentials);
    tcase_add_test(tc, form_credentials);
    tcase_add_test(tc, basic_credentials);
    tcase_add_test(tc, wrong_secret_is_invalid_client);
    tcase_add_test(tc, other_providers_credentials_rejected);
    tcase_add_test(tc, grant_type_errors);
    tcase_add_test(tc, two_auth_methods_rejected);
    tcase_add_test(tc, repeated_failures_throttled);
    suite_add_tcase(s, tc);
    TCase *bound = tcase_create("binding");
    tcase_set_timeout(bound, 60);
    tcase_add_checked_fixture(bound, setup, teardown);
    tcase_add_test(bound, token_bound_to_its_provider);
    tcase_add_test(bound, deleted_provider_tokens_die);
    suite_add_tcase(s, bound);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
