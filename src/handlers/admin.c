/* Admin API: providers and their channels, and the agent messages CXone delivered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/cxone.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define WHY_MAX 256

/* ---- create ---- */

struct create_ctx {
    struct byoc_req *req;
    struct byoc_provider_input in; /* points into the request body */
    char *discovered;              /* api_base_url from .well-known */
    enum byoc_err err;
    char detail[BYOC_CXONE_DETAIL_MAX];
    struct byoc_provider p;
    struct byoc_provider_secrets secrets;
    struct byoc_write w;
};

static void create_ctx_free(void *ptr)
{
    struct create_ctx *c = ptr;
    free(c->discovered);
    byoc_provider_release(&c->p);
    byoc_provider_secrets_wipe(&c->secrets);
    free(c);
}

static cJSON *created_view(const struct byoc_app *app, const struct create_ctx *c)
{
    cJSON *v = provider_view(app, &c->p);
    cJSON *byoc = v ? cJSON_GetObjectItemCaseSensitive(v, "byoc") : NULL;
    bool ok = byoc && byoc_json_add_str(byoc, "client_secret", c->secrets.byoc_client_secret) &&
              byoc_json_add_str(v, "bot_api_key", c->secrets.bot_api_key) &&
              byoc_json_add_str(v, "webhook_secret", c->secrets.webhook_secret) &&
              byoc_json_add_str(v, "studio_secret", c->secrets.studio_secret);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static void provider_created(struct byoc_req *req)
{
    struct create_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    char location[BYOC_ID_MAX + 32];
    snprintf(location, sizeof location, "/admin/v1/providers/%s", c->p.id);
    byoc_reply_header(req, "Location", location);
    byoc_reply_json(req, 201, created_view(app_of(req), c));
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "admin", "provider created");
    byoc_log_str(&l, "provider_id", c->p.id);
    byoc_log_end(&l);
}

/* Builds the provider from c->in and stores it. */
static void create_and_store(struct byoc_req *req)
{
    struct create_ctx *c = byoc_req_ctx(req);
    enum byoc_err e =
        byoc_provider_build(&app_of(req)->keys, &c->in, byoc_now_ms(), &c->p, &c->secrets);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_PROVIDER_CREATE;
    c->w.in.provider = &c->p;
    submit_then(req, &c->w, provider_created);
}

static void discover_task(void *arg)
{
    struct create_ctx *c = arg;
    c->err = byoc_cxone_discover(c->in.auth_url, c->in.tenant_id, &c->discovered, c->detail);
    byoc_req_resume(c->req); /* last touch of the request */
}

static void discovered(struct byoc_req *req)
{
    struct create_ctx *c = byoc_req_ctx(req);
    if (c->err) {
        char msg[BYOC_CXONE_DETAIL_MAX + 96];
        snprintf(msg, sizeof msg, "cxone.tenant_id: the API host could not be discovered%s%s",
                 c->detail[0] ? ": " : "", c->detail);
        byoc_reply_error(req, c->err == BYOC_ERR_NOT_FOUND ? BYOC_ERR_UPSTREAM : c->err, msg);
        return;
    }
    c->in.api_base_url = c->discovered;
    create_and_store(req);
}

void h_provider_create(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    if (!b)
        return;
    struct create_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, create_ctx_free);
    c->req = req;
    char why[WHY_MAX];
    byoc_provider_input_from_json(b, &c->in);
    if (byoc_provider_input_check(&c->in, why, sizeof why) ||
        webhook_url_check(req, c->in.webhook_url, "webhook_url", why, sizeof why)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, why);
        return;
    }
    if (!c->in.api_base_url) /* only a tenant: ask CXone where its API lives */
        task_then_or_reply(req, discover_task, c, discovered);
    else
        create_and_store(req);
}

static cJSON *provider_item(const void *app, const void *p)
{
    return provider_view(app, p);
}

static cJSON *channel_item(const void *ctx, const void *c)
{
    return channel_view(c);
}

/* ---- read ---- */

void h_provider_list(struct byoc_req *req)
{
    struct byoc_provider *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_provider_list(app_of(req)->store, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("items", list, n, sizeof *list, provider_item, app_of(req));
    byoc_provider_list_free(list, n);
    byoc_reply_json(req, 200, root);
}

void h_provider_get(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    struct byoc_provider p;
    if (!id || !provider_load_or_reply(req, id, &p))
        return;
    byoc_reply_json(req, 200, provider_view(app_of(req), &p));
    byoc_provider_release(&p);
}

/* ---- secret rotation ---- */

struct rotate_ctx {
    struct byoc_write w;
    char provider_id[BYOC_ID_MAX];
    char secret[BYOC_PROVIDER_SECRET_MAX];
};

static void rotate_ctx_free(void *ptr)
{
    struct rotate_ctx *c = ptr;
    byoc_wipe(c, sizeof *c);
    free(c);
}

static void rotated(struct byoc_req *req)
{
    struct rotate_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, c->w.err == BYOC_ERR_NOT_FOUND ? "no such provider" : NULL);
        return;
    }
    const char *name = byoc_provider_secret_name(c->w.in.rotate.which);
    cJSON *v = cJSON_CreateObject();
    if (v && !(byoc_json_add_str(v, "provider_id", c->provider_id) &&
               byoc_json_add_str(v, "secret", name) && byoc_json_add_str(v, "value", c->secret) &&
               json_add_time(v, "rotated_at", c->w.in.rotate.now))) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 200, v);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "admin", "provider secret rotated");
    byoc_log_str(&l, "provider_id", c->provider_id);
    byoc_log_str(&l, "secret", name);
    byoc_log_end(&l);
}

/* A new client secret, bot API key or Studio secret; the old one stops working at once. */
void h_provider_rotate(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    const cJSON *b = id ? body_object_or_reply(req) : NULL;
    if (!b)
        return;
    enum byoc_provider_secret which;
    if (!byoc_provider_secret_parse(byoc_json_str(b, "secret"), &which)) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "secret: one of client_secret, bot_api_key, studio_secret");
        return;
    }
    struct rotate_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, rotate_ctx_free);
    byoc_strlcpy(c->provider_id, id, sizeof c->provider_id);
    c->w.kind = BYOC_WRITE_PROVIDER_ROTATE;
    c->w.in.rotate.provider_id = c->provider_id;
    c->w.in.rotate.which = which;
    c->w.in.rotate.now = byoc_now_ms();
    enum byoc_err e = byoc_provider_secret_new(which, c->secret, c->w.in.rotate.hash);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    submit_then(req, &c->w, rotated);
}

/* ---- deletes (provider, channel) share one continuation ---- */

struct delete_ctx {
    struct byoc_write w;
    char provider_id[BYOC_ID_MAX];
    char *channel_id;
};

static void delete_ctx_free(void *ptr)
{
    struct delete_ctx *c = ptr;
    free(c->channel_id);
    free(c);
}

static void deleted(struct byoc_req *req)
{
    struct delete_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err,
                         c->w.err == BYOC_ERR_NOT_FOUND
                             ? (c->channel_id ? "no such channel" : "no such provider")
                             : NULL);
        return;
    }
    byoc_reply(req, 204, NULL, NULL, 0);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "admin",
                   c->channel_id ? "channel removed" : "provider deleted");
    byoc_log_str(&l, "provider_id", c->provider_id);
    byoc_log_str(&l, "channel_id", c->channel_id);
    byoc_log_end(&l);
}

static struct delete_ctx *delete_ctx_or_reply(struct byoc_req *req, const char *provider_id)
{
    struct delete_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return NULL;
    }
    byoc_req_set_ctx(req, c, delete_ctx_free);
    byoc_strlcpy(c->provider_id, provider_id, sizeof c->provider_id);
    return c;
}

void h_provider_delete(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    struct delete_ctx *c = id ? delete_ctx_or_reply(req, id) : NULL;
    if (!c)
        return;
    c->w.kind = BYOC_WRITE_PROVIDER_DELETE;
    c->w.in.provider_id = c->provider_id;
    submit_then(req, &c->w, deleted);
}

void h_channel_delete(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    const char *channel_id = byoc_req_param(req, "channel_id");
    if (!id)
        return;
    if (!byoc_external_id_valid(channel_id, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such channel");
        return;
    }
    struct delete_ctx *c = delete_ctx_or_reply(req, id);
    if (!c)
        return;
    c->channel_id = strdup(channel_id);
    if (!c->channel_id) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_CHANNEL_DELETE;
    c->w.in.channel_delete.provider_id = c->provider_id;
    c->w.in.channel_delete.channel_id = c->channel_id;
    submit_then(req, &c->w, deleted);
}

/* ---- channels ---- */

struct channel_ctx {
    struct byoc_channel ch;
    struct byoc_write w;
    bool existed;
};

static void channel_ctx_free(void *ptr)
{
    struct channel_ctx *c = ptr;
    byoc_channel_release(&c->ch);
    free(c);
}

static void channel_added(struct byoc_req *req)
{
    struct channel_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, c->w.err == BYOC_ERR_NOT_FOUND ? "no such provider" : NULL);
        return;
    }
    char location[BYOC_ID_MAX + 3 * BYOC_EXTERNAL_ID_MAX + 40], esc[3 * BYOC_EXTERNAL_ID_MAX + 1];
    if (byoc_url_escape(c->ch.channel_id, esc, sizeof esc)) {
        snprintf(location, sizeof location, "/admin/v1/providers/%s/channels/%s", c->ch.provider_id,
                 esc);
        byoc_reply_header(req, "Location", location);
    }
    byoc_reply_json(req, c->existed ? 200 : 201, channel_view(&c->ch));
}

/* Registering the same channel again updates its name and answers 200 (a safe retry). */
void h_channel_add(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    const cJSON *b = id ? body_object_or_reply(req) : NULL;
    if (!b)
        return;
    const char *channel_id = byoc_json_str(b, "channel_id"), *name = byoc_json_str(b, "name");
    const char *skill = byoc_json_str(b, "skill_id");
    if (cJSON_GetObjectItemCaseSensitive(b, "skill_id") &&
        !byoc_external_id_valid(skill, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "skill_id: 1-256 printable characters");
        return;
    }
    if (!byoc_external_id_valid(channel_id, BYOC_EXTERNAL_ID_MAX) || !name ||
        !byoc_name_valid(name)) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "channel_id (1-256 printable characters) and name (1-200 characters) "
                         "are required");
        return;
    }
    struct channel_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, channel_ctx_free);
    struct byoc_channel old;
    enum byoc_err e = byoc_store_channel_get(app_of(req)->store, id, channel_id, &old);
    if (e && e != BYOC_ERR_NOT_FOUND) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    c->existed = e == BYOC_ERR_OK;
    byoc_channel_release(&old);
    byoc_strlcpy(c->ch.provider_id, id, sizeof c->ch.provider_id);
    c->ch.channel_id = strdup(channel_id);
    c->ch.name = strdup(name);
    c->ch.skill_id = skill ? strdup(skill) : NULL;
    c->ch.source = BYOC_CHANNEL_ADMIN;
    c->ch.created_at = c->ch.updated_at = byoc_now_ms();
    if (!c->ch.channel_id || !c->ch.name) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_CHANNEL_UPSERT;
    c->w.in.channel_upsert.channel = &c->ch;
    submit_then(req, &c->w, channel_added);
}

void h_channel_list(struct byoc_req *req)
{
    const char *id = provider_known_or_reply(req);
    if (!id)
        return;
    struct byoc_channel *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_channel_list(app_of(req)->store, id, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("items", list, n, sizeof *list, channel_item, NULL);
    byoc_channel_list_free(list, n);
    byoc_reply_json(req, 200, root);
}

/* ---- agent messages ---- */

static cJSON *agent_msg_view(const struct byoc_agent_msg *m)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *att = cJSON_Parse(m->attachments_json ? m->attachments_json : "[]");
    if (!v || !att || !cJSON_AddItemToObject(v, "attachments", att)) {
        cJSON_Delete(att);
        cJSON_Delete(v);
        return NULL;
    }
    cJSON *agent = cJSON_AddObjectToObject(v, "agent");
    const char *kind = m->kind == BYOC_AGENT_MSG_OUTBOUND ? "outbound" : "reply";
    bool ok =
        agent && byoc_json_add_str(v, "id", m->id) &&
        cJSON_AddNumberToObject(v, "seq", (double)m->seq) && byoc_json_add_str(v, "kind", kind) &&
        byoc_json_add_str(v, "cxone_message_id", m->cxone_message_id) &&
        byoc_json_add_str(v, "conversation_id", m->conversation_id) &&
        byoc_json_add_str(v, "thread_ref", m->thread_ref) &&
        byoc_json_add_str(v, "post_id", m->post_id) &&
        byoc_json_add_str(v, "channel_id", m->channel_id) &&
        byoc_json_add_str(v, "text", m->text) && byoc_json_add_str(agent, "name", m->agent_name) &&
        byoc_json_add_str(agent, "avatar_url", m->agent_avatar_url) &&
        cJSON_AddBoolToObject(v, "raw_truncated", m->raw_truncated) &&
        byoc_json_add_str(v, "raw_body", m->raw_body) &&
        json_add_time(v, "received_at", m->received_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static cJSON *agent_msg_item(const void *ctx, const void *m)
{
    return agent_msg_view(m);
}

/* Query: unmatched=true (only messages whose thread is unknown), after=<seq>, limit=<n>. */
void h_agent_messages(struct byoc_req *req)
{
    const char *id = provider_known_or_reply(req);
    if (!id)
        return;
    bool unmatched = false;
    int64_t after_seq = 0, lim = BYOC_LIST_PAGE_DEFAULT;
    if (!unmatched_page_or_reply(req, &unmatched, &after_seq, &lim))
        return;
    struct byoc_agent_msg *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_agent_msg_list(app_of(req)->store, id, unmatched, after_seq,
                                                (size_t)lim, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("items", list, n, sizeof *list, agent_msg_item, NULL);
    if (root && n == (size_t)lim &&
        !cJSON_AddNumberToObject(root, "next_after", (double)list[n - 1].seq)) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_agent_msg_list_free(list, n);
    byoc_reply_json(req, 200, root);
}
