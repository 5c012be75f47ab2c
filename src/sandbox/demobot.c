/* The sandbox's demo bot (include/byoc/demobot.h): scripted answers, a handover to byocd when
 * the customer asks for a person, the customer's messages relayed while an agent has the chat,
 * and byocd's signed webhooks turned into what the customer sees.
 *
 * Threads: the HTTP thread runs the handlers, which only touch memory under b->mu; one worker
 * thread makes every call to byocd, strictly in queue order (so a chat's handover, messages and
 * typing reach byocd in the order the customer caused them), and never holds b->mu across a
 * call. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "byoc/buf.h"
#include "byoc/crypto.h"
#include "byoc/demobot.h"
#include "byoc/http.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/outbound.h"
#include "byoc/util.h"
#include "sandbox/pages.h"
#include "byoc/banned.h"

#include "sandbox/demobot-internal.h"

static const char *const mode_names[] = {"bot", "waiting", "agent"};
static const char *const from_names[] = {"customer", "bot", "agent", "system"};
static const char *const job_paths[] = {"", "/messages", "/typing", "/end"};
static const char *const job_names[] = {"open", "message", "typing", "end"};

/* ================================================================ chats (b->mu held) */

static void msg_release(struct msg *m)
{
    free(m->text);
    free(m->agent_name);
    free(m->avatar_url);
    memset(m, 0, sizeof *m);
}

static void chat_free(struct chat *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        msg_release(&c->msgs[(c->first + i) % DEMOBOT_MESSAGES_MAX]);
    free(c->agent_name);
    free(c->avatar_url);
    free(c);
}

/* Appends a message, dropping the oldest when full; false on NOMEM (nothing added). */
bool demobot_chat_add(struct chat *c, enum msg_from from, const char *text, const char *agent,
                      const char *avatar)
{
    struct msg m = {.from = from, .at = byoc_now_ms()};
    bool ok = true;
    m.text = byoc_strdup_opt(text, &ok);
    m.agent_name = byoc_strdup_opt(agent, &ok);
    m.avatar_url = byoc_strdup_opt(avatar, &ok);
    if (!ok) {
        msg_release(&m);
        return false;
    }
    if (c->count == DEMOBOT_MESSAGES_MAX) {
        msg_release(&c->msgs[c->first]);
        c->first = (c->first + 1) % DEMOBOT_MESSAGES_MAX;
        c->count--;
    }
    m.seq = ++c->seq;
    c->msgs[(c->first + c->count) % DEMOBOT_MESSAGES_MAX] = m;
    c->count++;
    return true;
}

void demobot_chat_system(struct chat *c, const char *text)
{
    if (!demobot_chat_add(c, FROM_SYSTEM, text, NULL, NULL))
        byoc_log(BYOC_LOG_WARN, "demobot", "out of memory: a system message was not shown");
}

void demobot_chat_set_agent(struct chat *c, const char *name, const char *avatar)
{
    free(c->agent_name);
    free(c->avatar_url);
    bool ok = true;
    c->agent_name = byoc_strdup_opt(name, &ok);
    c->avatar_url = byoc_strdup_opt(avatar, &ok);
}

static struct chat *chat_find(struct byoc_demobot *b, const char *id)
{
    for (size_t i = 0; id && i < b->nchats; i++) {
        if (strcmp(b->chats[i]->id, id) == 0)
            return b->chats[i];
    }
    return NULL;
}

/* The chat whose current (or, with *retired, previous) conversation this is. */
struct chat *demobot_chat_by_conv(struct byoc_demobot *b, const char *conv, bool *retired)
{
    *retired = false;
    for (size_t i = 0; conv && conv[0] && i < b->nchats; i++) {
        if (strcmp(b->chats[i]->conv, conv) == 0)
            return b->chats[i];
    }
    for (size_t i = 0; conv && conv[0] && i < b->nchats; i++) {
        if (strcmp(b->chats[i]->old_conv, conv) == 0) {
            *retired = true;
            return b->chats[i];
        }
    }
    return NULL;
}

bool demobot_any_opening(const struct byoc_demobot *b)
{
    for (size_t i = 0; i < b->nchats; i++) {
        if (b->chats[i]->opening)
            return true;
    }
    return false;
}

/* ================================================================ the job queue */

static void job_free(struct job *j)
{
    if (j) {
        free(j->body);
        free(j);
    }
}

/* A job for the chat and handover (body taken, NULL is fine); NULL on NOMEM (body freed). */
static struct job *job_new(enum job_kind kind, const char *chat_id, unsigned handover, char *body)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        free(body);
        return NULL;
    }
    j->kind = kind;
    j->body = body;
    j->handover = handover;
    byoc_strlcpy(j->chat_id, chat_id, sizeof j->chat_id);
    return j;
}

/* b->mu held. */
static void job_push(struct byoc_demobot *b, struct job *j)
{
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    b->njobs++;
    pthread_cond_signal(&b->wake);
}

/* Ends conversation conv of a chat in byocd (best effort: a chat that is dropped or hands over
 * anew should not leave an open thread in CXone). b->mu held. */
static void queue_end(struct byoc_demobot *b, const char *chat_id, const char *conv,
                      const char *reason)
{
    cJSON *o = b->njobs < DEMOBOT_JOBS_MAX ? cJSON_CreateObject() : NULL;
    char *body = o && byoc_json_add_str(o, "reason", reason) ? byoc_json_render(o) : NULL;
    cJSON_Delete(o);
    struct job *j = body ? job_new(JOB_END, chat_id, 0, body) : NULL;
    if (!j) {
        byoc_log(BYOC_LOG_WARN, "demobot", "a conversation could not be ended in byocd");
        return;
    }
    byoc_strlcpy(j->conv, conv, sizeof j->conv);
    snprintf(j->idem, sizeof j->idem, "demobot-%s-end-%s", chat_id, conv);
    job_push(b, j);
}

/* Drops the least recently active chat. b->mu held. */
static void chat_drop_oldest(struct byoc_demobot *b)
{
    size_t victim = 0;
    for (size_t i = 1; i < b->nchats; i++) {
        if (b->chats[i]->active < b->chats[victim]->active)
            victim = i;
    }
    struct chat *c = b->chats[victim];
    if (c->conv[0])
        queue_end(b, c->id, c->conv, "the demo chat was dropped");
    chat_free(c);
    b->chats[victim] = b->chats[--b->nchats];
}

/* A new chat, greeted; NULL on NOMEM. b->mu held. */
static struct chat *chat_new(struct byoc_demobot *b)
{
    struct chat *c = calloc(1, sizeof *c);
    if (!c || byoc_id_new("chat", c->id) != BYOC_ERR_OK ||
        !demobot_chat_add(c, FROM_BOT, GREETING, NULL, NULL)) {
        chat_free(c);
        return NULL;
    }
    if (b->nchats == DEMOBOT_CHATS_MAX)
        chat_drop_oldest(b);
    c->number = ++b->next_number;
    c->active = ++b->activity;
    b->chats[b->nchats++] = c;
    return c;
}

/* ================================================================ the script */

static const char *const words_agent[] = {"agent",  "agents", "human",          "humans",
                                          "person", "people", "representative", "operator"};
static const char *const words_hours[] = {"hours", "hour",    "open",  "opening",
                                          "close", "closing", "closed"};
static const char *const words_order[] = {"order",   "orders", "delivery", "deliver", "shipping",
                                          "package", "parcel", "track",    "tracking"};
static const char *const words_thanks[] = {"thanks", "thank", "thx", "ty", "cheers"};
static const char *const words_hello[] = {"hello", "hi", "hey", "hiya", "morning", "evening"};

struct rule {
    const char *const *words;
    size_t n;
    const char *answer;
};

/* First match wins; the agent words are checked before these (they hand over). */
static const struct rule rules[] = {
    {words_hours, BYOC_ARRAY_LEN(words_hours),
     "We're open Monday to Friday 9:00\xE2\x80\x93"
     "18:00 and Saturday 10:00\xE2\x80\x93"
     "14:00."},
    {words_order, BYOC_ARRAY_LEN(words_order),
     "You can track an order with the link in your confirmation email; deliveries take "
     "2\xE2\x80\x93"
     "4 working days. If something went wrong, type 'agent' and a person will look into it."},
    {words_thanks, BYOC_ARRAY_LEN(words_thanks), "You're welcome! Anything else?"},
    {words_hello, BYOC_ARRAY_LEN(words_hello),
     "Hello! Ask me about opening hours or an order, or type 'agent' to talk to a person."},
};

#define FALLBACK                                                                                   \
    "Sorry, I didn't get that. I can tell you about opening hours or an order \xE2\x80\x94 or "    \
    "type 'agent' to talk to a person."

static bool word_listed(const char *w, size_t len, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(words[i]) == len && strncasecmp(w, words[i], len) == 0)
            return true;
    }
    return false;
}

/* True when text holds one of words as a whole word (ASCII letters, any case). */
static bool has_word(const char *text, const char *const *words, size_t n)
{
    const char *p = text;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && isalpha((unsigned char)*p))
            p++;
        if (p > start && word_listed(start, (size_t)(p - start), words, n))
            return true;
    }
    return false;
}

static bool wants_agent(const char *text)
{
    return has_word(text, words_agent, BYOC_ARRAY_LEN(words_agent));
}

static const char *scripted_answer(const char *text)
{
    for (size_t i = 0; i < BYOC_ARRAY_LEN(rules); i++) {
        if (has_word(text, rules[i].words, rules[i].n))
            return rules[i].answer;
    }
    return FALLBACK;
}

/* ================================================================ handover */

/* [{role, text}] of what the customer and the bot said (system lines and agents' replies of an
 * earlier handover are not the bot's words). */
static cJSON *transcript_of(const struct chat *c)
{
    cJSON *t = cJSON_CreateArray();
    for (size_t i = 0; t && i < c->count; i++) {
        const struct msg *m = &c->msgs[(c->first + i) % DEMOBOT_MESSAGES_MAX];
        if (m->from != FROM_CUSTOMER && m->from != FROM_BOT)
            continue;
        cJSON *turn = cJSON_CreateObject();
        if (!turn || !cJSON_AddItemToArray(t, turn) ||
            !byoc_json_add_str(turn, "role", m->from == FROM_CUSTOMER ? "user" : "bot") ||
            !byoc_json_add_str(turn, "text", m->text)) {
            cJSON_Delete(t);
            return NULL;
        }
    }
    return t;
}

static bool add_end_user(cJSON *o, const struct chat *c)
{
    char name[48];
    snprintf(name, sizeof name, "Customer %lu", c->number);
    cJSON *u = cJSON_AddObjectToObject(o, "end_user");
    return u && byoc_json_add_str(u, "id", c->id) && byoc_json_add_str(u, "first_name", name);
}

static bool add_custom_fields(cJSON *o, const struct chat *c)
{
    cJSON *f = cJSON_AddObjectToObject(o, "custom_fields");
    return f && byoc_json_add_str(f, "source", "sandbox demo chat") &&
           byoc_json_add_str(f, "chat_id", c->id);
}

/* The body of POST /v1/conversations; NULL on NOMEM. b->mu held. */
static char *handover_body(const struct byoc_demobot *b, const struct chat *c)
{
    cJSON *o = cJSON_CreateObject(), *t = transcript_of(c);
    bool ok = o && t && add_end_user(o, c) && cJSON_AddItemToObject(o, "transcript", t);
    if (!ok)
        cJSON_Delete(t); /* not taken by o */
    ok = ok && add_custom_fields(o, c) && byoc_json_add_str(o, "reason", "asked for an agent") &&
         (!b->channel_id || byoc_json_add_str(o, "channel_id", b->channel_id));
    char *body = ok ? byoc_json_render(o) : NULL;
    cJSON_Delete(o);
    return body;
}

/* The customer asked for a person: queue the handover (after ending a conversation the Studio
 * script gave back to the bot, so CXone does not keep two threads). b->mu held. */
static void start_handover(struct byoc_demobot *b, struct chat *c)
{
    if (!b->url) {
        demobot_chat_add(c, FROM_BOT,
                         "I can't connect you to an agent right now: the demo bot is not "
                         "connected to byocd yet.",
                         NULL, NULL);
        return;
    }
    if (!demobot_chat_add(c, FROM_BOT, CONNECTING, NULL, NULL))
        return;
    if (c->conv[0]) {
        queue_end(b, c->id, c->conv, "the customer asked for an agent again");
        memcpy(c->old_conv, c->conv, sizeof c->old_conv);
        c->conv[0] = '\0';
    }
    c->handover++;
    struct job *j = job_new(JOB_OPEN, c->id, c->handover, handover_body(b, c));
    if (!j || !j->body) {
        job_free(j);
        demobot_chat_system(c, "The handover could not be prepared (out of memory).");
        return;
    }
    snprintf(j->idem, sizeof j->idem, "demobot-%s-h%u", c->id, c->handover);
    job_push(b, j);
    c->mode = MODE_WAITING;
    c->opening = true;
    c->typing_sent = false;
}

/* Relays what the customer typed while an agent has (or is about to have) the chat. */
static bool queue_customer_message(struct byoc_demobot *b, struct chat *c, const char *text)
{
    char client_id[BYOC_ID_MAX + 24];
    snprintf(client_id, sizeof client_id, "%s-m%lld", c->id, c->seq);
    cJSON *o = cJSON_CreateObject();
    char *body = o && byoc_json_add_str(o, "id", client_id) && byoc_json_add_str(o, "text", text)
                     ? byoc_json_render(o)
                     : NULL;
    cJSON_Delete(o);
    struct job *j = body ? job_new(JOB_MESSAGE, c->id, c->handover, body) : NULL;
    if (!j)
        return false;
    snprintf(j->idem, sizeof j->idem, "demobot-%s", client_id);
    job_push(b, j);
    return true;
}

/* ================================================================ the worker */

/* One call's inputs, copied under b->mu so the call runs without it. */
struct call {
    char url[DEMOBOT_URL_MAX + 96];
    char *bearer;
    char idem_header[DEMOBOT_IDEM_MAX + 24];
};

/* False with why when the job cannot be sent (no byocd, or no conversation any more). */
static bool call_prepare(struct byoc_demobot *b, const struct job *j, struct call *c, char *why)
{
    const char *conv = j->conv;
    if (j->kind == JOB_MESSAGE || j->kind == JOB_TYPING) {
        const struct chat *ch = chat_find(b, j->chat_id);
        conv = ch && ch->handover == j->handover ? ch->conv : "";
    }
    if (!b->url || (j->kind != JOB_OPEN && !conv[0])) {
        snprintf(why, DEMOBOT_WHY_MAX, "%s",
                 b->url ? "there is no conversation with an agent" : "byocd is not configured");
        return false;
    }
    bool open = j->kind == JOB_OPEN;
    snprintf(c->url, sizeof c->url, "%s/v1/conversations%s%s%s", b->url, open ? "" : "/",
             open ? "" : conv, job_paths[j->kind]);
    snprintf(c->idem_header, sizeof c->idem_header, "Idempotency-Key: %s", j->idem);
    c->bearer = strdup(b->api_key);
    if (!c->bearer)
        snprintf(why, DEMOBOT_WHY_MAX, "out of memory");
    return c->bearer != NULL;
}

/* Waits ms unless the bot stops first; true when it stops. */
static bool sleep_or_stop(struct byoc_demobot *b, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    int rc = 0;
    while (!b->stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&b->wake, &b->mu, &until);
    bool stopping = b->stopping;
    pthread_mutex_unlock(&b->mu);
    return stopping;
}

/* byocd's own words for a refusal ("error.message"), if its answer has them. */
static const char *error_message(const struct byoc_out_resp *r, cJSON **parsed)
{
    *parsed = NULL;
    if (!r->body || byoc_json_parse(r->body, r->body_len, parsed) != BYOC_ERR_OK)
        return NULL;
    return byoc_json_str(byoc_json_path(*parsed, "error", NULL), "message");
}

static bool worth_retrying(enum byoc_err e, const struct byoc_out_resp *r)
{
    if (e)
        return e == BYOC_ERR_UPSTREAM_TIMEOUT || e == BYOC_ERR_UPSTREAM_NET || e == BYOC_ERR_NOMEM;
    cJSON *parsed = NULL;
    error_message(r, &parsed);
    /* byocd's 409 "conflict": the same Idempotency-Key is still being processed */
    const char *code = byoc_json_str(byoc_json_path(parsed, "error", NULL), "code");
    bool in_progress = r->status == 409 && code && strcmp(code, "conflict") == 0;
    cJSON_Delete(parsed);
    return r->status == 408 || r->status == 429 || r->status >= 500 || in_progress;
}

static void describe_failure(enum byoc_err e, const struct byoc_out_resp *r, char *why)
{
    if (e) {
        snprintf(why, DEMOBOT_WHY_MAX, "byocd could not be reached (%s)", byoc_err_name(e));
        return;
    }
    cJSON *parsed = NULL;
    const char *msg = error_message(r, &parsed);
    if (msg)
        snprintf(why, DEMOBOT_WHY_MAX, "byocd answered %ld: %s", r->status, msg);
    else
        snprintf(why, DEMOBOT_WHY_MAX, "byocd answered %ld", r->status);
    cJSON_Delete(parsed);
}

static void log_attempt(const struct job *j, int attempt, enum byoc_err e, long status)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "demobot", "call to byocd failed");
    byoc_log_str(&l, "call", job_names[j->kind]);
    byoc_log_str(&l, "chat_id", j->chat_id);
    byoc_log_int(&l, "attempt", attempt);
    if (e)
        byoc_log_err(&l, e);
    else
        byoc_log_int(&l, "status", status);
    byoc_log_end(&l);
}

/* Sends the call, retrying what byocd may accept later; true on a 2xx (resp then filled). */
static bool call_run(struct byoc_demobot *b, const struct job *j, const struct call *c,
                     struct byoc_out_resp *resp, char *why)
{
    const char *headers[] = {c->idem_header, NULL};
    struct byoc_out_req req = {.method = "POST",
                               .url = c->url,
                               .content_type = "application/json",
                               .body = j->body,
                               .body_len = j->body ? strlen(j->body) : 0,
                               .bearer = c->bearer,
                               .connect_timeout_ms = DEMOBOT_CONNECT_TIMEOUT_MS,
                               .total_timeout_ms = DEMOBOT_CALL_TIMEOUT_MS,
                               .no_proxy = true, /* the sandbox's byocd is local */
                               .headers = j->idem[0] ? headers : NULL};
    for (int attempt = 1;; attempt++) {
        enum byoc_err e = byoc_out_do(&req, resp);
        if (!e && resp->status >= 200 && resp->status < 300)
            return true;
        log_attempt(j, attempt, e, e ? 0 : resp->status);
        bool again = attempt < DEMOBOT_ATTEMPTS && worth_retrying(e, resp);
        long retry_after = e ? -1 : resp->retry_after_s;
        describe_failure(e, resp, why);
        byoc_out_resp_release(resp);
        if (!again)
            return false;
        if (retry_after > DEMOBOT_RETRY_AFTER_MAX_S)
            retry_after = DEMOBOT_RETRY_AFTER_MAX_S;
        if (sleep_or_stop(b,
                          byoc_backoff_ms(attempt, DEMOBOT_BACKOFF_BASE_MS, DEMOBOT_BACKOFF_CAP_MS,
                                          DEMOBOT_RETRY_FLOOR_MS, retry_after))) {
            snprintf(why, DEMOBOT_WHY_MAX, "the demo bot is stopping");
            return false;
        }
    }
}

/* The 201 of a handover: the conversation id, or a failure. b->mu held. */
static void open_done(struct chat *c, const struct job *j, const char *conv, const char *why)
{
    if (!c || c->handover != j->handover || !c->opening)
        return;
    c->opening = false;
    if (conv) {
        byoc_strlcpy(c->conv, conv, sizeof c->conv);
        return;
    }
    char text[DEMOBOT_WHY_MAX + 64];
    snprintf(text, sizeof text, "No agent could be reached: %s.", why);
    demobot_chat_system(c, text);
    demobot_chat_system(c, BACK_WITH_BOT);
    c->mode = MODE_BOT;
}

/* What the customer sees of a call's outcome. b->mu held. */
static void job_finish(struct byoc_demobot *b, const struct job *j, bool ok, const char *conv,
                       const char *why)
{
    struct chat *c = chat_find(b, j->chat_id);
    if (j->kind == JOB_OPEN && ok && !c) {
        queue_end(b, j->chat_id, conv, "the demo chat was dropped"); /* while it opened */
    } else if (j->kind == JOB_OPEN) {
        open_done(c, j, ok ? conv : NULL, why);
    } else if (!ok && j->kind == JOB_MESSAGE && c) {
        char text[DEMOBOT_WHY_MAX + 64];
        snprintf(text, sizeof text, "A message could not reach the agent: %s", why);
        demobot_chat_system(c, text);
    }
}

/* The conversation id of a 201, or NULL with why. */
static const char *opened_id(const struct byoc_out_resp *r, cJSON **parsed, char *why)
{
    *parsed = NULL;
    const char *id = byoc_json_parse(r->body, r->body_len, parsed) == BYOC_ERR_OK
                         ? byoc_json_str(*parsed, "id")
                         : NULL;
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        snprintf(why, DEMOBOT_WHY_MAX, "byocd's answer has no conversation id");
        return NULL;
    }
    return id;
}

static void log_opened(const struct job *j, const char *conv)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "demobot", "handover opened");
    byoc_log_str(&l, "chat_id", j->chat_id);
    byoc_log_str(&l, "conversation_id", conv);
    byoc_log_end(&l);
}

static void job_run(struct byoc_demobot *b, const struct job *j)
{
    struct call c = {0};
    char why[DEMOBOT_WHY_MAX] = "";
    pthread_mutex_lock(&b->mu);
    bool ready = call_prepare(b, j, &c, why);
    pthread_mutex_unlock(&b->mu);
    struct byoc_out_resp resp = {0};
    bool answered = ready && call_run(b, j, &c, &resp, why); /* resp is ours only then */
    byoc_free_secret(c.bearer);
    cJSON *parsed = NULL;
    const char *conv = answered && j->kind == JOB_OPEN ? opened_id(&resp, &parsed, why) : NULL;
    bool ok = answered && (j->kind != JOB_OPEN || conv);
    if (conv)
        log_opened(j, conv);
    pthread_mutex_lock(&b->mu);
    job_finish(b, j, ok, conv, why);
    pthread_mutex_unlock(&b->mu);
    cJSON_Delete(parsed);
    if (answered)
        byoc_out_resp_release(&resp);
}

static void *worker_main(void *arg)
{
    struct byoc_demobot *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping)
            pthread_cond_wait(&b->wake, &b->mu);
        if (b->stopping)
            break;
        struct job *j = b->head;
        b->head = j->next;
        if (!b->head)
            b->tail = NULL;
        b->njobs--;
        pthread_mutex_unlock(&b->mu);
        job_run(b, j);
        job_free(j);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ================================================================ views */

static cJSON *msg_view(const struct msg *m)
{
    char at[BYOC_TIME_ISO_MAX];
    byoc_time_iso(m->at, at);
    cJSON *v = cJSON_CreateObject();
    bool ok = v && cJSON_AddNumberToObject(v, "seq", (double)m->seq) &&
              byoc_json_add_str(v, "from", from_names[m->from]) &&
              byoc_json_add_str(v, "text", m->text) &&
              (!m->agent_name || byoc_json_add_str(v, "agent_name", m->agent_name)) &&
              (!m->avatar_url || byoc_json_add_str(v, "avatar_url", m->avatar_url)) &&
              byoc_json_add_str(v, "at", at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static bool add_agent(cJSON *v, const struct chat *c)
{
    if (!c->agent_name)
        return cJSON_AddNullToObject(v, "agent") != NULL;
    cJSON *a = cJSON_AddObjectToObject(v, "agent");
    return a && byoc_json_add_str(a, "name", c->agent_name) &&
           byoc_json_add_str(a, "avatar_url", c->avatar_url);
}

/* {"id","mode","agent","typing","messages"} with the messages after seq `after`. */
static cJSON *chat_view(const struct chat *c, long long after)
{
    cJSON *v = cJSON_CreateObject();
    bool ok = v && byoc_json_add_str(v, "id", c->id) &&
              byoc_json_add_str(v, "mode", mode_names[c->mode]) && add_agent(v, c) &&
              cJSON_AddFalseToObject(v, "typing");
    cJSON *list = ok ? cJSON_AddArrayToObject(v, "messages") : NULL;
    ok = list != NULL;
    for (size_t i = 0; ok && i < c->count; i++) {
        const struct msg *m = &c->msgs[(c->first + i) % DEMOBOT_MESSAGES_MAX];
        cJSON *mv = m->seq > after ? msg_view(m) : NULL;
        ok = m->seq <= after || (mv && cJSON_AddItemToArray(list, mv));
    }
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* ================================================================ chat API handlers */

struct byoc_demobot *demobot_bot_of(const struct byoc_req *req)
{
    return byoc_req_app(req);
}

static void h_page(struct byoc_req *req)
{
    const struct byoc_page *p = byoc_page_find("chat.html");
    char *copy = p ? malloc(p->len ? p->len : 1) : NULL;
    if (!copy) {
        byoc_reply_error(req, p ? BYOC_ERR_NOMEM : BYOC_ERR_NOT_FOUND, NULL);
        return;
    }
    memcpy(copy, p->data, p->len);
    byoc_reply_header(req, "Content-Security-Policy", PAGE_CSP);
    byoc_reply(req, 200, "text/html; charset=utf-8", copy, p->len);
}

static void h_chat_create(struct byoc_req *req)
{
    struct byoc_demobot *b = demobot_bot_of(req);
    pthread_mutex_lock(&b->mu);
    struct chat *c = chat_new(b);
    char id[BYOC_ID_MAX] = "";
    if (c)
        memcpy(id, c->id, sizeof id);
    pthread_mutex_unlock(&b->mu);
    cJSON *a = c ? cJSON_CreateObject() : NULL;
    if (!c || !a || !byoc_json_add_str(a, "id", id)) {
        cJSON_Delete(a);
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_reply_json(req, 201, a);
}

static void h_chat_get(struct byoc_req *req)
{
    const char *q = byoc_req_query(req, "after");
    int64_t after = 0;
    if (q && !byoc_parse_i64(q, 0, INT64_MAX, &after)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "after: a message seq (0 or more)");
        return;
    }
    struct byoc_demobot *b = demobot_bot_of(req);
    pthread_mutex_lock(&b->mu);
    struct chat *c = chat_find(b, byoc_req_param(req, "id"));
    if (c)
        c->active = ++b->activity; /* an open page keeps its chat */
    cJSON *v = c ? chat_view(c, (long long)after) : NULL;
    pthread_mutex_unlock(&b->mu);
    if (!v) {
        byoc_reply_error(req, c ? BYOC_ERR_NOMEM : BYOC_ERR_NOT_FOUND, c ? NULL : "no such chat");
        return;
    }
    byoc_reply_json(req, 200, v);
}

/* The customer's text, or NULL after replying 400. */
static const char *text_or_reply(struct byoc_req *req)
{
    const char *text = byoc_json_str(byoc_req_json(req), "text");
    size_t blank = text ? strspn(text, " \t\r\n") : 0;
    if (!text || !text[blank] || strlen(text) > DEMOBOT_TEXT_MAX) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "text: 1-4000 bytes, not only spaces");
        return NULL;
    }
    return text;
}

/* The customer said text (its seq into *seq): the bot answers, or it goes to byocd. b->mu
 * held. */
static enum byoc_err customer_says(struct byoc_demobot *b, struct chat *c, const char *text,
                                   long long *seq)
{
    if (b->njobs >= DEMOBOT_JOBS_MAX)
        return BYOC_ERR_OVERLOADED; /* refused before anything is shown */
    if (!demobot_chat_add(c, FROM_CUSTOMER, text, NULL, NULL))
        return BYOC_ERR_NOMEM;
    *seq = c->seq;
    c->active = ++b->activity;
    if (c->mode != MODE_BOT) {
        if (!queue_customer_message(b, c, text))
            demobot_chat_system(c, "A message could not reach the agent: out of memory");
    } else if (wants_agent(text)) {
        start_handover(b, c);
    } else {
        demobot_chat_add(c, FROM_BOT, scripted_answer(text), NULL, NULL);
    }
    return BYOC_ERR_OK;
}

static void h_chat_message(struct byoc_req *req)
{
    const char *text = text_or_reply(req);
    if (!text)
        return;
    struct byoc_demobot *b = demobot_bot_of(req);
    long long seq = 0;
    pthread_mutex_lock(&b->mu);
    struct chat *c = chat_find(b, byoc_req_param(req, "id"));
    enum byoc_err e = c ? customer_says(b, c, text, &seq) : BYOC_ERR_NOT_FOUND;
    pthread_mutex_unlock(&b->mu);
    cJSON *a = e ? NULL : cJSON_CreateObject();
    if (e || !a || !cJSON_AddNumberToObject(a, "seq", (double)seq)) {
        cJSON_Delete(a);
        byoc_reply_error(req, e ? e : BYOC_ERR_NOMEM,
                         e == BYOC_ERR_NOT_FOUND ? "no such chat" : NULL);
        return;
    }
    byoc_reply_json(req, 202, a);
}

/* Queues a typing change while an agent has (or is about to have) the chat. b->mu held. */
static void typing_changed(struct byoc_demobot *b, struct chat *c, bool typing)
{
    if (c->mode == MODE_BOT || typing == c->typing_sent || b->njobs >= DEMOBOT_JOBS_MAX)
        return; /* an indicator is not worth a refusal */
    char *body = strdup(typing ? "{\"typing\":true}" : "{\"typing\":false}");
    struct job *j = body ? job_new(JOB_TYPING, c->id, c->handover, body) : NULL;
    if (!j)
        return;
    c->typing_sent = typing;
    job_push(b, j);
}

static void h_chat_typing(struct byoc_req *req)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(byoc_req_json(req), "typing");
    if (!cJSON_IsBool(t)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "typing: true or false");
        return;
    }
    struct byoc_demobot *b = demobot_bot_of(req);
    pthread_mutex_lock(&b->mu);
    struct chat *c = chat_find(b, byoc_req_param(req, "id"));
    if (c)
        typing_changed(b, c, cJSON_IsTrue(t));
    pthread_mutex_unlock(&b->mu);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such chat");
        return;
    }
    byoc_reply(req, 204, NULL, NULL, 0);
}

/* ================================================================ lifecycle */

#define CHAT "/api/chats/{id}"

static const struct byoc_route routes[] = {
    {"GET", "/", h_page, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_HTML, false},
    {"POST", "/api/chats", h_chat_create, 0, BYOC_BODY_JSON, DEMOBOT_BODY_MAX, BYOC_ERRSTYLE_JSON,
     false},
    {"GET", CHAT, h_chat_get, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"POST", CHAT "/messages", h_chat_message, 0, BYOC_BODY_JSON, DEMOBOT_BODY_MAX,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", CHAT "/typing", h_chat_typing, 0, BYOC_BODY_JSON, DEMOBOT_BODY_MAX, BYOC_ERRSTYLE_JSON,
     false},
    {"POST", "/webhooks/byocd", demobot_h_webhook, 0, BYOC_BODY_RAW, DEMOBOT_WEBHOOK_BODY_MAX,
     BYOC_ERRSTYLE_JSON, false},
};

static bool sync_init(struct byoc_demobot *b)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&b->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (ok && pthread_mutex_init(&b->mu, NULL) != 0) {
        pthread_cond_destroy(&b->wake);
        ok = false;
    }
    return ok;
}

static void bot_free(struct byoc_demobot *b)
{
    while (b->head) {
        struct job *j = b->head;
        b->head = j->next;
        job_free(j);
    }
    for (size_t i = 0; i < b->nchats; i++)
        chat_free(b->chats[i]);
    free(b->url);
    free(b->channel_id);
    byoc_free_secret(b->api_key);
    byoc_wipe(b->secret, sizeof b->secret);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

enum byoc_err byoc_demobot_start(const struct byoc_demobot_config *cfg, struct byoc_demobot **out,
                                 char *why, size_t why_cap)
{
    struct byoc_demobot *b = calloc(1, sizeof *b);
    if (!b || !sync_init(b)) {
        free(b);
        snprintf(why, why_cap, "demo bot: out of memory");
        return BYOC_ERR_NOMEM;
    }
    if (pthread_create(&b->worker, NULL, worker_main, b) != 0) {
        bot_free(b);
        snprintf(why, why_cap, "demo bot: cannot start its worker thread");
        return BYOC_ERR_INTERNAL;
    }
    b->worker_started = true;
    struct byoc_http_config hc = {.host = cfg->host,
                                  .port = cfg->port,
                                  .max_connections = DEMOBOT_MAX_CONNECTIONS,
                                  .idle_timeout_s = DEMOBOT_IDLE_TIMEOUT_S,
                                  .routes = routes,
                                  .nroutes = BYOC_ARRAY_LEN(routes),
                                  .app = b,
                                  .log_module = "demobot",
                                  .listen_setting = "the demo bot (byocd sandbox --bot-port)",
                                  .no_metrics = true,
                                  .access_log_debug = true};
    enum byoc_err e = byoc_http_start(&hc, &b->http, why, why_cap);
    if (e) {
        byoc_demobot_stop(b);
        return e;
    }
    b->port = byoc_http_port(b->http);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "demobot", "demo bot listening");
    byoc_log_int(&l, "port", b->port);
    byoc_log_end(&l);
    *out = b;
    return BYOC_ERR_OK;
}

int byoc_demobot_port(const struct byoc_demobot *b)
{
    return b->port;
}

/* "whsec_" + base64 into key; false if it is not one. */
/* A "whsec_" secret byocd's signer accepts, short enough to keep. */
static bool secret_ok(const char *secret)
{
    char sig[BYOC_WEBHOOK_SIGNATURE_MAX];
    return secret && strlen(secret) < BYOC_WEBHOOK_SECRET_MAX &&
           byoc_webhook_sign(secret, "check", 0, "", 0, sig) == BYOC_ERR_OK;
}

static bool byocd_config_ok(const struct byoc_demobot_byocd *c)
{
    bool web =
        c->url && (strncmp(c->url, "http://", 7) == 0 || strncmp(c->url, "https://", 8) == 0);
    return web && strlen(c->url) <= DEMOBOT_URL_MAX && c->bot_api_key && c->bot_api_key[0] &&
           (!c->channel_id || c->channel_id[0]) && secret_ok(c->webhook_secret);
}

enum byoc_err byoc_demobot_set_byocd(struct byoc_demobot *b, const struct byoc_demobot_byocd *c)
{
    if (!byocd_config_ok(c))
        return BYOC_ERR_INVALID;
    bool ok = true;
    char *url = byoc_strdup_opt(c->url, &ok), *api_key = byoc_strdup_opt(c->bot_api_key, &ok);
    char *channel = byoc_strdup_opt(c->channel_id, &ok);
    if (!ok) {
        free(url);
        free(channel);
        byoc_free_secret(api_key);
        return BYOC_ERR_NOMEM;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0'; /* paths are appended with their own '/' */
    pthread_mutex_lock(&b->mu);
    free(b->url);
    free(b->channel_id);
    byoc_free_secret(b->api_key);
    b->url = url;
    b->api_key = api_key;
    b->channel_id = channel;
    byoc_strlcpy(b->secret, c->webhook_secret, sizeof b->secret);
    pthread_mutex_unlock(&b->mu);
    return BYOC_ERR_OK;
}

void byoc_demobot_stop(struct byoc_demobot *b)
{
    if (!b)
        return;
    /* Handlers never park requests, so the stop cannot leave one behind; if it ever did, the
     * daemon would still call into b: keep b then. */
    if (!byoc_http_stop(b->http)) {
        byoc_log(BYOC_LOG_ERROR, "demobot", "listener left running; the demo bot is not freed");
        return;
    }
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->mu);
    if (b->worker_started)
        pthread_join(b->worker, NULL);
    bot_free(b);
}
