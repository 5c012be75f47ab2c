/*
 * cxsim — a NICE CXone simulator: the CXone side of `byocd sandbox`, and the fake CXone of
 * byocd's tests (one simulator for both).
 *
 * An HTTP/1.1 server (byocd's own HTTP layer) on loopback. It answers the CXone calls byocd makes
 * (token grant, discovery, one-time-token verification, DFO 3.0 channels, messages, threads,
 * sender actions, contacts, attachments, the reporting API's skill summary and activity, and the
 * signal API), keeps the contacts byocd creates for an agent console (GET /console), and calls
 * byocd back the way CXone does: agent replies to the integration box with a bearer from byocd's
 * token endpoint (fetched lazily, fetched again on 401), Studio events to the Studio-events
 * endpoint. It can be told to misbehave (slow answers, injected 429/5xx, expired tokens).
 *
 * Threads: every function may be called from any thread while the server runs; one mutex
 * guards the state. byoc_cxsim_stop() must not race with other calls on the same instance.
 *
 * Ownership: strings passed in are copied; nothing returned needs freeing except the body of
 * a byoc_cxsim_call filled by byoc_cxsim_get_call() (release it with byoc_cxsim_call_release()).
 *
 * Out of memory: the simulator is a development and test tool; it aborts rather than answer
 * something CXone would not.
 *
 * Requests are processed (and recorded, with record_calls) as soon as their body is complete; a
 * delay set with byoc_cxsim_set_delay_ms() only holds back the answer (side effects already
 * happened, as when a real server is slow to reply).
 *
 * CXone API (JSON unless said otherwise; request bodies over BYOC_CXSIM_MAX_BODY get 413):
 *   POST   /auth/token                          password grant, form body + HTTP Basic client auth
 *   GET    /.well-known/cxone-configuration     discovery (api_endpoint, area, token_endpoint)
 *   POST   /dfo/3.0/one-time-token/verification one-time token -> ott-at-N access token (no auth)
 *   GET    /dfo/3.0/channels                    Bearer cx-at-* or ott-at-*: array of channels
 *   POST   /dfo/3.0/channels                    create; needs string "id" and "name"; 409 if taken
 *   GET    /dfo/3.0/channels/{id}               200 or 404
 *   DELETE /dfo/3.0/channels/{id}               204 or 404
 *   POST   /dfo/3.0/channels/{id}/messages      200 consumerContact; 404 if the channel is
 *                                               unknown; the same thread.idOnExternalPlatform on
 *                                               the same channel gets the same contact; a
 *                                               repeated idOnExternalPlatform gets 409
 *   POST   /dfo/3.0/channels/{id}/threads/{t}/sender-actions   typing on/off (200)
 *   PUT    /dfo/3.0/channels/{id}/threads/{t}   close the thread (200)
 *   GET    /dfo/3.0/contacts/{id}               the contact {id, status, customFields, ...}
 *   PUT    /dfo/3.0/contacts/{id}/custom-fields [{ident, value}] or {customFields: [...]} (200)
 *   PUT    /dfo/3.0/contacts/{id}/routing-queue (200)
 *   POST   /dfo/3.0/attachments/temporary       {content, mimeType} -> {id, url, expireAt}
 *   GET    /incontactapi/services/vN/skills/{id}/summary   skillSummaries (byoc_cxsim_set_skill)
 *   GET    /incontactapi/services/vN/skills/activity       skillActivity of every known skill
 *   POST   /incontactapi/services/vN/interactions/{contactId}/signal   202
 *   GET    /files/{name}                        a bot's private file host stand-in
 *   GET    /back, /back/...                     a small HTML page (text/html): the CXone page
 *                                               an action page's backUrl leads a browser to
 *   anything else                               404 {"errors":[{"message":"not found"}]}
 * Missing or unknown Bearer tokens get 401; bodies that are not the JSON asked for get 400.
 * With record_calls, every request to the CXone API is recorded, unknown paths included;
 * requests the HTTP layer refuses itself (413, a bad request line) are not.
 *
 * Agent console (its API is described in src/sandbox/cxsim_console.c):
 *   GET /console, GET /console/avatar.svg, GET /console/api/contacts,
 *   POST /console/api/contacts/{id}/messages, POST /console/api/contacts/{id}/events,
 *   POST /console/api/misbehave
 */
#ifndef BYOC_CXSIM_H
#define BYOC_CXSIM_H

#include <stdbool.h>
#include <stddef.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

/* Largest request body the simulator accepts (bytes); longer bodies are answered 413. */
#define BYOC_CXSIM_MAX_BODY ((size_t)1024 * 1024)
/* Largest console API body (an agent reply with its text). */
#define BYOC_CXSIM_CONSOLE_BODY_MAX ((size_t)64 * 1024)
#define BYOC_CXSIM_MAX_CONNECTIONS 256 /* connections at once */
#define BYOC_CXSIM_IDLE_TIMEOUT_S 30   /* idle keep-alive connections are closed after this */
/* What a long sandbox session remembers (the oldest goes first): */
#define BYOC_CXSIM_SEEN_MAX 10000    /* message ids, for the 409 on a repeat */
#define BYOC_CXSIM_THREADS_MAX 10000 /* thread -> contact entries */
#define BYOC_CXSIM_TOKENS_MAX 1000   /* access tokens that still work */

struct byoc_cxsim;

struct byoc_cxsim_config {
    const char *host;  /* listen address; NULL: 127.0.0.1 */
    int port;          /* 0: any free port */
    bool record_calls; /* keep every CXone API request for byoc_cxsim_get_call (tests) */
};

/* Where byocd is, for the calls the agent console makes as CXone would. Strings are copied. */
struct byoc_cxsim_byocd {
    const char *box_url;   /* the provider's integration box URL (no trailing slash) */
    const char *token_url; /* its Authorization URL */
    const char *client_id; /* the BYOC client id and secret CXone presents to byocd */
    const char *client_secret;
    const char *studio_url;    /* .../cxone/{provider_id}/studio/events */
    const char *studio_secret; /* the provider's Studio secret */
};

/* Starts the server. Errors: what byoc_http_start gives (a port in use...), INTERNAL. */
BYOC_MUST_USE enum byoc_err byoc_cxsim_start(const struct byoc_cxsim_config *cfg,
                                             struct byoc_cxsim **out, char *why, size_t why_cap);
/* Answers every held-back request now and holds none back from now on (delay 0); the server
 * keeps serving. For a process about to stop whose other parts wait for their calls. NULL ok. */
void byoc_cxsim_quiesce(struct byoc_cxsim *f);
/* Stops the server, waits for its threads, frees everything. NULL is a no-op. */
void byoc_cxsim_stop(struct byoc_cxsim *f);
/* "http://HOST:PORT", no trailing slash; owned by f, valid until byoc_cxsim_stop(). */
const char *byoc_cxsim_url(const struct byoc_cxsim *f);
/* The bound TCP port. */
int byoc_cxsim_port(const struct byoc_cxsim *f);
/* Tells the console where byocd is (replaces an earlier target; forgets the cached token). */
void byoc_cxsim_set_byocd(struct byoc_cxsim *f, const struct byoc_cxsim_byocd *target);

/* Credentials accepted by POST /auth/token. Defaults: "client-id", "client-secret", "key-id",
 * "key-secret". NULL leaves that one unchanged. */
void byoc_cxsim_set_credentials(struct byoc_cxsim *f, const char *client_id,
                                const char *client_secret, const char *access_key_id,
                                const char *access_key_secret);
/* Registers a valid one-time token (purpose "channel-integration") for brand_id/user_id; the
 * first successful verification consumes it. */
void byoc_cxsim_add_one_time_token(struct byoc_cxsim *f, const char *token, long brand_id,
                                   long user_id);
/* Adds a channel that already exists in the brand. integration_id may be NULL (JSON null).
 * idOnExternalPlatform is set to id, realExternalPlatformId to "custom". A channel with the
 * same id is replaced. */
void byoc_cxsim_add_channel(struct byoc_cxsim *f, const char *id, const char *name,
                            const char *integration_id);
bool byoc_cxsim_has_channel(struct byoc_cxsim *f, const char *id);
size_t byoc_cxsim_channel_count(struct byoc_cxsim *f);
/* Returns the stored channel object as compact JSON (malloc'd, caller frees), or NULL. */
char *byoc_cxsim_channel_json(struct byoc_cxsim *f, const char *id);

/* Forgets every access token issued so far (cx-at-* and ott-at-*), as if they had expired:
 * the next channel call with one of them gets 401. */
void byoc_cxsim_expire_tokens(struct byoc_cxsim *f);
/* Number of access tokens issued by /auth/token since start. */
size_t byoc_cxsim_token_grants(struct byoc_cxsim *f);

/* The next `count` requests whose path starts with path_prefix (NULL or "" = every path) get
 * `status` with body {"errors":[{"message":"injected failure"}]} and, when retry_after_s > 0,
 * a Retry-After header. Rules queue up; the oldest matching rule with count left is used.
 * Injected answers are recorded too, with their status. */
void byoc_cxsim_fail_next(struct byoc_cxsim *f, const char *path_prefix, int status, int count,
                          int retry_after_s);
/* Drops all pending fail_next rules. */
void byoc_cxsim_clear_failures(struct byoc_cxsim *f);
/* Holds back every answer by ms milliseconds (0 = none). Stopping the server cuts the wait. */
void byoc_cxsim_set_delay_ms(struct byoc_cxsim *f, int ms);

/* One recorded request. method/path/... are truncated to fit (always NUL-terminated).
 * path is the decoded path without the query; query is the raw query string without '?'
 * ("" if none). body is the request body as received (at most BYOC_CXSIM_MAX_BODY bytes),
 * NUL-terminated, never NULL in a copy from byoc_cxsim_get_call(). status is the HTTP status
 * the fake answered. */
struct byoc_cxsim_call {
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
size_t byoc_cxsim_call_count(struct byoc_cxsim *f, const char *method, const char *path_prefix);
/* Copies the n-th (0-based, oldest first) matching call into *out; false if there is none
 * (out is then zeroed). Release the copy with byoc_cxsim_call_release(). */
bool byoc_cxsim_get_call(struct byoc_cxsim *f, const char *method, const char *path_prefix,
                         size_t n, struct byoc_cxsim_call *out);
/* Frees the body of a copy; NULL ok; safe to call twice. */
void byoc_cxsim_call_release(struct byoc_cxsim_call *c);
/* Forgets all recorded calls. */
void byoc_cxsim_reset_calls(struct byoc_cxsim *f);
/* Distinct messages accepted by POST …/channels/{id}/messages (a repeated idOnExternalPlatform
 * gets 409 and is not counted). */
size_t byoc_cxsim_message_count(struct byoc_cxsim *f);
/* GET /files/{name} answers the JSON string `text` (a bot's private file host stand-in);
 * POST /dfo/3.0/attachments/temporary answers {id, url: <fake>/uploaded/att-N, expireAt}. */
void byoc_cxsim_add_file(struct byoc_cxsim *f, const char *name, const char *text);
/* GET /incontactapi/services/{version}/skills/{id}/summary answers these counts (unknown: 404). */
void byoc_cxsim_set_skill(struct byoc_cxsim *f, const char *skill_id, int available, int logged_in,
                          int queued);

#endif /* BYOC_CXSIM_H */
