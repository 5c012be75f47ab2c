/* The integration box: CXone posts agent replies and DFO 3.0 outbound messages here. A 200 means
 * the message is on disk; a retry of the same message gets the same idOnExternalPlatform. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/agent_reply.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

struct box_ctx {
    struct byoc_agent_msg m;
    struct byoc_write w;
};

static void box_ctx_free(void *ptr)
{
    struct box_ctx *c = ptr;
    byoc_agent_msg_release(&c->m);
    free(c);
}

static void log_unexpected(const struct byoc_reply_notes *notes)
{
    if (!notes->n_unexpected)
        return;
    char keys[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < notes->n_unexpected; i++) {
        int w = snprintf(keys + used, sizeof keys - used, "%s%.64s", i ? "," : "",
                         notes->unexpected[i]);
        if (w < 0 || (size_t)w >= sizeof keys - used)
            break;
        used += (size_t)w;
    }
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "box", "unexpected fields in a CXone message (kept raw)");
    byoc_log_str(&l, "fields", keys);
    byoc_log_int(&l, "more", notes->more_unexpected);
    byoc_log_end(&l);
}

static void log_stored(const struct box_ctx *c)
{
    bool unmatched = !c->w.out.agent_msg.conversation_id[0];
    struct byoc_log_line l;
    byoc_log_begin(&l, unmatched ? BYOC_LOG_WARN : BYOC_LOG_DEBUG, "box",
                   unmatched ? "agent message for an unknown thread stored for the admin"
                             : "agent message stored");
    byoc_log_str(&l, "provider_id", c->m.provider_id);
    byoc_log_str(&l, "message_id", c->w.out.agent_msg.id);
    byoc_log_str(&l, "thread_ref", c->m.thread_ref);
    byoc_log_int(&l, "duplicate", c->w.out.agent_msg.duplicate);
    byoc_log_end(&l);
}

/* Parses and queues the message; cont answers once it is durable. */
static void box_accept(struct byoc_req *req, enum byoc_agent_msg_kind kind, const char *path_id,
                       byoc_handler_fn cont)
{
    const char *provider_id = byoc_req_param(req, "provider_id"); /* checked by authorize */
    if (!byoc_external_id_valid(path_id, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, NULL);
        return;
    }
    const cJSON *body = body_object_or_reply(req);
    struct box_ctx *c = body ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (body)
            byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, box_ctx_free);
    size_t raw_len = 0;
    const char *raw = byoc_req_body(req, &raw_len);
    struct byoc_reply_notes notes;
    enum byoc_err e = byoc_agent_reply_parse(body, raw, raw_len, kind, provider_id, path_id,
                                             byoc_now_ms(), &c->m, &notes);
    if (!e)
        e = byoc_id_new("msg", c->m.id);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    log_unexpected(&notes);
    c->w.kind = BYOC_WRITE_AGENT_MSG_ADD;
    c->w.in.agent_msg = &c->m;
    submit_then(req, &c->w, cont);
}

/* false after replying with the storage error. */
static bool stored_or_reply(struct byoc_req *req, struct box_ctx *c)
{
    if (c->w.err) {
        /* NOT_FOUND: the provider vanished between the token check and the write. */
        byoc_reply_error(req, c->w.err == BYOC_ERR_NOT_FOUND ? BYOC_ERR_TOKEN_INVALID : c->w.err,
                         NULL);
        return false;
    }
    log_stored(c);
    return true;
}

static void reply_stored(struct byoc_req *req)
{
    struct box_ctx *c = byoc_req_ctx(req);
    if (!stored_or_reply(req, c))
        return;
    cJSON *j = cJSON_CreateObject();
    if (j && !byoc_json_add_str(j, "idOnExternalPlatform", c->w.out.agent_msg.id)) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, 200, j);
}

void h_box_reply(struct byoc_req *req)
{
    box_accept(req, BYOC_AGENT_MSG_REPLY, byoc_req_param(req, "post_id"), reply_stored);
}

static void outbound_stored(struct byoc_req *req)
{
    struct box_ctx *c = byoc_req_ctx(req);
    if (!stored_or_reply(req, c))
        return;
    char thread[BYOC_EXTERNAL_ID_MAX + 8], created[BYOC_TIME_ISO_MAX];
    if (c->m.thread_ref)
        snprintf(thread, sizeof thread, "%s", c->m.thread_ref);
    else /* a new outbound thread: named after its first message, so a retry names it alike */
        snprintf(thread, sizeof thread, "thr_%s", c->w.out.agent_msg.id);
    byoc_time_iso(c->m.received_at, created);
    cJSON *j = cJSON_CreateObject();
    cJSON *m = j ? cJSON_AddObjectToObject(j, "message") : NULL;
    cJSON *t = j ? cJSON_AddObjectToObject(j, "thread") : NULL;
    if (!m || !t || !byoc_json_add_str(m, "idOnExternalPlatform", c->w.out.agent_msg.id) ||
        !byoc_json_add_str(m, "createdAtWithMilliseconds", created) ||
        !byoc_json_add_str(t, "idOnExternalPlatform", thread)) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, 200, j);
}

void h_box_outbound(struct byoc_req *req)
{
    box_accept(req, BYOC_AGENT_MSG_OUTBOUND, byoc_req_param(req, "channel_id"), outbound_stored);
}

static void validation_failed(struct byoc_req *req, const char *why)
{
    cJSON *j = cJSON_CreateObject();
    if (j && !(byoc_json_add_str(j, "displayErrorMessage", why) &&
               byoc_json_add_str(j, "errorCode", "outboundValidationFailed"))) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, 400, j);
}

/* Accepts a recipient list whose entries each name an end user. */
void h_box_validate(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    if (!b)
        return;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(b, "endUserRecipients");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        validation_failed(req, "endUserRecipients must list at least one recipient");
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        char id[BYOC_EXTERNAL_ID_MAX + 1];
        if (!byoc_json_id(it, "idOnExternalPlatform", id, sizeof id)) {
            validation_failed(req, "every recipient needs an idOnExternalPlatform");
            return;
        }
    }
    byoc_reply_json(req, 200, cJSON_CreateObject());
}

void h_box_unknown(struct byoc_req *req)
{
    size_t len = 0;
    (void)byoc_req_body(req, &len);
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_WARN, "box", "CXone called an unknown box path");
    byoc_log_str(&l, "method", byoc_req_method(req));
    byoc_log_str(&l, "path", byoc_req_path(req));
    byoc_log_int(&l, "body_bytes", (long long)len);
    byoc_log_end(&l);
    byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such integration-box endpoint");
}
