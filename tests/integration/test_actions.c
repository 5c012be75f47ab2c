/* The Add / Reconnect / Remove action pages of the real byocd against a fake CXone: one-time
 * token exchange, the Add form and its session, redirects to backUrl, and CXone failures. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 30
#define BRAND 1001
#define USER 2002
#define INTEGRATION "int-1"
#define VERIFY_PATH "/dfo/3.0/one-time-token/verification"
#define CHANNELS_PATH "/dfo/3.0/channels"
#define FORM_CT "Content-Type: application/x-www-form-urlencoded"

/* One byocd per TCase (runner process); a fake CXone and a provider per test (test process). */
static struct byocd B;
static struct byoc_cxsim *F;
static struct provider P;
static char BACK[128]; /* byoc_cxsim_url(F) + "/back": http to the provider's CXone host */

/* ---- fixtures ---- */

static void server_up(void)
{
    byocd_start(&B, NULL, NULL);
}

/* Stops byocd; keeps its directory (and says so) unless it exited 0 with a clean log. */
static void server_down(void)
{
    byocd_stop_and_clean(&B);
}

static void cxone_up(void)
{
    F = test_cxsim_start();
    provider_create(&B, byoc_cxsim_url(F), INTEGRATION, &P);
    snprintf(BACK, sizeof BACK, "%s/back", byoc_cxsim_url(F));
}

static void cxone_down(void)
{
    provider_release(&P);
    byoc_cxsim_stop(F);
    F = NULL;
}

/* ---- helpers ---- */

static void get(const char *path, struct test_resp *r)
{
    char *url = byocd_url(&B, path);
    ck_assert_msg(test_http("GET", url, NULL, NULL, 0, r), "GET %s: no answer", path);
    free(url);
}

/* GET /cxone/{provider}/actions/{action}?userId&brandId&token[&channelId][&backUrl]. */
static void open_action(const char *provider_id, const char *action, const char *token,
                        const char *extra, const char *back, struct test_resp *r)
{
    char enc[1024] = "", path[8192];
    if (back)
        harness_pct_encode(back, enc, sizeof enc);
    int n = snprintf(path, sizeof path, "/cxone/%s/actions/%s?userId=%d&brandId=%d&token=%s%s%s%s",
                     provider_id, action, USER, BRAND, token, extra ? extra : "",
                     back ? "&backUrl=" : "", enc);
    ck_assert(n > 0 && (size_t)n < sizeof path);
    get(path, r);
}

static void post_form(const char *provider_id, const char *form, struct test_resp *r)
{
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/actions/add", provider_id);
    char *url = byocd_url(&B, path);
    const char *h[] = {FORM_CT, NULL};
    ck_assert_msg(test_http("POST", url, h, form, strlen(form), r), "POST %s: no answer", path);
    free(url);
}

static void assert_html(const struct test_resp *r, long status)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    char *ct = test_resp_header(r, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "text/html", 9) == 0, "Content-Type: %s", ct);
    free(ct);
    char *csp = test_resp_header(r, "Content-Security-Policy");
    ck_assert_msg(csp && strstr(csp, "default-src 'none'"), "CSP: %s", csp);
    free(csp);
}

/* An error page a browser can show: HTML, a message, nothing internal. */
static void assert_error_page(const struct test_resp *r, long status, const char *says)
{
    assert_html(r, status);
    ck_assert_msg(strstr(r->body, says), "page lacks \"%s\": %s", says, r->body);
    static const char *const leaks[] = {".c:",       "sqlite",    "SQLITE",       "curl",
                                        "Traceback", "backtrace", "Segmentation", NULL};
    for (size_t i = 0; leaks[i]; i++)
        ck_assert_msg(!strstr(r->body, leaks[i]), "page leaks \"%s\": %s", leaks[i], r->body);
}

static void assert_header_eq(const struct test_resp *r, const char *name, const char *want)
{
    char *v = test_resp_header(r, name);
    ck_assert_msg(v && strcmp(v, want) == 0, "%s: %s, want %s", name, v, want);
    free(v);
}

static void assert_no_header(const struct test_resp *r, const char *name)
{
    char *v = test_resp_header(r, name);
    ck_assert_msg(v == NULL, "unexpected %s: %s", name, v);
}

/* The value of the hidden "session" input of an Add page. */
static void page_session(const char *html, char *out, size_t cap)
{
    static const char key[] = "name=\"session\" value=\"";
    const char *p = strstr(html, key);
    ck_assert_msg(p, "no session input in: %s", html);
    p += sizeof key - 1;
    size_t n = strcspn(p, "\"");
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Registers a one-time token, opens the Add page (200) and returns its session. */
static void open_add_session(const char *provider_id, const char *ott, const char *back,
                             char *session, size_t cap)
{
    byoc_cxsim_add_one_time_token(F, ott, BRAND, USER);
    struct test_resp r;
    open_action(provider_id, "add", ott, NULL, back, &r);
    assert_html(&r, 200);
    page_session(r.body, session, cap);
    test_resp_release(&r);
}

static void submit_add(const char *provider_id, const char *session, const char *extra,
                       struct test_resp *r)
{
    char form[512];
    snprintf(form, sizeof form, "session=%s&name=My%%20channel%s", session, extra ? extra : "");
    post_form(provider_id, form, r);
}

/* The body of the n-th recorded call, parsed. */
static cJSON *call_json(const char *method, const char *path, size_t n)
{
    struct byoc_cxsim_call c;
    ck_assert_msg(byoc_cxsim_get_call(F, method, path, n, &c), "no call %s %s #%zu", method, path,
                  n);
    cJSON *j = cJSON_ParseWithLength(c.body, c.body_len);
    ck_assert_msg(cJSON_IsObject(j), "call body: %s", c.body);
    byoc_cxsim_call_release(&c);
    return j;
}

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsString(v), "no string %s", key);
    return v->valuestring;
}

/* GET /admin/v1/{path} as the admin: 200 and the parsed body. */
static cJSON *admin_get(const char *path)
{
    char *url = byocd_url(&B, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, B.admin_auth, NULL, &r));
    free(url);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

/* The admin API's view of one channel of the provider (a detached copy), or NULL. */
static cJSON *admin_channel(const char *provider_id, const char *channel_id)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", provider_id);
    cJSON *list = admin_get(path), *found = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "channel_id");
        if (cJSON_IsString(id) && strcmp(id->valuestring, channel_id) == 0)
            found = cJSON_Duplicate(it, true);
    }
    cJSON_Delete(list);
    return found;
}

static void assert_action_channel(const char *provider_id, const char *channel_id, const char *name)
{
    cJSON *ch = admin_channel(provider_id, channel_id);
    ck_assert_msg(ch, "admin list lacks %s", channel_id);
    ck_assert_str_eq(jstr(ch, "source"), "action");
    ck_assert_str_eq(jstr(ch, "brand_id"), "1001");
    if (name)
        ck_assert_str_eq(jstr(ch, "name"), name);
    cJSON_Delete(ch);
}

static void admin_add_channel(const char *channel_id, const char *name)
{
    char path[256], body[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", P.id);
    snprintf(body, sizeof body, "{\"channel_id\":\"%s\",\"name\":\"%s\"}", channel_id, name);
    char *url = byocd_url(&B, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, B.admin_auth, body, &r));
    free(url);
    ck_assert_msg(r.status == 201, "channel add: %ld %s", r.status, r.body);
    test_resp_release(&r);
}

/* Id of the channel of the n-th POST /dfo/3.0/channels call. */
static char *created_channel_id(size_t n)
{
    cJSON *j = call_json("POST", CHANNELS_PATH, n);
    char *id = strdup(jstr(j, "id"));
    cJSON_Delete(j);
    return id;
}

/* No <script>, <link>, <img>, src= or url(): every absolute URL is a plain link's href. */
static void assert_self_contained(const char *html)
{
    static const char *const banned[] = {"<script", "<link", "<img",    "<iframe",
                                         "src=",    "url(",  "@import", NULL};
    for (size_t i = 0; banned[i]; i++)
        ck_assert_msg(!strcasestr(html, banned[i]), "page has %s", banned[i]);
    for (const char *p = strstr(html, "http"); p; p = strstr(p + 1, "http")) {
        if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)
            continue;
        ck_assert_msg(p - html >= 9 && strncmp(p - 9, "<a href=\"", 9) == 0,
                      "absolute URL outside a link: %.60s", p);
    }
}

/* ---- Add ---- */

START_TEST(test_add_page_lists_channels)
{
    byoc_cxsim_add_channel(F, "ch-a", "Alpha channel", INTEGRATION);
    byoc_cxsim_add_channel(F, "ch-x", "Mal<b>&\"x", NULL);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "add", "ott-1", NULL, BACK, &r);
    assert_html(&r, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "Alpha channel"));
    ck_assert_ptr_nonnull(strstr(r.body, "ch-a"));
    ck_assert_ptr_nonnull(strstr(r.body, "Mal&lt;b&gt;&amp;&quot;x"));
    ck_assert_ptr_null(strstr(r.body, "<b>&"));
    /* only ch-a carries our integration id (byocd has not registered it yet) */
    const char *mine = strstr(r.body, "Not set up in byocd");
    ck_assert_ptr_nonnull(mine);
    ck_assert_ptr_null(strstr(mine + 1, "Not set up in byocd"));
    ck_assert_ptr_nonnull(strstr(r.body, "tenant-1"));
    ck_assert_ptr_nonnull(strstr(r.body, "Test bot"));
    ck_assert_ptr_nonnull(strstr(r.body, "<form"));
    ck_assert_ptr_nonnull(strstr(r.body, "type=\"hidden\" name=\"session\" value=\""));
    ck_assert_ptr_null(strstr(r.body, "name=\"integration_id\""));
    assert_self_contained(r.body);
    char *rid = test_resp_header(&r, "X-Request-Id");
    ck_assert_ptr_nonnull(rid);
    free(rid);
    assert_header_eq(&r, "Referrer-Policy", "no-referrer");
    test_resp_release(&r);
}
END_TEST

/* Chrome applies form-action to the redirect that answers a form POST (MDN, CSP form-action:
 * "Chrome 63 does" block it), so the Add page's policy must allow backUrl's origin or the
 * browser never gets back to CXone after the channel is created. */
START_TEST(test_add_page_csp_allows_redirect_to_back_url)
{
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "add", "ott-1", NULL, BACK, &r);
    assert_html(&r, 200);
    char *csp = test_resp_header(&r, "Content-Security-Policy");
    test_resp_release(&r);
    ck_assert_ptr_nonnull(csp);
    char *fa = strstr(csp, "form-action");
    if (fa) {
        fa[strcspn(fa, ";")] = '\0';
        ck_assert_msg(strstr(fa, byoc_cxsim_url(F)) || strstr(fa, "http:"),
                      "\"%s\" blocks the 303 to backUrl %s after the form is posted", fa, BACK);
    }
    free(csp);
}
END_TEST

START_TEST(test_add_page_verifies_token)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "POST", VERIFY_PATH), 1);
    cJSON *j = call_json("POST", VERIFY_PATH, 0);
    const cJSON *brand = cJSON_GetObjectItemCaseSensitive(j, "brandId");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "userId");
    ck_assert(cJSON_IsNumber(brand) && brand->valuedouble == BRAND);
    ck_assert(cJSON_IsNumber(user) && user->valuedouble == USER);
    ck_assert_str_eq(jstr(j, "purpose"), "channel-integration");
    ck_assert_str_eq(jstr(j, "token"), "ott-1");
    cJSON_Delete(j);
    /* The channel list was read with the access token the verification gave. */
    struct byoc_cxsim_call c;
    ck_assert(byoc_cxsim_get_call(F, "GET", CHANNELS_PATH, 0, &c));
    ck_assert_str_eq(c.authorization, "Bearer ott-at-1");
    byoc_cxsim_call_release(&c);
}
END_TEST

START_TEST(test_add_submit_redirects_to_back_url)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    struct test_resp r;
    submit_add(P.id, session, NULL, &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    assert_header_eq(&r, "Location", BACK);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 1);
    cJSON *body = call_json("POST", CHANNELS_PATH, 0);
    ck_assert_str_eq(jstr(body, "name"), "My channel");
    ck_assert_str_eq(jstr(body, "channelIntegrationId"), INTEGRATION);
    ck_assert_str_eq(jstr(body, "realExternalPlatformId"), "custom");
    ck_assert_str_eq(jstr(body, "idOnExternalPlatform"), jstr(body, "id"));
    ck_assert(byoc_cxsim_has_channel(F, jstr(body, "id")));
    assert_action_channel(P.id, jstr(body, "id"), "My channel");
    cJSON_Delete(body);
}
END_TEST

START_TEST(test_add_submit_https_back_url)
{
    static const char back[] = "https://na1.cxone.example/poc?tab=digital&x=1";
    char session[64];
    open_add_session(P.id, "ott-1", back, session, sizeof session);
    struct test_resp r;
    submit_add(P.id, session, NULL, &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    assert_header_eq(&r, "Location", back);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 1);
}
END_TEST

START_TEST(test_add_session_single_use)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    struct test_resp r;
    submit_add(P.id, session, NULL, &r);
    ck_assert_int_eq(r.status, 303);
    test_resp_release(&r);
    submit_add(P.id, session, NULL, &r);
    assert_error_page(&r, 401, "already used");
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 1);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "POST", CHANNELS_PATH), 1);
}
END_TEST

START_TEST(test_add_unknown_session_401)
{
    struct test_resp r;
    submit_add(P.id, "0123456789abcdef0123456789abcdef", NULL, &r);
    assert_error_page(&r, 401, "Start again from CXone");
    test_resp_release(&r);
    post_form(P.id, "name=x", &r);
    assert_html(&r, 401);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, NULL, NULL), 0);
}
END_TEST

START_TEST(test_add_session_bound_to_provider)
{
    struct provider other;
    provider_create(&B, byoc_cxsim_url(F), "int-2", &other);
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    struct test_resp r;
    submit_add(other.id, session, NULL, &r);
    assert_html(&r, 401);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 0);
    submit_add(P.id, session, NULL, &r); /* still good for its own provider */
    ck_assert_int_eq(r.status, 303);
    test_resp_release(&r);
    provider_release(&other);
}
END_TEST

START_TEST(test_add_without_integration_id)
{
    struct provider bare;
    provider_create(&B, byoc_cxsim_url(F), NULL, &bare);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(bare.id, "add", "ott-1", NULL, BACK, &r);
    assert_html(&r, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "name=\"integration_id\""));
    char session[64];
    page_session(r.body, session, sizeof session);
    test_resp_release(&r);
    submit_add(bare.id, session, NULL, &r);
    assert_error_page(&r, 400, "Integration ID");
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "POST", CHANNELS_PATH), 0);
    submit_add(bare.id, session, "&integration_id=int-77", &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    test_resp_release(&r);
    cJSON *body = call_json("POST", CHANNELS_PATH, 0);
    ck_assert_str_eq(jstr(body, "channelIntegrationId"), "int-77");
    cJSON_Delete(body);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", bare.id);
    cJSON *view = admin_get(path);
    ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(view, "cxone"), "integration_id"),
                     "int-77");
    cJSON_Delete(view);
    provider_release(&bare);
}
END_TEST

START_TEST(test_add_invalid_name_400)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    char form[128];
    snprintf(form, sizeof form, "session=%s&name=", session);
    struct test_resp r;
    post_form(P.id, form, &r);
    assert_error_page(&r, 400, "name");
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "POST", CHANNELS_PATH), 0);
}
END_TEST

START_TEST(test_add_cxone_failure_keeps_session)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    byoc_cxsim_fail_next(F, CHANNELS_PATH, 500, 1, 0);
    struct test_resp r;
    submit_add(P.id, session, NULL, &r);
    assert_error_page(&r, 502, "CXone");
    ck_assert_msg(strstr(r.body, "refused") || strstr(r.body, "did not create"), "page: %s",
                  r.body);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 0);
    submit_add(P.id, session, NULL, &r);
    ck_assert_msg(r.status == 303, "retry: %ld %s", r.status, r.body);
    assert_header_eq(&r, "Location", BACK);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 1);
    char *id = created_channel_id(1);
    assert_action_channel(P.id, id, "My channel");
    free(id);
}
END_TEST

START_TEST(test_add_cxone_list_failure_page)
{
    byoc_cxsim_fail_next(F, CHANNELS_PATH, 503, 1, 0);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "add", "ott-1", NULL, BACK, &r);
    assert_error_page(&r, 502, "could not list");
    ck_assert_ptr_null(strstr(r.body, "name=\"session\""));
    test_resp_release(&r);
}
END_TEST

START_TEST(test_add_page_escapes_provider_name)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"<i>Bot</i> & 'co'\",\"webhook_url\":\"http://127.0.0.1:9/hook\","
             "\"cxone\":{\"auth_url\":\"%s/auth/token\",\"api_base_url\":\"%s\","
             "\"client_id\":\"client-id\",\"client_secret\":\"client-secret\","
             "\"access_key_id\":\"key-id\",\"access_key_secret\":\"key-secret\","
             "\"integration_id\":\"int-9\"}}",
             byoc_cxsim_url(F), byoc_cxsim_url(F));
    char *url = byocd_url(&B, "/admin/v1/providers");
    struct test_resp r;
    ck_assert(http_json("POST", url, B.admin_auth, body, &r));
    free(url);
    ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
    cJSON *created = test_resp_json(&r);
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(created, "id"));
    cJSON_Delete(created);
    test_resp_release(&r);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    open_action(id, "add", "ott-1", NULL, NULL, &r);
    assert_html(&r, 200);
    ck_assert_msg(strstr(r.body, "&lt;i&gt;Bot&lt;/i&gt; &amp; &#39;co&#39;"), "page: %s", r.body);
    ck_assert_ptr_null(strstr(r.body, "<i>Bot"));
    test_resp_release(&r);
}
END_TEST

START_TEST(test_add_form_over_cap_413)
{
    size_t n = 9 * 1024;
    char *form = malloc(n + 1);
    ck_assert_ptr_nonnull(form);
    memcpy(form, "name=", 5);
    memset(form + 5, 'a', n - 5);
    form[n] = '\0';
    struct test_resp r;
    post_form(P.id, form, &r);
    assert_html(&r, 413);
    test_resp_release(&r);
    free(form);
}
END_TEST

struct submit_job {
    const char *session;
    struct test_resp r;
};

static void *submit_thread(void *arg)
{
    struct submit_job *j = arg;
    char form[128], path[256];
    snprintf(form, sizeof form, "session=%s&name=Twice", j->session);
    snprintf(path, sizeof path, "/cxone/%s/actions/add", P.id);
    char *url = byocd_url(&B, path);
    const char *h[] = {FORM_CT, NULL};
    if (!test_http("POST", url, h, form, strlen(form), &j->r))
        j->r.status = -1;
    free(url);
    return NULL;
}

/* A double-clicked submit: the session is single-use, so CXone gets one channel, not two. */
START_TEST(test_add_concurrent_submits_create_one_channel)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    byoc_cxsim_set_delay_ms(F, 400);
    struct submit_job jobs[2] = {{.session = session}, {.session = session}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, submit_thread, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    byoc_cxsim_set_delay_ms(F, 0);
    long a = jobs[0].r.status, b = jobs[1].r.status;
    test_resp_release(&jobs[0].r);
    test_resp_release(&jobs[1].r);
    ck_assert_msg(byoc_cxsim_channel_count(F) == 1,
                  "one Add session created %zu channels in CXone (answers %ld and %ld)",
                  byoc_cxsim_channel_count(F), a, b);
    ck_assert_msg((a == 303 && b == 401) || (a == 401 && b == 303), "answers %ld and %ld", a, b);
}
END_TEST

/* ---- open redirects ---- */

static void assert_done_page(const struct test_resp *r, const char *what)
{
    assert_html(r, 200);
    assert_no_header(r, "Location");
    ck_assert_msg(strstr(r->body, "Done") && strstr(r->body, what), "page: %s", r->body);
    assert_self_contained(r->body);
}

START_TEST(test_add_refuses_foreign_http_back_url)
{
    char session[64];
    open_add_session(P.id, "ott-1", "http://evil.example/x", session, sizeof session);
    struct test_resp r;
    submit_add(P.id, session, NULL, &r);
    assert_done_page(&r, "The channel was created.");
    ck_assert_ptr_null(strstr(r.body, "evil.example"));
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_channel_count(F), 1);
}
END_TEST

START_TEST(test_add_refuses_javascript_back_url)
{
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "add", "ott-1", NULL, "javascript:alert(1)", &r);
    assert_html(&r, 200);
    ck_assert_ptr_null(strstr(r.body, "javascript:"));
    char session[64];
    page_session(r.body, session, sizeof session);
    test_resp_release(&r);
    submit_add(P.id, session, NULL, &r);
    assert_done_page(&r, "The channel was created.");
    test_resp_release(&r);
}
END_TEST

START_TEST(test_reconnect_refuses_tricky_back_urls)
{
    char ott[32], tricky[6][160];
    int port = byoc_cxsim_port(F);
    snprintf(tricky[0], sizeof tricky[0], "http://127.0.0.1:%d@evil.example/x", port);
    snprintf(tricky[1], sizeof tricky[1], "//evil.example/x");
    snprintf(tricky[2], sizeof tricky[2], "http://evil.example/?u=http://127.0.0.1:%d/", port);
    snprintf(tricky[3], sizeof tricky[3], "https://evil.example/\"><script>x</script>");
    snprintf(tricky[4], sizeof tricky[4], "https://evil.example/x\r\nSet-Cookie: a=b");
    snprintf(tricky[5], sizeof tricky[5], "data:text/html,<b>x</b>");
    byoc_cxsim_add_channel(F, "ch-1", "One", INTEGRATION);
    for (size_t i = 0; i < 6; i++) {
        snprintf(ott, sizeof ott, "ott-%zu", i);
        byoc_cxsim_add_one_time_token(F, ott, BRAND, USER);
        struct test_resp r;
        open_action(P.id, "reconnect", ott, "&channelId=ch-1", tricky[i], &r);
        ck_assert_msg(r.status == 200, "%s: %ld", tricky[i], r.status);
        assert_done_page(&r, "The channel was reconnected.");
        ck_assert_ptr_null(strstr(r.headers, "Set-Cookie"));
        test_resp_release(&r);
    }
}
END_TEST

/* ---- opening errors ---- */

START_TEST(test_open_bad_token_401)
{
    struct test_resp r;
    open_action(P.id, "add", "not-registered", NULL, BACK, &r);
    assert_error_page(&r, 401, "one-time token");
    ck_assert_ptr_null(strstr(r.body, "name=\"session\""));
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "POST", VERIFY_PATH), 1);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "GET", CHANNELS_PATH), 0);
}
END_TEST

/* Before CXone vouched for the link, its error page links back only to a CXone host: anyone can
 * put any https backUrl into a URL of byocd. */
START_TEST(test_unverified_error_page_links_only_to_cxone)
{
    struct test_resp r;
    open_action(P.id, "add", "not-registered", NULL, "https://evil.example/phish", &r);
    assert_error_page(&r, 401, "one-time token");
    ck_assert_msg(!strstr(r.body, "evil.example"), "%s", r.body);
    test_resp_release(&r);
    open_action(P.id, "add", "not-registered", NULL, "https://na1.nicecxone.com/back", &r);
    assert_error_page(&r, 401, "one-time token");
    ck_assert_msg(strstr(r.body, "href=\"https://na1.nicecxone.com/back\""), "%s", r.body);
    test_resp_release(&r);
}
END_TEST

START_TEST(test_open_used_token_401)
{
    char session[64];
    open_add_session(P.id, "ott-1", BACK, session, sizeof session);
    struct test_resp r;
    open_action(P.id, "add", "ott-1", NULL, BACK, &r);
    assert_error_page(&r, 401, "one-time token");
    test_resp_release(&r);
}
END_TEST

START_TEST(test_open_missing_token_401)
{
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/actions/add?userId=2002&brandId=1001", P.id);
    struct test_resp r;
    get(path, &r);
    assert_error_page(&r, 401, "one-time token");
    test_resp_release(&r);
    snprintf(path, sizeof path, "/cxone/%s/actions/remove?userId=2002&brandId=1001&token=", P.id);
    get(path, &r);
    assert_html(&r, 401);
    test_resp_release(&r);
    char *long_token = malloc(2050);
    ck_assert_ptr_nonnull(long_token);
    memset(long_token, 't', 2049);
    long_token[2049] = '\0';
    open_action(P.id, "add", long_token, NULL, NULL, &r);
    assert_html(&r, 401);
    test_resp_release(&r);
    free(long_token);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, NULL, NULL), 0);
}
END_TEST

START_TEST(test_open_missing_brand_400)
{
    static const char *const queries[] = {
        "userId=2002&token=ott-1", "userId=2002&brandId=abc&token=ott-1",
        "brandId=1001&token=ott-1", "userId=2002&brandId=-5&token=ott-1", NULL};
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    for (size_t i = 0; queries[i]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/cxone/%s/actions/add?%s", P.id, queries[i]);
        struct test_resp r;
        get(path, &r);
        ck_assert_msg(r.status == 400, "%s: %ld", queries[i], r.status);
        assert_error_page(&r, 400, "brandId");
        test_resp_release(&r);
    }
    ck_assert_uint_eq(byoc_cxsim_call_count(F, NULL, NULL), 0);
}
END_TEST

START_TEST(test_open_unknown_provider_404)
{
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action("prv_doesnotexist0000000", "add", "ott-1", NULL, BACK, &r);
    assert_error_page(&r, 404, "no such provider");
    test_resp_release(&r);
    open_action("bad%20id!", "add", "ott-1", NULL, BACK, &r);
    assert_html(&r, 404);
    test_resp_release(&r);
    open_action(P.id, "frobnicate", "ott-1", NULL, BACK, &r);
    assert_html(&r, 404);
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, NULL, NULL), 0);
}
END_TEST

START_TEST(test_open_cxone_unreachable_page)
{
    struct provider dead;
    provider_create(&B, "http://127.0.0.1:9", INTEGRATION, &dead);
    struct test_resp r;
    open_action(dead.id, "add", "ott-1", NULL, NULL, &r);
    assert_error_page(&r, 502, "could not reach CXone");
    test_resp_release(&r);
    provider_release(&dead);
}
END_TEST

/* ---- Reconnect ---- */

START_TEST(test_reconnect_stores_mapping)
{
    byoc_cxsim_add_channel(F, "ch-r1", "Reconnected one", INTEGRATION);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "reconnect", "ott-1", "&channelId=ch-r1", BACK, &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    assert_header_eq(&r, "Location", BACK);
    test_resp_release(&r);
    assert_action_channel(P.id, "ch-r1", "Reconnected one");
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "GET", CHANNELS_PATH "/ch-r1"), 1);
}
END_TEST

START_TEST(test_reconnect_missing_channel_404)
{
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "reconnect", "ott-1", "&channelId=ch-gone", BACK, &r);
    assert_error_page(&r, 404, "CXone has no channel with this id");
    assert_no_header(&r, "Location");
    test_resp_release(&r);
    cJSON *ch = admin_channel(P.id, "ch-gone");
    ck_assert_ptr_null(ch);
}
END_TEST

START_TEST(test_reconnect_channel_param_aliases)
{
    static const char *const keys[] = {"channel_id", "channel", "id"};
    for (size_t i = 0; i < 3; i++) {
        char ott[32], ch[32], extra[64];
        snprintf(ott, sizeof ott, "ott-%zu", i);
        snprintf(ch, sizeof ch, "ch-alias-%zu", i);
        snprintf(extra, sizeof extra, "&%s=%s", keys[i], ch);
        byoc_cxsim_add_channel(F, ch, keys[i], INTEGRATION);
        byoc_cxsim_add_one_time_token(F, ott, BRAND, USER);
        struct test_resp r;
        open_action(P.id, "reconnect", ott, extra, BACK, &r);
        ck_assert_msg(r.status == 303, "%s: %ld %s", keys[i], r.status, r.body);
        test_resp_release(&r);
        assert_action_channel(P.id, ch, keys[i]);
    }
}
END_TEST

START_TEST(test_reconnect_without_channel_400)
{
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "reconnect", "ott-1", NULL, BACK, &r);
    assert_error_page(&r, 400, "does not name a channel");
    test_resp_release(&r);
    ck_assert_uint_eq(byoc_cxsim_call_count(F, NULL, NULL), 0);
}
END_TEST

/* ---- Remove ---- */

START_TEST(test_remove_deletes_both_sides)
{
    admin_add_channel("ch-1", "One");
    byoc_cxsim_add_channel(F, "ch-1", "One", INTEGRATION);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "remove", "ott-1", "&channelId=ch-1", BACK, &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    assert_header_eq(&r, "Location", BACK);
    test_resp_release(&r);
    ck_assert(!byoc_cxsim_has_channel(F, "ch-1"));
    ck_assert_uint_eq(byoc_cxsim_call_count(F, "DELETE", CHANNELS_PATH "/ch-1"), 1);
    ck_assert_ptr_null(admin_channel(P.id, "ch-1"));
}
END_TEST

START_TEST(test_remove_gone_in_cxone_forgets_locally)
{
    admin_add_channel("ch-2", "Two");
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(P.id, "remove", "ott-1", "&channelId=ch-2", NULL, &r);
    assert_done_page(&r, "The channel was removed.");
    test_resp_release(&r);
    ck_assert_ptr_null(admin_channel(P.id, "ch-2"));
}
END_TEST

START_TEST(test_remove_cxone_failure_keeps_mapping)
{
    admin_add_channel("ch-3", "Three");
    byoc_cxsim_add_channel(F, "ch-3", "Three", INTEGRATION);
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    byoc_cxsim_fail_next(F, CHANNELS_PATH "/ch-3", 500, 1, 0);
    struct test_resp r;
    open_action(P.id, "remove", "ott-1", "&channelId=ch-3", BACK, &r);
    assert_error_page(&r, 502, "CXone");
    assert_no_header(&r, "Location");
    test_resp_release(&r);
    ck_assert(byoc_cxsim_has_channel(F, "ch-3"));
    cJSON *ch = admin_channel(P.id, "ch-3");
    ck_assert_ptr_nonnull(ch);
    cJSON_Delete(ch);
}
END_TEST

START_TEST(test_remove_other_providers_channel_untouched)
{
    struct provider other;
    provider_create(&B, byoc_cxsim_url(F), "int-2", &other);
    admin_add_channel("ch-4", "Four");
    byoc_cxsim_add_one_time_token(F, "ott-1", BRAND, USER);
    struct test_resp r;
    open_action(other.id, "remove", "ott-1", "&channelId=ch-4", BACK, &r);
    ck_assert_msg(r.status == 303, "status %ld: %s", r.status, r.body);
    test_resp_release(&r);
    cJSON *ch = admin_channel(P.id, "ch-4");
    ck_assert_msg(ch != NULL, "removing via another provider deleted this provider's channel");
    cJSON_Delete(ch);
    provider_release(&other);
}
END_TEST

/* ---- suite ---- */

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_add_checked_fixture(tc, cxone_up, cxone_down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    return tc;
}

#define MAX_GROUP_TESTS 20

struct group {
    const char *name;
    const TTest *tests[MAX_GROUP_TESTS];
};

static Suite *actions_suite(void)
{
    const struct group groups[] = {
        {"add",
         {test_add_page_lists_channels, test_add_page_verifies_token,
          test_add_page_csp_allows_redirect_to_back_url, test_add_submit_redirects_to_back_url,
          test_add_submit_https_back_url, test_add_session_single_use, test_add_unknown_session_401,
          test_add_session_bound_to_provider, test_add_without_integration_id,
          test_add_invalid_name_400, test_add_cxone_failure_keeps_session,
          test_add_cxone_list_failure_page, test_add_page_escapes_provider_name,
          test_add_form_over_cap_413, test_add_concurrent_submits_create_one_channel, NULL}},
        {"open_redirect",
         {test_add_refuses_foreign_http_back_url, test_add_refuses_javascript_back_url,
          test_reconnect_refuses_tricky_back_urls, NULL}},
        {"open_errors",
         {test_open_bad_token_401, test_unverified_error_page_links_only_to_cxone,
          test_open_used_token_401, test_open_missing_token_401, test_open_missing_brand_400,
          test_open_unknown_provider_404, test_open_cxone_unreachable_page, NULL}},
        {"reconnect",
         {test_reconnect_stores_mapping, test_reconnect_missing_channel_404,
          test_reconnect_channel_param_aliases, test_reconnect_without_channel_400, NULL}},
        {"remove",
         {test_remove_deletes_both_sides, test_remove_gone_in_cxone_forgets_locally,
          test_remove_cxone_failure_keeps_mapping, test_remove_other_providers_channel_untouched,
          NULL}},
    };
    Suite *s = suite_create("actions");
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        TCase *tc = tcase(groups[g].name);
        for (size_t i = 0; groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return harness_run(actions_suite(), CK_ENV);
}
