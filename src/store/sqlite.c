/* SQLite backend: the only file that includes sqlite3.h.
 * One writer connection (used only by the writer thread, plus readers when the database is
 * ":memory:"), a pool of reader connections in WAL mode, statements prepared once per connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "byoc/limits.h"
#include "store/migrations.h"
#include "store/event-data.h"
#include "store/sqlite-internal.h"
#include "store/store-internal.h"
#include "byoc/banned.h"

const char *const sq_stmt_sql[] = {
#define STMT_SQL(id, sql) [STMT_##id] = sql,
    STMT_MAP(STMT_SQL)
#undef STMT_SQL
};

enum byoc_err sq_map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return BYOC_ERR_OK;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? BYOC_ERR_NOT_FOUND : BYOC_ERR_CONFLICT;
    case SQLITE_FULL:
        return BYOC_ERR_STORE_FULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return BYOC_ERR_STORE_BUSY;
    case SQLITE_NOMEM:
        return BYOC_ERR_NOMEM;
    default:
        return BYOC_ERR_STORE_IO;
    }
}

/* The prepared statement, reset and ready to bind; NULL on failure (see sqlite3_errmsg). */
sqlite3_stmt *sq_stmt(struct conn *c, enum stmt_id id)
{
    if (!c->stmt[id]) {
        if (sqlite3_prepare_v3(c->db, sq_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id],
                               NULL) != SQLITE_OK)
            return NULL;
    }
    return c->stmt[id];
}

void sq_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement without results; returns the mapped error. */
enum byoc_err sq_exec(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = sq_stmt(c, id);
    if (!st)
        return sq_map_rc(sqlite3_extended_errcode(c->db));
    int rc = sqlite3_step(st);
    sq_stmt_done(st);
    return rc == SQLITE_DONE ? BYOC_ERR_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    sqlite3_bind_blob64(st, i, p ? p : "", n, SQLITE_STATIC);
}

char *sq_col_text(sqlite3_stmt *st, int i, bool *ok)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *s = strdup((const char *)t);
    if (!s)
        *ok = false;
    return s;
}

void sq_col_id(sqlite3_stmt *st, int i, char out[BYOC_ID_MAX])
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t || !byoc_strlcpy(out, (const char *)t, BYOC_ID_MAX))
        out[0] = '\0';
}

void sq_col_blob(sqlite3_stmt *st, int i, struct byoc_blob *out, bool *ok)
{
    int n = sqlite3_column_bytes(st, i);
    const void *p = sqlite3_column_blob(st, i);
    out->len = 0;
    out->data = malloc(n > 0 ? (size_t)n + 1 : 1); /* NUL-terminated: text bodies are blobs too */
    if (!out->data) {
        *ok = false;
        return;
    }
    if (n > 0 && p)
        memcpy(out->data, p, (size_t)n);
    out->len = n > 0 ? (size_t)n : 0;
    out->data[out->len] = 0;
}

void sq_col_hash(sqlite3_stmt *st, int i, uint8_t out[BYOC_SHA256_LEN])
{
    memset(out, 0, BYOC_SHA256_LEN);
    if (sqlite3_column_bytes(st, i) == BYOC_SHA256_LEN)
        memcpy(out, sqlite3_column_blob(st, i), BYOC_SHA256_LEN);
}

/* ---- connections ---- */

static enum byoc_err conn_exec(struct conn *c, const char *sql)
{
    return sq_map_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

static enum byoc_err conn_open(struct conn *c, const char *path, bool reader, char *why, size_t cap)
{
    pthread_mutex_init(&c->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
                (reader ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, cap, "cannot open %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "no memory");
        return BYOC_ERR_STORE_IO;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BYOC_DB_BUSY_TIMEOUT_MS);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;"
             "PRAGMA journal_size_limit = %d;%s",
             BYOC_DB_JOURNAL_LIMIT, reader ? "PRAGMA query_only = ON;" : "");
    enum byoc_err e = conn_exec(c, pragmas);
    if (!e && !reader && strcmp(path, ":memory:") != 0)
        e = conn_exec(c, "PRAGMA journal_mode = WAL");
    if (e)
        snprintf(why, cap, "cannot configure %s: %s", path, sqlite3_errmsg(c->db));
    return e;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < STMT__COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
}

struct conn *sq_reader_get(struct sq *q)
{
    struct conn *c = q->nr ? &q->r[atomic_fetch_add(&q->next_reader, 1) % q->nr] : &q->w;
    pthread_mutex_lock(&c->mu);
    return c;
}

void sq_reader_put(struct conn *c)
{
    pthread_mutex_unlock(&c->mu);
}

/* ---- migrations ---- */

static int user_version(struct conn *c)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static enum byoc_err migrate_one(struct conn *c, const struct byoc_migration *m, char *why,
                                 size_t cap)
{
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", m->version);
    enum byoc_err e = conn_exec(c, "BEGIN IMMEDIATE");
    if (!e)
        e = conn_exec(c, m->sql);
    if (!e)
        e = conn_exec(c, bump);
    if (!e)
        e = conn_exec(c, "COMMIT");
    if (e) {
        snprintf(why, cap, "migration %04d_%s failed: %s", m->version, m->name,
                 sqlite3_errmsg(c->db));
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return e;
}

static enum byoc_err migrate(struct sq *q, bool existing, char *why, size_t cap)
{
    int v = user_version(&q->w);
    if (v < 0) {
        snprintf(why, cap, "cannot read schema version: %s", sqlite3_errmsg(q->w.db));
        return BYOC_ERR_STORE_IO;
    }
    if (v > byoc_migrations_count) {
        snprintf(why, cap, "database schema %d is newer than this byocd (%d)", v,
                 byoc_migrations_count);
        return BYOC_ERR_STORE_SCHEMA;
    }
    if (existing && v < byoc_migrations_count) {
        snprintf(why, cap,
                 "database schema %d is older than this byocd (%d): run byocd migrate, then "
                 "restart the server with this binary",
                 v, byoc_migrations_count);
        return BYOC_ERR_STORE_SCHEMA;
    }
    for (int i = v; i < byoc_migrations_count; i++) {
        enum byoc_err e = migrate_one(&q->w, &byoc_migrations[i], why, cap);
        if (e)
            return e;
    }
    q->applied = byoc_migrations_count;
    return BYOC_ERR_OK;
}

/* mkdir -p of the directory that will hold path (0700: it holds the key file too). */
static enum byoc_err make_parent_dirs(const char *path, char *why, size_t cap)
{
    char dir[BYOC_URL_MAX];
    if (!byoc_strlcpy(dir, path, sizeof dir)) {
        snprintf(why, cap, "database path too long");
        return BYOC_ERR_STORE_IO;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return BYOC_ERR_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(dir, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            break;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, cap, "cannot create directory %s: %s", dir, strerror(errno));
        return BYOC_ERR_STORE_IO;
    }
    return BYOC_ERR_OK;
}

static void sq_close(void *state)
{
    struct sq *q = state;
    if (!q)
        return;
    for (size_t i = 0; i < q->nr; i++)
        conn_close(&q->r[i]);
    conn_close(&q->w);
    free(q->path);
    free(q);
}

static enum byoc_err sq_open(const char *path, bool existing, void **state, char *why, size_t cap)
{
    char scratch[256];
    if (!why) {
        why = scratch;
        cap = sizeof scratch;
    }
    bool memory = strcmp(path, ":memory:") == 0;
    bool uri = strncmp(path, "file:", 5) == 0; /* tests pass URIs to pick a VFS */
    struct stat sb;
    if (existing && !memory && !uri && stat(path, &sb) != 0) {
        snprintf(why, cap, "no database at %s", path);
        return BYOC_ERR_NOT_FOUND;
    }
    enum byoc_err e = (memory || uri) ? BYOC_ERR_OK : make_parent_dirs(path, why, cap);
    if (e)
        return e;
    struct sq *q = calloc(1, sizeof *q);
    if (!q)
        return BYOC_ERR_NOMEM;
    q->path = strdup(path);
    e = q->path ? conn_open(&q->w, path, false, why, cap) : BYOC_ERR_NOMEM;
    if (!e)
        e = migrate(q, existing, why, cap);
    for (size_t i = 0; !e && !memory && i < BYOC_READ_POOL_SIZE; i++, q->nr++)
        e = conn_open(&q->r[i], path, true, why, cap);
    if (e) {
        sq_close(q);
        return e;
    }
    *state = q;
    return BYOC_ERR_OK;
}

static void sq_schema(void *state, int *applied, int *known)
{
    struct sq *q = state;
    *applied = q->applied;
    *known = byoc_migrations_count;
}

/* ---- writer ---- */

static enum byoc_err sq_batch_begin(void *state)
{
    struct sq *q = state;
    pthread_mutex_lock(&q->w.mu);
    q->batch_err = BYOC_ERR_OK;
    return sq_exec(&q->w, STMT_BEGIN); /* on failure the caller's batch_rollback unlocks */
}

static enum byoc_err sq_batch_commit(void *state)
{
    struct sq *q = state;
    /* A storage error inside the batch may have rolled the transaction back already. */
    enum byoc_err e = q->batch_err;
    if (!e && sqlite3_get_autocommit(q->w.db))
        e = BYOC_ERR_STORE_IO;
    if (!e)
        e = sq_exec(&q->w, STMT_COMMIT);
    if (!e)
        pthread_mutex_unlock(&q->w.mu);
    return e; /* on error the caller calls batch_rollback, which unlocks */
}

static void sq_batch_rollback(void *state)
{
    struct sq *q = state;
    if (!sqlite3_get_autocommit(q->w.db))
        (void)sq_exec(&q->w, STMT_ROLLBACK);
    pthread_mutex_unlock(&q->w.mu);
}

static enum byoc_err sq_write_begin(void *state)
{
    struct sq *q = state;
    /* After SQLite rolled the batch back, a SAVEPOINT would open (and RELEASE commit) a
     * transaction of its own: later writes must fail with the batch instead. */
    if (q->batch_err)
        return q->batch_err;
    if (sqlite3_get_autocommit(q->w.db)) {
        q->batch_err = BYOC_ERR_STORE_IO;
        return q->batch_err;
    }
    enum byoc_err e = sq_exec(&q->w, STMT_SAVEPOINT);
    if (e && !q->batch_err)
        q->batch_err = e;
    return e;
}

static void sq_write_end(void *state, bool keep)
{
    struct sq *q = state;
    if (sqlite3_get_autocommit(q->w.db))
        return; /* the whole transaction is gone; commit will report it */
    if (!keep)
        (void)sq_exec(&q->w, STMT_ROLLBACK_TO);
    enum byoc_err e = sq_exec(&q->w, STMT_RELEASE);
    if (e && !q->batch_err)
        q->batch_err = e;
}

static const char *sq_last_error(void *state)
{
    struct sq *q = state;
    return sqlite3_errmsg(q->w.db);
}

/* Steps a write statement; storage failures (not constraint ones) poison the batch. */
enum byoc_err sq_step_write(struct sq *q, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum byoc_err e = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? BYOC_ERR_OK : sq_write_fail(q);
    sq_stmt_done(st);
    return e;
}

enum byoc_err sq_write_fail(struct sq *q)
{
    enum byoc_err e = sq_map_rc(sqlite3_extended_errcode(q->w.db));
    if (e && e != BYOC_ERR_CONFLICT && e != BYOC_ERR_NOT_FOUND && !q->batch_err)
        q->batch_err = e;
    return e;
}

/* Steps st once; on a row, col() copies column 0. Resets st. */
static enum byoc_err step_first(struct sq *q, sqlite3_stmt *st, void (*col)(sqlite3_stmt *, void *),
                                void *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        col(st, out);
    sq_stmt_done(st);
    if (rc == SQLITE_ROW)
        return BYOC_ERR_OK;
    return rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND : sq_write_fail(q);
}

static void col_id0(sqlite3_stmt *st, void *out)
{
    sq_col_id(st, 0, out);
}

static void col_int0(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

enum byoc_err sq_step_id(struct sq *q, sqlite3_stmt *st, char out[BYOC_ID_MAX])
{
    out[0] = '\0';
    return step_first(q, st, col_id0, out);
}

enum byoc_err sq_step_int(struct sq *q, sqlite3_stmt *st, int64_t *out)
{
    *out = 0;
    return step_first(q, st, col_int0, out);
}

int64_t sq_read_int(struct sq *q, enum stmt_id id, int64_t dflt)
{
    struct conn *c = sq_reader_get(q);
    sqlite3_stmt *st = sq_stmt(c, id);
    int64_t v = dflt;
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    if (st)
        sq_stmt_done(st);
    sq_reader_put(c);
    return v;
}

sqlite3_stmt *sq_wstmt(struct sq *q, enum stmt_id id)
{
    sqlite3_stmt *st = sq_stmt(&q->w, id);
    if (!st) {
        enum byoc_err e = sq_write_fail(q); /* sets batch_err for a storage failure */
        if (!q->batch_err) /* callers return batch_err: never OK without a statement */
            q->batch_err = e ? e : BYOC_ERR_STORE_IO;
    }
    return st;
}

static enum byoc_err apply_provider_create(struct sq *q, const struct byoc_provider *p)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_PROVIDER_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, p->id);
    sq_bind_text(st, 2, p->name);
    sq_bind_text(st, 3, p->webhook_url);
    sq_bind_text(st, 4, p->cxone_auth_url);
    sq_bind_text(st, 5, p->cxone_api_base_url);
    sq_bind_text(st, 6, p->cxone_client_id);
    sq_bind_text(st, 7, p->cxone_access_key_id);
    sq_bind_text(st, 8, p->cxone_integration_id);
    sq_bind_blob(st, 9, p->cxone_client_secret_sealed.data, p->cxone_client_secret_sealed.len);
    sq_bind_blob(st, 10, p->cxone_access_key_secret_sealed.data,
                 p->cxone_access_key_secret_sealed.len);
    sq_bind_blob(st, 11, p->webhook_secret_sealed.data, p->webhook_secret_sealed.len);
    sq_bind_text(st, 12, p->byoc_client_id);
    sq_bind_blob(st, 13, p->byoc_client_secret_hash, BYOC_SHA256_LEN);
    sq_bind_blob(st, 14, p->bot_api_key_hash, BYOC_SHA256_LEN);
    sq_bind_blob(st, 15, p->studio_secret_hash, BYOC_SHA256_LEN);
    sqlite3_bind_int64(st, 16, p->created_at);
    sqlite3_bind_int64(st, 17, p->updated_at);
    sq_bind_text(st, 18, p->transcript_mode == BYOC_TRANSCRIPT_PER_TURN ? "per_turn" : "combined");
    sqlite3_bind_int64(st, 19, p->transcript_chunk_max);
    sqlite3_bind_int64(st, 20, p->inactivity_timeout_s);
    enum byoc_err e = sq_step_write(q, st);
    return e ? e : sq_first_webhook(q, p->id);
}

/* Deletes by up to two text keys and reports NOT_FOUND when nothing matched. */
static enum byoc_err delete_by(struct sq *q, enum stmt_id id, const char *k1, const char *k2)
{
    sqlite3_stmt *st = sq_wstmt(q, id);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, k1);
    if (k2)
        sq_bind_text(st, 2, k2);
    enum byoc_err e = sq_step_write(q, st);
    if (!e && sqlite3_changes(q->w.db) == 0)
        e = BYOC_ERR_NOT_FOUND;
    return e;
}

static enum byoc_err apply_provider_rotate(struct sq *q, const struct byoc_write *w)
{
    static const enum stmt_id by_kind[BYOC_SECRET_KINDS] = {
        STMT_PROVIDER_ROTATE_CLIENT, STMT_PROVIDER_ROTATE_BOT_KEY, STMT_PROVIDER_ROTATE_STUDIO};
    if ((int)w->in.rotate.which < 0 || w->in.rotate.which >= BYOC_SECRET_KINDS)
        return BYOC_ERR_INVALID;
    sqlite3_stmt *st = sq_wstmt(q, by_kind[w->in.rotate.which]);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.rotate.provider_id);
    sq_bind_blob(st, 2, w->in.rotate.hash, BYOC_SHA256_LEN);
    sqlite3_bind_int64(st, 3, w->in.rotate.now);
    enum byoc_err e = sq_step_write(q, st);
    if (!e && sqlite3_changes(q->w.db) == 0)
        e = BYOC_ERR_NOT_FOUND;
    return e;
}

static enum byoc_err set_integration(struct sq *q, const struct byoc_channel *c,
                                     const char *integration_id)
{
    if (!integration_id)
        return BYOC_ERR_OK;
    sqlite3_stmt *st = sq_wstmt(q, STMT_PROVIDER_SET_INTEGRATION);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, c->provider_id);
    sq_bind_text(st, 2, integration_id);
    sqlite3_bind_int64(st, 3, c->updated_at);
    return sq_step_write(q, st);
}

static enum byoc_err apply_channel_upsert(struct sq *q, const struct byoc_channel *c,
                                          const char *integration_id)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_CHANNEL_UPSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, c->provider_id);
    sq_bind_text(st, 2, c->channel_id);
    sq_bind_text(st, 3, c->name);
    sq_bind_text(st, 4, c->brand_id);
    sq_bind_text(st, 5, c->source == BYOC_CHANNEL_ACTION ? "action" : "admin");
    sqlite3_bind_int64(st, 6, c->updated_at);
    sq_bind_text(st, 7, c->skill_id);
    enum byoc_err e = sq_step_write(q, st);
    return e ? e : set_integration(q, c, integration_id);
}

static enum byoc_err apply_session_put(struct sq *q, const struct byoc_action_session *a)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_SESSION_PURGE);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, a->expires_at - (int64_t)BYOC_ACTION_SESSION_TTL_S * 1000);
    enum byoc_err e = sq_step_write(q, st);
    st = e ? NULL : sq_wstmt(q, STMT_SESSION_PUT);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_blob(st, 1, a->id_hash, BYOC_SHA256_LEN);
    sq_bind_text(st, 2, a->provider_id);
    sq_bind_text(st, 3, a->action);
    sq_bind_text(st, 4, a->brand_id);
    sq_bind_text(st, 5, a->user_id);
    sq_bind_text(st, 6, a->channel_id);
    sq_bind_text(st, 7, a->back_url);
    sq_bind_blob(st, 8, a->access_token_sealed.data, a->access_token_sealed.len);
    sqlite3_bind_int64(st, 9, a->expires_at);
    return sq_step_write(q, st);
}

static enum byoc_err take_session(struct sq *q, const uint8_t *id_hash)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_SESSION_DELETE);
    if (!st)
        return q->batch_err;
    sq_bind_blob(st, 1, id_hash, BYOC_SHA256_LEN);
    enum byoc_err e = sq_step_write(q, st);
    if (!e && sqlite3_changes(q->w.db) == 0)
        e = BYOC_ERR_NOT_FOUND; /* already taken: a double submit must not act twice */
    return e;
}

enum byoc_err sq_find_conversation(struct sq *q, const char *provider_id, const char *ref,
                                   char out[BYOC_ID_MAX])
{
    out[0] = '\0';
    if (!ref)
        return BYOC_ERR_OK;
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONVERSATION_BY_THREAD);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, ref);
    enum byoc_err e = sq_step_id(q, st, out);
    return e == BYOC_ERR_NOT_FOUND ? BYOC_ERR_OK : e; /* none: out stays "" */
}

/* OK with the original's id when the message was stored before; NOT_FOUND when it is new. */
static enum byoc_err find_duplicate(struct sq *q, const struct byoc_agent_msg *m,
                                    struct byoc_write *w)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_AGENT_FIND);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, m->provider_id);
    sq_bind_text(st, 2, m->dedupe_key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sq_col_id(st, 0, w->out.agent_msg.id);
        sq_col_id(st, 1, w->out.agent_msg.conversation_id);
        w->out.agent_msg.duplicate = true;
    }
    sq_stmt_done(st);
    if (rc == SQLITE_ROW)
        return BYOC_ERR_OK;
    return rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND : sq_write_fail(q);
}

/* Next per-conversation sequence number of an agent message; the conversation learns the agent
 * has joined and who it is. */
static enum byoc_err agent_seq(struct sq *q, const char *conv, const struct byoc_agent_msg *m,
                               int64_t *seq)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_AGENT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv);
    sq_bind_text(st, 2, m->agent_name);
    sq_bind_text(st, 3, m->agent_avatar_url);
    sqlite3_bind_int64(st, 4, m->received_at);
    return sq_step_int(q, st, seq);
}

/* agent.joined when an agent first writes in an escalation or another agent takes over, then
 * agent.message; nothing once the conversation has ended (conversation.ended is its last). */
static enum byoc_err agent_events(struct sq *q, struct byoc_write *w, const char *conv,
                                  const struct sq_conv_pre *pre)
{
    const struct byoc_agent_msg *m = w->in.agent_msg;
    if (pre->state == BYOC_CONV_ENDED)
        return BYOC_ERR_OK;
    bool first = pre->state == BYOC_CONV_QUEUED || pre->state == BYOC_CONV_ESCALATED;
    bool other = pre->state == BYOC_CONV_AGENT_JOINED && m->agent_name && pre->agent_name &&
                 strcmp(m->agent_name, pre->agent_name) != 0;
    enum byoc_err e = BYOC_ERR_OK;
    if (first || other)
        e = sq_emit(q, w, conv, BYOC_EVENT_AGENT_JOINED,
                    ev_data_agent_joined(m->agent_name, m->agent_avatar_url), m->received_at);
    return e ? e
             : sq_emit(q, w, conv, BYOC_EVENT_AGENT_MESSAGE, ev_data_agent_message(m),
                       m->received_at);
}

static enum byoc_err insert_agent_msg(struct sq *q, const struct byoc_agent_msg *m,
                                      const char *conv, int64_t seq)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_AGENT_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, m->id);
    sq_bind_text(st, 2, m->provider_id);
    sq_bind_text(st, 3, m->dedupe_key);
    sq_bind_text(st, 4, m->cxone_message_id);
    sq_bind_text(st, 5, m->kind == BYOC_AGENT_MSG_OUTBOUND ? "outbound" : "reply");
    sq_bind_text(st, 6, m->channel_id);
    sq_bind_text(st, 7, m->thread_ref);
    sq_bind_text(st, 8, m->post_id);
    sq_bind_text(st, 9, conv[0] ? conv : NULL);
    sq_bind_text(st, 10, m->text);
    sq_bind_text(st, 11, m->attachments_json);
    sq_bind_text(st, 12, m->agent_name);
    sq_bind_text(st, 13, m->agent_avatar_url);
    sq_bind_blob(st, 14, m->raw_body, m->raw_len);
    sqlite3_bind_int(st, 15, m->raw_truncated);
    sqlite3_bind_int64(st, 16, m->received_at);
    if (seq)
        sqlite3_bind_int64(st, 17, seq);
    else
        sqlite3_bind_null(st, 17);
    return sq_step_write(q, st);
}

static enum byoc_err apply_agent_msg(struct sq *q, struct byoc_write *w)
{
    const struct byoc_agent_msg *m = w->in.agent_msg;
    enum byoc_err e = find_duplicate(q, m, w);
    if (e != BYOC_ERR_NOT_FOUND)
        return e; /* found: the original's id is the answer; or a storage error */
    char conv[BYOC_ID_MAX];
    int64_t seq = 0;
    struct sq_conv_pre pre = {0};
    e = sq_find_conversation(q, m->provider_id, m->thread_ref, conv);
    if (!e && !conv[0])
        e = sq_find_conversation(q, m->provider_id, m->post_id, conv);
    if (!e && conv[0])
        e = sq_conv_pre(q, conv, &pre);
    if (!e && conv[0])
        e = agent_seq(q, conv, m, &seq);
    if (!e)
        e = insert_agent_msg(q, m, conv, seq);
    if (!e && conv[0])
        e = agent_events(q, w, conv, &pre);
    sq_conv_pre_release(&pre);
    if (e)
        return e;
    byoc_strlcpy(w->out.agent_msg.id, m->id, BYOC_ID_MAX);
    byoc_strlcpy(w->out.agent_msg.conversation_id, conv, BYOC_ID_MAX);
    w->out.agent_msg.duplicate = false;
    return BYOC_ERR_OK;
}

static enum byoc_err sq_apply(void *state, struct byoc_write *w)
{
    struct sq *q = state;
    switch (w->kind) {
    case BYOC_WRITE_PROVIDER_CREATE:
        return apply_provider_create(q, w->in.provider);
    case BYOC_WRITE_PROVIDER_DELETE:
        return delete_by(q, STMT_PROVIDER_DELETE, w->in.provider_id, NULL);
    case BYOC_WRITE_PROVIDER_ROTATE:
        return apply_provider_rotate(q, w);
    case BYOC_WRITE_CHANNEL_UPSERT:
        return apply_channel_upsert(q, w->in.channel_upsert.channel,
                                    w->in.channel_upsert.integration_id);
    case BYOC_WRITE_CHANNEL_DELETE:
        return delete_by(q, STMT_CHANNEL_DELETE, w->in.channel_delete.provider_id,
                         w->in.channel_delete.channel_id);
    case BYOC_WRITE_AGENT_MSG_ADD:
        return apply_agent_msg(q, w);
    case BYOC_WRITE_ACTION_SESSION_PUT:
        return apply_session_put(q, w->in.session);
    case BYOC_WRITE_ACTION_SESSION_TAKE:
        return take_session(q, w->in.session_id_hash);
    default:
        return sq_apply_relay(q, w);
    }
}

/* ---- readers ---- */

void sq_rel_provider(void *p)
{
    byoc_provider_release(p);
}

static void rel_channel(void *c)
{
    byoc_channel_release(c);
}

static void rel_agent_msg(void *m)
{
    byoc_agent_msg_release(m);
}

static void rel_session(void *a)
{
    byoc_action_session_release(a);
}

void sq_row_provider(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_provider *p = item;
    sq_col_id(st, 0, p->id);
    p->name = sq_col_text(st, 1, ok);
    p->webhook_url = sq_col_text(st, 2, ok);
    p->cxone_auth_url = sq_col_text(st, 3, ok);
    p->cxone_api_base_url = sq_col_text(st, 4, ok);
    p->cxone_client_id = sq_col_text(st, 5, ok);
    p->cxone_access_key_id = sq_col_text(st, 6, ok);
    p->cxone_integration_id = sq_col_text(st, 7, ok);
    sq_col_blob(st, 8, &p->cxone_client_secret_sealed, ok);
    sq_col_blob(st, 9, &p->cxone_access_key_secret_sealed, ok);
    sq_col_blob(st, 10, &p->webhook_secret_sealed, ok);
    p->byoc_client_id = sq_col_text(st, 11, ok);
    sq_col_hash(st, 12, p->byoc_client_secret_hash);
    sq_col_hash(st, 13, p->bot_api_key_hash);
    sq_col_hash(st, 14, p->studio_secret_hash);
    p->created_at = sqlite3_column_int64(st, 15);
    p->updated_at = sqlite3_column_int64(st, 16);
    const unsigned char *mode = sqlite3_column_text(st, 17);
    p->transcript_mode = (mode && strcmp((const char *)mode, "per_turn") == 0)
                             ? BYOC_TRANSCRIPT_PER_TURN
                             : BYOC_TRANSCRIPT_COMBINED;
    p->transcript_chunk_max = sqlite3_column_int64(st, 18);
    p->inactivity_timeout_s = sqlite3_column_int64(st, 19);
}

static void row_channel(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_channel *c = item;
    sq_col_id(st, 0, c->provider_id);
    c->channel_id = sq_col_text(st, 1, ok);
    c->name = sq_col_text(st, 2, ok);
    c->brand_id = sq_col_text(st, 3, ok);
    const unsigned char *src = sqlite3_column_text(st, 4);
    c->source = (src && strcmp((const char *)src, "action") == 0) ? BYOC_CHANNEL_ACTION
                                                                  : BYOC_CHANNEL_ADMIN;
    c->created_at = sqlite3_column_int64(st, 5);
    c->updated_at = sqlite3_column_int64(st, 6);
    c->skill_id = sq_col_text(st, 7, ok);
}

static void row_agent_msg(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_agent_msg *m = item;
    m->seq = sqlite3_column_int64(st, 0);
    sq_col_id(st, 1, m->id);
    sq_col_id(st, 2, m->provider_id);
    m->dedupe_key = sq_col_text(st, 3, ok);
    m->cxone_message_id = sq_col_text(st, 4, ok);
    const unsigned char *kind = sqlite3_column_text(st, 5);
    m->kind = (kind && strcmp((const char *)kind, "outbound") == 0) ? BYOC_AGENT_MSG_OUTBOUND
                                                                    : BYOC_AGENT_MSG_REPLY;
    m->channel_id = sq_col_text(st, 6, ok);
    m->thread_ref = sq_col_text(st, 7, ok);
    m->post_id = sq_col_text(st, 8, ok);
    m->conversation_id = sq_col_text(st, 9, ok);
    m->text = sq_col_text(st, 10, ok);
    m->attachments_json = sq_col_text(st, 11, ok);
    m->agent_name = sq_col_text(st, 12, ok);
    m->agent_avatar_url = sq_col_text(st, 13, ok);
    struct byoc_blob raw = {0};
    sq_col_blob(st, 14, &raw, ok);
    m->raw_body = (char *)raw.data;
    m->raw_len = raw.len;
    m->raw_truncated = sqlite3_column_int(st, 15) != 0;
    m->received_at = sqlite3_column_int64(st, 16);
}

static void row_session(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_action_session *a = item;
    sq_col_hash(st, 0, a->id_hash);
    sq_col_id(st, 1, a->provider_id);
    a->action = sq_col_text(st, 2, ok);
    a->brand_id = sq_col_text(st, 3, ok);
    a->user_id = sq_col_text(st, 4, ok);
    a->channel_id = sq_col_text(st, 5, ok);
    a->back_url = sq_col_text(st, 6, ok);
    sq_col_blob(st, 7, &a->access_token_sealed, ok);
    a->expires_at = sqlite3_column_int64(st, 8);
}

/* Collects every row of a bound statement into a malloc'd array of item_size records. */
enum byoc_err sq_collect_rows(struct conn *c, sqlite3_stmt *st, size_t item_size, row_fn row,
                              release_fn release, void **out, size_t *n)
{
    char *items = NULL;
    size_t count = 0, cap = 0;
    bool ok = true;
    int rc = SQLITE_DONE;
    while (ok) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            char *grown = realloc(items, cap * item_size);
            if (!grown) {
                ok = false;
                break;
            }
            items = grown;
        }
        memset(items + count * item_size, 0, item_size);
        row(st, items + count * item_size, &ok);
        count++;
    }
    enum byoc_err e = !ok ? BYOC_ERR_NOMEM : sq_map_rc(sqlite3_extended_errcode(c->db));
    if (ok && rc == SQLITE_DONE)
        e = BYOC_ERR_OK;
    sq_stmt_done(st);
    if (e) {
        for (size_t i = 0; i < count; i++)
            release(items + i * item_size);
        free(items);
        return e;
    }
    *out = items;
    *n = count;
    return BYOC_ERR_OK;
}

/* Runs a single-row read; NOT_FOUND when empty. */
enum byoc_err sq_one_row(struct conn *c, sqlite3_stmt *st, row_fn row, release_fn release,
                         void *out)
{
    bool ok = true;
    int rc = sqlite3_step(st);
    enum byoc_err e = rc == SQLITE_ROW    ? BYOC_ERR_OK
                      : rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND
                                          : sq_map_rc(sqlite3_extended_errcode(c->db));
    if (!e) {
        row(st, out, &ok);
        if (!ok) {
            release(out);
            e = BYOC_ERR_NOMEM;
        }
    }
    sq_stmt_done(st);
    return e;
}

static enum byoc_err sq_provider_get(void *state, const char *id, struct byoc_provider *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_PROVIDER_GET);
    sq_bind_text(st, 1, id);
    *out = (struct byoc_provider){0};
    enum byoc_err e = sq_one_row(c, st, sq_row_provider, sq_rel_provider, out);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_provider_list(void *state, struct byoc_provider **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_PROVIDER_LIST);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, sq_row_provider, sq_rel_provider, (void **)out, n);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_channel_get(void *state, const char *provider_id, const char *channel_id,
                                    struct byoc_channel *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_CHANNEL_GET);
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, channel_id);
    *out = (struct byoc_channel){0};
    enum byoc_err e = sq_one_row(c, st, row_channel, rel_channel, out);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_channel_list(void *state, const char *provider_id,
                                     struct byoc_channel **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_CHANNEL_LIST);
    sq_bind_text(st, 1, provider_id);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_channel, rel_channel, (void **)out, n);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_agent_msg_list(void *state, const char *provider_id, bool unmatched_only,
                                       int64_t after_seq, size_t limit, struct byoc_agent_msg **out,
                                       size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st,
               unmatched_only ? STMT_AGENT_LIST_UNMATCHED : STMT_AGENT_LIST);
    sq_bind_text(st, 1, provider_id);
    sqlite3_bind_int64(st, 2, after_seq);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_agent_msg, rel_agent_msg, (void **)out, n);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_agent_msg_get(void *state, const char *provider_id, const char *id,
                                      struct byoc_agent_msg *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_AGENT_GET);
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, id);
    *out = (struct byoc_agent_msg){0};
    enum byoc_err e = sq_one_row(c, st, row_agent_msg, rel_agent_msg, out);
    sq_reader_put(c);
    return e;
}

static enum byoc_err sq_action_session_get(void *state, const uint8_t *id_hash, int64_t now_ms,
                                           struct byoc_action_session *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_SESSION_GET);
    sq_bind_blob(st, 1, id_hash, BYOC_SHA256_LEN);
    sqlite3_bind_int64(st, 2, now_ms);
    *out = (struct byoc_action_session){0};
    enum byoc_err e = sq_one_row(c, st, row_session, rel_session, out);
    sq_reader_put(c);
    return e;
}

static bool sq_ping(void *state)
{
    struct sq *q = state;
    struct conn *c = sq_reader_get(q);
    sqlite3_stmt *st = sq_stmt(c, STMT_PING);
    bool ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (st)
        sq_stmt_done(st);
    sq_reader_put(c);
    return ok;
}

static enum byoc_err sq_backlog(void *state, struct byoc_backlog *out)
{
    static const char *const relay_states[] = {"queued", "sending"};
    static const char *const delivery_states[] = {"pending", "sending", "dead"};
    struct sq *q = state;
    READ_BEGIN(q, c, st, STMT_BACKLOG);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool relay = sqlite3_column_int(st, 0) == 0;
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *const *names = relay ? relay_states : delivery_states;
        size_t n = relay ? 2 : 3;
        int base = relay ? BYOC_BACKLOG_RELAY_QUEUED : BYOC_BACKLOG_WEBHOOK_PENDING;
        for (size_t i = 0; name && i < n; i++) {
            if (strcmp(name, names[i]) == 0) {
                out->count[base + (int)i] = sqlite3_column_int64(st, 2);
                out->oldest_at[base + (int)i] = sqlite3_column_int64(st, 3);
            }
        }
    }
    sq_stmt_done(st);
    sq_reader_put(c);
    if (rc != SQLITE_DONE)
        return sq_map_rc(rc);
    out->db_bytes = sq_read_int(q, STMT_DB_BYTES, -1);
    return BYOC_ERR_OK;
}

/* Copies every page in one step inside one read transaction: a consistent snapshot; in WAL
 * mode the writer goes on meanwhile. */
static enum byoc_err sq_backup(void *state, const char *dest_path, char *why, size_t cap)
{
    struct sq *q = state;
    if (q->nr == 0) {
        snprintf(why, cap, "an in-memory database cannot be backed up");
        return BYOC_ERR_INVALID;
    }
    /* Created here, private (the copy holds conversations), never through a symlink, and only
     * this file is removed again on failure. */
    int fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        snprintf(why, cap, "cannot create %s: %s%s", dest_path, strerror(err),
                 err == EEXIST ? " (a backup never overwrites; choose a new file)" : "");
        return err == EEXIST ? BYOC_ERR_CONFLICT : BYOC_ERR_IO;
    }
    close(fd);
    sqlite3 *dest = NULL;
    int rc = sqlite3_open_v2(dest_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    struct conn *c = sq_reader_get(q);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dest, "main", c->db, "main") : NULL;
    if (b) {
        rc = sqlite3_backup_step(b, -1);
        int fin = sqlite3_backup_finish(b);
        rc = rc == SQLITE_DONE ? fin : rc;
    } else if (rc == SQLITE_OK) {
        rc = sqlite3_errcode(dest);
    }
    sq_reader_put(c);
    sqlite3_stmt *check = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(dest, "PRAGMA quick_check", -1, &check, NULL);
    if (rc == SQLITE_OK) {
        int step = sqlite3_step(check);
        const char *verdict =
            step == SQLITE_ROW ? (const char *)sqlite3_column_text(check, 0) : NULL;
        if (!verdict)
            rc = (step == SQLITE_ROW || step == SQLITE_DONE) ? SQLITE_ERROR : step;
        else if (strcmp(verdict, "ok") != 0)
            rc = SQLITE_CORRUPT;
    }
    sqlite3_finalize(check);
    if (rc != SQLITE_OK)
        snprintf(why, cap, "backup to %s failed: %s", dest_path,
                 dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
    if (sqlite3_close(dest) != SQLITE_OK && rc == SQLITE_OK) {
        snprintf(why, cap, "backup to %s failed while closing it", dest_path);
        rc = SQLITE_IOERR;
    }
    if (rc == SQLITE_OK)
        return BYOC_ERR_OK;
    unlink(dest_path);
    enum byoc_err e = sq_map_rc(rc);
    return e ? e : BYOC_ERR_STORE_IO;
}

static bool sq_writable(void *state)
{
    const struct sq *q = state;
    bool special = q->nr == 0 || strncmp(q->path, "file:", 5) == 0;
    return special || access(q->path, W_OK) == 0;
}

const struct store_backend byoc_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema = sq_schema,
    .batch_begin = sq_batch_begin,
    .batch_commit = sq_batch_commit,
    .batch_rollback = sq_batch_rollback,
    .write_begin = sq_write_begin,
    .write_end = sq_write_end,
    .apply = sq_apply,
    .last_error = sq_last_error,
    .provider_get = sq_provider_get,
    .provider_list = sq_provider_list,
    .channel_get = sq_channel_get,
    .channel_list = sq_channel_list,
    .agent_msg_list = sq_agent_msg_list,
    .agent_msg_get = sq_agent_msg_get,
    .action_session_get = sq_action_session_get,
    .ping = sq_ping,
    .backlog = sq_backlog,
    .backup = sq_backup,
    .writable = sq_writable,
    .restore_hint = "stop byocd, put the copy in place of the database file, delete the -wal "
                    "and -shm files beside it, start byocd",
    .provider_by_bot_key = sq_provider_by_bot_key,
    .conversation_get = sq_conversation_get,
    .conversation_list = sq_conversation_list,
    .outbound_list = sq_outbound_list,
    .idem_get = sq_idem_get,
    .relay_next_due = sq_relay_next_due,
    .voice_transcript_get = sq_voice_transcript_get,
    .delivery_next_due = sq_delivery_next_due,
    .webhook_list = sq_webhook_list,
    .event_list = sq_event_list,
    .delivery_list = sq_delivery_list,
    .studio_call_list = sq_studio_call_list,
};
