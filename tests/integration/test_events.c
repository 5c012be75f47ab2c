/* Events end to end: webhook subscriptions through the bot API (and the SSRF guard when private
 * targets are not allowed), and the pull API that lists what happened to conversations opened
 * through the bot API, relayed to the fake CXone and answered by agents through the box. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "harness.h"
#include "byoc/json.h"
#include "byoc/banned.h"

#define CHANNEL "chat-1"
#define MESSAGES_PATH "/dfo/3.0/channels/" CHANNEL "/messages"
#define THREADS_PATH "/dfo/3.0/channels/" CHANNEL "/threads/"
#define WAIT_MS 15000
#define POLL_US (50 * 1000)
#define TCASE_TIMEOUT_S 60
#define MAX_PAGES 64                            /* bound on any paging loop */
#define TYPES_MAX 2048                          /* room for a comma-separated list of event types */
#define PULL_LIMIT_MAX 500                      /* the contract's largest page */
#define CREATION_HOOK "http://127.0.0.1:9/hook" /* harness provider_create's webhook_url */
#define AVATAR "https://img.example.com/ada.png"
#define INVOICE "https://files.example.com/invoice.pdf"
#define PUBLIC_HOOK "https://bot.example.com/byocd"

static struct byocd b;
static struct byoc_cxsim *f;
static struct provider p;
static char bot_auth[256];
static const char *const fast_env[] = {"BYOCD_RELAY_RETRY_CAP=1", "BYOCD_RELAY_LEASE=5",
                                       "BYOCD_WEBHOOK_ALLOW_PRIVATE=1", NULL};
static const char *const guarded_env[] = {"BYOCD_WEBHOOK_ALLOW_PRIVATE=0", NULL};

/* ---- small helpers ---- */

static long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static bool starts(const char *str, const char *prefix)
{
    return str && strncmp(str, prefix, strlen(prefix)) == 0;
}

/* 2026-11-21T10:00:00.123Z */
static bool iso_ms(const char *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!t || strlen(t) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        bool ok = shape[i] == 'd' ? isdigit((unsigned char)t[i]) != 0 : t[i] == shape[i];
        if (!ok)
            return false;
    }
    return true;
}

static cJSON *bot(const char *method, const char *path, const char *body, long *status)
{
    return byocd_call(&b, bot_auth, method, path, body, status);
}

static cJSON *admin(const char *method, const char *path, const char *body, long *status)
{
    return byocd_call(&b, b.admin_auth, method, path, body, status);
}

/* The raw body of a bot GET, malloc'd (for "this secret never appears" checks). */
static char *bot_raw(const char *path, long *status)
{
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, bot_auth, NULL, &r));
    free(url);
    *status = r.status;
    char *body = strdup(r.body);
    test_resp_release(&r);
    return body;
}

static const char *err_code(const cJSON *j)
{
    return byoc_json_str(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
}

/* ---- fixtures ---- */

static void setup(void)
{
    f = test_cxsim_start();
    byocd_start(&b, NULL, fast_env);
    provider_create(&b, byoc_cxsim_url(f), "int-1", &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
}

static void teardown(void)
{
    provider_release(&p);
    ck_assert_int_eq(byocd_stop(&b), 0);
    byoc_cxsim_stop(f);
    f = NULL;
}

/* A provider whose webhook_url is public, created with a plain admin POST (the harness's own
 * helper uses a loopback URL, which a guarded byocd refuses). */
static void create_public_provider(void)
{
    long st = 0;
    cJSON *j =
        admin("POST", "/admin/v1/providers",
              "{\"name\":\"Public bot\",\"webhook_url\":\"" PUBLIC_HOOK "\",\"cxone\":{"
              "\"auth_url\":\"https://cxone.example.com/auth/token\","
              "\"api_base_url\":\"https://api.cxone.example.com\",\"client_id\":\"c\","
              "\"client_secret\":\"s\",\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
              &st);
    ck_assert_msg(st == 201, "public provider: %ld", st);
    snprintf(p.id, sizeof p.id, "%s", byoc_json_str(j, "id"));
    snprintf(p.bot_api_key, sizeof p.bot_api_key, "%s", byoc_json_str(j, "bot_api_key"));
    p.created = j;
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
}

static void setup_guarded(void)
{
    f = NULL;
    byocd_start(&b, NULL, guarded_env);
    create_public_provider();
}

/* ---- conversations ---- */

static void open_conversation(const char *extra, char out[64])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"end_user\":{\"id\":\"user-7\",\"first_name\":\"Grace\"},\"transcript\":["
             "{\"role\":\"user\",\"text\":\"hi\"},{\"role\":\"bot\",\"text\":\"hello\"}]%s}",
             extra ? extra : "");
    long st = 0;
    cJSON *j = bot("POST", "/v1/conversations", body, &st);
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

/* Polls until the conversation is in `state`; returns it (caller frees). */
static cJSON *wait_state(const char *id, const char *state)
{
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(POLL_US)) {
        cJSON *c = get_conversation(id);
        const char *now = byoc_json_str(c, "state");
        if (now && strcmp(now, state) == 0)
            return c;
        cJSON_Delete(c);
    }
    ck_abort_msg("conversation %s never reached state %s", id, state);
    return NULL;
}

static long send_text(const char *conv, const char *client_id, const char *text, char id_out[64])
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", conv);
    snprintf(body, sizeof body, "{%s%s%s\"text\":\"%s\"}", client_id ? "\"id\":\"" : "",
             client_id ? client_id : "", client_id ? "\"," : "", text);
    long st = 0;
    cJSON *j = bot("POST", path, body, &st);
    if (id_out)
        snprintf(id_out, 64, "%s", byoc_json_str(j, "id") ? byoc_json_str(j, "id") : "");
    cJSON_Delete(j);
    return st;
}

/* An agent reply through the box (as CXone sends it); returns byocd's id for it in id_out. */
static void agent_reply(const char *thread, const char *cxone_id, const char *text, bool attach,
                        char id_out[64])
{
    char body[1536], path[160];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":\"%s\"}},"
             "\"thread\":{\"idOnExternalPlatform\":\"%s\"},\"authorUser\":{\"firstName\":\"Ada\","
             "\"surname\":\"Agent\",\"imageUrl\":\"" AVATAR "\"}%s}",
             cxone_id, text, thread,
             attach ? ",\"attachments\":[{\"friendlyName\":\"invoice.pdf\",\"url\":\"" INVOICE
                      "\",\"mimeType\":\"application/pdf\"}]"
                    : "");
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/x/messages", p.id);
    char *token = cxone_token(&b, &p), *auth = bearer_line(token);
    long st = 0;
    cJSON *j = byocd_call(&b, auth, "POST", path, body, &st);
    ck_assert_int_eq(st, 200);
    snprintf(id_out, 64, "%s",
             byoc_json_str(j, "idOnExternalPlatform") ? byoc_json_str(j, "idOnExternalPlatform")
                                                      : "");
    cJSON_Delete(j);
    free(token);
    free(auth);
}

/* ---- the pull API ---- */

static cJSON *events_page(const char *conv, long after, long limit, long *status)
{
    char path[192];
    snprintf(path, sizeof path, "/v1/conversations/%s/events?after=%ld&limit=%ld", conv, after,
             limit);
    return bot("GET", path, NULL, status);
}

/* Every event of the conversation, paging with next_after; a new array (caller frees). */
static cJSON *all_events(const char *conv)
{
    cJSON *all = cJSON_CreateArray();
    long after = 0;
    for (int page = 0; page < MAX_PAGES; page++) {
        long st = 0;
        cJSON *j = events_page(conv, after, 100, &st);
        ck_assert_msg(st == 200, "events of %s: %ld", conv, st);
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events"), *e;
        ck_assert(cJSON_IsArray(evs));
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

/* The n-th (0-based) event of this type, or NULL. */
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

/* "a,b,c" of the event types, leaving out those starting with skip (NULL: none). */
static void type_list(const cJSON *events, const char *skip, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const char *t = byoc_json_str(e, "type") ? byoc_json_str(e, "type") : "?";
        if (skip && starts(t, skip))
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", t);
        ck_assert(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
}

/* Polls until the conversation has at least n events of this type; returns all its events. */
static cJSON *wait_events(const char *conv, const char *type, int n)
{
    char types[TYPES_MAX] = "";
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end; usleep(POLL_US)) {
        cJSON *all = all_events(conv);
        if (count_type(all, type) >= n)
            return all;
        type_list(all, NULL, types, sizeof types);
        cJSON_Delete(all);
    }
    ck_abort_msg("%s: wanted %d x %s, have [%s]", conv, n, type, types);
    return NULL;
}

/* The envelope of every event, and seq 1..N without gaps in list order. */
static void check_envelopes(const cJSON *events, const char *conv)
{
    long want = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        ck_assert_msg(starts(byoc_json_str(e, "id"), "evt_"), "event id %s",
                      byoc_json_str(e, "id"));
        ck_assert_ptr_nonnull(byoc_json_str(e, "type"));
        ck_assert_msg(iso_ms(byoc_json_str(e, "created_at")), "created_at %s",
                      byoc_json_str(e, "created_at"));
        ck_assert_str_eq(byoc_json_str(e, "provider_id"), p.id);
        ck_assert_str_eq(byoc_json_str(e, "conversation_id"), conv);
        ck_assert_msg(num(e, "seq") == want, "%s has seq %ld, want %ld", byoc_json_str(e, "type"),
                      num(e, "seq"), want);
        ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "data")));
        want++;
    }
}

static const cJSON *data(const cJSON *e)
{
    return cJSON_GetObjectItemCaseSensitive(e, "data");
}

/* The message.* event of this type whose data.message_id is id, or NULL. */
static const cJSON *message_event(const cJSON *events, const char *type, const char *id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const char *mid = byoc_json_str(data(e), "message_id");
        if (strcmp(byoc_json_str(e, "type"), type) == 0 && mid && strcmp(mid, id) == 0)
            return e;
    }
    return NULL;
}

/* ---- subscriptions ---- */

static cJSON *create_webhook(const char *body, long *status)
{
    return bot("POST", "/v1/webhooks", body, status);
}

static cJSON *list_webhooks(void)
{
    long st = 0;
    cJSON *j = bot("GET", "/v1/webhooks", NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "webhooks")));
    return j;
}

static int webhook_count(void)
{
    cJSON *j = list_webhooks();
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "webhooks"));
    cJSON_Delete(j);
    return n;
}

static void assert_refused(const char *body)
{
    long st = 0;
    cJSON *j = create_webhook(body, &st);
    ck_assert_msg(st == 400, "%s got %ld", body, st);
    ck_assert_str_eq(err_code(j), "invalid_request");
    cJSON_Delete(j);
}

START_TEST(webhook_created_listed_deleted)
{
    long st = 0;
    cJSON *a = create_webhook(
        "{\"url\":\"http://127.0.0.1:9/a\",\"events\":[\"agent.message\",\"conversation.ended\"]}",
        &st);
    ck_assert_int_eq(st, 201);
    ck_assert(starts(byoc_json_str(a, "id"), "wh_"));
    ck_assert_str_eq(byoc_json_str(a, "url"), "http://127.0.0.1:9/a");
    ck_assert_str_eq(byoc_json_str(a, "state"), "enabled");
    ck_assert(starts(byoc_json_str(a, "secret"), "whsec_"));
    ck_assert_str_ne(byoc_json_str(a, "secret"), p.webhook_secret);
    ck_assert(iso_ms(byoc_json_str(a, "created_at")));
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(a, "events");
    ck_assert_int_eq(cJSON_GetArraySize(evs), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(evs, 0)->valuestring, "agent.message");
    ck_assert_str_eq(cJSON_GetArrayItem(evs, 1)->valuestring, "conversation.ended");
    cJSON *all = create_webhook("{\"url\":\"http://127.0.0.1:9/b\"}", &st);
    ck_assert_int_eq(st, 201);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(all, "events")));
    ck_assert_str_ne(byoc_json_str(all, "secret"), byoc_json_str(a, "secret"));

    char *raw = bot_raw("/v1/webhooks", &st);
    ck_assert_int_eq(st, 200);
    ck_assert_msg(!strstr(raw, byoc_json_str(a, "secret")) &&
                      !strstr(raw, byoc_json_str(all, "secret")) &&
                      !strstr(raw, p.webhook_secret) && !strstr(raw, "whsec_"),
                  "a secret is listed: %s", raw);
    free(raw);
    cJSON *list = list_webhooks();
    const cJSON *hooks = cJSON_GetObjectItemCaseSensitive(list, "webhooks");
    ck_assert_int_eq(cJSON_GetArraySize(hooks), 3);
    const cJSON *first = cJSON_GetArrayItem(hooks, 0);
    ck_assert_str_eq(byoc_json_str(first, "url"), CREATION_HOOK); /* the provider's own, first */
    ck_assert(starts(byoc_json_str(first, "id"), "wh_"));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(first, "events")));
    ck_assert_str_eq(byoc_json_str(first, "state"), "enabled");
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(hooks, 1), "id"), byoc_json_str(a, "id"));
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(hooks, 2), "id"), byoc_json_str(all, "id"));
    const cJSON *h;
    cJSON_ArrayForEach(h, hooks)
    {
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(h, "secret"));
        ck_assert(iso_ms(byoc_json_str(h, "created_at")));
    }
    cJSON_Delete(list);

    char path[128];
    snprintf(path, sizeof path, "/v1/webhooks/%s", byoc_json_str(a, "id"));
    cJSON_Delete(bot("DELETE", path, NULL, &st));
    ck_assert_int_eq(st, 204);
    ck_assert_int_eq(webhook_count(), 2);
    cJSON_Delete(bot("DELETE", path, NULL, &st));
    ck_assert_int_eq(st, 404);
    cJSON_Delete(bot("DELETE", "/v1/webhooks/wh_doesnotexist", NULL, &st));
    ck_assert_int_eq(st, 404);
    cJSON_Delete(a);
    cJSON_Delete(all);
}
END_TEST

START_TEST(admin_lists_webhooks_without_secrets)
{
    long st = 0;
    cJSON *a = create_webhook("{\"url\":\"http://127.0.0.1:9/a\"}", &st);
    ck_assert_int_eq(st, 201);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/webhooks", p.id);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, b.admin_auth, NULL, &r));
    free(url);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(!strstr(r.body, "whsec_") && !strstr(r.body, byoc_json_str(a, "secret")), "%s",
                  r.body);
    cJSON *j = test_resp_json(&r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "webhooks")), 2);
    cJSON_Delete(j);
    test_resp_release(&r);
    cJSON_Delete(
        byocd_call(&b, bot_auth, "GET", path, NULL, &st)); /* the bot key is not an admin key */
    ck_assert_int_eq(st, 401);
    cJSON_Delete(a);
}
END_TEST

START_TEST(bad_subscriptions_refused)
{
    static const char *const bad[] = {
        "{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"agent.message\",\"agent.dance\"]}",
        "{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"AGENT.MESSAGE\"]}",
        "{\"url\":\"http://127.0.0.1:9/x\",\"events\":\"agent.message\"}",
        "{\"url\":\"file:///etc/passwd\"}",
        "{\"url\":\"gopher://127.0.0.1:70/_x\"}",
        "{\"url\":\"ftp://files.example.com/x\"}",
        "{\"url\":\"http://user:password@127.0.0.1:9/x\"}",
        "{\"url\":\"https://user:password@bot.example.com/x\"}",
        "{\"url\":\"not a url\"}",
        "{\"url\":42}",
        "{\"events\":[\"agent.message\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_refused(bad[i]);
    ck_assert_int_eq(webhook_count(), 1); /* only the provider's own */
}
END_TEST

START_TEST(other_providers_webhooks_invisible)
{
    long st = 0;
    cJSON *a = create_webhook("{\"url\":\"http://127.0.0.1:9/mine\"}", &st);
    ck_assert_int_eq(st, 201);
    struct provider q;
    provider_create(&b, byoc_cxsim_url(f), NULL, &q);
    char saved[256], path[160];
    snprintf(saved, sizeof saved, "%s", bot_auth);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", q.bot_api_key);
    cJSON *list = list_webhooks();
    const cJSON *hooks = cJSON_GetObjectItemCaseSensitive(list, "webhooks");
    ck_assert_int_eq(cJSON_GetArraySize(hooks), 1);
    ck_assert_str_ne(byoc_json_str(cJSON_GetArrayItem(hooks, 0), "id"), byoc_json_str(a, "id"));
    cJSON_Delete(list);
    snprintf(path, sizeof path, "/v1/webhooks/%s", byoc_json_str(a, "id"));
    cJSON_Delete(bot("DELETE", path, NULL, &st));
    ck_assert_int_eq(st, 404);
    snprintf(path, sizeof path, "/v1/webhooks/%s/rotate-secret", byoc_json_str(a, "id"));
    cJSON_Delete(bot("POST", path, NULL, &st));
    ck_assert_int_eq(st, 404);
    snprintf(bot_auth, sizeof bot_auth, "%s", saved);
    ck_assert_int_eq(webhook_count(), 2); /* still there for its owner */
    provider_release(&q);
    cJSON_Delete(a);
}
END_TEST

/* Whether a warn line of the log mentions needle. */
static bool warned(const char *needle)
{
    char *log = byocd_log(&b);
    bool found = false;
    for (char *line = log; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        found = strstr(line, "\"level\":\"warn\"") && strstr(line, needle);
        line = nl ? nl + 1 : NULL;
    }
    free(log);
    return found;
}

START_TEST(allow_private_warns_at_start)
{
    ck_assert_msg(warned("BYOCD_WEBHOOK_ALLOW_PRIVATE"),
                  "no start-up warning about private targets");
}
END_TEST

/* ---- SSRF guard (BYOCD_WEBHOOK_ALLOW_PRIVATE=0) ---- */

static void assert_hosts_refused(const char *const *hosts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"url\":\"http://%s/hook\"}", hosts[i]);
        long st = 0;
        cJSON *j = create_webhook(body, &st);
        ck_assert_msg(st == 400, "host %s got %ld", hosts[i], st);
        ck_assert_str_eq(err_code(j), "invalid_request");
        cJSON_Delete(j);
    }
    ck_assert_int_eq(webhook_count(), 1); /* nothing stored beyond the provider's own */
}

START_TEST(private_targets_refused)
{
    static const char *const hosts[] = {
        "127.0.0.1",  "10.1.2.3",  "172.16.0.1",     "192.168.1.1", "169.254.169.254",
        "0.0.0.0",    "[::1]",     "[fc00::1]",      "[fe80::1]",   "0x7f000001",
        "2130706433", "localhost", "127.0.0.1:8080",
    };
    assert_hosts_refused(hosts, sizeof hosts / sizeof *hosts);
    long st = 0;
    cJSON *j = create_webhook("{\"url\":\"https://bot.example.com/hook\"}", &st);
    ck_assert_int_eq(st, 201);
    ck_assert_str_eq(byoc_json_str(j, "url"), "https://bot.example.com/hook");
    cJSON_Delete(j);
    ck_assert_int_eq(webhook_count(), 2);
}
END_TEST

/* More spellings curl accepts for the same addresses. */
START_TEST(private_targets_other_notations_refused)
{
    static const char *const hosts[] = {
        "127.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]",
        "[::]",  "LOCALHOST",  "localhost.",
    };
    assert_hosts_refused(hosts, sizeof hosts / sizeof *hosts);
}
END_TEST

START_TEST(guarded_provider_creation_refuses_loopback_hook)
{
    long st = 0;
    cJSON *j =
        admin("POST", "/admin/v1/providers",
              "{\"name\":\"Loopback bot\",\"webhook_url\":\"" CREATION_HOOK "\",\"cxone\":{"
              "\"auth_url\":\"https://cxone.example.com/auth/token\","
              "\"api_base_url\":\"https://api.cxone.example.com\",\"client_id\":\"c\","
              "\"client_secret\":\"s\",\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
              &st);
    ck_assert_int_eq(st, 400);
    ck_assert_str_eq(err_code(j), "invalid_request");
    cJSON_Delete(j);
    j = admin("GET", "/admin/v1/providers", NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")), 1);
    cJSON_Delete(j);
    cJSON *list = list_webhooks();
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "webhooks"), 0);
    ck_assert_str_eq(byoc_json_str(first, "url"), PUBLIC_HOOK);
    cJSON_Delete(list);
}
END_TEST

START_TEST(guard_on_no_warning)
{
    ck_assert(!warned("BYOCD_WEBHOOK_ALLOW_PRIVATE"));
}
END_TEST

/* ---- pull API ---- */

static void assert_agent(const cJSON *agent)
{
    ck_assert_str_eq(byoc_json_str(agent, "name"), "Ada Agent");
    ck_assert_str_eq(byoc_json_str(agent, "avatar_url"), AVATAR);
}

static void assert_escalated_by_relay(const cJSON *e, const cJSON *conv)
{
    const cJSON *d = data(e), *cx = cJSON_GetObjectItemCaseSensitive(conv, "cxone");
    ck_assert_str_eq(byoc_json_str(d, "source"), "relay");
    ck_assert_str_eq(byoc_json_str(d, "contact_id"), byoc_json_str(cx, "contact_id"));
    if (byoc_json_str(cx, "case_id"))
        ck_assert_str_eq(byoc_json_str(d, "case_id"), byoc_json_str(cx, "case_id"));
    if (byoc_json_str(cx, "interaction_id"))
        ck_assert_str_eq(byoc_json_str(d, "interaction_id"), byoc_json_str(cx, "interaction_id"));
}

static void assert_agent_message(const cJSON *e, const char *id, const char *cxone_id,
                                 const char *text, int attachments)
{
    const cJSON *d = data(e);
    ck_assert_str_eq(byoc_json_str(d, "message_id"), id);
    if (byoc_json_str(d, "cxone_message_id"))
        ck_assert_str_eq(byoc_json_str(d, "cxone_message_id"), cxone_id);
    ck_assert_str_eq(byoc_json_str(d, "kind"), "reply");
    ck_assert_str_eq(byoc_json_str(d, "text"), text);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(d, "attachments");
    ck_assert(cJSON_IsArray(att));
    ck_assert_int_eq(cJSON_GetArraySize(att), attachments);
    assert_agent(cJSON_GetObjectItemCaseSensitive(d, "agent"));
}

/* Opens a conversation, waits for CXone to accept it and posts two agent replies. */
static cJSON *conversation_with_replies(char id[64], char r1[64], char r2[64])
{
    open_conversation(NULL, id);
    cJSON *c = wait_state(id, "escalated");
    agent_reply(byoc_json_str(c, "thread_id"), "agent-1", "Hi, Ada here", false, r1);
    agent_reply(byoc_json_str(c, "thread_id"), "agent-2", "Here is your invoice", true, r2);
    return c;
}

START_TEST(conversation_events_in_order)
{
    char id[64], r1[64], r2[64], types[TYPES_MAX];
    cJSON *c = conversation_with_replies(id, r1, r2);
    cJSON *all = wait_events(id, "agent.message", 2);
    check_envelopes(all, id);
    type_list(all, "message.", types, sizeof types);
    ck_assert_str_eq(types, "conversation.escalated,agent.joined,agent.message,agent.message");
    assert_escalated_by_relay(nth_of_type(all, "conversation.escalated", 0), c);
    const cJSON *joined = nth_of_type(all, "agent.joined", 0);
    const cJSON *m1 = nth_of_type(all, "agent.message", 0),
                *m2 = nth_of_type(all, "agent.message", 1);
    assert_agent(cJSON_GetObjectItemCaseSensitive(data(joined), "agent"));
    ck_assert_int_eq(num(joined, "seq") + 1, num(m1, "seq")); /* joined right before its cause */
    assert_agent_message(m1, r1, "agent-1", "Hi, Ada here", 0);
    assert_agent_message(m2, r2, "agent-2", "Here is your invoice", 1);
    const cJSON *att =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(data(m2), "attachments"), 0);
    ck_assert_str_eq(byoc_json_str(att, "name"), "invoice.pdf");
    ck_assert_str_eq(byoc_json_str(att, "url"), INVOICE);
    ck_assert_str_eq(byoc_json_str(att, "mime_type"), "application/pdf");
    /* The opening transcript is a bot text message: one message.delivered for it. */
    const char *opening =
        byoc_json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "messages"), 0), "id");
    ck_assert_int_eq(count_type(all, "message.delivered"), 1);
    ck_assert_ptr_nonnull(message_event(all, "message.delivered", opening));
    ck_assert_int_eq(count_type(all, "message.failed"), 0);
    cJSON_Delete(all);
    cJSON_Delete(c);
}
END_TEST

START_TEST(conversation_events_page_with_after)
{
    char id[64], r1[64], r2[64];
    cJSON_Delete(conversation_with_replies(id, r1, r2));
    cJSON *all = wait_events(id, "agent.message", 2);
    int total = cJSON_GetArraySize(all);
    ck_assert_int_ge(total, 4);
    long st = 0;
    cJSON *j = events_page(id, 0, 2, &st);
    ck_assert_int_eq(st, 200);
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events");
    ck_assert_int_eq(cJSON_GetArraySize(evs), 2);
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(evs, 0), "id"),
                     byoc_json_str(cJSON_GetArrayItem(all, 0), "id"));
    ck_assert_int_eq(num(j, "next_after"), 2);
    cJSON_Delete(j);
    j = events_page(id, 2, 100, &st);
    evs = cJSON_GetObjectItemCaseSensitive(j, "events");
    ck_assert_int_eq(cJSON_GetArraySize(evs), total - 2);
    ck_assert_int_eq(num(cJSON_GetArrayItem(evs, 0), "seq"), 3);
    ck_assert_str_eq(byoc_json_str(cJSON_GetArrayItem(evs, 0), "id"),
                     byoc_json_str(cJSON_GetArrayItem(all, 2), "id"));
    ck_assert_int_eq(num(j, "next_after"), total);
    cJSON_Delete(j);
    j = events_page(id, total, 100, &st);
    ck_assert_int_eq(st, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 0);
    ck_assert_int_eq(num(j, "next_after"), total);
    cJSON_Delete(j);
    char path[128]; /* defaults: after 0, limit 100 */
    snprintf(path, sizeof path, "/v1/conversations/%s/events", id);
    j = bot("GET", path, NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), total);
    cJSON_Delete(j);
    cJSON_Delete(all);
}
END_TEST

START_TEST(pull_limits_and_other_providers)
{
    char id[64];
    open_conversation(NULL, id);
    cJSON_Delete(wait_state(id, "escalated"));
    long st = 0;
    cJSON_Delete(events_page(id, 0, 0, &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(events_page(id, 0, PULL_LIMIT_MAX + 1, &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(events_page(id, 0, PULL_LIMIT_MAX, &st));
    ck_assert_int_eq(st, 200);
    cJSON_Delete(events_page(id, 0, 1, &st));
    ck_assert_int_eq(st, 200);
    char path[160];
    snprintf(path, sizeof path, "/v1/conversations/%s/events?limit=many", id);
    cJSON_Delete(bot("GET", path, NULL, &st));
    ck_assert_int_eq(st, 400);
    cJSON_Delete(events_page("cnv_doesnotexist", 0, 10, &st));
    ck_assert_int_eq(st, 404);
    struct provider q;
    provider_create(&b, byoc_cxsim_url(f), NULL, &q);
    char saved[256];
    snprintf(saved, sizeof saved, "%s", bot_auth);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", q.bot_api_key);
    cJSON *j = events_page(id, 0, 10, &st);
    ck_assert_int_eq(st, 404);
    ck_assert_str_eq(err_code(j), "not_found");
    cJSON_Delete(j);
    j = bot("GET", "/v1/events", NULL, &st); /* q's feed holds none of p's events */
    ck_assert_int_eq(st, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 0);
    cJSON_Delete(j);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer not-a-key");
    cJSON_Delete(events_page(id, 0, 10, &st));
    ck_assert_int_eq(st, 401);
    snprintf(bot_auth, sizeof bot_auth, "%s", saved);
    provider_release(&q);
}
END_TEST

/* One page of the provider's feed; cursor NULL = from the start. */
static cJSON *feed_page(const char *cursor, int limit, long *status)
{
    char path[512];
    if (cursor)
        snprintf(path, sizeof path, "/v1/events?after=%s&limit=%d", cursor, limit);
    else
        snprintf(path, sizeof path, "/v1/events?limit=%d", limit);
    return bot("GET", path, NULL, status);
}

/* Pages through the feed from cursor (NULL = start), limit events a page, until an empty page.
 * Appends the events to out; leaves the last next_cursor in cursor_out. */
static void read_feed(const char *cursor, int limit, cJSON *out, char cursor_out[256])
{
    char cur[256];
    snprintf(cur, sizeof cur, "%s", cursor ? cursor : "");
    for (int page = 0; page < MAX_PAGES; page++) {
        long st = 0;
        cJSON *j = feed_page(cur[0] ? cur : NULL, limit, &st);
        ck_assert_int_eq(st, 200);
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events"), *e;
        ck_assert(cJSON_IsArray(evs));
        ck_assert_int_le(cJSON_GetArraySize(evs), limit);
        ck_assert_msg(byoc_json_str(j, "next_cursor"), "next_cursor missing");
        snprintf(cur, sizeof cur, "%s", byoc_json_str(j, "next_cursor"));
        int n = cJSON_GetArraySize(evs);
        cJSON_ArrayForEach(e, evs)
        {
            cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
        }
        cJSON_Delete(j);
        if (n == 0) {
            snprintf(cursor_out, 256, "%s", cur);
            return;
        }
    }
    ck_abort_msg("the feed did not end within %d pages", MAX_PAGES);
}

/* The feed holds exactly the events of these conversations, each in its seq order. */
static void assert_feed_matches(const cJSON *feed, const cJSON *a, const char *ida, const cJSON *bb,
                                const char *idb)
{
    ck_assert_int_eq(cJSON_GetArraySize(feed), cJSON_GetArraySize(a) + cJSON_GetArraySize(bb));
    long last_a = 0, last_b = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, feed)
    {
        bool in_a = strcmp(byoc_json_str(e, "conversation_id"), ida) == 0;
        ck_assert_msg(in_a || strcmp(byoc_json_str(e, "conversation_id"), idb) == 0,
                      "foreign event");
        long *last = in_a ? &last_a : &last_b;
        const cJSON *mine = cJSON_GetArrayItem(in_a ? a : bb, (int)*last);
        ck_assert_int_eq(num(e, "seq"), *last + 1);
        ck_assert_str_eq(byoc_json_str(e, "id"), byoc_json_str(mine, "id"));
        ck_assert_str_eq(byoc_json_str(e, "type"), byoc_json_str(mine, "type"));
        (*last)++;
    }
}

START_TEST(provider_feed_pages_with_cursor)
{
    char ida[64], idb[64], r1[64], path[128];
    open_conversation(NULL, ida);
    open_conversation(NULL, idb);
    cJSON *ca = wait_state(ida, "escalated");
    cJSON_Delete(wait_state(idb, "escalated"));
    agent_reply(byoc_json_str(ca, "thread_id"), "agent-f1", "feed reply", false, r1);
    snprintf(path, sizeof path, "/v1/conversations/%s/end", idb);
    long st = 0;
    cJSON_Delete(bot("POST", path, "{\"reason\":\"done\"}", &st));
    ck_assert_int_eq(st, 202);
    cJSON *a = wait_events(ida, "agent.message", 1),
          *bb = wait_events(idb, "conversation.ended", 1);
    cJSON *feed = cJSON_CreateArray();
    char cursor[256];
    read_feed(NULL, 2, feed, cursor);
    assert_feed_matches(feed, a, ida, bb, idb);
    cJSON_Delete(feed);
    cJSON *j = feed_page(cursor, 100, &st); /* at the end: nothing new, again */
    ck_assert_int_eq(st, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 0);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/conversations/%s/end", ida);
    cJSON_Delete(bot("POST", path, NULL, &st));
    ck_assert_int_eq(st, 202);
    cJSON *more = cJSON_CreateArray();
    for (long long end = harness_now_ms() + WAIT_MS;
         harness_now_ms() < end && !count_type(more, "conversation.ended"); usleep(POLL_US))
        read_feed(cursor, 100, more, cursor);
    ck_assert_int_eq(count_type(more, "conversation.ended"), 1);
    const cJSON *e;
    cJSON_ArrayForEach(e, more)
    {
        ck_assert_str_eq(byoc_json_str(e, "conversation_id"),
                         ida); /* only what came after the cursor */
    }
    cJSON_Delete(more);
    cJSON_Delete(a);
    cJSON_Delete(bb);
    cJSON_Delete(ca);
}
END_TEST

START_TEST(delivered_events_for_bot_messages)
{
    char id[64], m1[64], m2[64], m3[64], path[128];
    open_conversation(NULL, id);
    cJSON_Delete(wait_state(id, "escalated"));
    ck_assert_int_eq(send_text(id, "client-7", "with a client id", m1), 202);
    ck_assert_int_eq(send_text(id, NULL, "without one", m2), 202);
    snprintf(path, sizeof path, "/v1/conversations/%s/typing", id);
    long st = 0;
    cJSON_Delete(bot("POST", path, "{\"typing\":true}", &st));
    ck_assert_int_eq(st, 202);
    cJSON *all = wait_events(id, "message.delivered", 3);
    byoc_cxsim_fail_next(f, MESSAGES_PATH, 500, 1, 0);
    ck_assert_int_eq(send_text(id, "client-9", "after one failure", m3), 202);
    cJSON_Delete(all);
    all = wait_events(id, "message.delivered", 4);
    check_envelopes(all, id);
    const cJSON *d1 = data(message_event(all, "message.delivered", m1));
    const cJSON *d2 = data(message_event(all, "message.delivered", m2));
    const cJSON *d3 = data(message_event(all, "message.delivered", m3));
    ck_assert_ptr_nonnull(d1);
    ck_assert_ptr_nonnull(d2);
    ck_assert_ptr_nonnull(d3);
    ck_assert_str_eq(byoc_json_str(d1, "client_message_id"), "client-7");
    ck_assert_int_eq(num(d1, "attempts"), 1);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d2, "client_message_id"));
    ck_assert_str_eq(byoc_json_str(d3, "client_message_id"), "client-9");
    ck_assert_int_eq(num(d3, "attempts"), 2);
    ck_assert_int_eq(count_type(all, "message.delivered"), 4); /* typing has none */
    ck_assert_int_eq(count_type(all, "message.failed"), 0);
    cJSON_Delete(all);
}
END_TEST

START_TEST(failed_opening_ends_conversation)
{
    byoc_cxsim_fail_next(f, MESSAGES_PATH, 400, 1, 0);
    byoc_cxsim_set_delay_ms(f, 800); /* room to queue one more behind the opening */
    char id[64], queued[64];
    open_conversation(",\"reason\":\"asked for a human\"", id);
    ck_assert_int_eq(send_text(id, "client-q", "queued behind", queued), 202);
    cJSON *c = wait_state(id, "ended");
    byoc_cxsim_set_delay_ms(f, 0);
    ck_assert_str_eq(byoc_json_str(c, "ended_by"), "failure");
    cJSON *all = wait_events(id, "conversation.ended", 1);
    char types[TYPES_MAX];
    type_list(all, NULL, types, sizeof types);
    check_envelopes(all, id);
    ck_assert_msg(count_type(all, "message.failed") == 3, "[%s]", types);
    ck_assert_msg(count_type(all, "conversation.escalated") == 0, "[%s]", types);
    ck_assert_msg(count_type(all, "message.delivered") == 0, "[%s]", types);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
    const cJSON *first =
        message_event(all, "message.failed", byoc_json_str(cJSON_GetArrayItem(msgs, 0), "id"));
    ck_assert_ptr_nonnull(first);
    ck_assert_int_eq(num(data(first), "attempts"), 1);
    ck_assert_ptr_nonnull(byoc_json_str(data(first), "reason"));
    const cJSON *behind = message_event(all, "message.failed", queued);
    ck_assert_ptr_nonnull(behind);
    ck_assert_str_eq(byoc_json_str(data(behind), "client_message_id"), "client-q");
    ck_assert_ptr_nonnull(byoc_json_str(data(behind), "reason"));
    const cJSON *last = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
    ck_assert_str_eq(byoc_json_str(last, "type"), "conversation.ended");
    ck_assert_str_eq(byoc_json_str(data(last), "by"), "failure");
    ck_assert_uint_eq(byoc_cxsim_message_count(f), 0);
    cJSON_Delete(all);
    cJSON_Delete(c);
}
END_TEST

START_TEST(bot_end_is_the_last_event)
{
    char id[64], r1[64], r2[64], path[128];
    cJSON_Delete(conversation_with_replies(id, r1, r2));
    snprintf(path, sizeof path, "/v1/conversations/%s/end", id);
    long st = 0;
    cJSON_Delete(bot("POST", path, "{\"reason\":\"resolved\"}", &st));
    ck_assert_int_eq(st, 202);
    cJSON_Delete(bot("POST", path, NULL, &st));
    ck_assert_int_eq(st, 202);
    for (long long end = harness_now_ms() + WAIT_MS;
         byoc_cxsim_call_count(f, "PUT", THREADS_PATH) < 1 && harness_now_ms() < end;)
        usleep(POLL_US); /* the thread close is the last thing the relay does */
    ck_assert_uint_eq(byoc_cxsim_call_count(f, "PUT", THREADS_PATH), 1);
    cJSON *all = wait_events(id, "conversation.ended", 1);
    check_envelopes(all, id);
    ck_assert_int_eq(count_type(all, "conversation.ended"), 1);
    const cJSON *last = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
    ck_assert_str_eq(byoc_json_str(last, "type"), "conversation.ended");
    ck_assert_str_eq(byoc_json_str(data(last), "by"), "bot");
    ck_assert_str_eq(byoc_json_str(data(last), "reason"), "resolved");
    ck_assert_int_eq(count_type(all, "message.delivered"), 1); /* the close message has none */
    cJSON_Delete(all);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("events");
    TCase *hooks = tcase_create("webhooks");
    tcase_set_timeout(hooks, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(hooks, setup, teardown);
    tcase_add_test(hooks, webhook_created_listed_deleted);
    tcase_add_test(hooks, admin_lists_webhooks_without_secrets);
    tcase_add_test(hooks, bad_subscriptions_refused);
    tcase_add_test(hooks, other_providers_webhooks_invisible);
    tcase_add_test(hooks, allow_private_warns_at_start);
    suite_add_tcase(su, hooks);
    TCase *guard = tcase_create("ssrf");
    tcase_set_timeout(guard, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(guard, setup_guarded, teardown);
    tcase_add_test(guard, private_targets_refused);
    tcase_add_test(guard, private_targets_other_notations_refused);
    tcase_add_test(guard, guarded_provider_creation_refuses_loopback_hook);
    tcase_add_test(guard, guard_on_no_warning);
    suite_add_tcase(su, guard);
    TCase *pull = tcase_create("pull");
    tcase_set_timeout(pull, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(pull, setup, teardown);
    tcase_add_test(pull, conversation_events_in_order);
    tcase_add_test(pull, conversation_events_page_with_after);
    tcase_add_test(pull, pull_limits_and_other_providers);
    tcase_add_test(pull, provider_feed_pages_with_cursor);
    tcase_add_test(pull, delivered_events_for_bot_messages);
    tcase_add_test(pull, failed_opening_ends_conversation);
    tcase_add_test(pull, bot_end_is_the_last_event);
    suite_add_tcase(su, pull);
    return su;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
