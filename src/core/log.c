#include "byoc/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "byoc/json.h"
#include "byoc/util.h"
#include "byoc/banned.h"

static enum byoc_log_level log_min = BYOC_LOG_INFO;
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

void byoc_log_set_request_id(const char *request_id)
{
    if (!request_id || !byoc_strlcpy(log_request_id, request_id, sizeof log_request_id))
        log_request_id[0] = '\0';
}

/* Room kept at the end of every line for the closing quote of a cut value and "}\n". */
#define LINE_RESERVE 4

/* Appends n bytes if they fit whole (outside the reserve); a line never holds half a unit, so it
 * stays valid JSON however long its values are. */
static bool line_put(struct byoc_log_line *l, const char *s, size_t n)
{
    if (l->len + n > sizeof l->buf - LINE_RESERVE)
        return false;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

/* One escaped unit of s (a character or an escape); returns bytes of s consumed. */
static size_t escape_unit(const char *s, size_t left, char out[8], size_t *out_len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = (unsigned char)s[0];
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        *out_len = 2;
        return 1;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 15];
        *out_len = 6;
        return 1;
    }
    size_t n = c < 0x80 ? 1 : byoc_utf8_seq_len(s, left);
    if (!n) { /* a byte that starts no valid UTF-8 sequence becomes U+FFFD */
        memcpy(out, "\xef\xbf\xbd", 3);
        *out_len = 3;
        return 1;
    }
    memcpy(out, s, n);
    *out_len = n;
    return n;
}

/* A quoted, escaped string; cut on a unit boundary when the line is full (the closing quote
 * always fits: it is what the reserve is for). */
static void line_escaped(struct byoc_log_line *l, const char *s, size_t n)
{
    if (!line_put(l, "\"", 1))
        return;
    for (size_t i = 0; i < n;) {
        char unit[8];
        size_t ulen = 0, used = escape_unit(s + i, n - i, unit, &ulen);
        if (!line_put(l, unit, ulen))
            break;
        i += used;
    }
    l->buf[l->len++] = '"';
}

/* Starts a member; false (and nothing written) unless the key and value_min bytes of value fit. */
static bool line_key(struct byoc_log_line *l, const char *key, size_t value_min)
{
    size_t klen = strlen(key);
    if (l->len + klen + 4 + value_min > sizeof l->buf - LINE_RESERVE)
        return false;
    line_put(l, ",", 1);
    line_escaped(l, key, klen);
    line_put(l, ":", 1);
    return true;
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
    if (l->on && line_key(l, key, 2))
        line_escaped(l, value, len);
}

void byoc_log_int(struct byoc_log_line *l, const char *key, long long value)
{
    if (!l->on)
        return;
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", value);
    if (line_key(l, key, (size_t)n))
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
    ssize_t rc = write(STDERR_FILENO, l->buf, l->len);
    (void)rc; /* nowhere left to report a failed log write */
}

void byoc_log(enum byoc_log_level level, const char *module, const char *msg)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, level, module, msg);
    byoc_log_end(&l);
}
