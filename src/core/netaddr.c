#include "byoc/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "byoc/util.h"
#include "byoc/banned.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void ip_from_v6(const uint8_t a[16], struct byoc_ip *out)
{
    *out = (struct byoc_ip){0};
    if (memcmp(a, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
        out->v4 = true;
        memcpy(out->addr, a + 12, 4);
    } else {
        memcpy(out->addr, a, 16);
    }
}

bool byoc_ip_parse(const char *text, size_t len, struct byoc_ip *out)
{
    char buf[BYOC_IP_TEXT_MAX];
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf || memchr(text, '\0', len))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    uint8_t a[16];
    if (inet_pton(AF_INET, buf, a) == 1) {
        *out = (struct byoc_ip){.v4 = true};
        memcpy(out->addr, a, 4);
        return true;
    }
    if (inet_pton(AF_INET6, buf, a) != 1)
        return false;
    ip_from_v6(a, out);
    return true;
}

bool byoc_ip_from_sockaddr(const struct sockaddr *sa, struct byoc_ip *out)
{
    if (sa && sa->sa_family == AF_INET) {
        *out = (struct byoc_ip){.v4 = true};
        memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        ip_from_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, out);
        return true;
    }
    return false;
}

void byoc_ip_format(const struct byoc_ip *ip, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    if (!inet_ntop(ip->v4 ? AF_INET : AF_INET6, ip->addr, out, (socklen_t)cap))
        out[0] = '\0';
}

static bool cidr_parse(const char *s, size_t len, struct byoc_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!byoc_ip_parse(s, alen, &out->ip))
        return false;
    unsigned max = out->ip.v4 ? 32 : 128;
    out->bits = max;
    if (!slash)
        return true;
    char digits[4];
    size_t dlen = len - alen - 1;
    int64_t bits = 0;
    if (dlen == 0 || dlen >= sizeof digits)
        return false;
    memcpy(digits, slash + 1, dlen);
    digits[dlen] = '\0';
    if (!byoc_parse_i64(digits, 0, max, &bits))
        return false;
    out->bits = (unsigned)bits;
    return true;
}

bool byoc_cidrs_parse(const char *list, struct byoc_cidrs *out, char *why, size_t cap)
{
    *out = (struct byoc_cidrs){0};
    const char *p = list ? list : "";
    while (*p) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        if (out->n == BYOC_TRUSTED_PROXIES_MAX) {
            snprintf(why, cap, "more than %d entries", BYOC_TRUSTED_PROXIES_MAX);
            return false;
        }
        if (!cidr_parse(p, len, &out->v[out->n])) {
            snprintf(why, cap, "\"%.*s\" is not an IP address or address/prefix", (int)len, p);
            return false;
        }
        out->n++;
        p += len;
    }
    return true;
}

static bool cidr_contains(const struct byoc_cidr *c, const struct byoc_ip *ip)
{
    if (c->ip.v4 != ip->v4)
        return false;
    unsigned whole = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->ip.addr, ip->addr, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->ip.addr[whole] & mask) == (ip->addr[whole] & mask);
}

bool byoc_cidrs_contain(const struct byoc_cidrs *set, const struct byoc_ip *ip)
{
    for (size_t i = 0; set && i < set->n; i++) {
        if (cidr_contains(&set->v[i], ip))
            return true;
    }
    return false;
}

/* The entry ending just before end (exclusive), trimmed; *start is where it begins. */
static size_t entry_before(const char *xff, size_t end, size_t *start)
{
    size_t e = end;
    while (e > 0 && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
        e--;
    size_t s = e;
    while (s > 0 && xff[s - 1] != ',')
        s--;
    *start = s;
    while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
        s++;
    return e - s;
}

bool byoc_forwarded_client(const struct byoc_cidrs *trusted, const struct byoc_ip *peer,
                           const char *xff, struct byoc_ip *client)
{
    *client = *peer;
    if (!xff || !byoc_cidrs_contain(trusted, peer))
        return false;
    size_t end = strlen(xff);
    bool honoured = false;
    while (end > 0) {
        size_t start = 0, len = entry_before(xff, end, &start);
        const char *entry = xff + start;
        while (*entry == ' ' || *entry == '\t')
            entry++;
        struct byoc_ip hop;
        if (!byoc_ip_parse(entry, len, &hop))
            break; /* unreadable (or a port we do not expect): keep the last known hop */
        *client = hop;
        honoured = true;
        if (!byoc_cidrs_contain(trusted, &hop))
            break;
        end = start > 0 ? start - 1 : 0;
    }
    return honoured;
}
