/* Error codes: one table, one enum. Every fallible byocd function returns enum byoc_err. */
#ifndef BYOC_ERR_H
#define BYOC_ERR_H

/* X(ENUM, stable snake_case name, message for clients, HTTP status) */
#define BYOC_ERR_MAP(X)                                                                            \
    X(OK, "ok", "success", 200)                                                                    \
    X(NOMEM, "out_of_memory", "the server is out of memory", 503)                                  \
    X(INVALID, "invalid_request", "the request is not valid", 400)                                 \
    X(JSON_SYNTAX, "invalid_json", "the body is not valid JSON", 400)                              \
    X(JSON_DEPTH, "json_too_deep", "the JSON body is nested too deeply", 400)                      \
    X(UTF8, "invalid_utf8", "the body is not valid UTF-8", 400)                                    \
    X(BAD_FRAMING, "bad_framing", "the request has conflicting length headers", 400)               \
    X(TOO_LARGE, "body_too_large", "the body is larger than this route accepts", 413)              \
    X(MEDIA_TYPE, "unsupported_media_type", "the Content-Type is not accepted here", 415)          \
    X(NOT_FOUND, "not_found", "no such resource", 404)                                             \
    X(METHOD, "method_not_allowed", "the method is not allowed on this resource", 405)             \
    X(UNAUTHORIZED, "unauthorized", "missing or invalid credentials", 401)                         \
    X(TOKEN_INVALID, "invalid_token", "the access token is invalid or expired", 401)               \
    X(FORBIDDEN, "forbidden", "not allowed", 403)                                                  \
    X(CONFLICT, "conflict", "the resource already exists or is in another state", 409)             \
    X(GONE, "gone", "the resource no longer exists", 410)                                          \
    X(CONVERSATION_CLOSED, "conversation_closed", "the conversation has ended", 409)               \
    X(IDEMPOTENCY_REUSED, "idempotency_key_reused",                                                \
      "this Idempotency-Key was used with a different request", 422)                               \
    X(RATE_LIMITED, "rate_limited", "too many requests; retry later", 429)                         \
    X(STORE_BUSY, "storage_busy", "storage is busy; retry later", 503)                             \
    X(STORE_FULL, "storage_full", "storage is full; retry later", 503)                             \
    X(STORE_IO, "storage_unavailable", "storage cannot be written; retry later", 503)              \
    X(STORE_SCHEMA, "storage_schema", "the database schema is newer than this binary", 500)        \
    X(OVERLOADED, "overloaded", "the server is overloaded; retry later", 503)                      \
    X(SHUTTING_DOWN, "shutting_down", "the server is shutting down; retry later", 503)             \
    X(UPSTREAM, "upstream_error", "CXone answered with an error", 502)                             \
    X(UPSTREAM_AUTH, "upstream_unauthorized", "CXone rejected the credentials", 502)               \
    X(UPSTREAM_TIMEOUT, "upstream_timeout", "CXone did not answer in time", 504)                   \
    X(UPSTREAM_NET, "upstream_unreachable", "CXone could not be reached", 502)                     \
    X(CRYPTO, "crypto_error", "a cryptographic operation failed", 500)                             \
    X(CONFIG, "invalid_config", "the configuration is invalid", 500)                               \
    X(IO, "io_error", "a file could not be read or written", 500)                                  \
    X(INTERNAL, "internal_error", "an internal error occurred", 500)

enum byoc_err {
#define BYOC_ERR_ENUM(e, name, msg, status) BYOC_ERR_##e,
    BYOC_ERR_MAP(BYOC_ERR_ENUM)
#undef BYOC_ERR_ENUM
        BYOC_ERR__COUNT
};

/* Stable snake_case name, e.g. "invalid_json". Never NULL. Thread-safe. */
const char *byoc_err_name(enum byoc_err e);
/* Human message safe to show to clients. Never NULL. Thread-safe. */
const char *byoc_strerror(enum byoc_err e);
/* HTTP status that represents the error at the edge. */
int byoc_err_http_status(enum byoc_err e);

#endif
