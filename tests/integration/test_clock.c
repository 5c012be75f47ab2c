/* Steps of the wall clock neither stall nor burst retries. byocd runs under libfaketime
 * (LD_PRELOAD, the real monotonic clock, the wall clock's offset read from a file this program
 * rewrites), against a fake CXone and a fake bot receiver that fail on purpose:
 *   - an hour back: webhook deliveries and messages to CXone keep being retried (before the fix
 *     their next attempts lay an hour ahead: nothing was sent for an hour);
 *   - an hour forward: deliveries told to come back in 10 minutes (503 + Retry-After) are not
 *     all sent at once (before the fix every one of them fell due together).
 * Needs libfaketime (Debian package faketime). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/json.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
#define WAIT_MS 30000      /* bound of every wait for something that must happen */
#define POLL_MS 100        /* between two looks */
#define RETRIES_SEEN 3     /* attempts counted before and after a step */
#define PARKED 4           /* deliveries parked for 10 minutes (fewer than the breaker's 5) */
#define PARK_S 600         /* Retry-After of the parking answer */
#define STEP_BACK "-3600"  /* libfaketime offsets, in seconds */
#define STEP_AHEAD "+3600" /* */

static struct byocd b;
static struct byoc_cxsim *f;
static struct fake_receiver *rx;
static char dir[64], offset_file[128];

struct bot {
    struct provider p;
    char auth[256];
    const char *channel;
};

static void set_offset(const char *offset)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.new", offset_file);
    FILE *fp = fopen(tmp, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "%s\n", offset);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(rename(tmp, offset_file), 0); /* never a half-written file */
}

static void start(const char *const *env)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        ck_abort_msg("%s is missing: install the Debian package faketime", FAKETIME_LIB);
    snprintf(dir, sizeof dir, "/tmp/byocd-clock-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(offset_file, sizeof offset_file, "%s/faketime", dir);
    set_offset("+0");
    static char preload[256], file[192], asan[512];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", FAKETIME_LIB);
    snprintf(file, sizeof file, "FAKETIME_TIMESTAMP_FILE=%s", offset_file);
    /* ASan wants to be first in the link order; libfaketime preloaded before it is fine here */
    const char *have = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", have ? have : "",
             have && have[0] ? ":" : "");
    const char *all[16];
    size_t n = 0;
    for (; env && env[n] && n < 8; n++)
        all[n] = env[n];
    all[n++] = preload;
    all[n++] = file;
    all[n++] = "FAKETIME_DONT_FAKE_MONOTONIC=1";
    all[n++] = "FAKETIME_CACHE_DURATION=1"; /* the offset file is read again every second */
    all[n++] = asan;
    all[n] = NULL;
    f = test_cxsim_start();
    rx = fake_receiver_start();
    byocd_start(&b, dir, all);
}

static void bot_create(struct bot *bot, const char *channel, const char *hook_path)
{
    char hook[256], path[128], body[160];
    snprintf(hook, sizeof hook, "%s%s", fake_receiver_url(rx), hook_path);
    provider_create_hook(&b, byoc_cxsim_url(f), "int-1", NULL, hook, &bot->p);
    snprintf(bot->auth, sizeof bot->auth, "Authorization: Bearer %s", bot->p.bot_api_key);
    bot->channel = channel;
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", bot->p.id);
    snprintf(body, sizeof body, "{\"channel_id\":\"%s\",\"name\":\"Chat\"}", channel);
    cJSON_Delete(byocd_call_ok(&b, b.admin_auth, "POST", path, body, 201));
    byoc_cxsim_add_channel(f, channel, "Chat", "int-1");
}

static void teardown(void)
{
    int status = byocd_stop(&b);
    bool sanitizer = byocd_sanitizer_report(&b);
    if (status == 0 && !sanitizer)
        byocd_remove_dir(dir);
    fake_receiver_stop(rx);
    byoc_cxsim_stop(f);
    ck_assert_msg(status == 0 && !sanitizer, "byocd exited with %d%s; its log is in %s", status,
                  sanitizer ? " after a sanitizer report" : "", dir);
}

/* Opens a conversation; its id into id. CXone gets it in the background. */
static void open_conv(const struct bot *bot, char *id, size_t cap)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"channel_id\":\"%s\",\"end_user\":{\"id\":\"user-1\"},"
             "\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
             bot->channel);
    cJSON *j = byocd_call_ok(&b, bot->auth, "POST", "/v1/conversations", body, 201);
    snprintf(id, cap, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
}

/* Waits until byocd's log holds text; false after WAIT_MS. */
static bool log_shows(const char *text)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;) {
        char *log = byocd_log(&b);
        bool found = strstr(log, text) != NULL;
        free(log);
        if (found)
            return true;
        harness_sleep_ms(POLL_MS);
    }
    return false;
}

#define STEPPED "the wall clock stepped"

static size_t cxone_posts(const char *channel)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "/dfo/3.0/channels/%s/messages", channel);
    return byoc_cxsim_call_count(f, "POST", prefix);
}

/* Waits until CXone got at least n message posts on channel. */
static bool cxone_wait(const char *channel, size_t n)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;) {
        if (cxone_posts(channel) >= n)
            return true;
        harness_sleep_ms(POLL_MS);
    }
    return false;
}

/* ---------------------------------------------------------------- a step back */

static const char *const env_fast[] = {"BYOCD_WEBHOOK_RETRY_CAP=1", "BYOCD_RELAY_RETRY_CAP=1",
                                       "BYOCD_WEBHOOK_BREAKER_COOLDOWN=1", NULL};

static void setup_fast(void)
{
    start(env_fast);
}

START_TEST(step_back_keeps_webhook_retries_going)
{
    struct bot bot;
    bot_create(&bot, "chat_back", "/fail");
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/fail", .status = 500});
    char conv[64];
    open_conv(&bot, conv, sizeof conv);
    ck_assert_msg(fake_receiver_wait(rx, "/fail", RETRIES_SEEN, WAIT_MS), "no retries at all");
    set_offset(STEP_BACK);
    ck_assert_msg(log_shows(STEPPED), "byocd did not notice the step");
    size_t before = fake_receiver_count(rx, "/fail");
    ck_assert_msg(fake_receiver_wait(rx, "/fail", before + RETRIES_SEEN, WAIT_MS),
                  "deliveries stalled after the clock went back: %zu attempts, then %zu", before,
                  fake_receiver_count(rx, "/fail"));
    /* and once the endpoint recovers, the event goes out */
    fake_receiver_clear_rules(rx, "/fail");
    size_t seen = fake_receiver_count(rx, "/fail");
    ck_assert(fake_receiver_wait(rx, "/fail", seen + 1, WAIT_MS));
    provider_release(&bot.p);
}
END_TEST

START_TEST(step_back_keeps_cxone_retries_going)
{
    struct bot bot;
    bot_create(&bot, "chat_relay", "/ok");
    char prefix[128];
    snprintf(prefix, sizeof prefix, "/dfo/3.0/channels/%s/messages", bot.channel);
    byoc_cxsim_fail_next(f, prefix, 500, 1000, 0);
    char conv[64];
    open_conv(&bot, conv, sizeof conv);
    ck_assert_msg(cxone_wait(bot.channel, RETRIES_SEEN), "no retries to CXone at all");
    set_offset(STEP_BACK);
    ck_assert_msg(log_shows(STEPPED), "byocd did not notice the step");
    size_t before = cxone_posts(bot.channel);
    ck_assert_msg(cxone_wait(bot.channel, before + RETRIES_SEEN),
                  "messages to CXone stalled after the clock went back: %zu posts, then %zu",
                  before, cxone_posts(bot.channel));
    /* CXone recovers: the conversation escalates and its event reaches the bot */
    byoc_cxsim_clear_failures(f);
    ck_assert_msg(fake_receiver_wait(rx, "/ok", 1, WAIT_MS), "the escalation never arrived");
    provider_release(&bot.p);
}
END_TEST

/* ---------------------------------------------------------------- a step forward */

static void setup_default(void)
{
    start(NULL);
}

/* How many of bot's deliveries wait (pending) after exactly `want` attempts; fails on one that
 * waits after any other number but 0 (held behind an earlier event). */
static size_t waiting_after(const struct bot *bot, int want)
{
    char path[160];
    snprintf(path, sizeof path, "/admin/v1/deliveries?provider_id=%s&state=pending", bot->p.id);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "deliveries"), *d;
    size_t n = 0;
    cJSON_ArrayForEach(d, list)
    {
        int attempts = cJSON_GetObjectItemCaseSensitive(d, "attempts")->valueint;
        ck_assert_msg(attempts == 0 || attempts == want, "delivery %s: %d attempts, not %d",
                      byoc_json_str(d, "id"), attempts, want);
        n += attempts == want;
    }
    cJSON_Delete(j);
    return n;
}

START_TEST(step_ahead_does_not_fire_parked_retries)
{
    struct bot parked, fresh;
    bot_create(&parked, "chat_parked", "/park");
    bot_create(&fresh, "chat_fresh", "/fresh");
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/park", .status = 503, .retry_after_s = PARK_S});
    char conv[64];
    for (int i = 0; i < PARKED; i++)
        open_conv(&parked, conv, sizeof conv);
    ck_assert(fake_receiver_wait(rx, "/park", PARKED, WAIT_MS));
    /* each was told to come back in 10 minutes, once its outcome is recorded */
    for (long long end = harness_now_ms() + WAIT_MS;
         waiting_after(&parked, 1) < PARKED && harness_now_ms() < end;)
        harness_sleep_ms(POLL_MS);
    ck_assert_uint_eq(waiting_after(&parked, 1), PARKED);

    set_offset(STEP_AHEAD);
    ck_assert_msg(log_shows(STEPPED), "byocd did not notice the step");
    /* A new event goes out at once: the dispatcher has claimed what was due after the step. */
    open_conv(&fresh, conv, sizeof conv);
    ck_assert(fake_receiver_wait(rx, "/fresh", 1, WAIT_MS));
    /* still waiting for their 10 minutes: none was claimed again (it would be sending, or
     * pending after 2 attempts) */
    ck_assert_uint_eq(waiting_after(&parked, 1), PARKED);
    ck_assert_uint_eq(fake_receiver_count(rx, "/park"), PARKED);
    provider_release(&parked.p);
    provider_release(&fresh.p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("clock");
    TCase *back = tcase_create("step_back");
    tcase_set_timeout(back, 120);
    tcase_add_checked_fixture(back, setup_fast, teardown);
    tcase_add_test(back, step_back_keeps_webhook_retries_going);
    tcase_add_test(back, step_back_keeps_cxone_retries_going);
    suite_add_tcase(s, back);
    TCase *ahead = tcase_create("step_ahead");
    tcase_set_timeout(ahead, 120);
    tcase_add_checked_fixture(ahead, setup_default, teardown);
    tcase_add_test(ahead, step_ahead_does_not_fire_parked_retries);
    suite_add_tcase(s, ahead);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
