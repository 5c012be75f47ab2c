/* The only file that includes jwt.h. */
#include "byoc/auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jwt.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/banned.h"

#define AUDIENCE_MAX (BYOC_URL_MAX + 64)

enum byoc_err byoc_auth_init(struct byoc_auth *a, const uint8_t key[BYOC_KEY_LEN],
                             const char *issuer, int64_t ttl_s)
{
    memcpy(a->key, key, BYOC_KEY_LEN);
    a->issuer = strdup(issuer);
    a->ttl_s = ttl_s;
    return a->issuer ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

void byoc_auth_release(struct byoc_auth *a)
{
    if (!a)
        return;
    free(a->issuer);
    a->issuer = NULL;
    memset(a->key, 0, sizeof a->key);
}

void byoc_auth_audience(const struct byoc_auth *a, const char *provider_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/cxone/%s", a->issuer, provider_id);
}

/* The claims of a new token as compact JSON, malloc'd; NULL on NOMEM. */
static char *claims_json(const struct byoc_auth *a, const char *provider_id, const char *jti,
                         int64_t now_s)
{
    char aud[AUDIENCE_MAX];
    byoc_auth_audience(a, provider_id, aud, sizeof aud);
    cJSON *c = cJSON_CreateObject();
    bool ok = c && byoc_json_add_str(c, "iss", a->issuer) && byoc_json_add_str(c, "aud", aud) &&
              byoc_json_add_str(c, "sub", provider_id) && byoc_json_add_str(c, "jti", jti) &&
              cJSON_AddNumberToObject(c, "iat", (double)now_s) &&
              cJSON_AddNumberToObject(c, "exp", (double)(now_s + a->ttl_s));
    char *text = ok ? byoc_json_render(c) : NULL;
    cJSON_Delete(c);
    return text;
}

/* Tokens are signed here, not with libjwt: libjwt 1.10.2's jwt_encode_str() passes the NULL
 * of a failed allocation in jansson to strlen() and crashes (found by
 * tests/integration/test_alloc_fail.c). Verification stays with libjwt. */
enum byoc_err byoc_auth_issue(const struct byoc_auth *a, const char *provider_id, int64_t now_s,
                              char **token)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char jti[BYOC_ID_MAX];
    enum byoc_err e = byoc_id_new("jti", jti);
    if (e)
        return e;
    char *claims = claims_json(a, provider_id, jti, now_s);
    if (!claims)
        return BYOC_ERR_NOMEM;
    size_t claims_len = strlen(claims);
    /* base64 of n bytes takes 4 * ceil(n / 3) characters; three parts, two dots, a NUL. */
    size_t cap = 4 * ((sizeof header + 2) / 3) + 4 * ((claims_len + 2) / 3) +
                 4 * ((BYOC_SHA256_LEN + 2) / 3) + 3;
    char *out = malloc(cap);
    size_t n = 0, part = 0;
    bool ok = out && byoc_base64url_encode(header, sizeof header - 1, out, cap, &n);
    if (ok) {
        out[n++] = '.';
        ok = byoc_base64url_encode(claims, claims_len, out + n, cap - n, &part);
        n += part;
    }
    free(claims);
    if (ok) {
        uint8_t mac[BYOC_SHA256_LEN];
        byoc_hmac_sha256(a->key, sizeof a->key, out, n, mac);
        out[n++] = '.';
        ok = byoc_base64url_encode(mac, sizeof mac, out + n, cap - n, &part);
        byoc_wipe(mac, sizeof mac);
    }
    if (!ok) {
        e = out ? BYOC_ERR_INTERNAL : BYOC_ERR_NOMEM;
        free(out);
        return e;
    }
    *token = out;
    return BYOC_ERR_OK;
}

static bool claim_str_is(jwt_t *jwt, const char *name, const char *want)
{
    const char *v = jwt_get_grant(jwt, name);
    return v && strcmp(v, want) == 0;
}

/* Integer claim; false if absent or of any other JSON type (libjwt 1.10 reads a wrong type as
 * 0 without an error, so the claim's JSON text is parsed here). */
static bool claim_int(jwt_t *jwt, const char *name, int64_t *out)
{
    char *text = jwt_get_grants_json(jwt, name);
    bool ok = text && byoc_parse_i64(text, 0, INT64_MAX, out);
    free(text);
    return ok;
}

static bool claims_ok(const struct byoc_auth *a, jwt_t *jwt, const char *provider_id, int64_t now_s,
                      struct byoc_token_claims *out)
{
    char aud[AUDIENCE_MAX];
    byoc_auth_audience(a, provider_id, aud, sizeof aud);
    int64_t iat = 0, exp = 0, nbf = 0;
    if (!claim_str_is(jwt, "iss", a->issuer) || !claim_str_is(jwt, "aud", aud) ||
        !claim_str_is(jwt, "sub", provider_id))
        return false;
    if (!claim_int(jwt, "iat", &iat) || !claim_int(jwt, "exp", &exp))
        return false;
    if (exp <= now_s || iat > now_s + BYOC_JWT_CLOCK_SKEW_S || exp - iat > BYOC_TOKEN_TTL_MAX)
        return false;
    char *nbf_json = jwt_get_grants_json(jwt, "nbf"); /* non-NULL when present, any type */
    if (nbf_json) {
        free(nbf_json);
        if (!claim_int(jwt, "nbf", &nbf) || nbf > now_s + BYOC_JWT_CLOCK_SKEW_S)
            return false;
    }
    const char *jti = jwt_get_grant(jwt, "jti");
    if (!jti || !byoc_strlcpy(out->jti, jti, sizeof out->jti) ||
        !byoc_strlcpy(out->sub, provider_id, sizeof out->sub))
        return false;
    out->iat = iat;
    out->exp = exp;
    return true;
}

/* Three non-empty base64url parts (RFC 7515 compact form). libjwt 1.10.2 writes one byte past
 * a zero-length allocation when a part is empty ("..", found by valgrind on tests/unit/
 * test_jwt.c), so nothing else reaches it. */
static bool compact_form(const char *token)
{
    size_t part_len = 0, dots = 0;
    for (const char *p = token; *p; p++) {
        if (*p == '.') {
            if (part_len == 0)
                return false;
            dots++;
            part_len = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            part_len++;
        } else {
            return false;
        }
    }
    return dots == 2 && part_len > 0;
}

enum byoc_err byoc_auth_verify(const struct byoc_auth *a, const char *token,
                               const char *provider_id, int64_t now_s,
                               struct byoc_token_claims *out)
{
    if (!token || strlen(token) > BYOC_TOKEN_MAX_LEN || !compact_form(token))
        return BYOC_ERR_TOKEN_INVALID;
    jwt_t *jwt = NULL;
    /* Always with the key: libjwt 1.10 accepts unsigned tokens when given none. */
    int rc = jwt_decode(&jwt, token, a->key, (int)sizeof a->key);
    if (rc == ENOMEM)
        return BYOC_ERR_NOMEM; /* not the client's fault: 503, and a retry may pass */
    if (rc != 0 || !jwt)
        return BYOC_ERR_TOKEN_INVALID;
    struct byoc_token_claims claims = {0};
    bool ok = jwt_get_alg(jwt) == JWT_ALG_HS256 && claims_ok(a, jwt, provider_id, now_s, &claims);
    jwt_free(jwt);
    if (!ok)
        return BYOC_ERR_TOKEN_INVALID;
    if (out)
        *out = claims;
    return BYOC_ERR_OK;
}
