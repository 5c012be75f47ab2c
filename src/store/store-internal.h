/* What a storage backend provides to the generic store (writer thread, group commit, API).
 * A second backend (PostgreSQL) implements this table; nothing outside src/store/ changes. */
#ifndef BYOC_STORE_INTERNAL_H
#define BYOC_STORE_INTERNAL_H

#include "byoc/store.h"

struct store_backend {
    const char *name;
    /* existing: open only a database that exists at the current schema; never create or
     * migrate (operator commands beside a running server) */
    enum byoc_err (*open)(const char *path, bool existing, void **state, char *why, size_t why_cap);
    void (*close)(void *state);
    void (*schema)(void *state, int *applied, int *known);

    /* Writer side: called only from the writer thread. */
    enum byoc_err (*batch_begin)(void *state);
    enum byoc_err (*batch_commit)(void *state); /* durable on return */
    void (*batch_rollback)(void *state);
    enum byoc_err (*write_begin)(void *state); /* savepoint */
    void (*write_end)(void *state, bool keep); /* release or roll back to the savepoint */
    enum byoc_err (*apply)(void *state, struct byoc_write *w);
    /* Last backend error text for the log (writer thread only). */
    const char *(*last_error)(void *state);

    /* Reader side: any thread. */
    enum byoc_err (*provider_get)(void *state, const char *id, struct byoc_provider *out);
    enum byoc_err (*provider_list)(void *state, struct byoc_provider **out, size_t *n);
    enum byoc_err (*channel_get)(void *state, const char *provider_id, const char *channel_id,
                                 struct byoc_channel *out);
    enum byoc_err (*channel_list)(void *state, const char *provider_id, struct byoc_channel **out,
                                  size_t *n);
    enum byoc_err (*agent_msg_list)(void *state, const char *provider_id, bool unmatched_only,
                                    int64_t after_seq, size_t limit, struct byoc_agent_msg **out,
                                    size_t *n);
    enum byoc_err (*agent_msg_get)(void *state, const char *provider_id, const char *id,
                                   struct byoc_agent_msg *out);
    enum byoc_err (*action_session_get)(void *state, const uint8_t *id_hash, int64_t now_ms,
                                        struct byoc_action_session *out);
    bool (*ping)(void *state);
    enum byoc_err (*backlog)(void *state, struct byoc_backlog *out);
    enum byoc_err (*backup)(void *state, const char *dest_path, char *why, size_t why_cap);
    bool (*writable)(void *state);
    const char *restore_hint;
    enum byoc_err (*provider_by_bot_key)(void *state, const uint8_t *hash,
                                         struct byoc_provider *out);
    enum byoc_err (*conversation_get)(void *state, const char *provider_id, const char *id,
                                      struct byoc_conversation *out);
    enum byoc_err (*conversation_list)(void *state, const char *provider_id, int state_filter,
                                       const char *end_user_id, int64_t after, size_t limit,
                                       struct byoc_conversation **out, size_t *n);
    enum byoc_err (*outbound_list)(void *state, const char *conversation_id, size_t limit,
                                   struct byoc_outbound **out, size_t *n);
    enum byoc_err (*idem_get)(void *state, const char *provider_id, const char *key,
                              uint8_t *request_hash, int *status, char **body);
    int64_t (*relay_next_due)(void *state);
    enum byoc_err (*voice_transcript_get)(void *state, const uint8_t *key_hash, int64_t now_ms,
                                          struct byoc_voice_transcript *out);
    int64_t (*delivery_next_due)(void *state);
    enum byoc_err (*webhook_list)(void *state, const char *provider_id, struct byoc_webhook **out,
                                  size_t *n);
    enum byoc_err (*event_list)(void *state, const char *provider_id, const char *conversation_id,
                                int64_t after, size_t limit, struct byoc_event **out, size_t *n);
    enum byoc_err (*delivery_list)(void *state, int state_filter, const char *provider_id,
                                   const char *webhook_id, int64_t after, size_t limit,
                                   struct byoc_delivery **out, size_t *n);
    enum byoc_err (*studio_call_list)(void *state, const char *provider_id, bool unmatched_only,
                                      int64_t after, size_t limit, struct byoc_studio_call **out,
                                      size_t *n);
};

extern const struct store_backend byoc_store_sqlite;

#endif
