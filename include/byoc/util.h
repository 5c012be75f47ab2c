/* Clock, identifiers and bounded number parsing. Thread-safe. */
#ifndef BYOC_UTIL_H
#define BYOC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

#define BYOC_ID_MAX 40 /* prefix + '_' + random part + NUL fits */
#define BYOC_TIME_ISO_MAX 32

/* Wall clock, Unix ms: between two steps of the system clock it advances with the monotonic
 * clock; a step of more than BYOC_CLOCK_STEP_MS is followed at the next call, after the step
 * hook has run. */
int64_t byoc_now_ms(void);
/* fn(arg, delta_ms) runs when byoc_now_ms() notices that the wall clock stepped by delta_ms
 * (new = old + delta), before any caller gets a time of the new frame: it runs under the clock's
 * lock, on whichever thread noticed, and must neither block long nor call byoc_now_ms() (nor
 * log). NULL removes it. One hook for the process. */
void byoc_clock_on_step(void (*fn)(void *arg, int64_t delta_ms), void *arg);
int64_t byoc_mono_ms(void); /* monotonic clock */
int64_t byoc_mono_us(void); /* the same in microseconds */
/* "2026-11-21T13:38:14.123Z" */
void byoc_time_iso(int64_t unix_ms, char out[BYOC_TIME_ISO_MAX]);

/* Delay before attempt number attempts + 1: Retry-After when the peer sent one (retry_after_s
 * >= 0; 0 becomes floor_ms so it cannot turn into a busy loop), else full jitter: a random
 * delay in [0, min(cap_ms, base_ms * 2^(attempts-1))]. */
int64_t byoc_backoff_ms(int64_t attempts, int64_t base_ms, int64_t cap_ms, int64_t floor_ms,
                        long retry_after_s);
/* New random id "<prefix>_<20 base62 chars>". */
BYOC_MUST_USE enum byoc_err byoc_id_new(const char *prefix, char out[BYOC_ID_MAX]);
/* True for 1..max chars of [A-Za-z0-9._:-] (ids we accept in paths and logs). */
bool byoc_id_valid(const char *s, size_t max);
/* True for 1..max bytes of printable UTF-8 without spaces (ids other systems chose, e.g. CXone's).
 */
bool byoc_external_id_valid(const char *s, size_t max);

/* Whole-string decimal parse within [min, max]; false otherwise (never atoi). */
bool byoc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Copies s into out (cap incl. NUL); false if it does not fit (out then holds ""). */
bool byoc_strlcpy(char *out, const char *s, size_t cap);
/* malloc'd copy of s (NULL stays NULL); *ok false on NOMEM. */
char *byoc_strdup_opt(const char *s, bool *ok);

/* An absolute http(s) URL with a host and no query, fragment, userinfo, spaces or controls. */
bool byoc_url_valid(const char *url);
/* The lower-cased "host[:port]" of an absolute URL into out; false if none or too long. */
bool byoc_url_authority(const char *url, char *out, size_t cap);
/* Percent-encodes everything but RFC 3986 unreserved characters; false if out is too small. */
bool byoc_url_escape(const char *s, char *out, size_t cap);
/* Decodes application/x-www-form-urlencoded text (also Basic credentials, RFC 6749 §2.3.1).
 * malloc'd; NULL on a bad escape, invalid UTF-8, an embedded NUL or NOMEM. */
char *byoc_form_decode(const char *s, size_t len);

#endif
