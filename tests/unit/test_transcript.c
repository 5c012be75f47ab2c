/*
 * byoc/transcript.h: splitting text into pieces of at most N characters (code points, not bytes)
 * at line ends, then spaces, never inside a UTF-8 sequence; and the transcript messages of a bot
 * conversation in combined and per-turn mode.
 */
#include "byoc/transcript.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/json.h"
#include "byoc/banned.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

/* Code points in s (valid UTF-8): every byte that is not a continuation byte starts one. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
    }
    return n;
}

/* Every piece is non-empty, valid UTF-8 and at most max_chars characters, and the pieces, with
 * the one separator ('\n' or ' ') each cut dropped put back, give back text exactly. A cut made
 * between characters drops nothing, and then the next piece starts with no separator. */
static void assert_pieces_rebuild(const char *text, size_t max_chars, char **pieces, size_t n)
{
    size_t pos = 0, len = strlen(text);
    for (size_t k = 0; k < n; k++) {
        size_t plen = strlen(pieces[k]);
        ck_assert_msg(plen > 0, "piece %zu of max %zu is empty", k, max_chars);
        ck_assert_msg(byoc_utf8_valid(pieces[k], plen), "piece %zu of max %zu is not UTF-8", k,
                      max_chars);
        ck_assert_msg(utf8_chars(pieces[k]) <= max_chars, "piece %zu has %zu chars > %zu", k,
                      utf8_chars(pieces[k]), max_chars);
        ck_assert_msg(pos + plen <= len && memcmp(text + pos, pieces[k], plen) == 0,
                      "piece %zu (\"%s\") is not the text at byte %zu (max %zu)", k, pieces[k], pos,
                      max_chars);
        pos += plen;
        if (pos < len && (text[pos] == '\n' || text[pos] == ' '))
            pos++; /* the separator the cut was made at (also a trailing one) */
    }
    ck_assert_msg(pos == len, "pieces cover %zu of %zu bytes (max %zu)", pos, len, max_chars);
}

static void chunk_ok(const char *text, size_t max_chars, char ***out, size_t *n)
{
    ck_assert_int_eq(byoc_chunk_text(text, max_chars, out, n), BYOC_ERR_OK);
}

/* Asserts the pieces are exactly want[0..nwant). */
static void assert_chunks(const char *text, size_t max_chars, const char *const *want, size_t nwant)
{
    char **pieces = NULL;
    size_t n = 0;
    chunk_ok(text, max_chars, &pieces, &n);
    ck_assert_msg(n == nwant, "\"%s\" at %zu chars: %zu pieces, want %zu", text, max_chars, n,
                  nwant);
    for (size_t k = 0; k < n; k++)
        ck_assert_str_eq(pieces[k], want[k]);
    byoc_chunks_free(pieces, n);
}

/* A repeated mix of 1-, 2-, 3- and 4-byte characters, words and lines; caller frees. */
static char *mixed_text(size_t repeats)
{
    static const char unit[] = "Grüße aus 日本語 😀ok\nnext line with words é😀é ";
    size_t ulen = sizeof unit - 1;
    char *s = malloc(ulen * repeats + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < repeats; i++)
        memcpy(s + i * ulen, unit, ulen);
    s[ulen * repeats] = '\0';
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* byoc_chunk_text                                                                             */

START_TEST(chunk_short_text_is_one_piece)
{
    const char *want[] = {"hello world"};
    assert_chunks("hello world", 100, want, 1);
}
END_TEST

START_TEST(chunk_exactly_max_chars_is_one_piece)
{
    const char *ascii[] = {"abcdefghij"};
    assert_chunks("abcdefghij", 10, ascii, 1);
    /* 10 characters but 30 bytes: the limit counts characters. */
    const char *cjk[] = {"日本語日本語日本語日"};
    assert_chunks("日本語日本語日本語日", 10, cjk, 1);
    const char *spaced[] = {"ab cd ef g"};
    assert_chunks("ab cd ef g", 10, spaced, 1);
}
END_TEST

START_TEST(chunk_one_over_max_splits)
{
    const char *want[] = {"abcdefghij", "k"};
    assert_chunks("abcdefghijk", 10, want, 2);
}
END_TEST

START_TEST(chunk_long_text_pieces_fit_and_rebuild)
{
    char *text = mixed_text(20);
    for (size_t max = 1; max <= 60; max++) {
        char **pieces = NULL;
        size_t n = 0;
        chunk_ok(text, max, &pieces, &n);
        ck_assert_uint_gt(n, 1);
        assert_pieces_rebuild(text, max, pieces, n);
        byoc_chunks_free(pieces, n);
    }
    free(text);
}
END_TEST

START_TEST(chunk_prefers_line_end)
{
    /* 20 characters reach past both the line end (10) and a space (17). */
    const char *want[] = {"first line", "second part here"};
    assert_chunks("first line\nsecond part here", 20, want, 2);
}
END_TEST

START_TEST(chunk_prefers_line_end_when_limit_falls_on_space)
{
    /* The 5th character is followed by a space, but a line end (index 2) is in reach too:
     * transcript.h says the cut is at the line end then. */
    const char *want[] = {"ab", "cd ef"};
    assert_chunks("ab\ncd ef", 5, want, 2);
}
END_TEST

START_TEST(chunk_falls_back_to_space)
{
    const char *want[] = {"alpha beta", "gamma"};
    assert_chunks("alpha beta gamma", 12, want, 2);
    const char *several[] = {"one two", "three", "four"};
    assert_chunks("one two three four", 8, several, 3);
}
END_TEST

START_TEST(chunk_cut_on_separator_drops_it)
{
    const char *sp[] = {"abcd", "efgh"};
    assert_chunks("abcd efgh", 4, sp, 2);
    const char *nl[] = {"abcd", "efgh"};
    assert_chunks("abcd\nefgh", 4, nl, 2);
}
END_TEST

START_TEST(chunk_without_separators_cuts_between_characters)
{
    const char *want[] = {"abcd", "efgh", "ij"};
    assert_chunks("abcdefghij", 4, want, 3);
    const char *one[] = {"a", "b", "c"};
    assert_chunks("abc", 1, one, 3);
}
END_TEST

START_TEST(chunk_two_byte_characters_not_split)
{
    const char *want[] = {"ééé", "ééé", "éé"};
    assert_chunks("éééééééé", 3, want, 3);
}
END_TEST

START_TEST(chunk_three_byte_characters_not_split)
{
    const char *want[] = {"日本語日", "本語"};
    assert_chunks("日本語日本語", 4, want, 2);
}
END_TEST

START_TEST(chunk_four_byte_characters_not_split)
{
    const char *want[] = {"😀😀", "😀"};
    assert_chunks("😀😀😀", 2, want, 2);
    const char *single[] = {"😀", "😀", "😀"};
    assert_chunks("😀😀😀", 1, single, 3);
}
END_TEST

START_TEST(chunk_mixed_multibyte_every_limit_valid_utf8)
{
    const char *text = "aé日😀bé日😀cé日😀dé日😀eé日😀";
    for (size_t max = 1; max <= 21; max++) {
        char **pieces = NULL;
        size_t n = 0;
        chunk_ok(text, max, &pieces, &n);
        assert_pieces_rebuild(text, max, pieces, n);
        /* No separators: every piece but the last is full. */
        for (size_t k = 0; k + 1 < n; k++)
            ck_assert_uint_eq(utf8_chars(pieces[k]), max);
        byoc_chunks_free(pieces, n);
    }
}
END_TEST

START_TEST(chunk_zero_max_is_invalid)
{
    char **sentinel = (char **)&sentinel;
    char **pieces = sentinel;
    size_t n = 77;
    ck_assert_int_eq(byoc_chunk_text("hello", 0, &pieces, &n), BYOC_ERR_INVALID);
    ck_assert_ptr_eq(pieces, sentinel); /* out-parameters untouched on failure */
    ck_assert_uint_eq(n, 77);
    ck_assert_int_eq(byoc_chunk_text("", 0, &pieces, &n), BYOC_ERR_INVALID);
}
END_TEST

START_TEST(chunk_empty_text_no_pieces)
{
    char **pieces = NULL;
    size_t n = 99;
    chunk_ok("", 10, &pieces, &n);
    ck_assert_uint_eq(n, 0);
    byoc_chunks_free(pieces, n);
}
END_TEST

START_TEST(chunks_free_accepts_null)
{
    byoc_chunks_free(NULL, 0);
    char **pieces = NULL;
    size_t n = 0;
    chunk_ok("x y", 1, &pieces, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(pieces[0], "x");
    ck_assert_str_eq(pieces[1], "y");
    byoc_chunks_free(pieces, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_transcript_messages                                                                    */

static const struct byoc_turn short_turns[] = {
    {"user", "Hi"},
    {"bot", "Hello, how can I help?"},
    {"user", "I want a human"},
};

static void messages_ok(const struct byoc_turn *turns, size_t n, enum byoc_transcript_mode mode,
                        size_t max, char ***out, size_t *nout)
{
    ck_assert_int_eq(byoc_transcript_messages(turns, n, mode, max, out, nout), BYOC_ERR_OK);
}

START_TEST(combined_short_is_one_message)
{
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(short_turns, 3, BYOC_TRANSCRIPT_COMBINED, 4000, &msgs, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(msgs[0],
                     "Customer: Hi\nBot: Hello, how can I help?\nCustomer: I want a human");
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(combined_roles_are_labelled)
{
    const struct byoc_turn turns[] = {{"bot", "Welcome"}, {"user", "Thanks"}};
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, 2, BYOC_TRANSCRIPT_COMBINED, 200, &msgs, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(msgs[0], "Bot: Welcome\nCustomer: Thanks");
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(combined_long_is_split_at_line_ends)
{
    /* Each line is 30-34 characters; 80 hold two lines but not three. */
    const struct byoc_turn turns[] = {
        {"user", "My order has not arrived yet"}, {"bot", "Sorry to hear that, let me look"},
        {"user", "It was order number 12345"},    {"bot", "I cannot find it in our system"},
        {"user", "Please get me a human agent"},  {"bot", "Connecting you to an agent now"},
    };
    const size_t nt = sizeof turns / sizeof turns[0];
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, nt, BYOC_TRANSCRIPT_COMBINED, 80, &msgs, &n);
    ck_assert_uint_eq(n, 3);
    char line[128];
    for (size_t k = 0; k < n; k++) {
        ck_assert_uint_le(utf8_chars(msgs[k]), 80);
        /* Message k holds turns 2k and 2k+1, whole. */
        snprintf(line, sizeof line, "%s: %s\n%s: %s",
                 strcmp(turns[2 * k].role, "bot") == 0 ? "Bot" : "Customer", turns[2 * k].text,
                 strcmp(turns[2 * k + 1].role, "bot") == 0 ? "Bot" : "Customer",
                 turns[2 * k + 1].text);
        ck_assert_str_eq(msgs[k], line);
    }
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(combined_label_stays_with_its_text)
{
    /* "Customer: Hi\nBot:" is exactly 17 characters and a space follows it: the cut belongs at
     * the line end, not between "Bot:" and what the bot said. */
    const struct byoc_turn turns[] = {{"user", "Hi"}, {"bot", "Hello there"}};
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, 2, BYOC_TRANSCRIPT_COMBINED, 17, &msgs, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(msgs[0], "Customer: Hi");
    ck_assert_str_eq(msgs[1], "Bot: Hello there");
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(combined_long_rebuilds_whole_transcript)
{
    char *text = mixed_text(6);
    const struct byoc_turn turns[] = {{"user", text}, {"bot", "Got it 😀"}, {"user", text}};
    char expected[4096];
    int len = snprintf(expected, sizeof expected, "Customer: %s\nBot: Got it 😀\nCustomer: %s", text,
                       text);
    ck_assert_int_lt(len, (int)sizeof expected);
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, 3, BYOC_TRANSCRIPT_COMBINED, 50, &msgs, &n);
    ck_assert_uint_gt(n, 1);
    assert_pieces_rebuild(expected, 50, msgs, n);
    byoc_chunks_free(msgs, n);
    free(text);
}
END_TEST

START_TEST(no_turns_no_messages)
{
    char **msgs = (char **)&msgs;
    size_t n = 5;
    messages_ok(NULL, 0, BYOC_TRANSCRIPT_COMBINED, 100, &msgs, &n);
    ck_assert_uint_eq(n, 0);
    byoc_chunks_free(msgs, n);
    msgs = (char **)&msgs;
    n = 5;
    messages_ok(NULL, 0, BYOC_TRANSCRIPT_PER_TURN, 100, &msgs, &n);
    ck_assert_uint_eq(n, 0);
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(per_turn_one_message_each)
{
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(short_turns, 3, BYOC_TRANSCRIPT_PER_TURN, 4000, &msgs, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(msgs[0], "Customer: Hi");
    ck_assert_str_eq(msgs[1], "Bot: Hello, how can I help?");
    ck_assert_str_eq(msgs[2], "Customer: I want a human");
    byoc_chunks_free(msgs, n);
}
END_TEST

START_TEST(per_turn_long_turn_is_split)
{
    char *text = mixed_text(10); /* 430 characters */
    const struct byoc_turn turns[] = {{"bot", "Before"}, {"user", text}, {"bot", "After"}};
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, 3, BYOC_TRANSCRIPT_PER_TURN, 100, &msgs, &n);
    ck_assert_uint_ge(n, 1 + 5 + 1);
    ck_assert_str_eq(msgs[0], "Bot: Before");
    ck_assert_str_eq(msgs[n - 1], "Bot: After");
    char whole[2048];
    int len = snprintf(whole, sizeof whole, "Customer: %s", text);
    ck_assert_int_lt(len, (int)sizeof whole);
    /* The middle messages are the long turn alone, each within the limit. */
    assert_pieces_rebuild(whole, 100, msgs + 1, n - 2);
    byoc_chunks_free(msgs, n);
    free(text);
}
END_TEST

START_TEST(per_turn_never_merges_turns)
{
    /* Short turns stay separate messages even though together they would fit. */
    const struct byoc_turn turns[] = {{"user", "a"}, {"user", "b"}, {"bot", "c"}};
    char **msgs = NULL;
    size_t n = 0;
    messages_ok(turns, 3, BYOC_TRANSCRIPT_PER_TURN, 1000, &msgs, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(msgs[0], "Customer: a");
    ck_assert_str_eq(msgs[1], "Customer: b");
    ck_assert_str_eq(msgs[2], "Bot: c");
    byoc_chunks_free(msgs, n);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static Suite *transcript_suite(void)
{
    Suite *s = suite_create("transcript");
    TCase *tc = tcase_create("chunk_sizes");
    tcase_add_test(tc, chunk_short_text_is_one_piece);
    tcase_add_test(tc, chunk_exactly_max_chars_is_one_piece);
    tcase_add_test(tc, chunk_one_over_max_splits);
    tcase_add_test(tc, chunk_long_text_pieces_fit_and_rebuild);
    tcase_add_test(tc, chunk_zero_max_is_invalid);
    tcase_add_test(tc, chunk_empty_text_no_pieces);
    tcase_add_test(tc, chunks_free_accepts_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunk_cut_points");
    tcase_add_test(tc, chunk_prefers_line_end);
    tcase_add_test(tc, chunk_prefers_line_end_when_limit_falls_on_space);
    tcase_add_test(tc, chunk_falls_back_to_space);
    tcase_add_test(tc, chunk_cut_on_separator_drops_it);
    tcase_add_test(tc, chunk_without_separators_cuts_between_characters);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunk_utf8");
    tcase_add_test(tc, chunk_two_byte_characters_not_split);
    tcase_add_test(tc, chunk_three_byte_characters_not_split);
    tcase_add_test(tc, chunk_four_byte_characters_not_split);
    tcase_add_test(tc, chunk_mixed_multibyte_every_limit_valid_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("combined");
    tcase_add_test(tc, combined_short_is_one_message);
    tcase_add_test(tc, combined_roles_are_labelled);
    tcase_add_test(tc, combined_long_is_split_at_line_ends);
    tcase_add_test(tc, combined_label_stays_with_its_text);
    tcase_add_test(tc, combined_long_rebuilds_whole_transcript);
    tcase_add_test(tc, no_turns_no_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("per_turn");
    tcase_add_test(tc, per_turn_one_message_each);
    tcase_add_test(tc, per_turn_long_turn_is_split);
    tcase_add_test(tc, per_turn_never_merges_turns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(transcript_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
