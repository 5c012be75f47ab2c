/* IP addresses and address ranges as text, for the trusted-proxy list and for resolving the
 * client behind a reverse proxy (X-Forwarded-For). Pure functions, no allocation. */
#ifndef BYOC_NETADDR_H
#define BYOC_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/limits.h"

struct sockaddr;

/* One address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is held as IPv4. */
struct byoc_ip {
    uint8_t addr[16];
    bool v4; /* addr[0..3] */
};

struct byoc_cidr {
    struct byoc_ip ip;
    unsigned bits; /* prefix length: 0..32 (v4) or 0..128 */
};

struct byoc_cidrs {
    struct byoc_cidr v[BYOC_TRUSTED_PROXIES_MAX];
    size_t n;
};

/* Longest text of an address, NUL included (INET6_ADDRSTRLEN). */
#define BYOC_IP_TEXT_MAX 46

/* "192.0.2.1", "2001:db8::1", "[2001:db8::1]" (len bytes, no NUL needed). */
BYOC_MUST_USE bool byoc_ip_parse(const char *text, size_t len, struct byoc_ip *out);
BYOC_MUST_USE bool byoc_ip_from_sockaddr(const struct sockaddr *sa, struct byoc_ip *out);
/* Always NUL-terminates; out holds at least BYOC_IP_TEXT_MAX bytes. */
void byoc_ip_format(const struct byoc_ip *ip, char *out, size_t cap);

/* Comma-separated addresses or ranges ("10.0.0.0/8, ::1"); an empty list is valid. On error
 * fills why (naming the bad item) and returns false. */
BYOC_MUST_USE bool byoc_cidrs_parse(const char *list, struct byoc_cidrs *out, char *why,
                                    size_t cap);
bool byoc_cidrs_contain(const struct byoc_cidrs *set, const struct byoc_ip *ip);

/* The client behind trusted proxies: if peer is trusted, X-Forwarded-For (xff, may be NULL) is
 * read from the right, skipping trusted hops; the first untrusted address is the client. An
 * unreadable entry stops the walk at the last hop that is known (a trusted proxy's address).
 * When peer is not trusted the header is ignored and the client is the peer. Returns whether the
 * header was honoured. */
bool byoc_forwarded_client(const struct byoc_cidrs *trusted, const struct byoc_ip *peer,
                           const char *xff, struct byoc_ip *client);

#endif
