/* When the database cannot be written, byocd answers 503 with Retry-After and never a 2xx; once
 * storage recovers, CXone's retry succeeds and exactly one copy is stored. Runs byocd's HTTP
 * stack in-process so a fault-injecting SQLite VFS can sit under the real store. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/app.h"
#include "byoc/provider.h"
#include "fault_vfs.h"
#include "harness.h"
#include "testhttp.h"

static struct byoc_config cfg;
static struct byoc_store *store;
static struct byoc_tasks *tasks;
static struct byoc_app app;
static struct byoc_http *http;
static struct byoc_provider prov;
static struct byoc_provider_secrets secrets;
static char dir[64], base[64], token_auth[2300];

static void start(void)
{
    fault_vfs_register();
    fault_vfs_set(FAULT_NONE);
    snprintf(dir, sizeof dir, "/tmp/byocd-fault-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char uri[128], why[256] = "";
    snprintf(uri, sizeof uri, "file:%s/byocd.db?vfs=" FAULT_VFS_NAME, dir);
    ck_assert_msg(byoc_store_open(uri, &store, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    cfg = (struct byoc_config){.listen_host = "127.0.0.1",
                               .public_url = "https://byocd.test",
                               .admin_token = "fault-test-admin-token",
                               .token_ttl = 3600,
                               .max_connections = 64,
                               .idle_timeout = 30};
    struct byoc_keys keys;
    memset(&keys, 7, sizeof keys);
    ck_assert_int_eq(byoc_tasks_start(1, 16, &tasks), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_app_init(&app, &cfg, store, tasks, &keys), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_app_listen(&app, &http, why, sizeof why), BYOC_ERR_OK);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", byoc_http_port(http));
}

static void create_provider_and_token(void)
{
    struct byoc_provider_input in = {.name = "Fault bot",
                                     .webhook_url = "https://bot.test/hook",
                                     .auth_url = "https://cx.test/auth/token",
                                     .api_base_url = "https://cx.test",
                                     .client_id = "c",
                                     .client_secret = "s",
                                     .access_key_id = "k",
                                     .access_key_secret = "ks"};
    ck_assert_int_eq(byoc_provider_build(&app.keys, &in, 1, &prov, &secrets), BYOC_ERR_OK);
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = &prov};
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    char url[256], body[512];
    snprintf(url, sizeof url, "%s/cxone/%s/auth/token", base, prov.id);
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"client_credentials\"}",
        prov.byoc_client_id, secrets.byoc_client_secret);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct test_resp r;
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    snprintf(token_auth, sizeof token_auth, "Authorization: Bearer %s",
             cJSON_GetObjectItem(j, "access_token")->valuestring);
    cJSON_Delete(j);
    test_resp_release(&r);
}

static void setup(void)
{
    start();
    create_provider_and_token();
}

static void teardown(void)
{
    fault_vfs_set(FAULT_NONE);
    byoc_tasks_stop(tasks);
    ck_assert(byoc_http_stop(http));
    byoc_tasks_free(tasks);
    byoc_store_close(store);
    byoc_app_release(&app);
    byoc_provider_release(&prov);
}

static long post_reply(const char *msg_id, struct test_resp *r)
{
    char url[256], body[128];
    snprintf(url, sizeof url, "%s/cxone/%s/box/1.0/posts/t1/messages", base, prov.id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"text\":\"hello\"}", msg_id);
    const char *h[] = {"Content-Type: application/json", token_auth, NULL};
    ck_assert(test_http("POST", url, h, body, strlen(body), r));
    return r->status;
}

static void assert_unavailable(struct test_resp *r, const char *code)
{
    ck_assert_int_eq(r->status, 503);
    char *ra = test_resp_header(r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    free(ra);
    cJSON *j = test_resp_json(r);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring,
                     code);
    cJSON_Delete(j);
}

static size_t stored_messages(void)
{
    struct byoc_agent_msg *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_agent_msg_list(store, prov.id, false, 0, 100, &list, &n),
                     BYOC_ERR_OK);
    byoc_agent_msg_list_free(list, n);
    return n;
}

START_TEST(io_error_gives_503_then_retry_succeeds)
{
    struct test_resp r;
    fault_vfs_set(FAULT_IOERR);
    post_reply("cx-io-1", &r);
    ck_assert_int_gt(fault_vfs_refused(), 0);
    assert_unavailable(&r, "storage_unavailable");
    test_resp_release(&r);
    fault_vfs_set(FAULT_NONE);
    ck_assert_int_eq(stored_messages(), 0); /* nothing unacknowledged is half-done */
    ck_assert_int_eq(post_reply("cx-io-1", &r), 200);
    test_resp_release(&r);
    ck_assert_int_eq(post_reply("cx-io-1", &r), 200);
    test_resp_release(&r);
    ck_assert_int_eq(stored_messages(), 1);
}
END_TEST

START_TEST(disk_full_gives_503)
{
    struct test_resp r;
    fault_vfs_set(FAULT_FULL);
    post_reply("cx-full-1", &r);
    assert_unavailable(&r, "storage_full");
    test_resp_release(&r);
    fault_vfs_set(FAULT_NONE);
    ck_assert_int_eq(post_reply("cx-full-1", &r), 200);
    test_resp_release(&r);
    ck_assert_int_eq(stored_messages(), 1);
}
END_TEST

START_TEST(admin_write_refused_while_faulted)
{
    fault_vfs_set(FAULT_IOERR);
    char url[256];
    snprintf(url, sizeof url, "%s/admin/v1/providers/%s/channels", base, prov.id);
    const char *h[] = {"Content-Type: application/json",
                       "Authorization: Bearer fault-test-admin-token", NULL};
    const char *body = "{\"channel_id\":\"c1\",\"name\":\"Chat\"}";
    struct test_resp r;
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    assert_unavailable(&r, "storage_unavailable");
    test_resp_release(&r);
    fault_vfs_set(FAULT_NONE);
    struct byoc_channel *list = NULL;
    size_t n = 9;
    ck_assert_int_eq(byoc_store_channel_list(store, prov.id, &list, &n), BYOC_ERR_OK);
    ck_assert_int_eq(n, 0);
    byoc_channel_list_free(list, n);
}
END_TEST

START_TEST(sync_error_gives_503_then_retry_succeeds)
{
    struct test_resp r;
    fault_vfs_set(FAULT_SYNC); /* the commit is written but cannot be made durable */
    post_reply("cx-sync-1", &r);
    ck_assert_int_gt(fault_vfs_refused(), 0);
    assert_unavailable(&r, "storage_unavailable");
    test_resp_release(&r);
    fault_vfs_set(FAULT_NONE);
    ck_assert_int_eq(post_reply("cx-sync-1", &r), 200);
    test_resp_release(&r);
    ck_assert_int_eq(stored_messages(), 1);
}
END_TEST

#define NTH_MAX 8 /* operations of a reply's commit and more: each is failed once */

/* Fails the nth write or sync of one reply's commit for every n: the answer is 200 (the failed
 * operation was not the reply's, or SQLite got over it) or 503, and after a 503 the retry is
 * taken; every reply is stored exactly once. */
static void sweep(unsigned ops, const char *name)
{
    struct test_resp r;
    int refused = 0;
    for (long n = 1; n <= NTH_MAX; n++) {
        char id[64];
        snprintf(id, sizeof id, "cx-%s-%ld", name, n);
        fault_vfs_fail_nth(ops, n);
        long status = post_reply(id, &r);
        bool hit = fault_vfs_refused() > 0;
        fault_vfs_set(FAULT_NONE);
        ck_assert_msg(status == 200 || (status == 503 && hit), "%s: %ld", id, status);
        if (status == 503) {
            assert_unavailable(&r, "storage_unavailable");
            refused++;
        }
        test_resp_release(&r);
        if (status == 503) {
            ck_assert_int_eq(post_reply(id, &r), 200);
            test_resp_release(&r);
        }
        ck_assert_int_eq(stored_messages(), (size_t)n);
    }
    ck_assert_msg(refused > 0, "no %s failure reached a reply", name);
}

START_TEST(nth_write_failure_never_acknowledges_unstored_data)
{
    sweep(FAULT_OP_WRITE, "write");
}
END_TEST

START_TEST(nth_sync_failure_never_acknowledges_unstored_data)
{
    sweep(FAULT_OP_SYNC, "sync");
}
END_TEST

/* The bot API's handover (POST /v1/conversations) under a write error: 503, nothing stored; the
 * retry with the same Idempotency-Key opens exactly one conversation. */
START_TEST(bot_handover_refused_while_faulted)
{
    struct byoc_channel ch = {.channel_id = "c1", .name = "Chat", .source = BYOC_CHANNEL_ADMIN};
    byoc_strlcpy(ch.provider_id, prov.id, sizeof ch.provider_id);
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_UPSERT, .in.channel_upsert.channel = &ch};
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    char url[256], auth[256];
    snprintf(url, sizeof url, "%s/v1/conversations", base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", secrets.bot_api_key);
    const char *h[] = {"Content-Type: application/json", auth, "Idempotency-Key: hand-1", NULL};
    const char *body = "{\"end_user\":{\"id\":\"u1\"},\"transcript\":[{\"role\":\"user\","
                       "\"text\":\"hi\"}]}";
    struct test_resp r;
    fault_vfs_set(FAULT_IOERR);
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    assert_unavailable(&r, "storage_unavailable");
    test_resp_release(&r);
    fault_vfs_set(FAULT_NONE);
    for (int i = 0; i < 2; i++) { /* the retry, then its replay */
        ck_assert(test_http("POST", url, h, body, strlen(body), &r));
        ck_assert_int_eq(r.status, 201);
        test_resp_release(&r);
    }
    struct byoc_conversation *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_conversation_list(store, prov.id, -1, NULL, 0, 10, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    byoc_conversation_list_free(list, n);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("storage_fault");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, io_error_gives_503_then_retry_succeeds);
    tcase_add_test(tc, disk_full_gives_503);
    tcase_add_test(tc, admin_write_refused_while_faulted);
    tcase_add_test(tc, sync_error_gives_503_then_retry_succeeds);
    tcase_add_test(tc, nth_write_failure_never_acknowledges_unstored_data);
    tcase_add_test(tc, nth_sync_failure_never_acknowledges_unstored_data);
    tcase_add_test(tc, bot_handover_refused_while_faulted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
