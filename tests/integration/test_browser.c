/* The Add action page in a real browser: byocd and the fake CXone run here, and
 * tests/browser/add_page.mjs drives Debian's headless Chromium through them (opens the page with
 * a one-time token, creates a channel, lands on backUrl, then opens the page with an expired
 * token). This side then checks that the channel exists in CXone and in byocd.
 * Screenshots go to $BYOCD_ARTIFACT_DIR (tests/meson.build sets it), else a new directory in
 * /tmp that is kept and named on stdout. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 60
#define NODE_TIMEOUT_MS 40000 /* the script stops itself after 25 s; this is the backstop */
#define BRAND 1001
#define USER 2002
#define INTEGRATION "int-browser"
#define OTT "ott-browser-1"
#define CHANNEL_NAME "Website chat (browser test)"
#define CHANNELS_PATH "/dfo/3.0/channels"
#define SCRIPT "/tests/browser/add_page.mjs"

/* byocd runs in the runner process (so a failed check cannot leave it behind); the fake CXone
 * runs in the test process, whose recorded calls the checks read. */
static struct byocd B;

static void add_url(const struct byocd *b, const struct provider *p, const char *token,
                    const char *back, char *out, size_t cap)
{
    char enc[512];
    harness_pct_encode(back, enc, sizeof enc);
    int n = snprintf(out, cap, "%s/cxone/%s/actions/add?userId=%d&brandId=%d&token=%s&backUrl=%s",
                     b->base, p->id, USER, BRAND, token, enc);
    ck_assert(n > 0 && (size_t)n < cap);
}

static void admin_register_channel(const struct byocd *b, const struct provider *p, const char *id,
                                   const char *name)
{
    char path[256], body[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", p->id);
    snprintf(body, sizeof body, "{\"channel_id\":\"%s\",\"name\":\"%s\"}", id, name);
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, b->admin_auth, body, &r));
    free(url);
    ck_assert_msg(r.status == 201, "channel register: %ld %s", r.status, r.body);
    test_resp_release(&r);
}

static void add_row(cJSON *rows, const char *id, const char *name, const char *state)
{
    cJSON *row = cJSON_CreateObject();
    ck_assert_ptr_nonnull(row);
    cJSON_AddStringToObject(row, "id", id);
    cJSON_AddStringToObject(row, "name", name);
    cJSON_AddStringToObject(row, "state", state);
    cJSON_AddItemToArray(rows, row);
}

/* The id of the channel the browser created: the one POST /dfo/3.0/channels call. */
static char *created_channel(struct byoc_cxsim *f)
{
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "POST", CHANNELS_PATH), 1);
    struct byoc_cxsim_call call;
    ck_assert(byoc_cxsim_get_call(f, "POST", CHANNELS_PATH, 0, &call));
    cJSON *body = cJSON_ParseWithLength(call.body, call.body_len);
    byoc_cxsim_call_release(&call);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *integration = cJSON_GetObjectItemCaseSensitive(body, "channelIntegrationId");
    ck_assert(cJSON_IsString(id) && cJSON_IsString(name) && cJSON_IsString(integration));
    ck_assert_str_eq(name->valuestring, CHANNEL_NAME);
    ck_assert_str_eq(integration->valuestring, INTEGRATION);
    char *out = strdup(id->valuestring);
    cJSON_Delete(body);
    return out;
}

/* byocd's admin API lists the channel as created by the Add page, for the brand. */
static void assert_admin_lists(const struct byocd *b, const struct provider *p, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", p->id);
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, b->admin_auth, NULL, &r));
    free(url);
    ck_assert_msg(r.status == 200, "channel list: %ld %s", r.status, r.body);
    cJSON *list = test_resp_json(&r);
    test_resp_release(&r);
    const cJSON *it, *found = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "channel_id");
        if (cJSON_IsString(cid) && strcmp(cid->valuestring, id) == 0)
            found = it;
    }
    ck_assert_msg(found, "the admin API does not list channel %s", id);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(found, "name")->valuestring, CHANNEL_NAME);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(found, "source")->valuestring, "action");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(found, "brand_id")->valuestring, "1001");
    cJSON_Delete(list);
}

static void server_up(void)
{
    byocd_start(&B, NULL, NULL);
}

/* Stops byocd; keeps its directory (and says so) unless it exited 0 with a clean log. */
static void server_down(void)
{
    byocd_stop_and_clean(&B);
}

START_TEST(test_add_page_in_chromium)
{
    const struct byocd *b = &B;
    struct byoc_cxsim *f = test_cxsim_start();
    struct provider p;
    provider_create(b, byoc_cxsim_url(f), INTEGRATION, &p);
    /* One channel of each state the page tells apart. */
    byoc_cxsim_add_channel(f, "ch-support", "Support chat", INTEGRATION);
    admin_register_channel(b, &p, "ch-support", "Support chat");
    byoc_cxsim_add_channel(f, "ch-sales", "Sales <chat> & co", INTEGRATION);
    byoc_cxsim_add_channel(f, "ch-mail", "Email inbox", "int-other");
    byoc_cxsim_add_one_time_token(f, OTT, BRAND, USER);

    char back[256], page[2048], expired[2048], dir[1024];
    snprintf(back, sizeof back, "%s/back/poc?tab=digital", byoc_cxsim_url(f));
    add_url(b, &p, OTT, back, page, sizeof page);
    add_url(b, &p, "ott-expired", back, expired, sizeof expired);
    harness_artifact_dir(dir, sizeof dir);

    cJSON *arg = cJSON_CreateObject(), *origins = cJSON_CreateArray(), *rows = cJSON_CreateArray();
    ck_assert(arg && origins && rows);
    cJSON_AddStringToObject(arg, "addUrl", page);
    cJSON_AddStringToObject(arg, "expiredUrl", expired);
    cJSON_AddStringToObject(arg, "backUrl", back);
    cJSON_AddItemToArray(origins, cJSON_CreateString(b->base));
    cJSON_AddItemToArray(origins, cJSON_CreateString(byoc_cxsim_url(f)));
    cJSON_AddItemToObject(arg, "origins", origins);
    cJSON_AddStringToObject(arg, "provider", "Test bot");
    cJSON_AddStringToObject(arg, "brand", "1001");
    add_row(rows, "ch-support", "Support chat", "Connected to byocd");
    add_row(rows, "ch-sales", "Sales <chat> & co", "Not set up in byocd");
    add_row(rows, "ch-mail", "Email inbox", "Other integration");
    cJSON_AddItemToObject(arg, "channels", rows);
    cJSON_AddStringToObject(arg, "channelName", CHANNEL_NAME);
    cJSON_AddStringToObject(arg, "artifactDir", dir);
    char *text = cJSON_PrintUnformatted(arg);
    cJSON_Delete(arg);
    ck_assert_ptr_nonnull(text);

    int status = harness_run_node(SCRIPT, text, NODE_TIMEOUT_MS);
    free(text);
    printf("browser screenshots: %s\n", dir);
    ck_assert_msg(status == 0, "add_page.mjs exited with %d (see its messages above)", status);

    /* What the browser did reached CXone and byocd. */
    char *id = created_channel(f);
    ck_assert(byoc_cxsim_has_channel(f, id));
    ck_assert_uint_eq(byoc_cxsim_channel_count(f), 4);
    assert_admin_lists(b, &p, id);
    free(id);
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "GET", "/back/poc"), 1);
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "POST", "/dfo/3.0/one-time-token/verification"), 2);

    provider_release(&p);
    byoc_cxsim_stop(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("browser");
    TCase *tc = tcase_create("add_page");
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, test_add_page_in_chromium);
    suite_add_tcase(s, tc);
    return harness_run(s, CK_ENV);
}
