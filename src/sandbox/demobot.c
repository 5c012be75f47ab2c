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

/* ---- limits ---- */
#define DEMOBOT_CHATS_MAX 256        /* chats kept; a new one drops the least recently active */
#define DEMOBOT_MESSAGES_MAX 200     /* messages kept per chat; older ones go, seq keeps counting */
#define DEMOBOT_TEXT_MAX 4000        /* bytes of a customer message; longer agent text is cut */
#define DEMOBOT_NAME_MAX 120         /* bytes of an agent name shown */
#define DEMOBOT_URL_MAX 2048         /* bytes of an avatar URL or of byocd's base URL */
#define DEMOBOT_BODY_MAX (32 * 1024) /* request bodies of the chat API (text escaped in JSON) */
#define DEMOBOT_WEBHOOK_BODY_MAX (256 * 1024) /* one webhook delivery */
#define DEMOBOT_JOBS_MAX 1024      /* calls to byocd waiting for the worker (503 beyond) */
#define DEMOBOT_SEEN_MAX 512       /* webhook-ids remembered, to skip redeliveries */
#define DEMOBOT_WEBHOOK_ID_MAX 128 /* longest webhook-id accepted (byocd's are ~25 bytes) */
#define DEMOBOT_KEY_MAX 64         /* decoded webhook key bytes (byocd's are 32) */
#define DEMOBOT_TOLERANCE_S 300    /* webhook-timestamp this far from our clock is refused */
#define DEMOBOT_IDEM_MAX 96        /* Idempotency-Key bytes: "demobot-" + chat id + suffix */
#define DEMOBOT_WHY_MAX 200        /* a failure reason shown to the customer */
/* Calls to byocd: a few tries, a short backoff; a demo chat should say it failed, not stall. */
#define DEMOBOT_ATTEMPTS 4
#define DEMOBOT_BACKOFF_BASE_MS 200
#define DEMOBOT_BACKOFF_CAP_MS 2000
#define DEMOBOT_RETRY_FLOOR_MS 100  /* shortest wait for "Retry-After: 0" */
#define DEMOBOT_RETRY_AFTER_MAX_S 5 /* longer Retry-After values are cut to this */
#define DEMOBOT_CONNECT_TIMEOUT_MS 2000
#define DEMOBOT_CALL_TIMEOUT_MS 5000
/* The listener. */
#define DEMOBOT_MAX_CONNECTIONS 64
#define DEMOBOT_IDLE_TIMEOUT_S 30

#define GREETING                                                                                   \
    "Hi, I'm the demo bot. Ask me about opening hours or an order, or type 'agent' to talk to "    \
    "a person."
#define CONNECTING "Connecting you to an agent\xE2\x80\xA6"
#define BACK_WITH_BOT "You're back with the demo bot."
#define PAGE_CSP                                                                                   \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "                  \
    "connect-src 'self'; img-src http: https: data:; base-uri 'none'; form-action 'none'"

enum chat_mode { MODE_BOT, MODE_WAITING, MODE_AGENT };
enum msg_from { FROM_CUSTOMER, FROM_BOT, FROM_AGENT, FROM_SYSTEM };
static const char *const mode_names[] = {"bot", "waiting", "agent"};
static const char *const from_names[] = {"customer", "bot", "agent", "system"};

struct msg {
    long long seq;
    enum msg_from from;
    char *text;
    char *agent_name; /* FROM_AGENT only; NULL otherwise */
    char *avatar_url; /* FROM_AGENT with an avatar only */
    int64_t at;       /* Unix ms */
};

struct chat {
    char id[BYOC_ID_MAX];
    unsigned long number; /* "Customer N" */
    enum chat_mode mode;
    char *agent_name, *avatar_url;         /* the agent who has the chat; NULL when none */
    struct msg msgs[DEMOBOT_MESSAGES_MAX]; /* a ring: first, count */
    size_t first, count;
    long long seq;              /* of the newest message */
    unsigned handover;          /* handovers opened; part of their Idempotency-Keys */
    bool opening;               /* the current handover's 201 has not been read yet */
    char conv[BYOC_ID_MAX];     /* byocd's conversation; "" when none */
    char old_conv[BYOC_ID_MAX]; /* the previous one: only its message.failed still shows */
    bool typing_sent;           /* the typing state last queued for byocd */
    unsigned long long active;  /* b->activity when last used; the lowest is dropped first */
};

enum job_kind { JOB_OPEN, JOB_MESSAGE, JOB_TYPING, JOB_END };
static const char *const job_paths[] = {"", "/messages", "/typing", "/end"};
static const char *const job_names[] = {"open", "message", "typing", "end"};

/* One call to byocd. The body is rendered once, so a retry sends the same bytes with the same
 * Idempotency-Key (byocd answers a repeat with the first answer, a different body with 422). */
struct job {
    struct job *next;
    enum job_kind kind;
    char chat_id[BYOC_ID_MAX];
    unsigned handover;
    char conv[BYOC_ID_MAX];      /* JOB_END: its conversation; others read the chat's when run */
    char idem[DEMOBOT_IDEM_MAX]; /* "" sends none (typing) */
    char *body;
};

struct byoc_demobot {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the worker waits on it (monotonic clock) */
    bool stopping;
    pthread_t worker;
    bool worker_started;
    struct byoc_http *http;
    int port;
    struct chat *chats[DEMOBOT_CHATS_MAX];
    size_t nchats;
    unsigned long next_number;
    unsigned long long activity; /* counts chat activity: an order without clock ties */
    struct job *head, *tail;
    size_t njobs;
    char seen[DEMOBOT_SEEN_MAX][DEMOBOT_WEBHOOK_ID_MAX]; /* a ring of handled webhook-ids */
    size_t seen_next;
    /* byocd (byoc_demobot_set_byocd); url NULL until set */
    char *url, *api_key, *channel_id;
    uint8_t key[DEMOBOT_KEY_MAX];
    size_t key_len;
};

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
static bool chat_add(struct chat *c, enum msg_from from, const char *text, const char *agent,
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

static void chat_system(struct chat *c, const char *text)
{
    if (!chat_add(c, FROM_SYSTEM, text, NULL, NULL))
        byoc_log(BYOC_LOG_WARN, "demobot", "out of memory: a system message was not shown");
}

static void chat_set_agent(struct chat *c, const char *name, const char *avatar)
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
static struct chat *chat_by_conv(struct byoc_demobot *b, const char *conv, bool *retired)
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

static bool any_opening(const struct byoc_demobot *b)
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
        !chat_add(c, FROM_BOT, GREETING, NULL, NULL)) {
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
        chat_add(c, FROM_BOT,
                 "I can't connect you to an agent right now: the demo bot is not "
                 "connected to byocd yet.",
                 NULL, NULL);
        return;
    }
    if (!chat_add(c, FROM_BOT, CONNECTING, NULL, NULL))
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
        chat_system(c, "The handover could not be prepared (out of memory).");
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
    chat_system(c, text);
    chat_system(c, BACK_WITH_BOT);
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
        chat_system(c, text);
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

static struct byoc_demobot *bot_of(const struct byoc_req *req)
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
    struct byoc_demobot *b = bot_of(req);
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
    struct byoc_demobot *b = bot_of(req);
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
    if (!chat_add(c, FROM_CUSTOMER, text, NULL, NULL))
        return BYOC_ERR_NOMEM;
    *seq = c->seq;
    c->active = ++b->activity;
    if (c->mode != MODE_BOT) {
        if (!queue_customer_message(b, c, text))
            chat_system(c, "A message could not reach the agent: out of memory");
    } else if (wants_agent(text)) {
        start_handover(b, c);
    } else {
        chat_add(c, FROM_BOT, scripted_answer(text), NULL, NULL);
    }
    return BYOC_ERR_OK;
}

static void h_chat_message(struct byoc_req *req)
{
    const char *text = text_or_reply(req);
    if (!text)
        return;
    struct byoc_demobot *b = bot_of(req);
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
    struct byoc_demobot *b = bot_of(req);
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

/* ================================================================ webhooks */

/* "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the bot's key, or false. */
static bool expected_signature(struct byoc_demobot *b, const char *id, const char *ts,
                               const char *body, size_t len, char *out, size_t cap)
{
    uint8_t key[DEMOBOT_KEY_MAX], mac[BYOC_SHA256_LEN];
    pthread_mutex_lock(&b->mu);
    size_t key_len = b->key_len;
    memcpy(key, b->key, sizeof key);
    pthread_mutex_unlock(&b->mu);
    struct byoc_buf text;
    byoc_buf_init(&text, DEMOBOT_WEBHOOK_BODY_MAX + DEMOBOT_WEBHOOK_ID_MAX + 64);
    bool ok = key_len > 0 && byoc_buf_printf(&text, "%s.%s.", id, ts) == BYOC_ERR_OK &&
              byoc_buf_append(&text, body, len) == BYOC_ERR_OK;
    if (ok)
        byoc_hmac_sha256(key, key_len, text.data, text.len, mac);
    byoc_buf_release(&text);
    byoc_wipe(key, sizeof key);
    ok = ok && cap > 3 && byoc_base64_encode(mac, sizeof mac, out + 3, cap - 3) > 0;
    if (ok)
        memcpy(out, "v1,", 3);
    return ok;
}

/* True when one of the space-separated signatures in header equals want (constant time). */
static bool any_signature_matches(const char *header, const char *want)
{
    size_t want_len = strlen(want);
    bool match = false;
    for (const char *p = header; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n == want_len && byoc_ct_equal(p, want, n))
            match = true; /* no early exit: the time does not tell which one matched */
        p += n;
    }
    return match;
}

/* Standard Webhooks verification of the raw body, before anything reads it; false with what
 * was wrong (never the signature itself) in *why. */
static bool webhook_verified(struct byoc_demobot *b, struct byoc_req *req, const char **why)
{
    const char *id = byoc_req_header(req, "webhook-id");
    const char *ts = byoc_req_header(req, "webhook-timestamp");
    const char *sig = byoc_req_header(req, "webhook-signature");
    int64_t t = 0, now = byoc_now_ms() / 1000;
    *why = "missing or malformed webhook headers";
    if (!id || !ts || !sig || !id[0] || strlen(id) >= DEMOBOT_WEBHOOK_ID_MAX ||
        !byoc_parse_i64(ts, 0, INT64_MAX / 2, &t))
        return false;
    *why = "webhook-timestamp too far from the bot's clock";
    if (t < now - DEMOBOT_TOLERANCE_S || t > now + DEMOBOT_TOLERANCE_S)
        return false;
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    char want[BYOC_SHA256_LEN * 2 + 8];
    *why = "signature does not match";
    return expected_signature(b, id, ts, body, len, want, sizeof want) &&
           any_signature_matches(sig, want);
}

static bool seen_before(const struct byoc_demobot *b, const char *id)
{
    for (size_t i = 0; i < DEMOBOT_SEEN_MAX; i++) {
        if (strcmp(b->seen[i], id) == 0)
            return true;
    }
    return false;
}

static void seen_add(struct byoc_demobot *b, const char *id)
{
    byoc_strlcpy(b->seen[b->seen_next], id, sizeof b->seen[0]);
    b->seen_next = (b->seen_next + 1) % DEMOBOT_SEEN_MAX;
}

/* The agent of an event's data.agent: a name (cut, with a fallback) and an http(s) avatar. */
static void agent_of(const cJSON *data, char *name, size_t name_cap, const char **avatar)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(data, "agent");
    const char *n = byoc_json_str(a, "name"), *url = byoc_json_str(a, "avatar_url");
    if (!n || !n[0])
        n = "An agent";
    size_t keep = byoc_utf8_prefix(n, strlen(n), name_cap - 1);
    memcpy(name, n, keep);
    name[keep] = '\0';
    bool web = url && (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0);
    *avatar = web && strlen(url) <= DEMOBOT_URL_MAX ? url : NULL;
}

static void on_agent_joined(struct chat *c, const cJSON *data)
{
    char name[DEMOBOT_NAME_MAX + 1], text[DEMOBOT_NAME_MAX + 16];
    const char *avatar = NULL;
    agent_of(data, name, sizeof name, &avatar);
    chat_set_agent(c, name, avatar);
    snprintf(text, sizeof text, "%s joined", name);
    chat_system(c, text);
    c->mode = MODE_AGENT;
}

/* The text of an agent message: its text, else the names of its attachments. */
static void agent_text(const cJSON *data, struct byoc_buf *out)
{
    const char *text = byoc_json_str(data, "text");
    if (text && text[0]) {
        size_t keep = byoc_utf8_prefix(text, strlen(text), DEMOBOT_TEXT_MAX);
        if (byoc_buf_append(out, text, keep) != BYOC_ERR_OK)
            return;
    }
    const cJSON *att;
    cJSON_ArrayForEach(att, cJSON_GetObjectItemCaseSensitive(data, "attachments"))
    {
        const char *n = byoc_json_str(att, "name");
        if (byoc_buf_printf(out, "%s[attachment: %s]", out->len ? "\n" : "", n ? n : "file"))
            return;
    }
}

static void on_agent_message(struct chat *c, const cJSON *data)
{
    char name[DEMOBOT_NAME_MAX + 1];
    const char *avatar = NULL;
    agent_of(data, name, sizeof name, &avatar);
    struct byoc_buf text;
    byoc_buf_init(&text, DEMOBOT_TEXT_MAX + 1024);
    agent_text(data, &text);
    if (!chat_add(c, FROM_AGENT, byoc_buf_str(&text), name, avatar))
        byoc_log(BYOC_LOG_WARN, "demobot", "out of memory: an agent message was not shown");
    byoc_buf_release(&text);
    if (!c->agent_name || strcmp(c->agent_name, name) != 0)
        chat_set_agent(c, name, avatar);
    c->mode = MODE_AGENT;
}

static void on_escalated(struct chat *c, const cJSON *data)
{
    if (c->mode != MODE_BOT)
        return; /* the customer already reads "Connecting you to an agent…" */
    chat_system(c, "An agent will be with you shortly.");
    c->mode = MODE_WAITING;
}

static void back_to_bot(struct chat *c)
{
    chat_system(c, BACK_WITH_BOT);
    chat_set_agent(c, NULL, NULL);
    c->mode = MODE_BOT;
    c->typing_sent = false;
}

static void on_escalation_ended(struct chat *c, const cJSON *data)
{
    back_to_bot(c);
}

static const char *ended_text(const char *by)
{
    if (by && strcmp(by, "agent") == 0)
        return "The agent closed the conversation.";
    if (by && strcmp(by, "inactivity") == 0)
        return "The conversation with the agent ended after a period of inactivity.";
    if (by && strcmp(by, "failure") == 0)
        return "The conversation could not reach an agent.";
    return "The conversation with the agent ended.";
}

static void on_ended(struct chat *c, const cJSON *data)
{
    chat_system(c, ended_text(byoc_json_str(data, "by")));
    back_to_bot(c);
    /* forgotten, so the next 'agent' opens a new handover */
    memcpy(c->old_conv, c->conv, sizeof c->old_conv);
    c->conv[0] = '\0';
}

static void on_message_failed(struct chat *c, const cJSON *data)
{
    const char *reason = byoc_json_str(data, "reason");
    if (!reason || !reason[0])
        reason = "no reason given";
    int keep = (int)byoc_utf8_prefix(reason, strlen(reason), DEMOBOT_WHY_MAX);
    char text[DEMOBOT_WHY_MAX + 64];
    snprintf(text, sizeof text, "A message could not reach the agent: %.*s", keep, reason);
    chat_system(c, text);
}

static const struct {
    const char *type;
    void (*apply)(struct chat *c, const cJSON *data);
} event_handlers[] = {
    {"agent.joined", on_agent_joined},
    {"agent.message", on_agent_message},
    {"conversation.escalated", on_escalated},
    {"conversation.escalation_ended", on_escalation_ended},
    {"conversation.ended", on_ended},
    {"message.failed", on_message_failed},
};

/* Applies a verified event once; 204, or 503 when it may be about a handover whose id the
 * worker has not read yet (byocd redelivers it). b->mu held. */
static int event_apply(struct byoc_demobot *b, const char *webhook_id, const cJSON *ev)
{
    if (seen_before(b, webhook_id))
        return 204;
    const char *type = byoc_json_str(ev, "type");
    bool retired = false;
    struct chat *c = chat_by_conv(b, byoc_json_str(ev, "conversation_id"), &retired);
    if (!c && any_opening(b))
        return 503;
    for (size_t i = 0; c && type && i < BYOC_ARRAY_LEN(event_handlers); i++) {
        bool late_ok = !retired || event_handlers[i].apply == on_message_failed;
        if (strcmp(type, event_handlers[i].type) == 0 && late_ok) {
            event_handlers[i].apply(c, cJSON_GetObjectItemCaseSensitive(ev, "data"));
            c->active = ++b->activity;
        }
    }
    seen_add(b, webhook_id);
    return 204;
}

static void log_webhook_refused(const char *why)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "demobot", "webhook refused");
    byoc_log_str(&l, "reason", why);
    byoc_log_end(&l);
}

static void h_webhook(struct byoc_req *req)
{
    struct byoc_demobot *b = bot_of(req);
    const char *why = NULL;
    if (!webhook_verified(b, req, &why)) {
        log_webhook_refused(why);
        byoc_reply_error(req, BYOC_ERR_UNAUTHORIZED, "the webhook signature does not verify");
        return;
    }
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    cJSON *ev = NULL;
    enum byoc_err e = byoc_json_parse(body, len, &ev);
    if (e || !cJSON_IsObject(ev)) {
        cJSON_Delete(ev);
        byoc_reply_error(req, e ? e : BYOC_ERR_INVALID, NULL);
        return;
    }
    pthread_mutex_lock(&b->mu);
    int status = event_apply(b, byoc_req_header(req, "webhook-id"), ev);
    pthread_mutex_unlock(&b->mu);
    cJSON_Delete(ev);
    if (status == 503) { /* with Retry-After, so byocd redelivers it shortly */
        byoc_reply_error(req, BYOC_ERR_OVERLOADED, "the conversation is not known yet");
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
    {"POST", "/webhooks/byocd", h_webhook, 0, BYOC_BODY_RAW, DEMOBOT_WEBHOOK_BODY_MAX,
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
    byoc_wipe(b->key, sizeof b->key);
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
static bool secret_key(const char *secret, uint8_t *key, size_t cap, size_t *len)
{
    static const char prefix[] = "whsec_";
    size_t plen = sizeof prefix - 1;
    if (!secret || strncmp(secret, prefix, plen) != 0)
        return false;
    const char *k = secret + plen;
    return byoc_base64_decode(k, strlen(k), key, cap, len) == BYOC_ERR_OK && *len > 0;
}

static bool byocd_config_ok(const struct byoc_demobot_byocd *c, uint8_t *key, size_t *key_len)
{
    bool web =
        c->url && (strncmp(c->url, "http://", 7) == 0 || strncmp(c->url, "https://", 8) == 0);
    return web && strlen(c->url) <= DEMOBOT_URL_MAX && c->bot_api_key && c->bot_api_key[0] &&
           (!c->channel_id || c->channel_id[0]) &&
           secret_key(c->webhook_secret, key, DEMOBOT_KEY_MAX, key_len);
}

enum byoc_err byoc_demobot_set_byocd(struct byoc_demobot *b, const struct byoc_demobot_byocd *c)
{
    uint8_t key[DEMOBOT_KEY_MAX];
    size_t key_len = 0;
    if (!byocd_config_ok(c, key, &key_len)) {
        byoc_wipe(key, sizeof key);
        return BYOC_ERR_INVALID;
    }
    bool ok = true;
    char *url = byoc_strdup_opt(c->url, &ok), *api_key = byoc_strdup_opt(c->bot_api_key, &ok);
    char *channel = byoc_strdup_opt(c->channel_id, &ok);
    if (!ok) {
        free(url);
        free(channel);
        byoc_free_secret(api_key);
        byoc_wipe(key, sizeof key);
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
    memcpy(b->key, key, sizeof b->key);
    b->key_len = key_len;
    pthread_mutex_unlock(&b->mu);
    byoc_wipe(key, sizeof key);
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
