/*
 * cxsim_console — the CXone simulator's agent console: the contacts byocd's DFO calls create,
 * the console page and its API, and the worker that calls byocd the way CXone does.
 *
 * Console API (JSON; errors are {"errors":[{"message"}]} with a 4xx):
 *   GET  /console                          the page (text/html, self-contained)
 *   GET  /console/avatar.svg               the sample agent's avatar
 *   GET  /console/api/contacts             {"contacts": [contact, newest first], "misbehave":
 *                                          {delay_ms, failures_left, fail_status}, "byocd": bool}
 *        contact: {id, channel_id, thread_id, customer {id, name}, status (new|open|closed),
 *                  customer_typing, custom_fields [{ident, value}], messages [{id, direction
 *                  (inbound|outbound), text, author, at, state, detail?}], events [{id, event,
 *                  state (pending|done|failed), detail?}]}
 *   POST /console/api/contacts/{id}/messages  {"text", "agent"?: {"name"?, "avatar_url"?}}
 *        -> 202 {"id"}; the worker posts it to byocd's box: pending, then sent or failed
 *   POST /console/api/contacts/{id}/events    {"event": ESCALATE|END_ESCALATION|ONRELEASE}
 *        -> 202 {"id"}; the worker posts it to byocd's Studio-events endpoint
 *   POST /console/api/misbehave            {"delay_ms"?, "fail"?: {status, count, retry_after_s?},
 *                                          "expire_tokens"?, "reset"?} -> 200 misbehave
 * 404: unknown contact; 400: bad body; 409: contact closed, or byocd not known yet. A body the HTTP
 * layer refuses before the console sees it (not JSON, too large) gets byocd's error shape
 * {"error":{"code","message"}}. misbehave's fail.status may be any 400-599.
 *
 * How CXone calls byocd (as far as public sources tell, see ../shared/CXONE.md): a bearer from
 * the Authorization URL (client credentials as JSON), fetched when first needed and again after
 * a 401; agent replies POSTed to {box}/1.0/posts/{thread}/messages with the DFO message shape;
 * 429, 5xx and network errors retried with backoff, other 4xx not.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/outbound.h"
#include "byoc/util.h"
#include "sandbox/cxsim-internal.h"
#include "sandbox/pages.h"
#include "byoc/banned.h"

#define CONSOLE_CONTACTS_MAX 200        /* contacts kept; the oldest goes first */
#define CONSOLE_MESSAGES_MAX 500        /* messages kept per contact; the oldest goes first */
#define CONSOLE_EVENTS_MAX 50           /* Studio events kept per contact */
#define CONSOLE_TEXT_MAX 8000           /* longest agent reply, in bytes */
#define CONSOLE_TYPING_MS 30000         /* "customer is typing" without a new isTypingOn */
#define CONSOLE_JOBS_MAX 1000           /* agent actions waiting for byocd */
#define CONSOLE_ATTEMPTS 6              /* tries per action before it is failed */
#define CONSOLE_BACKOFF_FIRST_MS 500    /* first pause before a retry; doubles each time */
#define CONSOLE_DELAY_MAX_MS 10000      /* misbehave: longest answer delay */
#define CONSOLE_FAIL_COUNT_MAX 100      /* misbehave: most injected failures at once */
#define CONSOLE_RETRY_AFTER_MAX_S 3600  /* misbehave: longest Retry-After */
#define CONSOLE_CONNECT_TIMEOUT_MS 2000 /* a call to byocd (on loopback) */
#define CONSOLE_CALL_TIMEOUT_MS 5000    /* bounds how long stopping waits for the worker too */
#define CONSOLE_DETAIL_MAX 256
#define CONSOLE_URL_MAX 2048
#define CONSOLE_AGENT_NAME_MAX 128 /* bytes of an agent's name, with the NUL */
#define CONSOLE_DEFAULT_AGENT "Jo Agent"

enum job_kind { JOB_REPLY, JOB_EVENT };

struct fc_job {
    struct fc_job *next;
    enum job_kind kind;
    unsigned long contact;
    char *item_id; /* the message or event id in the contact record */
    char *path;    /* for a reply: the thread (post) id; for an event: NULL */
    char *body;    /* JSON to send */
    bool release;  /* an ONRELEASE event: done closes the contact */
};

/* ---------------------------------------------------------------- contact records */

/* The time now as the console shows it. */
static void now_iso(char out[BYOC_TIME_ISO_MAX])
{
    byoc_time_iso(byoc_now_ms(), out);
}

cJSON *cxsim_console_contact(struct byoc_cxsim *f, unsigned long contact)
{
    cJSON *c = NULL;
    cJSON_ArrayForEach(c, f->console)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        if (cJSON_IsNumber(id) && (unsigned long)id->valuedouble == contact)
            return c;
    }
    return NULL;
}

static cJSON *contact_by_thread(struct byoc_cxsim *f, const char *channel, const char *thread)
{
    cJSON *c = NULL;
    cJSON_ArrayForEach(c, f->console)
    {
        const char *ch = byoc_json_str(c, "channel_id");
        const char *th = byoc_json_str(c, "thread_id");
        if (ch && th && strcmp(ch, channel) == 0 && strcmp(th, thread) == 0)
            return c;
    }
    return NULL;
}

/* Appends item to the array member `name`, dropping the oldest past max. */
static void append_capped(cJSON *obj, const char *name, cJSON *item, int max)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, name);
    cJSON_AddItemToArray(list, item);
    while (cJSON_GetArraySize(list) > max)
        cJSON_DeleteItemFromArray(list, 0);
}

static void set_str(cJSON *obj, const char *name, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    cJSON_AddStringToObject(obj, name, value ? value : "");
}

/* "First Last", else the nickname, else "". */
static void customer_name(const cJSON *who, char *out, size_t cap)
{
    const char *first = byoc_json_str(who, "firstName");
    const char *last = byoc_json_str(who, "lastName");
    const char *nick = byoc_json_str(who, "nickname");
    if (first || last)
        snprintf(out, cap, "%s%s%s", first ? first : "", first && last ? " " : "",
                 last ? last : "");
    else
        snprintf(out, cap, "%s", nick ? nick : "");
}

static cJSON *contact_new(struct byoc_cxsim *f, unsigned long n, const char *channel,
                          const cJSON *msg)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "id", (double)n);
    cJSON_AddStringToObject(c, "channel_id", channel);
    const cJSON *thread = cJSON_GetObjectItemCaseSensitive(msg, "thread");
    const char *tid = byoc_json_str(thread, "idOnExternalPlatform");
    cJSON_AddStringToObject(c, "thread_id", tid ? tid : "");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(msg, "authorEndUserIdentity");
    char name[256];
    customer_name(who, name, sizeof(name));
    cJSON *customer = cJSON_AddObjectToObject(c, "customer");
    const char *uid = byoc_json_str(who, "idOnExternalPlatform");
    cJSON_AddStringToObject(customer, "id", uid ? uid : "");
    cJSON_AddStringToObject(customer, "name", name);
    cJSON_AddStringToObject(c, "status", "new");
    cJSON_AddNumberToObject(c, "typing_until_ms", 0);
    cJSON_AddArrayToObject(c, "custom_fields");
    cJSON_AddArrayToObject(c, "messages");
    cJSON_AddArrayToObject(c, "events");
    cJSON_AddItemToArray(f->console, c);
    while (cJSON_GetArraySize(f->console) > CONSOLE_CONTACTS_MAX)
        cJSON_DeleteItemFromArray(f->console, 0);
    return c;
}

void cxsim_console_custom_fields(struct byoc_cxsim *f, unsigned long contact, const cJSON *fields)
{
    cJSON *c = cxsim_console_contact(f, contact);
    cJSON *list = c ? cJSON_GetObjectItemCaseSensitive(c, "custom_fields") : NULL;
    const cJSON *in = NULL;
    cJSON_ArrayForEach(in, fields)
    {
        const char *ident = byoc_json_str(in, "ident");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(in, "value");
        if (!list || !ident || !value)
            continue;
        cJSON *item = NULL, *found = NULL;
        cJSON_ArrayForEach(item, list)
        {
            const char *have = byoc_json_str(item, "ident");
            if (have && strcmp(have, ident) == 0)
                found = item;
        }
        if (!found) {
            found = cJSON_CreateObject();
            cJSON_AddStringToObject(found, "ident", ident);
            cJSON_AddItemToArray(list, found);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(found, "value");
        char *printed = cJSON_IsString(value) ? NULL : cJSON_PrintUnformatted(value);
        cJSON_AddStringToObject(found, "value", printed ? printed : value->valuestring);
        free(printed);
    }
}

/* The text an agent sees: the payload text, then one line per attachment. */
static char *message_text(const cJSON *msg)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "messageContent");
    const char *text = byoc_json_str(cJSON_GetObjectItemCaseSensitive(content, "payload"), "text");
    size_t cap = (text ? strlen(text) : 0) + 1;
    const cJSON *att = NULL, *atts = cJSON_GetObjectItemCaseSensitive(msg, "attachments");
    cJSON_ArrayForEach(att, atts)
    {
        const char *name = byoc_json_str(att, "friendlyName");
        const char *url = byoc_json_str(att, "url");
        cap += (name ? strlen(name) : 0) + (url ? strlen(url) : 0) + 32;
    }
    char *out = cxsim_xrealloc(NULL, cap);
    size_t n = (size_t)snprintf(out, cap, "%s", text ? text : "");
    cJSON_ArrayForEach(att, atts)
    {
        const char *name = byoc_json_str(att, "friendlyName");
        const char *url = byoc_json_str(att, "url");
        n += (size_t)snprintf(out + n, cap - n, "%s[attachment] %s %s", n ? "\n" : "",
                              name ? name : "", url ? url : "");
    }
    return out;
}

void cxsim_console_inbound(struct byoc_cxsim *f, unsigned long contact, const char *channel,
                           const cJSON *msg)
{
    cJSON *c = cxsim_console_contact(f, contact);
    if (!c)
        c = contact_new(f, contact, channel, msg);
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(msg, "contact");
    cxsim_console_custom_fields(f, contact,
                                cJSON_GetObjectItemCaseSensitive(extra, "customFields"));
    cJSON *m = cJSON_CreateObject();
    const char *id = byoc_json_str(msg, "idOnExternalPlatform");
    cJSON_AddStringToObject(m, "id", id ? id : "");
    cJSON_AddStringToObject(m, "direction", "inbound");
    char *text = message_text(msg);
    cJSON_AddStringToObject(m, "text", text);
    free(text);
    const cJSON *customer = cJSON_GetObjectItemCaseSensitive(c, "customer");
    cJSON_AddStringToObject(m, "author", byoc_json_str(customer, "name"));
    const char *at = byoc_json_str(msg, "createdAtWithMilliseconds");
    char now[BYOC_TIME_ISO_MAX];
    now_iso(now);
    cJSON_AddStringToObject(m, "at", at ? at : now);
    cJSON_AddStringToObject(m, "state", "received");
    append_capped(c, "messages", m, CONSOLE_MESSAGES_MAX);
    cJSON_SetNumberHelper(cJSON_GetObjectItemCaseSensitive(c, "typing_until_ms"), 0);
}

void cxsim_console_typing(struct byoc_cxsim *f, const char *channel, const char *thread, bool on)
{
    cJSON *c = contact_by_thread(f, channel, thread);
    if (c)
        cJSON_SetNumberHelper(cJSON_GetObjectItemCaseSensitive(c, "typing_until_ms"),
                              on ? (double)(byoc_now_ms() + CONSOLE_TYPING_MS) : 0);
}

void cxsim_console_closed(struct byoc_cxsim *f, const char *channel, const char *thread)
{
    cJSON *c = contact_by_thread(f, channel, thread);
    if (c)
        set_str(c, "status", "closed");
}

/* ---------------------------------------------------------------- the worker: calls to byocd */

static void wipe_free(const char *s)
{
    if (s)
        byoc_wipe((char *)s, strlen(s));
    free((char *)s);
}

static void job_free(struct fc_job *j)
{
    if (!j)
        return;
    free(j->item_id);
    free(j->path);
    free(j->body);
    free(j);
}

/* Finds the message or event `id` of a contact (lock held). */
static cJSON *find_item(struct byoc_cxsim *f, unsigned long contact, const char *list,
                        const char *id)
{
    cJSON *c = cxsim_console_contact(f, contact), *item = NULL;
    cJSON *items = c ? cJSON_GetObjectItemCaseSensitive(c, list) : NULL;
    cJSON_ArrayForEach(item, items)
    {
        const char *have = byoc_json_str(item, "id");
        if (have && strcmp(have, id) == 0)
            return item;
    }
    return NULL;
}

static void job_update(struct byoc_cxsim *f, const struct fc_job *j, const char *state,
                       const char *detail)
{
    pthread_mutex_lock(&f->mu);
    cJSON *item =
        find_item(f, j->contact, j->kind == JOB_REPLY ? "messages" : "events", j->item_id);
    if (item) {
        set_str(item, "state", state);
        set_str(item, "detail", detail);
    }
    pthread_mutex_unlock(&f->mu);
}

/* A copy of the target's field (lock held); "" when there is no target. */
static char *target_dup(struct byoc_cxsim *f, size_t offset)
{
    const char *v = f->target ? *(const char *const *)((const char *)f->target + offset) : NULL;
    return cxsim_xstrdup(v ? v : "");
}

/* POSTs body to url with bearer; the status, or -1 with detail on a network error. */
static long post_json(const char *url, const char *bearer, const char *body, char **answer,
                      char *detail, size_t cap)
{
    struct byoc_out_req req = {.method = "POST",
                               .url = url,
                               .content_type = "application/json",
                               .body = body,
                               .body_len = strlen(body),
                               .bearer = bearer,
                               .connect_timeout_ms = CONSOLE_CONNECT_TIMEOUT_MS,
                               .total_timeout_ms = CONSOLE_CALL_TIMEOUT_MS,
                               .no_proxy = true};
    struct byoc_out_resp resp = {0};
    enum byoc_err e = byoc_out_do(&req, &resp);
    if (e) {
        snprintf(detail, cap, "cannot reach byocd: %s", byoc_strerror(e));
        return -1;
    }
    long status = resp.status;
    if (answer)
        *answer = cxsim_xstrdup(resp.body);
    byoc_out_resp_release(&resp);
    return status;
}

/* Fetches a bearer from byocd's token endpoint, caches it in f->byocd_token and gives the
 * caller its own copy in *out. 200, the endpoint's other status, or -1 (network) with detail. */
static long fetch_token(struct byoc_cxsim *f, char **out, char *detail, size_t cap)
{
    pthread_mutex_lock(&f->mu);
    char *url = target_dup(f, offsetof(struct byoc_cxsim_byocd, token_url));
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "client_id",
                          cJSON_CreateString(f->target ? f->target->client_id : ""));
    cJSON_AddItemToObject(body, "client_secret",
                          cJSON_CreateString(f->target ? f->target->client_secret : ""));
    cJSON_AddStringToObject(body, "grant_type", "client_credentials");
    pthread_mutex_unlock(&f->mu);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *answer = NULL;
    long status = text ? post_json(url, NULL, text, &answer, detail, cap) : -1;
    free(url);
    byoc_wipe(text, text ? strlen(text) : 0);
    free(text);
    cJSON *j = status == 200 && answer ? cJSON_Parse(answer) : NULL;
    const char *token = byoc_json_str(j, "access_token");
    if (token) {
        *out = cxsim_xstrdup(token);
        pthread_mutex_lock(&f->mu);
        free(f->byocd_token);
        f->byocd_token = cxsim_xstrdup(token);
        pthread_mutex_unlock(&f->mu);
    } else if (status >= 0) {
        snprintf(detail, cap, "byocd's token endpoint answered %ld", status);
        status = status == 200 ? 502 : status; /* a 200 without a token: retried as a 5xx */
    }
    cJSON_Delete(j);
    free(answer);
    return status;
}

/* One agent reply to the box: a cached bearer, a new one after 401 (once). The HTTP status (the
 * token endpoint's when it gave no token), or -1 with detail. */
static long send_reply(struct byoc_cxsim *f, const struct fc_job *j, char **answer, char *detail,
                       size_t cap)
{
    for (int round = 0; round < 2; round++) {
        pthread_mutex_lock(&f->mu);
        char *token = f->byocd_token ? cxsim_xstrdup(f->byocd_token) : NULL;
        char *box = target_dup(f, offsetof(struct byoc_cxsim_byocd, box_url));
        pthread_mutex_unlock(&f->mu);
        long got = token ? 200 : fetch_token(f, &token, detail, cap);
        if (got != 200) {
            free(box);
            return got;
        }
        char url[CONSOLE_URL_MAX];
        snprintf(url, sizeof(url), "%s/1.0/posts/%s/messages", box, j->path);
        free(box);
        long status = post_json(url, token, j->body, answer, detail, cap);
        byoc_wipe(token, strlen(token));
        free(token);
        if (status != 401 || round == 1)
            return status;
        free(*answer);
        *answer = NULL;
        pthread_mutex_lock(&f->mu);
        wipe_free(f->byocd_token); /* expired or unknown: CXone fetches a new one and retries */
        f->byocd_token = NULL;
        pthread_mutex_unlock(&f->mu);
    }
    return -1;
}

static long send_event(struct byoc_cxsim *f, const struct fc_job *j, char **answer, char *detail,
                       size_t cap)
{
    pthread_mutex_lock(&f->mu);
    char *url = target_dup(f, offsetof(struct byoc_cxsim_byocd, studio_url));
    char *secret = target_dup(f, offsetof(struct byoc_cxsim_byocd, studio_secret));
    pthread_mutex_unlock(&f->mu);
    long status = post_json(url, secret, j->body, answer, detail, cap);
    byoc_wipe(secret, strlen(secret));
    free(secret);
    free(url);
    return status;
}

/* What the console shows for a finished action (2xx). */
static void job_done(struct byoc_cxsim *f, const struct fc_job *j, const char *answer)
{
    cJSON *a = cJSON_Parse(answer ? answer : "");
    char detail[CONSOLE_DETAIL_MAX];
    if (j->kind == JOB_REPLY) {
        const char *id = byoc_json_str(a, "idOnExternalPlatform");
        snprintf(detail, sizeof(detail), "byocd stored it as %s", id ? id : "?");
    } else {
        const char *state = byoc_json_str(a, "state");
        bool changed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "changed"));
        snprintf(detail, sizeof(detail), "conversation %s%s", state ? state : "?",
                 changed ? "" : " (no change)");
    }
    cJSON_Delete(a);
    job_update(f, j, j->kind == JOB_REPLY ? "sent" : "done", detail);
    pthread_mutex_lock(&f->mu);
    cJSON *c = cxsim_console_contact(f, j->contact);
    if (c && j->kind == JOB_EVENT && j->release)
        set_str(c, "status", "closed");
    else if (c && j->kind == JOB_REPLY && strcmp(byoc_json_str(c, "status"), "new") == 0)
        set_str(c, "status", "open");
    pthread_mutex_unlock(&f->mu);
}

/* Sleeps ms unless the simulator stops first (lock not held). */
static bool pause_unless_stopping(struct byoc_cxsim *f, int ms)
{
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += ms / 1000;
    at.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (!f->stopping && pthread_cond_timedwait(&f->wake, &f->mu, &at) == 0)
        ;
    bool stopping = f->stopping;
    pthread_mutex_unlock(&f->mu);
    return !stopping;
}

/* Tries an action until it succeeds, fails for good, or the simulator stops. */
static void job_run(struct byoc_cxsim *f, const struct fc_job *j)
{
    int pause_ms = CONSOLE_BACKOFF_FIRST_MS;
    for (int attempt = 1; attempt <= CONSOLE_ATTEMPTS; attempt++) {
        char detail[CONSOLE_DETAIL_MAX] = "", *answer = NULL;
        long status = j->kind == JOB_REPLY ? send_reply(f, j, &answer, detail, sizeof(detail))
                                           : send_event(f, j, &answer, detail, sizeof(detail));
        if (status >= 200 && status < 300) {
            job_done(f, j, answer);
            free(answer);
            return;
        }
        free(answer);
        if (status >= 0)
            snprintf(detail, sizeof(detail), "byocd answered %ld", status);
        /* a 401 from the box already had its one new token; Studio secrets do not refresh */
        bool again = status < 0 || status == 408 || status == 429 || status >= 500;
        if (!again || attempt == CONSOLE_ATTEMPTS) {
            job_update(f, j, "failed", detail);
            return;
        }
        char retrying[CONSOLE_DETAIL_MAX + 32];
        snprintf(retrying, sizeof(retrying), "%s; retrying", detail);
        job_update(f, j, "pending", retrying);
        if (!pause_unless_stopping(f, pause_ms))
            return;
        pause_ms *= 2;
    }
}

static void *worker_main(void *arg)
{
    struct byoc_cxsim *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        struct fc_job *j = f->jobs_head;
        if (!j) {
            pthread_cond_wait(&f->wake, &f->mu);
            continue;
        }
        f->jobs_head = j->next;
        if (!f->jobs_head)
            f->jobs_tail = NULL;
        f->n_jobs--;
        pthread_mutex_unlock(&f->mu);
        job_run(f, j);
        job_free(j);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

bool cxsim_console_start(struct byoc_cxsim *f)
{
    f->worker_started = pthread_create(&f->worker, NULL, worker_main, f) == 0;
    return f->worker_started;
}

/* Forgets where byocd is and the bearer it gave (lock held). */
static void target_forget(struct byoc_cxsim *f)
{
    if (f->target) {
        free((char *)f->target->box_url);
        free((char *)f->target->token_url);
        free((char *)f->target->client_id);
        wipe_free(f->target->client_secret);
        free((char *)f->target->studio_url);
        wipe_free(f->target->studio_secret);
        free(f->target);
        f->target = NULL;
    }
    wipe_free(f->byocd_token);
    f->byocd_token = NULL;
}

void cxsim_console_release(struct byoc_cxsim *f)
{
    while (f->jobs_head) {
        struct fc_job *j = f->jobs_head;
        f->jobs_head = j->next;
        job_free(j);
    }
    f->jobs_tail = NULL;
    cJSON_Delete(f->console);
    f->console = NULL;
    target_forget(f);
}

void byoc_cxsim_set_byocd(struct byoc_cxsim *f, const struct byoc_cxsim_byocd *t)
{
    struct byoc_cxsim_byocd *copy = cxsim_xrealloc(NULL, sizeof(*copy));
    *copy = (struct byoc_cxsim_byocd){
        .box_url = cxsim_xstrdup(t->box_url ? t->box_url : ""),
        .token_url = cxsim_xstrdup(t->token_url ? t->token_url : ""),
        .client_id = cxsim_xstrdup(t->client_id ? t->client_id : ""),
        .client_secret = cxsim_xstrdup(t->client_secret ? t->client_secret : ""),
        .studio_url = cxsim_xstrdup(t->studio_url ? t->studio_url : ""),
        .studio_secret = cxsim_xstrdup(t->studio_secret ? t->studio_secret : ""),
    };
    pthread_mutex_lock(&f->mu);
    target_forget(f);
    f->target = copy;
    pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------- console handlers */

static void console_error(struct byoc_req *req, int status, const char *message)
{
    struct fc_reply r = {0};
    cxsim_reply_errors(&r, status, message, NULL);
    cxsim_send(req, &r);
}

static void console_json(struct byoc_req *req, int status, cJSON *json)
{
    struct fc_reply r = {0};
    cxsim_reply_json(&r, status, json);
    cxsim_send(req, &r);
}

static void serve_page(struct byoc_req *req, const char *name, const char *type)
{
    const struct byoc_page *p = byoc_page_find(name);
    char *body = p ? cxsim_xrealloc(NULL, p->len) : NULL;
    if (!p) {
        console_error(req, 404, "page not built in");
        return;
    }
    memcpy(body, p->data, p->len);
    /* Self-contained: nothing from another origin, so the page works offline. */
    byoc_reply_header(req, "Content-Security-Policy",
                      "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                      "img-src 'self' data:; frame-ancestors 'none'");
    byoc_reply_header(req, "Cache-Control", "no-store");
    byoc_reply(req, 200, type, body, p->len);
}

void cxsim_h_root(struct byoc_req *req)
{
    byoc_reply_redirect(req, "/console");
}

void cxsim_h_console_page(struct byoc_req *req)
{
    serve_page(req, "console.html", "text/html; charset=utf-8");
}

void cxsim_h_avatar(struct byoc_req *req)
{
    serve_page(req, "avatar.svg", "image/svg+xml");
}

/* Lock held. */
static cJSON *misbehave_json(const struct byoc_cxsim *f)
{
    int left = 0, status = 0;
    for (size_t i = 0; i < f->n_fails; i++) {
        left += f->fails[i].count > 0 ? f->fails[i].count : 0;
        if (!status && f->fails[i].count > 0)
            status = f->fails[i].status;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "delay_ms", f->delay_ms);
    cJSON_AddNumberToObject(m, "failures_left", left);
    cJSON_AddNumberToObject(m, "fail_status", status);
    return m;
}

/* A contact record as the console shows it (lock held). */
static cJSON *contact_view(const cJSON *c, int64_t now_ms)
{
    cJSON *v = cJSON_Duplicate(c, true);
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(c, "typing_until_ms");
    bool typing = cJSON_IsNumber(until) && until->valuedouble > (double)now_ms;
    cJSON_DeleteItemFromObjectCaseSensitive(v, "typing_until_ms");
    cJSON_AddBoolToObject(v, "customer_typing", typing);
    return v;
}

void cxsim_h_contacts(struct byoc_req *req)
{
    struct byoc_cxsim *f = byoc_req_app(req);
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "contacts");
    int64_t now = byoc_now_ms();
    pthread_mutex_lock(&f->mu);
    for (int i = cJSON_GetArraySize(f->console) - 1; i >= 0; i--)
        cJSON_AddItemToArray(list, contact_view(cJSON_GetArrayItem(f->console, i), now));
    cJSON_AddItemToObject(root, "misbehave", misbehave_json(f));
    cJSON_AddBoolToObject(root, "byocd", f->target != NULL);
    pthread_mutex_unlock(&f->mu);
    console_json(req, 200, root);
}

/* The contact named by the path (lock held); NULL after answering 404/409. */
static cJSON *open_contact_or_reply(struct byoc_cxsim *f, struct byoc_req *req, bool need_open)
{
    const char *p = byoc_req_param(req, "contact");
    char *end = NULL;
    unsigned long n = p ? strtoul(p, &end, 10) : 0;
    cJSON *c = p && end != p && !*end ? cxsim_console_contact(f, n) : NULL;
    const char *status = c ? byoc_json_str(c, "status") : NULL;
    if (!c)
        console_error(req, 404, "no such contact");
    else if (!f->target)
        console_error(req, 409, "the simulator does not know where byocd is yet");
    else if (need_open && status && strcmp(status, "closed") == 0)
        console_error(req, 409, "the contact is closed");
    else if (f->n_jobs >= CONSOLE_JOBS_MAX)
        console_error(req, 409, "too many actions are waiting for byocd");
    else
        return c;
    return NULL;
}

/* Queues an action for the worker (lock held); takes path and body. The job stays valid until
 * the lock is released. */
static struct fc_job *job_push(struct byoc_cxsim *f, enum job_kind kind, unsigned long contact,
                               const char *item_id, char *path, char *body)
{
    struct fc_job *j = cxsim_xrealloc(NULL, sizeof(*j));
    *j = (struct fc_job){.kind = kind,
                         .contact = contact,
                         .item_id = cxsim_xstrdup(item_id),
                         .path = path,
                         .body = body};
    if (f->jobs_tail)
        f->jobs_tail->next = j;
    else
        f->jobs_head = j;
    f->jobs_tail = j;
    f->n_jobs++;
    pthread_cond_broadcast(&f->wake);
    return j;
}

/* The agent's name and avatar from the request, with the sample agent as default; false (after
 * answering 400) when one does not fit, rather than send a cut name or another URL. */
static bool agent_or_reply(struct byoc_cxsim *f, struct byoc_req *req, const cJSON *body,
                           char name[CONSOLE_AGENT_NAME_MAX], char avatar[CONSOLE_URL_MAX])
{
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(body, "agent");
    const char *n = byoc_json_str(agent, "name");
    const char *a = byoc_json_str(agent, "avatar_url");
    int nl = snprintf(name, CONSOLE_AGENT_NAME_MAX, "%s", n && *n ? n : CONSOLE_DEFAULT_AGENT);
    int al = a ? snprintf(avatar, CONSOLE_URL_MAX, "%s", a)
               : snprintf(avatar, CONSOLE_URL_MAX, "%s/console/avatar.svg", f->url);
    if (nl < CONSOLE_AGENT_NAME_MAX && al < CONSOLE_URL_MAX)
        return true;
    console_error(req, 400, "the agent's name or avatar_url is too long");
    return false;
}

/* The box body CXone sends for an agent reply (the DFO message shape). */
static char *reply_body(const char *id, const char *thread, const char *text, const char *agent,
                        const char *avatar, const char *at)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddStringToObject(b, "direction", "outbound");
    cJSON_AddStringToObject(b, "createdAtWithMilliseconds", at);
    cJSON *content = cJSON_AddObjectToObject(b, "messageContent");
    cJSON_AddStringToObject(content, "type", "TEXT");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(content, "payload"), "text", text);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "thread"), "idOnExternalPlatform", thread);
    cJSON *who = cJSON_AddObjectToObject(b, "authorUser");
    const char *space = strchr(agent, ' ');
    char first[128];
    snprintf(first, sizeof(first), "%.*s", space ? (int)(space - agent) : (int)strlen(agent),
             agent);
    cJSON_AddNumberToObject(who, "id", 1001);
    cJSON_AddStringToObject(who, "firstName", first);
    cJSON_AddStringToObject(who, "surname", space ? space + 1 : "");
    cJSON_AddStringToObject(who, "nickname", agent);
    if (*avatar)
        cJSON_AddStringToObject(who, "imageUrl", avatar);
    char *text_out = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!text_out)
        abort(); /* out of memory: see cxsim.h */
    return text_out;
}

/* A reply or event the worker has yet to take to byocd, as the console lists it. */
static cJSON *pending_item(const char *id, const char *at)
{
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "id", id);
    cJSON_AddStringToObject(item, "at", at);
    cJSON_AddStringToObject(item, "state", "pending");
    cJSON_AddStringToObject(item, "detail", "");
    return item;
}

/* 202 {"id"}: queued for the worker. */
static void accepted(struct byoc_req *req, const char *id)
{
    cJSON *answer = cJSON_CreateObject();
    cJSON_AddStringToObject(answer, "id", id);
    console_json(req, 202, answer);
}

void cxsim_h_agent_message(struct byoc_req *req)
{
    struct byoc_cxsim *f = byoc_req_app(req);
    const cJSON *body = byoc_req_json(req);
    const char *text = byoc_json_str(body, "text");
    if (!text || !*text || strlen(text) > CONSOLE_TEXT_MAX) {
        char why[64];
        snprintf(why, sizeof(why), "text must be 1-%d bytes", CONSOLE_TEXT_MAX);
        console_error(req, 400, why);
        return;
    }
    char agent[CONSOLE_AGENT_NAME_MAX], avatar[CONSOLE_URL_MAX], id[64], at[BYOC_TIME_ISO_MAX];
    if (!agent_or_reply(f, req, body, agent, avatar))
        return;
    now_iso(at);
    pthread_mutex_lock(&f->mu);
    cJSON *c = open_contact_or_reply(f, req, true);
    if (!c) {
        pthread_mutex_unlock(&f->mu);
        return;
    }
    snprintf(id, sizeof(id), "agent-msg-%lu", ++f->n_agent_messages);
    cJSON *m = pending_item(id, at);
    cJSON_AddStringToObject(m, "direction", "outbound");
    cJSON_AddStringToObject(m, "text", text);
    cJSON_AddStringToObject(m, "author", agent);
    append_capped(c, "messages", m, CONSOLE_MESSAGES_MAX);
    const char *thread = byoc_json_str(c, "thread_id");
    job_push(f, JOB_REPLY, (unsigned long)cJSON_GetObjectItemCaseSensitive(c, "id")->valuedouble,
             id, cxsim_xstrdup(thread), reply_body(id, thread, text, agent, avatar, at));
    pthread_mutex_unlock(&f->mu);
    accepted(req, id);
}

static const char *studio_event_name(const char *s)
{
    static const char *const known[] = {"ESCALATE", "END_ESCALATION", "ONRELEASE"};
    for (size_t i = 0; s && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return NULL;
}

/* What a Studio script's REST action posts to byocd. */
static char *event_body(const char *event, unsigned long contact, const char *thread,
                        const char *agent)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "event", event);
    cJSON_AddNumberToObject(b, "contactId", (double)contact);
    cJSON_AddStringToObject(b, "threadId", thread);
    if (strcmp(event, "ESCALATE") == 0)
        cJSON_AddStringToObject(b, "agent", agent);
    cJSON_AddStringToObject(b, "reason", "sent from the agent console");
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!text)
        abort(); /* out of memory: see cxsim.h */
    return text;
}

void cxsim_h_studio_event(struct byoc_req *req)
{
    struct byoc_cxsim *f = byoc_req_app(req);
    const cJSON *body = byoc_req_json(req);
    const char *event = studio_event_name(byoc_json_str(body, "event"));
    if (!event) {
        console_error(req, 400, "event must be ESCALATE, END_ESCALATION or ONRELEASE");
        return;
    }
    char agent[CONSOLE_AGENT_NAME_MAX], avatar[CONSOLE_URL_MAX], id[64], at[BYOC_TIME_ISO_MAX];
    if (!agent_or_reply(f, req, body, agent, avatar))
        return;
    now_iso(at);
    pthread_mutex_lock(&f->mu);
    cJSON *c = open_contact_or_reply(f, req, false);
    if (!c) {
        pthread_mutex_unlock(&f->mu);
        return;
    }
    snprintf(id, sizeof(id), "studio-%lu", ++f->n_agent_messages);
    cJSON *e = pending_item(id, at);
    cJSON_AddStringToObject(e, "event", event);
    append_capped(c, "events", e, CONSOLE_EVENTS_MAX);
    unsigned long n = (unsigned long)cJSON_GetObjectItemCaseSensitive(c, "id")->valuedouble;
    struct fc_job *j = job_push(f, JOB_EVENT, n, id, NULL,
                                event_body(event, n, byoc_json_str(c, "thread_id"), agent));
    j->release = strcmp(event, "ONRELEASE") == 0;
    pthread_mutex_unlock(&f->mu);
    accepted(req, id);
}

/* An optional integer member within [lo, hi]; false when present and not such a number. */
static bool int_member(const cJSON *obj, const char *name, long lo, long hi, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        v->valuedouble != (double)(long)v->valuedouble)
        return false;
    *out = (long)v->valuedouble;
    return true;
}

void cxsim_h_misbehave(struct byoc_req *req)
{
    struct byoc_cxsim *f = byoc_req_app(req);
    const cJSON *body = byoc_req_json(req);
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(body, "fail");
    long delay = -1, status = 0, count = 0, retry_after = 0;
    bool ok = cJSON_IsObject(body) && int_member(body, "delay_ms", 0, CONSOLE_DELAY_MAX_MS, &delay);
    if (ok && fail)
        ok = cJSON_IsObject(fail) && int_member(fail, "status", 400, 599, &status) &&
             int_member(fail, "count", 1, CONSOLE_FAIL_COUNT_MAX, &count) &&
             int_member(fail, "retry_after_s", 0, CONSOLE_RETRY_AFTER_MAX_S, &retry_after) &&
             status > 0 && count > 0;
    if (!ok) {
        console_error(req, 400,
                      "expected {delay_ms: 0-10000?, fail: {status: 400-599, count: 1-100, "
                      "retry_after_s?}?, expire_tokens?, reset?}");
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "reset"))) {
        byoc_cxsim_clear_failures(f);
        byoc_cxsim_set_delay_ms(f, 0);
    }
    if (delay >= 0)
        byoc_cxsim_set_delay_ms(f, (int)delay);
    if (fail)
        byoc_cxsim_fail_next(f, NULL, (int)status, (int)count, (int)retry_after);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "expire_tokens")))
        byoc_cxsim_expire_tokens(f);
    pthread_mutex_lock(&f->mu);
    cJSON *m = misbehave_json(f);
    pthread_mutex_unlock(&f->mu);
    console_json(req, 200, m);
}
