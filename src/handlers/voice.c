/* Voice handoff (the IBM watsonx pattern): the bot's transcript is stored under a random key,
 * the CXone contact is signalled with the key (p1) and the bot's parameters (p2..p9), and the
 * Studio script pops GET /transcripts/{key} to the agent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/html.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define VOICE_PARAMS_MAX 8
#define PAGE_MAX (512 * 1024)

struct voice_ctx {
    struct byoc_req *req;
    struct byoc_app *app;
    struct byoc_provider provider;
    struct byoc_voice_transcript v;
    char key[BYOC_VOICE_KEY_CHARS + 1];
    char *params[VOICE_PARAMS_MAX + 1]; /* [0] = key, then the bot's */
    size_t nparams;
    struct byoc_write w;
    enum byoc_err err;
    char error[BYOC_CXONE_DETAIL_MAX + 64];
    struct idem_slot idem;
    char *answer;
    struct byoc_write idem_w;
};

static void voice_ctx_free(void *ptr)
{
    struct voice_ctx *c = ptr;
    byoc_provider_release(&c->provider);
    byoc_voice_transcript_release(&c->v);
    for (size_t i = 1; i < c->nparams; i++)
        free(c->params[i]);
    byoc_wipe(c->key, sizeof c->key);
    free(c->answer);
    free(c->idem_w.idem.body);
    free(c);
}

/* [{"role","text","at"?}] of valid turns, rendered; NULL (why set) when the input is not. */
static char *transcript_json(const cJSON *t, char *why, size_t cap)
{
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) == 0 || cJSON_GetArraySize(t) > 500) {
        snprintf(why, cap, "transcript: an array of 1 to 500 turns");
        return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    const cJSON *it;
    bool ok = out != NULL;
    cJSON_ArrayForEach(it, t)
    {
        const char *role = byoc_json_str(it, "role"), *text = byoc_json_str(it, "text");
        const char *at = byoc_json_str(it, "at");
        ok = ok && role && (!strcmp(role, "user") || !strcmp(role, "bot")) && text &&
             strlen(text) <= BYOC_MESSAGE_TEXT_MAX && (!at || strlen(at) <= 64);
        cJSON *turn = ok ? cJSON_CreateObject() : NULL;
        ok = turn && cJSON_AddItemToArray(out, turn) && byoc_json_add_str(turn, "role", role) &&
             byoc_json_add_str(turn, "text", text) && (!at || byoc_json_add_str(turn, "at", at));
    }
    char *text = ok ? byoc_json_render(out) : NULL;
    cJSON_Delete(out);
    if (!ok)
        snprintf(why, cap, "transcript: each turn needs role user|bot and text (at most 64 KiB)");
    return text;
}

static bool params_or_reply(struct byoc_req *req, struct voice_ctx *c, const cJSON *b)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(b, "params"), *it;
    c->params[0] = c->key;
    c->nparams = 1;
    if (!list)
        return true;
    bool ok = cJSON_IsArray(list) && cJSON_GetArraySize(list) <= VOICE_PARAMS_MAX;
    const cJSON *each = ok ? list : NULL;
    cJSON_ArrayForEach(it, each)
    {
        ok = ok && cJSON_IsString(it) && strlen(it->valuestring) <= BYOC_SIGNAL_PARAM_MAX;
        c->params[c->nparams] = ok ? strdup(it->valuestring) : NULL;
        ok = ok && c->params[c->nparams];
        c->nparams += ok ? 1 : 0;
    }
    if (!ok)
        byoc_reply_error(req, BYOC_ERR_INVALID, "params: at most 8 strings of 256 characters");
    return ok;
}

/* ---- task thread: the signal ---- */

static void signal_with(const char *bearer, void *arg, struct byoc_cxone_result *r)
{
    struct voice_ctx *c = arg;
    byoc_cxone_signal(c->provider.cxone_api_base_url, c->app->cfg->cxone_services_path, bearer,
                      c->v.contact_id, (const char *const *)c->params, c->nparams, r);
}

static void signal_task(void *arg)
{
    struct voice_ctx *c = arg;
    struct byoc_cxone_login login;
    struct byoc_cxone_result r = {0};
    bool token_failed = false;
    c->err = byoc_cxone_login_open(&c->app->keys, &c->provider, &login);
    if (!c->err) {
        byoc_cxone_with_token(c->app->tokens, &login.creds, signal_with, c, &r, &token_failed);
        if (token_failed || r.err || r.status < 200 || r.status >= 300) {
            c->err = r.err ? r.err : r.status == 404 ? BYOC_ERR_NOT_FOUND : BYOC_ERR_UPSTREAM;
            snprintf(c->error, sizeof c->error, "CXone did not take the signal (%ld)%s%s", r.status,
                     r.detail[0] ? ": " : "", r.detail);
        }
        byoc_cxone_result_release(&r);
        byoc_cxone_login_release(&login);
    }
    byoc_req_resume(c->req); /* last touch of the request */
}

/* ---- HTTP thread ---- */

/* The answer is final: reply with it (after storing it for an Idempotency-Key). */
static void answer_stored(struct byoc_req *req)
{
    struct voice_ctx *c = byoc_req_ctx(req);
    if (replayed(req, &c->idem_w)) /* a concurrent retry with the same key stored first */
        return;
    char *answer = c->answer;
    c->answer = NULL;
    byoc_reply(req, 201, "application/json", answer, strlen(answer));
}

static char *voice_answer(const struct voice_ctx *c)
{
    char url[BYOC_URL_MAX + 64];
    snprintf(url, sizeof url, "%s/transcripts/%s", c->app->cfg->public_url, c->key);
    cJSON *j = cJSON_CreateObject();
    bool ok = j && byoc_json_add_str(j, "key", c->key) &&
              byoc_json_add_str(j, "transcript_url", url) &&
              byoc_json_add_str(j, "contact_id", c->v.contact_id) &&
              json_add_time(j, "expires_at", c->v.expires_at);
    char *text = ok ? byoc_json_render(j) : NULL;
    cJSON_Delete(j);
    return text;
}

static void reply_failure(struct byoc_req *req)
{
    struct voice_ctx *c = byoc_req_ctx(req);
    byoc_reply_error(req, c->err == BYOC_ERR_NOT_FOUND ? BYOC_ERR_UPSTREAM : c->err,
                     c->error[0] ? c->error : NULL);
}

static void signalled(struct byoc_req *req)
{
    struct voice_ctx *c = byoc_req_ctx(req);
    if (c->err && c->idem.used) { /* free the key: the bot may try the handoff again */
        c->idem_w.kind = BYOC_WRITE_IDEM_RELEASE;
        c->idem_w.in.idem_put.provider_id = c->provider.id;
        c->idem_w.in.idem_put.idem = &c->idem.idem;
        submit_then(req, &c->idem_w, reply_failure);
        return;
    }
    if (c->err) {
        reply_failure(req);
        return;
    }
    c->answer = voice_answer(c);
    if (!c->answer) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    const struct byoc_idem *idem = idem_answer(&c->idem, 201, c->answer);
    if (!idem) {
        answer_stored(req);
        return;
    }
    c->idem_w.kind = BYOC_WRITE_IDEM_PUT;
    c->idem_w.in.idem_put.provider_id = c->provider.id;
    c->idem_w.in.idem_put.idem = idem;
    c->idem_w.in.idem_put.now = byoc_now_ms();
    submit_then(req, &c->idem_w, answer_stored); /* if this fails, the signal still happened:
                                                   the answer goes out, a retry signals again */
}

static void stored(struct byoc_req *req)
{
    struct voice_ctx *c = byoc_req_ctx(req);
    if (replayed(req, &c->w)) /* the key is answered already, or still in progress */
        return;
    if (c->w.err) {
        byoc_reply_error(req, c->w.err, NULL);
        return;
    }
    task_then_or_reply(req, signal_task, c, signalled);
}

void h_voice_handoff(struct byoc_req *req)
{
    const cJSON *b = body_object_or_reply(req);
    struct voice_ctx *c = b ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (b)
            byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, voice_ctx_free);
    c->req = req;
    c->app = app_of(req);
    if (!idem_or_reply(req, &c->idem))
        return;
    char contact[BYOC_EXTERNAL_ID_MAX + 1], why[160] = "";
    if (!byoc_json_id(b, "contact_id", contact, sizeof contact) ||
        !byoc_external_id_valid(contact, BYOC_EXTERNAL_ID_MAX)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "contact_id: the CXone contact id is required");
        return;
    }
    if (!params_or_reply(req, c, b) ||
        !provider_load_or_reply(req, byoc_req_principal(req), &c->provider))
        return;
    c->v.transcript_json =
        transcript_json(cJSON_GetObjectItemCaseSensitive(b, "transcript"), why, sizeof why);
    c->v.contact_id = strdup(contact);
    enum byoc_err e = c->v.transcript_json && c->v.contact_id
                          ? byoc_random_token(c->key, BYOC_VOICE_KEY_CHARS)
                          : (why[0] ? BYOC_ERR_INVALID : BYOC_ERR_NOMEM);
    if (e) {
        byoc_reply_error(req, e, why[0] ? why : NULL);
        return;
    }
    byoc_sha256(c->key, BYOC_VOICE_KEY_CHARS, c->v.key_hash);
    byoc_strlcpy(c->v.provider_id, c->provider.id, sizeof c->v.provider_id);
    c->v.created_at = byoc_now_ms();
    c->v.expires_at = c->v.created_at + c->app->cfg->transcript_ttl * 1000;
    c->w.kind = BYOC_WRITE_VOICE_TRANSCRIPT_PUT;
    c->w.in.voice.v = &c->v;
    c->w.in.voice.reserve = idem_answer(&c->idem, 0, ""); /* held until the signal is done */
    c->w.in.voice.now = c->v.created_at;
    submit_then(req, &c->w, stored);
}

/* ---- the agent's page ---- */

static enum byoc_err render_turns(struct byoc_buf *b, const char *json)
{
    cJSON *turns = NULL;
    enum byoc_err e = byoc_json_parse(json, strlen(json), &turns);
    const cJSON *it, *each = NULL;
    if (!e)
        e = byoc_buf_puts(b, "<ol class=\"turns\">");
    if (!e)
        each = turns;
    cJSON_ArrayForEach(it, each)
    {
        const char *role = byoc_json_str(it, "role"), *at = byoc_json_str(it, "at");
        e = e ? e : byoc_buf_puts(b, "<li><strong>");
        e = e ? e : byoc_buf_puts(b, role && !strcmp(role, "bot") ? "Bot" : "Customer");
        e = e ? e : byoc_buf_puts(b, "</strong>");
        if (!e && at) {
            e = byoc_buf_puts(b, " <span class=\"meta\">");
            e = e ? e : byoc_html_escape(b, at);
            e = e ? e : byoc_buf_puts(b, "</span>");
        }
        e = e ? e : byoc_buf_puts(b, "<p>");
        e = e ? e : byoc_html_escape(b, byoc_json_str(it, "text"));
        e = e ? e : byoc_buf_puts(b, "</p></li>");
    }
    cJSON_Delete(turns);
    return e ? e : byoc_buf_puts(b, "</ol>");
}

void h_transcript_page(struct byoc_req *req)
{
    const char *key = byoc_req_param(req, "key");
    struct byoc_voice_transcript v;
    uint8_t hash[BYOC_SHA256_LEN];
    enum byoc_err e = BYOC_ERR_NOT_FOUND;
    if (key && strlen(key) == BYOC_VOICE_KEY_CHARS && byoc_id_valid(key, BYOC_VOICE_KEY_CHARS)) {
        byoc_sha256(key, BYOC_VOICE_KEY_CHARS, hash);
        e = byoc_store_voice_transcript_get(app_of(req)->store, hash, byoc_now_ms(), &v);
    }
    if (e) {
        byoc_reply_error(req, e,
                         e == BYOC_ERR_NOT_FOUND ? "This transcript does not exist or has expired."
                                                 : NULL);
        return;
    }
    struct byoc_buf b;
    byoc_buf_init(&b, PAGE_MAX);
    char at[BYOC_TIME_ISO_MAX];
    byoc_time_iso(v.created_at, at);
    e = byoc_html_begin(&b, "Conversation with the bot");
    e = e ? e : byoc_buf_puts(&b, "<p class=\"meta\">CXone contact ");
    e = e ? e : byoc_html_escape(&b, v.contact_id);
    e = e ? e : byoc_buf_printf(&b, " · handed over %s</p>", at);
    e = e ? e : render_turns(&b, v.transcript_json);
    e = e ? e : byoc_html_end(&b);
    size_t len = 0;
    char *page = e ? NULL : byoc_buf_steal(&b, &len);
    byoc_buf_release(&b);
    byoc_voice_transcript_release(&v);
    byoc_reply_header(req, "Content-Security-Policy", BYOC_HTML_CSP);
    byoc_reply(req, page ? 200 : 503, "text/html; charset=utf-8", page, len);
}
