/* byocd sandbox: see include/byoc/sandbox.h. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/cli.h"
#include "byoc/cxsim.h"
#include "byoc/demobot.h"
#include "byoc/provider.h"
#include "byoc/sandbox.h"
#include "byoc/util.h"
#include "byoc/banned.h"

#define SANDBOX_HOST "127.0.0.1"
#define SANDBOX_CHANNEL "chat_sandbox"
#define SANDBOX_SKILL "sandbox-skill"
#define SANDBOX_INTEGRATION "sandbox-integration"
/* CXone credentials the simulator accepts from byocd: a sandbox has nothing to protect, but they
 * travel the same way real ones do. */
#define SANDBOX_CX_CLIENT_ID "sandbox-cxone-client"
#define SANDBOX_CX_CLIENT_SECRET "sandbox-cxone-secret"
#define SANDBOX_CX_KEY_ID "sandbox-access-key"
#define SANDBOX_CX_KEY_SECRET "sandbox-access-key-secret"
#define SANDBOX_URL_MAX 256

struct byoc_sandbox {
    struct byoc_cxsim *sim;
    struct byoc_demobot *bot;
    char dir[PATH_MAX];   /* the temporary directory; "" when none */
    char *old_public_url; /* replaced while byocd served (port 0): freed at stop */
};

static bool replace_str(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return false;
    free(*slot);
    *slot = copy;
    return true;
}

/* A new private directory for the database and its key. */
static enum byoc_err make_dir(struct byoc_sandbox *s, char *why, size_t why_cap)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(s->dir, sizeof s->dir, "%s/byocd-sandbox-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof s->dir || !mkdtemp(s->dir)) {
        snprintf(why, why_cap, "cannot create a temporary directory under %s",
                 tmp && *tmp ? tmp : "/tmp");
        s->dir[0] = '\0';
        return BYOC_ERR_IO;
    }
    return BYOC_ERR_OK;
}

static enum byoc_err rewrite_config(struct byoc_sandbox *s, const struct byoc_sandbox_options *o,
                                    struct byoc_config *cfg)
{
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/byocd.db", s->dir);
    if (!replace_str(&cfg->database, db) || !replace_str(&cfg->master_key, NULL))
        return BYOC_ERR_NOMEM;
    cfg->webhook_allow_private = 1; /* the demo bot listens on loopback */
    /* Loopback only, whatever BYOCD_LISTEN says: the sandbox prints an admin token and lets
     * webhooks reach private addresses. */
    if (!replace_str(&cfg->listen_host, SANDBOX_HOST))
        return BYOC_ERR_NOMEM;
    if (o->port >= 0)
        cfg->listen_port = o->port;
    /* What byocd logs as its public URL until byoc_sandbox_connect knows a free port's number. */
    char url[SANDBOX_URL_MAX];
    snprintf(url, sizeof url, "http://%s:%d", SANDBOX_HOST, (int)cfg->listen_port);
    return replace_str(&cfg->public_url, url) ? BYOC_ERR_OK : BYOC_ERR_NOMEM;
}

enum byoc_err byoc_sandbox_start(const struct byoc_sandbox_options *o, struct byoc_config *cfg,
                                 struct byoc_sandbox **out, char *why, size_t why_cap)
{
    struct byoc_sandbox *s = calloc(1, sizeof *s);
    if (!s)
        return BYOC_ERR_NOMEM;
    struct byoc_cxsim_config sc = {.host = SANDBOX_HOST, .port = o->cxone_port};
    struct byoc_demobot_config bc = {.host = SANDBOX_HOST, .port = o->bot_port};
    enum byoc_err e = byoc_cxsim_start(&sc, &s->sim, why, why_cap);
    if (!e)
        e = byoc_demobot_start(&bc, &s->bot, why, why_cap);
    if (!e)
        e = make_dir(s, why, why_cap);
    if (!e)
        e = rewrite_config(s, o, cfg);
    if (e) {
        byoc_sandbox_stop(s);
        return e;
    }
    byoc_cxsim_set_credentials(s->sim, SANDBOX_CX_CLIENT_ID, SANDBOX_CX_CLIENT_SECRET,
                               SANDBOX_CX_KEY_ID, SANDBOX_CX_KEY_SECRET);
    byoc_cxsim_add_channel(s->sim, SANDBOX_CHANNEL, "Sandbox chat", SANDBOX_INTEGRATION);
    byoc_cxsim_set_skill(s->sim, SANDBOX_SKILL, 1, 1, 0);
    *out = s;
    return BYOC_ERR_OK;
}

/* The provider byocd serves the demo bot as, pointing at the simulator. */
static enum byoc_err create_provider(struct byoc_sandbox *s, struct byoc_app *app,
                                     struct byoc_provider *p, struct byoc_provider_secrets *sec)
{
    char webhook[SANDBOX_URL_MAX], auth[SANDBOX_URL_MAX];
    snprintf(webhook, sizeof webhook, "http://%s:%d/webhooks/byocd", SANDBOX_HOST,
             byoc_demobot_port(s->bot));
    snprintf(auth, sizeof auth, "%s/auth/token", byoc_cxsim_url(s->sim));
    const struct byoc_provider_input in = {
        .name = "Sandbox demo bot",
        .webhook_url = webhook,
        .auth_url = auth,
        .api_base_url = byoc_cxsim_url(s->sim),
        .client_id = SANDBOX_CX_CLIENT_ID,
        .client_secret = SANDBOX_CX_CLIENT_SECRET,
        .access_key_id = SANDBOX_CX_KEY_ID,
        .access_key_secret = SANDBOX_CX_KEY_SECRET,
        .integration_id = SANDBOX_INTEGRATION,
        .transcript_chunk_max = -1,
        .inactivity_timeout_s = -1,
    };
    enum byoc_err e = byoc_provider_build(&app->keys, &in, byoc_now_ms(), p, sec);
    if (e)
        return e;
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = p};
    e = byoc_store_write(app->store, &w);
    if (e)
        return e;
    struct byoc_channel ch = {.source = BYOC_CHANNEL_ADMIN,
                              .channel_id = (char *)SANDBOX_CHANNEL, /* borrowed: copied */
                              .name = (char *)"Sandbox chat",
                              .skill_id = (char *)SANDBOX_SKILL};
    byoc_strlcpy(ch.provider_id, p->id, sizeof ch.provider_id);
    ch.created_at = ch.updated_at = byoc_now_ms();
    struct byoc_write cw = {.kind = BYOC_WRITE_CHANNEL_UPSERT};
    cw.in.channel_upsert.channel = &ch;
    return byoc_store_write(app->store, &cw);
}

static void print_urls(struct byoc_sandbox *s, const struct byoc_config *cfg,
                       const struct byoc_provider *p, const struct byoc_provider_secrets *sec,
                       FILE *out)
{
    fprintf(out,
            "\nbyocd sandbox: byocd, a CXone simulator and a demo bot on this machine.\n\n"
            "  Customer chat (demo bot)    http://%s:%d/\n"
            "  Agent console (CXone sim)   %s/console\n"
            "  byocd                       %s\n\n"
            "Open the customer chat and type \"agent\": the handover appears in the agent "
            "console.\nReply there; press ONRELEASE to give the customer back to the bot.\n\n",
            SANDBOX_HOST, byoc_demobot_port(s->bot), byoc_cxsim_url(s->sim), cfg->public_url);
    fprintf(out,
            "To call byocd yourself (README.md, \"Bot API\"):\n"
            "  provider        %s\n  bot API key     %s\n  Studio secret   %s\n"
            "  webhook secret  %s\n  database        %s (removed on exit)\n",
            p->id, sec->bot_api_key, sec->studio_secret, sec->webhook_secret, cfg->database);
    fflush(out);
}

/* Tells the simulator and the bot where byocd is and how to prove who they are. */
static enum byoc_err wire(struct byoc_sandbox *s, const struct byoc_config *cfg,
                          const struct byoc_provider *p, const struct byoc_provider_secrets *sec)
{
    struct byoc_provider_urls urls;
    byoc_provider_urls(cfg->public_url, p->id, &urls);
    char studio[SANDBOX_URL_MAX + BYOC_ID_MAX];
    snprintf(studio, sizeof studio, "%s/cxone/%s/studio/events", cfg->public_url, p->id);
    struct byoc_cxsim_byocd target = {.box_url = urls.box,
                                      .token_url = urls.token,
                                      .client_id = p->byoc_client_id,
                                      .client_secret = sec->byoc_client_secret,
                                      .studio_url = studio,
                                      .studio_secret = sec->studio_secret};
    byoc_cxsim_set_byocd(s->sim, &target);
    struct byoc_demobot_byocd bot = {.url = cfg->public_url,
                                     .bot_api_key = sec->bot_api_key,
                                     .webhook_secret = sec->webhook_secret,
                                     .channel_id = SANDBOX_CHANNEL};
    return byoc_demobot_set_byocd(s->bot, &bot);
}

enum byoc_err byoc_sandbox_connect(struct byoc_sandbox *s, struct byoc_app *app,
                                   struct byoc_config *cfg, int byocd_port, FILE *out, char *why,
                                   size_t why_cap)
{
    char url[SANDBOX_URL_MAX];
    snprintf(url, sizeof url, "http://%s:%d", SANDBOX_HOST, byocd_port);
    char *now = strdup(url);
    if (!now)
        return BYOC_ERR_NOMEM;
    /* byocd already serves and its handlers may read the old string: it lives until stop. */
    free(s->old_public_url);
    s->old_public_url = cfg->public_url;
    cfg->public_url = now;
    struct byoc_provider p;
    struct byoc_provider_secrets sec;
    memset(&p, 0, sizeof p);
    enum byoc_err e = create_provider(s, app, &p, &sec);
    if (!e)
        e = wire(s, cfg, &p, &sec);
    if (!e)
        print_urls(s, cfg, &p, &sec, out);
    else
        snprintf(why, why_cap, "cannot set up the sandbox provider: %s", byoc_strerror(e));
    byoc_provider_release(&p);
    byoc_provider_secrets_wipe(&sec);
    return e;
}

/* Removes the files byocd made in the sandbox's own directory, then the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    for (;;) {
        struct dirent *ent = d ? readdir(d) : NULL;
        if (!ent)
            break;
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

void byoc_sandbox_quiesce(struct byoc_sandbox *s)
{
    if (s)
        byoc_cxsim_quiesce(s->sim);
}

void byoc_sandbox_stop(struct byoc_sandbox *s)
{
    if (!s)
        return;
    byoc_demobot_stop(s->bot);
    byoc_cxsim_stop(s->sim);
    if (s->dir[0])
        remove_dir(s->dir);
    free(s->old_public_url);
    free(s);
}
