/* byocd provider create|list|show|delete|rotate-secret */
#include <stdlib.h>
#include <string.h>

#include "byoc/cli.h"
#include "byoc/crypto.h"
#include "byoc/cxone.h"
#include "byoc/json.h"
#include "byoc/outbound.h"
#include "byoc/provider.h"
#include "byoc/util.h"
#include "cli/cli-internal.h"
#include "byoc/banned.h"

#define JSON_FILE_MAX (64 * 1024)
#define WHY_MAX 512

void byoc_cli_print_provider(FILE *out, const struct byoc_config *cfg,
                             const struct byoc_provider *p, const char *client_secret)
{
    struct byoc_provider_urls u;
    byoc_provider_urls(cfg->public_url, p->id, &u);
    fprintf(out,
            "\nPaste into CXone (ACD > Digital > Bring Your Own Channel) for \"%s\" (%s):\n"
            "  Integration box URL   %s\n  Authorization URL     %s\n  Add action URL        %s\n"
            "  Reconnect action URL  %s\n  Remove action URL     %s\n  Client ID             %s\n"
            "  Client Secret         %s\n",
            p->name, p->id, u.box, u.token, u.add, u.reconnect, u.remove, p->byoc_client_id,
            client_secret ? client_secret
                          : "(shown once; `byocd provider rotate-secret` makes a new one)");
}

void byoc_cli_print_secrets(FILE *out, const struct byoc_provider_secrets *s)
{
    fprintf(out,
            "  Bot API key           %s\n  Webhook secret        %s\n  Studio secret         %s\n"
            "  These secrets are shown once; byocd keeps only hashes or sealed copies.\n",
            s->bot_api_key, s->webhook_secret, s->studio_secret);
}

/* The whole file (or stdin for "-"), NUL-terminated, at most JSON_FILE_MAX bytes. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(JSON_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, JSON_FILE_MAX + 1, f) : 0;
    bool whole = buf && n <= JSON_FILE_MAX && !ferror(f);
    if (f != stdin)
        fclose(f);
    if (!whole) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int create(struct cli *c)
{
    bool bad = false;
    const char *path = cli_flag(c, "--json", &bad);
    if (!path || bad) {
        fprintf(stderr, "byocd provider create: --json FILE is required (the body of POST "
                        "/admin/v1/providers; - reads stdin)\n");
        return CLI_USAGE;
    }
    size_t len = 0;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "byocd provider create: cannot read %s (or it is over %d bytes)\n", path,
                JSON_FILE_MAX);
        return CLI_USAGE;
    }
    cJSON *body = NULL;
    enum byoc_err e = byoc_json_parse(text, len, &body);
    byoc_wipe(text, len); /* it holds CXone secrets */
    free(text);
    if (e || !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        fprintf(stderr, "byocd provider create: %s is not a JSON object\n", path);
        return CLI_USAGE;
    }
    struct byoc_provider_input in;
    byoc_provider_input_from_json(body, &in);
    char why[WHY_MAX] = "", reason[WHY_MAX] = "", *discovered = NULL;
    e = byoc_provider_input_check(&in, why, sizeof why);
    if (!e && byoc_out_url_check(in.webhook_url, c->cfg->webhook_allow_private != 0, reason,
                                 sizeof reason)) {
        snprintf(why, sizeof why, "webhook_url: %s", reason);
        e = BYOC_ERR_INVALID;
    }
    if (!e && !in.api_base_url) { /* only a tenant: ask CXone where its API lives */
        char detail[BYOC_CXONE_DETAIL_MAX] = "";
        e = byoc_cxone_discover(in.auth_url, in.tenant_id, &discovered, detail);
        if (e)
            snprintf(why, sizeof why, "cxone.tenant_id: the API host could not be discovered%s%s",
                     detail[0] ? ": " : "", detail);
        in.api_base_url = discovered;
    }
    struct byoc_provider p = {0};
    struct byoc_provider_secrets s = {0};
    if (!e)
        e = byoc_provider_build(&c->keys, &in, byoc_now_ms(), &p, &s);
    if (!e) {
        struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = &p};
        e = byoc_store_write(c->store, &w);
    }
    int rc = CLI_OK;
    if (e && why[0]) {
        fprintf(stderr, "byocd provider create: %s\n", why);
        rc = e == BYOC_ERR_INVALID ? CLI_USAGE : CLI_FAILED;
    } else if (e) {
        rc = cli_fail(e, "provider create");
    } else {
        printf("created provider %s\n", p.id);
        byoc_cli_print_provider(stdout, c->cfg, &p, s.byoc_client_secret);
        byoc_cli_print_secrets(stdout, &s);
    }
    byoc_provider_release(&p);
    byoc_provider_secrets_wipe(&s);
    free(discovered);
    cJSON_Delete(body);
    return rc;
}

static int list(struct cli *c)
{
    struct byoc_provider *ps = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_provider_list(c->store, &ps, &n);
    if (e)
        return cli_fail(e, "provider list");
    printf("%-28s %-28s %s\n", "ID", "CLIENT ID", "NAME");
    for (size_t i = 0; i < n; i++)
        printf("%-28s %-28s %s\n", ps[i].id, ps[i].byoc_client_id, ps[i].name);
    if (n == 0)
        printf("(no provider: byocd provider create --json FILE)\n");
    byoc_provider_list_free(ps, n);
    return CLI_OK;
}

static int show(struct cli *c, const char *id)
{
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(c->store, id, &p);
    if (e)
        return cli_fail(e, id);
    struct byoc_channel *chs = NULL;
    size_t n = 0;
    e = byoc_store_channel_list(c->store, id, &chs, &n);
    char created[32];
    cli_time(p.created_at, created);
    printf("provider %s \"%s\", created %s\n  webhook URL           %s\n"
           "  CXone token URL       %s\n  CXone API             %s\n  CXone integration id  %s\n",
           p.id, p.name, created, p.webhook_url, p.cxone_auth_url, p.cxone_api_base_url,
           p.cxone_integration_id ? p.cxone_integration_id : "(not known yet)");
    byoc_cli_print_provider(stdout, c->cfg, &p, NULL);
    printf("\nChannels: %zu\n", e ? 0 : n);
    for (size_t i = 0; !e && i < n; i++)
        printf("  %-30s %s\n", chs[i].channel_id, chs[i].name);
    byoc_channel_list_free(chs, n);
    byoc_provider_release(&p);
    return e ? cli_fail(e, "channel list") : CLI_OK;
}

static int delete_provider(struct cli *c, const char *id)
{
    if (!cli_has(c, "--yes")) {
        fprintf(stderr,
                "byocd provider delete: this removes %s with its channels, conversations, "
                "events and webhooks; repeat with --yes\n",
                id);
        return CLI_USAGE;
    }
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_DELETE, .in.provider_id = id};
    enum byoc_err e = byoc_store_write(c->store, &w);
    if (e)
        return cli_fail(e, id);
    printf("deleted provider %s; also remove its channels in CXone (the Remove action)\n", id);
    return CLI_OK;
}

static int rotate(struct cli *c, const char *id)
{
    static const struct {
        const char *name, *label;
        enum byoc_provider_secret which;
    } kinds[] = {{"byoc", "Client Secret (CXone's BYOC form)", BYOC_SECRET_BYOC_CLIENT},
                 {"bot", "Bot API key", BYOC_SECRET_BOT_API_KEY},
                 {"studio", "Studio secret", BYOC_SECRET_STUDIO}};
    bool bad = false;
    const char *which = cli_flag(c, "--secret", &bad);
    size_t k = 0;
    while (which && k < BYOC_ARRAY_LEN(kinds) && strcmp(kinds[k].name, which) != 0)
        k++;
    if (bad || k == BYOC_ARRAY_LEN(kinds)) {
        fprintf(stderr, "byocd provider rotate-secret: --secret is byoc, bot or studio\n");
        return CLI_USAGE;
    }
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(c->store, id, &p);
    if (e)
        return cli_fail(e, id);
    char secret[BYOC_PROVIDER_SECRET_MAX];
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_ROTATE};
    w.in.rotate.provider_id = id;
    w.in.rotate.which = kinds[k].which;
    w.in.rotate.now = byoc_now_ms();
    e = byoc_provider_secret_new(kinds[k].which, secret, w.in.rotate.hash);
    if (!e)
        e = byoc_store_write(c->store, &w);
    int rc = CLI_OK;
    if (e) {
        rc = cli_fail(e, "rotate-secret");
    } else if (kinds[k].which == BYOC_SECRET_BYOC_CLIENT) {
        printf("new client secret for %s; CXone gets 401 at the token URL until you paste it:\n",
               id);
        byoc_cli_print_provider(stdout, c->cfg, &p, secret);
    } else {
        printf("new %s for %s (shown once; the old one no longer works):\n  %s\n", kinds[k].label,
               id, secret);
    }
    byoc_wipe(secret, sizeof secret);
    byoc_wipe(&w, sizeof w);
    byoc_provider_release(&p);
    return rc;
}

int cli_provider(struct cli *c, const char *verb)
{
    const char *id = cli_arg(c, 0);
    if (strcmp(verb, "create") == 0)
        return create(c);
    if (strcmp(verb, "list") == 0)
        return list(c);
    bool needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 ||
                    strcmp(verb, "rotate-secret") == 0;
    if (needs_id && !id) {
        fprintf(stderr, "byocd provider %s: which provider? (an id from byocd provider list)\n",
                verb);
        return CLI_USAGE;
    }
    if (strcmp(verb, "show") == 0)
        return show(c, id);
    if (strcmp(verb, "delete") == 0)
        return delete_provider(c, id);
    if (strcmp(verb, "rotate-secret") == 0)
        return rotate(c, id);
    fprintf(stderr,
            "byocd provider: unknown action %s (create, list, show, delete, "
            "rotate-secret)\n",
            verb);
    return CLI_USAGE;
}
