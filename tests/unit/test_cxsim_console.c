/*
 * The CXone simulator's agent console (src/sandbox/cxsim_console.c) and the calls it makes to
 * byocd the way CXone does, driven over real HTTP on loopback: byocd's DFO calls are played by
 * the test HTTP client, and a small fake byocd (byocd's own HTTP layer with a route table,
 * below) serves a token endpoint, an integration box and a Studio-events endpoint, records what
 * the simulator sends and answers as scripted (401, 503, 400...).
 *
 * Each test gets a fresh simulator and a fresh fake byocd (Check's checked fixture, in the
 * forked child). Waits are polls with a deadline; the only timings asserted are lower bounds
 * (a delay or a backoff that must have happened) and one generous upper bound (stopping must
 * not wait for a backoff or a held-back answer).
 */
#include "cxsim_test.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "byoc/compiler.h"
#include "byoc/http.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/outbound.h"
#include "byoc/util.h"
#include "testhttp.h"
#include "byoc/banned.h"

#define WAIT_MS 10000        /* bound for anything that should happen at once */
#define SLOW_WAIT_MS 20000   /* bound for what goes through several backoff pauses */
#define POLL_STEP_US 10000   /* between two looks while polling */
#define FAKE_CALLS_MAX 256   /* requests the fake byocd records */
#define FAKE_SCRIPT_MAX 16   /* scripted answers waiting per endpoint */
#define FIRST_BACKOFF_MS 500 /* cxsim_console.c's CONSOLE_BACKOFF_FIRST_MS */
#define BACKOFF_SLACK_MS 50  /* clock granularity allowance on lower bounds */
#define STOP_PROMPT_MS 2000  /* stopping must not wait for a 4 s backoff or an 8 s delay */
#define PARKED_DELAY_MS 8000 /* a held-back answer the stop must cut short */
#define CHANNEL "chat-1"
#define THREAD "thr-1"
#define CLIENT_ID "byoc-client-id"
#define CLIENT_SECRET "byoc-client-secret"
#define STUDIO_SECRET "bys_studio_secret"
#define HDR_JSON "Content-Type: application/json"
#define CONSOLE_SHOWN_MAX 320 /* a state and its detail, in a failure message */

/* ================================================================ fake byocd */

enum fake_ep { EP_TOKEN, EP_BOX, EP_STUDIO, EP_OTHER, EP_COUNT };

struct fake_call {
    enum fake_ep ep;
    int64_t at_ms; /* monotonic, when the request was handled */
    char path[256];
    char auth[256];
    char ctype[128];
    char *body;
    int status; /* what the fake answered */
};

static struct {
    pthread_mutex_t mu;
    struct byoc_http *http;
    char url[64];
    struct fake_call calls[FAKE_CALLS_MAX];
    size_t ncalls;
    int script[EP_COUNT][FAKE_SCRIPT_MAX]; /* statuses the next requests get, oldest first */
    size_t nscript[EP_COUNT];
    int tokens_issued;     /* tok-1, tok-2, ... */
    int tokens_valid_from; /* the box accepts tok-N for N >= this (1: all) */
    int stored;            /* replies the box accepted */
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Records the request; fk.mu held. Returns the record. */
static struct fake_call *fake_record(struct byoc_req *req, enum fake_ep ep)
{
    ck_assert_uint_lt(fk.ncalls, FAKE_CALLS_MAX);
    struct fake_call *c = &fk.calls[fk.ncalls++];
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    const char *auth = byoc_req_header(req, "Authorization");
    const char *ctype = byoc_req_header(req, "Content-Type");
    c->ep = ep;
    c->at_ms = byoc_mono_ms();
    snprintf(c->path, sizeof c->path, "%s", byoc_req_path(req));
    snprintf(c->auth, sizeof c->auth, "%s", auth ? auth : "");
    snprintf(c->ctype, sizeof c->ctype, "%s", ctype ? ctype : "");
    c->body = strdup(body);
    return c;
}

/* The next scripted status for ep, or 0; fk.mu held. */
static int fake_scripted(enum fake_ep ep)
{
    if (fk.nscript[ep] == 0)
        return 0;
    int status = fk.script[ep][0];
    memmove(fk.script[ep], fk.script[ep] + 1, (fk.nscript[ep] - 1) * sizeof(int));
    fk.nscript[ep]--;
    return status;
}

/* Answers status with json and notes the status in the record; fk.mu held. */
static void fake_answer(struct byoc_req *req, struct fake_call *c, int status, const char *json)
{
    c->status = status;
    char *body = strdup(json);
    byoc_reply(req, status, "application/json", body, strlen(body));
}

static bool fake_credentials_ok(const char *body)
{
    cJSON *j = cJSON_Parse(body);
    const char *id = byoc_json_str(j, "client_id"), *secret = byoc_json_str(j, "client_secret");
    bool ok = id && secret && strcmp(id, CLIENT_ID) == 0 && strcmp(secret, CLIENT_SECRET) == 0;
    cJSON_Delete(j);
    return ok;
}

/* byocd's Authorization URL: JSON client credentials -> tok-N. */
static void fake_token(struct byoc_req *req)
{
    pthread_mutex_lock(&fk.mu);
    struct fake_call *c = fake_record(req, EP_TOKEN);
    int status = fake_scripted(EP_TOKEN);
    if (!status && !fake_credentials_ok(c->body))
        status = 401;
    if (status) {
        fake_answer(req, c, status, "{\"error\":\"invalid_client\"}");
    } else {
        char json[128];
        snprintf(json, sizeof json,
                 "{\"access_token\":\"tok-%d\",\"token_type\":\"bearer\",\"expires_in\":3600}",
                 ++fk.tokens_issued);
        fake_answer(req, c, 200, json);
    }
    pthread_mutex_unlock(&fk.mu);
}

/* True when auth is "Bearer tok-N" with a token issued and not revoked; fk.mu held. */
static bool fake_bearer_ok(const char *auth)
{
    int n = 0;
    char tail = 0;
    if (sscanf(auth, "Bearer tok-%d%c", &n, &tail) != 1)
        return false;
    return n >= fk.tokens_valid_from && n <= fk.tokens_issued;
}

/* The integration box: an agent reply. */
static void fake_box(struct byoc_req *req)
{
    pthread_mutex_lock(&fk.mu);
    struct fake_call *c = fake_record(req, EP_BOX);
    int status = fake_scripted(EP_BOX);
    if (!status && !fake_bearer_ok(c->auth))
        status = 401;
    if (status) {
        fake_answer(req, c, status, "{\"error\":{\"code\":\"scripted\",\"message\":\"no\"}}");
    } else {
        char json[128];
        snprintf(json, sizeof json, "{\"idOnExternalPlatform\":\"stored-%d\"}", ++fk.stored);
        fake_answer(req, c, 200, json);
    }
    pthread_mutex_unlock(&fk.mu);
}

/* The Studio-events endpoint: the Studio secret as bearer. */
static void fake_studio(struct byoc_req *req)
{
    pthread_mutex_lock(&fk.mu);
    struct fake_call *c = fake_record(req, EP_STUDIO);
    int status = fake_scripted(EP_STUDIO);
    if (!status && strcmp(c->auth, "Bearer " STUDIO_SECRET) != 0)
        status = 401;
    if (status)
        fake_answer(req, c, status, "{\"error\":{\"code\":\"scripted\",\"message\":\"no\"}}");
    else
        fake_answer(req, c, 200, "{\"state\":\"ended\",\"changed\":true}");
    pthread_mutex_unlock(&fk.mu);
}

static void fake_other(struct byoc_req *req)
{
    pthread_mutex_lock(&fk.mu);
    struct fake_call *c = fake_record(req, EP_OTHER);
    fake_answer(req, c, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}");
    pthread_mutex_unlock(&fk.mu);
}

static const struct byoc_route fake_routes[] = {
    {"POST", "/token", fake_token, 0, BYOC_BODY_RAW, 1 << 20, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/box/1.0/posts/{post}/messages", fake_box, 0, BYOC_BODY_RAW, 1 << 20,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/studio/events", fake_studio, 0, BYOC_BODY_RAW, 1 << 20, BYOC_ERRSTYLE_JSON, false},
    {"*", "/{*}", fake_other, 0, BYOC_BODY_RAW, 1 << 20, BYOC_ERRSTYLE_JSON, false},
};

static void fake_start(void)
{
    struct byoc_http_config hc = {.host = "127.0.0.1",
                                  .max_connections = 32,
                                  .idle_timeout_s = 30,
                                  .routes = fake_routes,
                                  .nroutes = BYOC_ARRAY_LEN(fake_routes)};
    char why[256] = "";
    ck_assert_msg(byoc_http_start(&hc, &fk.http, why, sizeof why) == BYOC_ERR_OK, "%s", why);
    snprintf(fk.url, sizeof fk.url, "http://127.0.0.1:%d", byoc_http_port(fk.http));
    fk.tokens_valid_from = 1;
}

static void fake_stop(void)
{
    ck_assert(byoc_http_stop(fk.http));
    for (size_t i = 0; i < fk.ncalls; i++)
        free(fk.calls[i].body);
    fk.ncalls = 0;
}

/* The next n requests to ep get status (then the endpoint behaves again). */
static void fake_script(enum fake_ep ep, int status, int n)
{
    pthread_mutex_lock(&fk.mu);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_lt(fk.nscript[ep], FAKE_SCRIPT_MAX);
        fk.script[ep][fk.nscript[ep]++] = status;
    }
    pthread_mutex_unlock(&fk.mu);
}

/* Makes every token issued so far unknown to the box (as if they expired). */
static void fake_revoke_tokens(void)
{
    pthread_mutex_lock(&fk.mu);
    fk.tokens_valid_from = fk.tokens_issued + 1;
    pthread_mutex_unlock(&fk.mu);
}

static size_t fake_count(enum fake_ep ep)
{
    pthread_mutex_lock(&fk.mu);
    size_t n = 0;
    for (size_t i = 0; i < fk.ncalls; i++)
        n += fk.calls[i].ep == ep;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

/* Waits until at least n requests to ep are recorded; false at the deadline. */
static bool fake_wait(enum fake_ep ep, size_t n, int timeout_ms)
{
    for (int64_t end = byoc_mono_ms() + timeout_ms; byoc_mono_ms() < end; usleep(POLL_STEP_US)) {
        if (fake_count(ep) >= n)
            return true;
    }
    return fake_count(ep) >= n;
}

/* A copy of the i-th request to ep (the caller frees .body). */
static struct fake_call fake_get(enum fake_ep ep, size_t i)
{
    struct fake_call out = {0};
    pthread_mutex_lock(&fk.mu);
    size_t seen = 0;
    for (size_t k = 0; k < fk.ncalls && !out.body; k++) {
        if (fk.calls[k].ep != ep || seen++ != i)
            continue;
        out = fk.calls[k];
        out.body = strdup(fk.calls[k].body);
    }
    pthread_mutex_unlock(&fk.mu);
    ck_assert_msg(out.body != NULL, "no request %zu to endpoint %d", i, (int)ep);
    return out;
}

/* ================================================================ the simulator */

static struct byoc_cxsim *sim;

static void wire(void)
{
    char box[128], token[128], studio[128];
    snprintf(box, sizeof box, "%s/box", fk.url);
    snprintf(token, sizeof token, "%s/token", fk.url);
    snprintf(studio, sizeof studio, "%s/studio/events", fk.url);
    struct byoc_cxsim_byocd t = {.box_url = box,
                                 .token_url = token,
                                 .client_id = CLIENT_ID,
                                 .client_secret = CLIENT_SECRET,
                                 .studio_url = studio,
                                 .studio_secret = STUDIO_SECRET};
    byoc_cxsim_set_byocd(sim, &t);
}

static void setup(void)
{
    fake_start();
    sim = test_cxsim_start();
    byoc_cxsim_add_channel(sim, CHANNEL, "Chat", "int-1");
}

static void setup_wired(void)
{
    setup();
    wire();
}

static void teardown(void)
{
    byoc_cxsim_stop(sim);
    sim = NULL;
    fake_stop();
}

static const char *sim_url(const char *path)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", byoc_cxsim_url(sim), path);
    return buf;
}

/* method path on the simulator with an optional "Authorization: ..." line and JSON body; the
 * status, the parsed answer into *out when out is given. */
static long sim_call(const char *method, const char *path, const char *auth, const char *json,
                     cJSON **out)
{
    const char *hdrs[] = {HDR_JSON, auth, NULL};
    struct test_resp r;
    ck_assert_msg(test_http(method, sim_url(path), hdrs, json, json ? strlen(json) : 0, &r),
                  "%s %s: no answer", method, path);
    if (out)
        *out = test_resp_json(&r);
    long status = r.status;
    test_resp_release(&r);
    return status;
}

/* "Authorization: Bearer cx-at-N" from the simulator's token grant, into out. */
static void cx_bearer(char *out, size_t cap)
{
    static const char form[] = "grant_type=password&username=key-id&password=key-secret";
    char *basic = test_basic_auth("client-id", "client-secret");
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", basic, NULL};
    struct test_resp r;
    ck_assert(test_http("POST", sim_url("/auth/token"), hdrs, form, strlen(form), &r));
    free(basic);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    ck_assert_ptr_nonnull(byoc_json_str(j, "access_token"));
    snprintf(out, cap, "Authorization: Bearer %s", byoc_json_str(j, "access_token"));
    cJSON_Delete(j);
    test_resp_release(&r);
}

/* A DFO 3.0 end-user message as byocd posts it; extra is more members ("..." JSON text after a
 * comma) or "". */
static char *dfo_message(const char *id, const char *thread, const char *text, const char *extra)
{
    size_t cap = strlen(text) + strlen(extra) + 1024;
    char *json = malloc(cap);
    ck_assert_ptr_nonnull(json);
    snprintf(json, cap,
             "{\"idOnExternalPlatform\":\"%s\",\"thread\":{\"idOnExternalPlatform\":\"%s\"},"
             "\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":\"%s\"}},"
             "\"direction\":\"inbound\"%s%s}",
             id, thread, text, *extra ? "," : "", extra);
    return json;
}

#define CUSTOMER_ANN                                                                               \
    "\"authorEndUserIdentity\":{\"idOnExternalPlatform\":\"cust-1\",\"firstName\":\"Ann\","        \
    "\"lastName\":\"Lee\"}"

/* POSTs a DFO message; returns the contact number the simulator answered. */
static unsigned long post_message(const char *auth, const char *id, const char *thread,
                                  const char *text, const char *extra)
{
    char *json = dfo_message(id, thread, text, extra);
    cJSON *a = NULL;
    long status = sim_call("POST", "/dfo/3.0/channels/" CHANNEL "/messages", auth, json, &a);
    free(json);
    ck_assert_int_eq(status, 200);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(a, "consumerContact");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cc, "contactId");
    ck_assert(cJSON_IsNumber(n));
    unsigned long contact = (unsigned long)n->valuedouble;
    cJSON_Delete(a);
    return contact;
}

/* A contact with Ann's first message on THREAD; its number. */
static unsigned long new_contact(void)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    return post_message(auth, "m-1", THREAD, "Hello", CUSTOMER_ANN);
}

static cJSON *contacts_root(void)
{
    cJSON *root = NULL;
    ck_assert_int_eq(sim_call("GET", "/console/api/contacts", NULL, NULL, &root), 200);
    ck_assert_ptr_nonnull(root);
    return root;
}

/* The contact `id` in a GET /console/api/contacts answer, or NULL. */
static const cJSON *find_contact(const cJSON *root, unsigned long id)
{
    const cJSON *c = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "contacts"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "id");
        if (cJSON_IsNumber(n) && (unsigned long)n->valuedouble == id)
            return c;
    }
    return NULL;
}

/* A copy of contact `id` as the console shows it now (caller deletes). */
static cJSON *contact(unsigned long id)
{
    cJSON *root = contacts_root();
    const cJSON *c = find_contact(root, id);
    ck_assert_msg(c != NULL, "contact %lu is not in the console", id);
    cJSON *copy = cJSON_Duplicate(c, true);
    cJSON_Delete(root);
    return copy;
}

/* The item with this id in the contact's list ("messages" or "events"), or NULL. */
static const cJSON *find_item(const cJSON *c, const char *list, const char *id)
{
    const cJSON *m = NULL;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, list))
    {
        const char *have = byoc_json_str(m, "id");
        if (have && strcmp(have, id) == 0)
            return m;
    }
    return NULL;
}

/* A state an action does not leave. */
static bool final_state(const char *state)
{
    return strcmp(state, "sent") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "done") == 0;
}

/* Waits until the item's state is `state`; returns a copy of it (caller deletes). Fails at once
 * when the item reaches another final state. */
static cJSON *wait_item_state(unsigned long id, const char *list, const char *item,
                              const char *state, int timeout_ms)
{
    char last[CONSOLE_SHOWN_MAX] = "";
    for (int64_t end = byoc_mono_ms() + timeout_ms;; usleep(POLL_STEP_US)) {
        cJSON *c = contact(id);
        const cJSON *m = find_item(c, list, item);
        const char *have = byoc_json_str(m, "state"), *detail = byoc_json_str(m, "detail");
        snprintf(last, sizeof last, "%s (%s)", have ? have : "(none)", detail ? detail : "");
        if (have && strcmp(have, state) == 0) {
            cJSON *copy = cJSON_Duplicate(m, true);
            cJSON_Delete(c);
            return copy;
        }
        bool final = have && final_state(have);
        cJSON_Delete(c);
        ck_assert_msg(byoc_mono_ms() < end && !final, "%s %s: state %s, not %s", list, item, last,
                      state);
    }
}

/* POST /console/api/contacts/{id}/{what} with json; the status, the answer's "id" into item. */
static long console_post(unsigned long id, const char *what, const char *json, char *item,
                         size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "/console/api/contacts/%lu/%s", id, what);
    cJSON *a = NULL;
    long status = sim_call("POST", path, NULL, json, &a);
    if (item)
        snprintf(item, cap, "%s", byoc_json_str(a, "id") ? byoc_json_str(a, "id") : "");
    if (status >= 400) {
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(a, "errors");
        ck_assert_msg(cJSON_IsArray(errors) &&
                          byoc_json_str(cJSON_GetArrayItem(errors, 0), "message"),
                      "%s: %ld without errors[0].message", path, status);
    }
    cJSON_Delete(a);
    return status;
}

/* An agent reply: asserts 202 and returns its message id in item. */
static void reply(unsigned long id, const char *json, char *item, size_t cap)
{
    ck_assert_int_eq(console_post(id, "messages", json, item, cap), 202);
    ck_assert_msg(item[0] != '\0', "no id in the 202 answer");
}

static const char *contact_str(unsigned long id, const char *name, char *out, size_t cap)
{
    cJSON *c = contact(id);
    const char *v = byoc_json_str(c, name);
    snprintf(out, cap, "%s", v ? v : "(none)");
    cJSON_Delete(c);
    return out;
}

static bool contact_bool(unsigned long id, const char *name)
{
    cJSON *c = contact(id);
    bool v = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, name));
    cJSON_Delete(c);
    return v;
}

/* Walks a dotted path of object members ("a.b.c"). */
static const cJSON *dig(const cJSON *obj, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = obj;
    for (char *p = buf; cur && p;) {
        char *dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, p);
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}

static const char *dig_str(const cJSON *obj, const char *path)
{
    const cJSON *v = dig(obj, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_dig_str(const cJSON *obj, const char *path, const char *want)
{
    const char *have = dig_str(obj, path);
    ck_assert_msg(have && strcmp(have, want) == 0, "%s: \"%s\", not \"%s\"", path,
                  have ? have : "(missing)", want);
}

/* ================================================================ DFO calls -> contacts */

START_TEST(dfo_message_creates_a_contact)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    unsigned long id = post_message(auth, "m-1", THREAD, "Hello",
                                    CUSTOMER_ANN ",\"createdAtWithMilliseconds\":"
                                                 "\"2026-11-21T14:06:02.415Z\",\"contact\":"
                                                 "{\"customFields\":[{\"ident\":\"plan\","
                                                 "\"value\":\"gold\"}]}");
    cJSON *root = contacts_root();
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "contacts")), 1);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "byocd")));
    const cJSON *c = find_contact(root, id);
    ck_assert_ptr_nonnull(c);
    assert_dig_str(c, "channel_id", CHANNEL);
    assert_dig_str(c, "thread_id", THREAD);
    assert_dig_str(c, "customer.id", "cust-1");
    assert_dig_str(c, "customer.name", "Ann Lee");
    assert_dig_str(c, "status", "new");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "customer_typing")));
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(c, "custom_fields");
    ck_assert_int_eq(cJSON_GetArraySize(fields), 1);
    assert_dig_str(cJSON_GetArrayItem(fields, 0), "ident", "plan");
    assert_dig_str(cJSON_GetArrayItem(fields, 0), "value", "gold");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 1);
    const cJSON *m = cJSON_GetArrayItem(msgs, 0);
    assert_dig_str(m, "id", "m-1");
    assert_dig_str(m, "direction", "inbound");
    assert_dig_str(m, "text", "Hello");
    assert_dig_str(m, "author", "Ann Lee");
    assert_dig_str(m, "at", "2026-11-21T14:06:02.415Z");
    assert_dig_str(m, "state", "received");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c, "events")), 0);
    cJSON_Delete(root);
}
END_TEST

START_TEST(same_thread_same_contact_other_thread_new_one)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    unsigned long a = post_message(auth, "m-1", THREAD, "Hello", CUSTOMER_ANN);
    unsigned long a2 = post_message(auth, "m-2", THREAD, "Still there?", CUSTOMER_ANN);
    ck_assert_uint_eq(a, a2);
    unsigned long b = post_message(auth, "m-3", "thr-2", "Hi",
                                   "\"authorEndUserIdentity\":{\"idOnExternalPlatform\":\"cust-2\","
                                   "\"nickname\":\"bee\"}");
    unsigned long c = post_message(auth, "m-4", "thr-3", "Anyone?", "");
    ck_assert_uint_ne(a, b);
    ck_assert_uint_ne(b, c);
    cJSON *root = contacts_root();
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "contacts");
    ck_assert_int_eq(cJSON_GetArraySize(list), 3);
    /* newest first */
    ck_assert_uint_eq((unsigned long)dig(cJSON_GetArrayItem(list, 0), "id")->valuedouble, c);
    ck_assert_uint_eq((unsigned long)dig(cJSON_GetArrayItem(list, 2), "id")->valuedouble, a);
    const cJSON *msgs = dig(find_contact(root, a), "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 2);
    assert_dig_str(cJSON_GetArrayItem(msgs, 0), "text", "Hello");
    assert_dig_str(cJSON_GetArrayItem(msgs, 1), "text", "Still there?");
    assert_dig_str(find_contact(root, b), "customer.name", "bee");
    assert_dig_str(find_contact(root, c), "customer.name", "");
    /* without createdAtWithMilliseconds the simulator stamps the message itself */
    const char *at = dig_str(cJSON_GetArrayItem(dig(find_contact(root, c), "messages"), 0), "at");
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(strlen(at), strlen("2026-11-21T14:06:02.415Z"));
    ck_assert(at[10] == 'T' && at[23] == 'Z');
    cJSON_Delete(root);
}
END_TEST

START_TEST(attachments_show_as_lines)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    unsigned long id = post_message(auth, "m-1", THREAD, "see file",
                                    CUSTOMER_ANN ",\"attachments\":[{\"friendlyName\":\"a.pdf\","
                                                 "\"url\":\"https://files.test/a.pdf\"}]");
    cJSON *c = contact(id);
    assert_dig_str(cJSON_GetArrayItem(dig(c, "messages"), 0), "text",
                   "see file\n[attachment] a.pdf https://files.test/a.pdf");
    cJSON_Delete(c);
}
END_TEST

START_TEST(typing_on_and_off)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    unsigned long id = post_message(auth, "m-1", THREAD, "Hello", CUSTOMER_ANN);
    const char *path = "/dfo/3.0/channels/" CHANNEL "/threads/" THREAD "/sender-actions";
    ck_assert_int_eq(sim_call("POST", path, auth, "{\"action\":\"isTypingOn\"}", NULL), 200);
    ck_assert(contact_bool(id, "customer_typing"));
    ck_assert_int_eq(sim_call("POST", path, auth, "{\"action\":\"isTypingOff\"}", NULL), 200);
    ck_assert(!contact_bool(id, "customer_typing"));
    /* a message ends the typing too */
    ck_assert_int_eq(sim_call("POST", path, auth, "{\"action\":\"isTypingOn\"}", NULL), 200);
    ck_assert(contact_bool(id, "customer_typing"));
    post_message(auth, "m-2", THREAD, "typed", CUSTOMER_ANN);
    ck_assert(!contact_bool(id, "customer_typing"));
    /* without a token nothing changes */
    ck_assert_int_eq(sim_call("POST", path, NULL, "{\"action\":\"isTypingOn\"}", NULL), 401);
    ck_assert(!contact_bool(id, "customer_typing"));
}
END_TEST

START_TEST(thread_closed_by_byocd)
{
    char auth[128], status[32];
    cx_bearer(auth, sizeof auth);
    unsigned long id = post_message(auth, "m-1", THREAD, "Hello", CUSTOMER_ANN);
    const char *path = "/dfo/3.0/channels/" CHANNEL "/threads/" THREAD;
    ck_assert_int_eq(sim_call("PUT", path, auth, "{\"canAddMoreMessages\":true}", NULL), 200);
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "new");
    ck_assert_int_eq(sim_call("PUT", path, auth, "{\"canAddMoreMessages\":false}", NULL), 200);
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "closed");
    cJSON *got = NULL;
    char cpath[64];
    snprintf(cpath, sizeof cpath, "/dfo/3.0/contacts/%lu", id);
    ck_assert_int_eq(sim_call("GET", cpath, auth, NULL, &got), 200);
    assert_dig_str(got, "status", "closed");
    cJSON_Delete(got);
}
END_TEST

START_TEST(dfo_contact_and_custom_fields)
{
    char auth[128], path[96];
    cx_bearer(auth, sizeof auth);
    unsigned long id = post_message(
        auth, "m-1", THREAD, "Hello",
        CUSTOMER_ANN ",\"contact\":{\"customFields\":[{\"ident\":\"plan\",\"value\":\"gold\"}]}");
    snprintf(path, sizeof path, "/dfo/3.0/contacts/%lu/custom-fields", id);
    ck_assert_int_eq(sim_call("PUT", path, auth,
                              "[{\"ident\":\"plan\",\"value\":\"platinum\"},"
                              "{\"ident\":\"lang\",\"value\":\"fr\"}]",
                              NULL),
                     200);
    ck_assert_int_eq(
        sim_call("PUT", path, auth, "{\"customFields\":[{\"ident\":\"score\",\"value\":7}]}", NULL),
        200);
    ck_assert_int_eq(sim_call("PUT", path, auth, "{\"nope\":1}", NULL), 400);
    ck_assert_int_eq(sim_call("PUT", path, NULL, "[]", NULL), 401);
    cJSON *got = NULL;
    snprintf(path, sizeof path, "/dfo/3.0/contacts/cc-%lu", id);
    ck_assert_int_eq(sim_call("GET", path, auth, NULL, &got), 200);
    assert_dig_str(got, "status", "new");
    assert_dig_str(got, "threadIdOnExternalPlatform", THREAD);
    const cJSON *fields = dig(got, "customFields");
    ck_assert_int_eq(cJSON_GetArraySize(fields), 3);
    assert_dig_str(cJSON_GetArrayItem(fields, 0), "value", "platinum");
    assert_dig_str(cJSON_GetArrayItem(fields, 1), "ident", "lang");
    assert_dig_str(cJSON_GetArrayItem(fields, 2), "value", "7");
    cJSON_Delete(got);
    cJSON *c = contact(id);
    assert_dig_str(cJSON_GetArrayItem(dig(c, "custom_fields"), 1), "value", "fr");
    cJSON_Delete(c);
    ck_assert_int_eq(sim_call("GET", "/dfo/3.0/contacts/999", auth, NULL, NULL), 404);
    ck_assert_int_eq(sim_call("PUT", "/dfo/3.0/contacts/999/custom-fields", auth, "[]", NULL), 404);
}
END_TEST

/* ================================================================ agent replies -> box */

static void assert_token_request(size_t i)
{
    struct fake_call t = fake_get(EP_TOKEN, i);
    ck_assert_str_eq(t.path, "/token");
    ck_assert_msg(strncmp(t.ctype, "application/json", 16) == 0, "token content type %s", t.ctype);
    cJSON *j = cJSON_Parse(t.body);
    ck_assert_msg(j != NULL, "token body is not JSON: %s", t.body);
    assert_dig_str(j, "grant_type", "client_credentials");
    assert_dig_str(j, "client_id", CLIENT_ID);
    assert_dig_str(j, "client_secret", CLIENT_SECRET);
    cJSON_Delete(j);
    free(t.body);
}

/* Asserts the i-th box request: path, bearer, and the DFO message shape. */
static void assert_box_request(size_t i, const char *bearer, const char *item, const char *text,
                               const char *first, const char *surname, const char *avatar)
{
    struct fake_call b = fake_get(EP_BOX, i);
    ck_assert_str_eq(b.path, "/box/1.0/posts/" THREAD "/messages");
    ck_assert_str_eq(b.auth, bearer);
    ck_assert_msg(strncmp(b.ctype, "application/json", 16) == 0, "box content type %s", b.ctype);
    cJSON *j = cJSON_Parse(b.body);
    ck_assert_msg(j != NULL, "box body is not JSON: %s", b.body);
    assert_dig_str(j, "id", item);
    assert_dig_str(j, "messageContent.type", "TEXT");
    assert_dig_str(j, "messageContent.payload.text", text);
    assert_dig_str(j, "thread.idOnExternalPlatform", THREAD);
    assert_dig_str(j, "authorUser.firstName", first);
    assert_dig_str(j, "authorUser.surname", surname);
    assert_dig_str(j, "authorUser.imageUrl", avatar);
    ck_assert_ptr_nonnull(dig_str(j, "createdAtWithMilliseconds"));
    cJSON_Delete(j);
    free(b.body);
}

START_TEST(agent_reply_reaches_the_box_with_a_token)
{
    unsigned long id = new_contact();
    char item[64], item2[64], status[32];
    reply(id,
          "{\"text\":\"Hi Ann, Sam here\",\"agent\":{\"name\":\"Sam Smith\","
          "\"avatar_url\":\"https://img.test/sam.png\"}}",
          item, sizeof item);
    cJSON *m = wait_item_state(id, "messages", item, "sent", WAIT_MS);
    assert_dig_str(m, "direction", "outbound");
    assert_dig_str(m, "text", "Hi Ann, Sam here");
    assert_dig_str(m, "author", "Sam Smith");
    assert_dig_str(m, "detail", "byocd stored it as stored-1");
    cJSON_Delete(m);
    ck_assert_uint_eq(fake_count(EP_TOKEN), 1);
    ck_assert_uint_eq(fake_count(EP_BOX), 1);
    assert_token_request(0);
    assert_box_request(0, "Bearer tok-1", item, "Hi Ann, Sam here", "Sam", "Smith",
                       "https://img.test/sam.png");
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "open");

    /* the second reply reuses the token; without an agent, the sample agent and avatar */
    reply(id, "{\"text\":\"Anything else?\"}", item2, sizeof item2);
    ck_assert_str_ne(item, item2);
    m = wait_item_state(id, "messages", item2, "sent", WAIT_MS);
    assert_dig_str(m, "author", "Jo Agent");
    assert_dig_str(m, "detail", "byocd stored it as stored-2");
    cJSON_Delete(m);
    ck_assert_uint_eq(fake_count(EP_TOKEN), 1);
    ck_assert_uint_eq(fake_count(EP_BOX), 2);
    char avatar[256];
    snprintf(avatar, sizeof avatar, "%s/console/avatar.svg", byoc_cxsim_url(sim));
    assert_box_request(1, "Bearer tok-1", item2, "Anything else?", "Jo", "Agent", avatar);
    ck_assert_uint_eq(fake_count(EP_OTHER), 0);
}
END_TEST

START_TEST(reply_is_pending_then_sent_in_the_transcript_order)
{
    unsigned long id = new_contact();
    char item[64];
    reply(id, "{\"text\":\"one\"}", item, sizeof item);
    cJSON *c = contact(id);
    const cJSON *msgs = dig(c, "messages");
    ck_assert_int_eq(cJSON_GetArraySize(msgs), 2);
    const cJSON *m = cJSON_GetArrayItem(msgs, 1);
    assert_dig_str(m, "id", item);
    ck_assert_msg(strcmp(dig_str(m, "state"), "pending") == 0 ||
                      strcmp(dig_str(m, "state"), "sent") == 0,
                  "state %s", dig_str(m, "state"));
    cJSON_Delete(c);
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", WAIT_MS));
}
END_TEST

START_TEST(box_401_fetches_a_new_token_and_sends_again)
{
    unsigned long id = new_contact();
    char item[64];
    reply(id, "{\"text\":\"first\"}", item, sizeof item);
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", WAIT_MS));
    fake_revoke_tokens(); /* byocd forgot tok-1: the box now answers it 401 */
    reply(id, "{\"text\":\"second\"}", item, sizeof item);
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", WAIT_MS));
    ck_assert_uint_eq(fake_count(EP_TOKEN), 2);
    ck_assert_uint_eq(fake_count(EP_BOX), 3);
    struct fake_call refused = fake_get(EP_BOX, 1), again = fake_get(EP_BOX, 2);
    ck_assert_int_eq(refused.status, 401);
    ck_assert_str_eq(refused.auth, "Bearer tok-1");
    ck_assert_int_eq(again.status, 200);
    ck_assert_str_eq(again.auth, "Bearer tok-2");
    ck_assert_str_eq(refused.body, again.body);
    free(refused.body);
    free(again.body);
    assert_token_request(1);
}
END_TEST

START_TEST(box_503_is_retried_with_backoff)
{
    unsigned long id = new_contact();
    char item[64];
    fake_script(EP_BOX, 503, 2);
    reply(id, "{\"text\":\"patience\"}", item, sizeof item);
    cJSON *m = wait_item_state(id, "messages", item, "sent", SLOW_WAIT_MS);
    cJSON_Delete(m);
    ck_assert_uint_eq(fake_count(EP_BOX), 3);
    ck_assert_uint_eq(fake_count(EP_TOKEN), 1);
    struct fake_call a = fake_get(EP_BOX, 0), b = fake_get(EP_BOX, 1), c = fake_get(EP_BOX, 2);
    ck_assert_int_eq(a.status, 503);
    ck_assert_int_eq(b.status, 503);
    ck_assert_int_eq(c.status, 200);
    ck_assert_str_eq(a.body, c.body);
    /* lower bounds only: the pauses happened (first 500 ms, then doubled) */
    ck_assert_int_ge(b.at_ms - a.at_ms, FIRST_BACKOFF_MS - BACKOFF_SLACK_MS);
    ck_assert_int_ge(c.at_ms - b.at_ms, 2 * FIRST_BACKOFF_MS - BACKOFF_SLACK_MS);
    free(a.body);
    free(b.body);
    free(c.body);
}
END_TEST

START_TEST(retry_is_shown_while_pending)
{
    unsigned long id = new_contact();
    char item[64];
    fake_script(EP_BOX, 503, 3); /* pauses of 0.5, 1 and 2 s: the console shows why */
    reply(id, "{\"text\":\"patience\"}", item, sizeof item);
    bool seen = false;
    for (int64_t end = byoc_mono_ms() + SLOW_WAIT_MS; !seen && byoc_mono_ms() < end;
         usleep(POLL_STEP_US)) {
        cJSON *c = contact(id);
        const cJSON *m = find_item(c, "messages", item);
        const char *detail = dig_str(m, "detail");
        seen = strcmp(dig_str(m, "state"), "pending") == 0 && detail &&
               strstr(detail, "byocd answered 503") && strstr(detail, "retrying");
        ck_assert_str_ne(dig_str(m, "state"), "sent");
        cJSON_Delete(c);
    }
    ck_assert_msg(seen, "the console never showed the 503 while retrying");
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", SLOW_WAIT_MS));
}
END_TEST

START_TEST(box_400_fails_at_once_and_the_next_reply_goes_out)
{
    unsigned long id = new_contact();
    char bad[64], next[64];
    fake_script(EP_BOX, 400, 1);
    reply(id, "{\"text\":\"refused\"}", bad, sizeof bad);
    reply(id, "{\"text\":\"accepted\"}", next, sizeof next);
    cJSON *m = wait_item_state(id, "messages", bad, "failed", WAIT_MS);
    assert_dig_str(m, "detail", "byocd answered 400");
    cJSON_Delete(m);
    cJSON_Delete(wait_item_state(id, "messages", next, "sent", WAIT_MS));
    /* one attempt for the refused reply (the worker goes in order: no retry came later) */
    ck_assert_uint_eq(fake_count(EP_BOX), 2);
    struct fake_call b = fake_get(EP_BOX, 1);
    ck_assert(strstr(b.body, "\"accepted\"") != NULL);
    free(b.body);
    m = wait_item_state(id, "messages", bad, "failed", WAIT_MS);
    cJSON_Delete(m);
}
END_TEST

START_TEST(replies_reach_the_box_in_the_order_posted)
{
    unsigned long id = new_contact();
    static const char *const texts[] = {"alpha", "bravo", "charlie", "delta"};
    char items[4][64];
    fake_script(EP_BOX, 503, 1); /* the first is held back by a retry: the others wait */
    for (int i = 0; i < 4; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"text\":\"%s\"}", texts[i]);
        reply(id, json, items[i], sizeof items[i]);
    }
    for (int i = 0; i < 4; i++)
        cJSON_Delete(wait_item_state(id, "messages", items[i], "sent", SLOW_WAIT_MS));
    ck_assert_uint_eq(fake_count(EP_BOX), 5);
    int next = 0;
    for (size_t k = 0; k < 5; k++) {
        struct fake_call b = fake_get(EP_BOX, k);
        cJSON *j = cJSON_Parse(b.body);
        const char *text = dig_str(j, "messageContent.payload.text");
        if (b.status == 200) {
            ck_assert_int_lt(next, 4);
            ck_assert_str_eq(text, texts[next++]);
        } else {
            ck_assert_str_eq(text, "alpha");
        }
        cJSON_Delete(j);
        free(b.body);
    }
    ck_assert_int_eq(next, 4);
}
END_TEST

START_TEST(token_endpoint_503_is_retried)
{
    unsigned long id = new_contact();
    char item[64];
    fake_script(EP_TOKEN, 503, 1);
    reply(id, "{\"text\":\"hello\"}", item, sizeof item);
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", SLOW_WAIT_MS));
    ck_assert_uint_eq(fake_count(EP_TOKEN), 2);
    ck_assert_uint_eq(fake_count(EP_BOX), 1);
    struct fake_call b = fake_get(EP_BOX, 0);
    ck_assert_str_eq(b.auth, "Bearer tok-1");
    free(b.body);
}
END_TEST

/* ================================================================ Studio events */

START_TEST(studio_events_reach_byocd)
{
    unsigned long id = new_contact();
    char item[64];
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"ESCALATE\"}", item, sizeof item),
                     202);
    cJSON *e = wait_item_state(id, "events", item, "done", WAIT_MS);
    assert_dig_str(e, "event", "ESCALATE");
    assert_dig_str(e, "detail", "conversation ended");
    cJSON_Delete(e);
    ck_assert_uint_eq(fake_count(EP_STUDIO), 1);
    struct fake_call s = fake_get(EP_STUDIO, 0);
    ck_assert_str_eq(s.path, "/studio/events");
    ck_assert_str_eq(s.auth, "Bearer " STUDIO_SECRET);
    cJSON *j = cJSON_Parse(s.body);
    assert_dig_str(j, "event", "ESCALATE");
    assert_dig_str(j, "threadId", THREAD);
    assert_dig_str(j, "agent", "Jo Agent");
    ck_assert(cJSON_IsNumber(dig(j, "contactId")));
    ck_assert_uint_eq((unsigned long)dig(j, "contactId")->valuedouble, id);
    cJSON_Delete(j);
    free(s.body);
    ck_assert_uint_eq(fake_count(EP_TOKEN), 0); /* the Studio secret, not a token */
    char status[32];
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "new");
}
END_TEST

START_TEST(onrelease_closes_the_contact)
{
    unsigned long id = new_contact();
    char item[64], status[32];
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"ONRELEASE\"}", item, sizeof item),
                     202);
    cJSON_Delete(wait_item_state(id, "events", item, "done", WAIT_MS));
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "closed");
    struct fake_call s = fake_get(EP_STUDIO, 0);
    cJSON *j = cJSON_Parse(s.body);
    assert_dig_str(j, "event", "ONRELEASE");
    ck_assert_uint_eq((unsigned long)dig(j, "contactId")->valuedouble, id);
    assert_dig_str(j, "threadId", THREAD);
    cJSON_Delete(j);
    free(s.body);
    /* a closed contact takes no reply, but still an event */
    ck_assert_int_eq(console_post(id, "messages", "{\"text\":\"late\"}", NULL, 0), 409);
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"END_ESCALATION\"}", NULL, 0), 202);
    ck_assert_uint_eq(fake_count(EP_BOX), 0);
}
END_TEST

START_TEST(studio_refusal_fails_the_event)
{
    unsigned long id = new_contact();
    char item[64], status[32];
    fake_script(EP_STUDIO, 400, 1);
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"ONRELEASE\"}", item, sizeof item),
                     202);
    cJSON *e = wait_item_state(id, "events", item, "failed", WAIT_MS);
    assert_dig_str(e, "detail", "byocd answered 400");
    cJSON_Delete(e);
    ck_assert_str_eq(contact_str(id, "status", status, sizeof status), "new");
}
END_TEST

START_TEST(console_requests_refused)
{
    unsigned long id = new_contact();
    ck_assert_int_eq(console_post(999, "messages", "{\"text\":\"x\"}", NULL, 0), 404);
    ck_assert_int_eq(console_post(999, "events", "{\"event\":\"ONRELEASE\"}", NULL, 0), 404);
    ck_assert_int_eq(
        sim_call("POST", "/console/api/contacts/abc/messages", NULL, "{\"text\":\"x\"}", NULL),
        404);
    ck_assert_int_eq(console_post(id, "messages", "{\"text\":\"\"}", NULL, 0), 400);
    ck_assert_int_eq(console_post(id, "messages", "{\"agent\":{\"name\":\"x\"}}", NULL, 0), 400);
    ck_assert_int_eq(console_post(id, "messages", "{\"text\":5}", NULL, 0), 400);
    char *big = malloc(8002 + 16);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 8001 + 10);
    memcpy(big, "{\"text\":\"", 9);
    memcpy(big + 9 + 8001, "\"}", 3);
    ck_assert_int_eq(console_post(id, "messages", big, NULL, 0), 400);
    free(big);
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"NOPE\"}", NULL, 0), 400);
    ck_assert_int_eq(console_post(id, "events", "{}", NULL, 0), 400);
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"onrelease\"}", NULL, 0), 400);
    ck_assert_int_eq(sim_call("POST", "/console/api/contacts/1/messages", NULL, "nope", NULL), 400);
    cJSON *c = contact(id);
    ck_assert_int_eq(cJSON_GetArraySize(dig(c, "messages")), 1);
    ck_assert_int_eq(cJSON_GetArraySize(dig(c, "events")), 0);
    cJSON_Delete(c);
    ck_assert_uint_eq(fake_count(EP_BOX) + fake_count(EP_STUDIO) + fake_count(EP_TOKEN), 0);
}
END_TEST

START_TEST(no_byocd_yet_is_409)
{
    unsigned long id = new_contact();
    ck_assert_int_eq(console_post(id, "messages", "{\"text\":\"hi\"}", NULL, 0), 409);
    ck_assert_int_eq(console_post(id, "events", "{\"event\":\"ONRELEASE\"}", NULL, 0), 409);
    cJSON *c = contact(id);
    ck_assert_int_eq(cJSON_GetArraySize(dig(c, "messages")), 1);
    cJSON_Delete(c);
    wire();
    cJSON *root = contacts_root();
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "byocd")));
    cJSON_Delete(root);
    char item[64];
    reply(id, "{\"text\":\"hi\"}", item, sizeof item);
    cJSON_Delete(wait_item_state(id, "messages", item, "sent", WAIT_MS));
}
END_TEST

/* ================================================================ misbehave */

/* POST /console/api/misbehave; the status, the answer into *out when given. */
static long misbehave(const char *json, cJSON **out)
{
    return sim_call("POST", "/console/api/misbehave", NULL, json, out);
}

static void assert_misbehave(const cJSON *m, int delay_ms, int failures_left, int fail_status)
{
    ck_assert_msg(cJSON_IsObject(m), "no misbehave object");
    ck_assert_int_eq((int)dig(m, "delay_ms")->valuedouble, delay_ms);
    ck_assert_int_eq((int)dig(m, "failures_left")->valuedouble, failures_left);
    ck_assert_int_eq((int)dig(m, "fail_status")->valuedouble, fail_status);
}

/* The misbehave state as GET /console/api/contacts shows it. */
static void assert_console_misbehave(int delay_ms, int failures_left, int fail_status)
{
    cJSON *root = contacts_root();
    assert_misbehave(dig(root, "misbehave"), delay_ms, failures_left, fail_status);
    cJSON_Delete(root);
}

START_TEST(misbehave_delay_holds_answers_back)
{
    cJSON *m = NULL;
    assert_console_misbehave(0, 0, 0);
    ck_assert_int_eq(misbehave("{\"delay_ms\":400}", &m), 200);
    assert_misbehave(m, 400, 0, 0);
    cJSON_Delete(m);
    assert_console_misbehave(400, 0, 0); /* the console API itself is not held back */
    int64_t t0 = byoc_mono_ms();
    ck_assert_int_eq(sim_call("GET", "/.well-known/cxone-configuration", NULL, NULL, NULL), 200);
    ck_assert_int_ge(byoc_mono_ms() - t0, 400);
    char auth[128];
    t0 = byoc_mono_ms();
    cx_bearer(auth, sizeof auth);
    ck_assert_int_ge(byoc_mono_ms() - t0, 400);
    ck_assert_int_eq(misbehave("{\"delay_ms\":0}", &m), 200);
    assert_misbehave(m, 0, 0, 0);
    cJSON_Delete(m);
}
END_TEST

static void assert_injected(long want, const char *retry_after)
{
    struct test_resp r;
    ck_assert(test_http("GET", sim_url("/.well-known/cxone-configuration"), NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, want);
    char *ra = test_resp_header(&r, "Retry-After");
    if (retry_after) {
        ck_assert_msg(ra && strcmp(ra, retry_after) == 0, "Retry-After %s", ra ? ra : "(none)");
        cJSON *j = test_resp_json(&r);
        assert_dig_str(cJSON_GetArrayItem(dig(j, "errors"), 0), "message", "injected failure");
        cJSON_Delete(j);
    } else {
        ck_assert_ptr_null(ra);
    }
    free(ra);
    test_resp_release(&r);
}

START_TEST(misbehave_fail_next_calls)
{
    cJSON *m = NULL;
    ck_assert_int_eq(misbehave("{\"fail\":{\"status\":503,\"count\":2,\"retry_after_s\":7}}", &m),
                     200);
    assert_misbehave(m, 0, 2, 503);
    cJSON_Delete(m);
    assert_console_misbehave(0, 2, 503);
    assert_injected(503, "7");
    assert_console_misbehave(0, 1, 503);
    assert_injected(503, "7");
    assert_injected(200, NULL);
    assert_console_misbehave(0, 0, 0);
    /* token grants fail too: every CXone API call counts */
    ck_assert_int_eq(misbehave("{\"fail\":{\"status\":429,\"count\":1}}", &m), 200);
    assert_misbehave(m, 0, 1, 429);
    cJSON_Delete(m);
    ck_assert_int_eq(sim_call("POST", "/auth/token", NULL, "{}", NULL), 429);
    ck_assert_uint_eq(byoc_cxsim_token_grants(sim), 0);
    assert_console_misbehave(0, 0, 0);
}
END_TEST

START_TEST(misbehave_expire_tokens)
{
    char auth[128];
    cx_bearer(auth, sizeof auth);
    ck_assert_int_eq(sim_call("GET", "/dfo/3.0/channels", auth, NULL, NULL), 200);
    cJSON *m = NULL;
    ck_assert_int_eq(misbehave("{\"expire_tokens\":true}", &m), 200);
    assert_misbehave(m, 0, 0, 0);
    cJSON_Delete(m);
    ck_assert_int_eq(sim_call("GET", "/dfo/3.0/channels", auth, NULL, NULL), 401);
    char *json = dfo_message("m-1", THREAD, "Hello", CUSTOMER_ANN);
    ck_assert_int_eq(sim_call("POST", "/dfo/3.0/channels/" CHANNEL "/messages", auth, json, NULL),
                     401);
    free(json);
    cJSON *root = contacts_root();
    ck_assert_int_eq(cJSON_GetArraySize(dig(root, "contacts")), 0);
    cJSON_Delete(root);
    cx_bearer(auth, sizeof auth); /* a new token works */
    ck_assert_int_eq(sim_call("GET", "/dfo/3.0/channels", auth, NULL, NULL), 200);
}
END_TEST

START_TEST(misbehave_reset)
{
    cJSON *m = NULL;
    ck_assert_int_eq(misbehave("{\"delay_ms\":3000,\"fail\":{\"status\":500,\"count\":5}}", &m),
                     200);
    assert_misbehave(m, 3000, 5, 500);
    cJSON_Delete(m);
    ck_assert_int_eq(misbehave("{\"reset\":true}", &m), 200);
    assert_misbehave(m, 0, 0, 0);
    cJSON_Delete(m);
    assert_console_misbehave(0, 0, 0);
    assert_injected(200, NULL);
}
END_TEST

START_TEST(misbehave_bad_bodies)
{
    static const char *const bad[] = {
        "{\"delay_ms\":-1}",
        "{\"delay_ms\":10001}",
        "{\"delay_ms\":\"100\"}",
        "{\"delay_ms\":1.5}",
        "{\"fail\":{\"status\":503}}",
        "{\"fail\":{\"count\":2}}",
        "{\"fail\":{\"status\":200,\"count\":1}}",
        "{\"fail\":{\"status\":600,\"count\":1}}",
        "{\"fail\":{\"status\":503,\"count\":0}}",
        "{\"fail\":{\"status\":503,\"count\":101}}",
        "{\"fail\":{\"status\":503,\"count\":1,\"retry_after_s\":-1}}",
        "{\"fail\":\"yes\"}",
        "[]",
        "42",
    };
    ck_assert_int_eq(misbehave("{\"delay_ms\":100}", NULL), 200);
    for (size_t i = 0; i < BYOC_ARRAY_LEN(bad); i++) {
        cJSON *a = NULL;
        long status = misbehave(bad[i], &a);
        ck_assert_msg(status == 400, "%s: %ld, not 400", bad[i], status);
        ck_assert_msg(cJSON_IsArray(dig(a, "errors")), "%s: no errors[]", bad[i]);
        cJSON_Delete(a);
    }
    ck_assert_int_eq(misbehave("not json", NULL), 400);
    ck_assert_int_eq(misbehave("", NULL), 400);
    assert_console_misbehave(100, 0, 0); /* nothing half-applied */
    ck_assert_int_eq(misbehave("{\"delay_ms\":10000,\"fail\":{\"status\":429,\"count\":100,"
                               "\"retry_after_s\":3600}}",
                               NULL),
                     200);
    assert_console_misbehave(10000, 100, 429);
    ck_assert_int_eq(misbehave("{\"reset\":true}", NULL), 200);
}
END_TEST

/* ================================================================ pages */

static void assert_page(const char *path, const char *type_prefix, const char *contains)
{
    struct test_resp r;
    ck_assert(test_http("GET", sim_url(path), NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 200);
    char *type = test_resp_header(&r, "Content-Type");
    ck_assert_msg(type && strncmp(type, type_prefix, strlen(type_prefix)) == 0, "%s: type %s", path,
                  type ? type : "(none)");
    free(type);
    ck_assert_msg(strstr(r.body, contains) != NULL, "%s lacks %s", path, contains);
    char *csp = test_resp_header(&r, "Content-Security-Policy");
    ck_assert_msg(csp && strstr(csp, "default-src 'self'"), "%s: CSP %s", path,
                  csp ? csp : "(none)");
    free(csp);
    test_resp_release(&r);
}

START_TEST(console_page_and_avatar)
{
    assert_page("/console", "text/html", "<html");
    assert_page("/console/avatar.svg", "image/svg+xml", "<svg");
    /* the pages are not CXone API calls; an unknown path under /console is one (404) */
    ck_assert_uint_eq(byoc_cxsim_call_count(sim, NULL, "/console"), 0);
    ck_assert_int_eq(sim_call("GET", "/console/nope", NULL, NULL, NULL), 404);
    ck_assert_uint_eq(byoc_cxsim_call_count(sim, NULL, "/console"), 1);
}
END_TEST

/* ================================================================ stopping */

struct parked_client {
    pthread_t thread;
    long status;
    int64_t done_ms;
};

static void *parked_client_main(void *arg)
{
    struct parked_client *p = arg;
    char url[256];
    snprintf(url, sizeof url, "%s/.well-known/cxone-configuration", byoc_cxsim_url(sim));
    struct test_resp r;
    p->status =
        test_http_timeout("GET", url, NULL, NULL, 0, 4L * PARKED_DELAY_MS, &r) ? r.status : -1;
    test_resp_release(&r);
    p->done_ms = byoc_mono_ms();
    return NULL;
}

START_TEST(stop_is_prompt_with_parked_answers_and_pending_actions)
{
    unsigned long id = new_contact();
    char item[64];
    fake_script(EP_BOX, 503, FAKE_SCRIPT_MAX);
    reply(id, "{\"text\":\"never\"}", item, sizeof item);
    /* after the 4th attempt the worker pauses 4 s */
    ck_assert(fake_wait(EP_BOX, 4, SLOW_WAIT_MS));
    byoc_cxsim_set_delay_ms(sim, PARKED_DELAY_MS);
    struct parked_client p = {.status = 0};
    ck_assert_int_eq(pthread_create(&p.thread, NULL, parked_client_main, &p), 0);
    for (int64_t end = byoc_mono_ms() + WAIT_MS;
         byoc_cxsim_call_count(sim, "GET", "/.well-known/") == 0; usleep(POLL_STEP_US))
        ck_assert_msg(byoc_mono_ms() < end, "the request never reached the simulator");
    int64_t t0 = byoc_mono_ms();
    byoc_cxsim_stop(sim);
    sim = NULL;
    int64_t stopped = byoc_mono_ms() - t0;
    pthread_join(p.thread, NULL);
    ck_assert_msg(stopped < STOP_PROMPT_MS, "stop took %lld ms", (long long)stopped);
    ck_assert_int_eq(p.status, 200); /* the held-back answer went out at the stop */
    ck_assert_int_lt(p.done_ms - t0, STOP_PROMPT_MS);
    ck_assert_uint_eq(fake_count(EP_BOX), 4);
}
END_TEST

/* ================================================================ suite */

static TCase *tcase(const char *name, void (*set)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, set, teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

static Suite *suite(void)
{
    Suite *s = suite_create("cxsim_console");
    TCase *tc = tcase("contacts", setup);
    tcase_add_test(tc, dfo_message_creates_a_contact);
    tcase_add_test(tc, same_thread_same_contact_other_thread_new_one);
    tcase_add_test(tc, attachments_show_as_lines);
    tcase_add_test(tc, typing_on_and_off);
    tcase_add_test(tc, thread_closed_by_byocd);
    tcase_add_test(tc, dfo_contact_and_custom_fields);
    suite_add_tcase(s, tc);

    tc = tcase("replies", setup_wired);
    tcase_add_test(tc, agent_reply_reaches_the_box_with_a_token);
    tcase_add_test(tc, reply_is_pending_then_sent_in_the_transcript_order);
    tcase_add_test(tc, box_401_fetches_a_new_token_and_sends_again);
    tcase_add_test(tc, box_503_is_retried_with_backoff);
    tcase_add_test(tc, retry_is_shown_while_pending);
    tcase_add_test(tc, box_400_fails_at_once_and_the_next_reply_goes_out);
    tcase_add_test(tc, replies_reach_the_box_in_the_order_posted);
    tcase_add_test(tc, token_endpoint_503_is_retried);
    suite_add_tcase(s, tc);

    tc = tcase("studio", setup_wired);
    tcase_add_test(tc, studio_events_reach_byocd);
    tcase_add_test(tc, onrelease_closes_the_contact);
    tcase_add_test(tc, studio_refusal_fails_the_event);
    tcase_add_test(tc, console_requests_refused);
    suite_add_tcase(s, tc);

    tc = tcase("unwired", setup);
    tcase_add_test(tc, no_byocd_yet_is_409);
    tcase_add_test(tc, console_page_and_avatar);
    suite_add_tcase(s, tc);

    tc = tcase("misbehave", setup);
    tcase_add_test(tc, misbehave_delay_holds_answers_back);
    tcase_add_test(tc, misbehave_fail_next_calls);
    tcase_add_test(tc, misbehave_expire_tokens);
    tcase_add_test(tc, misbehave_reset);
    tcase_add_test(tc, misbehave_bad_bodies);
    suite_add_tcase(s, tc);

    tc = tcase("stop", setup_wired);
    tcase_add_test(tc, stop_is_prompt_with_parked_answers_and_pending_actions);
    suite_add_tcase(s, tc);
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
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
