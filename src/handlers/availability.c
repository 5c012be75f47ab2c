/* GET /v1/availability: are agents free for a channel's skill? Lets a bot offer a fallback
 * before it escalates. Asks CXone's reporting API on a task thread; answers are reused for
 * BYOC_AVAILABILITY_CACHE_MS per provider and skill. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/handlers-internal.h"
#include "byoc/banned.h"

struct avail_ctx {
    struct byoc_req *req;
    struct byoc_app *app;
    struct byoc_provider provider;
    char *channel_id, *skill_id;
    struct byoc_cxone_skill_summary summary;
    enum byoc_err err;
    char error[BYOC_CXONE_DETAIL_MAX + 64];
};

static void avail_ctx_free(void *ptr)
{
    struct avail_ctx *c = ptr;
    byoc_provider_release(&c->provider);
    free(c->channel_id);
    free(c->skill_id);
    free(c);
}

/* ---- cache (HTTP thread only) ---- */

static struct byoc_availability_slot *cached(struct byoc_app *app, const char *provider_id,
                                             const char *skill_id, bool for_write)
{
    struct byoc_availability_slot *oldest = &app->availability[0];
    for (size_t i = 0; i < BYOC_AVAILABILITY_SLOTS; i++) {
        struct byoc_availability_slot *s = &app->availability[i];
        if (s->at_ms && !strcmp(s->provider_id, provider_id) && !strcmp(s->skill_id, skill_id))
            return (for_write || byoc_now_ms() - s->at_ms < BYOC_AVAILABILITY_CACHE_MS) ? s : NULL;
        if (s->at_ms < oldest->at_ms)
            oldest = s;
    }
    return for_write ? oldest : NULL;
}

/* ---- task thread ---- */

static void summary_with(const char *bearer, void *arg, struct byoc_cxone_result *r)
{
    struct avail_ctx *c = arg;
    byoc_cxone_skill_summary(c->provider.cxone_api_base_url, c->app->cfg->cxone_services_path,
                             bearer, c->skill_id, byoc_now_ms(), &c->summary, r);
}

static void availability_task(void *arg)
{
    struct avail_ctx *c = arg;
    struct byoc_cxone_login login;
    struct byoc_cxone_result r = {0};
    bool token_failed = false;
    c->err = byoc_cxone_login_open(&c->app->keys, &c->provider, &login);
    if (!c->err) {
        byoc_cxone_with_token(c->app->tokens, &login.creds, summary_with, c, &r, &token_failed);
        bool ok = !r.err && r.status >= 200 && r.status < 300 && c->summary.found;
        c->err = ok ? BYOC_ERR_OK : r.err ? r.err : BYOC_ERR_UPSTREAM;
        if (token_failed)
            snprintf(c->error, sizeof c->error, "no CXone token: %s", r.detail);
        else if (!ok)
            snprintf(c->error, sizeof c->error, "CXone's reporting API answered %ld%s%s", r.status,
                     r.detail[0] ? ": " : "", r.detail);
        byoc_cxone_result_release(&r);
        byoc_cxone_login_release(&login);
    }
    byoc_req_resume(c->req); /* last touch of the request */
}

/* ---- HTTP thread ---- */

static bool add_count(cJSON *o, const char *key, long v)
{
    return v < 0 ? cJSON_AddNullToObject(o, key) != NULL
                 : cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

static void reply_summary(struct byoc_req *req, const char *channel_id, const char *skill_id,
                          const struct byoc_availability_slot *s, bool from_cache)
{
    const struct byoc_cxone_skill_summary *m = &s->summary;
    long free_agents = m->agents_available >= 0 ? m->agents_available : m->agents_idle;
    cJSON *j = cJSON_CreateObject();
    bool ok = j && byoc_json_add_str(j, "channel_id", channel_id) &&
              byoc_json_add_str(j, "skill_id", skill_id) &&
              cJSON_AddBoolToObject(j, "available", free_agents > 0) &&
              add_count(j, "agents_available", m->agents_available) &&
              add_count(j, "agents_idle", m->agents_idle) &&
              add_count(j, "agents_logged_in", m->agents_logged_in) &&
              add_count(j, "queue_length", m->queue_length) &&
              add_count(j, "longest_wait_s", m->longest_wait_s) &&
              json_add_time(j, "as_of", s->at_ms) && cJSON_AddBoolToObject(j, "cached", from_cache);
    if (!ok) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, 200, j);
}

static void answered(struct byoc_req *req)
{
    struct avail_ctx *c = byoc_req_ctx(req);
    if (c->err) {
        byoc_reply_error(req, c->err, c->error[0] ? c->error : NULL);
        return;
    }
    struct byoc_availability_slot *s = cached(c->app, c->provider.id, c->skill_id, true);
    byoc_strlcpy(s->provider_id, c->provider.id, sizeof s->provider_id);
    byoc_strlcpy(s->skill_id, c->skill_id, sizeof s->skill_id);
    s->at_ms = byoc_now_ms();
    s->summary = c->summary;
    reply_summary(req, c->channel_id, c->skill_id, s, false);
}

/* The skill asked about: skill_id, else the channel's (the named one or the only one). */
static bool skill_or_reply(struct byoc_req *req, struct avail_ctx *c)
{
    const char *skill = byoc_req_query(req, "skill_id"), *want = byoc_req_query(req, "channel_id");
    struct byoc_channel *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_channel_list(c->app->store, c->provider.id, &list, &n);
    const struct byoc_channel *ch = (!e && !want && n == 1) ? &list[0] : NULL;
    for (size_t i = 0; !e && want && i < n; i++)
        ch = strcmp(list[i].channel_id, want) == 0 ? &list[i] : ch;
    if (!e && want && !ch)
        e = BYOC_ERR_NOT_FOUND;
    if (!e && !skill)
        skill = ch ? ch->skill_id : NULL;
    if (!e) {
        c->skill_id = skill ? strdup(skill) : NULL;
        c->channel_id = ch ? strdup(ch->channel_id) : NULL;
    }
    byoc_channel_list_free(list, n);
    if (e)
        byoc_reply_error(
            req, e, e == BYOC_ERR_NOT_FOUND ? "channel_id: not a channel of this provider" : NULL);
    else if (!c->skill_id || !byoc_external_id_valid(c->skill_id, BYOC_EXTERNAL_ID_MAX))
        byoc_reply_error(req, BYOC_ERR_INVALID,
                         "skill_id: pass it, or register the channel with a skill_id");
    return !e && c->skill_id && byoc_external_id_valid(c->skill_id, BYOC_EXTERNAL_ID_MAX);
}

void h_availability(struct byoc_req *req)
{
    struct avail_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, avail_ctx_free);
    c->req = req;
    c->app = app_of(req);
    if (!provider_load_or_reply(req, byoc_req_principal(req), &c->provider) ||
        !skill_or_reply(req, c))
        return;
    const struct byoc_availability_slot *hit = cached(c->app, c->provider.id, c->skill_id, false);
    if (hit) {
        reply_summary(req, c->channel_id, c->skill_id, hit, true);
        return;
    }
    task_then_or_reply(req, availability_task, c, answered);
}
