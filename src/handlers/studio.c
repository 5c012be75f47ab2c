/* The Studio script's calls: ESCALATE, END ESCALATION and ONRELEASE for a contact (CXONE.md §6:
 * CXone documents no such path, so byocd defines it; deploy/studio/ shows the script side). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define EVENT_NAME_MAX 32

bool authorize_studio_or_reply(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "provider_id");
    const char *secret = byoc_req_bearer(req);
    struct byoc_provider p;
    enum byoc_err e = BYOC_ERR_UNAUTHORIZED;
    if (secret && id && byoc_id_valid(id, BYOC_ID_MAX - 1))
        e = byoc_store_provider_get(app_of(req)->store, id, &p);
    bool ok = !e && byoc_secret_matches(secret, p.studio_secret_hash);
    if (!e)
        byoc_provider_release(&p);
    if (ok) {
        byoc_req_set_principal(req, id);
        return true;
    }
    if (e && e != BYOC_ERR_NOT_FOUND && e != BYOC_ERR_UNAUTHORIZED) {
        byoc_reply_error(req, e, NULL);
        return false;
    }
    /* an unknown provider answers like a wrong secret: nothing to learn from the difference */
    byoc_reply_header(req, "WWW-Authenticate", "Bearer realm=\"byocd-studio\"");
    byoc_reply_error(req, BYOC_ERR_UNAUTHORIZED, "the provider's studio_secret is required");
    return false;
}

/* ---- the body: JSON or form, with the spellings Studio scripts use ---- */

enum field_state { FIELD_ABSENT, FIELD_OK, FIELD_BAD };

/* The first of names present (not null) into out: OK for a string (or, in JSON, an integral
 * number) that fits; BAD for another type or one too long, which must not pass as absent. */
static enum field_state field(struct byoc_req *req, const char *const *names, char *out, size_t cap)
{
    const cJSON *j = byoc_req_json(req);
    out[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        if (j) {
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, names[i]);
            if (it && !cJSON_IsNull(it))
                return byoc_json_id(j, names[i], out, cap) ? FIELD_OK : FIELD_BAD;
            continue;
        }
        const char *v = byoc_req_form(req, names[i]);
        if (v)
            return byoc_strlcpy(out, v, cap) ? FIELD_OK : FIELD_BAD;
    }
    return FIELD_ABSENT;
}

/* ESCALATE, END_ESCALATION or ONRELEASE in any case, with a space, '-' or '_' inside. */
static bool parse_event(const char *text, enum byoc_studio_event *out)
{
    char norm[EVENT_NAME_MAX];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof norm; p++) {
        char ch = *p;
        if (ch == ' ' || ch == '-' || ch == '_')
            continue; /* "END ESCALATION", "end-escalation", "ON_RELEASE" */
        norm[n++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    }
    norm[n] = '\0';
    static const struct {
        const char *name;
        enum byoc_studio_event ev;
    } known[] = {{"ESCALATE", BYOC_STUDIO_ESCALATE},
                 {"ENDESCALATION", BYOC_STUDIO_END_ESCALATION},
                 {"ONRELEASE", BYOC_STUDIO_ONRELEASE},
                 {"RELEASE", BYOC_STUDIO_ONRELEASE}};
    for (size_t i = 0; i < BYOC_ARRAY_LEN(known); i++) {
        if (strcmp(norm, known[i].name) == 0) {
            *out = known[i].ev;
            return true;
        }
    }
    return false;
}

struct studio_ctx {
    struct byoc_write w;
    struct byoc_outbound close;
    char call_id[BYOC_ID_MAX];
    char contact[BYOC_EXTERNAL_ID_MAX + 1], thread[BYOC_EXTERNAL_ID_MAX + 1];
    char skill[BYOC_EXTERNAL_ID_MAX + 1], agent[BYOC_NAME_MAX * 4 + 1];
    char avatar[BYOC_URL_MAX + 1], reason[BYOC_REASON_MAX * 4 + 1];
};

static void studio_ctx_free(void *p)
{
    struct studio_ctx *c = p;
    free(c->close.payload);
    free(c);
}

/* agent: a name, or {"name","avatar_url"} (JSON); agent / agentAvatarUrl fields in a form. */
static bool agent_fields(struct byoc_req *req, struct studio_ctx *c)
{
    const cJSON *j = byoc_req_json(req);
    const cJSON *a = j ? cJSON_GetObjectItemCaseSensitive(j, "agent") : NULL;
    static const char *const names[] = {"agent", "agentName", "agent_name", NULL};
    static const char *const avatars[] = {"agentAvatarUrl", "agent_avatar_url", NULL};
    if (cJSON_IsObject(a)) {
        const char *name = byoc_json_str(a, "name"), *url = byoc_json_str(a, "avatar_url");
        return (!name || byoc_strlcpy(c->agent, name, sizeof c->agent)) &&
               (!url || byoc_strlcpy(c->avatar, url, sizeof c->avatar));
    }
    if (a && !cJSON_IsString(a) && !cJSON_IsNull(a))
        return false;
    return field(req, names, c->agent, sizeof c->agent) != FIELD_BAD &&
           field(req, avatars, c->avatar, sizeof c->avatar) != FIELD_BAD;
}

static bool text_ok(const char *s, size_t max_chars)
{
    size_t n = strlen(s);
    return byoc_utf8_valid(s, n) && n <= max_chars * 4;
}

/* An optional id: absent, or 1-256 printable characters. */
static bool opt_id(struct byoc_req *req, const char *const *names, char *out, size_t cap)
{
    enum field_state f = field(req, names, out, cap);
    return f == FIELD_ABSENT ||
           (f == FIELD_OK && byoc_external_id_valid(out, BYOC_EXTERNAL_ID_MAX));
}

/* Reads the body into c; replies 400 and returns false when it is not usable. */
static bool parse_or_reply(struct byoc_req *req, struct studio_ctx *c, enum byoc_studio_event *ev)
{
    static const char *const event_names[] = {"event", "Event", "action", NULL};
    static const char *const contact_names[] = {"contactId", "contactID",  "ContactID",
                                                "ContactId", "contact_id", NULL};
    static const char *const thread_names[] = {"threadId", "threadID", "thread_id", NULL};
    static const char *const skill_names[] = {"skill", "skillId", "skill_id", NULL};
    static const char *const reason_names[] = {"reason", NULL};
    char event[EVENT_NAME_MAX] = "";
    const char *why = NULL;
    if (field(req, event_names, event, sizeof event) != FIELD_OK || !parse_event(event, ev))
        why = "event: ESCALATE, END_ESCALATION (or \"END ESCALATION\") or ONRELEASE";
    else if (field(req, contact_names, c->contact, sizeof c->contact) != FIELD_OK ||
             !byoc_external_id_valid(c->contact, BYOC_EXTERNAL_ID_MAX))
        why = "contactId: the CXone contact id ({ContactID} in the script) is required";
    else if (!opt_id(req, thread_names, c->thread, sizeof c->thread))
        why = "threadId: an id of 1-256 printable characters";
    else if (!opt_id(req, skill_names, c->skill, sizeof c->skill))
        why = "skill: an id of 1-256 printable characters";
    else if (!agent_fields(req, c) || !text_ok(c->agent, BYOC_NAME_MAX) ||
             (c->avatar[0] && !byoc_url_valid(c->avatar)))
        why = "agent: a name, or {\"name\", \"avatar_url\"} with an http(s) avatar URL";
    else if (field(req, reason_names, c->reason, sizeof c->reason) == FIELD_BAD ||
             !text_ok(c->reason, BYOC_REASON_MAX))
        why = "reason: at most 1000 characters";
    if (why)
        byoc_reply_error(req, BYOC_ERR_INVALID, why);
    return why == NULL;
}

static const char *opt(const char *s)
{
    return s[0] ? s : NULL;
}

static void log_call(const struct studio_ctx *c, const char *what)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "studio", what);
    byoc_log_str(&l, "provider_id", c->w.in.studio.provider_id);
    byoc_log_str(&l, "event", byoc_studio_event_name(c->w.in.studio.event));
    byoc_log_str(&l, "contact_id", c->contact);
    byoc_log_str(&l, "conversation_id", opt(c->w.out.studio.conversation_id));
    byoc_log_int(&l, "changed", c->w.out.studio.changed);
    byoc_log_end(&l);
}

static void studio_done(struct byoc_req *req)
{
    struct studio_ctx *c = byoc_req_ctx(req);
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    if (!c->w.out.studio.matched) {
        log_call(c, "no conversation for the contact");
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND,
                         "no conversation has this contact (or thread); the call was stored for "
                         "the admin");
        return;
    }
    if (c->w.out.studio.changed && c->w.in.studio.event == BYOC_STUDIO_ONRELEASE)
        byoc_relay_kick(app_of(req)->relay); /* the thread's close goes to CXone */
    cJSON *v = cJSON_CreateObject();
    if (v && !(byoc_json_add_str(v, "conversation_id", c->w.out.studio.conversation_id) &&
               byoc_json_add_str(v, "event", byoc_studio_event_name(c->w.in.studio.event)) &&
               byoc_json_add_str(v, "state", byoc_conv_state_name(c->w.out.studio.state)) &&
               cJSON_AddBoolToObject(v, "changed", c->w.out.studio.changed))) {
        cJSON_Delete(v);
        v = NULL;
    }
    byoc_reply_json(req, 200, v);
    log_call(c, "studio event");
}

void h_studio_event(struct byoc_req *req)
{
    struct studio_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, studio_ctx_free);
    enum byoc_studio_event ev = BYOC_STUDIO_ESCALATE;
    if (!parse_or_reply(req, c, &ev))
        return;
    int64_t now = byoc_now_ms();
    c->close = (struct byoc_outbound){.kind = BYOC_OUT_CLOSE,
                                      .created_at = now,
                                      .deadline_at = now + BYOC_RELAY_CLOSE_DEADLINE_MS};
    c->close.payload = strdup("{}");
    enum byoc_err e = c->close.payload ? byoc_id_new("out", c->close.id) : BYOC_ERR_NOMEM;
    if (!e)
        e = byoc_id_new("sev", c->call_id);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    c->w.kind = BYOC_WRITE_STUDIO_EVENT;
    c->w.in.studio.provider_id = byoc_req_principal(req);
    c->w.in.studio.event = ev;
    c->w.in.studio.contact_id = c->contact;
    c->w.in.studio.thread_id = opt(c->thread);
    c->w.in.studio.agent_name = opt(c->agent);
    c->w.in.studio.agent_avatar = opt(c->avatar);
    c->w.in.studio.skill = opt(c->skill);
    c->w.in.studio.reason = opt(c->reason);
    c->w.in.studio.close_msg = &c->close;
    c->w.in.studio.call_id = c->call_id;
    c->w.in.studio.now = now;
    submit_then(req, &c->w, studio_done);
}

/* ---- the admin's view ---- */

static cJSON *call_view(const void *ctx, const void *item)
{
    const struct byoc_studio_call *s = item;
    cJSON *v = cJSON_CreateObject();
    bool ok =
        v && byoc_json_add_str(v, "id", s->id) && byoc_json_add_str(v, "event", s->event) &&
        byoc_json_add_str(v, "contact_id", s->contact_id) &&
        (!s->thread_id || byoc_json_add_str(v, "thread_id", s->thread_id)) &&
        (!s->conversation_id || byoc_json_add_str(v, "conversation_id", s->conversation_id)) &&
        json_add_time(v, "received_at", s->received_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

void h_studio_calls(struct byoc_req *req)
{
    const char *id = provider_known_or_reply(req);
    if (!id)
        return;
    bool unmatched = false;
    int64_t after_seq = 0, lim = BYOC_LIST_PAGE_DEFAULT;
    if (!unmatched_page_or_reply(req, &unmatched, &after_seq, &lim))
        return;
    struct byoc_studio_call *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_studio_call_list(app_of(req)->store, id, unmatched, after_seq,
                                                  (size_t)lim, &list, &n);
    if (e) {
        byoc_reply_error(req, e, NULL);
        return;
    }
    cJSON *root = list_json("studio_events", list, n, sizeof *list, call_view, NULL);
    bool ok = root && (n == (size_t)lim
                           ? cJSON_AddNumberToObject(root, "next_after", (double)list[n - 1].cursor)
                           : cJSON_AddNullToObject(root, "next_after")) != NULL;
    byoc_studio_call_list_free(list, n);
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    byoc_reply_json(req, 200, root);
}
