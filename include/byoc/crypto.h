/* Randomness, hashing, HMAC, constant-time comparison, base64 and authenticated encryption
 * (AES-256-GCM) on OpenSSL. Thread-safe. */
#ifndef BYOC_CRYPTO_H
#define BYOC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

#define BYOC_SHA256_LEN 32
#define BYOC_KEY_LEN 32

BYOC_MUST_USE enum byoc_err byoc_random_bytes(void *out, size_t len);
/* nchars random characters from [A-Za-z0-9] (unbiased) plus NUL; out holds nchars + 1. */
BYOC_MUST_USE enum byoc_err byoc_random_token(char *out, size_t nchars);

void byoc_sha256(const void *data, size_t len, uint8_t out[BYOC_SHA256_LEN]);
void byoc_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[BYOC_SHA256_LEN]);
/* Zeroes memory in a way the compiler cannot drop. */
void byoc_wipe(void *p, size_t len);
/* Wipes a NUL-terminated secret, then frees it. NULL ok. */
void byoc_free_secret(char *s);
/* Constant-time equality of two equal-length byte strings. */
bool byoc_ct_equal(const void *a, const void *b, size_t len);
/* Constant-time check that a secret presented by a client hashes to stored_hash. */
bool byoc_secret_matches(const char *presented, const uint8_t stored_hash[BYOC_SHA256_LEN]);

void byoc_hex_encode(const uint8_t *in, size_t len, char *out /* 2*len + 1 */);
/* Exactly out_len bytes from 2*out_len hex digits; false otherwise. */
bool byoc_hex_decode(const char *in, uint8_t *out, size_t out_len);
/* Standard base64 with padding; returns the length written (excluding NUL), 0 if cap is short. */
size_t byoc_base64_encode(const void *in, size_t len, char *out, size_t cap);
/* URL-safe alphabet, no padding (RFC 4648 §5, as JWTs use it): the length written (excluding
 * NUL) into *out_len; false if cap is short. */
BYOC_MUST_USE bool byoc_base64url_encode(const void *in, size_t len, char *out, size_t cap,
                                         size_t *out_len);
/* Standard or URL-safe alphabet, padding optional. Errors: INVALID, TOO_LARGE. */
BYOC_MUST_USE enum byoc_err byoc_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                               size_t *out_len);

/* AES-256-GCM with a random nonce; aad binds the ciphertext to its place (e.g.
 * "provider/id/field"). Output layout: 1 version byte, 12-byte nonce, ciphertext, 16-byte tag; *out
 * is the caller's. */
BYOC_MUST_USE enum byoc_err byoc_seal(const uint8_t key[BYOC_KEY_LEN], const char *aad,
                                      const void *plain, size_t len, uint8_t **out,
                                      size_t *out_len);
/* Inverse of byoc_seal; *out is NUL-terminated, the caller's. CRYPTO if tampered or wrong key. */
BYOC_MUST_USE enum byoc_err byoc_unseal(const uint8_t key[BYOC_KEY_LEN], const char *aad,
                                        const uint8_t *sealed, size_t len, char **out,
                                        size_t *out_len);

#endif
