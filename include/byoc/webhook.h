/* Events as bot platforms see them: the envelope, and Standard Webhooks signing
 * (https://www.standardwebhooks.com: "v1," + base64 HMAC-SHA256 of "id.timestamp.body" keyed
 * with the base64 part of a "whsec_" secret). Thread-safe. */
#ifndef BYOC_WEBHOOK_H
#define BYOC_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "byoc/compiler.h"
#include "byoc/err.h"
#include "byoc/store.h"

#define BYOC_WEBHOOK_SECRET_BYTES 32
#define BYOC_WEBHOOK_SECRET_MAX 64    /* "whsec_" + base64(32 bytes) + NUL fits */
#define BYOC_WEBHOOK_SIGNATURE_MAX 64 /* "v1," + base64(32 bytes) + NUL fits */

/* A new "whsec_" secret. */
BYOC_MUST_USE enum byoc_err byoc_webhook_secret_new(char out[BYOC_WEBHOOK_SECRET_MAX]);
/* "v1,<signature>" of body for message id msg_id at ts (Unix seconds). INVALID for a secret
 * that is not "whsec_" + base64. */
BYOC_MUST_USE enum byoc_err byoc_webhook_sign(const char *secret, const char *msg_id, int64_t ts,
                                              const char *body, size_t len,
                                              char out[BYOC_WEBHOOK_SIGNATURE_MAX]);
/* {"id","type","created_at","provider_id","conversation_id","seq","data"}; NULL on NOMEM. */
cJSON *byoc_event_view(const struct byoc_event *e);
/* The same rendered: the body of a webhook. malloc'd; NULL on NOMEM. */
char *byoc_event_envelope(const struct byoc_event *e);

#endif
