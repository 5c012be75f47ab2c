/*
 * byoc/json.h: UTF-8 validation, strict document intake (syntax, depth, trailing bytes) and the
 * small getters.
 */
#include "byoc/json.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

static cJSON *doc;
static char id[64];

static void setup(void)
{
    doc = NULL;
    memset(id, 0, sizeof id);
}

static void teardown(void)
{
    cJSON_Delete(doc);
    doc = NULL;
}

static bool utf8(const char *s)
{
    return byoc_utf8_valid(s, strlen(s));
}

/* Parses a C string (without its NUL) into doc. */
static enum byoc_err parse(const char *s)
{
    cJSON_Delete(doc);
    doc = NULL;
    return byoc_json_parse(s, strlen(s), &doc);
}

/* depth nested arrays "[[...]]" into a buffer the caller frees. */
static char *nested_arrays(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

/* depth nested objects {"k":{"k":...1...}} built with a byoc_buf. */
static char *nested_objects(int depth)
{
    struct byoc_buf b;
    byoc_buf_init(&b, 1 << 16);
    for (int i = 0; i < depth; i++)
        ck_assert_int_eq(byoc_buf_puts(&b, "{\"k\":"), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_buf_puts(&b, "1"), BYOC_ERR_OK);
    for (int i = 0; i < depth; i++)
        ck_assert_int_eq(byoc_buf_puts(&b, "}"), BYOC_ERR_OK);
    return byoc_buf_steal(&b, NULL);
}

/* ---- UTF-8 ---- */

/* A member named twice: which one counts would depend on the reader. */
START_TEST(duplicate_member_names_refused)
{
    ck_assert_int_eq(parse("{\"role\":\"user\",\"role\":\"bot\"}"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("[{\"a\":1},{\"b\":{\"x\":1,\"y\":2,\"x\":3}}]"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("[{\"a\":1},{\"a\":1}]"), BYOC_ERR_OK); /* separate objects */
    ck_assert_int_eq(parse("{\"a\":1,\"A\":2,\"a \":3}"), BYOC_ERR_OK);
    /* many members stay fast (sorted, not compared pairwise) and a late repeat is found */
    size_t n = 20000, cap = n * 16 + 16, used = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    used += (size_t)snprintf(big + used, cap - used, "{");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(big + used, cap - used, "%s\"k%zu\":0", i ? "," : "", i);
    snprintf(big + used, cap - used, "}");
    ck_assert_int_eq(parse(big), BYOC_ERR_OK);
    snprintf(big + used, cap - used, ",\"k20000\":1}");
    ck_assert_int_eq(parse(big), BYOC_ERR_OK);
    snprintf(big + used, cap - used, ",\"k7\":1}");
    ck_assert_int_eq(parse(big), BYOC_ERR_JSON_SYNTAX);
    free(big);
}
END_TEST

/* A number beyond a double would read as infinity and be written back as null. */
START_TEST(numbers_beyond_a_double_refused)
{
    ck_assert_int_eq(parse("{\"n\":1e999}"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("[1,[2,[-3e400]]]"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("{\"a\":{\"b\":[0,1.7e308]}}"), BYOC_ERR_OK);
    ck_assert_int_eq(parse("123456789012345678901234567890"), BYOC_ERR_OK); /* big, finite */
}
END_TEST

START_TEST(utf8_accepts_well_formed)
{
    ck_assert(utf8(""));
    ck_assert(utf8("plain ascii"));
    ck_assert(utf8("\xc3\xa9"));                   /* U+00E9 */
    ck_assert(utf8("\xe2\x82\xac"));               /* U+20AC */
    ck_assert(utf8("\xed\x9f\xbf"));               /* U+D7FF, just below the surrogates */
    ck_assert(utf8("\xee\x80\x80"));               /* U+E000, just above */
    ck_assert(utf8("\xf0\x9f\x98\x80"));           /* U+1F600 */
    ck_assert(utf8("\xf4\x8f\xbf\xbf"));           /* U+10FFFF */
    ck_assert(utf8("a\xc3\xa9z\xf0\x90\x80\x80")); /* mixed, U+10000 */
}
END_TEST

START_TEST(utf8_rejects_overlongs)
{
    ck_assert(!utf8("\xc0\xaf"));
    ck_assert(!utf8("\xc1\xbf"));
    ck_assert(!utf8("\xe0\x80\xaf"));
    ck_assert(!utf8("\xe0\x9f\xbf"));
    ck_assert(!utf8("\xf0\x80\x80\xaf"));
    ck_assert(!utf8("\xf0\x8f\xbf\xbf"));
}
END_TEST

START_TEST(utf8_rejects_surrogates)
{
    ck_assert(!utf8("\xed\xa0\x80"));             /* U+D800 */
    ck_assert(!utf8("\xed\xbf\xbf"));             /* U+DFFF */
    ck_assert(!utf8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
}
END_TEST

START_TEST(utf8_rejects_beyond_u10ffff)
{
    ck_assert(!utf8("\xf4\x90\x80\x80"));
    ck_assert(!utf8("\xf5\x80\x80\x80"));
    ck_assert(!utf8("\xf8\x88\x80\x80\x80"));
    ck_assert(!utf8("\xfe"));
    ck_assert(!utf8("\xff"));
}
END_TEST

START_TEST(utf8_rejects_truncated_and_stray_bytes)
{
    ck_assert(!utf8("\xc3"));
    ck_assert(!utf8("\xe2\x82"));
    ck_assert(!utf8("\xf0\x9f\x98"));
    ck_assert(!utf8("\xe2\x82"
                    "A"));
    ck_assert(!utf8("a\x80"));
    ck_assert(!utf8("\xbf"));
    ck_assert(!utf8("\xc3\xc3\xa9"));
    /* the length argument is honoured: a valid character cut by len */
    ck_assert(!byoc_utf8_valid("\xc3\xa9", 1));
    ck_assert(!byoc_utf8_valid("\xf0\x9f\x98\x80", 3));
    ck_assert(byoc_utf8_valid("ab\xff", 2));
}
END_TEST

/* ---- parse ---- */

START_TEST(parse_object)
{
    ck_assert_int_eq(parse("  {\"a\": [1, \"x\"], \"b\": {\"c\": null}}\r\n\t "), BYOC_ERR_OK);
    ck_assert(cJSON_IsObject(doc));
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "a")));
    ck_assert_int_eq(parse("\"just a string\""), BYOC_ERR_OK);
    ck_assert(cJSON_IsString(doc));
}
END_TEST

START_TEST(parse_rejects_trailing_bytes)
{
    ck_assert_int_eq(parse("{} x"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("{}{}"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("[1],"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(parse("1 2"), BYOC_ERR_JSON_SYNTAX);
    ck_assert_ptr_null(doc);
}
END_TEST

START_TEST(parse_rejects_bad_syntax)
{
    static const char *const bad[] = {"",      "   ",       "{",   "{\"a\":}",      "{'a':1}",
                                      "[1,]x", "{\"a\" 1}", "nul", "\"unterminated"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i]) == BYOC_ERR_JSON_SYNTAX, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(parse_leaves_out_alone_on_error)
{
    cJSON *sentinel = (cJSON *)&doc;
    cJSON *out = sentinel;
    ck_assert_int_eq(byoc_json_parse("{} x", 4, &out), BYOC_ERR_JSON_SYNTAX);
    ck_assert_ptr_eq(out, sentinel);
    ck_assert_int_eq(byoc_json_parse("\"\xff\"", 3, &out), BYOC_ERR_UTF8);
    ck_assert_ptr_eq(out, sentinel);
}
END_TEST

START_TEST(parse_depth_limit_arrays)
{
    char *ok = nested_arrays(BYOC_JSON_MAX_DEPTH);
    char *deep = nested_arrays(BYOC_JSON_MAX_DEPTH + 1);
    enum byoc_err e_ok = parse(ok);
    enum byoc_err e_deep = parse(deep);
    free(ok);
    free(deep);
    ck_assert_int_eq(e_ok, BYOC_ERR_OK);
    ck_assert_int_eq(e_deep, BYOC_ERR_JSON_DEPTH);
}
END_TEST

START_TEST(parse_depth_limit_objects)
{
    char *ok = nested_objects(BYOC_JSON_MAX_DEPTH);
    char *deep = nested_objects(BYOC_JSON_MAX_DEPTH + 1);
    enum byoc_err e_ok = parse(ok);
    enum byoc_err e_deep = parse(deep);
    free(ok);
    free(deep);
    ck_assert_int_eq(e_ok, BYOC_ERR_OK);
    ck_assert_int_eq(e_deep, BYOC_ERR_JSON_DEPTH);
}
END_TEST

START_TEST(parse_depth_counts_nesting_not_siblings)
{
    /* 40 sibling arrays at depth 2 are fine */
    struct byoc_buf b;
    byoc_buf_init(&b, 4096);
    ck_assert_int_eq(byoc_buf_puts(&b, "["), BYOC_ERR_OK);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(byoc_buf_puts(&b, i ? ",[]" : "[]"), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_buf_puts(&b, "]"), BYOC_ERR_OK);
    enum byoc_err e = parse(byoc_buf_str(&b));
    byoc_buf_release(&b);
    ck_assert_int_eq(e, BYOC_ERR_OK);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 40);
}
END_TEST

START_TEST(parse_brackets_in_strings_do_not_count)
{
    struct byoc_buf b;
    byoc_buf_init(&b, 4096);
    ck_assert_int_eq(byoc_buf_puts(&b, "{\"s\":\"\\\"\\\\"), BYOC_ERR_OK); /* "s":"\"\\ ... */
    for (int i = 0; i < 3 * BYOC_JSON_MAX_DEPTH; i++)
        ck_assert_int_eq(byoc_buf_puts(&b, "[{"), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_buf_puts(&b, "\"}"), BYOC_ERR_OK);
    enum byoc_err e = parse(byoc_buf_str(&b));
    byoc_buf_release(&b);
    ck_assert_int_eq(e, BYOC_ERR_OK);
    const char *s = byoc_json_str(doc, "s");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(strncmp(s, "\"\\[{[{", 6), 0);
}
END_TEST

START_TEST(parse_rejects_invalid_utf8)
{
    ck_assert_int_eq(parse("{\"a\":\"\xc3\"}"), BYOC_ERR_UTF8);
    ck_assert_int_eq(parse("{\"a\":\"\xed\xa0\x80\"}"), BYOC_ERR_UTF8);
    ck_assert_int_eq(parse("{\"\xc0\xaf\":1}"), BYOC_ERR_UTF8);
    ck_assert_int_eq(parse("{\"a\":\"\xc3\xa9\"}"), BYOC_ERR_OK);
    ck_assert_str_eq(byoc_json_str(doc, "a"), "\xc3\xa9");
}
END_TEST

START_TEST(parse_rejects_embedded_nul)
{
    static const char in_string[] = "{\"a\":\"x\0y\"}";
    static const char after[] = "{\"a\":1}\0";
    static const char before_ws[] = "{\"a\":1} \0 ";
    cJSON *out = NULL;
    ck_assert_int_eq(byoc_json_parse(in_string, sizeof in_string - 1, &out), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(byoc_json_parse(after, sizeof after - 1, &out), BYOC_ERR_JSON_SYNTAX);
    ck_assert_int_eq(byoc_json_parse(before_ws, sizeof before_ws - 1, &out), BYOC_ERR_JSON_SYNTAX);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(parse_honours_length)
{
    static const char s[] = "{\"a\":1}garbage";
    ck_assert_int_eq(byoc_json_parse(s, 7, &doc), BYOC_ERR_OK);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "a")));
}
END_TEST

/* ---- getters ---- */

START_TEST(json_id_string_and_integral_number)
{
    ck_assert_int_eq(parse("{\"s\":\"abc-1\",\"n\":42,\"neg\":-7,\"big\":123456789012,"
                           "\"z\":0}"),
                     BYOC_ERR_OK);
    ck_assert(byoc_json_id(doc, "s", id, sizeof id));
    ck_assert_str_eq(id, "abc-1");
    ck_assert(byoc_json_id(doc, "n", id, sizeof id));
    ck_assert_str_eq(id, "42");
    ck_assert(byoc_json_id(doc, "neg", id, sizeof id));
    ck_assert_str_eq(id, "-7");
    ck_assert(byoc_json_id(doc, "big", id, sizeof id));
    ck_assert_str_eq(id, "123456789012");
    ck_assert(byoc_json_id(doc, "z", id, sizeof id));
    ck_assert_str_eq(id, "0");
}
END_TEST

START_TEST(json_id_rejects_other_types_and_fractions)
{
    ck_assert_int_eq(parse("{\"f\":1.5,\"t\":true,\"nul\":null,\"o\":{},\"a\":[1],\"e\":\"\","
                           "\"huge\":1e300,\"ninf\":-1e300,\"over\":9007199254740993}"),
                     BYOC_ERR_OK);
    static const char *const keys[] = {"f", "t",    "nul",  "o",    "a",
                                       "e", "huge", "ninf", "over", "missing"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(!byoc_json_id(doc, keys[i], id, sizeof id), "accepted %s", keys[i]);
}
END_TEST

START_TEST(json_id_respects_capacity)
{
    ck_assert_int_eq(parse("{\"s\":\"abcdefghij\",\"n\":123456}"), BYOC_ERR_OK);
    ck_assert(!byoc_json_id(doc, "s", id, 10));
    ck_assert(byoc_json_id(doc, "s", id, 11));
    ck_assert_str_eq(id, "abcdefghij");
    ck_assert(!byoc_json_id(doc, "n", id, 6));
    ck_assert(byoc_json_id(doc, "n", id, 7));
    ck_assert_str_eq(id, "123456");
}
END_TEST

START_TEST(json_path_follows_objects_only)
{
    ck_assert_int_eq(parse("{\"a\":{\"b\":{\"c\":\"x\"}},\"arr\":[{\"b\":1}]}"), BYOC_ERR_OK);
    const cJSON *v = byoc_json_path(doc, "a", "b", "c", NULL);
    ck_assert(cJSON_IsString(v));
    ck_assert_str_eq(v->valuestring, "x");
    ck_assert(cJSON_IsObject(byoc_json_path(doc, "a", "b", NULL)));
    ck_assert_ptr_eq(byoc_json_path(doc, NULL), doc);
    ck_assert_ptr_null(byoc_json_path(doc, "a", "x", NULL));
    ck_assert_ptr_null(byoc_json_path(doc, "a", "b", "c", "d", NULL));
    ck_assert_ptr_null(byoc_json_path(doc, "arr", "b", NULL));
    ck_assert_ptr_null(byoc_json_path(NULL, "a", NULL));
    ck_assert_ptr_null(byoc_json_path(doc, "A", NULL)); /* case-sensitive */
}
END_TEST

START_TEST(json_str_and_render)
{
    ck_assert_int_eq(parse("{\"s\":\"v\",\"n\":1}"), BYOC_ERR_OK);
    ck_assert_str_eq(byoc_json_str(doc, "s"), "v");
    ck_assert_ptr_null(byoc_json_str(doc, "n"));
    ck_assert_ptr_null(byoc_json_str(doc, "missing"));
    ck_assert(byoc_json_add_str(doc, "q", "a\"b"));
    ck_assert(byoc_json_add_str(doc, "z", NULL));
    char *r = byoc_json_render(doc);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r, "{\"s\":\"v\",\"n\":1,\"q\":\"a\\\"b\",\"z\":null}");
    free(r);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase("utf8");
    tcase_add_test(tc, utf8_accepts_well_formed);
    tcase_add_test(tc, numbers_beyond_a_double_refused);
    tcase_add_test(tc, duplicate_member_names_refused);
    tcase_add_test(tc, utf8_rejects_overlongs);
    tcase_add_test(tc, utf8_rejects_surrogates);
    tcase_add_test(tc, utf8_rejects_beyond_u10ffff);
    tcase_add_test(tc, utf8_rejects_truncated_and_stray_bytes);
    suite_add_tcase(s, tc);

    tc = tcase("parse");
    tcase_add_test(tc, parse_object);
    tcase_add_test(tc, parse_rejects_trailing_bytes);
    tcase_add_test(tc, parse_rejects_bad_syntax);
    tcase_add_test(tc, parse_leaves_out_alone_on_error);
    tcase_add_test(tc, parse_rejects_invalid_utf8);
    tcase_add_test(tc, parse_rejects_embedded_nul);
    tcase_add_test(tc, parse_honours_length);
    suite_add_tcase(s, tc);

    tc = tcase("depth");
    tcase_add_test(tc, parse_depth_limit_arrays);
    tcase_add_test(tc, parse_depth_limit_objects);
    tcase_add_test(tc, parse_depth_counts_nesting_not_siblings);
    tcase_add_test(tc, parse_brackets_in_strings_do_not_count);
    suite_add_tcase(s, tc);

    tc = tcase("getters");
    tcase_add_test(tc, json_id_string_and_integral_number);
    tcase_add_test(tc, json_id_rejects_other_types_and_fractions);
    tcase_add_test(tc, json_id_respects_capacity);
    tcase_add_test(tc, json_path_follows_objects_only);
    tcase_add_test(tc, json_str_and_render);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
