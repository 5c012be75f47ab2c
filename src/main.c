/* byocd: NICE CXone Bring Your Own Channel middleware for any bot platform. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/app.h"
#include "byoc/cli.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/metrics.h"
#include "byoc/outbound.h"
#include "byoc/provider.h"
#include "byoc/sandbox.h"
#include "byoc/banned.h"

#define WHY_MAX 512
#define DEMO_ADMIN_TOKEN_CHARS 32

struct options {
    const char *command;
    const char *config_file;
    bool demo;
    struct byoc_sandbox_options sandbox;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: byocd [COMMAND] [--config FILE]\n\n"
            "  serve [--demo]  run the server (default); --demo creates a demo provider on first\n"
            "                  start and an admin token for this run\n"
            "  sandbox [--port N] [--cxone-port N] [--bot-port N]\n"
            "                  byocd with a CXone simulator (agent console) and a demo bot\n"
            "                  (customer chat) on loopback, on a fresh temporary database: try a\n"
            "                  handover without a CXone tenant (ports: BYOCD_LISTEN's, 8081,\n"
            "                  8082; 0 takes any free port)\n"
            "  migrate         create or upgrade the database, then exit\n"
            "  help            this text (also --help after any command)\n"
            "  --config FILE   KEY=VALUE file with the settings below (environment wins)\n\n");
    byoc_cli_usage(out);
    fprintf(out, "\nSettings (environment variables):\n");
    fflush(out);
    byoc_config_describe(fileno(out));
    fprintf(out, "\nExit codes: 0 ok; 1 runtime failure (database, CXone, network); 2 usage or "
                 "configuration error;\n3 not found (provider, channel, delivery); 4 doctor: a "
                 "check failed.\n");
}

/* --port/--cxone-port/--bot-port N (sandbox): 1 when argv[*i] was one (*i then moves past its
 * value), 0 when it is something else, -1 when the value is missing or not a port. */
static int port_option(int argc, char **argv, int *i, struct options *o)
{
    int *slot = strcmp(argv[*i], "--port") == 0         ? &o->sandbox.port
                : strcmp(argv[*i], "--cxone-port") == 0 ? &o->sandbox.cxone_port
                : strcmp(argv[*i], "--bot-port") == 0   ? &o->sandbox.bot_port
                                                        : NULL;
    if (!slot)
        return 0;
    int64_t port = 0;
    if (*i + 1 >= argc || !byoc_parse_i64(argv[*i + 1], 0, 65535, &port))
        return -1;
    *slot = (int)port;
    *i += 1;
    return 1;
}

static bool parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.command = "serve",
                          .config_file = getenv("BYOCD_CONFIG"),
                          .sandbox = {.port = -1,
                                      .cxone_port = BYOC_SANDBOX_CXONE_PORT,
                                      .bot_port = BYOC_SANDBOX_BOT_PORT}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int ported = port_option(argc, argv, &i, o);
        if (ported < 0)
            return false;
        if (ported > 0)
            continue;
        if (strcmp(a, "--demo") == 0)
            o->demo = true;
        else if (strcmp(a, "--config") == 0 && i + 1 < argc)
            o->config_file = argv[++i];
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            o->command = "help";
        else if (i == 1 && a[0] != '-')
            o->command = a;
        else
            return false;
    }
    bool sandbox = strcmp(o->command, "sandbox") == 0;
    if (sandbox && o->demo)
        return false; /* the sandbox makes its own provider */
    if (!sandbox && (o->sandbox.port != -1 || o->sandbox.cxone_port != BYOC_SANDBOX_CXONE_PORT ||
                     o->sandbox.bot_port != BYOC_SANDBOX_BOT_PORT))
        return false; /* the port options belong to sandbox */
    return sandbox || strcmp(o->command, "serve") == 0 || strcmp(o->command, "migrate") == 0 ||
           strcmp(o->command, "help") == 0;
}

static void log_fatal(const char *msg, enum byoc_err e, const char *why)
{
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_ERROR, "main", msg);
    byoc_log_err(&l, e);
    byoc_log_str(&l, "detail", why);
    byoc_log_end(&l);
}

/* The demo provider points at CXone's public hosts with placeholder credentials. */
static enum byoc_err demo_provider(struct byoc_app *app)
{
    static const struct byoc_provider_input in = {
        .name = "Demo bot",
        .webhook_url = "http://127.0.0.1:9/byocd-demo-webhook",
        .auth_url = "https://cxone.niceincontact.com/auth/token",
        .api_base_url = "https://api-na1.niceincontact.com",
        .client_id = "replace-with-your-cxone-client-id",
        .client_secret = "replace-with-your-cxone-client-secret",
        .access_key_id = "replace-with-your-access-key-id",
        .access_key_secret = "replace-with-your-access-key-secret",
        .transcript_chunk_max = -1,
        .inactivity_timeout_s = -1,
    };
    struct byoc_provider p;
    struct byoc_provider_secrets s;
    enum byoc_err e = byoc_provider_build(&app->keys, &in, byoc_now_ms(), &p, &s);
    if (e)
        return e;
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = &p};
    e = byoc_store_write(app->store, &w);
    if (!e) {
        byoc_cli_print_provider(stdout, app->cfg, &p, s.byoc_client_secret);
        byoc_cli_print_secrets(stdout, &s);
    }
    byoc_provider_release(&p);
    byoc_provider_secrets_wipe(&s);
    return e;
}

static enum byoc_err print_setup(struct byoc_app *app, bool demo, int port)
{
    struct byoc_provider *list = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_provider_list(app->store, &list, &n);
    if (e)
        return e;
    printf("byocd is listening on %s:%d; CXone reaches it at %s\n", app->cfg->listen_host, port,
           app->cfg->public_url);
    for (size_t i = 0; i < n; i++)
        byoc_cli_print_provider(stdout, app->cfg, &list[i], NULL);
    if (n == 0 && demo)
        e = demo_provider(app);
    else if (n == 0)
        printf("\nNo provider yet: create one with POST /admin/v1/providers (see README.md).\n");
    byoc_provider_list_free(list, n);
    fflush(stdout);
    return e;
}

/* Owned by main for the life of the process. */
struct runtime {
    struct byoc_config cfg;
    struct byoc_store *store;
    struct byoc_tasks *tasks;
    struct byoc_cxone_tokens *tokens;
    struct byoc_relay *relay;
    struct byoc_dispatch *dispatch;
    struct byoc_app app;
    struct byoc_http *http;
    bool app_ready;
    char demo_admin_token[DEMO_ADMIN_TOKEN_CHARS + 1];
    struct byoc_sandbox *sandbox; /* `byocd sandbox` only */
};

static void runtime_release(struct runtime *rt)
{
    /* No new connections; tasks finish (resuming their requests) while the writer still runs;
     * then nothing is parked and HTTP can stop; then the relay and, last, the store. */
    byoc_sandbox_quiesce(rt->sandbox); /* its simulator holds nothing back from byocd's calls */
    byoc_http_quiesce(rt->http);
    byoc_tasks_stop(rt->tasks);
    if (!byoc_http_stop(rt->http)) {
        /* Freeing state under a daemon that still runs would be worse: everything answered
         * with a 2xx is already durable, so leave now. */
        byoc_log(BYOC_LOG_ERROR, "main", "exiting without a clean stop");
        _exit(1);
    }
    byoc_relay_stop(rt->relay);
    byoc_dispatch_stop(rt->dispatch);
    byoc_tasks_free(rt->tasks);
    byoc_store_close(rt->store);
    if (rt->app_ready)
        byoc_app_release(&rt->app);
    byoc_cxone_tokens_free(rt->tokens);
    byoc_sandbox_stop(rt->sandbox); /* after byocd, whose last calls may still reach them */
    byoc_config_release(&rt->cfg);
    byoc_wipe(rt->demo_admin_token, sizeof rt->demo_admin_token);
}

static int open_state(struct runtime *rt)
{
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_store_open(rt->cfg.database, &rt->store, why, sizeof why);
    if (e) {
        log_fatal("cannot open the database", e, why);
        return e == BYOC_ERR_STORE_SCHEMA ? 2 : 1;
    }
    byoc_store_set_queue_max(rt->store, (size_t)rt->cfg.write_queue_max);
    struct byoc_keys keys;
    bool generated = false;
    char key_path[BYOC_URL_MAX] = "";
    e = byoc_keys_load(rt->cfg.master_key, rt->cfg.database, &keys, &generated, key_path,
                       sizeof key_path, why, sizeof why);
    if (e) {
        log_fatal("cannot load the master key", e, why);
        return 2;
    }
    if (generated && rt->sandbox) {
        byoc_log(BYOC_LOG_INFO, "main", "generated a master key for this sandbox run");
    } else if (generated) {
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_WARN, "main",
                       key_path[0] ? "generated a new master key; back it up with the database"
                                   : "generated an ephemeral master key (in-memory database)");
        byoc_log_str(&l, "path", key_path[0] ? key_path : NULL);
        byoc_log_end(&l);
    }
    e = byoc_tasks_start(BYOC_TASK_THREADS, BYOC_TASK_QUEUE_MAX, &rt->tasks);
    if (!e)
        e = byoc_app_init(&rt->app, &rt->cfg, rt->store, rt->tasks, &keys);
    byoc_wipe(&keys, sizeof keys);
    rt->app_ready = e == BYOC_ERR_OK;
    if (!e)
        e = byoc_cxone_tokens_new(&rt->tokens);
    struct byoc_relay_config rc = {.threads = BYOC_RELAY_THREADS,
                                   .retry_cap_ms = rt->cfg.relay_retry_cap * 1000,
                                   .lease_ms = rt->cfg.relay_lease * 1000,
                                   .event_keep_ms = rt->cfg.event_retention * 1000,
                                   .delivery_deadline_ms = rt->cfg.webhook_deadline * 1000};
    if (!e)
        e = byoc_relay_start(rt->store, &rt->app.keys, rt->tokens, &rc, &rt->relay);
    rt->app.relay = rt->relay;
    rt->app.tokens = rt->tokens;
    struct byoc_dispatch_config dc = {.deadline_ms = rt->cfg.webhook_deadline * 1000,
                                      .retry_cap_ms = rt->cfg.webhook_retry_cap * 1000,
                                      .timeout_ms = rt->cfg.webhook_timeout * 1000,
                                      .cooldown_ms = rt->cfg.webhook_breaker_cooldown * 1000,
                                      .allow_private = rt->cfg.webhook_allow_private != 0};
    if (!e)
        e = byoc_dispatch_start(rt->store, &rt->app.keys, &dc, &rt->dispatch);
    rt->app.dispatch = rt->dispatch;
    if (e)
        log_fatal("cannot start", e, NULL);
    return e ? 1 : 0;
}

static int start_http(struct runtime *rt)
{
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_app_listen(&rt->app, &rt->http, why, sizeof why);
    if (e) {
        log_fatal("cannot listen", e, why);
        return 2;
    }
    struct byoc_log_line l;
    byoc_log_begin(&l, BYOC_LOG_INFO, "main", "listening");
    byoc_log_str(&l, "host", rt->cfg.listen_host);
    byoc_log_int(&l, "port", byoc_http_port(rt->http));
    byoc_log_str(&l, "public_url", rt->cfg.public_url);
    byoc_log_int(&l, "admin_api", rt->cfg.admin_token != NULL);
    byoc_log_end(&l);
    return 0;
}

/* In demo mode an unset admin token is minted for this run and printed once. */
static bool demo_admin_token(struct runtime *rt)
{
    if (rt->cfg.admin_token)
        return true;
    if (byoc_random_token(rt->demo_admin_token, DEMO_ADMIN_TOKEN_CHARS))
        return false;
    rt->cfg.admin_token = strdup(rt->demo_admin_token);
    return rt->cfg.admin_token != NULL;
}

static int start_sandbox(struct runtime *rt, const struct options *o)
{
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_sandbox_start(&o->sandbox, &rt->cfg, &rt->sandbox, why, sizeof why);
    if (e)
        log_fatal("cannot start the sandbox", e, why);
    return e == BYOC_ERR_CONFIG ? 2 : e ? 1 : 0; /* as start_http: a port in use is 2 */
}

/* What a person starting byocd needs to see once it listens. */
static int announce(struct runtime *rt, const struct options *o)
{
    int port = byoc_http_port(rt->http);
    if (!rt->sandbox)
        return print_setup(&rt->app, o->demo, port) == BYOC_ERR_OK ? 0 : 1;
    char why[WHY_MAX] = "";
    enum byoc_err e =
        byoc_sandbox_connect(rt->sandbox, &rt->app, &rt->cfg, port, stdout, why, sizeof why);
    if (e)
        log_fatal("cannot start the sandbox", e, why);
    return e ? 1 : 0;
}

static int serve(struct runtime *rt, const struct options *o, const sigset_t *stop_signals)
{
    bool sandbox = strcmp(o->command, "sandbox") == 0;
    if ((o->demo || sandbox) && !demo_admin_token(rt))
        return 1;
    int rc = sandbox ? start_sandbox(rt, o) : 0;
    if (rc == 0)
        rc = open_state(rt);
    if (rc == 0 && strcmp(o->command, "migrate") == 0) {
        int applied = 0, known = 0;
        byoc_store_schema(rt->store, &applied, &known);
        printf("database %s is at schema version %d\n", rt->cfg.database, applied);
        return 0;
    }
    if (rc == 0)
        rc = start_http(rt);
    if (rc == 0)
        rc = announce(rt, o);
    if (rc == 0 && rt->demo_admin_token[0])
        printf("\nAdmin API token for this run: %s\n", rt->demo_admin_token);
    fflush(stdout);
    int sig = 0;
    if (rc == 0 && sigwait(stop_signals, &sig) == 0) {
        struct byoc_log_line l;
        byoc_log_begin(&l, BYOC_LOG_INFO, "main", "stopping");
        byoc_log_int(&l, "signal", sig);
        byoc_log_end(&l);
    }
    return rc;
}

/* byocd provider|channel|deliveries|backup|doctor ...: --config FILE and --help are taken out,
 * the rest goes to the command. */
static int operator_command(int argc, char **argv)
{
    const char *config_file = getenv("BYOCD_CONFIG");
    char **rest = calloc((size_t)argc, sizeof *rest);
    int n = 0;
    if (!rest)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_file = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(rest);
            return 0;
        } else {
            rest[n++] = argv[i];
        }
    }
    struct byoc_config cfg;
    char why[WHY_MAX] = "";
    int rc = 2;
    if (byoc_config_load(&cfg, config_file, NULL, why, sizeof why) != BYOC_ERR_OK) {
        fprintf(stderr, "byocd: configuration error: %s\n", why);
    } else if (!byoc_out_global_init()) {
        fprintf(stderr, "byocd: cannot initialise libcurl\n");
        rc = 1;
        byoc_config_release(&cfg);
    } else {
        rc = byoc_cli_main(&cfg, n, rest);
        byoc_out_global_cleanup();
        byoc_config_release(&cfg);
    }
    free(rest);
    return rc;
}

int main(int argc, char **argv)
{
    byoc_json_init(); /* before any thread uses cJSON */
    if (argc > 1 && byoc_cli_is_command(argv[1])) {
        signal(SIGPIPE, SIG_IGN);
        return operator_command(argc, argv);
    }
    struct options o;
    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o.command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP); /* a closed terminal stops cleanly (the sandbox cleans up) */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* before any thread starts */

    struct runtime rt = {0};
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_config_load(&rt.cfg, o.config_file, NULL, why, sizeof why);
    if (e) {
        fprintf(stderr, "byocd: configuration error: %s\n", why);
        return 2;
    }
    byoc_log_set_level(rt.cfg.log_level);
    byoc_metrics_init();
    if (!byoc_out_global_init()) {
        log_fatal("cannot initialise libcurl", BYOC_ERR_INTERNAL, NULL);
        byoc_config_release(&rt.cfg);
        return 1;
    }
    int rc = serve(&rt, &o, &stop_signals);
    runtime_release(&rt);
    byoc_out_global_cleanup();
    if (rc == 0)
        byoc_log(BYOC_LOG_INFO, "main", "stopped");
    return rc;
}
