/*
 * Proves the fake webhook receiver (tests/support/fake_receiver.c) behaves as its header says,
 * driven by the test HTTP client, and that the Standard Webhooks verifier
 * (tests/support/sw_verify.c + tests/webhooks/verify.mjs) accepts what it should and only that.
 * Each test gets a fresh receiver.
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "fake_receiver.h"
#include "sw_verify.h"
#include "testhttp.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "byoc/banned.h"

#define WAIT_MS 5000 /* bound for anything that should happen at once */
#define SHORT_MS 300 /* a wait that is expected to run out */
#define SLOW_MS 400  /* a slow answer, long enough to measure */
#define KEY_LEN 32   /* Standard Webhooks secrets are 24-64 random bytes */
#define SIG_MAX 256  /* "v1," + base64 of a SHA-256 MAC, with room to spare */
#define POLL_MS 10   /* polling step while waiting for a thread */
#define HDR_CT "Content-Type: application/json"

static struct fake_receiver *rx;

static void setup(void)
{
    rx = fake_receiver_start();
}

static void teardown(void)
{
    fake_receiver_stop(rx);
    rx = NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The receiver's URL + path, in a buffer that lives until the next call on this thread. */
static const char *url(const char *path)
{
    static _Thread_local char buf[512];
    snprintf(buf, sizeof(buf), "%s%s", fake_receiver_url(rx), path);
    return buf;
}

/* POSTs body to path; the status, or -1 on a transport failure (no answer). */
static long post_timeout(const char *path, const char *body, long timeout_ms)
{
    struct test_resp r;
    const char *hdrs[] = {HDR_CT, NULL};
    bool got = test_http_timeout("POST", url(path), hdrs, body, strlen(body), timeout_ms, &r);
    long status = got ? r.status : -1;
    test_resp_release(&r);
    return status;
}

static long post(const char *path, const char *body)
{
    return post_timeout(path, body, TEST_HTTP_TIMEOUT_MS);
}

/* The i-th request recorded for path; fails the test if there is none. Release it. */
static struct fake_receiver_request nth(const char *path, size_t i)
{
    struct fake_receiver_request req;
    ck_assert_msg(fake_receiver_get(rx, path, i, &req), "no request %zu on %s", i, path);
    return req;
}

static int recorded_status(const char *path, size_t i)
{
    struct fake_receiver_request req = nth(path, i);
    int status = req.status;
    fake_receiver_request_release(&req);
    return status;
}

/* ---------------------------------------------------------------- recording */

START_TEST(records_request_and_answers_200)
{
    const char *hdrs[] = {HDR_CT,
                          "webhook-id: evt_1",
                          "webhook-timestamp: 1700000000",
                          "webhook-signature: v1,abc= v1,def=",
                          "User-Agent: byocd/test",
                          NULL};
    const char *body = "{\"id\":\"evt_1\"}";
    long long before = now_ms();
    struct test_resp r;
    ck_assert(test_http("POST", url("/a?x=1"), hdrs, body, strlen(body), &r));
    long long after = now_ms();
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    ck_assert_uint_eq(fake_receiver_count(rx, "/a"), 1);
    ck_assert_uint_eq(fake_receiver_count(rx, NULL), 1);
    ck_assert_uint_eq(fake_receiver_count(rx, "/b"), 0);
    struct fake_receiver_request req = nth("/a", 0);
    ck_assert_str_eq(req.method, "POST");
    ck_assert_str_eq(req.path, "/a");
    ck_assert_str_eq(req.webhook_id, "evt_1");
    ck_assert_str_eq(req.webhook_timestamp, "1700000000");
    ck_assert_str_eq(req.webhook_signature, "v1,abc= v1,def=");
    ck_assert_str_eq(req.content_type, "application/json");
    ck_assert_str_eq(req.user_agent, "byocd/test");
    ck_assert_str_eq(req.body, body);
    ck_assert_uint_eq(req.body_len, strlen(body));
    ck_assert_int_eq(req.status, 200);
    ck_assert(req.at_ms >= before && req.at_ms <= after);
    fake_receiver_request_release(&req);
    fake_receiver_request_release(&req); /* twice is fine */
    ck_assert(!fake_receiver_get(rx, "/a", 1, &req));
    ck_assert_ptr_null(req.body);
}
END_TEST

START_TEST(requests_kept_in_arrival_order_per_path)
{
    ck_assert_int_eq(post("/a", "one"), 200);
    ck_assert_int_eq(post("/b", "two"), 200);
    ck_assert_int_eq(post("/a", "three"), 200);
    struct fake_receiver_request a1 = nth("/a", 1), any1 = nth(NULL, 1);
    ck_assert_str_eq(a1.body, "three");
    ck_assert_str_eq(any1.body, "two");
    ck_assert_str_eq(any1.webhook_id, ""); /* absent header */
    ck_assert(any1.at_ms <= a1.at_ms);
    fake_receiver_request_release(&a1);
    fake_receiver_request_release(&any1);
    fake_receiver_reset(rx);
    ck_assert_uint_eq(fake_receiver_count(rx, NULL), 0);
    ck_assert_int_eq(post("/a", "four"), 200);
    ck_assert_uint_eq(fake_receiver_count(rx, "/a"), 1);
}
END_TEST

START_TEST(oversized_body_truncated_and_refused)
{
    size_t n = FAKE_RECEIVER_MAX_BODY + 10;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', n);
    big[n] = '\0';
    ck_assert_int_eq(post("/big", big), 413);
    struct fake_receiver_request req = nth("/big", 0);
    ck_assert_uint_eq(req.body_len, FAKE_RECEIVER_MAX_BODY);
    ck_assert_int_eq(req.status, 413);
    fake_receiver_request_release(&req);
    free(big);
}
END_TEST

/* ---------------------------------------------------------------- answers */

/* POSTs to path and returns the value of header name in the answer (malloc'd) or NULL. */
static char *answer_header(const char *path, long want_status, const char *name)
{
    struct test_resp r;
    ck_assert(test_http("POST", url(path), NULL, "x", 1, &r));
    ck_assert_int_eq(r.status, want_status);
    char *value = test_resp_header(&r, name);
    test_resp_release(&r);
    return value;
}

START_TEST(each_path_has_its_own_behaviour)
{
    char location[256];
    snprintf(location, sizeof(location), "%s/elsewhere", fake_receiver_url(rx));
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/a", .status = 500});
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/moved", .status = 301, .location = location});
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/busy", .status = 429, .retry_after_s = 7});
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/down", .status = 503, .retry_after_s = 2});
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/gone", .status = 410});
    for (int i = 0; i < 2; i++) /* permanent rules stay */
        ck_assert_int_eq(post("/a", "x"), 500);
    ck_assert_int_eq(post("/gone", "x"), 410);
    ck_assert_int_eq(post("/b", "x"), 200);
    char *loc = answer_header("/moved", 301, "Location");
    ck_assert_str_eq(loc, location);
    free(loc);
    char *ra = answer_header("/busy", 429, "Retry-After");
    ck_assert_str_eq(ra, "7");
    free(ra);
    ra = answer_header("/down", 503, "Retry-After");
    ck_assert_str_eq(ra, "2");
    free(ra);
    ck_assert_uint_eq(fake_receiver_count(rx, "/elsewhere"), 0); /* the client did not follow */
    ck_assert_int_eq(recorded_status("/a", 1), 500);
    ck_assert_int_eq(recorded_status("/moved", 0), 301);
}
END_TEST

START_TEST(fail_next_then_ok)
{
    fake_receiver_fail_next(rx, "/a", 2, 503);
    ck_assert_int_eq(post("/b", "x"), 200); /* other paths untouched, nothing used up */
    ck_assert_int_eq(post("/a", "x"), 503);
    ck_assert_int_eq(post("/a", "x"), 503);
    ck_assert_int_eq(post("/a", "x"), 200);
    ck_assert_int_eq(post("/a", "x"), 200);
    /* queued rules: the oldest with uses left goes first */
    fake_receiver_fail_next(rx, "/a", 1, 500);
    fake_receiver_fail_next(rx, "/a", 1, 502);
    ck_assert_int_eq(post("/a", "x"), 500);
    ck_assert_int_eq(post("/a", "x"), 502);
    ck_assert_int_eq(post("/a", "x"), 200);
}
END_TEST

START_TEST(rule_on_body_text)
{
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/a", .body_contains = "cnv_X", .status = 500});
    ck_assert_int_eq(post("/a", "{\"conversation_id\":\"cnv_X\"}"), 500);
    ck_assert_int_eq(post("/a", "{\"conversation_id\":\"cnv_Y\"}"), 200);
    ck_assert_int_eq(post("/b", "{\"conversation_id\":\"cnv_X\"}"), 200); /* path differs */
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.body_contains = "anywhere", .status = 418, .count = 1});
    ck_assert_int_eq(post("/c", "it is anywhere"), 418);
    ck_assert_int_eq(post("/c", "it is anywhere"), 200);
}
END_TEST

START_TEST(clear_rules_per_path)
{
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/a", .status = 500});
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/b", .status = 500});
    fake_receiver_clear_rules(rx, "/a");
    ck_assert_int_eq(post("/a", "x"), 200);
    ck_assert_int_eq(post("/b", "x"), 500);
    fake_receiver_clear_rules(rx, NULL);
    ck_assert_int_eq(post("/b", "x"), 200);
}
END_TEST

START_TEST(slow_answer)
{
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/slow", .delay_ms = SLOW_MS});
    long long t0 = now_ms();
    ck_assert_int_eq(post("/slow", "x"), 200);
    ck_assert_int_ge(now_ms() - t0, SLOW_MS);
    ck_assert_int_eq(post_timeout("/slow", "x", SLOW_MS / 4), -1); /* a client gives up */
    t0 = now_ms();
    ck_assert_int_eq(post("/fast", "x"), 200); /* other connections are not held back */
    ck_assert_int_lt(now_ms() - t0, SLOW_MS);
}
END_TEST

START_TEST(close_without_answer)
{
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/c", .action = FAKE_RECEIVER_CLOSE, .count = 1});
    const char raw[] = "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    char *answer = test_raw_http(fake_receiver_port(rx), raw, sizeof(raw) - 1, WAIT_MS);
    ck_assert_ptr_nonnull(answer);
    ck_assert_str_eq(answer, ""); /* connection closed, not one byte of answer */
    free(answer);
    struct fake_receiver_request req = nth("/c", 0);
    ck_assert_int_eq(req.status, 0);
    ck_assert_str_eq(req.body, "hi"); /* recorded all the same */
    fake_receiver_request_release(&req);
    ck_assert_int_eq(post("/c", "x"), 200); /* count 1: used up */
}
END_TEST

/* ---------------------------------------------------------------- hanging */

struct client {
    pthread_t thread;
    const char *path;
    long timeout_ms;
    long status; /* -1 transport failure */
    volatile bool done;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    c->status = post_timeout(c->path, "hang", c->timeout_ms);
    __atomic_store_n(&c->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

static void client_start(struct client *c, const char *path, long timeout_ms)
{
    *c = (struct client){.path = path, .timeout_ms = timeout_ms, .status = 0};
    ck_assert_int_eq(pthread_create(&c->thread, NULL, client_main, c), 0);
}

/* Waits until n requests hang in the receiver. */
static void wait_hanging(size_t n)
{
    for (long long end = now_ms() + WAIT_MS; now_ms() < end; usleep(POLL_MS * 1000)) {
        if (fake_receiver_hanging(rx) >= n)
            return;
    }
    ck_abort_msg("%zu requests did not start hanging", n);
}

START_TEST(hang_until_released)
{
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/h", .action = FAKE_RECEIVER_HANG, .count = 1});
    struct client c;
    client_start(&c, "/h", TEST_HTTP_TIMEOUT_MS);
    wait_hanging(1);
    ck_assert(fake_receiver_wait(rx, "/h", 1, WAIT_MS)); /* recorded while it hangs */
    ck_assert_int_eq(recorded_status("/h", 0), 0);
    ck_assert(!fake_receiver_wait(rx, "/h", 2, SHORT_MS));
    ck_assert(!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST)); /* still no answer */
    ck_assert_int_eq(post("/h", "x"), 200); /* the rule was used up; others are answered */
    ck_assert_uint_eq(fake_receiver_release(rx, 202), 1);
    pthread_join(c.thread, NULL);
    ck_assert_int_eq(c.status, 202);
    ck_assert_int_eq(recorded_status("/h", 0), 202);
    ck_assert_uint_eq(fake_receiver_hanging(rx), 0);
}
END_TEST

START_TEST(hang_released_by_closing)
{
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/h", .action = FAKE_RECEIVER_HANG});
    struct client c1, c2;
    client_start(&c1, "/h", TEST_HTTP_TIMEOUT_MS);
    client_start(&c2, "/h", SHORT_MS); /* gives up by itself; still counted as hanging */
    wait_hanging(2);
    pthread_join(c2.thread, NULL);
    ck_assert_int_eq(c2.status, -1);
    ck_assert_uint_eq(fake_receiver_release(rx, 0), 2);
    pthread_join(c1.thread, NULL);
    ck_assert_int_eq(c1.status, -1); /* closed without an answer */
    ck_assert_int_eq(recorded_status("/h", 0), 0);
}
END_TEST

START_TEST(stop_drops_hanging_requests)
{
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/h", .action = FAKE_RECEIVER_HANG});
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/slow", .delay_ms = 60000});
    struct client hung, slow;
    client_start(&hung, "/h", TEST_HTTP_TIMEOUT_MS);
    client_start(&slow, "/slow", TEST_HTTP_TIMEOUT_MS);
    wait_hanging(1);
    ck_assert(fake_receiver_wait(rx, "/slow", 1, WAIT_MS));
    long long t0 = now_ms();
    fake_receiver_stop(rx);
    rx = NULL;
    ck_assert_int_lt(now_ms() - t0, WAIT_MS); /* neither wait held the stop */
    pthread_join(hung.thread, NULL);
    pthread_join(slow.thread, NULL);
    ck_assert_int_eq(hung.status, -1);
    ck_assert_int_eq(slow.status, -1);
}
END_TEST

/* ---------------------------------------------------------------- waiting */

struct late_post {
    pthread_t thread;
    int delay_ms;
};

static void *late_post_main(void *arg)
{
    struct late_post *lp = arg;
    usleep((useconds_t)lp->delay_ms * 1000);
    post("/w", "late");
    return NULL;
}

START_TEST(wait_for_count)
{
    long long t0 = now_ms();
    ck_assert(!fake_receiver_wait(rx, "/w", 1, SHORT_MS));
    ck_assert_int_ge(now_ms() - t0, SHORT_MS - POLL_MS);
    struct late_post lp = {.delay_ms = SHORT_MS};
    ck_assert_int_eq(pthread_create(&lp.thread, NULL, late_post_main, &lp), 0);
    ck_assert(fake_receiver_wait(rx, "/w", 1, WAIT_MS));
    ck_assert(fake_receiver_wait(rx, NULL, 1, 0)); /* reached already: no wait */
    ck_assert(!fake_receiver_wait(rx, "/other", 1, 0));
    pthread_join(lp.thread, NULL);
}
END_TEST

/* ---------------------------------------------------------------- the verifier */

/* "whsec_" + base64(key) */
static void make_secret(const unsigned char *key, char *out, size_t cap)
{
    unsigned char b64[2 * KEY_LEN];
    EVP_EncodeBlock(b64, key, KEY_LEN);
    snprintf(out, cap, "whsec_%s", (const char *)b64);
}

/* "v1," + base64(HMAC-SHA256(key, id.timestamp.body)), computed here with OpenSSL. */
static void sign(const unsigned char *key, const char *id, const char *ts, const char *body,
                 char *out, size_t cap)
{
    size_t n = strlen(id) + strlen(ts) + strlen(body) + 3;
    char *content = malloc(n);
    ck_assert_ptr_nonnull(content);
    snprintf(content, n, "%s.%s.%s", id, ts, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, KEY_LEN, (const unsigned char *)content,
                               strlen(content), mac, &mac_len));
    free(content);
    unsigned char b64[4 * EVP_MAX_MD_SIZE / 3 + 4];
    EVP_EncodeBlock(b64, mac, (int)mac_len);
    snprintf(out, cap, "v1,%s", (const char *)b64);
}

/* Posts a delivery signed with signature header sig and returns its record. */
static struct fake_receiver_request deliver(const char *id, const char *ts, const char *sig,
                                            const char *body)
{
    char h_id[128], h_ts[64], h_sig[2 * SIG_MAX];
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    const char *hdrs[] = {HDR_CT, h_id, h_ts, h_sig, NULL};
    size_t before = fake_receiver_count(rx, "/signed");
    struct test_resp r;
    ck_assert(test_http("POST", url("/signed"), hdrs, body, strlen(body), &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    return nth("/signed", before);
}

static unsigned char key_a[KEY_LEN], key_b[KEY_LEN];
static char secret_a[128], secret_b[128];

static void setup_keys(void)
{
    for (int i = 0; i < KEY_LEN; i++) {
        key_a[i] = (unsigned char)(i * 7 + 1);
        key_b[i] = (unsigned char)(255 - i * 3);
    }
    make_secret(key_a, secret_a, sizeof(secret_a));
    make_secret(key_b, secret_b, sizeof(secret_b));
}

START_TEST(verifier_accepts_good_signatures_only)
{
    setup_keys();
    char ts[32], sig[SIG_MAX];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    const char *body = "{\"id\":\"evt_1\",\"text\":\"h\\u00e9llo \xe2\x82\xac\"}";
    sign(key_a, "evt_1", ts, body, sig, sizeof(sig));
    struct fake_receiver_request req[2];
    req[0] = deliver("evt_1", ts, sig, body);
    char tampered[] = "{\"id\":\"evt_1\",\"text\":\"tampered\"}";
    req[1] = req[0];
    req[1].body = tampered;
    bool ok[2] = {false, true};
    ck_assert_int_eq(sw_verify_requests(secret_a, req, 2, ok), 1);
    ck_assert(ok[0]);
    ck_assert(!ok[1]);
    ck_assert_int_eq(sw_verify_requests(secret_b, req, 1, NULL), 0); /* wrong secret */
    struct sw_verify_msg old = {.secret = secret_a,
                                .id = "evt_1",
                                .timestamp = "1000000000",
                                .signature = sig,
                                .body = body};
    ck_assert_int_eq(sw_verify(&old, 1, NULL), 0); /* stale timestamp refused */
    struct sw_verify_msg other_id = old;
    other_id.timestamp = ts;
    other_id.id = "evt_2";
    ck_assert_int_eq(sw_verify(&other_id, 1, NULL), 0); /* the id is signed too */
    fake_receiver_request_release(&req[0]);
}
END_TEST

START_TEST(verifier_two_signatures_match_either_secret)
{
    setup_keys();
    char ts[32], sig_a[SIG_MAX], sig_b[SIG_MAX], both[2 * SIG_MAX];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    const char *body = "{\"seq\":1}";
    sign(key_b, "evt_9", ts, body, sig_b, sizeof(sig_b));
    sign(key_a, "evt_9", ts, body, sig_a, sizeof(sig_a));
    snprintf(both, sizeof(both), "%s %s", sig_b, sig_a);
    struct fake_receiver_request req = deliver("evt_9", ts, both, body);
    ck_assert_str_eq(req.webhook_signature, both);
    ck_assert_int_eq(sw_verify_requests(secret_a, &req, 1, NULL), 1);
    ck_assert_int_eq(sw_verify_requests(secret_b, &req, 1, NULL), 1);
    unsigned char key_c[KEY_LEN];
    memset(key_c, 0x5a, sizeof(key_c));
    char secret_c[128];
    make_secret(key_c, secret_c, sizeof(secret_c));
    ck_assert_int_eq(sw_verify_requests(secret_c, &req, 1, NULL), 0);
    fake_receiver_request_release(&req);
    ck_assert_int_eq(sw_verify(NULL, 0, NULL), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fake_receiver");
    TCase *rec = tcase_create("recording");
    tcase_add_checked_fixture(rec, setup, teardown);
    tcase_add_test(rec, records_request_and_answers_200);
    tcase_add_test(rec, requests_kept_in_arrival_order_per_path);
    tcase_add_test(rec, oversized_body_truncated_and_refused);
    tcase_add_test(rec, wait_for_count);
    suite_add_tcase(s, rec);
    TCase *ans = tcase_create("answers");
    tcase_add_checked_fixture(ans, setup, teardown);
    tcase_add_test(ans, each_path_has_its_own_behaviour);
    tcase_add_test(ans, fail_next_then_ok);
    tcase_add_test(ans, rule_on_body_text);
    tcase_add_test(ans, clear_rules_per_path);
    tcase_add_test(ans, slow_answer);
    tcase_add_test(ans, close_without_answer);
    suite_add_tcase(s, ans);
    TCase *hang = tcase_create("hanging");
    tcase_add_checked_fixture(hang, setup, teardown);
    tcase_add_test(hang, hang_until_released);
    tcase_add_test(hang, hang_released_by_closing);
    tcase_add_test(hang, stop_drops_hanging_requests);
    suite_add_tcase(s, hang);
    TCase *ver = tcase_create("verifier");
    tcase_set_timeout(ver, 60);
    tcase_add_checked_fixture(ver, setup, teardown);
    tcase_add_test(ver, verifier_accepts_good_signatures_only);
    tcase_add_test(ver, verifier_two_signatures_match_either_secret);
    suite_add_tcase(s, ver);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
