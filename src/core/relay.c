#include "byoc/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/log.h"
#include "byoc/provider.h"
#include "byoc/banned.h"

#define HOUSEKEEP_EVERY_MS 1000
#define ERROR_TEXT_MAX 320

struct byoc_relay {
    struct byoc_store *store;
    const struct byoc_keys *keys;
    struct byoc_cxone_tokens *tokens;
    struct byoc_relay_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping, work;
    atomic_llong last_housekeep; /* monotonic ms; whichever thread is free runs it when due */
    unsigned nthreads;
    pthread_t threads[BYOC_RELAY_THREADS];
};

enum verdict { V_DELIVERED, V_RETRY, V_FAIL };

/* What one attempt came to, in words for the bot developer. */
struct attempt {
    enum verdict verdict;
    long retry_after_s;
    char error[ERROR_TEXT_MAX];
    struct byoc_cxone_result res;
};

int64_t byoc_relay_backoff_ms(int64_t attempts, int64_t cap_ms, long retry_after_s)
{
    return byoc_backoff_ms(attempts, BYOC_RELAY_BACKOFF_BASE_MS, cap_ms, BYOC_RELAY_RETRY_FLOOR_MS,
                           retry_after_s);
}

static enum verdict classify(const struct byoc_cxone_result *res, enum byoc_out_kind kind)
{
    if (res->err)
        return (res->err == BYOC_ERR_UPSTREAM_NET || res->err == BYOC_ERR_UPSTREAM_TIMEOUT ||
                res->err == BYOC_ERR_NOMEM)
                   ? V_RETRY
                   : V_FAIL;
    long s = res->status;
    if (s >= 200 && s < 300)
        return V_DELIVERED;
    if (s == 409 && kind == BYOC_OUT_TEXT)
        return V_DELIVERED; /* this idOnExternalPlatform is already in CXone: an earlier try won */
    /* CXONE.md 5: never retry a 4xx other than 401 (after a refresh), 408, 409, 429. */
    if (s == 401 || s == 408 || s == 409 || s == 429 || s >= 500)
        return V_RETRY;
    return V_FAIL;
}

static void describe(struct attempt *a)
{
    const struct byoc_cxone_result *r = &a->res;
    if (r->err)
        snprintf(a->error, sizeof a->error, "%s", byoc_strerror(r->err));
    else
        snprintf(a->error, sizeof a->error, "CXone answered %ld%s%s", r->status,
                 r->detail[0] ? ": " : "", r->detail);
}

/* ---- one attempt ---- */

static cJSON *identity(const struct byoc_conversation *c)
{
    cJSON *u = NULL, *id = cJSON_CreateObject();
    if (byoc_json_parse(c->end_user_json, strlen(c->end_user_json), &u) != BYOC_ERR_OK)
        u = NULL;
    static const char *const map[][2] = {{"first_name", "firstName"},
                                         {"last_name", "lastName"},
                                         {"nickname", "nickname"},
                                         {"image_url", "image"}};
    bool ok = id && byoc_json_add_str(id, "idOnExternalPlatform", c->end_user_id);
    for (size_t i = 0; ok && i < BYOC_ARRAY_LEN(map); i++) {
        const char *v = byoc_json_str(u, map[i][0]);
        if (v)
            ok = byoc_json_add_str(id, map[i][1], v);
    }
    cJSON_Delete(u);
    if (!ok) {
        cJSON_Delete(id);
        return NULL;
    }
    return id;
}

static bool add_attachments(cJSON *body, const cJSON *payload)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(payload, "attachments"), *it;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return true;
    cJSON *out = cJSON_AddArrayToObject(body, "attachments");
    bool ok = out != NULL;
    cJSON_ArrayForEach(it, list)
    {
        cJSON *a = ok ? cJSON_CreateObject() : NULL;
        ok = a && cJSON_AddItemToArray(out, a) &&
             byoc_json_add_str(a, "friendlyName", byoc_json_str(it, "name")) &&
             byoc_json_add_str(a, "url", byoc_json_str(it, "url"));
    }
    return ok;
}

static bool add_custom_fields(cJSON *body, const cJSON *payload)
{
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(payload, "custom_fields"), *it;
    if (!cJSON_IsObject(fields) || !fields->child)
        return true;
    cJSON *contact = cJSON_AddObjectToObject(body, "contact");
    cJSON *list = contact ? cJSON_AddArrayToObject(contact, "customFields") : NULL;
    bool ok = list != NULL;
    cJSON_ArrayForEach(it, fields)
    {
        cJSON *f = ok ? cJSON_CreateObject() : NULL;
        ok = f && cJSON_AddItemToArray(list, f) && byoc_json_add_str(f, "ident", it->string) &&
             byoc_json_add_str(f, "value", cJSON_IsString(it) ? it->valuestring : "");
    }
    return ok;
}

/* The DFO message for a text job. */
static cJSON *message_body(const struct byoc_relay_job *job, const cJSON *payload)
{
    char at[BYOC_TIME_ISO_MAX];
    byoc_time_iso(job->msg.created_at, at);
    cJSON *b = cJSON_CreateObject(), *who = identity(&job->conv);
    cJSON *thread = b ? cJSON_AddObjectToObject(b, "thread") : NULL;
    cJSON *content = b ? cJSON_AddObjectToObject(b, "messageContent") : NULL;
    cJSON *pl = content ? cJSON_AddObjectToObject(content, "payload") : NULL;
    bool ok = pl && who && cJSON_AddItemToObject(b, "authorEndUserIdentity", who);
    if (!ok)
        cJSON_Delete(who);
    ok = ok && byoc_json_add_str(b, "idOnExternalPlatform", job->msg.id) &&
         byoc_json_add_str(b, "direction", "inbound") &&
         byoc_json_add_str(b, "createdAtWithMilliseconds", at) &&
         byoc_json_add_str(thread, "idOnExternalPlatform", job->conv.thread_id) &&
         byoc_json_add_str(content, "type", "TEXT") &&
         byoc_json_add_str(pl, "text", byoc_json_str(payload, "text")) &&
         add_attachments(b, payload) && add_custom_fields(b, payload);
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* Uploads the attachments marked "private" and points them at CXone's copies; false with res
 * describing the failure. */
static bool upload_private(const char *api, const char *token, cJSON *payload,
                           struct byoc_cxone_result *res)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(payload, "attachments"), *it;
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "private")))
            continue;
        char *copy = NULL;
        byoc_cxone_upload_attachment(api, token, byoc_json_str(it, "url"),
                                     byoc_json_str(it, "mime_type"), &copy, res);
        cJSON *url = copy ? cJSON_CreateString(copy) : NULL;
        free(copy);
        if (!url || !cJSON_ReplaceItemInObjectCaseSensitive(it, "url", url)) {
            cJSON_Delete(url);
            if (!res->err && res->status >= 200 && res->status < 300)
                res->err = BYOC_ERR_NOMEM;
            return false;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(it, "private");
        byoc_cxone_result_release(res);
    }
    *res = (struct byoc_cxone_result){.retry_after_s = -1};
    return true;
}

static void send_text(const char *api, const char *token, const struct byoc_relay_job *job,
                      const cJSON *payload, struct byoc_cxone_result *res)
{
    cJSON *pl = cJSON_Duplicate(payload, true), *body = NULL;
    if (!pl) {
        *res = (struct byoc_cxone_result){.err = BYOC_ERR_NOMEM, .retry_after_s = -1};
        return;
    }
    if (upload_private(api, token, pl, res)) {
        body = message_body(job, pl);
        if (body)
            byoc_cxone_post_message(api, token, job->conv.channel_id, body, res);
        else
            *res = (struct byoc_cxone_result){.err = BYOC_ERR_NOMEM, .retry_after_s = -1};
    }
    cJSON_Delete(body);
    cJSON_Delete(pl);
}

static void send_job(const struct byoc_provider *p, const char *token,
                     const struct byoc_relay_job *job, const cJSON *payload,
                     struct byoc_cxone_result *res)
{
    const char *api = p->cxone_api_base_url;
    const struct byoc_conversation *c = &job->conv;
    switch (job->msg.kind) {
    case BYOC_OUT_TEXT:
        send_text(api, token, job, payload, res);
        return;
    case BYOC_OUT_TYPING:
        byoc_cxone_typing(api, token, c->channel_id, c->thread_id,
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(payload, "typing")), res);
        return;
    case BYOC_OUT_CLOSE:
        byoc_cxone_close_thread(api, token, c->channel_id, c->thread_id, res);
        return;
    case BYOC_OUT_ROUTING:
        if (!c->cxone_case_id) { /* CXone never told its contact id: nothing to route */
            *res = (struct byoc_cxone_result){.status = 422, .retry_after_s = -1};
            snprintf(res->detail, sizeof res->detail,
                     "CXone's contact id for this conversation is unknown");
            return;
        }
        byoc_cxone_routing_queue(api, token, c->cxone_case_id, byoc_json_str(payload, "queue_id"),
                                 res);
        return;
    }
}

struct send_arg {
    const struct byoc_provider *p;
    const struct byoc_relay_job *job;
    const cJSON *payload;
};

static void send_with(const char *bearer, void *arg, struct byoc_cxone_result *r)
{
    const struct send_arg *a = arg;
    send_job(a->p, bearer, a->job, a->payload, r);
}

/* A token CXone would not give: worth retrying, as the credentials may be fixed in time. */
static void token_failure(struct attempt *a)
{
    enum byoc_err e = a->res.err;
    a->verdict =
        (e == BYOC_ERR_NOMEM || e == BYOC_ERR_UPSTREAM_NET || e == BYOC_ERR_UPSTREAM_TIMEOUT ||
         e == BYOC_ERR_UPSTREAM_AUTH || e == BYOC_ERR_UPSTREAM)
            ? V_RETRY
            : V_FAIL;
    snprintf(a->error, sizeof a->error, "no CXone token: %s%s%s", byoc_strerror(e),
             a->res.detail[0] ? ": " : "", a->res.detail);
}

/* Loads the provider and its credentials, then attempts; a = the outcome. */
static void attempt(struct byoc_relay *r, const struct byoc_relay_job *job, struct attempt *a)
{
    struct byoc_provider p;
    struct byoc_cxone_login login = {0};
    cJSON *payload = NULL;
    enum byoc_err e = byoc_store_provider_get(r->store, job->conv.provider_id, &p);
    if (!e) {
        e = byoc_cxone_login_open(r->keys, &p, &login);
        if (!e)
            e = byoc_json_parse(job->msg.payload, strlen(job->msg.payload), &payload);
        if (!e) {
            struct send_arg sa = {&p, job, payload};
            bool token_failed = false;
            byoc_cxone_with_token(r->tokens, &login.creds, send_with, &sa, &a->res, &token_failed);
            if (token_failed) {
                token_failure(a);
            } else {
                a->verdict = classify(&a->res, job->msg.kind);
                a->retry_after_s = a->res.retry_after_s;
                describe(a);
            }
        }
        byoc_provider_release(&p);
    }
    if (e) { /* the provider is gone, or its sealed credentials do not open: nothing to retry */
        a->verdict = e == BYOC_ERR_STORE_BUSY || e == BYOC_ERR_STORE_IO ? V_RETRY : V_FAIL;
        snprintf(a->error, sizeof a->error, "byocd could not prepare the message: %s",
                 byoc_strerror(e));
    }
    cJSON_Delete(payload);
    byoc_cxone_login_release(&login);
}

static void log_outcome(const struct byoc_relay_job *job, const struct attempt *a,
                        enum byoc_out_state state)
{
    if (state == BYOC_OUT_DELIVERED)
        return;
    struct byoc_log_line l;
    byoc_log_begin(&l, state == BYOC_OUT_FAILED ? BYOC_LOG_WARN : BYOC_LOG_INFO, "relay",
                   state == BYOC_OUT_FAILED ? "message failed" : "message will be retried");
    byoc_log_str(&l, "conversation_id", job->conv.id);
    byoc_log_str(&l, "message_id", job->msg.id);
    byoc_log_str(&l, "kind", byoc_out_kind_name(job->msg.kind));
    byoc_log_int(&l, "attempts", (long long)job->msg.attempts);
    byoc_log_str(&l, "error", a->error);
    byoc_log_end(&l);
}

/* Nothing to tell CXone: typing or closing a conversation CXone never received. */
static bool nothing_to_send(const struct byoc_relay_job *job)
{
    return job->first_text && job->msg.kind != BYOC_OUT_TEXT && job->msg.kind != BYOC_OUT_ROUTING;
}

static void process(struct byoc_relay *r, struct byoc_relay_job *job)
{
    struct attempt a = {.verdict = V_DELIVERED, .retry_after_s = -1};
    if (!nothing_to_send(job))
        attempt(r, job, &a);
    int64_t now = byoc_now_ms();
    int64_t next = now;
    enum byoc_out_state state = a.verdict == V_DELIVERED ? BYOC_OUT_DELIVERED
                                : a.verdict == V_FAIL    ? BYOC_OUT_FAILED
                                                         : BYOC_OUT_QUEUED;
    if (state == BYOC_OUT_QUEUED) {
        next = now + byoc_relay_backoff_ms(job->msg.attempts, r->cfg.retry_cap_ms, a.retry_after_s);
        if (next > job->msg.deadline_at) {
            state = BYOC_OUT_FAILED;
            char last[ERROR_TEXT_MAX];
            snprintf(last, sizeof last, "%s", a.error);
            snprintf(a.error, sizeof a.error, "gave up at the deadline; last error: %.*s",
                     (int)(sizeof a.error - 40), last);
        }
    }
    log_outcome(job, &a, state);
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_OUTCOME};
    w.in.outcome.message_id = job->msg.id;
    w.in.outcome.conversation_id = job->conv.id;
    w.in.outcome.client_message_id = job->msg.client_message_id;
    w.in.outcome.state = state;
    w.in.outcome.attempt = job->msg.attempts;
    w.in.outcome.text = job->msg.kind == BYOC_OUT_TEXT;
    w.in.outcome.next_attempt_at = next;
    w.in.outcome.now = now;
    w.in.outcome.last_error = state == BYOC_OUT_DELIVERED ? NULL : a.error;
    w.in.outcome.case_id = a.res.case_id;
    w.in.outcome.contact_id = a.res.contact_id;
    w.in.outcome.interaction_id = a.res.interaction_id;
    enum byoc_err e = byoc_store_write(r->store, &w);
    if (e && e != BYOC_ERR_NOT_FOUND) { /* the lease will run out and the message is resent */
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_ERROR, "relay", "outcome not recorded");
        byoc_log_err(&l, e);
        byoc_log_str(&l, "message_id", job->msg.id);
        byoc_log_end(&l);
    }
    byoc_cxone_result_release(&a.res);
}

/* ---- threads ---- */

static void housekeep(struct byoc_relay *r)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_HOUSEKEEP};
    w.in.housekeep.now = byoc_now_ms();
    w.in.housekeep.close_deadline_ms = BYOC_RELAY_CLOSE_DEADLINE_MS;
    w.in.housekeep.event_keep_ms = r->cfg.event_keep_ms;
    w.in.housekeep.delivery_deadline_ms = r->cfg.delivery_deadline_ms;
    enum byoc_err e = byoc_store_write(r->store, &w);
    if (!e && w.out.ended > 0) {
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_INFO, "relay", "ended idle conversations");
        byoc_log_int(&l, "count", (long long)w.out.ended);
        byoc_log_end(&l);
    }
}

static struct byoc_relay_job *claim(struct byoc_relay *r)
{
    struct byoc_write w = {.kind = BYOC_WRITE_RELAY_CLAIM};
    w.in.claim.now = byoc_now_ms();
    w.in.claim.lease_ms = r->cfg.lease_ms;
    if (byoc_store_write(r->store, &w) == BYOC_ERR_OK)
        return w.out.job;
    byoc_relay_job_free(w.out.job); /* the batch failed after the claim was loaded */
    return NULL;
}

/* Sleeps until kicked, the next message is due, or the poll interval passes. */
static void idle_wait(struct byoc_relay *r)
{
    int64_t now = byoc_now_ms(), due = byoc_store_relay_next_due(r->store);
    int64_t wait_ms = due == INT64_MAX ? BYOC_RELAY_POLL_MS : due - now;
    if (wait_ms > BYOC_RELAY_POLL_MS)
        wait_ms = BYOC_RELAY_POLL_MS;
    if (wait_ms < 1)
        wait_ms = 1;
    struct timespec until; /* on the monotonic clock (cv's attribute): a step cannot stretch it */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->mu);
    if (!r->work && !r->stopping)
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    r->work = false;
    pthread_mutex_unlock(&r->mu);
}

static bool stopping(struct byoc_relay *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* True for the one thread that should run housekeeping now. */
static bool housekeeping_due(struct byoc_relay *r)
{
    long long last = atomic_load(&r->last_housekeep), now = byoc_mono_ms();
    return now - last >= HOUSEKEEP_EVERY_MS &&
           atomic_compare_exchange_strong(&r->last_housekeep, &last, now);
}

static void *relay_main(void *arg)
{
    struct byoc_relay *r = arg;
    while (!stopping(r)) {
        if (housekeeping_due(r))
            housekeep(r);
        struct byoc_relay_job *job = claim(r);
        if (job) {
            process(r, job);
            byoc_relay_job_free(job);
        } else {
            idle_wait(r);
        }
    }
    return NULL;
}

enum byoc_err byoc_relay_start(struct byoc_store *store, const struct byoc_keys *keys,
                               struct byoc_cxone_tokens *tokens,
                               const struct byoc_relay_config *cfg, struct byoc_relay **out)
{
    struct byoc_relay *r = calloc(1, sizeof *r);
    if (!r)
        return BYOC_ERR_NOMEM;
    *r = (struct byoc_relay){.store = store, .keys = keys, .tokens = tokens, .cfg = *cfg};
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned want = cfg->threads ? cfg->threads : 1;
    if (want > BYOC_RELAY_THREADS)
        want = BYOC_RELAY_THREADS;
    atomic_init(&r->last_housekeep, byoc_mono_ms() - HOUSEKEEP_EVERY_MS);
    for (; r->nthreads < want; r->nthreads++) {
        if (pthread_create(&r->threads[r->nthreads], NULL, relay_main, r) != 0) {
            byoc_relay_stop(r);
            return BYOC_ERR_INTERNAL;
        }
    }
    *out = r;
    return BYOC_ERR_OK;
}

void byoc_relay_kick(struct byoc_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->work = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void byoc_relay_stop(struct byoc_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
