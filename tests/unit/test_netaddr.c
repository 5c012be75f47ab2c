/* Addresses, ranges and the client behind trusted proxies (X-Forwarded-For). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/netaddr.h"
#include "byoc/banned.h"

static struct byoc_ip ip(const char *text)
{
    struct byoc_ip out;
    ck_assert_msg(byoc_ip_parse(text, strlen(text), &out), "%s should parse", text);
    return out;
}

static void assert_text(const struct byoc_ip *a, const char *want)
{
    char got[BYOC_IP_TEXT_MAX];
    byoc_ip_format(a, got, sizeof got);
    ck_assert_str_eq(got, want);
}

static struct byoc_cidrs cidrs(const char *list)
{
    struct byoc_cidrs out;
    char why[128] = "";
    ck_assert_msg(byoc_cidrs_parse(list, &out, why, sizeof why), "%s: %s", list, why);
    return out;
}

START_TEST(ip_parse_forms)
{
    struct byoc_ip a = ip("192.0.2.1");
    ck_assert(a.v4);
    assert_text(&a, "192.0.2.1");
    a = ip("[2001:db8::1]");
    ck_assert(!a.v4);
    assert_text(&a, "2001:db8::1");
    a = ip("::ffff:10.1.2.3"); /* v4-mapped is held as IPv4 */
    ck_assert(a.v4);
    assert_text(&a, "10.1.2.3");
    struct byoc_ip bad;
    static const char *const rejected[] = {"",         "1.2.3",     "1.2.3.4:80", "256.1.1.1",
                                           "[1.2.3.4", "unknown",   "::1%lo",     "1.2.3.4 ",
                                           "[]",       "0x7f000001"};
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++)
        ck_assert_msg(!byoc_ip_parse(rejected[i], strlen(rejected[i]), &bad), "%s accepted",
                      rejected[i]);
    ck_assert(!byoc_ip_parse("1.2.3.4\0", 8, &bad)); /* embedded NUL */
}
END_TEST

START_TEST(cidrs_parse_and_match)
{
    struct byoc_cidrs set = cidrs(" 10.0.0.0/8 ,192.168.1.7, fd00::/8,::1");
    ck_assert_uint_eq(set.n, 4);
    struct byoc_ip in[] = {ip("10.255.0.1"), ip("192.168.1.7"), ip("fd12::3"), ip("::1"),
                           ip("::ffff:10.0.0.1")};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        ck_assert_msg(byoc_cidrs_contain(&set, &in[i]), "entry %zu not contained", i);
    struct byoc_ip out[] = {ip("11.0.0.1"), ip("192.168.1.8"), ip("fe80::1"), ip("::2"),
                            ip("127.0.0.1")};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        ck_assert_msg(!byoc_cidrs_contain(&set, &out[i]), "entry %zu contained", i);
    /* prefixes that do not end on a byte */
    set = cidrs("172.16.0.0/12");
    struct byoc_ip a = ip("172.31.255.255"), b = ip("172.32.0.0");
    ck_assert(byoc_cidrs_contain(&set, &a));
    ck_assert(!byoc_cidrs_contain(&set, &b));
    set = cidrs("0.0.0.0/0");
    ck_assert(byoc_cidrs_contain(&set, &b));
    a = ip("::1");
    ck_assert(!byoc_cidrs_contain(&set, &a)); /* a v4 range holds no v6 address */
    set = cidrs("");
    ck_assert_uint_eq(set.n, 0);
    ck_assert(!byoc_cidrs_contain(&set, &b));
}
END_TEST

START_TEST(cidrs_reject_with_reason)
{
    static const char *const bad[] = {"10.0.0.0/33",   "::/129",      "10.0.0.0/",  "10.0.0.0/8/8",
                                      "proxy.example", "10.0.0.0/-1", "1.2.3.4/0x8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct byoc_cidrs set;
        char why[128] = "";
        ck_assert_msg(!byoc_cidrs_parse(bad[i], &set, why, sizeof why), "%s accepted", bad[i]);
        ck_assert_msg(strstr(why, "is not an IP address"), "%s: %s", bad[i], why);
    }
    char many[1024] = "";
    size_t used = 0;
    for (int i = 0; i <= BYOC_TRUSTED_PROXIES_MAX; i++)
        used += (size_t)snprintf(many + used, sizeof many - used, "10.0.0.%d,", i);
    struct byoc_cidrs set;
    char why[128] = "";
    ck_assert(!byoc_cidrs_parse(many, &set, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "more than"));
}
END_TEST

/* Resolves xff for peer with the trusted list and returns the client as text. */
static const char *client_of(const char *trusted, const char *peer, const char *xff, bool *honoured)
{
    static char text[BYOC_IP_TEXT_MAX];
    struct byoc_cidrs set = cidrs(trusted);
    struct byoc_ip p = ip(peer), c;
    *honoured = byoc_forwarded_client(&set, &p, xff, &c);
    byoc_ip_format(&c, text, sizeof text);
    return text;
}

START_TEST(forwarded_walks_from_the_right)
{
    bool h = false;
    /* an untrusted peer's header is ignored */
    ck_assert_str_eq(client_of("10.0.0.1", "198.51.100.7", "203.0.113.9", &h), "198.51.100.7");
    ck_assert(!h);
    /* one trusted proxy: the entry it appended is the client */
    ck_assert_str_eq(client_of("10.0.0.1", "10.0.0.1", "203.0.113.9", &h), "203.0.113.9");
    ck_assert(h);
    /* a forged left part does not win: the first untrusted from the right does */
    ck_assert_str_eq(client_of("10.0.0.1", "10.0.0.1", "1.1.1.1, 198.51.100.7", &h),
                     "198.51.100.7");
    /* two trusted hops are skipped */
    ck_assert_str_eq(client_of("10.0.0.0/8", "10.0.0.1", "203.0.113.9,10.2.2.2 ,  10.3.3.3", &h),
                     "203.0.113.9");
    /* everything trusted: the leftmost */
    ck_assert_str_eq(client_of("10.0.0.0/8", "10.0.0.1", "10.9.9.9, 10.2.2.2", &h), "10.9.9.9");
    /* an unreadable entry stops the walk at the last known hop */
    ck_assert_str_eq(client_of("10.0.0.0/8", "10.0.0.1", "203.0.113.9, unknown, 10.2.2.2", &h),
                     "10.2.2.2");
    ck_assert_str_eq(client_of("10.0.0.1", "10.0.0.1", "garbage", &h), "10.0.0.1");
    ck_assert(!h);
    ck_assert_str_eq(client_of("10.0.0.1", "10.0.0.1", "", &h), "10.0.0.1");
    ck_assert_str_eq(client_of("10.0.0.1", "10.0.0.1", ",,", &h), "10.0.0.1");
    /* IPv6, bracketed, and a v4-mapped trusted peer */
    ck_assert_str_eq(client_of("::1", "::1", "[2001:db8::5]", &h), "2001:db8::5");
    ck_assert_str_eq(client_of("127.0.0.1", "::ffff:127.0.0.1", "192.0.2.4", &h), "192.0.2.4");
    /* no header */
    struct byoc_cidrs set = cidrs("10.0.0.1");
    struct byoc_ip p = ip("10.0.0.1"), c;
    ck_assert(!byoc_forwarded_client(&set, &p, NULL, &c));
    assert_text(&c, "10.0.0.1");
}
END_TEST

static Suite *netaddr_suite(void)
{
    Suite *s = suite_create("netaddr");
    TCase *tc = tcase_create("netaddr");
    tcase_add_test(tc, ip_parse_forms);
    tcase_add_test(tc, cidrs_parse_and_match);
    tcase_add_test(tc, cidrs_reject_with_reason);
    tcase_add_test(tc, forwarded_walks_from_the_right);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(netaddr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
