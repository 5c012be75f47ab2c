/* byocd doctor [PROVIDER]: one line per check, PASS / WARN / FAIL, and for each problem the fix.
 * The seed products' "test connection" button and troubleshooting list, as a command. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byoc/crypto.h"
#include "byoc/cxone.h"
#include "byoc/json.h"
#include "byoc/netaddr.h"
#include "byoc/outbound.h"
#include "byoc/provider.h"
#include "byoc/util.h"
#include "byoc/webhook.h"
#include "cli/cli-internal.h"
#include "byoc/banned.h"

#define LINE_MAX_CHARS 600
#define PING_TIMEOUT_MS 10000
#define SERVER_TIMEOUT_MS 3000

enum verdict { PASS, WARN, FAIL };

struct doctor {
    struct cli *c;
    int failed, warned;
};

BYOC_PRINTF(5, 6)
static void report(struct doctor *d, enum verdict v, const char *what, const char *fix,
                   const char *fmt, ...)
{
    static const char *const names[] = {"PASS", "WARN", "FAIL"};
    char line[LINE_MAX_CHARS];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%s  %-20s %s\n", names[v], what, line);
    if (fix && v != PASS)
        printf("      fix: %s\n", fix);
    d->failed += v == FAIL;
    d->warned += v == WARN;
}

static void check_config(struct doctor *d)
{
    const struct byoc_config *cfg = d->c->cfg;
    printf("byocd %s, configuration and state\n", BYOC_VERSION);
    if (strncmp(cfg->public_url, "https://", 8) != 0)
        report(d, WARN, "public URL",
               "set BYOCD_PUBLIC_URL to the https address of the reverse proxy in front of byocd "
               "(deploy/nginx/)",
               "%s is not https: CXone calls only https URLs", cfg->public_url);
    else
        report(d, PASS, "public URL", NULL, "%s", cfg->public_url);
    report(d, cfg->admin_token ? PASS : WARN, "admin API",
           "set BYOCD_ADMIN_TOKEN (16+ characters) to use the admin API; the CLI works without",
           cfg->admin_token ? "on (BYOCD_ADMIN_TOKEN is set)" : "off (BYOCD_ADMIN_TOKEN unset)");
    struct byoc_cidrs trusted;
    char bad[128];
    bool everyone = false;
    if (byoc_cidrs_parse(cfg->trusted_proxies, &trusted, bad, sizeof bad)) {
        for (size_t i = 0; i < trusted.n; i++)
            everyone = everyone || trusted.v[i].bits == 0;
    }
    if (everyone)
        report(d, WARN, "trusted proxies",
               "list only the reverse proxies' addresses in BYOCD_TRUSTED_PROXIES",
               "a /0 range trusts every client's X-Forwarded-For: the log's remote can be forged");
    if (cfg->webhook_allow_private)
        report(d, WARN, "SSRF guard", "unset BYOCD_WEBHOOK_ALLOW_PRIVATE outside development",
               "BYOCD_WEBHOOK_ALLOW_PRIVATE=1: webhooks may reach private addresses");
}

static void check_database(struct doctor *d)
{
    struct cli *c = d->c;
    int applied = 0, known = 0;
    byoc_store_schema(c->store, &applied, &known);
    struct byoc_backlog b;
    bool read = byoc_store_ping(c->store) && byoc_store_backlog(c->store, &b) == BYOC_ERR_OK;
    bool writable = byoc_store_writable(c->store);
    if (!read || !writable || applied != known) {
        report(d, FAIL, "database",
               "check the file's owner and permissions (the service user must write it and its "
               "directory), and run byocd migrate with this binary",
               "%s: %s%s, schema %d of %d", c->cfg->database, read ? "readable" : "unreadable",
               writable ? "" : ", not writable", applied, known);
        return;
    }
    report(d, PASS, "database", NULL, "%s: schema %d of %d, writable, %.1f MB", c->cfg->database,
           applied, known, b.db_bytes > 0 ? (double)b.db_bytes / 1e6 : 0.0);
    int64_t dead = b.count[BYOC_BACKLOG_WEBHOOK_DEAD];
    int64_t pending = b.count[BYOC_BACKLOG_WEBHOOK_PENDING];
    if (dead > 0)
        report(d, WARN, "dead deliveries",
               "see why with byocd deliveries list --state dead, fix the endpoint, then byocd "
               "deliveries replay --provider ID",
               "%" PRId64 " deliveries gave up", dead);
    else
        report(d, PASS, "dead deliveries", NULL, "none (%" PRId64 " pending)", pending);
    int64_t queued = b.count[BYOC_BACKLOG_RELAY_QUEUED] + b.count[BYOC_BACKLOG_RELAY_SENDING];
    int64_t age = queued && b.oldest_at[BYOC_BACKLOG_RELAY_QUEUED]
                      ? (byoc_now_ms() - b.oldest_at[BYOC_BACKLOG_RELAY_QUEUED]) / 1000
                      : 0;
    report(d, age > 60 ? WARN : PASS, "messages to CXone",
           "is byocd running? see the CXone checks below and the log for relay errors",
           "%" PRId64 " waiting, the oldest %" PRId64 " s", queued, age);
}

/* Is a byocd answering on the configured listen address? (Advice only: doctor may run on
 * another machine than the server.) */
static void check_server(struct doctor *d)
{
    char url[BYOC_URL_MAX];
    const char *host = d->c->cfg->listen_host;
    bool v6 = strchr(host, ':') != NULL;
    const char *local = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                        : strcmp(host, "::") == 0    ? "::1"
                                                     : host;
    snprintf(url, sizeof url, "http://%s%s%s:%lld/readyz", v6 ? "[" : "", local, v6 ? "]" : "",
             (long long)d->c->cfg->listen_port);
    struct byoc_out_req req = {
        .method = "GET", .url = url, .total_timeout_ms = SERVER_TIMEOUT_MS, .no_proxy = true};
    struct byoc_out_resp resp = {0};
    enum byoc_err e = d->c->cfg->listen_port ? byoc_out_do(&req, &resp) : BYOC_ERR_UPSTREAM_NET;
    if (e)
        report(d, WARN, "server", "start it: byocd serve (or systemctl start byocd)",
               "nothing answers at %s", url);
    else
        report(d, resp.status == 200 ? PASS : FAIL, "server",
               "see GET /readyz and the log: the database is not writable or not migrated",
               "%s answered %ld", url, resp.status);
    byoc_out_resp_release(&resp);
}

static void check_cxone(struct doctor *d, struct byoc_cxone_tokens *tokens,
                        const struct byoc_provider *p)
{
    char what[64], detail[BYOC_CXONE_DETAIL_MAX] = "";
    snprintf(what, sizeof what, "CXone token");
    struct byoc_cxone_login login;
    enum byoc_err e = byoc_cxone_login_open(&d->c->keys, p, &login);
    if (e) {
        report(d, FAIL, what,
               "the stored CXone secrets cannot be opened with this master key: use the "
               "BYOCD_MASTER_KEY or master.key the provider was created with",
               "%s", byoc_strerror(e));
        return;
    }
    char *token = NULL;
    e = byoc_cxone_token(tokens, &login.creds, NULL, &token, detail);
    if (e) {
        report(d, FAIL, what,
               e == BYOC_ERR_UPSTREAM_AUTH
                   ? "CXone refused the login: check cxone.client_id/client_secret (the app "
                     "registration) and the access key pair; create the provider again with the "
                     "right values"
                   : "check cxone.auth_url and that this machine reaches it (proxy, firewall, DNS)",
               "%s at %s%s%s", byoc_strerror(e), p->cxone_auth_url, detail[0] ? ": " : "", detail);
        byoc_cxone_login_release(&login);
        return;
    }
    report(d, PASS, what, NULL, "CXone issued a token at %s", p->cxone_auth_url);
    snprintf(what, sizeof what, "CXone API");
    struct byoc_cxone_channel *chs = NULL;
    size_t n = 0;
    e = byoc_cxone_channels_list(p->cxone_api_base_url, token, &chs, &n, detail);
    if (e)
        report(d, FAIL, what,
               "check cxone.api_base_url (e.g. https://api-na1.niceincontact.com) and that the "
               "access key's user may use Digital (DFO) channels",
               "%s at %s%s%s", byoc_strerror(e), p->cxone_api_base_url, detail[0] ? ": " : "",
               detail);
    else
        report(d, PASS, what, NULL, "the DFO API at %s lists %zu channels", p->cxone_api_base_url,
               n);
    byoc_cxone_channel_list_free(chs, n);
    byoc_free_secret(token);
    byoc_cxone_login_release(&login);
}

static void check_channels(struct doctor *d, const struct byoc_provider *p)
{
    char what[64];
    snprintf(what, sizeof what, "channels");
    struct byoc_channel *chs = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_channel_list(d->c->store, p->id, &chs, &n);
    if (e)
        report(d, FAIL, what, NULL, "%s", byoc_strerror(e));
    else if (n == 0)
        report(d, WARN, what,
               "in CXone open ACD > Digital > Bring Your Own Channel, pick this integration and "
               "use Add (it calls byocd's Add action URL); or byocd channel add",
               "none registered: agents get nothing until a channel exists");
    else
        report(d, PASS, what, NULL, "%zu registered (first: %s \"%s\")", n, chs[0].channel_id,
               chs[0].name);
    byoc_channel_list_free(chs, n);
}

/* A signed ping, as a delivery would be signed: any 2xx passes. */
static void check_webhook(struct doctor *d, const struct byoc_provider *p,
                          const struct byoc_webhook *h)
{
    char what[96];
    snprintf(what, sizeof what, "webhook");
    if (h->state == BYOC_WEBHOOK_DISABLED) {
        report(d, WARN, what,
               "fix the endpoint, then byocd deliveries replay --provider ID (re-enables it)",
               "%s %s is disabled: %s", h->id, h->url,
               h->disabled_reason ? h->disabled_reason : "");
        return;
    }
    char *secret = NULL, sig[BYOC_WEBHOOK_SIGNATURE_MAX], msg_id[BYOC_ID_MAX];
    char id_line[BYOC_ID_MAX + 16], ts_line[48], sig_line[BYOC_WEBHOOK_SIGNATURE_MAX + 24];
    char time[BYOC_TIME_ISO_MAX];
    int64_t now = byoc_now_ms();
    byoc_time_iso(now, time);
    enum byoc_err e = byoc_id_new("evt_ping", msg_id);
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"type\":\"byocd.ping\",\"created_at\":\"%s\",\"provider_id\":"
             "\"%s\",\"data\":{}}",
             msg_id, time, p->id);
    if (!e)
        e = byoc_unseal_field(&d->c->keys, p->id, BYOC_SEALED_WEBHOOK_SECRET, &h->secret_sealed,
                              &secret);
    if (!e)
        e = byoc_webhook_sign(secret, msg_id, now / 1000, body, strlen(body), sig);
    byoc_free_secret(secret);
    if (e) {
        report(d, FAIL, what, "use the master key the provider was created with", "cannot sign: %s",
               byoc_strerror(e));
        return;
    }
    snprintf(id_line, sizeof id_line, "webhook-id: %s", msg_id);
    snprintf(ts_line, sizeof ts_line, "webhook-timestamp: %" PRId64, now / 1000);
    snprintf(sig_line, sizeof sig_line, "webhook-signature: %s", sig);
    const char *headers[] = {id_line, ts_line, sig_line, NULL};
    struct byoc_out_req req = {.method = "POST",
                               .url = h->url,
                               .content_type = "application/json",
                               .body = body,
                               .body_len = strlen(body),
                               .total_timeout_ms = PING_TIMEOUT_MS,
                               .truncate_response = true,
                               .deny_link_local = true,
                               .deny_private = !d->c->cfg->webhook_allow_private,
                               .headers = headers};
    struct byoc_out_resp resp = {0};
    e = byoc_out_do(&req, &resp);
    if (e)
        report(d, FAIL, what,
               "check that the URL is right and reachable from this machine (DNS, firewall, TLS "
               "certificate); private addresses are refused unless BYOCD_WEBHOOK_ALLOW_PRIVATE=1",
               "%s %s: %s", h->id, h->url,
               e == BYOC_ERR_UPSTREAM_TIMEOUT ? "no answer in time"
               : e == BYOC_ERR_FORBIDDEN      ? "refused: a private address"
                                              : "could not be reached (DNS, connection or TLS)");
    else if (resp.status >= 200 && resp.status < 300)
        report(d, PASS, what, NULL, "%s %s answered %ld to a signed ping", h->id, h->url,
               resp.status);
    else
        report(d, resp.status >= 500 || resp.status == 404 || resp.status == 410 ? FAIL : WARN,
               what,
               "the endpoint must answer 2xx to events it verifies (a ping has type byocd.ping); "
               "a 401 here usually means it checks the signature with another secret",
               "%s %s answered %ld to a signed ping", h->id, h->url, resp.status);
    byoc_out_resp_release(&resp);
}

static void check_provider(struct doctor *d, struct byoc_cxone_tokens *tokens,
                           const struct byoc_provider *p)
{
    printf("\nprovider %s \"%s\"\n", p->id, p->name);
    check_cxone(d, tokens, p);
    check_channels(d, p);
    struct byoc_webhook *hooks = NULL;
    size_t n = 0;
    if (byoc_store_webhook_list(d->c->store, p->id, &hooks, &n) == BYOC_ERR_OK) {
        for (size_t i = 0; i < n; i++)
            check_webhook(d, p, &hooks[i]);
        if (n == 0)
            report(d, WARN, "webhooks",
                   "POST /v1/webhooks, or poll GET /v1/events: otherwise the bot hears nothing",
                   "%s has no webhook subscription", p->id);
    }
    byoc_webhook_list_free(hooks, n);
}

int cli_doctor(struct cli *c)
{
    struct doctor d = {.c = c};
    const char *only = cli_arg(c, 0);
    check_config(&d);
    check_database(&d);
    check_server(&d);
    struct byoc_provider *ps = NULL;
    size_t n = 0;
    struct byoc_cxone_tokens *tokens = NULL;
    enum byoc_err e = byoc_store_provider_list(c->store, &ps, &n);
    if (!e)
        e = byoc_cxone_tokens_new(&tokens);
    size_t checked = 0;
    for (size_t i = 0; !e && i < n; i++) {
        if (only && strcmp(only, ps[i].id) != 0)
            continue;
        check_provider(&d, tokens, &ps[i]);
        checked++;
    }
    if (e)
        report(&d, FAIL, "providers", NULL, "cannot list them: %s", byoc_strerror(e));
    else if (only && checked == 0)
        report(&d, FAIL, "provider", "pick an id from byocd provider list", "%s does not exist",
               only);
    else if (n == 0)
        report(&d, WARN, "providers", "byocd provider create --json FILE (see README.md)",
               "none yet");
    byoc_cxone_tokens_free(tokens);
    byoc_provider_list_free(ps, n);
    printf("\n%d failed, %d warnings\n", d.failed, d.warned);
    return d.failed ? CLI_CHECKS : CLI_OK;
}
