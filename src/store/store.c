/* Backend-neutral half of the store: the writer thread with group commit, and the API. */
#include "byoc/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/limits.h"
#include "byoc/log.h"
#include "store/store-internal.h"
#include "byoc/banned.h"

struct byoc_store {
    const struct store_backend *be;
    void *state;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct byoc_write *head, *tail;
    size_t queued, queue_max;
    bool stopping;
    struct byoc_store_stats stats;
    struct byoc_write *failed_step; /* a clock shift to apply before the next write */
    void (*on_events)(void *arg);   /* set before writes that add events; writer thread reads */
    void *on_events_arg;
};

/* Takes up to BYOC_WRITE_BATCH_MAX queued writes; NULL when stopping with nothing left. */
static struct byoc_write *take_batch(struct byoc_store *s, size_t *count)
{
    pthread_mutex_lock(&s->mu);
    while (!s->head && !s->stopping)
        pthread_cond_wait(&s->cv, &s->mu);
    struct byoc_write *first = s->head, *last = s->head;
    size_t n = first ? 1 : 0;
    while (last && last->next_ && n < BYOC_WRITE_BATCH_MAX) {
        last = last->next_;
        n++;
    }
    if (last) {
        s->head = last->next_;
        if (!s->head)
            s->tail = NULL;
        last->next_ = NULL;
    }
    s->queued -= n;
    pthread_mutex_unlock(&s->mu);
    *count = n;
    return first;
}

static void log_batch_failure(struct byoc_store *s, const char *what, enum byoc_err e, size_t n)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_ERROR, "store", what);
    byoc_log_err(&l, e);
    byoc_log_str(&l, "detail", s->be->last_error(s->state));
    byoc_log_int(&l, "writes", (long long)n);
    byoc_log_end(&l);
}

static void apply_one(struct byoc_store *s, struct byoc_write *w)
{
    w->events = 0;
    w->err = s->be->write_begin(s->state);
    if (w->err)
        return;
    w->err = s->be->apply(s->state, w);
    s->be->write_end(s->state, w->err == BYOC_ERR_OK);
    if (w->err)
        w->events = 0; /* rolled back with its savepoint */
}

static void run_batch(struct byoc_store *s, struct byoc_write *batch, size_t n)
{
    enum byoc_err e = s->be->batch_begin(s->state);
    for (struct byoc_write *w = batch; !e && w; w = w->next_)
        apply_one(s, w);
    if (!e)
        e = s->be->batch_commit(s->state);
    if (e) {
        log_batch_failure(s, "batch not committed", e, n);
        s->be->batch_rollback(s->state);
        for (struct byoc_write *w = batch; w; w = w->next_)
            w->err = e; /* nothing of this batch is durable */
    }
    bool events = false;
    for (struct byoc_write *w = batch; !e && w; w = w->next_)
        events = events || w->events > 0;
    pthread_mutex_lock(&s->mu);
    s->stats.batches++;
    s->stats.writes += n;
    s->stats.failed_commits += e ? 1 : 0;
    size_t bucket = 0;
    while (bucket + 1 < BYOC_STORE_BATCH_BUCKETS && ((size_t)1 << bucket) < n)
        bucket++;
    s->stats.batch_sizes[bucket]++;
    if (events && s->on_events)
        s->on_events(s->on_events_arg); /* under the lock: unregistering waits for it */
    pthread_mutex_unlock(&s->mu);
    while (batch) {
        struct byoc_write *next = batch->next_;
        batch->next_ = NULL;
        batch->done(batch); /* may free batch */
        batch = next;
    }
}

static void *writer_main(void *arg)
{
    struct byoc_store *s = arg;
    for (;;) {
        size_t n = 0;
        struct byoc_write *batch = take_batch(s, &n);
        if (!batch)
            return NULL;
        run_batch(s, batch, n);
    }
}

static enum byoc_err store_open(const char *path, bool existing, struct byoc_store **out, char *why,
                                size_t why_cap)
{
    struct byoc_store *s = calloc(1, sizeof *s);
    if (!s)
        return BYOC_ERR_NOMEM;
    s->be = &byoc_store_sqlite;
    s->queue_max = BYOC_WRITE_QUEUE_LIMIT; /* the server sets BYOCD_WRITE_QUEUE_MAX */
    enum byoc_err e = s->be->open(path, existing, &s->state, why, why_cap);
    if (e) {
        free(s);
        return e;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        s->be->close(s->state);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return BYOC_ERR_INTERNAL;
    }
    *out = s;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_store_open(const char *path, struct byoc_store **out, char *why, size_t why_cap)
{
    return store_open(path, false, out, why, why_cap);
}

enum byoc_err byoc_store_open_existing(const char *path, struct byoc_store **out, char *why,
                                       size_t why_cap)
{
    return store_open(path, true, out, why, why_cap);
}

void byoc_store_close(struct byoc_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    free(s->failed_step);
    s->be->close(s->state);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* Queues w last; the caller holds s->mu. A shift bypasses the queue limit: the writes around it
 * depend on it. */
static void enqueue(struct byoc_store *s, struct byoc_write *w)
{
    w->next_ = NULL;
    if (s->tail)
        s->tail->next_ = w;
    else
        s->head = w;
    s->tail = w;
    s->queued++;
    pthread_cond_signal(&s->cv);
}

enum byoc_err byoc_store_submit(struct byoc_store *s, struct byoc_write *w)
{
    w->next_ = NULL;
    w->err = BYOC_ERR_OK;
    pthread_mutex_lock(&s->mu);
    enum byoc_err e = s->stopping                 ? BYOC_ERR_SHUTTING_DOWN
                      : s->queued >= s->queue_max ? BYOC_ERR_OVERLOADED
                                                  : BYOC_ERR_OK;
    if (!e && s->failed_step) {
        enqueue(s, s->failed_step);
        s->failed_step = NULL;
    }
    if (!e)
        enqueue(s, w);
    pthread_mutex_unlock(&s->mu);
    return e;
}

void byoc_store_set_queue_max(struct byoc_store *s, size_t max)
{
    pthread_mutex_lock(&s->mu);
    if (max > 0)
        s->queue_max = max;
    pthread_mutex_unlock(&s->mu);
}

/* ---- clock steps ---- */

/* A shift whose batch failed waits in s->failed_step and goes in before the next write (so a
 * broken disk cannot make the writer spin on it alone). */
static void clock_step_done(struct byoc_write *w)
{
    struct byoc_store *s = w->user;
    if (!w->err) {
        free(w);
        return;
    }
    pthread_mutex_lock(&s->mu);
    struct byoc_write *older = s->failed_step;
    if (older) /* an even older failed shift: add them up, they are both before every write */
        w->in.clock_step.delta_ms += older->in.clock_step.delta_ms;
    bool drop = s->stopping;
    s->failed_step = drop ? NULL : w;
    pthread_mutex_unlock(&s->mu);
    free(older);
    if (drop)
        free(w);
}

void byoc_store_clock_step(struct byoc_store *s, int64_t delta_ms)
{
    struct byoc_write *w = calloc(1, sizeof *w);
    if (!w)
        return; /* out of memory: the schedules keep the old frame and wait or come early */
    w->kind = BYOC_WRITE_CLOCK_STEP;
    w->in.clock_step.delta_ms = delta_ms;
    w->done = clock_step_done;
    w->user = s;
    pthread_mutex_lock(&s->mu);
    bool keep = !s->stopping;
    if (keep)
        enqueue(s, w);
    pthread_mutex_unlock(&s->mu);
    if (!keep)
        free(w);
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void sync_done(struct byoc_write *w)
{
    struct sync_wait *sw = w->user;
    pthread_mutex_lock(&sw->mu);
    sw->done = true;
    pthread_cond_signal(&sw->cv);
    pthread_mutex_unlock(&sw->mu);
}

enum byoc_err byoc_store_write(struct byoc_store *s, struct byoc_write *w)
{
    struct sync_wait sw = {.done = false};
    pthread_mutex_init(&sw.mu, NULL);
    pthread_cond_init(&sw.cv, NULL);
    w->done = sync_done;
    w->user = &sw;
    enum byoc_err e = byoc_store_submit(s, w);
    if (!e) {
        pthread_mutex_lock(&sw.mu);
        while (!sw.done)
            pthread_cond_wait(&sw.cv, &sw.mu);
        pthread_mutex_unlock(&sw.mu);
        e = w->err;
    }
    pthread_mutex_destroy(&sw.mu);
    pthread_cond_destroy(&sw.cv);
    return e;
}

void byoc_store_stats(struct byoc_store *s, struct byoc_store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->queued = s->queued;
    pthread_mutex_unlock(&s->mu);
}

void byoc_store_schema(struct byoc_store *s, int *applied, int *known)
{
    s->be->schema(s->state, applied, known);
}

enum byoc_err byoc_store_provider_get(struct byoc_store *s, const char *id,
                                      struct byoc_provider *out)
{
    return s->be->provider_get(s->state, id, out);
}

enum byoc_err byoc_store_provider_list(struct byoc_store *s, struct byoc_provider **out, size_t *n)
{
    return s->be->provider_list(s->state, out, n);
}

enum byoc_err byoc_store_channel_get(struct byoc_store *s, const char *provider_id,
                                     const char *channel_id, struct byoc_channel *out)
{
    return s->be->channel_get(s->state, provider_id, channel_id, out);
}

enum byoc_err byoc_store_channel_list(struct byoc_store *s, const char *provider_id,
                                      struct byoc_channel **out, size_t *n)
{
    return s->be->channel_list(s->state, provider_id, out, n);
}

enum byoc_err byoc_store_agent_msg_list(struct byoc_store *s, const char *provider_id,
                                        bool unmatched_only, int64_t after_seq, size_t limit,
                                        struct byoc_agent_msg **out, size_t *n)
{
    return s->be->agent_msg_list(s->state, provider_id, unmatched_only, after_seq, limit, out, n);
}

enum byoc_err byoc_store_agent_msg_get(struct byoc_store *s, const char *provider_id,
                                       const char *id, struct byoc_agent_msg *out)
{
    return s->be->agent_msg_get(s->state, provider_id, id, out);
}

enum byoc_err byoc_store_action_session_get(struct byoc_store *s,
                                            const uint8_t id_hash[BYOC_SHA256_LEN], int64_t now_ms,
                                            struct byoc_action_session *out)
{
    return s->be->action_session_get(s->state, id_hash, now_ms, out);
}

bool byoc_store_ping(struct byoc_store *s)
{
    return s->be->ping(s->state);
}

bool byoc_store_writable(struct byoc_store *s)
{
    return s->be->writable(s->state);
}

const char *byoc_store_restore_hint(struct byoc_store *s)
{
    return s->be->restore_hint;
}

enum byoc_err byoc_store_backlog(struct byoc_store *s, struct byoc_backlog *out)
{
    *out = (struct byoc_backlog){.db_bytes = -1};
    return s->be->backlog(s->state, out);
}

enum byoc_err byoc_store_backup(struct byoc_store *s, const char *dest_path, char *why,
                                size_t why_cap)
{
    return s->be->backup(s->state, dest_path, why, why_cap);
}

enum byoc_err byoc_store_provider_by_bot_key(struct byoc_store *s,
                                             const uint8_t hash[BYOC_SHA256_LEN],
                                             struct byoc_provider *out)
{
    return s->be->provider_by_bot_key(s->state, hash, out);
}

enum byoc_err byoc_store_conversation_get(struct byoc_store *s, const char *provider_id,
                                          const char *id, struct byoc_conversation *out)
{
    return s->be->conversation_get(s->state, provider_id, id, out);
}

enum byoc_err byoc_store_conversation_list(struct byoc_store *s, const char *provider_id,
                                           int state_filter, const char *end_user_id, int64_t after,
                                           size_t limit, struct byoc_conversation **out, size_t *n)
{
    return s->be->conversation_list(s->state, provider_id, state_filter, end_user_id, after, limit,
                                    out, n);
}

enum byoc_err byoc_store_outbound_list(struct byoc_store *s, const char *conversation_id,
                                       size_t limit, struct byoc_outbound **out, size_t *n)
{
    return s->be->outbound_list(s->state, conversation_id, limit, out, n);
}

enum byoc_err byoc_store_idem_get(struct byoc_store *s, const char *provider_id, const char *key,
                                  uint8_t request_hash[BYOC_SHA256_LEN], int *status, char **body)
{
    return s->be->idem_get(s->state, provider_id, key, request_hash, status, body);
}

int64_t byoc_store_relay_next_due(struct byoc_store *s)
{
    return s->be->relay_next_due(s->state);
}

enum byoc_err byoc_store_voice_transcript_get(struct byoc_store *s,
                                              const uint8_t key_hash[BYOC_SHA256_LEN],
                                              int64_t now_ms, struct byoc_voice_transcript *out)
{
    return s->be->voice_transcript_get(s->state, key_hash, now_ms, out);
}

int64_t byoc_store_delivery_next_due(struct byoc_store *s)
{
    return s->be->delivery_next_due(s->state);
}

enum byoc_err byoc_store_webhook_list(struct byoc_store *s, const char *provider_id,
                                      struct byoc_webhook **out, size_t *n)
{
    return s->be->webhook_list(s->state, provider_id, out, n);
}

enum byoc_err byoc_store_event_list(struct byoc_store *s, const char *provider_id,
                                    const char *conversation_id, int64_t after, size_t limit,
                                    struct byoc_event **out, size_t *n)
{
    return s->be->event_list(s->state, provider_id, conversation_id, after, limit, out, n);
}

enum byoc_err byoc_store_delivery_list(struct byoc_store *s, int state_filter,
                                       const char *provider_id, const char *webhook_id,
                                       int64_t after, size_t limit, struct byoc_delivery **out,
                                       size_t *n)
{
    return s->be->delivery_list(s->state, state_filter, provider_id, webhook_id, after, limit, out,
                                n);
}

enum byoc_err byoc_store_studio_call_list(struct byoc_store *s, const char *provider_id,
                                          bool unmatched_only, int64_t after, size_t limit,
                                          struct byoc_studio_call **out, size_t *n)
{
    return s->be->studio_call_list(s->state, provider_id, unmatched_only, after, limit, out, n);
}

void byoc_store_on_events(struct byoc_store *s, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->mu);
    s->on_events = fn;
    s->on_events_arg = arg;
    pthread_mutex_unlock(&s->mu);
}
