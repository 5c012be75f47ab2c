/* Allocation failure, curl's "torture" way: for N = 1, 2, 3 ... byocd's HTTP stack is started
 * in-process, the Nth allocation its threads make during one request is refused
 * (tests/support/failmalloc.h), and then:
 *   - the answer is clean: an error status with a JSON error body, or no answer at all (a
 *     dropped connection), or the normal success, and then the data really is stored;
 *   - the server still works: the same request, sent again without a failure, succeeds and
 *     leaves exactly one copy where the endpoint deduplicates;
 *   - nothing leaks: once the server is stopped, the process holds as many heap blocks as it
 *     did before it started;
 * until a request runs through without reaching its armed failure. Covered: token issuance,
 * a durable agent reply to the integration box, a bot message, an admin provider create.
 *
 * failmalloc replaces malloc, which AddressSanitizer and valgrind also replace: this program
 * is built only without sanitizers (tests/meson.build) and refuses to run when failmalloc is
 * not the process's allocator. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/app.h"
#include "byoc/log.h"
#include "byoc/metrics.h"
#include "failmalloc.h"
#include "harness.h"
#include "testhttp.h"

/* More allocations than any covered request makes; reaching it fails the test (raise it when
 * a request legitimately grows). */
#define ALLOC_FAIL_MAX_N 3000
/* One exchange must not take longer than this, failure or not. */
#define ALLOC_FAIL_HTTP_TIMEOUT_MS 5000L

/* ---------------------------------------------------------------- in-process byocd */

static char dir[64], db_path[128];
static struct byoc_config cfg;
static struct byoc_store *store;
static struct byoc_tasks *tasks;
static struct byoc_app app;
static struct byoc_http *http;
static struct byocd srv; /* base and admin_auth, for the harness helpers */

static const char *settings(const char *name)
{
    static const char *const table[][2] = {
        {"BYOCD_LISTEN", "127.0.0.1:0"},
        {"BYOCD_ADMIN_TOKEN", HARNESS_ADMIN_TOKEN},
        {"BYOCD_PUBLIC_URL", HARNESS_PUBLIC_URL},
        {"BYOCD_WEBHOOK_ALLOW_PRIVATE", "1"},
        {"BYOCD_LOG_LEVEL", "error"},
    };
    if (strcmp(name, "BYOCD_DATABASE") == 0)
        return db_path;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(name, table[i][0]) == 0)
            return table[i][1];
    return NULL;
}

static void server_start(void)
{
    char why[256] = "";
    ck_assert_msg(byoc_store_open(db_path, &store, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    struct byoc_keys keys;
    memset(&keys, 7, sizeof keys);
    ck_assert_int_eq(byoc_tasks_start(BYOC_TASK_THREADS, BYOC_TASK_QUEUE_MAX, &tasks), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_app_init(&app, &cfg, store, tasks, &keys), BYOC_ERR_OK);
    ck_assert_msg(byoc_app_listen(&app, &http, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    snprintf(srv.base, sizeof srv.base, "http://127.0.0.1:%d", byoc_http_port(http));
}

/* The order of main.c's runtime_release. */
static void server_stop(void)
{
    byoc_http_quiesce(http);
    byoc_tasks_stop(tasks);
    ck_assert_msg(byoc_http_stop(http), "a request was left parked");
    byoc_tasks_free(tasks);
    byoc_store_close(store);
    byoc_app_release(&app);
    http = NULL;
    tasks = NULL;
    store = NULL;
}

/* Per test (each runs in its own process): a fresh database directory and configuration. */
static void setup(void)
{
    ck_assert_msg(failmalloc_active(), "failmalloc is not the process's malloc (a sanitizer?)");
    failmalloc_exempt_this_thread();
    /* In memory when the system has a tmpfs there: hundreds of cycles each sync the database,
     * and what is tested here is memory, not the disk. */
    snprintf(dir, sizeof dir, "/dev/shm/byocd-allocfail-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/byocd-allocfail-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    snprintf(db_path, sizeof db_path, "%s/byocd.db", dir);
    char why[256] = "";
    ck_assert_msg(byoc_config_load(&cfg, NULL, settings, why, sizeof why) == BYOC_ERR_OK, "%s",
                  why);
    byoc_log_set_level(cfg.log_level);
    byoc_metrics_init();
    snprintf(srv.admin_auth, sizeof srv.admin_auth, "Authorization: Bearer %s",
             HARNESS_ADMIN_TOKEN);
}

static void teardown(void)
{
    byoc_config_release(&cfg);
    byocd_remove_dir(dir);
}

/* ---------------------------------------------------------------- the requests */

/* What one scenario needs from the server, made once while nothing fails. */
static struct provider prov;
static char *token_auth, *bot_auth, conversation_id[64];

struct scenario {
    const char *name;
    long ok_status;
    /* Sends request n (n distinguishes what it stores). false: no answer. */
    bool (*send)(long n, struct test_resp *r);
    /* After a success answer to request n: is its data stored (as often as it should be)? */
    void (*check_stored)(long n, const struct test_resp *r);
};

static bool send_json(const char *method, const char *path, const char *const *headers,
                      const char *body, struct test_resp *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", srv.base, path);
    return test_http_timeout(method, url, headers, body, strlen(body), ALLOC_FAIL_HTTP_TIMEOUT_MS,
                             r);
}

static bool send_token(long n, struct test_resp *r)
{
    (void)n;
    char path[128], body[512];
    snprintf(path, sizeof path, "/cxone/%s/auth/token", prov.id);
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"client_credentials\"}",
        prov.client_id, prov.client_secret);
    const char *h[] = {"Content-Type: application/json", NULL};
    return send_json("POST", path, h, body, r);
}

/* The issued token works: an agent reply with it is accepted. */
static void check_token(long n, const struct test_resp *r)
{
    cJSON *j = test_resp_json(r);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    ck_assert_msg(cJSON_IsString(t), "token %ld: 200 without access_token: %s", n, r->body);
    char *auth = bearer_line(t->valuestring);
    cJSON_Delete(j);
    byocd_agent_reply(&srv, &prov, auth, "thread-token-check", (int)n, "token works");
    free(auth);
}

static bool send_agent_reply(long n, struct test_resp *r)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/thread-a/messages", prov.id);
    snprintf(body, sizeof body,
             "{\"id\":\"cx-msg-%ld\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":"
             "{\"text\":\"reply %ld\"}},\"thread\":{\"idOnExternalPlatform\":\"thread-a\"},"
             "\"authorUser\":{\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
             n, n);
    const char *h[] = {"Content-Type: application/json", token_auth, NULL};
    return send_json("POST", path, h, body, r);
}

/* Exactly one stored message carries CXone's id cx-msg-n. */
static void check_agent_reply(long n, const struct test_resp *r)
{
    (void)r;
    char want[64];
    snprintf(want, sizeof want, "cx-msg-%ld", n);
    struct byoc_agent_msg *list = NULL;
    size_t count = 0, found = 0;
    ck_assert_int_eq(
        byoc_store_agent_msg_list(store, prov.id, false, 0, ALLOC_FAIL_MAX_N + 10, &list, &count),
        BYOC_ERR_OK);
    for (size_t i = 0; i < count; i++)
        found += list[i].cxone_message_id && strcmp(list[i].cxone_message_id, want) == 0;
    byoc_agent_msg_list_free(list, count);
    ck_assert_msg(found == 1, "agent reply %s stored %zu times", want, found);
}

static bool send_bot_message(long n, struct test_resp *r)
{
    char path[256], body[128], idem[64];
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", conversation_id);
    snprintf(body, sizeof body, "{\"id\":\"bot-msg-%ld\",\"text\":\"message %ld\"}", n, n);
    snprintf(idem, sizeof idem, "Idempotency-Key: bot-key-%ld", n);
    const char *h[] = {"Content-Type: application/json", bot_auth, idem, NULL};
    return send_json("POST", path, h, body, r);
}

/* Exactly one queued message carries the client id bot-msg-n, and it is the one answered. */
static void check_bot_message(long n, const struct test_resp *r)
{
    char want[64];
    snprintf(want, sizeof want, "bot-msg-%ld", n);
    cJSON *j = test_resp_json(r);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    ck_assert_msg(cJSON_IsString(id), "bot message %ld: 202 without id: %s", n, r->body);
    struct byoc_outbound *list = NULL;
    size_t count = 0, found = 0;
    ck_assert_int_eq(
        byoc_store_outbound_list(store, conversation_id, ALLOC_FAIL_MAX_N + 10, &list, &count),
        BYOC_ERR_OK);
    for (size_t i = 0; i < count; i++) {
        if (list[i].client_message_id && strcmp(list[i].client_message_id, want) == 0) {
            found++;
            ck_assert_str_eq(list[i].id, id->valuestring);
        }
    }
    byoc_outbound_list_free(list, count);
    cJSON_Delete(j);
    ck_assert_msg(found == 1, "bot message %s stored %zu times", want, found);
}

static bool send_provider_create(long n, struct test_resp *r)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"Alloc bot %ld\",\"webhook_url\":\"http://127.0.0.1:9/hook\","
             "\"cxone\":{\"auth_url\":\"https://cx.test/auth/token\","
             "\"api_base_url\":\"https://cx.test\",\"client_id\":\"c\",\"client_secret\":\"s\","
             "\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
             n);
    const char *h[] = {"Content-Type: application/json", srv.admin_auth, NULL};
    return send_json("POST", "/admin/v1/providers", h, body, r);
}

/* The provider answered is stored, and the client secret shown once works (its stored hash is
 * right). A create is not idempotent: a retry after an error may store a second provider,
 * which is the client's to clean up, so only the answered one counts. */
static void check_provider(long n, const struct test_resp *r)
{
    cJSON *j = test_resp_json(r);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *byoc = cJSON_GetObjectItemCaseSensitive(j, "byoc");
    ck_assert_msg(cJSON_IsString(id), "provider %ld: 201 without id: %s", n, r->body);
    struct byoc_provider p;
    ck_assert_int_eq(byoc_store_provider_get(store, id->valuestring, &p), BYOC_ERR_OK);
    byoc_provider_release(&p);
    struct provider created = {0};
    snprintf(created.id, sizeof created.id, "%s", id->valuestring);
    snprintf(created.client_id, sizeof created.client_id, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(byoc, "client_id")));
    snprintf(created.client_secret, sizeof created.client_secret, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(byoc, "client_secret")));
    free(cxone_token(&srv, &created)); /* fails the test unless it is 200 */
    cJSON_Delete(j);
}

/* Provider, token, bot API key, a channel and a conversation, made while nothing fails. */
static void make_fixtures(void)
{
    provider_create(&srv, "https://cx.test", "integration-1", &prov);
    char *tok = cxone_token(&srv, &prov);
    token_auth = bearer_line(tok);
    free(tok);
    bot_auth = bearer_line(prov.bot_api_key);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", prov.id);
    cJSON_Delete(byocd_call_ok(&srv, srv.admin_auth, "POST", path,
                               "{\"channel_id\":\"chat-1\",\"name\":\"Chat\"}", 201));
    cJSON *conv = byocd_call_ok(
        &srv, bot_auth, "POST", "/v1/conversations",
        "{\"end_user\":{\"id\":\"user-1\"},\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
        201);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(conv, "id");
    ck_assert(cJSON_IsString(id));
    snprintf(conversation_id, sizeof conversation_id, "%s", id->valuestring);
    cJSON_Delete(conv);
}

/* ---------------------------------------------------------------- the torture loop */

/* How the armed requests of one scenario were answered. */
struct tally {
    long success, errors_4xx, errors_5xx, dropped;
};

/* A clean refusal: 4xx or 5xx with a JSON error body, the API's {"error":{"code":...}} or
 * OAuth's {"error":"..."} (the token endpoint). */
static void check_refusal(const struct scenario *s, long n, const struct test_resp *r)
{
    ck_assert_msg(r->status >= 400 && r->status <= 599, "%s, failure at allocation %ld: status %ld",
                  s->name, n, r->status);
    cJSON *j = test_resp_json(r);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_IsString(e) ? e : cJSON_GetObjectItemCaseSensitive(e, "code");
    bool ok = cJSON_IsString(code);
    /* the body is valid JSON: a failed allocation while parsing it must not read as a client
     * error, which would tell CXone or the bot to drop the message instead of retrying */
    bool blames_body = ok && strcmp(code->valuestring, "invalid_json") == 0;
    cJSON_Delete(j);
    ck_assert_msg(ok, "%s, failure at allocation %ld: %ld without a JSON error: %s", s->name, n,
                  r->status, r->body);
    ck_assert_msg(!blames_body, "%s, failure at allocation %ld: out of memory answered %ld %s",
                  s->name, n, r->status, r->body);
}

/* One cycle: start, request n with its nth allocation refused, retry, stop. Returns whether
 * the armed failure was reached. */
static bool cycle(const struct scenario *s, long n, struct tally *t)
{
    server_start();
    struct test_resp r;
    failmalloc_arm(n);
    bool answered = s->send(n, &r);
    bool hit = failmalloc_disarm() >= n;
    if (!hit) {
        ck_assert_msg(answered && r.status == s->ok_status, "%s without a failure: %ld %s", s->name,
                      r.status, r.body ? r.body : "");
        s->check_stored(n, &r);
    } else if (!answered) {
        t->dropped++;
    } else if (r.status == s->ok_status) {
        t->success++; /* the refused allocation had a way around it: the data must be there */
        s->check_stored(n, &r);
    } else {
        check_refusal(s, n, &r);
        if (getenv("ALLOC_FAIL_VERBOSE"))
            fprintf(stderr, "alloc_fail %s n=%ld: %ld %s\n", s->name, n, r.status, r.body);
        if (r.status < 500)
            t->errors_4xx++;
        else
            t->errors_5xx++;
    }
    test_resp_release(&r);
    /* The server still works, and a retry stores the data once. */
    ck_assert_msg(s->send(n, &r), "%s, after a failure at allocation %ld: no answer", s->name, n);
    ck_assert_msg(r.status == s->ok_status, "%s, retry after a failure at allocation %ld: %ld %s",
                  s->name, n, r.status, r.body);
    s->check_stored(n, &r);
    test_resp_release(&r);
    server_stop();
    return hit;
}

static void torture(const struct scenario *s)
{
    /* A first cycle without failures makes the fixtures and lets every library do its
     * one-time initialisation (OpenSSL, SQLite, libmicrohttpd), which stays allocated. */
    server_start();
    make_fixtures();
    struct test_resp r;
    ck_assert(s->send(0, &r));
    ck_assert_int_eq(r.status, s->ok_status);
    s->check_stored(0, &r);
    test_resp_release(&r);
    server_stop();
    long long baseline = failmalloc_live();
    struct tally t = {0};
    long n = 1;
    for (; n <= ALLOC_FAIL_MAX_N; n++) {
        bool hit = cycle(s, n, &t);
        long long leaked = failmalloc_live() - baseline;
        ck_assert_msg(leaked == 0, "%s, failure at allocation %ld: %lld blocks leaked", s->name, n,
                      leaked);
        if (!hit)
            break;
    }
    ck_assert_msg(n <= ALLOC_FAIL_MAX_N, "%s: more than %d allocations", s->name, ALLOC_FAIL_MAX_N);
    fprintf(stderr,
            "alloc_fail %s: %ld allocations, each refused once: %ld success, %ld 4xx, %ld 5xx, "
            "%ld dropped\n",
            s->name, n - 1, t.success, t.errors_4xx, t.errors_5xx, t.dropped);
    ck_assert_int_eq(t.success + t.errors_4xx + t.errors_5xx + t.dropped, n - 1);
    provider_release(&prov);
    free(token_auth);
    free(bot_auth);
}

static const struct scenario token = {"token", 200, send_token, check_token};
static const struct scenario agent_reply = {"agent_reply", 200, send_agent_reply,
                                            check_agent_reply};
static const struct scenario bot_message = {"bot_message", 202, send_bot_message,
                                            check_bot_message};
static const struct scenario provider_create_s = {"provider_create", 201, send_provider_create,
                                                  check_provider};

START_TEST(token_issuance)
{
    torture(&token);
}
END_TEST

START_TEST(agent_reply_ingest)
{
    torture(&agent_reply);
}
END_TEST

START_TEST(bot_message_accept)
{
    torture(&bot_message);
}
END_TEST

START_TEST(admin_provider_create)
{
    torture(&provider_create_s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("torture");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, token_issuance);
    tcase_add_test(tc, agent_reply_ingest);
    tcase_add_test(tc, bot_message_accept);
    tcase_add_test(tc, admin_provider_create);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
