/*
 * testhttp — a small blocking HTTP client for tests (libcurl), plus a raw-socket helper for
 * malformed requests curl will not send.
 *
 * Threads: every function may be called from any thread; calls share no state (libcurl is
 * initialised once, on first use).
 * Proxies from the environment are ignored; redirects are never followed.
 */
#ifndef TESTHTTP_H
#define TESTHTTP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest response body / header block test_http() keeps; a longer answer is a failure. */
#define TEST_HTTP_MAX_BODY ((size_t)16 * 1024 * 1024)
#define TEST_HTTP_MAX_HEADERS ((size_t)64 * 1024)
/* Timeout of test_http() for the whole exchange. */
#define TEST_HTTP_TIMEOUT_MS 10000L
/* Largest answer test_raw_http() keeps; reading stops there. */
#define TEST_RAW_HTTP_MAX ((size_t)1024 * 1024)

struct test_resp {
    long status; /* HTTP status of the final response */
    char *body;  /* NUL-terminated (never NULL after success), body_len excludes the NUL */
    size_t body_len;
    char *headers; /* raw header block of the final response (status line included) */
};

/* Sends one request. method "GET"/"POST"/... (any token); headers a NULL-terminated array of
 * "Name: value" strings (may be NULL; "Name:" removes a header curl would add); body may be
 * NULL (no body). Fills *out on success (release it with test_resp_release()); on transport
 * failure, timeout or an oversized answer returns false and leaves *out empty (release is
 * still safe). */
bool test_http(const char *method, const char *url, const char *const *headers, const char *body,
               size_t body_len, struct test_resp *out);
/* Same with an explicit timeout in milliseconds for the whole exchange. */
bool test_http_timeout(const char *method, const char *url, const char *const *headers,
                       const char *body, size_t body_len, long timeout_ms, struct test_resp *out);

/* Value of the first header `name` (case-insensitive), whitespace-trimmed, malloc'd (caller
 * frees), or NULL. */
char *test_resp_header(const struct test_resp *r, const char *name);
/* Parsed body or NULL; caller cJSON_Delete()s it. */
cJSON *test_resp_json(const struct test_resp *r);
/* Frees what test_http() filled and zeroes *r; NULL ok. */
void test_resp_release(struct test_resp *r);

/* "Authorization: Basic <base64(user:pass)>", malloc'd (caller frees), or NULL if out of
 * memory or user:pass is longer than 4096 bytes. */
char *test_basic_auth(const char *user, const char *pass);

/* Connects to 127.0.0.1:port, sends raw[0..raw_len), reads the answer until the peer closes,
 * TEST_RAW_HTTP_MAX bytes, or timeout_ms passes in total. Returns what was read, malloc'd and
 * NUL-terminated (possibly ""), caller frees. NULL if it could not connect, or if sending
 * failed and nothing came back (a server may answer and close before reading everything, so
 * a failed send still reads the answer). */
char *test_raw_http(int port, const char *raw, size_t raw_len, int timeout_ms);

/* ---------------------------------------------------------------- exchange log
 *
 * When the environment variable TEST_HTTP_LOG_ENV names a file, every exchange test_http() /
 * test_http_timeout() completes appends one JSON line to it:
 *   {"kind":"response","method","url","status","content_type","headers","body"}
 * (headers: {"lower-case-name": "value"}, repeated ones joined by ", "), and the fake bot receiver
 * appends one line per webhook it receives (kind "webhook", see fake_receiver.h); the
 * integration harness adds {"kind":"server","base"} for each byocd it starts.
 * tests/openapi/validate_responses.mjs checks such a file against openapi/byocd.yaml. Each line is
 * one write() on a file opened with O_APPEND, so lines of threads and forked processes do not
 * interleave. A body longer than TEST_HTTP_MAX_BODY is not recorded (test_http() refuses those
 * answers anyway); a body is recorded up to its first NUL byte. Unset or empty: nothing is
 * recorded. */
#define TEST_HTTP_LOG_ENV "BYOCD_RESPONSE_LOG"

/* Appends obj (one JSON object) as a line to the log; nothing when no log is set. A line that
 * cannot be written aborts the process after a message on stderr: an exchange the validator
 * never sees would pass unchecked. Any thread. */
void test_http_log_append(const cJSON *obj);

/* Runs `node tests/openapi/validate_responses.mjs [--allow-empty] path` (the script under
 * $BYOCD_SOURCE_ROOT, or the source root the test support library was built from; node is
 * $BYOCD_NODE or `node` from PATH) with this process's stdout and stderr. allow_empty: a log
 * without any line passes (otherwise it fails: nothing was checked). Returns the script's exit
 * status (0: every recorded answer matches the document), or -1 if it could not be run or was
 * killed. */
int test_http_log_validate(const char *path, bool allow_empty);

#endif /* TESTHTTP_H */
