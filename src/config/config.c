#include "byoc/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/crypto.h"
#include "byoc/limits.h"
#include "byoc/netaddr.h"
#include "byoc/util.h"
#include "byoc/banned.h"

/* Defaults are the numbers of limits.h, as text. */
#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_VALUE_MAX 4096
#define ADMIN_TOKEN_MIN 16

enum key_type {
    KEY_STRING,
    KEY_LISTEN,
    KEY_URL,
    KEY_INT,
    KEY_SECRET,
    KEY_MASTER_KEY,
    KEY_LEVEL,
    KEY_CIDRS
};

struct key_row {
    const char *name;
    enum key_type type;
    size_t offset;        /* of a char * or int64_t member of struct byoc_config */
    const char *fallback; /* NULL: unset by default */
    int64_t min, max;
    const char *help;
};

#define STR_AT(c, off) ((char **)((char *)(c) + (off)))
#define INT_AT(c, off) ((int64_t *)((char *)(c) + (off)))
#define OFF(m) offsetof(struct byoc_config, m)

static const struct key_row key_rows[] = {
    {"BYOCD_LISTEN", KEY_LISTEN, OFF(listen), "127.0.0.1:8080", 0, 0,
     "address:port to listen on ([v6]:port for IPv6; port 0 picks a free one)"},
    {"BYOCD_DATABASE", KEY_STRING, OFF(database), "./var/byocd.db", 0, 0,
     "SQLite database file (created with its directory)"},
    {"BYOCD_PUBLIC_URL", KEY_URL, OFF(public_url), NULL, 0, 0,
     "https base URL CXone uses to reach byocd (default: http://BYOCD_LISTEN)"},
    {"BYOCD_ADMIN_TOKEN", KEY_SECRET, OFF(admin_token), NULL, 0, 0,
     "bearer token of the admin API, at least 16 characters (unset: admin API off)"},
    {"BYOCD_MASTER_KEY", KEY_MASTER_KEY, OFF(master_key), NULL, 0, 0,
     "32-byte key as 64 hex digits or base64 (unset: master.key beside the database)"},
    {"BYOCD_TRUSTED_PROXIES", KEY_CIDRS, OFF(trusted_proxies), NULL, 0, 0,
     "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed"},
    {"BYOCD_TOKEN_TTL", KEY_INT, OFF(token_ttl), TEXT(BYOC_TOKEN_TTL_DEFAULT), BYOC_TOKEN_TTL_MIN,
     BYOC_TOKEN_TTL_MAX, "lifetime in seconds of the tokens issued to CXone"},
    {"BYOCD_MAX_CONNECTIONS", KEY_INT, OFF(max_connections),
     TEXT(BYOC_HTTP_MAX_CONNECTIONS_DEFAULT), 16, 100000, "concurrent HTTP connections"},
    {"BYOCD_WRITE_QUEUE_MAX", KEY_INT, OFF(write_queue_max), TEXT(BYOC_WRITE_QUEUE_MAX), 1,
     BYOC_WRITE_QUEUE_LIMIT,
     "writes that may wait for the database before requests are refused with 503 overloaded"},
    {"BYOCD_IDLE_TIMEOUT", KEY_INT, OFF(idle_timeout), TEXT(BYOC_HTTP_IDLE_TIMEOUT_DEFAULT), 1,
     3600, "seconds an idle keep-alive connection is kept"},
    {"BYOCD_RELAY_DEADLINE", KEY_INT, OFF(relay_deadline), TEXT(BYOC_RELAY_DEADLINE_DEFAULT), 10,
     86400, "seconds a bot message may take to reach CXone before it counts as failed"},
    {"BYOCD_RELAY_RETRY_CAP", KEY_INT, OFF(relay_retry_cap), TEXT(BYOC_RELAY_RETRY_CAP_DEFAULT), 1,
     3600, "longest pause in seconds between two attempts to reach CXone"},
    {"BYOCD_RELAY_LEASE", KEY_INT, OFF(relay_lease), TEXT(BYOC_RELAY_LEASE_DEFAULT), 5, 3600,
     "seconds before a message whose send was interrupted (crash) is sent again"},
    {"BYOCD_CXONE_SERVICES_PATH", KEY_STRING, OFF(cxone_services_path),
     "/incontactapi/services/v31.0", 0, 0,
     "path of CXone's incontactapi services under a provider's API base URL (reporting, signal)"},
    {"BYOCD_TRANSCRIPT_TTL", KEY_INT, OFF(transcript_ttl), "3600", 60, 604800,
     "seconds a voice handoff's transcript page stays available"},
    {"BYOCD_WEBHOOK_ALLOW_PRIVATE", KEY_INT, OFF(webhook_allow_private), "0", 0, 1,
     "1 lets webhook URLs reach loopback and private addresses (development and tests only)"},
    {"BYOCD_WEBHOOK_DEADLINE", KEY_INT, OFF(webhook_deadline), TEXT(BYOC_WEBHOOK_DEADLINE_DEFAULT),
     2, 30 * 86400, "seconds an event is retried to a webhook before it is dead"},
    {"BYOCD_WEBHOOK_RETRY_CAP", KEY_INT, OFF(webhook_retry_cap),
     TEXT(BYOC_WEBHOOK_RETRY_CAP_DEFAULT), 1, 86400,
     "longest pause in seconds between two attempts of a webhook delivery"},
    {"BYOCD_WEBHOOK_TIMEOUT", KEY_INT, OFF(webhook_timeout), TEXT(BYOC_WEBHOOK_TIMEOUT_DEFAULT), 1,
     300, "seconds one webhook delivery attempt may take"},
    {"BYOCD_WEBHOOK_BREAKER_COOLDOWN", KEY_INT, OFF(webhook_breaker_cooldown),
     TEXT(BYOC_WEBHOOK_BREAKER_COOLDOWN_DEFAULT), 1, 86400,
     "seconds a failing webhook endpoint rests before one probe"},
    {"BYOCD_WEBHOOK_SECRET_OVERLAP", KEY_INT, OFF(webhook_secret_overlap),
     TEXT(BYOC_WEBHOOK_SECRET_OVERLAP_DEFAULT), 0, 30 * 86400,
     "seconds the previous webhook secret still signs after a rotation"},
    {"BYOCD_EVENT_RETENTION", KEY_INT, OFF(event_retention), TEXT(BYOC_EVENT_RETENTION_DEFAULT),
     3600, 3650 * 86400,
     "seconds events are kept (pull API; dead deliveries keep theirs until replayed)"},
    {"BYOCD_LOG_LEVEL", KEY_LEVEL, 0, "info", 0, 0, "debug, info, warn or error"},
};

struct file_kv {
    char *key, *value;
};

struct file_values {
    struct file_kv *kv;
    size_t n;
};

static void file_values_release(struct file_values *fv)
{
    for (size_t i = 0; i < fv->n; i++) {
        free(fv->kv[i].key);
        free(fv->kv[i].value);
    }
    free(fv->kv);
}

static const struct key_row *key_find(const char *name)
{
    for (size_t i = 0; i < BYOC_ARRAY_LEN(key_rows); i++) {
        if (strcmp(key_rows[i].name, name) == 0)
            return &key_rows[i];
    }
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Parses one "KEY=VALUE" line into fv; blank lines and # comments are skipped. */
static enum byoc_err file_line(struct file_values *fv, char *line, int lineno, char *why,
                               size_t cap)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return BYOC_ERR_OK;
    char *eq = strchr(s, '=');
    if (!eq) {
        snprintf(why, cap, "config file line %d: expected KEY=VALUE", lineno);
        return BYOC_ERR_CONFIG;
    }
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (!key_find(key)) {
        snprintf(why, cap, "%s: unknown key in config file (line %d)", key, lineno);
        return BYOC_ERR_CONFIG;
    }
    struct file_kv *kv = realloc(fv->kv, (fv->n + 1) * sizeof *kv);
    if (!kv)
        return BYOC_ERR_NOMEM;
    fv->kv = kv;
    kv[fv->n].key = strdup(key);
    kv[fv->n].value = strdup(value);
    fv->n++;
    return (kv[fv->n - 1].key && kv[fv->n - 1].value) ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

static enum byoc_err file_read(const char *path, struct file_values *fv, char *why, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, cap, "BYOCD_CONFIG: cannot open %s: %s", path, strerror(errno));
        return BYOC_ERR_IO;
    }
    char line[CONFIG_VALUE_MAX + 128];
    enum byoc_err e = BYOC_ERR_OK;
    size_t total = 0;
    for (int lineno = 1; !e && fgets(line, sizeof line, f); lineno++) {
        total += strlen(line);
        if (total > CONFIG_FILE_MAX || (!strchr(line, '\n') && !feof(f))) {
            snprintf(why, cap, "config file line %d: line or file too long", lineno);
            e = BYOC_ERR_CONFIG;
            break;
        }
        line[strcspn(line, "\n")] = '\0';
        e = file_line(fv, line, lineno, why, cap);
    }
    fclose(f);
    return e;
}

static const char *value_of(const struct key_row *row, const struct file_values *fv,
                            byoc_getenv_fn getenv_fn)
{
    /* An empty value counts as unset: the next source, then the default, applies. */
    const char *v = getenv_fn(row->name);
    if (v && *v)
        return v;
    for (size_t i = fv->n; i > 0; i--) { /* the last occurrence in the file wins */
        if (strcmp(fv->kv[i - 1].key, row->name) == 0 && fv->kv[i - 1].value[0])
            return fv->kv[i - 1].value;
    }
    return row->fallback;
}

static bool parse_listen(struct byoc_config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return false;
    size_t hlen = (size_t)(colon - v);
    if (v[0] == '[') {
        if (hlen < 3 || v[hlen - 1] != ']')
            return false;
        c->listen_host = strndup(v + 1, hlen - 2);
    } else {
        if (memchr(v, ':', hlen))
            return false; /* bare IPv6 needs brackets */
        c->listen_host = strndup(v, hlen);
    }
    return c->listen_host && byoc_parse_i64(colon + 1, 0, 65535, &c->listen_port);
}

static enum byoc_err set_value(struct byoc_config *c, const struct key_row *row, const char *v,
                               char *why, size_t cap)
{
    if (strlen(v) > CONFIG_VALUE_MAX) {
        snprintf(why, cap, "%s: value too long", row->name);
        return BYOC_ERR_CONFIG;
    }
    uint8_t key[BYOC_MASTER_KEY_LEN];
    size_t klen = 0;
    enum byoc_log_level level;
    struct byoc_cidrs cidrs;
    char bad[128];
    switch (row->type) {
    case KEY_INT:
        if (!byoc_parse_i64(v, row->min, row->max, INT_AT(c, row->offset))) {
            snprintf(why, cap, "%s: must be a whole number from %lld to %lld", row->name,
                     (long long)row->min, (long long)row->max);
            return BYOC_ERR_CONFIG;
        }
        return BYOC_ERR_OK;
    case KEY_LEVEL:
        if (!byoc_log_level_parse(v, &level)) {
            snprintf(why, cap, "%s: must be debug, info, warn or error", row->name);
            return BYOC_ERR_CONFIG;
        }
        c->log_level = level;
        return BYOC_ERR_OK;
    case KEY_LISTEN:
        if (!parse_listen(c, v)) {
            snprintf(why, cap, "%s: expected address:port, e.g. 127.0.0.1:8080", row->name);
            return BYOC_ERR_CONFIG;
        }
        break;
    case KEY_URL:
        if (!byoc_url_valid(v)) {
            snprintf(why, cap,
                     "%s: expected an http(s) URL without query, e.g. https://byocd.example.com",
                     row->name);
            return BYOC_ERR_CONFIG;
        }
        break;
    case KEY_SECRET:
        if (strlen(v) < ADMIN_TOKEN_MIN) {
            snprintf(why, cap, "%s: must be at least %d characters", row->name, ADMIN_TOKEN_MIN);
            return BYOC_ERR_CONFIG;
        }
        break;
    case KEY_MASTER_KEY:
        if (!byoc_hex_decode(v, key, sizeof key) &&
            (byoc_base64_decode(v, strlen(v), key, sizeof key, &klen) || klen != sizeof key)) {
            snprintf(why, cap, "%s: must be 32 bytes as 64 hex digits or base64", row->name);
            return BYOC_ERR_CONFIG;
        }
        break;
    case KEY_CIDRS:
        if (!byoc_cidrs_parse(v, &cidrs, bad, sizeof bad)) {
            snprintf(why, cap, "%s: %s", row->name, bad);
            return BYOC_ERR_CONFIG;
        }
        break;
    case KEY_STRING:
        if (!*v) {
            snprintf(why, cap, "%s: must not be empty", row->name);
            return BYOC_ERR_CONFIG;
        }
        break;
    }
    char **slot = STR_AT(c, row->offset);
    free(*slot);
    *slot = strdup(v);
    return *slot ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

static enum byoc_err derive_defaults(struct byoc_config *c)
{
    if (c->public_url) {
        size_t n = strlen(c->public_url);
        while (n > 0 && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
        return BYOC_ERR_OK;
    }
    size_t cap = strlen(c->listen) + 16;
    c->public_url = malloc(cap);
    if (!c->public_url)
        return BYOC_ERR_NOMEM;
    snprintf(c->public_url, cap, "http://%s", c->listen);
    return BYOC_ERR_OK;
}

static const char *system_getenv(const char *name)
{
    return getenv(name);
}

enum byoc_err byoc_config_load(struct byoc_config *out, const char *file, byoc_getenv_fn getenv_fn,
                               char *why, size_t why_cap)
{
    struct byoc_config c = {0};
    struct file_values fv = {0};
    enum byoc_err e = BYOC_ERR_OK;
    if (!getenv_fn)
        getenv_fn = system_getenv;
    if (file)
        e = file_read(file, &fv, why, why_cap);
    for (size_t i = 0; !e && i < BYOC_ARRAY_LEN(key_rows); i++) {
        const char *v = value_of(&key_rows[i], &fv, getenv_fn);
        if (v && *v)
            e = set_value(&c, &key_rows[i], v, why, why_cap);
    }
    if (!e)
        e = derive_defaults(&c);
    if (e == BYOC_ERR_NOMEM)
        snprintf(why, why_cap, "out of memory while reading the configuration");
    file_values_release(&fv);
    if (e) {
        byoc_config_release(&c);
        return e;
    }
    *out = c;
    return BYOC_ERR_OK;
}

void byoc_config_release(struct byoc_config *c)
{
    if (!c)
        return;
    free(c->listen);
    free(c->listen_host);
    free(c->database);
    free(c->public_url);
    free(c->admin_token);
    free(c->master_key);
    free(c->cxone_services_path);
    free(c->trusted_proxies);
    *c = (struct byoc_config){0};
}

void byoc_config_describe(int fd)
{
    for (size_t i = 0; i < BYOC_ARRAY_LEN(key_rows); i++) {
        const struct key_row *r = &key_rows[i];
        dprintf(fd, "  %-22s %s%s%s\n", r->name, r->help, r->fallback ? "; default " : "",
                r->fallback ? r->fallback : "");
    }
}
