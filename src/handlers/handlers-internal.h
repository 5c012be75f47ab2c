/* Shared inside src/handlers/ only. */
#ifndef BYOC_HANDLERS_INTERNAL_H
#define BYOC_HANDLERS_INTERNAL_H

#include "byoc/app.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/provider.h"

/* health.c */
void h_healthz(struct byoc_req *req);
void h_readyz(struct byoc_req *req);
void h_metrics(struct byoc_req *req);
void h_provider_rotate(struct byoc_req *req);
/* admin.c */
void h_provider_create(struct byoc_req *req);
void h_provider_list(struct byoc_req *req);
void h_provider_get(struct byoc_req *req);
void h_provider_delete(struct byoc_req *req);
void h_channel_add(struct byoc_req *req);
void h_channel_list(struct byoc_req *req);
void h_channel_delete(struct byoc_req *req);
void h_agent_messages(struct byoc_req *req);
/* cxone_auth.c */
void h_token(struct byoc_req *req);
bool authorize_cxone_or_reply(struct byoc_req *req);
/* box.c */
void h_box_reply(struct byoc_req *req);
void h_box_outbound(struct byoc_req *req);
void h_box_validate(struct byoc_req *req);
void h_box_unknown(struct byoc_req *req);
/* bot.c */
bool authorize_bot_or_reply(struct byoc_req *req);
void h_conversation_open(struct byoc_req *req);
void h_conversation_list(struct byoc_req *req);
void h_conversation_get(struct byoc_req *req);
void h_conversation_message(struct byoc_req *req);
void h_conversation_typing(struct byoc_req *req);
void h_conversation_end(struct byoc_req *req);
/* availability.c */
void h_availability(struct byoc_req *req);
/* voice.c */
void h_voice_handoff(struct byoc_req *req);
void h_transcript_page(struct byoc_req *req);
/* webhooks.c */
void h_webhook_create(struct byoc_req *req);
void h_webhook_list(struct byoc_req *req);
void h_webhook_delete(struct byoc_req *req);
void h_webhook_rotate(struct byoc_req *req);
void h_admin_webhook_list(struct byoc_req *req);
void h_admin_webhook_rotate(struct byoc_req *req);
void h_delivery_list(struct byoc_req *req);
void h_delivery_replay(struct byoc_req *req);
void h_delivery_replay_all(struct byoc_req *req);
void h_conversation_events(struct byoc_req *req);
void h_events(struct byoc_req *req);
/* INVALID (why names field) for a URL a webhook may not have, under this server's SSRF rules. */
enum byoc_err webhook_url_check(struct byoc_req *req, const char *url, const char *field, char *why,
                                size_t why_cap);
/* studio.c */
bool authorize_studio_or_reply(struct byoc_req *req);
void h_studio_event(struct byoc_req *req);
void h_studio_calls(struct byoc_req *req);
/* actions.c */
void h_action_open(struct byoc_req *req);
void h_action_add_submit(struct byoc_req *req);

/* app.c helpers */
static inline struct byoc_app *app_of(const struct byoc_req *req)
{
    return byoc_req_app(req);
}
/* The {provider_id} path parameter when well-formed; else replies 404 and returns NULL. */
const char *provider_param_or_reply(struct byoc_req *req);
/* Reads the provider; replies 404 (or the storage error) and returns false when it cannot. */
bool provider_load_or_reply(struct byoc_req *req, const char *id, struct byoc_provider *out);
/* Parks the request until w is durable, then runs cont (which reads w->err). If the writer
 * refuses w at once, cont still runs with that error. */
void submit_then(struct byoc_req *req, struct byoc_write *w, byoc_handler_fn cont);
/* Parks the request, runs fn(arg) on a task thread; fn must end with byoc_req_resume(req).
 * Replies 503 and returns false if the pool refuses. */
bool task_then_or_reply(struct byoc_req *req, void (*fn)(void *), void *arg, byoc_handler_fn cont);
/* The JSON body as an object; replies 400 and returns NULL when absent or not an object. */
const cJSON *body_object_or_reply(struct byoc_req *req);
/* Adds an ISO-8601 time member. */
bool json_add_time(cJSON *obj, const char *key, int64_t unix_ms);
/* Provider view without secrets. */
cJSON *provider_view(const struct byoc_app *app, const struct byoc_provider *p);
cJSON *channel_view(const struct byoc_channel *c);
/* Per request: the key, and the hash of what it was sent with. */
struct idem_slot {
    struct byoc_idem idem;
    char key[BYOC_IDEMPOTENCY_KEY_MAX + 1];
    bool used;
};

/* Reads Idempotency-Key: replays a stored answer (or refuses a reuse with another body) and
 * returns false after replying; else true, with slot->used when the answer must be stored. */
bool idem_or_reply(struct byoc_req *req, struct idem_slot *slot);
/* The answer a new key stores (NULL when no key was given); body must outlive the write. */
const struct byoc_idem *idem_answer(struct idem_slot *slot, int status, const char *body);
/* After a write: a concurrent request with the same key got there first; replays its answer. */
bool replayed(struct byoc_req *req, struct byoc_write *w);
/* ?after=N&limit=1..500 of a list (defaults: 0, default_limit); replies 400 and returns false
 * when one is bad. */
bool page_or_reply(struct byoc_req *req, int64_t default_limit, int64_t *after, int64_t *limit);
/* The same with ?unmatched=true|false (default false) and the default page of 50. */
bool unmatched_page_or_reply(struct byoc_req *req, bool *unmatched, int64_t *after, int64_t *limit);
/* {"<key>": [view(ctx, item) for each item]}, or NULL on NOMEM. */
cJSON *list_json(const char *key, const void *items, size_t n, size_t size,
                 cJSON *(*view)(const void *ctx, const void *item), const void *ctx);
/* The {provider_id} of the path when that provider exists; else replies 404 and returns NULL. */
const char *provider_known_or_reply(struct byoc_req *req);

#endif
