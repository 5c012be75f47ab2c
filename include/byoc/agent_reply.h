/* Normalises what CXone posts to the integration box (agent replies, DFO 3.0 outbound
 * messages). The body format is not public (CXONE.md §3), so parsing is liberal: several known
 * spellings per field, nothing required but a JSON object. Thread-safe. */
#ifndef BYOC_AGENT_REPLY_H
#define BYOC_AGENT_REPLY_H

#include <cjson/cJSON.h>

#include "byoc/store.h"

#define BYOC_UNEXPECTED_KEYS_MAX 8

/* Top-level keys the parser did not recognise, for one log line (names only, never values). */
struct byoc_reply_notes {
    const char *unexpected[BYOC_UNEXPECTED_KEYS_MAX];
    size_t n_unexpected;
    bool more_unexpected;
};

/* Fills out (release with byoc_agent_msg_release): every field but id and conversation_id.
 * path_id is the postId (REPLY) or channelId (OUTBOUND) from the URL. The raw body is copied,
 * capped at BYOC_RAW_BODY_STORE_MAX. Errors: INVALID (not an object), NOMEM. */
BYOC_MUST_USE enum byoc_err byoc_agent_reply_parse(const cJSON *body, const char *raw,
                                                   size_t raw_len, enum byoc_agent_msg_kind kind,
                                                   const char *provider_id, const char *path_id,
                                                   int64_t now_ms, struct byoc_agent_msg *out,
                                                   struct byoc_reply_notes *notes);

#endif
