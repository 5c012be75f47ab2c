/* Overload: a burst ten times what byocd can hold sheds with 503 + Retry-After instead of
 * queueing without bound, keeps every reply it acknowledged, drains them in order, and its
 * memory comes back down. Also the database locked by another process: writes wait for it,
 * and the background workers carry on by themselves once it is free.
 *
 * Capacity is made small and exact: BYOCD_WRITE_QUEUE_MAX=16, and this program holds the
 * database's write lock (BEGIN EXCLUSIVE from its own SQLite connection, as a slow disk or an
 * operator's long transaction would) while the burst arrives, so nothing drains meanwhile. */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sqlite3.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/json.h"

#define QUEUE 16                      /* BYOCD_WRITE_QUEUE_MAX of the byocd under test */
#define BURST (10 * QUEUE)            /* requests at once, each on its own connection */
#define TEXT_BYTES 8192               /* of each agent reply, so that held bodies show in the RSS */
#define LOCK_HOLD_MS 3000             /* the lock is let go by then (byocd's busy timeout is 5 s) */
#define SHED_SLACK 8                  /* writes the writer may have taken before it blocked */
#define WAIT_MS 60000                 /* bound of every wait for something that must happen */
#define POLL_MS 100                   /* between two looks */
#define RSS_GROWTH_MAX_KB (64 * 1024) /* left over after the drain */
#define CHANNEL "chat_load"
#define HOOK "/hook"

static struct byocd b;
static struct byoc_cxsim *f;
static struct fake_receiver *rx;
static struct provider p;
static char bot_auth[256], conv_id[64], thread_id[128], *cx_auth;

static void open_conversation(void)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/conversations",
                             "{\"end_user\":{\"id\":\"user-9\"},"
                             "\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
                             201);
    snprintf(conv_id, sizeof conv_id, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
    char path[128];
    snprintf(path, sizeof path, "/v1/conversations/%s", conv_id);
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;) {
        j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
        const char *state = byoc_json_str(j, "state"), *thread = byoc_json_str(j, "thread_id");
        bool ready = state && strcmp(state, "escalated") == 0 && thread;
        if (ready)
            snprintf(thread_id, sizeof thread_id, "%s", thread);
        cJSON_Delete(j);
        if (ready)
            return;
        harness_sleep_ms(POLL_MS);
    }
    ck_abort_msg("conversation %s did not escalate", conv_id);
}

static void setup(void)
{
    static const char *const env[] = {"BYOCD_WRITE_QUEUE_MAX=16", NULL};
    f = test_cxsim_start();
    rx = fake_receiver_start();
    byocd_start(&b, NULL, env);
    char hook[256];
    snprintf(hook, sizeof hook, "%s" HOOK, fake_receiver_url(rx));
    provider_create_hook(&b, byoc_cxsim_url(f), "int-1", NULL, hook, &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
    char *token = cxone_token(&b, &p);
    cx_auth = bearer_line(token);
    free(token);
    open_conversation();
}

static void teardown(void)
{
    int status = byocd_stop(&b);
    bool sanitizer = byocd_sanitizer_report(&b);
    char dir[sizeof b.dir];
    snprintf(dir, sizeof dir, "%s", b.dir);
    if (status == 0 && !sanitizer)
        byocd_remove_dir(dir);
    provider_release(&p);
    free(cx_auth);
    fake_receiver_stop(rx);
    byoc_cxsim_stop(f);
    ck_assert_msg(status == 0 && !sanitizer, "byocd exited with %d%s; its log is in %s", status,
                  sanitizer ? " after a sanitizer report" : "", dir);
}

/* ---------------------------------------------------------------- the lock */

static sqlite3 *lock_database(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/byocd.db", b.dir);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void unlock_database(sqlite3 *db)
{
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* ---------------------------------------------------------------- the burst */

struct call {
    CURL *h;
    struct curl_slist *headers;
    char *body;
    long status;
    bool retry_after, done;
};

static size_t drop(char *data, size_t size, size_t n, void *u)
{
    return size * n;
}

static size_t header_line(char *line, size_t size, size_t n, void *u)
{
    struct call *c = u;
    if (n * size >= 12 && strncasecmp(line, "Retry-After:", 12) == 0)
        c->retry_after = true;
    return size * n;
}

static void call_init(struct call *c, int i, const char *url)
{
    char *text = malloc(TEXT_BYTES + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', TEXT_BYTES);
    snprintf(text, 16, "burst-%04d ", i); /* the reply's own name first */
    text[strlen(text)] = 'x';
    text[TEXT_BYTES] = '\0';
    size_t cap = TEXT_BYTES + 512;
    c->body = malloc(cap);
    ck_assert_ptr_nonnull(c->body);
    snprintf(c->body, cap,
             "{\"id\":\"burst-%d\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":"
             "{\"text\":\"%s\"}},\"thread\":{\"idOnExternalPlatform\":\"%s\"},"
             "\"authorUser\":{\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
             i, text, thread_id);
    free(text);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, cx_auth);
    c->h = curl_easy_init();
    ck_assert_ptr_nonnull(c->h);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, drop);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(c->h, CURLOPT_FORBID_REUSE, 1L);
}

/* Runs the multi handle until done calls answered, or until_ms passed; returns answered. */
static int pump(CURLM *m, struct call *calls, int *answered, int want, long long until_ms)
{
    while (*answered < want && harness_now_ms() < until_ms) {
        int running = 0;
        curl_multi_perform(m, &running);
        int left = 0;
        for (CURLMsg *msg = curl_multi_info_read(m, &left); msg;
             msg = curl_multi_info_read(m, &left)) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct call *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &c->status);
            c->done = true;
            ++*answered;
        }
        curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
    }
    return *answered;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    long kb = -1;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(fp);
    ck_assert_int_gt(kb, 0);
    return kb;
}

/* The agent.message texts' "burst-NNNN" numbers, in event order, from the pull API. */
static int stored_bursts(int *out, int cap)
{
    int n = 0;
    long long after = 0;
    for (int page = 0; page < BURST; page++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/conversations/%s/events?after=%lld", conv_id, after);
        cJSON *j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events"))
        {
            const char *type = byoc_json_str(ev, "type");
            const char *text = byoc_json_str(cJSON_GetObjectItemCaseSensitive(ev, "data"), "text");
            if (type && strcmp(type, "agent.message") == 0 && text &&
                strncmp(text, "burst-", 6) == 0 && n < cap)
                out[n++] = (int)strtol(text + 6, NULL, 10);
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "next_after");
        bool more = cJSON_IsNumber(next) || cJSON_IsString(next);
        after = cJSON_IsNumber(next)   ? (long long)next->valuedouble
                : cJSON_IsString(next) ? strtoll(next->valuestring, NULL, 10)
                                       : after;
        cJSON_Delete(j);
        if (!more)
            break;
    }
    return n;
}

/* The "burst-NNNN" numbers of the agent.message webhooks received so far, in arrival order. */
static int delivered_bursts(int *out, int cap)
{
    int n = 0;
    size_t total = fake_receiver_count(rx, HOOK);
    for (size_t i = 0; i < total; i++) {
        struct fake_receiver_request req;
        ck_assert(fake_receiver_get(rx, HOOK, i, &req));
        const char *hit = strstr(req.body, "\"text\":\"burst-");
        if (strstr(req.body, "\"agent.message\"") && hit && n < cap)
            out[n++] = (int)strtol(hit + 14, NULL, 10);
        fake_receiver_request_release(&req);
    }
    return n;
}

START_TEST(burst_sheds_keeps_what_it_acknowledged_and_drains_in_order)
{
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/%s/messages", p.id, thread_id);
    char *url = byocd_url(&b, path);
    long rss_before = rss_kb(b.pid);
    static struct call calls[BURST];
    CURLM *m = curl_multi_init();
    ck_assert_ptr_nonnull(m);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)BURST);
    sqlite3 *db = lock_database();
    for (int i = 0; i < BURST; i++) {
        calls[i] = (struct call){0};
        call_init(&calls[i], i, url);
        curl_multi_add_handle(m, calls[i].h);
    }
    int answered = 0;
    /* Everything beyond the queue is refused at once; then the lock goes */
    pump(m, calls, &answered, BURST - QUEUE - SHED_SLACK, harness_now_ms() + LOCK_HOLD_MS);
    long rss_peak = rss_kb(b.pid);
    unlock_database(db);
    pump(m, calls, &answered, BURST, harness_now_ms() + WAIT_MS);
    ck_assert_int_eq(answered, BURST);

    int shed = 0, ok = 0;
    static bool acked[BURST];
    for (int i = 0; i < BURST; i++) {
        ck_assert_msg(calls[i].status == 200 || calls[i].status == 503, "reply %d: %ld", i,
                      calls[i].status);
        ck_assert_msg(calls[i].status == 200 || calls[i].retry_after, "503 without Retry-After");
        acked[i] = calls[i].status == 200;
        ok += acked[i];
        shed += !acked[i];
        curl_multi_remove_handle(m, calls[i].h);
        curl_easy_cleanup(calls[i].h);
        curl_slist_free_all(calls[i].headers);
        free(calls[i].body);
    }
    curl_multi_cleanup(m);
    free(url);
    fprintf(stderr,
            "overload: %d answered 200, %d shed with 503; RSS %ld kB before, %ld kB "
            "during\n",
            ok, shed, rss_before, rss_peak);
    ck_assert_msg(shed >= BURST / 2, "only %d of %d shed", shed, BURST);
    ck_assert_int_gt(ok, 0);

    /* every acknowledged reply is stored, once; no refused one is */
    static int seq[BURST * 2];
    int n = stored_bursts(seq, BURST * 2);
    ck_assert_int_eq(n, ok);
    static int seen[BURST];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < n; i++) {
        ck_assert(seq[i] >= 0 && seq[i] < BURST);
        ck_assert_msg(acked[seq[i]], "reply %d was refused but stored", seq[i]);
        ck_assert_int_eq(++seen[seq[i]], 1);
    }
    /* and reaches the bot in the order it was stored */
    static int got[BURST * 2];
    int delivered = 0;
    for (long long end = harness_now_ms() + WAIT_MS;
         (delivered = delivered_bursts(got, BURST * 2)) < n && harness_now_ms() < end;)
        harness_sleep_ms(POLL_MS);
    ck_assert_int_eq(delivered, n);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(got[i], seq[i]);

    long rss_after = rss_kb(b.pid);
    fprintf(stderr, "overload: RSS %ld kB after the drain\n", rss_after);
    ck_assert_int_lt(rss_after - rss_before, RSS_GROWTH_MAX_KB);
}
END_TEST

START_TEST(locked_database_gives_503_then_background_work_resumes)
{
    sqlite3 *db = lock_database();
    char path[256], body[512];
    /* a bot message waits for the lock for the busy timeout (5 s), then is refused */
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", conv_id);
    char *url = byocd_url(&b, path);
    const char *h[] = {"Content-Type: application/json", bot_auth, "Idempotency-Key: locked-1",
                       NULL};
    snprintf(body, sizeof body, "{\"text\":\"while locked\"}");
    struct test_resp r;
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    ck_assert_int_eq(r.status, 503);
    char *ra = test_resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    free(ra);
    cJSON *j = test_resp_json(&r);
    ck_assert_str_eq(byoc_json_str(cJSON_GetObjectItemCaseSensitive(j, "error"), "code"),
                     "storage_busy");
    cJSON_Delete(j);
    test_resp_release(&r);
    unlock_database(db);
    /* the retry is taken once, and the relay sends it to CXone by itself */
    size_t posts = byoc_cxsim_message_count(f);
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    ck_assert_int_eq(r.status, 202);
    test_resp_release(&r);
    ck_assert(test_http("POST", url, h, body, strlen(body), &r));
    ck_assert_int_eq(r.status, 202); /* replayed by its Idempotency-Key */
    test_resp_release(&r);
    free(url);
    for (long long end = harness_now_ms() + WAIT_MS;
         byoc_cxsim_message_count(f) < posts + 1 && harness_now_ms() < end;)
        harness_sleep_ms(POLL_MS);
    ck_assert_uint_eq(byoc_cxsim_message_count(f), posts + 1);
    /* the delivery worker, whose claims were refused while locked too, goes on by itself */
    size_t hooks = fake_receiver_count(rx, HOOK);
    byocd_agent_reply(&b, &p, cx_auth, thread_id, 1, "after the lock");
    ck_assert(fake_receiver_wait(rx, HOOK, hooks + 1, WAIT_MS));
    char *log = byocd_log(&b);
    bool crashed = strstr(log, "Sanitizer") != NULL;
    free(log);
    ck_assert(!crashed);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("overload");
    TCase *tc = tcase_create("overload");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, burst_sheds_keeps_what_it_acknowledged_and_drains_in_order);
    tcase_add_test(tc, locked_database_gives_503_then_background_work_resumes);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = harness_run(suite(), CK_NORMAL);
    curl_global_cleanup();
    return rc;
}
