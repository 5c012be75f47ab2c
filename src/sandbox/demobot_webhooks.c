/* The demo bot's webhook receiver: what a bot platform does with byocd's webhooks. Verify the
 * Standard Webhooks signature over the raw body before reading anything (any of the
 * space-separated signatures, a timestamp within 5 minutes, constant-time comparison), skip a
 * webhook-id already handled (deliveries are at least once), answer 2xx quickly, then map each
 * event to what the customer sees. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "byoc/buf.h"
#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/util.h"
#include "byoc/webhook.h"
#include "sandbox/demobot-internal.h"
#include "byoc/banned.h"

/* "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the bot's secret (byocd's own signer:
 * the same computation a bot platform does with its Standard Webhooks library), or false. */
static bool expected_signature(struct byoc_demobot *b, const char *id, int64_t ts, const char *body,
                               size_t len, char out[BYOC_WEBHOOK_SIGNATURE_MAX])
{
    char secret[BYOC_WEBHOOK_SECRET_MAX];
    pthread_mutex_lock(&b->mu);
    memcpy(secret, b->secret, sizeof secret);
    pthread_mutex_unlock(&b->mu);
    bool ok = secret[0] && byoc_webhook_sign(secret, id, ts, body, len, out) == BYOC_ERR_OK;
    byoc_wipe(secret, sizeof secret);
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
    char want[BYOC_WEBHOOK_SIGNATURE_MAX];
    *why = "signature does not match";
    return expected_signature(b, id, t, body, len, want) && any_signature_matches(sig, want);
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
    demobot_chat_set_agent(c, name, avatar);
    snprintf(text, sizeof text, "%s joined", name);
    demobot_chat_system(c, text);
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
    if (!demobot_chat_add(c, FROM_AGENT, byoc_buf_str(&text), name, avatar))
        byoc_log(BYOC_LOG_WARN, "demobot", "out of memory: an agent message was not shown");
    byoc_buf_release(&text);
    if (!c->agent_name || strcmp(c->agent_name, name) != 0)
        demobot_chat_set_agent(c, name, avatar);
    c->mode = MODE_AGENT;
}

static void on_escalated(struct chat *c, const cJSON *data)
{
    if (c->mode != MODE_BOT)
        return; /* the customer already reads "Connecting you to an agent…" */
    demobot_chat_system(c, "An agent will be with you shortly.");
    c->mode = MODE_WAITING;
}

static void back_to_bot(struct chat *c)
{
    demobot_chat_system(c, BACK_WITH_BOT);
    demobot_chat_set_agent(c, NULL, NULL);
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
    demobot_chat_system(c, ended_text(byoc_json_str(data, "by")));
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
    demobot_chat_system(c, text);
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
    struct chat *c = demobot_chat_by_conv(b, byoc_json_str(ev, "conversation_id"), &retired);
    if (!c && demobot_any_opening(b))
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

void demobot_h_webhook(struct byoc_req *req)
{
    struct byoc_demobot *b = demobot_bot_of(req);
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
