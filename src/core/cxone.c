#include "byoc/cxone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/outbound.h"
#include "byoc/util.h"
#include "byoc/banned.h"

#define DFO "/dfo/3.0"
#define URL_CAP (BYOC_URL_MAX + 3 * BYOC_EXTERNAL_ID_MAX + 64)

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
                               .body_len = text ? strlen(text) : 0};
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
    if (a->access_token)
        byoc_wipe(a->access_token, strlen(a->access_token));
    free(a->access_token);
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
