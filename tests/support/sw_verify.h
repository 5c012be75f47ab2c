/*
 * sw_verify — checks Standard Webhooks signatures with the reference implementation: the npm
 * package `standardwebhooks`, driven by tests/webhooks/verify.mjs under Node.
 *
 * The script is found at $BYOCD_SOURCE_ROOT/tests/webhooks/verify.mjs, or under the source root
 * the test support library was built from when that variable is unset. Node is $BYOCD_NODE or
 * `node` from PATH. The package must be installed (cd tests && npm ci).
 *
 * The package refuses timestamps more than 5 minutes away from now, so this is for live
 * deliveries only, not stored vectors.
 *
 * Threads: any thread; calls share no state. Each call runs one Node process.
 */
#ifndef SW_VERIFY_H
#define SW_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "fake_receiver.h"

/* Most messages one call checks; a larger batch is a test bug and fails the call. */
#define SW_VERIFY_MAX_BATCH 4096

/* One message to check. body is text (the webhook body is JSON, hence UTF-8). */
struct sw_verify_msg {
    const char *secret; /* "whsec_<base64>" */
    const char *id;     /* webhook-id */
    const char *timestamp;
    const char *signature; /* webhook-signature: "v1,<b64>" entries, space separated */
    const char *body;
};

/* Checks msgs[0..n). ok (may be NULL) receives one verdict per message. Returns how many
 * verified, or -1 if Node could not be run or did not answer once per message (the reason is
 * on stderr). The reason for each failed message is printed on stderr too. */
int sw_verify(const struct sw_verify_msg *msgs, size_t n, bool *ok);

/* Checks recorded deliveries reqs[0..n) against one secret; same result as sw_verify(). */
int sw_verify_requests(const char *secret, const struct fake_receiver_request *reqs, size_t n,
                       bool *ok);

#endif /* SW_VERIFY_H */
