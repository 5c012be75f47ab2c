/* Verification of the tokens CXone presents: any bytes, and mutations of validly signed tokens.
 * Whatever verifies must carry the HS256 signature of its own header and payload under byocd's
 * key (checked here independently with OpenSSL), for the right provider, valid now. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/auth.h"

#define NOW_S 1795000000
#define PROVIDER "prv_fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[BYOC_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static struct byoc_auth auth;
static bool ready;

/* base64url without padding of the HMAC of signed, compared with sig. */
static bool signature_matches(const char *signed_part, size_t len, const char *sig)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, sizeof key, (const unsigned char *)signed_part, len, mac,
              &mac_len))
        abort();
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, mac, (int)mac_len);
    while (n > 0 && b64[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    return strlen(sig) == (size_t)n && memcmp(sig, b64, (size_t)n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        if (byoc_auth_init(&auth, key, "https://byocd.example.test", 3600) != BYOC_ERR_OK)
            abort();
        ready = true;
    }
    char *token = malloc(size + 1);
    if (!token)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    struct byoc_token_claims claims;
    if (byoc_auth_verify(&auth, token, PROVIDER, NOW_S + 10, &claims) == BYOC_ERR_OK) {
        const char *dot = strrchr(token, '.');
        if (!dot || !signature_matches(token, (size_t)(dot - token), dot + 1))
            abort(); /* accepted without our signature: alg none, another key, a confusion */
        if (strcmp(claims.sub, PROVIDER) != 0 || claims.exp <= NOW_S + 10)
            abort();
    }
    free(token);
    return 0;
}
