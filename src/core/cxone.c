#include "byoc/cxone.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/crypto.h"
#include "byoc/buf.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/metrics.h"
#include "byoc/outbound.h"
#include "byoc/util.h"
#include "byoc/compiler.h"
#include "byoc/banned.h"

#define DFO "/dfo/3.0"
#define URL_CAP (BYOC_URL_MAX + 3 * BYOC_EXTERNAL_ID_MAX + 64)
/* CXone is a public cloud service: a link-local address (169.254.169.254, the cloud metadata
 * service, in any notation or behind any name) is never it, and must not receive the provider's
 * client secret or access key. Loopback and private addresses stay allowed (fakes, proxies). */
#define CXONE_DENY_LINK_LOCAL true

/* CXone's message from {"errors":[{"message"}]} or {"message"} into detail. */
static void take_detail(const struct byoc_out_resp *resp, char *detail)
{
    if (!detail)
        return;
    detail[0] = '\0';
    cJSON *j = NULL;
    if (byoc_json_parse(resp->body, resp->body_len, &j) != BYOC_ERR_OK)
        return;
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
    const cJSON *first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : j;
    const char *msg = byoc_json_str(first, "message");
    if (!msg)
        msg = byoc_json_str(j, "error_description");
    if (msg)
        snprintf(detail, BYOC_CXONE_DETAIL_MAX, "%s", msg);
    cJSON_Delete(j);
}

static enum byoc_err map_status(long status)
{
    if (status >= 200 && status < 300)
        return BYOC_ERR_OK;
    if (status == 401 || status == 403)
        return BYOC_ERR_UPSTREAM_AUTH;
    if (status == 404)
        return BYOC_ERR_NOT_FOUND;
    if (status == 409)
        return BYOC_ERR_CONFLICT;
    return BYOC_ERR_UPSTREAM;
}

/* The /metrics label of a CXone URL built in this file. */
static const char *endpoint_of(const char *url)
{
    static const struct {
        const char *part, *label;
    } parts[] = {{"/.well-known/cxone-configuration", "discovery"},
                 {"/one-time-token/verification", "ott_verification"},
                 {"/attachments/", "attachments"},
                 {"/routing-queue", "routing_queue"},
                 {"/sender-actions", "sender_actions"},
                 {"/threads/", "threads"},
                 {"/messages", "messages"},
                 {"/channels", "channels"},
                 {"/skills/", "skill_summary"},
                 {"/signal", "signal"}};
    for (size_t i = 0; i < BYOC_ARRAY_LEN(parts); i++) {
        if (strstr(url, parts[i].part))
            return parts[i].label;
    }
    return "other";
}

/* Performs one JSON call; on 2xx *json gets the parsed answer (NULL for an empty body). */
static enum byoc_err call(const char *method, const char *url, const char *bearer,
                          const cJSON *body, cJSON **json, char *detail)
{
    char *text = body ? byoc_json_render(body) : NULL;
    if (body && !text)
        return BYOC_ERR_NOMEM;
    struct byoc_out_req req = {.method = method,
                               .url = url,
                               .bearer = bearer,
                               .content_type = text ? "application/json" : NULL,
                               .body = text,
                               .body_len = text ? strlen(text) : 0,
                               .metric = endpoint_of(url),
                               .deny_link_local = CXONE_DENY_LINK_LOCAL};
    struct byoc_out_resp resp = {0};
    enum byoc_err e = byoc_out_do(&req, &resp);
    free(text);
    if (detail)
        detail[0] = '\0';
    if (e)
        return e == BYOC_ERR_TOO_LARGE ? BYOC_ERR_UPSTREAM : e;
    e = map_status(resp.status);
    if (e)
        take_detail(&resp, detail);
    else if (json && resp.body_len && byoc_json_parse(resp.body, resp.body_len, json))
        e = BYOC_ERR_UPSTREAM;
    byoc_out_resp_release(&resp);
    return e;
}

static bool url_for(char *out, const char *api_base, const char *suffix, const char *id)
{
    char esc[3 * BYOC_EXTERNAL_ID_MAX + 1] = "";
    if (id && !byoc_url_escape(id, esc, sizeof esc))
        return false;
    int n = snprintf(out, URL_CAP, "%s" DFO "%s%s%s", api_base, suffix, id ? "/" : "", esc);
    return n > 0 && n < URL_CAP;
}

static cJSON *number_or_string(const char *decimal)
{
    int64_t v;
    return byoc_parse_i64(decimal, 0, INT64_MAX, &v) ? cJSON_CreateNumber((double)v)
                                                     : cJSON_CreateString(decimal);
}

enum byoc_err byoc_cxone_verify_ott(const char *api_base, const char *brand_id, const char *user_id,
                                    const char *token, struct byoc_cxone_admin *out, char *detail)
{
    char url[URL_CAP];
    if (!url_for(url, api_base, "/one-time-token/verification", NULL))
        return BYOC_ERR_INVALID;
    cJSON *body = cJSON_CreateObject(), *answer = NULL;
    bool ok = body && cJSON_AddItemToObject(body, "brandId", number_or_string(brand_id)) &&
              cJSON_AddItemToObject(body, "userId", number_or_string(user_id)) &&
              byoc_json_add_str(body, "purpose", "channel-integration") &&
              byoc_json_add_str(body, "token", token);
    enum byoc_err e = ok ? call("POST", url, NULL, body, &answer, detail) : BYOC_ERR_NOMEM;
    cJSON_Delete(body);
    if (e)
        return e;
    const char *at = byoc_json_str(answer, "accessToken");
    if (!at)
        at = byoc_json_str(answer, "access_token");
    char tenant[BYOC_EXTERNAL_ID_MAX + 1];
    const cJSON *brand = cJSON_GetObjectItemCaseSensitive(answer, "brand");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(answer, "user");
    *out = (struct byoc_cxone_admin){0};
    ok = true;
    out->access_token = byoc_strdup_opt(at, &ok);
    out->tenant_id = byoc_json_id(brand, "tenantId", tenant, sizeof tenant)
                         ? byoc_strdup_opt(tenant, &ok)
                         : NULL;
    out->user_name = byoc_strdup_opt(byoc_json_str(user, "firstName"), &ok);
    cJSON_Delete(answer);
    if (!ok || !out->access_token) {
        byoc_cxone_admin_release(out);
        return ok ? BYOC_ERR_UPSTREAM : BYOC_ERR_NOMEM;
    }
    return BYOC_ERR_OK;
}

void byoc_cxone_admin_release(struct byoc_cxone_admin *a)
{
    if (!a)
        return;
    byoc_free_secret(a->access_token);
    free(a->tenant_id);
    free(a->user_name);
    *a = (struct byoc_cxone_admin){0};
}

static bool channel_from(const cJSON *j, struct byoc_cxone_channel *out)
{
    char id[BYOC_EXTERNAL_ID_MAX + 1];
    *out = (struct byoc_cxone_channel){0};
    if (!cJSON_IsObject(j) || !byoc_json_id(j, "id", id, sizeof id))
        return false;
    bool ok = true;
    out->id = byoc_strdup_opt(id, &ok);
    out->name = byoc_strdup_opt(byoc_json_str(j, "name"), &ok);
    out->integration_id = byoc_strdup_opt(byoc_json_str(j, "channelIntegrationId"), &ok);
    if (!ok)
        byoc_cxone_channel_release(out);
    return ok;
}

static const cJSON *channel_array(const cJSON *answer)
{
    static const char *const keys[] = {"channels", "data", "items"};
    if (cJSON_IsArray(answer))
        return answer;
    for (size_t i = 0; i < BYOC_ARRAY_LEN(keys); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(answer, keys[i]);
        if (cJSON_IsArray(a))
            return a;
    }
    return NULL;
}

enum byoc_err byoc_cxone_channels_list(const char *api_base, const char *bearer,
                                       struct byoc_cxone_channel **out, size_t *n, char *detail)
{
    char url[URL_CAP];
    cJSON *answer = NULL;
    if (!url_for(url, api_base, "/channels", NULL))
        return BYOC_ERR_INVALID;
    enum byoc_err e = call("GET", url, bearer, NULL, &answer, detail);
    const cJSON *arr = e ? NULL : channel_array(answer);
    if (!e && !arr)
        e = BYOC_ERR_UPSTREAM;
    int count = arr ? cJSON_GetArraySize(arr) : 0;
    struct byoc_cxone_channel *list = e ? NULL : calloc((size_t)count + 1, sizeof *list);
    if (!e && !list)
        e = BYOC_ERR_NOMEM;
    size_t got = 0;
    const cJSON *it;
    if (e)
        arr = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (channel_from(it, &list[got])) /* entries without an id are skipped */
            got++;
    }
    cJSON_Delete(answer);
    if (e)
        return e;
    *out = list;
    *n = got;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_cxone_channel_get(const char *api_base, const char *bearer, const char *id,
                                     struct byoc_cxone_channel *out, char *detail)
{
    char url[URL_CAP];
    cJSON *answer = NULL;
    if (!url_for(url, api_base, "/channels", id))
        return BYOC_ERR_INVALID;
    enum byoc_err e = call("GET", url, bearer, NULL, &answer, detail);
    if (!e && !channel_from(answer, out))
        e = BYOC_ERR_UPSTREAM;
    cJSON_Delete(answer);
    return e;
}

static cJSON *channel_body(const char *id, const char *name, const char *integration_id)
{
    cJSON *b = cJSON_CreateObject();
    bool ok = b && byoc_json_add_str(b, "id", id) &&
              byoc_json_add_str(b, "idOnExternalPlatform", id) &&
              byoc_json_add_str(b, "channelIntegrationId", integration_id) &&
              byoc_json_add_str(b, "realExternalPlatformId", "custom") &&
              byoc_json_add_str(b, "name", name) && cJSON_AddFalseToObject(b, "isPrivate") &&
              cJSON_AddFalseToObject(b, "hasTreeStructure") &&
              cJSON_AddTrueToObject(b, "hasAbilityToSendFiles");
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

enum byoc_err byoc_cxone_channel_create(const char *api_base, const char *bearer, const char *id,
                                        const char *name, const char *integration_id,
                                        char **created_id, char *detail)
{
    char url[URL_CAP];
    cJSON *answer = NULL, *body = channel_body(id, name, integration_id);
    if (!body)
        return BYOC_ERR_NOMEM;
    enum byoc_err e = url_for(url, api_base, "/channels", NULL)
                          ? call("POST", url, bearer, body, &answer, detail)
                          : BYOC_ERR_INVALID;
    cJSON_Delete(body);
    char got[BYOC_EXTERNAL_ID_MAX + 1];
    if (!e) {
        *created_id = strdup(byoc_json_id(answer, "id", got, sizeof got) ? got : id);
        e = *created_id ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    cJSON_Delete(answer);
    return e;
}

enum byoc_err byoc_cxone_channel_delete(const char *api_base, const char *bearer, const char *id,
                                        char *detail)
{
    char url[URL_CAP];
    if (!url_for(url, api_base, "/channels", id))
        return BYOC_ERR_INVALID;
    return call("DELETE", url, bearer, NULL, NULL, detail);
}

void byoc_cxone_channel_release(struct byoc_cxone_channel *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->name);
    free(c->integration_id);
    *c = (struct byoc_cxone_channel){0};
}

void byoc_cxone_channel_list_free(struct byoc_cxone_channel *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        byoc_cxone_channel_release(&c[i]);
    free(c);
}

/* ---- access tokens ---- */

struct token_slot {
    char provider_id[BYOC_ID_MAX];
    char *token;
    int64_t expires_ms; /* monotonic */
    int64_t used_ms;
    bool refreshing; /* one thread is fetching for this provider; the others wait */
};

struct byoc_cxone_tokens {
    pthread_mutex_t mu; /* never held across a network call */
    pthread_cond_t refreshed;
    struct token_slot slots[BYOC_CXONE_TOKEN_CACHE];
};

enum byoc_err byoc_cxone_tokens_new(struct byoc_cxone_tokens **out)
{
    struct byoc_cxone_tokens *t = calloc(1, sizeof *t);
    if (!t)
        return BYOC_ERR_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->refreshed, NULL);
    *out = t;
    return BYOC_ERR_OK;
}

static void slot_clear(struct token_slot *s)
{
    byoc_free_secret(s->token);
    *s = (struct token_slot){0};
}

void byoc_cxone_tokens_free(struct byoc_cxone_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < BYOC_CXONE_TOKEN_CACHE; i++)
        slot_clear(&t->slots[i]);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->refreshed);
    free(t);
}

/* The provider's slot, or the least recently used idle one (cleared); NULL when every slot is
 * being refreshed. Lock held. */
static struct token_slot *slot_for(struct byoc_cxone_tokens *t, const char *provider_id)
{
    struct token_slot *lru = NULL;
    for (size_t i = 0; i < BYOC_CXONE_TOKEN_CACHE; i++) {
        struct token_slot *s = &t->slots[i];
        if (strcmp(s->provider_id, provider_id) == 0)
            return s;
        if (!s->refreshing && (!lru || s->used_ms < lru->used_ms))
            lru = s;
    }
    if (lru) {
        slot_clear(lru);
        byoc_strlcpy(lru->provider_id, provider_id, sizeof lru->provider_id);
    }
    return lru;
}

/* POST auth_url grant_type=password (form) with Basic client auth. */
static enum byoc_err fetch_token(const struct byoc_cxone_creds *c, char **token,
                                 int64_t *expires_in_s, char *detail)
{
    struct byoc_buf form;
    byoc_buf_init(&form, 4 * BYOC_SECRET_MAX + 64);
    char eu[3 * BYOC_SECRET_MAX + 1], ep[3 * BYOC_SECRET_MAX + 1];
    enum byoc_err e =
        (byoc_url_escape(c->access_key_id, eu, sizeof eu) &&
         byoc_url_escape(c->access_key_secret, ep, sizeof ep))
            ? byoc_buf_printf(&form, "grant_type=password&username=%s&password=%s", eu, ep)
            : BYOC_ERR_INVALID;
    byoc_wipe(ep, sizeof ep);
    struct byoc_out_req req = {.method = "POST",
                               .url = c->auth_url,
                               .content_type = "application/x-www-form-urlencoded",
                               .body = form.data,
                               .body_len = form.len,
                               .basic_user = c->client_id,
                               .basic_password = c->client_secret,
                               .metric = "token",
                               .deny_link_local = CXONE_DENY_LINK_LOCAL};
    struct byoc_out_resp resp = {0};
    if (!e)
        e = byoc_out_do(&req, &resp);
    if (form.data)
        byoc_wipe(form.data, form.len);
    byoc_buf_release(&form);
    if (!e && map_status(resp.status)) {
        take_detail(&resp, detail);
        e = resp.status == 400 || resp.status == 401 || resp.status == 403 ? BYOC_ERR_UPSTREAM_AUTH
                                                                           : BYOC_ERR_UPSTREAM;
    }
    cJSON *j = NULL;
    if (!e && byoc_json_parse(resp.body, resp.body_len, &j) != BYOC_ERR_OK)
        e = BYOC_ERR_UPSTREAM;
    const char *at = e ? NULL : byoc_json_str(j, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (!e && !at)
        e = BYOC_ERR_UPSTREAM;
    if (!e) {
        *token = strdup(at);
        *expires_in_s =
            cJSON_IsNumber(exp) && exp->valuedouble > 0 ? (int64_t)exp->valuedouble : 3600;
        e = *token ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    cJSON_Delete(j);
    if (resp.body)
        byoc_wipe(resp.body, resp.body_len);
    byoc_out_resp_release(&resp);
    return e == BYOC_ERR_TOO_LARGE ? BYOC_ERR_UPSTREAM : e;
}

/* Fit to hand out: not near expiry, and not the token CXone just rejected (if another caller
 * already replaced that one, the replacement answers this caller's 401 too). */
static bool usable(const struct token_slot *s, const char *rejected, int64_t now)
{
    if (!s->token || now >= s->expires_ms - BYOC_CXONE_TOKEN_EARLY_MS)
        return false;
    return !rejected || strcmp(s->token, rejected) != 0;
}

/* Fetches outside the lock, with the slot marked so others wait instead of fetching too. */
static enum byoc_err refresh(struct byoc_cxone_tokens *t, struct token_slot *s,
                             const struct byoc_cxone_creds *c, char *detail)
{
    s->refreshing = true;
    pthread_mutex_unlock(&t->mu);
    char *fresh = NULL;
    int64_t ttl = 0;
    enum byoc_err e = fetch_token(c, &fresh, &ttl, detail);
    byoc_metrics_token_refresh(e == BYOC_ERR_OK);
    pthread_mutex_lock(&t->mu);
    if (!e) { /* a refreshing slot is never evicted: s is still this provider's */
        byoc_free_secret(s->token);
        s->token = fresh;
        s->expires_ms = byoc_mono_ms() + ttl * 1000;
    }
    s->refreshing = false;
    pthread_cond_broadcast(&t->refreshed);
    return e;
}

enum byoc_err byoc_cxone_token(struct byoc_cxone_tokens *t, const struct byoc_cxone_creds *c,
                               const char *rejected, char **token, char *detail)
{
    if (detail)
        detail[0] = '\0';
    pthread_mutex_lock(&t->mu);
    struct token_slot *s = slot_for(t, c->provider_id);
    while (!s || s->refreshing) { /* another thread is fetching this provider's token */
        pthread_cond_wait(&t->refreshed, &t->mu);
        s = slot_for(t, c->provider_id);
    }
    enum byoc_err e = usable(s, rejected, byoc_mono_ms()) ? BYOC_ERR_OK : refresh(t, s, c, detail);
    s->used_ms = byoc_mono_ms();
    *token = e ? NULL : strdup(s->token);
    if (!e && !*token)
        e = BYOC_ERR_NOMEM;
    pthread_mutex_unlock(&t->mu);
    return e;
}

/* ---- messaging ---- */

void byoc_cxone_result_release(struct byoc_cxone_result *r)
{
    if (!r)
        return;
    free(r->case_id);
    free(r->contact_id);
    free(r->interaction_id);
    r->case_id = r->contact_id = r->interaction_id = NULL;
}

static char *id_member(const cJSON *obj, const char *key)
{
    char id[BYOC_EXTERNAL_ID_MAX + 1];
    return byoc_json_id(obj, key, id, sizeof id) ? strdup(id) : NULL;
}

static void take_contact(const struct byoc_out_resp *resp, struct byoc_cxone_result *r)
{
    cJSON *j = NULL;
    if (byoc_json_parse(resp->body, resp->body_len, &j) != BYOC_ERR_OK)
        return;
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(j, "consumerContact");
    if (!cJSON_IsObject(cc))
        cc = cJSON_GetObjectItemCaseSensitive(j, "case");
    if (cJSON_IsObject(cc)) {
        r->case_id = id_member(cc, "id");
        r->contact_id = id_member(cc, "contactId");
        r->interaction_id = id_member(cc, "interactionId");
    }
    cJSON_Delete(j);
}

/* One call; on 2xx *answer (if asked for) gets the parsed body, NULL when it is not JSON. */
static void raw_call_json(const char *method, const char *url, const char *bearer,
                          const cJSON *body, struct byoc_cxone_result *r, cJSON **answer)
{
    *r = (struct byoc_cxone_result){.retry_after_s = -1};
    char *text = body ? byoc_json_render(body) : NULL;
    struct byoc_out_req req = {.method = method,
                               .url = url,
                               .bearer = bearer,
                               .content_type = text ? "application/json" : NULL,
                               .body = text,
                               .body_len = text ? strlen(text) : 0,
                               .metric = endpoint_of(url),
                               .deny_link_local = CXONE_DENY_LINK_LOCAL};
    struct byoc_out_resp resp = {0};
    r->err = (body && !text) ? BYOC_ERR_NOMEM : byoc_out_do(&req, &resp);
    free(text);
    if (r->err)
        return;
    r->status = resp.status;
    r->retry_after_s = resp.retry_after_s;
    if (resp.status >= 200 && resp.status < 300)
        take_contact(&resp, r);
    else
        take_detail(&resp, r->detail);
    if (answer && resp.status >= 200 && resp.status < 300 &&
        byoc_json_parse(resp.body, resp.body_len, answer) != BYOC_ERR_OK)
        *answer = NULL;
    byoc_out_resp_release(&resp);
}

static void raw_call(const char *method, const char *url, const char *bearer, const cJSON *body,
                     struct byoc_cxone_result *r)
{
    raw_call_json(method, url, bearer, body, r, NULL);
}

void byoc_cxone_post_message(const char *api_base, const char *bearer, const char *channel_id,
                             const cJSON *body, struct byoc_cxone_result *r)
{
    char url[URL_CAP], esc[3 * BYOC_EXTERNAL_ID_MAX + 1];
    if (!byoc_url_escape(channel_id, esc, sizeof esc) ||
        snprintf(url, sizeof url, "%s" DFO "/channels/%s/messages", api_base, esc) >= URL_CAP) {
        *r = (struct byoc_cxone_result){.err = BYOC_ERR_INVALID, .retry_after_s = -1};
        return;
    }
    raw_call("POST", url, bearer, body, r);
}

/* {api}/dfo/3.0/channels/{channel}/threads/{thread}[suffix] into url. */
static bool thread_url(char *url, const char *api_base, const char *channel_id,
                       const char *thread_id, const char *suffix)
{
    char ec[3 * BYOC_EXTERNAL_ID_MAX + 1], et[3 * BYOC_EXTERNAL_ID_MAX + 1];
    return byoc_url_escape(channel_id, ec, sizeof ec) &&
           byoc_url_escape(thread_id, et, sizeof et) &&
           snprintf(url, URL_CAP, "%s" DFO "/channels/%s/threads/%s%s", api_base, ec, et, suffix) <
               URL_CAP;
}

static void call_with(const char *method, const char *url, bool url_ok, const char *bearer,
                      cJSON *body, struct byoc_cxone_result *r)
{
    if (!url_ok || !body)
        *r = (struct byoc_cxone_result){.err = url_ok ? BYOC_ERR_NOMEM : BYOC_ERR_INVALID,
                                        .retry_after_s = -1};
    else
        raw_call(method, url, bearer, body, r);
    cJSON_Delete(body);
}

void byoc_cxone_typing(const char *api_base, const char *bearer, const char *channel_id,
                       const char *thread_id, bool typing, struct byoc_cxone_result *r)
{
    char url[URL_CAP];
    bool ok = thread_url(url, api_base, channel_id, thread_id, "/sender-actions");
    cJSON *b = cJSON_CreateObject();
    if (b && !byoc_json_add_str(b, "action", typing ? "isTypingOn" : "isTypingOff")) {
        cJSON_Delete(b);
        b = NULL;
    }
    call_with("POST", url, ok, bearer, b, r);
}

void byoc_cxone_close_thread(const char *api_base, const char *bearer, const char *channel_id,
                             const char *thread_id, struct byoc_cxone_result *r)
{
    char url[URL_CAP];
    bool ok = thread_url(url, api_base, channel_id, thread_id, "");
    cJSON *b = cJSON_CreateObject();
    if (b && !cJSON_AddFalseToObject(b, "canAddMoreMessages")) {
        cJSON_Delete(b);
        b = NULL;
    }
    call_with("PUT", url, ok, bearer, b, r);
}

void byoc_cxone_routing_queue(const char *api_base, const char *bearer, const char *case_id,
                              const char *queue_id, struct byoc_cxone_result *r)
{
    char url[URL_CAP], esc[3 * BYOC_EXTERNAL_ID_MAX + 1];
    bool ok =
        byoc_url_escape(case_id, esc, sizeof esc) &&
        snprintf(url, sizeof url, "%s" DFO "/contacts/%s/routing-queue", api_base, esc) < URL_CAP;
    cJSON *b = cJSON_CreateObject();
    if (b && !byoc_json_add_str(b, "routingQueueId", queue_id)) {
        cJSON_Delete(b);
        b = NULL;
    }
    call_with("PUT", url, ok, bearer, b, r);
}

static long count_of(const cJSON *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (cJSON_IsNumber(v))
            return (long)v->valuedouble;
        if (cJSON_IsString(v)) {
            int64_t x;
            if (byoc_parse_i64(v->valuestring, 0, INT32_MAX, &x))
                return (long)x;
        }
    }
    return -1;
}

static void read_summary(const cJSON *answer, struct byoc_cxone_skill_summary *out)
{
    static const char *const avail[] = {"agentsAvailable"}, *const idle[] = {"agentsIdle"};
    static const char *const logged[] = {"agentsLoggedIn"};
    static const char *const queue[] = {"contactsQueued", "queueCount", "inQueue"};
    static const char *const wait[] = {"longestQueueDur", "longestWaitTime"};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(answer, "skillSummaries");
    const cJSON *s = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : answer;
    out->found = cJSON_IsObject(s);
    if (!out->found)
        return;
    out->agents_available = count_of(s, avail, 1);
    out->agents_idle = count_of(s, idle, 1);
    out->agents_logged_in = count_of(s, logged, 1);
    out->queue_length = count_of(s, queue, BYOC_ARRAY_LEN(queue));
    out->longest_wait_s = count_of(s, wait, BYOC_ARRAY_LEN(wait));
}

void byoc_cxone_skill_summary(const char *api_base, const char *reporting_path, const char *bearer,
                              const char *skill_id, int64_t now_ms,
                              struct byoc_cxone_skill_summary *out, struct byoc_cxone_result *r)
{
    char url[URL_CAP], esc[3 * BYOC_EXTERNAL_ID_MAX + 1], from[BYOC_TIME_ISO_MAX],
        to[BYOC_TIME_ISO_MAX];
    byoc_time_iso(now_ms - 3600 * 1000, from);
    byoc_time_iso(now_ms, to);
    *out = (struct byoc_cxone_skill_summary){0};
    if (!byoc_url_escape(skill_id, esc, sizeof esc) ||
        snprintf(url, sizeof url, "%s%s/skills/%s/summary?startDate=%s&endDate=%s", api_base,
                 reporting_path, esc, from, to) >= URL_CAP) {
        *r = (struct byoc_cxone_result){.err = BYOC_ERR_INVALID, .retry_after_s = -1};
        return;
    }
    cJSON *answer = NULL;
    raw_call_json("GET", url, bearer, NULL, r, &answer);
    if (answer)
        read_summary(answer, out);
    cJSON_Delete(answer);
}

void byoc_cxone_signal(const char *api_base, const char *services_path, const char *bearer,
                       const char *contact_id, const char *const *params, size_t nparams,
                       struct byoc_cxone_result *r)
{
    struct byoc_buf url;
    byoc_buf_init(&url, URL_CAP + 9 * (3 * BYOC_SIGNAL_PARAM_MAX + 8));
    char esc[3 * BYOC_SIGNAL_PARAM_MAX + 1];
    bool ok = nparams <= 9 && byoc_url_escape(contact_id, esc, sizeof esc) &&
              byoc_buf_printf(&url, "%s%s/interactions/%s/signal", api_base, services_path, esc) ==
                  BYOC_ERR_OK;
    for (size_t i = 0; ok && i < nparams; i++)
        ok = byoc_url_escape(params[i], esc, sizeof esc) &&
             byoc_buf_printf(&url, "%sp%zu=%s", i ? "&" : "?", i + 1, esc) == BYOC_ERR_OK;
    if (ok)
        raw_call("POST", url.data, bearer, NULL, r);
    else
        *r = (struct byoc_cxone_result){.err = BYOC_ERR_INVALID, .retry_after_s = -1};
    byoc_buf_release(&url);
}

/* GET a private attachment; false with r filled (as if CXone had answered) when it fails. */
static bool fetch_private(const char *url, struct byoc_out_resp *resp, struct byoc_cxone_result *r)
{
    struct byoc_out_req req = {.method = "GET",
                               .url = url,
                               .max_response = BYOC_ATTACHMENT_UPLOAD_MAX,
                               .deny_link_local = true};
    r->err = byoc_out_do(&req, resp);
    if (r->err == BYOC_ERR_TOO_LARGE || r->err == BYOC_ERR_INVALID ||
        r->err == BYOC_ERR_FORBIDDEN) {
        snprintf(r->detail, sizeof r->detail, "%s",
                 r->err == BYOC_ERR_FORBIDDEN
                     ? "the attachment URL points at a link-local address byocd does not fetch"
                     : "the attachment is over 5 MiB or its URL is bad");
        r->err = BYOC_ERR_OK;
        r->status = 413; /* a client error: the message fails, no retry */
        return false;
    }
    if (r->err)
        return false;
    if (resp->status < 200 || resp->status >= 300) {
        snprintf(r->detail, sizeof r->detail, "fetching the private attachment answered %ld",
                 resp->status);
        /* The file host is not CXone: none of CXone's status rules apply. Its 4xx fails the
         * message, anything else is retried. */
        r->status = resp->status >= 400 && resp->status < 500 ? 422 : 502;
        byoc_out_resp_release(resp);
        return false;
    }
    return true;
}

void byoc_cxone_upload_attachment(const char *api_base, const char *bearer, const char *url,
                                  const char *mime_type, char **cxone_url,
                                  struct byoc_cxone_result *r)
{
    *r = (struct byoc_cxone_result){.retry_after_s = -1};
    *cxone_url = NULL;
    struct byoc_out_resp file = {0};
    if (!fetch_private(url, &file, r))
        return;
    if (file.body_len == 0) {
        byoc_out_resp_release(&file);
        r->status = 400; /* nothing to upload: a client error */
        snprintf(r->detail, sizeof r->detail, "the private attachment is empty");
        return;
    }
    size_t cap = 4 * ((file.body_len + 2) / 3) + 1;
    char *b64 = malloc(cap);
    cJSON *body = cJSON_CreateObject(), *answer = NULL;
    bool ok =
        b64 && body && byoc_base64_encode(file.body, file.body_len, b64, cap) > 0 &&
        byoc_json_add_str(body, "content", b64) &&
        byoc_json_add_str(body, "mimeType", mime_type ? mime_type : "application/octet-stream");
    byoc_out_resp_release(&file);
    free(b64);
    char target[URL_CAP];
    snprintf(target, sizeof target, "%s" DFO "/attachments/temporary", api_base);
    if (ok)
        raw_call_json("POST", target, bearer, body, r, &answer);
    else
        *r = (struct byoc_cxone_result){.err = BYOC_ERR_NOMEM, .retry_after_s = -1};
    cJSON_Delete(body);
    const char *got = byoc_json_str(answer, "url");
    if (!r->err && r->status == 409)
        r->status = 502; /* a conflict on a fresh upload says nothing about the message */
    if (!r->err && r->status >= 200 && r->status < 300) {
        *cxone_url = got ? strdup(got) : NULL;
        if (!*cxone_url) { /* an answer without a URL is of no use */
            r->status = 502;
            snprintf(r->detail, sizeof r->detail, "attachments/temporary answered without a url");
        }
    }
    cJSON_Delete(answer);
}

enum byoc_err byoc_cxone_discover(const char *auth_url, const char *tenant_id, char **api_endpoint,
                                  char *detail)
{
    char host[BYOC_URL_MAX], esc[3 * BYOC_EXTERNAL_ID_MAX + 1], url[URL_CAP];
    const char *scheme = strncmp(auth_url, "https://", 8) == 0 ? "https" : "http";
    if (!byoc_url_authority(auth_url, host, sizeof host) ||
        !byoc_url_escape(tenant_id, esc, sizeof esc) ||
        snprintf(url, sizeof url, "%s://%s/.well-known/cxone-configuration?tenantId=%s", scheme,
                 host, esc) >= URL_CAP)
        return BYOC_ERR_INVALID;
    cJSON *answer = NULL;
    enum byoc_err e = call("GET", url, NULL, NULL, &answer, detail);
    const char *api = e ? NULL : byoc_json_str(answer, "api_endpoint");
    if (!e && (!api || !byoc_url_valid(api))) {
        e = BYOC_ERR_UPSTREAM;
        if (detail)
            snprintf(detail, BYOC_CXONE_DETAIL_MAX, "no usable api_endpoint in the answer");
    }
    if (!e) {
        *api_endpoint = strdup(api);
        size_t n = *api_endpoint ? strlen(*api_endpoint) : 0;
        while (n > 0 && (*api_endpoint)[n - 1] == '/')
            (*api_endpoint)[--n] = '\0';
        e = *api_endpoint ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    cJSON_Delete(answer);
    return e;
}

void byoc_cxone_with_token(struct byoc_cxone_tokens *t, const struct byoc_cxone_creds *c,
                           byoc_cxone_call_fn run, void *arg, struct byoc_cxone_result *r,
                           bool *token_failed)
{
    *r = (struct byoc_cxone_result){.retry_after_s = -1};
    *token_failed = false;
    char *rejected = NULL;
    for (int round = 0; round < 2; round++) {
        char *token = NULL;
        char detail[BYOC_CXONE_DETAIL_MAX];
        enum byoc_err e = byoc_cxone_token(t, c, rejected, &token, detail);
        byoc_cxone_result_release(r);
        if (e) {
            *r = (struct byoc_cxone_result){.err = e, .retry_after_s = -1};
            snprintf(r->detail, sizeof r->detail, "%s", detail);
            *token_failed = true;
            break;
        }
        run(token, arg, r);
        byoc_free_secret(rejected);
        rejected = token; /* kept only to tell the cache which token CXone refused */
        if (r->err || r->status != 401)
            break;
    }
    byoc_free_secret(rejected);
}
