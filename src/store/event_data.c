#include "store/event-data.h"

#include <string.h>
#include <cjson/cJSON.h>

#include "byoc/json.h"
#include "byoc/banned.h"

static bool add_opt(cJSON *o, const char *key, const char *value)
{
    return !value || byoc_json_add_str(o, key, value);
}

/* Renders o and deletes it; NULL when building it failed (ok false) or on NOMEM. */
static char *finish(cJSON *o, bool ok)
{
    char *text = ok && o ? byoc_json_render(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static bool add_agent(cJSON *o, const char *name, const char *avatar_url)
{
    cJSON *a = cJSON_AddObjectToObject(o, "agent");
    return a && add_opt(a, "name", name) && add_opt(a, "avatar_url", avatar_url);
}

char *ev_data_escalated(const struct ev_escalation *e)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && add_opt(o, "source", e->source) && add_opt(o, "contact_id", e->contact_id) &&
              add_opt(o, "case_id", e->case_id) &&
              add_opt(o, "interaction_id", e->interaction_id) && add_opt(o, "skill", e->skill) &&
              add_opt(o, "reason", e->reason);
    if (ok && (e->agent_name || e->agent_avatar))
        ok = add_agent(o, e->agent_name, e->agent_avatar);
    return finish(o, ok);
}

char *ev_data_agent_joined(const char *name, const char *avatar_url)
{
    cJSON *o = cJSON_CreateObject();
    return finish(o, o && add_agent(o, name, avatar_url));
}

char *ev_data_agent_message(const struct byoc_agent_msg *m)
{
    cJSON *o = cJSON_CreateObject(), *att = NULL;
    const char *list = m->attachments_json ? m->attachments_json : "[]";
    if (byoc_json_parse(list, strlen(list), &att) != BYOC_ERR_OK || !cJSON_IsArray(att)) {
        cJSON_Delete(att);
        att = cJSON_CreateArray();
    }
    bool ok =
        o && att && byoc_json_add_str(o, "message_id", m->id) &&
        add_opt(o, "cxone_message_id", m->cxone_message_id) &&
        byoc_json_add_str(o, "kind", m->kind == BYOC_AGENT_MSG_OUTBOUND ? "outbound" : "reply") &&
        add_opt(o, "text", m->text);
    if (ok && cJSON_AddItemToObject(o, "attachments", att))
        att = NULL; /* o owns it now */
    else
        ok = false;
    cJSON_Delete(att);
    return finish(o, ok && add_agent(o, m->agent_name, m->agent_avatar_url));
}

char *ev_data_ended(const char *by, const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    return finish(o, o && byoc_json_add_str(o, "by", by) && add_opt(o, "reason", reason));
}

char *ev_data_studio(const char *contact_id, const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    return finish(o, o && add_opt(o, "contact_id", contact_id) && add_opt(o, "reason", reason));
}

char *ev_data_message(const char *message_id, const char *client_message_id, int64_t attempts,
                      const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && byoc_json_add_str(o, "message_id", message_id) &&
              add_opt(o, "client_message_id", client_message_id) &&
              cJSON_AddNumberToObject(o, "attempts", (double)attempts) &&
              add_opt(o, "reason", reason);
    return finish(o, ok);
}
