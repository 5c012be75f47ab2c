/* The sandbox's demo bot: a tiny scripted chatbot with a customer chat page, integrated with
 * byocd the way a bot platform should be (the bot API to hand over and relay, signed webhooks
 * verified before they are trusted). It is the reference integration shown by `byocd sandbox`.
 *
 * HTTP (its own listener; JSON unless said otherwise):
 *   GET  /                               the customer chat page (text/html, self-contained)
 *   POST /api/chats                      {} -> 201 {"id"}: a new customer chat, greeted by the bot
 *   GET  /api/chats/{id}?after=N         {"id","mode","agent","typing","messages":[...]} with the
 *                                        messages whose seq > N (see below)
 *   POST /api/chats/{id}/messages        {"text"} -> 202 {"seq"}: what the customer typed
 *                                        (1-4000 bytes, else 400; 503 when the queue of calls to
 *                                        byocd is full); in mode "bot" the bot answers at once,
 *                                        else it is relayed to the conversation
 *   POST /api/chats/{id}/typing          {"typing":bool} -> 204 (relayed while an agent has it)
 *   POST /webhooks/byocd                 byocd's Standard Webhooks deliveries, verified before
 *                                        the body is read: 401 when the signature or timestamp
 *                                        (±5 min) does not verify; 204 once applied (a repeated
 *                                        webhook-id is skipped); 503 with Retry-After for an
 *                                        event that may belong to a handover whose 201 the bot
 *                                        has not read yet (byocd redelivers it)
 *   Unknown chats are 404; the page then starts a new one. Chats live in memory only, at most
 *   256 (the least recently active goes first), each with its last 200 messages.
 *   mode: "bot" (the bot answers), "waiting" (handed over, no agent yet), "agent" (an agent
 *   replied); agent: null or {"name","avatar_url"}; typing: unused by byocd today (false).
 *   messages: [{"seq", "from": "customer"|"bot"|"agent"|"system", "text",
 *               "agent_name"?, "avatar_url"?, "at"}]
 *
 * Threads: start/stop/set_* from one controlling thread; the server runs its own threads. */
#ifndef BYOC_DEMOBOT_H
#define BYOC_DEMOBOT_H

#include <stddef.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_demobot;

struct byoc_demobot_config {
    const char *host; /* listen address, e.g. "127.0.0.1" */
    int port;         /* 0: any free port (byoc_demobot_port tells) */
};

/* What the bot needs to talk to byocd; strings are copied. Set once the provider exists, before
 * any customer arrives (the sandbox creates the provider with this bot's webhook URL); a later
 * call replaces the values. Until then a customer asking for an agent stays with the bot and
 * every webhook is 401. Calls to byocd run on the bot's worker thread, one at a time in order,
 * each retried a few times (5xx, 429, timeouts) with the same Idempotency-Key and body.
 * Errors: INVALID (url not http(s), empty key, secret not "whsec_" + base64), NOMEM. */
struct byoc_demobot_byocd {
    const char *url;            /* byocd's base URL, e.g. "http://127.0.0.1:8080" */
    const char *bot_api_key;    /* the provider's bot API key */
    const char *webhook_secret; /* "whsec_..." of the provider's webhook subscription */
    const char *channel_id;     /* CXone channel to hand over to; NULL: the provider's only one */
};

BYOC_MUST_USE enum byoc_err byoc_demobot_start(const struct byoc_demobot_config *cfg,
                                               struct byoc_demobot **out, char *why,
                                               size_t why_cap);
int byoc_demobot_port(const struct byoc_demobot *b);
BYOC_MUST_USE enum byoc_err byoc_demobot_set_byocd(struct byoc_demobot *b,
                                                   const struct byoc_demobot_byocd *c);
/* Stops the listener and the worker, frees everything. NULL ok. */
void byoc_demobot_stop(struct byoc_demobot *b);

#endif
