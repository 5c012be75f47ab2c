/* SQLite backend, events half: the outbox of events for bot platforms, subscriptions, their
 * deliveries (claimed, retried, dead, replayed) and the Studio script's calls. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/util.h"
#include "store/event-data.h"
#include "store/sqlite-internal.h"
#include "store/store-internal.h"
#include "byoc/banned.h"

#define PICK_FACTOR 2 /* candidates read per job wanted: half-open circuits take one of theirs */

/* ---- rows ---- */

static void row_event_at(sqlite3_stmt *st, int i, struct byoc_event *e, bool *ok)
{
    e->cursor = sqlite3_column_int64(st, i);
    sq_col_id(st, i + 1, e->id);
    sq_col_id(st, i + 2, e->provider_id);
    sq_col_id(st, i + 3, e->conversation_id);
    e->seq = sqlite3_column_int64(st, i + 4);
    e->type = sq_col_text(st, i + 5, ok);
    e->data_json = sq_col_text(st, i + 6, ok);
    e->created_at = sqlite3_column_int64(st, i + 7);
}

static void row_event(sqlite3_stmt *st, void *item, bool *ok)
{
    row_event_at(st, 0, item, ok);
}

static void rel_event(void *e)
{
    byoc_event_release(e);
}

#define DL_NCOLS 11 /* columns of DL_COLS before the event's */

static void row_delivery(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_delivery *d = item;
    d->cursor = sqlite3_column_int64(st, 0);
    sq_col_id(st, 1, d->id);
    sq_col_id(st, 2, d->webhook_id);
    const unsigned char *state = sqlite3_column_text(st, 3);
    if (!state || !byoc_delivery_state_parse((const char *)state, &d->state))
        d->state = BYOC_DELIVERY_PENDING;
    d->attempts = sqlite3_column_int64(st, 4);
    d->next_attempt_at = sqlite3_column_int64(st, 5);
    if (d->next_attempt_at >= DL_HELD_MS)
        d->next_attempt_at = 0; /* waits behind an earlier delivery of its conversation */
    d->delivered_at = sqlite3_column_int64(st, 6);
    d->created_at = sqlite3_column_int64(st, 7);
    d->window_start = sqlite3_column_int64(st, 8);
    d->last_status = sqlite3_column_int64(st, 9);
    d->last_error = sq_col_text(st, 10, ok);
    row_event_at(st, DL_NCOLS, &d->event, ok);
}

static void rel_delivery(void *d)
{
    byoc_delivery_release(d);
}

/* A nullable blob column: data stays NULL for SQL NULL. */
static void col_blob_opt(sqlite3_stmt *st, int i, struct byoc_blob *out, bool *ok)
{
    *out = (struct byoc_blob){0};
    if (sqlite3_column_type(st, i) != SQLITE_NULL)
        sq_col_blob(st, i, out, ok);
}

static void row_webhook(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_webhook *w = item;
    sq_col_id(st, 0, w->id);
    sq_col_id(st, 1, w->provider_id);
    w->url = sq_col_text(st, 2, ok);
    w->events_json = sq_col_text(st, 3, ok);
    sq_col_blob(st, 4, &w->secret_sealed, ok);
    col_blob_opt(st, 5, &w->old_secret_sealed, ok);
    w->old_secret_until = sqlite3_column_int64(st, 6);
    w->secret_rotated_at = sqlite3_column_int64(st, 7);
    const unsigned char *state = sqlite3_column_text(st, 8);
    w->state = (state && strcmp((const char *)state, "disabled") == 0) ? BYOC_WEBHOOK_DISABLED
                                                                       : BYOC_WEBHOOK_ENABLED;
    w->disabled_reason = sq_col_text(st, 9, ok);
    w->failures = sqlite3_column_int64(st, 10);
    w->circuit_until = sqlite3_column_int64(st, 11);
    w->created_at = sqlite3_column_int64(st, 12);
    w->updated_at = sqlite3_column_int64(st, 13);
}

static void rel_webhook(void *w)
{
    byoc_webhook_release(w);
}

/* ---- the outbox ---- */

enum byoc_err sq_emit(struct sq *q, struct byoc_write *w, const char *conversation_id,
                      enum byoc_event_type t, char *data, int64_t now)
{
    if (!data)
        return BYOC_ERR_NOMEM;
    char id[BYOC_ID_MAX], provider[BYOC_ID_MAX] = "";
    int64_t seq = 0;
    enum byoc_err e = byoc_id_new("evt", id);
    sqlite3_stmt *st = e ? NULL : sq_wstmt(q, STMT_EV_CONV_SEQ);
    if (st) {
        sq_bind_text(st, 1, conversation_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            seq = sqlite3_column_int64(st, 0);
            sq_col_id(st, 1, provider);
        }
        sq_stmt_done(st);
        e = rc == SQLITE_ROW    ? BYOC_ERR_OK
            : rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND
                                : sq_write_fail(q);
    } else if (!e) {
        e = q->batch_err;
    }
    st = e ? NULL : sq_wstmt(q, STMT_EV_INSERT);
    if (st) {
        sq_bind_text(st, 1, id);
        sq_bind_text(st, 2, provider);
        sq_bind_text(st, 3, conversation_id);
        sqlite3_bind_int64(st, 4, seq);
        sq_bind_text(st, 5, byoc_event_type_name(t));
        sq_bind_text(st, 6, data);
        sqlite3_bind_int64(st, 7, now);
        e = sq_step_write(q, st);
    } else if (!e) {
        e = q->batch_err;
    }
    free(data);
    int64_t cursor = e ? 0 : sqlite3_last_insert_rowid(q->w.db);
    st = e ? NULL : sq_wstmt(q, STMT_EV_FANOUT);
    if (!st)
        return e ? e : q->batch_err;
    sqlite3_bind_int64(st, 1, cursor);
    sq_bind_text(st, 2, conversation_id);
    sqlite3_bind_int64(st, 3, seq);
    sqlite3_bind_int64(st, 4, now);
    sq_bind_text(st, 5, provider);
    sq_bind_text(st, 6, byoc_event_type_name(t));
    e = sq_step_write(q, st);
    if (!e)
        w->events++;
    return e;
}

enum byoc_err sq_first_webhook(struct sq *q, const char *provider_id)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_WH_FROM_PROVIDER);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, provider_id);
    return sq_step_write(q, st);
}

/* ---- subscriptions ---- */

static enum byoc_err webhook_create(struct sq *q, const struct byoc_webhook *h)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_WH_COUNT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, h->provider_id);
    int64_t count = 0;
    enum byoc_err e = sq_step_int(q, st, &count);
    if (e)
        return e;
    if (count >= BYOC_WEBHOOKS_PER_PROVIDER)
        return BYOC_ERR_CONFLICT; /* counted here, so concurrent creates cannot pass the cap */
    st = sq_wstmt(q, STMT_WH_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, h->id);
    sq_bind_text(st, 2, h->provider_id);
    sq_bind_text(st, 3, h->url);
    sq_bind_text(st, 4, h->events_json);
    sq_bind_blob(st, 5, h->secret_sealed.data, h->secret_sealed.len);
    sqlite3_bind_int64(st, 6, h->created_at);
    e = sq_step_write(q, st);
    return e == BYOC_ERR_CONFLICT ? BYOC_ERR_NOT_FOUND : e; /* the provider's foreign key */
}

static enum byoc_err webhook_ref(struct sq *q, struct byoc_write *w, bool rotate)
{
    sqlite3_stmt *st = sq_wstmt(q, rotate ? STMT_WH_ROTATE : STMT_WH_DELETE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.webhook_ref.webhook_id);
    sq_bind_text(st, 2, w->in.webhook_ref.provider_id);
    if (rotate) {
        sq_bind_blob(st, 3, w->in.webhook_ref.secret_sealed->data,
                     w->in.webhook_ref.secret_sealed->len);
        sqlite3_bind_int64(st, 4, w->in.webhook_ref.old_until);
        sqlite3_bind_int64(st, 5, w->in.webhook_ref.now);
    }
    enum byoc_err e = sq_step_write(q, st);
    if (!e && sqlite3_changes(q->w.db) == 0)
        e = BYOC_ERR_NOT_FOUND;
    return e;
}

/* ---- delivery claims ---- */

/* Per-subscription bookkeeping inside one claim. */
struct endpoint_slot {
    char id[BYOC_ID_MAX];
    int64_t in_flight;
    bool half_open_taken;
};

/* The claim's slot for a subscription, created with what is already in flight. NULL when full. */
static struct endpoint_slot *slot_for(struct endpoint_slot *slots, size_t *nslots, size_t cap,
                                      const char *webhook_id, int64_t in_flight)
{
    for (size_t i = 0; i < *nslots; i++) {
        if (strcmp(slots[i].id, webhook_id) == 0)
            return &slots[i];
    }
    if (*nslots == cap)
        return NULL;
    struct endpoint_slot *s = &slots[(*nslots)++];
    *s = (struct endpoint_slot){.in_flight = in_flight};
    byoc_strlcpy(s->id, webhook_id, sizeof s->id);
    return s;
}

static enum byoc_err load_delivery_job(struct sq *q, const char *id, int64_t now,
                                       struct byoc_delivery_job *j)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_DL_JOB);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    bool ok = true;
    if (rc == SQLITE_ROW) {
        int base = DL_NCOLS + 8;
        row_delivery(st, &j->d, &ok);
        j->url = sq_col_text(st, base, &ok);
        sq_col_blob(st, base + 1, &j->secret_sealed, &ok);
        col_blob_opt(st, base + 2, &j->old_secret_sealed, &ok);
    }
    sq_stmt_done(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND : sq_write_fail(q);
    return ok ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

/* Marks one candidate sending and loads it into the next job slot. */
static enum byoc_err take_candidate(struct sq *q, struct byoc_write *w, const char *id, bool probe)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_DL_MARK);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, w->in.dclaim.now + w->in.dclaim.lease_ms);
    enum byoc_err e = sq_step_write(q, st);
    if (e || sqlite3_changes(q->w.db) == 0)
        return e;
    struct byoc_delivery_job *j = &w->out.jobs.list[w->out.jobs.n];
    *j = (struct byoc_delivery_job){.probe = probe};
    w->out.jobs.n++; /* counted before loading so that a failure frees what was loaded */
    return load_delivery_job(q, id, w->in.dclaim.now, j);
}

struct candidate {
    char id[BYOC_ID_MAX], webhook_id[BYOC_ID_MAX];
    int64_t failures, in_flight; /* of its subscription */
};

/* Due heads, oldest first, at most per_endpoint minus what is in flight per subscription (so a
 * busy subscription cannot fill the window and hold the others back). */
static enum byoc_err pick_candidates(struct sq *q, int64_t now, size_t limit, size_t per_endpoint,
                                     struct candidate *out, size_t *n)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_DL_PICK);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)per_endpoint);
    int rc;
    *n = 0;
    for (rc = sqlite3_step(st); rc == SQLITE_ROW && *n < limit; rc = sqlite3_step(st)) {
        sq_col_id(st, 0, out[*n].id);
        sq_col_id(st, 1, out[*n].webhook_id);
        out[*n].failures = sqlite3_column_int64(st, 2);
        out[*n].in_flight = sqlite3_column_int64(st, 3);
        (*n)++;
    }
    sq_stmt_done(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? BYOC_ERR_OK : sq_write_fail(q);
}

/* Takes due deliveries, at most per_endpoint in flight per subscription; a subscription whose
 * breaker is half-open gets one probe and waits probe_ms for its outcome. */
static enum byoc_err delivery_claim(struct sq *q, struct byoc_write *w)
{
    size_t max = w->in.dclaim.max, ncand = 0;
    w->out.jobs.list = NULL;
    w->out.jobs.n = 0;
    struct candidate *cand = calloc(max * PICK_FACTOR + 1, sizeof *cand);
    struct endpoint_slot *slots = calloc(max * PICK_FACTOR + 1, sizeof *slots);
    w->out.jobs.list = calloc(max + 1, sizeof *w->out.jobs.list);
    enum byoc_err e = (cand && slots && w->out.jobs.list) ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    if (!e)
        e = pick_candidates(q, w->in.dclaim.now, max * PICK_FACTOR, w->in.dclaim.per_endpoint, cand,
                            &ncand);
    size_t nslots = 0;
    for (size_t i = 0; !e && i < ncand && w->out.jobs.n < max; i++) {
        struct endpoint_slot *s =
            slot_for(slots, &nslots, max * PICK_FACTOR, cand[i].webhook_id, cand[i].in_flight);
        if (!s || s->in_flight >= (int64_t)w->in.dclaim.per_endpoint)
            continue;
        bool half_open = cand[i].failures >= w->in.dclaim.breaker_failures;
        if (half_open && (s->in_flight > 0 || s->half_open_taken))
            continue;
        if (half_open) {
            s->half_open_taken = true;
            sqlite3_stmt *st = sq_wstmt(q, STMT_WH_HALF_OPEN);
            if (!st) {
                e = q->batch_err;
                break;
            }
            sq_bind_text(st, 1, cand[i].webhook_id);
            sqlite3_bind_int64(st, 2, w->in.dclaim.now + w->in.dclaim.probe_ms);
            e = sq_step_write(q, st);
        }
        if (!e)
            e = take_candidate(q, w, cand[i].id, half_open);
        s->in_flight++;
    }
    free(cand);
    free(slots);
    if (e) {
        byoc_delivery_jobs_free(w->out.jobs.list, w->out.jobs.n);
        w->out.jobs.list = NULL;
        w->out.jobs.n = 0;
    }
    return e;
}

/* ---- delivery outcomes ---- */

static enum byoc_err webhook_breaker(struct sq *q, const struct byoc_delivery_outcome *o,
                                     int64_t threshold)
{
    sqlite3_stmt *st = sq_wstmt(q, o->failure ? STMT_WH_FAILURE : STMT_WH_SUCCESS);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, o->webhook_id);
    if (o->failure) {
        sqlite3_bind_int64(st, 2, o->circuit_until);
        sqlite3_bind_int64(st, 3, threshold);
    }
    return sq_step_write(q, st);
}

static enum byoc_err webhook_disable(struct sq *q, const struct byoc_delivery_outcome *o,
                                     int64_t now)
{
    static const char reason[] = "the endpoint answered 410 Gone";
    sqlite3_stmt *st = sq_wstmt(q, STMT_WH_DISABLE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, o->webhook_id);
    sq_bind_text(st, 2, reason);
    sqlite3_bind_int64(st, 3, now);
    enum byoc_err e = sq_step_write(q, st);
    st = e ? NULL : sq_wstmt(q, STMT_DL_KILL_PENDING);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_text(st, 1, o->webhook_id);
    sq_bind_text(st, 2, reason);
    return sq_step_write(q, st);
}

/* Runs a statement keyed by a delivery id (and now); *changed tells whether a row changed. */
static enum byoc_err by_delivery(struct sq *q, enum stmt_id id, const char *delivery_id,
                                 int64_t now, bool *changed)
{
    sqlite3_stmt *st = sq_wstmt(q, id);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, delivery_id);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, now);
    enum byoc_err e = sq_step_write(q, st);
    if (changed)
        *changed = !e && sqlite3_changes(q->w.db) > 0;
    return e;
}

/* A finished delivery lets the next one of its subscription and conversation become due. */
static enum byoc_err promote_after(struct sq *q, const char *delivery_id, int64_t now)
{
    return by_delivery(q, STMT_DL_PROMOTE_AFTER, delivery_id, now, NULL);
}

static enum byoc_err delivery_outcome(struct sq *q, const struct byoc_delivery_outcome *o,
                                      int64_t now, int64_t threshold)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_DL_OUTCOME);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, o->delivery_id);
    sq_bind_text(st, 2, byoc_delivery_state_name(o->state));
    sqlite3_bind_int64(st, 3, o->next_attempt_at);
    if (o->status)
        sqlite3_bind_int64(st, 4, o->status);
    else
        sqlite3_bind_null(st, 4);
    sq_bind_text(st, 5, o->last_error);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, o->attempt);
    enum byoc_err e = sq_step_write(q, st);
    if (e || sqlite3_changes(q->w.db) == 0)
        return e; /* a lost claim (the lease ran out): the newer claim's outcome counts */
    if (o->failure || o->state == BYOC_DELIVERY_DELIVERED)
        e = webhook_breaker(q, o, threshold); /* a shutdown's interruption says nothing */
    if (!e && o->disable)
        e = webhook_disable(q, o, now);
    bool died = false; /* a retry on a subscription a 410 disabled meanwhile */
    if (!e && o->state == BYOC_DELIVERY_PENDING)
        e = by_delivery(q, STMT_DL_DEAD_IF_DISABLED, o->delivery_id, now, &died);
    if (!e && (o->state != BYOC_DELIVERY_PENDING || died))
        e = promote_after(q, o->delivery_id, now);
    return e;
}

static enum byoc_err delivery_outcomes(struct sq *q, struct byoc_write *w)
{
    enum byoc_err e = BYOC_ERR_OK;
    for (size_t i = 0; !e && i < w->in.doutcomes.n; i++)
        e = delivery_outcome(q, &w->in.doutcomes.list[i], w->in.doutcomes.now,
                             w->in.doutcomes.breaker_failures);
    return e;
}

/* Runs a statement whose one parameter is a time; *changed tells whether rows changed. */
static enum byoc_err at_time(struct sq *q, enum stmt_id id, int64_t t, bool *changed)
{
    sqlite3_stmt *st = sq_wstmt(q, id);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, t);
    enum byoc_err e = sq_step_write(q, st);
    if (changed)
        *changed = !e && sqlite3_changes(q->w.db) > 0;
    return e;
}

enum byoc_err sq_delivery_leases(struct sq *q, int64_t now, int64_t deadline_ms)
{
    bool expired = false;
    enum byoc_err e = at_time(q, STMT_DL_LEASES, now, NULL);
    if (!e && deadline_ms > 0) /* also while a circuit is open and nothing is attempted */
        e = at_time(q, STMT_DL_EXPIRE, now - deadline_ms, &expired);
    if (!e && expired) /* what waited behind the dead ones is due now */
        e = at_time(q, STMT_DL_PROMOTE_ALL, now, NULL);
    return e;
}

enum byoc_err sq_event_purge(struct sq *q, int64_t before)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_EV_PURGE);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int64(st, 2, BYOC_EVENT_PURGE_BATCH);
    enum byoc_err e = sq_step_write(q, st); /* delivered deliveries go with them (cascade) */
    return e ? e : at_time(q, STMT_STUDIO_PURGE, before, NULL);
}

/* ---- replay ---- */

static enum byoc_err replay_one(struct sq *q, struct byoc_write *w)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_DL_STATE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.replay.delivery_id);
    char state[BYOC_ID_MAX];
    enum byoc_err e = sq_step_id(q, st, state);
    if (e)
        return e;
    if (strcmp(state, byoc_delivery_state_name(BYOC_DELIVERY_DEAD)) != 0)
        return BYOC_ERR_CONFLICT;
    st = sq_wstmt(q, STMT_DL_REPLAY_ONE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.replay.delivery_id);
    sqlite3_bind_int64(st, 2, w->in.replay.now);
    char webhook[BYOC_ID_MAX];
    e = sq_step_id(q, st, webhook);
    if (e)
        return e == BYOC_ERR_NOT_FOUND ? BYOC_ERR_INTERNAL : e; /* it was dead a moment ago */
    st = sq_wstmt(q, STMT_WH_ENABLE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, webhook);
    sqlite3_bind_int64(st, 2, w->in.replay.now);
    w->out.replayed = 1;
    w->events++; /* wakes the delivery worker */
    return sq_step_write(q, st);
}

static enum byoc_err replay_all(struct sq *q, struct byoc_write *w)
{
    enum stmt_id ids[] = {STMT_WH_ENABLE_DEAD, STMT_DL_REPLAY_ALL};
    enum byoc_err e = BYOC_ERR_OK;
    for (size_t i = 0; !e && i < BYOC_ARRAY_LEN(ids); i++) {
        sqlite3_stmt *st = sq_wstmt(q, ids[i]);
        if (!st)
            return q->batch_err;
        sq_bind_text(st, 1, w->in.replay.provider_id);
        sqlite3_bind_int64(st, 2, w->in.replay.now);
        e = sq_step_write(q, st);
        w->out.replayed = e ? 0 : sqlite3_changes(q->w.db);
    }
    w->events += w->out.replayed > 0;
    return e;
}

/* ---- Studio calls ---- */

enum byoc_err sq_conv_pre(struct sq *q, const char *conv_id, struct sq_conv_pre *out)
{
    *out = (struct sq_conv_pre){0};
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_PRE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv_id);
    int rc = sqlite3_step(st);
    bool ok = true;
    if (rc == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        if (!s || !byoc_conv_state_parse((const char *)s, &out->state))
            out->state = BYOC_CONV_QUEUED;
        out->agent_name = sq_col_text(st, 1, &ok);
        out->contact_id = sq_col_text(st, 2, &ok);
    }
    sq_stmt_done(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND : sq_write_fail(q);
    return ok ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

void sq_conv_pre_release(struct sq_conv_pre *c)
{
    free(c->agent_name);
    free(c->contact_id);
    *c = (struct sq_conv_pre){0};
}

static enum byoc_err set_state(struct sq *q, const char *conv_id, enum byoc_conv_state to,
                               const char *skill, int64_t now)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_SET_STATE);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv_id);
    sq_bind_text(st, 2, byoc_conv_state_name(to));
    sqlite3_bind_int64(st, 3, now);
    sq_bind_text(st, 4, skill);
    return sq_step_write(q, st);
}

static enum byoc_err store_call(struct sq *q, struct byoc_write *w, const char *conv_id)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_STUDIO_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.studio.call_id);
    sq_bind_text(st, 2, w->in.studio.provider_id);
    sq_bind_text(st, 3, byoc_studio_event_name(w->in.studio.event));
    sq_bind_text(st, 4, w->in.studio.contact_id);
    sq_bind_text(st, 5, w->in.studio.thread_id);
    sq_bind_text(st, 6, conv_id[0] ? conv_id : NULL);
    sqlite3_bind_int64(st, 7, w->in.studio.now);
    return sq_step_write(q, st);
}

static enum byoc_err studio_escalate(struct sq *q, struct byoc_write *w, const char *conv,
                                     const struct sq_conv_pre *c)
{
    if (c->state != BYOC_CONV_QUEUED && c->state != BYOC_CONV_BOT)
        return BYOC_ERR_OK;
    int64_t now = w->in.studio.now;
    enum byoc_err e = set_state(q, conv, BYOC_CONV_ESCALATED, w->in.studio.skill, now);
    struct ev_escalation ev = {.source = "studio",
                               .contact_id = w->in.studio.contact_id,
                               .skill = w->in.studio.skill,
                               .reason = w->in.studio.reason,
                               .agent_name = w->in.studio.agent_name,
                               .agent_avatar = w->in.studio.agent_avatar};
    if (!e)
        e = sq_emit(q, w, conv, BYOC_EVENT_ESCALATED, ev_data_escalated(&ev), now);
    w->out.studio.changed = !e;
    w->out.studio.state = BYOC_CONV_ESCALATED;
    return e;
}

static enum byoc_err studio_end_escalation(struct sq *q, struct byoc_write *w, const char *conv,
                                           const struct sq_conv_pre *c)
{
    if (c->state == BYOC_CONV_BOT || c->state == BYOC_CONV_ENDED)
        return BYOC_ERR_OK;
    int64_t now = w->in.studio.now;
    enum byoc_err e = set_state(q, conv, BYOC_CONV_BOT, NULL, now);
    if (!e)
        e = sq_emit(q, w, conv, BYOC_EVENT_ESCALATION_ENDED,
                    ev_data_studio(w->in.studio.contact_id, w->in.studio.reason), now);
    w->out.studio.changed = !e;
    w->out.studio.state = BYOC_CONV_BOT;
    return e;
}

static enum byoc_err studio_release(struct sq *q, struct byoc_write *w, const char *conv,
                                    const struct sq_conv_pre *c)
{
    if (c->state == BYOC_CONV_ENDED)
        return BYOC_ERR_OK;
    int64_t now = w->in.studio.now;
    const char *reason =
        w->in.studio.reason ? w->in.studio.reason : "the agent closed the contact in CXone";
    enum byoc_err e = sq_emit(q, w, conv, BYOC_EVENT_RELEASED,
                              ev_data_studio(w->in.studio.contact_id, w->in.studio.reason), now);
    if (!e)
        e = sq_end_conversation(q, w, conv, "agent", reason, w->in.studio.close_msg, now);
    w->out.studio.changed = !e;
    w->out.studio.state = BYOC_CONV_ENDED;
    return e;
}

static enum byoc_err studio_event(struct sq *q, struct byoc_write *w)
{
    char conv[BYOC_ID_MAX] = "";
    enum byoc_err e =
        sq_find_conversation(q, w->in.studio.provider_id, w->in.studio.contact_id, conv);
    if (!e && !conv[0])
        e = sq_find_conversation(q, w->in.studio.provider_id, w->in.studio.thread_id, conv);
    if (!e)
        e = store_call(q, w, conv);
    w->out.studio.matched = conv[0] != '\0';
    w->out.studio.changed = false;
    byoc_strlcpy(w->out.studio.conversation_id, conv, BYOC_ID_MAX);
    if (e || !conv[0])
        return e; /* an unknown contact is stored for the admin, not an error */
    struct sq_conv_pre c;
    e = sq_conv_pre(q, conv, &c);
    w->out.studio.state = c.state;
    if (!e && w->in.studio.event == BYOC_STUDIO_ESCALATE)
        e = studio_escalate(q, w, conv, &c);
    else if (!e && w->in.studio.event == BYOC_STUDIO_END_ESCALATION)
        e = studio_end_escalation(q, w, conv, &c);
    else if (!e)
        e = studio_release(q, w, conv, &c);
    sq_conv_pre_release(&c);
    return e;
}

enum byoc_err sq_apply_events(struct sq *q, struct byoc_write *w)
{
    switch (w->kind) {
    case BYOC_WRITE_WEBHOOK_CREATE:
        return webhook_create(q, w->in.webhook);
    case BYOC_WRITE_WEBHOOK_DELETE:
        return webhook_ref(q, w, false);
    case BYOC_WRITE_WEBHOOK_ROTATE:
        return webhook_ref(q, w, true);
    case BYOC_WRITE_DELIVERY_CLAIM:
        return delivery_claim(q, w);
    case BYOC_WRITE_DELIVERY_OUTCOMES:
        return delivery_outcomes(q, w);
    case BYOC_WRITE_DELIVERY_REPLAY:
        return w->in.replay.delivery_id ? replay_one(q, w) : replay_all(q, w);
    case BYOC_WRITE_STUDIO_EVENT:
        return studio_event(q, w);
    default:
        return BYOC_ERR_INTERNAL;
    }
}

/* ---- readers ---- */

int64_t sq_delivery_next_due(void *state)
{
    return sq_read_int(state, STMT_DL_NEXT_DUE, INT64_MAX);
}

enum byoc_err sq_webhook_list(void *state, const char *provider_id, struct byoc_webhook **out,
                              size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_WH_LIST);
    sq_bind_text(st, 1, provider_id);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_webhook, rel_webhook, (void **)out, n);
    sq_reader_put(c);
    return e;
}

enum byoc_err sq_event_list(void *state, const char *provider_id, const char *conversation_id,
                            int64_t after, size_t limit, struct byoc_event **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, conversation_id ? STMT_EV_LIST_CONV : STMT_EV_LIST);
    int i = 1;
    sq_bind_text(st, i++, provider_id);
    if (conversation_id)
        sq_bind_text(st, i++, conversation_id);
    sqlite3_bind_int64(st, i++, after);
    sqlite3_bind_int64(st, i, (sqlite3_int64)limit);
    enum byoc_err e = sq_collect_rows(c, st, sizeof **out, row_event, rel_event, (void **)out, n);
    sq_reader_put(c);
    return e;
}

enum byoc_err sq_delivery_list(void *state, int state_filter, const char *provider_id,
                               const char *webhook_id, int64_t after, size_t limit,
                               struct byoc_delivery **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_DL_LIST);
    sqlite3_bind_int64(st, 1, after);
    sq_bind_text(
        st, 2,
        state_filter < 0 ? NULL : byoc_delivery_state_name((enum byoc_delivery_state)state_filter));
    sq_bind_text(st, 3, provider_id);
    sq_bind_text(st, 4, webhook_id);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)limit);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_delivery, rel_delivery, (void **)out, n);
    sq_reader_put(c);
    return e;
}

static void row_studio(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_studio_call *s = item;
    s->cursor = sqlite3_column_int64(st, 0);
    sq_col_id(st, 1, s->id);
    sq_col_id(st, 2, s->provider_id);
    s->event = sq_col_text(st, 3, ok);
    s->contact_id = sq_col_text(st, 4, ok);
    s->thread_id = sq_col_text(st, 5, ok);
    s->conversation_id = sq_col_text(st, 6, ok);
    s->received_at = sqlite3_column_int64(st, 7);
}

static void rel_studio(void *item)
{
    byoc_studio_call_release(item);
}

enum byoc_err sq_studio_call_list(void *state, const char *provider_id, bool unmatched_only,
                                  int64_t after, size_t limit, struct byoc_studio_call **out,
                                  size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_STUDIO_LIST);
    sq_bind_text(st, 1, provider_id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, unmatched_only);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    enum byoc_err e = sq_collect_rows(c, st, sizeof **out, row_studio, rel_studio, (void **)out, n);
    sq_reader_put(c);
    return e;
}
