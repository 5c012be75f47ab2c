/* The application: what handlers share, and the route table main hands to the HTTP layer. */
#ifndef BYOC_APP_H
#define BYOC_APP_H

#include "byoc/auth.h"
#include "byoc/config.h"
#include "byoc/dispatch.h"
#include "byoc/http.h"
#include "byoc/keys.h"
#include "byoc/relay.h"
#include "byoc/store.h"
#include "byoc/tasks.h"

#define BYOC_THROTTLE_SLOTS 256

enum byoc_policy {
    BYOC_POLICY_NONE,   /* public */
    BYOC_POLICY_ADMIN,  /* Authorization: Bearer $BYOCD_ADMIN_TOKEN */
    BYOC_POLICY_CXONE,  /* Authorization: Bearer <token from /cxone/{provider_id}/auth/token> */
    BYOC_POLICY_BOT,    /* Authorization: Bearer <provider bot_api_key> */
    BYOC_POLICY_STUDIO, /* Authorization: Bearer <studio_secret of the provider in the path> */
};

/* Failed client authentications per provider in the current window (HTTP thread only). */
struct byoc_throttle_slot {
    char provider_id[BYOC_ID_MAX];
    int64_t window_start_ms;
    int failures;
};

/* A recent availability answer (HTTP thread only). */
struct byoc_availability_slot {
    char provider_id[BYOC_ID_MAX];
    char skill_id[BYOC_EXTERNAL_ID_MAX + 1];
    int64_t at_ms; /* wall clock; 0 = empty */
    struct byoc_cxone_skill_summary summary;
};

struct byoc_app {
    const struct byoc_config *cfg;    /* not owned */
    struct byoc_store *store;         /* not owned */
    struct byoc_tasks *tasks;         /* not owned */
    struct byoc_relay *relay;         /* not owned; may be NULL (then nothing is sent) */
    struct byoc_cxone_tokens *tokens; /* not owned; CXone tokens shared with the relay */
    struct byoc_dispatch *dispatch;   /* not owned; may be NULL (then no webhook goes out) */
    struct byoc_keys keys;
    struct byoc_auth auth;
    struct byoc_throttle_slot throttle[BYOC_THROTTLE_SLOTS];
    struct byoc_availability_slot availability[BYOC_AVAILABILITY_SLOTS];
};

/* Fills app (keys and auth from the arguments); release with byoc_app_release. */
BYOC_MUST_USE enum byoc_err byoc_app_init(struct byoc_app *app, const struct byoc_config *cfg,
                                          struct byoc_store *store, struct byoc_tasks *tasks,
                                          const struct byoc_keys *keys);
void byoc_app_release(struct byoc_app *app);

const struct byoc_route *byoc_app_routes(size_t *n);
/* Serves app's routes over HTTP with its configuration (listen host and port, connection limit,
 * idle timeout, trusted proxies); port 0 takes any free port (byoc_http_port tells). */
BYOC_MUST_USE enum byoc_err byoc_app_listen(struct byoc_app *app, struct byoc_http **out, char *why,
                                            size_t why_cap);
bool byoc_app_authorize_or_reply(struct byoc_req *req, int policy);

#endif
