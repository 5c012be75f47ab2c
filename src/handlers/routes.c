/* The route table: every URL byocd serves. openapi/byocd.yaml describes the same table and a
 * test holds the two together. */
#include "handlers/handlers-internal.h"
#include "byoc/metrics.h"
#include "byoc/banned.h"

#define PROVIDER "/admin/v1/providers/{provider_id}"
#define BOX "/cxone/{provider_id}/box"
#define CONV "/v1/conversations/{conversation_id}"

static const struct byoc_route routes[] = {
    {"GET", "/healthz", h_healthz, BYOC_POLICY_NONE, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/readyz", h_readyz, BYOC_POLICY_NONE, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/metrics", h_metrics, BYOC_POLICY_NONE, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},

    {"POST", "/admin/v1/providers", h_provider_create, BYOC_POLICY_ADMIN, BYOC_BODY_JSON,
     BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/admin/v1/providers", h_provider_list, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", PROVIDER, h_provider_get, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON,
     false},
    {"DELETE", PROVIDER, h_provider_delete, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", PROVIDER "/rotate-secret", h_provider_rotate, BYOC_POLICY_ADMIN, BYOC_BODY_JSON,
     BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"POST", PROVIDER "/channels", h_channel_add, BYOC_POLICY_ADMIN, BYOC_BODY_JSON,
     BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"GET", PROVIDER "/channels", h_channel_list, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"DELETE", PROVIDER "/channels/{channel_id}", h_channel_delete, BYOC_POLICY_ADMIN,
     BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", PROVIDER "/agent-messages", h_agent_messages, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", PROVIDER "/webhooks", h_admin_webhook_list, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", PROVIDER "/webhooks/{webhook_id}/rotate-secret", h_admin_webhook_rotate,
     BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"POST", PROVIDER "/deliveries/replay", h_delivery_replay_all, BYOC_POLICY_ADMIN,
     BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", PROVIDER "/studio-events", h_studio_calls, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", "/admin/v1/deliveries", h_delivery_list, BYOC_POLICY_ADMIN, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/admin/v1/deliveries/{delivery_id}/replay", h_delivery_replay, BYOC_POLICY_ADMIN,
     BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},

    {"POST", "/cxone/{provider_id}/auth/token", h_token, BYOC_POLICY_NONE, BYOC_BODY_JSON_OR_FORM,
     BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_OAUTH, false},
    {"POST", BOX "/1.0/posts/{post_id}/messages", h_box_reply, BYOC_POLICY_CXONE, BYOC_BODY_JSON,
     BYOC_BODY_MAX_AGENT_REPLY, BYOC_ERRSTYLE_JSON, false},
    {"POST", BOX "/2.0/channel/{channel_id}/outbound", h_box_outbound, BYOC_POLICY_CXONE,
     BYOC_BODY_JSON, BYOC_BODY_MAX_AGENT_REPLY, BYOC_ERRSTYLE_JSON, false},
    {"POST", BOX "/1.0/channel/{channel_id}/recipients/validation", h_box_validate,
     BYOC_POLICY_CXONE, BYOC_BODY_JSON, BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/cxone/{provider_id}/studio/events", h_studio_event, BYOC_POLICY_STUDIO,
     BYOC_BODY_JSON_OR_FORM, BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"*", BOX "/{*}", h_box_unknown, BYOC_POLICY_CXONE, BYOC_BODY_RAW, BYOC_BODY_MAX_AGENT_REPLY,
     BYOC_ERRSTYLE_JSON, false},

    {"POST", "/v1/conversations", h_conversation_open, BYOC_POLICY_BOT, BYOC_BODY_JSON,
     BYOC_BODY_MAX_HANDOVER, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/v1/conversations", h_conversation_list, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/voice/handoffs", h_voice_handoff, BYOC_POLICY_BOT, BYOC_BODY_JSON,
     BYOC_BODY_MAX_HANDOVER, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/transcripts/{key}", h_transcript_page, BYOC_POLICY_NONE, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_HTML, true},
    {"GET", "/v1/availability", h_availability, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", CONV, h_conversation_get, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON,
     false},
    {"POST", CONV "/messages", h_conversation_message, BYOC_POLICY_BOT, BYOC_BODY_JSON,
     BYOC_BODY_MAX_BOT_MESSAGE, BYOC_ERRSTYLE_JSON, false},
    {"POST", CONV "/typing", h_conversation_typing, BYOC_POLICY_BOT, BYOC_BODY_JSON,
     BYOC_BODY_MAX_SMALL, BYOC_ERRSTYLE_JSON, false},
    {"GET", CONV "/events", h_conversation_events, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", "/v1/events", h_events, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/webhooks", h_webhook_create, BYOC_POLICY_BOT, BYOC_BODY_JSON, BYOC_BODY_MAX_SMALL,
     BYOC_ERRSTYLE_JSON, false},
    {"GET", "/v1/webhooks", h_webhook_list, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON,
     false},
    {"DELETE", "/v1/webhooks/{webhook_id}", h_webhook_delete, BYOC_POLICY_BOT, BYOC_BODY_NONE, 0,
     BYOC_ERRSTYLE_JSON, false},
    {"POST", "/v1/webhooks/{webhook_id}/rotate-secret", h_webhook_rotate, BYOC_POLICY_BOT,
     BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"POST", CONV "/end", h_conversation_end, BYOC_POLICY_BOT, BYOC_BODY_JSON, BYOC_BODY_MAX_SMALL,
     BYOC_ERRSTYLE_JSON, false},

    {"GET", "/cxone/{provider_id}/actions/{action}", h_action_open, BYOC_POLICY_NONE,
     BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_HTML, false},
    {"POST", "/cxone/{provider_id}/actions/add", h_action_add_submit, BYOC_POLICY_NONE,
     BYOC_BODY_FORM, BYOC_BODY_MAX_FORM, BYOC_ERRSTYLE_HTML, false},
};

/* /metrics tells routes apart by their index. */
_Static_assert(BYOC_ARRAY_LEN(routes) <= BYOC_METRICS_ROUTES_MAX, "raise BYOC_METRICS_ROUTES_MAX");

const struct byoc_route *byoc_app_routes(size_t *n)
{
    *n = BYOC_ARRAY_LEN(routes);
    return routes;
}
