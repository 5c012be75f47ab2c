/* Calls to CXone's Digital (DFO 3.0) API used by the channel action pages. Blocking: call from
 * task threads. Every call takes the API base URL (per provider) and a bearer token.
 * Errors: UPSTREAM_AUTH (401/403), NOT_FOUND (404), CONFLICT (409), UPSTREAM (other non-2xx or
 * an unreadable answer), UPSTREAM_TIMEOUT, UPSTREAM_NET, NOMEM. detail (may be NULL) receives
 * CXone's own error message when it gave one, for showing to the admin. */
#ifndef BYOC_CXONE_H
#define BYOC_CXONE_H

#include <stddef.h>

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

#define BYOC_CXONE_DETAIL_MAX 256

struct byoc_cxone_admin {
    char *access_token; /* from the one-time-token exchange; the caller frees */
    char *tenant_id;    /* may be NULL */
    char *user_name;    /* may be NULL */
};

struct byoc_cxone_channel {
    char *id;
    char *name;
    char *integration_id; /* channelIntegrationId; may be NULL */
};

/* GET {origin of auth_url}/.well-known/cxone-configuration?tenantId=… → *api_endpoint
 * (malloc'd, an http(s) URL without trailing slash). */
BYOC_MUST_USE enum byoc_err byoc_cxone_discover(const char *auth_url, const char *tenant_id,
                                                char **api_endpoint, char *detail);

/* POST /dfo/3.0/one-time-token/verification. brand_id and user_id are decimal strings. */
BYOC_MUST_USE enum byoc_err byoc_cxone_verify_ott(const char *api_base, const char *brand_id,
                                                  const char *user_id, const char *token,
                                                  struct byoc_cxone_admin *out, char *detail);
void byoc_cxone_admin_release(struct byoc_cxone_admin *a);

/* GET /dfo/3.0/channels (an array, or an object holding one under "channels"/"data"/"items"). */
BYOC_MUST_USE enum byoc_err byoc_cxone_channels_list(const char *api_base, const char *bearer,
                                                     struct byoc_cxone_channel **out, size_t *n,
                                                     char *detail);
BYOC_MUST_USE enum byoc_err byoc_cxone_channel_get(const char *api_base, const char *bearer,
                                                   const char *id, struct byoc_cxone_channel *out,
                                                   char *detail);
/* POST /dfo/3.0/channels; *created_id is the id CXone answered with (or the one sent). */
BYOC_MUST_USE enum byoc_err byoc_cxone_channel_create(const char *api_base, const char *bearer,
                                                      const char *id, const char *name,
                                                      const char *integration_id, char **created_id,
                                                      char *detail);
BYOC_MUST_USE enum byoc_err byoc_cxone_channel_delete(const char *api_base, const char *bearer,
                                                      const char *id, char *detail);

/* ---- access tokens (password grant with the provider's access key) ---- */

/* Refresh this long before a token expires (CXone tokens live about an hour). */
#define BYOC_CXONE_TOKEN_EARLY_MS (5 * 60 * 1000)
#define BYOC_CXONE_TOKEN_CACHE 256 /* providers whose tokens are kept */

struct byoc_cxone_tokens;

struct byoc_cxone_creds {
    const char *provider_id, *auth_url, *client_id, *client_secret, *access_key_id,
        *access_key_secret;
};

BYOC_MUST_USE enum byoc_err byoc_cxone_tokens_new(struct byoc_cxone_tokens **out);
void byoc_cxone_tokens_free(struct byoc_cxone_tokens *t);
/* A valid token for the provider (*token malloc'd). rejected: the token CXone just answered 401
 * to (NULL otherwise); it is replaced unless another caller already did. Concurrent callers of
 * one provider share one fetch; no lock is held across the network. Errors as above;
 * UPSTREAM_AUTH when CXone refuses the credentials. */
BYOC_MUST_USE enum byoc_err byoc_cxone_token(struct byoc_cxone_tokens *t,
                                             const struct byoc_cxone_creds *c, const char *rejected,
                                             char **token, char *detail);

/* ---- messaging (DFO 3.0) ---- */

/* What a call came to; err is UPSTREAM_NET / UPSTREAM_TIMEOUT when no status arrived. */
struct byoc_cxone_result {
    enum byoc_err err;
    long status;
    long retry_after_s; /* -1 when absent */
    char detail[BYOC_CXONE_DETAIL_MAX];
    char *case_id, *contact_id, *interaction_id; /* from consumerContact; may be NULL */
};
void byoc_cxone_result_release(struct byoc_cxone_result *r);

/* One authenticated CXone call: fills r from the token and the bearer it is given. */
typedef void (*byoc_cxone_call_fn)(const char *bearer, void *arg, struct byoc_cxone_result *r);
/* Gets the provider's token and runs `run`; on a 401 refreshes the token once and runs it again.
 * A token failure comes back as r->err (with CXone's detail) and *token_failed = true. */
void byoc_cxone_with_token(struct byoc_cxone_tokens *t, const struct byoc_cxone_creds *c,
                           byoc_cxone_call_fn run, void *arg, struct byoc_cxone_result *r,
                           bool *token_failed);

/* POST /dfo/3.0/channels/{channel}/messages with body (a DFO message object). */
void byoc_cxone_post_message(const char *api_base, const char *bearer, const char *channel_id,
                             const cJSON *body, struct byoc_cxone_result *r);
/* POST …/threads/{thread}/sender-actions {action: isTypingOn|isTypingOff}. */
void byoc_cxone_typing(const char *api_base, const char *bearer, const char *channel_id,
                       const char *thread_id, bool typing, struct byoc_cxone_result *r);
/* PUT …/threads/{thread} {canAddMoreMessages: false}. */
void byoc_cxone_close_thread(const char *api_base, const char *bearer, const char *channel_id,
                             const char *thread_id, struct byoc_cxone_result *r);
/* PUT /dfo/3.0/contacts/{contact}/routing-queue {routingQueueId}. */
void byoc_cxone_routing_queue(const char *api_base, const char *bearer, const char *case_id,
                              const char *queue_id, struct byoc_cxone_result *r);

/* ---- reporting ---- */

/* Agents and queue of one skill; counts are -1 when CXone did not give them. */
struct byoc_cxone_skill_summary {
    bool found;
    long agents_available, agents_idle, agents_logged_in, queue_length, longest_wait_s;
};
/* GET {api}{reporting_path}/skills/{skill}/summary for the last hour. */
void byoc_cxone_skill_summary(const char *api_base, const char *reporting_path, const char *bearer,
                              const char *skill_id, int64_t now_ms,
                              struct byoc_cxone_skill_summary *out, struct byoc_cxone_result *r);

/* Fetches url (a private attachment) and uploads it: POST /dfo/3.0/attachments/temporary
 * {content: base64, mimeType}. *cxone_url (malloc'd) is where CXone serves it. A failed fetch is
 * reported in r like a CXone answer (its status; the detail says it was the fetch). */
void byoc_cxone_upload_attachment(const char *api_base, const char *bearer, const char *url,
                                  const char *mime_type, char **cxone_url,
                                  struct byoc_cxone_result *r);

/* POST {api}{services_path}/interactions/{contact}/signal?p1=…&p9=… (params: up to 9). */
void byoc_cxone_signal(const char *api_base, const char *services_path, const char *bearer,
                       const char *contact_id, const char *const *params, size_t nparams,
                       struct byoc_cxone_result *r);

void byoc_cxone_channel_release(struct byoc_cxone_channel *c);
void byoc_cxone_channel_list_free(struct byoc_cxone_channel *c, size_t n);

#endif
