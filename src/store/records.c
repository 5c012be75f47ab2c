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

/* Index of name in names, or -1. */
static int name_lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++) {
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    }
    return -1;
}

static const char *const conv_state_names[] = {"queued", "escalated", "agent_joined", "bot",
                                               "ended"};
static const char *const out_kind_names[] = {"text", "typing", "close", "routing"};
static const char *const out_state_names[] = {"queued", "sending", "delivered", "failed"};

const char *byoc_conv_state_name(enum byoc_conv_state s)
{
    return (unsigned)s < BYOC_ARRAY_LEN(conv_state_names) ? conv_state_names[s] : "unknown";
}

bool byoc_conv_state_parse(const char *name, enum byoc_conv_state *out)
{
    int i = name_lookup(conv_state_names, BYOC_ARRAY_LEN(conv_state_names), name);
    if (i >= 0)
        *out = (enum byoc_conv_state)i;
    return i >= 0;
}

const char *byoc_out_kind_name(enum byoc_out_kind k)
{
    return (unsigned)k < BYOC_ARRAY_LEN(out_kind_names) ? out_kind_names[k] : "unknown";
}

bool byoc_out_kind_parse(const char *name, enum byoc_out_kind *out)
{
    int i = name_lookup(out_kind_names, BYOC_ARRAY_LEN(out_kind_names), name);
    if (i >= 0)
        *out = (enum byoc_out_kind)i;
    return i >= 0;
}

const char *byoc_out_state_name(enum byoc_out_state s)
{
    return (unsigned)s < BYOC_ARRAY_LEN(out_state_names) ? out_state_names[s] : "unknown";
}

bool byoc_out_state_parse(const char *name, enum byoc_out_state *out)
{
    int i = name_lookup(out_state_names, BYOC_ARRAY_LEN(out_state_names), name);
    if (i >= 0)
        *out = (enum byoc_out_state)i;
    return i >= 0;
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

/* ---- events and deliveries ---- */

static const char *const event_type_names[] = {
#define EVENT_NAME(e, name) name,
    BYOC_EVENT_TYPES(EVENT_NAME)
#undef EVENT_NAME
};
static const char *const delivery_state_names[] = {"pending", "sending", "delivered", "dead"};
static const char *const studio_event_names[] = {"ESCALATE", "END_ESCALATION", "ONRELEASE"};

const char *byoc_event_type_name(enum byoc_event_type t)
{
    return (unsigned)t < BYOC_EVENT__COUNT ? event_type_names[t] : "unknown";
}

bool byoc_event_type_parse(const char *name, enum byoc_event_type *out)
{
    int i = name_lookup(event_type_names, BYOC_EVENT__COUNT, name);
    if (i >= 0)
        *out = (enum byoc_event_type)i;
    return i >= 0;
}

const char *byoc_delivery_state_name(enum byoc_delivery_state s)
{
    return (unsigned)s < BYOC_ARRAY_LEN(delivery_state_names) ? delivery_state_names[s] : "unknown";
}

bool byoc_delivery_state_parse(const char *name, enum byoc_delivery_state *out)
{
    int i = name_lookup(delivery_state_names, BYOC_ARRAY_LEN(delivery_state_names), name);
    if (i >= 0)
        *out = (enum byoc_delivery_state)i;
    return i >= 0;
}

const char *byoc_studio_event_name(enum byoc_studio_event e)
{
    return (unsigned)e < BYOC_ARRAY_LEN(studio_event_names) ? studio_event_names[e] : "unknown";
}

void byoc_event_release(struct byoc_event *e)
{
    if (!e)
        return;
    free(e->type);
    free(e->data_json);
    *e = (struct byoc_event){0};
}

void byoc_event_list_free(struct byoc_event *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        byoc_event_release(&e[i]);
    free(e);
}

void byoc_webhook_release(struct byoc_webhook *w)
{
    if (!w)
        return;
    free(w->url);
    free(w->events_json);
    free(w->disabled_reason);
    byoc_blob_release(&w->secret_sealed);
    byoc_blob_release(&w->old_secret_sealed);
    *w = (struct byoc_webhook){0};
}

void byoc_webhook_list_free(struct byoc_webhook *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        byoc_webhook_release(&w[i]);
    free(w);
}

void byoc_delivery_release(struct byoc_delivery *d)
{
    if (!d)
        return;
    byoc_event_release(&d->event);
    free(d->last_error);
    *d = (struct byoc_delivery){0};
}

void byoc_delivery_list_free(struct byoc_delivery *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        byoc_delivery_release(&d[i]);
    free(d);
}

void byoc_delivery_job_release(struct byoc_delivery_job *j)
{
    if (!j)
        return;
    byoc_delivery_release(&j->d);
    free(j->url);
    byoc_blob_release(&j->secret_sealed);
    byoc_blob_release(&j->old_secret_sealed);
    *j = (struct byoc_delivery_job){0};
}

void byoc_delivery_jobs_free(struct byoc_delivery_job *j, size_t n)
{
    for (size_t i = 0; j && i < n; i++)
        byoc_delivery_job_release(&j[i]);
    free(j);
}

void byoc_studio_call_release(struct byoc_studio_call *c)
{
    if (!c)
        return;
    free(c->event);
    free(c->contact_id);
    free(c->thread_id);
    free(c->conversation_id);
    *c = (struct byoc_studio_call){0};
}

void byoc_studio_call_list_free(struct byoc_studio_call *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        byoc_studio_call_release(&c[i]);
    free(c);
}
