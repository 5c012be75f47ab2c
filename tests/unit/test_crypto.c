/*
 * byoc/crypto.h: random tokens, SHA-256 and HMAC known answers, base64 and hex codecs,
 * AES-256-GCM sealing (round trip and every kind of tampering), secret comparison.
 */
#include "byoc/crypto.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/banned.h"

#define SEAL_OVERHEAD 29 /* version byte + 12-byte nonce + 16-byte tag */

static uint8_t key[BYOC_KEY_LEN];
static uint8_t *sealed;
static size_t sealed_len;
static char *opened;

static void setup(void)
{
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(0xA0 + i);
    sealed = NULL;
    sealed_len = 0;
    opened = NULL;
}

static void teardown(void)
{
    free(sealed);
    free(opened);
    sealed = NULL;
    opened = NULL;
}

static void hex_of(const uint8_t *in, size_t len, char *out)
{
    byoc_hex_encode(in, len, out);
}

static bool in_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ---- random ---- */

START_TEST(random_token_length_and_alphabet)
{
    char tok[42];
    memset(tok, '#', sizeof tok);
    ck_assert_int_eq(byoc_random_token(tok, 40), BYOC_ERR_OK);
    ck_assert_int_eq(tok[40], '\0');
    ck_assert_int_eq(tok[41], '#'); /* nothing written past nchars + 1 */
    for (size_t i = 0; i < 40; i++)
        ck_assert_msg(in_alphabet(tok[i]), "byte %zu is 0x%02x", i, (unsigned char)tok[i]);
    char empty[2] = {'#', '#'};
    ck_assert_int_eq(byoc_random_token(empty, 0), BYOC_ERR_OK);
    ck_assert_int_eq(empty[0], '\0');
    ck_assert_int_eq(empty[1], '#');
}
END_TEST

START_TEST(random_token_uses_whole_alphabet_and_differs)
{
    enum { N = 62 * 200 };
    static char big[N + 1];
    ck_assert_int_eq(byoc_random_token(big, N), BYOC_ERR_OK);
    ck_assert_uint_eq(strlen(big), N);
    int seen[256] = {0};
    for (size_t i = 0; i < N; i++)
        seen[(unsigned char)big[i]]++;
    int distinct = 0;
    for (int c = 0; c < 256; c++) {
        if (seen[c]) {
            ck_assert_msg(in_alphabet((char)c), "unexpected 0x%02x", c);
            distinct++;
        }
    }
    ck_assert_int_eq(distinct, 62); /* missing one in 12400 draws: p < 1e-80 */
    char a[33], b[33];
    ck_assert_int_eq(byoc_random_token(a, 32), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_random_token(b, 32), BYOC_ERR_OK);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(random_bytes_fill)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    ck_assert_int_eq(byoc_random_bytes(a, sizeof a), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_random_bytes(b, sizeof b), BYOC_ERR_OK);
    ck_assert(memcmp(a, zero, sizeof a) != 0);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

/* ---- hashes ---- */

START_TEST(sha256_known_vectors)
{
    uint8_t h[BYOC_SHA256_LEN];
    char hex[2 * BYOC_SHA256_LEN + 1];
    byoc_sha256("abc", 3, h);
    hex_of(h, sizeof h, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    byoc_sha256("", 0, h);
    hex_of(h, sizeof h, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(hmac_rfc4231_case_1_and_2)
{
    uint8_t h[BYOC_SHA256_LEN];
    char hex[2 * BYOC_SHA256_LEN + 1];
    static const char data2[] = "what do ya want for nothing?";
    byoc_hmac_sha256("Jefe", 4, data2, sizeof data2 - 1, h);
    hex_of(h, sizeof h, hex);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    byoc_hmac_sha256(k1, sizeof k1, "Hi There", 8, h);
    hex_of(h, sizeof h, hex);
    ck_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}
END_TEST

START_TEST(hmac_rfc4231_case_6_long_key)
{
    uint8_t k[131], h[BYOC_SHA256_LEN];
    char hex[2 * BYOC_SHA256_LEN + 1];
    static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(k, 0xaa, sizeof k);
    byoc_hmac_sha256(k, sizeof k, data, sizeof data - 1, h);
    hex_of(h, sizeof h, hex);
    ck_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}
END_TEST

START_TEST(ct_equal_and_wipe)
{
    uint8_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert(byoc_ct_equal(a, b, sizeof a));
    b[7] ^= 1;
    ck_assert(!byoc_ct_equal(a, b, sizeof a));
    ck_assert(byoc_ct_equal(a, b, 7));
    byoc_wipe(a, sizeof a);
    static const uint8_t zero[8] = {0};
    ck_assert_mem_eq(a, zero, sizeof a);
}
END_TEST

START_TEST(secret_matches_only_exact_secret)
{
    uint8_t stored[BYOC_SHA256_LEN];
    byoc_sha256("s3cret-value", 12, stored);
    ck_assert(byoc_secret_matches("s3cret-value", stored));
    ck_assert(!byoc_secret_matches("s3cret-valuE", stored));
    ck_assert(!byoc_secret_matches("s3cret-value ", stored));
    ck_assert(!byoc_secret_matches("s3cret-valu", stored));
    ck_assert(!byoc_secret_matches("", stored));
    uint8_t zero[BYOC_SHA256_LEN] = {0};
    ck_assert(!byoc_secret_matches("", zero));
}
END_TEST

/* ---- codecs ---- */

static const struct {
    const char *plain, *b64;
} rfc4648[] = {{"", ""},
               {"f", "Zg=="},
               {"fo", "Zm8="},
               {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="},
               {"fooba", "Zm9vYmE="},
               {"foobar", "Zm9vYmFy"}};

START_TEST(base64_encode_rfc4648)
{
    char out[16];
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        size_t n = byoc_base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), out, sizeof out);
        ck_assert_uint_eq(n, strlen(rfc4648[i].b64));
        ck_assert_str_eq(out, rfc4648[i].b64);
    }
}
END_TEST

/* RFC 4648 section 5 without padding: "-" and "_" for "+" and "/", no "=". */
START_TEST(base64url_encode_unpadded)
{
    static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char out[16];
    size_t n = 99;
    ck_assert(byoc_base64url_encode(bytes, sizeof bytes, out, sizeof out, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(out, "-_-_");
    ck_assert(byoc_base64url_encode("fo", 2, out, sizeof out, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(out, "Zm8");
    ck_assert(byoc_base64url_encode("", 0, out, sizeof out, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(out, "");
    ck_assert(!byoc_base64url_encode("foobar", 6, out, 8, &n)); /* no room for the NUL */
}
END_TEST

START_TEST(base64_encode_needs_room_for_nul)
{
    char out[9];
    ck_assert_uint_eq(byoc_base64_encode("foobar", 6, out, 8), 0);
    ck_assert_uint_eq(byoc_base64_encode("foobar", 6, out, 9), 8);
    ck_assert_str_eq(out, "Zm9vYmFy");
}
END_TEST

START_TEST(base64_decode_padded_and_unpadded)
{
    uint8_t out[16];
    size_t n = 99;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const char *b = rfc4648[i].b64;
        ck_assert_int_eq(byoc_base64_decode(b, strlen(b), out, sizeof out, &n), BYOC_ERR_OK);
        ck_assert_uint_eq(n, strlen(rfc4648[i].plain));
        ck_assert_mem_eq(out, rfc4648[i].plain, n);
        size_t unpadded = strcspn(b, "=");
        ck_assert_int_eq(byoc_base64_decode(b, unpadded, out, sizeof out, &n), BYOC_ERR_OK);
        ck_assert_uint_eq(n, strlen(rfc4648[i].plain));
        ck_assert_mem_eq(out, rfc4648[i].plain, n);
    }
}
END_TEST

START_TEST(base64_decode_url_safe_alphabet)
{
    static const uint8_t want[] = {0xfb, 0xff, 0xbf, 0xfe};
    uint8_t out[8];
    size_t n = 0;
    ck_assert_int_eq(byoc_base64_decode("+/+//g==", 8, out, sizeof out, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(out, want, 4);
    memset(out, 0, sizeof out);
    ck_assert_int_eq(byoc_base64_decode("-_-__g", 6, out, sizeof out, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(out, want, 4);
}
END_TEST

START_TEST(base64_round_trip_all_lengths)
{
    uint8_t in[70], back[70];
    char enc[100];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 250);
    for (size_t len = 0; len <= sizeof in; len++) {
        size_t e = byoc_base64_encode(in, len, enc, sizeof enc);
        ck_assert_uint_eq(e, 4 * ((len + 2) / 3));
        size_t n = 999;
        ck_assert_int_eq(byoc_base64_decode(enc, e, back, sizeof back, &n), BYOC_ERR_OK);
        ck_assert_uint_eq(n, len);
        ck_assert_mem_eq(back, in, len);
    }
}
END_TEST

START_TEST(base64_decode_rejects_bad_input)
{
    static const char *const bad[] = {
        "Zm9v!", "Zm 9v", "Zm9v\n", "Z", "Z===", "Zm=9", "Zm9vY", "\xc3\xa9Zm9v", "Zm9v.Zm9v"};
    uint8_t out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 4242;
        ck_assert_msg(byoc_base64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) ==
                          BYOC_ERR_INVALID,
                      "accepted '%s'", bad[i]);
        ck_assert_uint_eq(n, 4242);
    }
}
END_TEST

START_TEST(base64_decode_too_large)
{
    uint8_t out[8];
    size_t n = 0;
    ck_assert_int_eq(byoc_base64_decode("Zm9vYmFy", 8, out, 5, &n), BYOC_ERR_TOO_LARGE);
    ck_assert_int_eq(byoc_base64_decode("Zm9vYmFy", 8, out, 6, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 6);
}
END_TEST

START_TEST(hex_encode_decode)
{
    static const uint8_t want[] = {0x00, 0xff, 0x10, 0xab};
    uint8_t out[4];
    char hex[9];
    ck_assert(byoc_hex_decode("00ff10Ab", out, 4));
    ck_assert_mem_eq(out, want, 4);
    byoc_hex_encode(want, 4, hex);
    ck_assert_str_eq(hex, "00ff10ab");
    ck_assert(!byoc_hex_decode("00ff10a", out, 4));
    ck_assert(!byoc_hex_decode("00ff10abcd", out, 4));
    ck_assert(!byoc_hex_decode("00ff10zz", out, 4));
    ck_assert(!byoc_hex_decode("0x0f10ab", out, 4));
    ck_assert(!byoc_hex_decode(" 0ff10ab", out, 4));
    ck_assert(byoc_hex_decode("", out, 0));
}
END_TEST

/* ---- sealing ---- */

static void seal_str(const char *aad, const char *plain)
{
    ck_assert_int_eq(byoc_seal(key, aad, plain, strlen(plain), &sealed, &sealed_len), BYOC_ERR_OK);
}

static enum byoc_err unseal(const uint8_t *k, const char *aad, const uint8_t *in, size_t len)
{
    free(opened);
    opened = NULL;
    size_t n = 0;
    return byoc_unseal(k, aad, in, len, &opened, &n);
}

START_TEST(seal_round_trip)
{
    static const char *const plains[] = {"hello", "", "p\xc3\xa4ssw\xc3\xb6rd with spaces"};
    for (size_t i = 0; i < sizeof plains / sizeof plains[0]; i++) {
        free(sealed);
        seal_str("prv_1/field", plains[i]);
        ck_assert_uint_eq(sealed_len, strlen(plains[i]) + SEAL_OVERHEAD);
        ck_assert_int_eq(sealed[0], 1);
        size_t n = 999;
        ck_assert_int_eq(byoc_unseal(key, "prv_1/field", sealed, sealed_len, &opened, &n),
                         BYOC_ERR_OK);
        ck_assert_uint_eq(n, strlen(plains[i]));
        ck_assert_str_eq(opened, plains[i]);
        free(opened);
        opened = NULL;
    }
}
END_TEST

START_TEST(seal_large_and_out_len_optional)
{
    static char big[5000];
    memset(big, 'q', sizeof big - 1);
    seal_str("a", big);
    ck_assert_int_eq(byoc_unseal(key, "a", sealed, sealed_len, &opened, NULL), BYOC_ERR_OK);
    ck_assert_str_eq(opened, big);
    /* ciphertext does not contain the plaintext */
    ck_assert_ptr_null(memmem(sealed, sealed_len, "qqqqqqqq", 8));
}
END_TEST

START_TEST(seal_uses_fresh_nonce)
{
    uint8_t *first = NULL;
    size_t first_len = 0;
    ck_assert_int_eq(byoc_seal(key, "a", "same", 4, &first, &first_len), BYOC_ERR_OK);
    seal_str("a", "same");
    ck_assert_uint_eq(first_len, sealed_len);
    ck_assert(memcmp(first + 1, sealed + 1, 12) != 0);
    ck_assert(memcmp(first, sealed, sealed_len) != 0);
    free(first);
}
END_TEST

START_TEST(unseal_wrong_key_or_aad)
{
    seal_str("prv_1/cxone_client_secret", "top secret");
    uint8_t other[BYOC_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[31] ^= 0x01;
    ck_assert_int_eq(unseal(other, "prv_1/cxone_client_secret", sealed, sealed_len),
                     BYOC_ERR_CRYPTO);
    ck_assert_int_eq(unseal(key, "prv_2/cxone_client_secret", sealed, sealed_len), BYOC_ERR_CRYPTO);
    ck_assert_int_eq(unseal(key, "prv_1/webhook_secret", sealed, sealed_len), BYOC_ERR_CRYPTO);
    ck_assert_int_eq(unseal(key, "", sealed, sealed_len), BYOC_ERR_CRYPTO);
    ck_assert_ptr_null(opened);
    ck_assert_int_eq(unseal(key, "prv_1/cxone_client_secret", sealed, sealed_len), BYOC_ERR_OK);
}
END_TEST

START_TEST(unseal_any_flipped_bit_fails)
{
    seal_str("aad", "attack at dawn");
    uint8_t *copy = malloc(sealed_len);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < sealed_len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(copy, sealed, sealed_len);
            copy[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(unseal(key, "aad", copy, sealed_len) == BYOC_ERR_CRYPTO,
                          "byte %zu bit %d accepted", i, bit);
            ck_assert_ptr_null(opened);
        }
    }
    free(copy);
}
END_TEST

START_TEST(unseal_truncated_or_extended_fails)
{
    seal_str("aad", "attack at dawn");
    static const size_t cuts[] = {0, 1, 13, SEAL_OVERHEAD - 1, SEAL_OVERHEAD};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        ck_assert_msg(unseal(key, "aad", sealed, cuts[i]) == BYOC_ERR_CRYPTO, "len %zu", cuts[i]);
    ck_assert_int_eq(unseal(key, "aad", sealed, sealed_len - 1), BYOC_ERR_CRYPTO);
    uint8_t *longer = calloc(1, sealed_len + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, sealed, sealed_len);
    enum byoc_err e = unseal(key, "aad", longer, sealed_len + 1);
    free(longer);
    ck_assert_int_eq(e, BYOC_ERR_CRYPTO);
}
END_TEST

START_TEST(unseal_empty_plaintext_tamper)
{
    seal_str("aad", "");
    ck_assert_int_eq(unseal(key, "aad", sealed, sealed_len), BYOC_ERR_OK);
    ck_assert_str_eq(opened, "");
    sealed[sealed_len - 1] ^= 0x80;
    ck_assert_int_eq(unseal(key, "aad", sealed, sealed_len), BYOC_ERR_CRYPTO);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static Suite *crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase("random");
    tcase_add_test(tc, random_token_length_and_alphabet);
    tcase_add_test(tc, random_token_uses_whole_alphabet_and_differs);
    tcase_add_test(tc, random_bytes_fill);
    suite_add_tcase(s, tc);

    tc = tcase("hash");
    tcase_add_test(tc, sha256_known_vectors);
    tcase_add_test(tc, hmac_rfc4231_case_1_and_2);
    tcase_add_test(tc, hmac_rfc4231_case_6_long_key);
    tcase_add_test(tc, ct_equal_and_wipe);
    tcase_add_test(tc, secret_matches_only_exact_secret);
    suite_add_tcase(s, tc);

    tc = tcase("codec");
    tcase_add_test(tc, base64_encode_rfc4648);
    tcase_add_test(tc, base64_encode_needs_room_for_nul);
    tcase_add_test(tc, base64url_encode_unpadded);
    tcase_add_test(tc, base64_decode_padded_and_unpadded);
    tcase_add_test(tc, base64_decode_url_safe_alphabet);
    tcase_add_test(tc, base64_round_trip_all_lengths);
    tcase_add_test(tc, base64_decode_rejects_bad_input);
    tcase_add_test(tc, base64_decode_too_large);
    tcase_add_test(tc, hex_encode_decode);
    suite_add_tcase(s, tc);

    tc = tcase("seal");
    tcase_add_test(tc, seal_round_trip);
    tcase_add_test(tc, seal_large_and_out_len_optional);
    tcase_add_test(tc, seal_uses_fresh_nonce);
    tcase_add_test(tc, unseal_wrong_key_or_aad);
    tcase_add_test(tc, unseal_any_flipped_bit_fails);
    tcase_add_test(tc, unseal_truncated_or_extended_fails);
    tcase_add_test(tc, unseal_empty_plaintext_tamper);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crypto_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
