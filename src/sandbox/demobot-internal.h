/* Shared by the demo bot's files: demobot.c (chats, the script, calls to byocd, the HTTP API)
 * and demobot_webhooks.c (byocd's webhooks: verification, then what the customer sees). */
#ifndef BYOC_DEMOBOT_INTERNAL_H
#define BYOC_DEMOBOT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "byoc/demobot.h"
#include "byoc/http.h"
#include "byoc/limits.h"
#include "byoc/webhook.h"

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
    char secret[BYOC_WEBHOOK_SECRET_MAX]; /* "whsec_..."; "" until set */
};

/* demobot.c (b->mu held unless said) */
bool demobot_any_opening(const struct byoc_demobot *b);
struct byoc_demobot *demobot_bot_of(const struct byoc_req *req);
bool demobot_chat_add(struct chat *c, enum msg_from from, const char *text, const char *agent,
                      const char *avatar);
struct chat *demobot_chat_by_conv(struct byoc_demobot *b, const char *conv, bool *retired);
void demobot_chat_set_agent(struct chat *c, const char *name, const char *avatar);
void demobot_chat_system(struct chat *c, const char *text);

/* demobot_webhooks.c: POST /webhooks/byocd (HTTP thread; takes b->mu itself). */
void demobot_h_webhook(struct byoc_req *req);

#endif
