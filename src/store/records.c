/* Release functions of the store's record types (backend-neutral). */
#include <stdlib.h>
#include <string.h>

#include "byoc/store.h"
#include "byoc/banned.h"

void byoc_blob_release(struct byoc_blob *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

void byoc_provider_release(struct byoc_provider *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->webhook_url);
    free(p->cxone_auth_url);
    free(p->cxone_api_base_url);
    free(p->cxone_client_id);
    free(p->cxone_access_key_id);
    free(p->cxone_integration_id);
    byoc_blob_release(&p->cxone_client_secret_sealed);
    byoc_blob_release(&p->cxone_access_key_secret_sealed);
    byoc_blob_release(&p->webhook_secret_sealed);
    free(p->byoc_client_id);
    *p = (struct byoc_provider){0};
}

void byoc_provider_list_free(struct byoc_provider *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        byoc_provider_release(&p[i]);
    free(p);
}

void byoc_channel_release(struct byoc_channel *c)
{
    if (!c)
        return;
    free(c->channel_id);
    free(c->name);
    free(c->brand_id);
    free(c->skill_id);
    *c = (struct byoc_channel){0};
}

void byoc_channel_list_free(struct byoc_channel *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        byoc_channel_release(&c[i]);
    free(c);
}

void byoc_agent_msg_release(struct byoc_agent_msg *m)
{
    if (!m)
        return;
    free(m->dedupe_key);
    free(m->cxone_message_id);
    free(m->channel_id);
    free(m->thread_ref);
    free(m->post_id);
    free(m->conversation_id);
    free(m->text);
    free(m->attachments_json);
    free(m->agent_name);
    free(m->agent_avatar_url);
    free(m->raw_body);
    *m = (struct byoc_agent_msg){0};
}

void byoc_agent_msg_list_free(struct byoc_agent_msg *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        byoc_agent_msg_release(&m[i]);
    free(m);
}

void byoc_action_session_release(struct byoc_action_session *a)
{
    if (!a)
        return;
    free(a->action);
    free(a->brand_id);
    free(a->user_id);
    free(a->channel_id);
    free(a->back_url);
    byoc_blob_release(&a->access_token_sealed);
    *a = (struct byoc_action_session){0};
}

static const char *const conv_state_names[] = {"queued", "escalated", "agent_joined", "ended"};
static const char *const out_kind_names[] = {"text", "typing", "close", "routing"};
static const char *const out_state_names[] = {"queued", "sending", "delivered", "failed"};

const char *byoc_conv_state_name(enum byoc_conv_state s)
{
    return (unsigned)s < 4 ? conv_state_names[s] : "unknown";
}

bool byoc_conv_state_parse(const char *name, enum byoc_conv_state *out)
{
    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(name, conv_state_names[i]) == 0) {
            *out = (enum byoc_conv_state)i;
            return true;
        }
    }
    return false;
}

const char *byoc_out_kind_name(enum byoc_out_kind k)
{
    return (unsigned)k < 4 ? out_kind_names[k] : "unknown";
}

const char *byoc_out_state_name(enum byoc_out_state s)
{
    return (unsigned)s < 4 ? out_state_names[s] : "unknown";
}

void byoc_conversation_release(struct byoc_conversation *c)
{
    if (!c)
        return;
    char **strs[] = {&c->channel_id,       &c->thread_id,        &c->end_user_id,
                     &c->end_user_json,    &c->reason,           &c->skill_id,
                     &c->cxone_contact_id, &c->cxone_case_id,    &c->cxone_interaction_id,
                     &c->agent_name,       &c->agent_avatar_url, &c->ended_by,
                     &c->ended_reason};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    *c = (struct byoc_conversation){0};
}

void byoc_conversation_list_free(struct byoc_conversation *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        byoc_conversation_release(&c[i]);
    free(c);
}

void byoc_outbound_release(struct byoc_outbound *m)
{
    if (!m)
        return;
    free(m->client_message_id);
    free(m->payload);
    free(m->last_error);
    *m = (struct byoc_outbound){0};
}

void byoc_outbound_list_free(struct byoc_outbound *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        byoc_outbound_release(&m[i]);
    free(m);
}

void byoc_voice_transcript_release(struct byoc_voice_transcript *v)
{
    if (!v)
        return;
    free(v->contact_id);
    free(v->transcript_json);
    *v = (struct byoc_voice_transcript){0};
}

void byoc_relay_job_free(struct byoc_relay_job *j)
{
    if (!j)
        return;
    byoc_outbound_release(&j->msg);
    byoc_conversation_release(&j->conv);
    free(j);
}
