/* Shared by the CXone simulator's files (cxsim.c: the CXone API; cxsim_console.c: the agent
 * console and the calls to byocd). Everything here runs with byoc_cxsim.mu held unless said. */
#ifndef BYOC_CXSIM_INTERNAL_H
#define BYOC_CXSIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "byoc/cxsim.h"
#include "byoc/http.h"

#define FC_ID_MAX 256 /* longest channel id taken from a path */

struct fc_ott {
    char *token;
    long brand_id;
    long user_id;
    bool used;
};

struct fc_fail {
    char *prefix;
    int status;
    int count;
    int retry_after_s;
};

/* A request held back by the delay setting until due_ms (monotonic). */
struct fc_parked {
    int64_t due_ms;
    struct byoc_req *req;
};

/* One agent action waiting to reach byocd (cxsim_console.c). */
struct fc_job;

struct byoc_cxsim {
    struct byoc_http *http;
    int port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the waker and the worker sleep on it; broadcast on stop */
    bool stopping;
    pthread_t waker;  /* resumes delayed answers */
    pthread_t worker; /* performs agent actions against byocd, one at a time, in order */
    bool waker_started, worker_started;
    struct fc_parked *parked;
    size_t n_parked, cap_parked;
    char *client_id;
    char *client_secret;
    char *key_id;
    char *key_secret;
    struct fc_ott *otts;
    size_t n_otts, cap_otts;
    struct fc_fail *fails;
    size_t n_fails, cap_fails;
    char **tokens; /* issued access tokens (cx-at-*, ott-at-*) */
    size_t n_tokens, cap_tokens;
    struct byoc_cxsim_call *calls;
    size_t n_calls, cap_calls;
    bool record;     /* keep every CXone API call (tests); the sandbox keeps none */
    cJSON *channels; /* array of channel objects */
    cJSON *contacts; /* object: "<channel>\x1f<thread>" -> contact number */
    cJSON *seen;     /* object: idOnExternalPlatform of accepted messages -> 1 */
    cJSON *skills;   /* object: skill id -> skill summary object */
    cJSON *files; /* object: name -> content served at GET /files/{name} (a bot's private host) */
    unsigned long n_uploads;
    unsigned long n_messages;
    unsigned long n_grants;
    unsigned long n_ott_grants;
    unsigned long n_contacts;
    int delay_ms;
    /* agent console (cxsim_console.c) */
    cJSON *console; /* array of contact records, oldest first */
    struct fc_job *jobs_head, *jobs_tail;
    size_t n_jobs;
    unsigned long n_agent_messages;
    struct byoc_cxsim_byocd *target; /* where byocd is; NULL until set */
    char *byocd_token;               /* bearer from byocd's token endpoint, fetched lazily */
};

/* What a CXone API request carries, gathered once. */
struct fc_in {
    const char *method;
    const char *path;
    const char *query;
    const char *authorization;
    const char *content_type;
    const char *body;
    size_t len;
};

/* What the simulator answers. */
struct fc_reply {
    int status;
    char *body;               /* malloc'd text, or NULL for an empty body */
    const char *content_type; /* NULL: application/json */
    int retry_after_s;
    const char *www_authenticate;
    bool no_store;
};

/* cxsim.c helpers (abort on out-of-memory: see cxsim.c) */
void *cxsim_xrealloc(void *p, size_t n);
char *cxsim_xstrdup(const char *s);
void *cxsim_grow(void *arr, size_t n, size_t *cap, size_t elem);
void cxsim_reply_json(struct fc_reply *r, int status, cJSON *json);
void cxsim_reply_errors(struct fc_reply *r, int status, const char *message, const char *code);
/* Sends r on req (takes r->body). */
void cxsim_send(struct byoc_req *req, struct fc_reply *r);

/* cxsim_console.c: what byocd's DFO calls change in the console's view. */
void cxsim_console_inbound(struct byoc_cxsim *f, unsigned long contact, const char *channel,
                           const cJSON *msg);
void cxsim_console_typing(struct byoc_cxsim *f, const char *channel, const char *thread, bool on);
void cxsim_console_closed(struct byoc_cxsim *f, const char *channel, const char *thread);
/* NULL when the contact is unknown; the record (a cJSON object) stays owned by f->console. */
cJSON *cxsim_console_contact(struct byoc_cxsim *f, unsigned long contact);
void cxsim_console_custom_fields(struct byoc_cxsim *f, unsigned long contact, const cJSON *fields);
/* The console's handlers (byoc_req_app gives f); cxsim.c puts them in its route table. */
void cxsim_h_root(struct byoc_req *req); /* a person opening the simulator's address */
void cxsim_h_console_page(struct byoc_req *req);
void cxsim_h_avatar(struct byoc_req *req);
void cxsim_h_contacts(struct byoc_req *req);
void cxsim_h_agent_message(struct byoc_req *req);
void cxsim_h_studio_event(struct byoc_req *req);
void cxsim_h_misbehave(struct byoc_req *req);
/* Starts/stops the worker thread; stop after f->stopping is set and broadcast. */
bool cxsim_console_start(struct byoc_cxsim *f);
void cxsim_console_release(struct byoc_cxsim *f);

#endif
