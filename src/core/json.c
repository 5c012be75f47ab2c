#include "byoc/json.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/limits.h"
#include "byoc/util.h"
#include "byoc/banned.h"

size_t byoc_utf8_seq_len(const char *str, size_t left)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

bool byoc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = byoc_utf8_seq_len((const char *)p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

size_t byoc_utf8_prefix(const char *s, size_t len, size_t cap)
{
    if (len <= cap)
        return len;
    while (cap > 0 && ((unsigned char)s[cap] & 0xC0) == 0x80)
        cap--; /* s[cap] continues a character that started before the cut */
    return cap;
}

/* Depth of the deepest object/array, ignoring brackets inside strings; stops once over max. */
static bool json_depth_ok(const char *s, size_t len, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

/* False when a string escapes U+0000 ("\u0000"): cJSON hands strings on as C strings, so the
 * value would silently end there ("ab\u0000cd" stored as "ab"). */
static bool no_escaped_nul(const char *s, size_t len)
{
    static const char nul_escape[] = "u0000";
    const size_t esc_len = sizeof nul_escape - 1;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '"') {
            in_str = false;
        } else if (s[i] == '\\') {
            if (len - i > esc_len && memcmp(s + i + 1, nul_escape, esc_len) == 0)
                return false;
            i++; /* the escaped character, which may be a quote or a backslash */
        }
    }
    return true;
}

/* Members of an object checked without a heap allocation (most bodies' objects are small). */
#define JSON_NAMES_INLINE 32

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* False when an object names a member twice: which one counts would depend on the reader.
 * Sorting keeps a body with many members at n log n. */
static bool names_unique(const cJSON *object, bool *nomem)
{
    size_t n = 0;
    for (const cJSON *c = object->child; c; c = c->next)
        n++;
    if (n < 2)
        return true;
    const char *inline_names[JSON_NAMES_INLINE];
    const char **names = n <= JSON_NAMES_INLINE ? inline_names : malloc(n * sizeof *names);
    if (!names) {
        *nomem = true;
        return false;
    }
    size_t i = 0;
    for (const cJSON *c = object->child; c; c = c->next)
        names[i++] = c->string ? c->string : "";
    qsort(names, n, sizeof *names, name_cmp);
    bool unique = true;
    for (i = 1; unique && i < n; i++)
        unique = strcmp(names[i - 1], names[i]) != 0;
    if (names != inline_names)
        free(names);
    return unique;
}

/* False for a number that overflowed a double (1e999: it would read as infinity and be written
 * back as null) and for a repeated member name. The depth is already bounded. */
static bool values_sound(const cJSON *j, bool *nomem)
{
    for (; j; j = j->next) {
        if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
            return false;
        if (cJSON_IsObject(j) && !names_unique(j, nomem))
            return false;
        if (j->child && !values_sound(j->child, nomem))
            return false;
    }
    return true;
}

/* cJSON answers NULL both for bad text and for a failed allocation; its allocations go through
 * this wrapper so that a parse can tell the two apart (out of memory must be a 503 that the
 * sender retries, never a 400 that makes it drop the message). */
static _Thread_local bool json_alloc_failed;
static pthread_once_t json_hooks_once = PTHREAD_ONCE_INIT;

static void *json_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        json_alloc_failed = true;
    return p;
}

static void json_hooks_install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
}

void byoc_json_init(void)
{
    pthread_once(&json_hooks_once, json_hooks_install);
}

enum byoc_err byoc_json_parse(const char *s, size_t len, cJSON **out)
{
    byoc_json_init();
    if (!byoc_utf8_valid(s, len))
        return BYOC_ERR_UTF8;
    if (memchr(s, '\0', len) || !no_escaped_nul(s, len))
        return BYOC_ERR_JSON_SYNTAX;
    if (!json_depth_ok(s, len, BYOC_JSON_MAX_DEPTH))
        return BYOC_ERR_JSON_DEPTH;
    const char *end = NULL;
    json_alloc_failed = false;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (!j)
        return json_alloc_failed ? BYOC_ERR_NOMEM : BYOC_ERR_JSON_SYNTAX;
    /* cJSON stops after the first value: only whitespace may follow it. */
    for (const char *p = end; p < s + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(j);
            return BYOC_ERR_JSON_SYNTAX;
        }
    }
    bool nomem = false;
    if (!values_sound(j, &nomem)) {
        cJSON_Delete(j);
        return nomem ? BYOC_ERR_NOMEM : BYOC_ERR_JSON_SYNTAX;
    }
    *out = j;
    return BYOC_ERR_OK;
}

const char *byoc_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool byoc_json_id(const cJSON *obj, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(v) && v->valuestring[0])
        return byoc_strlcpy(out, v->valuestring, cap);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d < -9e15 || d > 9e15 || d != (double)(long long)d)
            return false; /* range first: converting an out-of-range double is undefined */
        int n = snprintf(out, cap, "%lld", (long long)d);
        return n > 0 && (size_t)n < cap;
    }
    return false;
}

const cJSON *byoc_json_path(const cJSON *obj, ...)
{
    va_list ap;
    va_start(ap, obj);
    for (const char *key = va_arg(ap, const char *); obj && key; key = va_arg(ap, const char *))
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    va_end(ap);
    return obj;
}

bool byoc_json_add_str(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = value ? cJSON_CreateString(value) : cJSON_CreateNull();
    if (!v)
        return false;
    if (!cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

char *byoc_json_render(const cJSON *j)
{
    return cJSON_PrintUnformatted(j);
}
