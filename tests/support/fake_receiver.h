/*
 * fake_receiver — a fake bot webhook receiver for byocd's tests.
 *
 * A real HTTP/1.1 server (libmicrohttpd) on 127.0.0.1 with an ephemeral port. It accepts any
 * method on any path, records every request whose body arrived in full (time of arrival, path,
 * the Standard Webhooks headers, the body), and answers 200 with an empty body unless a rule
 * says otherwise. One receiver serves many subscriptions: give each its own path (/a, /b, ...)
 * and program the paths separately.
 *
 * Rules: fake_receiver_add_rule() appends a rule; for each request the oldest rule that matches
 * (same path, body containing the given text) and has uses left decides the answer. A rule
 * with count N is dropped after N uses ("fail the next N requests with S, then 200"); count 0
 * keeps it until cleared. Without a matching rule the answer is 200.
 *
 * Exchange log: when $BYOCD_RESPONSE_LOG names a file (testhttp.h), each recorded request is
 * also appended to it as one JSON line {"kind":"webhook","method","path","content_type",
 * "headers":{"webhook-id","webhook-timestamp","webhook-signature","user-agent"},"body"} (not
 * when the body was truncated), for tests/openapi/validate_responses.mjs.
 *
 * Threads: one thread per connection, so a hanging or slow answer holds back only its own
 * connection. Every function may be called from any thread while the receiver runs; one mutex
 * guards the state. fake_receiver_stop() must not race with other calls on the same instance;
 * it cuts every delay short and drops every hanging request (the connection is closed).
 *
 * Ownership: strings passed in are copied; nothing returned needs freeing except the body of a
 * fake_receiver_request filled by fake_receiver_get() (fake_receiver_request_release()).
 * Out of memory and start-up failures abort the process after a message on stderr.
 */
#ifndef FAKE_RECEIVER_H
#define FAKE_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

/* Largest request body kept (bytes); a longer body is truncated to this and answered 413. */
#define FAKE_RECEIVER_MAX_BODY ((size_t)1024 * 1024)
/* Longest delay a rule may ask for (ms); longer values are clamped. A test bug otherwise. */
#define FAKE_RECEIVER_MAX_DELAY_MS 600000

enum fake_receiver_action {
    FAKE_RECEIVER_ANSWER = 0, /* answer `status` (0 means 200) after delay_ms */
    FAKE_RECEIVER_HANG,       /* never answer, until fake_receiver_release() or stop */
    FAKE_RECEIVER_CLOSE,      /* close the connection without an answer, after delay_ms */
};

struct fake_receiver_rule {
    const char *path;          /* exact request path (no query); NULL matches every path */
    const char *body_contains; /* the body must contain this text; NULL matches every body */
    enum fake_receiver_action action;
    int status;           /* FAKE_RECEIVER_ANSWER: the status; 0 means 200 */
    int retry_after_s;    /* > 0 adds "Retry-After: N" to the answer */
    const char *location; /* non-NULL adds "Location: ..." to the answer */
    int delay_ms;         /* wait this long before answering or closing (not for HANG) */
    int count;            /* > 0: used for that many requests, then dropped; 0: until cleared */
};

/* One recorded request. Strings are truncated to fit and always NUL-terminated; an absent
 * header is "". body is NUL-terminated and never NULL in a copy from fake_receiver_get(). */
struct fake_receiver_request {
    long long at_ms; /* CLOCK_MONOTONIC milliseconds when the request head arrived */
    char method[16];
    char path[256]; /* without the query */
    char webhook_id[128];
    char webhook_timestamp[32];
    char webhook_signature[1024];
    char content_type[128];
    char user_agent[128];
    char *body;
    size_t body_len;
    int status; /* the status answered; 0 while hanging, or if closed without an answer */
};

struct fake_receiver;

/* Starts a receiver on 127.0.0.1:0. */
struct fake_receiver *fake_receiver_start(void);
/* Stops the server, drops hanging requests, waits for its threads, frees all. NULL: no-op. */
void fake_receiver_stop(struct fake_receiver *r);
/* "http://127.0.0.1:PORT", no trailing slash; owned by r, valid until fake_receiver_stop(). */
const char *fake_receiver_url(const struct fake_receiver *r);
/* The bound TCP port. */
int fake_receiver_port(const struct fake_receiver *r);

/* Appends a rule (see the top of this file); the strings in it are copied. */
void fake_receiver_add_rule(struct fake_receiver *r, const struct fake_receiver_rule *rule);
/* Shorthand: the next n requests to path get status, then the path's other rules apply. */
void fake_receiver_fail_next(struct fake_receiver *r, const char *path, int n, int status);
/* Drops the rules whose path equals path (NULL: every rule). Hanging requests stay hung. */
void fake_receiver_clear_rules(struct fake_receiver *r, const char *path);
/* Lets every request hanging now go: each answers status, or closes its connection if status
 * is 0. Returns how many were released. */
size_t fake_receiver_release(struct fake_receiver *r, int status);
/* Number of requests hanging now. */
size_t fake_receiver_hanging(struct fake_receiver *r);

/* Number of recorded requests to path (NULL: every path). */
size_t fake_receiver_count(struct fake_receiver *r, const char *path);
/* Copies the i-th (0-based, in order of arrival) recorded request to path (NULL: any) into
 * *out; false if there is none (out is then zeroed). Release with
 * fake_receiver_request_release(). */
bool fake_receiver_get(struct fake_receiver *r, const char *path, size_t i,
                       struct fake_receiver_request *out);
/* Frees the body of a copy; NULL ok; safe to call twice. */
void fake_receiver_request_release(struct fake_receiver_request *req);
/* Waits until at least n requests to path (NULL: any) are recorded, or timeout_ms passed, or
 * the receiver stops. True if the count was reached. */
bool fake_receiver_wait(struct fake_receiver *r, const char *path, size_t n, int timeout_ms);
/* Forgets every recorded request (rules stay). */
void fake_receiver_reset(struct fake_receiver *r);

#endif /* FAKE_RECEIVER_H */
