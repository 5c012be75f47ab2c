/*
 * The relay half of byoc/store.h on SQLite: conversations opened by bot platforms, their ordered
 * outbound queue (add, claim, outcome, housekeeping, end), Idempotency-Key answers, agent replies
 * matched to conversations; and the retry policy byoc_relay_backoff_ms of byoc/relay.h.
 *
 * Every test uses a fresh ":memory:" store holding two providers: prov (inactivity timeout
 * INACTIVITY_S) and other (no timeout). Time is explicit: every write carries its own "now".
 */
#include "byoc/store.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/provider.h"
#include "byoc/relay.h"
#include "byoc/banned.h"

#define NOW_MS 1700000000000LL
#define DEADLINE_MS 3600000LL /* outbound messages give up an hour after they were queued */
#define LEASE_MS 60000LL
#define INACTIVITY_S 30
#define PAYLOAD "{\"text\":\"hello\"}"
#define RAW "{\"text\":\"agent says hi\"}"

static struct byoc_store *store;
static struct byoc_keys keys;
static struct byoc_provider prov;  /* inactivity_timeout_s = INACTIVITY_S */
static struct byoc_provider other; /* inactivity_timeout_s = 0 */

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
    ck_assert_int_eq(p->inactivity_timeout_s, inactivity_s);
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
    provider_given(&prov, "Acme Support", INACTIVITY_S, NOW_MS);
    provider_given(&other, "Other Corp", 0, NOW_MS + 1);
}

static void teardown(void)
{
    byoc_store_close(store);
    store = NULL;
    byoc_provider_release(&prov);
    byoc_provider_release(&other);
}

/* ------------------------------------------------------------------------------------------ */
/* Builders and write helpers                                                                  */

/* The id of message number k (1-based) opened with conversation conv. */
static const char *mid(char buf[BYOC_ID_MAX], const char *conv, size_t k)
{
    snprintf(buf, BYOC_ID_MAX, "out_%s_%zu", conv, k);
    return buf;
}

static struct byoc_conversation conv_of(const char *provider_id, const char *id, const char *thread,
                                        int64_t at, int64_t inactive_at)
{
    struct byoc_conversation c = {.channel_id = (char *)"ch-1",
                                  .thread_id = (char *)thread,
                                  .end_user_id = (char *)"user-7",
                                  .end_user_json =
                                      (char *)"{\"id\":\"user-7\",\"first_name\":\"Ann\"}",
                                  .reason = (char *)"wants a human",
                                  .skill_id = (char *)"skill-9",
                                  .state = BYOC_CONV_QUEUED,
                                  .created_at = at,
                                  .updated_at = at,
                                  .inactive_at = inactive_at};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.provider_id, sizeof c.provider_id, "%s", provider_id);
    return c;
}

/* A message queued at `at` (its first attempt is due then); strings are literals. */
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

/* Opens conversation id on thread for provider_id with messages of the given kinds, all queued
 * at `at`, ids mid(id, 1..n). inactive_at 0: none. */
static enum byoc_err open_kinds(const char *provider_id, const char *id, const char *thread,
                                int64_t at, int64_t inactive_at, const enum byoc_out_kind *kinds,
                                size_t n, const struct byoc_idem *idem, struct byoc_write *w)
{
    ck_assert_uint_le(n, MAX_OPEN);
    struct byoc_conversation c = conv_of(provider_id, id, thread, at, inactive_at);
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

/* Opens a conversation of prov with ntext text messages queued at `at`; asserts success. */
static void open_texts(const char *id, const char *thread, size_t ntext, int64_t at)
{
    enum byoc_out_kind kinds[MAX_OPEN];
    for (size_t i = 0; i < ntext; i++)
        kinds[i] = BYOC_OUT_TEXT;
    struct byoc_write w;
    ck_assert_int_eq(open_kinds(prov.id, id, thread, at, 0, kinds, ntext, NULL, &w), BYOC_ERR_OK);
    ck_assert(!w.idem.hit);
}

static enum byoc_err add_msg(const char *provider_id, const struct byoc_outbound *m,
                             bool user_activity, int64_t now, struct byoc_write *w)
{
    *w = (struct byoc_write){.kind = BYOC_WRITE_OUTBOUND_ADD};
    w->in.add.provider_id = provider_id;
    w->in.add.msg = m;
    w->in.add.user_activity = user_activity;
    w->in.add.now = now;
    return byoc_store_write(store, w);
}

static enum byoc_err end_conv(const char *provider_id, const char *conv_id, const char *by,
                              const char *reason, const char *close_id, int64_t now)
{
    struct byoc_outbound close = out_of(close_id, conv_id, BYOC_OUT_CLOSE, NULL, now);
    struct byoc_write w = {.kind = BYOC_WRITE_CONVERSATION_END};
    w.in.end.provider_id = provider_id;
    w.in.end.conversation_id = conv_id;
    w.in.end.ended_by = by;
    w.in.end.reason = reason;
    w.in.end.close_msg = &close;
    w.in.end.now = now;
    return byoc_store_write(store, &w);
}

/* The claimed job, or NULL when nothing is due; asserts the write itself succeeded. */
static struct byoc_relay_job *claim(int64_t now, int64_t lease_ms)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_CLAIM};
    w.in.claim.now = now;
    w.in.claim.lease_ms = lease_ms;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    return w.out.job;
}

static struct byoc_relay_job *claim_some(int64_t now)
{
    struct byoc_relay_job *job = claim(now, LEASE_MS);
    ck_assert_msg(job != NULL, "nothing claimable at %lld", (long long)now);
    return job;
}

struct outcome {
    enum byoc_out_state state;
    int64_t next_attempt_at, now;
    const char *last_error, *contact_id, *case_id, *interaction_id;
};

static enum byoc_err outcome_for(const char *message_id, const char *conv_id, bool text,
                                 int64_t attempt, const struct outcome *o)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_OUTCOME};
    w.in.outcome.attempt = attempt;
    w.in.outcome.message_id = message_id;
    w.in.outcome.conversation_id = conv_id;
    w.in.outcome.state = o->state;
    w.in.outcome.text = text;
    w.in.outcome.next_attempt_at = o->next_attempt_at;
    w.in.outcome.now = o->now;
    w.in.outcome.last_error = o->last_error;
    w.in.outcome.contact_id = o->contact_id;
    w.in.outcome.case_id = o->case_id;
    w.in.outcome.interaction_id = o->interaction_id;
    return byoc_store_write(store, &w);
}

static enum byoc_err outcome(const struct byoc_relay_job *job, const struct outcome *o)
{
    return outcome_for(job->msg.id, job->conv.id, job->msg.kind == BYOC_OUT_TEXT, job->msg.attempts,
                       o);
}

/* Claims the next due job at now, asserts it is message `want_id`, reports it delivered. */
static void deliver_next(const char *want_id, int64_t now)
{
    struct byoc_relay_job *job = claim_some(now);
    ck_assert_str_eq(job->msg.id, want_id);
    struct outcome o = {.state = BYOC_OUT_DELIVERED, .now = now, .contact_id = "contact-1"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);
}

static enum byoc_err housekeep(int64_t now, int64_t close_deadline_ms, int64_t *ended)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_HOUSEKEEP};
    w.in.housekeep.now = now;
    w.in.housekeep.close_deadline_ms = close_deadline_ms;
    enum byoc_err e = byoc_store_write(store, &w);
    *ended = w.out.ended;
    return e;
}

/* The conversation, asserted present (any provider); release with byoc_conversation_release. */
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

/* All outbound messages of conv, in seq order; free with byoc_outbound_list_free. */
static struct byoc_outbound *out_list(const char *conv, size_t *n)
{
    struct byoc_outbound *list = NULL;
    *n = 0;
    ck_assert_int_eq(byoc_store_outbound_list(store, conv, 1000, &list, n), BYOC_ERR_OK);
    return list;
}

static size_t out_count(const char *conv)
{
    size_t n;
    struct byoc_outbound *list = out_list(conv, &n);
    byoc_outbound_list_free(list, n);
    return n;
}

/* The state of message id of conv. */
static enum byoc_out_state out_state(const char *conv, const char *id)
{
    size_t n;
    struct byoc_outbound *list = out_list(conv, &n);
    int found = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].id, id) == 0)
            found = (int)list[i].state;
    }
    byoc_outbound_list_free(list, n);
    ck_assert_msg(found >= 0, "message %s not in %s", id, conv);
    return (enum byoc_out_state)found;
}

static struct byoc_idem idem_of(const char *key, const char *request, int status, const char *body)
{
    struct byoc_idem k = {.key = key, .status = status, .body = body};
    byoc_sha256(request, strlen(request), k.request_hash);
    return k;
}

/* An agent reply pointing at caller-owned strings. */
static struct byoc_agent_msg reply_of(const char *provider_id, const char *id, const char *dedupe,
                                      const char *thread, const char *agent, int64_t at)
{
    struct byoc_agent_msg m = {.kind = BYOC_AGENT_MSG_REPLY,
                               .dedupe_key = (char *)dedupe,
                               .thread_ref = (char *)thread,
                               .text = (char *)"Hi, I am here to help",
                               .attachments_json = (char *)"[]",
                               .agent_name = (char *)agent,
                               .agent_avatar_url = (char *)"https://cdn.example.com/a.png",
                               .raw_body = (char *)RAW,
                               .raw_len = sizeof RAW - 1,
                               .received_at = at};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.provider_id, sizeof m.provider_id, "%s", provider_id);
    return m;
}

static enum byoc_err reply_add(const struct byoc_agent_msg *m, struct byoc_write *w)
{
    *w = (struct byoc_write){.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = m};
    return byoc_store_write(store, w);
}

/* ------------------------------------------------------------------------------------------ */
/* CONVERSATION_OPEN and the reads                                                             */

START_TEST(open_stores_conversation)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, NOW_MS + 30000, kinds, 1, NULL, &w),
        BYOC_ERR_OK);
    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, prov.id, "cnv_1", &c), BYOC_ERR_OK);
    ck_assert_str_eq(c.id, "cnv_1");
    ck_assert_str_eq(c.provider_id, prov.id);
    ck_assert_str_eq(c.channel_id, "ch-1");
    ck_assert_str_eq(c.thread_id, "thr-1");
    ck_assert_str_eq(c.end_user_id, "user-7");
    ck_assert_str_eq(c.end_user_json, "{\"id\":\"user-7\",\"first_name\":\"Ann\"}");
    ck_assert_pstr_eq(c.reason, "wants a human");
    ck_assert_pstr_eq(c.skill_id, "skill-9");
    ck_assert_int_eq(c.state, BYOC_CONV_QUEUED);
    ck_assert_ptr_null(c.cxone_contact_id);
    ck_assert_ptr_null(c.cxone_case_id);
    ck_assert_ptr_null(c.agent_name);
    ck_assert_ptr_null(c.ended_by);
    ck_assert_ptr_null(c.ended_reason);
    ck_assert_int_eq(c.created_at, NOW_MS);
    ck_assert_int_eq(c.ended_at, 0);
    ck_assert_int_eq(c.inactive_at, NOW_MS + 30000);
    byoc_conversation_release(&c);
    /* provider_id NULL reads any provider's conversation */
    ck_assert_int_eq(byoc_store_conversation_get(store, NULL, "cnv_1", &c), BYOC_ERR_OK);
    ck_assert_str_eq(c.thread_id, "thr-1");
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(open_is_scoped_to_its_provider)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, other.id, "cnv_1", &c), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(byoc_store_conversation_get(store, prov.id, "cnv_nope", &c),
                     BYOC_ERR_NOT_FOUND);
    /* the other provider may use the same thread id for its own conversation */
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(other.id, "cnv_2", "thr-1", NOW_MS, 0, kinds, 1, NULL, &w),
                     BYOC_ERR_OK);
    ck_assert_int_eq(byoc_store_conversation_get(store, prov.id, "cnv_2", &c), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(byoc_store_conversation_get(store, other.id, "cnv_2", &c), BYOC_ERR_OK);
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(open_stores_messages_in_seq_order)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT, BYOC_OUT_TEXT, BYOC_OUT_TYPING,
                                        BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 4, NULL, &w),
                     BYOC_ERR_OK);
    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 4);
    char buf[BYOC_ID_MAX];
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(list[i].id, mid(buf, "cnv_1", i + 1));
        ck_assert_str_eq(list[i].conversation_id, "cnv_1");
        ck_assert_int_eq(list[i].seq, (int64_t)i + 1);
        ck_assert_int_eq(list[i].kind, kinds[i]);
        ck_assert_int_eq(list[i].state, BYOC_OUT_QUEUED);
        ck_assert_int_eq(list[i].attempts, 0);
        ck_assert_pstr_eq(list[i].payload, PAYLOAD);
        ck_assert_ptr_null(list[i].client_message_id);
        ck_assert_int_eq(list[i].next_attempt_at, NOW_MS);
        ck_assert_int_eq(list[i].deadline_at, NOW_MS + DEADLINE_MS);
        ck_assert_int_eq(list[i].delivered_at, 0);
        ck_assert_ptr_null(list[i].last_error);
    }
    byoc_outbound_list_free(list, n);
    /* a limit keeps the newest, still oldest first */
    ck_assert_int_eq(byoc_store_outbound_list(store, "cnv_1", 2, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(list[0].seq, 3);
    ck_assert_int_eq(list[1].seq, 4);
    byoc_outbound_list_free(list, n);
}
END_TEST

START_TEST(open_same_thread_twice_conflicts)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_2", "thr-1", NOW_MS, 0, kinds, 1, NULL, &w),
                     BYOC_ERR_CONFLICT);
    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, NULL, "cnv_2", &c), BYOC_ERR_NOT_FOUND);
    ck_assert_uint_eq(out_count("cnv_2"), 0);
    ck_assert_uint_eq(out_count("cnv_1"), 2);
}
END_TEST

START_TEST(open_for_unknown_provider_stores_nothing)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds("prv_nope", "cnv_1", "thr-1", NOW_MS, 0, kinds, 1, NULL, &w),
                     BYOC_ERR_NOT_FOUND);
    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, NULL, "cnv_1", &c), BYOC_ERR_NOT_FOUND);
    ck_assert_uint_eq(out_count("cnv_1"), 0);
}
END_TEST

START_TEST(conversation_list_filters_and_pages)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    open_texts("cnv_2", "thr-2", 1, NOW_MS + 1);
    open_texts("cnv_3", "thr-3", 1, NOW_MS + 2);
    ck_assert_int_eq(end_conv(prov.id, "cnv_2", "bot", "done", "out_close_2", NOW_MS + 3),
                     BYOC_ERR_OK);
    struct byoc_conversation *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_conversation_list(store, prov.id, -1, NULL, 0, 10, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].id, "cnv_1");
    ck_assert_str_eq(list[2].id, "cnv_3");
    int64_t after = list[0].cursor;
    byoc_conversation_list_free(list, n);

    ck_assert_int_eq(
        byoc_store_conversation_list(store, prov.id, BYOC_CONV_ENDED, NULL, 0, 10, &list, &n),
        BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, "cnv_2");
    byoc_conversation_list_free(list, n);

    ck_assert_int_eq(
        byoc_store_conversation_list(store, prov.id, -1, "user-7", after, 1, &list, &n),
        BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, "cnv_2");
    byoc_conversation_list_free(list, n);

    ck_assert_int_eq(
        byoc_store_conversation_list(store, prov.id, -1, "someone-else", 0, 10, &list, &n),
        BYOC_ERR_OK);
    ck_assert_uint_eq(n, 0);
    byoc_conversation_list_free(list, n);
    ck_assert_int_eq(byoc_store_conversation_list(store, other.id, -1, NULL, 0, 10, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 0);
    byoc_conversation_list_free(list, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Idempotency keys                                                                            */

START_TEST(idem_replay_of_open_returns_first_answer)
{
    struct byoc_idem first = idem_of("key-1", "request one", 201, "{\"id\":\"cnv_1\"}");
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT, BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 2, &first, &w),
                     BYOC_ERR_OK);
    ck_assert(!w.idem.hit);

    /* The same key with another request: refused, even when the stores race (no hit). */
    struct byoc_idem reuse = idem_of("key-1", "request two", 202, "{\"id\":\"cnv_2\"}");
    ck_assert_int_eq(open_kinds(prov.id, "cnv_2", "thr-2", NOW_MS + 5, 0, kinds, 2, &reuse, &w),
                     BYOC_ERR_IDEMPOTENCY_REUSED);
    ck_assert(!w.idem.hit);
    struct byoc_idem again = idem_of("key-1", "request one", 202, "{\"id\":\"cnv_2\"}");
    ck_assert_int_eq(open_kinds(prov.id, "cnv_2", "thr-2", NOW_MS + 5, 0, kinds, 2, &again, &w),
                     BYOC_ERR_CONFLICT);
    ck_assert_int_eq(w.err, BYOC_ERR_CONFLICT);
    ck_assert(w.idem.hit);
    ck_assert_int_eq(w.idem.status, 201);
    ck_assert_pstr_eq(w.idem.body, "{\"id\":\"cnv_1\"}");
    free(w.idem.body);

    struct byoc_conversation c;
    ck_assert_int_eq(byoc_store_conversation_get(store, NULL, "cnv_2", &c), BYOC_ERR_NOT_FOUND);
    ck_assert_uint_eq(out_count("cnv_2"), 0);
    struct byoc_conversation *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_conversation_list(store, prov.id, -1, NULL, 0, 10, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    byoc_conversation_list_free(list, n);
}
END_TEST

START_TEST(idem_get_returns_stored_answer)
{
    struct byoc_idem k = idem_of("key-1", "request one", 201, "{\"id\":\"cnv_1\"}");
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 1, &k, &w),
                     BYOC_ERR_OK);
    uint8_t hash[BYOC_SHA256_LEN] = {0};
    int status = 0;
    char *body = NULL;
    ck_assert_int_eq(byoc_store_idem_get(store, prov.id, "key-1", hash, &status, &body),
                     BYOC_ERR_OK);
    ck_assert_mem_eq(hash, k.request_hash, BYOC_SHA256_LEN);
    ck_assert_int_eq(status, 201);
    ck_assert_pstr_eq(body, "{\"id\":\"cnv_1\"}");
    free(body);
    body = NULL;
    ck_assert_int_eq(byoc_store_idem_get(store, prov.id, "key-2", hash, &status, &body),
                     BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(byoc_store_idem_get(store, other.id, "key-1", hash, &status, &body),
                     BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(idem_keys_are_per_provider)
{
    struct byoc_idem k1 = idem_of("shared-key", "a", 201, "{\"id\":\"cnv_1\"}");
    struct byoc_idem k2 = idem_of("shared-key", "b", 201, "{\"id\":\"cnv_2\"}");
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 1, &k1, &w),
                     BYOC_ERR_OK);
    ck_assert_int_eq(open_kinds(other.id, "cnv_2", "thr-2", NOW_MS, 0, kinds, 1, &k2, &w),
                     BYOC_ERR_OK);
    ck_assert(!w.idem.hit);
    struct byoc_conversation c = conv_get("cnv_2");
    ck_assert_str_eq(c.provider_id, other.id);
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(idem_replay_of_add_adds_nothing)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_idem k = idem_of("add-key", "first add", 202, "{\"id\":\"out_a\"}");
    struct byoc_outbound m1 = out_of("out_a", "cnv_1", BYOC_OUT_TEXT, "c-a", NOW_MS + 10);
    struct byoc_write w = {.kind = BYOC_WRITE_OUTBOUND_ADD};
    w.in.add.provider_id = prov.id;
    w.in.add.msg = &m1;
    w.in.add.idem = &k;
    w.in.add.now = NOW_MS + 10;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert(!w.idem.hit);

    struct byoc_outbound m2 = out_of("out_b", "cnv_1", BYOC_OUT_TEXT, "c-b", NOW_MS + 20);
    w = (struct byoc_write){.kind = BYOC_WRITE_OUTBOUND_ADD};
    w.in.add.provider_id = prov.id;
    w.in.add.msg = &m2;
    w.in.add.idem = &k;
    w.in.add.now = NOW_MS + 20;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_CONFLICT);
    ck_assert(w.idem.hit);
    ck_assert_int_eq(w.idem.status, 202);
    ck_assert_pstr_eq(w.idem.body, "{\"id\":\"out_a\"}");
    free(w.idem.body);
    ck_assert_uint_eq(out_count("cnv_1"), 2);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* OUTBOUND_ADD                                                                                */

START_TEST(add_appends_with_next_seq)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_outbound m = out_of("out_new", "cnv_1", BYOC_OUT_TEXT, "client-1", NOW_MS + 100);
    struct byoc_write w;
    ck_assert_int_eq(add_msg(prov.id, &m, false, NOW_MS + 100, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.add.id, "out_new");
    ck_assert(!w.out.add.duplicate);
    struct byoc_outbound t = out_of("out_typing", "cnv_1", BYOC_OUT_TYPING, NULL, NOW_MS + 200);
    ck_assert_int_eq(add_msg(prov.id, &t, false, NOW_MS + 200, &w), BYOC_ERR_OK);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(list[2].id, "out_new");
    ck_assert_int_eq(list[2].seq, 3);
    ck_assert_pstr_eq(list[2].client_message_id, "client-1");
    ck_assert_int_eq(list[2].next_attempt_at, NOW_MS + 100);
    ck_assert_str_eq(list[3].id, "out_typing");
    ck_assert_int_eq(list[3].seq, 4);
    ck_assert_int_eq(list[3].kind, BYOC_OUT_TYPING);
    byoc_outbound_list_free(list, n);
}
END_TEST

START_TEST(add_same_client_message_id_is_duplicate)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_outbound m1 = out_of("out_first", "cnv_1", BYOC_OUT_TEXT, "client-1", NOW_MS + 1);
    struct byoc_write w;
    ck_assert_int_eq(add_msg(prov.id, &m1, true, NOW_MS + 1, &w), BYOC_ERR_OK);
    struct byoc_conversation before = conv_get("cnv_1");

    struct byoc_outbound m2 = out_of("out_retry", "cnv_1", BYOC_OUT_TEXT, "client-1", NOW_MS + 9);
    ck_assert_int_eq(add_msg(prov.id, &m2, true, NOW_MS + 9, &w), BYOC_ERR_OK);
    ck_assert(w.out.add.duplicate);
    ck_assert_str_eq(w.out.add.id, "out_first");

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[1].id, "out_first");
    byoc_outbound_list_free(list, n);
    /* a retry is not activity: the timer did not move */
    struct byoc_conversation after = conv_get("cnv_1");
    ck_assert_int_eq(after.inactive_at, before.inactive_at);
    byoc_conversation_release(&before);
    byoc_conversation_release(&after);

    /* the same client id in another conversation is a different message */
    open_texts("cnv_2", "thr-2", 1, NOW_MS);
    struct byoc_outbound m3 = out_of("out_other", "cnv_2", BYOC_OUT_TEXT, "client-1", NOW_MS + 9);
    ck_assert_int_eq(add_msg(prov.id, &m3, false, NOW_MS + 9, &w), BYOC_ERR_OK);
    ck_assert(!w.out.add.duplicate);
    ck_assert_str_eq(w.out.add.id, "out_other");
}
END_TEST

START_TEST(add_to_ended_conversation_conflicts)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 5),
                     BYOC_ERR_OK);
    size_t before = out_count("cnv_1");
    struct byoc_outbound m = out_of("out_late", "cnv_1", BYOC_OUT_TEXT, "client-9", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(add_msg(prov.id, &m, true, NOW_MS + 10, &w), BYOC_ERR_CONFLICT);
    ck_assert_uint_eq(out_count("cnv_1"), before);
}
END_TEST

START_TEST(add_wrong_provider_or_conversation_not_found)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_outbound m = out_of("out_x", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(add_msg(other.id, &m, false, NOW_MS + 10, &w), BYOC_ERR_NOT_FOUND);
    struct byoc_outbound nowhere = out_of("out_y", "cnv_nope", BYOC_OUT_TEXT, NULL, NOW_MS + 10);
    ck_assert_int_eq(add_msg(prov.id, &nowhere, false, NOW_MS + 10, &w), BYOC_ERR_NOT_FOUND);
    ck_assert_uint_eq(out_count("cnv_1"), 1);
    ck_assert_uint_eq(out_count("cnv_nope"), 0);
}
END_TEST

START_TEST(add_user_activity_moves_inactive_at)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, NOW_MS + INACTIVITY_S * 1000,
                                kinds, 1, NULL, &w),
                     BYOC_ERR_OK);
    struct byoc_outbound bot = out_of("out_bot", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS + 5000);
    ck_assert_int_eq(add_msg(prov.id, &bot, false, NOW_MS + 5000, &w), BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.inactive_at, NOW_MS + INACTIVITY_S * 1000); /* not the user: unchanged */
    byoc_conversation_release(&c);

    struct byoc_outbound user = out_of("out_user", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS + 7000);
    ck_assert_int_eq(add_msg(prov.id, &user, true, NOW_MS + 7000, &w), BYOC_ERR_OK);
    c = conv_get("cnv_1");
    ck_assert_int_eq(c.inactive_at, NOW_MS + 7000 + INACTIVITY_S * 1000);
    ck_assert_int_eq(c.updated_at, NOW_MS + 7000);
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(add_user_activity_without_timeout_keeps_inactive_at)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(other.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 1, NULL, &w),
                     BYOC_ERR_OK);
    struct byoc_outbound user = out_of("out_user", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS + 7000);
    ck_assert_int_eq(add_msg(other.id, &user, true, NOW_MS + 7000, &w), BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.inactive_at, 0);
    byoc_conversation_release(&c);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* RELAY_CLAIM                                                                                 */

START_TEST(claim_nothing_due_is_null)
{
    ck_assert_ptr_null(claim(NOW_MS, LEASE_MS));
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    ck_assert_ptr_null(claim(NOW_MS - 1, LEASE_MS));
}
END_TEST

START_TEST(claim_returns_head_of_line_with_its_conversation)
{
    open_texts("cnv_1", "thr-1", 3, NOW_MS);
    struct byoc_relay_job *job = claim(NOW_MS, LEASE_MS);
    ck_assert_ptr_nonnull(job);
    char buf[BYOC_ID_MAX];
    ck_assert_str_eq(job->msg.id, mid(buf, "cnv_1", 1));
    ck_assert_int_eq(job->msg.seq, 1);
    ck_assert_int_eq(job->msg.state, BYOC_OUT_SENDING);
    ck_assert_int_eq(job->msg.attempts, 1);
    ck_assert_pstr_eq(job->msg.payload, PAYLOAD);
    ck_assert_str_eq(job->conv.id, "cnv_1");
    ck_assert_str_eq(job->conv.provider_id, prov.id);
    ck_assert_pstr_eq(job->conv.thread_id, "thr-1");
    ck_assert_pstr_eq(job->conv.channel_id, "ch-1");
    ck_assert(job->first_text);
    byoc_relay_job_free(job);
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 1)), BYOC_OUT_SENDING);
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 2)), BYOC_OUT_QUEUED);
}
END_TEST

START_TEST(claim_blocks_conversation_while_sending)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *first = claim_some(NOW_MS);
    /* seq 2 is due but seq 1 is in flight */
    ck_assert_ptr_null(claim(NOW_MS + 1000, LEASE_MS));

    open_texts("cnv_2", "thr-2", 1, NOW_MS + 500);
    struct byoc_relay_job *second = claim(NOW_MS + 1000, LEASE_MS);
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(second->conv.id, "cnv_2");

    /* once seq 1 is delivered, seq 2 is next */
    struct outcome o = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 1100};
    ck_assert_int_eq(outcome(first, &o), BYOC_ERR_OK);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 2), NOW_MS + 1200);
    byoc_relay_job_free(first);
    byoc_relay_job_free(second);
}
END_TEST

START_TEST(claim_keeps_seq_order_even_if_later_is_due_first)
{
    /* seq 1 is due later than seq 2: seq 2 must still wait for it */
    struct byoc_conversation c = conv_of(prov.id, "cnv_1", "thr-1", NOW_MS, 0);
    struct byoc_outbound msgs[2] = {
        out_of("out_late", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS + 5000),
        out_of("out_early", "cnv_1", BYOC_OUT_TEXT, NULL, NOW_MS),
    };
    struct byoc_write w = {.kind = BYOC_WRITE_CONVERSATION_OPEN};
    w.in.open.conv = &c;
    w.in.open.msgs = msgs;
    w.in.open.nmsgs = 2;
    ck_assert_int_eq(byoc_store_write(store, &w), BYOC_ERR_OK);
    ck_assert_ptr_null(claim(NOW_MS + 1000, LEASE_MS));
    deliver_next("out_late", NOW_MS + 5000);
    deliver_next("out_early", NOW_MS + 5001);
    ck_assert_ptr_null(claim(NOW_MS + 9000, LEASE_MS));
}
END_TEST

START_TEST(claim_future_message_waits)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS + 10000);
    ck_assert_ptr_null(claim(NOW_MS, LEASE_MS));
    ck_assert_ptr_null(claim(NOW_MS + 9999, LEASE_MS));
    struct byoc_relay_job *job = claim(NOW_MS + 10000, LEASE_MS);
    ck_assert_ptr_nonnull(job);
    ck_assert_str_eq(job->conv.id, "cnv_1");
    byoc_relay_job_free(job);
}
END_TEST

START_TEST(claim_most_overdue_conversation_first)
{
    open_texts("cnv_a", "thr-a", 1, NOW_MS + 300);
    open_texts("cnv_b", "thr-b", 1, NOW_MS + 100);
    open_texts("cnv_c", "thr-c", 1, NOW_MS + 200);
    const char *want[] = {"cnv_b", "cnv_c", "cnv_a"};
    for (size_t i = 0; i < 3; i++) {
        struct byoc_relay_job *job = claim_some(NOW_MS + 1000);
        ck_assert_str_eq(job->conv.id, want[i]);
        byoc_relay_job_free(job);
    }
    ck_assert_ptr_null(claim(NOW_MS + 1000, LEASE_MS));
}
END_TEST

START_TEST(claim_first_text_until_a_text_is_delivered)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TYPING, BYOC_OUT_TEXT, BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 3, NULL, &w),
                     BYOC_ERR_OK);
    struct outcome ok = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 1};

    struct byoc_relay_job *job = claim_some(NOW_MS + 1);
    ck_assert_int_eq(job->msg.kind, BYOC_OUT_TYPING);
    ck_assert(job->first_text);
    ck_assert_int_eq(outcome(job, &ok), BYOC_ERR_OK); /* a typing: no text yet */
    byoc_relay_job_free(job);

    job = claim_some(NOW_MS + 2);
    ck_assert_int_eq(job->msg.seq, 2);
    ck_assert(job->first_text);
    ok.now = NOW_MS + 2;
    ck_assert_int_eq(outcome(job, &ok), BYOC_ERR_OK);
    byoc_relay_job_free(job);

    job = claim_some(NOW_MS + 3);
    ck_assert_int_eq(job->msg.seq, 3);
    ck_assert(!job->first_text);
    byoc_relay_job_free(job);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* RELAY_OUTCOME                                                                               */

START_TEST(outcome_delivered_text_escalates)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *job = claim_some(NOW_MS + 10);
    struct outcome o = {.state = BYOC_OUT_DELIVERED,
                        .now = NOW_MS + 20,
                        .contact_id = "contact-42",
                        .case_id = "case-7",
                        .interaction_id = "inter-3"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ESCALATED);
    ck_assert_pstr_eq(c.cxone_contact_id, "contact-42");
    ck_assert_pstr_eq(c.cxone_case_id, "case-7");
    ck_assert_pstr_eq(c.cxone_interaction_id, "inter-3");
    ck_assert_int_eq(c.updated_at, NOW_MS + 20);
    byoc_conversation_release(&c);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_int_eq(list[0].state, BYOC_OUT_DELIVERED);
    ck_assert_int_eq(list[0].delivered_at, NOW_MS + 20);
    ck_assert_int_eq(list[0].attempts, 1);
    ck_assert_int_eq(list[1].state, BYOC_OUT_QUEUED);
    byoc_outbound_list_free(list, n);
    byoc_relay_job_free(job);
}
END_TEST

START_TEST(outcome_later_delivery_keeps_known_ids)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *job = claim_some(NOW_MS);
    struct outcome o = {.state = BYOC_OUT_DELIVERED,
                        .now = NOW_MS + 1,
                        .contact_id = "contact-42",
                        .case_id = "case-7"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    job = claim_some(NOW_MS + 2);
    struct outcome later = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 3};
    ck_assert_int_eq(outcome(job, &later), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ESCALATED);
    ck_assert_pstr_eq(c.cxone_contact_id, "contact-42");
    ck_assert_pstr_eq(c.cxone_case_id, "case-7");
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(outcome_delivered_typing_does_not_escalate)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TYPING, BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 2, NULL, &w),
                     BYOC_ERR_OK);
    struct byoc_relay_job *job = claim_some(NOW_MS);
    struct outcome o = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 1};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
}
END_TEST

START_TEST(outcome_queued_requeues_until_next_attempt)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *job = claim_some(NOW_MS);
    char id[BYOC_ID_MAX];
    snprintf(id, sizeof id, "%s", job->msg.id);
    struct outcome o = {.state = BYOC_OUT_QUEUED,
                        .now = NOW_MS + 100,
                        .next_attempt_at = NOW_MS + 4000,
                        .last_error = "cxone answered 503"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_int_eq(list[0].state, BYOC_OUT_QUEUED);
    ck_assert_int_eq(list[0].next_attempt_at, NOW_MS + 4000);
    ck_assert_pstr_eq(list[0].last_error, "cxone answered 503");
    byoc_outbound_list_free(list, n);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);

    /* neither it nor (head-of-line) the message behind it is due before then */
    ck_assert_ptr_null(claim(NOW_MS + 3999, LEASE_MS));
    job = claim_some(NOW_MS + 4000);
    ck_assert_str_eq(job->msg.id, id);
    ck_assert_int_eq(job->msg.attempts, 2);
    byoc_relay_job_free(job);
}
END_TEST

START_TEST(outcome_failed_opening_text_ends_conversation)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT, BYOC_OUT_TYPING, BYOC_OUT_TEXT};
    ck_assert_int_eq(open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, 0, kinds, 3, NULL, &w),
                     BYOC_ERR_OK);
    struct byoc_relay_job *job = claim_some(NOW_MS);
    ck_assert(job->first_text);
    struct outcome o = {
        .state = BYOC_OUT_FAILED, .now = NOW_MS + 50, .last_error = "cxone answered 400"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);

    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "failure");
    ck_assert_pstr_eq(c.ended_reason, "cxone answered 400");
    ck_assert_int_eq(c.ended_at, NOW_MS + 50);
    byoc_conversation_release(&c);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(list[i].state, BYOC_OUT_FAILED);
    ck_assert_pstr_eq(list[0].last_error, "cxone answered 400");
    ck_assert_ptr_nonnull(list[1].last_error);
    byoc_outbound_list_free(list, n);
    ck_assert_ptr_null(claim(NOW_MS + 100000, LEASE_MS));
    ck_assert_int_eq(byoc_store_relay_next_due(store), INT64_MAX);
}
END_TEST

START_TEST(outcome_failed_opening_text_of_ended_conversation_fails_the_rest)
{
    /* The bot (or the inactivity timer) ended the conversation while its opening text was still
     * being retried; then the opening text gives up. Nothing behind it can reach an agent: the
     * next text must not be sent as a new opening post of a conversation that is over. */
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *job = claim_some(NOW_MS);
    ck_assert(job->first_text);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 10),
                     BYOC_ERR_OK);
    struct outcome o = {
        .state = BYOC_OUT_FAILED, .now = NOW_MS + 50, .last_error = "cxone answered 400"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);

    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "bot"); /* ended once: the first end stands */
    byoc_conversation_release(&c);
    char buf[BYOC_ID_MAX];
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 2)), BYOC_OUT_FAILED);
}
END_TEST

START_TEST(outcome_failed_text_after_delivery_keeps_conversation)
{
    open_texts("cnv_1", "thr-1", 3, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS);
    struct byoc_relay_job *job = claim_some(NOW_MS + 1);
    ck_assert(!job->first_text);
    struct outcome o = {.state = BYOC_OUT_FAILED, .now = NOW_MS + 2, .last_error = "gave up"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    byoc_relay_job_free(job);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 2)), BYOC_OUT_FAILED);
    /* a failed message does not block the ones behind it */
    deliver_next(mid(buf, "cnv_1", 3), NOW_MS + 3);
}
END_TEST

START_TEST(outcome_after_lost_lease_not_found)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_relay_job *job = claim(NOW_MS, 1000);
    ck_assert_ptr_nonnull(job);
    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 1001, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(out_state("cnv_1", job->msg.id), BYOC_OUT_QUEUED);

    struct outcome o = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 1002, .contact_id = "c-1"};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_NOT_FOUND);
    /* nothing was recorded */
    ck_assert_int_eq(out_state("cnv_1", job->msg.id), BYOC_OUT_QUEUED);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_QUEUED);
    ck_assert_ptr_null(c.cxone_contact_id);
    byoc_conversation_release(&c);
    byoc_relay_job_free(job);
}
END_TEST

START_TEST(outcome_for_unclaimed_or_unknown_message_not_found)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    struct outcome o = {.state = BYOC_OUT_FAILED, .now = NOW_MS + 1, .last_error = "x"};
    ck_assert_int_eq(outcome_for(mid(buf, "cnv_1", 1), "cnv_1", true, 1, &o), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 1)), BYOC_OUT_QUEUED);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
    ck_assert_int_eq(outcome_for("out_nope", "cnv_1", true, 1, &o), BYOC_ERR_NOT_FOUND);
    /* a second outcome for a delivered message is refused too */
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 2);
    ck_assert_int_eq(outcome_for(mid(buf, "cnv_1", 1), "cnv_1", true, 1, &o), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(out_state("cnv_1", mid(buf, "cnv_1", 1)), BYOC_OUT_DELIVERED);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* RELAY_HOUSEKEEP                                                                             */

START_TEST(housekeep_requeues_expired_lease)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    struct byoc_relay_job *job = claim(NOW_MS, 100);
    ck_assert_ptr_nonnull(job);
    char id[BYOC_ID_MAX];
    snprintf(id, sizeof id, "%s", job->msg.id);
    byoc_relay_job_free(job);

    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 50, 60000, &ended), BYOC_ERR_OK); /* lease still held */
    ck_assert_int_eq(ended, 0);
    ck_assert_int_eq(out_state("cnv_1", id), BYOC_OUT_SENDING);
    ck_assert_ptr_null(claim(NOW_MS + 60, LEASE_MS));

    ck_assert_int_eq(housekeep(NOW_MS + 101, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(out_state("cnv_1", id), BYOC_OUT_QUEUED);
    job = claim_some(NOW_MS + 102);
    ck_assert_str_eq(job->msg.id, id); /* the same message again, not the next one */
    ck_assert_int_eq(job->msg.attempts, 2);
    /* The first claim's late outcome must not overwrite the second claim's. */
    struct outcome o = {.state = BYOC_OUT_DELIVERED, .now = NOW_MS + 103};
    ck_assert_int_eq(outcome_for(id, "cnv_1", true, 1, &o), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(out_state("cnv_1", id), BYOC_OUT_SENDING);
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    ck_assert_int_eq(out_state("cnv_1", id), BYOC_OUT_DELIVERED);
    byoc_relay_job_free(job);
}
END_TEST

START_TEST(housekeep_ends_inactive_conversations)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT, BYOC_OUT_TEXT};
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_idle", "thr-1", NOW_MS, NOW_MS + 30000, kinds, 2, NULL, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_busy", "thr-2", NOW_MS, NOW_MS + 90000, kinds, 2, NULL, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(open_kinds(prov.id, "cnv_none", "thr-3", NOW_MS, 0, kinds, 1, NULL, &w),
                     BYOC_ERR_OK);

    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 29999, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 0);
    ck_assert_int_eq(conv_state("cnv_idle"), BYOC_CONV_QUEUED);

    ck_assert_int_eq(housekeep(NOW_MS + 30000, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 1);
    struct byoc_conversation c = conv_get("cnv_idle");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "inactivity");
    ck_assert_ptr_nonnull(c.ended_reason);
    ck_assert_int_eq(c.ended_at, NOW_MS + 30000);
    ck_assert_int_eq(c.inactive_at, 0);
    byoc_conversation_release(&c);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_idle", &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(list[2].kind, BYOC_OUT_CLOSE);
    ck_assert_int_eq(list[2].seq, 3);
    ck_assert_int_eq(list[2].state, BYOC_OUT_QUEUED);
    ck_assert_int_eq(list[2].deadline_at, NOW_MS + 30000 + 60000);
    ck_assert_int_eq(list[0].state, BYOC_OUT_QUEUED); /* what was queued still goes first */
    byoc_outbound_list_free(list, n);

    ck_assert_int_eq(conv_state("cnv_busy"), BYOC_CONV_QUEUED);
    ck_assert_int_eq(conv_state("cnv_none"), BYOC_CONV_QUEUED);
    ck_assert_uint_eq(out_count("cnv_busy"), 2);

    /* nothing more to end at the same time; later the second one goes */
    ck_assert_int_eq(housekeep(NOW_MS + 30001, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 0);
    ck_assert_uint_eq(out_count("cnv_idle"), 3);
    ck_assert_int_eq(housekeep(NOW_MS + 10000000, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 1);
    ck_assert_int_eq(conv_state("cnv_busy"), BYOC_CONV_ENDED);
    ck_assert_int_eq(conv_state("cnv_none"), BYOC_CONV_QUEUED);
}
END_TEST

START_TEST(housekeep_counts_every_ended_conversation)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    char id[16], thread[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "cnv_%d", i);
        snprintf(thread, sizeof thread, "thr-%d", i);
        ck_assert_int_eq(
            open_kinds(prov.id, id, thread, NOW_MS, NOW_MS + 1000 + i, kinds, 1, NULL, &w),
            BYOC_ERR_OK);
    }
    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 1003, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 4);
    ck_assert_int_eq(conv_state("cnv_3"), BYOC_CONV_ENDED);
    ck_assert_int_eq(conv_state("cnv_4"), BYOC_CONV_QUEUED);
}
END_TEST

START_TEST(housekeep_close_is_claimed_after_queued_messages)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, NOW_MS + 1000, kinds, 1, NULL, &w),
        BYOC_ERR_OK);
    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 1000, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 1);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1001);
    struct byoc_relay_job *job = claim_some(NOW_MS + 1002);
    ck_assert_int_eq(job->msg.kind, BYOC_OUT_CLOSE);
    ck_assert_int_eq(job->conv.state, BYOC_CONV_ENDED);
    byoc_relay_job_free(job);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* CONVERSATION_END                                                                            */

START_TEST(end_once_queues_close_last)
{
    open_texts("cnv_1", "thr-1", 2, NOW_MS);
    ck_assert_int_eq(
        end_conv(prov.id, "cnv_1", "bot", "resolved by the bot", "out_close", NOW_MS + 500),
        BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "bot");
    ck_assert_pstr_eq(c.ended_reason, "resolved by the bot");
    ck_assert_int_eq(c.ended_at, NOW_MS + 500);
    byoc_conversation_release(&c);

    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[2].id, "out_close");
    ck_assert_int_eq(list[2].kind, BYOC_OUT_CLOSE);
    ck_assert_int_eq(list[2].seq, 3);
    ck_assert_int_eq(list[2].state, BYOC_OUT_QUEUED);
    byoc_outbound_list_free(list, n);
}
END_TEST

START_TEST(end_again_changes_nothing)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "first", "out_close_1", NOW_MS + 500),
                     BYOC_ERR_OK);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "user", "second", "out_close_2", NOW_MS + 900),
                     BYOC_ERR_OK);
    ck_assert_int_eq(end_conv(NULL, "cnv_1", "system", "third", "out_close_3", NOW_MS + 950),
                     BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_pstr_eq(c.ended_by, "bot");
    ck_assert_pstr_eq(c.ended_reason, "first");
    ck_assert_int_eq(c.ended_at, NOW_MS + 500);
    byoc_conversation_release(&c);
    size_t n;
    struct byoc_outbound *list = out_list("cnv_1", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[1].id, "out_close_1");
    byoc_outbound_list_free(list, n);
}
END_TEST

START_TEST(end_wrong_provider_not_found_system_end_ok)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    ck_assert_int_eq(end_conv(other.id, "cnv_1", "bot", "x", "out_close_x", NOW_MS + 1),
                     BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_QUEUED);
    ck_assert_uint_eq(out_count("cnv_1"), 1);
    ck_assert_int_eq(end_conv(prov.id, "cnv_nope", "bot", "x", "out_close_y", NOW_MS + 1),
                     BYOC_ERR_NOT_FOUND);
    /* no provider: a system end of any provider's conversation */
    ck_assert_int_eq(end_conv(NULL, "cnv_1", "system", "shutdown", "out_close_z", NOW_MS + 2),
                     BYOC_ERR_OK);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_ENDED);
    ck_assert_pstr_eq(c.ended_by, "system");
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(end_stops_inactivity_timer)
{
    struct byoc_write w;
    const enum byoc_out_kind kinds[] = {BYOC_OUT_TEXT};
    ck_assert_int_eq(
        open_kinds(prov.id, "cnv_1", "thr-1", NOW_MS, NOW_MS + 1000, kinds, 1, NULL, &w),
        BYOC_ERR_OK);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 10),
                     BYOC_ERR_OK);
    int64_t ended = -1;
    ck_assert_int_eq(housekeep(NOW_MS + 5000, 60000, &ended), BYOC_ERR_OK);
    ck_assert_int_eq(ended, 0);
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_pstr_eq(c.ended_by, "bot");
    byoc_conversation_release(&c);
    ck_assert_uint_eq(out_count("cnv_1"), 2);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_store_relay_next_due                                                                   */

START_TEST(next_due_earliest_queued)
{
    ck_assert_int_eq(byoc_store_relay_next_due(store), INT64_MAX);
    open_texts("cnv_a", "thr-a", 2, NOW_MS + 500);
    open_texts("cnv_b", "thr-b", 1, NOW_MS + 200);
    ck_assert_int_eq(byoc_store_relay_next_due(store), NOW_MS + 200);

    /* a message being sent is not waiting */
    struct byoc_relay_job *job = claim_some(NOW_MS + 200);
    ck_assert_str_eq(job->conv.id, "cnv_b");
    ck_assert_int_eq(byoc_store_relay_next_due(store), NOW_MS + 500);
    struct outcome o = {.state = BYOC_OUT_QUEUED, .now = NOW_MS + 201, .next_attempt_at = NOW_MS};
    ck_assert_int_eq(outcome(job, &o), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_store_relay_next_due(store), NOW_MS);
    byoc_relay_job_free(job);

    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_b", 1), NOW_MS + 600);
    deliver_next(mid(buf, "cnv_a", 1), NOW_MS + 600);
    deliver_next(mid(buf, "cnv_a", 2), NOW_MS + 600);
    ck_assert_int_eq(byoc_store_relay_next_due(store), INT64_MAX);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Agent replies                                                                               */

START_TEST(agent_reply_joins_conversation)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    char buf[BYOC_ID_MAX];
    deliver_next(mid(buf, "cnv_1", 1), NOW_MS + 1);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ESCALATED);

    struct byoc_agent_msg m = reply_of(prov.id, "msg_1", "cxone:1", "thr-1", "Alice", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(reply_add(&m, &w), BYOC_ERR_OK);
    ck_assert(!w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");

    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_AGENT_JOINED);
    ck_assert_pstr_eq(c.agent_name, "Alice");
    ck_assert_pstr_eq(c.agent_avatar_url, "https://cdn.example.com/a.png");
    ck_assert_int_eq(c.updated_at, NOW_MS + 10);
    byoc_conversation_release(&c);

    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_1", &got), BYOC_ERR_OK);
    ck_assert_pstr_eq(got.conversation_id, "cnv_1");
    byoc_agent_msg_release(&got);
}
END_TEST

START_TEST(agent_reply_before_escalation_joins_too)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_agent_msg m = reply_of(prov.id, "msg_1", "cxone:1", "thr-1", "Alice", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(reply_add(&m, &w), BYOC_ERR_OK);
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_AGENT_JOINED);
}
END_TEST

START_TEST(agent_reply_duplicate_advances_nothing)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_agent_msg m1 = reply_of(prov.id, "msg_1", "cxone:1", "thr-1", "Alice", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(reply_add(&m1, &w), BYOC_ERR_OK);

    /* CXone redelivers the same message, now naming another agent */
    struct byoc_agent_msg dup = reply_of(prov.id, "msg_2", "cxone:1", "thr-1", "Bob", NOW_MS + 99);
    ck_assert_int_eq(reply_add(&dup, &w), BYOC_ERR_OK);
    ck_assert(w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.id, "msg_1");
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_pstr_eq(c.agent_name, "Alice");
    ck_assert_int_eq(c.updated_at, NOW_MS + 10);
    byoc_conversation_release(&c);
    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_2", &got), BYOC_ERR_NOT_FOUND);

    /* a new message does move it on */
    struct byoc_agent_msg next = reply_of(prov.id, "msg_3", "cxone:3", "thr-1", "Bob", NOW_MS + 99);
    ck_assert_int_eq(reply_add(&next, &w), BYOC_ERR_OK);
    ck_assert(!w.out.agent_msg.duplicate);
    c = conv_get("cnv_1");
    ck_assert_pstr_eq(c.agent_name, "Bob");
    ck_assert_int_eq(c.updated_at, NOW_MS + 99);
    byoc_conversation_release(&c);
}
END_TEST

START_TEST(agent_reply_to_ended_conversation_keeps_it_ended)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    ck_assert_int_eq(end_conv(prov.id, "cnv_1", "bot", "done", "out_close", NOW_MS + 5),
                     BYOC_ERR_OK);
    struct byoc_agent_msg m = reply_of(prov.id, "msg_1", "cxone:1", "thr-1", "Alice", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(reply_add(&m, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    ck_assert_int_eq(conv_state("cnv_1"), BYOC_CONV_ENDED);
}
END_TEST

START_TEST(agent_reply_other_provider_or_thread_unmatched)
{
    open_texts("cnv_1", "thr-1", 1, NOW_MS);
    struct byoc_agent_msg foreign =
        reply_of(other.id, "msg_1", "cxone:1", "thr-1", "Mallory", NOW_MS + 10);
    struct byoc_write w;
    ck_assert_int_eq(reply_add(&foreign, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");
    struct byoc_agent_msg stray =
        reply_of(prov.id, "msg_2", "cxone:2", "thr-unknown", "Carol", NOW_MS + 10);
    ck_assert_int_eq(reply_add(&stray, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");
    struct byoc_conversation c = conv_get("cnv_1");
    ck_assert_int_eq(c.state, BYOC_CONV_QUEUED);
    ck_assert_ptr_null(c.agent_name);
    byoc_conversation_release(&c);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_relay_backoff_ms                                                                       */

START_TEST(backoff_retry_after_is_exact)
{
    ck_assert_int_eq(byoc_relay_backoff_ms(1, 60000, 0), BYOC_RELAY_RETRY_FLOOR_MS);
    ck_assert_int_eq(byoc_relay_backoff_ms(1, 60000, 7), 7000);
    ck_assert_int_eq(byoc_relay_backoff_ms(9, 60000, 30), 30000);
    /* the server's word wins over the cap */
    ck_assert_int_eq(byoc_relay_backoff_ms(3, 1000, 120), 120000);
}
END_TEST

START_TEST(backoff_full_jitter_within_doubling_bound)
{
    const int64_t cap = 60000;
    for (int64_t attempts = 1; attempts <= 10; attempts++) {
        int64_t bound = 500;
        for (int64_t i = 1; i < attempts; i++)
            bound *= 2;
        if (bound > cap)
            bound = cap;
        int64_t lo = INT64_MAX, hi = -1;
        for (int k = 0; k < 2000; k++) {
            int64_t d = byoc_relay_backoff_ms(attempts, cap, -1);
            ck_assert_msg(d >= 0 && d <= bound, "attempt %lld: %lld outside [0, %lld]",
                          (long long)attempts, (long long)d, (long long)bound);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        ck_assert_msg(lo != hi, "attempt %lld: no jitter (always %lld)", (long long)attempts,
                      (long long)lo);
        /* spread over the whole range, not stuck at the base: 2000 draws all in one half of
         * it happen with probability 2^-2000 */
        ck_assert_msg(hi > bound / 2, "attempt %lld: max %lld of bound %lld", (long long)attempts,
                      (long long)hi, (long long)bound);
        ck_assert_msg(lo < bound / 2, "attempt %lld: min %lld of bound %lld", (long long)attempts,
                      (long long)lo, (long long)bound);
    }
}
END_TEST

START_TEST(backoff_cap_respected_for_large_attempts)
{
    const int64_t attempts[] = {20, 64, 1000, 1000000};
    for (size_t a = 0; a < sizeof attempts / sizeof attempts[0]; a++) {
        int64_t hi = -1;
        for (int k = 0; k < 2000; k++) {
            int64_t d = byoc_relay_backoff_ms(attempts[a], 5000, -1);
            ck_assert_int_ge(d, 0);
            ck_assert_int_le(d, 5000);
            hi = d > hi ? d : hi;
        }
        ck_assert_int_gt(hi, 2500);
    }
    /* a cap below the base bound wins from the first attempt */
    for (int k = 0; k < 500; k++) {
        int64_t d = byoc_relay_backoff_ms(1, 100, -1);
        ck_assert_int_ge(d, 0);
        ck_assert_int_le(d, 100);
    }
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

static Suite *relay_store_suite(void)
{
    Suite *s = suite_create("relay_store");
    TCase *tc = tcase("open");
    tcase_add_test(tc, open_stores_conversation);
    tcase_add_test(tc, open_is_scoped_to_its_provider);
    tcase_add_test(tc, open_stores_messages_in_seq_order);
    tcase_add_test(tc, open_same_thread_twice_conflicts);
    tcase_add_test(tc, open_for_unknown_provider_stores_nothing);
    tcase_add_test(tc, conversation_list_filters_and_pages);
    suite_add_tcase(s, tc);

    tc = tcase("idempotency");
    tcase_add_test(tc, idem_replay_of_open_returns_first_answer);
    tcase_add_test(tc, idem_get_returns_stored_answer);
    tcase_add_test(tc, idem_keys_are_per_provider);
    tcase_add_test(tc, idem_replay_of_add_adds_nothing);
    suite_add_tcase(s, tc);

    tc = tcase("add");
    tcase_add_test(tc, add_appends_with_next_seq);
    tcase_add_test(tc, add_same_client_message_id_is_duplicate);
    tcase_add_test(tc, add_to_ended_conversation_conflicts);
    tcase_add_test(tc, add_wrong_provider_or_conversation_not_found);
    tcase_add_test(tc, add_user_activity_moves_inactive_at);
    tcase_add_test(tc, add_user_activity_without_timeout_keeps_inactive_at);
    suite_add_tcase(s, tc);

    tc = tcase("claim");
    tcase_add_test(tc, claim_nothing_due_is_null);
    tcase_add_test(tc, claim_returns_head_of_line_with_its_conversation);
    tcase_add_test(tc, claim_blocks_conversation_while_sending);
    tcase_add_test(tc, claim_keeps_seq_order_even_if_later_is_due_first);
    tcase_add_test(tc, claim_future_message_waits);
    tcase_add_test(tc, claim_most_overdue_conversation_first);
    tcase_add_test(tc, claim_first_text_until_a_text_is_delivered);
    suite_add_tcase(s, tc);

    tc = tcase("outcome");
    tcase_add_test(tc, outcome_delivered_text_escalates);
    tcase_add_test(tc, outcome_later_delivery_keeps_known_ids);
    tcase_add_test(tc, outcome_delivered_typing_does_not_escalate);
    tcase_add_test(tc, outcome_queued_requeues_until_next_attempt);
    tcase_add_test(tc, outcome_failed_opening_text_ends_conversation);
    tcase_add_test(tc, outcome_failed_opening_text_of_ended_conversation_fails_the_rest);
    tcase_add_test(tc, outcome_failed_text_after_delivery_keeps_conversation);
    tcase_add_test(tc, outcome_after_lost_lease_not_found);
    tcase_add_test(tc, outcome_for_unclaimed_or_unknown_message_not_found);
    suite_add_tcase(s, tc);

    tc = tcase("housekeep");
    tcase_add_test(tc, housekeep_requeues_expired_lease);
    tcase_add_test(tc, housekeep_ends_inactive_conversations);
    tcase_add_test(tc, housekeep_counts_every_ended_conversation);
    tcase_add_test(tc, housekeep_close_is_claimed_after_queued_messages);
    suite_add_tcase(s, tc);

    tc = tcase("end");
    tcase_add_test(tc, end_once_queues_close_last);
    tcase_add_test(tc, end_again_changes_nothing);
    tcase_add_test(tc, end_wrong_provider_not_found_system_end_ok);
    tcase_add_test(tc, end_stops_inactivity_timer);
    suite_add_tcase(s, tc);

    tc = tcase("next_due");
    tcase_add_test(tc, next_due_earliest_queued);
    suite_add_tcase(s, tc);

    tc = tcase("agent_replies");
    tcase_add_test(tc, agent_reply_joins_conversation);
    tcase_add_test(tc, agent_reply_before_escalation_joins_too);
    tcase_add_test(tc, agent_reply_duplicate_advances_nothing);
    tcase_add_test(tc, agent_reply_to_ended_conversation_keeps_it_ended);
    tcase_add_test(tc, agent_reply_other_provider_or_thread_unmatched);
    suite_add_tcase(s, tc);

    tc = tcase_create("backoff"); /* pure function: no store */
    tcase_add_test(tc, backoff_retry_after_is_exact);
    tcase_add_test(tc, backoff_full_jitter_within_doubling_bound);
    tcase_add_test(tc, backoff_cap_respected_for_large_attempts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(relay_store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
