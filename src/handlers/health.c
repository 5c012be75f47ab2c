#include "handlers/handlers-internal.h"
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
