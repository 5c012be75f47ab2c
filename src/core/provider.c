#include "byoc/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/json.h"
#include "byoc/util.h"
#include "byoc/webhook.h"
#include "byoc/banned.h"

static const char *const sealed_names[] = {
    [BYOC_SEALED_CXONE_CLIENT_SECRET] = "cxone_client_secret",
    [BYOC_SEALED_ACCESS_KEY_SECRET] = "cxone_access_key_secret",
    [BYOC_SEALED_WEBHOOK_SECRET] = "webhook_secret",
    [BYOC_SEALED_ACTION_TOKEN] = "action_access_token",
};

bool byoc_name_valid(const char *s)
{
    size_t n = strlen(s), chars = 0;
    if (n == 0 || n > 4 * BYOC_NAME_MAX || !byoc_utf8_valid(s, n))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        chars += (*p & 0xC0) != 0x80; /* count characters, as the form's maxlength does */
    }
    return chars <= BYOC_NAME_MAX;
}

static bool credential_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > BYOC_SECRET_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x21 || *p > 0x7e)
            return false;
    }
    return true;
}

enum byoc_err byoc_provider_input_check(const struct byoc_provider_input *in, char *why, size_t cap)
{
    struct {
        const char *field, *value;
        int kind; /* 0 name, 1 url, 2 credential */
        bool optional;
    } rows[] = {
        {"name", in->name, 0, false},
        {"webhook_url", in->webhook_url, 1, false},
        {"cxone.auth_url", in->auth_url, 1, false},
        {"cxone.api_base_url", in->api_base_url, 1, in->tenant_id != NULL},
        {"cxone.tenant_id", in->tenant_id, 2, true},
        {"cxone.client_id", in->client_id, 2, false},
        {"cxone.client_secret", in->client_secret, 2, false},
        {"cxone.access_key_id", in->access_key_id, 2, false},
        {"cxone.access_key_secret", in->access_key_secret, 2, false},
        {"cxone.integration_id", in->integration_id, 2, true},
    };
    static const char *const expect[] = {
        "a name of 1 to 200 characters", "an absolute http(s) URL without query or credentials",
        "a non-empty string of printable characters without spaces (at most 512)"};
    if (in->transcript_mode && strcmp(in->transcript_mode, "combined") != 0 &&
        strcmp(in->transcript_mode, "per_turn") != 0) {
        snprintf(why, cap, "settings.transcript_mode: must be combined or per_turn");
        return BYOC_ERR_INVALID;
    }
    if (in->transcript_chunk_max != -1 && in->transcript_chunk_max != 0 &&
        (in->transcript_chunk_max < BYOC_TRANSCRIPT_CHUNK_MIN ||
         in->transcript_chunk_max > BYOC_TRANSCRIPT_CHUNK_MAX)) {
        snprintf(why, cap, "settings.transcript_chunk_max: must be %d to %d characters",
                 BYOC_TRANSCRIPT_CHUNK_MIN, BYOC_TRANSCRIPT_CHUNK_MAX);
        return BYOC_ERR_INVALID;
    }
    if (in->inactivity_timeout_s != -1 && in->inactivity_timeout_s != 0 &&
        (in->inactivity_timeout_s < BYOC_INACTIVITY_MIN_S ||
         in->inactivity_timeout_s > BYOC_INACTIVITY_MAX_S)) {
        snprintf(why, cap, "settings.inactivity_timeout_s: must be 0 (off) or %d to %d seconds",
                 BYOC_INACTIVITY_MIN_S, BYOC_INACTIVITY_MAX_S);
        return BYOC_ERR_INVALID;
    }
    for (size_t i = 0; i < BYOC_ARRAY_LEN(rows); i++) {
        const char *v = rows[i].value;
        if (!v && rows[i].optional)
            continue;
        bool ok = v && (rows[i].kind == 0   ? byoc_name_valid(v)
                        : rows[i].kind == 1 ? byoc_url_valid(v)
                                            : credential_ok(v));
        if (!ok) {
            snprintf(why, cap, "%s: %s %s", rows[i].field,
                     v ? "must be" : "is required:", expect[rows[i].kind]);
            return BYOC_ERR_INVALID;
        }
    }
    return BYOC_ERR_OK;
}

enum byoc_err byoc_seal_field(const struct byoc_keys *keys, const char *owner_id,
                              enum byoc_sealed_field f, const char *value, struct byoc_blob *out)
{
    char aad[BYOC_ID_MAX + 64];
    snprintf(aad, sizeof aad, "%s/%s", owner_id, sealed_names[f]);
    return byoc_seal(keys->seal, aad, value, strlen(value), &out->data, &out->len);
}

enum byoc_err byoc_unseal_field(const struct byoc_keys *keys, const char *owner_id,
                                enum byoc_sealed_field f, const struct byoc_blob *sealed,
                                char **out)
{
    char aad[BYOC_ID_MAX + 64];
    snprintf(aad, sizeof aad, "%s/%s", owner_id, sealed_names[f]);
    return byoc_unseal(keys->seal, aad, sealed->data, sealed->len, out, NULL);
}

static const char *const secret_prefixes[BYOC_SECRET_KINDS] = {"", "byk_", "bys_"};
static const char *const secret_names[BYOC_SECRET_KINDS] = {"client_secret", "bot_api_key",
                                                            "studio_secret"};

enum byoc_err byoc_provider_secret_new(enum byoc_provider_secret which,
                                       char out[BYOC_PROVIDER_SECRET_MAX],
                                       uint8_t hash[BYOC_SHA256_LEN])
{
    if ((int)which < 0 || which >= BYOC_SECRET_KINDS)
        return BYOC_ERR_INVALID;
    char body[BYOC_SECRET_CHARS + 1];
    enum byoc_err e = byoc_random_token(body, BYOC_SECRET_CHARS);
    if (!e) {
        snprintf(out, BYOC_PROVIDER_SECRET_MAX, "%s%s", secret_prefixes[which], body);
        byoc_sha256(out, strlen(out), hash);
    }
    byoc_wipe(body, sizeof body);
    return e;
}

const char *byoc_provider_secret_name(enum byoc_provider_secret which)
{
    return (int)which >= 0 && which < BYOC_SECRET_KINDS ? secret_names[which] : NULL;
}

bool byoc_provider_secret_parse(const char *name, enum byoc_provider_secret *out)
{
    for (int i = 0; name && i < BYOC_SECRET_KINDS; i++) {
        if (strcmp(name, secret_names[i]) == 0) {
            *out = (enum byoc_provider_secret)i;
            return true;
        }
    }
    return false;
}

static enum byoc_err mint_secrets(struct byoc_provider_secrets *s, struct byoc_provider *p)
{
    enum byoc_err e = byoc_provider_secret_new(BYOC_SECRET_BYOC_CLIENT, s->byoc_client_secret,
                                               p->byoc_client_secret_hash);
    if (!e)
        e = byoc_provider_secret_new(BYOC_SECRET_BOT_API_KEY, s->bot_api_key, p->bot_api_key_hash);
    if (!e)
        e = byoc_provider_secret_new(BYOC_SECRET_STUDIO, s->studio_secret, p->studio_secret_hash);
    if (!e)
        e = byoc_webhook_secret_new(s->webhook_secret);
    return e;
}

static enum byoc_err copy_fields(const struct byoc_provider_input *in, struct byoc_provider *p)
{
    bool ok = true;
    p->name = byoc_strdup_opt(in->name, &ok);
    p->webhook_url = byoc_strdup_opt(in->webhook_url, &ok);
    p->cxone_auth_url = byoc_strdup_opt(in->auth_url, &ok);
    p->cxone_api_base_url = byoc_strdup_opt(in->api_base_url, &ok);
    p->cxone_client_id = byoc_strdup_opt(in->client_id, &ok);
    p->cxone_access_key_id = byoc_strdup_opt(in->access_key_id, &ok);
    p->cxone_integration_id = byoc_strdup_opt(in->integration_id, &ok);
    if (ok && p->cxone_api_base_url) { /* stored without trailing slashes: paths are appended */
        size_t n = strlen(p->cxone_api_base_url);
        while (n > 0 && p->cxone_api_base_url[n - 1] == '/')
            p->cxone_api_base_url[--n] = '\0';
    }
    return ok ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

enum byoc_err byoc_provider_build(const struct byoc_keys *keys,
                                  const struct byoc_provider_input *in, int64_t now_ms,
                                  struct byoc_provider *out, struct byoc_provider_secrets *secrets)
{
    struct byoc_provider p = {0};
    char client_id[BYOC_ID_MAX];
    enum byoc_err e = byoc_id_new("prv", p.id);
    if (!e)
        e = byoc_id_new("cli", client_id);
    if (!e)
        e = mint_secrets(secrets, &p);
    if (!e)
        e = copy_fields(in, &p);
    if (!e) {
        p.byoc_client_id = strdup(client_id);
        e = p.byoc_client_id ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    if (!e)
        e = byoc_seal_field(keys, p.id, BYOC_SEALED_CXONE_CLIENT_SECRET, in->client_secret,
                            &p.cxone_client_secret_sealed);
    if (!e)
        e = byoc_seal_field(keys, p.id, BYOC_SEALED_ACCESS_KEY_SECRET, in->access_key_secret,
                            &p.cxone_access_key_secret_sealed);
    if (!e)
        e = byoc_seal_field(keys, p.id, BYOC_SEALED_WEBHOOK_SECRET, secrets->webhook_secret,
                            &p.webhook_secret_sealed);
    if (e) {
        byoc_provider_release(&p);
        byoc_provider_secrets_wipe(secrets);
        return e;
    }
    p.transcript_mode = (in->transcript_mode && strcmp(in->transcript_mode, "per_turn") == 0)
                            ? BYOC_TRANSCRIPT_PER_TURN
                            : BYOC_TRANSCRIPT_COMBINED;
    p.transcript_chunk_max =
        in->transcript_chunk_max > 0 ? in->transcript_chunk_max : BYOC_TRANSCRIPT_CHUNK_DEFAULT;
    p.inactivity_timeout_s = in->inactivity_timeout_s > 0 ? in->inactivity_timeout_s : 0;
    p.created_at = p.updated_at = now_ms;
    *out = p;
    return BYOC_ERR_OK;
}

/* An integral number within +-1e9, else -2 (range first: converting a huge double is undefined). */
static int64_t small_int(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < -1e9 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -2;
    return (int64_t)v->valuedouble;
}

void byoc_provider_input_from_json(const cJSON *b, struct byoc_provider_input *in)
{
    const cJSON *cx = cJSON_GetObjectItemCaseSensitive(b, "cxone");
    *in = (struct byoc_provider_input){
        .name = byoc_json_str(b, "name"),
        .webhook_url = byoc_json_str(b, "webhook_url"),
        .auth_url = byoc_json_str(cx, "auth_url"),
        .api_base_url = byoc_json_str(cx, "api_base_url"),
        .client_id = byoc_json_str(cx, "client_id"),
        .client_secret = byoc_json_str(cx, "client_secret"),
        .access_key_id = byoc_json_str(cx, "access_key_id"),
        .access_key_secret = byoc_json_str(cx, "access_key_secret"),
        .integration_id = byoc_json_str(cx, "integration_id"),
        .tenant_id = byoc_json_str(cx, "tenant_id"),
        .transcript_mode = NULL,
        .transcript_chunk_max = -1,
        .inactivity_timeout_s = -1,
    };
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(b, "settings");
    in->transcript_mode = byoc_json_str(set, "transcript_mode");
    const cJSON *chunk = cJSON_GetObjectItemCaseSensitive(set, "transcript_chunk_max");
    const cJSON *idle = cJSON_GetObjectItemCaseSensitive(set, "inactivity_timeout_s");
    /* A non-number, or one out of any range, gets -2 so that validation names the field. */
    if (chunk)
        in->transcript_chunk_max = small_int(chunk);
    if (idle)
        in->inactivity_timeout_s = small_int(idle);
}

void byoc_provider_secrets_wipe(struct byoc_provider_secrets *s)
{
    byoc_wipe(s, sizeof *s);
}

void byoc_provider_urls(const char *public_url, const char *provider_id,
                        struct byoc_provider_urls *out)
{
    snprintf(out->box, sizeof out->box, "%s/cxone/%s/box", public_url, provider_id);
    snprintf(out->token, sizeof out->token, "%s/cxone/%s/auth/token", public_url, provider_id);
    snprintf(out->add, sizeof out->add, "%s/cxone/%s/actions/add", public_url, provider_id);
    snprintf(out->reconnect, sizeof out->reconnect, "%s/cxone/%s/actions/reconnect", public_url,
             provider_id);
    snprintf(out->remove, sizeof out->remove, "%s/cxone/%s/actions/remove", public_url,
             provider_id);
}

enum byoc_err byoc_cxone_login_open(const struct byoc_keys *keys, const struct byoc_provider *p,
                                    struct byoc_cxone_login *out)
{
    *out = (struct byoc_cxone_login){0};
    enum byoc_err e = byoc_unseal_field(keys, p->id, BYOC_SEALED_CXONE_CLIENT_SECRET,
                                        &p->cxone_client_secret_sealed, &out->client_secret);
    if (!e)
        e = byoc_unseal_field(keys, p->id, BYOC_SEALED_ACCESS_KEY_SECRET,
                              &p->cxone_access_key_secret_sealed, &out->access_key_secret);
    if (e) {
        byoc_cxone_login_release(out);
        return e;
    }
    out->creds = (struct byoc_cxone_creds){.provider_id = p->id,
                                           .auth_url = p->cxone_auth_url,
                                           .client_id = p->cxone_client_id,
                                           .client_secret = out->client_secret,
                                           .access_key_id = p->cxone_access_key_id,
                                           .access_key_secret = out->access_key_secret};
    return BYOC_ERR_OK;
}

void byoc_cxone_login_release(struct byoc_cxone_login *l)
{
    if (!l)
        return;
    byoc_free_secret(l->client_secret);
    byoc_free_secret(l->access_key_secret);
    *l = (struct byoc_cxone_login){0};
}
