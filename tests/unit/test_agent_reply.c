/*
 * byoc/agent_reply.h: normalisation of what CXone posts to the integration box. Every known
 * spelling of each field, the dedupe key, attachment normalisation and caps, raw-body capping on
 * a UTF-8 boundary, and the notes about unknown keys.
 */
#include "byoc/agent_reply.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

#define PROV "prv_TESTTESTTESTTESTTEST"
#define NOW_MS 1700000000123LL

static cJSON *body;
static struct byoc_agent_msg msg;
static struct byoc_reply_notes notes;
static cJSON *attachments; /* msg.attachments_json parsed by attachment() */

static void setup(void)
{
    body = NULL;
    memset(&msg, 0, sizeof msg);
    memset(&notes, 0, sizeof notes);
    attachments = NULL;
}

static void teardown(void)
{
    byoc_agent_msg_release(&msg);
    cJSON_Delete(body);
    cJSON_Delete(attachments);
    body = NULL;
    attachments = NULL;
}

/* Parses raw[0..len) as JSON and normalises it into msg. */
static enum byoc_err parse_raw(const char *raw, size_t len, enum byoc_agent_msg_kind kind,
                               const char *path_id)
{
    byoc_agent_msg_release(&msg);
    cJSON_Delete(body);
    body = NULL;
    ck_assert_int_eq(byoc_json_parse(raw, len, &body), BYOC_ERR_OK);
    return byoc_agent_reply_parse(body, raw, len, kind, PROV, path_id, NOW_MS, &msg, &notes);
}

static void parse_ok(const char *json)
{
    ck_assert_int_eq(parse_raw(json, strlen(json), BYOC_AGENT_MSG_REPLY, "post-1"), BYOC_ERR_OK);
}

/* The dedupe key of json parsed as kind/path_id, malloc'd. */
static char *dedupe_of(const char *json, enum byoc_agent_msg_kind kind, const char *path_id)
{
    ck_assert_int_eq(parse_raw(json, strlen(json), kind, path_id), BYOC_ERR_OK);
    char *k = strdup(msg.dedupe_key);
    ck_assert_ptr_nonnull(k);
    return k;
}

/* Attachment i of msg as an object (valid until the next call). */
static const cJSON *attachment(size_t i, int *count)
{
    cJSON_Delete(attachments);
    attachments = cJSON_Parse(msg.attachments_json);
    ck_assert(cJSON_IsArray(attachments));
    *count = cJSON_GetArraySize(attachments);
    return cJSON_GetArrayItem(attachments, (int)i);
}

/* { "text": "<filler of n bytes with piece at offset at>" } — raw body for the cap tests. */
static char *body_with(size_t total, size_t at, const char *piece)
{
    static const char head[] = "{\"text\":\"";
    char *s = malloc(total + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', total);
    memcpy(s, head, sizeof head - 1);
    memcpy(s + at, piece, strlen(piece));
    memcpy(s + total - 2, "\"}", 2);
    s[total] = '\0';
    return s;
}

/* ---- text ---- */

START_TEST(text_from_payload)
{
    parse_ok("{\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":\"Hello\"}}}");
    ck_assert_pstr_eq(msg.text, "Hello");
}
END_TEST

START_TEST(text_from_fallback)
{
    parse_ok("{\"messageContent\":{\"type\":\"PLUGIN\",\"fallbackText\":\"FB\"}}");
    ck_assert_pstr_eq(msg.text, "FB");
}
END_TEST

START_TEST(text_plain_and_nested)
{
    parse_ok("{\"text\":\"plain\"}");
    ck_assert_pstr_eq(msg.text, "plain");
    parse_ok("{\"message\":{\"messageContent\":{\"payload\":{\"text\":\"nested\"}}}}");
    ck_assert_pstr_eq(msg.text, "nested");
    parse_ok("{\"content\":\"c\"}");
    ck_assert_pstr_eq(msg.text, "c");
}
END_TEST

START_TEST(text_precedence_and_empty_skipped)
{
    parse_ok("{\"messageContent\":{\"payload\":{\"text\":\"A\"}},\"text\":\"B\"}");
    ck_assert_pstr_eq(msg.text, "A");
    parse_ok("{\"messageContent\":{\"payload\":{\"text\":\"\"},\"fallbackText\":\"F\"},"
             "\"text\":\"B\"}");
    ck_assert_pstr_eq(msg.text, "F");
}
END_TEST

START_TEST(text_absent_or_wrong_type)
{
    parse_ok("{\"text\":42,\"messageContent\":{\"payload\":\"x\"}}");
    ck_assert_ptr_null(msg.text);
    ck_assert_pstr_eq(msg.attachments_json, "[]");
}
END_TEST

START_TEST(text_capped_on_character_boundary)
{
    /* a 2-byte character straddles BYOC_MESSAGE_TEXT_MAX bytes into the text value */
    size_t head = 9; /* {"text":" */
    char *raw =
        body_with(head + BYOC_MESSAGE_TEXT_MAX + 10, head + BYOC_MESSAGE_TEXT_MAX - 1, "\xc3\xa9");
    enum byoc_err e = parse_raw(raw, strlen(raw), BYOC_AGENT_MSG_REPLY, "p");
    ck_assert_int_eq(e, BYOC_ERR_OK);
    ck_assert_ptr_nonnull(msg.text);
    size_t n = strlen(msg.text);
    bool prefix = n < BYOC_MESSAGE_TEXT_MAX + 8 && memcmp(msg.text, raw + head, n) == 0;
    free(raw);
    ck_assert_msg(prefix, "text is not a capped prefix of the input");
    ck_assert_uint_ge(n, BYOC_MESSAGE_TEXT_MAX - 1);
    ck_assert_msg(byoc_utf8_valid(msg.text, n), "text cut inside a character (len %zu)", n);
}
END_TEST

/* ---- ids and dedupe ---- */

START_TEST(id_as_string_and_number)
{
    parse_ok("{\"id\":\"msg-1\",\"text\":\"x\"}");
    ck_assert_pstr_eq(msg.cxone_message_id, "msg-1");
    ck_assert_pstr_eq(msg.dedupe_key, "cxone:msg-1");
    parse_ok("{\"id\":12345}");
    ck_assert_pstr_eq(msg.cxone_message_id, "12345");
    ck_assert_pstr_eq(msg.dedupe_key, "cxone:12345");
}
END_TEST

START_TEST(id_other_spellings)
{
    parse_ok("{\"messageId\":\"m2\"}");
    ck_assert_pstr_eq(msg.cxone_message_id, "m2");
    parse_ok("{\"message\":{\"id\":\"m3\"}}");
    ck_assert_pstr_eq(msg.cxone_message_id, "m3");
    parse_ok("{\"id\":\"first\",\"messageId\":\"second\"}");
    ck_assert_pstr_eq(msg.cxone_message_id, "first");
}
END_TEST

START_TEST(id_unusable_falls_back_to_digest)
{
    static const char *const bodies[] = {"{\"id\":1.5}", "{\"id\":\"\"}", "{\"id\":true}",
                                         "{\"id\":null}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        parse_ok(bodies[i]);
        ck_assert_ptr_null(msg.cxone_message_id);
        ck_assert_int_eq(strncmp(msg.dedupe_key, "sha256:", 7), 0);
    }
    char long_id[BYOC_EXTERNAL_ID_MAX + 40];
    memset(long_id, 0, sizeof long_id);
    memcpy(long_id, "{\"id\":\"", 7);
    memset(long_id + 7, 'z', BYOC_EXTERNAL_ID_MAX + 1);
    memcpy(long_id + 7 + BYOC_EXTERNAL_ID_MAX + 1, "\"}", 2);
    parse_ok(long_id);
    ck_assert_ptr_null(msg.cxone_message_id);
}
END_TEST

START_TEST(digest_dedupe_key_shape_and_stability)
{
    static const char b1[] = "{\"text\":\"hi\"}";
    char *k1 = dedupe_of(b1, BYOC_AGENT_MSG_REPLY, "post-1");
    char *k2 = dedupe_of(b1, BYOC_AGENT_MSG_REPLY, "post-1");
    ck_assert_str_eq(k1, k2);
    ck_assert_uint_eq(strlen(k1), 7 + 64);
    ck_assert_int_eq(strncmp(k1, "sha256:", 7), 0);
    ck_assert_uint_eq(strspn(k1 + 7, "0123456789abcdef"), 64);
    free(k1);
    free(k2);
}
END_TEST

START_TEST(digest_dedupe_key_depends_on_body_path_and_kind)
{
    char *base = dedupe_of("{\"text\":\"hi\"}", BYOC_AGENT_MSG_REPLY, "post-1");
    char *other_body = dedupe_of("{\"text\":\"hi!\"}", BYOC_AGENT_MSG_REPLY, "post-1");
    char *spaced = dedupe_of("{\"text\": \"hi\"}", BYOC_AGENT_MSG_REPLY, "post-1");
    char *other_path = dedupe_of("{\"text\":\"hi\"}", BYOC_AGENT_MSG_REPLY, "post-2");
    char *other_kind = dedupe_of("{\"text\":\"hi\"}", BYOC_AGENT_MSG_OUTBOUND, "post-1");
    ck_assert_str_ne(base, other_body);
    ck_assert_str_ne(base, spaced); /* the raw bytes count, not the parsed value */
    ck_assert_str_ne(base, other_path);
    ck_assert_str_ne(base, other_kind);
    free(base);
    free(other_body);
    free(spaced);
    free(other_path);
    free(other_kind);
}
END_TEST

START_TEST(cxone_id_dedupe_ignores_body)
{
    char *a = dedupe_of("{\"id\":\"m\",\"text\":\"a\"}", BYOC_AGENT_MSG_REPLY, "post-1");
    char *b = dedupe_of("{\"text\":\"b\",\"id\":\"m\"}", BYOC_AGENT_MSG_REPLY, "post-9");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

/* ---- thread, kind, path ---- */

START_TEST(thread_spellings)
{
    parse_ok("{\"thread\":{\"idOnExternalPlatform\":\"t1\"}}");
    ck_assert_pstr_eq(msg.thread_ref, "t1");
    parse_ok("{\"threadIdOnExternalPlatform\":\"t2\"}");
    ck_assert_pstr_eq(msg.thread_ref, "t2");
    parse_ok("{\"post\":{\"idOnExternalPlatform\":\"t3\"}}");
    ck_assert_pstr_eq(msg.thread_ref, "t3");
    parse_ok("{\"message\":{\"thread\":{\"idOnExternalPlatform\":\"t4\"}}}");
    ck_assert_pstr_eq(msg.thread_ref, "t4");
}
END_TEST

START_TEST(thread_precedence_and_absence)
{
    parse_ok("{\"threadIdOnExternalPlatform\":\"flat\",\"thread\":{\"idOnExternalPlatform\":"
             "\"nested\"}}");
    ck_assert_pstr_eq(msg.thread_ref, "nested");
    parse_ok("{\"thread\":{\"idOnExternalPlatform\":\"\"},\"threadIdOnExternalPlatform\":\"t2\"}");
    ck_assert_pstr_eq(msg.thread_ref, "t2");
    parse_ok("{\"thread\":\"t\"}");
    ck_assert_ptr_null(msg.thread_ref);
}
END_TEST

START_TEST(kind_path_provider_and_time)
{
    ck_assert_int_eq(parse_raw("{}", 2, BYOC_AGENT_MSG_REPLY, "post-7"), BYOC_ERR_OK);
    ck_assert_int_eq(msg.kind, BYOC_AGENT_MSG_REPLY);
    ck_assert_pstr_eq(msg.post_id, "post-7");
    ck_assert_ptr_null(msg.channel_id);
    ck_assert_str_eq(msg.provider_id, PROV);
    ck_assert_int_eq(msg.received_at, NOW_MS);
    ck_assert_str_eq(msg.id, "");
    ck_assert_ptr_null(msg.conversation_id);
    ck_assert_int_eq(parse_raw("{}", 2, BYOC_AGENT_MSG_OUTBOUND, "chan-9"), BYOC_ERR_OK);
    ck_assert_int_eq(msg.kind, BYOC_AGENT_MSG_OUTBOUND);
    ck_assert_pstr_eq(msg.channel_id, "chan-9");
    ck_assert_ptr_null(msg.post_id);
}
END_TEST

/* ---- agent ---- */

START_TEST(agent_first_and_surname_with_avatar)
{
    parse_ok("{\"authorUser\":{\"firstName\":\"Ada\",\"surname\":\"Lovelace\","
             "\"imageUrl\":\"https://img.example.com/a.png\"}}");
    ck_assert_pstr_eq(msg.agent_name, "Ada Lovelace");
    ck_assert_pstr_eq(msg.agent_avatar_url, "https://img.example.com/a.png");
}
END_TEST

START_TEST(agent_partial_names)
{
    parse_ok("{\"authorUser\":{\"firstName\":\"Ada\"}}");
    ck_assert_pstr_eq(msg.agent_name, "Ada");
    parse_ok("{\"authorUser\":{\"surname\":\"Lovelace\"}}");
    ck_assert_pstr_eq(msg.agent_name, "Lovelace");
    parse_ok("{\"authorUser\":{\"firstName\":\"A\",\"lastName\":\"L\"}}");
    ck_assert_pstr_eq(msg.agent_name, "A L");
}
END_TEST

START_TEST(agent_nickname_and_name_fallbacks)
{
    parse_ok("{\"authorUser\":{\"nickname\":\"ada99\",\"name\":\"ignored\"}}");
    ck_assert_pstr_eq(msg.agent_name, "ada99");
    parse_ok("{\"user\":{\"name\":\"Grace\",\"avatarUrl\":\"https://i/g\"}}");
    ck_assert_pstr_eq(msg.agent_name, "Grace");
    ck_assert_pstr_eq(msg.agent_avatar_url, "https://i/g");
    parse_ok("{\"agent\":{\"firstName\":\"Alan\",\"surname\":\"Turing\"}}");
    ck_assert_pstr_eq(msg.agent_name, "Alan Turing");
    parse_ok("{\"author\":{\"nickname\":\"au\"}}");
    ck_assert_pstr_eq(msg.agent_name, "au");
    parse_ok("{\"message\":{\"authorUser\":{\"nickname\":\"deep\"}}}");
    ck_assert_pstr_eq(msg.agent_name, "deep");
}
END_TEST

START_TEST(agent_absent_or_not_object)
{
    parse_ok("{\"authorUser\":\"Ada\",\"user\":{\"nickname\":\"u\"}}");
    ck_assert_pstr_eq(msg.agent_name, "u");
    parse_ok("{\"text\":\"x\"}");
    ck_assert_ptr_null(msg.agent_name);
    ck_assert_ptr_null(msg.agent_avatar_url);
    parse_ok("{\"authorUser\":{\"id\":5}}");
    ck_assert_ptr_null(msg.agent_name);
}
END_TEST

START_TEST(agent_name_capped_on_character_boundary)
{
    /* 199 ASCII characters, then a 2-byte character across the BYOC_NAME_MAX byte, then more */
    char raw[BYOC_NAME_MAX + 128];
    int n = snprintf(raw, sizeof raw, "{\"authorUser\":{\"firstName\":\"");
    memset(raw + n, 'a', BYOC_NAME_MAX - 1);
    snprintf(raw + n + BYOC_NAME_MAX - 1, sizeof raw - (size_t)n - BYOC_NAME_MAX + 1,
             "\xc3\xa9"
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}}");
    parse_ok(raw);
    ck_assert_ptr_nonnull(msg.agent_name);
    size_t len = strlen(msg.agent_name);
    ck_assert_uint_ge(len, BYOC_NAME_MAX - 1);
    ck_assert_uint_lt(len, BYOC_NAME_MAX + 32); /* capped */
    ck_assert_int_eq(memcmp(msg.agent_name, raw + n, len), 0);
    ck_assert_msg(byoc_utf8_valid(msg.agent_name, len), "name cut inside a character");
}
END_TEST

/* ---- attachments ---- */

START_TEST(attachments_normalised)
{
    int count = 0;
    parse_ok("{\"attachments\":[{\"friendlyName\":\"a.pdf\",\"url\":\"https://f/a.pdf\","
             "\"mimeType\":\"application/pdf\",\"id\":\"x\"}]}");
    const cJSON *a = attachment(0, &count);
    ck_assert_int_eq(count, 1);
    ck_assert_pstr_eq(byoc_json_str(a, "name"), "a.pdf");
    ck_assert_pstr_eq(byoc_json_str(a, "url"), "https://f/a.pdf");
    ck_assert_pstr_eq(byoc_json_str(a, "mime_type"), "application/pdf");
    ck_assert_int_eq(cJSON_GetArraySize(a), 3); /* nothing else is carried */
}
END_TEST

START_TEST(attachments_alternative_keys_and_nulls)
{
    int count = 0;
    parse_ok("{\"messageContent\":{\"payload\":{\"attachments\":[{\"href\":\"https://f/1\","
             "\"fileName\":\"one\",\"contentType\":\"image/png\"},{\"previewUrl\":\"https://f/2\"}"
             "]}}}");
    const cJSON *a = attachment(0, &count);
    ck_assert_int_eq(count, 2);
    ck_assert_pstr_eq(byoc_json_str(a, "url"), "https://f/1");
    ck_assert_pstr_eq(byoc_json_str(a, "name"), "one");
    ck_assert_pstr_eq(byoc_json_str(a, "mime_type"), "image/png");
    a = attachment(1, &count);
    ck_assert_pstr_eq(byoc_json_str(a, "url"), "https://f/2");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "name")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "mime_type")));
}
END_TEST

START_TEST(attachments_without_url_dropped)
{
    int count = 0;
    parse_ok("{\"attachments\":[{\"friendlyName\":\"no-url\"},{\"url\":\"\"},{\"url\":7},"
             "\"str\",{\"url\":\"https://f/keep\"}]}");
    const cJSON *a = attachment(0, &count);
    ck_assert_int_eq(count, 1);
    ck_assert_pstr_eq(byoc_json_str(a, "url"), "https://f/keep");
}
END_TEST

START_TEST(attachments_capped)
{
    struct byoc_buf b;
    byoc_buf_init(&b, 1 << 16);
    ck_assert_int_eq(byoc_buf_puts(&b, "{\"attachments\":["), BYOC_ERR_OK);
    for (int i = 0; i < BYOC_MAX_ATTACHMENTS + 5; i++)
        ck_assert_int_eq(
            byoc_buf_printf(&b, "%s{\"url\":\"https://f/%d\"},{\"name\":\"n\"}", i ? "," : "", i),
            BYOC_ERR_OK);
    ck_assert_int_eq(byoc_buf_puts(&b, "]}"), BYOC_ERR_OK);
    parse_ok(byoc_buf_str(&b));
    byoc_buf_release(&b);
    int count = 0;
    const cJSON *last = attachment(BYOC_MAX_ATTACHMENTS - 1, &count);
    ck_assert_int_eq(count, BYOC_MAX_ATTACHMENTS);
    char want[32];
    snprintf(want, sizeof want, "https://f/%d", BYOC_MAX_ATTACHMENTS - 1);
    ck_assert_pstr_eq(byoc_json_str(last, "url"), want);
}
END_TEST

START_TEST(attachment_with_overlong_url_dropped)
{
    size_t cap = BYOC_URL_MAX + 128;
    char *raw = malloc(cap);
    ck_assert_ptr_nonnull(raw);
    int n = snprintf(raw, cap, "{\"attachments\":[{\"url\":\"https://f/");
    memset(raw + n, 'u', BYOC_URL_MAX);
    snprintf(raw + n + BYOC_URL_MAX, cap - (size_t)n - BYOC_URL_MAX, "\"}]}");
    parse_ok(raw);
    free(raw);
    ck_assert_pstr_eq(msg.attachments_json, "[]");
}
END_TEST

/* ---- raw body ---- */

START_TEST(raw_body_copied_when_small)
{
    static const char raw[] = "{\"text\":\"hi\"}";
    parse_ok(raw);
    ck_assert(!msg.raw_truncated);
    ck_assert_uint_eq(msg.raw_len, sizeof raw - 1);
    ck_assert_str_eq(msg.raw_body, raw);
}
END_TEST

START_TEST(raw_body_at_cap_not_truncated)
{
    char *raw = body_with(BYOC_RAW_BODY_STORE_MAX, 20, "b");
    enum byoc_err e = parse_raw(raw, BYOC_RAW_BODY_STORE_MAX, BYOC_AGENT_MSG_REPLY, "p");
    ck_assert_int_eq(e, BYOC_ERR_OK);
    ck_assert(!msg.raw_truncated);
    ck_assert_uint_eq(msg.raw_len, BYOC_RAW_BODY_STORE_MAX);
    ck_assert_int_eq(memcmp(msg.raw_body, raw, BYOC_RAW_BODY_STORE_MAX), 0);
    free(raw);
}
END_TEST

/* A character of width w whose first byte sits at lead must be dropped whole. */
static void check_cut(size_t lead, const char *ch)
{
    char *raw = body_with(BYOC_RAW_BODY_STORE_MAX + 100, lead, ch);
    enum byoc_err e = parse_raw(raw, strlen(raw), BYOC_AGENT_MSG_REPLY, "p");
    ck_assert_int_eq(e, BYOC_ERR_OK);
    ck_assert(msg.raw_truncated);
    ck_assert_uint_eq(msg.raw_len, lead);
    ck_assert_int_eq(memcmp(msg.raw_body, raw, lead), 0);
    ck_assert_int_eq(msg.raw_body[lead], '\0');
    ck_assert(byoc_utf8_valid(msg.raw_body, msg.raw_len));
    free(raw);
}

START_TEST(raw_body_truncated_on_utf8_boundary)
{
    check_cut(BYOC_RAW_BODY_STORE_MAX - 1, "\xe2\x82\xac");     /* 3 bytes across the cut */
    check_cut(BYOC_RAW_BODY_STORE_MAX - 2, "\xf0\x9f\x98\x80"); /* 4 bytes, 2 past the cut */
    check_cut(BYOC_RAW_BODY_STORE_MAX - 1, "\xc3\xa9");         /* 2 bytes */
}
END_TEST

START_TEST(raw_body_truncated_at_cap_when_ascii)
{
    char *raw = body_with(BYOC_RAW_BODY_STORE_MAX + 1, 20, "b");
    enum byoc_err e = parse_raw(raw, strlen(raw), BYOC_AGENT_MSG_REPLY, "p");
    ck_assert_int_eq(e, BYOC_ERR_OK);
    ck_assert(msg.raw_truncated);
    ck_assert_uint_eq(msg.raw_len, BYOC_RAW_BODY_STORE_MAX);
    ck_assert_uint_eq(strlen(msg.raw_body), BYOC_RAW_BODY_STORE_MAX);
    free(raw);
}
END_TEST

START_TEST(truncation_does_not_change_digest_input)
{
    /* two bodies that differ only after the cap must not collapse to one dedupe key */
    char *r1 = body_with(BYOC_RAW_BODY_STORE_MAX + 100, BYOC_RAW_BODY_STORE_MAX + 50, "x");
    char *r2 = body_with(BYOC_RAW_BODY_STORE_MAX + 100, BYOC_RAW_BODY_STORE_MAX + 50, "y");
    char *k1 = dedupe_of(r1, BYOC_AGENT_MSG_REPLY, "p");
    char *k2 = dedupe_of(r2, BYOC_AGENT_MSG_REPLY, "p");
    ck_assert_str_ne(k1, k2);
    free(r1);
    free(r2);
    free(k1);
    free(k2);
}
END_TEST

/* ---- notes and shape ---- */

START_TEST(unexpected_keys_noted_by_name)
{
    parse_ok("{\"text\":\"x\",\"foo\":{\"secret\":\"v\"},\"id\":\"1\",\"bar\":2}");
    ck_assert_uint_eq(notes.n_unexpected, 2);
    ck_assert_str_eq(notes.unexpected[0], "foo");
    ck_assert_str_eq(notes.unexpected[1], "bar");
    ck_assert(!notes.more_unexpected);
    parse_ok("{\"text\":\"x\",\"thread\":{},\"authorUser\":{},\"createdAt\":\"t\"}");
    ck_assert_uint_eq(notes.n_unexpected, 0);
}
END_TEST

START_TEST(unexpected_keys_overflow_flagged)
{
    parse_ok("{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,"
             "\"k9\":1,\"k10\":1}");
    ck_assert_uint_eq(notes.n_unexpected, BYOC_UNEXPECTED_KEYS_MAX);
    ck_assert(notes.more_unexpected);
    ck_assert_str_eq(notes.unexpected[7], "k8");
}
END_TEST

START_TEST(not_an_object_rejected_and_out_untouched)
{
    static const char *const docs[] = {"[1,2]", "\"str\"", "null", "42", "[{\"text\":\"x\"}]"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct byoc_agent_msg m = {.raw_len = 4242};
        cJSON_Delete(body);
        body = NULL;
        ck_assert_int_eq(byoc_json_parse(docs[i], strlen(docs[i]), &body), BYOC_ERR_OK);
        ck_assert_int_eq(byoc_agent_reply_parse(body, docs[i], strlen(docs[i]),
                                                BYOC_AGENT_MSG_REPLY, PROV, "p", NOW_MS, &m,
                                                &notes),
                         BYOC_ERR_INVALID);
        ck_assert_uint_eq(m.raw_len, 4242);
        ck_assert_ptr_null(m.dedupe_key);
    }
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static void add_content(Suite *s)
{
    TCase *tc = tcase("text");
    tcase_add_test(tc, text_from_payload);
    tcase_add_test(tc, text_from_fallback);
    tcase_add_test(tc, text_plain_and_nested);
    tcase_add_test(tc, text_precedence_and_empty_skipped);
    tcase_add_test(tc, text_absent_or_wrong_type);
    tcase_add_test(tc, text_capped_on_character_boundary);
    suite_add_tcase(s, tc);

    tc = tcase("ids");
    tcase_add_test(tc, id_as_string_and_number);
    tcase_add_test(tc, id_other_spellings);
    tcase_add_test(tc, id_unusable_falls_back_to_digest);
    tcase_add_test(tc, digest_dedupe_key_shape_and_stability);
    tcase_add_test(tc, digest_dedupe_key_depends_on_body_path_and_kind);
    tcase_add_test(tc, cxone_id_dedupe_ignores_body);
    suite_add_tcase(s, tc);

    tc = tcase("thread");
    tcase_add_test(tc, thread_spellings);
    tcase_add_test(tc, thread_precedence_and_absence);
    tcase_add_test(tc, kind_path_provider_and_time);
    suite_add_tcase(s, tc);

    tc = tcase("agent");
    tcase_add_test(tc, agent_first_and_surname_with_avatar);
    tcase_add_test(tc, agent_partial_names);
    tcase_add_test(tc, agent_nickname_and_name_fallbacks);
    tcase_add_test(tc, agent_absent_or_not_object);
    tcase_add_test(tc, agent_name_capped_on_character_boundary);
    suite_add_tcase(s, tc);
}

static void add_envelope(Suite *s)
{
    TCase *tc = tcase("attachments");
    tcase_add_test(tc, attachments_normalised);
    tcase_add_test(tc, attachments_alternative_keys_and_nulls);
    tcase_add_test(tc, attachments_without_url_dropped);
    tcase_add_test(tc, attachments_capped);
    tcase_add_test(tc, attachment_with_overlong_url_dropped);
    suite_add_tcase(s, tc);

    tc = tcase("raw_body");
    tcase_add_test(tc, raw_body_copied_when_small);
    tcase_add_test(tc, raw_body_at_cap_not_truncated);
    tcase_add_test(tc, raw_body_truncated_on_utf8_boundary);
    tcase_add_test(tc, raw_body_truncated_at_cap_when_ascii);
    tcase_add_test(tc, truncation_does_not_change_digest_input);
    suite_add_tcase(s, tc);

    tc = tcase("shape");
    tcase_add_test(tc, unexpected_keys_noted_by_name);
    tcase_add_test(tc, unexpected_keys_overflow_flagged);
    tcase_add_test(tc, not_an_object_rejected_and_out_untouched);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("agent_reply");
    add_content(s);
    add_envelope(s);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
