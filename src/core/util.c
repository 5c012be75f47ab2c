#include "byoc/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

int64_t byoc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the wall clock, with its steps noticed ----
 * Stored schedules (next attempts, leases, deadlines) are wall-clock times, so a step of the
 * wall clock would stall them (backwards) or make them all due at once (forwards). Between two
 * steps byoc_now_ms() is the monotonic clock plus an anchor (wall - monotonic); when the real
 * wall clock leaves the anchor by more than BYOC_CLOCK_STEP_MS, the anchor moves to it and the
 * step hook is told, under the clock's lock, so that it can shift the stored schedules before
 * anyone reads a time of the new frame. NTP's slewing moves both clocks alike and is no step. */

static pthread_mutex_t clock_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_llong clock_anchor; /* wall - monotonic, ms */
static atomic_bool clock_anchored;
static void (*clock_step_fn)(void *arg, int64_t delta_ms); /* under clock_mu */
static void *clock_step_arg;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wall - monotonic now, read so that a preemption between the two reads cannot pass for a step. */
static int64_t clock_offset(int64_t *mono_out)
{
    int64_t before = 0, wall = 0, after = 0;
    for (int i = 0; i < BYOC_CLOCK_READ_TRIES; i++) {
        before = byoc_mono_ms();
        wall = wall_ms();
        after = byoc_mono_ms();
        if (after - before <= BYOC_CLOCK_READ_SLACK_MS)
            break;
    }
    *mono_out = after;
    return wall - before / 2 - after / 2;
}

static int64_t distance(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

static int64_t clock_reanchor(void)
{
    pthread_mutex_lock(&clock_mu);
    int64_t mono = 0, offset = clock_offset(&mono), anchor = atomic_load(&clock_anchor);
    bool first = !atomic_load(&clock_anchored);
    if (first || distance(offset, anchor) > BYOC_CLOCK_STEP_MS) {
        atomic_store(&clock_anchor, offset);
        atomic_store(&clock_anchored, true);
        if (!first && clock_step_fn)
            clock_step_fn(clock_step_arg, offset - anchor);
        anchor = offset;
    }
    pthread_mutex_unlock(&clock_mu);
    return mono + anchor;
}

int64_t byoc_now_ms(void)
{
    int64_t mono = 0, offset = clock_offset(&mono), anchor = atomic_load(&clock_anchor);
    if (atomic_load(&clock_anchored) && distance(offset, anchor) <= BYOC_CLOCK_STEP_MS)
        return mono + anchor;
    return clock_reanchor();
}

void byoc_clock_on_step(void (*fn)(void *arg, int64_t delta_ms), void *arg)
{
    pthread_mutex_lock(&clock_mu);
    clock_step_fn = fn;
    clock_step_arg = arg;
    pthread_mutex_unlock(&clock_mu);
}

int64_t byoc_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void byoc_time_iso(int64_t unix_ms, char out[BYOC_TIME_ISO_MAX])
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(out, BYOC_TIME_ISO_MAX, "1970-01-01T00:00:00.000Z");
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
    byoc_strlcpy(out, tmp, BYOC_TIME_ISO_MAX);
}

enum byoc_err byoc_id_new(const char *prefix, char out[BYOC_ID_MAX])
{
    char rnd[21];
    enum byoc_err e = byoc_random_token(rnd, 20);
    if (e)
        return e;
    int n = snprintf(out, BYOC_ID_MAX, "%s_%s", prefix, rnd);
    return (n > 0 && n < BYOC_ID_MAX) ? BYOC_ERR_OK : BYOC_ERR_INTERNAL;
}

bool byoc_id_valid(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= max)
            return false;
    }
    return n > 0;
}

bool byoc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
        return false; /* strtoll would also take leading spaces and '+' */
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool byoc_strlcpy(char *out, const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap) {
        if (cap)
            out[0] = '\0';
        return false;
    }
    memcpy(out, s, n + 1);
    return true;
}

char *byoc_strdup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        *ok = false;
    return p;
}

bool byoc_url_valid(const char *v)
{
    size_t skip = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    if (!skip || !v[skip] || v[skip] == '/' || strlen(v) > BYOC_URL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    }
    return strpbrk(v, "?#@\"<>\\") == NULL;
}

bool byoc_url_authority(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    for (char *c = out; *c; c++)
        *c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
    return true;
}

bool byoc_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (n + need >= cap)
            return false;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (cap == 0)
        return false;
    out[n] = '\0';
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

char *byoc_form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; out && i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    if (!out)
        return NULL;
    out[n] = '\0';
    if (!byoc_utf8_valid(out, n) || memchr(out, '\0', n)) {
        free(out);
        return NULL;
    }
    return out;
}

int64_t byoc_backoff_ms(int64_t attempts, int64_t base_ms, int64_t cap_ms, int64_t floor_ms,
                        long retry_after_s)
{
    if (retry_after_s >= 0)
        return retry_after_s > 0 ? (int64_t)retry_after_s * 1000 : floor_ms;
    int64_t bound = base_ms;
    for (int64_t i = 1; i < attempts && bound < cap_ms; i++)
        bound *= 2;
    if (bound > cap_ms)
        bound = cap_ms;
    uint64_t r = 0;
    if (byoc_random_bytes(&r, sizeof r))
        r = (uint64_t)byoc_mono_ms();
    return (int64_t)(r % (uint64_t)(bound + 1)); /* full jitter */
}

bool byoc_external_id_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x21 || *p == 0x7f)
            return false;
    }
    return byoc_utf8_valid(s, n);
}
