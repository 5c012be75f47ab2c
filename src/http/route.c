#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/http-internal.h"
#include "byoc/banned.h"

void http_route_release(struct byoc_req *r)
{
    r->nparams = 0;
    r->param_used = 0;
}

/* A copy of s[0..n) in r->param_buf, or NULL when it is full. */
static char *param_copy(struct byoc_req *r, const char *s, size_t n)
{
    if (n >= sizeof r->param_buf - r->param_used)
        return NULL;
    char *out = r->param_buf + r->param_used;
    memcpy(out, s, n);
    out[n] = '\0';
    r->param_used += n + 1;
    return out;
}

static bool capture(struct byoc_req *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (r->nparams >= BYOC_HTTP_MAX_ROUTE_PARAMS)
        return false;
    struct http_kv *kv = &r->params[r->nparams];
    kv->key = param_copy(r, name, nlen);
    kv->value = param_copy(r, v, vlen);
    r->nparams++;
    return kv->key && kv->value;
}

/* Segment-by-segment match; "{x}" captures one non-empty segment, "{*}" the (non-empty) rest. */
static bool match_one(struct byoc_req *r, const char *pat, const char *path)
{
    http_route_release(r);
    while (*pat && *path) {
        if (*pat != '/' || *path != '/')
            return false;
        pat++;
        path++;
        size_t plen = strcspn(pat, "/"), slen = strcspn(path, "/");
        if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
            bool rest = plen == 3 && pat[1] == '*';
            size_t take = rest ? strlen(path) : slen;
            if (take == 0 || !capture(r, pat + 1, plen - 2, path, take))
                return false;
            path += take;
            if (rest)
                return pat[plen] == '\0';
        } else if (plen != slen || strncmp(pat, path, plen) != 0) {
            return false;
        } else {
            path += slen;
        }
        pat += plen;
    }
    return *pat == '\0' && *path == '\0';
}

const struct byoc_route *http_route_match(struct byoc_req *r, const struct byoc_route *routes,
                                          size_t n, bool *path_matched)
{
    *path_matched = false;
    r->allow[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (!match_one(r, routes[i].pattern, r->path))
            continue;
        if (strcmp(routes[i].method, r->method) == 0 || strcmp(routes[i].method, "*") == 0)
            return &routes[i];
        *path_matched = true;
        if (!strstr(r->allow, routes[i].method)) {
            int w = snprintf(r->allow + used, sizeof r->allow - used, "%s%s", used ? ", " : "",
                             routes[i].method);
            if (w > 0 && (size_t)w < sizeof r->allow - used)
                used += (size_t)w;
        }
    }
    http_route_release(r);
    return NULL;
}
