/* Route matching on the real table: any path and method gives a route or none; captured
 * parameters are never empty, and only the final {*} may contain a slash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/app.h"
#include "http/http-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
    if (size < 1 || size > BYOC_HTTP_MAX_PATH)
        return 0;
    struct byoc_req *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    r->path = malloc(size);
    if (!r->path) {
        free(r);
        return 0;
    }
    memcpy(r->path, data + 1, size - 1);
    r->path[size - 1] = '\0';
    snprintf(r->method, sizeof r->method, "%s", methods[data[0] % 4]);
    size_t n = 0;
    const struct byoc_route *routes = byoc_app_routes(&n);
    bool matched = false;
    const struct byoc_route *rt = http_route_match(r, routes, n, &matched);
    for (size_t i = 0; rt && i < r->nparams; i++) {
        const char *v = r->params[i].value;
        if (!v || !*v)
            abort();
        if (strcmp(r->params[i].key, "*") != 0 && strchr(v, '/'))
            abort();
    }
    http_route_release(r);
    free(r->path);
    free(r);
    return 0;
}
