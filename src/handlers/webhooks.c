/* Events for bot platforms: subscriptions (bot API and admin), the pull API, and the admin's
 * view of deliveries with replay of dead ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/outbound.h"
#include "byoc/webhook.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define WHY_MAX 256
#define CURSOR_TEXT_MAX 24

enum byoc_err webhook_url_check(struct byoc_req *req, const char *url, const char *field, char *why,
                                size_t why_cap)
{
    char reason[WHY_MAX] = "";
    enum byoc_err e = byoc_out_url_check(url, app_of(req)->cfg->webhook_allow_private != 0, reason,
                                         sizeof reason);
    if (e)
        snprintf(why, why_cap, "%s: %s", field, reason[0] ? reason : byoc_strerror(e));
    return e;
}

/* ---- views ---- */

static bool add_opt_time(cJSON *o, const char *key, int64_t ms)
{
    return !ms || json_add_time(o, key, ms);
}

static cJSON *webhook_view(const struct byoc_webhook *h, int64_t now)
{
    cJSON *v = cJSON_CreateObject(), *types = NULL;
    if (h->events_json &&
        byoc_json_parse(h->events_json, strlen(h->events_json), &types) != BYOC_ERR_OK)
        types = NULL;
    bool ok = v && byoc_json_add_str(v, "id", h->id) && byoc_json_add_str(v, "url", h->url);
    if (ok && types && cJSON_AddItemToObject(v, "events", types))
        types = NULL;
    else
        ok = ok && !types && cJSON_AddNullToObject(v, "events");
    cJSON_Delete(types);
    ok =
        ok &&
        byoc_json_add_str(v, "state", h->state == BYOC_WEBHOOK_DISABLED ? "disabled" : "enabled") &&
        (!h->disabled_reason || byoc_json_add_str(v, "disabled_reason", h->disabled_reason)) &&
        json_add_time(v, "created_at", h->created_at) &&
        add_opt_time(v, "secret_rotated_at", h->secret_rotated_at) &&
        add_opt_time(v, "previous_secret_expires_at",
                     h->old_secret_sealed.data && h->old_secret_until > now ? h->old_secret_until
                                                                            : 0);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static cJSON *event_item(const void *ctx, const void *e)
{
    return byoc_event_view(e);
}

static cJSON *delivery_item(const void *ctx, const void *item)
{
    const struct byoc_delivery *d = item;
    cJSON *v = cJSON_CreateObject(), *ev = byoc_event_view(&d->event);
    bool ok = v && ev && byoc_json_add_str(v, "id", d->id) &&
              byoc_json_add_str(v, "webhook_id", d->webhook_id) &&
              byoc_json_add_str(v, "provider_id", d->event.provider_id);
    if (ok && cJSON_AddItemToObject(v, "event", ev))
        ev = NULL;
    else
        ok = false;
    cJSON_Delete(ev);
    bool waiting = d->state == BYOC_DELIVERY_PENDING;
    ok = ok && byoc_json_add_str(v, "state", byoc_delivery_state_name(d->state)) &&
         cJSON_AddNumberToObject(v, "attempts", (double)d->attempts) &&
         (!d->last_status || cJSON_AddNumberToObject(v, "last_status", (double)d->last_status)) &&
         (!d->last_error || byoc_json_add_str(v, "last_error", d->last_error)) &&
         add_opt_time(v, "next_attempt_at", waiting ? d->next_attempt_at : 0) &&
         add_opt_time(v, "delivered_at", d->delivered_at) &&
         json_add_time(v, "created_at", d->created_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* ---- subscriptions ---- */

/* A JSON array text of known event types (NULL for "every type"); replies 400 on a bad list. */
static bool events_filter_or_reply(struct byoc_req *req, const cJSON *events, char **out)
{
    *out = NULL;
    if (!events || cJSON_IsNull(events))
        return true;
    bool ok = cJSON_IsArray(events) && cJSON_GetArraySize(events) > 0 &&
              cJSON_GetArraySize(events) <= BYOC_EVENT__COUNT;
    const cJSON *it;
    enum byoc_event_type t;
    cJSON_ArrayForEach(it, events)
    {
        ok = ok && cJSON_IsString(it) && byoc_event_type_parse(it->valuestring, &t);
    }
    if (!ok) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "events: a non-empty array of event types (conversation.escalated, "
                         "agent.joined, agent.message, agent.typing, "
                         "conversation.escalation_ended, conversation.released, "
                         "conversation.ended, message.delivered, message.failed), or null for "
                         "all");
        return false;
    }
    *out = byoc_json_render(events);
    if (!*out)
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
    return *out != NULL;
}

struct webhook_ctx {
    struct byoc_write w;
    struct byoc_webhook hook;
    struct byoc_blob sealed;
    char secret[BYOC_WEBHOOK_SECRET_MAX];
    int64_t old_until;
    bool admin;
};

static void webhook_ctx_free(void *p)
{
    struct webhook_ctx *c = p;
    free(c->hook.url);
    free(c->hook.events_json);
    byoc_blob_release(&c->sealed);
    byoc_wipe(c->secret, sizeof c->secret);
    free(c);
}

/* A context with a new secret sealed for the provider; replies and returns NULL on failure. */
static struct webhook_ctx *webhook_ctx_or_reply(struct byoc_req *req, const char *provider_id)
{
    struct webhook_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return NULL;
    }
    byoc_req_set_ctx(req, c, webhook_ctx_free);
    byoc_strlcpy(c->hook.provider_id, provider_id, sizeof c->hook.provider_id);
    enum byoc_err e = byoc_webhook_secret_new(c->secret);
    if (!e)
        e = byoc_seal_field(&app_of(req)->keys, provider_id, BYOC_SEALED_WEBHOOK_SECRET, c->secret,
                            &c->sealed);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return NULL;
    }
    return c;
}

static void log_webhook(const struct webhook_ctx *c, const char *what)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "webhooks", what);
    byoc_log_str(&l, "provider_id", c->hook.provider_id);
    byoc_log_str(&l, "webhook_id", c->hook.id);
    byoc_log_end(&l);
}

#define CAP_REACHED "this provider has the most subscriptions allowed (20); delete one first"

static void webhook_created(struct byoc_req *req)
{
    struct webhook_ctx *c = byoc_req_ctx(req);
    if (c->w.err) { /* CONFLICT: a concurrent create took the last place */
        byoc_reply_error(req, c->w.err, c->w.err == BYOC_ERR_CONFLICT ? CAP_REACHED : NULL);
        return;
    }
    cJSON *v = webhook_view(&c->hook, c->hook.created_at);
    if (v && !byoc_json_add_str(v, "secret", c->secret)) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 201, v);
    log_webhook(c, "subscription created");
}

void h_webhook_create(struct byoc_req *req)
{
    const char *provider_id = byoc_req_principal(req);
    const cJSON *b = body_object_or_reply(req);
    if (!b)
        return;
    const char *url = byoc_json_str(b, "url");
    char why[WHY_MAX], *events = NULL;
    if (webhook_url_check(req, url, "url", why, sizeof why)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, why);
        return;
    }
    if (!events_filter_or_reply(req, cJSON_GetObjectItemCaseSensitive(b, "events"), &events))
        return;
    struct webhook_ctx *c = webhook_ctx_or_reply(req, provider_id); /* the cap: in the write */
    if (!c) {
        free(events);
        return;
    }
    c->hook.events_json = events;
    c->hook.url = strdup(url);
    c->hook.created_at = c->hook.updated_at = byoc_now_ms();
    c->hook.secret_sealed = c->sealed;
    enum byoc_err e = c->hook.url ? byoc_id_new("wh", c->hook.id) : BYOC_ERR_NOMEM;
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_WEBHOOK_CREATE;
    c->w.in.webhook = &c->hook;
    submit_then(req, &c->w, webhook_created);
}

static cJSON *webhook_item(const void *now, const void *h)
{
    return webhook_view(h, *(const int64_t *)now);
}

static void reply_webhooks(struct byoc_req *req, const char *provider_id)
{
    struct byoc_webhook *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_webhook_list(app_of(req)->store, provider_id, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    int64_t now = byoc_now_ms();
    cJSON *root = list_json("webhooks", list, n, sizeof *list, webhook_item, &now);
    byoc_webhook_list_free(list, n);
    byoc_reply_json(req, 200, root);
}

void h_webhook_list(struct byoc_req *req)
{
    reply_webhooks(req, byoc_req_principal(req));
}

void h_admin_webhook_list(struct byoc_req *req)
{
    const char *id = provider_known_or_reply(req);
    if (!id)
        return;
    reply_webhooks(req, id);
}

static const char *webhook_param_or_reply(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "webhook_id");
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such webhook");
        return NULL;
    }
    return id;
}

static void webhook_deleted(struct byoc_req *req)
{
    struct webhook_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, c->w.err == BYOC_ERR_NOT_FOUND ? "no such webhook" : NULL);
        return;
    }
    byoc_reply(req, 204, NULL, NULL, 0);
    log_webhook(c, "subscription deleted");
}

void h_webhook_delete(struct byoc_req *req)
{
    const char *id = webhook_param_or_reply(req);
    struct webhook_ctx *c = id ? calloc(1, sizeof *c) : NULL;
    if (!id)
        return;
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, webhook_ctx_free);
    byoc_strlcpy(c->hook.provider_id, byoc_req_principal(req), sizeof c->hook.provider_id);
    byoc_strlcpy(c->hook.id, id, sizeof c->hook.id);
    c->w.kind = BYOC_WRITE_WEBHOOK_DELETE;
    c->w.in.webhook_ref.provider_id = c->hook.provider_id;
    c->w.in.webhook_ref.webhook_id = c->hook.id;
    submit_then(req, &c->w, webhook_deleted);
}

static void webhook_rotated(struct byoc_req *req)
{
    struct webhook_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, c->w.err == BYOC_ERR_NOT_FOUND ? "no such webhook" : NULL);
        return;
    }
    cJSON *v = cJSON_CreateObject();
    if (v &&
        !(byoc_json_add_str(v, "id", c->hook.id) && byoc_json_add_str(v, "secret", c->secret) &&
          json_add_time(v, "previous_secret_expires_at", c->old_until))) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 200, v);
    log_webhook(c, "secret rotated");
}

static void rotate(struct byoc_req *req, const char *provider_id, const char *webhook_id)
{
    struct webhook_ctx *c = webhook_ctx_or_reply(req, provider_id);
    if (!c)
        return;
    byoc_strlcpy(c->hook.id, webhook_id, sizeof c->hook.id);
    int64_t now = byoc_now_ms();
    c->old_until = now + app_of(req)->cfg->webhook_secret_overlap * 1000;
    c->w.kind = BYOC_WRITE_WEBHOOK_ROTATE;
    c->w.in.webhook_ref.provider_id = c->hook.provider_id;
    c->w.in.webhook_ref.webhook_id = c->hook.id;
    c->w.in.webhook_ref.secret_sealed = &c->sealed;
    c->w.in.webhook_ref.old_until = c->old_until;
    c->w.in.webhook_ref.now = now;
    submit_then(req, &c->w, webhook_rotated);
}

void h_webhook_rotate(struct byoc_req *req)
{
    const char *id = webhook_param_or_reply(req);
    if (id)
        rotate(req, byoc_req_principal(req), id);
}

void h_admin_webhook_rotate(struct byoc_req *req)
{
    const char *provider_id = provider_param_or_reply(req);
    const char *id = provider_id ? webhook_param_or_reply(req) : NULL;
    if (id)
        rotate(req, provider_id, id);
}

/* ---- the pull API ---- */

static void reply_events(struct byoc_req *req, const char *conversation_id, int64_t after,
                         int64_t limit)
{
    struct byoc_event *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_event_list(app_of(req)->store, byoc_req_principal(req),
                                            conversation_id, after, (size_t)limit, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("events", list, n, sizeof *list, event_item, NULL);
    bool ok = root != NULL;
    if (ok && conversation_id) {
        ok = cJSON_AddNumberToObject(root, "next_after", (double)(n ? list[n - 1].seq : after));
    } else if (ok) {
        char cursor[CURSOR_TEXT_MAX];
        snprintf(cursor, sizeof cursor, "%lld", (long long)(n ? list[n - 1].cursor : after));
        ok = byoc_json_add_str(root, "next_cursor", cursor);
    }
    byoc_event_list_free(list, n);
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_reply_json(req, 200, root);
}

void h_conversation_events(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "conversation_id");
    int64_t after, limit;
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such conversation");
        return;
    }
    if (!page_or_reply(req, BYOC_EVENT_PAGE_DEFAULT, &after, &limit))
        return;
    struct byoc_conversation conv;
    enum byoc_err e =
        byoc_store_conversation_get(app_of(req)->store, byoc_req_principal(req), id, &conv);
    if (e) {
        byoc_reply_error(req, e, e == BYOC_ERR_NOT_FOUND ? "no such conversation" : NULL);
        return;
    }
    byoc_conversation_release(&conv);
    reply_events(req, id, after, limit);
}

void h_events(struct byoc_req *req)
{
    int64_t after, limit;
    if (page_or_reply(req, BYOC_EVENT_PAGE_DEFAULT, &after, &limit))
        reply_events(req, NULL, after, limit);
}

/* ---- deliveries (admin) ---- */

void h_delivery_list(struct byoc_req *req)
{
    const char *state = byoc_req_query(req, "state");
    const char *provider = byoc_req_query(req, "provider_id");
    const char *webhook = byoc_req_query(req, "webhook_id");
    enum byoc_delivery_state st = BYOC_DELIVERY_PENDING;
    int64_t after, limit;
    if (!page_or_reply(req, BYOC_EVENT_PAGE_DEFAULT, &after, &limit))
        return;
    if ((state && !byoc_delivery_state_parse(state, &st)) ||
        (provider && !byoc_id_valid(provider, BYOC_ID_MAX - 1)) ||
        (webhook && !byoc_id_valid(webhook, BYOC_ID_MAX - 1))) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "state: pending, sending, delivered or dead; provider_id and webhook_id: "
                         "ids");
        return;
    }
    struct byoc_delivery *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_delivery_list(app_of(req)->store, state ? (int)st : -1, provider,
                                               webhook, after, (size_t)limit, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("deliveries", list, n, sizeof *list, delivery_item, NULL);
    char cursor[CURSOR_TEXT_MAX];
    snprintf(cursor, sizeof cursor, "%lld", n ? (long long)list[n - 1].cursor : 0LL);
    bool more = n == (size_t)limit;
    if (root && !(more ? byoc_json_add_str(root, "next_after", cursor)
                       : cJSON_AddNullToObject(root, "next_after") != NULL)) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_delivery_list_free(list, n);
    byoc_reply_json(req, 200, root);
}

struct replay_ctx {
    struct byoc_write w;
    char id[BYOC_ID_MAX];
};

static void replayed_one(struct byoc_req *req)
{
    struct replay_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err,
                         c->w.err == BYOC_ERR_NOT_FOUND  ? "no such delivery"
                         : c->w.err == BYOC_ERR_CONFLICT ? "only a dead delivery can be replayed"
                                                         : NULL);
        return;
    }
    cJSON *v = cJSON_CreateObject();
    if (v && !(byoc_json_add_str(v, "id", c->id) && byoc_json_add_str(v, "state", "pending"))) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 202, v);
}

static void replayed_all(struct byoc_req *req)
{
    struct replay_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    cJSON *v = cJSON_CreateObject();
    if (v && !cJSON_AddNumberToObject(v, "replayed", (double)c->w.out.replayed)) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 202, v);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "webhooks", "dead deliveries replayed");
    byoc_log_str(&l, "provider_id", c->id);
    byoc_log_int(&l, "count", (long long)c->w.out.replayed);
    byoc_log_end(&l);
}

static struct replay_ctx *replay_ctx_or_reply(struct byoc_req *req, const char *id)
{
    struct replay_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return NULL;
    }
    byoc_req_set_ctx(req, c, free);
    byoc_strlcpy(c->id, id, sizeof c->id);
    c->w.kind = BYOC_WRITE_DELIVERY_REPLAY;
    c->w.in.replay.now = byoc_now_ms();
    return c;
}

void h_delivery_replay(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "delivery_id");
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such delivery");
        return;
    }
    struct replay_ctx *c = replay_ctx_or_reply(req, id);
    if (!c)
        return;
    c->w.in.replay.delivery_id = c->id;
    submit_then(req, &c->w, replayed_one);
}

void h_delivery_replay_all(struct byoc_req *req)
{
    const char *id = provider_known_or_reply(req);
    if (!id)
        return;
    struct replay_ctx *c = replay_ctx_or_reply(req, id);
    if (!c)
        return;
    c->w.in.replay.provider_id = c->id;
    submit_then(req, &c->w, replayed_all);
}
