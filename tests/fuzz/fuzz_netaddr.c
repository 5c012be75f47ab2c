/* BYOCD_TRUSTED_PROXIES and X-Forwarded-For: first line the trusted list, the rest the header.
 * The client found is the peer or one of the header's addresses, never something else. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/netaddr.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    char *xff = fuzz_cut_line(text);
    struct byoc_cidrs trusted;
    char why[128];
    if (byoc_cidrs_parse(text, &trusted, why, sizeof why)) {
        static const char *const peers[] = {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7"};
        for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
            struct byoc_ip peer, client;
            if (!byoc_ip_parse(peers[i], strlen(peers[i]), &peer))
                abort();
            bool honoured = byoc_forwarded_client(&trusted, &peer, xff, &client);
            if (!honoured && memcmp(&client, &peer, sizeof peer) != 0)
                abort();
            if (honoured && !byoc_cidrs_contain(&trusted, &peer))
                abort(); /* a stranger's header was believed */
            char out[BYOC_IP_TEXT_MAX];
            byoc_ip_format(&client, out, sizeof out);
            if (honoured && (!xff || !strstr(xff, out))) {
                /* the client must come from the header (textual forms may differ: re-parse) */
                struct byoc_ip again;
                if (!byoc_ip_parse(out, strlen(out), &again) ||
                    memcmp(&again, &client, sizeof again))
                    abort();
            }
        }
    }
    free(text);
    return 0;
}
