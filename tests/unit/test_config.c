/*
 * byoc/config.h: defaults, every key's validation (the error names the key), the KEY=VALUE
 * file format and its precedence below the environment. The environment is a small table fed
 * through the injectable getenv; files are temporary.
 */
#include "byoc/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/banned.h"

#define ENV_MAX 16

struct env_var {
    const char *name, *value;
};

static struct env_var env[ENV_MAX];
static size_t env_n;
static struct byoc_config cfg;
static char why[512];
static char file_path[64];

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < env_n; i++) {
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    }
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    ck_assert_uint_lt(env_n, ENV_MAX);
    env[env_n++] = (struct env_var){name, value};
}

static void setup(void)
{
    env_n = 0;
    memset(&cfg, 0, sizeof cfg);
    memset(why, 0, sizeof why);
    file_path[0] = '\0';
}

static void teardown(void)
{
    byoc_config_release(&cfg);
    if (file_path[0])
        unlink(file_path);
}

/* Writes text to a fresh temporary file; its path is file_path. */
static const char *write_file(const char *text)
{
    snprintf(file_path, sizeof file_path, "/tmp/byoc-config-XXXXXX");
    int fd = mkstemp(file_path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return file_path;
}

static enum byoc_err load(const char *file)
{
    byoc_config_release(&cfg);
    return byoc_config_load(&cfg, file, fake_getenv, why, sizeof why);
}

/* The key's value must be rejected with CONFIG and a reason that names the key. */
static void expect_rejected(const char *name, const char *value)
{
    env_n = 0;
    env_set(name, value);
    why[0] = '\0';
    enum byoc_err e = load(NULL);
    ck_assert_msg(e == BYOC_ERR_CONFIG, "%s=%s gave %d", name, value, (int)e);
    ck_assert_msg(strstr(why, name) != NULL, "why '%s' does not name %s", why, name);
}

static void expect_accepted(const char *name, const char *value)
{
    env_n = 0;
    env_set(name, value);
    enum byoc_err e = load(NULL);
    ck_assert_msg(e == BYOC_ERR_OK, "%s=%s rejected: %s", name, value, why);
}

/* ---- defaults ---- */

START_TEST(defaults_without_any_setting)
{
    ck_assert_int_eq(load(NULL), BYOC_ERR_OK);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_int_eq(cfg.listen_port, 8080);
    ck_assert_str_eq(cfg.database, "./var/byocd.db");
    ck_assert_str_eq(cfg.public_url, "http://127.0.0.1:8080");
    ck_assert_ptr_null(cfg.admin_token);
    ck_assert_ptr_null(cfg.master_key);
    ck_assert_int_eq(cfg.token_ttl, 3600);
    ck_assert_int_eq(cfg.max_connections, 1024);
    ck_assert_int_eq(cfg.idle_timeout, 60);
    ck_assert_int_eq(cfg.log_level, BYOC_LOG_INFO);
}
END_TEST

START_TEST(public_url_follows_listen)
{
    env_set("BYOCD_LISTEN", "0.0.0.0:9000");
    ck_assert_int_eq(load(NULL), BYOC_ERR_OK);
    ck_assert_str_eq(cfg.public_url, "http://0.0.0.0:9000");
    ck_assert_int_eq(cfg.listen_port, 9000);
}
END_TEST

START_TEST(every_key_set_from_environment)
{
    env_set("BYOCD_LISTEN", "10.0.0.1:0");
    env_set("BYOCD_DATABASE", ":memory:");
    env_set("BYOCD_PUBLIC_URL", "https://byocd.example.com/base");
    env_set("BYOCD_ADMIN_TOKEN", "0123456789abcdef");
    env_set("BYOCD_MASTER_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    env_set("BYOCD_TOKEN_TTL", "120");
    env_set("BYOCD_MAX_CONNECTIONS", "16");
    env_set("BYOCD_IDLE_TIMEOUT", "3600");
    env_set("BYOCD_LOG_LEVEL", "debug");
    ck_assert_int_eq(load(NULL), BYOC_ERR_OK);
    ck_assert_str_eq(cfg.listen_host, "10.0.0.1");
    ck_assert_int_eq(cfg.listen_port, 0);
    ck_assert_str_eq(cfg.database, ":memory:");
    ck_assert_str_eq(cfg.public_url, "https://byocd.example.com/base");
    ck_assert_str_eq(cfg.admin_token, "0123456789abcdef");
    ck_assert_str_eq(cfg.master_key,
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    ck_assert_int_eq(cfg.token_ttl, 120);
    ck_assert_int_eq(cfg.max_connections, 16);
    ck_assert_int_eq(cfg.idle_timeout, 3600);
    ck_assert_int_eq(cfg.log_level, BYOC_LOG_DEBUG);
}
END_TEST

START_TEST(error_leaves_out_untouched)
{
    struct byoc_config mine = {.token_ttl = 4242, .listen = NULL};
    env_set("BYOCD_LOG_LEVEL", "loud");
    ck_assert_int_eq(byoc_config_load(&mine, NULL, fake_getenv, why, sizeof why), BYOC_ERR_CONFIG);
    ck_assert_int_eq(mine.token_ttl, 4242);
    ck_assert_ptr_null(mine.listen);
    ck_assert_ptr_null(mine.public_url);
}
END_TEST

START_TEST(release_is_idempotent)
{
    ck_assert_int_eq(load(NULL), BYOC_ERR_OK);
    byoc_config_release(&cfg);
    ck_assert_ptr_null(cfg.listen);
    byoc_config_release(&cfg);
    byoc_config_release(NULL);
}
END_TEST

/* An empty value must not leave a key without a usable value: either it means "unset" (the
 * default applies) or it is rejected by name. */
START_TEST(empty_ttl_is_default_or_rejected)
{
    env_set("BYOCD_TOKEN_TTL", "");
    enum byoc_err e = load(NULL);
    if (e == BYOC_ERR_OK)
        ck_assert_int_eq(cfg.token_ttl, 3600);
    else
        ck_assert_ptr_nonnull(strstr(why, "BYOCD_TOKEN_TTL"));
}
END_TEST

START_TEST(empty_listen_is_default_or_rejected)
{
    env_set("BYOCD_LISTEN", "");
    enum byoc_err e = load(NULL); /* crashed (NULL listen) before the fix */
    if (e == BYOC_ERR_OK) {
        ck_assert_pstr_eq(cfg.listen, "127.0.0.1:8080");
        ck_assert_pstr_eq(cfg.public_url, "http://127.0.0.1:8080");
    } else {
        ck_assert_ptr_nonnull(strstr(why, "BYOCD_LISTEN"));
    }
}
END_TEST

/* ---- integers ---- */

START_TEST(token_ttl_bounds)
{
    expect_rejected("BYOCD_TOKEN_TTL", "abc");
    expect_rejected("BYOCD_TOKEN_TTL", "59");
    expect_rejected("BYOCD_TOKEN_TTL", "86401");
    expect_rejected("BYOCD_TOKEN_TTL", "-3600");
    expect_rejected("BYOCD_TOKEN_TTL", "3600s");
    expect_rejected("BYOCD_TOKEN_TTL", "99999999999999999999999");
    expect_accepted("BYOCD_TOKEN_TTL", "60");
    ck_assert_int_eq(cfg.token_ttl, 60);
    expect_accepted("BYOCD_TOKEN_TTL", "86400");
    ck_assert_int_eq(cfg.token_ttl, 86400);
}
END_TEST

START_TEST(connection_and_idle_bounds)
{
    expect_rejected("BYOCD_MAX_CONNECTIONS", "15");
    expect_rejected("BYOCD_MAX_CONNECTIONS", "100001");
    expect_rejected("BYOCD_IDLE_TIMEOUT", "0");
    expect_rejected("BYOCD_IDLE_TIMEOUT", "3601");
    expect_rejected("BYOCD_IDLE_TIMEOUT", "1.5");
    expect_accepted("BYOCD_MAX_CONNECTIONS", "100000");
    ck_assert_int_eq(cfg.max_connections, 100000);
}
END_TEST

/* ---- listen ---- */

START_TEST(listen_rejects_malformed)
{
    static const char *const bad[] = {
        "nonsense", "1.2.3.4:70000", "1.2.3.4:-1", "1.2.3.4:", ":8080",
        "::1:8080", "[::1]8080",     "[]:80",      "[::1:80",  "host:http"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected("BYOCD_LISTEN", bad[i]);
}
END_TEST

START_TEST(listen_accepts_ipv4_ipv6_and_names)
{
    expect_accepted("BYOCD_LISTEN", "[::1]:8080");
    ck_assert_str_eq(cfg.listen_host, "::1");
    ck_assert_int_eq(cfg.listen_port, 8080);
    ck_assert_str_eq(cfg.listen, "[::1]:8080");
    ck_assert_str_eq(cfg.public_url, "http://[::1]:8080");
    expect_accepted("BYOCD_LISTEN", "localhost:65535");
    ck_assert_str_eq(cfg.listen_host, "localhost");
    ck_assert_int_eq(cfg.listen_port, 65535);
}
END_TEST

/* ---- public URL ---- */

START_TEST(public_url_rejects_non_http_and_queries)
{
    static const char *const bad[] = {"ftp://x",           "https://x?q=1",     "https://x/#top",
                                      "https://user:pw@x", "byocd.example.com", "https://",
                                      "https://x/a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected("BYOCD_PUBLIC_URL", bad[i]);
}
END_TEST

START_TEST(public_url_trailing_slashes_stripped)
{
    expect_accepted("BYOCD_PUBLIC_URL", "https://byocd.example.com/");
    ck_assert_str_eq(cfg.public_url, "https://byocd.example.com");
    expect_accepted("BYOCD_PUBLIC_URL", "https://byocd.example.com/base///");
    ck_assert_str_eq(cfg.public_url, "https://byocd.example.com/base");
    expect_accepted("BYOCD_PUBLIC_URL", "http://h:1");
    ck_assert_str_eq(cfg.public_url, "http://h:1");
}
END_TEST

/* ---- secrets ---- */

START_TEST(admin_token_minimum_length)
{
    expect_rejected("BYOCD_ADMIN_TOKEN", "0123456789abcde");
    ck_assert_ptr_null(strstr(why, "0123456789abcde")); /* the value is never echoed */
    expect_accepted("BYOCD_ADMIN_TOKEN", "0123456789abcdef");
    ck_assert_str_eq(cfg.admin_token, "0123456789abcdef");
}
END_TEST

START_TEST(master_key_hex_or_base64_of_32_bytes)
{
    static const char hex[] = "F0E1D2C3B4A5968778695A4B3C2D1E0F00112233445566778899aabbccddeeff";
    expect_accepted("BYOCD_MASTER_KEY", hex);
    ck_assert_str_eq(cfg.master_key, hex);
    /* base64 of bytes 0..31, padded, unpadded and URL-safe */
    expect_accepted("BYOCD_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    expect_accepted("BYOCD_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    expect_accepted("BYOCD_MASTER_KEY", "-_-_AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
}
END_TEST

START_TEST(master_key_other_shapes_rejected)
{
    static const char *const bad[] = {
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",     /* 31 bytes hex */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", /* 33 bytes hex */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",   /* non-hex */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",                       /* 31 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",                       /* 33 bytes */
        "short",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd!h8=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_rejected("BYOCD_MASTER_KEY", bad[i]);
        ck_assert_ptr_null(strstr(why, bad[i]));
    }
}
END_TEST

START_TEST(log_level_names)
{
    static const struct {
        const char *text;
        enum byoc_log_level level;
    } ok[] = {{"debug", BYOC_LOG_DEBUG},
              {"info", BYOC_LOG_INFO},
              {"warn", BYOC_LOG_WARN},
              {"error", BYOC_LOG_ERROR}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        expect_accepted("BYOCD_LOG_LEVEL", ok[i].text);
        ck_assert_int_eq(cfg.log_level, ok[i].level);
    }
    expect_rejected("BYOCD_LOG_LEVEL", "verbose");
    expect_rejected("BYOCD_LOG_LEVEL", "info ");
    expect_rejected("BYOCD_LOG_LEVEL", "3");
}
END_TEST

START_TEST(database_value_kept)
{
    expect_accepted("BYOCD_DATABASE", "/var/lib/byocd/state.db");
    ck_assert_str_eq(cfg.database, "/var/lib/byocd/state.db");
}
END_TEST

START_TEST(trusted_proxies_list)
{
    expect_accepted("BYOCD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1");
    ck_assert_str_eq(cfg.trusted_proxies, "10.0.0.0/8, 127.0.0.1,::1");
    env_n = 0;
    ck_assert_int_eq(load(NULL), BYOC_ERR_OK);
    ck_assert_ptr_null(cfg.trusted_proxies); /* none by default */
    expect_rejected("BYOCD_TRUSTED_PROXIES", "10.0.0.0/33");
    ck_assert_ptr_nonnull(strstr(why, "10.0.0.0/33"));
    expect_rejected("BYOCD_TRUSTED_PROXIES", "nginx.internal");
}
END_TEST

/* ---- file ---- */

START_TEST(file_comments_blank_lines_and_quotes)
{
    const char *f = write_file("# byocd settings\n"
                               "\n"
                               "   # indented comment\n"
                               "BYOCD_TOKEN_TTL = 120\n"
                               "BYOCD_DATABASE=\"/tmp/with space.db\"\n"
                               "  BYOCD_ADMIN_TOKEN='abcdefghijklmnopq'  \n"
                               "BYOCD_LOG_LEVEL=warn\r\n"
                               "BYOCD_PUBLIC_URL=https://pub.example.com/");
    ck_assert_int_eq(load(f), BYOC_ERR_OK);
    ck_assert_int_eq(cfg.token_ttl, 120);
    ck_assert_str_eq(cfg.database, "/tmp/with space.db");
    ck_assert_str_eq(cfg.admin_token, "abcdefghijklmnopq");
    ck_assert_int_eq(cfg.log_level, BYOC_LOG_WARN);
    ck_assert_str_eq(cfg.public_url, "https://pub.example.com");
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080"); /* defaults still apply */
}
END_TEST

START_TEST(file_unknown_key_named)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=120\nBYOCD_TOKEN_TTLX=5\n");
    ck_assert_int_eq(load(f), BYOC_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "BYOCD_TOKEN_TTLX"));
}
END_TEST

START_TEST(file_line_without_equals_rejected)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=120\nthis is not a setting\n");
    ck_assert_int_eq(load(f), BYOC_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "line 2"));
}
END_TEST

START_TEST(file_bad_value_names_key)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=10\n");
    ck_assert_int_eq(load(f), BYOC_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "BYOCD_TOKEN_TTL"));
}
END_TEST

START_TEST(environment_overrides_file)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=120\nBYOCD_LISTEN=0.0.0.0:81\n");
    env_set("BYOCD_TOKEN_TTL", "300");
    ck_assert_int_eq(load(f), BYOC_ERR_OK);
    ck_assert_int_eq(cfg.token_ttl, 300);
    ck_assert_int_eq(cfg.listen_port, 81); /* not in the environment: from the file */
}
END_TEST

START_TEST(environment_value_wins_over_bad_file_value)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=abc\n");
    env_set("BYOCD_TOKEN_TTL", "300");
    ck_assert_int_eq(load(f), BYOC_ERR_OK);
    ck_assert_int_eq(cfg.token_ttl, 300);
}
END_TEST

START_TEST(file_last_occurrence_wins)
{
    const char *f = write_file("BYOCD_TOKEN_TTL=120\nBYOCD_TOKEN_TTL=240\n");
    ck_assert_int_eq(load(f), BYOC_ERR_OK);
    ck_assert_int_eq(cfg.token_ttl, 240);
}
END_TEST

START_TEST(file_missing_is_io_error)
{
    ck_assert_int_eq(load("/nonexistent/byocd/config.env"), BYOC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(why, "/nonexistent/byocd/config.env"));
    ck_assert_ptr_null(cfg.listen);
}
END_TEST

START_TEST(file_overlong_line_rejected)
{
    static char text[8192];
    int n = snprintf(text, sizeof text, "BYOCD_DATABASE=");
    memset(text + n, 'a', sizeof text - (size_t)n - 2);
    text[sizeof text - 2] = '\n';
    text[sizeof text - 1] = '\0';
    const char *f = write_file(text);
    ck_assert_int_eq(load(f), BYOC_ERR_CONFIG);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase("defaults");
    tcase_add_test(tc, defaults_without_any_setting);
    tcase_add_test(tc, public_url_follows_listen);
    tcase_add_test(tc, every_key_set_from_environment);
    tcase_add_test(tc, error_leaves_out_untouched);
    tcase_add_test(tc, release_is_idempotent);
    tcase_add_test(tc, empty_ttl_is_default_or_rejected);
    tcase_add_test(tc, empty_listen_is_default_or_rejected);
    suite_add_tcase(s, tc);

    tc = tcase("values");
    tcase_add_test(tc, token_ttl_bounds);
    tcase_add_test(tc, connection_and_idle_bounds);
    tcase_add_test(tc, listen_rejects_malformed);
    tcase_add_test(tc, listen_accepts_ipv4_ipv6_and_names);
    tcase_add_test(tc, public_url_rejects_non_http_and_queries);
    tcase_add_test(tc, public_url_trailing_slashes_stripped);
    tcase_add_test(tc, admin_token_minimum_length);
    tcase_add_test(tc, master_key_hex_or_base64_of_32_bytes);
    tcase_add_test(tc, master_key_other_shapes_rejected);
    tcase_add_test(tc, log_level_names);
    tcase_add_test(tc, database_value_kept);
    tcase_add_test(tc, trusted_proxies_list);
    suite_add_tcase(s, tc);

    tc = tcase("file");
    tcase_add_test(tc, file_comments_blank_lines_and_quotes);
    tcase_add_test(tc, file_unknown_key_named);
    tcase_add_test(tc, file_line_without_equals_rejected);
    tcase_add_test(tc, file_bad_value_names_key);
    tcase_add_test(tc, environment_overrides_file);
    tcase_add_test(tc, environment_value_wins_over_bad_file_value);
    tcase_add_test(tc, file_last_occurrence_wins);
    tcase_add_test(tc, file_missing_is_io_error);
    tcase_add_test(tc, file_overlong_line_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
