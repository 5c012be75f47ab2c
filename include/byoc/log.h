/* JSON-lines logging on stderr.
 * Only the edges log: handlers, workers and main. Never pass tokens, secrets or bodies.
 * All functions are thread-safe; a line is written with one write() call. */
#ifndef BYOC_LOG_H
#define BYOC_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "byoc/err.h"
#include "byoc/limits.h"

enum byoc_log_level { BYOC_LOG_DEBUG, BYOC_LOG_INFO, BYOC_LOG_WARN, BYOC_LOG_ERROR };

/* Lines below `level` are dropped. Call before threads start. */
void byoc_log_set_level(enum byoc_log_level level);
/* Parse "debug"|"info"|"warn"|"error"; false if unknown. */
bool byoc_log_level_parse(const char *s, enum byoc_log_level *out);

/* Request context of the calling thread, added to every line it logs; NULL clears.
 * The string is copied. */
void byoc_log_set_request_id(const char *request_id);

/* A line under construction. Lives on the caller's stack; fields past the line cap are dropped. */
struct byoc_log_line {
    char buf[BYOC_LOG_LINE_MAX];
    size_t len;
    bool on;
};

void byoc_log_begin(struct byoc_log_line *l, enum byoc_log_level level, const char *module,
                    const char *msg);
void byoc_log_str(struct byoc_log_line *l, const char *key, const char *value); /* NULL skipped */
void byoc_log_strn(struct byoc_log_line *l, const char *key, const char *value, size_t len);
void byoc_log_int(struct byoc_log_line *l, const char *key, long long value);
void byoc_log_err(struct byoc_log_line *l, enum byoc_err err); /* adds "err": name */
void byoc_log_end(struct byoc_log_line *l);

/* One-liner for lines without fields. */
void byoc_log(enum byoc_log_level level, const char *module, const char *msg);

#endif
