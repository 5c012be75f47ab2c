/* Calls to CXone's Digital (DFO 3.0) API used by the channel action pages. Blocking: call from
 * task threads. Every call takes the API base URL (per provider) and a bearer token.
 * Errors: UPSTREAM_AUTH (401/403), NOT_FOUND (404), CONFLICT (409), UPSTREAM (other non-2xx or
 * an unreadable answer), UPSTREAM_TIMEOUT, UPSTREAM_NET, NOMEM. detail (may be NULL) receives
 * CXone's own error message when it gave one, for showing to the admin. */
#ifndef BYOC_CXONE_H
#define BYOC_CXONE_H

#include <stddef.h>

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

void byoc_cxone_channel_release(struct byoc_cxone_channel *c);
void byoc_cxone_channel_list_free(struct byoc_cxone_channel *c, size_t n);

#endif
