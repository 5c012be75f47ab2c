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

enum byoc_transcript_mode {
    BYOC_TRANSCRIPT_COMBINED, /* one readable message, split when longer than the chunk limit */
    BYOC_TRANSCRIPT_PER_TURN, /* one message per turn */
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
    enum byoc_transcript_mode transcript_mode;
    int64_t transcript_chunk_max;   /* characters per transcript message */
    int64_t inactivity_timeout_s;   /* 0: conversations never time out */
    int64_t created_at, updated_at; /* Unix ms */
};

/* The credentials byocd hands out and keeps only as hashes. */
enum byoc_provider_secret {
    BYOC_SECRET_BYOC_CLIENT, /* CXone's client secret at the token endpoint */
    BYOC_SECRET_BOT_API_KEY,
    BYOC_SECRET_STUDIO,
    BYOC_SECRET_KINDS
};

enum byoc_channel_source { BYOC_CHANNEL_ADMIN, BYOC_CHANNEL_ACTION };

struct byoc_channel {
    char provider_id[BYOC_ID_MAX];
    char *channel_id; /* CXone's channel id */
    char *name;
    char *brand_id; /* NULL when registered by the admin API */
    char *skill_id; /* CXone skill of its contacts, for availability; may be NULL */
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

/* ---- relay: conversations handed over by bot platforms ---- */

enum byoc_conv_state {
    BYOC_CONV_QUEUED,       /* stored; CXone has not accepted the first message yet */
    BYOC_CONV_ESCALATED,    /* CXone accepted the first message */
    BYOC_CONV_AGENT_JOINED, /* an agent replied */
    BYOC_CONV_BOT,          /* the Studio script ended the escalation: the bot has it again */
    BYOC_CONV_ENDED,
};
const char *byoc_conv_state_name(enum byoc_conv_state s);
/* false for an unknown name. */
bool byoc_conv_state_parse(const char *name, enum byoc_conv_state *out);

struct byoc_conversation {
    char id[BYOC_ID_MAX];
    char provider_id[BYOC_ID_MAX];
    char *channel_id, *thread_id;
    char *end_user_id;
    char *end_user_json;     /* {"id","first_name",...} as the bot gave it */
    char *reason, *skill_id; /* may be NULL */
    enum byoc_conv_state state;
    char *cxone_contact_id, *cxone_case_id, *cxone_interaction_id; /* NULL until CXone answers */
    char *agent_name, *agent_avatar_url;                           /* NULL until an agent replies */
    char *ended_by, *ended_reason;                                 /* NULL until ended */
    int64_t created_at, updated_at, ended_at, inactive_at;         /* Unix ms; 0 = none */
    int64_t cursor;                                                /* list order */
};

enum byoc_out_kind { BYOC_OUT_TEXT, BYOC_OUT_TYPING, BYOC_OUT_CLOSE, BYOC_OUT_ROUTING };
enum byoc_out_state { BYOC_OUT_QUEUED, BYOC_OUT_SENDING, BYOC_OUT_DELIVERED, BYOC_OUT_FAILED };
const char *byoc_out_kind_name(enum byoc_out_kind k);
const char *byoc_out_state_name(enum byoc_out_state s);
/* false for an unknown name. */
bool byoc_out_kind_parse(const char *name, enum byoc_out_kind *out);
bool byoc_out_state_parse(const char *name, enum byoc_out_state *out);

/* One thing to tell CXone; sent strictly in seq order per conversation. */
struct byoc_outbound {
    char id[BYOC_ID_MAX]; /* also the idOnExternalPlatform CXone sees: a retry cannot duplicate */
    char conversation_id[BYOC_ID_MAX];
    int64_t seq; /* assigned by the store */
    enum byoc_out_kind kind;
    char *client_message_id; /* may be NULL */
    char *payload;           /* JSON the relay turns into the CXone call */
    enum byoc_out_state state;
    int64_t attempts;
    int64_t next_attempt_at, deadline_at, delivered_at, created_at; /* Unix ms; 0 = none */
    char *last_error;                                               /* may be NULL */
};

/* An Idempotency-Key with the answer to replay to its retries. */
struct byoc_idem {
    const char *key;
    uint8_t request_hash[BYOC_SHA256_LEN];
    int status;
    const char *body;
};

/* A claimed head-of-line message with what sending it needs. */
struct byoc_relay_job {
    struct byoc_outbound msg;
    struct byoc_conversation conv;
    bool first_text; /* no text delivered yet: this post opens the contact in CXone */
};
void byoc_conversation_release(struct byoc_conversation *c);
void byoc_conversation_list_free(struct byoc_conversation *c, size_t n);
void byoc_outbound_release(struct byoc_outbound *m);
void byoc_outbound_list_free(struct byoc_outbound *m, size_t n);
void byoc_relay_job_free(struct byoc_relay_job *j);

/* ---- events for bot platforms (transactional outbox) and their webhook deliveries ---- */

#define BYOC_EVENT_TYPES(X)                                                                        \
    X(ESCALATED, "conversation.escalated")                                                         \
    X(AGENT_JOINED, "agent.joined")                                                                \
    X(AGENT_MESSAGE, "agent.message")                                                              \
    X(AGENT_TYPING, "agent.typing")                                                                \
    X(ESCALATION_ENDED, "conversation.escalation_ended")                                           \
    X(RELEASED, "conversation.released")                                                           \
    X(ENDED, "conversation.ended")                                                                 \
    X(MESSAGE_DELIVERED, "message.delivered")                                                      \
    X(MESSAGE_FAILED, "message.failed")

enum byoc_event_type {
#define BYOC_EVENT_ENUM(e, name) BYOC_EVENT_##e,
    BYOC_EVENT_TYPES(BYOC_EVENT_ENUM)
#undef BYOC_EVENT_ENUM
        BYOC_EVENT__COUNT
};
const char *byoc_event_type_name(enum byoc_event_type t);
/* false for an unknown name. */
bool byoc_event_type_parse(const char *name, enum byoc_event_type *out);

/* One event; the envelope bot platforms see is built from these fields (byoc_event_envelope). */
struct byoc_event {
    char id[BYOC_ID_MAX];
    char provider_id[BYOC_ID_MAX];
    char conversation_id[BYOC_ID_MAX];
    int64_t cursor; /* global commit order */
    int64_t seq;    /* per conversation, 1, 2, ... with no gaps */
    char *type;
    char *data_json; /* a JSON object */
    int64_t created_at;
};
void byoc_event_release(struct byoc_event *e);
void byoc_event_list_free(struct byoc_event *e, size_t n);

enum byoc_webhook_state { BYOC_WEBHOOK_ENABLED, BYOC_WEBHOOK_DISABLED };

/* A subscription: a URL that gets the provider's events (all, or the listed types). Secrets are
 * sealed for the provider (byoc_seal_field with BYOC_SEALED_WEBHOOK_SECRET). */
struct byoc_webhook {
    char id[BYOC_ID_MAX];
    char provider_id[BYOC_ID_MAX];
    char *url;
    char *events_json; /* JSON array of type names; NULL = every type */
    struct byoc_blob secret_sealed;
    struct byoc_blob old_secret_sealed; /* the secret before a rotation; data NULL when none */
    int64_t old_secret_until;           /* signatures with the old secret stop then */
    int64_t secret_rotated_at;          /* 0 = never */
    enum byoc_webhook_state state;
    char *disabled_reason; /* NULL when enabled */
    int64_t failures;      /* consecutive failed attempts (circuit breaker) */
    int64_t circuit_until; /* no attempts before this (Unix ms) */
    int64_t created_at, updated_at;
};
void byoc_webhook_release(struct byoc_webhook *w);
void byoc_webhook_list_free(struct byoc_webhook *w, size_t n);

enum byoc_delivery_state {
    BYOC_DELIVERY_PENDING,
    BYOC_DELIVERY_SENDING,
    BYOC_DELIVERY_DELIVERED,
    BYOC_DELIVERY_DEAD,
};
const char *byoc_delivery_state_name(enum byoc_delivery_state s);
bool byoc_delivery_state_parse(const char *name, enum byoc_delivery_state *out);

/* One event for one subscription. */
struct byoc_delivery {
    char id[BYOC_ID_MAX];
    char webhook_id[BYOC_ID_MAX];
    struct byoc_event event;
    enum byoc_delivery_state state;
    int64_t attempts;
    int64_t next_attempt_at, delivered_at, created_at; /* Unix ms; 0 = none (next_attempt_at:
                                                          waits for an earlier delivery) */
    int64_t window_start; /* the retry deadline counts from here (creation, or the last replay) */
    int64_t last_status;  /* HTTP status of the last attempt; 0 = none */
    char *last_error;     /* may be NULL */
    int64_t cursor;       /* list order */
};
void byoc_delivery_release(struct byoc_delivery *d);
void byoc_delivery_list_free(struct byoc_delivery *d, size_t n);

/* A claimed delivery with what sending it needs. */
struct byoc_delivery_job {
    struct byoc_delivery d;
    char *url;
    struct byoc_blob secret_sealed, old_secret_sealed; /* old: data NULL when none or expired */
    bool probe; /* the endpoint's circuit is half-open: this attempt decides */
};
void byoc_delivery_job_release(struct byoc_delivery_job *j);
void byoc_delivery_jobs_free(struct byoc_delivery_job *j, size_t n);

/* What one attempt came to. */
struct byoc_delivery_outcome {
    const char *delivery_id, *webhook_id;
    int64_t attempt; /* the claim's attempts count: an outcome of a lost claim is ignored */
    enum byoc_delivery_state state; /* DELIVERED, PENDING (retry at next_attempt_at) or DEAD */
    int64_t next_attempt_at;
    int64_t status;         /* HTTP status, 0 when none came */
    const char *last_error; /* NULL when delivered */
    bool disable;           /* 410 Gone: disable the subscription, its pending ones die */
    bool failure;           /* counts toward the circuit breaker */
    int64_t circuit_until;  /* with failure: earliest next attempt when the breaker opens */
};

enum byoc_studio_event { BYOC_STUDIO_ESCALATE, BYOC_STUDIO_END_ESCALATION, BYOC_STUDIO_ONRELEASE };
const char *byoc_studio_event_name(enum byoc_studio_event e);

/* A call of a Studio script, as stored for the admin. */
struct byoc_studio_call {
    char id[BYOC_ID_MAX];
    char provider_id[BYOC_ID_MAX];
    char *event;
    char *contact_id, *thread_id, *conversation_id; /* thread, conversation may be NULL */
    int64_t received_at;
    int64_t cursor;
};
void byoc_studio_call_release(struct byoc_studio_call *c);
void byoc_studio_call_list_free(struct byoc_studio_call *c, size_t n);

/* A voice handoff's transcript, for the agent's pop-up page. */
struct byoc_voice_transcript {
    uint8_t key_hash[BYOC_SHA256_LEN];
    char provider_id[BYOC_ID_MAX];
    char *contact_id;
    char *transcript_json; /* [{"role","text","at"?}] */
    int64_t created_at, expires_at;
};
void byoc_voice_transcript_release(struct byoc_voice_transcript *v);

enum byoc_write_kind {
    BYOC_WRITE_PROVIDER_CREATE,
    BYOC_WRITE_PROVIDER_DELETE,
    BYOC_WRITE_CHANNEL_UPSERT,
    BYOC_WRITE_CHANNEL_DELETE,
    BYOC_WRITE_AGENT_MSG_ADD,
    BYOC_WRITE_ACTION_SESSION_PUT,
    BYOC_WRITE_ACTION_SESSION_TAKE, /* deletes it; NOT_FOUND if already taken */
    BYOC_WRITE_CONVERSATION_OPEN,
    BYOC_WRITE_OUTBOUND_ADD,
    BYOC_WRITE_CONVERSATION_END,
    BYOC_WRITE_RELAY_CLAIM,
    BYOC_WRITE_RELAY_OUTCOME,
    BYOC_WRITE_RELAY_HOUSEKEEP,
    BYOC_WRITE_VOICE_TRANSCRIPT_PUT,
    BYOC_WRITE_IDEM_PUT,     /* fills a reservation or stores an answer; idem.hit if answered */
    BYOC_WRITE_IDEM_RELEASE, /* drops a reservation (status 0) so the key can be used again */
    BYOC_WRITE_WEBHOOK_CREATE,
    BYOC_WRITE_WEBHOOK_DELETE,
    BYOC_WRITE_WEBHOOK_ROTATE,
    BYOC_WRITE_DELIVERY_CLAIM,
    BYOC_WRITE_DELIVERY_OUTCOMES,
    BYOC_WRITE_DELIVERY_REPLAY,
    BYOC_WRITE_STUDIO_EVENT,
    BYOC_WRITE_PROVIDER_ROTATE,
    BYOC_WRITE_CLOCK_STEP, /* queued by byoc_store_clock_step() only */
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
        struct {
            const struct byoc_conversation *conv;
            const struct byoc_outbound *msgs; /* in order; seq assigned 1..n */
            size_t nmsgs;
            const struct byoc_idem *idem; /* may be NULL */
        } open;                           /* CONVERSATION_OPEN; idem.hit on a replayed key */
        struct {
            const char *provider_id;
            const struct byoc_outbound *msg; /* msg->conversation_id names the conversation */
            const struct byoc_idem *idem;    /* may be NULL */
            bool user_activity;              /* restarts the inactivity timer */
            int64_t now;
        } add; /* OUTBOUND_ADD: NOT_FOUND, CONFLICT when ended; out.add */
        struct {
            const char *provider_id; /* NULL: any (system ends) */
            const char *conversation_id, *ended_by, *reason;
            const struct byoc_outbound *close_msg; /* queued after everything before it */
            const struct byoc_idem *idem;          /* may be NULL */
            int64_t now;
        } end; /* CONVERSATION_END: NOT_FOUND; ending an ended one changes nothing */
        struct {
            int64_t now, lease_ms;
        } claim; /* RELAY_CLAIM: out.job, NULL when nothing is due */
        struct {
            const char *message_id, *conversation_id;
            const char *client_message_id; /* for message.delivered / message.failed */
            enum byoc_out_state state;     /* DELIVERED, FAILED, or QUEUED to retry */
            int64_t attempt; /* the claim's attempts count: an outcome of a lost claim is refused */
            bool text; /* a text message: delivered escalates, failed before any delivered ends */
            int64_t next_attempt_at, now;
            const char *last_error;                            /* may be NULL */
            const char *contact_id, *case_id, *interaction_id; /* from CXone; may be NULL */
        } outcome;                                             /* RELAY_OUTCOME */
        struct {
            int64_t now, close_deadline_ms;
            int64_t event_keep_ms;        /* older events go, unless a delivery still needs them */
            int64_t delivery_deadline_ms; /* pending deliveries older than this die (0: never) */
        } housekeep; /* RELAY_HOUSEKEEP: expired leases requeued (messages and deliveries); idle
                        conversations end; expired voice transcripts and old events go */
        struct {
            const struct byoc_voice_transcript *v;
            const struct byoc_idem *reserve; /* key held "in progress" (status 0), or NULL */
            int64_t now;
        } voice; /* VOICE_TRANSCRIPT_PUT; idem.hit (status 0 = in progress) on a taken key */
        struct {
            const char *provider_id;
            const struct byoc_idem *idem;
            int64_t now;
        } idem_put;                         /* IDEM_PUT, IDEM_RELEASE */
        const struct byoc_webhook *webhook; /* WEBHOOK_CREATE (NOT_FOUND: no provider) */
        struct {
            const char *provider_id, *webhook_id;
            const struct byoc_blob *secret_sealed; /* ROTATE: the new secret */
            int64_t old_until, now;                /* ROTATE: the old one signs until then */
        } webhook_ref;                             /* WEBHOOK_DELETE, WEBHOOK_ROTATE: NOT_FOUND */
        struct {
            int64_t now, lease_ms;
            size_t max;               /* jobs at most */
            size_t per_endpoint;      /* in flight per subscription at most */
            int64_t probe_ms;         /* a half-open circuit waits this long for its probe */
            int64_t breaker_failures; /* consecutive failures that open a circuit */
        } dclaim;                     /* DELIVERY_CLAIM: out.jobs */
        struct {
            const struct byoc_delivery_outcome *list;
            size_t n;
            int64_t now;
            int64_t breaker_failures; /* consecutive failures that open a circuit */
        } doutcomes;                  /* DELIVERY_OUTCOMES */
        struct {
            const char *delivery_id; /* one (NOT_FOUND; CONFLICT unless dead), or NULL: */
            const char *provider_id; /* every dead delivery of the provider */
            int64_t now;
        } replay; /* DELIVERY_REPLAY: out.replayed */
        struct {
            const char *provider_id;
            enum byoc_studio_event event;
            const char *contact_id, *thread_id;    /* thread_id may be NULL */
            const char *agent_name, *agent_avatar; /* may be NULL */
            const char *skill, *reason;            /* may be NULL */
            const struct byoc_outbound *close_msg; /* ONRELEASE: closes the thread in CXone */
            const char *call_id;                   /* id of the stored call */
            int64_t now;
        } studio; /* STUDIO_EVENT: out.studio (an unknown contact is stored, not an error) */
        struct {
            const char *provider_id;
            enum byoc_provider_secret which;
            uint8_t hash[BYOC_SHA256_LEN]; /* of the new secret */
            int64_t now;
        } rotate; /* PROVIDER_ROTATE (NOT_FOUND): the old secret stops working at once */
        struct {
            int64_t delta_ms;
        } clock_step; /* CLOCK_STEP: every pending schedule moves by delta_ms */
    } in;

    /* Written by the writer before done(): */
    enum byoc_err err;
    union {
        struct {
            char id[BYOC_ID_MAX]; /* the stored message's id: new, or the original's */
            bool duplicate;
            char conversation_id[BYOC_ID_MAX]; /* "" when the thread is unknown */
        } agent_msg;
        struct {
            char id[BYOC_ID_MAX]; /* new, or the one first stored with this client message id */
            bool duplicate;
        } add;
        struct byoc_relay_job *job; /* RELAY_CLAIM; the caller frees with byoc_relay_job_free */
        int64_t ended;              /* RELAY_HOUSEKEEP: conversations ended for inactivity */
        struct {
            struct byoc_delivery_job *list; /* the caller frees with byoc_delivery_jobs_free */
            size_t n;
        } jobs;           /* DELIVERY_CLAIM */
        int64_t replayed; /* DELIVERY_REPLAY */
        struct {
            bool matched, changed;
            char conversation_id[BYOC_ID_MAX];
            enum byoc_conv_state state;
        } studio;
    } out;
    /* Events this write added (the store tells its event listener after the commit). */
    int events;
    /* An Idempotency-Key seen before: its stored answer (body malloc'd, the caller frees). */
    struct {
        bool hit;
        int status;
        char *body;
    } idem;

    /* Called on the writer thread once the outcome is final; must not block. */
    void (*done)(struct byoc_write *w);
    void *user;
    struct byoc_write *next_; /* the writer's queue link */
};

/* Group-commit batch sizes: bucket i counts batches of at most 2^i writes (the last: more). */
#define BYOC_STORE_BATCH_BUCKETS 11

struct byoc_store_stats {
    uint64_t batches, writes, failed_commits;
    uint64_t batch_sizes[BYOC_STORE_BATCH_BUCKETS];
    size_t queued;
};

/* Work waiting in the two outboxes: bot messages to CXone and webhook deliveries. */
enum byoc_backlog_kind {
    BYOC_BACKLOG_RELAY_QUEUED,
    BYOC_BACKLOG_RELAY_SENDING,
    BYOC_BACKLOG_WEBHOOK_PENDING,
    BYOC_BACKLOG_WEBHOOK_SENDING,
    BYOC_BACKLOG_WEBHOOK_DEAD,
    BYOC_BACKLOG_KINDS
};

struct byoc_backlog {
    int64_t count[BYOC_BACKLOG_KINDS];
    int64_t oldest_at[BYOC_BACKLOG_KINDS]; /* created_at (ms) of the oldest; 0 when none */
    int64_t db_bytes;                      /* size of the database, -1 if unknown */
};

/* Opens (creating if needed) the database at path (":memory:" for tests), applies pending
 * migrations, starts the writer. Errors: STORE_IO, STORE_SCHEMA (database newer than binary),
 * NOMEM. why (may be NULL) gets the backend's reason for the log. */
BYOC_MUST_USE enum byoc_err byoc_store_open(const char *path, struct byoc_store **out, char *why,
                                            size_t why_cap);
/* For the operator commands: the database must exist and be at this binary's schema (STORE_SCHEMA
 * with "run byocd migrate" in why when it is older); nothing is created or migrated. NOT_FOUND
 * when there is no database at path. */
BYOC_MUST_USE enum byoc_err byoc_store_open_existing(const char *path, struct byoc_store **out,
                                                     char *why, size_t why_cap);
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
BYOC_MUST_USE enum byoc_err byoc_store_provider_by_bot_key(struct byoc_store *s,
                                                           const uint8_t hash[BYOC_SHA256_LEN],
                                                           struct byoc_provider *out);
/* provider_id NULL: any provider. */
BYOC_MUST_USE enum byoc_err byoc_store_conversation_get(struct byoc_store *s,
                                                        const char *provider_id, const char *id,
                                                        struct byoc_conversation *out);
/* Conversations with cursor > after, oldest first; state_filter -1 = any; end_user_id NULL = any.
 */
BYOC_MUST_USE enum byoc_err byoc_store_conversation_list(struct byoc_store *s,
                                                         const char *provider_id, int state_filter,
                                                         const char *end_user_id, int64_t after,
                                                         size_t limit,
                                                         struct byoc_conversation **out, size_t *n);
/* The conversation's outbound messages in seq order (at most limit, the newest). */
BYOC_MUST_USE enum byoc_err byoc_store_outbound_list(struct byoc_store *s,
                                                     const char *conversation_id, size_t limit,
                                                     struct byoc_outbound **out, size_t *n);
/* The stored answer for an Idempotency-Key; NOT_FOUND when none. *body malloc'd. */
BYOC_MUST_USE enum byoc_err byoc_store_idem_get(struct byoc_store *s, const char *provider_id,
                                                const char *key,
                                                uint8_t request_hash[BYOC_SHA256_LEN], int *status,
                                                char **body);
/* NOT_FOUND also when expired (now_ms >= expires_at). */
BYOC_MUST_USE enum byoc_err byoc_store_voice_transcript_get(struct byoc_store *s,
                                                            const uint8_t key_hash[BYOC_SHA256_LEN],
                                                            int64_t now_ms,
                                                            struct byoc_voice_transcript *out);
/* Earliest next_attempt_at of a queued message; INT64_MAX when none. */
int64_t byoc_store_relay_next_due(struct byoc_store *s);
/* Earliest next_attempt_at of a pending delivery; INT64_MAX when none. */
int64_t byoc_store_delivery_next_due(struct byoc_store *s);
BYOC_MUST_USE enum byoc_err byoc_store_webhook_list(struct byoc_store *s, const char *provider_id,
                                                    struct byoc_webhook **out, size_t *n);
/* A conversation's events with seq > after_seq (conversation_id set), or the provider's with
 * cursor > after (conversation_id NULL), oldest first, at most limit. */
BYOC_MUST_USE enum byoc_err byoc_store_event_list(struct byoc_store *s, const char *provider_id,
                                                  const char *conversation_id, int64_t after,
                                                  size_t limit, struct byoc_event **out, size_t *n);
/* Deliveries with cursor > after; state_filter -1 = any; provider_id, webhook_id NULL = any. */
BYOC_MUST_USE enum byoc_err byoc_store_delivery_list(struct byoc_store *s, int state_filter,
                                                     const char *provider_id,
                                                     const char *webhook_id, int64_t after,
                                                     size_t limit, struct byoc_delivery **out,
                                                     size_t *n);
BYOC_MUST_USE enum byoc_err
byoc_store_studio_call_list(struct byoc_store *s, const char *provider_id, bool unmatched_only,
                            int64_t after, size_t limit, struct byoc_studio_call **out, size_t *n);
/* Called on the writer thread after each commit that added events; must not block. */
void byoc_store_on_events(struct byoc_store *s, void (*fn)(void *arg), void *arg);
/* The wall clock stepped by delta_ms (a byoc_clock_on_step() hook): every pending schedule
 * (next attempts, leases, deadlines, circuit breakers, inactivity and expiry times) moves by
 * delta_ms, ordered after the writes already queued and before any submitted later, so that a
 * retry keeps the wait it had. Never blocks; takes the store's lock. A shift whose batch fails
 * is tried again before the next writes. */
void byoc_store_clock_step(struct byoc_store *s, int64_t delta_ms);
/* Writes that may wait for the writer before byoc_store_submit() refuses with OVERLOADED
 * (default BYOC_WRITE_QUEUE_LIMIT; byocd serve sets BYOCD_WRITE_QUEUE_MAX; 0 keeps it). */
void byoc_store_set_queue_max(struct byoc_store *s, size_t max);

/* True when the database answers a read (readiness). */
bool byoc_store_ping(struct byoc_store *s);
/* Whether this process may write the database (file permissions, read-only storage). */
bool byoc_store_writable(struct byoc_store *s);
/* One line for an operator: how a copy made by byoc_store_backup is put back. */
const char *byoc_store_restore_hint(struct byoc_store *s);
/* Counts and oldest ages of the outboxes, and the database size (for /metrics). */
BYOC_MUST_USE enum byoc_err byoc_store_backlog(struct byoc_store *s, struct byoc_backlog *out);
/* A consistent copy of the whole database into dest_path (which must not exist), taken while
 * the store keeps serving. why gets the reason on failure. */
BYOC_MUST_USE enum byoc_err byoc_store_backup(struct byoc_store *s, const char *dest_path,
                                              char *why, size_t why_cap);

void byoc_provider_release(struct byoc_provider *p);
void byoc_provider_list_free(struct byoc_provider *p, size_t n);
void byoc_channel_release(struct byoc_channel *c);
void byoc_channel_list_free(struct byoc_channel *c, size_t n);
void byoc_agent_msg_release(struct byoc_agent_msg *m);
void byoc_agent_msg_list_free(struct byoc_agent_msg *m, size_t n);
void byoc_action_session_release(struct byoc_action_session *a);
void byoc_blob_release(struct byoc_blob *b);

#endif
