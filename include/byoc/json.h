/* Strict JSON intake on top of cJSON: UTF-8, nesting depth and syntax are checked before
 * anything reaches a handler; plus small typed getters that parse liberally. Thread-safe. */
#ifndef BYOC_JSON_H
#define BYOC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

/* Length of the well-formed UTF-8 sequence at s (at most left bytes), 0 if ill-formed. */
size_t byoc_utf8_seq_len(const char *s, size_t left);
/* Longest prefix of s (len bytes, valid UTF-8) of at most cap bytes that ends on a character. */
size_t byoc_utf8_prefix(const char *s, size_t len, size_t cap);
/* True if [s, s+len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool byoc_utf8_valid(const char *s, size_t len);

/* Routes cJSON's allocations through byocd's wrapper (so a parse can report NOMEM); call once
 * before threads start (byoc_app_init does); later calls do nothing. */
void byoc_json_init(void);
/* Parses a whole document. Errors: UTF8, JSON_DEPTH (> BYOC_JSON_MAX_DEPTH), JSON_SYNTAX
 * (including trailing bytes, a NUL byte, a "\u0000" escape in a string, a repeated member name
 * and a number beyond a double), NOMEM. *out is the caller's (cJSON_Delete). */
BYOC_MUST_USE enum byoc_err byoc_json_parse(const char *s, size_t len, cJSON **out);

/* String member or NULL (missing, not a string). */
const char *byoc_json_str(const cJSON *obj, const char *key);
/* Member that is a string or an integral number, rendered as a string into out.
 * False if missing, another type, or longer than cap-1. */
bool byoc_json_id(const cJSON *obj, const char *key, char *out, size_t cap);
/* Follows a path of object keys, e.g. byoc_json_path(o, "thread", "idOnExternalPlatform", NULL). */
const cJSON *byoc_json_path(const cJSON *obj, ...) __attribute__((sentinel));

/* Adds a string member; returns false on NOMEM. NULL value adds JSON null. */
BYOC_MUST_USE bool byoc_json_add_str(cJSON *obj, const char *key, const char *value);
/* Compact rendering, malloc'd; NULL on NOMEM. */
char *byoc_json_render(const cJSON *j);

#endif
