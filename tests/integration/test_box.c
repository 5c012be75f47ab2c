/* The integration box: agent replies are stored durably, deduplicated, answered with our id,
 * and visible to the admin even when their thread is unknown. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct byocd b;
static struct provider p;
static char *token, *auth;

static void setup(void)
{
    byocd_start(&b, NULL, NULL);
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    token = cxone_token(&b, &p);
    auth = bearer_line(token);
}

static void teardown(void)
{
    free(token);
    free(auth);
    provider_release(&p);
    ck_assert_int_eq(byocd_stop(&b), 0);
}

/* POSTs body under the box; returns the parsed answer (caller frees) and the status. */
static cJSON *box(const char *suffix, const char *body, long *status)
{
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/box%s", p.id, suffix);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, auth, body, &r));
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

/* Our idOnExternalPlatform from a 1.0 reply (malloc'd); asserts 200. */
static char *reply(const char *post_id, const char *body)
{
    char suffix[128];
    snprintf(suffix, sizeof suffix, "/1.0/posts/%s/messages", post_id);
    long status = 0;
    cJSON *j = box(suffix, body, &status);
    ck_assert_int_eq(status, 200);
    const cJSON *id = cJSON_GetObjectItem(j, "idOnExternalPlatform");
    ck_assert(cJSON_IsString(id));
    char *s = strdup(id->valuestring);
    cJSON_Delete(j);
    return s;
}

static cJSON *admin_messages(const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/agent-messages%s", p.id, query);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, b.admin_auth, NULL, &r));
    ck_assert_int_eq(r.status, 200);
    free(url);
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

static const char full_reply[] =
    "{\"id\":\"cx-1\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":\"Hello, I am "
    "Ada\"}},\"thread\":{\"idOnExternalPlatform\":\"thread-9\"},\"authorUser\":{\"firstName\":"
    "\"Ada\",\"surname\":\"Lovelace\",\"imageUrl\":\"https://cdn.example/ada.png\"},"
    "\"attachments\":[{\"friendlyName\":\"doc.pdf\",\"url\":\"https://cdn.example/doc.pdf\"}]}";

START_TEST(reply_is_stored_normalised)
{
    char *id = reply("thread-9", full_reply);
    ck_assert_ptr_nonnull(strstr(id, "msg_"));
    cJSON *list = admin_messages("");
    const cJSON *items = cJSON_GetObjectItem(list, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    const cJSON *m = cJSON_GetArrayItem(items, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "id")->valuestring, id);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "text")->valuestring, "Hello, I am Ada");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "cxone_message_id")->valuestring, "cx-1");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "thread_ref")->valuestring, "thread-9");
    const cJSON *agent = cJSON_GetObjectItem(m, "agent");
    ck_assert_str_eq(cJSON_GetObjectItem(agent, "name")->valuestring, "Ada Lovelace");
    ck_assert_str_eq(cJSON_GetObjectItem(agent, "avatar_url")->valuestring,
                     "https://cdn.example/ada.png");
    const cJSON *att = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "attachments"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(att, "name")->valuestring, "doc.pdf");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "raw_body")->valuestring, full_reply);
    cJSON_Delete(list);
    free(id);
}
END_TEST

START_TEST(duplicate_gets_same_id)
{
    char *first = reply("thread-9", full_reply);
    char *again = reply("thread-9", full_reply);
    char *changed = reply("thread-9", "{\"id\":\"cx-1\",\"text\":\"edited retry\"}");
    char *other = reply("thread-9", "{\"id\":\"cx-2\",\"text\":\"second\"}");
    ck_assert_str_eq(first, again);
    ck_assert_str_eq(first, changed);
    ck_assert_str_ne(first, other);
    cJSON *list = admin_messages("");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 2);
    cJSON_Delete(list);
    free(first);
    free(again);
    free(changed);
    free(other);
}
END_TEST

START_TEST(numeric_id_and_no_id)
{
    char *a = reply("p1", "{\"id\":12345,\"text\":\"numeric\"}");
    char *b2 = reply("p1", "{\"id\":\"12345\",\"text\":\"same id as string\"}");
    ck_assert_str_eq(a, b2);
    char *n1 = reply("p1", "{\"text\":\"no id\"}");
    char *n2 = reply("p1", "{\"text\":\"no id\"}");
    char *n3 = reply("p1", "{\"text\":\"no id, other text\"}");
    ck_assert_str_eq(n1, n2); /* an identical retry is the same message */
    ck_assert_str_ne(n1, n3);
    free(a);
    free(b2);
    free(n1);
    free(n2);
    free(n3);
}
END_TEST

START_TEST(unknown_thread_visible_to_admin)
{
    char *id = reply("no-such-thread", "{\"id\":\"cx-9\",\"text\":\"lost?\"}");
    cJSON *list = admin_messages("?unmatched=true");
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(list, "items"), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "id")->valuestring, id);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "conversation_id")));
    ck_assert_str_eq(cJSON_GetObjectItem(m, "post_id")->valuestring, "no-such-thread");
    cJSON_Delete(list);
    char *log = byocd_log(&b);
    ck_assert_ptr_nonnull(strstr(log, "unknown thread"));
    free(log);
    free(id);
}
END_TEST

START_TEST(paging)
{
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"id\":\"page-%d\",\"text\":\"m%d\"}", i, i);
        free(reply("p", body));
    }
    cJSON *page1 = admin_messages("?limit=3");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(page1, "items")), 3);
    const cJSON *next = cJSON_GetObjectItem(page1, "next_after");
    ck_assert(cJSON_IsNumber(next));
    char q[64];
    snprintf(q, sizeof q, "?limit=3&after=%.0f", next->valuedouble);
    cJSON *page2 = admin_messages(q);
    const cJSON *items2 = cJSON_GetObjectItem(page2, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items2), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items2, 1), "text")->valuestring, "m4");
    ck_assert_ptr_null(cJSON_GetObjectItem(page2, "next_after"));
    cJSON_Delete(page1);
    cJSON_Delete(page2);
}
END_TEST

START_TEST(outbound_answer)
{
    long status = 0;
    cJSON *j = box("/2.0/channel/chan-1/outbound",
                   "{\"thread\":{\"idOnExternalPlatform\":\"th-7\"},\"messageContent\":{\"type\":"
                   "\"TEXT\",\"payload\":{\"text\":\"Outbound hello\"}},\"endUserRecipients\":"
                   "[{\"idOnExternalPlatform\":\"user-1\"}],\"id\":\"ob-1\"}",
                   &status);
    ck_assert_int_eq(status, 200);
    const cJSON *msg = cJSON_GetObjectItem(j, "message"), *th = cJSON_GetObjectItem(j, "thread");
    ck_assert_ptr_nonnull(
        strstr(cJSON_GetObjectItem(msg, "idOnExternalPlatform")->valuestring, "msg_"));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(msg, "createdAtWithMilliseconds")));
    ck_assert_str_eq(cJSON_GetObjectItem(th, "idOnExternalPlatform")->valuestring, "th-7");
    cJSON_Delete(j);
    cJSON *list = admin_messages("");
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(list, "items"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "kind")->valuestring, "outbound");
    ck_assert_str_eq(cJSON_GetObjectItem(m, "channel_id")->valuestring, "chan-1");
    cJSON_Delete(list);
}
END_TEST

START_TEST(recipient_validation)
{
    long status = 0;
    cJSON *ok =
        box("/1.0/channel/chan-1/recipients/validation",
            "{\"endUserRecipients\":[{\"idOnExternalPlatform\":\"u1\",\"name\":\"U\"}]}", &status);
    ck_assert_int_eq(status, 200);
    cJSON_Delete(ok);
    cJSON *bad =
        box("/1.0/channel/chan-1/recipients/validation", "{\"endUserRecipients\":[{}]}", &status);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(cJSON_GetObjectItem(bad, "errorCode")->valuestring,
                     "outboundValidationFailed");
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(bad, "displayErrorMessage")));
    cJSON_Delete(bad);
}
END_TEST

START_TEST(unknown_box_path_logged)
{
    long status = 0;
    cJSON *j = box("/3.0/something/new", "{\"x\":1}", &status);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring,
                     "not_found");
    cJSON_Delete(j);
    char *log = byocd_log(&b);
    ck_assert_ptr_nonnull(strstr(log, "unknown box path"));
    ck_assert_ptr_nonnull(strstr(log, "/3.0/something/new"));
    free(log);
}
END_TEST

START_TEST(not_an_object_rejected)
{
    long status = 0;
    cJSON *j = box("/1.0/posts/p/messages", "[1,2]", &status);
    ck_assert_int_eq(status, 400);
    cJSON_Delete(j);
    cJSON *list = admin_messages("");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 0);
    cJSON_Delete(list);
}
END_TEST

#define WORKERS 8
#define PER_WORKER 50

static void *post_many(void *arg)
{
    long w = (long)arg, ok = 0;
    char suffix[64], body[128];
    for (int i = 0; i < PER_WORKER; i++) {
        snprintf(suffix, sizeof suffix, "/1.0/posts/conv-%ld/messages", w);
        snprintf(body, sizeof body, "{\"id\":\"w%ld-%d\",\"text\":\"message %d\"}", w, i, i);
        long status = 0;
        cJSON_Delete(box(suffix, body, &status));
        ok += status == 200;
    }
    return (void *)ok;
}

START_TEST(concurrent_replies_all_stored)
{
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, post_many, (void *)i);
    long ok = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r;
    }
    ck_assert_int_eq(ok, WORKERS * PER_WORKER);
    cJSON *list = admin_messages("?limit=500");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), WORKERS * PER_WORKER);
    cJSON_Delete(list);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("box");
    TCase *tc = tcase_create("replies");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reply_is_stored_normalised);
    tcase_add_test(tc, duplicate_gets_same_id);
    tcase_add_test(tc, numeric_id_and_no_id);
    tcase_add_test(tc, unknown_thread_visible_to_admin);
    tcase_add_test(tc, paging);
    tcase_add_test(tc, outbound_answer);
    tcase_add_test(tc, recipient_validation);
    tcase_add_test(tc, unknown_box_path_logged);
    tcase_add_test(tc, not_an_object_rejected);
    tcase_add_test(tc, concurrent_replies_all_stored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
