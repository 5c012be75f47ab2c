#include "byoc/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "byoc/util.h"
#include "byoc/banned.h"

static enum byoc_log_level log_min = BYOC_LOG_INFO;
static int log_fd = STDERR_FILENO;
static _Thread_local char log_request_id[BYOC_REQUEST_ID_MAX + 1];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void byoc_log_set_level(enum byoc_log_level level)
{
    log_min = level;
}

bool byoc_log_level_parse(const char *s, enum byoc_log_level *out)
{
    for (size_t i = 0; i < BYOC_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum byoc_log_level)i;
            return true;
        }
    }
    return false;
}

void byoc_log_set_fd(int fd)
{
    log_fd = fd;
}

void byoc_log_set_request_id(const char *request_id)
{
    if (!request_id || !byoc_strlcpy(log_request_id, request_id, sizeof log_request_id))
        log_request_id[0] = '\0';
}

/* Appends raw bytes; once the line is full, further output is dropped (the line stays valid
 * because byoc_log_end always closes it inside the reserved tail). */
static void line_put(struct byoc_log_line *l, const char *s, size_t n)
{
    const size_t room = sizeof l->buf - 8 - l->len; /* keep space for the closing "}\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_escaped(struct byoc_log_line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    line_put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            line_put(l, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            line_put(l, esc, 6);
        } else {
            line_put(l, (const char *)&c, 1);
        }
    }
    line_put(l, "\"", 1);
}

static void line_key(struct byoc_log_line *l, const char *key)
{
    line_put(l, ",", 1);
    line_escaped(l, key, strlen(key));
    line_put(l, ":", 1);
}

void byoc_log_begin(struct byoc_log_line *l, enum byoc_log_level level, const char *module,
                    const char *msg)
{
    l->len = 0;
    l->on = level >= log_min;
    if (!l->on)
        return;
    char ts[BYOC_TIME_ISO_MAX];
    byoc_time_iso(byoc_now_ms(), ts);
    line_put(l, "{\"ts\":", 6);
    line_escaped(l, ts, strlen(ts));
    byoc_log_str(l, "level", level_names[level]);
    byoc_log_str(l, "module", module);
    byoc_log_str(l, "msg", msg);
    if (log_request_id[0])
        byoc_log_str(l, "request_id", log_request_id);
}

void byoc_log_str(struct byoc_log_line *l, const char *key, const char *value)
{
    if (value)
        byoc_log_strn(l, key, value, strlen(value));
}

void byoc_log_strn(struct byoc_log_line *l, const char *key, const char *value, size_t len)
{
    if (!l->on)
        return;
    line_key(l, key);
    line_escaped(l, value, len);
}

void byoc_log_int(struct byoc_log_line *l, const char *key, long long value)
{
    if (!l->on)
        return;
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", value);
    line_key(l, key);
    line_put(l, num, (size_t)n);
}

void byoc_log_err(struct byoc_log_line *l, enum byoc_err err)
{
    byoc_log_str(l, "err", byoc_err_name(err));
}

void byoc_log_end(struct byoc_log_line *l)
{
    if (!l->on)
        return;
    memcpy(l->buf + l->len, "}\n", 2);
    l->len += 2;
    ssize_t rc = write(log_fd, l->buf, l->len);
    (void)rc; /* nowhere left to report a failed log write */
}

void byoc_log(enum byoc_log_level level, const char *module, const char *msg)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, level, module, msg);
    byoc_log_end(&l);
}
