/* The Add / Reconnect / Remove action URLs: pages an admin's browser opens from CXone.
 * Every CXone call runs on a task thread; the HTTP thread only validates and renders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/cxone.h"
#include "byoc/html.h"
#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

#define SESSION_ID_CHARS 32
#define PAGE_MAX (512 * 1024)
#define CHANNEL_ROWS_MAX 100 /* rows of the Add page's channel table; the rest are counted */

enum action_kind { ACTION_ADD, ACTION_RECONNECT, ACTION_REMOVE };

struct action_ctx {
    struct byoc_req *req;
    struct byoc_app *app;
    enum action_kind kind;
    bool submitted; /* the Add form's POST, not the page CXone opened */
    bool verified;  /* CXone accepted the one-time token (or the form's session came from one) */
    struct byoc_provider provider;
    char *token, *brand_id, *user_id, *channel_id, *back_url; /* back_url only when safe */
    char *name, *form_integration_id;                         /* Add form submit */
    struct byoc_action_session session;                       /* Add form submit */
    /* results */
    enum byoc_err err;
    const char *err_msg;  /* static text for the admin: what went wrong, or NULL */
    const char *err_next; /* static text: what to do now, or NULL for the usual advice */
    char detail[BYOC_CXONE_DETAIL_MAX];
    struct byoc_cxone_admin admin;
    struct byoc_cxone_channel *channels;
    size_t nchannels;
    struct byoc_channel *known; /* the provider's channels byocd has registered */
    size_t nknown;
    char session_id[SESSION_ID_CHARS + 1];
    char *created_id;
};

static void action_ctx_free(void *ptr)
{
    struct action_ctx *c = ptr;
    byoc_provider_release(&c->provider);
    byoc_free_secret(c->token);
    free(c->brand_id);
    free(c->user_id);
    free(c->channel_id);
    free(c->back_url);
    free(c->name);
    free(c->form_integration_id);
    byoc_action_session_release(&c->session);
    byoc_cxone_admin_release(&c->admin);
    byoc_cxone_channel_list_free(c->channels, c->nchannels);
    byoc_channel_list_free(c->known, c->nknown);
    byoc_wipe(c->session_id, sizeof c->session_id);
    free(c->created_id);
    free(c);
}

/* True when url's host is one of the provider's CXone hosts or under a NICE CXone domain. */
static bool cxone_host(const char *url, const struct byoc_provider *p)
{
    static const char *const domains[] = {".niceincontact.com", ".nicecxone.com"};
    char host[BYOC_URL_MAX], api[BYOC_URL_MAX], auth[BYOC_URL_MAX];
    if (!byoc_url_authority(url, host, sizeof host))
        return false;
    if ((byoc_url_authority(p->cxone_api_base_url, api, sizeof api) && !strcmp(api, host)) ||
        (byoc_url_authority(p->cxone_auth_url, auth, sizeof auth) && !strcmp(auth, host)))
        return true;
    host[strcspn(host, ":")] = '\0';
    size_t n = strlen(host);
    for (size_t i = 0; i < BYOC_ARRAY_LEN(domains); i++) {
        size_t d = strlen(domains[i]);
        if (n > d && strcmp(host + n - d, domains[i]) == 0)
            return true;
    }
    return false;
}

/* https anywhere, or http(s) to the provider's own CXone hosts; no controls, quotes or userinfo. */
static bool back_url_safe(const char *url, const struct byoc_provider *p)
{
    if (!url || strlen(url) > BYOC_URL_MAX)
        return false;
    for (const unsigned char *s = (const unsigned char *)url; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == '<' || *s == '>' || *s == '\\')
            return false;
    }
    char host[BYOC_URL_MAX];
    if (!byoc_url_authority(url, host, sizeof host) ||
        strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") != strlen(host))
        return false; /* also keeps the origin safe to place in a CSP header */
    if (strncmp(url, "https://", 8) == 0)
        return true;
    if (strncmp(url, "http://", 7) != 0)
        return false;
    return cxone_host(url, p);
}

/* "scheme://host[:port]" of a URL already vetted by back_url_safe. */
static void url_origin(const char *url, char *out, size_t cap)
{
    char host[BYOC_URL_MAX];
    const char *scheme = strncmp(url, "https://", 8) == 0 ? "https" : "http";
    if (byoc_url_authority(url, host, sizeof host))
        snprintf(out, cap, " %s://%s", scheme, host);
}

static const char *query_any(struct byoc_req *req, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = byoc_req_query(req, names[i]);
        if (v && *v)
            return v;
    }
    return NULL;
}

static void log_action(const struct action_ctx *c, const char *msg)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, c->err ? BYOC_LOG_WARN : BYOC_LOG_INFO, "actions", msg);
    byoc_log_str(&l, "provider_id", c->provider.id);
    byoc_log_str(&l, "brand_id", c->brand_id);
    byoc_log_str(&l, "channel_id", c->created_id ? c->created_id : c->channel_id);
    if (c->err) {
        byoc_log_err(&l, c->err);
        byoc_log_str(&l, "cxone_detail", c->detail[0] ? c->detail : NULL);
    }
    byoc_log_end(&l);
}

/* Fails the action with a message for the admin; the error page adds CXone's detail when
 * there is one, and the next step. */
static void fail(struct action_ctx *c, enum byoc_err e, const char *msg)
{
    c->err = e;
    c->err_msg = msg;
}

static const char *upstream_msg(enum byoc_err e)
{
    switch (e) {
    case BYOC_ERR_UPSTREAM_AUTH:
        return "CXone did not accept the one-time token in this link: it may have expired or "
               "been used already.";
    case BYOC_ERR_UPSTREAM_TIMEOUT:
    case BYOC_ERR_UPSTREAM_NET:
        return "byocd could not reach CXone to check this link.";
    default:
        return "CXone refused to check this link.";
    }
}

static const char *create_failed_msg(enum byoc_err e)
{
    switch (e) {
    case BYOC_ERR_UPSTREAM_AUTH:
        return "CXone no longer accepts this page's sign-in, so the channel was not created.";
    case BYOC_ERR_CONFLICT:
        return "CXone did not create the channel: a channel with this name may already exist.";
    case BYOC_ERR_UPSTREAM_NET:
        return "byocd could not reach CXone, so the channel was not created.";
    case BYOC_ERR_UPSTREAM_TIMEOUT:
        return "CXone did not answer in time, so byocd cannot tell whether the channel was "
               "created. Look for it in CXone's list of channels before you try again.";
    default:
        return "CXone did not create the channel.";
    }
}

/* ---- task thread ---- */

static void store_channel(struct action_ctx *c, const char *id, const char *name,
                          const char *integration_id)
{
    struct byoc_channel ch = {.source = BYOC_CHANNEL_ACTION};
    byoc_strlcpy(ch.provider_id, c->provider.id, sizeof ch.provider_id);
    ch.channel_id = (char *)id;
    ch.name = (char *)(name ? name : id);
    ch.brand_id = c->brand_id;
    ch.created_at = ch.updated_at = byoc_now_ms();
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_UPSERT};
    w.in.channel_upsert.channel = &ch;
    w.in.channel_upsert.integration_id = integration_id;
    enum byoc_err e = byoc_store_write(c->app->store, &w);
    if (e) {
        fail(c, e, "CXone has the channel, but byocd could not save it.");
        c->err_next = "In a few minutes, choose Reconnect on this channel in CXone: byocd then "
                      "saves it.";
    }
}

static void open_session(struct action_ctx *c)
{
    struct byoc_action_session s = {
        .action = "add", .brand_id = c->brand_id, .user_id = c->user_id, .back_url = c->back_url};
    byoc_strlcpy(s.provider_id, c->provider.id, sizeof s.provider_id);
    s.expires_at = byoc_now_ms() + (int64_t)BYOC_ACTION_SESSION_TTL_S * 1000;
    enum byoc_err e = byoc_random_token(c->session_id, SESSION_ID_CHARS);
    if (!e) {
        byoc_sha256(c->session_id, SESSION_ID_CHARS, s.id_hash);
        e = byoc_seal_field(&c->app->keys, c->provider.id, BYOC_SEALED_ACTION_TOKEN,
                            c->admin.access_token, &s.access_token_sealed);
    }
    struct byoc_write w = {.kind = BYOC_WRITE_ACTION_SESSION_PUT};
    w.in.session = &s;
    if (!e)
        e = byoc_store_write(c->app->store, &w);
    byoc_blob_release(&s.access_token_sealed);
    if (e)
        fail(c, e, NULL);
}

static void run_add_open(struct action_ctx *c, const char *api)
{
    enum byoc_err e = byoc_cxone_channels_list(api, c->admin.access_token, &c->channels,
                                               &c->nchannels, c->detail);
    if (e) {
        fail(c, e, "byocd could not list the brand's channels in CXone.");
        return;
    }
    e = byoc_store_channel_list(c->app->store, c->provider.id, &c->known, &c->nknown);
    if (e) {
        fail(c, e, "byocd could not read its own list of channels.");
        return;
    }
    open_session(c);
}

static void run_reconnect(struct action_ctx *c, const char *api)
{
    struct byoc_cxone_channel ch;
    enum byoc_err e =
        byoc_cxone_channel_get(api, c->admin.access_token, c->channel_id, &ch, c->detail);
    if (e) {
        fail(c, e,
             e == BYOC_ERR_NOT_FOUND ? "CXone has no channel with this id."
                                     : "byocd could not read this channel from CXone.");
        return;
    }
    const char *mine = c->provider.cxone_integration_id;
    if (mine && ch.integration_id && strcmp(mine, ch.integration_id) != 0)
        fail(c, BYOC_ERR_CONFLICT, "This channel belongs to another integration.");
    else
        store_channel(c, ch.id, ch.name, NULL);
    byoc_cxone_channel_release(&ch);
}

static void run_remove(struct action_ctx *c, const char *api)
{
    enum byoc_err e =
        byoc_cxone_channel_delete(api, c->admin.access_token, c->channel_id, c->detail);
    if (e && e != BYOC_ERR_NOT_FOUND) { /* already gone in CXone: finish the local side */
        fail(c, e, "CXone did not remove the channel, so byocd keeps it too.");
        return;
    }
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_DELETE};
    w.in.channel_delete.provider_id = c->provider.id;
    w.in.channel_delete.channel_id = c->channel_id;
    e = byoc_store_write(c->app->store, &w);
    if (e && e != BYOC_ERR_NOT_FOUND)
        fail(c, e, "CXone removed the channel but byocd could not forget it; try again.");
}

static void action_open_task(void *arg)
{
    struct action_ctx *c = arg;
    const char *api = c->provider.cxone_api_base_url;
    enum byoc_err e =
        byoc_cxone_verify_ott(api, c->brand_id, c->user_id, c->token, &c->admin, c->detail);
    c->verified = e == BYOC_ERR_OK;
    if (e)
        fail(c, e == BYOC_ERR_NOT_FOUND ? BYOC_ERR_UPSTREAM : e, upstream_msg(e));
    else if (c->kind == ACTION_ADD)
        run_add_open(c, api);
    else if (c->kind == ACTION_RECONNECT)
        run_reconnect(c, api);
    else
        run_remove(c, api);
    byoc_req_resume(c->req); /* last touch of the request */
}

/* Claims the form's session so a double submit cannot create two channels. */
static bool take_session(struct action_ctx *c)
{
    struct byoc_write w = {.kind = BYOC_WRITE_ACTION_SESSION_TAKE};
    w.in.session_id_hash = c->session.id_hash;
    enum byoc_err e = byoc_store_write(c->app->store, &w);
    if (e == BYOC_ERR_NOT_FOUND)
        fail(c, BYOC_ERR_UNAUTHORIZED, "This page was already used.");
    else if (e)
        fail(c, e, NULL);
    return e == BYOC_ERR_OK;
}

/* Puts the claimed session back after CXone failed, so the admin can retry the form. */
static void restore_session(struct action_ctx *c)
{
    struct byoc_write w = {.kind = BYOC_WRITE_ACTION_SESSION_PUT};
    w.in.session = &c->session;
    if (byoc_store_write(c->app->store, &w) != BYOC_ERR_OK) /* then the page must be reopened */
        byoc_log(BYOC_LOG_WARN, "actions", "could not restore the Add page's session");
}

static enum byoc_err create_in_cxone(struct action_ctx *c, const char *integration)
{
    char *token = NULL, id[BYOC_ID_MAX];
    enum byoc_err e = byoc_unseal_field(&c->app->keys, c->provider.id, BYOC_SEALED_ACTION_TOKEN,
                                        &c->session.access_token_sealed, &token);
    if (!e)
        e = byoc_id_new("byocd", id);
    if (!e)
        e = byoc_cxone_channel_create(c->provider.cxone_api_base_url, token, id, c->name,
                                      integration, &c->created_id, c->detail);
    byoc_free_secret(token);
    return e;
}

static void action_submit_task(void *arg)
{
    struct action_ctx *c = arg;
    const char *integration = c->provider.cxone_integration_id ? c->provider.cxone_integration_id
                                                               : c->form_integration_id;
    if (take_session(c)) {
        enum byoc_err e = create_in_cxone(c, integration);
        if (e) {
            restore_session(c);
            fail(c, e, create_failed_msg(e));
        } else {
            store_channel(c, c->created_id, c->name,
                          c->provider.cxone_integration_id ? NULL : c->form_integration_id);
        }
    }
    byoc_req_resume(c->req); /* last touch of the request */
}

/* ---- HTTP thread: pages ---- */

/* Hands a built page to the client; a page that could not be built becomes a bare 503. */
static void send_page(struct byoc_req *req, struct byoc_buf *b, enum byoc_err e, int status,
                      const char *csp)
{
    size_t len = 0;
    char *page = e ? NULL : byoc_buf_steal(b, &len);
    byoc_buf_release(b);
    byoc_reply_header(req, "Content-Security-Policy", csp);
    byoc_reply(req, page ? status : 503, "text/html; charset=utf-8", page, len);
}

/* A link back to CXone when backUrl passed back_url_safe, and before CXone vouched for the
 * request (a verified one-time token) only to a CXone host: byocd's own error page must not
 * lend its name to a link anyone can put in a URL. */
static enum byoc_err render_back_link(struct byoc_buf *b, const struct action_ctx *c,
                                      const char *text, bool button)
{
    if (!c->back_url || (!c->verified && !cxone_host(c->back_url, &c->provider)))
        return BYOC_ERR_OK;
    /* href first: the tests hold every absolute URL of a page to a plain link's href */
    enum byoc_err e = byoc_buf_puts(b, "<a href=\"");
    e = e ? e : byoc_html_escape(b, c->back_url);
    e = e ? e : byoc_buf_puts(b, button ? "\" class=\"button\">" : "\">");
    e = e ? e : byoc_html_escape(b, text);
    return e ? e : byoc_buf_puts(b, "</a>");
}

/* The last line of the short pages: whose page this is, and for errors a reference that finds
 * the request in byocd's log. */
static enum byoc_err render_footer(struct byoc_buf *b, const struct action_ctx *c,
                                   const struct byoc_req *req)
{
    enum byoc_err e = byoc_buf_puts(b, "<p class=\"meta foot\">Bot platform: ");
    e = e ? e : byoc_html_escape(b, c->provider.name);
    if (c->err) {
        e = e ? e : byoc_buf_puts(b, " · Reference: ");
        e = e ? e : byoc_html_escape(b, byoc_req_id(req));
    }
    return e ? e : byoc_buf_puts(b, "</p>");
}

/* The heading and the next step of an error page, by what went wrong. */
struct problem {
    const char *title, *next;
};

static const char next_from_cxone[] =
    "Links from CXone work once and only for a few minutes. Go back to CXone (Points of "
    "Contact, Digital) and choose the action again: CXone then opens a fresh page.";
static const char next_retry[] = "Try again in a few minutes. If it keeps failing, give whoever "
                                 "runs byocd the reference below.";
static const char next_resubmit[] =
    "Go back with your browser's Back button and press Create channel again. If it keeps "
    "failing, give whoever runs byocd the reference below.";

static struct problem problem_of(const struct action_ctx *c, enum byoc_err shown)
{
    int status = byoc_err_http_status(shown);
    if (status == 401)
        return (struct problem){"Start again from CXone", next_from_cxone};
    if (status == 400 && c->submitted)
        return (struct problem){"Check the form", "Go back with your browser's Back button, "
                                                  "correct the form and press Create channel "
                                                  "again."};
    if (status == 400)
        return (struct problem){"The link from CXone is incomplete",
                                "Open this page again from CXone. If this keeps happening, "
                                "check that the action URLs of CXone's Bring Your Own Channel "
                                "integration are exactly the ones byocd printed for this bot."};
    if (status == 404)
        return (struct problem){"Channel not found", "Refresh the list of channels in CXone: "
                                                     "this one may have been removed already."};
    if (status == 409 && c->submitted)
        return (struct problem){"The channel was not created",
                                "Go back with your browser's Back button, choose another name "
                                "and press Create channel again."};
    if (status == 409)
        return (struct problem){"This channel belongs to another integration",
                                "Reconnect or remove it from the integration it belongs to."};
    if (shown == BYOC_ERR_UPSTREAM_NET || shown == BYOC_ERR_UPSTREAM_TIMEOUT)
        return (struct problem){"CXone cannot be reached",
                                c->submitted ? next_resubmit : next_retry};
    if (c->submitted && status == 502)
        return (struct problem){"The channel was not created", next_resubmit};
    if (status == 502)
        return (struct problem){"CXone refused the request", next_retry};
    return (struct problem){"byocd could not finish this", next_retry};
}

/* The error page: what went wrong, CXone's own words, what to do next, the way back. */
static void reply_failure(struct byoc_req *req, const struct action_ctx *c)
{
    enum byoc_err shown = c->err == BYOC_ERR_UPSTREAM_AUTH ? BYOC_ERR_UNAUTHORIZED : c->err;
    int status = byoc_err_http_status(shown);
    struct problem p = problem_of(c, shown);
    struct byoc_buf b;
    byoc_buf_init(&b, PAGE_MAX);
    enum byoc_err e = byoc_html_begin(&b, p.title);
    e = e ? e : byoc_buf_puts(&b, "<p class=\"error\" role=\"alert\">");
    e = e ? e : byoc_html_escape(&b, c->err_msg ? c->err_msg : byoc_strerror(c->err));
    e = e ? e : byoc_buf_puts(&b, "</p>");
    if (c->detail[0]) {
        e = e ? e : byoc_buf_puts(&b, "<p class=\"meta\">CXone said: “");
        e = e ? e : byoc_html_escape(&b, c->detail);
        e = e ? e : byoc_buf_puts(&b, "”</p>");
    }
    e = e ? e : byoc_buf_puts(&b, "<h2>What to do next</h2><p>");
    e = e ? e : byoc_html_escape(&b, c->err_next ? c->err_next : p.next);
    e = e ? e : byoc_buf_puts(&b, "</p>");
    if (c->back_url) {
        e = e ? e : byoc_buf_puts(&b, "<p>");
        e = e ? e : render_back_link(&b, c, "Return to CXone", true);
        e = e ? e : byoc_buf_puts(&b, "</p>");
    }
    e = e ? e : render_footer(&b, c, req);
    e = e ? e : byoc_html_end(&b);
    if (status == 503 || status == 429) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", BYOC_STORE_RETRY_AFTER_S);
        byoc_reply_header(req, "Retry-After", secs);
    }
    send_page(req, &b, e, status, BYOC_HTML_CSP);
}

/* Fails a request before any CXone call, on the same error page. */
static void refuse(struct byoc_req *req, struct action_ctx *c, enum byoc_err e, const char *msg)
{
    fail(c, e, msg);
    reply_failure(req, c);
}

/* Redirects to backUrl when it is safe; otherwise a page that says it is done. */
static void reply_done(struct byoc_req *req, const struct action_ctx *c, const char *what)
{
    if (c->back_url) {
        byoc_reply_redirect(req, c->back_url);
        return;
    }
    struct byoc_buf b;
    byoc_buf_init(&b, PAGE_MAX);
    enum byoc_err e = byoc_html_begin(&b, "Done");
    e = e ? e : byoc_buf_puts(&b, "<p class=\"ok\" role=\"status\">");
    e = e ? e : byoc_html_escape(&b, what);
    e = e ? e
          : byoc_buf_puts(&b, "</p><h2>What to do next</h2><p>Return to CXone and refresh "
                              "its list of channels. You can close this page.</p>");
    e = e ? e : render_footer(&b, c, req);
    e = e ? e : byoc_html_end(&b);
    send_page(req, &b, e, 200, BYOC_HTML_CSP);
}

static enum byoc_err render_facts(struct byoc_buf *b, const struct action_ctx *c)
{
    enum byoc_err e = byoc_buf_puts(b, "<dl class=\"facts\"><dt>Bot platform</dt><dd>");
    e = e ? e : byoc_html_escape(b, c->provider.name);
    e = e ? e : byoc_buf_puts(b, "</dd><dt>CXone brand</dt><dd>");
    e = e ? e : byoc_html_escape(b, c->brand_id);
    if (c->admin.tenant_id) {
        e = e ? e : byoc_buf_puts(b, " (tenant ");
        e = e ? e : byoc_html_escape(b, c->admin.tenant_id);
        e = e ? e : byoc_buf_puts(b, ")");
    }
    if (c->admin.user_name) {
        e = e ? e : byoc_buf_puts(b, "</dd><dt>Signed in as</dt><dd>");
        e = e ? e : byoc_html_escape(b, c->admin.user_name);
    }
    e = e ? e : byoc_buf_puts(b, "</dd><dt>Integration ID</dt><dd>");
    if (c->provider.cxone_integration_id) {
        e = e ? e : byoc_buf_puts(b, "<span class=\"id\">");
        e = e ? e : byoc_html_escape(b, c->provider.cxone_integration_id);
        e = e ? e : byoc_buf_puts(b, "</span>");
    } else {
        e = e ? e : byoc_buf_puts(b, "not known yet: enter it below");
    }
    return e ? e : byoc_buf_puts(b, "</dd></dl>");
}

/* Where a channel of the brand stands for this bot; the order is the table's order. */
enum channel_state { STATE_CONNECTED, STATE_NOT_SET_UP, STATE_OTHER, STATE_UNKNOWN };

static const char *const state_html[] = {
    [STATE_CONNECTED] = "<span class=\"state on\">Connected to byocd</span>",
    [STATE_NOT_SET_UP] = "<span class=\"state warn\">Not set up in byocd</span>",
    [STATE_OTHER] = "<span class=\"state\">Other integration</span>",
    [STATE_UNKNOWN] = "<span class=\"state\">Not in byocd</span>",
};

static enum channel_state channel_state(const struct action_ctx *c,
                                        const struct byoc_cxone_channel *ch)
{
    for (size_t i = 0; i < c->nknown; i++) {
        if (strcmp(c->known[i].channel_id, ch->id) == 0)
            return STATE_CONNECTED;
    }
    const char *mine = c->provider.cxone_integration_id;
    if (!mine)
        return STATE_UNKNOWN; /* byocd cannot tell which integration is this one */
    if (ch->integration_id && strcmp(mine, ch->integration_id) == 0)
        return STATE_NOT_SET_UP;
    return STATE_OTHER;
}

static enum byoc_err render_channel_row(struct byoc_buf *b, const struct byoc_cxone_channel *ch,
                                        enum channel_state st)
{
    enum byoc_err e = byoc_buf_puts(b, "<tr><td>");
    e = e ? e : byoc_html_escape(b, ch->name ? ch->name : "(no name)");
    e = e ? e : byoc_buf_puts(b, "</td><td class=\"id\">");
    e = e ? e : byoc_html_escape(b, ch->id);
    e = e ? e : byoc_buf_printf(b, "</td><td>%s</td></tr>", state_html[st]);
    return e;
}

/* The brand's channels, this bot's first; at most CHANNEL_ROWS_MAX rows. */
static enum byoc_err render_channels(struct byoc_buf *b, const struct action_ctx *c)
{
    enum byoc_err e = byoc_buf_puts(b, "<h2>Channels of this brand</h2>");
    if (c->nchannels == 0)
        return e ? e : byoc_buf_puts(b, "<p>This brand has no channels yet.</p>");
    e = e ? e
          : byoc_buf_puts(b, "<table><thead><tr><th scope=\"col\">Name</th>"
                             "<th scope=\"col\">Channel ID</th><th scope=\"col\">State</th>"
                             "</tr></thead><tbody>");
    size_t shown = 0;
    bool not_set_up = false;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: this bot's channels */
        for (size_t i = 0; !e && i < c->nchannels && shown < CHANNEL_ROWS_MAX; i++) {
            enum channel_state st = channel_state(c, &c->channels[i]);
            if ((st <= STATE_NOT_SET_UP) != (pass == 0))
                continue;
            not_set_up = not_set_up || st == STATE_NOT_SET_UP;
            e = render_channel_row(b, &c->channels[i], st);
            shown++;
        }
    }
    e = e ? e : byoc_buf_puts(b, "</tbody></table>");
    if (shown < c->nchannels)
        e = e ? e
              : byoc_buf_printf(b, "<p class=\"hint\">%zu more channels are not listed here.</p>",
                                c->nchannels - shown);
    if (not_set_up)
        e = e ? e
              : byoc_buf_puts(b, "<p class=\"hint\">A channel marked as not set up uses this "
                                 "integration, but byocd does not know it: choose Reconnect "
                                 "on it in CXone.</p>");
    return e;
}

static enum byoc_err render_form(struct byoc_buf *b, const struct action_ctx *c)
{
    enum byoc_err e = byoc_buf_printf(
        b,
        "<h2>Create a channel</h2><p>byocd creates the channel in CXone, connects it to this "
        "bot platform and takes you back to CXone.</p><form method=\"post\" action=\"add\">"
        "<input type=\"hidden\" name=\"session\" value=\"%s\">"
        "<label for=\"name\">Channel name</label>"
        "<input type=\"text\" id=\"name\" name=\"name\" required maxlength=\"%d\" "
        "autocomplete=\"off\" aria-describedby=\"name-hint\">"
        "<p class=\"hint\" id=\"name-hint\">How the channel appears in CXone, for example "
        "“Website chat”. 1 to %d characters.</p>",
        c->session_id, BYOC_NAME_MAX, BYOC_NAME_MAX);
    if (!c->provider.cxone_integration_id)
        e = e ? e
              : byoc_buf_printf(b,
                                "<label for=\"integration_id\">Integration ID</label>"
                                "<input type=\"text\" id=\"integration_id\" "
                                "name=\"integration_id\" required maxlength=\"%d\" "
                                "autocomplete=\"off\" aria-describedby=\"integration-hint\">"
                                "<p class=\"hint\" id=\"integration-hint\">CXone shows it on the "
                                "Bring Your Own Channel integration once you have saved it.</p>",
                                BYOC_EXTERNAL_ID_MAX);
    e = e ? e
          : byoc_buf_puts(b, "<div class=\"actions\"><button type=\"submit\">Create channel"
                             "</button>");
    /* a plain link beside the button: it leaves without creating anything */
    e = e ? e : render_back_link(b, c, "Cancel and return to CXone", false);
    e = e ? e
          : byoc_buf_printf(b,
                            "</div></form><p class=\"meta foot\">This page works once, for "
                            "%d minutes.</p>",
                            BYOC_ACTION_SESSION_TTL_S / 60);
    return e;
}

static void reply_add_page(struct byoc_req *req, const struct action_ctx *c)
{
    struct byoc_buf b;
    byoc_buf_init(&b, PAGE_MAX);
    enum byoc_err e = byoc_html_begin(&b, "Add a channel");
    e = e ? e
          : byoc_buf_puts(&b, "<p>Conversations this bot platform hands over to your agents "
                              "arrive in CXone on a channel. Create one for this brand here.</p>");
    e = e ? e : render_facts(&b, c);
    e = e ? e : render_channels(&b, c);
    e = e ? e : render_form(&b, c);
    e = e ? e : byoc_html_end(&b);
    /* The form's answer redirects to backUrl; browsers hold that redirect to form-action too. */
    char csp[sizeof BYOC_HTML_CSP + BYOC_URL_MAX + 16], origin[BYOC_URL_MAX + 16] = "";
    if (c->back_url)
        url_origin(c->back_url, origin, sizeof origin);
    snprintf(csp, sizeof csp, BYOC_HTML_CSP_FORM_TO("%s"), origin);
    send_page(req, &b, e, 200, csp);
}

static void action_finished(struct byoc_req *req)
{
    struct action_ctx *c = byoc_req_ctx(req);
    static const char *const done_msgs[] = {"add page opened", "channel reconnected",
                                            "channel removed"};
    log_action(c, c->err ? "channel action failed" : done_msgs[c->kind]);
    if (c->err)
        reply_failure(req, c);
    else if (c->kind == ACTION_ADD)
        reply_add_page(req, c);
    else
        reply_done(req, c,
                   c->kind == ACTION_REMOVE ? "The channel was removed."
                                            : "The channel was reconnected.");
}

static bool parse_kind(const char *s, enum action_kind *out)
{
    static const char *const names[] = {"add", "reconnect", "remove"};
    for (size_t i = 0; s && i < BYOC_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum action_kind)i;
            return true;
        }
    }
    return false;
}

/* Creates the context with the provider loaded and backUrl vetted; NULL after replying. */
static struct action_ctx *action_ctx_or_reply(struct byoc_req *req, enum action_kind kind)
{
    const char *provider_id = provider_param_or_reply(req);
    struct action_ctx *c = provider_id ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (provider_id)
            byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return NULL;
    }
    byoc_req_set_ctx(req, c, action_ctx_free);
    c->req = req;
    c->app = app_of(req);
    c->kind = kind;
    if (!provider_load_or_reply(req, provider_id, &c->provider))
        return NULL;
    return c;
}

static bool set_back_url(struct action_ctx *c, const char *url)
{
    if (!url)
        return true;
    if (!back_url_safe(url, &c->provider)) {
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_WARN, "actions", "backUrl refused (not https or a CXone host)");
        byoc_log_str(&l, "provider_id", c->provider.id);
        byoc_log_end(&l);
        return true;
    }
    c->back_url = strdup(url);
    return c->back_url != NULL;
}

void h_action_open(struct byoc_req *req)
{
    enum action_kind kind;
    if (!parse_kind(byoc_req_param(req, "action"), &kind)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "There is no such action page.");
        return;
    }
    struct action_ctx *c = action_ctx_or_reply(req, kind);
    if (!c)
        return;
    static const char *const channel_keys[] = {"channelId", "channel_id", "channel", "id"};
    const char *token = byoc_req_query(req, "token"), *brand = byoc_req_query(req, "brandId");
    const char *user = byoc_req_query(req, "userId");
    const char *channel = query_any(req, channel_keys, BYOC_ARRAY_LEN(channel_keys));
    int64_t num;
    if (!set_back_url(c, byoc_req_query(req, "backUrl"))) { /* first: error pages link back */
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    if (!token || !*token || strlen(token) > BYOC_TOKEN_MAX_LEN) {
        refuse(req, c, BYOC_ERR_UNAUTHORIZED,
               "This page needs a one-time token from CXone, and this link has none.");
        return;
    }
    if (!byoc_parse_i64(brand, 0, INT64_MAX, &num) || !byoc_parse_i64(user, 0, INT64_MAX, &num)) {
        refuse(req, c, BYOC_ERR_INVALID,
               "The link from CXone does not say which brand and user it is for (brandId, "
               "userId).");
        return;
    }
    if (kind != ACTION_ADD && !byoc_external_id_valid(channel, BYOC_EXTERNAL_ID_MAX)) {
        refuse(req, c, BYOC_ERR_INVALID, "The link from CXone does not name a channel.");
        return;
    }
    c->token = strdup(token);
    c->brand_id = strdup(brand);
    c->user_id = strdup(user);
    c->channel_id = channel && kind != ACTION_ADD ? strdup(channel) : NULL;
    if (!c->token || !c->brand_id || !c->user_id || (kind != ACTION_ADD && !c->channel_id)) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    task_then_or_reply(req, action_open_task, c, action_finished);
}

static void add_submitted(struct byoc_req *req)
{
    struct action_ctx *c = byoc_req_ctx(req);
    log_action(c, c->err ? "channel creation failed" : "channel created");
    if (c->err)
        reply_failure(req, c);
    else
        reply_done(req, c, "The channel was created.");
}

/* Loads the session of the form; false after replying. */
static bool session_or_reply(struct byoc_req *req, struct action_ctx *c)
{
    const char *sid = byoc_req_form(req, "session");
    uint8_t hash[BYOC_SHA256_LEN];
    enum byoc_err e = BYOC_ERR_NOT_FOUND;
    if (sid && strlen(sid) == SESSION_ID_CHARS) {
        byoc_sha256(sid, SESSION_ID_CHARS, hash);
        e = byoc_store_action_session_get(c->app->store, hash, byoc_now_ms(), &c->session);
    }
    if (!e && (strcmp(c->session.provider_id, c->provider.id) != 0 ||
               strcmp(c->session.action, "add") != 0)) {
        byoc_action_session_release(&c->session);
        e = BYOC_ERR_NOT_FOUND;
    }
    if (e == BYOC_ERR_NOT_FOUND)
        refuse(req, c, BYOC_ERR_UNAUTHORIZED, "This page has expired or was already used.");
    else if (e)
        byoc_reply_error(req, e, NULL);
    return e == BYOC_ERR_OK;
}

void h_action_add_submit(struct byoc_req *req)
{
    struct action_ctx *c = action_ctx_or_reply(req, ACTION_ADD);
    if (c)
        c->submitted = true;
    if (!c || !session_or_reply(req, c))
        return;
    c->verified = true; /* the session was made after CXone accepted the token */
    if (!set_back_url(c, c->session.back_url)) { /* first: error pages link back */
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    const char *name = byoc_req_form(req, "name");
    const char *integration = byoc_req_form(req, "integration_id");
    if (!name || !byoc_name_valid(name)) {
        refuse(req, c, BYOC_ERR_INVALID, "Give the channel a name of 1 to 200 characters.");
        return;
    }
    if (!c->provider.cxone_integration_id &&
        !byoc_external_id_valid(integration, BYOC_EXTERNAL_ID_MAX)) {
        refuse(req, c, BYOC_ERR_INVALID,
               "Enter the Integration ID that CXone shows for this integration.");
        return;
    }
    c->name = strdup(name);
    c->form_integration_id = integration ? strdup(integration) : NULL;
    c->brand_id = c->session.brand_id ? strdup(c->session.brand_id) : NULL;
    if (!c->name || (c->session.brand_id && !c->brand_id)) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    task_then_or_reply(req, action_submit_task, c, add_submitted);
}
