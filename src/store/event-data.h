/* What each event says: the JSON text of its "data", built from the state change that causes it.
 * Backend-neutral (every backend emits the same events); used by the store's backends only.
 * Every function returns a malloc'd JSON object text, or NULL when out of memory. Fields
 * without a value are left out. */
#ifndef BYOC_EVENT_DATA_H
#define BYOC_EVENT_DATA_H

#include <stdint.h>

#include "byoc/store.h"

/* conversation.escalated; source "relay" (CXone accepted the first message) or "studio". */
struct ev_escalation {
    const char *source, *contact_id, *case_id, *interaction_id, *skill, *reason;
    const char *agent_name, *agent_avatar;
};
char *ev_data_escalated(const struct ev_escalation *e);
/* agent.joined */
char *ev_data_agent_joined(const char *name, const char *avatar_url);
/* agent.message */
char *ev_data_agent_message(const struct byoc_agent_msg *m);
/* conversation.ended: by "bot", "inactivity", "failure" or "agent". */
char *ev_data_ended(const char *by, const char *reason);
/* conversation.escalation_ended, conversation.released */
char *ev_data_studio(const char *contact_id, const char *reason);
/* message.delivered (reason NULL) and message.failed */
char *ev_data_message(const char *message_id, const char *client_message_id, int64_t attempts,
                      const char *reason);

#endif
