/* Access tokens byocd issues to CXone: HS256 JWTs with the algorithm pinned.
 * libjwt takes the algorithm from the token header and checks no claims, so verification here
 * checks the algorithm, signature, exp, nbf, iat, iss, aud, sub and jti itself (RFC 8725).
 * Thread-safe after init. */
#ifndef BYOC_AUTH_H
#define BYOC_AUTH_H

#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/crypto.h"
#include "byoc/err.h"
#include "byoc/limits.h"
#include "byoc/util.h"

struct byoc_auth {
    uint8_t key[BYOC_KEY_LEN]; /* HMAC key; derive it, never reuse another key */
    char *issuer;              /* public base URL */
    int64_t ttl_s;
};

struct byoc_token_claims {
    char sub[BYOC_ID_MAX]; /* provider id */
    char jti[BYOC_ID_MAX];
    int64_t iat, exp;
};

BYOC_MUST_USE enum byoc_err byoc_auth_init(struct byoc_auth *a, const uint8_t key[BYOC_KEY_LEN],
                                           const char *issuer, int64_t ttl_s);
void byoc_auth_release(struct byoc_auth *a);

/* Audience of a provider's tokens: "<issuer>/cxone/<provider_id>" into out. */
void byoc_auth_audience(const struct byoc_auth *a, const char *provider_id, char *out, size_t cap);

/* New token for provider_id valid from now_s for ttl_s. *token is the caller's (free). */
BYOC_MUST_USE enum byoc_err byoc_auth_issue(const struct byoc_auth *a, const char *provider_id,
                                            int64_t now_s, char **token);
/* TOKEN_INVALID unless the token is ours, for provider_id, and valid at now_s. */
BYOC_MUST_USE enum byoc_err byoc_auth_verify(const struct byoc_auth *a, const char *token,
                                             const char *provider_id, int64_t now_s,
                                             struct byoc_token_claims *out);

#endif
