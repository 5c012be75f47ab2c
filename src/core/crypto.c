/* SHA-256 and HMAC-SHA256 use OpenSSL's low-level SHA-256 (SHA256_Init/Update/Final), which
 * OpenSSL 3.0 deprecates but keeps: their context lives on the stack. The one-shot SHA256()
 * and HMAC() allocate a context on the heap, and when that fails they return NULL with the
 * output unwritten, which byoc_sha256() and byoc_hmac_sha256() could not report: a hash of
 * stack garbage then went into idempotency keys, secret checks and stored secret hashes
 * (tests/integration/test_alloc_fail.c). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "byoc/crypto.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "byoc/banned.h"

#define SEAL_VERSION 1
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

enum byoc_err byoc_random_bytes(void *out, size_t len)
{
    if (len > (size_t)INT32_MAX || RAND_bytes(out, (int)len) != 1)
        return BYOC_ERR_CRYPTO;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_random_token(char *out, size_t nchars)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < nchars) {
        unsigned char pool[64];
        enum byoc_err e = byoc_random_bytes(pool, sizeof pool);
        if (e)
            return e;
        for (size_t k = 0; k < sizeof pool && i < nchars; k++) {
            if (pool[k] < 248) /* 248 = 4 * 62: rejection keeps the draw unbiased */
                out[i++] = alphabet[pool[k] % 62];
        }
    }
    out[nchars] = '\0';
    return BYOC_ERR_OK;
}

#define HMAC_BLOCK_LEN 64 /* SHA-256's block size, the HMAC key length (RFC 2104) */
#define HMAC_IPAD 0x36
#define HMAC_OPAD 0x5c

void byoc_sha256(const void *data, size_t len, uint8_t out[BYOC_SHA256_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
    byoc_wipe(&c, sizeof c);
}

/* SHA-256 of a one-block pad of the key (key XOR fill) followed by data. */
static void hmac_pass(const uint8_t key[HMAC_BLOCK_LEN], uint8_t fill, const void *data, size_t len,
                      uint8_t out[BYOC_SHA256_LEN])
{
    uint8_t pad[HMAC_BLOCK_LEN];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = key[i] ^ fill;
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, sizeof pad);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
    byoc_wipe(&c, sizeof c);
    byoc_wipe(pad, sizeof pad);
}

void byoc_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[BYOC_SHA256_LEN])
{
    uint8_t k[HMAC_BLOCK_LEN] = {0}, inner[BYOC_SHA256_LEN];
    if (key_len > sizeof k)
        byoc_sha256(key, key_len, k); /* a longer key is replaced by its hash */
    else if (key_len)
        memcpy(k, key, key_len);
    hmac_pass(k, HMAC_IPAD, data, len, inner);
    hmac_pass(k, HMAC_OPAD, inner, sizeof inner, out);
    byoc_wipe(k, sizeof k);
    byoc_wipe(inner, sizeof inner);
}

void byoc_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

void byoc_free_secret(char *s)
{
    if (s)
        byoc_wipe(s, strlen(s));
    free(s);
}

bool byoc_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

bool byoc_secret_matches(const char *presented, const uint8_t stored_hash[BYOC_SHA256_LEN])
{
    uint8_t h[BYOC_SHA256_LEN];
    byoc_sha256(presented, strlen(presented), h);
    return byoc_ct_equal(h, stored_hash, sizeof h);
}

void byoc_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool byoc_hex_decode(const char *in, uint8_t *out, size_t out_len)
{
    if (strlen(in) != 2 * out_len)
        return false;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_val(in[2 * i]), lo = hex_val(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

size_t byoc_base64_encode(const void *in, size_t len, char *out, size_t cap)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    if (cap < need || len > (size_t)INT32_MAX / 2)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

bool byoc_base64url_encode(const void *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t n = byoc_base64_encode(in, len, out, cap);
    if (n == 0 && (len > 0 || cap == 0))
        return false;
    out[n] = '\0'; /* EVP_EncodeBlock wrote nothing when len is 0 */
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    *out_len = n;
    return true;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

enum byoc_err byoc_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    while (len && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return BYOC_ERR_INVALID;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(in[i]);
        if (v < 0)
            return BYOC_ERR_INVALID;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return BYOC_ERR_TOO_LARGE;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = n;
    return BYOC_ERR_OK;
}

/* One GCM pass; enc selects the direction. Returns false on any failure (incl. a bad tag). */
static bool gcm_run(bool enc, const uint8_t *key, const uint8_t *nonce, const char *aad,
                    const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = c && len <= (size_t)INT32_MAX &&
              EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + (len ? (size_t)n : 0), &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

enum byoc_err byoc_seal(const uint8_t key[BYOC_KEY_LEN], const char *aad, const void *plain,
                        size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t *buf = malloc(len + SEAL_OVERHEAD);
    if (!buf)
        return BYOC_ERR_NOMEM;
    buf[0] = SEAL_VERSION;
    uint8_t *nonce = buf + 1, *ct = nonce + SEAL_NONCE_LEN, *tag = ct + len;
    if (byoc_random_bytes(nonce, SEAL_NONCE_LEN) ||
        !gcm_run(true, key, nonce, aad, plain, len, ct, tag)) {
        free(buf);
        return BYOC_ERR_CRYPTO;
    }
    *out = buf;
    *out_len = len + SEAL_OVERHEAD;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_unseal(const uint8_t key[BYOC_KEY_LEN], const char *aad, const uint8_t *sealed,
                          size_t len, char **out, size_t *out_len)
{
    if (len < SEAL_OVERHEAD || sealed[0] != SEAL_VERSION)
        return BYOC_ERR_CRYPTO;
    size_t plen = len - SEAL_OVERHEAD;
    const uint8_t *nonce = sealed + 1, *ct = nonce + SEAL_NONCE_LEN;
    uint8_t tag[SEAL_TAG_LEN];
    memcpy(tag, ct + plen, SEAL_TAG_LEN);
    char *plain = malloc(plen + 1);
    if (!plain)
        return BYOC_ERR_NOMEM;
    if (!gcm_run(false, key, nonce, aad, ct, plen, (uint8_t *)plain, tag)) {
        OPENSSL_cleanse(plain, plen);
        free(plain);
        return BYOC_ERR_CRYPTO;
    }
    plain[plen] = '\0';
    *out = plain;
    if (out_len)
        *out_len = plen;
    return BYOC_ERR_OK;
}
