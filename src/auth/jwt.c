/* The only file that includes jwt.h. */
#include "byoc/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jwt.h>

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

enum byoc_err byoc_auth_issue(const struct byoc_auth *a, const char *provider_id, int64_t now_s,
                              char **token)
{
    char jti[BYOC_ID_MAX], aud[AUDIENCE_MAX];
    enum byoc_err e = byoc_id_new("jti", jti);
    if (e)
        return e;
    byoc_auth_audience(a, provider_id, aud, sizeof aud);
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return BYOC_ERR_NOMEM;
    bool ok = jwt_add_grant(jwt, "iss", a->issuer) == 0 && jwt_add_grant(jwt, "aud", aud) == 0 &&
              jwt_add_grant(jwt, "sub", provider_id) == 0 && jwt_add_grant(jwt, "jti", jti) == 0 &&
              jwt_add_grant_int(jwt, "iat", (long)now_s) == 0 &&
              jwt_add_grant_int(jwt, "exp", (long)(now_s + a->ttl_s)) == 0 &&
              jwt_set_alg(jwt, JWT_ALG_HS256, a->key, (int)sizeof a->key) == 0;
    char *out = ok ? jwt_encode_str(jwt) : NULL;
    jwt_free(jwt);
    if (!out)
        return BYOC_ERR_CRYPTO;
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

enum byoc_err byoc_auth_verify(const struct byoc_auth *a, const char *token,
                               const char *provider_id, int64_t now_s,
                               struct byoc_token_claims *out)
{
    if (!token || strlen(token) > BYOC_TOKEN_MAX_LEN)
        return BYOC_ERR_TOKEN_INVALID;
    jwt_t *jwt = NULL;
    /* Always with the key: libjwt 1.10 accepts unsigned tokens when given none. */
    if (jwt_decode(&jwt, token, a->key, (int)sizeof a->key) != 0 || !jwt)
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
