/*
 * Proves the CXone simulator (src/sandbox/cxsim.c) behaves as its header says, using
 * the test HTTP client (tests/support/testhttp.c). Each test gets a fresh fake.
 */
/* POSIX 2008 for strnlen, clock_gettime, pthread_condattr_setclock when the build does not
 * already ask for more (the project builds with -D_GNU_SOURCE). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "cxsim_test.h"
#include "testhttp.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CT_FORM "Content-Type: application/x-www-form-urlencoded"
#define CT_JSON "Content-Type: application/json"
#define GOOD_GRANT "grant_type=password&username=key-id&password=key-secret"

static struct byoc_cxsim *fake;

static void setup(void)
{
    fake = test_cxsim_start();
}

static void teardown(void)
{
    byoc_cxsim_stop(fake);
    fake = NULL;
}

/* The fake's URL + path, in a buffer that lives until the next call. */
static const char *url(const char *path)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s%s", byoc_cxsim_url(fake), path);
    return buf;
}

/* POST /auth/token with the given Basic credentials (NULL id = no Authorization header). */
static struct test_resp token_request(const char *id, const char *secret, const char *form)
{
    struct test_resp r;
    char *auth = id ? test_basic_auth(id, secret) : NULL;
    const char *hdrs[] = {CT_FORM, auth, NULL};
    ck_assert(test_http("POST", url("/auth/token"), hdrs, form, strlen(form), &r));
    free(auth);
    return r;
}

/* Gets a cx-at-* token and formats "Authorization: Bearer <t>" into out. */
static void bearer(char *out, size_t cap)
{
    struct test_resp r = token_request("client-id", "client-secret", GOOD_GRANT);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    ck_assert(cJSON_IsString(at));
    snprintf(out, cap, "Authorization: Bearer %s", at->valuestring);
    cJSON_Delete(j);
    test_resp_release(&r);
}

/* One request with an optional Authorization header and optional JSON body. */
static struct test_resp call(const char *method, const char *path, const char *auth,
                             const char *json)
{
    struct test_resp r;
    const char *hdrs[] = {CT_JSON, auth, NULL};
    ck_assert(test_http(method, url(path), hdrs, json, json ? strlen(json) : 0, &r));
    return r;
}

static const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static double jnum(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    ck_assert_msg(cJSON_IsNumber(item), "%s is not a number", name);
    return item->valuedouble;
}

/* Asserts r's JSON body has errors[0].message == message. */
static void assert_error_message(const struct test_resp *r, const char *message)
{
    cJSON *j = test_resp_json(r);
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
    ck_assert(cJSON_IsArray(errors));
    ck_assert_str_eq(jstr(cJSON_GetArrayItem(errors, 0), "message"), message);
    cJSON_Delete(j);
}

static void assert_oauth_error(const struct test_resp *r, long status, const char *code)
{
    ck_assert_int_eq(r->status, status);
    cJSON *j = test_resp_json(r);
    ck_assert_str_eq(jstr(j, "error"), code);
    cJSON_Delete(j);
}

static void assert_header(const struct test_resp *r, const char *name, const char *value)
{
    char *v = test_resp_header(r, name);
    ck_assert_msg(v != NULL, "missing header %s", name);
    ck_assert_str_eq(v, value);
    free(v);
}

/* ---------------------------------------------------------------- token grant */

START_TEST(token_success)
{
    struct test_resp r = token_request("client-id", "client-secret", GOOD_GRANT);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "cache-control", "no-store");
    cJSON *j = test_resp_json(&r);
    ck_assert_str_eq(jstr(j, "access_token"), "cx-at-1");
    ck_assert_str_eq(jstr(j, "token_type"), "Bearer");
    ck_assert_int_eq((int)jnum(j, "expires_in"), 3600);
    ck_assert_str_eq(jstr(j, "refresh_token"), "cx-rt-1");
    ck_assert_str_eq(jstr(j, "id_token"), "cx-id-1");
    cJSON_Delete(j);
    test_resp_release(&r);

    r = token_request("client-id", "client-secret", GOOD_GRANT);
    j = test_resp_json(&r);
    ck_assert_str_eq(jstr(j, "access_token"), "cx-at-2");
    cJSON_Delete(j);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_token_grants(fake), 2);
}
END_TEST

START_TEST(token_wrong_client)
{
    struct test_resp r = token_request("client-id", "nope", GOOD_GRANT);
    assert_oauth_error(&r, 401, "invalid_client");
    char *www = test_resp_header(&r, "WWW-Authenticate");
    ck_assert_ptr_nonnull(www);
    free(www);
    test_resp_release(&r);

    r = token_request(NULL, NULL, GOOD_GRANT);
    assert_oauth_error(&r, 401, "invalid_client");
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_token_grants(fake), 0);
}
END_TEST

START_TEST(token_wrong_user)
{
    struct test_resp r = token_request("client-id", "client-secret",
                                       "grant_type=password&username=key-id&password=x");
    assert_oauth_error(&r, 401, "invalid_client");
    test_resp_release(&r);

    r = token_request("client-id", "client-secret", "grant_type=password&username=key-id");
    assert_oauth_error(&r, 401, "invalid_client");
    test_resp_release(&r);
}
END_TEST

START_TEST(token_other_grant)
{
    struct test_resp r = token_request("client-id", "client-secret",
                                       "grant_type=client_credentials&username=key-id");
    assert_oauth_error(&r, 400, "unsupported_grant_type");
    test_resp_release(&r);

    r = token_request("client-id", "client-secret", "username=key-id&password=key-secret");
    assert_oauth_error(&r, 400, "invalid_request");
    test_resp_release(&r);
}
END_TEST

START_TEST(token_custom_credentials)
{
    byoc_cxsim_set_credentials(fake, "cid", "c:secret", "AK 1", "p@ss+w");
    struct test_resp r = token_request("client-id", "client-secret", GOOD_GRANT);
    ck_assert_int_eq(r.status, 401);
    test_resp_release(&r);

    r = token_request("cid", "c:secret", "grant_type=password&username=AK+1&password=p%40ss%2Bw");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

START_TEST(discovery)
{
    struct test_resp r = call("GET", "/.well-known/cxone-configuration?tenantId=t1", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    char token_url[256];
    snprintf(token_url, sizeof(token_url), "%s/auth/token", byoc_cxsim_url(fake));
    ck_assert_str_eq(jstr(j, "api_endpoint"), byoc_cxsim_url(fake));
    ck_assert_str_eq(jstr(j, "area"), "na1");
    ck_assert_str_eq(jstr(j, "token_endpoint"), token_url);
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

/* ---------------------------------------------------------------- one-time tokens */

#define OTT_PATH "/dfo/3.0/one-time-token/verification"

static struct test_resp verify(const char *brand, const char *user, const char *token)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"brandId\":%s,\"userId\":%s,\"purpose\":\"channel-integration\",\"token\":\"%s\"}",
             brand, user, token);
    return call("POST", OTT_PATH, NULL, body);
}

START_TEST(ott_success_then_consumed)
{
    byoc_cxsim_add_one_time_token(fake, "ott-1", 1234, 77);
    struct test_resp r = verify("1234", "77", "ott-1");
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    ck_assert_str_eq(jstr(j, "accessToken"), "ott-at-1");
    const cJSON *brand = cJSON_GetObjectItemCaseSensitive(j, "brand");
    ck_assert_int_eq((long)jnum(brand, "id"), 1234);
    ck_assert_str_eq(jstr(brand, "tenantId"), "tenant-1");
    ck_assert_int_eq((long)jnum(brand, "businessUnitId"), 4600001);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
    ck_assert_int_eq((long)jnum(user, "id"), 77);
    ck_assert_str_eq(jstr(user, "firstName"), "Ada");
    ck_assert_str_eq(jstr(user, "surname"), "Admin");
    cJSON_Delete(j);
    test_resp_release(&r);

    r = verify("1234", "77", "ott-1");
    ck_assert_int_eq(r.status, 401);
    assert_error_message(&r, "Invalid one-time token");
    test_resp_release(&r);
}
END_TEST

START_TEST(ott_numeric_strings)
{
    byoc_cxsim_add_one_time_token(fake, "ott-2", 1234, 77);
    struct test_resp r = verify("\"1234\"", "\"77\"", "ott-2");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

START_TEST(ott_rejections)
{
    byoc_cxsim_add_one_time_token(fake, "ott-3", 1234, 77);
    const char *bad[][3] = {{"999", "77", "ott-3"},
                            {"1234", "78", "ott-3"},
                            {"1234", "77", "other"},
                            {"\"12x\"", "77", "ott-3"},
                            {"1234.5", "77", "ott-3"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct test_resp r = verify(bad[i][0], bad[i][1], bad[i][2]);
        ck_assert_int_eq(r.status, 401);
        cJSON *j = test_resp_json(&r);
        const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0);
        ck_assert_str_eq(jstr(e0, "errorCode"), "invalidToken");
        cJSON_Delete(j);
        test_resp_release(&r);
    }
    struct test_resp r =
        call("POST", OTT_PATH, NULL,
             "{\"brandId\":1234,\"userId\":77,\"purpose\":\"x\",\"token\":\"ott-3\"}");
    ck_assert_int_eq(r.status, 401);
    test_resp_release(&r);
    /* failed attempts do not consume the token */
    r = verify("1234", "77", "ott-3");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

START_TEST(ott_token_opens_channels)
{
    byoc_cxsim_add_one_time_token(fake, "ott-4", 1, 2);
    struct test_resp r = verify("1", "2", "ott-4");
    cJSON *j = test_resp_json(&r);
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", jstr(j, "accessToken"));
    cJSON_Delete(j);
    test_resp_release(&r);

    r = call("GET", "/dfo/3.0/channels", auth, NULL);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

/* ---------------------------------------------------------------- channels */

START_TEST(channels_list)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_add_channel(fake, "chat_a", "Chat A", "integ-1");
    byoc_cxsim_add_channel(fake, "chat_b", "Chat B", NULL);
    struct test_resp r = call("GET", "/dfo/3.0/channels", auth, NULL);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    ck_assert(cJSON_IsArray(j));
    ck_assert_int_eq(cJSON_GetArraySize(j), 2);
    const cJSON *a = cJSON_GetArrayItem(j, 0);
    ck_assert_str_eq(jstr(a, "id"), "chat_a");
    ck_assert_str_eq(jstr(a, "name"), "Chat A");
    ck_assert_str_eq(jstr(a, "idOnExternalPlatform"), "chat_a");
    ck_assert_str_eq(jstr(a, "channelIntegrationId"), "integ-1");
    ck_assert_str_eq(jstr(a, "realExternalPlatformId"), "custom");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "isPrivate")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "hasTreeStructure")));
    const cJSON *b = cJSON_GetArrayItem(j, 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "channelIntegrationId")));
    cJSON_Delete(j);
    test_resp_release(&r);
}
END_TEST

START_TEST(channels_create_get_delete)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    struct test_resp r =
        call("POST", "/dfo/3.0/channels", auth,
             "{\"id\":\"byoc_1\",\"name\":\"Web\",\"channelIntegrationId\":\"i-9\","
             "\"hasAbilityToSendFiles\":true}");
    ck_assert_int_eq(r.status, 201);
    cJSON *j = test_resp_json(&r);
    ck_assert_str_eq(jstr(j, "id"), "byoc_1");
    ck_assert_str_eq(jstr(j, "idOnExternalPlatform"), "byoc_1");
    cJSON_Delete(j);
    test_resp_release(&r);
    ck_assert(byoc_cxsim_has_channel(fake, "byoc_1"));
    ck_assert_uint_eq(byoc_cxsim_channel_count(fake), 1);

    r = call("GET", "/dfo/3.0/channels/byoc_1", auth, NULL);
    ck_assert_int_eq(r.status, 200);
    j = test_resp_json(&r);
    ck_assert_str_eq(jstr(j, "channelIntegrationId"), "i-9");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "hasAbilityToSendFiles")));
    cJSON_Delete(j);
    test_resp_release(&r);

    r = call("DELETE", "/dfo/3.0/channels/byoc_1", auth, NULL);
    ck_assert_int_eq(r.status, 204);
    ck_assert_uint_eq(r.body_len, 0);
    test_resp_release(&r);
    ck_assert(!byoc_cxsim_has_channel(fake, "byoc_1"));

    r = call("GET", "/dfo/3.0/channels/byoc_1", auth, NULL);
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    r = call("DELETE", "/dfo/3.0/channels/byoc_1", auth, NULL);
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
}
END_TEST

START_TEST(channels_create_rejects)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_add_channel(fake, "dup", "Dup", NULL);
    struct test_resp r = call("POST", "/dfo/3.0/channels", auth, "{\"id\":\"dup\",\"name\":\"x\"}");
    ck_assert_int_eq(r.status, 409);
    test_resp_release(&r);
    const char *bad[] = {"{\"id\":\"n1\"}", "{\"id\":7,\"name\":\"x\"}", "[1]", "not json", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = call("POST", "/dfo/3.0/channels", auth, bad[i]);
        ck_assert_int_eq(r.status, 400);
        test_resp_release(&r);
    }
    ck_assert_uint_eq(byoc_cxsim_channel_count(fake), 1);
}
END_TEST

START_TEST(channels_unauthorized)
{
    byoc_cxsim_add_channel(fake, "c1", "C1", NULL);
    const char *bad[] = {NULL, "Authorization: Bearer cx-at-99", "Authorization: Bearer ",
                         "Authorization: Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct test_resp r = call("GET", "/dfo/3.0/channels", bad[i], NULL);
        ck_assert_int_eq(r.status, 401);
        test_resp_release(&r);
        r = call("DELETE", "/dfo/3.0/channels/c1", bad[i], NULL);
        ck_assert_int_eq(r.status, 401);
        test_resp_release(&r);
    }
    ck_assert(byoc_cxsim_has_channel(fake, "c1"));

    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_expire_tokens(fake);
    struct test_resp r = call("GET", "/dfo/3.0/channels", auth, NULL);
    ck_assert_int_eq(r.status, 401);
    test_resp_release(&r);
}
END_TEST

static long contact_id(const struct test_resp *r)
{
    cJSON *j = test_resp_json(r);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(j, "consumerContact");
    long id = (long)jnum(cc, "contactId");
    char expect[64];
    snprintf(expect, sizeof(expect), "cc-%ld", id);
    ck_assert_str_eq(jstr(cc, "id"), expect);
    snprintf(expect, sizeof(expect), "int-%ld", id);
    ck_assert_str_eq(jstr(cc, "interactionId"), expect);
    ck_assert_str_eq(jstr(cc, "status"), "new");
    cJSON_Delete(j);
    return id;
}

static long post_message(const char *auth, const char *thread)
{
    static int serial;
    char body[256];
    snprintf(body, sizeof(body),
             "{\"idOnExternalPlatform\":\"m%d\",\"thread\":{\"idOnExternalPlatform\":\"%s\"}}",
             ++serial, thread);
    struct test_resp r = call("POST", "/dfo/3.0/channels/c1/messages", auth, body);
    ck_assert_int_eq(r.status, 200);
    long id = contact_id(&r);
    test_resp_release(&r);
    return id;
}

START_TEST(duplicate_external_id_conflicts)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_add_channel(fake, "c1", "C1", NULL);
    const char *body =
        "{\"idOnExternalPlatform\":\"dup-1\",\"thread\":{\"idOnExternalPlatform\":\"t\"}}";
    struct test_resp r = call("POST", "/dfo/3.0/channels/c1/messages", auth, body);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    r = call("POST", "/dfo/3.0/channels/c1/messages", auth, body);
    ck_assert_int_eq(r.status, 409);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_message_count(fake), 1);
    r = call("POST", "/dfo/3.0/channels/c1/threads/t/sender-actions", auth,
             "{\"action\":\"isTypingOn\"}");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    r = call("PUT", "/dfo/3.0/channels/c1/threads/t", auth, "{\"canAddMoreMessages\":false}");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    r = call("PUT", "/dfo/3.0/contacts/cc-1/routing-queue", auth, "{\"routingQueueId\":\"s\"}");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    r = call("PUT", "/dfo/3.0/contacts/cc-1/routing-queue", NULL, "{}");
    ck_assert_int_eq(r.status, 401);
    test_resp_release(&r);
}
END_TEST

START_TEST(channel_messages)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_add_channel(fake, "c1", "C1", NULL);
    long first = post_message(auth, "t1");
    ck_assert_int_eq(post_message(auth, "t1"), first);
    ck_assert_int_ne(post_message(auth, "t2"), first);

    struct test_resp r = call("POST", "/dfo/3.0/channels/nope/messages", auth, "{}");
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    r = call("POST", "/dfo/3.0/channels/c1/messages", auth, "oops");
    ck_assert_int_eq(r.status, 400);
    test_resp_release(&r);
}
END_TEST

START_TEST(unknown_paths)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    const char *paths[][2] = {{"GET", "/nope"},
                              {"GET", "/auth/token"},
                              {"PUT", "/dfo/3.0/channels"},
                              {"GET", "/dfo/3.0/channelsX"},
                              {"GET", "/dfo/3.0/channels/c1/threads"},
                              {"PATCH", "/dfo/3.0/channels/c1"}};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct test_resp r = call(paths[i][0], paths[i][1], auth, NULL);
        ck_assert_msg(r.status == 404, "%s %s gave %ld", paths[i][0], paths[i][1], r.status);
        assert_error_message(&r, "not found");
        test_resp_release(&r);
    }
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, NULL, NULL), 7);
}
END_TEST

/* ---------------------------------------------------------------- misbehaviour */

START_TEST(fail_next_with_retry_after)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_fail_next(fake, "/dfo/3.0/channels", 503, 2, 7);
    for (int i = 0; i < 2; i++) {
        struct test_resp other = call("GET", "/.well-known/cxone-configuration", NULL, NULL);
        ck_assert_int_eq(other.status, 200);
        test_resp_release(&other);
        struct test_resp r = call("GET", "/dfo/3.0/channels", auth, NULL);
        ck_assert_int_eq(r.status, 503);
        assert_header(&r, "Retry-After", "7");
        assert_error_message(&r, "injected failure");
        test_resp_release(&r);
    }
    struct test_resp r = call("GET", "/dfo/3.0/channels", auth, NULL);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);

    struct byoc_cxsim_call c;
    ck_assert(byoc_cxsim_get_call(fake, "GET", "/dfo/3.0/channels", 1, &c));
    ck_assert_int_eq(c.status, 503);
    byoc_cxsim_call_release(&c);
    ck_assert(byoc_cxsim_get_call(fake, "GET", "/dfo/3.0/channels", 2, &c));
    ck_assert_int_eq(c.status, 200);
    byoc_cxsim_call_release(&c);
}
END_TEST

START_TEST(fail_next_without_retry_after)
{
    byoc_cxsim_fail_next(fake, "/auth/token", 429, 1, 0);
    struct test_resp r = token_request("client-id", "client-secret", GOOD_GRANT);
    ck_assert_int_eq(r.status, 429);
    char *ra = test_resp_header(&r, "Retry-After");
    ck_assert_ptr_null(ra);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_token_grants(fake), 0);

    byoc_cxsim_fail_next(fake, NULL, 500, 5, 0);
    byoc_cxsim_clear_failures(fake);
    r = token_request("client-id", "client-secret", GOOD_GRANT);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

START_TEST(delay)
{
    byoc_cxsim_set_delay_ms(fake, 300);
    long t0 = now_ms();
    struct test_resp r = call("GET", "/.well-known/cxone-configuration", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_ge(now_ms() - t0, 300);
    test_resp_release(&r);

    ck_assert(!test_http_timeout("GET", url("/nope"), NULL, NULL, 0, 100, &r));
    test_resp_release(&r);
    byoc_cxsim_set_delay_ms(fake, 0);
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, "GET", "/nope"), 1);
}
END_TEST

START_TEST(body_too_large)
{
    size_t n = BYOC_CXSIM_MAX_BODY + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', n);
    struct test_resp r;
    const char *hdrs[] = {CT_JSON, NULL};
    ck_assert(test_http("POST", url("/dfo/3.0/channels"), hdrs, big, n, &r));
    free(big);
    ck_assert_int_eq(r.status, 413);
    test_resp_release(&r);

    /* refused by the HTTP layer before the simulator sees it: not recorded, nothing created */
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, "POST", "/dfo/3.0/channels"), 0);
    ck_assert_uint_eq(byoc_cxsim_channel_count(fake), 0);
}
END_TEST

START_TEST(raw_requests)
{
    static const char ok[] = "GET /nope?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    char *text = test_raw_http(byoc_cxsim_port(fake), ok, sizeof(ok) - 1, 2000);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strncmp(text, "HTTP/1.1 404", 12) == 0, "got: %.80s", text);
    ck_assert_ptr_nonnull(strstr(text, "not found"));
    free(text);

    static const char junk[] = "\x01\x02 garbage\r\n\r\n";
    text = test_raw_http(byoc_cxsim_port(fake), junk, sizeof(junk) - 1, 2000);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(text[0] == '\0' || strncmp(text, "HTTP/1.1 4", 10) == 0, "got: %.80s", text);
    free(text);

    /* the server is still fine */
    struct test_resp r = call("GET", "/.well-known/cxone-configuration", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}
END_TEST

/* ---------------------------------------------------------------- recording */

START_TEST(recording)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    byoc_cxsim_add_channel(fake, "c1", "C1", NULL);
    struct test_resp r =
        call("POST", "/dfo/3.0/channels/c1/messages?trace=1&b=%20x", auth, "{\"hello\":\"world\"}");
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);

    ck_assert_uint_eq(byoc_cxsim_call_count(fake, NULL, NULL), 2);
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, "POST", "/auth/token"), 1);
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, "GET", NULL), 0);

    struct byoc_cxsim_call c;
    ck_assert(byoc_cxsim_get_call(fake, "POST", "/auth/token", 0, &c));
    ck_assert_str_eq(c.content_type, "application/x-www-form-urlencoded");
    ck_assert_str_eq(c.body, GOOD_GRANT);
    ck_assert_str_eq(c.authorization, "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ=");
    byoc_cxsim_call_release(&c);

    ck_assert(byoc_cxsim_get_call(fake, NULL, "/dfo/", 0, &c));
    ck_assert_str_eq(c.method, "POST");
    ck_assert_str_eq(c.path, "/dfo/3.0/channels/c1/messages");
    ck_assert_str_eq(c.query, "trace=1&b=%20x");
    ck_assert_str_eq(c.authorization, auth + strlen("Authorization: "));
    ck_assert_str_eq(c.content_type, "application/json");
    ck_assert_uint_eq(c.body_len, strlen("{\"hello\":\"world\"}"));
    ck_assert_str_eq(c.body, "{\"hello\":\"world\"}");
    ck_assert_int_eq(c.status, 200);
    byoc_cxsim_call_release(&c);
    byoc_cxsim_call_release(&c);

    ck_assert(!byoc_cxsim_get_call(fake, NULL, "/dfo/", 1, &c));
    ck_assert_ptr_null(c.body);
    byoc_cxsim_reset_calls(fake);
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, NULL, NULL), 0);
}
END_TEST

START_TEST(recording_empty_body)
{
    struct test_resp r = call("GET", "/unknown/thing", NULL, NULL);
    test_resp_release(&r);
    struct byoc_cxsim_call c;
    ck_assert(byoc_cxsim_get_call(fake, "GET", "/unknown", 0, &c));
    ck_assert_str_eq(c.query, "");
    ck_assert_str_eq(c.authorization, "");
    ck_assert_ptr_nonnull(c.body);
    ck_assert_uint_eq(c.body_len, 0);
    ck_assert_int_eq(c.status, 404);
    byoc_cxsim_call_release(&c);
}
END_TEST

/* ---------------------------------------------------------------- concurrency */

#define WORKERS 4
#define PER_WORKER 25

struct worker {
    int index;
    const char *auth;
    int created;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char base[256];
    snprintf(base, sizeof(base), "%s/dfo/3.0/channels", byoc_cxsim_url(fake));
    const char *hdrs[] = {CT_JSON, w->auth, NULL};
    for (int i = 0; i < PER_WORKER; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"id\":\"w%d-%d\",\"name\":\"n\"}", w->index, i);
        struct test_resp r;
        if (test_http("POST", base, hdrs, body, strlen(body), &r) && r.status == 201)
            w->created++;
        test_resp_release(&r);
    }
    return NULL;
}

START_TEST(concurrent_clients)
{
    char auth[128];
    bearer(auth, sizeof(auth));
    pthread_t threads[WORKERS];
    struct worker workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (struct worker){.index = i, .auth = auth};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(workers[i].created, PER_WORKER);
    }
    ck_assert_uint_eq(byoc_cxsim_channel_count(fake), WORKERS * PER_WORKER);
    ck_assert_uint_eq(byoc_cxsim_call_count(fake, "POST", "/dfo/3.0/channels"),
                      WORKERS * PER_WORKER);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

static Suite *byoc_cxsim_suite(void)
{
    Suite *s = suite_create("cxsim");
    TCase *tc = tcase("token");
    tcase_add_test(tc, token_success);
    tcase_add_test(tc, token_wrong_client);
    tcase_add_test(tc, token_wrong_user);
    tcase_add_test(tc, token_other_grant);
    tcase_add_test(tc, token_custom_credentials);
    tcase_add_test(tc, discovery);
    suite_add_tcase(s, tc);

    tc = tcase("one_time_token");
    tcase_add_test(tc, ott_success_then_consumed);
    tcase_add_test(tc, ott_numeric_strings);
    tcase_add_test(tc, ott_rejections);
    tcase_add_test(tc, ott_token_opens_channels);
    suite_add_tcase(s, tc);

    tc = tcase("channels");
    tcase_add_test(tc, channels_list);
    tcase_add_test(tc, channels_create_get_delete);
    tcase_add_test(tc, channels_create_rejects);
    tcase_add_test(tc, channels_unauthorized);
    tcase_add_test(tc, channel_messages);
    tcase_add_test(tc, duplicate_external_id_conflicts);
    tcase_add_test(tc, unknown_paths);
    suite_add_tcase(s, tc);

    tc = tcase("misbehaviour");
    tcase_add_test(tc, fail_next_with_retry_after);
    tcase_add_test(tc, fail_next_without_retry_after);
    tcase_add_test(tc, delay);
    tcase_add_test(tc, body_too_large);
    tcase_add_test(tc, raw_requests);
    suite_add_tcase(s, tc);

    tc = tcase("recording");
    tcase_add_test(tc, recording);
    tcase_add_test(tc, recording_empty_body);
    tcase_add_test(tc, concurrent_clients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(byoc_cxsim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
