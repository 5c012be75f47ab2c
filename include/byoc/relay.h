/* The relay: worker threads that send each conversation's queued messages to CXone strictly in
 * order (conversations in parallel), with retries, backoff, Retry-After and a deadline, and
 * record every outcome. They also requeue expired leases and end idle conversations.
 * Start after the store, stop before it. */
#ifndef BYOC_RELAY_H
#define BYOC_RELAY_H

#include "byoc/cxone.h"
#include "byoc/keys.h"
#include "byoc/store.h"

struct byoc_relay;

struct byoc_relay_config {
    unsigned threads;
    int64_t retry_cap_ms;         /* longest delay between attempts */
    int64_t lease_ms;             /* a claimed message is sent again after this (crash recovery) */
    int64_t event_keep_ms;        /* housekeeping deletes events older than this */
    int64_t delivery_deadline_ms; /* and kills webhook deliveries pending longer than this */
};

/* keys and tokens must outlive the relay. */
BYOC_MUST_USE enum byoc_err byoc_relay_start(struct byoc_store *store, const struct byoc_keys *keys,
                                             struct byoc_cxone_tokens *tokens,
                                             const struct byoc_relay_config *cfg,
                                             struct byoc_relay **out);
/* New work is queued: wake a worker now. Any thread. NULL ok. */
void byoc_relay_kick(struct byoc_relay *r);
/* Lets in-flight sends finish, joins the threads. NULL ok. */
void byoc_relay_stop(struct byoc_relay *r);

/* The retry policy, exposed for tests: the delay before attempt number `attempts` + 1. */
int64_t byoc_relay_backoff_ms(int64_t attempts, int64_t cap_ms, long retry_after_s);

#endif
