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

/* Prometheus exposition. Open like the probes: keep it off the public side of the proxy. */
void h_metrics(struct byoc_req *req)
{
    struct byoc_store *store = app_of(req)->store;
    struct byoc_store_stats stats;
    struct byoc_backlog backlog;
    byoc_store_stats(store, &stats);
    bool have_backlog = byoc_store_backlog(store, &backlog) == BYOC_ERR_OK;
    size_t nroutes = 0;
    const struct byoc_route *routes = byoc_app_routes(&nroutes);
    struct byoc_buf b;
    byoc_buf_init(&b, BYOC_METRICS_TEXT_MAX);
    enum byoc_err e =
        byoc_metrics_render(&b, routes, nroutes, &stats, have_backlog ? &backlog : NULL);
    if (e) {
        byoc_buf_release(&b);
        byoc_reply_error(req, e, NULL);
        return;
    }
    size_t len = 0;
    char *text = byoc_buf_steal(&b, &len);
    byoc_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
