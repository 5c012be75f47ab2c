/*
 * Bad input, end to end (issue 6): the real byocd over HTTP, fed what a careless or hostile
 * client sends. Every case names the answer the contract (openapi/byocd.yaml) gives it, status
 * and error code, and proves that nothing was stored: a read-only SQLite connection to the
 * server's database takes a snapshot before and after (row count of every table plus
 * PRAGMA data_version, which moves with any commit by another connection); control cases
 * (accepted_and_stored) show that the snapshot does move when a request is accepted.
 *
 * The list of the issue, and where each item is tested:
 *   truncated / invalid JSON, invalid UTF-8, embedded NUL (raw and "\u0000"), 10,000-deep
 *     nesting, huge numbers, duplicate keys ........ here, on every JSON route (json_bodies)
 *   wrong Content-Type, body over the cap .......... here, on every JSON route (transport)
 *   Content-Length and Transfer-Encoding together, two Content-Length lines ... here
 *                                                      (transport), with a body that would
 *                                                      otherwise be stored
 *   40 KB header ..................................... here (transport, 431)
 *   slow-loris trickle ............................... here (slow_loris): a trickled head or
 *                                                      body is closed by the idle timeout
 *   JWT attacks on the box (alg none, other key, flipped byte, expired, nbf, aud/iss, token in
 *     the query string, 20 KB token) ................ here (jwt); the verifier's every claim
 *                                                      rule in tests/unit/test_jwt.c
 *   token endpoint: wrong grant, bad secret, credentials twice (Basic + body, a repeated
 *     form or JSON parameter), credentials in the query string ..... here (token)
 *   token endpoint: brute force throttled (429) ..... tests/integration/test_token.c
 *                                                      (repeated_failures_throttled)
 *   SSRF at save time (loopback, RFC 1918, 169.254.169.254, 0x7f000001, 2130706433, [::1],
 *     [::ffff:127.0.0.1], localhost, file://, gopher://) for the provider's webhook_url and
 *     POST /v1/webhooks ............................. here (ssrf_save); more spellings in
 *                                                      tests/integration/test_events.c
 *   SSRF at delivery time: a name accepted when saved that resolves to a non-public address
 *     (DNS rebinding) is refused when connecting ..... here (ssrf_rebinding)
 *   redirect to an internal address not followed .... here (ssrf_redirect); a 301 to loopback
 *                                                      in tests/integration/test_webhooks.c
 *   huge numbers in integer fields and query parameters ..... here (json, huge_numbers)
 *   CXone URLs (cxone.auth_url, api_base_url) at a link-local address (the cloud metadata
 *     service) are refused when connecting, so no credential goes there ..... here
 *     (cxone_link_local); loopback and private CXone URLs stay allowed (fakes, egress proxies)
 */
#include <arpa/inet.h>
#include <check.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/crypto.h"
#include "byoc/cxone.h"
#include "byoc/keys.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 60
#define MASTER_KEY_HEX "5f1e0c9a8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"
#define NO_CXONE "http://127.0.0.1:9"
#define CHANNEL "chat-1"
#define IDLE_TIMEOUT_S "1"  /* BYOCD_IDLE_TIMEOUT of the servers here */
#define CLOSE_WAIT_MS 20000 /* bound on waiting for byocd to close an idle connection */
#define TRICKLE_STEPS 4     /* pieces of a trickled request, each well within the timeout */
#define TRICKLE_GAP_MS 200
#define DEEP_NESTING 10000
#define OVER_DEPTH (BYOC_JSON_MAX_DEPTH + 1)
#define BIG_HEADER_BYTES (40 * 1024)
#define BIG_TOKEN_BYTES (20 * 1024)
#define TOKEN_CAP 32768
#define MAX_TABLES 32
#define WAIT_MS 15000
#define POLL_MS 50
#define HOOK_PATH_OWN "/own"
#define HOOK_PATH_SUB "/sub"

static struct byocd B;
static struct provider P;
static char cxone_auth[TOKEN_CAP], bot_auth[256], studio_auth[256];
static struct byoc_cxsim *F;
static struct fake_receiver *RX;

/* ---------------------------------------------------------------- fixtures */

static const char *const env_plain[] = {"BYOCD_MASTER_KEY=" MASTER_KEY_HEX,
                                        "BYOCD_IDLE_TIMEOUT=" IDLE_TIMEOUT_S, NULL};
static const char *const env_guarded[] = {
    "BYOCD_MASTER_KEY=" MASTER_KEY_HEX, "BYOCD_WEBHOOK_ALLOW_PRIVATE=0",
    "BYOCD_WEBHOOK_RETRY_CAP=1",        "BYOCD_WEBHOOK_TIMEOUT=2",
    "BYOCD_RELAY_RETRY_CAP=1",          NULL};
static const char *const env_redirect[] = {"BYOCD_MASTER_KEY=" MASTER_KEY_HEX,
                                           "BYOCD_WEBHOOK_RETRY_CAP=1", "BYOCD_WEBHOOK_TIMEOUT=2",
                                           "BYOCD_RELAY_RETRY_CAP=1", NULL};

static void auth_lines(void)
{
    char *tok = cxone_token(&B, &P);
    snprintf(cxone_auth, sizeof cxone_auth, "Authorization: Bearer %s", tok);
    free(tok);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", P.bot_api_key);
    snprintf(studio_auth, sizeof studio_auth, "Authorization: Bearer %s", P.studio_secret);
}

/* byocd with one provider whose CXone is nowhere (nothing here reaches CXone). */
static void server_up(void)
{
    byocd_start(&B, NULL, env_plain);
    provider_create(&B, NO_CXONE, "int-1", &P);
    auth_lines();
}

static void server_down(void)
{
    provider_release(&P);
    byocd_stop_and_clean(&B);
}

/* ---------------------------------------------------------------- "stores nothing" */

struct snapshot {
    size_t n;
    char table[MAX_TABLES][64];
    long long rows[MAX_TABLES];
    long long version; /* PRAGMA data_version of the probe's connection */
};

/* A read-only connection to the server's database, for snapshots. */
static sqlite3 *probe_open(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/byocd.db", B.dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    ck_assert_msg(rc == SQLITE_OK, "cannot open %s read-only: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void snapshot_take(sqlite3 *db, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st = NULL;
    ck_assert(sqlite3_prepare_v2(db,
                                 "SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "ORDER BY name",
                                 -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && s->n < MAX_TABLES)
        snprintf(s->table[s->n++], sizeof s->table[0], "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ck_assert_uint_gt(s->n, 5); /* the schema is there: providers, conversations, ... */
    for (size_t i = 0; i < s->n; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", s->table[i]);
        s->rows[i] = scalar(db, sql);
    }
    s->version = scalar(db, "PRAGMA data_version");
}

/* "" when equal, else what differs (static storage). */
static const char *snapshot_diff(const struct snapshot *a, const struct snapshot *b)
{
    static char diff[256];
    diff[0] = '\0';
    if (a->n != b->n) {
        snprintf(diff, sizeof diff, "%zu tables, then %zu", a->n, b->n);
        return diff;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->rows[i] != b->rows[i]) {
            snprintf(diff, sizeof diff, "table %s: %lld rows, then %lld", a->table[i], a->rows[i],
                     b->rows[i]);
            return diff;
        }
    }
    if (a->version != b->version)
        snprintf(diff, sizeof diff, "a commit happened (data_version %lld, then %lld)", a->version,
                 b->version);
    return diff;
}

/* ---------------------------------------------------------------- one refused request */

/* What a case expects: status and error code (error.code, or the OAuth "error" member). */
struct want {
    long status;
    const char *code;
    bool oauth;
};

static const char *code_of(const struct test_resp *r, bool oauth, char *buf, size_t cap)
{
    buf[0] = '\0';
    cJSON *j = test_resp_json(r);
    const cJSON *c = oauth ? cJSON_GetObjectItemCaseSensitive(j, "error")
                           : cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(j, "error"), "code");
    if (cJSON_IsString(c))
        snprintf(buf, cap, "%s", c->valuestring);
    cJSON_Delete(j);
    return buf;
}

/* Sends the request and checks the answer; returns the answer (caller releases). */
static void send_checked(const char *label, const char *method, const char *path,
                         const char *const *headers, const char *body, size_t len,
                         const struct want *w, struct test_resp *r)
{
    char *url = byocd_url(&B, path);
    ck_assert_msg(test_http(method, url, headers, body, len, r), "%s: no answer", label);
    free(url);
    char code[64];
    ck_assert_msg(r->status == w->status, "%s: status %ld, want %ld: %.300s", label, r->status,
                  w->status, r->body);
    if (w->code)
        ck_assert_msg(strcmp(code_of(r, w->oauth, code, sizeof code), w->code) == 0,
                      "%s: code \"%s\", want \"%s\": %.300s", label, code, w->code, r->body);
}

/* A request byocd must refuse as w says, storing nothing. */
static void refused(const char *label, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t len, const struct want *w)
{
    sqlite3 *db = probe_open();
    struct snapshot before, after;
    snapshot_take(db, &before);
    struct test_resp r;
    send_checked(label, method, path, headers, body, len, w, &r);
    test_resp_release(&r);
    snapshot_take(db, &after);
    const char *d = snapshot_diff(&before, &after);
    ck_assert_msg(d[0] == '\0', "%s: refused, but something was stored: %s", label, d);
    sqlite3_close(db);
}

/* The control: an accepted request does move the snapshot (the probe can see a store). */
static void accepted_and_stored(const char *label, const char *method, const char *path,
                                const char *const *headers, const char *body, long status)
{
    sqlite3 *db = probe_open();
    struct snapshot before, after;
    snapshot_take(db, &before);
    struct test_resp r;
    const struct want w = {status, NULL, false};
    send_checked(label, method, path, headers, body, strlen(body), &w, &r);
    test_resp_release(&r);
    snapshot_take(db, &after);
    ck_assert_msg(snapshot_diff(&before, &after)[0] != '\0', "%s: the probe saw no store", label);
    sqlite3_close(db);
}

/* ---------------------------------------------------------------- the JSON routes */

enum auth_kind { AUTH_NONE, AUTH_ADMIN, AUTH_CXONE, AUTH_BOT, AUTH_STUDIO };

struct route {
    const char *name;
    const char *path; /* "%s" is the provider id */
    enum auth_kind auth;
    size_t cap;      /* body cap: 413 beyond */
    bool oauth;      /* RFC 6749 error bodies: {"error": "invalid_request", ...} */
    bool takes_form; /* application/x-www-form-urlencoded is accepted too */
};

static const struct route routes[] = {
    {"admin provider create", "/admin/v1/providers", AUTH_ADMIN, BYOC_BODY_MAX_SMALL, false, false},
    {"box agent reply", "/cxone/%s/box/1.0/posts/post-1/messages", AUTH_CXONE,
     BYOC_BODY_MAX_AGENT_REPLY, false, false},
    {"box outbound", "/cxone/%s/box/2.0/channel/" CHANNEL "/outbound", AUTH_CXONE,
     BYOC_BODY_MAX_AGENT_REPLY, false, false},
    {"bot conversation open", "/v1/conversations", AUTH_BOT, BYOC_BODY_MAX_HANDOVER, false, false},
    {"bot webhook create", "/v1/webhooks", AUTH_BOT, BYOC_BODY_MAX_SMALL, false, false},
    {"studio event", "/cxone/%s/studio/events", AUTH_STUDIO, BYOC_BODY_MAX_SMALL, false, true},
    {"token", "/cxone/%s/auth/token", AUTH_NONE, BYOC_BODY_MAX_SMALL, true, true},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static const char *auth_line(enum auth_kind k)
{
    switch (k) {
    case AUTH_ADMIN:
        return B.admin_auth;
    case AUTH_CXONE:
        return cxone_auth;
    case AUTH_BOT:
        return bot_auth;
    case AUTH_STUDIO:
        return studio_auth;
    default:
        return NULL;
    }
}

static void route_path(const struct route *rt, char *out, size_t cap)
{
    if (strstr(rt->path, "%s"))
        snprintf(out, cap, rt->path, P.id);
    else
        snprintf(out, cap, "%s", rt->path);
}

/* Sends body to rt with content_type ("Content-Type: ..." line, or "Content-Type:" for none)
 * and expects status/code; an OAuth route names every such error invalid_request. */
static void refused_on(const struct route *rt, const char *what, const char *content_type,
                       const char *body, size_t len, long status, const char *code)
{
    char path[256], label[256];
    route_path(rt, path, sizeof path);
    snprintf(label, sizeof label, "%s: %s", rt->name, what);
    const char *headers[3] = {content_type, auth_line(rt->auth), NULL};
    const struct want w = {status, rt->oauth ? "invalid_request" : code, rt->oauth};
    refused(label, "POST", path, headers, body, len, &w);
}

/* n nested arrays: [[[...]]] */
static char *nested(size_t n)
{
    char *s = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

/* Valid JSON of exactly n bytes: {"pad":"aaa..."}. */
static char *json_of_size(size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', n);
    memcpy(s, "{\"pad\":\"", 8);
    memcpy(s + n - 2, "\"}", 2);
    s[n] = '\0';
    return s;
}

struct body_case {
    const char *name;
    const char *body;
    size_t len; /* 0: strlen(body) */
    const char *code;
};

#define JSON_CT "Content-Type: application/json"

static const struct body_case body_cases[] = {
    {"truncated object", "{\"text\":\"hello\",\"id\":", 0, "invalid_json"},
    {"truncated string", "{\"text\":\"unterminated", 0, "invalid_json"},
    {"single quotes", "{'text':'x'}", 0, "invalid_json"},
    {"trailing comma", "{\"text\":\"x\",}", 0, "invalid_json"},
    {"not JSON at all", "text=hello", 0, "invalid_json"},
    {"trailing garbage", "{\"text\":\"x\"} {}", 0, "invalid_json"},
    {"invalid UTF-8 in a string", "{\"text\":\"\xC3\x28\"}", 0, "invalid_utf8"},
    {"overlong UTF-8", "{\"text\":\"\xC0\xAF\"}", 0, "invalid_utf8"},
    {"UTF-8 encoded surrogate", "{\"text\":\"\xED\xA0\x80\"}", 0, "invalid_utf8"},
    {"invalid UTF-8 in a name", "{\"te\xFFxt\":\"x\"}", 0, "invalid_utf8"},
    {"NUL byte in a string", "{\"text\":\"a\0b\"}", 14, "invalid_json"},
    {"\\u0000 in a string", "{\"text\":\"ab\\u0000cd\"}", 0, "invalid_json"},
    {"\\u0000 in a name", "{\"te\\u0000xt\":\"x\"}", 0, "invalid_json"},
    {"lone surrogate escape", "{\"text\":\"\\ud800\"}", 0, "invalid_json"},
    {"number beyond a double", "{\"text\":\"x\",\"n\":1e400}", 0, "invalid_json"},
    {"negative number beyond a double", "{\"text\":\"x\",\"n\":-1e400}", 0, "invalid_json"},
    {"duplicate key", "{\"text\":\"x\",\"text\":\"y\"}", 0, "invalid_json"},
    {"duplicate nested key", "{\"a\":{\"b\":1,\"b\":2}}", 0, "invalid_json"},
    {"duplicate key spelled with an escape", "{\"text\":\"x\",\"\\u0074ext\":\"y\"}", 0,
     "invalid_json"},
};

START_TEST(json_bodies)
{
    const struct route *rt = &routes[_i];
    for (size_t c = 0; c < sizeof body_cases / sizeof body_cases[0]; c++) {
        const struct body_case *bc = &body_cases[c];
        size_t len = bc->len ? bc->len : strlen(bc->body);
        refused_on(rt, bc->name, JSON_CT, bc->body, len, 400, bc->code);
    }
    char *deep = nested(OVER_DEPTH);
    refused_on(rt, "33 levels of nesting", JSON_CT, deep, strlen(deep), 400, "json_too_deep");
    free(deep);
    /* 20,000 bytes: over the small routes' cap, so those refuse it by its size. */
    deep = nested(DEEP_NESTING);
    size_t len = strlen(deep);
    refused_on(rt, "10,000 levels of nesting", JSON_CT, deep, len, len > rt->cap ? 413 : 400,
               len > rt->cap ? "body_too_large" : "json_too_deep");
    free(deep);
}
END_TEST

/* A number that parses but does not fit what the field holds. */
START_TEST(huge_numbers_in_fields)
{
    static const char *const settings[] = {
        "{\"inactivity_timeout_s\":1e300}",
        "{\"inactivity_timeout_s\":9223372036854775808}",
        "{\"inactivity_timeout_s\":-9223372036854775809}",
        "{\"transcript_chunk_max\":123456789012345678901234567890}",
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"name\":\"Big numbers\",\"webhook_url\":\"https://bot.example.com/h\","
                 "\"cxone\":{\"auth_url\":\"https://cxone.example.com/auth/token\","
                 "\"api_base_url\":\"https://api.cxone.example.com\",\"client_id\":\"c\","
                 "\"client_secret\":\"s\",\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"},"
                 "\"settings\":%s}",
                 settings[i]);
        refused_on(&routes[0], settings[i], JSON_CT, body, strlen(body), 400, "invalid_request");
    }
    /* and in query parameters */
    static const char *const queries[] = {"?after=1e400", "?limit=99999999999999999999",
                                          "?after=-1", "?limit=1e3"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/admin/v1/providers/%s/agent-messages%s", P.id, queries[i]);
        const char *h[] = {B.admin_auth, NULL};
        const struct want w = {400, "invalid_request", false};
        refused(queries[i], "GET", path, h, NULL, 0, &w);
    }
}
END_TEST

/* The probe sees an accepted request (so "nothing stored" above means something). */
START_TEST(control_valid_body_is_stored)
{
    char path[256];
    route_path(&routes[1], path, sizeof path);
    const char *h[] = {JSON_CT, cxone_auth, NULL};
    accepted_and_stored("valid agent reply", "POST", path, h, "{\"id\":\"ok-1\",\"text\":\"hi\"}",
                        200);
}
END_TEST

/* ---------------------------------------------------------------- transport */

START_TEST(wrong_content_type)
{
    const struct route *rt = &routes[_i];
    static const char *const types[] = {
        "Content-Type: text/plain",
        "Content-Type:", "Content-Type: multipart/form-data; boundary=x",
        "Content-Type: application/jsonx", "Content-Type: application/xml"};
    const char *body = "{\"text\":\"x\"}";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        refused_on(rt, types[i], types[i], body, strlen(body), 415, "unsupported_media_type");
    if (!rt->takes_form)
        refused_on(rt, "a form on a JSON route", "Content-Type: application/x-www-form-urlencoded",
                   "text=x", 6, 415, "unsupported_media_type");
}
END_TEST

START_TEST(body_over_cap)
{
    const struct route *rt = &routes[_i];
    char *body = json_of_size(rt->cap + 1);
    refused_on(rt, "body one byte over the cap", JSON_CT, body, rt->cap + 1, 413, "body_too_large");
    free(body);
}
END_TEST

static int raw_status(const char *answer)
{
    if (!answer || strncmp(answer, "HTTP/1.", 7) != 0 || strlen(answer) < 12)
        return 0;
    return (int)strtol(answer + 9, NULL, 10);
}

/* A raw request (curl will not send these); expects status and, when given, the error code. */
static void raw_refused(const char *label, const char *raw, size_t len, int status,
                        const char *code)
{
    sqlite3 *db = probe_open();
    struct snapshot before, after;
    snapshot_take(db, &before);
    char *answer = test_raw_http(B.port, raw, len, 5000);
    ck_assert_msg(answer, "%s: no connection", label);
    ck_assert_msg(raw_status(answer) == status, "%s: want %d: %.300s", label, status, answer);
    if (code) {
        char quoted[80];
        snprintf(quoted, sizeof quoted, "\"code\":\"%s\"", code);
        ck_assert_msg(strstr(answer, quoted), "%s: no %s in %.300s", label, code, answer);
    }
    free(answer);
    snapshot_take(db, &after);
    const char *d = snapshot_diff(&before, &after);
    ck_assert_msg(d[0] == '\0', "%s: refused, but something was stored: %s", label, d);
    sqlite3_close(db);
}

/* A provider body that would be created if it got through. */
#define GOOD_PROVIDER                                                                              \
    "{\"name\":\"Smuggled\",\"webhook_url\":\"https://bot.example.com/h\",\"cxone\":{"             \
    "\"auth_url\":\"https://cxone.example.com/auth/token\",\"api_base_url\":"                      \
    "\"https://api.cxone.example.com\",\"client_id\":\"c\",\"client_secret\":\"s\","               \
    "\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}"

static char *admin_raw(const char *framing, const char *body_part, size_t *len)
{
    size_t cap = strlen(framing) + strlen(body_part) + 512;
    char *raw = malloc(cap);
    ck_assert_ptr_nonnull(raw);
    int n = snprintf(raw, cap,
                     "POST /admin/v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer " HARNESS_ADMIN_TOKEN "\r\n"
                     "Content-Type: application/json\r\n%sConnection: close\r\n\r\n%s",
                     framing, body_part);
    ck_assert(n > 0 && (size_t)n < cap);
    *len = (size_t)n;
    return raw;
}

START_TEST(conflicting_framing)
{
    /* The whole provider as one chunk, also announced by a Content-Length: either reading
     * would create it, so the request must be refused, not guessed at. */
    size_t body_len = strlen(GOOD_PROVIDER);
    char chunk[1024], framing[128];
    snprintf(chunk, sizeof chunk, "%zx\r\n%s\r\n0\r\n\r\n", body_len, GOOD_PROVIDER);
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n",
             body_len);
    size_t len = 0;
    char *raw = admin_raw(framing, chunk, &len);
    raw_refused("Content-Length and Transfer-Encoding", raw, len, 400, "bad_framing");
    free(raw);
    snprintf(framing, sizeof framing, "Transfer-Encoding: chunked\r\nContent-Length: %zu\r\n",
             body_len);
    raw = admin_raw(framing, chunk, &len);
    raw_refused("Transfer-Encoding and Content-Length", raw, len, 400, "bad_framing");
    free(raw);
    /* Two lengths that disagree: a proxy in front may have used the other one. */
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\nContent-Length: 2\r\n", body_len);
    raw = admin_raw(framing, GOOD_PROVIDER, &len);
    raw_refused("two Content-Length headers", raw, len, 400, "bad_framing");
    free(raw);
    snprintf(framing, sizeof framing, "Content-Length: 2\r\nContent-Length: %zu\r\n", body_len);
    raw = admin_raw(framing, GOOD_PROVIDER, &len);
    raw_refused("two Content-Length headers, the longer last", raw, len, 400, "bad_framing");
    free(raw);
}
END_TEST

START_TEST(header_of_40_kb)
{
    char *line = malloc(BIG_HEADER_BYTES + 16);
    ck_assert_ptr_nonnull(line);
    memcpy(line, "X-Filler: ", 10);
    memset(line + 10, 'f', BIG_HEADER_BYTES);
    line[10 + BIG_HEADER_BYTES] = '\0';
    const char *h[] = {JSON_CT, B.admin_auth, line, NULL};
    const struct want w = {431, NULL, false};
    refused("40 KB header on a valid create", "POST", "/admin/v1/providers", h, GOOD_PROVIDER,
            strlen(GOOD_PROVIDER), &w);
    free(line);
    const char *ok[] = {JSON_CT, B.admin_auth, NULL}; /* the same create without it works */
    accepted_and_stored("the same create", "POST", "/admin/v1/providers", ok, GOOD_PROVIDER, 201);
}
END_TEST

/* ---------------------------------------------------------------- slow loris */

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends s in TRICKLE_STEPS pieces TRICKLE_GAP_MS apart (each gap well inside the idle timeout,
 * so each piece resets it). */
static void trickle(int fd, const char *s, size_t len)
{
    size_t step = (len + TRICKLE_STEPS - 1) / TRICKLE_STEPS;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        ck_assert_int_eq(send(fd, s + off, n, MSG_NOSIGNAL), (ssize_t)n);
        harness_sleep_ms(TRICKLE_GAP_MS);
    }
}

/* Waits (bounded) for byocd to close the connection; returns what it sent before closing. */
static char *wait_closed(int fd)
{
    char *got = calloc(1, 4096);
    ck_assert_ptr_nonnull(got);
    size_t n = 0;
    for (long long end = harness_now_ms() + CLOSE_WAIT_MS; harness_now_ms() < end;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, POLL_MS) <= 0)
            continue;
        ssize_t r = recv(fd, got + n, 4095 - n, 0);
        if (r <= 0) { /* closed (or reset): what the idle timeout does */
            close(fd);
            return got;
        }
        n += (size_t)r;
    }
    close(fd);
    free(got);
    ck_abort_msg("byocd kept a stalled connection open for %d ms (idle timeout %s s)",
                 CLOSE_WAIT_MS, IDLE_TIMEOUT_S);
    return NULL;
}

static void assert_stalled_closed(const char *label, const char *head, const char *body_part)
{
    sqlite3 *db = probe_open();
    struct snapshot before, after;
    snapshot_take(db, &before);
    int fd = connect_loopback(B.port);
    trickle(fd, head, strlen(head));
    if (body_part)
        trickle(fd, body_part, strlen(body_part));
    char *got = wait_closed(fd); /* then nothing more: the idle timeout closes it */
    ck_assert_msg(got[0] == '\0' || (raw_status(got) >= 400 && raw_status(got) < 500),
                  "%s: answered %.200s", label, got);
    free(got);
    snapshot_take(db, &after);
    const char *d = snapshot_diff(&before, &after);
    ck_assert_msg(d[0] == '\0', "%s: something was stored: %s", label, d);
    sqlite3_close(db);
    struct test_resp r; /* and the server still serves */
    const struct want w = {200, NULL, false};
    send_checked("healthz after a slow client", "GET", "/healthz", NULL, NULL, 0, &w, &r);
    test_resp_release(&r);
}

START_TEST(slow_head_closed_by_idle_timeout)
{
    assert_stalled_closed("trickled head",
                          "POST /admin/v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer " HARNESS_ADMIN_TOKEN "\r\n"
                          "Content-Type: application/json\r\n",
                          NULL);
}
END_TEST

START_TEST(slow_body_closed_by_idle_timeout)
{
    /* A complete head, then all of a valid provider but its last byte: never created. */
    char head[512], body[1024];
    size_t len = strlen(GOOD_PROVIDER);
    snprintf(head, sizeof head,
             "POST /admin/v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Authorization: Bearer " HARNESS_ADMIN_TOKEN "\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             len);
    snprintf(body, sizeof body, "%.*s", (int)(len - 1), GOOD_PROVIDER);
    assert_stalled_closed("trickled body", head, body);
}
END_TEST

/* ---------------------------------------------------------------- JWT on the box */

static uint8_t jwt_key[BYOC_KEY_LEN];

/* The key byocd signs with, derived from the master key this program gave it. */
static void load_jwt_key(void)
{
    struct byoc_keys keys;
    bool generated = false;
    char key_path[64], why[256];
    ck_assert_int_eq(byoc_keys_load(MASTER_KEY_HEX, ":memory:", &keys, &generated, key_path,
                                    sizeof key_path, why, sizeof why),
                     BYOC_ERR_OK);
    memcpy(jwt_key, keys.jwt, sizeof jwt_key);
}

/* base64url without padding of len bytes at out (NUL-terminated, room assured by the caller);
 * returns the characters written. */
static size_t b64url(const void *in, size_t len, char *out)
{
    size_t n = 0;
    ck_assert(byoc_base64url_encode(in, len, out, 4 * ((len + 2) / 3) + 1, &n));
    return n;
}

/* header.payload.signature into out (TOKEN_CAP bytes); md NULL: an empty signature. */
static void forge(const char *header, const char *payload, const EVP_MD *md, const uint8_t *key,
                  size_t key_len, char *out)
{
    ck_assert_uint_lt(4 * (strlen(header) + strlen(payload)) / 3 + 128, TOKEN_CAP);
    size_t n = b64url(header, strlen(header), out);
    out[n++] = '.';
    n += b64url(payload, strlen(payload), out + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (md)
        ck_assert_ptr_nonnull(HMAC(md, key, (int)key_len, (unsigned char *)out, n, mac, &mac_len));
    out[n++] = '.';
    b64url(mac, mac_len, out + n);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Claims as byocd issues them, with the caller's changes; extra is appended raw. */
static void claims(char *out, size_t cap, const char *iss, const char *aud_provider, long long iat,
                   long long exp, const char *extra)
{
    int n = snprintf(out, cap,
                     "{\"iss\":\"%s\",\"aud\":\"" HARNESS_PUBLIC_URL "/cxone/%s\",\"sub\":\"%s\","
                     "\"jti\":\"jti_forgedforgedforged0\",\"iat\":%lld,\"exp\":%lld%s}",
                     iss, aud_provider, P.id, iat, exp, extra ? extra : "");
    ck_assert(n > 0 && (size_t)n < cap);
}

static void good_claims(char *out, size_t cap)
{
    long long now = (long long)time(NULL);
    claims(out, cap, HARNESS_PUBLIC_URL, P.id, now, now + 600, NULL);
}

static int box_msgs;

/* POSTs a valid agent reply with header line auth (NULL: none) to path_suffix (a query, or
 * ""); expects w and nothing stored. */
static void box_refused(const char *label, const char *auth, const char *query, long status,
                        const char *code)
{
    char path[TOKEN_CAP], body[128];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/post-1/messages%s", P.id, query);
    snprintf(body, sizeof body, "{\"id\":\"jwt-%d\",\"text\":\"hello\"}", ++box_msgs);
    const char *h[] = {JSON_CT, auth, NULL};
    const struct want w = {status, code, false};
    refused(label, "POST", path, h, body, strlen(body), &w);
}

static char token_buf[TOKEN_CAP], line_buf[TOKEN_CAP + 64];

static const char *bearer_of(const char *token)
{
    snprintf(line_buf, sizeof line_buf, "Authorization: Bearer %s", token);
    return line_buf;
}

static void forged_refused(const char *label, const char *header, const char *payload,
                           const EVP_MD *md, const uint8_t *key, size_t key_len)
{
    forge(header, payload, md, key, key_len, token_buf);
    box_refused(label, bearer_of(token_buf), "", 401, "invalid_token");
}

START_TEST(jwt_forge_accepted_control)
{
    /* The forge makes tokens byocd accepts: each refusal below is caused by its one change. */
    load_jwt_key();
    char payload[1024], path[256], body[128];
    good_claims(payload, sizeof payload);
    forge(HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key, token_buf);
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/post-1/messages", P.id);
    snprintf(body, sizeof body, "{\"id\":\"forged-ok\",\"text\":\"hello\"}");
    const char *h[] = {JSON_CT, bearer_of(token_buf), NULL};
    accepted_and_stored("forged good token", "POST", path, h, body, 200);
}
END_TEST

START_TEST(jwt_attacks_refused)
{
    load_jwt_key();
    long long now = (long long)time(NULL);
    char payload[TOKEN_CAP], good[1024];
    good_claims(good, sizeof good);
    uint8_t other_key[BYOC_KEY_LEN];
    for (size_t i = 0; i < sizeof other_key; i++)
        other_key[i] = (uint8_t)(jwt_key[i] ^ 0x5a);

    box_refused("no token", NULL, "", 401, "unauthorized");
    forged_refused("alg none", "{\"alg\":\"none\",\"typ\":\"JWT\"}", good, NULL, NULL, 0);
    forged_refused("alg None", "{\"alg\":\"None\",\"typ\":\"JWT\"}", good, NULL, NULL, 0);
    forged_refused("alg none with a signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}", good,
                   EVP_sha256(), jwt_key, sizeof jwt_key);
    forged_refused("HS256 signed with another key", HS256, good, EVP_sha256(), other_key,
                   sizeof other_key);
    forged_refused("HS512 with byocd's key", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good,
                   EVP_sha512(), jwt_key, sizeof jwt_key);

    /* A byte flipped in the signature, then in the payload, of a token byocd would accept. */
    forge(HS256, good, EVP_sha256(), jwt_key, sizeof jwt_key, token_buf);
    char *sig = strrchr(token_buf, '.') + 1, *pay = strchr(token_buf, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    box_refused("flipped signature byte", bearer_of(token_buf), "", 401, "invalid_token");
    forge(HS256, good, EVP_sha256(), jwt_key, sizeof jwt_key, token_buf);
    pay[7] = pay[7] == 'A' ? 'B' : 'A';
    box_refused("flipped payload byte", bearer_of(token_buf), "", 401, "invalid_token");

    claims(payload, sizeof payload, HARNESS_PUBLIC_URL, P.id, now - 7200, now - 3600, NULL);
    forged_refused("expired", HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key);
    char nbf[64];
    snprintf(nbf, sizeof nbf, ",\"nbf\":%lld", now + 3000);
    claims(payload, sizeof payload, HARNESS_PUBLIC_URL, P.id, now, now + 3600, nbf);
    forged_refused("nbf in the future", HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key);
    claims(payload, sizeof payload, HARNESS_PUBLIC_URL, P.id, now + 3000, now + 3600, NULL);
    forged_refused("iat in the future", HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key);
    claims(payload, sizeof payload, HARNESS_PUBLIC_URL, "prv_AAAAAAAAAAAAAAAAAAAA", now, now + 600,
           NULL);
    forged_refused("wrong aud", HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key);
    claims(payload, sizeof payload, "https://evil.example.com", P.id, now, now + 600, NULL);
    forged_refused("wrong iss", HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key);

    /* A correctly signed token of 20 KB (a padding claim): refused for its size. */
    char pad[BIG_TOKEN_BYTES];
    size_t pad_len = BIG_TOKEN_BYTES * 3 / 4 + 64; /* base64url makes 4 of every 3 bytes */
    memset(pad, 'p', pad_len);
    memcpy(pad, ",\"pad\":\"", 8);
    pad[pad_len - 1] = '"';
    pad[pad_len] = '\0';
    claims(payload, sizeof payload, HARNESS_PUBLIC_URL, P.id, now, now + 600, pad);
    forge(HS256, payload, EVP_sha256(), jwt_key, sizeof jwt_key, token_buf);
    ck_assert_uint_ge(strlen(token_buf), BIG_TOKEN_BYTES);
    box_refused("20 KB token", bearer_of(token_buf), "", 401, "invalid_token");

    /* A valid token in the query string is not a credential (RFC 6750, RFC 8725). */
    forge(HS256, good, EVP_sha256(), jwt_key, sizeof jwt_key, token_buf);
    char query[TOKEN_CAP];
    snprintf(query, sizeof query, "?access_token=%s", token_buf);
    box_refused("token in the query string", NULL, query, 401, "unauthorized");
}
END_TEST

/* ---------------------------------------------------------------- the token endpoint */

#define FORM_CT "Content-Type: application/x-www-form-urlencoded"

enum basic_kind { NO_BASIC, BASIC_GOOD, BASIC_WRONG_SECRET, BASIC_MALFORMED };

/* Templates: $ID and $SECRET stand for the provider's client id and secret. */
struct token_case {
    const char *name;
    const char *content_type;
    enum basic_kind basic;
    const char *query; /* appended to the path */
    const char *body;
    long status;
    const char *error;
};

#define CREDS "\"client_id\":\"$ID\",\"client_secret\":\"$SECRET\""
#define GRANT "grant_type=client_credentials"

static const struct token_case token_cases[] = {
    {"wrong grant", JSON_CT, NO_BASIC, "", "{" CREDS ",\"grant_type\":\"password\"}", 400,
     "unsupported_grant_type"},
    {"no grant", JSON_CT, NO_BASIC, "", "{" CREDS "}", 400, "invalid_request"},
    {"bad secret", JSON_CT, NO_BASIC, "",
     "{\"client_id\":\"$ID\",\"client_secret\":\"$SECRET-not\",\"grant_type\":"
     "\"client_credentials\"}",
     401, "invalid_client"},
    {"bad secret, Basic", FORM_CT, BASIC_WRONG_SECRET, "", GRANT, 401, "invalid_client"},
    {"malformed Basic", FORM_CT, BASIC_MALFORMED, "", GRANT, 401, "invalid_client"},
    /* credentials twice */
    {"Basic and JSON body credentials", JSON_CT, BASIC_GOOD, "",
     "{" CREDS ",\"grant_type\":\"client_credentials\"}", 400, "invalid_request"},
    {"Basic and form body secret", FORM_CT, BASIC_GOOD, "", GRANT "&client_secret=$SECRET", 400,
     "invalid_request"},
    {"Basic and another body client_id", FORM_CT, BASIC_GOOD, "", GRANT "&client_id=someone-else",
     400, "invalid_request"},
    {"form client_secret twice", FORM_CT, NO_BASIC, "",
     GRANT "&client_id=$ID&client_secret=$SECRET&client_secret=$SECRET", 400, "invalid_request"},
    {"form grant_type twice", FORM_CT, NO_BASIC, "",
     GRANT "&client_id=$ID&client_secret=$SECRET&grant_type=password", 400, "invalid_request"},
    {"JSON client_secret twice", JSON_CT, NO_BASIC, "",
     "{\"client_id\":\"$ID\",\"client_secret\":\"x\",\"client_secret\":\"$SECRET\","
     "\"grant_type\":\"client_credentials\"}",
     400, "invalid_request"},
    /* not read from the query string (RFC 6749 section 2.3.1) */
    {"credentials in the query string", FORM_CT, NO_BASIC, "?client_id=$ID&client_secret=$SECRET",
     GRANT, 401, "invalid_client"},
};

/* tmpl with $ID and $SECRET replaced, into out. */
static void expand(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *t = tmpl; *t && n + 1 < cap;) {
        const char *v = strncmp(t, "$ID", 3) == 0       ? P.client_id
                        : strncmp(t, "$SECRET", 7) == 0 ? P.client_secret
                                                        : NULL;
        if (v) {
            n += (size_t)snprintf(out + n, cap - n, "%s", v);
            t += v == P.client_id ? 3 : 7;
        } else {
            out[n++] = *t++;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

START_TEST(token_abuse_refused)
{
    char *good = test_basic_auth(P.client_id, P.client_secret);
    char *wrong = test_basic_auth(P.client_id, "not-the-secret");
    for (size_t i = 0; i < sizeof token_cases / sizeof token_cases[0]; i++) {
        const struct token_case *tc = &token_cases[i];
        char body[1024], query[512], path[768];
        expand(tc->body, body, sizeof body);
        expand(tc->query, query, sizeof query);
        snprintf(path, sizeof path, "/cxone/%s/auth/token%s", P.id, query);
        const char *basic = tc->basic == BASIC_GOOD           ? good
                            : tc->basic == BASIC_WRONG_SECRET ? wrong
                            : tc->basic == BASIC_MALFORMED    ? "Authorization: Basic !!!notbase64"
                                                              : NULL;
        const char *h[] = {tc->content_type, basic, NULL};
        const struct want w = {tc->status, tc->error, true};
        refused(tc->name, "POST", path, h, body, strlen(body), &w);
    }
    free(good);
    free(wrong);
}
END_TEST

/* ---------------------------------------------------------------- SSRF when saved */

static const char *const ssrf_urls[] = {
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://[fe80::1]/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://metadata.localhost/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_stats",
    "dict://127.0.0.1:11211/stat",
    "ftp://files.example.com/hook",
};

static void guarded_up(void)
{
    byocd_start(&B, NULL, env_guarded);
    /* the harness's provider helper uses a loopback hook, which a guarded byocd refuses */
    long st = 0;
    cJSON *j = byocd_call(&B, B.admin_auth, "POST", "/admin/v1/providers", GOOD_PROVIDER, &st);
    ck_assert_int_eq(st, 201);
    memset(&P, 0, sizeof P);
    snprintf(P.id, sizeof P.id, "%s", cJSON_GetObjectItem(j, "id")->valuestring);
    snprintf(P.bot_api_key, sizeof P.bot_api_key, "%s",
             cJSON_GetObjectItem(j, "bot_api_key")->valuestring);
    P.created = j;
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", P.bot_api_key);
}

START_TEST(ssrf_refused_when_saved)
{
    for (size_t i = 0; i < sizeof ssrf_urls / sizeof ssrf_urls[0]; i++) {
        char body[2048], label[256];
        const struct want w = {400, "invalid_request", false};
        snprintf(body, sizeof body,
                 "{\"name\":\"SSRF\",\"webhook_url\":\"%s\",\"cxone\":{"
                 "\"auth_url\":\"https://cxone.example.com/auth/token\",\"api_base_url\":"
                 "\"https://api.cxone.example.com\",\"client_id\":\"c\",\"client_secret\":\"s\","
                 "\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
                 ssrf_urls[i]);
        snprintf(label, sizeof label, "provider webhook_url %s", ssrf_urls[i]);
        const char *admin[] = {JSON_CT, B.admin_auth, NULL};
        refused(label, "POST", "/admin/v1/providers", admin, body, strlen(body), &w);
        snprintf(body, sizeof body, "{\"url\":\"%s\"}", ssrf_urls[i]);
        snprintf(label, sizeof label, "POST /v1/webhooks %s", ssrf_urls[i]);
        const char *bot[] = {JSON_CT, bot_auth, NULL};
        refused(label, "POST", "/v1/webhooks", bot, body, strlen(body), &w);
    }
    const char *bot[] = {JSON_CT, bot_auth, NULL}; /* a public address is stored */
    accepted_and_stored("public webhook", "POST", "/v1/webhooks", bot,
                        "{\"url\":\"https://bot.example.com/hook\"}", 201);
}
END_TEST

/* ---------------------------------------------------------------- SSRF when delivering */

/* Loopback, private, link-local or unspecified (what byocd must not connect to). */
static bool addr_internal(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t ip = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return ip >> 24 == 127 || ip >> 24 == 10 || ip >> 24 == 0 || (ip >> 20) == 0xAC1 ||
               (ip >> 16) == 0xC0A8 || (ip >> 16) == 0xA9FE;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    const uint8_t *b = a->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        struct sockaddr_in v4 = {.sin_family = AF_INET};
        memcpy(&v4.sin_addr, b + 12, 4);
        return addr_internal((const struct sockaddr *)&v4);
    }
    return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || (b[0] & 0xFE) == 0xFC ||
           (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);
}

/* True when name resolves, and only to internal addresses. */
static bool resolves_internal_only(const char *name)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return false;
    bool all = res != NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        all = all && addr_internal(ai->ai_addr);
    freeaddrinfo(res);
    return all;
}

/* A DNS name (not "localhost", not an address literal: the save-time check accepts it) that
 * resolves to a loopback or private address here: this machine's own name (/etc/hosts has it on
 * Debian and in containers), else Debian's IPv6 loopback aliases. */
static void rebinding_name(char *out, size_t cap)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    const char *candidates[] = {host, "ip6-localhost", "ip6-loopback"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        const char *c = candidates[i];
        bool literal = strspn(c, "0123456789.") == strlen(c) || strchr(c, ':');
        if (c[0] && !literal && strstr(c, "localhost") != c && resolves_internal_only(c)) {
            snprintf(out, cap, "%s", c);
            return;
        }
    }
    ck_abort_msg("no DNS name here resolves only to loopback or private addresses (tried the "
                 "host name \"%s\", ip6-localhost, ip6-loopback): add one to /etc/hosts",
                 host);
}

static void open_conversation(void)
{
    cJSON_Delete(byocd_call_ok(&B, bot_auth, "POST", "/v1/conversations",
                               "{\"end_user\":{\"id\":\"user-1\"},\"transcript\":["
                               "{\"role\":\"user\",\"text\":\"a human please\"}]}",
                               201));
}

/* Checked teardown (the fakes run in the test's process, where their records are). */
static void delivery_down(void)
{
    provider_release(&P);
    int status = byocd_stop(&B);
    bool sanitizer = byocd_sanitizer_report(&B);
    fake_receiver_stop(RX);
    byoc_cxsim_stop(F);
    RX = NULL;
    F = NULL;
    ck_assert_msg(status == 0 && !sanitizer, "byocd exited with %d%s; its log is in %s", status,
                  sanitizer ? " after a sanitizer report" : "", B.dir);
    byocd_remove_dir(B.dir);
}

static char rebind_host[256];

static void rebinding_up(void)
{
    F = test_cxsim_start();
    RX = fake_receiver_start();
    rebinding_name(rebind_host, sizeof rebind_host);
    byocd_start(&B, NULL, env_guarded);
    char hook[512];
    snprintf(hook, sizeof hook, "http://%s:%d" HOOK_PATH_OWN, rebind_host, fake_receiver_port(RX));
    /* accepted when saved: a name, not an address */
    provider_create_hook(&B, byoc_cxsim_url(F), "int-1", NULL, hook, &P);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", P.bot_api_key);
    byocd_channel_register(&B, F, P.id, CHANNEL);
}

/* Every delivery listed for the provider, once want of them have had an attempt (the later
 * events of a conversation wait for the first: strict order); caller frees. */
static cJSON *attempted_deliveries(size_t want)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/v1/deliveries?provider_id=%s", P.id);
    char *last = NULL;
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;) {
        cJSON *j = byocd_call_ok(&B, B.admin_auth, "GET", path, NULL, 200);
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "deliveries"), *d;
        size_t tried = 0;
        cJSON_ArrayForEach(d, list)
        {
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(d, "attempts");
            tried += cJSON_IsNumber(at) && at->valuedouble >= 1;
        }
        if (tried >= want) {
            free(last);
            return j;
        }
        free(last);
        last = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        harness_sleep_ms(POLL_MS);
    }
    ck_abort_msg("fewer than %zu deliveries were attempted in %d ms: %.1000s", want, WAIT_MS,
                 last ? last : "");
    return NULL;
}

START_TEST(rebinding_refused_when_connecting)
{
    char body[512];
    snprintf(body, sizeof body, "{\"url\":\"http://%s:%d" HOOK_PATH_SUB "\"}", rebind_host,
             fake_receiver_port(RX));
    cJSON_Delete(byocd_call_ok(&B, bot_auth, "POST", "/v1/webhooks", body, 201));
    open_conversation();
    /* two subscriptions, at least one event each (conversation.escalated) */
    cJSON *j = attempted_deliveries(2);
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j, "deliveries"))
    {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(d, "state");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(d, "last_error");
        ck_assert_msg(cJSON_IsString(state) && strcmp(state->valuestring, "delivered") != 0,
                      "a delivery to %s was delivered", rebind_host);
        if (cJSON_GetObjectItemCaseSensitive(d, "attempts")->valueint == 0)
            continue; /* waits for the conversation's first event */
        ck_assert_msg(cJSON_IsString(err) && strstr(err->valuestring, "address is not allowed"),
                      "delivery to %s failed otherwise: %s", rebind_host,
                      cJSON_IsString(err) ? err->valuestring : "(no error)");
    }
    cJSON_Delete(j);
    ck_assert_uint_eq(fake_receiver_count(RX, NULL), 0);
}
END_TEST

static void redirect_up(void)
{
    F = test_cxsim_start();
    RX = fake_receiver_start();
    byocd_start(&B, NULL, env_redirect);
    char hook[512], internal[512];
    snprintf(hook, sizeof hook, "%s" HOOK_PATH_OWN, fake_receiver_url(RX));
    snprintf(internal, sizeof internal, "%s/internal", fake_receiver_url(RX));
    fake_receiver_add_rule(
        RX, &(struct fake_receiver_rule){.path = HOOK_PATH_OWN,
                                         .status = 302,
                                         .location = "http://169.254.169.254/latest/meta-data/"});
    fake_receiver_add_rule(RX, &(struct fake_receiver_rule){
                                   .path = HOOK_PATH_SUB, .status = 307, .location = internal});
    provider_create_hook(&B, byoc_cxsim_url(F), "int-1", NULL, hook, &P);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", P.bot_api_key);
    byocd_channel_register(&B, F, P.id, CHANNEL);
}

START_TEST(redirect_to_internal_not_followed)
{
    char body[512];
    snprintf(body, sizeof body, "{\"url\":\"%s" HOOK_PATH_SUB "\"}", fake_receiver_url(RX));
    cJSON_Delete(byocd_call_ok(&B, bot_auth, "POST", "/v1/webhooks", body, 201));
    open_conversation();
    /* each redirect is answered again later (a failed attempt), never followed */
    ck_assert(fake_receiver_wait(RX, HOOK_PATH_OWN, 2, WAIT_MS));
    ck_assert(fake_receiver_wait(RX, HOOK_PATH_SUB, 2, WAIT_MS));
    ck_assert_uint_eq(fake_receiver_count(RX, "/internal"), 0);
    cJSON *j = attempted_deliveries(2);
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j, "deliveries"))
    {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(d, "state");
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(d, "last_status");
        ck_assert_str_ne(state->valuestring, "delivered");
        if (cJSON_GetObjectItemCaseSensitive(d, "attempts")->valueint == 0)
            continue;
        ck_assert_msg(cJSON_IsNumber(last) && (last->valueint == 302 || last->valueint == 307),
                      "last_status is not the redirect");
    }
    cJSON_Delete(j);
}
END_TEST

/* ---------------------------------------------------------------- CXone at a link-local address */

/* The token request carries the provider's client secret and access key: it must never reach
 * the metadata service, however the address is spelled. No server runs there, so without the
 * veto the call would time out or fail to connect instead of being refused. */
START_TEST(cxone_link_local_refused_when_calling)
{
    static const char *const urls[] = {"http://169.254.169.254/latest/meta-data/",
                                       "http://[::ffff:169.254.169.254]/auth/token",
                                       "http://0xa9fea9fe/auth/token", "http://[fe80::1]:9/x"};
    struct byoc_cxone_tokens *tokens = NULL;
    ck_assert_int_eq(byoc_cxone_tokens_new(&tokens), BYOC_ERR_OK);
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct byoc_cxone_creds c = {.provider_id = "prv_linklocal",
                                     .auth_url = urls[i],
                                     .client_id = "id",
                                     .client_secret = "secret",
                                     .access_key_id = "key",
                                     .access_key_secret = "key-secret"};
        char *token = NULL, detail[BYOC_CXONE_DETAIL_MAX] = "";
        enum byoc_err e = byoc_cxone_token(tokens, &c, NULL, &token, detail);
        ck_assert_msg(e == BYOC_ERR_FORBIDDEN, "%s: %s (%s), not refused", urls[i],
                      byoc_err_name(e), detail);
        ck_assert_ptr_null(token);
    }
    byoc_cxone_tokens_free(tokens);
}
END_TEST

/* ---------------------------------------------------------------- suite */

/* One byocd per TCase, started in the runner process (unchecked) or, where the test reads
 * what fakes recorded, in the test's own process (checked). */
static TCase *tcase(Suite *s, const char *name, void (*up)(void), void (*down)(void), bool checked)
{
    TCase *tc = tcase_create(name);
    if (checked)
        tcase_add_checked_fixture(tc, up, down);
    else
        tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *bad_input_suite(void)
{
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase(s, "json", server_up, server_down, false);
    tcase_add_loop_test(tc, json_bodies, 0, (int)N_ROUTES);
    tcase_add_test(tc, huge_numbers_in_fields);
    tcase_add_test(tc, control_valid_body_is_stored);
    tc = tcase(s, "transport", server_up, server_down, false);
    tcase_add_loop_test(tc, wrong_content_type, 0, (int)N_ROUTES);
    tcase_add_loop_test(tc, body_over_cap, 0, (int)N_ROUTES);
    tcase_add_test(tc, conflicting_framing);
    tcase_add_test(tc, header_of_40_kb);
    tc = tcase(s, "slow_loris", server_up, server_down, false);
    tcase_add_test(tc, slow_head_closed_by_idle_timeout);
    tcase_add_test(tc, slow_body_closed_by_idle_timeout);
    tc = tcase(s, "jwt", server_up, server_down, false);
    tcase_add_test(tc, jwt_forge_accepted_control);
    tcase_add_test(tc, jwt_attacks_refused);
    tc = tcase(s, "token", server_up, server_down, false);
    tcase_add_test(tc, token_abuse_refused);
    tc = tcase(s, "ssrf_save", guarded_up, server_down, false);
    tcase_add_test(tc, ssrf_refused_when_saved);
    tc = tcase(s, "ssrf_rebinding", rebinding_up, delivery_down, true);
    tcase_add_test(tc, rebinding_refused_when_connecting);
    tc = tcase(s, "ssrf_redirect", redirect_up, delivery_down, true);
    tcase_add_test(tc, redirect_to_internal_not_followed);
    tc = tcase_create("cxone_link_local");
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, cxone_link_local_refused_when_calling);
    return s;
}

int main(void)
{
    return harness_run(bad_input_suite(), CK_NORMAL);
}
