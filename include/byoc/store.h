/* Durable state behind one backend-neutral interface (SQLite now; another backend later).
 *
 * Writes are requests (struct byoc_write) handed to one writer thread that commits many of
 * them in one transaction (group commit) and calls each request's done() only after the
 * transaction is durable. Each write runs inside its own savepoint, so one failing write does not
 * fail its batch-mates; a failed commit fails every write of the batch. Reads run on reader
 * connections and never wait for the writer.
 *
 * Ownership: structs returned by reads are the caller's; free them with the matching
 * *_release / *_list_free. Everything a byoc_write points to stays the caller's and must stay
 * valid until done() runs. All functions may be called from any thread. */
#ifndef BYOC_STORE_H
#define BYOC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/crypto.h"
#include "byoc/err.h"
#include "byoc/util.h"

struct byoc_store;

/* Bytes from the store (a sealed value, a raw body); always followed by a NUL not in len. */
struct byoc_blob {
    uint8_t *data;
    size_t len;
};

struct byoc_provider {
    char id[BYOC_ID_MAX];
    char *name;
    char *webhook_url;
    char *cxone_auth_url;
    char *cxone_api_base_url;
    char *cxone_client_id;
    char *cxone_access_key_id;
    char *cxone_integration_id; /* NULL until known */
    struct byoc_blob cxone_client_secret_sealed;
    struct byoc_blob cxone_access_key_secret_sealed;
    struct byoc_blob webhook_secret_sealed;
    char *byoc_client_id;
    uint8_t byoc_client_secret_hash[BYOC_SHA256_LEN];
    uint8_t bot_api_key_hash[BYOC_SHA256_LEN];
    uint8_t studio_secret_hash[BYOC_SHA256_LEN];
    int64_t created_at, updated_at; /* Unix ms */
};

enum byoc_channel_source { BYOC_CHANNEL_ADMIN, BYOC_CHANNEL_ACTION };

struct byoc_channel {
    char provider_id[BYOC_ID_MAX];
    char *channel_id; /* CXone's channel id */
    char *name;
    char *brand_id; /* NULL when registered by the admin API */
    enum byoc_channel_source source;
    int64_t created_at, updated_at;
};

enum byoc_agent_msg_kind { BYOC_AGENT_MSG_REPLY, BYOC_AGENT_MSG_OUTBOUND };

/* An agent-side message CXone delivered to the integration box, normalised. */
struct byoc_agent_msg {
    char id[BYOC_ID_MAX]; /* our idOnExternalPlatform */
    char provider_id[BYOC_ID_MAX];
    char *dedupe_key;       /* CXone's message id, or a digest of the request when it has none */
    char *cxone_message_id; /* may be NULL */
    enum byoc_agent_msg_kind kind;
    char *channel_id;       /* may be NULL */
    char *thread_ref;       /* thread id as CXone sent it; may be NULL */
    char *post_id;          /* from the 1.0 path; may be NULL */
    char *conversation_id;  /* set by the store when the thread is known; else NULL */
    char *text;             /* may be NULL (attachment-only) */
    char *attachments_json; /* JSON array [{"name","url","mime_type"}], never NULL */
    char *agent_name, *agent_avatar_url;
    char *raw_body;
    size_t raw_len;
    bool raw_truncated;
    int64_t received_at;
    int64_t seq; /* store-assigned order, the list cursor */
};

/* A half-finished Add/Reconnect/Remove page: the CXone access token from the one-time-token
 * exchange, sealed, keyed by the hash of the random id held by the admin's browser. */
struct byoc_action_session {
    uint8_t id_hash[BYOC_SHA256_LEN];
    char provider_id[BYOC_ID_MAX];
    char *action;
    char *brand_id, *user_id, *channel_id, *back_url; /* may be NULL */
    struct byoc_blob access_token_sealed;
    int64_t expires_at;
};

enum byoc_write_kind {
    BYOC_WRITE_PROVIDER_CREATE,
    BYOC_WRITE_PROVIDER_DELETE,
    BYOC_WRITE_CHANNEL_UPSERT,
    BYOC_WRITE_CHANNEL_DELETE,
    BYOC_WRITE_AGENT_MSG_ADD,
    BYOC_WRITE_ACTION_SESSION_PUT,
    BYOC_WRITE_ACTION_SESSION_TAKE, /* deletes it; NOT_FOUND if already taken */
};

struct byoc_write {
    enum byoc_write_kind kind;
    union {
        const struct byoc_provider *provider; /* PROVIDER_CREATE (CONFLICT if id/client id taken) */
        const char *provider_id;              /* PROVIDER_DELETE (NOT_FOUND) */
        struct {
            const struct byoc_channel *channel;
            const char *integration_id; /* set on the provider if it has none, or NULL */
        } channel_upsert;               /* CHANNEL_UPSERT (NOT_FOUND: no provider) */
        struct {
            const char *provider_id, *channel_id;
        } channel_delete;                          /* CHANNEL_DELETE (NOT_FOUND) */
        const struct byoc_agent_msg *agent_msg;    /* AGENT_MSG_ADD: insert or find duplicate */
        const struct byoc_action_session *session; /* ACTION_SESSION_PUT */
        const uint8_t *session_id_hash;            /* ACTION_SESSION_TAKE (NOT_FOUND) */
    } in;
    /* Written by the writer before done(): */
    enum byoc_err err;
    union {
        struct {
            char id[BYOC_ID_MAX]; /* the stored message's id: new, or the original's */
            bool duplicate;
            char conversation_id[BYOC_ID_MAX]; /* "" when the thread is unknown */
        } agent_msg;
    } out;
    /* Called on the writer thread once the outcome is final; must not block. */
    void (*done)(struct byoc_write *w);
    void *user;
    struct byoc_write *next_; /* the writer's queue link */
};

struct byoc_store_stats {
    uint64_t batches, writes, failed_commits;
    size_t queued;
};

/* Opens (creating if needed) the database at path (":memory:" for tests), applies pending
 * migrations, starts the writer. Errors: STORE_IO, STORE_SCHEMA (database newer than binary),
 * NOMEM. why (may be NULL) gets the backend's reason for the log. */
BYOC_MUST_USE enum byoc_err byoc_store_open(const char *path, struct byoc_store **out, char *why,
                                            size_t why_cap);
/* Finishes every queued write, stops the writer, closes. NULL ok. */
void byoc_store_close(struct byoc_store *s);

/* Queues w; done(w) follows on the writer thread. Immediate errors (done is then NOT called):
 * OVERLOADED (queue full), SHUTTING_DOWN. */
BYOC_MUST_USE enum byoc_err byoc_store_submit(struct byoc_store *s, struct byoc_write *w);
/* Submits and waits for the outcome; returns w->err. Never call from the writer thread. */
BYOC_MUST_USE enum byoc_err byoc_store_write(struct byoc_store *s, struct byoc_write *w);

void byoc_store_stats(struct byoc_store *s, struct byoc_store_stats *out);
/* Schema version applied, and the newest this binary knows. */
void byoc_store_schema(struct byoc_store *s, int *applied, int *known);

/* Reads. NOT_FOUND when absent; STORE_* on database failure. */
BYOC_MUST_USE enum byoc_err byoc_store_provider_get(struct byoc_store *s, const char *id,
                                                    struct byoc_provider *out);
BYOC_MUST_USE enum byoc_err byoc_store_provider_list(struct byoc_store *s,
                                                     struct byoc_provider **out, size_t *n);
BYOC_MUST_USE enum byoc_err byoc_store_channel_get(struct byoc_store *s, const char *provider_id,
                                                   const char *channel_id,
                                                   struct byoc_channel *out);
BYOC_MUST_USE enum byoc_err byoc_store_channel_list(struct byoc_store *s, const char *provider_id,
                                                    struct byoc_channel **out, size_t *n);
/* Messages with seq > after_seq in order, at most limit; unmatched_only: no known conversation. */
BYOC_MUST_USE enum byoc_err byoc_store_agent_msg_list(struct byoc_store *s, const char *provider_id,
                                                      bool unmatched_only, int64_t after_seq,
                                                      size_t limit, struct byoc_agent_msg **out,
                                                      size_t *n);
BYOC_MUST_USE enum byoc_err byoc_store_agent_msg_get(struct byoc_store *s, const char *provider_id,
                                                     const char *id, struct byoc_agent_msg *out);
/* NOT_FOUND also when expired (now_ms >= expires_at). */
BYOC_MUST_USE enum byoc_err byoc_store_action_session_get(struct byoc_store *s,
                                                          const uint8_t id_hash[BYOC_SHA256_LEN],
                                                          int64_t now_ms,
                                                          struct byoc_action_session *out);
/* True when the database answers a read (readiness). */
bool byoc_store_ping(struct byoc_store *s);

void byoc_provider_release(struct byoc_provider *p);
void byoc_provider_list_free(struct byoc_provider *p, size_t n);
void byoc_channel_release(struct byoc_channel *c);
void byoc_channel_list_free(struct byoc_channel *c, size_t n);
void byoc_agent_msg_release(struct byoc_agent_msg *m);
void byoc_agent_msg_list_free(struct byoc_agent_msg *m, size_t n);
void byoc_action_session_release(struct byoc_action_session *a);
void byoc_blob_release(struct byoc_blob *b);

#endif
