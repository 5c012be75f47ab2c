/*
 * fake_cxone — a fake NICE CXone cloud for byocd's tests.
 *
 * A real HTTP/1.1 server (libmicrohttpd) on 127.0.0.1 with an ephemeral port. It answers the
 * CXone calls byocd makes (token grant, discovery, one-time-token verification, DFO 3.0
 * channels and messages), records every request it receives, and can fail or slow down on
 * command.
 *
 * Threads: every function may be called from any thread while the server runs; one mutex
 * guards the state. fake_cxone_stop() must not race with other calls on the same instance.
 *
 * Ownership: strings passed in are copied; nothing returned needs freeing except the body of
 * a fake_cxone_call filled by fake_cxone_get_call() (release it with fake_cxone_call_release()).
 *
 * Requests are processed and recorded as soon as their body is complete; a delay set with
 * fake_cxone_set_delay_ms() only holds back the answer (side effects already happened, as when
 * a real server is slow to reply).
 *
 * Endpoints (JSON unless said otherwise; request bodies over FAKE_CXONE_MAX_BODY get 413):
 *   POST   /auth/token                          password grant, form body + HTTP Basic client auth
 *   GET    /.well-known/cxone-configuration     discovery (api_endpoint, area, token_endpoint)
 *   POST   /dfo/3.0/one-time-token/verification one-time token -> ott-at-N access token (no auth)
 *   GET    /dfo/3.0/channels                    Bearer cx-at-* or ott-at-*: array of channels
 *   POST   /dfo/3.0/channels                    create; needs string "id" and "name"; 409 if taken
 *   GET    /dfo/3.0/channels/{id}               200 or 404
 *   DELETE /dfo/3.0/channels/{id}               204 or 404
 *   POST   /dfo/3.0/channels/{id}/messages      200 consumerContact; 404 if the channel is
 *                                               unknown; the same thread.idOnExternalPlatform on
 *                                               the same channel gets the same contact
 *   GET    /back, /back/...                     a small HTML page (text/html): the CXone page
 *                                               an action page's backUrl leads a browser to
 *   anything else                               404 {"errors":[{"message":"not found"}]}
 * Missing or unknown Bearer tokens get 401; bodies that are not the JSON asked for get 400.
 * Every request that reaches the fake is recorded, unknown paths included; requests so malformed
 * that libmicrohttpd answers them itself (a 400 for a bad request line) are not.
 */
#ifndef FAKE_CXONE_H
#define FAKE_CXONE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest request body the fake accepts (bytes); longer bodies are answered 413. */
#define FAKE_CXONE_MAX_BODY ((size_t)1024 * 1024)

struct fake_cxone;

/* Starts a server on 127.0.0.1:0. Aborts the process (after a message on stderr) on failure. */
struct fake_cxone *fake_cxone_start(void);
/* Stops the server, waits for its threads, frees everything. NULL is a no-op. */
void fake_cxone_stop(struct fake_cxone *f);
/* "http://127.0.0.1:PORT", no trailing slash; owned by f, valid until fake_cxone_stop(). */
const char *fake_cxone_url(const struct fake_cxone *f);
/* The bound TCP port. */
int fake_cxone_port(const struct fake_cxone *f);

/* Credentials accepted by POST /auth/token. Defaults: "client-id", "client-secret", "key-id",
 * "key-secret". NULL leaves that one unchanged. */
void fake_cxone_set_credentials(struct fake_cxone *f, const char *client_id,
                                const char *client_secret, const char *access_key_id,
                                const char *access_key_secret);
/* Registers a valid one-time token (purpose "channel-integration") for brand_id/user_id; the
 * first successful verification consumes it. */
void fake_cxone_add_one_time_token(struct fake_cxone *f, const char *token, long brand_id,
                                   long user_id);
/* Adds a channel that already exists in the brand. integration_id may be NULL (JSON null).
 * idOnExternalPlatform is set to id, realExternalPlatformId to "custom". A channel with the
 * same id is replaced. */
void fake_cxone_add_channel(struct fake_cxone *f, const char *id, const char *name,
                            const char *integration_id);
bool fake_cxone_has_channel(struct fake_cxone *f, const char *id);
size_t fake_cxone_channel_count(struct fake_cxone *f);
/* Returns the stored channel object as compact JSON (malloc'd, caller frees), or NULL. */
char *fake_cxone_channel_json(struct fake_cxone *f, const char *id);

/* Forgets every access token issued so far (cx-at-* and ott-at-*), as if they had expired:
 * the next channel call with one of them gets 401. */
void fake_cxone_expire_tokens(struct fake_cxone *f);
/* Number of access tokens issued by /auth/token since start. */
size_t fake_cxone_token_grants(struct fake_cxone *f);

/* The next `count` requests whose path starts with path_prefix (NULL or "" = every path) get
 * `status` with body {"errors":[{"message":"injected failure"}]} and, when retry_after_s > 0,
 * a Retry-After header. Rules queue up; the oldest matching rule with count left is used.
 * Injected answers are recorded too, with their status. */
void fake_cxone_fail_next(struct fake_cxone *f, const char *path_prefix, int status, int count,
                          int retry_after_s);
/* Drops all pending fail_next rules. */
void fake_cxone_clear_failures(struct fake_cxone *f);
/* Holds back every answer by ms milliseconds (0 = none). Stopping the server cuts the wait. */
void fake_cxone_set_delay_ms(struct fake_cxone *f, int ms);

/* One recorded request. method/path/... are truncated to fit (always NUL-terminated).
 * path is the decoded path without the query; query is the raw query string without '?'
 * ("" if none). body is the request body as received (at most FAKE_CXONE_MAX_BODY bytes),
 * NUL-terminated, never NULL in a copy from fake_cxone_get_call(). status is the HTTP status
 * the fake answered. */
struct fake_cxone_call {
    char method[8];
    char path[512];
    char query[1024];
    char authorization[1024];
    char content_type[128];
    char *body;
    size_t body_len;
    int status;
};

/* Number of recorded calls with this method (NULL = any) and a path starting with path_prefix
 * (NULL or "" = any). */
size_t fake_cxone_call_count(struct fake_cxone *f, const char *method, const char *path_prefix);
/* Copies the n-th (0-based, oldest first) matching call into *out; false if there is none
 * (out is then zeroed). Release the copy with fake_cxone_call_release(). */
bool fake_cxone_get_call(struct fake_cxone *f, const char *method, const char *path_prefix,
                         size_t n, struct fake_cxone_call *out);
/* Frees the body of a copy; NULL ok; safe to call twice. */
void fake_cxone_call_release(struct fake_cxone_call *c);
/* Forgets all recorded calls. */
void fake_cxone_reset_calls(struct fake_cxone *f);
/* Distinct messages accepted by POST …/channels/{id}/messages (a repeated idOnExternalPlatform
 * gets 409 and is not counted). */
size_t fake_cxone_message_count(struct fake_cxone *f);
/* GET /files/{name} answers the JSON string `text` (a bot's private file host stand-in);
 * POST /dfo/3.0/attachments/temporary answers {id, url: <fake>/uploaded/att-N, expireAt}. */
void fake_cxone_add_file(struct fake_cxone *f, const char *name, const char *text);
/* GET /incontactapi/services/{version}/skills/{id}/summary answers these counts (unknown: 404). */
void fake_cxone_set_skill(struct fake_cxone *f, const char *skill_id, int available, int logged_in,
                          int queued);

#endif /* FAKE_CXONE_H */
