/* SQLite backend, relay half: conversations, the ordered outbound queue, idempotency keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/util.h"
#include "store/event-data.h"
#include "store/sqlite-internal.h"
#include "store/store-internal.h"
#include "byoc/banned.h"

/* ---- rows ---- */

static void row_conversation(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_conversation *c = item;
    c->cursor = sqlite3_column_int64(st, 0);
    sq_col_id(st, 1, c->id);
    sq_col_id(st, 2, c->provider_id);
    c->channel_id = sq_col_text(st, 3, ok);
    c->thread_id = sq_col_text(st, 4, ok);
    c->end_user_id = sq_col_text(st, 5, ok);
    c->end_user_json = sq_col_text(st, 6, ok);
    c->reason = sq_col_text(st, 7, ok);
    c->skill_id = sq_col_text(st, 8, ok);
    const unsigned char *state = sqlite3_column_text(st, 9);
    if (!state || !byoc_conv_state_parse((const char *)state, &c->state))
        c->state = BYOC_CONV_QUEUED;
    c->cxone_contact_id = sq_col_text(st, 10, ok);
    c->cxone_case_id = sq_col_text(st, 11, ok);
    c->cxone_interaction_id = sq_col_text(st, 12, ok);
    c->agent_name = sq_col_text(st, 13, ok);
    c->agent_avatar_url = sq_col_text(st, 14, ok);
    c->ended_by = sq_col_text(st, 15, ok);
    c->ended_reason = sq_col_text(st, 16, ok);
    c->created_at = sqlite3_column_int64(st, 17);
    c->updated_at = sqlite3_column_int64(st, 18);
    c->ended_at = sqlite3_column_int64(st, 19);
    c->inactive_at = sqlite3_column_int64(st, 20);
}

static void row_outbound(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_outbound *m = item;
    sq_col_id(st, 0, m->id);
    sq_col_id(st, 1, m->conversation_id);
    m->seq = sqlite3_column_int64(st, 2);
    const unsigned char *kind = sqlite3_column_text(st, 3);
    if (!kind || !byoc_out_kind_parse((const char *)kind, &m->kind))
        m->kind = BYOC_OUT_TEXT;
    m->client_message_id = sq_col_text(st, 4, ok);
    m->payload = sq_col_text(st, 5, ok);
    const unsigned char *state = sqlite3_column_text(st, 6);
    if (!state || !byoc_out_state_parse((const char *)state, &m->state))
        m->state = BYOC_OUT_QUEUED;
    m->attempts = sqlite3_column_int64(st, 7);
    m->next_attempt_at = sqlite3_column_int64(st, 8);
    m->deadline_at = sqlite3_column_int64(st, 9);
    m->delivered_at = sqlite3_column_int64(st, 10);
    m->created_at = sqlite3_column_int64(st, 11);
    m->last_error = sq_col_text(st, 12, ok);
}

static void rel_conversation(void *c)
{
    byoc_conversation_release(c);
}

static void rel_outbound(void *m)
{
    byoc_outbound_release(m);
}

/* ---- writer helpers ---- */

/* Stores the answer for an Idempotency-Key; if the key was used before, loads the earlier answer
 * into w->idem and returns CONFLICT so the caller stops (its savepoint is rolled back). */
static enum byoc_err idem_claim(struct sq *q, const char *provider_id, const struct byoc_idem *k,
                                int64_t now, struct byoc_write *w)
{
    if (!k)
        return BYOC_ERR_OK;
    sqlite3_stmt *st = sq_wstmt(q, STMT_IDEM_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, k->key);
    sq_bind_blob(st, 3, k->request_hash, BYOC_SHA256_LEN);
    sqlite3_bind_int(st, 4, k->status);
    sq_bind_text(st, 5, k->body);
    sqlite3_bind_int64(st, 6, now);
    enum byoc_err e = sq_step_write(q, st);
    if (e || sqlite3_changes(q->w.db) == 1)
        return e;
    st = sq_wstmt(q, STMT_IDEM_GET);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, k->key);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    uint8_t stored[BYOC_SHA256_LEN];
    if (ok)
        sq_col_hash(st, 0, stored);
    bool same = ok && byoc_ct_equal(stored, k->request_hash, sizeof stored);
    w->idem.hit = same;
    w->idem.status = same ? sqlite3_column_int(st, 1) : 0;
    w->idem.body = same ? sq_col_text(st, 2, &ok) : NULL;
    sq_stmt_done(st);
    return same ? BYOC_ERR_CONFLICT : BYOC_ERR_IDEMPOTENCY_REUSED;
}

static enum byoc_err insert_outbound(struct sq *q, const struct byoc_outbound *m,
                                     const char *conversation_id, int64_t seq)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_INSERT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, m->id);
    sq_bind_text(st, 2, conversation_id);
    sqlite3_bind_int64(st, 3, seq);
    sq_bind_text(st, 4, byoc_out_kind_name(m->kind));
    sq_bind_text(st, 5, m->client_message_id);
    sq_bind_text(st, 6, m->payload);
    sqlite3_bind_int64(st, 7, m->created_at);
    sqlite3_bind_int64(st, 8, m->deadline_at);
    return sq_step_write(q, st);
}

static enum byoc_err apply_open(struct sq *q, struct byoc_write *w)
{
    const struct byoc_conversation *c = w->in.open.conv;
    enum byoc_err e = idem_claim(q, c->provider_id, w->in.open.idem, c->created_at, w);
    sqlite3_stmt *st = e ? NULL : sq_wstmt(q, STMT_CONV_INSERT);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_text(st, 1, c->id);
    sq_bind_text(st, 2, c->provider_id);
    sq_bind_text(st, 3, c->channel_id);
    sq_bind_text(st, 4, c->thread_id);
    sq_bind_text(st, 5, c->end_user_id);
    sq_bind_text(st, 6, c->end_user_json);
    sq_bind_text(st, 7, c->reason);
    sq_bind_text(st, 8, c->skill_id);
    sqlite3_bind_int64(st, 9, c->created_at);
    sqlite3_bind_int64(st, 10, (int64_t)w->in.open.nmsgs + 1);
    if (c->inactive_at)
        sqlite3_bind_int64(st, 11, c->inactive_at);
    else
        sqlite3_bind_null(st, 11);
    e = sq_step_write(q, st);
    for (size_t i = 0; !e && i < w->in.open.nmsgs; i++)
        e = insert_outbound(q, &w->in.open.msgs[i], c->id, (int64_t)i + 1);
    return e;
}

struct conv_for_add {
    enum byoc_conv_state state;
    int64_t next_seq, inactivity_s;
};

static enum byoc_err conv_for_add(struct sq *q, const char *provider_id, const char *conv_id,
                                  struct conv_for_add *out)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_FOR_ADD);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv_id);
    sq_bind_text(st, 2, provider_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *state = sqlite3_column_text(st, 0);
        if (!state || !byoc_conv_state_parse((const char *)state, &out->state))
            out->state = BYOC_CONV_QUEUED;
        out->next_seq = sqlite3_column_int64(st, 1);
        out->inactivity_s = sqlite3_column_int64(st, 2);
    }
    sq_stmt_done(st);
    if (rc == SQLITE_ROW)
        return BYOC_ERR_OK;
    return rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND : sq_write_fail(q);
}

/* The id stored before under this client message id, into out; NOT_FOUND if none. */
static enum byoc_err by_client_id(struct sq *q, const char *conv_id, const char *client_id,
                                  char out[BYOC_ID_MAX])
{
    if (!client_id)
        return BYOC_ERR_NOT_FOUND;
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_BY_CLIENT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv_id);
    sq_bind_text(st, 2, client_id);
    return sq_step_id(q, st, out);
}

/* Appends m after everything queued in its conversation; touches the inactivity timer. */
static enum byoc_err append(struct sq *q, const struct byoc_outbound *m, const char *conv_id,
                            const struct conv_for_add *c, bool activity, int64_t now)
{
    enum byoc_err e = insert_outbound(q, m, conv_id, c->next_seq);
    sqlite3_stmt *st = e ? NULL : sq_wstmt(q, STMT_CONV_BUMP_SEQ);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_text(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, activity && c->inactivity_s > 0 ? now + c->inactivity_s * 1000 : 0);
    return sq_step_write(q, st);
}

static enum byoc_err apply_add(struct sq *q, struct byoc_write *w)
{
    const struct byoc_outbound *m = w->in.add.msg;
    struct conv_for_add c;
    enum byoc_err e = conv_for_add(q, w->in.add.provider_id, m->conversation_id, &c);
    if (e)
        return e;
    e = by_client_id(q, m->conversation_id, m->client_message_id, w->out.add.id);
    if (e != BYOC_ERR_NOT_FOUND) {
        w->out.add.duplicate = e == BYOC_ERR_OK;
        return e; /* a retry with the same client message id: the first answer stands */
    }
    if (c.state == BYOC_CONV_ENDED)
        return BYOC_ERR_CONFLICT;
    e = idem_claim(q, w->in.add.provider_id, w->in.add.idem, w->in.add.now, w);
    if (!e)
        e = append(q, m, m->conversation_id, &c, w->in.add.user_activity, w->in.add.now);
    if (!e)
        byoc_strlcpy(w->out.add.id, m->id, BYOC_ID_MAX);
    return e;
}

enum byoc_err sq_end_conversation(struct sq *q, struct byoc_write *w, const char *conv_id,
                                  const char *by, const char *reason,
                                  const struct byoc_outbound *close_msg, int64_t now)
{
    struct conv_for_add c;
    enum byoc_err e = conv_for_add(q, NULL, conv_id, &c);
    if (e || c.state == BYOC_CONV_ENDED)
        return e;
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_END);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv_id);
    sq_bind_text(st, 2, by);
    sq_bind_text(st, 3, reason);
    sqlite3_bind_int64(st, 4, now);
    e = sq_step_write(q, st);
    if (!e)
        e = sq_emit(q, w, conv_id, BYOC_EVENT_ENDED, ev_data_ended(by, reason), now);
    return e ? e : append(q, close_msg, conv_id, &c, false, now);
}

static enum byoc_err apply_end(struct sq *q, struct byoc_write *w)
{
    struct conv_for_add c;
    enum byoc_err e = conv_for_add(q, w->in.end.provider_id, w->in.end.conversation_id, &c);
    if (!e)
        e = idem_claim(q, w->in.end.provider_id ? w->in.end.provider_id : "",
                       w->in.end.provider_id ? w->in.end.idem : NULL, w->in.end.now, w);
    if (!e)
        e = sq_end_conversation(q, w, w->in.end.conversation_id, w->in.end.ended_by,
                                w->in.end.reason, w->in.end.close_msg, w->in.end.now);
    return e;
}

/* True when the conversation has a delivered text (CXone opened a contact for it). */
static enum byoc_err text_delivered(struct sq *q, const char *conversation_id, bool *out)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_TEXT_DELIVERED);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conversation_id);
    int64_t exists = 0;
    enum byoc_err e = sq_step_int(q, st, &exists);
    *out = exists != 0;
    return e;
}

static enum byoc_err load_job(struct sq *q, const char *msg_id, struct byoc_relay_job *job)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_GET);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, msg_id);
    enum byoc_err e = sq_one_row(&q->w, st, row_outbound, rel_outbound, &job->msg);
    st = e ? NULL : sq_wstmt(q, STMT_CONV_GET);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_text(st, 1, job->msg.conversation_id);
    sqlite3_bind_null(st, 2);
    e = sq_one_row(&q->w, st, row_conversation, rel_conversation, &job->conv);
    bool delivered = false;
    if (!e)
        e = text_delivered(q, job->msg.conversation_id, &delivered);
    job->first_text = !delivered;
    return e;
}

/* Takes the most overdue head-of-line message (one per conversation at a time) and leases it. */
static enum byoc_err apply_claim(struct sq *q, struct byoc_write *w)
{
    w->out.job = NULL;
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_PICK);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, w->in.claim.now);
    char id[BYOC_ID_MAX] = "";
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        sq_col_id(st, 0, id);
    sq_stmt_done(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? BYOC_ERR_OK : sq_write_fail(q);
    st = sq_wstmt(q, STMT_OUT_MARK_SENDING);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, w->in.claim.now + w->in.claim.lease_ms);
    enum byoc_err e = sq_step_write(q, st);
    struct byoc_relay_job *job = e ? NULL : calloc(1, sizeof *job);
    if (!e && !job)
        e = BYOC_ERR_NOMEM;
    if (!e)
        e = load_job(q, id, job);
    if (e) {
        byoc_relay_job_free(job);
        return e;
    }
    w->out.job = job;
    return BYOC_ERR_OK;
}

/* message.failed for each text queued behind a failed opening message (they fail with it). */
static void row_failed_text(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_outbound *m = item;
    sq_col_id(st, 0, m->id);
    m->client_message_id = sq_col_text(st, 1, ok);
    m->attempts = sqlite3_column_int64(st, 2);
}

static enum byoc_err fail_rest_events(struct sq *q, struct byoc_write *w, const char *conv,
                                      const char *reason, int64_t now)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_FAIL_REST_TEXT);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv);
    struct byoc_outbound *rows = NULL;
    size_t n = 0;
    enum byoc_err e =
        sq_collect_rows(&q->w, st, sizeof *rows, row_failed_text, rel_outbound, (void **)&rows, &n);
    if (e && e != BYOC_ERR_NOMEM)
        return sq_write_fail(q); /* a storage failure fails the batch */
    for (size_t i = 0; !e && i < n; i++)
        e = sq_emit(
            q, w, conv, BYOC_EVENT_MESSAGE_FAILED,
            ev_data_message(rows[i].id, rows[i].client_message_id, rows[i].attempts, reason), now);
    byoc_outbound_list_free(rows, n);
    return e;
}

/* The opening message failed: the conversation ends (if it still was queued) and nothing queued
 * behind it can reach an agent (even if the conversation was ended meanwhile). */
static enum byoc_err opening_failed(struct sq *q, struct byoc_write *w)
{
    const char *conv = w->in.outcome.conversation_id;
    int64_t now = w->in.outcome.now;
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_FAIL);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, conv);
    sq_bind_text(st, 2, w->in.outcome.last_error);
    sqlite3_bind_int64(st, 3, now);
    enum byoc_err e = sq_step_write(q, st);
    bool ended_now = !e && sqlite3_changes(q->w.db) > 0;
    static const char rest[] = "the conversation could not be opened in CXone";
    if (!e)
        e = fail_rest_events(q, w, conv, rest, now);
    st = e ? NULL : sq_wstmt(q, STMT_OUT_FAIL_REST);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_text(st, 1, conv);
    e = sq_step_write(q, st);
    if (!e && ended_now)
        e = sq_emit(q, w, conv, BYOC_EVENT_ENDED,
                    ev_data_ended("failure", w->in.outcome.last_error), now);
    return e;
}

/* CXone accepted a text: the conversation has its contact; the first one escalates it. */
static enum byoc_err text_accepted(struct sq *q, struct byoc_write *w)
{
    const char *conv = w->in.outcome.conversation_id;
    struct sq_conv_pre pre;
    enum byoc_err e = sq_conv_pre(q, conv, &pre);
    sqlite3_stmt *st = e ? NULL : sq_wstmt(q, STMT_CONV_CONTACT);
    if (!st) {
        sq_conv_pre_release(&pre);
        return e ? e : q->batch_err;
    }
    sq_bind_text(st, 1, conv);
    sq_bind_text(st, 2, w->in.outcome.contact_id);
    sq_bind_text(st, 3, w->in.outcome.case_id);
    sq_bind_text(st, 4, w->in.outcome.interaction_id);
    sqlite3_bind_int64(st, 5, w->in.outcome.now);
    e = sq_step_write(q, st);
    if (!e && pre.state == BYOC_CONV_QUEUED) {
        struct ev_escalation ev = {.source = "relay",
                                   .contact_id = w->in.outcome.contact_id,
                                   .case_id = w->in.outcome.case_id,
                                   .interaction_id = w->in.outcome.interaction_id};
        e = sq_emit(q, w, conv, BYOC_EVENT_ESCALATED, ev_data_escalated(&ev), w->in.outcome.now);
    }
    sq_conv_pre_release(&pre);
    return e;
}

/* A text's final outcome: message.delivered (after conversation.escalated when it opened the
 * contact) or message.failed (before the conversation ends when it was the opening one). */
static enum byoc_err conversation_outcome(struct sq *q, struct byoc_write *w)
{
    bool delivered = w->in.outcome.state == BYOC_OUT_DELIVERED, opened = delivered;
    enum byoc_err e =
        delivered ? BYOC_ERR_OK : text_delivered(q, w->in.outcome.conversation_id, &opened);
    if (!e && delivered)
        e = text_accepted(q, w);
    if (!e)
        e = sq_emit(q, w, w->in.outcome.conversation_id,
                    delivered ? BYOC_EVENT_MESSAGE_DELIVERED : BYOC_EVENT_MESSAGE_FAILED,
                    ev_data_message(w->in.outcome.message_id, w->in.outcome.client_message_id,
                                    w->in.outcome.attempt,
                                    delivered ? NULL : w->in.outcome.last_error),
                    w->in.outcome.now);
    if (!e && !opened)
        e = opening_failed(q, w); /* a later text that failed leaves the conversation be */
    return e;
}

static enum byoc_err apply_outcome(struct sq *q, struct byoc_write *w)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_OUTCOME);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, w->in.outcome.message_id);
    sq_bind_text(st, 2, byoc_out_state_name(w->in.outcome.state));
    sqlite3_bind_int64(st, 3, w->in.outcome.next_attempt_at);
    sq_bind_text(st, 4, w->in.outcome.last_error);
    sqlite3_bind_int64(st, 5, w->in.outcome.now);
    sqlite3_bind_int64(st, 6, w->in.outcome.attempt);
    enum byoc_err e = sq_step_write(q, st);
    if (!e && sqlite3_changes(q->w.db) == 0)
        return BYOC_ERR_NOT_FOUND; /* the lease ran out: another claim owns the message now */
    bool final = w->in.outcome.state != BYOC_OUT_QUEUED;
    return (!e && final && w->in.outcome.text) ? conversation_outcome(q, w) : e;
}

/* Ids of conversations idle past their deadline (at most 100 per call). */
static enum byoc_err idle_ids(struct sq *q, int64_t now, char (*ids)[BYOC_ID_MAX], size_t *n)
{
    sqlite3_stmt *st = sq_wstmt(q, STMT_CONV_IDLE);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, now);
    int rc;
    *n = 0;
    for (rc = sqlite3_step(st); rc == SQLITE_ROW && *n < 100; rc = sqlite3_step(st))
        sq_col_id(st, 0, ids[(*n)++]);
    sq_stmt_done(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? BYOC_ERR_OK : sq_write_fail(q);
}

static enum byoc_err apply_housekeep(struct sq *q, struct byoc_write *w)
{
    int64_t now = w->in.housekeep.now;
    sqlite3_stmt *st = sq_wstmt(q, STMT_OUT_LEASES);
    if (!st)
        return q->batch_err;
    sqlite3_bind_int64(st, 1, now);
    enum byoc_err e = sq_step_write(q, st);
    st = e ? NULL : sq_wstmt(q, STMT_VOICE_PURGE);
    if (!e && !st)
        e = q->batch_err;
    if (!e) {
        sqlite3_bind_int64(st, 1, now);
        e = sq_step_write(q, st);
    }
    st = e ? NULL : sq_wstmt(q, STMT_IDEM_PURGE);
    if (!e && !st)
        e = q->batch_err;
    if (!e) { /* a retry comes within minutes; keys are kept a day */
        sqlite3_bind_int64(st, 1, now - BYOC_IDEMPOTENCY_KEEP_MS);
        e = sq_step_write(q, st);
    }
    if (!e)
        e = sq_delivery_leases(q, now, w->in.housekeep.delivery_deadline_ms);
    if (!e && w->in.housekeep.event_keep_ms > 0)
        e = sq_event_purge(q, now - w->in.housekeep.event_keep_ms);
    static char ids[100][BYOC_ID_MAX]; /* writer thread only */
    size_t n = 0;
    if (!e)
        e = idle_ids(q, now, ids, &n);
    w->out.ended = 0;
    for (size_t i = 0; !e && i < n; i++) {
        struct byoc_outbound close = {.kind = BYOC_OUT_CLOSE,
                                      .payload = "{}",
                                      .created_at = now,
                                      .deadline_at = now + w->in.housekeep.close_deadline_ms};
        e = byoc_id_new("out", close.id);
        if (!e)
            e = sq_end_conversation(q, w, ids[i], "inactivity",
                                    "the end user sent nothing within the inactivity timeout",
                                    &close, now);
        w->out.ended += e ? 0 : 1;
    }
    return e;
}

/* Runs an UPDATE/DELETE keyed by (provider, key); *changed tells whether a row matched. */
static enum byoc_err idem_by_key(struct sq *q, enum stmt_id id, const char *provider_id,
                                 const char *key, const struct byoc_idem *answer, bool *changed)
{
    sqlite3_stmt *st = sq_wstmt(q, id);
    if (!st)
        return q->batch_err;
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, key);
    if (answer) {
        sqlite3_bind_int(st, 3, answer->status);
        sq_bind_text(st, 4, answer->body);
    }
    enum byoc_err e = sq_step_write(q, st);
    if (changed)
        *changed = !e && sqlite3_changes(q->w.db) > 0;
    return e;
}

/* Fills the key's reservation with the answer, or stores it when there was none. */
static enum byoc_err idem_fill(struct sq *q, struct byoc_write *w)
{
    const struct byoc_idem *k = w->in.idem_put.idem;
    bool filled = false;
    enum byoc_err e =
        idem_by_key(q, STMT_IDEM_FILL, w->in.idem_put.provider_id, k->key, k, &filled);
    return (e || filled) ? e : idem_claim(q, w->in.idem_put.provider_id, k, w->in.idem_put.now, w);
}

static enum byoc_err apply_voice_put(struct sq *q, struct byoc_write *w)
{
    const struct byoc_voice_transcript *v = w->in.voice.v;
    enum byoc_err e = idem_claim(q, v->provider_id, w->in.voice.reserve, w->in.voice.now, w);
    sqlite3_stmt *st = e ? NULL : sq_wstmt(q, STMT_VOICE_PUT);
    if (!st)
        return e ? e : q->batch_err;
    sq_bind_blob(st, 1, v->key_hash, BYOC_SHA256_LEN);
    sq_bind_text(st, 2, v->provider_id);
    sq_bind_text(st, 3, v->contact_id);
    sq_bind_text(st, 4, v->transcript_json);
    sqlite3_bind_int64(st, 5, v->created_at);
    sqlite3_bind_int64(st, 6, v->expires_at);
    return sq_step_write(q, st);
}

/* Moves every pending schedule by the wall clock's step, so each keeps the wait it had left. */
static enum byoc_err apply_clock_step(struct sq *q, int64_t delta_ms)
{
    static const enum stmt_id shifts[] = {STMT_SHIFT_OUTBOUND,   STMT_SHIFT_INACTIVE,
                                          STMT_SHIFT_VOICE,      STMT_SHIFT_SESSIONS,
                                          STMT_SHIFT_DELIVERIES, STMT_SHIFT_WEBHOOKS};
    enum byoc_err e = BYOC_ERR_OK;
    for (size_t i = 0; !e && i < sizeof shifts / sizeof *shifts; i++) {
        sqlite3_stmt *st = sq_wstmt(q, shifts[i]);
        if (!st)
            return BYOC_ERR_STORE_IO;
        sqlite3_bind_int64(st, 1, delta_ms);
        e = sq_step_write(q, st);
    }
    return e;
}

enum byoc_err sq_apply_relay(struct sq *q, struct byoc_write *w)
{
    switch (w->kind) {
    case BYOC_WRITE_CONVERSATION_OPEN:
        return apply_open(q, w);
    case BYOC_WRITE_OUTBOUND_ADD:
        return apply_add(q, w);
    case BYOC_WRITE_CONVERSATION_END:
        return apply_end(q, w);
    case BYOC_WRITE_RELAY_CLAIM:
        return apply_claim(q, w);
    case BYOC_WRITE_RELAY_OUTCOME:
        return apply_outcome(q, w);
    case BYOC_WRITE_RELAY_HOUSEKEEP:
        return apply_housekeep(q, w);
    case BYOC_WRITE_VOICE_TRANSCRIPT_PUT:
        return apply_voice_put(q, w);
    case BYOC_WRITE_IDEM_PUT:
        return idem_fill(q, w);
    case BYOC_WRITE_IDEM_RELEASE:
        return idem_by_key(q, STMT_IDEM_RELEASE, w->in.idem_put.provider_id,
                           w->in.idem_put.idem->key, NULL, NULL);
    case BYOC_WRITE_CLOCK_STEP:
        return apply_clock_step(q, w->in.clock_step.delta_ms);
    default:
        return sq_apply_events(q, w);
    }
}

/* ---- readers ---- */

enum byoc_err sq_provider_by_bot_key(void *state, const uint8_t *hash, struct byoc_provider *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_PROVIDER_BY_BOT);
    sq_bind_blob(st, 1, hash, BYOC_SHA256_LEN);
    *out = (struct byoc_provider){0};
    enum byoc_err e = sq_one_row(c, st, sq_row_provider, sq_rel_provider, out);
    sq_reader_put(c);
    return e;
}

enum byoc_err sq_conversation_get(void *state, const char *provider_id, const char *id,
                                  struct byoc_conversation *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_CONV_GET);
    sq_bind_text(st, 1, id);
    sq_bind_text(st, 2, provider_id);
    *out = (struct byoc_conversation){0};
    enum byoc_err e = sq_one_row(c, st, row_conversation, rel_conversation, out);
    sq_reader_put(c);
    return e;
}

enum byoc_err sq_conversation_list(void *state, const char *provider_id, int state_filter,
                                   const char *end_user_id, int64_t after, size_t limit,
                                   struct byoc_conversation **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_CONV_LIST);
    sq_bind_text(st, 1, provider_id);
    sqlite3_bind_int64(st, 2, after);
    sq_bind_text(
        st, 3, state_filter < 0 ? NULL : byoc_conv_state_name((enum byoc_conv_state)state_filter));
    sq_bind_text(st, 4, end_user_id);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)limit);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_conversation, rel_conversation, (void **)out, n);
    sq_reader_put(c);
    return e;
}

enum byoc_err sq_outbound_list(void *state, const char *conversation_id, size_t limit,
                               struct byoc_outbound **out, size_t *n)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_OUT_LIST);
    sq_bind_text(st, 1, conversation_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    enum byoc_err e =
        sq_collect_rows(c, st, sizeof **out, row_outbound, rel_outbound, (void **)out, n);
    sq_reader_put(c);
    for (size_t i = 0; !e && i < *n / 2; i++) { /* newest first from SQL; oldest first out */
        struct byoc_outbound tmp = (*out)[i];
        (*out)[i] = (*out)[*n - 1 - i];
        (*out)[*n - 1 - i] = tmp;
    }
    return e;
}

enum byoc_err sq_idem_get(void *state, const char *provider_id, const char *key,
                          uint8_t *request_hash, int *status, char **body)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_IDEM_GET);
    sq_bind_text(st, 1, provider_id);
    sq_bind_text(st, 2, key);
    int rc = sqlite3_step(st);
    bool ok = true;
    if (rc == SQLITE_ROW) {
        sq_col_hash(st, 0, request_hash);
        *status = sqlite3_column_int(st, 1);
        *body = sq_col_text(st, 2, &ok);
    }
    enum byoc_err e = rc == SQLITE_ROW    ? (ok ? BYOC_ERR_OK : BYOC_ERR_NOMEM)
                      : rc == SQLITE_DONE ? BYOC_ERR_NOT_FOUND
                                          : sq_map_rc(sqlite3_extended_errcode(c->db));
    sq_stmt_done(st);
    sq_reader_put(c);
    return e;
}

int64_t sq_relay_next_due(void *state)
{
    return sq_read_int(state, STMT_OUT_NEXT_DUE, INT64_MAX);
}

static void row_voice(sqlite3_stmt *st, void *item, bool *ok)
{
    struct byoc_voice_transcript *v = item;
    sq_col_hash(st, 0, v->key_hash);
    sq_col_id(st, 1, v->provider_id);
    v->contact_id = sq_col_text(st, 2, ok);
    v->transcript_json = sq_col_text(st, 3, ok);
    v->created_at = sqlite3_column_int64(st, 4);
    v->expires_at = sqlite3_column_int64(st, 5);
}

static void rel_voice(void *v)
{
    byoc_voice_transcript_release(v);
}

enum byoc_err sq_voice_transcript_get(void *state, const uint8_t *key_hash, int64_t now_ms,
                                      struct byoc_voice_transcript *out)
{
    READ_BEGIN((struct sq *)state, c, st, STMT_VOICE_GET);
    sq_bind_blob(st, 1, key_hash, BYOC_SHA256_LEN);
    sqlite3_bind_int64(st, 2, now_ms);
    *out = (struct byoc_voice_transcript){0};
    enum byoc_err e = sq_one_row(c, st, row_voice, rel_voice, out);
    sq_reader_put(c);
    return e;
}
