/*
 * The sandbox's demo bot (src/sandbox/demobot.c) driven over real HTTP on loopback: a customer
 * (the test HTTP client) talks to it, and a small fake byocd (byocd's own HTTP layer with a route
 * table, below) records the bot API calls it makes and answers the way byocd does. Webhooks are
 * built with byocd's own envelope renderer and signer (byoc_event_envelope, byoc_webhook_sign),
 * so what the bot verifies and parses is what byocd sends.
 *
 * Each test gets a fresh fake byocd and a fresh bot (Check's checked fixture, in the forked
 * child). Waits are polls with a deadline, never sleeps that assert timing.
 */
#include "byoc/demobot.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "byoc/http.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/outbound.h"
#include "byoc/store.h"
#include "byoc/util.h"
#include "byoc/webhook.h"
#include "testhttp.h"
#include "byoc/banned.h"

#define WAIT_MS 10000 /* bound for anything that should happen at once */
#define POLL_STEP_US 10000
#define FAKE_CALLS_MAX 256 /* calls the fake byocd records */
#define FAKE_KEYS_MAX 64   /* Idempotency-Keys of handovers it remembers */
#define CHATS_MAX 256      /* demobot.c's DEMOBOT_CHATS_MAX */
#define MESSAGES_MAX 200   /* demobot.c's DEMOBOT_MESSAGES_MAX */
#define BOT_KEY "bk_demo_test_key"
#define CHANNEL "chat_demo"
#define HDR_JSON "Content-Type: application/json"
#define GREETING                                                                                   \
    "Hi, I'm the demo bot. Ask me about opening hours or an order, or type 'agent' to talk to "    \
    "a person."
#define CONNECTING "Connecting you to an agent\xE2\x80\xA6"
#define EVENT_CREATED_AT 1795269962415LL /* 2026-11-21T14:06:02.415Z */
#define AVATAR "http://127.0.0.1:9/console/avatar.svg"

/* ================================================================ fake byocd */

struct fake_call {
    char path[256];
    char idem[128];
    char auth[128];
    char *body;
};

static struct {
    pthread_mutex_t mu;
    struct byoc_http *http;
    char url[64];
    struct fake_call calls[FAKE_CALLS_MAX];
    size_t ncalls;
    int fail_opens; /* the next N handovers get fail_status */
    int fail_status;
    int nconv;           /* conversations created */
    bool hold_next_open; /* park the next handover until fake_release() */
    struct byoc_req *held;
    char keys[FAKE_KEYS_MAX][128];
    char key_conv[FAKE_KEYS_MAX][BYOC_ID_MAX];
    size_t nkeys;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void fake_record(struct byoc_req *req)
{
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    const char *idem = byoc_req_header(req, "Idempotency-Key");
    const char *auth = byoc_req_header(req, "Authorization");
    if (fake.ncalls == FAKE_CALLS_MAX)
        return;
    struct fake_call *c = &fake.calls[fake.ncalls++];
    snprintf(c->path, sizeof c->path, "%s", byoc_req_path(req));
    snprintf(c->idem, sizeof c->idem, "%s", idem ? idem : "");
    snprintf(c->auth, sizeof c->auth, "%s", auth ? auth : "");
    c->body = strdup(body);
}

static void fake_reply(struct byoc_req *req, int status, const char *json)
{
    char *body = strdup(json);
    byoc_reply(req, status, "application/json", body, strlen(body));
}

/* The conversation an Idempotency-Key already created, or a new one. fake.mu held. */
static const char *fake_conversation_for(const char *key)
{
    for (size_t i = 0; key && i < fake.nkeys; i++) {
        if (strcmp(fake.keys[i], key) == 0)
            return fake.key_conv[i];
    }
    ck_assert_uint_lt(fake.nkeys, FAKE_KEYS_MAX);
    size_t i = fake.nkeys++;
    snprintf(fake.keys[i], sizeof fake.keys[i], "%s", key ? key : "");
    snprintf(fake.key_conv[i], sizeof fake.key_conv[i], "conv_t%d", ++fake.nconv);
    return fake.key_conv[i];
}

/* Answers a handover the way byocd does (or fails it as programmed). */
static void fake_open_answer(struct byoc_req *req)
{
    pthread_mutex_lock(&fake.mu);
    int fail = fake.fail_opens > 0 ? fake.fail_status : 0;
    if (fail)
        fake.fail_opens--;
    char answer[256];
    if (!fail)
        snprintf(answer, sizeof answer,
                 "{\"id\":\"%s\",\"state\":\"queued\",\"channel_id\":\"" CHANNEL "\","
                 "\"thread_id\":\"thr_x\",\"created_at\":\"2026-11-21T14:06:02.415Z\"}",
                 fake_conversation_for(byoc_req_header(req, "Idempotency-Key")));
    pthread_mutex_unlock(&fake.mu);
    if (fail) {
        byoc_reply_header(req, "Retry-After", "0");
        fake_reply(req, fail, "{\"error\":{\"code\":\"overloaded\",\"message\":\"busy\"}}");
        return;
    }
    fake_reply(req, 201, answer);
}

/* Records the handover; with hold_next_open set, parks it until fake_release(). The park
 * happens under fake.mu, so a test that sees the call recorded may release it. */
static void fake_open(struct byoc_req *req)
{
    pthread_mutex_lock(&fake.mu);
    fake_record(req);
    bool hold = fake.hold_next_open;
    if (hold) {
        fake.hold_next_open = false;
        fake.held = req;
        byoc_req_suspend(req, fake_open_answer);
    }
    pthread_mutex_unlock(&fake.mu);
    if (!hold)
        fake_open_answer(req);
}

/* Lets a parked handover answer. */
static void fake_release(void)
{
    pthread_mutex_lock(&fake.mu);
    struct byoc_req *req = fake.held;
    fake.held = NULL;
    pthread_mutex_unlock(&fake.mu);
    if (req)
        byoc_req_resume(req);
}

static void fake_accept(struct byoc_req *req)
{
    pthread_mutex_lock(&fake.mu);
    fake_record(req);
    pthread_mutex_unlock(&fake.mu);
    fake_reply(req, 202, "{\"id\":\"out_x\",\"status\":\"queued\"}");
}

static const struct byoc_route fake_routes[] = {
    {"POST", "/v1/conversations", fake_open, 0, BYOC_BODY_RAW, 1 << 20, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/conversations/{id}/messages", fake_accept, 0, BYOC_BODY_RAW, 1 << 20,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/conversations/{id}/typing", fake_accept, 0, BYOC_BODY_RAW, 1 << 20,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/conversations/{id}/end", fake_accept, 0, BYOC_BODY_RAW, 1 << 20,
     BYOC_ERRSTYLE_JSON, false},
};

/* Calls recorded so far whose path ends with suffix (NULL: all). */
static size_t fake_count(const char *suffix)
{
    pthread_mutex_lock(&fake.mu);
    size_t n = 0;
    for (size_t i = 0; i < fake.ncalls; i++) {
        size_t pl = strlen(fake.calls[i].path), sl = suffix ? strlen(suffix) : 0;
        n += !suffix || (pl >= sl && strcmp(fake.calls[i].path + pl - sl, suffix) == 0);
    }
    pthread_mutex_unlock(&fake.mu);
    return n;
}

/* Waits until n calls to paths ending with suffix are recorded; false at the deadline. */
static bool fake_wait(const char *suffix, size_t n)
{
    for (int64_t end = byoc_mono_ms() + WAIT_MS; byoc_mono_ms() < end; usleep(POLL_STEP_US)) {
        if (fake_count(suffix) >= n)
            return true;
    }
    return fake_count(suffix) >= n;
}

/* A copy of the i-th call to a path ending with suffix. */
static struct fake_call fake_get(const char *suffix, size_t i)
{
    struct fake_call out = {0};
    pthread_mutex_lock(&fake.mu);
    size_t seen = 0;
    for (size_t k = 0; k < fake.ncalls; k++) {
        const struct fake_call *c = &fake.calls[k];
        size_t pl = strlen(c->path), sl = strlen(suffix);
        if (pl < sl || strcmp(c->path + pl - sl, suffix) != 0 || seen++ != i)
            continue;
        out = *c;
        out.body = strdup(c->body);
        break;
    }
    pthread_mutex_unlock(&fake.mu);
    ck_assert_msg(out.body != NULL, "no call %zu to *%s", i, suffix);
    return out;
}

static void fake_start(void)
{
    struct byoc_http_config hc = {.host = "127.0.0.1",
                                  .max_connections = 32,
                                  .idle_timeout_s = 30,
                                  .routes = fake_routes,
                                  .nroutes = BYOC_ARRAY_LEN(fake_routes)};
    char why[256] = "";
    ck_assert_msg(byoc_http_start(&hc, &fake.http, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    snprintf(fake.url, sizeof fake.url, "http://127.0.0.1:%d", byoc_http_port(fake.http));
}

static void fake_stop(void)
{
    fake_release();
    ck_assert(byoc_http_stop(fake.http));
    for (size_t i = 0; i < fake.ncalls; i++)
        free(fake.calls[i].body);
    fake.ncalls = 0;
}

/* ================================================================ the bot */

static struct byoc_demobot *bot;
static char secret[BYOC_WEBHOOK_SECRET_MAX];
static long long event_seq;

static void setup(void)
{
    fake_start();
    struct byoc_demobot_config cfg = {.host = "127.0.0.1", .port = 0};
    char why[256] = "";
    ck_assert_msg(byoc_demobot_start(&cfg, &bot, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    ck_assert_int_gt(byoc_demobot_port(bot), 0);
    ck_assert_int_eq(byoc_webhook_secret_new(secret), BYOC_ERR_OK);
    struct byoc_demobot_byocd c = {
        .url = fake.url, .bot_api_key = BOT_KEY, .webhook_secret = secret, .channel_id = CHANNEL};
    ck_assert_int_eq(byoc_demobot_set_byocd(bot, &c), BYOC_ERR_OK);
}

static void teardown(void)
{
    byoc_demobot_stop(bot);
    bot = NULL;
    fake_stop();
}

static const char *bot_url(const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", byoc_demobot_port(bot), path);
    return buf;
}

/* POSTs JSON to the bot; the status (the answer's JSON into *out when out is given). */
static long bot_post(const char *path, const char *json, cJSON **out)
{
    const char *hdrs[] = {HDR_JSON, NULL};
    struct test_resp r;
    ck_assert(test_http("POST", bot_url(path), hdrs, json, strlen(json), &r));
    if (out)
        *out = test_resp_json(&r);
    long status = r.status;
    test_resp_release(&r);
    return status;
}

static char *new_chat(void)
{
    cJSON *a = NULL;
    ck_assert_int_eq(bot_post("/api/chats", "{}", &a), 201);
    const char *id = byoc_json_str(a, "id");
    ck_assert_ptr_nonnull(id);
    char *copy = strdup(id);
    cJSON_Delete(a);
    return copy;
}

static long say_status(const char *chat, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "/api/chats/%s/messages", chat);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    long status = bot_post(path, json, NULL);
    free(json);
    return status;
}

static void say(const char *chat, const char *text)
{
    ck_assert_int_eq(say_status(chat, text), 202);
}

/* GET /api/chats/{id}?after=N: the status, the body into *out. */
static long get_chat_status(const char *chat, const char *after, cJSON **out)
{
    char path[160];
    snprintf(path, sizeof path, "/api/chats/%s%s%s", chat, after ? "?after=" : "",
             after ? after : "");
    struct test_resp r;
    ck_assert(test_http("GET", bot_url(path), NULL, NULL, 0, &r));
    *out = test_resp_json(&r);
    long status = r.status;
    test_resp_release(&r);
    return status;
}

static cJSON *get_chat(const char *chat, long long after)
{
    char a[32];
    snprintf(a, sizeof a, "%lld", after);
    cJSON *v = NULL;
    ck_assert_int_eq(get_chat_status(chat, a, &v), 200);
    ck_assert_ptr_nonnull(v);
    return v;
}

static cJSON *messages_of(const cJSON *v)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "messages");
    ck_assert(cJSON_IsArray(m));
    return m;
}

static const char *mode_of(const cJSON *v)
{
    return byoc_json_str(v, "mode");
}

static long long last_seq(const char *chat)
{
    cJSON *v = get_chat(chat, 0);
    cJSON *list = messages_of(v);
    int n = cJSON_GetArraySize(list);
    long long seq =
        n ? (long long)cJSON_GetObjectItem(cJSON_GetArrayItem(list, n - 1), "seq")->valuedouble : 0;
    cJSON_Delete(v);
    return seq;
}

/* The newest message's text (from), asserted to exist. */
static char *last_text(const char *chat, const char *from)
{
    cJSON *v = get_chat(chat, 0), *list = messages_of(v);
    char *out = NULL;
    for (int i = cJSON_GetArraySize(list) - 1; i >= 0 && !out; i--) {
        const cJSON *m = cJSON_GetArrayItem(list, i);
        if (!from || strcmp(byoc_json_str(m, "from"), from) == 0)
            out = strdup(byoc_json_str(m, "text"));
    }
    cJSON_Delete(v);
    ck_assert_msg(out != NULL, "no message from %s", from ? from : "anyone");
    return out;
}

/* True when some message from `from` has exactly `text`. */
static bool has_message(const char *chat, const char *from, const char *text)
{
    cJSON *v = get_chat(chat, 0), *list = messages_of(v), *m;
    bool found = false;
    cJSON_ArrayForEach(m, list)
    {
        found = found || (strcmp(byoc_json_str(m, "from"), from) == 0 &&
                          strcmp(byoc_json_str(m, "text"), text) == 0);
    }
    cJSON_Delete(v);
    return found;
}

static bool wait_message(const char *chat, const char *from, const char *text)
{
    for (int64_t end = byoc_mono_ms() + WAIT_MS; byoc_mono_ms() < end; usleep(POLL_STEP_US)) {
        if (has_message(chat, from, text))
            return true;
    }
    return has_message(chat, from, text);
}

static bool mode_is(const char *chat, const char *mode)
{
    cJSON *v = get_chat(chat, 0);
    bool is = strcmp(mode_of(v), mode) == 0;
    cJSON_Delete(v);
    return is;
}

/* ---- webhooks, built and signed by byocd's own code ---- */

struct hook {
    const char *id; /* webhook-id = event id */
    int64_t ts;
    const char *signature;   /* NULL: byocd's signature with the test's secret */
    const char *sign_secret; /* NULL: the bot's secret */
    bool no_id, no_ts, no_signature;
    const char *tamper; /* replaces the body after signing */
};

static char *envelope(const char *event_id, const char *type, const char *conv, const char *data)
{
    /* a fixed created_at: the same event renders to the same bytes (redeliveries, rotation) */
    struct byoc_event e = {.seq = ++event_seq,
                           .created_at = EVENT_CREATED_AT,
                           .type = (char *)type,
                           .data_json = (char *)data};
    snprintf(e.id, sizeof e.id, "%s", event_id);
    snprintf(e.provider_id, sizeof e.provider_id, "prv_test");
    snprintf(e.conversation_id, sizeof e.conversation_id, "%s", conv);
    char *body = byoc_event_envelope(&e);
    ck_assert_ptr_nonnull(body);
    return body;
}

static long deliver(const struct hook *h, const char *type, const char *conv, const char *data)
{
    char *body = envelope(h->id, type, conv, data);
    int64_t ts = h->ts ? h->ts : (int64_t)time(NULL);
    char sig[BYOC_WEBHOOK_SIGNATURE_MAX];
    ck_assert_int_eq(byoc_webhook_sign(h->sign_secret ? h->sign_secret : secret, h->id, ts, body,
                                       strlen(body), sig),
                     BYOC_ERR_OK);
    char hid[160], hts[64], hsig[512];
    snprintf(hid, sizeof hid, "webhook-id: %s", h->id);
    snprintf(hts, sizeof hts, "webhook-timestamp: %lld", (long long)ts);
    snprintf(hsig, sizeof hsig, "webhook-signature: %s", h->signature ? h->signature : sig);
    const char *hdrs[5] = {HDR_JSON};
    size_t n = 1;
    if (!h->no_id)
        hdrs[n++] = hid;
    if (!h->no_ts)
        hdrs[n++] = hts;
    if (!h->no_signature)
        hdrs[n++] = hsig;
    const char *sent = h->tamper ? h->tamper : body;
    struct test_resp r;
    ck_assert(test_http("POST", bot_url("/webhooks/byocd"), hdrs, sent, strlen(sent), &r));
    long status = r.status;
    test_resp_release(&r);
    free(body);
    return status;
}

static long hook(const char *id, const char *type, const char *conv, const char *data)
{
    struct hook h = {.id = id};
    return deliver(&h, type, conv, data);
}

#define JO "{\"name\":\"Jo Agent\",\"avatar_url\":\"" AVATAR "\"}"

/* A chat handed over to conv_t1, its id stored by the bot (the message that proves it reached
 * the conversation went through after the handover). */
static char *handed_over(void)
{
    char *chat = new_chat();
    say(chat, "I want to talk to an agent");
    say(chat, "ping");
    ck_assert(fake_wait("/v1/conversations/conv_t1/messages", 1));
    return chat;
}

/* ================================================================ chat */

START_TEST(new_chat_is_greeted)
{
    char *chat = new_chat();
    cJSON *v = get_chat(chat, 0);
    ck_assert_str_eq(byoc_json_str(v, "id"), chat);
    ck_assert_str_eq(mode_of(v), "bot");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(v, "agent")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(v, "typing")));
    cJSON *list = messages_of(v), *m = cJSON_GetArrayItem(list, 0);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_str_eq(byoc_json_str(m, "from"), "bot");
    ck_assert_str_eq(byoc_json_str(m, "text"), GREETING);
    ck_assert_int_eq((int)cJSON_GetObjectItem(m, "seq")->valuedouble, 1);
    ck_assert_ptr_nonnull(byoc_json_str(m, "at"));
    cJSON_Delete(v);
    char *other = new_chat();
    ck_assert_str_ne(other, chat);
    free(other);
    free(chat);
}
END_TEST

START_TEST(keywords_get_scripted_answers)
{
    static const struct {
        const char *text, *answer_has;
    } cases[] = {
        {"What are your opening HOURS?", "Monday to Friday"},
        {"where is my order", "track an order"},
        {"Is the delivery late?", "track an order"},
        {"hello", "Hello!"},
        {"Hi there", "Hello!"},
        {"thanks!", "You're welcome"},
        {"banana", "'agent'"},
        {"this is personal", "'agent'"}, /* "person" only as a whole word */
    };
    char *chat = new_chat();
    for (size_t i = 0; i < BYOC_ARRAY_LEN(cases); i++) {
        say(chat, cases[i].text);
        char *answer = last_text(chat, "bot");
        ck_assert_msg(strstr(answer, cases[i].answer_has), "%s -> %s", cases[i].text, answer);
        free(answer);
        ck_assert(mode_is(chat, "bot"));
    }
    ck_assert_uint_eq(fake_count(NULL), 0); /* the bot alone answered */
    free(chat);
}
END_TEST

START_TEST(after_returns_only_newer_messages)
{
    char *chat = new_chat();
    say(chat, "hello");  /* 2, answer 3 */
    say(chat, "thanks"); /* 4, answer 5 */
    cJSON *v = get_chat(chat, 3), *list = messages_of(v);
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "seq")->valuedouble, 4);
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(list, 0), "from"), "customer");
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(list, 0), "text"), "thanks");
    ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "seq")->valuedouble, 5);
    cJSON_Delete(v);
    v = get_chat(chat, 5);
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 0);
    ck_assert_str_eq(mode_of(v), "bot"); /* the state comes with every answer */
    cJSON_Delete(v);
    ck_assert_int_eq(get_chat_status(chat, "-1", &v), 400);
    cJSON_Delete(v);
    ck_assert_int_eq(get_chat_status(chat, "abc", &v), 400);
    cJSON_Delete(v);
    ck_assert_int_eq(get_chat_status("chat_nope", "0", &v), 404);
    cJSON_Delete(v);
    free(chat);
}
END_TEST

START_TEST(bad_customer_input_is_refused)
{
    char *chat = new_chat();
    ck_assert_int_eq(say_status(chat, ""), 400);
    ck_assert_int_eq(say_status(chat, "   "), 400);
    char *big = malloc(4002);
    memset(big, 'a', 4001);
    big[4001] = '\0';
    ck_assert_int_eq(say_status(chat, big), 400);
    big[4000] = '\0';
    ck_assert_int_eq(say_status(chat, big), 202);
    free(big);
    ck_assert_int_eq(say_status("chat_nope", "hi"), 404);
    char path[128];
    snprintf(path, sizeof path, "/api/chats/%s/typing", chat);
    ck_assert_int_eq(bot_post(path, "{\"typing\":\"yes\"}", NULL), 400);
    ck_assert_int_eq(bot_post(path, "{\"typing\":true}", NULL), 204);
    ck_assert_int_eq(bot_post("/api/chats/chat_nope/typing", "{\"typing\":true}", NULL), 404);
    ck_assert_uint_eq(fake_count(NULL), 0); /* typing in bot mode stays with the bot */
    free(chat);
}
END_TEST

START_TEST(page_is_served)
{
    struct test_resp r;
    ck_assert(test_http("GET", bot_url("/"), NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 200);
    char *type = test_resp_header(&r, "Content-Type");
    ck_assert_ptr_nonnull(strstr(type, "text/html"));
    free(type);
    char *csp = test_resp_header(&r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "connect-src 'self'"));
    free(csp);
    static const char *const needed[] = {"id=\"messages\"", "id=\"text\"", "id=\"send\"",
                                         "id=\"mode\"", "Demo bot \xE2\x80\x94 customer chat"};
    for (size_t i = 0; i < BYOC_ARRAY_LEN(needed); i++)
        ck_assert_msg(strstr(r.body, needed[i]), "page lacks %s", needed[i]);
    test_resp_release(&r);
}
END_TEST

START_TEST(old_chats_and_messages_are_dropped)
{
    char *first = new_chat();
    for (int i = 0; i < CHATS_MAX; i++)
        free(new_chat());
    cJSON *v = NULL;
    ck_assert_int_eq(get_chat_status(first, "0", &v), 404); /* the least recently active */
    cJSON_Delete(v);
    free(first);
    char *chat = new_chat();
    for (int i = 0; i < 110; i++)
        say(chat, "hello"); /* 220 messages after the greeting */
    v = get_chat(chat, 0);
    cJSON *list = messages_of(v);
    ck_assert_int_eq(cJSON_GetArraySize(list), MESSAGES_MAX);
    ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "seq")->valuedouble,
                     221 - MESSAGES_MAX + 1);
    ck_assert_int_eq(
        (int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, MESSAGES_MAX - 1), "seq")->valuedouble,
        221);
    cJSON_Delete(v);
    v = get_chat(chat, 219); /* paging still works on seq */
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 2);
    cJSON_Delete(v);
    free(chat);
}
END_TEST

/* ================================================================ handover */

START_TEST(agent_opens_one_handover_with_the_transcript)
{
    char *chat = new_chat();
    say(chat, "opening hours?");
    char *hours = last_text(chat, "bot");
    say(chat, "Can I talk to an Agent please");
    ck_assert(mode_is(chat, "waiting"));
    char *bot_said = last_text(chat, "bot");
    ck_assert_str_eq(bot_said, CONNECTING);
    free(bot_said);
    ck_assert(fake_wait("/v1/conversations", 1));
    struct fake_call c = fake_get("/v1/conversations", 0);
    ck_assert_str_eq(c.auth, "Bearer " BOT_KEY);
    ck_assert_str_ne(c.idem, "");
    cJSON *b = NULL;
    ck_assert_int_eq(byoc_json_parse(c.body, strlen(c.body), &b), BYOC_ERR_OK);
    ck_assert_str_eq(byoc_json_str(byoc_json_path(b, "end_user", NULL), "id"), chat);
    ck_assert_str_eq(byoc_json_str(byoc_json_path(b, "end_user", NULL), "first_name"),
                     "Customer 1");
    ck_assert_str_eq(byoc_json_str(b, "reason"), "asked for an agent");
    ck_assert_str_eq(byoc_json_str(b, "channel_id"), CHANNEL);
    const cJSON *f = byoc_json_path(b, "custom_fields", NULL);
    ck_assert_str_eq(byoc_json_str(f, "source"), "sandbox demo chat");
    ck_assert_str_eq(byoc_json_str(f, "chat_id"), chat);
    static const char *const roles[] = {"bot", "user", "bot", "user", "bot"};
    const char *texts[] = {GREETING, "opening hours?", hours, "Can I talk to an Agent please",
                           CONNECTING};
    const cJSON *t = byoc_json_path(b, "transcript", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(t), 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(t, i), "role"), roles[i]);
        ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(t, i), "text"), texts[i]);
    }
    cJSON_Delete(b);
    /* the worker works in order: once the next message is through, any second open would be */
    say(chat, "are you there?");
    ck_assert(fake_wait("/v1/conversations/conv_t1/messages", 1));
    ck_assert_uint_eq(fake_count("/v1/conversations"), 1);
    ck_assert(mode_is(chat, "waiting"));
    free(c.body);
    free(hours);
    free(chat);
}
END_TEST

START_TEST(a_retried_handover_keeps_its_key)
{
    fake.fail_opens = 1;
    fake.fail_status = 503;
    char *chat = new_chat();
    say(chat, "human please");
    ck_assert(fake_wait("/v1/conversations", 2));
    struct fake_call first = fake_get("/v1/conversations", 0);
    struct fake_call second = fake_get("/v1/conversations", 1);
    ck_assert_str_ne(first.idem, "");
    ck_assert_str_eq(first.idem, second.idem);
    ck_assert_str_eq(first.body, second.body); /* same bytes, or byocd would answer 422 */
    say(chat, "hello?");
    ck_assert(fake_wait("/v1/conversations/conv_t1/messages", 1));
    ck_assert_uint_eq(fake_count("/v1/conversations"), 2);
    ck_assert_int_eq(fake.nconv, 1);
    ck_assert(mode_is(chat, "waiting"));
    free(first.body);
    free(second.body);
    free(chat);
}
END_TEST

START_TEST(a_refused_handover_returns_to_the_bot)
{
    fake.fail_opens = 1;
    fake.fail_status = 400; /* not worth a retry */
    char *chat = new_chat();
    say(chat, "representative");
    ck_assert(wait_message(chat, "system", "You're back with the demo bot."));
    ck_assert(mode_is(chat, "bot"));
    ck_assert_uint_eq(fake_count("/v1/conversations"), 1);
    char *sys = NULL;
    cJSON *v = get_chat(chat, 0), *m;
    cJSON_ArrayForEach(m, messages_of(v))
    {
        if (strstr(byoc_json_str(m, "text"), "No agent could be reached"))
            sys = strdup(byoc_json_str(m, "text"));
    }
    cJSON_Delete(v);
    ck_assert_ptr_nonnull(sys);
    ck_assert_ptr_nonnull(strstr(sys, "400"));
    free(sys);
    say(chat, "hours");
    char *answer = last_text(chat, "bot");
    ck_assert_ptr_nonnull(strstr(answer, "Monday"));
    free(answer);
    free(chat);
}
END_TEST

START_TEST(waiting_messages_reach_byocd_in_order)
{
    char *chat = new_chat();
    say(chat, "agent");
    char text[5][16];
    for (int i = 0; i < 5; i++) {
        snprintf(text[i], sizeof text[i], "message %d", i + 1);
        say(chat, text[i]);
    }
    ck_assert(fake_wait("/messages", 5));
    char prev_idem[5][128];
    for (size_t i = 0; i < 5; i++) {
        struct fake_call c = fake_get("/messages", i);
        ck_assert_str_eq(c.path, "/v1/conversations/conv_t1/messages");
        ck_assert_str_eq(c.auth, "Bearer " BOT_KEY);
        cJSON *b = NULL;
        ck_assert_int_eq(byoc_json_parse(c.body, strlen(c.body), &b), BYOC_ERR_OK);
        ck_assert_str_eq(byoc_json_str(b, "text"), text[i]);
        ck_assert_ptr_nonnull(byoc_json_str(b, "id"));
        ck_assert_str_ne(c.idem, "");
        for (size_t k = 0; k < i; k++)
            ck_assert_str_ne(prev_idem[k], c.idem);
        snprintf(prev_idem[i], sizeof prev_idem[i], "%s", c.idem);
        cJSON_Delete(b);
        free(c.body);
    }
    ck_assert(mode_is(chat, "waiting"));
    /* no bot answer to them: they are the agent's */
    char *last_bot = last_text(chat, "bot");
    ck_assert_str_eq(last_bot, CONNECTING);
    free(last_bot);
    char path[128];
    snprintf(path, sizeof path, "/api/chats/%s/typing", chat);
    ck_assert_int_eq(bot_post(path, "{\"typing\":true}", NULL), 204);
    ck_assert(fake_wait("/typing", 1));
    struct fake_call t = fake_get("/typing", 0);
    ck_assert_str_eq(t.path, "/v1/conversations/conv_t1/typing");
    ck_assert_str_eq(t.body, "{\"typing\":true}");
    free(t.body);
    free(chat);
}
END_TEST

START_TEST(a_dropped_chat_ends_its_conversation)
{
    char *chat = handed_over();
    for (int i = 0; i < CHATS_MAX; i++)
        free(new_chat());
    ck_assert(fake_wait("/end", 1));
    struct fake_call c = fake_get("/end", 0);
    ck_assert_str_eq(c.path, "/v1/conversations/conv_t1/end");
    ck_assert_str_eq(c.auth, "Bearer " BOT_KEY);
    ck_assert_str_ne(c.idem, "");
    free(c.body);
    free(chat);
}
END_TEST

/* ================================================================ webhooks */

START_TEST(agent_joins_and_replies_with_name_and_avatar)
{
    char *chat = handed_over();
    ck_assert_int_eq(hook("evt_1", "agent.joined", "conv_t1", "{\"agent\":" JO "}"), 204);
    ck_assert_int_eq(hook("evt_2", "agent.message", "conv_t1",
                          "{\"message_id\":\"msg_1\",\"kind\":\"reply\",\"text\":\"Hi, I'm Jo.\","
                          "\"attachments\":[],\"agent\":" JO "}"),
                     204);
    cJSON *v = get_chat(chat, 0);
    ck_assert_str_eq(mode_of(v), "agent");
    const cJSON *agent = cJSON_GetObjectItem(v, "agent");
    ck_assert_str_eq(byoc_json_str(agent, "name"), "Jo Agent");
    ck_assert_str_eq(byoc_json_str(agent, "avatar_url"), AVATAR);
    cJSON *list = messages_of(v);
    int n = cJSON_GetArraySize(list);
    const cJSON *joined = cJSON_GetArrayItem(list, n - 2), *reply = cJSON_GetArrayItem(list, n - 1);
    ck_assert_str_eq(byoc_json_str(joined, "from"), "system");
    ck_assert_str_eq(byoc_json_str(joined, "text"), "Jo Agent joined");
    ck_assert_str_eq(byoc_json_str(reply, "from"), "agent");
    ck_assert_str_eq(byoc_json_str(reply, "text"), "Hi, I'm Jo.");
    ck_assert_str_eq(byoc_json_str(reply, "agent_name"), "Jo Agent");
    ck_assert_str_eq(byoc_json_str(reply, "avatar_url"), AVATAR);
    cJSON_Delete(v);
    /* what the customer says now still goes to byocd */
    say(chat, "thanks Jo");
    ck_assert(fake_wait("/v1/conversations/conv_t1/messages", 2));
    free(chat);
}
END_TEST

START_TEST(unverified_webhooks_get_401_and_change_nothing)
{
    char *chat = handed_over();
    long long before = last_seq(chat);
    const char *data = "{\"message_id\":\"m\",\"kind\":\"reply\",\"text\":\"forged\","
                       "\"attachments\":[],\"agent\":" JO "}";
    char other[BYOC_WEBHOOK_SECRET_MAX];
    ck_assert_int_eq(byoc_webhook_secret_new(other), BYOC_ERR_OK);
    int64_t now = (int64_t)time(NULL);
    struct hook bad[] = {
        {.id = "evt_a", .sign_secret = other}, /* another secret */
        {.id = "evt_b", .no_signature = true}, /* headers missing */
        {.id = "evt_c", .no_id = true},
        {.id = "evt_d", .no_ts = true},
        {.id = "evt_e", .ts = now - 600},        /* stale, though correctly signed */
        {.id = "evt_f", .ts = now + 600},        /* from the future */
        {.id = "evt_g", .signature = "v1,AAAA"}, /* garbage */
        {.id = "evt_h", .signature = "v2,whatever"},
        {.id = "evt_i",
         .tamper = "{\"id\":\"evt_i\",\"type\":\"agent.message\","
                   "\"conversation_id\":\"conv_t1\",\"data\":{\"text\":\"x\"}}"},
    };
    for (size_t i = 0; i < BYOC_ARRAY_LEN(bad); i++)
        ck_assert_int_eq(deliver(&bad[i], "agent.message", "conv_t1", data), 401);
    cJSON *v = get_chat(chat, before);
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 0);
    ck_assert_str_eq(mode_of(v), "waiting");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(v, "agent")));
    cJSON_Delete(v);
    /* a refused id is not remembered as handled: the genuine delivery still applies */
    ck_assert_int_eq(hook("evt_e", "agent.message", "conv_t1", data), 204);
    ck_assert(has_message(chat, "agent", "forged"));
    free(chat);
}
END_TEST

START_TEST(rotation_signatures_any_one_matching_is_accepted)
{
    char *chat = handed_over();
    const char *data = "{\"message_id\":\"m\",\"kind\":\"reply\",\"text\":\"rotated\","
                       "\"attachments\":[],\"agent\":" JO "}";
    char *body = envelope("evt_r", "agent.message", "conv_t1", data);
    int64_t ts = (int64_t)time(NULL);
    char good[BYOC_WEBHOOK_SIGNATURE_MAX], old[BYOC_WEBHOOK_SIGNATURE_MAX];
    char other[BYOC_WEBHOOK_SECRET_MAX];
    ck_assert_int_eq(byoc_webhook_secret_new(other), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_webhook_sign(secret, "evt_r", ts, body, strlen(body), good), 0);
    ck_assert_int_eq(byoc_webhook_sign(other, "evt_r", ts, body, strlen(body), old), 0);
    free(body);
    char both[2 * BYOC_WEBHOOK_SIGNATURE_MAX + 2];
    snprintf(both, sizeof both, "%s %s", old, good); /* the new secret may come second too */
    event_seq--;                                     /* the same event again */
    struct hook h = {.id = "evt_r", .ts = ts, .signature = both};
    ck_assert_int_eq(deliver(&h, "agent.message", "conv_t1", data), 204);
    ck_assert(has_message(chat, "agent", "rotated"));
    free(chat);
}
END_TEST

START_TEST(a_repeated_webhook_id_applies_once)
{
    char *chat = handed_over();
    const char *data = "{\"message_id\":\"m\",\"kind\":\"reply\",\"text\":\"only once\","
                       "\"attachments\":[],\"agent\":" JO "}";
    long long before = last_seq(chat);
    ck_assert_int_eq(hook("evt_dup", "agent.message", "conv_t1", data), 204);
    event_seq--; /* a redelivery is the same event */
    ck_assert_int_eq(hook("evt_dup", "agent.message", "conv_t1", data), 204);
    cJSON *v = get_chat(chat, before);
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 1);
    cJSON_Delete(v);
    free(chat);
}
END_TEST

START_TEST(conversation_ended_returns_the_chat_to_the_bot)
{
    char *chat = handed_over();
    ck_assert_int_eq(hook("evt_1", "agent.joined", "conv_t1", "{\"agent\":" JO "}"), 204);
    ck_assert_int_eq(hook("evt_2", "conversation.released", "conv_t1", "{}"), 204);
    ck_assert_int_eq(hook("evt_3", "conversation.ended", "conv_t1", "{\"by\":\"agent\"}"), 204);
    cJSON *v = get_chat(chat, 0);
    ck_assert_str_eq(mode_of(v), "bot");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(v, "agent")));
    cJSON *list = messages_of(v);
    int n = cJSON_GetArraySize(list);
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(list, n - 2), "text"),
                     "The agent closed the conversation.");
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(list, n - 1), "text"),
                     "You're back with the demo bot.");
    cJSON_Delete(v);
    /* the bot answers again, nothing goes to byocd */
    size_t calls = fake_count(NULL);
    say(chat, "opening hours");
    char *answer = last_text(chat, "bot");
    ck_assert_ptr_nonnull(strstr(answer, "Monday"));
    free(answer);
    /* and 'agent' opens a new handover, with a new key */
    say(chat, "agent again please");
    ck_assert(fake_wait("/v1/conversations", 2));
    ck_assert_uint_eq(fake_count(NULL), calls + 1);
    struct fake_call a = fake_get("/v1/conversations", 0), b = fake_get("/v1/conversations", 1);
    ck_assert_str_ne(a.idem, b.idem);
    free(a.body);
    free(b.body);
    say(chat, "second conversation");
    ck_assert(fake_wait("/v1/conversations/conv_t2/messages", 1));
    /* a late event of the old conversation changes nothing */
    long long before = last_seq(chat);
    ck_assert_int_eq(hook("evt_4", "agent.message", "conv_t1",
                          "{\"text\":\"late\",\"attachments\":[],\"agent\":" JO "}"),
                     204);
    v = get_chat(chat, before);
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 0);
    ck_assert_str_eq(mode_of(v), "waiting");
    cJSON_Delete(v);
    free(chat);
}
END_TEST

START_TEST(escalation_ended_and_failures_are_shown)
{
    char *chat = handed_over();
    ck_assert_int_eq(hook("evt_1", "conversation.escalated", "conv_t1", "{\"source\":\"relay\"}"),
                     204);
    ck_assert(mode_is(chat, "waiting"));
    ck_assert_int_eq(hook("evt_2", "message.failed", "conv_t1",
                          "{\"message_id\":\"out_1\",\"attempts\":3,"
                          "\"reason\":\"CXone answered 403\"}"),
                     204);
    ck_assert(
        has_message(chat, "system", "A message could not reach the agent: CXone answered 403"));
    ck_assert_int_eq(hook("evt_3", "conversation.escalation_ended", "conv_t1", "{}"), 204);
    ck_assert(mode_is(chat, "bot"));
    ck_assert(has_message(chat, "system", "You're back with the demo bot."));
    ck_assert_int_eq(hook("evt_4", "conversation.escalated", "conv_t1", "{\"source\":\"studio\"}"),
                     204);
    ck_assert(mode_is(chat, "waiting"));
    ck_assert(has_message(chat, "system", "An agent will be with you shortly."));
    /* events of a conversation the bot does not know are taken and dropped */
    long long before = last_seq(chat);
    ck_assert_int_eq(hook("evt_5", "agent.message", "conv_other", "{\"text\":\"x\"}"), 204);
    cJSON *v = get_chat(chat, before);
    ck_assert_int_eq(cJSON_GetArraySize(messages_of(v)), 0);
    cJSON_Delete(v);
    free(chat);
}
END_TEST

START_TEST(a_webhook_before_the_handover_answer_is_taken_later)
{
    fake.hold_next_open = true;
    char *chat = new_chat();
    say(chat, "agent");
    ck_assert(fake_wait("/v1/conversations", 1));
    /* the bot cannot tell whose conversation conv_t1 is yet: byocd is asked to come back */
    ck_assert_int_eq(hook("evt_early", "agent.joined", "conv_t1", "{\"agent\":" JO "}"), 503);
    ck_assert(mode_is(chat, "waiting"));
    fake_release();
    long status = 0;
    for (int64_t end = byoc_mono_ms() + WAIT_MS; status != 204 && byoc_mono_ms() < end;
         usleep(POLL_STEP_US)) {
        event_seq--; /* byocd redelivers the same event */
        status = hook("evt_early", "agent.joined", "conv_t1", "{\"agent\":" JO "}");
    }
    ck_assert_int_eq(status, 204);
    ck_assert(mode_is(chat, "agent"));
    ck_assert(has_message(chat, "system", "Jo Agent joined"));
    free(chat);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("demobot");
    TCase *chat = tcase_create("chat");
    tcase_add_checked_fixture(chat, setup, teardown);
    tcase_add_test(chat, new_chat_is_greeted);
    tcase_add_test(chat, keywords_get_scripted_answers);
    tcase_add_test(chat, after_returns_only_newer_messages);
    tcase_add_test(chat, bad_customer_input_is_refused);
    tcase_add_test(chat, page_is_served);
    tcase_add_test(chat, old_chats_and_messages_are_dropped);
    suite_add_tcase(s, chat);
    TCase *handover = tcase_create("handover");
    tcase_add_checked_fixture(handover, setup, teardown);
    tcase_set_timeout(handover, 30);
    tcase_add_test(handover, agent_opens_one_handover_with_the_transcript);
    tcase_add_test(handover, a_retried_handover_keeps_its_key);
    tcase_add_test(handover, a_refused_handover_returns_to_the_bot);
    tcase_add_test(handover, waiting_messages_reach_byocd_in_order);
    tcase_add_test(handover, a_dropped_chat_ends_its_conversation);
    suite_add_tcase(s, handover);
    TCase *hooks = tcase_create("webhooks");
    tcase_add_checked_fixture(hooks, setup, teardown);
    tcase_set_timeout(hooks, 30);
    tcase_add_test(hooks, agent_joins_and_replies_with_name_and_avatar);
    tcase_add_test(hooks, unverified_webhooks_get_401_and_change_nothing);
    tcase_add_test(hooks, rotation_signatures_any_one_matching_is_accepted);
    tcase_add_test(hooks, a_repeated_webhook_id_applies_once);
    tcase_add_test(hooks, conversation_ended_returns_the_chat_to_the_bot);
    tcase_add_test(hooks, escalation_ended_and_failures_are_shown);
    tcase_add_test(hooks, a_webhook_before_the_handover_answer_is_taken_later);
    suite_add_tcase(s, hooks);
    return s;
}

int main(void)
{
    byoc_json_init();
    byoc_log_set_level(BYOC_LOG_WARN);
    if (!byoc_out_global_init())
        return 1;
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    byoc_out_global_cleanup();
    return failed ? 1 : 0;
}
