/* Admin API: providers and channels; secrets shown once and never stored in clear. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct byocd b;

static void setup(void)
{
    byocd_start(&b, NULL, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(byocd_stop(&b), 0);
}

static cJSON *admin(const char *method, const char *path, const char *body, long *status)
{
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json(method, url, b.admin_auth, body, &r));
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

static int provider_count(void)
{
    long status = 0;
    cJSON *j = admin("GET", "/admin/v1/providers", NULL, &status);
    ck_assert_int_eq(status, 200);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
    cJSON_Delete(j);
    return n;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    ck_assert_msg(cJSON_IsString(v), "missing string %s", k);
    return v->valuestring;
}

START_TEST(create_answers_urls_and_secrets)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", "integ-1", &p);
    const cJSON *byoc = cJSON_GetObjectItem(p.created, "byoc");
    char want[256];
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/cxone/%s/box", p.id);
    ck_assert_str_eq(str(byoc, "integration_box_url"), want);
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/cxone/%s/auth/token", p.id);
    ck_assert_str_eq(str(byoc, "authorization_url"), want);
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/cxone/%s/actions/add", p.id);
    ck_assert_str_eq(str(byoc, "add_action_url"), want);
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/cxone/%s/actions/reconnect", p.id);
    ck_assert_str_eq(str(byoc, "reconnect_action_url"), want);
    snprintf(want, sizeof want, HARNESS_PUBLIC_URL "/cxone/%s/actions/remove", p.id);
    ck_assert_str_eq(str(byoc, "remove_action_url"), want);
    ck_assert_int_ge((int)strlen(p.client_secret), 32);
    ck_assert_ptr_nonnull(strstr(p.webhook_secret, "whsec_"));
    ck_assert_str_ne(p.bot_api_key, p.studio_secret);
    ck_assert_str_eq(str(cJSON_GetObjectItem(p.created, "cxone"), "integration_id"), "integ-1");
    provider_release(&p);
}
END_TEST

START_TEST(reads_never_show_secrets)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", p.id);
    char *urls[] = {byocd_url(&b, "/admin/v1/providers"), byocd_url(&b, path)};
    for (int i = 0; i < 2; i++) {
        struct test_resp r;
        ck_assert(http_json("GET", urls[i], b.admin_auth, NULL, &r));
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, p.id));
        const char *secrets[] = {p.client_secret, p.bot_api_key,   p.webhook_secret,
                                 p.studio_secret, "client-secret", "key-secret"};
        for (size_t k = 0; k < sizeof secrets / sizeof *secrets; k++)
            ck_assert_msg(!strstr(r.body, secrets[k]), "secret %zu shown by GET", k);
        test_resp_release(&r);
        free(urls[i]);
    }
    provider_release(&p);
}
END_TEST

/* Reads a file into memory (binary); *len its size. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    *len = fread(s, 1, (size_t)n, f);
    fclose(f);
    return s;
}

static bool contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

START_TEST(secrets_not_in_database_files)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    const char *files[] = {"byocd.db", "byocd.db-wal"};
    const char *secrets[] = {p.client_secret, p.bot_api_key,   p.webhook_secret,
                             p.studio_secret, "client-secret", "key-secret"};
    bool row_seen = false; /* proves these are the files holding the provider */
    for (size_t f = 0; f < 2; f++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", b.dir, files[f]);
        size_t len = 0;
        char *data = read_all(path, &len);
        row_seen = row_seen || contains(data, len, p.id);
        for (size_t k = 0; k < sizeof secrets / sizeof *secrets; k++)
            ck_assert_msg(!contains(data, len, secrets[k]), "secret %zu in clear in %s", k,
                          files[f]);
        free(data);
    }
    ck_assert_msg(row_seen, "the provider row is in neither file");
    provider_release(&p);
}
END_TEST

/* The status of one call made with a bearer (NULL body: GET). */
static long bearer_status(const char *method, const char *path, const char *secret,
                          const char *body)
{
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
    long st = 0;
    cJSON_Delete(byocd_call(&b, auth, method, path, body, &st));
    return st;
}

static char *rotate(const char *provider_id, const char *which)
{
    char path[128], body[64];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/rotate-secret", provider_id);
    snprintf(body, sizeof body, "{\"secret\":\"%s\"}", which);
    long st = 0;
    cJSON *j = admin("POST", path, body, &st);
    ck_assert_msg(st == 200, "rotate %s: %ld", which, st);
    ck_assert_str_eq(str(j, "secret"), which);
    ck_assert_str_eq(str(j, "provider_id"), provider_id);
    str(j, "rotated_at");
    char *value = strdup(str(j, "value"));
    cJSON_Delete(j);
    return value;
}

START_TEST(rotate_each_secret)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char token_path[128], studio_path[128];
    snprintf(token_path, sizeof token_path, "/cxone/%s/auth/token", p.id);
    snprintf(studio_path, sizeof studio_path, "/cxone/%s/studio/events", p.id);
    char grant[512];
    /* client secret: the old one is refused at the token URL at once, the new one works */
    char *fresh = rotate(p.id, "client_secret");
    ck_assert_str_ne(fresh, p.client_secret);
    snprintf(grant, sizeof grant,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":"
             "\"client_credentials\"}",
             p.client_id, p.client_secret);
    ck_assert_int_eq(bearer_status("POST", token_path, "unused", grant), 401);
    snprintf(grant, sizeof grant,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":"
             "\"client_credentials\"}",
             p.client_id, fresh);
    ck_assert_int_eq(bearer_status("POST", token_path, "unused", grant), 200);
    free(fresh);
    /* bot API key */
    fresh = rotate(p.id, "bot_api_key");
    ck_assert(strncmp(fresh, "byk_", 4) == 0);
    ck_assert_int_eq(bearer_status("GET", "/v1/conversations", p.bot_api_key, NULL), 401);
    ck_assert_int_eq(bearer_status("GET", "/v1/conversations", fresh, NULL), 200);
    free(fresh);
    /* Studio secret: an unknown contact is a 404 once the caller is believed */
    static const char event[] = "{\"event\":\"ESCALATE\",\"contactId\":\"404404\"}";
    fresh = rotate(p.id, "studio_secret");
    ck_assert(strncmp(fresh, "bys_", 4) == 0);
    ck_assert_int_eq(bearer_status("POST", studio_path, p.studio_secret, event), 401);
    ck_assert_int_eq(bearer_status("POST", studio_path, fresh, event), 404);
    free(fresh);
    /* bad requests change nothing */
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/rotate-secret", p.id);
    long st = 0;
    cJSON_Delete(admin("POST", path, "{\"secret\":\"webhook_secret\"}", &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(admin("POST", path, "{}", &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(admin("POST", "/admin/v1/providers/prv_missing/rotate-secret",
                       "{\"secret\":\"bot_api_key\"}", &st));
    ck_assert_int_eq(st, 404);
    char *log = byocd_log(&b);
    ck_assert_ptr_nonnull(strstr(log, "provider secret rotated"));
    free(log);
    provider_release(&p);
}
END_TEST

START_TEST(invalid_create_changes_nothing)
{
    const char *bodies[] = {
        "{}",
        "{\"name\":\"x\",\"webhook_url\":\"not a url\",\"cxone\":{}}",
        "{\"name\":\"x\",\"webhook_url\":\"https://bot.example/hook\",\"cxone\":{\"auth_url\":"
        "\"https://a.example/auth/token\",\"api_base_url\":\"https://api.example\",\"client_id\":"
        "\"c\",\"client_secret\":\"s\",\"access_key_id\":\"k\"}}",
        "{\"name\":\"\",\"webhook_url\":\"https://bot.example/hook\"}",
    };
    const char *fields[] = {"name", "webhook_url", "cxone.access_key_secret", "name"};
    for (size_t i = 0; i < 4; i++) {
        long status = 0;
        cJSON *j = admin("POST", "/admin/v1/providers", bodies[i], &status);
        ck_assert_int_eq(status, 400);
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        ck_assert_str_eq(str(e, "code"), "invalid_request");
        ck_assert_msg(strstr(str(e, "message"), fields[i]), "message does not name %s: %s",
                      fields[i], str(e, "message"));
        cJSON_Delete(j);
    }
    ck_assert_int_eq(provider_count(), 0);
}
END_TEST

START_TEST(delete_provider)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", p.id);
    long status = 0;
    cJSON_Delete(admin("DELETE", path, NULL, &status));
    ck_assert_int_eq(status, 204);
    cJSON_Delete(admin("GET", path, NULL, &status));
    ck_assert_int_eq(status, 404);
    cJSON_Delete(admin("DELETE", path, NULL, &status));
    ck_assert_int_eq(status, 404);
    ck_assert_int_eq(provider_count(), 0);
    provider_release(&p);
}
END_TEST

START_TEST(channels_lifecycle)
{
    struct provider p;
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char path[160], one[200];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", p.id);
    snprintf(one, sizeof one, "%s/chat_abc", path);
    long status = 0;
    cJSON *j = admin("POST", path, "{\"channel_id\":\"chat_abc\",\"name\":\"Web chat\"}", &status);
    ck_assert_int_eq(status, 201);
    ck_assert_str_eq(str(j, "source"), "admin");
    cJSON_Delete(j);
    j = admin("POST", path, "{\"channel_id\":\"chat_abc\",\"name\":\"Renamed\"}", &status);
    ck_assert_int_eq(status, 200);
    cJSON_Delete(j);
    j = admin("GET", path, NULL, &status);
    const cJSON *items = cJSON_GetObjectItem(j, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    ck_assert_str_eq(str(cJSON_GetArrayItem(items, 0), "name"), "Renamed");
    cJSON_Delete(j);
    cJSON_Delete(admin("POST", path, "{\"channel_id\":\"\",\"name\":\"x\"}", &status));
    ck_assert_int_eq(status, 400);
    cJSON_Delete(admin("DELETE", one, NULL, &status));
    ck_assert_int_eq(status, 204);
    cJSON_Delete(admin("DELETE", one, NULL, &status));
    ck_assert_int_eq(status, 404);
    cJSON_Delete(admin("POST", "/admin/v1/providers/prv_nope0000000000000000/channels",
                       "{\"channel_id\":\"c\",\"name\":\"x\"}", &status));
    ck_assert_int_eq(status, 404);
    provider_release(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("providers");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_answers_urls_and_secrets);
    tcase_add_test(tc, reads_never_show_secrets);
    tcase_add_test(tc, secrets_not_in_database_files);
    tcase_add_test(tc, invalid_create_changes_nothing);
    tcase_add_test(tc, rotate_each_secret);
    tcase_add_test(tc, delete_provider);
    tcase_add_test(tc, channels_lifecycle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
