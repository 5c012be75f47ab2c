/*
 * fake_cxone — see fake_cxone.h for the contract.
 *
 * Layout: state + small helpers, then one function per endpoint, then the libmicrohttpd glue
 * (per-request context created in the URI-log callback, filled by the access handler, freed in
 * the request-completed callback), then the public API.
 *
 * Out-of-memory aborts: this is test support, and a fake that limps on after a failed
 * allocation would only produce confusing test failures.
 */
/* POSIX 2008 for strnlen, clock_gettime, pthread_condattr_setclock when the build does not
 * already ask for more (the project builds with -D_GNU_SOURCE). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "fake_cxone.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define FC_THREADS 4           /* MHD worker threads, so a delayed answer does not block all */
#define FC_CONN_TIMEOUT_S 30   /* idle keep-alive connections are closed after this */
#define FC_FORM_VALUE_MAX 1024 /* longest form value / credential we compare */
#define FC_ID_MAX 256          /* longest channel id taken from a path */
#define FC_MAX_DELAY_MS 600000 /* 10 minutes: anything longer is a test bug */
#define FC_DFO "/dfo/3.0"

struct fc_ott {
    char *token;
    long brand_id;
    long user_id;
    bool used;
};

struct fc_fail {
    char *prefix;
    int status;
    int count;
    int retry_after_s;
};

struct fake_cxone {
    struct MHD_Daemon *daemon;
    int port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t wake; /* broadcast on stop, cuts delays short */
    bool stopping;
    char *client_id;
    char *client_secret;
    char *key_id;
    char *key_secret;
    struct fc_ott *otts;
    size_t n_otts, cap_otts;
    struct fc_fail *fails;
    size_t n_fails, cap_fails;
    char **tokens; /* issued access tokens (cx-at-*, ott-at-*) */
    size_t n_tokens, cap_tokens;
    struct fake_cxone_call *calls;
    size_t n_calls, cap_calls;
    cJSON *channels; /* array of channel objects */
    cJSON *contacts; /* object: "<channel>\x1f<thread>" -> contact number */
    cJSON *seen;     /* object: idOnExternalPlatform of accepted messages -> 1 */
    cJSON *skills;   /* object: skill id -> skill summary object */
    cJSON *files; /* object: name -> content served at GET /files/{name} (a bot's private host) */
    unsigned long n_uploads;
    unsigned long n_messages;
    unsigned long n_grants;
    unsigned long n_ott_grants;
    unsigned long n_contacts;
    int delay_ms;
};

/* Per-request state; one owner (MHD's request context), freed in fc_completed(). */
struct fc_req {
    char query[1024];
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
    bool started;
};

/* What a request carries, gathered once. */
struct fc_in {
    const char *method;
    const char *path;
    const char *query;
    const char *authorization;
    const char *content_type;
    const char *body;
    size_t len;
    bool too_big;
};

/* What the fake answers. */
struct fc_reply {
    int status;
    char *body;               /* malloc'd JSON text, or NULL for an empty body */
    const char *content_type; /* NULL: application/json */
    int retry_after_s;
    const char *www_authenticate;
    bool no_store;
};

/* ---------------------------------------------------------------- small helpers */

static void fc_die(const char *what)
{
    fprintf(stderr, "fake_cxone: %s\n", what);
    abort();
}

static void *fc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        fc_die("out of memory");
    return q;
}

static char *fc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = fc_xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

/* Makes room for one more element in a growable array. */
static void *fc_grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > SIZE_MAX / elem)
        fc_die("array too large");
    *cap = ncap;
    return fc_xrealloc(arr, ncap * elem);
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
    *slot = fc_xstrdup(value);
}

static char *fc_print(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        fc_die("cJSON_PrintUnformatted failed");
    return text;
}

static void fc_reply_json(struct fc_reply *r, int status, cJSON *json)
{
    r->status = status;
    r->body = fc_print(json);
}

/* {"errors":[{"message":m,"errorCode":code?}]} */
static void fc_reply_errors(struct fc_reply *r, int status, const char *message, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "errors");
    cJSON *err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "message", message);
    if (code)
        cJSON_AddStringToObject(err, "errorCode", code);
    cJSON_AddItemToArray(list, err);
    fc_reply_json(r, status, root);
}

/* {"error":code} as RFC 6749 §5.2 */
static void fc_reply_oauth_error(struct fc_reply *r, int status, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", code);
    fc_reply_json(r, status, root);
}

static void fc_reply_not_found(struct fc_reply *r)
{
    fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "not found", NULL);
}

/* Parses a whole base-10 long; false on garbage, overflow or empty input. */
static bool fc_parse_long(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* A JSON member that is an integral number or a numeric string. */
static bool fc_json_long(const cJSON *obj, const char *name, long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(item))
        return fc_parse_long(item->valuestring, out);
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (d < (double)LONG_MIN || d > (double)LONG_MAX || d != (double)(long)d)
        return false;
    *out = (long)d;
    return true;
}

static const char *fc_json_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* ---------------------------------------------------------------- decoding */

static int fc_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes application/x-www-form-urlencoded text s[0..n) into dst (NUL-terminated).
 * False if it does not fit or has a bad escape. */
static bool fc_form_decode(const char *s, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return false;
            int hi = fc_hex((unsigned char)s[i + 1]);
            int lo = fc_hex((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return true;
}

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
        if (pair_len > name_len && memcmp(pair, name, name_len) == 0 && pair[name_len] == '=')
            return fc_form_decode(pair + name_len + 1, pair_len - name_len - 1, dst, cap);
        i = end + 1;
    }
    return false;
}

static int fc_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (padding optional) into dst, NUL-terminated. False on bad input or overflow. */
static bool fc_b64_decode(const char *s, char *dst, size_t cap)
{
    unsigned long acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s && *s != '='; s++) {
        int v = fc_b64_value((unsigned char)*s);
        if (v < 0)
            return false;
        acc = ((acc << 6) | (unsigned long)v) & 0xFFFFFFUL;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return false;
            dst[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    dst[o] = '\0';
    return true;
}

/* True if header is "Basic base64(id:secret)" with exactly this id and secret. */
static bool fc_basic_auth_is(const char *header, const char *id, const char *secret)
{
    char decoded[2 * FC_FORM_VALUE_MAX];
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    if (!fc_b64_decode(b64, decoded, sizeof(decoded)))
        return false;
    char *colon = strchr(decoded, ':');
    if (!colon)
        return false;
    *colon = '\0';
    return strcmp(decoded, id) == 0 && strcmp(colon + 1, secret) == 0;
}

/* ---------------------------------------------------------------- state (lock held) */

static void fc_issue_token(struct fake_cxone *f, const char *token)
{
    f->tokens = fc_grow(f->tokens, f->n_tokens, &f->cap_tokens, sizeof(*f->tokens));
    f->tokens[f->n_tokens++] = fc_xstrdup(token);
}

static bool fc_token_known(const struct fake_cxone *f, const char *token)
{
    for (size_t i = 0; i < f->n_tokens; i++) {
        if (strcmp(f->tokens[i], token) == 0)
            return true;
    }
    return false;
}

static void fc_forget_tokens(struct fake_cxone *f)
{
    for (size_t i = 0; i < f->n_tokens; i++)
        free(f->tokens[i]);
    f->n_tokens = 0;
}

static void fc_clear_failures_locked(struct fake_cxone *f)
{
    for (size_t i = 0; i < f->n_fails; i++)
        free(f->fails[i].prefix);
    f->n_fails = 0;
}

static void fc_reset_calls_locked(struct fake_cxone *f)
{
    for (size_t i = 0; i < f->n_calls; i++)
        free(f->calls[i].body);
    f->n_calls = 0;
}

static cJSON *fc_find_channel(const struct fake_cxone *f, const char *id, int *index)
{
    int i = 0;
    cJSON *ch = NULL;
    cJSON_ArrayForEach(ch, f->channels)
    {
        const char *cid = fc_json_string(ch, "id");
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

static void fc_record(struct fake_cxone *f, const struct fc_in *in, int status)
{
    f->calls = fc_grow(f->calls, f->n_calls, &f->cap_calls, sizeof(*f->calls));
    struct fake_cxone_call *c = &f->calls[f->n_calls++];
    memset(c, 0, sizeof(*c));
    fc_copy(c->method, sizeof(c->method), in->method);
    fc_copy(c->path, sizeof(c->path), in->path);
    fc_copy(c->query, sizeof(c->query), in->query);
    fc_copy(c->authorization, sizeof(c->authorization), in->authorization);
    fc_copy(c->content_type, sizeof(c->content_type), in->content_type);
    c->body = fc_xrealloc(NULL, in->len + 1);
    if (in->len)
        memcpy(c->body, in->body, in->len);
    c->body[in->len] = '\0';
    c->body_len = in->len;
    c->status = status;
}

static bool fc_call_matches(const struct fake_cxone_call *c, const char *method, const char *prefix)
{
    if (method && strcmp(c->method, method) != 0)
        return false;
    return fc_starts_with(c->path, prefix);
}

/* Applies the oldest pending failure rule for this path, if any. */
static bool fc_injected(struct fake_cxone *f, const char *path, struct fc_reply *r)
{
    for (size_t i = 0; i < f->n_fails; i++) {
        struct fc_fail *rule = &f->fails[i];
        if (rule->count <= 0 || !fc_starts_with(path, rule->prefix))
            continue;
        rule->count--;
        fc_reply_errors(r, rule->status, "injected failure", NULL);
        r->retry_after_s = rule->retry_after_s;
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- endpoints (lock held) */

static bool fc_client_ok(const struct fake_cxone *f, const struct fc_in *in)
{
    return fc_basic_auth_is(in->authorization, f->client_id, f->client_secret);
}

static bool fc_user_ok(const struct fake_cxone *f, const struct fc_in *in)
{
    char user[FC_FORM_VALUE_MAX];
    char pass[FC_FORM_VALUE_MAX];
    if (!fc_form_get(in->body, in->len, "username", user, sizeof(user)))
        return false;
    if (!fc_form_get(in->body, in->len, "password", pass, sizeof(pass)))
        return false;
    return strcmp(user, f->key_id) == 0 && strcmp(pass, f->key_secret) == 0;
}

static void fc_token_success(struct fake_cxone *f, struct fc_reply *r)
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
    fc_reply_json(r, MHD_HTTP_OK, root);
}

/* POST /auth/token */
static void fc_auth_token(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    char grant[64];
    r->no_store = true;
    if (!fc_client_ok(f, in)) {
        fc_reply_oauth_error(r, MHD_HTTP_UNAUTHORIZED, "invalid_client");
        r->www_authenticate = "Basic realm=\"cxone\"";
        return;
    }
    if (!fc_form_get(in->body, in->len, "grant_type", grant, sizeof(grant))) {
        fc_reply_oauth_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request");
        return;
    }
    if (strcmp(grant, "password") != 0) {
        fc_reply_oauth_error(r, MHD_HTTP_BAD_REQUEST, "unsupported_grant_type");
        return;
    }
    if (!fc_user_ok(f, in)) {
        fc_reply_oauth_error(r, MHD_HTTP_UNAUTHORIZED, "invalid_client");
        return;
    }
    fc_token_success(f, r);
}

/* GET /.well-known/cxone-configuration */
static void fc_discovery(struct fake_cxone *f, struct fc_reply *r)
{
    char token_url[128];
    snprintf(token_url, sizeof(token_url), "%s/auth/token", f->url);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "api_endpoint", f->url);
    cJSON_AddStringToObject(root, "area", "na1");
    cJSON_AddStringToObject(root, "token_endpoint", token_url);
    fc_reply_json(r, MHD_HTTP_OK, root);
}

/* The unused registered token matching the request, or NULL. */
static struct fc_ott *fc_find_ott(struct fake_cxone *f, const cJSON *req)
{
    long brand = 0, user = 0;
    const char *purpose = fc_json_string(req, "purpose");
    const char *token = fc_json_string(req, "token");
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

static void fc_ott_success(struct fake_cxone *f, const struct fc_ott *o, struct fc_reply *r)
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
    fc_reply_json(r, MHD_HTTP_OK, root);
}

/* POST /dfo/3.0/one-time-token/verification */
static void fc_ott_verify(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    cJSON *req = cJSON_ParseWithLength(in->body, in->len);
    struct fc_ott *o = cJSON_IsObject(req) ? fc_find_ott(f, req) : NULL;
    cJSON_Delete(req);
    if (!o) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Invalid one-time token", "invalidToken");
        return;
    }
    o->used = true;
    fc_ott_success(f, o, r);
}

static bool fc_bearer_ok(const struct fake_cxone *f, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    return *token != '\0' && fc_token_known(f, token);
}

/* GET /dfo/3.0/channels */
static void fc_channels_list(struct fake_cxone *f, struct fc_reply *r)
{
    fc_reply_json(r, MHD_HTTP_OK, cJSON_Duplicate(f->channels, true));
}

/* Validates a create body; returns the new channel object or NULL after replying 400. */
static cJSON *fc_channel_from_body(const struct fc_in *in, struct fc_reply *r)
{
    cJSON *req = cJSON_ParseWithLength(in->body, in->len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        fc_reply_errors(r, MHD_HTTP_BAD_REQUEST, "Body must be a JSON object", "invalidRequest");
        return NULL;
    }
    const char *id = fc_json_string(req, "id");
    const char *name = fc_json_string(req, "name");
    if (!id || !*id || !name) {
        cJSON_Delete(req);
        fc_reply_errors(r, MHD_HTTP_BAD_REQUEST, "id and name are required strings",
                        "invalidRequest");
        return NULL;
    }
    return req;
}

/* POST /dfo/3.0/channels */
static void fc_channels_create(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    cJSON *ch = fc_channel_from_body(in, r);
    if (!ch)
        return;
    const char *id = fc_json_string(ch, "id");
    if (fc_find_channel(f, id, NULL)) {
        cJSON_Delete(ch);
        fc_reply_errors(r, MHD_HTTP_CONFLICT, "Channel already exists", "channelAlreadyExists");
        return;
    }
    fc_channel_defaults(ch, id);
    cJSON_AddItemToArray(f->channels, ch);
    fc_reply_json(r, MHD_HTTP_CREATED, cJSON_Duplicate(ch, true));
}

/* GET|DELETE /dfo/3.0/channels/{id} */
static void fc_channel_item(struct fake_cxone *f, const char *method, const char *id,
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
        fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "Channel not found", "channelNotFound");
        return;
    }
    if (get) {
        fc_reply_json(r, MHD_HTTP_OK, cJSON_Duplicate(ch, true));
        return;
    }
    cJSON_DeleteItemFromArray(f->channels, index);
    r->status = MHD_HTTP_NO_CONTENT;
}

/* The contact number for this channel/thread: reused for a known thread, else new. */
static unsigned long fc_contact_for(struct fake_cxone *f, const char *channel, const cJSON *msg)
{
    const cJSON *thread = cJSON_GetObjectItemCaseSensitive(msg, "thread");
    const char *tid = fc_json_string(thread, "idOnExternalPlatform");
    if (!tid)
        tid = fc_json_string(msg, "threadIdOnExternalPlatform");
    if (!tid)
        return ++f->n_contacts;
    char key[2 * FC_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s\x1f%s", channel, tid);
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(f->contacts, key);
    if (cJSON_IsNumber(known))
        return (unsigned long)known->valuedouble;
    unsigned long n = ++f->n_contacts;
    cJSON_AddNumberToObject(f->contacts, key, (double)n);
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
    fc_reply_json(r, MHD_HTTP_OK, root);
}

/* POST /dfo/3.0/channels/{id}/messages */
static void fc_channel_message(struct fake_cxone *f, const char *id, const struct fc_in *in,
                               struct fc_reply *r)
{
    if (!fc_find_channel(f, id, NULL)) {
        fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "Channel not found", "channelNotFound");
        return;
    }
    cJSON *msg = cJSON_ParseWithLength(in->body, in->len);
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(msg);
        fc_reply_errors(r, MHD_HTTP_BAD_REQUEST, "Body must be a JSON object", "invalidRequest");
        return;
    }
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(msg, "idOnExternalPlatform");
    if (cJSON_IsString(ext) && cJSON_GetObjectItemCaseSensitive(f->seen, ext->valuestring)) {
        cJSON_Delete(msg); /* like a platform that dedupes on the external id */
        fc_reply_errors(r, MHD_HTTP_CONFLICT, "Duplicate idOnExternalPlatform", "duplicate");
        return;
    }
    if (cJSON_IsString(ext))
        cJSON_AddTrueToObject(f->seen, ext->valuestring);
    f->n_messages++;
    unsigned long n = fc_contact_for(f, id, msg);
    cJSON_Delete(msg);
    fc_message_reply(n, r);
}

/* POST …/threads/{thread}/sender-actions and PUT …/threads/{thread} (close). */
static void fc_channel_thread(struct fake_cxone *f, const char *id, const struct fc_in *in,
                              const char *rest, struct fc_reply *r)
{
    if (!fc_find_channel(f, id, NULL)) {
        fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "Channel not found", "channelNotFound");
        return;
    }
    const char *tail = strchr(rest, '/');
    bool typing = tail && strcmp(tail, "/sender-actions") == 0 && strcmp(in->method, "POST") == 0;
    bool close = !tail && rest[0] && strcmp(in->method, "PUT") == 0;
    if (!typing && !close) {
        fc_reply_not_found(r);
        return;
    }
    fc_reply_json(r, MHD_HTTP_OK, cJSON_CreateObject());
}

/* Everything under /dfo/3.0/channels; `rest` is the path after that prefix. */
static void fc_channels(struct fake_cxone *f, const struct fc_in *in, const char *rest,
                        struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized");
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

/* PUT /dfo/3.0/contacts/{id}/routing-queue */
static void fc_routing_queue(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    const char *tail = strstr(in->path, "/routing-queue");
    if (!tail || tail[strlen("/routing-queue")] != '\0' || strcmp(in->method, "PUT") != 0) {
        fc_reply_not_found(r);
        return;
    }
    fc_reply_json(r, MHD_HTTP_OK, cJSON_CreateObject());
}

/* POST /dfo/3.0/attachments/temporary {content, mimeType} */
static void fc_upload(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    cJSON *body = cJSON_ParseWithLength(in->body, in->len);
    bool ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "content")) &&
              cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "mimeType"));
    cJSON_Delete(body);
    if (!ok) {
        fc_reply_errors(r, MHD_HTTP_BAD_REQUEST, "content and mimeType required", "invalidRequest");
        return;
    }
    char id[32], url[128];
    snprintf(id, sizeof(id), "att-%lu", ++f->n_uploads);
    snprintf(url, sizeof(url), "%s/uploaded/%s", f->url, id);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "url", url);
    cJSON_AddStringToObject(root, "expireAt", "2099-01-01T00:00:00.000Z");
    fc_reply_json(r, MHD_HTTP_OK, root);
}

/* GET /back and /back/...: the CXone admin page an action page sends the browser back to. Its
 * empty icon keeps a browser from asking for /favicon.ico. */
static void fc_back_page(struct fc_reply *r)
{
    static const char page[] = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<link rel=\"icon\" href=\"data:,\"><title>CXone "
                               "(fake)</title></head><body><h1>Back in CXone</h1>"
                               "<p>The fake CXone's Points of Contact page.</p></body></html>\n";
    r->status = MHD_HTTP_OK;
    r->body = fc_xrealloc(NULL, sizeof(page));
    memcpy(r->body, page, sizeof(page));
    r->content_type = "text/html; charset=utf-8";
}

/* GET /files/{name}: stands in for a bot platform's private file host. */
static void fc_file(struct fake_cxone *f, const char *name, struct fc_reply *r)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->files, name);
    if (!cJSON_IsString(v)) {
        fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "No such file", "notFound");
        return;
    }
    fc_reply_json(r, MHD_HTTP_OK, cJSON_CreateString(v->valuestring));
}

static bool fc_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* POST /incontactapi/services/vN/interactions/{contactId}/signal?p1=… */
static void fc_signal(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
        return;
    }
    fc_reply_json(r, MHD_HTTP_ACCEPTED, cJSON_CreateObject());
}

/* GET /incontactapi/services/vN/skills/{id}/summary */
static void fc_skill_summary(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    if (!fc_bearer_ok(f, in->authorization)) {
        fc_reply_errors(r, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized");
        r->www_authenticate = "Bearer";
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
        fc_reply_errors(r, MHD_HTTP_NOT_FOUND, "Skill not found", "skillNotFound");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "skillSummaries");
    cJSON_AddItemToArray(list, cJSON_Duplicate(sum, true));
    fc_reply_json(r, MHD_HTTP_OK, root);
}

static bool fc_is(const struct fc_in *in, const char *method, const char *path)
{
    return strcmp(in->method, method) == 0 && strcmp(in->path, path) == 0;
}

static void fc_route(struct fake_cxone *f, const struct fc_in *in, struct fc_reply *r)
{
    static const char channels[] = FC_DFO "/channels";
    if (fc_injected(f, in->path, r))
        return;
    if (in->too_big) {
        fc_reply_errors(r, MHD_HTTP_CONTENT_TOO_LARGE, "Body too large", "payloadTooLarge");
        return;
    }
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
        fc_routing_queue(f, in, r);
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

/* Waits delay_ms, or less if the server is stopping. Lock held; the wait releases it. */
static void fc_delay(struct fake_cxone *f)
{
    if (f->delay_ms <= 0 || f->stopping)
        return;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += f->delay_ms / 1000;
    deadline.tv_nsec += (long)(f->delay_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!f->stopping) {
        if (pthread_cond_timedwait(&f->wake, &f->mu, &deadline) == ETIMEDOUT)
            break;
    }
}

/* ---------------------------------------------------------------- libmicrohttpd glue */

static struct fc_req *fc_req_new(const char *uri)
{
    struct fc_req *req = fc_xrealloc(NULL, sizeof(*req));
    memset(req, 0, sizeof(*req));
    const char *q = uri ? strchr(uri, '?') : NULL;
    fc_copy(req->query, sizeof(req->query), q ? q + 1 : "");
    return req;
}

static void *fc_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return fc_req_new(uri);
}

static void fc_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct fc_req *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Appends upload data, keeping at most FAKE_CXONE_MAX_BODY bytes. */
static void fc_req_append(struct fc_req *req, const char *data, size_t n)
{
    if (req->too_big || n > FAKE_CXONE_MAX_BODY - req->len) {
        req->too_big = true;
        return;
    }
    if (req->len + n + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : 1024;
        while (cap < req->len + n + 1)
            cap *= 2;
        req->body = fc_xrealloc(req->body, cap);
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
}

static const char *fc_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result fc_send(struct MHD_Connection *conn, const struct fc_reply *r)
{
    size_t len = r->body ? strlen(r->body) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, r->body ? r->body : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (r->body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "application/json");
    if (r->no_store)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_authenticate);
    if (r->retry_after_s > 0) {
        char value[32];
        snprintf(value, sizeof(value), "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, value);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The body is complete: route, record, wait out the delay, answer. */
static enum MHD_Result fc_finish(struct fake_cxone *f, struct MHD_Connection *conn, const char *url,
                                 const char *method, struct fc_req *req)
{
    struct fc_in in = {
        .method = method,
        .path = url,
        .query = req->query,
        .authorization = fc_header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
        .content_type = fc_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE),
        .body = req->body ? req->body : "",
        .len = req->len,
        .too_big = req->too_big,
    };
    struct fc_reply reply = {.status = MHD_HTTP_INTERNAL_SERVER_ERROR};
    pthread_mutex_lock(&f->mu);
    fc_route(f, &in, &reply);
    fc_record(f, &in, reply.status);
    fc_delay(f);
    pthread_mutex_unlock(&f->mu);
    enum MHD_Result ret = fc_send(conn, &reply);
    free(reply.body);
    return ret;
}

static enum MHD_Result fc_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct fc_req *req = *con_cls;
    if (!req) {
        req = fc_req_new(NULL);
        *con_cls = req;
    }
    if (!req->started) {
        req->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        fc_req_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return fc_finish(cls, conn, url, method, req);
}

/* ---------------------------------------------------------------- public API */

static void fc_init_locks(struct fake_cxone *f)
{
    pthread_condattr_t attr;
    if (pthread_mutex_init(&f->mu, NULL) != 0 || pthread_condattr_init(&attr) != 0)
        fc_die("pthread init failed");
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->wake, &attr) != 0)
        fc_die("pthread cond init failed");
    pthread_condattr_destroy(&attr);
}

static void fc_listen(struct fake_cxone *f)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    f->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, fc_access, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, fc_uri_log, f, MHD_OPTION_NOTIFY_COMPLETED, fc_completed, f,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)FC_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)FC_CONN_TIMEOUT_S, MHD_OPTION_END);
    if (!f->daemon)
        fc_die("MHD_start_daemon failed");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0)
        fc_die("cannot read the bound port");
    f->port = info->port;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
}

struct fake_cxone *fake_cxone_start(void)
{
    struct fake_cxone *f = fc_xrealloc(NULL, sizeof(*f));
    memset(f, 0, sizeof(*f));
    fc_init_locks(f);
    f->client_id = fc_xstrdup("client-id");
    f->client_secret = fc_xstrdup("client-secret");
    f->key_id = fc_xstrdup("key-id");
    f->key_secret = fc_xstrdup("key-secret");
    f->channels = cJSON_CreateArray();
    f->contacts = cJSON_CreateObject();
    f->seen = cJSON_CreateObject();
    f->skills = cJSON_CreateObject();
    f->files = cJSON_CreateObject();
    if (!f->channels || !f->contacts)
        fc_die("out of memory");
    fc_listen(f);
    return f;
}

static void fc_free_state(struct fake_cxone *f)
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

void fake_cxone_stop(struct fake_cxone *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->mu);
    MHD_stop_daemon(f->daemon);
    fc_free_state(f);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const char *fake_cxone_url(const struct fake_cxone *f)
{
    return f->url;
}

int fake_cxone_port(const struct fake_cxone *f)
{
    return f->port;
}

void fake_cxone_set_credentials(struct fake_cxone *f, const char *client_id,
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

void fake_cxone_add_one_time_token(struct fake_cxone *f, const char *token, long brand_id,
                                   long user_id)
{
    pthread_mutex_lock(&f->mu);
    f->otts = fc_grow(f->otts, f->n_otts, &f->cap_otts, sizeof(*f->otts));
    f->otts[f->n_otts++] = (struct fc_ott){
        .token = fc_xstrdup(token), .brand_id = brand_id, .user_id = user_id, .used = false};
    pthread_mutex_unlock(&f->mu);
}

void fake_cxone_add_channel(struct fake_cxone *f, const char *id, const char *name,
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

bool fake_cxone_has_channel(struct fake_cxone *f, const char *id)
{
    pthread_mutex_lock(&f->mu);
    bool found = fc_find_channel(f, id, NULL) != NULL;
    pthread_mutex_unlock(&f->mu);
    return found;
}

size_t fake_cxone_channel_count(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)cJSON_GetArraySize(f->channels);
    pthread_mutex_unlock(&f->mu);
    return n;
}

char *fake_cxone_channel_json(struct fake_cxone *f, const char *id)
{
    pthread_mutex_lock(&f->mu);
    cJSON *ch = fc_find_channel(f, id, NULL);
    char *text = ch ? cJSON_PrintUnformatted(ch) : NULL;
    pthread_mutex_unlock(&f->mu);
    return text;
}

void fake_cxone_expire_tokens(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    fc_forget_tokens(f);
    pthread_mutex_unlock(&f->mu);
}

size_t fake_cxone_token_grants(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)f->n_grants;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void fake_cxone_fail_next(struct fake_cxone *f, const char *path_prefix, int status, int count,
                          int retry_after_s)
{
    if (count <= 0)
        return;
    pthread_mutex_lock(&f->mu);
    f->fails = fc_grow(f->fails, f->n_fails, &f->cap_fails, sizeof(*f->fails));
    f->fails[f->n_fails++] = (struct fc_fail){.prefix = fc_xstrdup(path_prefix ? path_prefix : ""),
                                              .status = status,
                                              .count = count,
                                              .retry_after_s = retry_after_s};
    pthread_mutex_unlock(&f->mu);
}

void fake_cxone_clear_failures(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    fc_clear_failures_locked(f);
    pthread_mutex_unlock(&f->mu);
}

void fake_cxone_set_delay_ms(struct fake_cxone *f, int ms)
{
    pthread_mutex_lock(&f->mu);
    f->delay_ms = ms < 0 ? 0 : (ms > FC_MAX_DELAY_MS ? FC_MAX_DELAY_MS : ms);
    pthread_mutex_unlock(&f->mu);
}

size_t fake_cxone_call_count(struct fake_cxone *f, const char *method, const char *path_prefix)
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

static void fc_copy_call(struct fake_cxone_call *out, const struct fake_cxone_call *c)
{
    *out = *c;
    out->body = fc_xrealloc(NULL, c->body_len + 1);
    memcpy(out->body, c->body, c->body_len + 1);
}

bool fake_cxone_get_call(struct fake_cxone *f, const char *method, const char *path_prefix,
                         size_t n, struct fake_cxone_call *out)
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

void fake_cxone_call_release(struct fake_cxone_call *c)
{
    if (!c)
        return;
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
}

void fake_cxone_reset_calls(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    fc_reset_calls_locked(f);
    pthread_mutex_unlock(&f->mu);
}

size_t fake_cxone_message_count(struct fake_cxone *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = (size_t)f->n_messages;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void fake_cxone_set_skill(struct fake_cxone *f, const char *skill_id, int available, int logged_in,
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

void fake_cxone_add_file(struct fake_cxone *f, const char *name, const char *text)
{
    pthread_mutex_lock(&f->mu);
    cJSON_DeleteItemFromObjectCaseSensitive(f->files, name);
    cJSON_AddStringToObject(f->files, name, text);
    pthread_mutex_unlock(&f->mu);
}
