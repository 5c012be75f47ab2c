/*
 * What bot platforms receive: Standard Webhooks signing (byoc_webhook_sign,
 * byoc_webhook_secret_new), the event envelope (byoc_event_envelope, byoc_event_view), and the
 * check of the URLs tenants give for webhooks (byoc_out_url_check, the save-time half of the SSRF
 * guard).
 *
 * The signatures below are known answers computed by the reference implementation, the npm
 * package standardwebhooks 1.1.1 installed under tests/node_modules, with:
 *
 *   const { Webhook } = require('standardwebhooks');
 *   new Webhook(secret).sign(msgId, new Date(ts * 1000), body)
 *
 * Vector 3 is also the example of the Standard Webhooks specification's own test suite.
 */
#include "byoc/webhook.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/outbound.h"
#include "byoc/banned.h"

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" /* 24-byte key, unpadded base64 */
#define KEY32_SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */

/* ------------------------------------------------------------------------------------------ */
/* byoc_webhook_sign: known answers                                                            */

static void expect_signature(const char *secret, const char *id, int64_t ts, const char *body,
                             size_t len, const char *want)
{
    char sig[BYOC_WEBHOOK_SIGNATURE_MAX];
    memset(sig, 0, sizeof sig);
    ck_assert_int_eq(byoc_webhook_sign(secret, id, ts, body, len, sig), BYOC_ERR_OK);
    ck_assert_str_eq(sig, want);
}

START_TEST(sign_matches_reference_utf8_body)
{
    /* node: sign('evt_2b6f0c1a9d3e4f5a', new Date(1700000000 * 1000), body) with SPEC_SECRET */
    static const char body[] = "{\"id\":\"evt_2b6f0c1a9d3e4f5a\",\"type\":\"agent.message\","
                               "\"seq\":3,\"data\":{\"text\":\"h\xc3\xa9llo \xe2\x9c\x93\"}}";
    ck_assert_uint_eq(sizeof body - 1, 89); /* the byte length node reported */
    expect_signature(SPEC_SECRET, "evt_2b6f0c1a9d3e4f5a", 1700000000, body, sizeof body - 1,
                     "v1,aolW8a7k37LoXtCEGDCixOx5+glwVE+xybhUI1ghVwQ=");
}
END_TEST

START_TEST(sign_matches_reference_32_byte_key_empty_body)
{
    /* node: sign('evt_0', new Date(0), '') with KEY32_SECRET (padded base64 of bytes 0..31) */
    expect_signature(KEY32_SECRET, "evt_0", 0, "", 0,
                     "v1,pdaiyrzSP78/oUXc/zocEamAci80lIkJkeL9+tLpRTU=");
}
END_TEST

START_TEST(sign_matches_specification_example)
{
    /* node: sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000),
     * '{"test": 2432232314}') with SPEC_SECRET; the same value the specification lists */
    static const char body[] = "{\"test\": 2432232314}";
    expect_signature(SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, sizeof body - 1,
                     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}
END_TEST

START_TEST(sign_uses_exactly_len_bytes_of_body)
{
    /* node: sign('evt_len', new Date(1700000001 * 1000), '{"a":1}') with SPEC_SECRET; the
     * buffer continues past len and that tail must not be signed */
    static const char buf[] = "{\"a\":1}TRAILING GARBAGE";
    expect_signature(SPEC_SECRET, "evt_len", 1700000001, buf, 7,
                     "v1,kInFFEqvY8dsaZ0bYHOobRmR7YC4xx8RP2WYPfroiEw=");
}
END_TEST

START_TEST(sign_depends_on_every_input)
{
    char base[BYOC_WEBHOOK_SIGNATURE_MAX], sig[BYOC_WEBHOOK_SIGNATURE_MAX];
    ck_assert_int_eq(byoc_webhook_sign(SPEC_SECRET, "evt_1", 100, "{}", 2, base), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_webhook_sign(SPEC_SECRET, "evt_2", 100, "{}", 2, sig), BYOC_ERR_OK);
    ck_assert_str_ne(sig, base);
    ck_assert_int_eq(byoc_webhook_sign(SPEC_SECRET, "evt_1", 101, "{}", 2, sig), BYOC_ERR_OK);
    ck_assert_str_ne(sig, base);
    ck_assert_int_eq(byoc_webhook_sign(SPEC_SECRET, "evt_1", 100, "[]", 2, sig), BYOC_ERR_OK);
    ck_assert_str_ne(sig, base);
    ck_assert_int_eq(byoc_webhook_sign(KEY32_SECRET, "evt_1", 100, "{}", 2, sig), BYOC_ERR_OK);
    ck_assert_str_ne(sig, base);
    /* and nothing else: the same inputs sign the same */
    ck_assert_int_eq(byoc_webhook_sign(SPEC_SECRET, "evt_1", 100, "{}", 2, sig), BYOC_ERR_OK);
    ck_assert_str_eq(sig, base);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_webhook_sign: secrets it refuses                                                       */

static void expect_refused_secret(const char *secret)
{
    char sig[BYOC_WEBHOOK_SIGNATURE_MAX] = "untouched";
    ck_assert_msg(byoc_webhook_sign(secret, "evt_1", 1700000000, "{}", 2, sig) == BYOC_ERR_INVALID,
                  "secret \"%s\" was not refused", secret ? secret : "(null)");
    ck_assert_str_eq(sig, "untouched"); /* out is written only on success */
}

START_TEST(sign_refuses_secret_without_prefix)
{
    expect_refused_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); /* valid base64, no whsec_ */
    expect_refused_secret("whsec");
    expect_refused_secret("wh_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect_refused_secret(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect_refused_secret("");
    expect_refused_secret(NULL);
}
END_TEST

START_TEST(sign_refuses_bad_base64)
{
    expect_refused_secret("whsec_");                                  /* no key at all */
    expect_refused_secret("whsec_!!!!not*base64!!!!");                /* characters outside it */
    expect_refused_secret("whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw"); /* a space inside */
    expect_refused_secret("whsec_abcde");                             /* 5 chars: not a length */
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_webhook_secret_new                                                                     */

START_TEST(secret_new_format)
{
    char a[BYOC_WEBHOOK_SECRET_MAX], b[BYOC_WEBHOOK_SECRET_MAX];
    ck_assert_int_eq(byoc_webhook_secret_new(a), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_webhook_secret_new(b), BYOC_ERR_OK);
    ck_assert_uint_eq(strlen(a), 6 + 44);
    ck_assert_int_eq(strncmp(a, "whsec_", 6), 0);
    for (size_t i = 6; i < 6 + 43; i++) {
        char c = a[i];
        bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/';
        ck_assert_msg(b64, "character %zu of %s is not base64", i, a);
    }
    ck_assert_int_eq(a[6 + 43], '='); /* 32 bytes: one byte of padding */
    uint8_t key[64];
    size_t len = 0;
    ck_assert_int_eq(byoc_base64_decode(a + 6, 44, key, sizeof key, &len), BYOC_ERR_OK);
    ck_assert_uint_eq(len, BYOC_WEBHOOK_SECRET_BYTES);
    ck_assert_uint_eq(len, 32);
    ck_assert_str_ne(a, b);
    /* and it is a secret the signer takes */
    char sig[BYOC_WEBHOOK_SIGNATURE_MAX];
    ck_assert_int_eq(byoc_webhook_sign(a, "evt_1", 1, "{}", 2, sig), BYOC_ERR_OK);
    ck_assert_uint_eq(strlen(sig), 3 + 44);
}
END_TEST

START_TEST(secret_new_is_random_each_time)
{
    enum { N = 64 };
    static char seen[N][BYOC_WEBHOOK_SECRET_MAX];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(byoc_webhook_secret_new(seen[i]), BYOC_ERR_OK);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(seen[i], seen[j]);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_event_envelope                                                                         */

static struct byoc_event event_of(const char *type, int64_t seq, const char *data)
{
    struct byoc_event e = {.cursor = 42,
                           .seq = seq,
                           .type = (char *)type,
                           .data_json = (char *)data,
                           .created_at = 1700000000123LL};
    snprintf(e.id, sizeof e.id, "evt_abc123");
    snprintf(e.provider_id, sizeof e.provider_id, "prv_p1");
    snprintf(e.conversation_id, sizeof e.conversation_id, "cnv_c1");
    return e;
}

static cJSON *parse_envelope(const struct byoc_event *e)
{
    char *text = byoc_event_envelope(e);
    ck_assert_ptr_nonnull(text);
    cJSON *j = NULL;
    ck_assert_msg(byoc_json_parse(text, strlen(text), &j) == BYOC_ERR_OK, "not JSON: %s", text);
    free(text);
    ck_assert(cJSON_IsObject(j));
    return j;
}

START_TEST(envelope_has_every_field)
{
    struct byoc_event e =
        event_of("conversation.ended", 7, "{\"by\":\"bot\",\"reason\":\"resolved\"}");
    cJSON *j = parse_envelope(&e);
    ck_assert_pstr_eq(byoc_json_str(j, "id"), "evt_abc123");
    ck_assert_pstr_eq(byoc_json_str(j, "type"), "conversation.ended");
    ck_assert_pstr_eq(byoc_json_str(j, "created_at"), "2023-11-14T22:13:20.123Z");
    ck_assert_pstr_eq(byoc_json_str(j, "provider_id"), "prv_p1");
    ck_assert_pstr_eq(byoc_json_str(j, "conversation_id"), "cnv_c1");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    ck_assert(cJSON_IsNumber(seq));
    ck_assert_int_eq((int64_t)cJSON_GetNumberValue(seq), 7);
    /* exactly the contract's seven members: no cursor or other internals */
    ck_assert_int_eq(cJSON_GetArraySize(j), 7);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "cursor"));
    cJSON_Delete(j);
}
END_TEST

START_TEST(envelope_embeds_data_as_object)
{
    struct byoc_event e =
        event_of("agent.message", 2,
                 "{\"message_id\":\"msg_1\",\"kind\":\"reply\",\"text\":\"hi \\\"there\\\"\","
                 "\"attachments\":[{\"name\":\"a.png\",\"url\":\"https://x/a.png\"}],"
                 "\"agent\":{\"name\":\"Alice\"}}");
    cJSON *j = parse_envelope(&e);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    ck_assert_msg(cJSON_IsObject(data), "data is not an object (a string would be wrong)");
    ck_assert_pstr_eq(byoc_json_str(data, "message_id"), "msg_1");
    ck_assert_pstr_eq(byoc_json_str(data, "text"), "hi \"there\"");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(data, "attachments");
    ck_assert(cJSON_IsArray(att));
    ck_assert_int_eq(cJSON_GetArraySize(att), 1);
    ck_assert_pstr_eq(byoc_json_str(cJSON_GetArrayItem(att, 0), "name"), "a.png");
    ck_assert_pstr_eq(byoc_json_str(byoc_json_path(data, "agent", NULL), "name"), "Alice");
    cJSON_Delete(j);
}
END_TEST

START_TEST(envelope_of_empty_data_is_empty_object)
{
    struct byoc_event e = event_of("agent.typing", 1, "{}");
    cJSON *j = parse_envelope(&e);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    ck_assert(cJSON_IsObject(data));
    ck_assert_int_eq(cJSON_GetArraySize(data), 0);
    cJSON_Delete(j);
}
END_TEST

START_TEST(event_view_matches_envelope)
{
    struct byoc_event e =
        event_of("message.delivered", 3, "{\"message_id\":\"out_1\",\"attempts\":2}");
    cJSON *v = byoc_event_view(&e);
    ck_assert_ptr_nonnull(v);
    char *from_view = byoc_json_render(v);
    char *envelope = byoc_event_envelope(&e);
    ck_assert_ptr_nonnull(from_view);
    ck_assert_ptr_nonnull(envelope);
    ck_assert_str_eq(from_view, envelope);
    const cJSON *att = byoc_json_path(v, "data", "attempts", NULL);
    ck_assert(cJSON_IsNumber(att));
    ck_assert_int_eq((int)cJSON_GetNumberValue(att), 2);
    free(from_view);
    free(envelope);
    cJSON_Delete(v);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* byoc_out_url_check                                                                          */

static void expect_url(const char *url, bool allow_private, bool accepted)
{
    char why[256] = "";
    enum byoc_err e = byoc_out_url_check(url, allow_private, why, sizeof why);
    if (accepted)
        ck_assert_msg(e == BYOC_ERR_OK, "%s (allow_private=%d) refused: %s", url, allow_private,
                      why);
    else {
        ck_assert_msg(e == BYOC_ERR_INVALID, "%s (allow_private=%d) accepted (err %d)", url,
                      allow_private, (int)e);
        ck_assert_msg(why[0] != '\0', "%s refused without a reason", url);
    }
}

static void expect_ok(const char *url)
{
    expect_url(url, false, true);
}

static void expect_refused(const char *url)
{
    expect_url(url, false, false);
}

START_TEST(url_public_https_accepted)
{
    expect_ok("https://bot.example.com/hook?x=1");
    expect_ok("http://bot.example.com/hook");
    expect_ok("https://bot.example.com:8443/a/b?c=d&e=f");
    expect_ok("https://172.32.0.1/hook");
    expect_ok("https://8.8.8.8/hook");
    expect_ok("https://198.20.0.1/hook");
    expect_ok("https://192.0.1.1/hook");
    expect_ok("https://[2001:4860:4860::8888]/hook");
    /* a name is checked again once resolved (at connect time), not here */
    expect_ok("https://127.0.0.1.nip.io/hook");
    /* the scheme is case-insensitive */
    expect_ok("HTTPS://Bot.Example.com/hook");
}
END_TEST

START_TEST(url_other_schemes_refused)
{
    expect_refused("file:///etc/passwd");
    expect_refused("file://localhost/etc/passwd");
    expect_refused("gopher://bot.example.com/");
    expect_refused("ftp://bot.example.com/hook");
    expect_refused("dict://bot.example.com/");
    expect_refused("ws://bot.example.com/hook");
    expect_refused("bot.example.com/hook"); /* no scheme */
    expect_refused("https://");             /* no host */
    expect_refused("https://:443/hook");    /* no host either */
    expect_refused("");
    expect_refused(NULL);
}
END_TEST

START_TEST(url_credentials_fragment_spaces_refused)
{
    expect_refused("https://user:pass@bot.example.com/hook");
    expect_refused("https://user@bot.example.com/hook");
    expect_refused("https://bot.example.com/hook#fragment");
    expect_refused("https://bot.example.com/ho ok");
    expect_refused("https://bot.example.com/hook\n");
    expect_refused("https://bot.example.com/h\tk");
}
END_TEST

START_TEST(url_length_capped_at_2048_bytes)
{
    static char url[BYOC_URL_MAX + 2];
    int n = snprintf(url, sizeof url, "https://bot.example.com/");
    memset(url + n, 'a', BYOC_URL_MAX - (size_t)n);
    url[BYOC_URL_MAX] = '\0'; /* exactly 2048 bytes */
    ck_assert_uint_eq(strlen(url), 2048);
    expect_ok(url);
    url[BYOC_URL_MAX] = 'a';
    url[BYOC_URL_MAX + 1] = '\0'; /* 2049 */
    expect_refused(url);
}
END_TEST

START_TEST(url_private_ipv4_literals_refused)
{
    static const char *const hosts[] = {
        "127.0.0.1",       "127.1",           "0x7f000001",      "2130706433",     "0177.0.0.1",
        "127.255.255.254", "10.0.0.1",        "172.16.0.1",      "172.31.255.255", "192.168.0.1",
        "100.64.0.1",      "100.127.255.1",   "169.254.169.254", "0.0.0.0",        "0",
        "224.0.0.1",       "255.255.255.255", "0x7f.1",          "017700000001",   "127.0.0.1.",
        "192.0.0.170",     "198.18.0.1",      "198.19.255.254",
    };
    char url[128];
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        snprintf(url, sizeof url, "https://%s/hook", hosts[i]);
        expect_refused(url);
        snprintf(url, sizeof url, "http://%s:8080/hook", hosts[i]);
        expect_refused(url);
    }
}
END_TEST

START_TEST(url_private_ipv6_literals_refused)
{
    static const char *const hosts[] = {
        "[::1]",
        "[fc00::1]",
        "[fd12::1]",
        "[fe80::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[ff02::1]",
        "[0:0:0:0:0:0:0:1]",
        "[fe80::1%25eth0]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[64:ff9b::a9fe:a9fe]",
        "[fd00:ec2::254]",
    };
    char url[128];
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        snprintf(url, sizeof url, "https://%s/hook", hosts[i]);
        expect_refused(url);
    }
}
END_TEST

START_TEST(url_localhost_names_refused)
{
    expect_refused("https://localhost/hook");
    expect_refused("http://localhost:3000/hook");
    expect_refused("https://LOCALHOST./hook");
    expect_refused("https://LocalHost/hook");
    expect_refused("https://foo.localhost/hook");
    expect_refused("https://a.b.localhost./hook");
    /* but a name that merely contains the word is someone's public host */
    expect_ok("https://localhost.example.com/hook");
    expect_ok("https://notlocalhost/hook");
}
END_TEST

/* A host too long for the check's buffer must not slip through as "not a literal": DNS names
 * are at most 253 bytes anyway, so refusing costs nothing. */
START_TEST(url_overlong_localhost_name_refused)
{
    char url[400];
    int n = snprintf(url, sizeof url, "https://");
    for (int label = 0; label < 5; label++) { /* 5 labels of 60: 300 bytes before .localhost */
        memset(url + n, 'a', 59);
        n += 59;
        url[n++] = '.';
    }
    snprintf(url + n, sizeof url - (size_t)n, "localhost/hook");
    expect_refused(url);
}
END_TEST

START_TEST(url_allow_private_lifts_only_the_address_rule)
{
    expect_url("http://127.0.0.1:8080/hook", true, true);
    expect_url("http://localhost:8080/hook", true, true);
    expect_url("http://[::1]:8080/hook", true, true);
    expect_url("http://10.0.0.1/hook", true, true);
    expect_url("https://bot.example.com/hook", true, true);
    expect_url("file:///etc/passwd", true, false);
    expect_url("gopher://127.0.0.1/", true, false);
    expect_url("http://user:pass@127.0.0.1/hook", true, false);
    expect_url("http://127.0.0.1/hook#x", true, false);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static Suite *webhook_sign_suite(void)
{
    Suite *s = suite_create("webhook_sign");
    TCase *tc = tcase_create("sign");
    tcase_add_test(tc, sign_matches_reference_utf8_body);
    tcase_add_test(tc, sign_matches_reference_32_byte_key_empty_body);
    tcase_add_test(tc, sign_matches_specification_example);
    tcase_add_test(tc, sign_uses_exactly_len_bytes_of_body);
    tcase_add_test(tc, sign_depends_on_every_input);
    tcase_add_test(tc, sign_refuses_secret_without_prefix);
    tcase_add_test(tc, sign_refuses_bad_base64);
    suite_add_tcase(s, tc);

    tc = tcase_create("secret");
    tcase_add_test(tc, secret_new_format);
    tcase_add_test(tc, secret_new_is_random_each_time);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelope");
    tcase_add_test(tc, envelope_has_every_field);
    tcase_add_test(tc, envelope_embeds_data_as_object);
    tcase_add_test(tc, envelope_of_empty_data_is_empty_object);
    tcase_add_test(tc, event_view_matches_envelope);
    suite_add_tcase(s, tc);

    tc = tcase_create("url_check");
    tcase_add_test(tc, url_public_https_accepted);
    tcase_add_test(tc, url_other_schemes_refused);
    tcase_add_test(tc, url_credentials_fragment_spaces_refused);
    tcase_add_test(tc, url_length_capped_at_2048_bytes);
    tcase_add_test(tc, url_private_ipv4_literals_refused);
    tcase_add_test(tc, url_private_ipv6_literals_refused);
    tcase_add_test(tc, url_localhost_names_refused);
    tcase_add_test(tc, url_overlong_localhost_name_refused);
    tcase_add_test(tc, url_allow_private_lifts_only_the_address_rule);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!byoc_out_global_init())
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(webhook_sign_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    byoc_out_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
