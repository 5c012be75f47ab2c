/*
 * Webhook delivery end to end: the real byocd, a fake CXone (conversations escalate, agents
 * reply through the box) and a fake bot receiver (tests/support/fake_receiver.h) that answers
 * as each test programs it. Signatures are checked with the reference Standard Webhooks
 * package (tests/support/sw_verify.h).
 *
 * Events come mostly from agent replies: each one is an agent.message whose data.text is a
 * bracketed tag such as "[x1]", so a receiver rule can pick one event by its body and a test
 * can find its deliveries again.
 *
 * The stream check (check_stream) is the heart of most tests. For one subscription path and
 * one conversation, over every request in arrival order:
 *   - webhook-id equals the envelope id, and one seq always carries the same envelope (so a
 *     retry or a duplicate is the same event, with the same webhook-id);
 *   - no event is sent while an earlier one of the conversation is undelivered (strict order);
 *   - the deliveries (2xx) cover seq 1, 2, 3, ... with no gap.
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/json.h"
#include "sw_verify.h"

#include "byoc/banned.h"

#define CHANNEL "chat-1"
#define HOOK "/hook"          /* the provider's own webhook_url on the receiver */
#define WAIT_MS 15000         /* bound for anything byocd should do soon */
#define RESTART_WAIT_MS 30000 /* a lease (timeout + 5 s) plus retries after a crash */
#define POLL_MS 25
#define MAX_SEQ 512      /* more events per conversation than any test makes */
#define CLOCK_SKEW_S 120 /* webhook-timestamp must be this close to our clock */
#define RETRY_AFTER_S 2
#define RETRY_AFTER_SLACK_MS 100 /* Retry-After has second precision; the clocks differ a bit */
#define TIMEOUT_S 2              /* BYOCD_WEBHOOK_TIMEOUT below */
#define BREAKER_COOLDOWN_S 2     /* BYOCD_WEBHOOK_BREAKER_COOLDOWN in env_breaker */
#define BREAKER_THRESHOLD 5      /* consecutive failures that open the breaker (contract) */
#define BREAKER_WINDOW_MS 6000   /* how long the breaker test watches the dead endpoint */
#define LIVE_WAIT_MS 3000        /* a healthy subscription gets an event within this */

/* Short timers so failures, retries and dead letters happen within seconds. Loopback
 * receivers are allowed by the harness (BYOCD_WEBHOOK_ALLOW_PRIVATE=1). */
#define ENV_COMMON "BYOCD_RELAY_RETRY_CAP=1", "BYOCD_WEBHOOK_RETRY_CAP=1", "BYOCD_WEBHOOK_TIMEOUT=2"
static const char *const env_default[] = {ENV_COMMON, "BYOCD_WEBHOOK_DEADLINE=60",
                                          "BYOCD_WEBHOOK_BREAKER_COOLDOWN=1", NULL};
static const char *const env_dead[] = {ENV_COMMON, "BYOCD_WEBHOOK_DEADLINE=4",
                                       "BYOCD_WEBHOOK_BREAKER_COOLDOWN=1", NULL};
static const char *const env_breaker[] = {ENV_COMMON, "BYOCD_WEBHOOK_DEADLINE=60",
                                          "BYOCD_WEBHOOK_BREAKER_COOLDOWN=2", NULL};

static struct byocd b;
static struct byoc_cxsim *f;
static struct fake_receiver *rx;
static struct provider p;
static const char *const *byocd_env; /* the running byocd's extra environment */
static char bot_auth[256];
static char *cx_auth; /* CXone bearer for the box */
static int agent_msgs;

struct conv {
    char id[64];
    char thread[128];
};

struct sub {
    char id[64];
    char secret[128];
};

static bool starts_with(const char *str, const char *prefix)
{
    return str && strncmp(str, prefix, strlen(prefix)) == 0;
}

static bool eq(const char *x, const char *y)
{
    return x && y && strcmp(x, y) == 0;
}

/* "<receiver>/path" into out. */
static void rx_url(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", fake_receiver_url(rx), path);
}

/* ---------------------------------------------------------------- byocd calls */

static void start(const char *const *with_env)
{
    byocd_env = with_env;
    agent_msgs = 0;
    f = test_cxsim_start();
    rx = fake_receiver_start();
    byocd_start(&b, NULL, byocd_env);
    char hook[256];
    rx_url(HOOK, hook, sizeof hook);
    provider_create_hook(&b, byoc_cxsim_url(f), "int-1", NULL, hook, &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
    char *token = cxone_token(&b, &p);
    cx_auth = bearer_line(token);
    free(token);
}

static void setup_default(void)
{
    start(env_default);
}

static void setup_dead(void)
{
    start(env_dead);
}

static void setup_breaker(void)
{
    start(env_breaker);
}

static void teardown(void)
{
    provider_release(&p);
    free(cx_auth);
    cx_auth = NULL;
    ck_assert_int_eq(byocd_stop(&b), 0);
    fake_receiver_stop(rx);
    byoc_cxsim_stop(f);
}

/* Opens a conversation and waits until CXone took it (state escalated, thread known). */
static void open_conv(struct conv *c)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/conversations",
                             "{\"end_user\":{\"id\":\"user-42\",\"first_name\":\"Grace\"},"
                             "\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
                             201);
    snprintf(c->id, sizeof c->id, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
    char path[128];
    snprintf(path, sizeof path, "/v1/conversations/%s", c->id);
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;
         usleep(POLL_MS * 1000)) {
        j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
        bool ready = eq(byoc_json_str(j, "state"), "escalated") && byoc_json_str(j, "thread_id");
        if (ready)
            snprintf(c->thread, sizeof c->thread, "%s", byoc_json_str(j, "thread_id"));
        cJSON_Delete(j);
        if (ready)
            return;
    }
    ck_abort_msg("conversation %s did not escalate", c->id);
}

/* An agent reply from CXone to the box: one agent.message event with data.text = text. */
static void agent_says(const struct conv *c, const char *text)
{
    byocd_agent_reply(&b, &p, cx_auth, c->thread, ++agent_msgs, text);
}

/* A subscription to <receiver>/path; events_json NULL = all types. */
static void sub_create(const char *path, const char *events_json, struct sub *out)
{
    char url[256], body[512];
    rx_url(path, url, sizeof url);
    snprintf(body, sizeof body, "{\"url\":\"%s\"%s%s}", url, events_json ? ",\"events\":" : "",
             events_json ? events_json : "");
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/webhooks", body, 201);
    ck_assert(starts_with(byoc_json_str(j, "id"), "wh_"));
    ck_assert_str_eq(byoc_json_str(j, "url"), url);
    ck_assert_str_eq(byoc_json_str(j, "state"), "enabled");
    ck_assert(starts_with(byoc_json_str(j, "secret"), "whsec_"));
    ck_assert_ptr_nonnull(byoc_json_str(j, "created_at"));
    snprintf(out->id, sizeof out->id, "%s", byoc_json_str(j, "id"));
    snprintf(out->secret, sizeof out->secret, "%s", byoc_json_str(j, "secret"));
    cJSON_Delete(j);
}

/* GET /v1/webhooks: the entry with this id (NULL: the first), duplicated; caller frees. */
static cJSON *sub_get(const char *id)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "GET", "/v1/webhooks", NULL, 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "webhooks");
    ck_assert(cJSON_IsArray(list));
    cJSON *found = NULL;
    const cJSON *w;
    cJSON_ArrayForEach(w, list)
    {
        ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(w, "secret"), "a secret is listed");
        if (!found && (!id || eq(byoc_json_str(w, "id"), id)))
            found = cJSON_Duplicate(w, true);
    }
    cJSON_Delete(j);
    ck_assert_msg(found, "webhook %s not listed", id ? id : "(first)");
    return found;
}

/* ---------------------------------------------------------------- what the receiver got */

struct seen {
    struct fake_receiver_request req; /* owns req.body */
    cJSON *env;                       /* the body parsed, or NULL */
};

struct seen_list {
    struct seen *v;
    size_t n;
};

/* Every request recorded on path, oldest first, bodies parsed. Free with seen_free(). */
static struct seen_list load(const char *path)
{
    struct seen_list l = {0};
    size_t n = fake_receiver_count(rx, path);
    l.v = calloc(n ? n : 1, sizeof(*l.v));
    ck_assert_ptr_nonnull(l.v);
    for (; l.n < n && fake_receiver_get(rx, path, l.n, &l.v[l.n].req); l.n++)
        l.v[l.n].env = cJSON_Parse(l.v[l.n].req.body);
    return l;
}

static void seen_free(struct seen_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        fake_receiver_request_release(&l->v[i].req);
        cJSON_Delete(l->v[i].env);
    }
    free(l->v);
    *l = (struct seen_list){0};
}

static const cJSON *data_of(const cJSON *env)
{
    return cJSON_GetObjectItemCaseSensitive(env, "data");
}

static long seq_of(const cJSON *env)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(env, "seq");
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static bool answered_2xx(const struct seen *x)
{
    return x->req.status >= 200 && x->req.status < 300;
}

/* Status filter for the counters: any status, or exactly this one. */
#define ANY_STATUS (-1)

/* Does x carry an event of this type whose data[key] (a string) is value (key NULL: any)? */
static bool is_event(const struct seen *x, int status, const char *type, const char *key,
                     const char *value)
{
    if (status != ANY_STATUS && x->req.status != status)
        return false;
    if (!x->env || !eq(byoc_json_str(x->env, "type"), type))
        return false;
    return !key || eq(byoc_json_str(data_of(x->env), key), value);
}

static size_t count_events(const char *path, int status, const char *type, const char *key,
                           const char *value)
{
    struct seen_list l = load(path);
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += is_event(&l.v[i], status, type, key, value);
    seen_free(&l);
    return n;
}

/* Agent messages with this text on path (answered status, or ANY_STATUS). */
static size_t count_text(const char *path, int status, const char *text)
{
    return count_events(path, status, "agent.message", "text", text);
}

/* Waits until path has n such events; fails the test after timeout_ms. */
static void wait_events(const char *path, int status, const char *type, const char *key,
                        const char *value, size_t n, int timeout_ms)
{
    long long end = harness_now_ms() + timeout_ms;
    for (;;) {
        size_t total = fake_receiver_count(rx, path);
        if (count_events(path, status, type, key, value) >= n)
            return;
        long long left = end - harness_now_ms();
        ck_assert_msg(left > 0, "%s: fewer than %zu %s %s=%s (status %d) within %d ms", path, n,
                      type, key ? key : "", value ? value : "", status, timeout_ms);
        fake_receiver_wait(rx, path, total + 1, (int)(left < POLL_MS * 40 ? left : POLL_MS * 40));
    }
}

/* Waits until the agent message `text` was delivered (answered 200) on path. */
static void wait_text(const char *path, const char *text, int timeout_ms)
{
    wait_events(path, 200, "agent.message", "text", text, 1, timeout_ms);
}

/* Index (arrival order on path) of the n-th request carrying agent message text with status
 * (or ANY_STATUS); -1 if there is none. */
static long text_index(const struct seen_list *l, const char *text, int status, size_t n)
{
    for (size_t i = 0; i < l->n; i++) {
        if (is_event(&l->v[i], status, "agent.message", "text", text) && n-- == 0)
            return (long)i;
    }
    return -1;
}

/* The stream check described at the top of the file; returns the events delivered. */
static long check_stream(const char *path, const char *conv)
{
    struct seen_list l = load(path);
    static const cJSON *by_seq[MAX_SEQ + 1];
    memset(by_seq, 0, sizeof by_seq);
    long delivered = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct seen *x = &l.v[i];
        ck_assert_msg(x->env, "%s: request %zu is not JSON: %s", path, i, x->req.body);
        if (!eq(byoc_json_str(x->env, "conversation_id"), conv))
            continue;
        ck_assert_str_eq(x->req.webhook_id, byoc_json_str(x->env, "id"));
        long seq = seq_of(x->env);
        ck_assert_msg(seq >= 1 && seq <= MAX_SEQ, "%s: bad seq %ld", path, seq);
        if (!by_seq[seq])
            by_seq[seq] = x->env;
        ck_assert_msg(cJSON_Compare(by_seq[seq], x->env, true),
                      "%s: two different events with seq %ld", path, seq);
        ck_assert_msg(seq <= delivered + 1, "%s: seq %ld sent before seq %ld was delivered", path,
                      seq, delivered + 1);
        if (answered_2xx(x) && seq == delivered + 1)
            delivered++;
    }
    seen_free(&l);
    return delivered;
}

/* ---------------------------------------------------------------- admin: deliveries */

/* The entry of GET /admin/v1/deliveries?query whose event is agent message `text`
 * (duplicated, caller frees), or NULL. */
static cJSON *find_delivery(const char *query, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "/admin/v1/deliveries?%s", query);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "deliveries");
    ck_assert(cJSON_IsArray(list));
    cJSON *found = NULL;
    const cJSON *d;
    cJSON_ArrayForEach(d, list)
    {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(d, "event");
        if (!found && eq(byoc_json_str(ev, "type"), "agent.message") &&
            eq(byoc_json_str(data_of(ev), "text"), text))
            found = cJSON_Duplicate(d, true);
    }
    cJSON_Delete(j);
    return found;
}

static cJSON *wait_delivery(const char *query, const char *text, int timeout_ms)
{
    for (long long end = harness_now_ms() + timeout_ms; harness_now_ms() < end;
         usleep(POLL_MS * 4 * 1000)) {
        cJSON *d = find_delivery(query, text);
        if (d)
            return d;
    }
    ck_abort_msg("no delivery of %s with %s", text, query);
    return NULL;
}

static int num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valueint;
}

/* ---------------------------------------------------------------- envelope and headers */

static bool known_type(const char *type)
{
    static const char *const types[] = {"conversation.escalated",
                                        "agent.joined",
                                        "agent.message",
                                        "agent.typing",
                                        "conversation.escalation_ended",
                                        "conversation.released",
                                        "conversation.ended",
                                        "message.delivered",
                                        "message.failed"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        if (eq(type, types[i]))
            return true;
    }
    return false;
}

/* "2026-11-21T10:00:00.123Z" */
static bool iso_ms(const char *t)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!t || strlen(t) != sizeof pattern - 1)
        return false;
    for (size_t i = 0; pattern[i]; i++) {
        bool ok = pattern[i] == 'd' ? isdigit((unsigned char)t[i]) != 0 : t[i] == pattern[i];
        if (!ok)
            return false;
    }
    return true;
}

/* The envelope has exactly the contract's members, with the right shapes. */
static void check_envelope(const cJSON *e, const char *conv)
{
    static const char *const keys[] = {
        "id", "type", "created_at", "provider_id", "conversation_id", "seq", "data"};
    const cJSON *m;
    cJSON_ArrayForEach(m, e)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            known = known || eq(m->string, keys[i]);
        ck_assert_msg(known, "unexpected envelope member %s", m->string);
    }
    ck_assert(starts_with(byoc_json_str(e, "id"), "evt_"));
    ck_assert_msg(known_type(byoc_json_str(e, "type")), "unknown type %s",
                  byoc_json_str(e, "type"));
    ck_assert_msg(iso_ms(byoc_json_str(e, "created_at")), "created_at %s",
                  byoc_json_str(e, "created_at"));
    ck_assert_str_eq(byoc_json_str(e, "provider_id"), p.id);
    ck_assert_str_eq(byoc_json_str(e, "conversation_id"), conv);
    ck_assert_int_ge(seq_of(e), 1);
    ck_assert(cJSON_IsObject(data_of(e)));
}

/* Standard Webhooks headers of one attempt. */
static void check_headers(const struct fake_receiver_request *r, int signatures)
{
    ck_assert_str_eq(r->method, "POST");
    ck_assert_msg(starts_with(r->content_type, "application/json"), "content-type %s",
                  r->content_type);
    ck_assert_msg(starts_with(r->user_agent, "byocd/"), "user-agent %s", r->user_agent);
    char *end = NULL;
    long long ts = strtoll(r->webhook_timestamp, &end, 10);
    ck_assert_msg(end && *end == '\0' && end != r->webhook_timestamp, "webhook-timestamp %s",
                  r->webhook_timestamp);
    long long skew = ts - (long long)time(NULL);
    ck_assert_msg(skew < CLOCK_SKEW_S && skew > -CLOCK_SKEW_S, "webhook-timestamp %lld", ts);
    int n = 0;
    for (const char *sig = r->webhook_signature; sig; n++) {
        ck_assert_msg(starts_with(sig, "v1,"), "signature %s", r->webhook_signature);
        sig = strchr(sig, ' ');
        sig = sig ? sig + 1 : NULL;
    }
    ck_assert_int_eq(n, signatures);
}

/* How many of path's requests verify with secret (through the npm package). */
static int verified(const char *path, const char *secret)
{
    struct seen_list l = load(path);
    struct fake_receiver_request *reqs = calloc(l.n ? l.n : 1, sizeof(*reqs));
    ck_assert_ptr_nonnull(reqs);
    for (size_t i = 0; i < l.n; i++)
        reqs[i] = l.v[i].req;
    int ok = sw_verify_requests(secret, reqs, l.n, NULL);
    free(reqs);
    seen_free(&l);
    ck_assert_msg(ok >= 0, "the Standard Webhooks verifier did not run");
    return ok;
}

/* ---------------------------------------------------------------- tests */

/* The first request on path that carries an event of this type (ANY_STATUS), or -1. */
static long type_index(const struct seen_list *l, const char *type)
{
    for (size_t i = 0; i < l->n; i++) {
        if (is_event(&l->v[i], ANY_STATUS, type, NULL, NULL))
            return (long)i;
    }
    return -1;
}

/* Sends a bot text message; its id into out. */
static void bot_says(const struct conv *c, const char *text, char out[64])
{
    char path[128], body[256];
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", c->id);
    snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", path, body, 202);
    snprintf(out, 64, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
}

/* The event-specific checks of the signature test. */
static void check_event_data(const struct seen_list *l, const char *bot_msg)
{
    long joined = type_index(l, "agent.joined"), first = text_index(l, "[s1]", 200, 0);
    long esc = type_index(l, "conversation.escalated");
    ck_assert(joined >= 0 && first >= 0 && esc >= 0);
    ck_assert_int_eq(seq_of(l->v[joined].env) + 1, seq_of(l->v[first].env));
    ck_assert_int_lt(seq_of(l->v[esc].env), seq_of(l->v[joined].env));
    ck_assert_str_eq(byoc_json_str(data_of(l->v[esc].env), "source"), "relay");
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(data_of(l->v[joined].env), "agent");
    ck_assert_str_eq(byoc_json_str(agent, "name"), "Ada Agent");
    const cJSON *msg = data_of(l->v[first].env);
    ck_assert_str_eq(byoc_json_str(msg, "kind"), "reply");
    ck_assert_msg(byoc_json_str(msg, "message_id") && byoc_json_str(msg, "message_id")[0],
                  "no message_id");
    ck_assert_str_eq(byoc_json_str(cJSON_GetObjectItemCaseSensitive(msg, "agent"), "name"),
                     "Ada Agent");
    for (size_t i = 0; i < l->n; i++) {
        if (!is_event(&l->v[i], 200, "message.delivered", "message_id", bot_msg))
            continue;
        ck_assert_int_eq(num(data_of(l->v[i].env), "attempts"), 1);
        return;
    }
    ck_abort_msg("no message.delivered for %s", bot_msg);
}

START_TEST(deliveries_signed_and_shaped_as_the_contract_says)
{
    struct conv c;
    open_conv(&c);
    char bot_msg[64];
    bot_says(&c, "a bot line", bot_msg);
    wait_events(HOOK, 200, "message.delivered", "message_id", bot_msg, 1, WAIT_MS);
    agent_says(&c, "[s1]");
    agent_says(&c, "[s2]");
    agent_says(&c, "[s3]");
    wait_text(HOOK, "[s3]", WAIT_MS);
    long events = check_stream(HOOK, c.id);
    ck_assert_int_ge(events, 6); /* escalated, delivered x2, joined, 3 messages */
    struct seen_list l = load(HOOK);
    ck_assert_int_eq((long)l.n, events); /* nothing failed, so nothing was sent twice */
    for (size_t i = 0; i < l.n; i++) {
        check_envelope(l.v[i].env, c.id);
        check_headers(&l.v[i].req, 1);
    }
    ck_assert_uint_eq(count_events(HOOK, ANY_STATUS, "agent.joined", NULL, NULL), 1);
    ck_assert_uint_eq(count_events(HOOK, ANY_STATUS, "conversation.escalated", NULL, NULL), 1);
    check_event_data(&l, bot_msg);
    seen_free(&l);
    ck_assert_int_eq(verified(HOOK, p.webhook_secret), (int)events);
    ck_assert_int_eq(verified(HOOK, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0);
    char *log = byocd_log(&b);
    ck_assert_msg(!strstr(log, p.webhook_secret), "the webhook secret reached the log");
    free(log);
}
END_TEST

START_TEST(order_holds_while_another_conversation_fails)
{
    struct conv x, y;
    open_conv(&x);
    open_conv(&y);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = HOOK, .body_contains = "[x1]", .status = 500});
    agent_says(&x, "[x1]");
    agent_says(&x, "[x2]");
    agent_says(&x, "[x3]");
    agent_says(&y, "[y1]");
    agent_says(&y, "[y2]");
    agent_says(&y, "[y3]");
    wait_text(HOOK, "[y3]", WAIT_MS); /* y is not held back by x */
    wait_events(HOOK, 500, "agent.message", "text", "[x1]", 3, WAIT_MS);
    ck_assert_uint_eq(count_text(HOOK, ANY_STATUS, "[x2]"), 0); /* x waits for its [x1] */
    ck_assert_uint_eq(count_text(HOOK, ANY_STATUS, "[x3]"), 0);
    fake_receiver_clear_rules(rx, NULL);
    wait_text(HOOK, "[x3]", WAIT_MS);
    check_stream(HOOK, x.id);
    check_stream(HOOK, y.id);
    ck_assert_uint_eq(count_text(HOOK, 200, "[x1]"), 1);
    ck_assert_uint_eq(count_text(HOOK, ANY_STATUS, "[y1]"), 1);
}
END_TEST

START_TEST(server_error_retried_with_the_same_id)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(rx,
                           &(struct fake_receiver_rule){
                               .path = HOOK, .body_contains = "[r1]", .status = 500, .count = 2});
    agent_says(&c, "[r1]");
    agent_says(&c, "[r2]");
    wait_text(HOOK, "[r2]", WAIT_MS);
    check_stream(HOOK, c.id);
    struct seen_list l = load(HOOK);
    long a0 = text_index(&l, "[r1]", ANY_STATUS, 0), a1 = text_index(&l, "[r1]", ANY_STATUS, 1);
    long a2 = text_index(&l, "[r1]", ANY_STATUS, 2), r2 = text_index(&l, "[r2]", 200, 0);
    ck_assert(a0 >= 0 && a1 > a0 && a2 > a1 && r2 > a2);
    ck_assert_int_eq(text_index(&l, "[r1]", ANY_STATUS, 3), -1);
    ck_assert_int_eq(l.v[a0].req.status, 500);
    ck_assert_int_eq(l.v[a1].req.status, 500);
    ck_assert_int_eq(l.v[a2].req.status, 200);
    ck_assert_str_eq(l.v[a0].req.webhook_id, l.v[a2].req.webhook_id);
    ck_assert_int_le(strtoll(l.v[a0].req.webhook_timestamp, NULL, 10),
                     strtoll(l.v[a2].req.webhook_timestamp, NULL, 10));
    seen_free(&l);
    ck_assert_int_eq(verified(HOOK, p.webhook_secret), (int)fake_receiver_count(rx, HOOK));
    char query[256];
    snprintf(query, sizeof query, "state=delivered&provider_id=%s", p.id);
    cJSON *d = wait_delivery(query, "[r1]", WAIT_MS);
    ck_assert_int_eq(num(d, "attempts"), 3);
    ck_assert_str_eq(byoc_json_str(d, "state"), "delivered");
    cJSON_Delete(d);
}
END_TEST

/* The gap between the first two attempts of text, in ms. */
static long long retry_gap(const char *text)
{
    struct seen_list l = load(HOOK);
    long a0 = text_index(&l, text, ANY_STATUS, 0), a1 = text_index(&l, text, ANY_STATUS, 1);
    ck_assert(a0 >= 0 && a1 > a0);
    ck_assert_str_eq(l.v[a0].req.webhook_id, l.v[a1].req.webhook_id);
    ck_assert_int_eq(l.v[a1].req.status, 200);
    long long gap = l.v[a1].req.at_ms - l.v[a0].req.at_ms;
    seen_free(&l);
    return gap;
}

START_TEST(retry_after_honoured)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = HOOK,
                                                            .body_contains = "[ra1]",
                                                            .status = 429,
                                                            .retry_after_s = RETRY_AFTER_S,
                                                            .count = 1});
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = HOOK,
                                                            .body_contains = "[ra2]",
                                                            .status = 503,
                                                            .retry_after_s = RETRY_AFTER_S,
                                                            .count = 1});
    agent_says(&c, "[ra1]");
    agent_says(&c, "[ra2]");
    wait_text(HOOK, "[ra2]", WAIT_MS);
    check_stream(HOOK, c.id);
    /* RETRY_CAP is 1 s: only Retry-After explains waiting longer */
    ck_assert_int_ge(retry_gap("[ra1]"), RETRY_AFTER_S * 1000 - RETRY_AFTER_SLACK_MS);
    ck_assert_int_ge(retry_gap("[ra2]"), RETRY_AFTER_S * 1000 - RETRY_AFTER_SLACK_MS);
}
END_TEST

/* Replays one dead delivery; the answer must be 202 {"id","state":"pending"}. */
static void replay(const char *dlv)
{
    ck_assert_ptr_nonnull(dlv);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries/%s/replay", dlv);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "POST", path, NULL, 202);
    ck_assert_str_eq(byoc_json_str(j, "id"), dlv);
    ck_assert_str_eq(byoc_json_str(j, "state"), "pending");
    cJSON_Delete(j);
}

/* The first entry of GET /admin/v1/deliveries?query (duplicated, caller frees). */
static cJSON *find_first(const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/admin/v1/deliveries?%s", query);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "deliveries"), 0);
    ck_assert_msg(first, "no delivery with %s", query);
    cJSON *copy = cJSON_Duplicate(first, true);
    cJSON_Delete(j);
    return copy;
}

/* No delivery of webhook wh listed by the admin API went out; returns how many are dead with
 * last_status want_status. */
static int dead_with(const char *wh, int want_status)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries?webhook_id=%s", wh);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    int n = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j, "deliveries"))
    {
        ck_assert_str_eq(byoc_json_str(d, "webhook_id"), wh);
        ck_assert_msg(!eq(byoc_json_str(d, "state"), "delivered") &&
                          !eq(byoc_json_str(d, "state"), "sending"),
                      "a delivery of %s is %s", wh, byoc_json_str(d, "state"));
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(d, "last_status");
        n += eq(byoc_json_str(d, "state"), "dead") && cJSON_IsNumber(last) &&
             last->valueint == want_status;
    }
    cJSON_Delete(j);
    return n;
}

static void wait_state(const char *wh, const char *state)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;
         usleep(POLL_MS * 4 * 1000)) {
        cJSON *w = sub_get(wh);
        bool there = eq(byoc_json_str(w, "state"), state);
        cJSON_Delete(w);
        if (there)
            return;
    }
    ck_abort_msg("webhook %s did not become %s", wh, state);
}

START_TEST(gone_disables_the_subscription)
{
    struct sub g;
    sub_create("/gone", NULL, &g);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/gone", .status = 410});
    struct conv c;
    open_conv(&c);
    wait_state(g.id, "disabled");
    cJSON *w = sub_get(g.id);
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(w, "disabled_reason");
    ck_assert(!reason || cJSON_IsString(reason));
    cJSON_Delete(w);
    agent_says(&c, "[g1]");
    wait_text(HOOK, "[g1]", WAIT_MS);
    agent_says(&c, "[g2]");
    wait_text(HOOK, "[g2]", WAIT_MS); /* later events went out, to the healthy one only */
    ck_assert_uint_eq(fake_receiver_count(rx, "/gone"), 1);
    ck_assert_int_eq(dead_with(g.id, 410), 1);
    w = sub_get(NULL);
    ck_assert_str_eq(byoc_json_str(w, "state"), "enabled"); /* the provider's own is untouched */
    cJSON_Delete(w);
    check_stream(HOOK, c.id);
    /* replaying its dead letter enables it again and delivers the event, same webhook-id */
    fake_receiver_clear_rules(rx, NULL);
    char query[256];
    snprintf(query, sizeof query, "state=dead&webhook_id=%s", g.id);
    cJSON *dead = find_first(query);
    replay(byoc_json_str(dead, "id"));
    wait_state(g.id, "enabled");
    ck_assert(fake_receiver_wait(rx, "/gone", 2, WAIT_MS));
    struct fake_receiver_request again;
    ck_assert(fake_receiver_get(rx, "/gone", 1, &again));
    ck_assert_int_eq(again.status, 200);
    ck_assert_str_eq(again.webhook_id,
                     byoc_json_str(cJSON_GetObjectItemCaseSensitive(dead, "event"), "id"));
    fake_receiver_request_release(&again);
    cJSON_Delete(dead);
}
END_TEST

/* Attempts of text before the delivered one, the delivered one being the last. */
static void check_retried(const char *text, long long min_gap_ms)
{
    struct seen_list l = load(HOOK);
    long first = text_index(&l, text, ANY_STATUS, 0), ok = text_index(&l, text, 200, 0);
    ck_assert(first >= 0 && ok > first);
    ck_assert_int_eq(l.v[first].req.status, 0); /* no answer: hung or closed */
    ck_assert_int_ge(l.v[ok].req.at_ms - l.v[first].req.at_ms, min_gap_ms);
    seen_free(&l);
    char query[256];
    snprintf(query, sizeof query, "state=delivered&provider_id=%s", p.id);
    cJSON *d = wait_delivery(query, text, WAIT_MS);
    ck_assert_int_ge(num(d, "attempts"), 2);
    cJSON_Delete(d);
}

START_TEST(timeout_and_closed_connection_retried)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){
                .path = HOOK, .body_contains = "[h1]", .action = FAKE_RECEIVER_HANG, .count = 1});
    /* two closes: curl may replay a request once by itself when a reused connection closes */
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){
                .path = HOOK, .body_contains = "[c1]", .action = FAKE_RECEIVER_CLOSE, .count = 2});
    agent_says(&c, "[h1]");
    agent_says(&c, "[c1]");
    wait_text(HOOK, "[c1]", WAIT_MS);
    check_stream(HOOK, c.id);
    check_retried("[h1]", TIMEOUT_S * 1000 - RETRY_AFTER_SLACK_MS); /* gave up after 2 s */
    check_retried("[c1]", 0);
}
END_TEST

/* The dead letter of text, checked against what the receiver saw; caller frees. */
static cJSON *dead_letter(const char *text)
{
    char query[256];
    snprintf(query, sizeof query, "state=dead&provider_id=%s", p.id);
    cJSON *d = wait_delivery(query, text, WAIT_MS);
    ck_assert(starts_with(byoc_json_str(d, "id"), "dlv_"));
    ck_assert_str_eq(byoc_json_str(d, "provider_id"), p.id);
    ck_assert_str_eq(byoc_json_str(d, "state"), "dead");
    cJSON *hook = sub_get(NULL);
    ck_assert_str_eq(byoc_json_str(d, "webhook_id"), byoc_json_str(hook, "id"));
    cJSON_Delete(hook);
    struct seen_list l = load(HOOK);
    long first = text_index(&l, text, ANY_STATUS, 0);
    ck_assert_int_ge(first, 0);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(d, "event");
    ck_assert_msg(cJSON_Compare(ev, l.v[first].env, true), "dead letter event differs");
    ck_assert_int_eq(num(d, "attempts"), (int)count_text(HOOK, ANY_STATUS, text));
    ck_assert_int_eq(num(d, "last_status"), 500);
    seen_free(&l);
    return d;
}

START_TEST(dead_letter_replayed)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = HOOK, .body_contains = "[d1]", .status = 500});
    agent_says(&c, "[d1]");
    cJSON *d = dead_letter("[d1]");
    fake_receiver_clear_rules(rx, NULL);
    size_t before = count_text(HOOK, ANY_STATUS, "[d1]");
    replay(byoc_json_str(d, "id"));
    wait_text(HOOK, "[d1]", WAIT_MS);
    ck_assert_uint_eq(count_text(HOOK, ANY_STATUS, "[d1]"), before + 1);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(d, "event");
    struct seen_list l = load(HOOK);
    ck_assert_str_eq(l.v[text_index(&l, "[d1]", 200, 0)].req.webhook_id, byoc_json_str(ev, "id"));
    seen_free(&l);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries/%s/replay", byoc_json_str(d, "id"));
    cJSON_Delete(byocd_call_ok(&b, b.admin_auth, "POST", path, NULL, 409)); /* only dead ones */
    cJSON_Delete(
        byocd_call_ok(&b, b.admin_auth, "POST", "/admin/v1/deliveries/dlv_nope/replay", NULL, 404));
    cJSON_Delete(d);
}
END_TEST

START_TEST(dead_letters_of_a_provider_replayed_in_order)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = HOOK, .body_contains = "[e-", .status = 500});
    agent_says(&c, "[e-1]");
    agent_says(&c, "[e-2]");
    cJSON *d1 = dead_letter("[e-1]");
    char query[256];
    snprintf(query, sizeof query, "state=dead&provider_id=%s", p.id);
    cJSON *d2 = wait_delivery(query, "[e-2]", WAIT_MS);
    fake_receiver_clear_rules(rx, NULL);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/deliveries/replay", p.id);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "POST", path, NULL, 202);
    ck_assert_int_eq(num(j, "replayed"), 2);
    cJSON_Delete(j);
    wait_text(HOOK, "[e-2]", WAIT_MS);
    struct seen_list l = load(HOOK);
    long ok1 = text_index(&l, "[e-1]", 200, 0), ok2 = text_index(&l, "[e-2]", 200, 0);
    ck_assert(ok1 >= 0 && ok2 > ok1); /* original order */
    ck_assert_str_eq(l.v[ok1].req.webhook_id,
                     byoc_json_str(cJSON_GetObjectItem(d1, "event"), "id"));
    ck_assert_str_eq(l.v[ok2].req.webhook_id,
                     byoc_json_str(cJSON_GetObjectItem(d2, "event"), "id"));
    seen_free(&l);
    cJSON *left = find_delivery(query, "[e-1]");
    ck_assert_ptr_null(left);
    cJSON_Delete(d1);
    cJSON_Delete(d2);
}
END_TEST

START_TEST(nothing_lost_or_reordered_across_a_crash)
{
    struct conv c;
    open_conv(&c);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){
                .path = HOOK, .body_contains = "[k1]", .action = FAKE_RECEIVER_HANG, .count = 1});
    agent_says(&c, "[k1]");
    agent_says(&c, "[k2]");
    agent_says(&c, "[k3]");
    wait_events(HOOK, ANY_STATUS, "agent.message", "text", "[k1]", 1, WAIT_MS);
    ck_assert_uint_eq(fake_receiver_hanging(rx), 1); /* in flight when byocd dies */
    byocd_kill(&b);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, byocd_env);
    wait_text(HOOK, "[k3]", RESTART_WAIT_MS);
    long events = check_stream(HOOK, c.id);
    ck_assert_int_ge(events, 6); /* escalated, delivered, joined, k1..k3 */
    ck_assert_uint_ge(count_text(HOOK, ANY_STATUS, "[k1]"), 2);
    ck_assert_uint_eq(count_text(HOOK, 200, "[k2]"), 1);
}
END_TEST

/* A copy of req whose webhook-signature keeps only its n-th entry. */
static struct fake_receiver_request only_signature(const struct fake_receiver_request *req, int n)
{
    struct fake_receiver_request one = *req;
    const char *sig = req->webhook_signature;
    for (int i = 0; i < n && sig; i++) {
        sig = strchr(sig, ' ');
        sig = sig ? sig + 1 : NULL;
    }
    ck_assert_ptr_nonnull(sig);
    size_t len = strcspn(sig, " ");
    snprintf(one.webhook_signature, sizeof one.webhook_signature, "%.*s", (int)len, sig);
    return one;
}

static int verify_one(const struct fake_receiver_request *req, const char *secret)
{
    return sw_verify_requests(secret, req, 1, NULL);
}

/* The delivered request of agent message text; release it. */
static struct fake_receiver_request delivered(const char *text)
{
    struct seen_list l = load(HOOK);
    long i = text_index(&l, text, 200, 0);
    ck_assert_int_ge(i, 0);
    struct fake_receiver_request req = l.v[i].req;
    l.v[i].req.body = NULL; /* handed over */
    seen_free(&l);
    return req;
}

static char *rotate(const char *path, const char *auth, const char *wh)
{
    cJSON *j = byocd_call_ok(&b, auth, "POST", path, NULL, 200);
    ck_assert_str_eq(byoc_json_str(j, "id"), wh);
    ck_assert(starts_with(byoc_json_str(j, "secret"), "whsec_"));
    ck_assert_msg(iso_ms(byoc_json_str(j, "previous_secret_expires_at")),
                  "previous_secret_expires_at %s", byoc_json_str(j, "previous_secret_expires_at"));
    char *secret = strdup(byoc_json_str(j, "secret"));
    cJSON_Delete(j);
    return secret;
}

START_TEST(rotated_secret_signs_with_both)
{
    struct conv c;
    open_conv(&c);
    agent_says(&c, "[pre]");
    wait_text(HOOK, "[pre]", WAIT_MS);
    struct fake_receiver_request pre = delivered("[pre]");
    check_headers(&pre, 1);
    ck_assert_int_eq(verify_one(&pre, p.webhook_secret), 1);
    fake_receiver_request_release(&pre);
    cJSON *hook = sub_get(NULL);
    char wh[64], path[256];
    snprintf(wh, sizeof wh, "%s", byoc_json_str(hook, "id"));
    cJSON_Delete(hook);
    snprintf(path, sizeof path, "/v1/webhooks/%s/rotate-secret", wh);
    char *fresh = rotate(path, bot_auth, wh);
    ck_assert_str_ne(fresh, p.webhook_secret);
    agent_says(&c, "[post]");
    wait_text(HOOK, "[post]", WAIT_MS);
    struct fake_receiver_request post = delivered("[post]");
    check_headers(&post, 2);
    ck_assert_int_eq(verify_one(&post, fresh), 1);
    ck_assert_int_eq(verify_one(&post, p.webhook_secret), 1);
    struct fake_receiver_request first = only_signature(&post, 0);
    struct fake_receiver_request second = only_signature(&post, 1);
    ck_assert_int_eq(verify_one(&first, fresh), 1); /* new first */
    ck_assert_int_eq(verify_one(&first, p.webhook_secret), 0);
    ck_assert_int_eq(verify_one(&second, p.webhook_secret), 1); /* then old */
    fake_receiver_request_release(&post);
    hook = sub_get(wh);
    ck_assert_msg(iso_ms(byoc_json_str(hook, "secret_rotated_at")), "secret_rotated_at");
    cJSON_Delete(hook);
    snprintf(path, sizeof path, "/admin/v1/providers/%s/webhooks/%s/rotate-secret", p.id, wh);
    char *third = rotate(path, b.admin_auth, wh);
    agent_says(&c, "[post2]");
    wait_text(HOOK, "[post2]", WAIT_MS);
    struct fake_receiver_request post2 = delivered("[post2]");
    struct fake_receiver_request newest = only_signature(&post2, 0);
    ck_assert_int_eq(verify_one(&newest, third), 1);
    fake_receiver_request_release(&post2);
    char *log = byocd_log(&b);
    ck_assert_msg(!strstr(log, fresh) && !strstr(log, third), "a webhook secret was logged");
    free(log);
    free(fresh);
    free(third);
    check_stream(HOOK, c.id);
}
END_TEST

/* Requests on path that arrived before the monotonic time end. */
static size_t count_before(const char *path, long long end)
{
    struct seen_list l = load(path);
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += l.v[i].req.at_ms < end;
    seen_free(&l);
    return n;
}

START_TEST(breaker_bounds_attempts_to_a_dead_endpoint)
{
    struct sub dead, live;
    sub_create("/dead", NULL, &dead);
    sub_create("/live", NULL, &live);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/dead", .status = 500});
    struct conv c[2];
    open_conv(&c[0]);
    open_conv(&c[1]); /* two conversations: two heads of line hammering without a breaker */
    ck_assert(fake_receiver_wait(rx, "/dead", 1, WAIT_MS));
    struct fake_receiver_request first;
    ck_assert(fake_receiver_get(rx, "/dead", 0, &first));
    long long end = first.at_ms + BREAKER_WINDOW_MS;
    fake_receiver_request_release(&first);
    int n = 0;
    char text[32];
    while (harness_now_ms() < end) { /* the healthy subscription keeps receiving meanwhile */
        snprintf(text, sizeof text, "[live%d]", n);
        agent_says(&c[n % 2], text);
        wait_text("/live", text, LIVE_WAIT_MS);
        n++;
        usleep(500 * 1000); /* pacing, not a check */
    }
    size_t attempts = count_before("/dead", end);
    size_t bound = BREAKER_THRESHOLD + 2 /* in flight */ +
                   BREAKER_WINDOW_MS / (BREAKER_COOLDOWN_S * 1000) + 1 /* probes */;
    ck_assert_uint_ge(attempts, BREAKER_THRESHOLD);
    ck_assert_msg(attempts <= bound, "%zu attempts on a dead endpoint in %d ms (bound %zu)",
                  attempts, BREAKER_WINDOW_MS, bound);
    fake_receiver_clear_rules(rx, "/dead"); /* healthy again: the next probe closes it */
    wait_text("/dead", text, WAIT_MS);
    for (int i = 0; i < 2; i++) {
        check_stream("/dead", c[i].id);
        check_stream("/live", c[i].id);
    }
    cJSON *w = sub_get(dead.id);
    ck_assert_str_eq(byoc_json_str(w, "state"),
                     "enabled"); /* an open breaker is not a disabled hook */
    cJSON_Delete(w);
    ck_assert_int_eq(verified("/live", live.secret), (int)fake_receiver_count(rx, "/live"));
}
END_TEST

START_TEST(redirect_not_followed)
{
    struct sub moved;
    sub_create("/moved", NULL, &moved);
    char target[256];
    rx_url("/target", target, sizeof target);
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/moved", .status = 301, .location = target});
    struct conv c;
    open_conv(&c);
    agent_says(&c, "[m1]");
    wait_text(HOOK, "[m1]", WAIT_MS);
    ck_assert(fake_receiver_wait(rx, "/moved", 2, WAIT_MS)); /* 3xx failed: tried again */
    ck_assert_uint_eq(fake_receiver_count(rx, "/target"), 0);
    struct fake_receiver_request a, b2;
    ck_assert(fake_receiver_get(rx, "/moved", 0, &a));
    ck_assert(fake_receiver_get(rx, "/moved", 1, &b2));
    ck_assert_str_eq(a.webhook_id, b2.webhook_id); /* the same first event, again */
    fake_receiver_request_release(&a);
    fake_receiver_request_release(&b2);
    check_stream("/moved", c.id);
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries?webhook_id=%s&state=delivered", moved.id);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "deliveries")), 0);
    cJSON_Delete(j);
}
END_TEST

/* Deliveries listed by the admin API for webhook wh. */
static int deliveries_of(const char *wh)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries?webhook_id=%s", wh);
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", path, NULL, 200);
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "deliveries"));
    cJSON_Delete(j);
    return n;
}

START_TEST(filtered_and_deleted_subscriptions)
{
    struct sub only, doomed;
    sub_create("/only", "[\"agent.message\"]", &only);
    sub_create("/doomed", NULL, &doomed);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/doomed", .status = 500});
    struct conv c;
    open_conv(&c);
    ck_assert(fake_receiver_wait(rx, "/doomed", 2, WAIT_MS)); /* failing, so pending */
    ck_assert_int_ge(deliveries_of(doomed.id), 1);
    char path[128];
    snprintf(path, sizeof path, "/v1/webhooks/%s", doomed.id);
    cJSON_Delete(byocd_call_ok(&b, bot_auth, "DELETE", path, NULL, 204));
    size_t attempts = fake_receiver_count(rx, "/doomed");
    ck_assert_int_eq(deliveries_of(doomed.id), 0); /* its pending deliveries went with it */
    agent_says(&c, "[f1]");
    agent_says(&c, "[f2]");
    wait_text(HOOK, "[f2]", WAIT_MS);
    wait_text("/only", "[f2]", WAIT_MS);
    /* one attempt may have been on the wire while it was deleted; no more after that */
    ck_assert_uint_le(fake_receiver_count(rx, "/doomed"), attempts + 1);
    struct seen_list l = load("/only");
    ck_assert_uint_eq(l.n, 2); /* escalated, joined, delivered... filtered out */
    for (size_t i = 0; i < l.n; i++)
        ck_assert_str_eq(byoc_json_str(l.v[i].env, "type"), "agent.message");
    ck_assert_int_lt(seq_of(l.v[0].env), seq_of(l.v[1].env));
    seen_free(&l);
    ck_assert_int_eq(verified("/only", only.secret), 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("webhooks");
    TCase *tc = tcase_create("delivery");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup_default, teardown);
    tcase_add_test(tc, deliveries_signed_and_shaped_as_the_contract_says);
    tcase_add_test(tc, order_holds_while_another_conversation_fails);
    tcase_add_test(tc, server_error_retried_with_the_same_id);
    tcase_add_test(tc, retry_after_honoured);
    tcase_add_test(tc, gone_disables_the_subscription);
    tcase_add_test(tc, timeout_and_closed_connection_retried);
    tcase_add_test(tc, nothing_lost_or_reordered_across_a_crash);
    tcase_add_test(tc, rotated_secret_signs_with_both);
    tcase_add_test(tc, redirect_not_followed);
    tcase_add_test(tc, filtered_and_deleted_subscriptions);
    suite_add_tcase(su, tc);
    TCase *dead = tcase_create("dead letters");
    tcase_set_timeout(dead, 60);
    tcase_add_checked_fixture(dead, setup_dead, teardown);
    tcase_add_test(dead, dead_letter_replayed);
    tcase_add_test(dead, dead_letters_of_a_provider_replayed_in_order);
    suite_add_tcase(su, dead);
    TCase *breaker = tcase_create("breaker");
    tcase_set_timeout(breaker, 60);
    tcase_add_checked_fixture(breaker, setup_breaker, teardown);
    tcase_add_test(breaker, breaker_bounds_attempts_to_a_dead_endpoint);
    suite_add_tcase(su, breaker);
    return su;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
