/* The webhook dispatcher: one thread that sends each subscription's events, signed, strictly in
 * order per conversation (conversations and subscriptions in parallel, on libcurl's multi
 * interface with connection reuse), retries with backoff and Retry-After until a deadline, and
 * keeps a circuit breaker per subscription. Every outcome is recorded in the store; an attempt
 * interrupted by a crash is sent again (same webhook-id) when its lease runs out.
 * Start after the store, stop before it. */
#ifndef BYOC_DISPATCH_H
#define BYOC_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "byoc/keys.h"
#include "byoc/store.h"

struct byoc_dispatch;

struct byoc_dispatch_config {
    int64_t deadline_ms;  /* an event is retried this long after it was created (or replayed) */
    int64_t retry_cap_ms; /* longest pause between two attempts */
    int64_t timeout_ms;   /* one attempt */
    int64_t cooldown_ms;  /* an open circuit rests this long before one probe */
    bool allow_private;   /* development: webhook URLs may reach non-public addresses */
};

/* keys must outlive the dispatcher. Registers itself as the store's event listener. */
BYOC_MUST_USE enum byoc_err byoc_dispatch_start(struct byoc_store *store,
                                                const struct byoc_keys *keys,
                                                const struct byoc_dispatch_config *cfg,
                                                struct byoc_dispatch **out);
/* New deliveries may be due: look now. Any thread; never blocks. NULL ok. */
void byoc_dispatch_kick(struct byoc_dispatch *d);
/* Abandons attempts in flight (recorded as pending, sent again after a restart), joins the
 * thread. NULL ok. */
void byoc_dispatch_stop(struct byoc_dispatch *d);

#endif
