/* Studio events: what a CXone Studio script posts to /cxone/{provider_id}/studio/events
 * (ESCALATE, END_ESCALATION, ONRELEASE) against conversations opened through the bot API and
 * relayed to the fake CXone; the conversation's state and the events the bot can pull. */
#include <check.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"
#include "byoc/json.h"
#include "byoc/banned.h"

#define CHANNEL "chat-1"
#define THREADS_PATH "/dfo/3.0/channels/" CHANNEL "/threads/"
#define WAIT_MS 15000
#define POLL_US (50 * 1000)
#define TCASE_TIMEOUT_S 60
#define MAX_PAGES 64
#define TYPES_MAX 2048
#define SLOW_CXONE_MS 3000 /* keeps a conversation queued while Studio calls */
#define JSON_CT "Content-Type: application/json"
#define FORM_CT "Content-Type: application/x-www-form-urlencoded"
#define UNKNOWN_CONTACT "987654321"
#define BOB_AVATAR "https://img.example.com/bob.png"

static struct byocd b;
static struct byoc_cxsim *f;
static struct provider p;
static char bot_auth[256];
static const char *const fast_env[] = {"BYOCD_RELAY_RETRY_CAP=1", "BYOCD_RELAY_LEASE=5",
                                       "BYOCD_WEBHOOK_ALLOW_PRIVATE=1", NULL};

/* ---- small helpers ---- */

static long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static const cJSON *data(const cJSON *e)
{
    return cJSON_GetObjectItemCaseSensitive(e, "data");
}

static const char *err_code(const cJSON *j)
{
    return byoc_json_str(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
}

/* POST with the given header lines (NULL-terminated); the parsed answer (or NULL). */
static cJSON *post(const char *path, const char *const *headers, const char *body, long *status)
{
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert_msg(test_http("POST", url, headers, body, strlen(body), &r), "POST %s", path);
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

static cJSON *bot(const char *method, const char *path, const char *body, long *status)
{
    return byocd_call(&b, bot_auth, method, path, body, status);
}

/* A Studio call to provider_id's endpoint; secret NULL sends no Authorization header. */
static cJSON *studio_as(const char *provider_id, const char *secret, bool form, const char *body,
                        long *status)
{
    char path[128], auth[256];
    snprintf(path, sizeof path, "/cxone/%s/studio/events", provider_id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret ? secret : "");
    const char *h[] = {form ? FORM_CT : JSON_CT, secret ? auth : NULL, NULL};
    return post(path, h, body, status);
}

static cJSON *studio_json(const char *body, long *status)
{
    return studio_as(p.id, p.studio_secret, false, body, status);
}

static cJSON *studio_form(const char *body, long *status)
{
    return studio_as(p.id, p.studio_secret, true, body, status);
}

/* Asserts a 200 Studio answer. */
static void assert_answer(const cJSON *j, long status, const char *conv, const char *event,
                          const char *state, bool changed)
{
    ck_assert_msg(status == 200, "studio %s answered %ld", event, status);
    ck_assert_str_eq(byoc_json_str(j, "conversation_id"), conv);
    ck_assert_str_eq(byoc_json_str(j, "event"), event);
    ck_assert_str_eq(byoc_json_str(j, "state"), state);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "changed");
    ck_assert_msg(cJSON_IsBool(c) && cJSON_IsTrue(c) == changed, "%s: changed should be %d", event,
                  changed);
}

/* Sends body (JSON or form) and asserts the answer; frees it. */
static void studio_expect(bool form, const char *body, const char *conv, const char *event,
                          const char *state, bool changed)
{
    long st = 0;
    cJSON *j = form ? studio_form(body, &st) : studio_json(body, &st);
    assert_answer(j, st, conv, event, state, changed);
    cJSON_Delete(j);
}

/* ---- fixtures ---- */

static void setup(void)
{
    f = test_cxsim_start();
    byocd_start(&b, NULL, fast_env);
    provider_create(&b, byoc_cxsim_url(f), "int-1", &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", p.id);
    long st = 0;
    cJSON_Delete(byocd_call(&b, b.admin_auth, "POST", path,
                            "{\"channel_id\":\"" CHANNEL "\",\"name\":\"Chat\"}", &st));
    ck_assert_int_eq(st, 201);
    byoc_cxsim_add_channel(f, CHANNEL, "Chat", "int-1");
}

static void teardown(void)
{
    provider_release(&p);
    ck_assert_int_eq(byocd_stop(&b), 0);
    byoc_cxsim_stop(f);
}

/* ---- conversations and their events ---- */

static void open_conversation(char out[64])
{
    long st = 0;
    cJSON *j = bot("POST", "/v1/conversations",
                   "{\"end_user\":{\"id\":\"user-9\"},\"transcript\":[{\"role\":\"user\","
                   "\"text\":\"I want a human\"}]}",
                   &st);
    ck_assert_int_eq(st, 201);
    snprintf(out, 64, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
}

static cJSON *get_conversation(const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/conversations/%s", id);
    long st = 0;
    cJSON *j = bot("GET", path, NULL, &st);
    ck_assert_int_eq(st, 200);
    return j;
}

static cJSON *wait_state(const char *id, const char *state)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(POLL_US)) {
        cJSON *c = get_conversation(id);
        if (byoc_json_str(c, "state") && strcmp(byoc_json_str(c, "state"), state) == 0)
            return c;
        cJSON_Delete(c);
    }
    ck_abort_msg("conversation %s never reached %s", id, state);
    return NULL;
}

static void assert_state(const char *id, const char *state)
{
    cJSON *c = get_conversation(id);
    ck_assert_str_eq(byoc_json_str(c, "state"), state);
    cJSON_Delete(c);
}

/* Opens a conversation CXone accepted; its id and CXone contact id (digits) out. */
static void escalated_conversation(char id[64], char contact[64])
{
    open_conversation(id);
    cJSON *c = wait_state(id, "escalated");
    const char *cid = byoc_json_str(cJSON_GetObjectItemCaseSensitive(c, "cxone"), "contact_id");
    ck_assert_ptr_nonnull(cid);
    for (const char *d = cid; *d; d++)
        ck_assert_msg(isdigit((unsigned char)*d), "contact id %s is not a number", cid);
    snprintf(contact, 64, "%s", cid);
    cJSON_Delete(c);
}

/* Every event of the conversation (a new array, caller frees). */
static cJSON *all_events(const char *conv)
{
    cJSON *all = cJSON_CreateArray();
    long after = 0;
    for (int page = 0; page < MAX_PAGES; page++) {
        char path[192];
        snprintf(path, sizeof path, "/v1/conversations/%s/events?after=%ld", conv, after);
        long st = 0;
        cJSON *j = bot("GET", path, NULL, &st);
        ck_assert_msg(st == 200, "events of %s: %ld", conv, st);
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events"), *e;
        int n = cJSON_GetArraySize(evs);
        cJSON_ArrayForEach(e, evs)
        {
            cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
        }
        after = num(j, "next_after");
        cJSON_Delete(j);
        if (n == 0)
            return all;
    }
    ck_abort_msg("events of %s did not end within %d pages", conv, MAX_PAGES);
    return NULL;
}

static int count_type(const cJSON *events, const char *type)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        n += byoc_json_str(e, "type") && strcmp(byoc_json_str(e, "type"), type) == 0;
    }
    return n;
}

static const cJSON *nth_of_type(const cJSON *events, const char *type, int n)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        if (byoc_json_str(e, "type") && strcmp(byoc_json_str(e, "type"), type) == 0 && n-- == 0)
            return e;
    }
    return NULL;
}

/* "a,b,c" of the types, without the message.* ones (bot message outcomes are not Studio's). */
static void studio_types(const cJSON *events, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const char *t = byoc_json_str(e, "type") ? byoc_json_str(e, "type") : "?";
        if (strncmp(t, "message.", 8) == 0)
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", t);
        ck_assert(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
}

/* seq 1..N in order, all of this conversation. */
static void assert_seq(const cJSON *events, const char *conv)
{
    long want = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        ck_assert_str_eq(byoc_json_str(e, "conversation_id"), conv);
        ck_assert_str_eq(byoc_json_str(e, "provider_id"), p.id);
        ck_assert_msg(num(e, "seq") == want, "%s: seq %ld, want %ld", byoc_json_str(e, "type"),
                      num(e, "seq"), want);
        want++;
    }
}

static void assert_types(const char *conv, const char *want)
{
    char types[TYPES_MAX];
    cJSON *all = all_events(conv);
    assert_seq(all, conv);
    studio_types(all, types, sizeof types);
    ck_assert_str_eq(types, want);
    cJSON_Delete(all);
}

/* An agent's name in event data, whether Studio gave a string or an object. */
static const char *agent_name(const cJSON *d)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "agent");
    return cJSON_IsString(a) ? a->valuestring : byoc_json_str(a, "name");
}

static cJSON *unmatched(void)
{
    char path[160];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/studio-events?unmatched=true", p.id);
    long st = 0;
    cJSON *j = byocd_call(&b, b.admin_auth, "GET", path, NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "studio_events")));
    return j;
}

static int unmatched_count(void)
{
    cJSON *j = unmatched();
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "studio_events"));
    cJSON_Delete(j);
    return n;
}

/* ---- tests ---- */

START_TEST(event_names_and_body_shapes)
{
    char id[64], c[64], body[512];
    escalated_conversation(id, c);
    snprintf(body, sizeof body, "{\"event\":\"END ESCALATION\",\"contactId\":\"%s\"}", c);
    studio_expect(false, body, id, "END_ESCALATION", "bot", true);
    assert_state(id, "bot");
    snprintf(body, sizeof body, "event=end_escalation&contactId=%s", c);
    studio_expect(true, body, id, "END_ESCALATION", "bot", false);
    snprintf(body, sizeof body, "{\"event\":\"END-ESCALATION\",\"contactId\":%s}", c);
    studio_expect(false, body, id, "END_ESCALATION", "bot", false);
    snprintf(body, sizeof body, "{\"event\":\"escalate\",\"contactId\":%s}", c);
    studio_expect(false, body, id, "ESCALATE", "escalated", true);
    snprintf(body, sizeof body, "event=ESCALATE&contactId=%s", c);
    studio_expect(true, body, id, "ESCALATE", "escalated", false);
    snprintf(body, sizeof body, "event=END_ESCALATION&contactId=%s", c);
    studio_expect(true, body, id, "END_ESCALATION", "bot", true);
    snprintf(body, sizeof body, "event=Escalate&contactId=%s", c);
    studio_expect(true, body, id, "ESCALATE", "escalated", true);
    assert_state(id, "escalated");
    assert_types(id, "conversation.escalated,conversation.escalation_ended,"
                     "conversation.escalated,conversation.escalation_ended,"
                     "conversation.escalated");
    cJSON *all = all_events(id);
    ck_assert_str_eq(byoc_json_str(data(nth_of_type(all, "conversation.escalated", 0)), "source"),
                     "relay");
    ck_assert_str_eq(byoc_json_str(data(nth_of_type(all, "conversation.escalated", 1)), "source"),
                     "studio");
    ck_assert_str_eq(byoc_json_str(data(nth_of_type(all, "conversation.escalated", 2)), "source"),
                     "studio");
    ck_assert_str_eq(
        byoc_json_str(data(nth_of_type(all, "conversation.escalation_ended", 0)), "contact_id"), c);
    cJSON_Delete(all);
}
END_TEST

START_TEST(agent_skill_and_reason_reflected)
{
    char id[64], c[64], body[512];
    escalated_conversation(id, c);
    snprintf(body, sizeof body,
             "{\"event\":\"END_ESCALATION\",\"contactId\":\"%s\",\"reason\":\"agent busy\"}", c);
    studio_expect(false, body, id, "END_ESCALATION", "bot", true);
    snprintf(body, sizeof body,
             "{\"event\":\"ESCALATE\",\"contactId\":%s,\"agent\":\"Ada Lovelace\","
             "\"skill\":\"sk-7\",\"reason\":\"needs billing\"}",
             c);
    studio_expect(false, body, id, "ESCALATE", "escalated", true);
    snprintf(body, sizeof body, "event=END+ESCALATION&contactId=%s&reason=back%%20to+bot", c);
    studio_expect(true, body, id, "END_ESCALATION", "bot", true);
    snprintf(body, sizeof body,
             "{\"event\":\"ESCALATE\",\"contactId\":\"%s\",\"agent\":{\"name\":\"Bob Builder\","
             "\"avatar_url\":\"" BOB_AVATAR "\"}}",
             c);
    studio_expect(false, body, id, "ESCALATE", "escalated", true);
    cJSON *all = all_events(id);
    const cJSON *ended1 = data(nth_of_type(all, "conversation.escalation_ended", 0));
    const cJSON *esc1 = data(nth_of_type(all, "conversation.escalated", 1));
    const cJSON *ended2 = data(nth_of_type(all, "conversation.escalation_ended", 1));
    const cJSON *esc2 = data(nth_of_type(all, "conversation.escalated", 2));
    ck_assert_str_eq(byoc_json_str(ended1, "reason"), "agent busy");
    ck_assert_str_eq(byoc_json_str(esc1, "source"), "studio");
    ck_assert_str_eq(byoc_json_str(esc1, "skill"), "sk-7");
    ck_assert_str_eq(byoc_json_str(esc1, "reason"), "needs billing");
    ck_assert_str_eq(agent_name(esc1), "Ada Lovelace");
    ck_assert_str_eq(byoc_json_str(ended2, "reason"), "back to bot"); /* form decoding: %20 and + */
    ck_assert_str_eq(agent_name(esc2), "Bob Builder");
    ck_assert_str_eq(byoc_json_str(cJSON_GetObjectItemCaseSensitive(esc2, "agent"), "avatar_url"),
                     BOB_AVATAR);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(esc2, "skill")); /* omitted, not null */
    cJSON_Delete(all);
}
END_TEST

START_TEST(repeated_call_changes_nothing)
{
    char id[64], c[64], body[256];
    escalated_conversation(id, c);
    cJSON *before = all_events(id);
    snprintf(body, sizeof body, "{\"event\":\"ESCALATE\",\"contactId\":\"%s\"}", c);
    studio_expect(false, body, id, "ESCALATE", "escalated", false); /* the relay got there first */
    cJSON *after = all_events(id);
    ck_assert_int_eq(cJSON_GetArraySize(after), cJSON_GetArraySize(before));
    cJSON_Delete(after);
    snprintf(body, sizeof body, "{\"event\":\"END_ESCALATION\",\"contactId\":\"%s\"}", c);
    studio_expect(false, body, id, "END_ESCALATION", "bot", true);
    studio_expect(false, body, id, "END_ESCALATION", "bot", false);
    after = all_events(id);
    ck_assert_int_eq(cJSON_GetArraySize(after), cJSON_GetArraySize(before) + 1);
    ck_assert_int_eq(count_type(after, "conversation.escalation_ended"), 1);
    cJSON_Delete(after);
    cJSON_Delete(before);
}
END_TEST

START_TEST(found_by_thread_id_while_queued)
{
    byoc_cxsim_set_delay_ms(f, SLOW_CXONE_MS); /* CXone has not told byocd its contact id yet */
    char id[64], other[64], body[512];
    open_conversation(id);
    cJSON *c = get_conversation(id);
    ck_assert_str_eq(byoc_json_str(c, "state"), "queued");
    snprintf(body, sizeof body,
             "{\"event\":\"ESCALATE\",\"contactId\":\"" UNKNOWN_CONTACT "\",\"threadId\":\"%s\"}",
             byoc_json_str(c, "thread_id"));
    studio_expect(false, body, id, "ESCALATE", "escalated", true);
    cJSON_Delete(c);
    open_conversation(other); /* threadId may also be byocd's conversation id */
    snprintf(body, sizeof body, "event=END_ESCALATION&contactId=" UNKNOWN_CONTACT "&threadId=%s",
             other);
    studio_expect(true, body, other, "END_ESCALATION", "bot", true);
    byoc_cxsim_set_delay_ms(f, 0);
    for (long long end = harness_now_ms() + WAIT_MS;
         byoc_cxsim_message_count(f) < 2 && harness_now_ms() < end;)
        usleep(POLL_US);
    cJSON_Delete(wait_state(id, "escalated")); /* CXone's later acceptance: no second event */
    c = get_conversation(id);
    const char *contact = byoc_json_str(cJSON_GetObjectItemCaseSensitive(c, "cxone"), "contact_id");
    for (long long end = harness_now_ms() + WAIT_MS; !contact && harness_now_ms() < end;
         usleep(POLL_US)) {
        cJSON_Delete(c);
        c = get_conversation(id);
        contact = byoc_json_str(cJSON_GetObjectItemCaseSensitive(c, "cxone"), "contact_id");
    }
    ck_assert_ptr_nonnull(contact);
    cJSON_Delete(c);
    cJSON *all = all_events(id);
    ck_assert_int_eq(count_type(all, "conversation.escalated"), 1);
    ck_assert_str_eq(byoc_json_str(data(nth_of_type(all, "conversation.escalated", 0)), "source"),
                     "studio");
    cJSON_Delete(all);
    ck_assert_int_eq(unmatched_count(), 0);
}
END_TEST

START_TEST(unknown_contact_is_404_and_kept)
{
    long st = 0;
    cJSON *j = studio_json("{\"event\":\"ESCALATE\",\"contactId\":\"" UNKNOWN_CONTACT
                           "\",\"threadId\":\"thread-nobody\"}",
                           &st);
    ck_assert_int_eq(st, 404);
    ck_assert_str_eq(err_code(j), "not_found");
    ck_assert_ptr_nonnull(byoc_json_str(j, "request_id"));
    cJSON_Delete(j);
    j = studio_form("event=ONRELEASE&contactId=424242", &st);
    ck_assert_int_eq(st, 404);
    cJSON_Delete(j);
    cJSON *list = unmatched();
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(list, "studio_events");
    ck_assert_int_eq(cJSON_GetArraySize(evs), 2);
    const cJSON *first = cJSON_GetArrayItem(evs, 0), *second = cJSON_GetArrayItem(evs, 1);
    ck_assert_ptr_nonnull(byoc_json_str(first, "id"));
    ck_assert_str_eq(byoc_json_str(first, "event"), "ESCALATE");
    ck_assert_str_eq(byoc_json_str(first, "contact_id"), UNKNOWN_CONTACT);
    ck_assert_str_eq(byoc_json_str(first, "thread_id"), "thread-nobody");
    ck_assert_ptr_null(byoc_json_str(first, "conversation_id"));
    ck_assert_ptr_nonnull(byoc_json_str(first, "received_at"));
    ck_assert_str_eq(byoc_json_str(second, "event"), "ONRELEASE");
    ck_assert_str_eq(byoc_json_str(second, "contact_id"), "424242");
    cJSON_Delete(list);
}
END_TEST

START_TEST(bad_or_missing_secret_is_401)
{
    char id[64], c[64], body[256];
    escalated_conversation(id, c);
    cJSON *before = all_events(id);
    struct provider q;
    provider_create(&b, byoc_cxsim_url(f), NULL, &q);
    snprintf(body, sizeof body, "{\"event\":\"ONRELEASE\",\"contactId\":\"%s\"}", c);
    const char *nobody = "{\"event\":\"ESCALATE\",\"contactId\":\"" UNKNOWN_CONTACT "\"}";
    long st = 0;
    const struct {
        const char *provider, *secret, *body;
    } bad[] = {
        {p.id, NULL, body},
        {p.id, "bys_wrong", body},
        {p.id, q.studio_secret, body},
        {p.id, p.bot_api_key, body},
        {p.id, NULL, nobody},
        {p.id, "bys_wrong", nobody},
        {q.id, p.studio_secret, body},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = studio_as(bad[i].provider, bad[i].secret, false, bad[i].body, &st);
        ck_assert_msg(st == 401, "case %zu answered %ld", i, st);
        ck_assert_str_eq(err_code(j), "unauthorized");
        cJSON_Delete(j);
    }
    assert_state(id, "escalated");
    cJSON *after = all_events(id);
    ck_assert_int_eq(cJSON_GetArraySize(after), cJSON_GetArraySize(before));
    ck_assert_int_eq(unmatched_count(), 0);
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "PUT", THREADS_PATH), 0);
    cJSON_Delete(after);
    cJSON_Delete(before);
    provider_release(&q);
}
END_TEST

/* A Studio call that must be refused with 400; the body is built from fmt. */
__attribute__((format(printf, 2, 3))) static void expect_400(bool form, const char *fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    long st = 0;
    cJSON *j = form ? studio_form(body, &st) : studio_json(body, &st);
    ck_assert_msg(st == 400, "%s answered %ld", body, st);
    ck_assert_str_eq(err_code(j), "invalid_request");
    cJSON_Delete(j);
}

START_TEST(bad_bodies_are_400)
{
    char id[64], c[64], body[256];
    escalated_conversation(id, c);
    expect_400(false, "{\"event\":\"ESCALATE\"}");
    expect_400(false, "{\"event\":\"ESCALATE\",\"contactId\":\"\"}");
    expect_400(false, "{\"event\":\"ESCALATE\",\"contactId\":true}");
    expect_400(false, "{\"event\":\"ESCALATE\",\"contactId\":{\"id\":%s}}", c);
    expect_400(false, "{\"contactId\":\"%s\"}", c);
    expect_400(false, "{\"event\":\"TRANSFER\",\"contactId\":\"%s\"}", c);
    expect_400(false, "{\"event\":\"\",\"contactId\":\"%s\"}", c);
    long st = 0; /* not JSON at all: the HTTP layer's own code */
    snprintf(body, sizeof body, "{\"event\":\"ESCALATE\",\"contactId\":\"%s\"", c);
    cJSON *j = studio_json(body, &st);
    ck_assert_int_eq(st, 400);
    ck_assert_str_eq(err_code(j), "invalid_json");
    cJSON_Delete(j);
    expect_400(true, "event=ESCALATE");
    expect_400(true, "event=HOLD&contactId=%s", c);
    /* present but unusable is refused, not taken as absent */
    char longid[301];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    expect_400(false, "{\"event\":\"ESCALATE\",\"contactId\":\"%s\",\"threadId\":\"%s\"}", c,
               longid);
    expect_400(true, "event=ESCALATE&contactId=%s&threadId=%s", c, longid);
    expect_400(false, "{\"event\":\"ESCALATE\",\"contactId\":\"%s\",\"skill\":{\"id\":1}}", c);
    assert_state(id, "escalated");
    assert_types(id, "conversation.escalated");
    ck_assert_int_eq(unmatched_count(), 0);
}
END_TEST

START_TEST(onrelease_ends_the_conversation)
{
    char id[64], c[64], body[256], path[128];
    escalated_conversation(id, c);
    snprintf(body, sizeof body,
             "{\"event\":\"ONRELEASE\",\"contactId\":\"%s\",\"reason\":\"agent closed\"}", c);
    studio_expect(false, body, id, "ONRELEASE", "ended", true);
    cJSON *conv = get_conversation(id);
    ck_assert_str_eq(byoc_json_str(conv, "state"), "ended");
    ck_assert_str_eq(byoc_json_str(conv, "ended_by"), "agent");
    cJSON_Delete(conv);
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", id);
    long st = 0;
    cJSON *j = bot("POST", path, "{\"text\":\"still there?\"}", &st);
    ck_assert_int_eq(st, 409);
    ck_assert_str_eq(err_code(j), "conversation_closed");
    cJSON_Delete(j);
    for (long long end = harness_now_ms() + WAIT_MS;
         byoc_cxsim_call_count(f, "PUT", THREADS_PATH) < 1 && harness_now_ms() < end;)
        usleep(POLL_US); /* byocd closes the thread in CXone too */
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "PUT", THREADS_PATH), 1);
    assert_types(id, "conversation.escalated,conversation.released,conversation.ended");
    cJSON *all = all_events(id);
    const cJSON *released = nth_of_type(all, "conversation.released", 0);
    const cJSON *ended = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
    ck_assert_str_eq(byoc_json_str(data(released), "contact_id"), c);
    ck_assert_str_eq(byoc_json_str(data(released), "reason"), "agent closed");
    ck_assert_str_eq(byoc_json_str(ended, "type"), "conversation.ended");
    ck_assert_int_eq(num(ended, "seq"), num(released, "seq") + 1);
    ck_assert_str_eq(byoc_json_str(data(ended), "by"), "agent");
    int total = cJSON_GetArraySize(all);
    cJSON_Delete(all);
    snprintf(body, sizeof body, "event=ONRELEASE&contactId=%s", c); /* after the end: no-ops */
    studio_expect(true, body, id, "ONRELEASE", "ended", false);
    snprintf(body, sizeof body, "{\"event\":\"ESCALATE\",\"contactId\":%s}", c);
    studio_expect(false, body, id, "ESCALATE", "ended", false);
    all = all_events(id);
    ck_assert_int_eq(cJSON_GetArraySize(all), total);
    cJSON_Delete(all);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("studio");
    TCase *tc = tcase_create("studio");
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, event_names_and_body_shapes);
    tcase_add_test(tc, agent_skill_and_reason_reflected);
    tcase_add_test(tc, repeated_call_changes_nothing);
    tcase_add_test(tc, found_by_thread_id_while_queued);
    tcase_add_test(tc, unknown_contact_is_404_and_kept);
    tcase_add_test(tc, bad_or_missing_secret_is_401);
    tcase_add_test(tc, bad_bodies_are_400);
    tcase_add_test(tc, onrelease_ends_the_conversation);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
