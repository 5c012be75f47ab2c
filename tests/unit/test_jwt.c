/*
 * byoc/auth.h: HS256 tokens with the algorithm pinned and every claim checked (RFC 8725).
 * Attack tokens are forged here with OpenSSL (HMAC, base64url), independent of libjwt; the
 * forge is first proven able to produce a token the verifier accepts, so every rejection below
 * is caused by the one thing each test changes.
 */
#include "byoc/auth.h"
#include "byoc/crypto.h"

#include <check.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/banned.h"

#define NOW 1700000000LL
#define ISS "https://byocd.example.com"
#define PROV_A "prv_AAAAAAAAAAAAAAAAAAAA"
#define PROV_B "prv_BBBBBBBBBBBBBBBBBBBB"
#define AUD_A ISS "/cxone/" PROV_A
#define HDR_HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static struct byoc_auth auth;
static uint8_t key[BYOC_KEY_LEN];
static char *token;
static struct byoc_token_claims claims;

static void setup(void)
{
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(byoc_auth_init(&auth, key, ISS, 3600), BYOC_ERR_OK);
    token = NULL;
    memset(&claims, 0, sizeof claims);
}

static void teardown(void)
{
    free(token);
    token = NULL;
    byoc_auth_release(&auth);
}

/* base64url without padding of len bytes at out (NUL-terminated, room assured by the caller);
 * returns the characters written. */
static size_t b64url(const void *in, size_t len, char *out)
{
    size_t n = 0;
    ck_assert(byoc_base64url_encode(in, len, out, 4 * ((len + 2) / 3) + 1, &n));
    return n;
}

/* header.payload.signature; md NULL leaves the signature empty ("h.p."). Caller frees. */
static char *forge_with(const char *header, const char *payload, const EVP_MD *md, const uint8_t *k,
                        size_t klen)
{
    size_t cap = 4 * (strlen(header) + strlen(payload)) / 3 + 256;
    char *t = malloc(cap);
    ck_assert_ptr_nonnull(t);
    size_t n = b64url(header, strlen(header), t);
    t[n++] = '.';
    n += b64url(payload, strlen(payload), t + n);
    if (md) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        ck_assert_ptr_nonnull(HMAC(md, k, (int)klen, (unsigned char *)t, n, mac, &mac_len));
        t[n++] = '.';
        b64url(mac, mac_len, t + n);
    } else {
        t[n++] = '.';
        t[n] = '\0';
    }
    return t;
}

static char *forge(const char *header, const char *payload, const EVP_MD *md)
{
    return forge_with(header, payload, md, key, sizeof key);
}

/* Claims with everything right except what the caller overrides; extra is appended raw. */
static const char *payload(const char *iss, const char *aud, const char *sub, long long iat,
                           long long exp, const char *extra)
{
    static char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"%s\",\"jti\":\"jti_forged\","
                     "\"iat\":%lld,\"exp\":%lld%s}",
                     iss, aud, sub, iat, exp, extra ? extra : "");
    ck_assert(n > 0 && (size_t)n < sizeof buf);
    return buf;
}

static const char *good_payload(void)
{
    return payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, NULL);
}

/* Verifies t (taking ownership) for PROV_A at NOW. */
static enum byoc_err verify_owned(char *t)
{
    free(token);
    token = t;
    return byoc_auth_verify(&auth, token, PROV_A, NOW, &claims);
}

#define ck_rejected(t) ck_assert_int_eq(verify_owned(t), BYOC_ERR_TOKEN_INVALID)

/* ---- happy path ---- */

START_TEST(issue_then_verify)
{
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    ck_assert_ptr_nonnull(token);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, &claims), BYOC_ERR_OK);
    ck_assert_str_eq(claims.sub, PROV_A);
    ck_assert_int_eq(strncmp(claims.jti, "jti_", 4), 0);
    ck_assert_int_eq(claims.iat, NOW);
    ck_assert_int_eq(claims.exp, NOW + 3600);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW + 3599, NULL), BYOC_ERR_OK);
}
END_TEST

START_TEST(issued_token_is_hs256_with_expected_claims)
{
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_decode(&j, token, key, sizeof key), 0);
    ck_assert_int_eq(jwt_get_alg(j), JWT_ALG_HS256);
    ck_assert_str_eq(jwt_get_grant(j, "iss"), ISS);
    ck_assert_str_eq(jwt_get_grant(j, "aud"), AUD_A);
    ck_assert_str_eq(jwt_get_grant(j, "sub"), PROV_A);
    jwt_free(j);
}
END_TEST

START_TEST(each_issue_gets_a_fresh_jti)
{
    char *other = NULL;
    struct byoc_token_claims c2;
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &other), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, &claims), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_verify(&auth, other, PROV_A, NOW, &c2), BYOC_ERR_OK);
    free(other);
    ck_assert_str_ne(claims.jti, c2.jti);
}
END_TEST

START_TEST(audience_format)
{
    char aud[256];
    byoc_auth_audience(&auth, PROV_B, aud, sizeof aud);
    ck_assert_str_eq(aud, ISS "/cxone/" PROV_B);
}
END_TEST

START_TEST(forged_hs256_with_good_claims_is_accepted)
{
    /* proves the forge: the attacks below differ from this token in one respect only */
    ck_assert_int_eq(verify_owned(forge(HDR_HS256, good_payload(), EVP_sha256())), BYOC_ERR_OK);
    ck_assert_str_eq(claims.jti, "jti_forged");
}
END_TEST

START_TEST(failure_leaves_claims_untouched)
{
    memset(&claims, 0x5a, sizeof claims);
    struct byoc_token_claims before = claims;
    ck_assert_int_eq(byoc_auth_verify(&auth, "x.y.z", PROV_A, NOW, &claims),
                     BYOC_ERR_TOKEN_INVALID);
    ck_assert_mem_eq(&claims, &before, sizeof claims);
}
END_TEST

/* ---- algorithm attacks ---- */

START_TEST(alg_none_rejected)
{
    ck_rejected(forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload(), NULL));
}
END_TEST

START_TEST(alg_none_variants_rejected)
{
    ck_rejected(forge("{\"alg\":\"None\",\"typ\":\"JWT\"}", good_payload(), NULL));
    ck_rejected(forge("{\"typ\":\"JWT\"}", good_payload(), NULL));
    char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload(), NULL);
    t[strlen(t) - 1] = '\0'; /* no trailing dot */
    ck_rejected(t);
    ck_rejected(forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload(), EVP_sha256()));
}
END_TEST

START_TEST(hs512_same_key_rejected)
{
    char *t = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good_payload(), EVP_sha512());
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_decode(&j, t, key, sizeof key), 0); /* the signature itself is valid */
    jwt_free(j);
    ck_rejected(t);
}
END_TEST

START_TEST(hs384_same_key_rejected)
{
    char *t = forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", good_payload(), EVP_sha384());
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_decode(&j, t, key, sizeof key), 0);
    jwt_free(j);
    ck_rejected(t);
}
END_TEST

START_TEST(rs256_header_with_hmac_signature_rejected)
{
    ck_rejected(forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", good_payload(), EVP_sha256()));
    ck_rejected(forge("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", good_payload(), EVP_sha256()));
    ck_rejected(forge("{\"alg\":\"PS256\",\"typ\":\"JWT\"}", good_payload(), EVP_sha256()));
}
END_TEST

/* ---- tampering ---- */

START_TEST(flipped_signature_byte_rejected)
{
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    char *sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    sig[5] = sig[5] == 'x' ? 'y' : 'x';
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
}
END_TEST

START_TEST(flipped_payload_byte_rejected)
{
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    char *p = strchr(token, '.') + 1;
    p[10] = p[10] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
}
END_TEST

START_TEST(swapped_payload_keeps_old_signature_rejected)
{
    /* a valid token for A with its payload replaced by well-formed claims (longer exp) */
    char *good = forge(HDR_HS256, good_payload(), EVP_sha256());
    char *evil = forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 7200, NULL), EVP_sha256());
    char *good_sig = strrchr(good, '.');
    char *evil_sig = strrchr(evil, '.');
    ck_assert_uint_eq(strlen(good_sig), strlen(evil_sig));
    memcpy(evil_sig, good_sig, strlen(good_sig));
    free(good);
    ck_rejected(evil);
}
END_TEST

START_TEST(other_key_rejected)
{
    uint8_t other[BYOC_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[0] ^= 0xff;
    struct byoc_auth a2;
    ck_assert_int_eq(byoc_auth_init(&a2, other, ISS, 3600), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_issue(&a2, PROV_A, NOW, &token), BYOC_ERR_OK);
    byoc_auth_release(&a2);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
    ck_rejected(forge_with(HDR_HS256, good_payload(), EVP_sha256(), other, sizeof other));
    ck_rejected(forge_with(HDR_HS256, good_payload(), EVP_sha256(), key, 31));
}
END_TEST

/* ---- time claims ---- */

START_TEST(expired_rejected)
{
    ck_rejected(forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW - 3600, NOW, NULL), EVP_sha256()));
    ck_rejected(
        forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW - 3600, NOW - 1, NULL), EVP_sha256()));
    free(token);
    token = NULL;
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW - 3600, &token), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW - 1, NULL), BYOC_ERR_OK);
}
END_TEST

START_TEST(iat_in_future_beyond_skew_rejected)
{
    long long skew = BYOC_JWT_CLOCK_SKEW_S;
    ck_rejected(forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW + skew + 1, NOW + 3600, NULL),
                      EVP_sha256()));
    ck_assert_int_eq(
        verify_owned(forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW + skew, NOW + 3600, NULL),
                           EVP_sha256())),
        BYOC_ERR_OK);
}
END_TEST

START_TEST(nbf_in_future_rejected)
{
    long long skew = BYOC_JWT_CLOCK_SKEW_S;
    char extra[64];
    snprintf(extra, sizeof extra, ",\"nbf\":%lld", NOW + skew + 1);
    ck_rejected(
        forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, extra), EVP_sha256()));
    snprintf(extra, sizeof extra, ",\"nbf\":%lld", NOW + 3000);
    ck_rejected(
        forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, extra), EVP_sha256()));
    snprintf(extra, sizeof extra, ",\"nbf\":%lld", NOW);
    ck_assert_int_eq(
        verify_owned(
            forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, extra), EVP_sha256())),
        BYOC_ERR_OK);
}
END_TEST

START_TEST(nbf_of_wrong_type_rejected)
{
    /* A present nbf that is not an integer cannot be checked, so the token is not valid. */
    static const char *const bad[] = {",\"nbf\":\"0\"", ",\"nbf\":null", ",\"nbf\":1.5",
                                      ",\"nbf\":true", ",\"nbf\":\"9999999999\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t =
            forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, bad[i]), EVP_sha256());
        ck_assert_msg(verify_owned(t) == BYOC_ERR_TOKEN_INVALID, "accepted nbf %s", bad[i] + 7);
    }
}
END_TEST

START_TEST(missing_exp_rejected)
{
    static const char p[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                            "\",\"jti\":\"jti_x\",\"iat\":1700000000}";
    ck_rejected(forge(HDR_HS256, p, EVP_sha256()));
}
END_TEST

START_TEST(missing_iat_or_jti_rejected)
{
    static const char no_iat[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                                 "\",\"jti\":\"jti_x\",\"exp\":1700003600}";
    static const char no_jti[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                                 "\",\"iat\":1700000000,\"exp\":1700003600}";
    ck_rejected(forge(HDR_HS256, no_iat, EVP_sha256()));
    ck_rejected(forge(HDR_HS256, no_jti, EVP_sha256()));
}
END_TEST

START_TEST(non_integer_exp_or_iat_rejected)
{
    static const char str_exp[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                                  "\",\"jti\":\"j\",\"iat\":1700000000,\"exp\":\"1700003600\"}";
    static const char real_exp[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                                   "\",\"jti\":\"j\",\"iat\":1700000000,\"exp\":1700003600.5}";
    static const char str_iat[] = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD_A "\",\"sub\":\"" PROV_A
                                  "\",\"jti\":\"j\",\"iat\":\"1700000000\",\"exp\":1700003600}";
    ck_rejected(forge(HDR_HS256, str_exp, EVP_sha256()));
    ck_rejected(forge(HDR_HS256, real_exp, EVP_sha256()));
    ck_rejected(forge(HDR_HS256, str_iat, EVP_sha256()));
}
END_TEST

START_TEST(lifetime_longer_than_max_rejected)
{
    ck_rejected(forge(HDR_HS256,
                      payload(ISS, AUD_A, PROV_A, NOW, NOW + BYOC_TOKEN_TTL_MAX + 1, NULL),
                      EVP_sha256()));
    ck_rejected(forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, 0, NOW + 10, NULL), EVP_sha256()));
}
END_TEST

/* ---- identity claims ---- */

START_TEST(wrong_issuer_rejected)
{
    ck_rejected(forge(HDR_HS256,
                      payload("https://evil.example.com", AUD_A, PROV_A, NOW, NOW + 60, NULL),
                      EVP_sha256()));
    ck_rejected(
        forge(HDR_HS256, payload(ISS "/", AUD_A, PROV_A, NOW, NOW + 60, NULL), EVP_sha256()));
}
END_TEST

START_TEST(wrong_audience_rejected)
{
    ck_rejected(forge(HDR_HS256, payload(ISS, ISS "/cxone/" PROV_B, PROV_A, NOW, NOW + 60, NULL),
                      EVP_sha256()));
    ck_rejected(forge(HDR_HS256, payload(ISS, ISS, PROV_A, NOW, NOW + 60, NULL), EVP_sha256()));
}
END_TEST

START_TEST(audience_array_rejected)
{
    static const char p[] = "{\"iss\":\"" ISS "\",\"aud\":[\"" AUD_A "\"],\"sub\":\"" PROV_A
                            "\",\"jti\":\"j\",\"iat\":1700000000,\"exp\":1700003600}";
    ck_rejected(forge(HDR_HS256, p, EVP_sha256()));
}
END_TEST

START_TEST(wrong_subject_rejected)
{
    ck_rejected(forge(HDR_HS256, payload(ISS, AUD_A, PROV_B, NOW, NOW + 60, NULL), EVP_sha256()));
    ck_rejected(forge(HDR_HS256, payload(ISS, AUD_A, "", NOW, NOW + 60, NULL), EVP_sha256()));
}
END_TEST

START_TEST(token_of_other_provider_rejected)
{
    ck_assert_int_eq(byoc_auth_issue(&auth, PROV_A, NOW, &token), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_B, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_OK);
}
END_TEST

START_TEST(token_of_other_issuer_rejected)
{
    struct byoc_auth a2;
    ck_assert_int_eq(byoc_auth_init(&a2, key, "https://other.example.com", 3600), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_auth_issue(&a2, PROV_A, NOW, &token), BYOC_ERR_OK);
    byoc_auth_release(&a2);
    ck_assert_int_eq(byoc_auth_verify(&auth, token, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
}
END_TEST

/* ---- malformed ---- */

START_TEST(garbage_rejected)
{
    static const char *const junk[] = {"",
                                       ".",
                                       "..",
                                       "...",
                                       "abc",
                                       "a.b",
                                       "a.b.c",
                                       "a.b.c.d",
                                       "eyJhbGciOiJIUzI1NiJ9",
                                       "eyJ.eyJ.sig",
                                       "!!!.@@@.###",
                                       "Bearer x.y.z",
                                       "\xc3\xa9.\xc3\xa9.\xc3\xa9"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        ck_assert_msg(byoc_auth_verify(&auth, junk[i], PROV_A, NOW, NULL) == BYOC_ERR_TOKEN_INVALID,
                      "accepted '%s'", junk[i]);
    ck_assert_int_eq(byoc_auth_verify(&auth, NULL, PROV_A, NOW, NULL), BYOC_ERR_TOKEN_INVALID);
}
END_TEST

START_TEST(non_json_parts_rejected)
{
    ck_rejected(forge(HDR_HS256, "not json", EVP_sha256()));
    ck_rejected(forge("not json", good_payload(), EVP_sha256()));
    ck_rejected(forge(HDR_HS256, "[1,2]", EVP_sha256()));
}
END_TEST

/* A correctly signed token whose length is target bytes (padding in an extra claim). */
static char *token_of_length(size_t target)
{
    static char pad[2100];
    size_t pad_len = 0;
    char *t = NULL;
    for (;;) { /* each pad byte adds 4/3 token chars: grow until the length is reached */
        char extra[sizeof pad + 16];
        ck_assert_uint_lt(pad_len, sizeof pad);
        memset(pad, 'p', pad_len);
        pad[pad_len] = '\0';
        snprintf(extra, sizeof extra, ",\"pad\":\"%s\"", pad);
        free(t);
        t = forge(HDR_HS256, payload(ISS, AUD_A, PROV_A, NOW, NOW + 3600, extra), EVP_sha256());
        if (strlen(t) >= target)
            return t;
        pad_len++;
    }
}

START_TEST(over_long_token_rejected)
{
    char *ok = token_of_length(BYOC_TOKEN_MAX_LEN - 3);
    ck_assert_uint_le(strlen(ok), BYOC_TOKEN_MAX_LEN);
    ck_assert_int_eq(verify_owned(ok), BYOC_ERR_OK);
    char *big = token_of_length(BYOC_TOKEN_MAX_LEN + 1);
    ck_assert_uint_gt(strlen(big), BYOC_TOKEN_MAX_LEN);
    ck_rejected(big);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static void add_valid_and_alg(Suite *s)
{
    TCase *tc = tcase("valid");
    tcase_add_test(tc, issue_then_verify);
    tcase_add_test(tc, issued_token_is_hs256_with_expected_claims);
    tcase_add_test(tc, each_issue_gets_a_fresh_jti);
    tcase_add_test(tc, audience_format);
    tcase_add_test(tc, forged_hs256_with_good_claims_is_accepted);
    tcase_add_test(tc, failure_leaves_claims_untouched);
    suite_add_tcase(s, tc);

    tc = tcase("algorithm");
    tcase_add_test(tc, alg_none_rejected);
    tcase_add_test(tc, alg_none_variants_rejected);
    tcase_add_test(tc, hs512_same_key_rejected);
    tcase_add_test(tc, hs384_same_key_rejected);
    tcase_add_test(tc, rs256_header_with_hmac_signature_rejected);
    suite_add_tcase(s, tc);

    tc = tcase("tampering");
    tcase_add_test(tc, flipped_signature_byte_rejected);
    tcase_add_test(tc, flipped_payload_byte_rejected);
    tcase_add_test(tc, swapped_payload_keeps_old_signature_rejected);
    tcase_add_test(tc, other_key_rejected);
    suite_add_tcase(s, tc);
}

static void add_claims_and_junk(Suite *s)
{
    TCase *tc = tcase("time");
    tcase_add_test(tc, expired_rejected);
    tcase_add_test(tc, iat_in_future_beyond_skew_rejected);
    tcase_add_test(tc, nbf_in_future_rejected);
    tcase_add_test(tc, nbf_of_wrong_type_rejected);
    tcase_add_test(tc, missing_exp_rejected);
    tcase_add_test(tc, missing_iat_or_jti_rejected);
    tcase_add_test(tc, non_integer_exp_or_iat_rejected);
    tcase_add_test(tc, lifetime_longer_than_max_rejected);
    suite_add_tcase(s, tc);

    tc = tcase("identity");
    tcase_add_test(tc, wrong_issuer_rejected);
    tcase_add_test(tc, wrong_audience_rejected);
    tcase_add_test(tc, audience_array_rejected);
    tcase_add_test(tc, wrong_subject_rejected);
    tcase_add_test(tc, token_of_other_provider_rejected);
    tcase_add_test(tc, token_of_other_issuer_rejected);
    suite_add_tcase(s, tc);

    tc = tcase("malformed");
    tcase_add_test(tc, garbage_rejected);
    tcase_add_test(tc, non_json_parts_rejected);
    tcase_add_test(tc, over_long_token_rejected);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("jwt");
    add_valid_and_alg(s);
    add_claims_and_junk(s);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
