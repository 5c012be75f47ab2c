/*
 * byoc/util.h: bounded number parsing, URL checks and escaping, form decoding, ids and time.
 */
#include "byoc/util.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/limits.h"
#include "byoc/banned.h"

/* Output buffers shared by the tests of one process (Check forks per test). */
static char out[BYOC_URL_MAX + 64];
static char *decoded;

static void setup(void)
{
    memset(out, 'X', sizeof out);
    decoded = NULL;
}

static void teardown(void)
{
    free(decoded);
    decoded = NULL;
}

/* ---- byoc_parse_i64 ---- */

START_TEST(parse_i64_accepts_whole_numbers_in_range)
{
    int64_t v = -1;
    ck_assert(byoc_parse_i64("42", 0, 100, &v));
    ck_assert_int_eq(v, 42);
    ck_assert(byoc_parse_i64("-5", -10, 10, &v));
    ck_assert_int_eq(v, -5);
    ck_assert(byoc_parse_i64("0", 0, 0, &v));
    ck_assert_int_eq(v, 0);
}
END_TEST

START_TEST(parse_i64_bounds_are_inclusive)
{
    int64_t v = 0;
    ck_assert(byoc_parse_i64("60", 60, 86400, &v));
    ck_assert_int_eq(v, 60);
    ck_assert(byoc_parse_i64("86400", 60, 86400, &v));
    ck_assert_int_eq(v, 86400);
    ck_assert(!byoc_parse_i64("59", 60, 86400, &v));
    ck_assert(!byoc_parse_i64("86401", 60, 86400, &v));
}
END_TEST

START_TEST(parse_i64_full_int64_range)
{
    int64_t v = 0;
    ck_assert(byoc_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v));
    ck_assert(v == INT64_MAX);
    ck_assert(byoc_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v));
    ck_assert(v == INT64_MIN);
    ck_assert(!byoc_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v));
    ck_assert(!byoc_parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v));
}
END_TEST

START_TEST(parse_i64_rejects_non_numbers_and_leaves_out_alone)
{
    static const char *const bad[] = {"", "abc", "12a", "1.5", "0x10", "3600 ", "1e3", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 777;
        ck_assert_msg(!byoc_parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), "accepted '%s'", bad[i]);
        ck_assert_int_eq(v, 777);
    }
    int64_t v = 777;
    ck_assert(!byoc_parse_i64(NULL, 0, 10, &v));
    ck_assert_int_eq(v, 777);
}
END_TEST

/* ---- byoc_url_valid ---- */

START_TEST(url_valid_accepts_http_and_https)
{
    ck_assert(byoc_url_valid("https://example.com"));
    ck_assert(byoc_url_valid("http://x"));
    ck_assert(byoc_url_valid("https://example.com:8443/base/path"));
    ck_assert(byoc_url_valid("http://127.0.0.1:8080"));
}
END_TEST

START_TEST(url_valid_rejects_other_schemes_and_empty_hosts)
{
    ck_assert(!byoc_url_valid("ftp://x"));
    ck_assert(!byoc_url_valid("example.com"));
    ck_assert(!byoc_url_valid("https://"));
    ck_assert(!byoc_url_valid("https:///path"));
    ck_assert(!byoc_url_valid(""));
    ck_assert(!byoc_url_valid("javascript:alert(1)"));
}
END_TEST

START_TEST(url_valid_rejects_query_fragment_userinfo_and_bad_bytes)
{
    ck_assert(!byoc_url_valid("https://x?q=1"));
    ck_assert(!byoc_url_valid("https://x/#frag"));
    ck_assert(!byoc_url_valid("https://user:pw@x"));
    ck_assert(!byoc_url_valid("https://x/a b"));
    ck_assert(!byoc_url_valid("https://x/\x01"));
    ck_assert(!byoc_url_valid("https://x/\x7f"));
    ck_assert(!byoc_url_valid("https://x/\xc3\xa9"));
    ck_assert(!byoc_url_valid("https://x/\"<script>"));
    ck_assert(!byoc_url_valid("https://x\\y"));
}
END_TEST

START_TEST(url_valid_length_cap)
{
    static char url[BYOC_URL_MAX + 2];
    memset(url, 'a', sizeof url - 1);
    memcpy(url, "https://", 8);
    url[BYOC_URL_MAX] = '\0';
    ck_assert(byoc_url_valid(url));
    url[BYOC_URL_MAX] = 'a';
    url[BYOC_URL_MAX + 1] = '\0';
    ck_assert(!byoc_url_valid(url));
}
END_TEST

/* ---- byoc_url_authority ---- */

START_TEST(url_authority_lowercases_host_and_port)
{
    ck_assert(byoc_url_authority("https://Example.COM:8443/Path?x=Y", out, sizeof out));
    ck_assert_str_eq(out, "example.com:8443");
    ck_assert(byoc_url_authority("http://h", out, sizeof out));
    ck_assert_str_eq(out, "h");
    ck_assert(byoc_url_authority("http://H#frag", out, sizeof out));
    ck_assert_str_eq(out, "h");
}
END_TEST

START_TEST(url_authority_failures)
{
    ck_assert(!byoc_url_authority("no-scheme.example.com", out, sizeof out));
    ck_assert(!byoc_url_authority("http:///path", out, sizeof out));
    ck_assert(!byoc_url_authority("http://abcd/", out, 4));
    ck_assert(byoc_url_authority("http://abcd/", out, 5));
    ck_assert_str_eq(out, "abcd");
}
END_TEST

/* ---- byoc_url_escape ---- */

START_TEST(url_escape_keeps_unreserved_only)
{
    ck_assert(byoc_url_escape("aZ09-._~", out, sizeof out));
    ck_assert_str_eq(out, "aZ09-._~");
    ck_assert(byoc_url_escape("a b&c=d/\xc3\xa9+?#%", out, sizeof out));
    ck_assert_str_eq(out, "a%20b%26c%3Dd%2F%C3%A9%2B%3F%23%25");
    ck_assert(byoc_url_escape("", out, 1));
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(url_escape_respects_capacity)
{
    ck_assert(byoc_url_escape("ab", out, 3));
    ck_assert_str_eq(out, "ab");
    ck_assert(!byoc_url_escape("ab", out, 2));
    ck_assert(byoc_url_escape(" ", out, 4));
    ck_assert_str_eq(out, "%20");
    ck_assert(!byoc_url_escape(" ", out, 3));
    out[0] = 'Q';
    ck_assert(!byoc_url_escape("", out, 0));
    ck_assert_int_eq(out[0], 'Q'); /* nothing written with cap 0 */
}
END_TEST

/* ---- byoc_form_decode ---- */

START_TEST(form_decode_plus_and_percent)
{
    static const char in[] = "a+b%20c%2B%3d";
    decoded = byoc_form_decode(in, strlen(in));
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded, "a b c+=");
}
END_TEST

START_TEST(form_decode_utf8_and_length)
{
    decoded = byoc_form_decode("%C3%a9t%C3%A9", 13);
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded, "\xc3\xa9t\xc3\xa9");
    free(decoded);
    decoded = byoc_form_decode("abcdef", 3); /* only len bytes are read */
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded, "abc");
    free(decoded);
    decoded = byoc_form_decode("", 0);
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded, "");
}
END_TEST

START_TEST(form_decode_rejects_bad_escapes)
{
    static const char *const bad[] = {"%zz", "ab%", "ab%4", "%g0", "%0g", "x%%41"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = byoc_form_decode(bad[i], strlen(bad[i]));
        ck_assert_msg(d == NULL, "accepted '%s'", bad[i]);
    }
    /* "%4" is a bad escape even when a valid byte follows outside len */
    ck_assert_ptr_null(byoc_form_decode("%41", 2));
}
END_TEST

START_TEST(form_decode_rejects_invalid_utf8_and_nul)
{
    static const char *const bad[] = {"%C3", "%C0%AF", "%ED%A0%80", "%FF", "a%00b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = byoc_form_decode(bad[i], strlen(bad[i]));
        ck_assert_msg(d == NULL, "accepted '%s'", bad[i]);
    }
    static const char raw[] = {'a', '\0', 'b'};
    ck_assert_ptr_null(byoc_form_decode(raw, sizeof raw));
    ck_assert_ptr_null(byoc_form_decode("\xc3(", 2));
}
END_TEST

/* ---- ids ---- */

START_TEST(id_valid_charset_and_length)
{
    ck_assert(byoc_id_valid("prv_AbC019", BYOC_ID_MAX));
    ck_assert(byoc_id_valid("a.b-c_d:e", BYOC_ID_MAX));
    ck_assert(!byoc_id_valid("", BYOC_ID_MAX));
    ck_assert(!byoc_id_valid("a/b", BYOC_ID_MAX));
    ck_assert(!byoc_id_valid("a b", BYOC_ID_MAX));
    ck_assert(!byoc_id_valid("a%2F", BYOC_ID_MAX));
    ck_assert(!byoc_id_valid("\xc3\xa9", BYOC_ID_MAX));
    ck_assert(byoc_id_valid("abcd", 4));
    ck_assert(!byoc_id_valid("abcde", 4));
}
END_TEST

START_TEST(id_new_shape_and_uniqueness)
{
    char a[BYOC_ID_MAX], b[BYOC_ID_MAX];
    ck_assert_int_eq(byoc_id_new("prv", a), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_id_new("prv", b), BYOC_ERR_OK);
    ck_assert_uint_eq(strlen(a), 4 + 20);
    ck_assert_int_eq(strncmp(a, "prv_", 4), 0);
    ck_assert(byoc_id_valid(a, BYOC_ID_MAX));
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(strlcpy_fits_or_empties)
{
    char small[4];
    ck_assert(byoc_strlcpy(small, "abc", sizeof small));
    ck_assert_str_eq(small, "abc");
    ck_assert(!byoc_strlcpy(small, "abcd", sizeof small));
    ck_assert_str_eq(small, "");
}
END_TEST

/* ---- time ---- */

START_TEST(time_iso_formats_utc_with_millis)
{
    char t[BYOC_TIME_ISO_MAX];
    byoc_time_iso(0, t);
    ck_assert_str_eq(t, "1970-01-01T00:00:00.000Z");
    byoc_time_iso(1700000000123LL, t);
    ck_assert_str_eq(t, "2023-11-14T22:13:20.123Z");
    byoc_time_iso(951782400007LL, t); /* leap day */
    ck_assert_str_eq(t, "2000-02-29T00:00:00.007Z");
    byoc_time_iso(4102444799999LL, t);
    ck_assert_str_eq(t, "2099-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(clocks_move_forward)
{
    int64_t w = byoc_now_ms(), m = byoc_mono_ms();
    ck_assert(w > 1600000000000LL); /* after 2020 */
    ck_assert(byoc_mono_ms() >= m);
    ck_assert(byoc_now_ms() >= w);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase("parse_i64");
    tcase_add_test(tc, parse_i64_accepts_whole_numbers_in_range);
    tcase_add_test(tc, parse_i64_bounds_are_inclusive);
    tcase_add_test(tc, parse_i64_full_int64_range);
    tcase_add_test(tc, parse_i64_rejects_non_numbers_and_leaves_out_alone);
    suite_add_tcase(s, tc);

    tc = tcase("url");
    tcase_add_test(tc, url_valid_accepts_http_and_https);
    tcase_add_test(tc, url_valid_rejects_other_schemes_and_empty_hosts);
    tcase_add_test(tc, url_valid_rejects_query_fragment_userinfo_and_bad_bytes);
    tcase_add_test(tc, url_valid_length_cap);
    tcase_add_test(tc, url_authority_lowercases_host_and_port);
    tcase_add_test(tc, url_authority_failures);
    tcase_add_test(tc, url_escape_keeps_unreserved_only);
    tcase_add_test(tc, url_escape_respects_capacity);
    suite_add_tcase(s, tc);

    tc = tcase("form_decode");
    tcase_add_test(tc, form_decode_plus_and_percent);
    tcase_add_test(tc, form_decode_utf8_and_length);
    tcase_add_test(tc, form_decode_rejects_bad_escapes);
    tcase_add_test(tc, form_decode_rejects_invalid_utf8_and_nul);
    suite_add_tcase(s, tc);

    tc = tcase("ids");
    tcase_add_test(tc, id_valid_charset_and_length);
    tcase_add_test(tc, id_new_shape_and_uniqueness);
    tcase_add_test(tc, strlcpy_fits_or_empties);
    suite_add_tcase(s, tc);

    tc = tcase("time");
    tcase_add_test(tc, time_iso_formats_utc_with_millis);
    tcase_add_test(tc, clocks_move_forward);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
