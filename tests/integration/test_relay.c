/* The handover relay end to end: bot API → byocd → fake CXone, with CXone misbehaving. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"

#define CHANNEL "chat-1"
#define WAIT_MS 15000

static struct byocd b;
static struct byoc_cxsim *f;
static struct provider p;
static char bot_auth[256];
static const char *const fast_env[] = {"BYOCD_RELAY_RETRY_CAP=1", "BYOCD_RELAY_LEASE=5", NULL};

static void start_with(const char *settings)
{
    f = test_cxsim_start();
    byocd_start(&b, NULL, fast_env);
    provider_create_with(&b, byoc_cxsim_url(f), "int-1", settings, &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
}

static void setup(void)
{
    start_with(NULL);
}

static void teardown(void)
{
    provider_release(&p);
    ck_assert_int_eq(byocd_stop(&b), 0);
    byoc_cxsim_stop(f);
}

/* A bot API call; returns the parsed body (caller frees) and the status. */
static cJSON *bot(const char *method, const char *path, const char *body, const char *idem,
                  long *status)
{
    char *url = byocd_url(&b, path);
    char idem_line[256];
    snprintf(idem_line, sizeof idem_line, "Idempotency-Key: %s", idem ? idem : "");
    const char *h[] = {bot_auth, "Content-Type: application/json", idem ? idem_line : NULL, NULL};
    struct test_resp r;
    ck_assert(test_http(method, url, h, body, body ? strlen(body) : 0, &r));
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

static const char *s(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Opens a conversation; its id into out. */
static void open_conversation(const char *extra, char out[64])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"end_user\":{\"id\":\"user-42\",\"first_name\":\"Grace\"},\"transcript\":["
             "{\"role\":\"user\",\"text\":\"hi\"},{\"role\":\"bot\",\"text\":\"hello\"}]%s}",
             extra ? extra : "");
    long st = 0;
    cJSON *j = bot("POST", "/v1/conversations", body, NULL, &st);
    ck_assert_int_eq(st, 201);
    ck_assert_str_eq(s(j, "state"), "queued");
    ck_assert_str_eq(s(j, "channel_id"), CHANNEL);
    snprintf(out, 64, "%s", s(j, "id"));
    cJSON_Delete(j);
}

static cJSON *get_conversation(const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/conversations/%s", id);
    long st = 0;
    cJSON *j = bot("GET", path, NULL, NULL, &st);
    ck_assert_int_eq(st, 200);
    return j;
}

/* Polls until the conversation has `delivered` delivered messages and none queued/sending. */
static cJSON *wait_settled(const char *id, int delivered)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(50 * 1000)) {
        cJSON *c = get_conversation(id);
        int done = 0, open = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "messages"))
        {
            const char *st = s(m, "status");
            done += strcmp(st, "delivered") == 0;
            open += strcmp(st, "queued") == 0 || strcmp(st, "sending") == 0;
        }
        if (done >= delivered && open == 0)
            return c;
        cJSON_Delete(c);
    }
    ck_abort_msg("conversation %s did not settle with %d delivered messages", id, delivered);
    return NULL;
}

static long send_text(const char *conv, const char *client_id, const char *text, char *id_out)
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", conv);
    snprintf(body, sizeof body, "{%s%s%s\"text\":\"%s\"}", client_id ? "\"id\":\"" : "",
             client_id ? client_id : "", client_id ? "\"," : "", text);
    long st = 0;
    cJSON *j = bot("POST", path, body, NULL, &st);
    if (id_out && s(j, "id"))
        snprintf(id_out, 64, "%s", s(j, "id"));
    cJSON_Delete(j);
    return st;
}

/* The n-th message post the fake received, parsed. */
static cJSON *posted(size_t n)
{
    struct byoc_cxsim_call call;
    if (!byoc_cxsim_get_call(f, "POST", "/dfo/3.0/channels/" CHANNEL "/messages", n, &call))
        return NULL;
    cJSON *j = cJSON_Parse(call.body);
    byoc_cxsim_call_release(&call);
    return j;
}

static const char *posted_text(const cJSON *j)
{
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "messageContent"), "payload");
    return s(c, "text");
}

START_TEST(handover_reaches_cxone)
{
    char id[64];
    open_conversation(",\"reason\":\"asked for a human\",\"custom_fields\":{\"plan\":\"gold\"}",
                      id);
    cJSON *c = wait_settled(id, 2);
    ck_assert_str_eq(s(c, "state"), "escalated");
    ck_assert_ptr_nonnull(s(cJSON_GetObjectItem(c, "cxone"), "contact_id"));
    cJSON *first = posted(0), *second = posted(1);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(posted_text(first), "Handover reason: asked for a human");
    ck_assert_str_eq(posted_text(second), "Customer: hi\nBot: hello");
    ck_assert_str_eq(s(cJSON_GetObjectItem(first, "thread"), "idOnExternalPlatform"),
                     s(c, "thread_id"));
    const cJSON *who = cJSON_GetObjectItem(first, "authorEndUserIdentity");
    ck_assert_str_eq(s(who, "idOnExternalPlatform"), "user-42");
    ck_assert_str_eq(s(who, "firstName"), "Grace");
    const cJSON *fields =
        cJSON_GetObjectItem(cJSON_GetObjectItem(first, "contact"), "customFields");
    ck_assert_str_eq(s(cJSON_GetArrayItem(fields, 0), "ident"), "plan");
    ck_assert_ptr_null(cJSON_GetObjectItem(second, "contact"));
    const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
    ck_assert_str_eq(s(first, "idOnExternalPlatform"), s(cJSON_GetArrayItem(msgs, 0), "id"));
    ck_assert_uint_eq(byoc_cxsim_token_grants(f), 1);
    cJSON_Delete(first);
    cJSON_Delete(second);
    cJSON_Delete(c);
}
END_TEST

START_TEST(messages_keep_their_order)
{
    char id[64];
    open_conversation(NULL, id);
    enum { N = 40 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "message %d", i);
        ck_assert_int_eq(send_text(id, NULL, text, ids[i]), 202);
    }
    cJSON_Delete(wait_settled(id, N + 1));
    for (int i = 0; i < N; i++) {
        cJSON *j = posted((size_t)i + 1);
        ck_assert_ptr_nonnull(j);
        char text[32];
        snprintf(text, sizeof text, "message %d", i);
        ck_assert_str_eq(posted_text(j), text);
        ck_assert_str_eq(s(j, "idOnExternalPlatform"), ids[i]);
        cJSON_Delete(j);
    }
    ck_assert_uint_eq(byoc_cxsim_message_count(f), N + 1);
}
END_TEST

struct sender {
    const char *conv;
    int n, which;
};

static void *send_many(void *arg)
{
    struct sender *sd = arg;
    for (int i = 0; i < sd->n; i++) {
        char text[32];
        snprintf(text, sizeof text, "s%d-%d", sd->which, i);
        if (send_text(sd->conv, NULL, text, NULL) != 202)
            return (void *)1;
    }
    return NULL;
}

START_TEST(concurrent_sends_follow_accepted_order)
{
    char id[64];
    open_conversation(NULL, id);
    pthread_t t[4];
    struct sender sd[4];
    for (int i = 0; i < 4; i++) {
        sd[i] = (struct sender){id, 15, i};
        pthread_create(&t[i], NULL, send_many, &sd[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        ck_assert_ptr_null(rc);
    }
    cJSON *c = wait_settled(id, 61);
    const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 61);
    for (int i = 0; i < 61; i++) { /* CXone got them exactly in the order byocd accepted them */
        cJSON *j = posted((size_t)i);
        ck_assert_str_eq(s(j, "idOnExternalPlatform"), s(cJSON_GetArrayItem(msgs, i), "id"));
        cJSON_Delete(j);
    }
    cJSON_Delete(c);
}
END_TEST

/* The status of the conversation's last message once it leaves queued/sending. */
static cJSON *last_message_settled(const char *conv, int total)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(50 * 1000)) {
        cJSON *c = get_conversation(conv);
        const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "messages"), total - 1);
        const char *st = m ? s(m, "status") : NULL;
        if (st && (strcmp(st, "delivered") == 0 || strcmp(st, "failed") == 0)) {
            cJSON *copy = cJSON_Duplicate(m, true);
            cJSON_Delete(c);
            return copy;
        }
        cJSON_Delete(c);
    }
    ck_abort_msg("message %d of %s did not settle", total, conv);
    return NULL;
}

START_TEST(server_errors_retried_without_duplicates)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    byoc_cxsim_fail_next(f, "/dfo/3.0/channels/" CHANNEL "/messages", 500, 2, 0);
    ck_assert_int_eq(send_text(id, NULL, "after two failures", NULL), 202);
    cJSON *m = last_message_settled(id, 2);
    ck_assert_str_eq(s(m, "status"), "delivered");
    ck_assert_int_eq(cJSON_GetObjectItem(m, "attempts")->valueint, 3);
    ck_assert_uint_eq(byoc_cxsim_message_count(f), 2);
    cJSON_Delete(m);
}
END_TEST

START_TEST(retry_after_honoured)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    byoc_cxsim_fail_next(f, "/dfo/3.0/channels/" CHANNEL "/messages", 429, 1, 2);
    long long t0 = harness_now_ms();
    ck_assert_int_eq(send_text(id, NULL, "rate limited once", NULL), 202);
    cJSON *m = last_message_settled(id, 2);
    ck_assert_str_eq(s(m, "status"), "delivered");
    ck_assert_int_ge(harness_now_ms() - t0, 1900); /* waited the 2 s CXone asked for */
    cJSON_Delete(m);
}
END_TEST

START_TEST(client_error_fails_at_once_and_queue_moves_on)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    byoc_cxsim_fail_next(f, "/dfo/3.0/channels/" CHANNEL "/messages", 400, 1, 0);
    ck_assert_int_eq(send_text(id, NULL, "rejected", NULL), 202);
    ck_assert_int_eq(send_text(id, NULL, "accepted", NULL), 202);
    cJSON *m2 = last_message_settled(id, 2), *m3 = last_message_settled(id, 3);
    ck_assert_str_eq(s(m2, "status"), "failed");
    ck_assert_int_eq(cJSON_GetObjectItem(m2, "attempts")->valueint, 1);
    ck_assert_ptr_nonnull(strstr(s(m2, "last_error"), "400"));
    ck_assert_str_eq(s(m3, "status"), "delivered");
    cJSON_Delete(m2);
    cJSON_Delete(m3);
}
END_TEST

START_TEST(expired_token_refreshed_once)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    ck_assert_uint_eq(byoc_cxsim_token_grants(f), 1);
    byoc_cxsim_expire_tokens(f);
    ck_assert_int_eq(send_text(id, NULL, "after expiry", NULL), 202);
    ck_assert_int_eq(send_text(id, NULL, "and another", NULL), 202);
    cJSON_Delete(wait_settled(id, 3));
    ck_assert_uint_eq(byoc_cxsim_token_grants(f), 2);
}
END_TEST

START_TEST(idempotent_posts)
{
    const char *body = "{\"end_user\":{\"id\":\"u-idem\"}}";
    long st1 = 0, st2 = 0, st3 = 0;
    cJSON *a = bot("POST", "/v1/conversations", body, "key-1", &st1);
    cJSON *again = bot("POST", "/v1/conversations", body, "key-1", &st2);
    cJSON *other =
        bot("POST", "/v1/conversations", "{\"end_user\":{\"id\":\"u-2\"}}", "key-1", &st3);
    ck_assert_int_eq(st1, 201);
    ck_assert_int_eq(st2, 201);
    ck_assert_str_eq(s(a, "id"), s(again, "id"));
    ck_assert_int_eq(st3, 422);
    long st = 0;
    cJSON *list = bot("GET", "/v1/conversations?end_user_id=u-idem", NULL, NULL, &st);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 1);
    char first[64], dup[64];
    ck_assert_int_eq(send_text(s(a, "id"), "client-7", "once", first), 202);
    ck_assert_int_eq(send_text(s(a, "id"), "client-7", "once", dup), 202);
    ck_assert_str_eq(first, dup);
    cJSON *c = wait_settled(s(a, "id"), 2);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "messages")), 2);
    cJSON_Delete(c);
    cJSON_Delete(list);
    cJSON_Delete(a);
    cJSON_Delete(again);
    cJSON_Delete(other);
}
END_TEST

START_TEST(end_closes_thread_and_refuses_more)
{
    char id[64], path[128];
    open_conversation(NULL, id);
    snprintf(path, sizeof path, "/v1/conversations/%s/end", id);
    long st = 0;
    cJSON_Delete(bot("POST", path, "{\"reason\":\"resolved by bot\"}", NULL, &st));
    ck_assert_int_eq(st, 202);
    cJSON_Delete(bot("POST", path, NULL, NULL, &st));
    ck_assert_int_eq(st, 202); /* ending again changes nothing */
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", id);
    cJSON *j = bot("POST", path, "{\"text\":\"too late\"}", NULL, &st);
    ck_assert_int_eq(st, 409);
    ck_assert_str_eq(s(cJSON_GetObjectItem(j, "error"), "code"), "conversation_closed");
    cJSON_Delete(j);
    cJSON *c = wait_settled(id, 2);
    ck_assert_str_eq(s(c, "state"), "ended");
    ck_assert_str_eq(s(c, "ended_by"), "bot");
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "PUT", "/dfo/3.0/channels/" CHANNEL "/threads/"), 1);
    cJSON_Delete(c);
}
END_TEST

START_TEST(other_providers_see_nothing)
{
    char id[64], path[128];
    open_conversation(NULL, id);
    struct provider q;
    provider_create(&b, byoc_cxsim_url(f), NULL, &q);
    char saved[256];
    snprintf(saved, sizeof saved, "%s", bot_auth);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", q.bot_api_key);
    long st = 0;
    snprintf(path, sizeof path, "/v1/conversations/%s", id);
    cJSON_Delete(bot("GET", path, NULL, NULL, &st));
    ck_assert_int_eq(st, 404);
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", id);
    cJSON_Delete(bot("POST", path, "{\"text\":\"sneaky\"}", NULL, &st));
    ck_assert_int_eq(st, 404);
    cJSON *list = bot("GET", "/v1/conversations", NULL, NULL, &st);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 0);
    cJSON_Delete(list);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer not-a-key");
    cJSON_Delete(bot("GET", "/v1/conversations", NULL, NULL, &st));
    ck_assert_int_eq(st, 401);
    snprintf(bot_auth, sizeof bot_auth, "%s", saved);
    provider_release(&q);
}
END_TEST

START_TEST(agent_reply_joins_conversation)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON *c = wait_settled(id, 1);
    char body[512], path[160];
    snprintf(body, sizeof body,
             "{\"id\":\"agent-1\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":"
             "\"Hi, Ada here\"}},\"thread\":{\"idOnExternalPlatform\":\"%s\"},\"authorUser\":"
             "{\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
             s(c, "thread_id"));
    cJSON_Delete(c);
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/x/messages", p.id);
    char *token = cxone_token(&b, &p), *auth = bearer_line(token), *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, auth, body, &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    c = get_conversation(id);
    ck_assert_str_eq(s(c, "state"), "agent_joined");
    ck_assert_str_eq(s(cJSON_GetObjectItem(c, "agent"), "name"), "Ada Agent");
    cJSON_Delete(c);
    free(token);
    free(auth);
    free(url);
}
END_TEST

START_TEST(typing_becomes_sender_action)
{
    char id[64], path[128];
    open_conversation(NULL, id);
    snprintf(path, sizeof path, "/v1/conversations/%s/typing", id);
    long st = 0;
    cJSON_Delete(bot("POST", path, "{\"typing\":true}", NULL, &st));
    ck_assert_int_eq(st, 202);
    cJSON_Delete(bot("POST", path, "{\"typing\":\"yes\"}", NULL, &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(wait_settled(id, 2));
    struct byoc_cxsim_call call;
    ck_assert(byoc_cxsim_get_call(f, "POST", "/dfo/3.0/channels/" CHANNEL "/threads/", 0, &call));
    ck_assert_ptr_nonnull(strstr(call.path, "/sender-actions"));
    ck_assert_ptr_nonnull(strstr(call.body, "isTypingOn"));
    byoc_cxsim_call_release(&call);
}
END_TEST

START_TEST(bad_handovers_rejected)
{
    long st = 0;
    const char *bad[] = {
        "{}",
        "{\"end_user\":{\"id\":\"\"}}",
        "{\"end_user\":{\"id\":\"u\"},\"transcript\":[{\"role\":\"agent\",\"text\":\"x\"}]}",
        "{\"end_user\":{\"id\":\"u\"},\"channel_id\":\"unknown\"}",
        "{\"end_user\":{\"id\":\"u\"},\"custom_fields\":{\"n\":1}}",
        "{\"end_user\":{\"id\":\"u\"},\"custom_fields\":{\"\":\"v\"}}",
        "{\"end_user\":{\"id\":\"u\"},\"channel_id\":7}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = bot("POST", "/v1/conversations", bad[i], NULL, &st);
        ck_assert_msg(st == 400, "body %zu got %ld", i, st);
        cJSON_Delete(j);
    }
    cJSON *list = bot("GET", "/v1/conversations", NULL, NULL, &st);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 0);
    cJSON_Delete(list);
}
END_TEST

START_TEST(crash_mid_send_no_duplicate)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    byoc_cxsim_set_delay_ms(f, 2000);
    ck_assert_int_eq(send_text(id, NULL, "in flight during the crash", NULL), 202);
    for (long long end = harness_now_ms() + WAIT_MS;
         byoc_cxsim_message_count(f) < 2 && harness_now_ms() < end;)
        usleep(20 * 1000);
    ck_assert_uint_eq(byoc_cxsim_message_count(f), 2); /* CXone has it, byocd does not know */
    byocd_kill(&b);
    byoc_cxsim_set_delay_ms(f, 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, fast_env);
    cJSON *m = last_message_settled(id, 2); /* resent after the lease: CXone says 409 */
    ck_assert_str_eq(s(m, "status"), "delivered");
    ck_assert_uint_eq(byoc_cxsim_message_count(f), 2);
    cJSON_Delete(m);
}
END_TEST

START_TEST(inactivity_closes_even_across_restart)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_settled(id, 1));
    ck_assert_int_eq(byocd_stop(&b), 0);
    sleep(6); /* the provider's timeout is 5 s; byocd is down when it passes */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, fast_env);
    cJSON *c = wait_settled(id, 2);
    ck_assert_str_eq(s(c, "state"), "ended");
    ck_assert_str_eq(s(c, "ended_by"), "inactivity");
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "PUT", "/dfo/3.0/channels/" CHANNEL "/threads/"), 1);
    cJSON_Delete(c);
}
END_TEST

START_TEST(availability_from_cxone_cached)
{
    byoc_cxsim_set_skill(f, "sk-1", 2, 5, 3);
    long st = 0;
    cJSON *a = bot("GET", "/v1/availability?skill_id=sk-1", NULL, NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "available")));
    ck_assert_int_eq(cJSON_GetObjectItem(a, "agents_available")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(a, "queue_length")->valueint, 3);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(a, "cached")));
    cJSON *again = bot("GET", "/v1/availability?skill_id=sk-1", NULL, NULL, &st);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(again, "cached")));
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "GET", "/incontactapi/services/"), 1);
    byoc_cxsim_set_skill(f, "sk-busy", 0, 4, 9);
    cJSON *busy = bot("GET", "/v1/availability?skill_id=sk-busy", NULL, NULL, &st);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(busy, "available")));
    cJSON *unknown = bot("GET", "/v1/availability?skill_id=nope", NULL, NULL, &st);
    ck_assert_int_eq(st, 502);
    cJSON *none = bot("GET", "/v1/availability", NULL, NULL, &st);
    ck_assert_int_eq(st, 400); /* the only channel has no skill_id */
    cJSON_Delete(a);
    cJSON_Delete(again);
    cJSON_Delete(busy);
    cJSON_Delete(unknown);
    cJSON_Delete(none);
}
END_TEST

START_TEST(availability_uses_the_channels_skill)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", p.id);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, b.admin_auth,
                        "{\"channel_id\":\"" CHANNEL "\",\"name\":\"Chat\",\"skill_id\":\"sk-9\"}",
                        &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    free(url);
    byoc_cxsim_set_skill(f, "sk-9", 1, 1, 0);
    long st = 0;
    cJSON *a = bot("GET", "/v1/availability?channel_id=" CHANNEL, NULL, NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(s(a, "skill_id"), "sk-9");
    ck_assert_str_eq(s(a, "channel_id"), CHANNEL);
    cJSON_Delete(a);
    a = bot("GET", "/v1/availability?channel_id=other", NULL, NULL, &st);
    ck_assert_int_eq(st, 404);
    cJSON_Delete(a);
}
END_TEST

START_TEST(voice_handoff_signals_and_serves_transcript)
{
    long st = 0;
    cJSON *h = bot("POST", "/v1/voice/handoffs",
                   "{\"contact_id\":12345,\"transcript\":[{\"role\":\"user\",\"text\":"
                   "\"<script>alert(1)</script> my bill\",\"at\":\"10:01\"},{\"role\":\"bot\","
                   "\"text\":\"Let me get someone\"}],\"params\":[\"intent=billing\",\"en\"]}",
                   NULL, &st);
    ck_assert_int_eq(st, 201);
    const char *key = s(h, "key");
    ck_assert_ptr_nonnull(key);
    char want[256];
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/transcripts/%s", key);
    ck_assert_str_eq(s(h, "transcript_url"), want);
    struct byoc_cxsim_call call;
    ck_assert(byoc_cxsim_get_call(f, "POST", "/incontactapi/services/", 0, &call));
    ck_assert_ptr_nonnull(strstr(call.path, "/interactions/12345/signal"));
    snprintf(want, sizeof want, "p1=%s&p2=intent%%3Dbilling&p3=en", key);
    ck_assert_str_eq(call.query, want);
    byoc_cxsim_call_release(&call);
    char path[128];
    snprintf(path, sizeof path, "/transcripts/%s", key);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt; my bill"));
    ck_assert_ptr_null(strstr(r.body, "<script"));
    char *log = NULL;
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(20 * 1000)) {
        free(log); /* the access line is written once the answer went out: wait for it */
        log = byocd_log(&b);
        if (strstr(log, "\"path\":\"/transcripts/{key}\""))
            break;
    }
    ck_assert_ptr_nonnull(strstr(log, "\"path\":\"/transcripts/{key}\""));
    ck_assert_msg(!strstr(log, key), "the transcript key reached the log");
    free(log);
    ck_assert_ptr_nonnull(strstr(r.body, "Let me get someone"));
    char *csp = test_resp_header(&r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    free(csp);
    test_resp_release(&r);
    free(url);
    url = byocd_url(&b, "/transcripts/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    free(url);
    cJSON_Delete(h);
}
END_TEST

START_TEST(voice_handoff_idempotent)
{
    const char *body =
        "{\"contact_id\":\"900\",\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}";
    long st1 = 0, st2 = 0, st3 = 0;
    cJSON *a = bot("POST", "/v1/voice/handoffs", body, "voice-1", &st1);
    cJSON *again = bot("POST", "/v1/voice/handoffs", body, "voice-1", &st2);
    cJSON *other =
        bot("POST", "/v1/voice/handoffs",
            "{\"contact_id\":\"901\",\"transcript\":[{\"role\":\"user\",\"text\":\"x\"}]}",
            "voice-1", &st3);
    ck_assert_int_eq(st1, 201);
    ck_assert_int_eq(st2, 201);
    ck_assert_int_eq(st3, 422);
    ck_assert_str_eq(s(a, "key"), s(again, "key"));
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "POST", "/incontactapi/services/"), 1);
    cJSON_Delete(a);
    cJSON_Delete(again);
    cJSON_Delete(other);
}
END_TEST

struct voice_call {
    long status;
    cJSON *answer;
};

static void *voice_in_thread(void *arg)
{
    struct voice_call *vc = arg;
    vc->answer = bot("POST", "/v1/voice/handoffs",
                     "{\"contact_id\":\"950\",\"transcript\":[{\"role\":\"user\",\"text\":\"a\"}]}",
                     "voice-slow", &vc->status);
    return NULL;
}

START_TEST(voice_retry_while_first_runs_signals_once)
{
    byoc_cxsim_set_delay_ms(f, 1500);
    struct voice_call first = {0};
    pthread_t t;
    pthread_create(&t, NULL, voice_in_thread, &first);
    usleep(400 * 1000); /* the first one is waiting for CXone now */
    long st = 0;
    cJSON *j = bot("POST", "/v1/voice/handoffs",
                   "{\"contact_id\":\"950\",\"transcript\":[{\"role\":\"user\",\"text\":\"a\"}]}",
                   "voice-slow", &st);
    ck_assert_int_eq(st, 409);
    cJSON_Delete(j);
    pthread_join(t, NULL);
    byoc_cxsim_set_delay_ms(f, 0);
    ck_assert_int_eq(first.status, 201);
    struct voice_call again = {0};
    voice_in_thread(&again);
    ck_assert_int_eq(again.status, 201);
    ck_assert_str_eq(s(again.answer, "key"), s(first.answer, "key"));
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "POST", "/incontactapi/services/"), 1);
    cJSON_Delete(first.answer);
    cJSON_Delete(again.answer);
}
END_TEST

START_TEST(sigterm_waits_for_work_in_flight)
{
    byoc_cxsim_set_delay_ms(f, 1500);
    struct voice_call slow = {0};
    pthread_t t;
    pthread_create(&t, NULL, voice_in_thread, &slow);
    usleep(400 * 1000);
    ck_assert_int_eq(byocd_stop(&b), 0); /* clean exit, after answering the parked request */
    pthread_join(t, NULL);
    ck_assert_int_eq(slow.status, 201);
    cJSON_Delete(slow.answer);
    byoc_cxsim_set_delay_ms(f, 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, fast_env); /* for the fixture's own stop */
}
END_TEST

START_TEST(voice_failed_signal_frees_the_key)
{
    byoc_cxsim_fail_next(f, "/incontactapi/services/", 500, 1, 0);
    struct voice_call a = {0}, b2 = {0};
    voice_in_thread(&a);
    ck_assert_int_eq(a.status, 502);
    voice_in_thread(&b2); /* same key: tries again, and this time CXone takes it */
    ck_assert_int_eq(b2.status, 201);
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "POST", "/incontactapi/services/"), 2);
    cJSON_Delete(a.answer);
    cJSON_Delete(b2.answer);
}
END_TEST

START_TEST(voice_handoff_errors)
{
    long st = 0;
    cJSON_Delete(bot("POST", "/v1/voice/handoffs",
                     "{\"transcript\":[{\"role\":\"user\",\"text\":\"x\"}]}", NULL, &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(bot("POST", "/v1/voice/handoffs",
                     "{\"contact_id\":\"1\",\"transcript\":[{\"role\":\"user\",\"text\":\"x\"}],"
                     "\"params\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
                     NULL, &st));
    ck_assert_int_eq(st, 400);
    byoc_cxsim_fail_next(f, "/incontactapi/services/", 500, 1, 0);
    cJSON *j = bot("POST", "/v1/voice/handoffs",
                   "{\"contact_id\":\"77\",\"transcript\":[{\"role\":\"user\",\"text\":\"x\"}]}",
                   NULL, &st);
    ck_assert_int_eq(st, 502);
    ck_assert_ptr_nonnull(strstr(s(cJSON_GetObjectItem(j, "error"), "message"), "signal"));
    cJSON_Delete(j);
}
END_TEST

START_TEST(private_attachment_uploaded_public_passed_through)
{
    char id[64], path[128], body[768];
    open_conversation(NULL, id);
    byoc_cxsim_add_file(f, "doc.pdf", "secret-pdf-bytes");
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", id);
    snprintf(body, sizeof body,
             "{\"text\":\"see files\",\"attachments\":[{\"url\":\"%s/files/doc.pdf\","
             "\"name\":\"doc.pdf\",\"mime_type\":\"application/pdf\",\"private\":true},"
             "{\"url\":\"https://cdn.example/pic.png\",\"name\":\"pic.png\"}]}",
             byoc_cxsim_url(f));
    long st = 0;
    cJSON_Delete(bot("POST", path, body, NULL, &st));
    ck_assert_int_eq(st, 202);
    cJSON *m = last_message_settled(id, 2);
    ck_assert_str_eq(s(m, "status"), "delivered");
    cJSON_Delete(m);
    struct byoc_cxsim_call up;
    ck_assert(byoc_cxsim_get_call(f, "POST", "/dfo/3.0/attachments/temporary", 0, &up));
    cJSON *u = cJSON_Parse(up.body);
    ck_assert_str_eq(s(u, "mimeType"), "application/pdf");
    ck_assert_str_eq(s(u, "content"), "InNlY3JldC1wZGYtYnl0ZXMi"); /* base64 of the file */
    cJSON_Delete(u);
    byoc_cxsim_call_release(&up);
    cJSON *msg = posted(1);
    const cJSON *att = cJSON_GetObjectItem(msg, "attachments");
    char want[160];
    snprintf(want, sizeof want, "%s/uploaded/att-1", byoc_cxsim_url(f));
    ck_assert_str_eq(s(cJSON_GetArrayItem(att, 0), "url"), want);
    ck_assert_str_eq(s(cJSON_GetArrayItem(att, 0), "friendlyName"), "doc.pdf");
    ck_assert_str_eq(s(cJSON_GetArrayItem(att, 1), "url"), "https://cdn.example/pic.png");
    cJSON_Delete(msg);
    snprintf(body, sizeof body,
             "{\"text\":\"gone\",\"attachments\":[{\"url\":\"%s/files/missing\",\"name\":"
             "\"x\",\"private\":true}]}",
             byoc_cxsim_url(f));
    cJSON_Delete(bot("POST", path, body, NULL, &st));
    m = last_message_settled(id, 3);
    ck_assert_str_eq(s(m, "status"), "failed");
    ck_assert_ptr_nonnull(strstr(s(m, "last_error"), "404"));
    cJSON_Delete(m);
    /* The file host's 409 is not CXone's "already delivered". */
    byoc_cxsim_fail_next(f, "/files/", 409, 1, 0);
    snprintf(body, sizeof body,
             "{\"text\":\"conflict\",\"attachments\":[{\"url\":\"%s/files/doc.pdf\",\"name\":"
             "\"x\",\"private\":true}]}",
             byoc_cxsim_url(f));
    cJSON_Delete(bot("POST", path, body, NULL, &st));
    m = last_message_settled(id, 4);
    ck_assert_str_eq(s(m, "status"), "failed");
    cJSON_Delete(m);
    /* Cloud metadata addresses are never fetched. */
    cJSON_Delete(bot("POST", path,
                     "{\"text\":\"meta\",\"attachments\":[{\"url\":\"http://169.254.169.254/x\","
                     "\"name\":\"x\",\"private\":true}]}",
                     NULL, &st));
    m = last_message_settled(id, 5);
    ck_assert_str_eq(s(m, "status"), "failed");
    ck_assert_ptr_nonnull(strstr(s(m, "last_error"), "link-local"));
    cJSON_Delete(m);
    ck_assert_uint_eq(byoc_cxsim_message_count(f), 2); /* only the first two texts were posted */
}
END_TEST

static long create_with_tenant(cJSON **out)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"Discovered\",\"webhook_url\":\"http://127.0.0.1:9/hook\",\"cxone\":"
             "{\"auth_url\":\"%s/auth/token\",\"tenant_id\":\"tenant-1\",\"client_id\":\"c\","
             "\"client_secret\":\"s\",\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
             byoc_cxsim_url(f));
    char *url = byocd_url(&b, "/admin/v1/providers");
    struct test_resp r;
    ck_assert(http_json("POST", url, b.admin_auth, body, &r));
    free(url);
    long st = r.status;
    *out = test_resp_json(&r);
    test_resp_release(&r);
    return st;
}

START_TEST(api_host_discovered_from_tenant)
{
    cJSON *j = NULL;
    ck_assert_int_eq(create_with_tenant(&j), 201);
    ck_assert_str_eq(s(cJSON_GetObjectItem(j, "cxone"), "api_base_url"), byoc_cxsim_url(f));
    cJSON_Delete(j);
    struct byoc_cxsim_call call;
    ck_assert(byoc_cxsim_get_call(f, "GET", "/.well-known/cxone-configuration", 0, &call));
    ck_assert_str_eq(call.query, "tenantId=tenant-1");
    byoc_cxsim_call_release(&call);
    byoc_cxsim_fail_next(f, "/.well-known/", 500, 1, 0);
    ck_assert_int_eq(create_with_tenant(&j), 502);
    ck_assert_ptr_nonnull(strstr(s(cJSON_GetObjectItem(j, "error"), "message"), "tenant_id"));
    cJSON_Delete(j);
    char *url = byocd_url(&b, "/admin/v1/providers");
    struct test_resp r;
    ck_assert(http_json("GET", url, b.admin_auth, NULL, &r));
    cJSON *list = test_resp_json(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 2); /* p + one */
    cJSON_Delete(list);
    test_resp_release(&r);
    free(url);
}
END_TEST

static void setup_idle(void)
{
    start_with("{\"inactivity_timeout_s\":5}");
}

static Suite *suite(void)
{
    Suite *su = suite_create("relay");
    TCase *tc = tcase_create("relay");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, handover_reaches_cxone);
    tcase_add_test(tc, messages_keep_their_order);
    tcase_add_test(tc, concurrent_sends_follow_accepted_order);
    tcase_add_test(tc, server_errors_retried_without_duplicates);
    tcase_add_test(tc, retry_after_honoured);
    tcase_add_test(tc, client_error_fails_at_once_and_queue_moves_on);
    tcase_add_test(tc, expired_token_refreshed_once);
    tcase_add_test(tc, idempotent_posts);
    tcase_add_test(tc, end_closes_thread_and_refuses_more);
    tcase_add_test(tc, other_providers_see_nothing);
    tcase_add_test(tc, agent_reply_joins_conversation);
    tcase_add_test(tc, typing_becomes_sender_action);
    tcase_add_test(tc, bad_handovers_rejected);
    tcase_add_test(tc, crash_mid_send_no_duplicate);
    tcase_add_test(tc, availability_from_cxone_cached);
    tcase_add_test(tc, availability_uses_the_channels_skill);
    tcase_add_test(tc, voice_handoff_signals_and_serves_transcript);
    tcase_add_test(tc, voice_handoff_errors);
    tcase_add_test(tc, voice_handoff_idempotent);
    tcase_add_test(tc, voice_retry_while_first_runs_signals_once);
    tcase_add_test(tc, voice_failed_signal_frees_the_key);
    tcase_add_test(tc, sigterm_waits_for_work_in_flight);
    tcase_add_test(tc, private_attachment_uploaded_public_passed_through);
    tcase_add_test(tc, api_host_discovered_from_tenant);
    suite_add_tcase(su, tc);
    TCase *idle = tcase_create("inactivity");
    tcase_set_timeout(idle, 120);
    tcase_add_checked_fixture(idle, setup_idle, teardown);
    tcase_add_test(idle, inactivity_closes_even_across_restart);
    suite_add_tcase(su, idle);
    return su;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
