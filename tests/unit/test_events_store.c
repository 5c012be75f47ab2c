/*
 * The events half of byoc/store.h on SQLite: the transactional outbox (every state change writes
 * its events in the same transaction), the fan-out to subscriptions, delivery claims (head of
 * line per subscription and conversation, per-endpoint caps, circuit breaker probes), outcomes,
 * dead letters and replay, the Studio script's calls, and the event listener.
 *
 * Every test uses a fresh ":memory:" store holding two providers: prov (inactivity timeout
 * INACTIVITY_S) and other. Both were created with a webhook_url, so each already has its first
 * subscription "wh_<provider id>" (every event type). Time is explicit: every write carries its
 * own "now".
 */
#include "byoc/store.h"

#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "byoc/json.h"
#include "byoc/provider.h"
#include "byoc/banned.h"

#define NOW_MS 1700000000000LL
#define DEADLINE_MS 3600000LL /* outbound messages give up an hour after they were queued */
#define LEASE_MS 60000LL
#define PROBE_MS 20000LL
#define COOLDOWN_MS 60000LL
#define BREAKER 3 /* consecutive failures that open a circuit, in these tests */
#define INACTIVITY_S 30
#define PAYLOAD "{\"text\":\"hello\"}"
#define RAW "{\"text\":\"agent says hi\"}"
#define OPEN_FAILED "the conversation could not be opened in CXone"
#define FILTER_B "[\"message.delivered\",\"conversation.ended\"]"

static struct byoc_store *store;
static struct byoc_keys keys;
static struct byoc_provider prov;    /* inactivity_timeout_s = INACTIVITY_S */
static struct byoc_provider other;   /* inactivity_timeout_s = 0 */
static char hook_a[BYOC_ID_MAX + 3]; /* prov's first subscription, from its webhook_url */
static char hook_other[BYOC_ID_MAX + 3];

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */

static void keys_fill(void)
{
    for (size_t i = 0; i < BYOC_KEY_LEN; i++) {
        keys.seal[i] = (uint8_t)(0x21 + i);
        keys.jwt[i] = (uint8_t)(0x91 + i);
    }
}

static void provider_given(struct byoc_provider *p, const char *name, int64_t inactivity_s,
                           int64_t now)
{
    struct byoc_provider_input in = {
        .name = name,
        .webhook_url = "https://bot.example.com/hook",
        .auth_url = "https://cxone.example.com/auth/token",
        .api_base_url = "https://api.example.com/",
        .client_id = "cx-client",
        .client_secret = "cx-client-secret",
        .access_key_id = "ak-id",
        .access_key_secret = "ak-secret",
        .inactivity_timeout_s = inactivity_s,
    };
    struct byoc_provider_secrets sec;
    ck_assert_int_eq(byoc_provider_build(&keys, &in, now, p, &sec), BYOC_ERR_OK);
    byoc_provider_secrets_wipe(&sec);
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = p};
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
}

static void setup(void)
{
    keys_fill();
    memset(&prov, 0, sizeof prov);
    memset(&other, 0, sizeof other);
    store = NULL;
    char why[256] = "";
    ck_assert_msg(byoc_store_open(":memory:", &store, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    provider_given(&prov, "Acme Support", INACTIVITY_S, NOW_MS - 10000);
    provider_given(&other, "Other Corp", 0, NOW_MS - 9000);
    snprintf(hook_a, sizeof hook_a, "wh_%s", prov.id);
    snprintf(hook_other, sizeof hook_other, "wh_%s", other.id);
}

static void teardown(void)
{
    byoc_store_on_events(store, NULL, NULL);
    byoc_store_close(store);
    store = NULL;
    byoc_provider_release(&prov);
    byoc_provider_release(&other);
}

/* ------------------------------------------------------------------------------------------ */
/* Relay builders (conversations, bot messages, CXone outcomes)                                */

/* The id of message number k (1-based) opened with conversation conv. */
static const char *mid(char buf[BYOC_ID_MAX], const char *conv, size_t k)
{
    snprintf(buf, BYOC_ID_MAX, "out_%s_%zu", conv, k);
    return buf;
}

static struct byoc_outbound out_of(const char *id, const char *conv_id, enum byoc_out_kind kind,
                                   const char *client_id, int64_t at)
{
    struct byoc_outbound m = {.kind = kind,
                              .client_message_id = (char *)client_id,
                              .payload = (char *)PAYLOAD,
                              .created_at = at,
                              .next_attempt_at = at,
                              .deadline_at = at + DEADLINE_MS};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.conversation_id, sizeof m.conversation_id, "%s", conv_id);
    return m;
}

#define MAX_OPEN 8

/* Opens conversation id (thread "t-<id>") of provider_id with messages of the given kinds, ids
 * mid(id, 1..n); inactive_at 0: none. */
static enum byoc_err open_kinds(const char *provider_id, const char *id, int64_t at,
                                int64_t inactive_at, const enum byoc_out_kind *kinds, size_t n,
                                const struct byoc_idem *idem, struct byoc_write *w)
{
    ck_assert_uint_le(n, MAX_OPEN);
    char thread[BYOC_ID_MAX + 2];
    snprintf(thread, sizeof thread, "t-%s", id);
    struct byoc_conversation c = {.channel_id = (char *)"ch-1",
                                  .thread_id = thread,
                                  .end_user_id = (char *)"user-7",
                                  .end_user_json = (char *)"{\"id\":\"user-7\"}",
                                  .reason = (char *)"wants a human",
                                  .skill_id = (char *)"skill-9",
                                  .state = BYOC_CONV_QUEUED,
                                  .created_at = at,
                                  .updated_at = at,
                                  .inactive_at = inactive_at};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.provider_id, sizeof c.provider_id, "%s", provider_id);
    struct byoc_outbound msgs[MAX_OPEN];
    char buf[BYOC_ID_MAX];
    for (size_t i = 0; i < n; i++)
        msgs[i] = out_of(mid(buf, id, i + 1), id, kinds[i], NULL, at);
    *w = (struct byoc_write){.kind = BYOC_WRITE_CONVERSATION_OPEN};
    w->in.open.conv = &c;
    w->in.open.msgs = msgs;
    w->in.open.nmsgs = n;
    w->in.open.idem = idem;
    return byoc_store_write(store, w);
}

/* Opens a conversation of provider_id with ntext texts; asserts success and no events. */
static void open_for(const char *provider_id, const char *id, size_t ntext, int64_t at)
{
    enum byoc_out_kind kinds[MAX_OPEN];
    for (size_t i = 0; i < ntext; i++)
        kinds[i] = BYOC_OUT_TEXT;
    struct byoc_write w;
    ck_assert_int_eq(open_kinds(provider_id, id, at, 0, kinds, ntext, NULL, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.events, 0); /* opening is not an event */
}

static void open_texts(const char *id, size_t ntext, int64_t at)
{
    open_for(prov.id, id, ntext, at);
}

static struct byoc_relay_job *relay_claim(int64_t now)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_CLAIM};
    w.in.claim.now = now;
    w.in.claim.lease_ms = LEASE_MS;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert_msg(w.out.job != NULL, "nothing claimable at %lld", (long long)now);
    return w.out.job;
}

struct relay_result {
    enum byoc_out_state state;
    int64_t now;
    const char *last_error, *contact_id, *case_id, *interaction_id;
};

/* Reports job's outcome as the relay does; the write (its events count in *events). */
static enum byoc_err relay_report(const struct byoc_relay_job *job, int64_t attempt,
                                  const struct relay_result *r, int *events)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_OUTCOME};
    w.in.outcome.message_id = job->msg.id;
    w.in.outcome.conversation_id = job->conv.id;
    w.in.outcome.client_message_id = job->msg.client_message_id;
    w.in.outcome.state = r->state;
    w.in.outcome.attempt = attempt;
    w.in.outcome.text = job->msg.kind == BYOC_OUT_TEXT;
    w.in.outcome.next_attempt_at = r->now;
    w.in.outcome.now = r->now;
    w.in.outcome.last_error = r->last_error;
    w.in.outcome.contact_id = r->contact_id;
    w.in.outcome.case_id = r->case_id;
    w.in.outcome.interaction_id = r->interaction_id;
    enum byoc_err e = byoc_store_write(store, &w);
    if (events)
        *events = w.events;
    return e;
}

/* Claims the next due bot message, asserts it is want_id, reports it delivered (CXone's
 * contact "contact-<conv>"); returns the events that write added. */
static int deliver_next(const char *want_id, int64_t now)
{
    struct byoc_relay_job *job = relay_claim(now);
    ck_assert_str_eq(job->msg.id, want_id);
    char contact[BYOC_ID_MAX + 16];
    snprintf(contact, sizeof contact, "contact-%s", job->conv.id);
    struct relay_result r = {.state = BYOC_OUT_DELIVERED,
                             .now = now,
                             .contact_id = contact,
                             .case_id = "case-1",
                             .interaction_id = "int-1"};
    int events = -1;
    ck_assert_int_eq(relay_report(job, job->msg.attempts, &r, &events), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    return events;
}

/* Claims the next due bot message, asserts it is want_id, reports it failed for good. */
static int fail_next(const char *want_id, const char *error, int64_t now)
{
    struct byoc_relay_job *job = relay_claim(now);
    ck_assert_str_eq(job->msg.id, want_id);
    struct relay_result r = {.state = BYOC_OUT_FAILED, .now = now, .last_error = error};
    int events = -1;
    ck_assert_int_eq(relay_report(job, job->msg.attempts, &r, &events), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    return events;
}

static enum byoc_err end_conv_w(const char *provider_id, const char *conv_id, const char *by,
                                const char *reason, const char *close_id,
                                const struct byoc_idem *idem, int64_t now, struct byoc_write *w)
{
    struct byoc_outbound close = out_of(close_id, conv_id, BYOC_OUT_CLOSE, NULL, now);
    *w = (struct byoc_write){.kind = BYOC_WRITE_CONVERSATION_END};
    w->in.end.provider_id = provider_id;
    w->in.end.conversation_id = conv_id;
    w->in.end.ended_by = by;
    w->in.end.reason = reason;
    w->in.end.close_msg = &close;
    w->in.end.idem = idem;
    w->in.end.now = now;
    return byoc_store_write(store, w);
}

static enum byoc_err end_conv(const char *provider_id, const char *conv_id, const char *by,
                              const char *reason, const char *close_id, int64_t now)
{
    struct byoc_write w;
    return end_conv_w(provider_id, conv_id, by, reason, close_id, NULL, now, &w);
}

static struct byoc_idem idem_of(const char *key, const char *request, int status, const char *body)
{
    struct byoc_idem k = {.key = key, .status = status, .body = body};
    byoc_sha256(request, strlen(request), k.request_hash);
    return k;
}

/* An agent reply to thread "t-<conv>" by agent; the write's events count, or -1 on error. */
static int agent_reply_w(const char *provider_id, const char *msg_id, const char *conv,
                         const char *agent, int64_t at, struct byoc_write *w)
{
    char thread[BYOC_ID_MAX + 2], dedupe[BYOC_ID_MAX + 8];
    snprintf(thread, sizeof thread, "t-%s", conv);
    snprintf(dedupe, sizeof dedupe, "cxone:%s", msg_id);
    struct byoc_agent_msg m = {.kind = BYOC_AGENT_MSG_REPLY,
                               .dedupe_key = dedupe,
                               .cxone_message_id = dedupe,
                               .thread_ref = thread,
                               .text = (char *)"Hi, I am here to help",
                               .attachments_json = (char *)"[{\"name\":\"a.png\",\"url\":"
                                                           "\"https://cdn.example.com/a.png\","
                                                           "\"mime_type\":\"image/png\"}]",
                               .agent_name = (char *)agent,
                               .agent_avatar_url = (char *)"https://cdn.example.com/av.png",
                               .raw_body = (char *)RAW,
                               .raw_len = sizeof RAW - 1,
                               .received_at = at};
    snprintf(m.id, sizeof m.id, "%s", msg_id);
    snprintf(m.provider_id, sizeof m.provider_id, "%s", provider_id);
    *w = (struct byoc_write){.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = &m};
    enum byoc_err e = byoc_store_write(store, w);
    return e ? -1 : w->events;
}

static int agent_reply(const char *msg_id, const char *conv, const char *agent, int64_t at)
{
    struct byoc_write w;
    int events = agent_reply_w(prov.id, msg_id, conv, agent, at, &w);
    ck_assert_int_ge(events, 0);
    return events;
}

/* A conversation of provider_id with exactly n >= 2 events at `at`: agent.joined and
 * agent.message, then n - 2 more agent.message. */
static void conv_with_events_for(const char *provider_id, const char *conv, size_t n, int64_t at)
{
    ck_assert_uint_ge(n, 2);
    open_for(provider_id, conv, 1, at);
    char id[BYOC_ID_MAX];
    for (size_t i = 0; i + 1 < n; i++) {
        snprintf(id, sizeof id, "msg_%s_%zu", conv, i + 1);
        struct byoc_write w;
        ck_assert_int_eq(agent_reply_w(provider_id, id, conv, "Alice", at, &w), i == 0 ? 2 : 1);
    }
}

static void conv_with_events(const char *conv, size_t n, int64_t at)
{
    conv_with_events_for(prov.id, conv, n, at);
}

static int64_t housekeep(int64_t now)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_HOUSEKEEP};
    w.in.housekeep.now = now;
    w.in.housekeep.close_deadline_ms = DEADLINE_MS;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    return w.out.ended;
}

static struct byoc_conversation conv_get(const char *id)
{
    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, NULL, id, &c), BYOC_ERR_OK);
    return c;
}

static enum byoc_conv_state conv_state(const char *id)
{
    struct byoc_conversation c = conv_get(id);
    enum byoc_conv_state s = c.state;
    byoc_conversation_release(&c);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Event reads                                                                                 */

static struct byoc_event *events_of(const char *provider_id, const char *conv, size_t *n)
{
    struct byoc_event *list = NULL;
    *n = 0;
    ck_assert_int_eq(byoc_store_event_list(store, provider_id, conv, 0, 1000, &list, n),
                     BYOC_ERR_OK);
    return list;
}

static size_t event_count(const char *provider_id, const char *conv)
{
    size_t n;
    struct byoc_event *list = events_of(provider_id, conv, &n);
    byoc_event_list_free(list, n);
    return n;
}

/* Asserts conv (of prov) has exactly these event types, seq 1..n, in this order. */
static void expect_types(const char *conv, const char *const *types, size_t want)
{
    size_t n;
    struct byoc_event *list = events_of(prov.id, conv, &n);
    char got[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof got; i++)
        used +=
            (size_t)snprintf(got + used, sizeof got - used, "%s%s", i ? ", " : "", list[i].type);
    ck_assert_msg(n == want, "%s: %zu events (%s), want %zu", conv, n, got, want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(strcmp(list[i].type, types[i]) == 0, "%s event %zu is %s, want %s (%s)", conv,
                      i + 1, list[i].type, types[i], got);
        ck_assert_int_eq(list[i].seq, (int64_t)i + 1);
        ck_assert_str_eq(list[i].conversation_id, conv);
        ck_assert_str_eq(list[i].provider_id, prov.id);
        ck_assert_int_eq(strncmp(list[i].id, "evt_", 4), 0);
        ck_assert_ptr_nonnull(list[i].data_json);
        if (i > 0)
            ck_assert_int_gt(list[i].cursor, list[i - 1].cursor);
    }
    byoc_event_list_free(list, n);
}

#define TYPES(...)                                                                                 \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NTYPES(...) (sizeof(TYPES(__VA_ARGS__)) / sizeof(const char *))
#define EXPECT_TYPES(conv, ...) expect_types(conv, TYPES(__VA_ARGS__), NTYPES(__VA_ARGS__))

/* The data of conv's event number seq, parsed; cJSON_Delete it. */
static cJSON *event_data(const char *conv, int64_t seq, const char *want_type)
{
    struct byoc_event *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_event_list(store, prov.id, conv, seq - 1, 1, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(list[0].seq, seq);
    ck_assert_str_eq(list[0].type, want_type);
    cJSON *j = NULL;
    ck_assert_msg(byoc_json_parse(list[0].data_json, strlen(list[0].data_json), &j) == BYOC_ERR_OK,
                  "data of %s #%lld is not JSON: %s", conv, (long long)seq, list[0].data_json);
    ck_assert_msg(cJSON_IsObject(j), "data is not an object: %s", list[0].data_json);
    byoc_event_list_free(list, n);
    return j;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return (int64_t)cJSON_GetNumberValue(v);
}

static bool has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Subscriptions and deliveries                                                                */

static const char SEALED_1[] = "sealed-secret-one";
static const char SEALED_2[] = "sealed-secret-two";

static enum byoc_err hook_create(const char *provider_id, const char *id, const char *events_json,
                                 int64_t at)
{
    struct byoc_webhook h = {.url = (char *)"https://hooks.example.org/b",
                             .events_json = (char *)events_json,
                             .secret_sealed = {(uint8_t *)SEALED_1, sizeof SEALED_1 - 1},
                             .created_at = at,
                             .updated_at = at};
    snprintf(h.id, sizeof h.id, "%s", id);
    snprintf(h.provider_id, sizeof h.provider_id, "%s", provider_id);
    struct byoc_write w = {.kind = BYOC_WRITE_WEBHOOK_CREATE, .in.webhook = &h};
    return byoc_store_write(store, &w);
}

static struct byoc_webhook *hooks_of(const char *provider_id, size_t *n)
{
    struct byoc_webhook *list = NULL;
    *n = 0;
    ck_assert_int_eq(byoc_store_webhook_list(store, provider_id, &list, n), BYOC_ERR_OK);
    return list;
}

/* A copy of the subscription's counters: state, failures, circuit_until. */
struct hook_state {
    enum byoc_webhook_state state;
    int64_t failures, circuit_until;
    bool has_reason;
};

static struct hook_state hook_state(const char *provider_id, const char *id)
{
    size_t n;
    struct byoc_webhook *list = hooks_of(provider_id, &n);
    struct hook_state s = {0};
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].id, id) != 0)
            continue;
        found = true;
        s = (struct hook_state){.state = list[i].state,
                                .failures = list[i].failures,
                                .circuit_until = list[i].circuit_until,
                                .has_reason = list[i].disabled_reason != NULL};
    }
    byoc_webhook_list_free(list, n);
    ck_assert_msg(found, "subscription %s not listed", id);
    return s;
}

static struct byoc_delivery *dlv_list(int state, const char *provider_id, const char *webhook_id,
                                      size_t *n)
{
    struct byoc_delivery *list = NULL;
    *n = 0;
    ck_assert_int_eq(
        byoc_store_delivery_list(store, state, provider_id, webhook_id, 0, 1000, &list, n),
        BYOC_ERR_OK);
    return list;
}

static size_t dlv_count(int state, const char *provider_id, const char *webhook_id)
{
    size_t n;
    struct byoc_delivery *list = dlv_list(state, provider_id, webhook_id, &n);
    byoc_delivery_list_free(list, n);
    return n;
}

/* The delivery of webhook_id for conv's event seq (asserted to exist); release it. */
static struct byoc_delivery dlv_for(const char *webhook_id, const char *conv, int64_t seq)
{
    size_t n;
    struct byoc_delivery *list = dlv_list(-1, NULL, webhook_id, &n), out = {0};
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (!found && strcmp(list[i].event.conversation_id, conv) == 0 &&
            list[i].event.seq == seq) {
            out = list[i];
            list[i] = (struct byoc_delivery){0};
            found = true;
        }
    }
    byoc_delivery_list_free(list, n);
    ck_assert_msg(found, "no delivery of %s for %s #%lld", webhook_id, conv, (long long)seq);
    return out;
}

static enum byoc_delivery_state dlv_state(const char *webhook_id, const char *conv, int64_t seq)
{
    struct byoc_delivery d = dlv_for(webhook_id, conv, seq);
    enum byoc_delivery_state s = d.state;
    byoc_delivery_release(&d);
    return s;
}

struct claim_args {
    size_t max, per_endpoint;
    int64_t lease_ms;
};

static struct byoc_delivery_job *dclaim_with(int64_t now, const struct claim_args *a, size_t *n)
{
    struct byoc_write w = {.kind = BYOC_WRITE_DELIVERY_CLAIM};
    w.in.dclaim.now = now;
    w.in.dclaim.lease_ms = a->lease_ms ? a->lease_ms : LEASE_MS;
    w.in.dclaim.max = a->max;
    w.in.dclaim.per_endpoint = a->per_endpoint;
    w.in.dclaim.probe_ms = PROBE_MS;
    w.in.dclaim.breaker_failures = BREAKER;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.events, 0);
    *n = w.out.jobs.n;
    return w.out.jobs.list;
}

/* Claims with room for everything (64 jobs, 64 per endpoint). */
static struct byoc_delivery_job *dclaim(int64_t now, size_t *n)
{
    struct claim_args a = {.max = 64, .per_endpoint = 64};
    return dclaim_with(now, &a, n);
}

/* The job of webhook_id for conv in the claim, or NULL. */
static const struct byoc_delivery_job *job_of(const struct byoc_delivery_job *jobs, size_t n,
                                              const char *webhook_id, const char *conv)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].d.webhook_id, webhook_id) == 0 &&
            strcmp(jobs[i].d.event.conversation_id, conv) == 0)
            return &jobs[i];
    }
    return NULL;
}

static size_t jobs_of_hook(const struct byoc_delivery_job *jobs, size_t n, const char *webhook_id)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(jobs[i].d.webhook_id, webhook_id) == 0;
    return k;
}

/* Claims everything due at now and asserts exactly one job, of webhook_id for conv at seq. */
static struct byoc_delivery_job *claim_one(int64_t now, const char *webhook_id, const char *conv,
                                           int64_t seq)
{
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(now, &n);
    ck_assert_msg(n == 1, "claimed %zu jobs, want 1", n);
    ck_assert_str_eq(jobs[0].d.webhook_id, webhook_id);
    ck_assert_str_eq(jobs[0].d.event.conversation_id, conv);
    ck_assert_int_eq(jobs[0].d.event.seq, seq);
    return jobs;
}

struct dout {
    enum byoc_delivery_state state;
    int64_t next_attempt_at, status, circuit_until;
    bool failure, disable;
    const char *error;
};

static struct byoc_delivery_outcome outcome_of(const struct byoc_delivery_job *j,
                                               const struct dout *o)
{
    return (struct byoc_delivery_outcome){.delivery_id = j->d.id,
                                          .webhook_id = j->d.webhook_id,
                                          .attempt = j->d.attempts,
                                          .state = o->state,
                                          .next_attempt_at = o->next_attempt_at,
                                          .status = o->status,
                                          .last_error = o->error,
                                          .disable = o->disable,
                                          .failure = o->failure,
                                          .circuit_until = o->circuit_until};
}

static enum byoc_err report_list(const struct byoc_delivery_outcome *list, size_t n, int64_t now)
{
    struct byoc_write w = {.kind = BYOC_WRITE_DELIVERY_OUTCOMES};
    w.in.doutcomes.list = list;
    w.in.doutcomes.n = n;
    w.in.doutcomes.now = now;
    w.in.doutcomes.breaker_failures = BREAKER;
    enum byoc_err e = byoc_store_write(store, &w);
    ck_assert_int_eq(w.events, 0);
    return e;
}

static void report(const struct byoc_delivery_job *j, const struct dout *o, int64_t now)
{
    struct byoc_delivery_outcome oc = outcome_of(j, o);
    ck_assert_int_eq(report_list(&oc, 1, now), BYOC_ERR_OK);
}

static void report_delivered(const struct byoc_delivery_job *j, int64_t now)
{
    struct dout o = {.state = BYOC_DELIVERY_DELIVERED, .next_attempt_at = now, .status = 200};
    report(j, &o, now);
}

/* A failed attempt (HTTP 500), retried at next; the circuit opens until now + COOLDOWN_MS when
 * this failure reaches the threshold. */
static void report_failed(const struct byoc_delivery_job *j, int64_t next, int64_t now)
{
    struct dout o = {.state = BYOC_DELIVERY_PENDING,
                     .next_attempt_at = next,
                     .status = 500,
                     .failure = true,
                     .circuit_until = now + COOLDOWN_MS,
                     .error = "the endpoint answered 500"};
    report(j, &o, now);
}

static void report_dead(const struct byoc_delivery_job *j, int64_t now)
{
    struct dout o = {.state = BYOC_DELIVERY_DEAD,
                     .next_attempt_at = now,
                     .status = 500,
                     .failure = true,
                     .circuit_until = now + COOLDOWN_MS,
                     .error = "gave up at the deadline"};
    report(j, &o, now);
}

static void report_gone(const struct byoc_delivery_job *j, int64_t now)
{
    struct dout o = {.state = BYOC_DELIVERY_DEAD,
                     .next_attempt_at = now,
                     .status = 410,
                     .disable = true,
                     .error = "the endpoint answered 410"};
    report(j, &o, now);
}

/* Claims conv's head for webhook_id at now (asserted to be the only job) and lets it die. */
static void kill_head(const char *webhook_id, const char *conv, int64_t seq, int64_t now)
{
    struct byoc_delivery_job *jobs = claim_one(now, webhook_id, conv, seq);
    report_dead(&jobs[0], now);
    byoc_delivery_jobs_free(jobs, 1);
}

static enum byoc_err replay_w(const char *delivery_id, const char *provider_id, int64_t now,
                              struct byoc_write *w)
{
    *w = (struct byoc_write){.kind = BYOC_WRITE_DELIVERY_REPLAY};
    w->in.replay.delivery_id = delivery_id;
    w->in.replay.provider_id = provider_id;
    w->in.replay.now = now;
    return byoc_store_write(store, w);
}

/* ------------------------------------------------------------------------------------------ */
/* Studio                                                                                      */

struct studio_args {
    const char *provider_id;
    enum byoc_studio_event event;
    const char *contact_id, *thread_id, *agent, *avatar, *skill, *reason;
    const char *close_id; /* NULL: a fresh one */
    int64_t now;
};

static enum byoc_err studio_w(const struct studio_args *a, struct byoc_write *w)
{
    static int calls;
    char call_id[BYOC_ID_MAX], close_id[BYOC_ID_MAX];
    snprintf(call_id, sizeof call_id, "sev_%d", ++calls);
    snprintf(close_id, sizeof close_id, "out_close_%d", calls);
    struct byoc_outbound close =
        out_of(a->close_id ? a->close_id : close_id, "", BYOC_OUT_CLOSE, NULL, a->now);
    *w = (struct byoc_write){.kind = BYOC_WRITE_STUDIO_EVENT};
    w->in.studio.provider_id = a->provider_id ? a->provider_id : prov.id;
    w->in.studio.event = a->event;
    w->in.studio.contact_id = a->contact_id;
    w->in.studio.thread_id = a->thread_id;
    w->in.studio.agent_name = a->agent;
    w->in.studio.agent_avatar = a->avatar;
    w->in.studio.skill = a->skill;
    w->in.studio.reason = a->reason;
    w->in.studio.close_msg = &close;
    w->in.studio.call_id = call_id;
    w->in.studio.now = a->now;
    return byoc_store_write(store, w);
}

/* Sends a Studio event by contact id; asserts success and a match; returns changed. */
static bool studio(enum byoc_studio_event ev, const char *contact, int64_t now,
                   enum byoc_conv_state want_state)
{
    struct studio_args a = {.event = ev, .contact_id = contact, .now = now};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.matched);
    ck_assert_int_eq(w.out.studio.state, want_state);
    if (!w.out.studio.changed)
        ck_assert_int_eq(w.events, 0);
    return w.out.studio.changed;
}

/* ------------------------------------------------------------------------------------------ */
/* The outbox: what each state change emits                                                    */

START_TEST(first_text_delivered_escalates_then_delivered)
{
    open_texts("cnv_1", 2, NOW_MS);
    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 10), 2);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);

    cJSON *d = event_data("cnv_1", 1, "conversation.escalated");
    ck_assert_pstr_eq(byoc_json_str(d, "source"), "relay");
    ck_assert_pstr_eq(byoc_json_str(d, "contact_id"), "contact-cnv_1");
    ck_assert_pstr_eq(byoc_json_str(d, "case_id"), "case-1");
    ck_assert_pstr_eq(byoc_json_str(d, "interaction_id"), "int-1");
    ck_assert(!has(d, "agent"));
    cJSON_Delete(d);
    d = event_data("cnv_1", 2, "message.delivered");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), mid(buf, "cnv_1", 1));
    ck_assert_int_eq(num(d, "attempts"), 1);
    ck_assert(!has(d, "reason"));
    ck_assert(!has(d, "client_message_id")); /* absent, not null */
    cJSON_Delete(d);

    /* the second text only says it was delivered: the conversation escalated once */
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 2), NOW_MS + 20), 1);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "message.delivered");
    d = event_data("cnv_1", 3, "message.delivered");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), mid(buf, "cnv_1", 2));
    cJSON_Delete(d);

    /* event times are the outcome's */
    size_t n;
    struct byoc_event *list = events_of(prov.id, "cnv_1", &n);
    ck_assert_int_eq(list[0].created_at, NOW_MS + 10);
    ck_assert_int_eq(list[2].created_at, NOW_MS + 20);
    byoc_event_list_free(list, n);
}
END_TEST

START_TEST(typing_and_retries_emit_nothing)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TYPING, BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", NOW_MS, 0, kinds, 2, NULL, &w), BYOC_ERR_OK);
    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1), 0); /* typing */
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
    /* a text to be retried is not final: nothing yet */
    struct byoc_relay_job *job = relay_claim(NOW_MS + 2);
    ck_assert_str_eq(job->msg.id, mid(buf, "cnv_1", 2));
    struct relay_result r = {.state = BYOC_OUT_QUEUED, .now = NOW_MS + 2, .last_error = "503"};
    int events = -1;
    ck_assert_int_eq(relay_report(job, job->msg.attempts, &r, &events), BYOC_ERR_OK);
    ck_assert_int_eq(events, 0);
    byoc_relay_job_free(job);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 0);
    /* and then it goes through: attempts 2 */
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 2), NOW_MS + 3), 2);
    cJSON *d = event_data("cnv_1", 2, "message.delivered");
    ck_assert_int_eq(num(d, "attempts"), 2);
    cJSON_Delete(d);
}
END_TEST

START_TEST(failed_opening_fails_queued_texts_then_ends)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT, BYOC_OUT_TEXT, BYOC_OUT_TYPING};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", NOW_MS, 0, kinds, 3, NULL, &w), BYOC_ERR_OK);
    struct byoc_outbound later = out_of("out_4", "cnv_1", BYOC_OUT_TEXT, "cm-4", NOW_MS + 1);
    w = (struct byoc_write){.kind = BYOC_WRITE_OUTBOUND_ADD};
    w.in.add.provider_id = prov.id;
    w.in.add.msg = &later;
    w.in.add.now = NOW_MS + 1;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.events, 0);

    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(fail_next(mid(buf, "cnv_1", 1), "CXone answered 400", NOW_MS + 5), 4);
    EXPECT_TYPES("cnv_1", "message.failed", "message.failed", "message.failed",
                 "conversation.ended");

    cJSON *d = event_data("cnv_1", 1, "message.failed");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), mid(buf, "cnv_1", 1));
    ck_assert_int_eq(num(d, "attempts"), 1);
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "CXone answered 400");
    cJSON_Delete(d);
    d = event_data("cnv_1", 2, "message.failed");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), mid(buf, "cnv_1", 2));
    ck_assert_int_eq(num(d, "attempts"), 0);
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), OPEN_FAILED);
    cJSON_Delete(d);
    d = event_data("cnv_1", 3, "message.failed"); /* the typing in between has no event */
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), "out_4");
    ck_assert_pstr_eq(byoc_json_str(d, "client_message_id"), "cm-4");
    cJSON_Delete(d);
    d = event_data("cnv_1", 4, "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(d, "by"), "failure");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "CXone answered 400");
    cJSON_Delete(d);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "failure");
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(failed_later_text_keeps_conversation)
{
    open_texts("cnv_1", 2, NOW_MS);
    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1), 2);
    ck_assert_int_eq(fail_next(mid(buf, "cnv_1", 2), "too large", NOW_MS + 2), 1);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "message.failed");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);
}
END_TEST

START_TEST(agent_messages_join_then_message)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    ck_assert_int_eq(agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 10), 2);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "agent.joined",
                 "agent.message");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_AGENT_JOINED);

    cJSON *d = event_data("cnv_1", 3, "agent.joined");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "name"), "Alice");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "avatar_url"),
                      "https://cdn.example.com/av.png");
    cJSON_Delete(d);
    d = event_data("cnv_1", 4, "agent.message");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), "msg_1");
    ck_assert_pstr_eq(byoc_json_str(d, "cxone_message_id"), "cxone:msg_1");
    ck_assert_pstr_eq(byoc_json_str(d, "kind"), "reply");
    ck_assert_pstr_eq(byoc_json_str(d, "text"), "Hi, I am here to help");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(d, "attachments");
    ck_assert(cJSON_IsArray(att));
    ck_assert_int_eq(cJSON_GetArraySize(att), 1);
    ck_assert_pstr_eq(byoc_json_str(cJSON_GetArrayItem(att, 0), "url"),
                      "https://cdn.example.com/a.png");
    ck_assert_pstr_eq(byoc_json_str(cJSON_GetArrayItem(att, 0), "mime_type"), "image/png");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "name"), "Alice");
    cJSON_Delete(d);

    /* the same agent again: only the message */
    ck_assert_int_eq(agent_reply("msg_2", "cnv_1", "Alice", NOW_MS + 11), 1);
    /* another agent (a transfer): joined again, right before its message */
    ck_assert_int_eq(agent_reply("msg_3", "cnv_1", "Bob", NOW_MS + 12), 2);
    ck_assert_int_eq(agent_reply("msg_4", "cnv_1", "Bob", NOW_MS + 13), 1);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "agent.joined",
                 "agent.message", "agent.message", "agent.joined", "agent.message",
                 "agent.message");
    d = event_data("cnv_1", 6, "agent.joined");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "name"), "Bob");
    cJSON_Delete(d);
    d = event_data("cnv_1", 7, "agent.message");
    ck_assert_pstr_eq(byoc_json_str(d, "message_id"), "msg_3");
    cJSON_Delete(d);
}
END_TEST

START_TEST(agent_message_duplicate_or_unmatched_emits_nothing)
{
    open_texts("cnv_1", 1, NOW_MS);
    ck_assert_int_eq(agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 10), 2);
    /* the same CXone message again (same dedupe key): stored once, no events */
    struct byoc_write w;
    ck_assert_int_eq(agent_reply_w(prov.id, "msg_1", "cnv_1", "Alice", NOW_MS + 11, &w), 0);
    ck_assert(w.out.agent_msg.duplicate);
    /* a reply on a thread nobody knows */
    ck_assert_int_eq(agent_reply_w(prov.id, "msg_9", "cnv_nope", "Alice", NOW_MS + 12, &w), 0);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");
    /* the other provider's reply on prov's thread */
    ck_assert_int_eq(agent_reply_w(other.id, "msg_8", "cnv_1", "Alice", NOW_MS + 13, &w), 0);
    EXPECT_TYPES("cnv_1", "agent.joined", "agent.message");
    ck_assert_uint_eq(event_count(other.id, NULL), 0);
}
END_TEST

START_TEST(end_emits_ended_once_and_nothing_after)
{
    open_texts("cnv_1", 1, NOW_MS);
    ck_assert_int_eq(agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 1), 2);
    struct byoc_write w;
    ck_assert_int_eq(
        end_conv_w(prov.id, "cnv_1", "bot", "resolved", "out_close", NULL, NOW_MS + 2, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(w.events, 1);
    EXPECT_TYPES("cnv_1", "agent.joined", "agent.message", "conversation.ended");
    cJSON *d = event_data("cnv_1", 3, "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(d, "by"), "bot");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "resolved");
    ck_assert_int_eq(cJSON_GetArraySize(d), 2);
    cJSON_Delete(d);

    /* ending again changes nothing */
    ck_assert_int_eq(
        end_conv_w(prov.id, "cnv_1", "bot", "again", "out_close2", NULL, NOW_MS + 3, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(w.events, 0);
    /* a late agent reply is stored, but no agent.* comes after conversation.ended */
    ck_assert_int_eq(agent_reply_w(prov.id, "msg_2", "cnv_1", "Alice", NOW_MS + 4, &w), 0);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    ck_assert_int_eq(agent_reply_w(prov.id, "msg_3", "cnv_1", "Bob", NOW_MS + 5, &w), 0);
    /* nor a Studio event */
    struct studio_args a = {.event = BYOC_STUDIO_ESCALATE,
                            .contact_id = "c-1",
                            .thread_id = "t-cnv_1",
                            .now = NOW_MS + 6};
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.matched);
    ck_assert(!w.out.studio.changed);
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_ENDED);
    a.event = BYOC_STUDIO_ONRELEASE;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(!w.out.studio.changed);
    /* nor a second end by inactivity */
    ck_assert_int_eq(housekeep(NOW_MS + 3600000), 0);
    EXPECT_TYPES("cnv_1", "agent.joined", "agent.message", "conversation.ended");
}
END_TEST

START_TEST(bot_message_outcome_after_end_is_still_reported)
{
    /* README: after conversation.ended come at most the message.* outcomes of bot messages sent
     * before the end */
    open_texts("cnv_1", 1, NOW_MS);
    struct byoc_relay_job *job = relay_claim(NOW_MS + 1);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 2),
                     BYOC_ERR_OK);
    struct relay_result r = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 3, .contact_id = "c-1"};
    int events = -1;
    ck_assert_int_eq(relay_report(job, job->msg.attempts, &r, &events), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    /* no conversation.escalated after the end, only the message's outcome */
    EXPECT_TYPES("cnv_1", "conversation.ended", "message.delivered");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ENDED);
}
END_TEST

START_TEST(failed_opening_after_end_does_not_end_twice)
{
    open_texts("cnv_1", 2, NOW_MS);
    struct byoc_relay_job *job = relay_claim(NOW_MS + 1);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 2),
                     BYOC_ERR_OK);
    struct relay_result r = {.state = BYOC_OUT_FAILED, .now = NOW_MS + 3, .last_error = "400"};
    ck_assert_int_eq(relay_report(job, job->msg.attempts, &r, NULL), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    EXPECT_TYPES("cnv_1", "conversation.ended", "message.failed", "message.failed");
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_pstr_eq(c.ended_by, "bot");
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(inactivity_end_emits_ended)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_1", NOW_MS, NOW_MS + INACTIVITY_S * 1000, kinds, 1, NULL, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(housekeep(NOW_MS + INACTIVITY_S * 1000 - 1), 0);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 0);
    ck_assert_int_eq(housekeep(NOW_MS + INACTIVITY_S * 1000), 1);
    EXPECT_TYPES("cnv_1", "conversation.ended");
    cJSON *d = event_data("cnv_1", 1, "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(d, "by"), "inactivity");
    ck_assert(has(d, "reason"));
    cJSON_Delete(d);
}
END_TEST

START_TEST(seq_per_conversation_without_gaps)
{
    open_texts("cnv_1", 1, NOW_MS);
    open_texts("cnv_2", 1, NOW_MS + 1);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 2);     /* cnv_1: 1, 2 */
    deliver_next(mid(buf, "cnv_2", 1), NOW_MS + 3);     /* cnv_2: 1, 2 */
    agent_reply("msg_1", "cnv_2", "Alice", NOW_MS + 4); /* cnv_2: 3, 4 */
    agent_reply("msg_2", "cnv_1", "Alice", NOW_MS + 5); /* cnv_1: 3, 4 */
    agent_reply("msg_3", "cnv_1", "Bob", NOW_MS + 6);   /* cnv_1: 5, 6 */
    ck_assert_int_eq(end_conv(prov.id, "cnv_2", "bot", NULL, "out_c2", NOW_MS + 7), BYOC_ERR_OK);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "agent.joined",
                 "agent.message", "agent.joined", "agent.message");
    EXPECT_TYPES("cnv_2", "conversation.escalated", "message.delivered", "agent.joined",
                 "agent.message", "conversation.ended");
    cJSON *d = event_data("cnv_2", 5, "conversation.ended");
    ck_assert(!has(d, "reason")); /* none given: left out */
    cJSON_Delete(d);

    /* the provider-wide list is in commit order, paged by cursor */
    size_t n;
    struct byoc_event *all = events_of(prov.id, NULL, &n);
    ck_assert_uint_eq(n, 11);
    static const char *const order[] = {"cnv_1", "cnv_1", "cnv_2", "cnv_2", "cnv_2", "cnv_2",
                                        "cnv_1", "cnv_1", "cnv_1", "cnv_1", "cnv_2"};
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(all[i].conversation_id, order[i]);
        if (i)
            ck_assert_int_gt(all[i].cursor, all[i - 1].cursor);
    }
    struct byoc_event *page = NULL;
    size_t np = 0;
    ck_assert_int_eq(byoc_store_event_list(store, prov.id, NULL, all[3].cursor, 3, &page, &np),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(np, 3);
    ck_assert_str_eq(page[0].id, all[4].id);
    ck_assert_str_eq(page[2].id, all[6].id);
    byoc_event_list_free(page, np);
    /* and a conversation's list by seq */
    ck_assert_int_eq(byoc_store_event_list(store, prov.id, "cnv_1", 2, 2, &page, &np), BYOC_ERR_OK);
    ck_assert_uint_eq(np, 2);
    ck_assert_int_eq(page[0].seq, 3);
    ck_assert_int_eq(page[1].seq, 4);
    byoc_event_list_free(page, np);
    byoc_event_list_free(all, n);
}
END_TEST

START_TEST(event_lists_are_scoped_to_the_provider)
{
    conv_with_events("cnv_1", 3, NOW_MS);
    conv_with_events_for(other.id, "cnv_o", 2, NOW_MS);
    ck_assert_uint_eq(event_count(other.id, "cnv_1"), 0);
    ck_assert_uint_eq(event_count(prov.id, "cnv_o"), 0);
    size_t n;
    struct byoc_event *list = events_of(other.id, NULL, &n);
    ck_assert_uint_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(list[i].conversation_id, "cnv_o");
        ck_assert_str_eq(list[i].provider_id, other.id);
    }
    byoc_event_list_free(list, n);
    ck_assert_uint_eq(event_count(prov.id, NULL), 3);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Atomicity: a write that fails leaves no event                                               */

START_TEST(failed_end_rolls_back_its_event)
{
    open_texts("cnv_1", 1, NOW_MS);
    ck_assert_int_eq(agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 1), 2);
    size_t before = dlv_count(-1, prov.id, NULL);
    char buf[BYOC_ID_MAX];
    /* the close message reuses an existing message id: the insert after the event fails */
    struct byoc_write w;
    ck_assert_int_eq(
        end_conv_w(prov.id, "cnv_1", "bot", "bye", mid(buf, "cnv_1", 1), NULL, NOW_MS + 2, &w),
        BYOC_ERR_CONFLICT);
    ck_assert_int_eq(w.events, 0);
    EXPECT_TYPES("cnv_1", "agent.joined", "agent.message");
    ck_assert_uint_eq(dlv_count(-1, prov.id, NULL), before);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_AGENT_JOINED);
    /* the next event takes the next seq: no gap where the failed one was */
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "bye", "out_close", NOW_MS + 3),
                     BYOC_ERR_OK);
    EXPECT_TYPES("cnv_1", "agent.joined", "agent.message", "conversation.ended");
}
END_TEST

START_TEST(failed_studio_release_rolls_back_its_events)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    struct studio_args a = {.event = BYOC_STUDIO_ONRELEASE,
                            .contact_id = "contact-cnv_1",
                            .close_id = mid(buf, "cnv_1", 1), /* taken */
                            .now = NOW_MS + 2};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_CONFLICT);
    ck_assert_int_eq(w.events, 0);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);
    ck_assert_uint_eq(dlv_count(-1, prov.id, NULL), 2);
}
END_TEST

START_TEST(idempotency_conflict_emits_nothing)
{
    struct byoc_idem k = idem_of("key-1", "open request", 201, "{\"id\":\"cnv_1\"}");
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", NOW_MS, 0, kinds, 1, &k, &w), BYOC_ERR_OK);
    /* the key again for another request */
    struct byoc_idem reused = idem_of("key-1", "end request", 200, "{}");
    ck_assert_int_eq(
        end_conv_w(prov.id, "cnv_1", "bot", "bye", "out_close", &reused, NOW_MS + 1, &w),
        BYOC_ERR_IDEMPOTENCY_REUSED);
    ck_assert_int_eq(w.events, 0);
    /* the key again for the same request: its stored answer, and nothing done */
    struct byoc_idem again = idem_of("key-1", "open request", 201, "{\"id\":\"cnv_1\"}");
    ck_assert_int_eq(
        end_conv_w(prov.id, "cnv_1", "bot", "bye", "out_close", &again, NOW_MS + 2, &w),
        BYOC_ERR_CONFLICT);
    ck_assert(w.idem.hit);
    free(w.idem.body);
    ck_assert_int_eq(w.events, 0);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, NULL), 0);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
}
END_TEST

START_TEST(not_found_writes_emit_nothing)
{
    open_texts("cnv_1", 1, NOW_MS);
    /* another provider's conversation */
    struct byoc_write w;
    ck_assert_int_eq(end_conv_w(other.id, "cnv_1", "bot", "bye", "out_close", NULL, NOW_MS + 1, &w),
                     BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(w.events, 0);
    ck_assert_int_eq(end_conv(prov.id, "cnv_nope", "bot", "bye", "out_close", NOW_MS + 1),
                     BYOC_ERR_NOT_FOUND);
    /* an outcome for a claim that is no longer the message's (wrong attempt) */
    struct byoc_relay_job *job = relay_claim(NOW_MS + 2);
    struct relay_result r = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 3, .contact_id = "c"};
    int events = -1;
    ck_assert_int_eq(relay_report(job, job->msg.attempts + 1, &r, &events), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(events, 0);
    byoc_relay_job_free(job);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, NULL), 0);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* The event listener                                                                          */

static atomic_int listener_calls;

static void on_events(void *arg)
{
    /* the writer thread: no ck_assert here; a wrong arg simply is not counted */
    if (arg == &listener_calls)
        atomic_fetch_add(&listener_calls, 1);
}

START_TEST(listener_called_after_commits_with_events_only)
{
    atomic_store(&listener_calls, 0);
    byoc_store_on_events(store, on_events, &listener_calls);
    open_texts("cnv_1", 2, NOW_MS); /* no events */
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    ck_assert_int_eq(atomic_load(&listener_calls), 0);

    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1); /* 2 events, one commit */
    ck_assert_int_eq(atomic_load(&listener_calls), 1);
    /* claiming and reporting deliveries add none */
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 2, &n);
    ck_assert_uint_eq(n, 2);
    report_delivered(&jobs[0], NOW_MS + 3);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_int_eq(atomic_load(&listener_calls), 1);
    /* failed writes add none */
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "x", mid(buf, "cnv_1", 1), NOW_MS + 4),
                     BYOC_ERR_CONFLICT);
    ck_assert_int_eq(end_conv(other.id, "cnv_1", "bot", "x", "out_c", NOW_MS + 4),
                     BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(atomic_load(&listener_calls), 1);
    /* an agent reply on an unknown thread adds none */
    struct byoc_write w;
    ck_assert_int_eq(agent_reply_w(prov.id, "msg_x", "cnv_nope", "A", NOW_MS + 5, &w), 0);
    ck_assert_int_eq(atomic_load(&listener_calls), 1);
    ck_assert_int_eq(agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 6), 2);
    ck_assert_int_eq(atomic_load(&listener_calls), 2);
    /* after unregistering, nothing is called */
    byoc_store_on_events(store, NULL, NULL);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "x", "out_c", NOW_MS + 7), BYOC_ERR_OK);
    ck_assert_int_eq(atomic_load(&listener_calls), 2);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Subscriptions and fan-out                                                                   */

START_TEST(provider_webhook_url_is_first_subscription)
{
    size_t n;
    struct byoc_webhook *list = hooks_of(prov.id, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, hook_a);
    ck_assert_str_eq(list[0].provider_id, prov.id);
    ck_assert_str_eq(list[0].url, "https://bot.example.com/hook");
    ck_assert_ptr_null(list[0].events_json);
    ck_assert_int_eq(list[0].state, BYOC_WEBHOOK_ENABLED);
    ck_assert_ptr_null(list[0].disabled_reason);
    ck_assert_uint_eq(list[0].secret_sealed.len, prov.webhook_secret_sealed.len);
    ck_assert_mem_eq(list[0].secret_sealed.data, prov.webhook_secret_sealed.data,
                     prov.webhook_secret_sealed.len);
    ck_assert_ptr_null(list[0].old_secret_sealed.data);
    ck_assert_int_eq(list[0].secret_rotated_at, 0);
    ck_assert_int_eq(list[0].failures, 0);
    ck_assert_int_eq(list[0].circuit_until, 0);
    byoc_webhook_list_free(list, n);
    /* later ones are listed after it, in creation order */
    ck_assert_int_eq(hook_create(prov.id, "wh_b", FILTER_B, NOW_MS), BYOC_ERR_OK);
    ck_assert_int_eq(hook_create(prov.id, "wh_c", NULL, NOW_MS - 1), BYOC_ERR_OK);
    list = hooks_of(prov.id, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].id, hook_a);
    ck_assert_str_eq(list[1].id, "wh_b");
    ck_assert_str_eq(list[2].id, "wh_c");
    ck_assert_pstr_eq(list[1].events_json, FILTER_B);
    ck_assert_uint_eq(list[1].secret_sealed.len, sizeof SEALED_1 - 1);
    ck_assert_mem_eq(list[1].secret_sealed.data, SEALED_1, sizeof SEALED_1 - 1);
    byoc_webhook_list_free(list, n);
    /* scoped to the provider */
    list = hooks_of(other.id, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, hook_other);
    byoc_webhook_list_free(list, n);
}
END_TEST

START_TEST(every_event_gets_a_pending_delivery)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 5);
    size_t n, ne;
    struct byoc_delivery *list = dlv_list(-1, prov.id, hook_a, &n);
    struct byoc_event *events = events_of(prov.id, "cnv_1", &ne);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ne, 2);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(strncmp(list[i].id, "dlv_", 4), 0);
        ck_assert_str_eq(list[i].webhook_id, hook_a);
        ck_assert_int_eq(list[i].state, BYOC_DELIVERY_PENDING);
        ck_assert_int_eq(list[i].attempts, 0);
        /* the head of line is due; the one behind it waits for it (0) */
        ck_assert_int_eq(list[i].next_attempt_at, i == 0 ? NOW_MS + 5 : 0);
        ck_assert_int_eq(list[i].window_start, NOW_MS + 5);
        ck_assert_int_eq(list[i].created_at, NOW_MS + 5);
        ck_assert_int_eq(list[i].delivered_at, 0);
        ck_assert_int_eq(list[i].last_status, 0);
        ck_assert_ptr_null(list[i].last_error);
        /* the event itself rides along */
        ck_assert_str_eq(list[i].event.id, events[i].id);
        ck_assert_str_eq(list[i].event.type, events[i].type);
        ck_assert_int_eq(list[i].event.seq, events[i].seq);
        ck_assert_str_eq(list[i].event.data_json, events[i].data_json);
        ck_assert_str_eq(list[i].event.provider_id, prov.id);
    }
    byoc_event_list_free(events, ne);
    /* paged by cursor */
    ck_assert_int_gt(list[1].cursor, list[0].cursor);
    struct byoc_delivery *page = NULL;
    size_t np = 0;
    ck_assert_int_eq(
        byoc_store_delivery_list(store, -1, prov.id, NULL, list[0].cursor, 10, &page, &np),
        BYOC_ERR_OK);
    ck_assert_uint_eq(np, 1);
    ck_assert_str_eq(page[0].id, list[1].id);
    byoc_delivery_list_free(page, np);
    ck_assert_int_eq(byoc_store_delivery_list(store, -1, prov.id, NULL, 0, 1, &page, &np),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(np, 1);
    ck_assert_str_eq(page[0].id, list[0].id);
    byoc_delivery_list_free(page, np);
    byoc_delivery_list_free(list, n);
    /* no delivery went to the other provider's subscription */
    ck_assert_uint_eq(dlv_count(-1, other.id, NULL), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_other), 0);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), NOW_MS + 5);
}
END_TEST

START_TEST(filtered_subscription_gets_only_its_types)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", FILTER_B, NOW_MS), BYOC_ERR_OK);
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);     /* escalated, delivered */
    agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 2); /* joined, message */
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", NULL, "out_close", NOW_MS + 3), BYOC_ERR_OK);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_a), 5);
    size_t n;
    struct byoc_delivery *list = dlv_list(-1, NULL, "wh_b", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].event.type, "message.delivered");
    ck_assert_int_eq(list[0].event.seq, 2);
    ck_assert_str_eq(list[1].event.type, "conversation.ended");
    ck_assert_int_eq(list[1].event.seq, 5);
    byoc_delivery_list_free(list, n);
}
END_TEST

START_TEST(later_subscription_gets_only_later_events)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS + 1), BYOC_ERR_OK);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 0);
    ck_assert_int_eq(agent_reply("msg_late", "cnv_1", "Alice", NOW_MS + 2), 1); /* seq 3 */
    size_t n;
    struct byoc_delivery *list = dlv_list(-1, NULL, "wh_b", &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(list[0].event.seq, 3);
    byoc_delivery_list_free(list, n);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_a), 3);
    /* its first event is its head: not held back by the other subscription's pending seq 1 */
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 3, &n);
    ck_assert_uint_eq(n, 2);
    const struct byoc_delivery_job *b = job_of(jobs, n, "wh_b", "cnv_1");
    const struct byoc_delivery_job *a = job_of(jobs, n, hook_a, "cnv_1");
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(b->d.event.seq, 3);
    ck_assert_int_eq(a->d.event.seq, 1);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

START_TEST(disabled_subscription_gets_nothing)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    size_t n;
    struct claim_args one = {.max = 64, .per_endpoint = 1};
    struct byoc_delivery_job *jobs = dclaim_with(NOW_MS + 1, &one, &n);
    const struct byoc_delivery_job *b = NULL;
    for (size_t i = 0; i < n; i++)
        b = strcmp(jobs[i].d.webhook_id, "wh_b") == 0 ? &jobs[i] : b;
    ck_assert_ptr_nonnull(b);
    report_gone(b, NOW_MS + 2);
    byoc_delivery_jobs_free(jobs, n);
    struct hook_state s = hook_state(prov.id, "wh_b");
    ck_assert_int_eq(s.state, BYOC_WEBHOOK_DISABLED);
    ck_assert(s.has_reason);
    /* its pending ones died with it; the other subscription's are untouched */
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, NULL, "wh_b"), 4);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, NULL, hook_a), 0);
    ck_assert_int_eq(hook_state(prov.id, hook_a).state, BYOC_WEBHOOK_ENABLED);
    /* and new events do not reach it */
    ck_assert_int_eq(agent_reply("msg_new", "cnv_1", "Alice", NOW_MS + 3), 1);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 4);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_a), 5);
    /* nor does a claim */
    jobs = dclaim(NOW_MS + 4, &n);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, "wh_b"), 0);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

START_TEST(webhook_delete_takes_its_deliveries)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    conv_with_events("cnv_1", 3, NOW_MS);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 3);
    /* not another provider's */
    struct byoc_write w = {.kind = BYOC_WRITE_WEBHOOK_DELETE};
    w.in.webhook_ref.provider_id = other.id;
    w.in.webhook_ref.webhook_id = "wh_b";
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_NOT_FOUND);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 3);
    w.in.webhook_ref.provider_id = prov.id;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_a), 3);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 3); /* the events stay for the pull API */
    size_t n;
    struct byoc_webhook *list = hooks_of(prov.id, &n);
    ck_assert_uint_eq(n, 1);
    byoc_webhook_list_free(list, n);
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_NOT_FOUND); /* gone */
}
END_TEST

START_TEST(webhook_create_for_unknown_provider_not_found)
{
    ck_assert_int_eq(hook_create("prv_nope", "wh_x", NULL, NOW_MS), BYOC_ERR_NOT_FOUND);
    size_t n;
    struct byoc_webhook *list = hooks_of("prv_nope", &n);
    ck_assert_uint_eq(n, 0);
    byoc_webhook_list_free(list, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* DELIVERY_CLAIM                                                                              */

START_TEST(claim_takes_only_heads)
{
    conv_with_events("cnv_1", 3, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 1, &n);
    ck_assert_uint_eq(n, 2);
    const struct byoc_delivery_job *j1 = job_of(jobs, n, hook_a, "cnv_1");
    const struct byoc_delivery_job *j2 = job_of(jobs, n, hook_a, "cnv_2");
    ck_assert_ptr_nonnull(j1);
    ck_assert_ptr_nonnull(j2);
    ck_assert_int_eq(j1->d.event.seq, 1);
    ck_assert_int_eq(j2->d.event.seq, 1);
    ck_assert_str_eq(j1->d.event.type, "agent.joined");
    ck_assert_int_eq(j1->d.attempts, 1);
    ck_assert_int_eq(j1->d.state, BYOC_DELIVERY_SENDING);
    ck_assert_pstr_eq(j1->url, "https://bot.example.com/hook");
    ck_assert_uint_eq(j1->secret_sealed.len, prov.webhook_secret_sealed.len);
    ck_assert_mem_eq(j1->secret_sealed.data, prov.webhook_secret_sealed.data,
                     prov.webhook_secret_sealed.len);
    ck_assert_ptr_null(j1->old_secret_sealed.data);
    ck_assert(!j1->probe);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 1), BYOC_DELIVERY_SENDING);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 2), BYOC_DELIVERY_PENDING);
    byoc_delivery_jobs_free(jobs, n);
    /* while the heads are in flight nothing else of those conversations goes */
    jobs = dclaim(NOW_MS + 2, &n);
    ck_assert_uint_eq(n, 0);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), INT64_MAX);
}
END_TEST

START_TEST(claim_respects_per_endpoint_and_max)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    conv_with_events("cnv_3", 2, NOW_MS);
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS + 1), BYOC_ERR_OK);
    agent_reply("msg_b", "cnv_1", "Alice", NOW_MS + 2); /* wh_b: cnv_1 #3 */
    size_t n;
    struct claim_args two = {.max = 64, .per_endpoint = 2};
    struct byoc_delivery_job *jobs = dclaim_with(NOW_MS + 3, &two, &n);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, hook_a), 2);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, "wh_b"), 1);
    ck_assert_uint_eq(n, 3);
    byoc_delivery_jobs_free(jobs, n);
    /* two in flight already: the cap holds across claims */
    jobs = dclaim_with(NOW_MS + 4, &two, &n);
    ck_assert_uint_eq(n, 0);
    byoc_delivery_jobs_free(jobs, n);
    struct claim_args three = {.max = 64, .per_endpoint = 3};
    jobs = dclaim_with(NOW_MS + 5, &three, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(jobs[0].d.webhook_id, hook_a);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

START_TEST(claim_respects_max)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    conv_with_events("cnv_3", 2, NOW_MS);
    size_t n;
    struct claim_args one = {.max = 1, .per_endpoint = 64};
    struct byoc_delivery_job *jobs = dclaim_with(NOW_MS + 1, &one, &n);
    ck_assert_uint_eq(n, 1);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_SENDING, NULL, NULL), 1);
}
END_TEST

START_TEST(claim_waits_for_next_attempt)
{
    conv_with_events("cnv_1", 2, NOW_MS + 100);
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 99, &n);
    ck_assert_uint_eq(n, 0);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), NOW_MS + 100);
    jobs = dclaim(NOW_MS + 100, &n);
    ck_assert_uint_eq(n, 1);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

/* A subscription's attempts fail BREAKER or more times in a row: its circuit opens; once the
 * cooldown is over it gets exactly one probe however much is due; the probe's success closes
 * it. Another subscription goes on meanwhile. */
START_TEST(half_open_circuit_gets_one_probe)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    conv_with_events("cnv_3", 2, NOW_MS);
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    conv_with_events("cnv_4", 2, NOW_MS); /* wh_b has cnv_4 only */
    const int64_t t = NOW_MS + 1000;
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(t, &n);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, hook_a), 4);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, "wh_b"), 1);
    struct dout fail = {.state = BYOC_DELIVERY_PENDING,
                        .next_attempt_at = t + 1000,
                        .status = 502,
                        .failure = true,
                        .circuit_until = t + COOLDOWN_MS,
                        .error = "502"};
    struct byoc_delivery_outcome oc[8];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].d.webhook_id, hook_a) == 0)
            oc[k++] = outcome_of(&jobs[i], &fail);
    }
    ck_assert_int_eq(report_list(oc, k, t), BYOC_ERR_OK); /* four failures in one write */
    report_delivered(job_of(jobs, n, "wh_b", "cnv_4"), t);
    byoc_delivery_jobs_free(jobs, n);
    struct hook_state s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.failures, 4);
    ck_assert_int_eq(s.circuit_until, t + COOLDOWN_MS);
    ck_assert_int_eq(hook_state(prov.id, "wh_b").failures, 0);

    /* open: nothing for it before the cooldown ends, while the other subscription goes on */
    jobs = dclaim(t + 2000, &n);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, hook_a), 0);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, "wh_b"), 1);
    for (size_t i = 0; i < n; i++)
        report_delivered(&jobs[i], t + 2000);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), t + COOLDOWN_MS);

    /* half-open: one probe though four heads are due and per_endpoint allows 64 */
    jobs = dclaim(t + COOLDOWN_MS, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(jobs[0].d.webhook_id, hook_a);
    ck_assert(jobs[0].probe);
    ck_assert_int_eq(jobs[0].d.attempts, 2);
    ck_assert_int_eq(hook_state(prov.id, hook_a).circuit_until, t + COOLDOWN_MS + PROBE_MS);
    struct byoc_delivery_job *more = dclaim(t + COOLDOWN_MS + 1, &k);
    ck_assert_uint_eq(k, 0);
    byoc_delivery_jobs_free(more, k);

    /* the probe succeeds: closed, everything due goes again */
    report_delivered(&jobs[0], t + COOLDOWN_MS + 2);
    byoc_delivery_jobs_free(jobs, n);
    s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(s.circuit_until, 0);
    jobs = dclaim(t + COOLDOWN_MS + 3, &n);
    ck_assert_uint_eq(n, 4); /* three failed heads, and the probed conversation's next seq */
    for (size_t i = 0; i < n; i++)
        ck_assert(!jobs[i].probe);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

START_TEST(next_due_counts_heads_and_circuits)
{
    ck_assert_int_eq(byoc_store_delivery_next_due(store), INT64_MAX);
    conv_with_events("cnv_1", 2, NOW_MS + 50);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), NOW_MS + 50);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 60, hook_a, "cnv_1", 1);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), INT64_MAX); /* #2 waits for #1 */
    report_failed(&jobs[0], NOW_MS + 500, NOW_MS + 61);
    byoc_delivery_jobs_free(jobs, 1);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), NOW_MS + 500);
}
END_TEST

/* Contract: "Other conversations and other subscriptions are not held back." A subscription
 * that has as many attempts in flight as it may, with many conversations due, must not keep a
 * due delivery of another subscription from being claimed. */
START_TEST(saturated_subscription_does_not_hold_back_another)
{
    for (int i = 1; i <= 6; i++) {
        char conv[16];
        snprintf(conv, sizeof conv, "cnv_%d", i);
        if (i == 6)
            ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS + i), BYOC_ERR_OK);
        conv_with_events(conv, 2, NOW_MS + i); /* older conversations are due first */
    }
    struct claim_args one = {.max = 1, .per_endpoint = 1};
    size_t n;
    struct byoc_delivery_job *jobs = dclaim_with(NOW_MS + 100, &one, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(jobs[0].d.webhook_id, hook_a); /* the most overdue */
    byoc_delivery_jobs_free(jobs, n);
    /* hook_a is at its cap; wh_b's cnv_6 #1 is due and has nothing in flight */
    jobs = dclaim_with(NOW_MS + 101, &one, &n);
    char got[BYOC_ID_MAX] = "";
    if (n == 1)
        snprintf(got, sizeof got, "%s", jobs[0].d.webhook_id);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_msg(n == 1, "claimed %zu jobs: wh_b's due delivery was held back by %s", n, hook_a);
    ck_assert_str_eq(got, "wh_b");
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* DELIVERY_OUTCOMES                                                                           */

START_TEST(delivered_unblocks_next_seq)
{
    conv_with_events("cnv_1", 3, NOW_MS);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 1, hook_a, "cnv_1", 1);
    report_delivered(&jobs[0], NOW_MS + 2);
    byoc_delivery_jobs_free(jobs, 1);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_DELIVERED);
    ck_assert_int_eq(d.delivered_at, NOW_MS + 2);
    ck_assert_int_eq(d.last_status, 200);
    ck_assert_int_eq(d.attempts, 1);
    ck_assert_ptr_null(d.last_error);
    byoc_delivery_release(&d);
    jobs = claim_one(NOW_MS + 3, hook_a, "cnv_1", 2);
    report_delivered(&jobs[0], NOW_MS + 4);
    byoc_delivery_jobs_free(jobs, 1);
    jobs = claim_one(NOW_MS + 5, hook_a, "cnv_1", 3);
    byoc_delivery_jobs_free(jobs, 1);
}
END_TEST

START_TEST(retry_keeps_order_and_waits)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 1, hook_a, "cnv_1", 1);
    report_failed(&jobs[0], NOW_MS + 5000, NOW_MS + 2);
    byoc_delivery_jobs_free(jobs, 1);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_PENDING);
    ck_assert_int_eq(d.next_attempt_at, NOW_MS + 5000);
    ck_assert_int_eq(d.last_status, 500);
    ck_assert_pstr_eq(d.last_error, "the endpoint answered 500");
    byoc_delivery_release(&d);
    /* #2 may not overtake #1 while #1 waits for its retry */
    size_t n;
    jobs = dclaim(NOW_MS + 4999, &n);
    ck_assert_uint_eq(n, 0);
    byoc_delivery_jobs_free(jobs, n);
    jobs = claim_one(NOW_MS + 5000, hook_a, "cnv_1", 1);
    ck_assert_int_eq(jobs[0].d.attempts, 2);
    byoc_delivery_jobs_free(jobs, 1);
}
END_TEST

START_TEST(dead_unblocks_next_seq)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    kill_head(hook_a, "cnv_1", 1, NOW_MS + 1);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_DEAD);
    ck_assert_pstr_eq(d.last_error, "gave up at the deadline");
    byoc_delivery_release(&d);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 2, hook_a, "cnv_1", 2);
    byoc_delivery_jobs_free(jobs, 1);
}
END_TEST

START_TEST(stale_attempt_outcome_is_ignored)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    struct claim_args shortlease = {.max = 64, .per_endpoint = 64, .lease_ms = 1000};
    size_t n;
    struct byoc_delivery_job *first = dclaim_with(NOW_MS + 1, &shortlease, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(first[0].d.attempts, 1);
    /* the lease ran out (a crash): housekeeping returns it, and it is claimed again */
    housekeep(NOW_MS + 500);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 1), BYOC_DELIVERY_SENDING);
    housekeep(NOW_MS + 1002);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 1), BYOC_DELIVERY_PENDING);
    struct byoc_delivery_job *second = claim_one(NOW_MS + 1003, hook_a, "cnv_1", 1);
    ck_assert_int_eq(second[0].d.attempts, 2);
    ck_assert_str_eq(second[0].d.id, first[0].d.id);
    /* the first attempt's late answers change nothing, not even the breaker */
    report_failed(&first[0], NOW_MS + 9000, NOW_MS + 1004);
    report_delivered(&first[0], NOW_MS + 1005);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_SENDING);
    ck_assert_int_eq(d.attempts, 2);
    ck_assert_int_eq(d.delivered_at, 0);
    byoc_delivery_release(&d);
    ck_assert_int_eq(hook_state(prov.id, hook_a).failures, 0);
    /* the current one counts */
    report_delivered(&second[0], NOW_MS + 1006);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 1), BYOC_DELIVERY_DELIVERED);
    byoc_delivery_jobs_free(first, 1);
    byoc_delivery_jobs_free(second, 1);
}
END_TEST

START_TEST(failures_open_circuit_at_threshold_success_resets)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    int64_t t = NOW_MS + 1000;
    for (int i = 1; i <= BREAKER; i++) {
        struct byoc_delivery_job *jobs = claim_one(t, hook_a, "cnv_1", 1);
        ck_assert_int_eq(jobs[0].d.attempts, i);
        report_failed(&jobs[0], t + 1000, t + 1);
        byoc_delivery_jobs_free(jobs, 1);
        struct hook_state s = hook_state(prov.id, hook_a);
        ck_assert_int_eq(s.failures, i);
        if (i < BREAKER)
            ck_assert_msg(s.circuit_until == 0, "circuit open after %d failures", i);
        else
            ck_assert_int_eq(s.circuit_until, t + 1 + COOLDOWN_MS);
        t += 1000;
    }
    int64_t open_until = hook_state(prov.id, hook_a).circuit_until;
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(open_until - 1, &n);
    ck_assert_uint_eq(n, 0);
    byoc_delivery_jobs_free(jobs, n);
    /* the probe fails: open again, until the new cooldown */
    jobs = claim_one(open_until, hook_a, "cnv_1", 1);
    ck_assert(jobs[0].probe);
    report_failed(&jobs[0], open_until + 1000, open_until + 10);
    byoc_delivery_jobs_free(jobs, 1);
    struct hook_state s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.failures, BREAKER + 1);
    ck_assert_int_eq(s.circuit_until, open_until + 10 + COOLDOWN_MS);
    /* a success resets the count and closes the circuit */
    jobs = claim_one(open_until + 10 + COOLDOWN_MS, hook_a, "cnv_1", 1);
    report_delivered(&jobs[0], open_until + COOLDOWN_MS + 11);
    byoc_delivery_jobs_free(jobs, 1);
    s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(s.circuit_until, 0);
}
END_TEST

START_TEST(interrupted_attempt_is_not_a_failure)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 1, hook_a, "cnv_1", 1);
    struct dout shutdown = {.state = BYOC_DELIVERY_PENDING,
                            .next_attempt_at = NOW_MS + 2,
                            .error = "the attempt was interrupted by a shutdown"};
    report(&jobs[0], &shutdown, NOW_MS + 2);
    byoc_delivery_jobs_free(jobs, 1);
    ck_assert_int_eq(hook_state(prov.id, hook_a).failures, 0);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 1), BYOC_DELIVERY_PENDING);
}
END_TEST

START_TEST(gone_disables_and_kills_pending)
{
    conv_with_events("cnv_1", 3, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 1, &n);
    ck_assert_uint_eq(n, 2); /* cnv_1 #1 and cnv_2 #1 */
    const struct byoc_delivery_job *j1 = job_of(jobs, n, hook_a, "cnv_1");
    ck_assert_ptr_nonnull(j1);
    report_gone(j1, NOW_MS + 2);
    byoc_delivery_jobs_free(jobs, n);
    struct hook_state s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.state, BYOC_WEBHOOK_DISABLED);
    ck_assert(s.has_reason);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_DEAD);
    ck_assert_int_eq(d.last_status, 410);
    byoc_delivery_release(&d);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 2), BYOC_DELIVERY_DEAD);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 3), BYOC_DELIVERY_DEAD);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_2", 2), BYOC_DELIVERY_DEAD);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_2", 1), BYOC_DELIVERY_SENDING); /* its own outcome */
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_PENDING, NULL, hook_a), 0);
    ck_assert_int_eq(byoc_store_delivery_next_due(store), INT64_MAX);
    /* the other provider is unaffected */
    ck_assert_int_eq(hook_state(other.id, hook_other).state, BYOC_WEBHOOK_ENABLED);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* DELIVERY_REPLAY                                                                             */

START_TEST(replay_one_dead_delivery)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    kill_head(hook_a, "cnv_1", 1, NOW_MS + 1);
    struct byoc_delivery dead = dlv_for(hook_a, "cnv_1", 1);
    struct byoc_write w;
    ck_assert_int_eq(replay_w(dead.id, NULL, NOW_MS + 50000, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.out.replayed, 1);
    struct byoc_delivery d = dlv_for(hook_a, "cnv_1", 1);
    ck_assert_int_eq(d.state, BYOC_DELIVERY_PENDING);
    ck_assert_int_eq(d.next_attempt_at, NOW_MS + 50000);
    ck_assert_int_eq(d.window_start, NOW_MS + 50000); /* a new deadline */
    ck_assert_ptr_null(d.last_error);
    ck_assert_str_eq(d.event.id, dead.event.id); /* the same event: same webhook-id */
    byoc_delivery_release(&d);
    /* no longer dead: 409 */
    ck_assert_int_eq(replay_w(dead.id, NULL, NOW_MS + 50001, &w), BYOC_ERR_CONFLICT);
    byoc_delivery_release(&dead);
    /* delivered ones cannot be replayed either, and unknown ones are not found */
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 50002, hook_a, "cnv_1", 1);
    report_delivered(&jobs[0], NOW_MS + 50003);
    ck_assert_int_eq(replay_w(jobs[0].d.id, NULL, NOW_MS + 50004, &w), BYOC_ERR_CONFLICT);
    byoc_delivery_jobs_free(jobs, 1);
    ck_assert_int_eq(replay_w("dlv_nope", NULL, NOW_MS + 50005, &w), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(replayed_delivery_blocks_later_ones_again)
{
    conv_with_events("cnv_1", 3, NOW_MS);
    kill_head(hook_a, "cnv_1", 1, NOW_MS + 1);
    /* #2 is now the head: claimed and delivered; #3 stays pending */
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 2, hook_a, "cnv_1", 2);
    report_delivered(&jobs[0], NOW_MS + 3);
    byoc_delivery_jobs_free(jobs, 1);
    struct byoc_delivery dead = dlv_for(hook_a, "cnv_1", 1);
    struct byoc_write w;
    ck_assert_int_eq(replay_w(dead.id, NULL, NOW_MS + 4, &w), BYOC_ERR_OK);
    byoc_delivery_release(&dead);
    /* #1 goes first again; #3 waits behind it */
    jobs = claim_one(NOW_MS + 5, hook_a, "cnv_1", 1);
    report_delivered(&jobs[0], NOW_MS + 6);
    byoc_delivery_jobs_free(jobs, 1);
    jobs = claim_one(NOW_MS + 7, hook_a, "cnv_1", 3);
    byoc_delivery_jobs_free(jobs, 1);
}
END_TEST

START_TEST(replay_one_enables_disabled_subscription)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    struct byoc_delivery_job *jobs = claim_one(NOW_MS + 1, hook_a, "cnv_1", 1);
    report_gone(&jobs[0], NOW_MS + 2);
    struct byoc_write w;
    ck_assert_int_eq(replay_w(jobs[0].d.id, NULL, NOW_MS + 3, &w), BYOC_ERR_OK);
    byoc_delivery_jobs_free(jobs, 1);
    struct hook_state s = hook_state(prov.id, hook_a);
    ck_assert_int_eq(s.state, BYOC_WEBHOOK_ENABLED);
    ck_assert(!s.has_reason);
    ck_assert_int_eq(s.failures, 0);
    /* the replayed one goes; the other dead one stays dead until replayed */
    jobs = claim_one(NOW_MS + 4, hook_a, "cnv_1", 1);
    byoc_delivery_jobs_free(jobs, 1);
    ck_assert_int_eq(dlv_state(hook_a, "cnv_1", 2), BYOC_DELIVERY_DEAD);
}
END_TEST

START_TEST(replay_all_of_a_provider)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events_for(other.id, "cnv_o", 2, NOW_MS);
    /* prov: hook_a's cnv_1 #1 dead by deadline, wh_b disabled by 410 with both dead */
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 1, &n);
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].d.webhook_id, hook_a) == 0)
            report_dead(&jobs[i], NOW_MS + 2);
        else if (strcmp(jobs[i].d.webhook_id, "wh_b") == 0)
            report_gone(&jobs[i], NOW_MS + 2);
        else
            report_dead(&jobs[i], NOW_MS + 2); /* the other provider's */
    }
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, prov.id, NULL), 3);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, other.id, NULL), 1);

    struct byoc_write w;
    ck_assert_int_eq(replay_w(NULL, prov.id, NOW_MS + 10, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.out.replayed, 3);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, prov.id, NULL), 0);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_PENDING, prov.id, NULL), 4);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, other.id, NULL), 1);
    ck_assert_int_eq(hook_state(prov.id, "wh_b").state, BYOC_WEBHOOK_ENABLED);
    /* in their original order per conversation: only the heads are claimable */
    jobs = dclaim(NOW_MS + 11, &n);
    ck_assert_uint_eq(jobs_of_hook(jobs, n, hook_a) + jobs_of_hook(jobs, n, "wh_b"), 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].d.webhook_id, hook_other) != 0)
            ck_assert_int_eq(jobs[i].d.event.seq, 1);
    }
    byoc_delivery_jobs_free(jobs, n);
    /* nothing left to replay */
    ck_assert_int_eq(replay_w(NULL, prov.id, NOW_MS + 12, &w), BYOC_ERR_OK);
    ck_assert_int_eq(w.out.replayed, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Housekeeping of deliveries                                                                  */

START_TEST(housekeep_returns_expired_sending_to_pending)
{
    conv_with_events("cnv_1", 2, NOW_MS);
    conv_with_events("cnv_2", 2, NOW_MS);
    struct claim_args shortlease = {.max = 1, .per_endpoint = 64, .lease_ms = 1000};
    size_t n;
    struct byoc_delivery_job *jobs = dclaim_with(NOW_MS + 1, &shortlease, &n);
    ck_assert_uint_eq(n, 1);
    char conv[BYOC_ID_MAX];
    snprintf(conv, sizeof conv, "%s", jobs[0].d.event.conversation_id);
    byoc_delivery_jobs_free(jobs, n);
    struct claim_args longlease = {.max = 1, .per_endpoint = 64, .lease_ms = 100000};
    jobs = dclaim_with(NOW_MS + 2, &longlease, &n);
    ck_assert_uint_eq(n, 1);
    byoc_delivery_jobs_free(jobs, n);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_SENDING, NULL, NULL), 2);
    housekeep(NOW_MS + 1001); /* exactly at the lease's end: not yet expired */
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_SENDING, NULL, NULL), 2);
    housekeep(NOW_MS + 1002);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_SENDING, NULL, NULL), 1);
    ck_assert_int_eq(dlv_state(hook_a, conv, 1), BYOC_DELIVERY_PENDING);
    /* due again at once, same delivery, next attempt */
    jobs = claim_one(NOW_MS + 1003, hook_a, conv, 1);
    ck_assert_int_eq(jobs[0].d.attempts, 2);
    byoc_delivery_jobs_free(jobs, 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* STUDIO_EVENT                                                                                */

START_TEST(studio_escalate_from_queued)
{
    open_texts("cnv_1", 1, NOW_MS);
    struct studio_args a = {.event = BYOC_STUDIO_ESCALATE,
                            .contact_id = "c-77",
                            .thread_id = "t-cnv_1", /* no contact known yet: by thread */
                            .agent = "Alice",
                            .avatar = "https://cdn.example.com/al.png",
                            .skill = "billing",
                            .reason = "asked for a human",
                            .now = NOW_MS + 1};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.matched);
    ck_assert(w.out.studio.changed);
    ck_assert_str_eq(w.out.studio.conversation_id, "cnv_1");
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_ESCALATED);
    ck_assert_int_eq(w.events, 1);
    EXPECT_TYPES("cnv_1", "conversation.escalated");
    cJSON *d = event_data("cnv_1", 1, "conversation.escalated");
    ck_assert_pstr_eq(byoc_json_str(d, "source"), "studio");
    ck_assert_pstr_eq(byoc_json_str(d, "contact_id"), "c-77");
    ck_assert_pstr_eq(byoc_json_str(d, "skill"), "billing");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "asked for a human");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "name"), "Alice");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(d, "agent", NULL), "avatar_url"),
                      "https://cdn.example.com/al.png");
    ck_assert(!has(d, "case_id"));
    cJSON_Delete(d);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ESCALATED);
    ck_assert_pstr_eq(c.skill_id, "billing");
    byoc_conversation_release(&c);

    /* again: already there, nothing changes */
    a.now = NOW_MS + 2;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.matched);
    ck_assert(!w.out.studio.changed);
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_ESCALATED);
    ck_assert_int_eq(w.events, 0);
    /* CXone accepting the first message now does not escalate a second time */
    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 3), 1);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered");
}
END_TEST

START_TEST(studio_escalate_leaves_agent_joined_alone)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 2);
    ck_assert(!studio(BYOC_STUDIO_ESCALATE, "contact-cnv_1", NOW_MS + 3, BYOC_CONV_AGENT_JOINED));
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_AGENT_JOINED);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 4);
}
END_TEST

START_TEST(studio_end_escalation_then_escalate_again)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);     /* escalated, delivered */
    agent_reply("msg_1", "cnv_1", "Alice", NOW_MS + 2); /* joined, message */
    struct studio_args a = {.event = BYOC_STUDIO_END_ESCALATION,
                            .contact_id = "contact-cnv_1", /* by the contact CXone gave */
                            .reason = "back to the bot",
                            .now = NOW_MS + 3};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.changed);
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_BOT);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_BOT);
    cJSON *d = event_data("cnv_1", 5, "conversation.escalation_ended");
    ck_assert_pstr_eq(byoc_json_str(d, "contact_id"), "contact-cnv_1");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "back to the bot");
    cJSON_Delete(d);
    /* repeated: idempotent */
    ck_assert(!studio(BYOC_STUDIO_END_ESCALATION, "contact-cnv_1", NOW_MS + 4, BYOC_CONV_BOT));
    /* escalated again: a new escalation, and the first agent message of it joins again even
     * from the same agent */
    ck_assert(studio(BYOC_STUDIO_ESCALATE, "contact-cnv_1", NOW_MS + 5, BYOC_CONV_ESCALATED));
    ck_assert_int_eq(agent_reply("msg_2", "cnv_1", "Alice", NOW_MS + 6), 2);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "agent.joined",
                 "agent.message", "conversation.escalation_ended", "conversation.escalated",
                 "agent.joined", "agent.message");
    d = event_data("cnv_1", 6, "conversation.escalated");
    ck_assert_pstr_eq(byoc_json_str(d, "source"), "studio");
    cJSON_Delete(d);
}
END_TEST

START_TEST(studio_end_escalation_from_queued_and_escalated)
{
    open_texts("cnv_1", 1, NOW_MS);
    struct studio_args a = {.event = BYOC_STUDIO_END_ESCALATION,
                            .contact_id = "c-1",
                            .thread_id = "cnv_1",
                            .now = NOW_MS + 1}; /* our conversation id as the thread */
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.matched);
    ck_assert(w.out.studio.changed);
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_BOT);
    open_texts("cnv_2", 1, NOW_MS - 1); /* due before cnv_1's text */
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_2", 1), NOW_MS + 2);
    ck_assert(studio(BYOC_STUDIO_END_ESCALATION, "contact-cnv_2", NOW_MS + 3, BYOC_CONV_BOT));
    EXPECT_TYPES("cnv_1", "conversation.escalation_ended");
    EXPECT_TYPES("cnv_2", "conversation.escalated", "message.delivered",
                 "conversation.escalation_ended");
}
END_TEST

START_TEST(studio_release_ends_by_agent)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    size_t nout = 0;
    struct byoc_outbound *outs = NULL;
    struct studio_args a = {.event = BYOC_STUDIO_ONRELEASE,
                            .contact_id = "contact-cnv_1",
                            .close_id = "out_release",
                            .now = NOW_MS + 2};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.changed);
    ck_assert_int_eq(w.out.studio.state, BYOC_CONV_ENDED);
    ck_assert_int_eq(w.events, 2);
    EXPECT_TYPES("cnv_1", "conversation.escalated", "message.delivered", "conversation.released",
                 "conversation.ended");
    cJSON *d = event_data("cnv_1", 3, "conversation.released");
    ck_assert_pstr_eq(byoc_json_str(d, "contact_id"), "contact-cnv_1");
    cJSON_Delete(d);
    d = event_data("cnv_1", 4, "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(d, "by"), "agent");
    cJSON_Delete(d);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "agent");
    byoc_conversation_release(&c);
    /* the thread's close for CXone is queued last */
    ck_assert_int_eq(byoc_store_outbound_list(store, "cnv_1", 100, &outs, &nout), BYOC_ERR_OK);
    ck_assert_uint_eq(nout, 2);
    ck_assert_str_eq(outs[1].id, "out_release");
    ck_assert_int_eq(outs[1].kind, BYOC_OUT_CLOSE);
    byoc_outbound_list_free(outs, nout);
    /* again, or anything else after the end: changed=false, state ended, no events */
    ck_assert(!studio(BYOC_STUDIO_ONRELEASE, "contact-cnv_1", NOW_MS + 3, BYOC_CONV_ENDED));
    ck_assert(!studio(BYOC_STUDIO_END_ESCALATION, "contact-cnv_1", NOW_MS + 4, BYOC_CONV_ENDED));
    ck_assert(!studio(BYOC_STUDIO_ESCALATE, "contact-cnv_1", NOW_MS + 5, BYOC_CONV_ENDED));
    ck_assert_int_eq(agent_reply("msg_late", "cnv_1", "Alice", NOW_MS + 6), 0);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 4);
    ck_assert_int_eq(byoc_store_outbound_list(store, "cnv_1", 100, &outs, &nout), BYOC_ERR_OK);
    ck_assert_uint_eq(nout, 2); /* no second close */
    byoc_outbound_list_free(outs, nout);
}
END_TEST

START_TEST(studio_release_with_reason)
{
    open_texts("cnv_1", 1, NOW_MS);
    struct studio_args a = {.event = BYOC_STUDIO_ONRELEASE,
                            .contact_id = "c-1",
                            .thread_id = "t-cnv_1",
                            .reason = "agent wrapped up",
                            .now = NOW_MS + 1};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(w.out.studio.changed);
    cJSON *d = event_data("cnv_1", 2, "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(d, "by"), "agent");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "agent wrapped up");
    cJSON_Delete(d);
    d = event_data("cnv_1", 1, "conversation.released");
    ck_assert_pstr_eq(byoc_json_str(d, "reason"), "agent wrapped up");
    cJSON_Delete(d);
}
END_TEST

START_TEST(studio_unknown_contact_is_stored_unmatched)
{
    open_texts("cnv_1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    struct studio_args a = {.event = BYOC_STUDIO_ESCALATE,
                            .contact_id = "c-unknown",
                            .thread_id = "t-nope",
                            .now = NOW_MS + 2};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(!w.out.studio.matched);
    ck_assert(!w.out.studio.changed);
    ck_assert_str_eq(w.out.studio.conversation_id, "");
    ck_assert_int_eq(w.events, 0);
    /* prov's contact, but called with the other provider's secret: not prov's conversation */
    a = (struct studio_args){.provider_id = other.id,
                             .event = BYOC_STUDIO_ONRELEASE,
                             .contact_id = "contact-cnv_1",
                             .now = NOW_MS + 3};
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    ck_assert(!w.out.studio.matched);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);
    /* a matched call */
    ck_assert(studio(BYOC_STUDIO_END_ESCALATION, "contact-cnv_1", NOW_MS + 4, BYOC_CONV_BOT));

    struct byoc_studio_call *calls = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_studio_call_list(store, prov.id, true, 0, 100, &calls, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(calls[0].event, "ESCALATE");
    ck_assert_pstr_eq(calls[0].contact_id, "c-unknown");
    ck_assert_pstr_eq(calls[0].thread_id, "t-nope");
    ck_assert_ptr_null(calls[0].conversation_id);
    ck_assert_str_eq(calls[0].provider_id, prov.id);
    ck_assert_int_eq(calls[0].received_at, NOW_MS + 2);
    ck_assert_int_eq(strncmp(calls[0].id, "sev_", 4), 0);
    byoc_studio_call_list_free(calls, n);
    ck_assert_int_eq(byoc_store_studio_call_list(store, prov.id, false, 0, 100, &calls, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(calls[1].event, "END_ESCALATION");
    ck_assert_pstr_eq(calls[1].conversation_id, "cnv_1");
    ck_assert_int_gt(calls[1].cursor, calls[0].cursor);
    /* paging */
    int64_t after = calls[0].cursor;
    byoc_studio_call_list_free(calls, n);
    ck_assert_int_eq(byoc_store_studio_call_list(store, prov.id, false, after, 100, &calls, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(calls[0].event, "END_ESCALATION");
    byoc_studio_call_list_free(calls, n);
    ck_assert_int_eq(byoc_store_studio_call_list(store, other.id, true, 0, 100, &calls, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(calls[0].event, "ONRELEASE");
    byoc_studio_call_list_free(calls, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* WEBHOOK_ROTATE                                                                              */

static enum byoc_err rotate(const char *provider_id, const char *id, const struct byoc_blob *nw,
                            int64_t old_until, int64_t now)
{
    struct byoc_write w = {.kind = BYOC_WRITE_WEBHOOK_ROTATE};
    w.in.webhook_ref.provider_id = provider_id;
    w.in.webhook_ref.webhook_id = id;
    w.in.webhook_ref.secret_sealed = nw;
    w.in.webhook_ref.old_until = old_until;
    w.in.webhook_ref.now = now;
    return byoc_store_write(store, &w);
}

START_TEST(rotate_keeps_old_secret_until_expiry)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    struct byoc_blob nw = {(uint8_t *)SEALED_2, sizeof SEALED_2 - 1};
    const int64_t r = NOW_MS + 100, until = NOW_MS + 100 + 86400000LL;
    ck_assert_int_eq(rotate(prov.id, "wh_b", &nw, until, r), BYOC_ERR_OK);
    size_t n;
    struct byoc_webhook *list = hooks_of(prov.id, &n);
    ck_assert_uint_eq(n, 2);
    const struct byoc_webhook *b = &list[1];
    ck_assert_str_eq(b->id, "wh_b");
    ck_assert_uint_eq(b->secret_sealed.len, sizeof SEALED_2 - 1);
    ck_assert_mem_eq(b->secret_sealed.data, SEALED_2, sizeof SEALED_2 - 1);
    ck_assert_ptr_nonnull(b->old_secret_sealed.data);
    ck_assert_uint_eq(b->old_secret_sealed.len, sizeof SEALED_1 - 1);
    ck_assert_mem_eq(b->old_secret_sealed.data, SEALED_1, sizeof SEALED_1 - 1);
    ck_assert_int_eq(b->old_secret_until, until);
    ck_assert_int_eq(b->secret_rotated_at, r);
    byoc_webhook_list_free(list, n);

    /* a delivery claimed before the old secret expires carries both */
    conv_with_events("cnv_1", 3, NOW_MS + 200);
    struct byoc_delivery_job *jobs = dclaim(until - 1, &n);
    const struct byoc_delivery_job *j = job_of(jobs, n, "wh_b", "cnv_1");
    ck_assert_ptr_nonnull(j);
    ck_assert_mem_eq(j->secret_sealed.data, SEALED_2, sizeof SEALED_2 - 1);
    ck_assert_ptr_nonnull(j->old_secret_sealed.data);
    ck_assert_mem_eq(j->old_secret_sealed.data, SEALED_1, sizeof SEALED_1 - 1);
    report_delivered(j, until - 1);
    byoc_delivery_jobs_free(jobs, n);
    /* from its expiry on, only the new one */
    jobs = dclaim(until, &n);
    j = job_of(jobs, n, "wh_b", "cnv_1");
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(j->d.event.seq, 2);
    ck_assert_mem_eq(j->secret_sealed.data, SEALED_2, sizeof SEALED_2 - 1);
    ck_assert_ptr_null(j->old_secret_sealed.data);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

START_TEST(rotate_unknown_or_foreign_not_found)
{
    struct byoc_blob nw = {(uint8_t *)SEALED_2, sizeof SEALED_2 - 1};
    ck_assert_int_eq(rotate(prov.id, "wh_nope", &nw, NOW_MS + 1, NOW_MS), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(rotate(other.id, hook_a, &nw, NOW_MS + 1, NOW_MS), BYOC_ERR_NOT_FOUND);
    size_t n;
    struct byoc_webhook *list = hooks_of(prov.id, &n);
    ck_assert_ptr_null(list[0].old_secret_sealed.data);
    ck_assert_int_eq(list[0].secret_rotated_at, 0);
    ck_assert_mem_eq(list[0].secret_sealed.data, prov.webhook_secret_sealed.data,
                     prov.webhook_secret_sealed.len);
    byoc_webhook_list_free(list, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* PROVIDER_DELETE                                                                             */

START_TEST(provider_delete_takes_webhooks_deliveries_events)
{
    ck_assert_int_eq(hook_create(prov.id, "wh_b", NULL, NOW_MS), BYOC_ERR_OK);
    conv_with_events("cnv_1", 3, NOW_MS);
    conv_with_events_for(other.id, "cnv_o", 2, NOW_MS);
    struct studio_args a = {.event = BYOC_STUDIO_ESCALATE, .contact_id = "c-x", .now = NOW_MS};
    struct byoc_write w;
    ck_assert_int_eq(studio_w(&a, &w), BYOC_ERR_OK);
    size_t n;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 1, &n); /* some in flight too */
    byoc_delivery_jobs_free(jobs, n);

    w = (struct byoc_write){.kind = BYOC_WRITE_PROVIDER_DELETE, .in.provider_id = prov.id};
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    struct byoc_webhook *hooks = hooks_of(prov.id, &n);
    ck_assert_uint_eq(n, 0);
    byoc_webhook_list_free(hooks, n);
    ck_assert_uint_eq(dlv_count(-1, prov.id, NULL), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, hook_a), 0);
    ck_assert_uint_eq(dlv_count(-1, NULL, "wh_b"), 0);
    ck_assert_uint_eq(event_count(prov.id, NULL), 0);
    ck_assert_uint_eq(event_count(prov.id, "cnv_1"), 0);
    struct byoc_studio_call *calls = NULL;
    ck_assert_int_eq(byoc_store_studio_call_list(store, prov.id, false, 0, 100, &calls, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 0);
    byoc_studio_call_list_free(calls, n);
    /* the other provider keeps everything */
    ck_assert_uint_eq(event_count(other.id, "cnv_o"), 2);
    ck_assert_uint_eq(dlv_count(-1, other.id, NULL), 2);
    hooks = hooks_of(other.id, &n);
    ck_assert_uint_eq(n, 1);
    byoc_webhook_list_free(hooks, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

/* ---- retention ------------------------------------------------------------------------- */

static void housekeep_keep(int64_t now, int64_t keep_ms)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_HOUSEKEEP};
    w.in.housekeep.now = now;
    w.in.housekeep.close_deadline_ms = DEADLINE_MS;
    w.in.housekeep.event_keep_ms = keep_ms;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
}

/* Old events go once no delivery needs them; a dead delivery keeps its event for a replay; new
 * events and the per-conversation numbering stay. */
START_TEST(old_events_purged_unless_a_delivery_needs_them)
{
    conv_with_events("conv_dead", 2, NOW_MS);
    kill_head(hook_a, "conv_dead", 1, NOW_MS + 1);
    conv_with_events("conv_old", 3, NOW_MS);
    housekeep_keep(NOW_MS + 100000, 50000); /* everything is old, but all is still needed */
    ck_assert_uint_eq(event_count(prov.id, "conv_old"), 3);
    size_t n = 0;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 100001, &n);
    for (size_t i = 0; i < n; i++)
        report_delivered(&jobs[i], NOW_MS + 100001);
    byoc_delivery_jobs_free(jobs, n);
    housekeep_keep(NOW_MS + 100002, 50000);
    /* conv_old's first event was delivered: it goes; its later ones still wait (pending) */
    ck_assert_uint_eq(event_count(prov.id, "conv_old"), 2);
    ck_assert_uint_eq(event_count(prov.id, "conv_dead"), 1); /* seq 1 is dead and stays */
    ck_assert_int_eq(dlv_state(hook_a, "conv_dead", 1), BYOC_DELIVERY_DEAD);
    conv_with_events("conv_new", 2, NOW_MS + 100003);
    housekeep_keep(NOW_MS + 100004, 50000);
    ck_assert_uint_eq(event_count(prov.id, "conv_new"), 2); /* young: kept */
    ck_assert_int_eq(agent_reply("msg_conv_old_late", "conv_old", "Alice", NOW_MS + 100005), 1);
    size_t m = 0;
    struct byoc_event *ev = events_of(prov.id, "conv_old", &m);
    ck_assert_uint_eq(m, 3);
    ck_assert_int_eq(ev[m - 1].seq, 4); /* numbering goes on after a purge */
    byoc_event_list_free(ev, m);
}
END_TEST

static enum byoc_err hook_delete_quiet(const char *provider_id, const char *id)
{
    struct byoc_write w = {.kind = BYOC_WRITE_WEBHOOK_DELETE};
    w.in.webhook_ref.provider_id = provider_id;
    w.in.webhook_ref.webhook_id = id;
    return byoc_store_write(store, &w);
}

static void housekeep_deadline(int64_t now, int64_t deadline_ms)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_HOUSEKEEP};
    w.in.housekeep.now = now;
    w.in.housekeep.close_deadline_ms = DEADLINE_MS;
    w.in.housekeep.delivery_deadline_ms = deadline_ms;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
}

/* A cursor is never handed out twice, even after retention emptied the table: a client holding
 * an old cursor must still see what comes next. */
START_TEST(cursor_not_reused_after_purge)
{
    ck_assert_int_eq(hook_delete_quiet(prov.id, hook_a), BYOC_ERR_OK); /* nothing holds them */
    conv_with_events("conv_a", 3, NOW_MS);
    size_t n = 0;
    struct byoc_event *ev = events_of(prov.id, NULL, &n);
    ck_assert_uint_eq(n, 3);
    int64_t last = ev[n - 1].cursor;
    byoc_event_list_free(ev, n);
    housekeep_keep(NOW_MS + 100000, 50000);
    ck_assert_uint_eq(event_count(prov.id, NULL), 0);
    conv_with_events("conv_b", 2, NOW_MS + 100001);
    ev = events_of(prov.id, NULL, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_gt(ev[0].cursor, last);
    byoc_event_list_free(ev, n);
}
END_TEST

/* Deliveries die at their deadline even when nothing is attempted (an open circuit). */
START_TEST(deadline_kills_unattempted_and_promotes_the_next)
{
    conv_with_events("conv_a", 3, NOW_MS); /* seq 1 due, 2 and 3 held */
    struct byoc_delivery held = dlv_for(hook_a, "conv_a", 2);
    ck_assert_int_eq(held.next_attempt_at, 0);
    byoc_delivery_release(&held);
    housekeep_deadline(NOW_MS + 1000, 5000); /* young: nothing dies */
    ck_assert_int_eq(dlv_state(hook_a, "conv_a", 1), BYOC_DELIVERY_PENDING);
    conv_with_events("conv_b", 2, NOW_MS + 4000); /* another, younger conversation */
    housekeep_deadline(NOW_MS + 6000, 5000);
    for (int64_t seq = 1; seq <= 3; seq++)
        ck_assert_int_eq(dlv_state(hook_a, "conv_a", seq), BYOC_DELIVERY_DEAD);
    ck_assert_int_eq(dlv_state(hook_a, "conv_b", 1), BYOC_DELIVERY_PENDING);
    struct byoc_delivery d = dlv_for(hook_a, "conv_a", 1);
    ck_assert_ptr_nonnull(d.last_error);
    ck_assert_ptr_nonnull(strstr(d.last_error, "deadline"));
    byoc_delivery_release(&d);
}
END_TEST

/* A retry that comes back after a 410 disabled the subscription dies instead of waiting for an
 * endpoint nobody will call again. */
START_TEST(retry_after_disable_dies)
{
    conv_with_events("conv_a", 2, NOW_MS);
    conv_with_events("conv_b", 2, NOW_MS);
    size_t n = 0;
    struct byoc_delivery_job *jobs = dclaim(NOW_MS + 10, &n);
    ck_assert_uint_eq(n, 2); /* both heads in flight */
    report_gone(&jobs[0], NOW_MS + 20);
    ck_assert_int_eq(hook_state(prov.id, hook_a).state, BYOC_WEBHOOK_DISABLED);
    report_failed(&jobs[1], NOW_MS + 1000, NOW_MS + 30);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_PENDING, prov.id, hook_a), 0);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_SENDING, prov.id, hook_a), 0);
    ck_assert_uint_eq(dlv_count(BYOC_DELIVERY_DEAD, prov.id, hook_a), 4);
    byoc_delivery_jobs_free(jobs, n);
}
END_TEST

static Suite *events_store_suite(void)
{
    Suite *s = suite_create("events_store");
    TCase *tc = tcase("emit");
    tcase_add_test(tc, first_text_delivered_escalates_then_delivered);
    tcase_add_test(tc, typing_and_retries_emit_nothing);
    tcase_add_test(tc, failed_opening_fails_queued_texts_then_ends);
    tcase_add_test(tc, failed_later_text_keeps_conversation);
    tcase_add_test(tc, agent_messages_join_then_message);
    tcase_add_test(tc, agent_message_duplicate_or_unmatched_emits_nothing);
    tcase_add_test(tc, end_emits_ended_once_and_nothing_after);
    tcase_add_test(tc, bot_message_outcome_after_end_is_still_reported);
    tcase_add_test(tc, failed_opening_after_end_does_not_end_twice);
    tcase_add_test(tc, inactivity_end_emits_ended);
    tcase_add_test(tc, seq_per_conversation_without_gaps);
    tcase_add_test(tc, event_lists_are_scoped_to_the_provider);
    suite_add_tcase(s, tc);

    tc = tcase("atomic");
    tcase_add_test(tc, failed_end_rolls_back_its_event);
    tcase_add_test(tc, failed_studio_release_rolls_back_its_events);
    tcase_add_test(tc, idempotency_conflict_emits_nothing);
    tcase_add_test(tc, not_found_writes_emit_nothing);
    tcase_add_test(tc, listener_called_after_commits_with_events_only);
    suite_add_tcase(s, tc);

    tc = tcase("fanout");
    tcase_add_test(tc, provider_webhook_url_is_first_subscription);
    tcase_add_test(tc, every_event_gets_a_pending_delivery);
    tcase_add_test(tc, filtered_subscription_gets_only_its_types);
    tcase_add_test(tc, later_subscription_gets_only_later_events);
    tcase_add_test(tc, disabled_subscription_gets_nothing);
    tcase_add_test(tc, webhook_delete_takes_its_deliveries);
    tcase_add_test(tc, webhook_create_for_unknown_provider_not_found);
    suite_add_tcase(s, tc);

    tc = tcase("claim");
    tcase_add_test(tc, claim_takes_only_heads);
    tcase_add_test(tc, claim_respects_per_endpoint_and_max);
    tcase_add_test(tc, claim_respects_max);
    tcase_add_test(tc, claim_waits_for_next_attempt);
    tcase_add_test(tc, half_open_circuit_gets_one_probe);
    tcase_add_test(tc, next_due_counts_heads_and_circuits);
    tcase_add_test(tc, saturated_subscription_does_not_hold_back_another);
    suite_add_tcase(s, tc);

    tc = tcase("outcomes");
    tcase_add_test(tc, delivered_unblocks_next_seq);
    tcase_add_test(tc, retry_keeps_order_and_waits);
    tcase_add_test(tc, dead_unblocks_next_seq);
    tcase_add_test(tc, stale_attempt_outcome_is_ignored);
    tcase_add_test(tc, failures_open_circuit_at_threshold_success_resets);
    tcase_add_test(tc, interrupted_attempt_is_not_a_failure);
    tcase_add_test(tc, gone_disables_and_kills_pending);
    suite_add_tcase(s, tc);

    tc = tcase("replay");
    tcase_add_test(tc, replay_one_dead_delivery);
    tcase_add_test(tc, replayed_delivery_blocks_later_ones_again);
    tcase_add_test(tc, replay_one_enables_disabled_subscription);
    tcase_add_test(tc, replay_all_of_a_provider);
    suite_add_tcase(s, tc);

    tc = tcase("housekeep");
    tcase_add_test(tc, housekeep_returns_expired_sending_to_pending);
    suite_add_tcase(s, tc);

    tc = tcase("studio");
    tcase_add_test(tc, studio_escalate_from_queued);
    tcase_add_test(tc, studio_escalate_leaves_agent_joined_alone);
    tcase_add_test(tc, studio_end_escalation_then_escalate_again);
    tcase_add_test(tc, studio_end_escalation_from_queued_and_escalated);
    tcase_add_test(tc, studio_release_ends_by_agent);
    tcase_add_test(tc, studio_release_with_reason);
    tcase_add_test(tc, studio_unknown_contact_is_stored_unmatched);
    suite_add_tcase(s, tc);

    tc = tcase("rotate");
    tcase_add_test(tc, rotate_keeps_old_secret_until_expiry);
    tcase_add_test(tc, rotate_unknown_or_foreign_not_found);
    suite_add_tcase(s, tc);

    tc = tcase("provider_delete");
    tcase_add_test(tc, provider_delete_takes_webhooks_deliveries_events);
    suite_add_tcase(s, tc);

    tc = tcase("retention");
    tcase_add_test(tc, old_events_purged_unless_a_delivery_needs_them);
    tcase_add_test(tc, cursor_not_reused_after_purge);
    tcase_add_test(tc, deadline_kills_unattempted_and_promotes_the_next);
    tcase_add_test(tc, retry_after_disable_dies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(events_store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
