/* Shared by the SQLite backend's files only (src/store/sqlite*.c). */
#ifndef BYOC_SQLITE_INTERNAL_H
#define BYOC_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "byoc/limits.h"
#include "byoc/store.h"
#include "store/sqlite-events-stmts.h"
#include "store/sqlite-relay-stmts.h"

#define PROVIDER_COLS                                                                              \
    "id, name, webhook_url, cxone_auth_url, cxone_api_base_url, cxone_client_id, "                 \
    "cxone_access_key_id, cxone_integration_id, cxone_client_secret_sealed, "                      \
    "cxone_access_key_secret_sealed, webhook_secret_sealed, byoc_client_id, "                      \
    "byoc_client_secret_hash, bot_api_key_hash, studio_secret_hash, created_at, updated_at, "      \
    "transcript_mode, transcript_chunk_max, inactivity_timeout_s"
#define CHANNEL_COLS                                                                               \
    "provider_id, channel_id, name, brand_id, source, created_at, updated_at, skill_id"
#define AGENT_COLS                                                                                 \
    "seq, id, provider_id, dedupe_key, cxone_message_id, kind, channel_id, thread_ref, post_id, "  \
    "conversation_id, text, attachments, agent_name, agent_avatar_url, raw_body, raw_truncated, "  \
    "received_at"
#define SESSION_COLS                                                                               \
    "id_hash, provider_id, action, brand_id, user_id, channel_id, back_url, access_token_sealed, " \
    "expires_at"

#define STMT_MAP(X)                                                                                \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT w")                                                                    \
    X(RELEASE, "RELEASE w")                                                                        \
    X(ROLLBACK_TO, "ROLLBACK TO w")                                                                \
    X(PROVIDER_INSERT, "INSERT INTO providers (" PROVIDER_COLS ") VALUES "                         \
                       "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)") \
    X(PROVIDER_DELETE, "DELETE FROM providers WHERE id = ?1")                                      \
    X(PROVIDER_ROTATE_CLIENT,                                                                      \
      "UPDATE providers SET byoc_client_secret_hash = ?2, updated_at = ?3 "                        \
      "WHERE id = ?1")                                                                             \
    X(PROVIDER_ROTATE_BOT_KEY, "UPDATE providers SET bot_api_key_hash = ?2, updated_at = ?3 "      \
                               "WHERE id = ?1")                                                    \
    X(PROVIDER_ROTATE_STUDIO, "UPDATE providers SET studio_secret_hash = ?2, updated_at = ?3 "     \
                              "WHERE id = ?1")                                                     \
    X(PROVIDER_GET, "SELECT " PROVIDER_COLS " FROM providers WHERE id = ?1")                       \
    X(PROVIDER_LIST, "SELECT " PROVIDER_COLS " FROM providers ORDER BY created_at, id")            \
    X(CHANNEL_UPSERT,                                                                              \
      "INSERT INTO channels (" CHANNEL_COLS ") VALUES (?1,?2,?3,?4,?5,?6,?6,?7) "                  \
      "ON CONFLICT (provider_id, channel_id) DO UPDATE SET name = excluded.name, "                 \
      "brand_id = coalesce(excluded.brand_id, brand_id), source = excluded.source, "               \
      "skill_id = coalesce(excluded.skill_id, skill_id), updated_at = excluded.updated_at")        \
    X(PROVIDER_SET_INTEGRATION, "UPDATE providers SET cxone_integration_id = ?2, updated_at = ?3 " \
                                "WHERE id = ?1 AND cxone_integration_id IS NULL")                  \
    X(CHANNEL_DELETE, "DELETE FROM channels WHERE provider_id = ?1 AND channel_id = ?2")           \
    X(CHANNEL_GET, "SELECT " CHANNEL_COLS " FROM channels WHERE provider_id = ?1 AND "             \
                   "channel_id = ?2")                                                              \
    X(CHANNEL_LIST, "SELECT " CHANNEL_COLS " FROM channels WHERE provider_id = ?1 "                \
                    "ORDER BY created_at, channel_id")                                             \
    X(CONVERSATION_BY_THREAD, /* four index lookups: an OR here would scan the provider */         \
      "SELECT id FROM conversations WHERE provider_id = ?1 AND thread_id = ?2 UNION ALL "          \
      "SELECT id FROM conversations WHERE id = ?2 AND provider_id = ?1 UNION ALL "                 \
      "SELECT id FROM conversations WHERE provider_id = ?1 AND cxone_contact_id = ?2 UNION ALL "   \
      "SELECT id FROM conversations WHERE provider_id = ?1 AND cxone_case_id = ?2 LIMIT 1")        \
    X(AGENT_INSERT, "INSERT INTO agent_messages (id, provider_id, dedupe_key, cxone_message_id, "  \
                    "kind, channel_id, thread_ref, post_id, conversation_id, text, attachments, "  \
                    "agent_name, agent_avatar_url, raw_body, raw_truncated, received_at, "         \
                    "conversation_seq) VALUES "                                                    \
                    "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) "                \
                    "ON CONFLICT (provider_id, dedupe_key) DO NOTHING")                            \
    X(AGENT_FIND, "SELECT id, conversation_id FROM agent_messages WHERE provider_id = ?1 AND "     \
                  "dedupe_key = ?2")                                                               \
    X(AGENT_LIST, "SELECT " AGENT_COLS " FROM agent_messages WHERE provider_id = ?1 AND "          \
                  "seq > ?2 ORDER BY seq LIMIT ?3")                                                \
    X(AGENT_LIST_UNMATCHED, "SELECT " AGENT_COLS " FROM agent_messages WHERE provider_id = ?1 "    \
                            "AND seq > ?2 AND conversation_id IS NULL ORDER BY seq LIMIT ?3")      \
    X(AGENT_GET, "SELECT " AGENT_COLS " FROM agent_messages WHERE provider_id = ?1 AND id = ?2")   \
    X(SESSION_PUT, "INSERT INTO action_sessions (" SESSION_COLS ") VALUES "                        \
                   "(?1,?2,?3,?4,?5,?6,?7,?8,?9)")                                                 \
    X(SESSION_PURGE, "DELETE FROM action_sessions WHERE expires_at <= ?1")                         \
    X(SESSION_DELETE, "DELETE FROM action_sessions WHERE id_hash = ?1")                            \
    X(SESSION_GET, "SELECT " SESSION_COLS " FROM action_sessions WHERE id_hash = ?1 AND "          \
                   "expires_at > ?2")                                                              \
    X(PING, "SELECT count(*) FROM sqlite_schema")                                                  \
    X(BACKLOG, "SELECT 0, state, count(*), min(created_at) FROM outbound_messages "                \
               "WHERE state IN ('queued', 'sending') GROUP BY state UNION ALL "                    \
               "SELECT 1, state, count(*), min(created_at) FROM deliveries "                       \
               "WHERE state IN ('pending', 'sending', 'dead') GROUP BY state")                     \
    X(DB_BYTES, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")      \
    RELAY_STMT_MAP(X)                                                                              \
    EVENTS_STMT_MAP(X)

enum stmt_id {
#define STMT_ENUM(id, sql) STMT_##id,
    STMT_MAP(STMT_ENUM)
#undef STMT_ENUM
        STMT__COUNT
};

extern const char *const sq_stmt_sql[];

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT__COUNT];
    pthread_mutex_t mu;
};

struct sq {
    struct conn w;
    struct conn r[BYOC_READ_POOL_SIZE];
    size_t nr; /* 0 for ":memory:": readers share the writer connection */
    atomic_uint next_reader;
    int applied;
    char *path;              /* as opened */
    enum byoc_err batch_err; /* first storage failure inside the current batch */
};

typedef void (*row_fn)(sqlite3_stmt *st, void *item, bool *ok);
typedef void (*release_fn)(void *item);

enum byoc_err sq_map_rc(int rc);
/* The prepared statement (prepared once per connection), ready to bind; NULL on failure. */
sqlite3_stmt *sq_stmt(struct conn *c, enum stmt_id id);
void sq_stmt_done(sqlite3_stmt *st);
enum byoc_err sq_exec(struct conn *c, enum stmt_id id);
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
char *sq_col_text(sqlite3_stmt *st, int i, bool *ok);
void sq_col_id(sqlite3_stmt *st, int i, char out[BYOC_ID_MAX]);
void sq_col_blob(sqlite3_stmt *st, int i, struct byoc_blob *out, bool *ok);
void sq_col_hash(sqlite3_stmt *st, int i, uint8_t out[BYOC_SHA256_LEN]);
/* Writer side: steps a write; storage failures (not constraint ones) poison the batch. */
enum byoc_err sq_step_write(struct sq *q, sqlite3_stmt *st);
sqlite3_stmt *sq_wstmt(struct sq *q, enum stmt_id id);
/* The writer connection's last error, mapped; a storage failure also fails the batch. */
enum byoc_err sq_write_fail(struct sq *q);
/* Writer side: steps a bound statement once for the first column of its first row as an id or
 * an integer, then resets it. NOT_FOUND when there is no row. */
enum byoc_err sq_step_id(struct sq *q, sqlite3_stmt *st, char out[BYOC_ID_MAX]);
enum byoc_err sq_step_int(struct sq *q, sqlite3_stmt *st, int64_t *out);
/* Reader side: the first column of a one-row query with no parameters, or dflt when NULL. */
int64_t sq_read_int(struct sq *q, enum stmt_id id, int64_t dflt);
/* Reader side. */
struct conn *sq_reader_get(struct sq *q);
void sq_reader_put(struct conn *c);
enum byoc_err sq_collect_rows(struct conn *c, sqlite3_stmt *st, size_t item_size, row_fn row,
                              release_fn release, void **out, size_t *n);
enum byoc_err sq_one_row(struct conn *c, sqlite3_stmt *st, row_fn row, release_fn release,
                         void *out);

#define READ_BEGIN(q, c, st, id)                                                                   \
    struct conn *c = sq_reader_get(q);                                                             \
    sqlite3_stmt *st = sq_stmt(c, id);                                                             \
    if (!st) {                                                                                     \
        enum byoc_err prep_e = sq_map_rc(sqlite3_extended_errcode(c->db));                         \
        sq_reader_put(c);                                                                          \
        return prep_e;                                                                             \
    }

void sq_row_provider(sqlite3_stmt *st, void *item, bool *ok);
void sq_rel_provider(void *p);

/* sqlite_relay.c */
enum byoc_err sq_apply_relay(struct sq *q, struct byoc_write *w);
enum byoc_err sq_provider_by_bot_key(void *state, const uint8_t *hash, struct byoc_provider *out);
enum byoc_err sq_conversation_get(void *state, const char *provider_id, const char *id,
                                  struct byoc_conversation *out);
enum byoc_err sq_conversation_list(void *state, const char *provider_id, int state_filter,
                                   const char *end_user_id, int64_t after, size_t limit,
                                   struct byoc_conversation **out, size_t *n);
enum byoc_err sq_outbound_list(void *state, const char *conversation_id, size_t limit,
                               struct byoc_outbound **out, size_t *n);
enum byoc_err sq_idem_get(void *state, const char *provider_id, const char *key,
                          uint8_t *request_hash, int *status, char **body);
int64_t sq_relay_next_due(void *state);

/* sqlite.c: the conversation a thread reference names (our thread or conversation id, CXone's
 * contact or case id) into out, "" when none; ref NULL finds none. */
enum byoc_err sq_find_conversation(struct sq *q, const char *provider_id, const char *ref,
                                   char out[BYOC_ID_MAX]);
/* sqlite_relay.c: ends a conversation (no-op when ended): conversation.ended, then close_msg
 * queued after everything before it. */
enum byoc_err sq_end_conversation(struct sq *q, struct byoc_write *w, const char *conv_id,
                                  const char *by, const char *reason,
                                  const struct byoc_outbound *close_msg, int64_t now);

/* sqlite_events.c */
/* A conversation's state before a change (NOT_FOUND). */
struct sq_conv_pre {
    enum byoc_conv_state state;
    char *agent_name, *contact_id; /* may be NULL */
};
enum byoc_err sq_conv_pre(struct sq *q, const char *conv_id, struct sq_conv_pre *out);
void sq_conv_pre_release(struct sq_conv_pre *c);
/* Appends an event of type t with data (taken, freed here) to the conversation, and one delivery
 * per matching subscription; w counts it. Nothing after a conversation has ended except message
 * outcomes (callers decide). */
enum byoc_err sq_emit(struct sq *q, struct byoc_write *w, const char *conversation_id,
                      enum byoc_event_type t, char *data, int64_t now);
enum byoc_err sq_apply_events(struct sq *q, struct byoc_write *w);
/* Expired delivery leases go back to pending (crash recovery); pending deliveries older than
 * deadline_ms (when > 0) die. */
enum byoc_err sq_delivery_leases(struct sq *q, int64_t now, int64_t deadline_ms);
/* At most BYOC_EVENT_PURGE_BATCH events created before `before` that no delivery still needs. */
enum byoc_err sq_event_purge(struct sq *q, int64_t before);
/* The provider's webhook_url becomes its first subscription. */
enum byoc_err sq_first_webhook(struct sq *q, const char *provider_id);
int64_t sq_delivery_next_due(void *state);
enum byoc_err sq_webhook_list(void *state, const char *provider_id, struct byoc_webhook **out,
                              size_t *n);
enum byoc_err sq_event_list(void *state, const char *provider_id, const char *conversation_id,
                            int64_t after, size_t limit, struct byoc_event **out, size_t *n);
enum byoc_err sq_delivery_list(void *state, int state_filter, const char *provider_id,
                               const char *webhook_id, int64_t after, size_t limit,
                               struct byoc_delivery **out, size_t *n);
enum byoc_err sq_studio_call_list(void *state, const char *provider_id, bool unmatched_only,
                                  int64_t after, size_t limit, struct byoc_studio_call **out,
                                  size_t *n);
enum byoc_err sq_voice_transcript_get(void *state, const uint8_t *key_hash, int64_t now_ms,
                                      struct byoc_voice_transcript *out);

#endif
