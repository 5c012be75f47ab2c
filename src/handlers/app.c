#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"

#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

enum byoc_err byoc_app_init(struct byoc_app *app, const struct byoc_config *cfg,
                            struct byoc_store *store, struct byoc_tasks *tasks,
                            const struct byoc_keys *keys)
{
    *app = (struct byoc_app){.cfg = cfg, .store = store, .tasks = tasks, .keys = *keys};
    byoc_json_init();
    return byoc_auth_init(&app->auth, keys->jwt, cfg->public_url, cfg->token_ttl);
}

enum byoc_err byoc_app_listen(struct byoc_app *app, struct byoc_http **out, char *why,
                              size_t why_cap)
{
    const struct byoc_config *cfg = app->cfg;
    struct byoc_http_config hc = {.host = cfg->listen_host,
                                  .port = (int)cfg->listen_port,
                                  .max_connections = (unsigned)cfg->max_connections,
                                  .idle_timeout_s = (unsigned)cfg->idle_timeout,
                                  .authorize_or_reply = byoc_app_authorize_or_reply,
                                  .app = app,
                                  .trusted_proxies = cfg->trusted_proxies};
    hc.routes = byoc_app_routes(&hc.nroutes);
    return byoc_http_start(&hc, out, why, why_cap);
}

void byoc_app_release(struct byoc_app *app)
{
    if (!app)
        return;
    byoc_auth_release(&app->auth);
    byoc_wipe(&app->keys, sizeof app->keys);
}

static bool authorize_admin_or_reply(struct byoc_req *req)
{
    const char *want = app_of(req)->cfg->admin_token;
    if (!want) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND,
                         "the admin API is off: set BYOCD_ADMIN_TOKEN to turn it on");
        return false;
    }
    const char *got = byoc_req_bearer(req);
    uint8_t a[BYOC_SHA256_LEN], b[BYOC_SHA256_LEN];
    byoc_sha256(want, strlen(want), a);
    byoc_sha256(got ? got : "", got ? strlen(got) : 0, b);
    if (got && byoc_ct_equal(a, b, sizeof a))
        return true;
    byoc_reply_header(req, "WWW-Authenticate", "Bearer realm=\"byocd-admin\"");
    byoc_reply_error(req, BYOC_ERR_UNAUTHORIZED, "a valid admin bearer token is required");
    return false;
}

bool byoc_app_authorize_or_reply(struct byoc_req *req, int policy)
{
    switch (policy) {
    case BYOC_POLICY_ADMIN:
        return authorize_admin_or_reply(req);
    case BYOC_POLICY_CXONE:
        return authorize_cxone_or_reply(req);
    case BYOC_POLICY_BOT:
        return authorize_bot_or_reply(req);
    case BYOC_POLICY_STUDIO:
        return authorize_studio_or_reply(req);
    default:
        return true;
    }
}

const char *provider_param_or_reply(struct byoc_req *req)
{
    const char *id = byoc_req_param(req, "provider_id");
    if (!id || !byoc_id_valid(id, BYOC_ID_MAX - 1)) {
        byoc_reply_error(req, BYOC_ERR_NOT_FOUND, "no such provider");
        return NULL;
    }
    return id;
}

bool provider_load_or_reply(struct byoc_req *req, const char *id, struct byoc_provider *out)
{
    enum byoc_err e = byoc_store_provider_get(app_of(req)->store, id, out);
    if (e)
        byoc_reply_error(req, e, e == BYOC_ERR_NOT_FOUND ? "no such provider" : NULL);
    return e == BYOC_ERR_OK;
}

static void resume_on_done(struct byoc_write *w)
{
    byoc_req_resume(w->user);
}

void submit_then(struct byoc_req *req, struct byoc_write *w, byoc_handler_fn cont)
{
    w->done = resume_on_done;
    w->user = req;
    byoc_req_suspend(req, cont);
    enum byoc_err e = byoc_store_submit(app_of(req)->store, w);
    if (e) {
        w->err = e;
        byoc_req_resume(req);
    }
}

bool task_then_or_reply(struct byoc_req *req, void (*fn)(void *), void *arg, byoc_handler_fn cont)
{
    byoc_req_suspend(req, cont);
    enum byoc_err e = byoc_tasks_submit(app_of(req)->tasks, fn, arg);
    if (!e)
        return true;
    byoc_reply_error(req, e, NULL); /* stored now, sent once the continuation has run */
    byoc_req_resume(req);
    return false;
}

bool page_or_reply(struct byoc_req *req, int64_t default_limit, int64_t *after, int64_t *limit)
{
    const char *a = byoc_req_query(req, "after"), *l = byoc_req_query(req, "limit");
    *after = 0;
    *limit = default_limit;
    if ((a && !byoc_parse_i64(a, 0, INT64_MAX, after)) ||
        (l && !byoc_parse_i64(l, 1, BYOC_LIST_PAGE_MAX, limit))) {
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "after: a number from an earlier answer (0 for the start); limit: 1-500");
        return false;
    }
    return true;
}

bool unmatched_page_or_reply(struct byoc_req *req, bool *unmatched, int64_t *after, int64_t *limit)
{
    const char *u = byoc_req_query(req, "unmatched");
    *unmatched = u && strcmp(u, "true") == 0;
    if (u && !*unmatched && strcmp(u, "false") != 0) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "unmatched: true or false");
        return false;
    }
    return page_or_reply(req, BYOC_LIST_PAGE_DEFAULT, after, limit);
}

cJSON *list_json(const char *key, const void *items, size_t n, size_t size,
                 cJSON *(*view)(const void *ctx, const void *item), const void *ctx)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, key) : NULL;
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *v = view(ctx, (const char *)items + i * size);
        ok = v && cJSON_AddItemToArray(arr, v);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

const char *provider_known_or_reply(struct byoc_req *req)
{
    const char *id = provider_param_or_reply(req);
    struct byoc_provider p;
    if (!id || !provider_load_or_reply(req, id, &p))
        return NULL;
    byoc_provider_release(&p);
    return id;
}

const cJSON *body_object_or_reply(struct byoc_req *req)
{
    const cJSON *b = byoc_req_json(req);
    if (!cJSON_IsObject(b)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "the body must be a JSON object");
        return NULL;
    }
    return b;
}

bool json_add_time(cJSON *obj, const char *key, int64_t unix_ms)
{
    char iso[BYOC_TIME_ISO_MAX];
    byoc_time_iso(unix_ms, iso);
    return byoc_json_add_str(obj, key, iso);
}

cJSON *provider_view(const struct byoc_app *app, const struct byoc_provider *p)
{
    struct byoc_provider_urls u;
    byoc_provider_urls(app->cfg->public_url, p->id, &u);
    cJSON *v = cJSON_CreateObject();
    cJSON *cx = v ? cJSON_AddObjectToObject(v, "cxone") : NULL;
    cJSON *byoc = v ? cJSON_AddObjectToObject(v, "byoc") : NULL;
    bool ok = cx && byoc && byoc_json_add_str(v, "id", p->id) &&
              byoc_json_add_str(v, "name", p->name) &&
              byoc_json_add_str(v, "webhook_url", p->webhook_url) &&
              byoc_json_add_str(cx, "auth_url", p->cxone_auth_url) &&
              byoc_json_add_str(cx, "api_base_url", p->cxone_api_base_url) &&
              byoc_json_add_str(cx, "client_id", p->cxone_client_id) &&
              byoc_json_add_str(cx, "access_key_id", p->cxone_access_key_id) &&
              byoc_json_add_str(cx, "integration_id", p->cxone_integration_id) &&
              byoc_json_add_str(byoc, "integration_box_url", u.box) &&
              byoc_json_add_str(byoc, "authorization_url", u.token) &&
              byoc_json_add_str(byoc, "add_action_url", u.add) &&
              byoc_json_add_str(byoc, "reconnect_action_url", u.reconnect) &&
              byoc_json_add_str(byoc, "remove_action_url", u.remove) &&
              byoc_json_add_str(byoc, "client_id", p->byoc_client_id) &&
              json_add_time(v, "created_at", p->created_at) &&
              json_add_time(v, "updated_at", p->updated_at);
    cJSON *set = ok ? cJSON_AddObjectToObject(v, "settings") : NULL;
    ok = set &&
         byoc_json_add_str(set, "transcript_mode",
                           p->transcript_mode == BYOC_TRANSCRIPT_PER_TURN ? "per_turn"
                                                                          : "combined") &&
         cJSON_AddNumberToObject(set, "transcript_chunk_max", (double)p->transcript_chunk_max) &&
         cJSON_AddNumberToObject(set, "inactivity_timeout_s", (double)p->inactivity_timeout_s);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

cJSON *channel_view(const struct byoc_channel *c)
{
    cJSON *v = cJSON_CreateObject();
    bool ok =
        v && byoc_json_add_str(v, "channel_id", c->channel_id) &&
        byoc_json_add_str(v, "provider_id", c->provider_id) &&
        byoc_json_add_str(v, "name", c->name) && byoc_json_add_str(v, "brand_id", c->brand_id) &&
        byoc_json_add_str(v, "skill_id", c->skill_id) &&
        byoc_json_add_str(v, "source", c->source == BYOC_CHANNEL_ACTION ? "action" : "admin") &&
        json_add_time(v, "created_at", c->created_at) &&
        json_add_time(v, "updated_at", c->updated_at);
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static void in_progress(struct byoc_req *req)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", BYOC_STORE_RETRY_AFTER_S);
    byoc_reply_header(req, "Retry-After", secs);
    byoc_reply_error(req, BYOC_ERR_CONFLICT,
                     "a request with this Idempotency-Key is still being processed; retry later");
}

/* Reads Idempotency-Key; replays a stored answer (or refuses a reuse) and returns false after
 * replying; else true, with slot->used when the answer must be stored with the write. */
bool idem_or_reply(struct byoc_req *req, struct idem_slot *slot)
{
    const char *key = byoc_req_header(req, "Idempotency-Key");
    slot->used = false;
    if (!key)
        return true;
    if (!byoc_external_id_valid(key, BYOC_IDEMPOTENCY_KEY_MAX)) {
        byoc_reply_error(req, BYOC_ERR_INVALID, "Idempotency-Key: 1-200 printable characters");
        return false;
    }
    byoc_strlcpy(slot->key, key, sizeof slot->key);
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    struct byoc_buf b;
    byoc_buf_init(&b, len + BYOC_HTTP_MAX_PATH + 16);
    enum byoc_err e = byoc_buf_printf(&b, "%s %s\n", byoc_req_method(req), byoc_req_path(req));
    if (!e)
        e = byoc_buf_append(&b, body, len);
    if (!e)
        byoc_sha256(b.data, b.len, slot->idem.request_hash);
    byoc_buf_release(&b);
    uint8_t stored[BYOC_SHA256_LEN];
    int status = 0;
    char *answer = NULL;
    if (!e)
        e = byoc_store_idem_get(app_of(req)->store, byoc_req_principal(req), key, stored, &status,
                                &answer);
    if (e == BYOC_ERR_NOT_FOUND) {
        slot->idem.key = slot->key;
        slot->used = true;
        return true;
    }
    if (!e && !byoc_ct_equal(stored, slot->idem.request_hash, sizeof stored))
        e = BYOC_ERR_IDEMPOTENCY_REUSED;
    if (e) {
        byoc_reply_error(req, e, NULL);
        free(answer);
    } else if (status == 0) {
        in_progress(req);
        free(answer);
    } else {
        byoc_reply(req, status, "application/json", answer, strlen(answer));
    }
    return false;
}

/* Sets the answer a new key stores; body must outlive the write. */
const struct byoc_idem *idem_answer(struct idem_slot *slot, int status, const char *body)
{
    if (!slot->used)
        return NULL;
    slot->idem.status = status;
    slot->idem.body = body;
    return &slot->idem;
}

/* After a write: a concurrent request with the same key got there first; replay its answer. */
bool replayed(struct byoc_req *req, struct byoc_write *w)
{
    if (!w->idem.hit)
        return false;
    char *body = w->idem.body;
    w->idem.body = NULL;
    if (w->idem.status == 0) { /* reserved by a request still being processed */
        free(body);
        in_progress(req);
        return true;
    }
    byoc_reply(req, w->idem.status, "application/json", body, body ? strlen(body) : 0);
    return true;
}
