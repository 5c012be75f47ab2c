/* Bot API: bot platforms hand conversations over, relay the end user's messages, and end them.
 * Writes are durable before the answer; the CXone side follows asynchronously (the relay). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/transcript.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define WHY_MAX 256

bool authorize_bot_or_reply(struct byoc_req *req)
{
    const char *key = byoc_req_bearer(req);
    uint8_t hash[BYOC_SHA256_LEN];
    struct byoc_provider p;
    enum byoc_err e = BYOC_ERR_UNAUTHORIZED;
    if (key) {
        byoc_sha256(key, strlen(key), hash); /* looked up by hash: equal hashes, equal keys */
        e = byoc_store_provider_by_bot_key(app_of(req)->store, hash, &p);
    }
    if (!e) {
        byoc_req_set_principal(req, p.id);
        byoc_provider_release(&p);
        return true;
    }
    if (e == BYOC_ERR_NOT_FOUND || e == BYOC_ERR_UNAUTHORIZED) {
        byoc_reply_header(req, "WWW-Authenticate", "Bearer realm=\"byocd-bot\"");
        byoc_reply_error(req, BYOC_ERR_UNAUTHORIZED, "a valid bot API key is required");
    } else {
        byoc_reply_error(req, e, NULL);
    }
    return false;
}

/* ---- views ---- */

static cJSON *end_user_view(const struct byoc_conversation *c)
{
    cJSON *u = NULL;
    if (byoc_json_parse(c->end_user_json, strlen(c->end_user_json), &u) != BYOC_ERR_OK)
        u = cJSON_CreateObject();
    return u;
}

static bool add_opt_time(cJSON *o, const char *key, int64_t ms)
{
    return ms ? json_add_time(o, key, ms) : cJSON_AddNullToObject(o, key) != NULL;
}

static cJSON *conversation_view(const struct byoc_conversation *c)
{
    cJSON *v = cJSON_CreateObject(), *u = end_user_view(c);
    if (!v || !u || !cJSON_AddItemToObject(v, "end_user", u)) {
        cJSON_Delete(u);
        cJSON_Delete(v);
        return NULL;
    }
    cJSON *cx = cJSON_AddObjectToObject(v, "cxone");
    bool agent = c->agent_name || c->agent_avatar_url;
    cJSON *ag = agent ? cJSON_AddObjectToObject(v, "agent") : NULL;
    bool ok = cx && (agent ? ag != NULL : cJSON_AddNullToObject(v, "agent") != NULL) &&
              byoc_json_add_str(v, "id", c->id) &&
              byoc_json_add_str(v, "state", byoc_conv_state_name(c->state)) &&
              byoc_json_add_str(v, "channel_id", c->channel_id) &&
              byoc_json_add_str(v, "thread_id", c->thread_id) &&
              byoc_json_add_str(v, "reason", c->reason) &&
              byoc_json_add_str(v, "skill_id", c->skill_id) &&
              byoc_json_add_str(cx, "contact_id", c->cxone_contact_id) &&
              byoc_json_add_str(cx, "case_id", c->cxone_case_id) &&
              byoc_json_add_str(cx, "interaction_id", c->cxone_interaction_id) &&
              (!agent || (byoc_json_add_str(ag, "name", c->agent_name) &&
                          byoc_json_add_str(ag, "avatar_url", c->agent_avatar_url))) &&
              byoc_json_add_str(v, "ended_by", c->ended_by) &&
              byoc_json_add_str(v, "ended_reason", c->ended_reason) &&
              json_add_time(v, "created_at", c->created_at) &&
              json_add_time(v, "updated_at", c->updated_at) &&
              add_opt_time(v, "ended_at", c->ended_at) &&
              add_opt_time(v, "inactive_at", c->inactive_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static cJSON *outbound_view(const struct byoc_outbound *m)
{
    cJSON *v = cJSON_CreateObject();
    bool ok = v && byoc_json_add_str(v, "id", m->id) &&
              cJSON_AddNumberToObject(v, "seq", (double)m->seq) &&
              byoc_json_add_str(v, "kind", byoc_out_kind_name(m->kind)) &&
              byoc_json_add_str(v, "client_message_id", m->client_message_id) &&
              byoc_json_add_str(v, "status", byoc_out_state_name(m->state)) &&
              cJSON_AddNumberToObject(v, "attempts", (double)m->attempts) &&
              byoc_json_add_str(v, "last_error", m->last_error) &&
              json_add_time(v, "created_at", m->created_at) &&
              add_opt_time(v, "delivered_at", m->delivered_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* ---- open ---- */

struct open_ctx {
    struct byoc_conversation conv;
    struct byoc_outbound *msgs;
    size_t nmsgs;
    struct idem_slot idem;
    char *answer;
    struct byoc_write w;
};

static void open_ctx_free(void *ptr)
{
    struct open_ctx *c = ptr;
    byoc_conversation_release(&c->conv);
    byoc_outbound_list_free(c->msgs, c->nmsgs);
    free(c->answer);
    free(c->w.idem.body);
    free(c);
}

static bool chars_at_most(const char *s, size_t max)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    return chars <= max;
}

/* A string member that is absent (NULL) or fits; false with why when it does not. */
static bool opt_str(const cJSON *o, const char *key, size_t max, const char **out, char *why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || !chars_at_most(v->valuestring, max)) {
        snprintf(why, WHY_MAX, "%s: must be a string of at most %zu characters", key, max);
        return false;
    }
    *out = v->valuestring;
    return true;
}

/* {"id","first_name","last_name","nickname","image_url"} with the given values only. */
static char *end_user_json(const cJSON *u, char *why)
{
    static const char *const names[] = {"first_name", "last_name", "nickname"};
    const char *id = byoc_json_str(u, "id"), *v = NULL, *image = NULL;
    if (!cJSON_IsObject(u) || !byoc_external_id_valid(id, BYOC_EXTERNAL_ID_MAX)) {
        snprintf(why, WHY_MAX, "end_user.id: required, 1-256 printable characters");
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    bool ok = out && byoc_json_add_str(out, "id", id);
    for (size_t i = 0; ok && i < BYOC_ARRAY_LEN(names); i++) {
        ok = opt_str(u, names[i], BYOC_NAME_MAX, &v, why);
        if (ok && v)
            ok = byoc_json_add_str(out, names[i], v);
    }
    if (ok && opt_str(u, "image_url", BYOC_URL_MAX, &image, why) && image) {
        ok = byoc_url_valid(image) && byoc_json_add_str(out, "image_url", image);
        if (!ok)
            snprintf(why, WHY_MAX, "end_user.image_url: must be an http(s) URL");
    }
    char *text = ok ? byoc_json_render(out) : NULL;
    cJSON_Delete(out);
    return text;
}

static bool transcript_ok(const cJSON *t, char *why)
{
    if (!t)
        return true;
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) > BYOC_TRANSCRIPT_TURNS_MAX) {
        snprintf(why, WHY_MAX, "transcript: an array of at most %d turns",
                 BYOC_TRANSCRIPT_TURNS_MAX);
        return false;
    }
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, t)
    {
        const char *role = byoc_json_str(it, "role"), *text = byoc_json_str(it, "text");
        if (!role || (strcmp(role, "user") && strcmp(role, "bot")) || !text ||
            strlen(text) > BYOC_MESSAGE_TEXT_MAX) {
            snprintf(why, WHY_MAX, "transcript[%d]: role user|bot and text (at most 64 KiB)", i);
            return false;
        }
        i++;
    }
    return true;
}

static bool custom_fields_ok(const cJSON *f, char *why)
{
    if (!f)
        return true;
    bool ok = cJSON_IsObject(f) && cJSON_GetArraySize(f) <= BYOC_CUSTOM_FIELDS_MAX;
    const cJSON *it, *each = ok ? f : NULL;
    cJSON_ArrayForEach(it, each)
    {
        ok = ok && cJSON_IsString(it) && it->string[0] && strlen(it->string) <= 100 &&
             chars_at_most(it->valuestring, BYOC_REASON_MAX);
    }
    if (!ok)
        snprintf(why, WHY_MAX, "custom_fields: at most %d non-empty names with string values",
                 BYOC_CUSTOM_FIELDS_MAX);
    return ok;
}

/* The channel of the handover: the one named, or the provider's only one. */
static enum byoc_err pick_channel(struct byoc_req *req, const char *provider_id, const char *wanted,
                                  char **out, char *why)
{
    struct byoc_channel *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_channel_list(app_of(req)->store, provider_id, &list, &n);
    const char *pick = NULL;
    for (size_t i = 0; !e && wanted && i < n; i++)
        pick = strcmp(list[i].channel_id, wanted) == 0 ? list[i].channel_id : pick;
    if (!e && !wanted && n == 1)
        pick = list[0].channel_id;
    if (!e && !pick) {
        e = BYOC_ERR_INVALID;
        if (wanted)
            snprintf(why, WHY_MAX, "channel_id: not a channel of this provider");
        else
            snprintf(why, WHY_MAX, "channel_id: required, the provider has %zu channels", n);
    }
    if (!e) {
        *out = strdup(pick);
        e = *out ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    byoc_channel_list_free(list, n);
    return e;
}

/* Appends one queued message with a JSON payload (taken). */
static enum byoc_err add_msg(struct open_ctx *c, enum byoc_out_kind kind, cJSON *payload,
                             int64_t now, int64_t deadline)
{
    struct byoc_outbound *grown = realloc(c->msgs, (c->nmsgs + 1) * sizeof *grown);
    if (!grown) {
        cJSON_Delete(payload);
        return BYOC_ERR_NOMEM;
    }
    c->msgs = grown;
    struct byoc_outbound *m = &c->msgs[c->nmsgs];
    *m = (struct byoc_outbound){.kind = kind, .created_at = now, .deadline_at = deadline};
    byoc_strlcpy(m->conversation_id, c->conv.id, sizeof m->conversation_id);
    m->payload = payload ? byoc_json_render(payload) : NULL;
    cJSON_Delete(payload);
    c->nmsgs++;
    enum byoc_err e = byoc_id_new("out", m->id);
    return e ? e : (m->payload ? BYOC_ERR_OK : BYOC_ERR_NOMEM);
}

static cJSON *text_payload(const char *text)
{
    cJSON *p = cJSON_CreateObject();
    if (p && !byoc_json_add_str(p, "text", text)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* The handover's first messages: reason, transcript (or a notice), routing. */
static enum byoc_err build_messages(struct open_ctx *c, const struct byoc_provider *p,
                                    const cJSON *body, int64_t now, int64_t deadline)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "transcript"), *it;
    struct byoc_turn *turns = calloc((size_t)cJSON_GetArraySize(t) + 1, sizeof *turns);
    size_t nturns = 0;
    const cJSON *each = turns ? t : NULL;
    cJSON_ArrayForEach(it, each)
    {
        turns[nturns++] = (struct byoc_turn){byoc_json_str(it, "role"), byoc_json_str(it, "text")};
    }
    char **texts = NULL;
    size_t ntexts = 0;
    enum byoc_err e =
        turns ? byoc_transcript_messages(turns, nturns, p->transcript_mode,
                                         (size_t)p->transcript_chunk_max, &texts, &ntexts)
              : BYOC_ERR_NOMEM;
    free(turns);
    char line[BYOC_REASON_MAX * 4 + 32];
    if (!e && c->conv.reason) {
        snprintf(line, sizeof line, "Handover reason: %s", c->conv.reason);
        e = add_msg(c, BYOC_OUT_TEXT, text_payload(line), now, deadline);
    }
    for (size_t i = 0; !e && i < ntexts; i++)
        e = add_msg(c, BYOC_OUT_TEXT, text_payload(texts[i]), now, deadline);
    byoc_chunks_free(texts, ntexts);
    if (!e && c->nmsgs == 0)
        e = add_msg(c, BYOC_OUT_TEXT, text_payload("The customer was handed over by the bot."), now,
                    deadline);
    return e;
}

/* Custom fields ride on the first post: CXone sets them on the contact it opens. */
static enum byoc_err attach_custom_fields(struct open_ctx *c, const cJSON *fields)
{
    if (!fields || !fields->child)
        return BYOC_ERR_OK;
    cJSON *p = NULL;
    enum byoc_err e = byoc_json_parse(c->msgs[0].payload, strlen(c->msgs[0].payload), &p);
    cJSON *copy = e ? NULL : cJSON_Duplicate(fields, true);
    if (!e && (!copy || !cJSON_AddItemToObject(p, "custom_fields", copy))) {
        cJSON_Delete(copy);
        e = BYOC_ERR_NOMEM;
    }
    char *text = e ? NULL : byoc_json_render(p);
    cJSON_Delete(p);
    if (!e && !text)
        e = BYOC_ERR_NOMEM;
    if (!e) {
        free(c->msgs[0].payload);
        c->msgs[0].payload = text;
    }
    return e;
}

static enum byoc_err routing_message(struct open_ctx *c, int64_t now, int64_t deadline)
{
    if (!c->conv.skill_id)
        return BYOC_ERR_OK;
    cJSON *p = cJSON_CreateObject();
    if (p && !byoc_json_add_str(p, "queue_id", c->conv.skill_id)) {
        cJSON_Delete(p);
        p = NULL;
    }
    return p ? add_msg(c, BYOC_OUT_ROUTING, p, now, deadline) : BYOC_ERR_NOMEM;
}

static char *open_answer(const struct byoc_conversation *conv)
{
    cJSON *a = cJSON_CreateObject();
    bool ok = a && byoc_json_add_str(a, "id", conv->id) &&
              byoc_json_add_str(a, "state", "queued") &&
              byoc_json_add_str(a, "channel_id", conv->channel_id) &&
              byoc_json_add_str(a, "thread_id", conv->thread_id) &&
              json_add_time(a, "created_at", conv->created_at);
    char *text = ok ? byoc_json_render(a) : NULL;
    cJSON_Delete(a);
    return text;
}

static void opened(struct byoc_req *req)
{
    struct open_ctx *c = byoc_req_ctx(req);
    if (replayed(req, &c->w))
        return;
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    byoc_relay_kick(app_of(req)->relay);
    char location[BYOC_ID_MAX + 24];
    snprintf(location, sizeof location, "/v1/conversations/%s", c->conv.id);
    byoc_reply_header(req, "Location", location);
    char *answer = c->answer;
    c->answer = NULL;
    byoc_reply(req, 201, "application/json", answer, strlen(answer));
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "bot", "handover opened");
    byoc_log_str(&l, "conversation_id", c->conv.id);
    byoc_log_int(&l, "messages", (long long)c->nmsgs);
    byoc_log_end(&l);
}

/* Validates the handover body into c->conv; false with why. */
static bool handover_fields(const cJSON *b, struct byoc_conversation *conv, char *why)
{
    const char *reason = NULL, *skill = NULL;
    conv->end_user_json = end_user_json(cJSON_GetObjectItemCaseSensitive(b, "end_user"), why);
    if (!conv->end_user_json ||
        !transcript_ok(cJSON_GetObjectItemCaseSensitive(b, "transcript"), why) ||
        !custom_fields_ok(cJSON_GetObjectItemCaseSensitive(b, "custom_fields"), why) ||
        !opt_str(b, "reason", BYOC_REASON_MAX, &reason, why) ||
        !opt_str(b, "skill_id", BYOC_EXTERNAL_ID_MAX, &skill, why))
        return false;
    bool ok = true;
    conv->end_user_id =
        byoc_strdup_opt(byoc_json_str(cJSON_GetObjectItemCaseSensitive(b, "end_user"), "id"), &ok);
    conv->reason = byoc_strdup_opt(reason, &ok);
    conv->skill_id = byoc_strdup_opt(skill, &ok);
    if (!ok)
        snprintf(why, WHY_MAX, "out of memory");
    return ok;
}

static enum byoc_err prepare_open(struct byoc_req *req, struct open_ctx *c, const cJSON *b,
                                  char *why)
{
    const char *provider_id = byoc_req_principal(req);
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(app_of(req)->store, provider_id, &p);
    if (e)
        return e;
    int64_t now = byoc_now_ms(), deadline = now + app_of(req)->cfg->relay_deadline * 1000;
    struct byoc_conversation *conv = &c->conv;
    byoc_strlcpy(conv->provider_id, provider_id, sizeof conv->provider_id);
    conv->created_at = conv->updated_at = now;
    conv->inactive_at = p.inactivity_timeout_s ? now + p.inactivity_timeout_s * 1000 : 0;
    char thread[BYOC_ID_MAX];
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(b, "channel_id");
    e = handover_fields(b, conv, why) ? BYOC_ERR_OK : BYOC_ERR_INVALID;
    if (!e && ch && !cJSON_IsString(ch)) {
        snprintf(why, WHY_MAX, "channel_id: must be a string");
        e = BYOC_ERR_INVALID;
    }
    if (!e)
        e = pick_channel(req, provider_id, byoc_json_str(b, "channel_id"), &conv->channel_id, why);
    if (!e)
        e = byoc_id_new("conv", conv->id);
    if (!e)
        e = byoc_id_new("thr", thread);
    if (!e) {
        conv->thread_id = strdup(thread);
        e = conv->thread_id ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    if (!e)
        e = build_messages(c, &p, b, now, deadline);
    if (!e)
        e = attach_custom_fields(c, cJSON_GetObjectItemCaseSensitive(b, "custom_fields"));
    if (!e)
        e = routing_message(c, now, deadline);
    byoc_provider_release(&p);
    return e;
}

void h_conversation_open(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    struct open_ctx *c = b ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (b)
            byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, open_ctx_free);
    if (!idem_or_reply(req, &c->idem))
        return;
    char why[WHY_MAX] = "";
    enum byoc_err e = prepare_open(req, c, b, why);
    if (!e) {
        c->answer = open_answer(&c->conv);
        e = c->answer ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    if (e) {
        byoc_reply_error(req, e, why[0] ? why : NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_CONVERSATION_OPEN;
    c->w.in.open.conv = &c->conv;
    c->w.in.open.msgs = c->msgs;
    c->w.in.open.nmsgs = c->nmsgs;
    c->w.in.open.idem = idem_answer(&c->idem, 201, c->answer);
    submit_then(req, &c->w, opened);
}

/* ---- read ---- */

static const char *conversation_param_or_reply(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "conversation_id");
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such conversation");
        return NULL;
    }
    return id;
}

static bool add_messages(struct byoc_req *req, cJSON *v, const char *conversation_id)
{
    struct byoc_outbound *list = NULL;
    size_t n = 0;
    if (byoc_store_outbound_list(app_of(req)->store, conversation_id,
                                 BYOC_CONVERSATION_MESSAGES_SHOWN, &list, &n))
        return false;
    cJSON *arr = cJSON_AddArrayToObject(v, "messages");
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *m = outbound_view(&list[i]);
        ok = m && cJSON_AddItemToArray(arr, m);
    }
    byoc_outbound_list_free(list, n);
    return ok;
}

void h_conversation_get(struct byoc_req *req)
{
    const char *id = conversation_param_or_reply(req);
    if (!id)
        return;
    struct byoc_conversation c;
    enum byoc_err e =
        byoc_store_conversation_get(app_of(req)->store, byoc_req_principal(req), id, &c);
    if (e) {
        byoc_reply_error(req, e, e == BYOC_ERR_NOT_FOUND ? "no such conversation" : NULL);
        return;
    }
    cJSON *v = conversation_view(&c);
    if (v && !add_messages(req, v, c.id)) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_conversation_release(&c);
    byoc_reply_json(req, 200, v);
}

void h_conversation_list(struct byoc_req *req)
{
    const char *state = byoc_req_query(req, "state"), *user = byoc_req_query(req, "end_user_id");
    enum byoc_conv_state st = BYOC_CONV_QUEUED;
    int64_t after_v = 0, lim = BYOC_LIST_PAGE_DEFAULT;
    if (state && !byoc_conv_state_parse(state, &st)) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "state: queued, escalated, agent_joined, bot or ended");
        return;
    }
    if (user && !byoc_external_id_valid(user, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "end_user_id: 1-256 printable characters");
        return;
    }
    if (!page_or_reply(req, BYOC_LIST_PAGE_DEFAULT, &after_v, &lim))
        return;
    struct byoc_conversation *list = NULL;
    size_t n = 0;
    enum byoc_err e =
        byoc_store_conversation_list(app_of(req)->store, byoc_req_principal(req),
                                     state ? (int)st : -1, user, after_v, (size_t)lim, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *items = root ? cJSON_AddArrayToObject(root, "items") : NULL;
    bool ok = items != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *v = conversation_view(&list[i]);
        ok = v && cJSON_AddItemToArray(items, v);
    }
    if (ok && n == (size_t)lim)
        ok = cJSON_AddNumberToObject(root, "next_after", (double)list[n - 1].cursor) != NULL;
    byoc_conversation_list_free(list, n);
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_reply_json(req, 200, root);
}

/* ---- messages, typing, end ---- */

struct add_ctx {
    struct byoc_outbound msg;
    struct idem_slot idem;
    char *answer;
    char conversation_id[BYOC_ID_MAX];
    bool end;
    struct byoc_write w;
};

static void add_ctx_free(void *ptr)
{
    struct add_ctx *c = ptr;
    free(c->msg.client_message_id);
    free(c->msg.payload);
    free(c->answer);
    free(c->w.idem.body);
    free(c);
}

static char *queued_answer(const char *id, const char *status)
{
    cJSON *a = cJSON_CreateObject();
    bool ok = a && byoc_json_add_str(a, "id", id) && byoc_json_add_str(a, "status", status);
    char *text = ok ? byoc_json_render(a) : NULL;
    cJSON_Delete(a);
    return text;
}

static void added(struct byoc_req *req)
{
    struct add_ctx *c = byoc_req_ctx(req);
    if (replayed(req, &c->w))
        return;
    if (c->w.err == BYOC_ERR_NOT_FOUND || c->w.err == BYOC_ERR_CONFLICT) {
        byoc_reply_error(
            req, c->w.err == BYOC_ERR_CONFLICT ? BYOC_ERR_CONVERSATION_CLOSED : BYOC_ERR_NOT_FOUND,
            c->w.err == BYOC_ERR_NOT_FOUND ? "no such conversation" : NULL);
        return;
    }
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    byoc_relay_kick(app_of(req)->relay);
    if (c->end) {
        byoc_reply(req, 202, "application/json", c->answer, strlen(c->answer));
        c->answer = NULL;
        return;
    }
    /* A retried client message id answers with the first message's id. */
    char *answer = c->w.out.add.duplicate ? queued_answer(c->w.out.add.id, "queued") : c->answer;
    if (answer == c->answer)
        c->answer = NULL;
    if (!answer) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_reply(req, 202, "application/json", answer, strlen(answer));
}

/* Common start of messages/typing/end: context, conversation id, idempotency. */
static struct add_ctx *add_ctx_or_reply(struct byoc_req *req)
{
    const char *conv = conversation_param_or_reply(req);
    struct add_ctx *c = conv ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (conv)
            byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return NULL;
    }
    byoc_req_set_ctx(req, c, add_ctx_free);
    byoc_strlcpy(c->conversation_id, conv, sizeof c->conversation_id);
    return idem_or_reply(req, &c->idem) ? c : NULL;
}

/* Queues c->msg (payload set by the caller) and answers 202 once it is durable. */
static void queue_msg(struct byoc_req *req, struct add_ctx *c, enum byoc_out_kind kind,
                      int64_t deadline_ms)
{
    int64_t now = byoc_now_ms();
    c->msg.kind = kind;
    c->msg.created_at = now;
    c->msg.deadline_at = now + deadline_ms;
    byoc_strlcpy(c->msg.conversation_id, c->conversation_id, sizeof c->msg.conversation_id);
    enum byoc_err e = byoc_id_new("out", c->msg.id);
    if (!e) {
        c->answer = queued_answer(c->msg.id, "queued");
        e = c->answer ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
    }
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_OUTBOUND_ADD;
    c->w.in.add.provider_id = byoc_req_principal(req);
    c->w.in.add.msg = &c->msg;
    c->w.in.add.idem = idem_answer(&c->idem, 202, c->answer);
    c->w.in.add.user_activity = true;
    c->w.in.add.now = now;
    submit_then(req, &c->w, added);
}

static bool attachments_ok(const cJSON *list, char *why)
{
    if (!list)
        return true;
    bool ok = cJSON_IsArray(list) && cJSON_GetArraySize(list) <= BYOC_MAX_ATTACHMENTS;
    const cJSON *it, *each = ok ? list : NULL;
    cJSON_ArrayForEach(it, each)
    {
        const char *url = byoc_json_str(it, "url"), *name = byoc_json_str(it, "name");
        const cJSON *priv = cJSON_GetObjectItemCaseSensitive(it, "private");
        ok = ok && url && byoc_url_valid(url) && name && byoc_name_valid(name) &&
             (!priv || cJSON_IsBool(priv));
    }
    if (!ok)
        snprintf(why, WHY_MAX, "attachments: at most %d of {url (http/https), name}",
                 BYOC_MAX_ATTACHMENTS);
    return ok;
}

/* {"text"?, "attachments"?} as the relay's payload. */
static char *message_payload(const cJSON *b, char *why)
{
    const char *text = byoc_json_str(b, "text");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(b, "attachments");
    const cJSON *text_item = cJSON_GetObjectItemCaseSensitive(b, "text");
    if (text_item && !cJSON_IsString(text_item)) {
        snprintf(why, WHY_MAX, "text: must be a string");
        return NULL;
    }
    if (!attachments_ok(att, why))
        return NULL;
    if ((!text || !*text) && (!att || !cJSON_GetArraySize(att))) {
        snprintf(why, WHY_MAX, "text: required unless attachments are given");
        return NULL;
    }
    if (text && strlen(text) > BYOC_MESSAGE_TEXT_MAX) {
        snprintf(why, WHY_MAX, "text: at most 64 KiB");
        return NULL;
    }
    cJSON *p = cJSON_CreateObject();
    bool ok = p && byoc_json_add_str(p, "text", text ? text : "");
    if (ok && att) {
        cJSON *copy = cJSON_Duplicate(att, true);
        ok = copy && cJSON_AddItemToObject(p, "attachments", copy);
        if (!ok)
            cJSON_Delete(copy); /* not taken by p */
    }
    char *out = ok ? byoc_json_render(p) : NULL;
    cJSON_Delete(p);
    return out;
}

void h_conversation_message(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    struct add_ctx *c = b ? add_ctx_or_reply(req) : NULL;
    if (!c)
        return;
    char why[WHY_MAX] = "";
    const char *client_id = byoc_json_str(b, "id");
    if (cJSON_GetObjectItemCaseSensitive(b, "id") &&
        !byoc_external_id_valid(client_id, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "id: 1-256 printable characters");
        return;
    }
    c->msg.payload = message_payload(b, why);
    c->msg.client_message_id = client_id ? strdup(client_id) : NULL;
    if (!c->msg.payload || (client_id && !c->msg.client_message_id)) {
        byoc_reply_error(req, why[0] ? BYOC_ERR_INVALID : BYOC_ERR_NOMEM, why[0] ? why : NULL);
        return;
    }
    queue_msg(req, c, BYOC_OUT_TEXT, app_of(req)->cfg->relay_deadline * 1000);
}

void h_conversation_typing(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    const cJSON *typing = b ? cJSON_GetObjectItemCaseSensitive(b, "typing") : NULL;
    if (b && !cJSON_IsBool(typing)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "typing: true or false");
        return;
    }
    struct add_ctx *c = b ? add_ctx_or_reply(req) : NULL;
    if (!c)
        return;
    c->msg.payload = strdup(cJSON_IsTrue(typing) ? "{\"typing\":true}" : "{\"typing\":false}");
    if (!c->msg.payload) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    queue_msg(req, c, BYOC_OUT_TYPING, BYOC_RELAY_TYPING_DEADLINE_MS);
}

void h_conversation_end(struct byoc_req *req)
{
    const cJSON *b = byoc_req_json(req); /* the body is optional */
    const char *reason = NULL;
    char why[WHY_MAX] = "";
    if (b && (!cJSON_IsObject(b) || !opt_str(b, "reason", BYOC_REASON_MAX, &reason, why))) {
        byoc_reply_error(req, BYOC_ERR_INVALID, why[0] ? why : "the body must be a JSON object");
        return;
    }
    struct add_ctx *c = add_ctx_or_reply(req);
    if (!c)
        return;
    int64_t now = byoc_now_ms();
    c->end = true;
    c->msg = (struct byoc_outbound){.kind = BYOC_OUT_CLOSE,
                                    .created_at = now,
                                    .deadline_at = now + BYOC_RELAY_CLOSE_DEADLINE_MS};
    c->msg.payload = strdup("{}");
    enum byoc_err e = c->msg.payload ? byoc_id_new("out", c->msg.id) : BYOC_ERR_NOMEM;
    cJSON *a = e ? NULL : cJSON_CreateObject();
    if (a && byoc_json_add_str(a, "id", c->conversation_id) &&
        byoc_json_add_str(a, "state", "ended"))
        c->answer = byoc_json_render(a);
    cJSON_Delete(a);
    if (e || !c->answer) {
        byoc_reply_error(req, e ? e : BYOC_ERR_NOMEM, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_CONVERSATION_END;
    c->w.in.end.provider_id = byoc_req_principal(req);
    c->w.in.end.conversation_id = c->conversation_id;
    c->w.in.end.ended_by = "bot";
    c->w.in.end.reason = reason;
    c->w.in.end.close_msg = &c->msg;
    c->w.in.end.idem = idem_answer(&c->idem, 202, c->answer);
    c->w.in.end.now = now;
    submit_then(req, &c->w, added);
}
