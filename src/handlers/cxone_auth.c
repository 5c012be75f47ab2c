/* The Authorization URL CXone calls (OAuth 2.0 client credentials, RFC 6749) and the bearer
 * check of every integration-box call (RFC 6750). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define BASIC_DECODED_MAX (2 * BYOC_SECRET_MAX + 2)

static void oauth_error(struct byoc_req *req, int status, const char *code, const char *desc)
{
    if (status == 401) /* the token endpoint authenticates clients with Basic (RFC 6749 2.3.1) */
        byoc_reply_header(req, "WWW-Authenticate", "Basic realm=\"byocd\"");
    byoc_reply_header(req, "Pragma", "no-cache");
    cJSON *j = cJSON_CreateObject();
    if (j &&
        !(byoc_json_add_str(j, "error", code) && byoc_json_add_str(j, "error_description", desc))) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, status, j);
}

/* A body field from a JSON object or a form. */
static const char *field(struct byoc_req *req, const char *name)
{
    const cJSON *j = byoc_req_json(req);
    return j ? byoc_json_str(j, name) : byoc_req_form(req, name);
}

struct client_creds {
    char *basic_id, *basic_secret; /* decoded from the Basic header; owned */
    const char *id, *secret;       /* whichever method was used */
};

static void creds_release(struct client_creds *c)
{
    free(c->basic_id);
    byoc_free_secret(c->basic_secret);
}

/* RFC 6749 §2.3.1: base64("urlencoded(id):urlencoded(secret)"). false if malformed. */
static bool parse_basic(const char *header, struct client_creds *c)
{
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    uint8_t raw[BASIC_DECODED_MAX + 1];
    size_t n = 0;
    if (byoc_base64_decode(b64, strlen(b64), raw, BASIC_DECODED_MAX, &n) != BYOC_ERR_OK)
        return false;
    const uint8_t *colon = memchr(raw, ':', n);
    if (!colon)
        return false;
    c->basic_id = byoc_form_decode((const char *)raw, (size_t)(colon - raw));
    c->basic_secret = byoc_form_decode((const char *)colon + 1, (size_t)(raw + n - colon - 1));
    byoc_wipe(raw, sizeof raw);
    return c->basic_id && c->basic_secret;
}

/* Picks the client authentication method; replies and returns false when it is unusable. */
static bool creds_or_reply(struct byoc_req *req, struct client_creds *c)
{
    const char *auth = byoc_req_header(req, "Authorization");
    const char *body_id = field(req, "client_id"), *body_secret = field(req, "client_secret");
    if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        if (!parse_basic(auth, c)) {
            oauth_error(req, 401, "invalid_client", "malformed Basic credentials");
            return false;
        }
        /* RFC 6749 §2.3: one method only; a body client_id may only repeat the Basic one */
        if (body_secret || (body_id && strcmp(body_id, c->basic_id) != 0)) {
            oauth_error(req, 400, "invalid_request", "use either Basic or body credentials");
            return false;
        }
        c->id = c->basic_id;
        c->secret = c->basic_secret;
        return true;
    }
    if (!body_id || !body_secret) {
        oauth_error(req, 401, "invalid_client", "client authentication is required");
        return false;
    }
    c->id = body_id;
    c->secret = body_secret;
    return true;
}

static void log_auth_failure(const char *provider_id, const char *why)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "auth", "client authentication failed");
    byoc_log_str(&l, "provider_id", provider_id);
    byoc_log_str(&l, "reason", why);
    byoc_log_end(&l);
}

/* The provider's failure window: its own slot, else a free or expired one, else the oldest. */
static struct byoc_throttle_slot *throttle_slot(struct byoc_app *app, const char *provider_id)
{
    int64_t now = byoc_mono_ms(), window = (int64_t)BYOC_AUTH_FAIL_WINDOW_S * 1000;
    struct byoc_throttle_slot *pick = NULL;
    for (size_t i = 0; i < BYOC_THROTTLE_SLOTS; i++) {
        struct byoc_throttle_slot *s = &app->throttle[i];
        if (strcmp(s->provider_id, provider_id) == 0) {
            pick = s;
            break;
        }
        bool s_free = !s->provider_id[0] || now - s->window_start_ms > window;
        bool pick_free = pick && (!pick->provider_id[0] || now - pick->window_start_ms > window);
        if (!pick || (s_free && !pick_free) ||
            (!s_free && !pick_free && s->window_start_ms < pick->window_start_ms))
            pick = s;
    }
    if (strcmp(pick->provider_id, provider_id) != 0 || now - pick->window_start_ms > window) {
        byoc_strlcpy(pick->provider_id, provider_id, sizeof pick->provider_id);
        pick->window_start_ms = now;
        pick->failures = 0;
    }
    return pick;
}

/* 401, or 429 once the provider's failures in this window pass the limit. Correct credentials
 * are never throttled, so a stranger's failures cannot lock CXone out; guessing is no threat to
 * 238-bit secrets, and the limit keeps a misconfigured or hostile client's noise down. */
static void reject_client(struct byoc_req *req, const char *provider_id, bool known,
                          const char *why)
{
    log_auth_failure(provider_id, why);
    struct byoc_throttle_slot *slot = known ? throttle_slot(app_of(req), provider_id) : NULL;
    if (slot && ++slot->failures > BYOC_AUTH_FAIL_MAX) {
        int64_t left_ms =
            (int64_t)BYOC_AUTH_FAIL_WINDOW_S * 1000 - (byoc_mono_ms() - slot->window_start_ms);
        char secs[24];
        snprintf(secs, sizeof secs, "%lld", (long long)(left_ms / 1000 + 1));
        byoc_reply_header(req, "Retry-After", secs);
        oauth_error(req, 429, "invalid_request", "too many failed attempts; retry later");
        return;
    }
    oauth_error(req, 401, "invalid_client", "client authentication failed");
}

static bool client_ok(const struct byoc_provider *p, const struct client_creds *c)
{
    uint8_t want[BYOC_SHA256_LEN], got[BYOC_SHA256_LEN];
    byoc_sha256(p->byoc_client_id, strlen(p->byoc_client_id), want);
    byoc_sha256(c->id, strlen(c->id), got);
    bool id_ok = byoc_ct_equal(want, got, sizeof want);
    bool secret_ok = byoc_secret_matches(c->secret, p->byoc_client_secret_hash);
    return id_ok && secret_ok;
}

static void issue(struct byoc_req *req, const char *provider_id)
{
    struct byoc_app *app = app_of(req);
    char *token = NULL;
    enum byoc_err e = byoc_auth_issue(&app->auth, provider_id, byoc_now_ms() / 1000, &token);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    if (j && !(byoc_json_add_str(j, "access_token", token) &&
               byoc_json_add_str(j, "token_type", "Bearer") &&
               cJSON_AddNumberToObject(j, "expires_in", (double)app->auth.ttl_s))) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_free_secret(token);
    byoc_reply_header(req, "Pragma", "no-cache");
    byoc_reply_json(req, 200, j);
}

void h_token(struct byoc_req *req)
{
    const char *provider_id = provider_param_or_reply(req);
    struct client_creds c = {0};
    if (!provider_id || !creds_or_reply(req, &c)) {
        creds_release(&c);
        return;
    }
    const char *grant = field(req, "grant_type");
    if (!grant || strcmp(grant, "client_credentials") != 0) {
        oauth_error(req, 400, grant ? "unsupported_grant_type" : "invalid_request",
                    grant ? "only client_credentials is supported" : "grant_type is required");
        creds_release(&c);
        return;
    }
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(app_of(req)->store, provider_id, &p);
    if (e == BYOC_ERR_NOT_FOUND)
        reject_client(req, provider_id, false, "unknown provider");
    else if (e)
        byoc_reply_error(req, e, NULL);
    else if (!client_ok(&p, &c))
        reject_client(req, provider_id, true, "wrong client id or secret");
    else
        issue(req, provider_id);
    if (!e)
        byoc_provider_release(&p);
    creds_release(&c);
}

bool authorize_cxone_or_reply(struct byoc_req *req)
{
    const char *provider_id = provider_param_or_reply(req);
    if (!provider_id)
        return false;
    const char *token = byoc_req_bearer(req);
    struct byoc_app *app = app_of(req);
    enum byoc_err e =
        token ? byoc_auth_verify(&app->auth, token, provider_id, byoc_now_ms() / 1000, NULL)
              : BYOC_ERR_UNAUTHORIZED;
    struct byoc_provider p;
    if (!e) {
        e = byoc_store_provider_get(app->store, provider_id, &p);
        if (!e)
            byoc_provider_release(&p);
        else if (e == BYOC_ERR_NOT_FOUND)
            e = BYOC_ERR_TOKEN_INVALID; /* the provider was deleted: its tokens die with it */
    }
    if (!e)
        return true;
    if (e == BYOC_ERR_UNAUTHORIZED || e == BYOC_ERR_TOKEN_INVALID) {
        byoc_reply_header(req, "WWW-Authenticate",
                          token ? "Bearer realm=\"byocd\", error=\"invalid_token\""
                                : "Bearer realm=\"byocd\"");
        byoc_reply_error(req, token ? BYOC_ERR_TOKEN_INVALID : BYOC_ERR_UNAUTHORIZED,
                         token ? NULL : "a bearer token from the authorization URL is required");
    } else {
        byoc_reply_error(req, e, NULL);
    }
    return false;
}
