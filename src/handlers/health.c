#include <stdlib.h>

#include "handlers/handlers-internal.h"
#include "byoc/metrics.h"
#include "byoc/banned.h"

void h_healthz(struct byoc_req *req)
{
    cJSON *j = cJSON_CreateObject();
    if (j && !byoc_json_add_str(j, "status", "ok")) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, 200, j);
}

void h_readyz(struct byoc_req *req)
{
    struct byoc_store *store = app_of(req)->store;
    int applied = 0, known = 0;
    byoc_store_schema(store, &applied, &known);
    bool db_ok = byoc_store_ping(store);
    bool ready = db_ok && applied == known;
    cJSON *j = cJSON_CreateObject();
    if (j && !(byoc_json_add_str(j, "status", ready ? "ready" : "not_ready") &&
               cJSON_AddBoolToObject(j, "database", db_ok) &&
               cJSON_AddNumberToObject(j, "schema_version", applied) &&
               cJSON_AddNumberToObject(j, "schema_expected", known))) {
        cJSON_Delete(j);
        j = NULL;
    }
    byoc_reply_json(req, ready ? 200 : 503, j);
}

/* Prometheus exposition. Open like the probes: keep it off the public side of the proxy. The
 * backlog counts read the database, which can take a while with a large outbox: a task does
 * it, not the HTTP thread. */
struct metrics_ctx {
    struct byoc_req *req;
    struct byoc_store *store;
    struct byoc_backlog backlog;
    enum byoc_err backlog_err;
};

static void metrics_read(void *arg)
{
    struct metrics_ctx *c = arg;
    c->backlog_err = byoc_store_backlog(c->store, &c->backlog);
    byoc_req_resume(c->req); /* last touch of the request */
}

static void metrics_render(struct byoc_req *req)
{
    struct metrics_ctx *c = byoc_req_ctx(req);
    struct byoc_store_stats stats;
    byoc_store_stats(c->store, &stats);
    size_t nroutes = 0;
    const struct byoc_route *routes = byoc_app_routes(&nroutes);
    struct byoc_buf b;
    byoc_buf_init(&b, BYOC_METRICS_TEXT_MAX);
    enum byoc_err e =
        byoc_metrics_render(&b, routes, nroutes, &stats, c->backlog_err ? NULL : &c->backlog);
    if (e) {
        byoc_buf_release(&b);
        byoc_reply_error(req, e, NULL);
        return;
    }
    size_t len = 0;
    char *text = byoc_buf_steal(&b, &len);
    byoc_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void h_metrics(struct byoc_req *req)
{
    struct metrics_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        byoc_reply_error(req, BYOC_ERR_NOMEM, NULL);
        return;
    }
    byoc_req_set_ctx(req, c, free);
    c->req = req;
    c->store = app_of(req)->store;
    task_then_or_reply(req, metrics_read, c, metrics_render);
}
