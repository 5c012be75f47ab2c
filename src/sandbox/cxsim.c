/*
 * cxsim — the CXone simulator's CXone API; see include/byoc/cxsim.h for the contract and
 * cxsim_console.c for the agent console.
 *
 * Layout: small helpers, then one function per endpoint (lock held), then the HTTP glue (a route
 * table for byocd's HTTP layer; delayed answers are parked and resumed by a waker thread), then
 * the public API.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "byoc/crypto.h"
#include "byoc/cxsim.h"
#include "byoc/json.h"
#include "byoc/util.h"
#include "sandbox/cxsim-internal.h"
#include "byoc/banned.h"

#define FC_MAX_DELAY_MS 600000 /* 10 minutes: anything longer is a test bug */
#define FC_FORM_VALUE_MAX 1024 /* longest form value / credential we compare */
#define FC_QUERY_MAX 1024      /* recorded query string */
#define FC_DFO "/dfo/3.0"

/* ---------------------------------------------------------------- small helpers */

static void fc_die(const char *what)
{
    fprintf(stderr, "byocd cxsim: %s\n", what);
    abort();
}

void *cxsim_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        fc_die("out of memory");
    return q;
}

char *cxsim_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cxsim_xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

/* Makes room for one more element in a growable array. */
void *cxsim_grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > SIZE_MAX / elem)
        fc_die("array too large");
    *cap = ncap;
    return cxsim_xrealloc(arr, ncap * elem);
}

static bool fc_starts_with(const char *s, const char *prefix)
{
    if (!prefix)
        return true;
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies src into dst, truncating to fit; NULL copies as "". */
static void fc_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void fc_replace(char **slot, const char *value)
{
    if (!value)
        return;
    free(*slot);
    *slot = cxsim_xstrdup(value);
}

static char *fc_print(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        fc_die("cJSON_PrintUnformatted failed");
    return text;
}

void cxsim_reply_json(struct fc_reply *r, int status, cJSON *json)
{
    r->status = status;
    r->body = fc_print(json);
}

/* {"errors":[{"message":m,"errorCode":code?}]} */
void cxsim_reply_errors(struct fc_reply *r, int status, const char *message, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "errors");
    cJSON *err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "message", message);
    if (code)
        cJSON_AddStringToObject(err, "errorCode", code);
    cJSON_AddItemToArray(list, err);
    cxsim_reply_json(r, status, root);
}

/* {"error":code} as RFC 6749 §5.2 */
static void fc_reply_oauth_error(struct fc_reply *r, int status, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", code);
    cxsim_reply_json(r, status, root);
}

static void fc_reply_not_found(struct fc_reply *r)
{
    cxsim_reply_errors(r, 404, "not found", NULL);
}

/* Parses a whole base-10 long; false on garbage, overflow or empty input. */

/* A JSON member that is an integral number or a numeric string. */
static bool fc_json_long(const cJSON *obj, const char *name, long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    int64_t v = 0;
    if (cJSON_IsString(item) && !byoc_parse_i64(item->valuestring, LONG_MIN, LONG_MAX, &v))
        return false;
    if (cJSON_IsString(item)) {
        *out = (long)v;
        return true;
    }
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (d < (double)LONG_MIN || d >= (double)LONG_MAX || d != (double)(long)d)
        return false;
    *out = (long)d;
    return true;
}

/* ---------------------------------------------------------------- decoding */

/* Finds `name` in a form body and decodes its value into dst. False if absent or invalid. */
static bool fc_form_get(const char *body, size_t len, const char *name, char *dst, size_t cap)
{
    size_t name_len = strlen(name);
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *pair = body + i;
        size_t pair_len = end - i;
        if (pair_len > name_len && memcmp(pair, name, name_len) == 0 && pair[name_len] == '=') {
            char *v = byoc_form_decode(pair + name_len + 1, pair_len - name_len - 1);
            bool ok = v && byoc_strlcpy(dst, v, cap);
            free(v);
            return ok;
        }
        i = end + 1;
    }
    return false;
}

static bool fc_basic_auth_is(const char *header, const char *id, const char *secret)
{
    char decoded[2 * FC_FORM_VALUE_MAX];
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = 0;
    if (byoc_base64_decode(b64, strlen(b64), (uint8_t *)decoded, sizeof(decoded) - 1, &n) !=
        BYOC_ERR_OK)
        return false;
    decoded[n] = '\0';
    char *colon = strchr(decoded, ':');
    if (!colon)
        return false;
    *colon = '\0';
    return strcmp(decoded, id) == 0 && strcmp(colon + 1, secret) == 0;
}

/* ---------------------------------------------------------------- state (lock held) */

static void fc_issue_token(struct byoc_cxsim *f, const char *token)
{
    if (f->n_tokens == BYOC_CXSIM_TOKENS_MAX) { /* the oldest stops working, as if it expired */
        free(f->tokens[0]);
        memmove(f->tokens, f->tokens + 1, (f->n_tokens - 1) * sizeof(*f->tokens));
        f->n_tokens--;
    }
    f->tokens = cxsim_grow(f->tokens, f->n_tokens, &f->cap_tokens, sizeof(*f->tokens));
    f->tokens[f->n_tokens++] = cxsim_xstrdup(token);
}

/* Adds name to a map kept in insertion order, forgetting the oldest entry past max. */
static void fc_remember(cJSON *map, const char *name, cJSON *value, int max)
{
    cJSON_AddItemToObject(map, name, value);
    while (cJSON_GetArraySize(map) > max)
        cJSON_DeleteItemFromArray(map, 0);
}

static bool fc_token_known(const struct byoc_cxsim *f, const char *token)
{
    for (size_t i = 0; i < f->n_tokens; i++) {
        if (strcmp(f->tokens[i], token) == 0)
            return true;
    }
    return false;
}

static void fc_forget_tokens(struct byoc_cxsim *f)
{
    for (size_t i = 0; i < f->n_tokens; i++)
        free(f->tokens[i]);
    f->n_tokens = 0;
}

static void fc_clear_failures_locked(struct byoc_cxsim *f)
{
    for (size_t i = 0; i < f->n_fails; i++)
        free(f->fails[i].prefix);
    f->n_fails = 0;
}

static void fc_reset_calls_locked(struct byoc_cxsim *f)
{
    for (size_t i = 0; i < f->n_calls; i++)
        free(f->calls[i].body);
    f->n_calls = 0;
}

static cJSON *fc_find_channel(const struct byoc_cxsim *f, const char *id, int *index)
{
    int i = 0;
    cJSON *ch = NULL;
    cJSON_ArrayForEach(ch, f->channels)
    {
        const char *cid = byoc_json_str(ch, "id");
        if (cid && strcmp(cid, id) == 0) {
            if (index)
                *index = i;
            return ch;
        }
        i++;
    }
    return NULL;
}

static void fc_default(cJSON *obj, const char *name, cJSON *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
        cJSON_Delete(value);
        return;
    }
    cJSON_AddItemToObject(obj, name, value);
}

/* Fills the members every channel object has. */
static void fc_channel_defaults(cJSON *ch, const char *id)
{
    fc_default(ch, "idOnExternalPlatform", cJSON_CreateString(id));
    fc_default(ch, "channelIntegrationId", cJSON_CreateNull());
    fc_default(ch, "realExternalPlatformId", cJSON_CreateString("custom"));
    fc_default(ch, "isPrivate", cJSON_CreateFalse());
    fc_default(ch, "hasTreeStructure", cJSON_CreateFalse());
}

static void fc_record(struct byoc_cxsim *f, const struct fc_in *in, int status)
{
    f->calls = cxsim_grow(f->calls, f->n_calls, &f->cap_calls, sizeof(*f->calls));
    struct byoc_cxsim_call *c = &f->calls[f->n_calls++];
    memset(c, 0, sizeof(*c));
    fc_copy(c->method, sizeof(c->method), in->method);
    fc_copy(c->path, sizeof(c->path), in->path);
    fc_copy(c->query, sizeof(c->query), in->query);
    fc_copy(c->authorization, sizeof(c->authorization), in->authorization);
    fc_copy(c->content_type, sizeof(c->content_type), in->content_type);
    c->body = cxsim_xrealloc(NULL, in->len + 1);
    if (in->len)
        memcpy(c->body, in->body, in->len);
    c->body[in->len] = '\0';
    c->body_len = in->len;
    c->status = status;
}

static bool fc_call_matches(const struct byoc_cxsim_call *c, const char *method, const char *prefix)
{
    if (method && strcmp(c->method, method) != 0)
        return false;
    return fc_starts_with(c->path, prefix);
}

/* Applies the oldest pending failure rule for this path, if any. */
static bool fc_injected(struct byoc_cxsim *f, const char *path, struct fc_reply *r)
{
    for (size_t i = 0; i < f->n_fails; i++) {
        struct fc_fail *rule = &f->fails[i];
        if (rule->count <= 0 || !fc_starts_with(path, rule->prefix))
            continue;
        rule->count--;
        cxsim_reply_errors(r, rule->status, "injected failure", NULL);
        r->retry_after_s = rule->retry_after_s;
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- endpoints (lock held) */

static bool fc_client_ok(const struct byoc_cxsim *f, const struct fc_in *in)
{
    return fc_basic_auth_is(in->authorization, f->client_id, f->client_secret);
}

static bool fc_user_ok(const struct byoc_cxsim *f, const struct fc_in *in)
{
    char user[FC_FORM_VALUE_MAX];
    char pass[FC_FORM_VALUE_MAX];
    if (!fc_form_get(in->body, in->len, "username", user, sizeof(user)))
        return false;
    if (!fc_form_get(in->body, in->len, "password", pass, sizeof(pass)))
        return false;
    return strcmp(user, f->key_id) == 0 && strcmp(pass, f->key_secret) == 0;
}

static void fc_token_success(struct byoc_cxsim *f, struct fc_reply *r)
{
    char at[64], rt[64], it[64];
    unsigned long n = ++f->n_grants;
    snprintf(at, sizeof(at), "cx-at-%lu", n);
    snprintf(rt, sizeof(rt), "cx-rt-%lu", n);
    snprintf(it, sizeof(it), "cx-id-%lu", n);
    fc_issue_token(f, at);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "access_token", at);
    cJSON_AddStringToObject(root, "token_type", "Bearer");
    cJSON_AddNumberToObject(root, "expires_in", 3600);
    cJSON_AddStringToObject(root, "refresh_token", rt);
    cJSON_AddStringToObject(root, "id_token", it);
    cxsim_reply_json(r, 200, root);
}

/* POST /auth/token */
static void fc_auth_token(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    char grant[64];
    r->no_store = true;
    if (!fc_client_ok(f, in)) {
        fc_reply_oauth_error(r, 401, "invalid_client");
        r->www_authenticate = "Basic realm=\"cxone\"";
        return;
    }
    if (!fc_form_get(in->body, in->len, "grant_type", grant, sizeof(grant))) {
        fc_reply_oauth_error(r, 400, "invalid_request");
        return;
    }
    if (strcmp(grant, "password") != 0) {
        fc_reply_oauth_error(r, 400, "unsupported_grant_type");
        return;
    }
    if (!fc_user_ok(f, in)) {
        fc_reply_oauth_error(r, 401, "invalid_client");
        return;
    }
    fc_token_success(f, r);
}

/* GET /.well-known/cxone-configuration */
static void fc_discovery(struct byoc_cxsim *f, struct fc_reply *r)
{
    char token_url[128];
    snprintf(token_url, sizeof(token_url), "%s/auth/token", f->url);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "api_endpoint", f->url);
    cJSON_AddStringToObject(root, "area", "na1");
    cJSON_AddStringToObject(root, "token_endpoint", token_url);
    cxsim_reply_json(r, 200, root);
}

/* The unused registered token matching the request, or NULL. */
static struct fc_ott *fc_find_ott(struct byoc_cxsim *f, const cJSON *req)
{
    long brand = 0, user = 0;
    const char *purpose = byoc_json_str(req, "purpose");
    const char *token = byoc_json_str(req, "token");
    if (!fc_json_long(req, "brandId", &brand) || !fc_json_long(req, "userId", &user))
        return NULL;
    if (!purpose || strcmp(purpose, "channel-integration") != 0 || !token)
        return NULL;
    for (size_t i = 0; i < f->n_otts; i++) {
        struct fc_ott *o = &f->otts[i];
        if (!o->used && strcmp(o->token, token) == 0 && o->brand_id == brand && o->user_id == user)
            return o;
    }
    return NULL;
}

static void fc_ott_success(struct byoc_cxsim *f, const struct fc_ott *o, struct fc_reply *r)
{
    char at[64];
    snprintf(at, sizeof(at), "ott-at-%lu", ++f->n_ott_grants);
    fc_issue_token(f, at);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "accessToken", at);
    cJSON *brand = cJSON_AddObjectToObject(root, "brand");
    cJSON_AddNumberToObject(brand, "id", (double)o->brand_id);
    cJSON_AddStringToObject(brand, "tenantId", "tenant-1");
    cJSON_AddNumberToObject(brand, "businessUnitId", 4600001);
    cJSON *user = cJSON_AddObjectToObject(root, "user");
    cJSON_AddNumberToObject(user, "id", (double)o->user_id);
    cJSON_AddStringToObject(user, "firstName", "Ada");
    cJSON_AddStringToObject(user, "surname", "Admin");
    cxsim_reply_json(r, 200, root);
}

/* POST /dfo/3.0/one-time-token/verification */
static void fc_ott_verify(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    cJSON *req = cJSON_ParseWithLength(in->body, in->len);
    struct fc_ott *o = cJSON_IsObject(req) ? fc_find_ott(f, req) : NULL;
    cJSON_Delete(req);
    if (!o) {
        cxsim_reply_errors(r, 401, "Invalid one-time token", "invalidToken");
        return;
    }
    o->used = true;
    fc_ott_success(f, o, r);
}

static bool fc_bearer_ok(const struct byoc_cxsim *f, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    return *token != '\0' && fc_token_known(f, token);
}

/* GET /dfo/3.0/channels */
static void fc_channels_list(struct byoc_cxsim *f, struct fc_reply *r)
{
    cxsim_reply_json(r, 200, cJSON_Duplicate(f->channels, true));
}

/* Validates a create body; returns the new channel object or NULL after replying 400. */
static cJSON *fc_channel_from_body(const struct fc_in *in, struct fc_reply *r)
{
    cJSON *req = cJSON_ParseWithLength(in->body, in->len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        cxsim_reply_errors(r, 400, "Body must be a JSON object", "invalidRequest");
        return NULL;
    }
    const char *id = byoc_json_str(req, "id");
    const char *name = byoc_json_str(req, "name");
    if (!id || !*id || !name) {
        cJSON_Delete(req);
        cxsim_reply_errors(r, 400, "id and name are required strings", "invalidRequest");
        return NULL;
    }
    return req;
}

/* POST /dfo/3.0/channels */
static void fc_channels_create(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    cJSON *ch = fc_channel_from_body(in, r);
    if (!ch)
        return;
    const char *id = byoc_json_str(ch, "id");
    if (fc_find_channel(f, id, NULL)) {
        cJSON_Delete(ch);
        cxsim_reply_errors(r, 409, "Channel already exists", "channelAlreadyExists");
        return;
    }
    fc_channel_defaults(ch, id);
    cJSON_AddItemToArray(f->channels, ch);
    cxsim_reply_json(r, 201, cJSON_Duplicate(ch, true));
}

/* GET|DELETE /dfo/3.0/channels/{id} */
static void fc_channel_item(struct byoc_cxsim *f, const char *method, const char *id,
                            struct fc_reply *r)
{
    int index = 0;
    cJSON *ch = fc_find_channel(f, id, &index);
    bool get = strcmp(method, "GET") == 0;
    if (!get && strcmp(method, "DELETE") != 0) {
        fc_reply_not_found(r);
        return;
    }
    if (!ch) {
        cxsim_reply_errors(r, 404, "Channel not found", "channelNotFound");
        return;
    }
    if (get) {
        cxsim_reply_json(r, 200, cJSON_Duplicate(ch, true));
        return;
    }
    cJSON_DeleteItemFromArray(f->channels, index);
    r->status = 204;
}

/* The contact number for this channel/thread: reused for a known thread, else new. */
static unsigned long fc_contact_for(struct byoc_cxsim *f, const char *channel, const cJSON *msg)
{
    const cJSON *thread = cJSON_GetObjectItemCaseSensitive(msg, "thread");
    const char *tid = byoc_json_str(thread, "idOnExternalPlatform");
    if (!tid)
        tid = byoc_json_str(msg, "threadIdOnExternalPlatform");
    if (!tid)
        return ++f->n_contacts;
    char key[2 * FC_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s\x1f%s", channel, tid);
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(f->contacts, key);
    if (cJSON_IsNumber(known))
        return (unsigned long)known->valuedouble;
    unsigned long n = ++f->n_contacts;
    fc_remember(f->contacts, key, cJSON_CreateNumber((double)n), BYOC_CXSIM_THREADS_MAX);
    return n;
}

static void fc_message_reply(unsigned long n, struct fc_reply *r)
{
    char id[64], interaction[64];
    snprintf(id, sizeof(id), "cc-%lu", n);
    snprintf(interaction, sizeof(interaction), "int-%lu", n);
    cJSON *root = cJSON_CreateObject();
    cJSON *cc = cJSON_AddObjectToObject(root, "consumerContact");
    cJSON_AddStringToObject(cc, "id", id);
    cJSON_AddNumberToObject(cc, "contactId", (double)n);
    cJSON_AddStringToObject(cc, "interactionId", interaction);
    cJSON_AddStringToObject(cc, "status", "new");
    cxsim_reply_json(r, 200, root);
}

/* POST /dfo/3.0/channels/{id}/messages */
static void fc_channel_message(struct byoc_cxsim *f, const char *id, const struct fc_in *in,
                               struct fc_reply *r)
{
    if (!fc_find_channel(f, id, NULL)) {
        cxsim_reply_errors(r, 404, "Channel not found", "channelNotFound");
        return;
    }
    cJSON *msg = cJSON_ParseWithLength(in->body, in->len);
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(msg);
        cxsim_reply_errors(r, 400, "Body must be a JSON object", "invalidRequest");
        return;
    }
    const char *tid =
        byoc_json_str(cJSON_GetObjectItemCaseSensitive(msg, "thread"), "idOnExternalPlatform");
    if (!tid)
        tid = byoc_json_str(msg, "threadIdOnExternalPlatform");
    if (tid && strlen(tid) >= FC_ID_MAX) { /* would not fit the thread -> contact map */
        cJSON_Delete(msg);
        cxsim_reply_errors(r, 400, "thread.idOnExternalPlatform is too long", "invalidRequest");
        return;
    }
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(msg, "idOnExternalPlatform");
    if (cJSON_IsString(ext) && cJSON_GetObjectItemCaseSensitive(f->seen, ext->valuestring)) {
        cJSON_Delete(msg); /* like a platform that dedupes on the external id */
        cxsim_reply_errors(r, 409, "Duplicate idOnExternalPlatform", "duplicate");
        return;
    }
    if (cJSON_IsString(ext))
        fc_remember(f->seen, ext->valuestring, cJSON_CreateTrue(), BYOC_CXSIM_SEEN_MAX);
    f->n_messages++;
    unsigned long n = fc_contact_for(f, id, msg);
    cxsim_console_inbound(f, n, id, msg);
    cJSON_Delete(msg);
    fc_message_reply(n, r);
}

/* POST …/threads/{thread}/sender-actions and PUT …/threads/{thread} (close). */
static void fc_channel_thread(struct byoc_cxsim *f, const char *id, const struct fc_in *in,
                              const char *rest, struct fc_reply *r)
{
    if (!fc_find_channel(f, id, NULL)) {
        cxsim_reply_errors(r, 404, "Channel not found", "channelNotFound");
        return;
    }
    const char *tail = strchr(rest, '/');
    bool typing = tail && strcmp(tail, "/sender-actions") == 0 && strcmp(in->method, "POST") == 0;
    bool close = !tail && rest[0] && strcmp(in->method, "PUT") == 0;
    size_t tlen = tail ? (size_t)(tail - rest) : strlen(rest);
    if ((!typing && !close) || tlen == 0 || tlen >= FC_ID_MAX) {
        fc_reply_not_found(r);
        return;
    }
    char thread[FC_ID_MAX];
    memcpy(thread, rest, tlen);
    thread[tlen] = '\0';
    cJSON *body = cJSON_ParseWithLength(in->body, in->len);
    const char *action = byoc_json_str(body, "action");
    if (typing && action)
        cxsim_console_typing(f, id, thread, strcmp(action, "isTypingOn") == 0);
    if (close && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body, "canAddMoreMessages")))
        cxsim_console_closed(f, id, thread);
    cJSON_Delete(body);
    cxsim_reply_json(r, 200, cJSON_CreateObject());
}

/* Everything under /dfo/3.0/channels; `rest` is the path after that prefix. */
static void fc_channels(struct byoc_cxsim *f, const struct fc_in *in, const char *rest,
                        struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        cxsim_reply_errors(r, 401, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    bool post = strcmp(in->method, "POST") == 0;
    if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0) {
        if (strcmp(in->method, "GET") == 0)
            fc_channels_list(f, r);
        else if (post)
            fc_channels_create(f, in, r);
        else
            fc_reply_not_found(r);
        return;
    }
    char id[FC_ID_MAX];
    const char *slash = strchr(rest + 1, '/');
    size_t id_len = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    if (rest[0] != '/' || id_len == 0 || id_len >= sizeof(id)) {
        fc_reply_not_found(r);
        return;
    }
    memcpy(id, rest + 1, id_len);
    id[id_len] = '\0';
    if (!slash)
        fc_channel_item(f, in->method, id, r);
    else if (post && strcmp(slash, "/messages") == 0)
        fc_channel_message(f, id, in, r);
    else if (fc_starts_with(slash, "/threads/"))
        fc_channel_thread(f, id, in, slash + strlen("/threads/"), r);
    else
        fc_reply_not_found(r);
}

/* GET /dfo/3.0/contacts/{id} */
static void fc_contact_get(struct byoc_cxsim *f, unsigned long n, struct fc_reply *r)
{
    const cJSON *c = cxsim_console_contact(f, n);
    if (!c) {
        cxsim_reply_errors(r, 404, "Contact not found", "contactNotFound");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof(id), "%lu", n);
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddNumberToObject(root, "contactId", (double)n);
    const char *status = byoc_json_str(c, "status");
    cJSON_AddStringToObject(root, "status", status && strcmp(status, "new") != 0 ? status : "new");
    cJSON_AddItemToObject(
        root, "customFields",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "custom_fields"), true));
    cJSON_AddStringToObject(root, "threadIdOnExternalPlatform", byoc_json_str(c, "thread_id"));
    cxsim_reply_json(r, 200, root);
}

/* PUT /dfo/3.0/contacts/{id}/custom-fields: [{ident, value}] or {customFields: [...]} */
static void fc_custom_fields(struct byoc_cxsim *f, unsigned long n, const struct fc_in *in,
                             struct fc_reply *r)
{
    cJSON *body = cJSON_ParseWithLength(in->body, in->len);
    const cJSON *list =
        cJSON_IsArray(body) ? body : cJSON_GetObjectItemCaseSensitive(body, "customFields");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(body);
        cxsim_reply_errors(r, 400, "An array of {ident, value} is required", "invalidRequest");
        return;
    }
    if (!cxsim_console_contact(f, n)) {
        cJSON_Delete(body);
        cxsim_reply_errors(r, 404, "Contact not found", "contactNotFound");
        return;
    }
    cxsim_console_custom_fields(f, n, list);
    cJSON_Delete(body);
    cxsim_reply_json(r, 200, cJSON_CreateObject());
}

/* Everything under /dfo/3.0/contacts/{id}. */
static void fc_contacts(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        cxsim_reply_errors(r, 401, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    const char *rest = in->path + strlen(FC_DFO "/contacts/");
    if (strncmp(rest, "cc-", 3) == 0) /* consumerContact.id of the message answer */
        rest += 3;
    char *end = NULL;
    unsigned long n = strtoul(rest, &end, 10);
    if (end == rest || (*end && *end != '/')) {
        fc_reply_not_found(r);
        return;
    }
    if (!*end && strcmp(in->method, "GET") == 0)
        fc_contact_get(f, n, r);
    else if (strcmp(end, "/custom-fields") == 0 && strcmp(in->method, "PUT") == 0)
        fc_custom_fields(f, n, in, r);
    else if (strcmp(end, "/routing-queue") == 0 && strcmp(in->method, "PUT") == 0)
        cxsim_reply_json(r, 200, cJSON_CreateObject());
    else
        fc_reply_not_found(r);
}

/* POST /dfo/3.0/attachments/temporary {content, mimeType} */
static void fc_upload(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        cxsim_reply_errors(r, 401, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    cJSON *body = cJSON_ParseWithLength(in->body, in->len);
    bool ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "content")) &&
              cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "mimeType"));
    cJSON_Delete(body);
    if (!ok) {
        cxsim_reply_errors(r, 400, "content and mimeType required", "invalidRequest");
        return;
    }
    char id[32], url[128];
    snprintf(id, sizeof(id), "att-%lu", ++f->n_uploads);
    snprintf(url, sizeof(url), "%s/uploaded/%s", f->url, id);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "url", url);
    cJSON_AddStringToObject(root, "expireAt", "2099-01-01T00:00:00.000Z");
    cxsim_reply_json(r, 200, root);
}

/* GET /back and /back/...: the CXone admin page an action page sends the browser back to. Its
 * empty icon keeps a browser from asking for /favicon.ico. */
static void fc_back_page(struct fc_reply *r)
{
    static const char page[] = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<link rel=\"icon\" href=\"data:,\"><title>CXone "
                               "(fake)</title></head><body><h1>Back in CXone</h1>"
                               "<p>The fake CXone's Points of Contact page.</p></body></html>\n";
    r->status = 200;
    r->body = cxsim_xrealloc(NULL, sizeof(page));
    memcpy(r->body, page, sizeof(page));
    r->content_type = "text/html; charset=utf-8";
}

/* GET /files/{name}: stands in for a bot platform's private file host. */
static void fc_file(struct byoc_cxsim *f, const char *name, struct fc_reply *r)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->files, name);
    if (!cJSON_IsString(v)) {
        cxsim_reply_errors(r, 404, "No such file", "notFound");
        return;
    }
    cxsim_reply_json(r, 200, cJSON_CreateString(v->valuestring));
}

static bool fc_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* POST /incontactapi/services/vN/interactions/{contactId}/signal?p1=… */
static void fc_signal(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        cxsim_reply_errors(r, 401, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    cxsim_reply_json(r, 202, cJSON_CreateObject());
}

/* GET /incontactapi/services/vN/skills/activity: the real-time variant integrators report. */
static void fc_skill_activity(struct byoc_cxsim *f, struct fc_reply *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "skillActivity");
    const cJSON *sum = NULL;
    cJSON_ArrayForEach(sum, f->skills)
    {
        cJSON *a = cJSON_Duplicate(sum, true);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(sum, "contactsQueued");
        cJSON_AddNumberToObject(a, "queueCount", cJSON_IsNumber(q) ? q->valuedouble : 0);
        cJSON_AddItemToArray(list, a);
    }
    cxsim_reply_json(r, 200, root);
}

/* GET /incontactapi/services/vN/skills/{id}/summary */
static void fc_skill_summary(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        cxsim_reply_errors(r, 401, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    if (fc_ends_with(in->path, "/skills/activity") && strcmp(in->method, "GET") == 0) {
        fc_skill_activity(f, r);
        return;
    }
    char id[FC_ID_MAX];
    const char *start = strstr(in->path, "/skills/") + strlen("/skills/");
    const char *end = strstr(start, "/summary");
    size_t len = end ? (size_t)(end - start) : 0;
    if (!end || end[strlen("/summary")] != '\0' || len == 0 || len >= sizeof(id) ||
        strcmp(in->method, "GET") != 0) {
        fc_reply_not_found(r);
        return;
    }
    memcpy(id, start, len);
    id[len] = '\0';
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f->skills, id);
    if (!sum) {
        cxsim_reply_errors(r, 404, "Skill not found", "skillNotFound");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "skillSummaries");
    cJSON_AddItemToArray(list, cJSON_Duplicate(sum, true));
    cxsim_reply_json(r, 200, root);
}

static bool fc_is(const struct fc_in *in, const char *method, const char *path)
{
    return strcmp(in->method, method) == 0 && strcmp(in->path, path) == 0;
}

static void fc_route(struct byoc_cxsim *f, const struct fc_in *in, struct fc_reply *r)
{
    static const char channels[] = FC_DFO "/channels";
    if (fc_injected(f, in->path, r))
        return;
    if (fc_is(in, "POST", "/auth/token"))
        fc_auth_token(f, in, r);
    else if (fc_is(in, "GET", "/.well-known/cxone-configuration"))
        fc_discovery(f, r);
    else if (fc_is(in, "POST", FC_DFO "/one-time-token/verification"))
        fc_ott_verify(f, in, r);
    else if (fc_starts_with(in->path, channels) &&
             (in->path[sizeof(channels) - 1] == '\0' || in->path[sizeof(channels) - 1] == '/'))
        fc_channels(f, in, in->path + sizeof(channels) - 1, r);
    else if (fc_starts_with(in->path, FC_DFO "/contacts/"))
        fc_contacts(f, in, r);
    else if (fc_is(in, "POST", FC_DFO "/attachments/temporary"))
        fc_upload(f, in, r);
    else if (fc_starts_with(in->path, "/files/") && strcmp(in->method, "GET") == 0)
        fc_file(f, in->path + strlen("/files/"), r);
    else if ((strcmp(in->path, "/back") == 0 || fc_starts_with(in->path, "/back/")) &&
             strcmp(in->method, "GET") == 0)
        fc_back_page(r);
    else if (fc_starts_with(in->path, "/incontactapi/services/") && strstr(in->path, "/skills/"))
        fc_skill_summary(f, in, r);
    else if (fc_starts_with(in->path, "/incontactapi/services/") &&
             strstr(in->path, "/interactions/") && fc_ends_with(in->path, "/signal") &&
             strcmp(in->method, "POST") == 0)
        fc_signal(f, in, r);
    else
        fc_reply_not_found(r);
}

/* ---------------------------------------------------------------- HTTP glue */

void cxsim_send(struct byoc_req *req, struct fc_reply *r)
{
    if (r->no_store)
        byoc_reply_header(req, "Cache-Control", "no-store");
    if (r->www_authenticate)
        byoc_reply_header(req, "WWW-Authenticate", r->www_authenticate);
    if (r->retry_after_s > 0) {
        char value[32];
        snprintf(value, sizeof(value), "%d", r->retry_after_s);
        byoc_reply_header(req, "Retry-After", value);
    }
    size_t len = r->body ? strlen(r->body) : 0;
    byoc_reply(req, r->status,
               r->body ? (r->content_type ? r->content_type : "application/json") : NULL, r->body,
               len);
    r->body = NULL;
}

/* A held-back answer: the reply waits in the request's context until the waker resumes it. */
static void fc_reply_free(void *p)
{
    struct fc_reply *r = p;
    free(r->body);
    free(r);
}

static void fc_send_parked(struct byoc_req *req)
{
    cxsim_send(req, byoc_req_ctx(req));
}

/* Holds the answer back for delay_ms (HTTP thread; lock not held). */
static void fc_park(struct byoc_cxsim *f, struct byoc_req *req, const struct fc_reply *r,
                    int delay_ms)
{
    struct fc_reply *kept = cxsim_xrealloc(NULL, sizeof(*kept));
    *kept = *r;
    byoc_req_set_ctx(req, kept, fc_reply_free);
    byoc_req_suspend(req, fc_send_parked);
    pthread_mutex_lock(&f->mu);
    bool late = f->stopping; /* the waker may be gone: answer now */
    if (!late) {
        f->parked = cxsim_grow(f->parked, f->n_parked, &f->cap_parked, sizeof(*f->parked));
        f->parked[f->n_parked++] =
            (struct fc_parked){.due_ms = byoc_mono_ms() + delay_ms, .req = req};
        pthread_cond_broadcast(&f->wake);
    }
    pthread_mutex_unlock(&f->mu);
    if (late)
        byoc_req_resume(req);
}

/* Resumes every parked request that is due (all of them when stopping); lock held on entry and
 * exit, released while resuming. Returns the earliest due time left, or INT64_MAX. */
static int64_t fc_resume_due(struct byoc_cxsim *f)
{
    int64_t now = byoc_mono_ms(), next = INT64_MAX;
    size_t kept = 0, n_due = 0;
    struct byoc_req **due = cxsim_xrealloc(NULL, (f->n_parked + 1) * sizeof(*due));
    for (size_t i = 0; i < f->n_parked; i++) {
        if (f->stopping || f->parked[i].due_ms <= now) {
            due[n_due++] = f->parked[i].req;
            continue;
        }
        next = f->parked[i].due_ms < next ? f->parked[i].due_ms : next;
        f->parked[kept++] = f->parked[i];
    }
    f->n_parked = kept;
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < n_due; i++)
        byoc_req_resume(due[i]);
    free(due);
    pthread_mutex_lock(&f->mu);
    return next;
}

static void *fc_waker(void *arg)
{
    struct byoc_cxsim *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        int64_t next = fc_resume_due(f);
        if (f->stopping && f->n_parked == 0)
            break;
        if (next == INT64_MAX) {
            pthread_cond_wait(&f->wake, &f->mu);
            continue;
        }
        struct timespec at = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
        pthread_cond_timedwait(&f->wake, &f->mu, &at);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* The query string as received (keys and values percent-encoded again). */
static void fc_query(struct byoc_req *req, char *dst, size_t cap)
{
    if (byoc_req_query_string(req, dst, cap) != BYOC_ERR_OK)
        dst[0] = '\0';
}

/* Every CXone API path: route, record, answer (now or after the delay). */
static void fc_handle(struct byoc_req *req)
{
    struct byoc_cxsim *f = byoc_req_app(req);
    char query[FC_QUERY_MAX];
    fc_query(req, query, sizeof(query));
    size_t len = 0;
    const char *body = byoc_req_body(req, &len);
    struct fc_in in = {
        .method = byoc_req_method(req),
        .path = byoc_req_path(req),
        .query = query,
        .authorization = byoc_req_header(req, "Authorization"),
        .content_type = byoc_req_header(req, "Content-Type"),
        .body = body,
        .len = len,
    };
    struct fc_reply reply = {.status = 500};
    pthread_mutex_lock(&f->mu);
    fc_route(f, &in, &reply);
    if (f->record)
        fc_record(f, &in, reply.status);
    int delay_ms = f->stopping ? 0 : f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay_ms > 0)
        fc_park(f, req, &reply, delay_ms);
    else
        cxsim_send(req, &reply);
}

/* The console's pages and API first, then everything else is the CXone API. */
static const struct byoc_route fc_routes[] = {
    {"GET", "/", cxsim_h_root, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_HTML, false},
    {"GET", "/console", cxsim_h_console_page, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_HTML, false},
    {"GET", "/console/avatar.svg", cxsim_h_avatar, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/console/api/contacts", cxsim_h_contacts, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON,
     false},
    {"POST", "/console/api/contacts/{contact}/messages", cxsim_h_agent_message, 0, BYOC_BODY_JSON,
     BYOC_CXSIM_CONSOLE_BODY_MAX, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/console/api/contacts/{contact}/events", cxsim_h_studio_event, 0, BYOC_BODY_JSON,
     BYOC_CXSIM_CONSOLE_BODY_MAX, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/console/api/misbehave", cxsim_h_misbehave, 0, BYOC_BODY_JSON,
     BYOC_CXSIM_CONSOLE_BODY_MAX, BYOC_ERRSTYLE_JSON, false},
    {"*", "/{*}", fc_handle, 0, BYOC_BODY_RAW, BYOC_CXSIM_MAX_BODY, BYOC_ERRSTYLE_JSON, false},
};

/* ---------------------------------------------------------------- public API */

static void fc_init_locks(struct byoc_cxsim *f)
{
    pthread_condattr_t attr;
    if (pthread_mutex_init(&f->mu, NULL) != 0 || pthread_condattr_init(&attr) != 0)
        fc_die("pthread init failed");
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->wake, &attr) != 0)
        fc_die("pthread cond init failed");
    pthread_condattr_destroy(&attr);
}

static struct byoc_cxsim *fc_new(bool record)
{
    struct byoc_cxsim *f = cxsim_xrealloc(NULL, sizeof(*f));
    memset(f, 0, sizeof(*f));
    fc_init_locks(f);
    f->record = record;
    f->client_id = cxsim_xstrdup("client-id");
    f->client_secret = cxsim_xstrdup("client-secret");
    f->key_id = cxsim_xstrdup("key-id");
    f->key_secret = cxsim_xstrdup("key-secret");
    f->channels = cJSON_CreateArray();
    f->contacts = cJSON_CreateObject();
    f->seen = cJSON_CreateObject();
    f->skills = cJSON_CreateObject();
    f->files = cJSON_CreateObject();
    f->console = cJSON_CreateArray();
    if (!f->channels || !f->contacts || !f->seen || !f->skills || !f->files || !f->console)
        fc_die("out of memory");
    return f;
}

static void fc_free_state(struct byoc_cxsim *f)
{
    for (size_t i = 0; i < f->n_otts; i++)
        free(f->otts[i].token);
    free(f->otts);
    fc_clear_failures_locked(f);
    free(f->fails);
    fc_forget_tokens(f);
    free(f->tokens);
    fc_reset_calls_locked(f);
    free(f->calls);
    free(f->parked);
    cJSON_Delete(f->channels);
    cJSON_Delete(f->contacts);
    cJSON_Delete(f->seen);
    cJSON_Delete(f->skills);
    cJSON_Delete(f->files);
    free(f->client_id);
    free(f->client_secret);
    free(f->key_id);
    free(f->key_secret);
}

static void fc_free(struct byoc_cxsim *f)
{
    cxsim_console_release(f);
    fc_free_state(f);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

enum byoc_err byoc_cxsim_start(const struct byoc_cxsim_config *cfg, struct byoc_cxsim **out,
                               char *why, size_t why_cap)
{
    struct byoc_cxsim *f = fc_new(cfg->record_calls);
    struct byoc_http_config hc = {
        .host = cfg->host ? cfg->host : "127.0.0.1",
        .port = cfg->port,
        .max_connections = BYOC_CXSIM_MAX_CONNECTIONS,
        .idle_timeout_s = BYOC_CXSIM_IDLE_TIMEOUT_S,
        .routes = fc_routes,
        .nroutes = sizeof(fc_routes) / sizeof(fc_routes[0]),
        .app = f,
        .log_module = "cxsim",
        .listen_setting = "the CXone simulator (byocd sandbox --cxone-port)",
        .no_metrics = true,
        .access_log_debug = true,
    };
    enum byoc_err e = byoc_http_start(&hc, &f->http, why, why_cap);
    if (e) {
        fc_free(f);
        return e;
    }
    f->port = byoc_http_port(f->http);
    snprintf(f->url, sizeof(f->url), "http://%s:%d", hc.host, f->port);
    f->waker_started = pthread_create(&f->waker, NULL, fc_waker, f) == 0;
    if (!f->waker_started || !cxsim_console_start(f)) {
        snprintf(why, why_cap, "cannot start the simulator's threads");
        byoc_cxsim_stop(f);
        return BYOC_ERR_INTERNAL;
    }
    *out = f;
    return BYOC_ERR_OK;
}

void byoc_cxsim_quiesce(struct byoc_cxsim *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->delay_ms = 0;
    for (size_t i = 0; i < f->n_parked; i++)
        f->parked[i].due_ms = 0;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_stop(struct byoc_cxsim *f)
{
    if (!f)
        return;
    byoc_http_quiesce(f->http);
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->mu);
    if (f->waker_started)
        pthread_join(f->waker, NULL);
    if (f->worker_started)
        pthread_join(f->worker, NULL);
    if (!byoc_http_stop(f->http))
        return; /* a request is still parked: leave the state to the process (see http.h) */
    fc_free(f);
}

const char *byoc_cxsim_url(const struct byoc_cxsim *f)
{
    return f->url;
}

int byoc_cxsim_port(const struct byoc_cxsim *f)
{
    return f->port;
}

void byoc_cxsim_set_credentials(struct byoc_cxsim *f, const char *client_id,
                                const char *client_secret, const char *access_key_id,
                                const char *access_key_secret)
{
    pthread_mutex_lock(&f->mu);
    fc_replace(&f->client_id, client_id);
    fc_replace(&f->client_secret, client_secret);
    fc_replace(&f->key_id, access_key_id);
    fc_replace(&f->key_secret, access_key_secret);
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_add_one_time_token(struct byoc_cxsim *f, const char *token, long brand_id,
                                   long user_id)
{
    pthread_mutex_lock(&f->mu);
    f->otts = cxsim_grow(f->otts, f->n_otts, &f->cap_otts, sizeof(*f->otts));
    f->otts[f->n_otts++] = (struct fc_ott){
        .token = cxsim_xstrdup(token), .brand_id = brand_id, .user_id = user_id, .used = false};
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_add_channel(struct byoc_cxsim *f, const char *id, const char *name,
                            const char *integration_id)
{
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(ch, "id", id);
    cJSON_AddStringToObject(ch, "name", name ? name : "");
    if (integration_id)
        cJSON_AddStringToObject(ch, "channelIntegrationId", integration_id);
    fc_channel_defaults(ch, id);
    pthread_mutex_lock(&f->mu);
    int index = 0;
    if (fc_find_channel(f, id, &index))
        cJSON_ReplaceItemInArray(f->channels, index, ch);
    else
        cJSON_AddItemToArray(f->channels, ch);
    pthread_mutex_unlock(&f->mu);
}

bool byoc_cxsim_has_channel(struct byoc_cxsim *f, const char *id)
{
    pthread_mutex_lock(&f->mu);
    bool found = fc_find_channel(f, id, NULL) != NULL;
    pthread_mutex_unlock(&f->mu);
    return found;
}

size_t byoc_cxsim_channel_count(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)cJSON_GetArraySize(f->channels);
    pthread_mutex_unlock(&f->mu);
    return n;
}

char *byoc_cxsim_channel_json(struct byoc_cxsim *f, const char *id)
{
    pthread_mutex_lock(&f->mu);
    cJSON *ch = fc_find_channel(f, id, NULL);
    char *text = ch ? cJSON_PrintUnformatted(ch) : NULL;
    pthread_mutex_unlock(&f->mu);
    return text;
}

void byoc_cxsim_expire_tokens(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    fc_forget_tokens(f);
    pthread_mutex_unlock(&f->mu);
}

size_t byoc_cxsim_token_grants(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)f->n_grants;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void byoc_cxsim_fail_next(struct byoc_cxsim *f, const char *path_prefix, int status, int count,
                          int retry_after_s)
{
    if (count <= 0)
        return;
    pthread_mutex_lock(&f->mu);
    f->fails = cxsim_grow(f->fails, f->n_fails, &f->cap_fails, sizeof(*f->fails));
    f->fails[f->n_fails++] =
        (struct fc_fail){.prefix = cxsim_xstrdup(path_prefix ? path_prefix : ""),
                         .status = status,
                         .count = count,
                         .retry_after_s = retry_after_s};
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_clear_failures(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    fc_clear_failures_locked(f);
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_set_delay_ms(struct byoc_cxsim *f, int ms)
{
    pthread_mutex_lock(&f->mu);
    f->delay_ms = ms < 0 ? 0 : (ms > FC_MAX_DELAY_MS ? FC_MAX_DELAY_MS : ms);
    pthread_mutex_unlock(&f->mu);
}

size_t byoc_cxsim_call_count(struct byoc_cxsim *f, const char *method, const char *path_prefix)
{
    size_t n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n_calls; i++) {
        if (fc_call_matches(&f->calls[i], method, path_prefix))
            n++;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void fc_copy_call(struct byoc_cxsim_call *out, const struct byoc_cxsim_call *c)
{
    *out = *c;
    out->body = cxsim_xrealloc(NULL, c->body_len + 1);
    memcpy(out->body, c->body, c->body_len + 1);
}

bool byoc_cxsim_get_call(struct byoc_cxsim *f, const char *method, const char *path_prefix,
                         size_t n, struct byoc_cxsim_call *out)
{
    bool found = false;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n_calls && !found; i++) {
        if (!fc_call_matches(&f->calls[i], method, path_prefix))
            continue;
        if (n == 0) {
            fc_copy_call(out, &f->calls[i]);
            found = true;
        }
        n--;
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

void byoc_cxsim_call_release(struct byoc_cxsim_call *c)
{
    if (!c)
        return;
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
}

void byoc_cxsim_reset_calls(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    fc_reset_calls_locked(f);
    pthread_mutex_unlock(&f->mu);
}

size_t byoc_cxsim_message_count(struct byoc_cxsim *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)f->n_messages;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void byoc_cxsim_set_skill(struct byoc_cxsim *f, const char *skill_id, int available, int logged_in,
                          int queued)
{
    pthread_mutex_lock(&f->mu);
    cJSON *sum = cJSON_CreateObject();
    cJSON_AddStringToObject(sum, "skillId", skill_id);
    cJSON_AddNumberToObject(sum, "agentsAvailable", available);
    cJSON_AddNumberToObject(sum, "agentsLoggedIn", logged_in);
    cJSON_AddNumberToObject(sum, "contactsQueued", queued);
    cJSON_AddNumberToObject(sum, "longestQueueDur", 42);
    cJSON_DeleteItemFromObjectCaseSensitive(f->skills, skill_id);
    cJSON_AddItemToObject(f->skills, skill_id, sum);
    pthread_mutex_unlock(&f->mu);
}

void byoc_cxsim_add_file(struct byoc_cxsim *f, const char *name, const char *text)
{
    pthread_mutex_lock(&f->mu);
    cJSON_DeleteItemFromObjectCaseSensitive(f->files, name);
    cJSON_AddStringToObject(f->files, name, text);
    pthread_mutex_unlock(&f->mu);
}
