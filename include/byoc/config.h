/* Start-up configuration: environment variables, optionally a KEY=VALUE file with the same keys
 * (the environment wins). Parsed once, validated, then read-only. */
#ifndef BYOC_CONFIG_H
#define BYOC_CONFIG_H

#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/err.h"
#include "byoc/log.h"

struct byoc_config {
    char *listen;      /* as given, e.g. "127.0.0.1:8080" */
    char *listen_host; /* "127.0.0.1", "::1" */
    int64_t listen_port;
    char *database;        /* SQLite path or ":memory:" */
    char *public_url;      /* no trailing slash */
    char *admin_token;     /* NULL: admin API off */
    char *master_key;      /* NULL: use/generate the key file beside the database */
    char *trusted_proxies; /* NULL: none; else a list byoc_cidrs_parse accepts */
    int64_t token_ttl;
    int64_t max_connections;
    int64_t write_queue_max;
    int64_t idle_timeout;
    int64_t relay_deadline;        /* seconds a bot message may take to reach CXone */
    int64_t relay_retry_cap;       /* seconds: longest pause between two attempts */
    int64_t relay_lease;           /* seconds a message being sent stays claimed (crash recovery) */
    char *cxone_services_path;     /* CXone incontactapi services under the provider's API base */
    int64_t transcript_ttl;        /* seconds a voice handoff's transcript page lives */
    int64_t webhook_allow_private; /* 1: webhook URLs may reach non-public addresses (dev) */
    int64_t webhook_deadline;      /* seconds an event is retried before it is dead */
    int64_t webhook_retry_cap;     /* seconds: longest pause between two attempts */
    int64_t webhook_timeout;       /* seconds one attempt may take */
    int64_t webhook_breaker_cooldown; /* seconds an open circuit rests before a probe */
    int64_t webhook_secret_overlap;   /* seconds the old secret still signs after a rotation */
    int64_t event_retention;          /* seconds events are kept for the pull API */
    enum byoc_log_level log_level;
};

typedef const char *(*byoc_getenv_fn)(const char *name);

/* Loads from getenv_fn (NULL = getenv) and, if file is non-NULL, from that file.
 * On error fills why with a line that names the key and returns CONFIG (or IO for the file);
 * *out is then untouched. Call byoc_config_release on success. */
BYOC_MUST_USE enum byoc_err byoc_config_load(struct byoc_config *out, const char *file,
                                             byoc_getenv_fn getenv_fn, char *why, size_t why_cap);
void byoc_config_release(struct byoc_config *c);

/* One line per key ("NAME  default  description") for --help. */
void byoc_config_describe(int fd);

#endif
