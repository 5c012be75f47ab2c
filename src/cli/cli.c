#include "byoc/cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "byoc/crypto.h"
#include "byoc/log.h"
#include "cli/cli-internal.h"
#include "byoc/banned.h"

#define WHY_MAX 512

static const char *const commands[] = {"provider", "channel", "deliveries", "backup", "doctor"};

bool byoc_cli_is_command(const char *word)
{
    for (size_t i = 0; word && i < BYOC_ARRAY_LEN(commands); i++) {
        if (strcmp(word, commands[i]) == 0)
            return true;
    }
    return false;
}

void byoc_cli_usage(FILE *out)
{
    fprintf(out,
            "Operator commands (they use the database directly; the server may be running):\n"
            "  provider create --json FILE      create from the admin API's JSON body (FILE or -)\n"
            "  provider list | show ID          what to paste into CXone's BYOC form\n"
            "  provider delete ID --yes         delete with its channels and conversations\n"
            "  provider rotate-secret ID [--secret byoc|bot|studio]\n"
            "                                   new client secret (default), bot API key or\n"
            "                                   Studio secret; the old one stops working at once\n"
            "  channel add PROVIDER CHANNEL --name NAME [--skill SKILL]\n"
            "  channel list PROVIDER | remove PROVIDER CHANNEL\n"
            "  deliveries list [--state pending|sending|delivered|dead] [--provider ID]\n"
            "                  [--webhook ID] [--limit N]\n"
            "  deliveries replay DELIVERY | --provider ID   send dead deliveries again\n"
            "  backup FILE                      consistent copy of the database (while serving)\n"
            "  doctor [PROVIDER]                check configuration, database, CXone, webhooks\n");
}

const char *cli_flag(struct cli *c, const char *name, bool *bad)
{
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], name) != 0)
            continue;
        if (i + 1 >= c->argc) {
            *bad = true;
            return NULL;
        }
        return c->argv[i + 1];
    }
    return NULL;
}

bool cli_has(struct cli *c, const char *name)
{
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], name) == 0)
            return true;
    }
    return false;
}

/* Flags that take no value. */
static bool switch_flag(const char *a)
{
    return strcmp(a, "--yes") == 0;
}

const char *cli_arg(struct cli *c, int n)
{
    for (int i = 0; i < c->argc; i++) {
        if (strncmp(c->argv[i], "--", 2) == 0) {
            if (!switch_flag(c->argv[i]))
                i++; /* its value */
            continue;
        }
        if (n-- == 0)
            return c->argv[i];
    }
    return NULL;
}

int cli_fail(enum byoc_err e, const char *what)
{
    fprintf(stderr, "byocd: %s: %s\n", what, byoc_strerror(e));
    switch (e) {
    case BYOC_ERR_NOT_FOUND:
        return CLI_NOT_FOUND;
    case BYOC_ERR_INVALID:
    case BYOC_ERR_CONFIG:
        return CLI_USAGE;
    default:
        return CLI_FAILED;
    }
}

void cli_time(int64_t unix_ms, char out[32])
{
    if (!unix_ms) {
        snprintf(out, 32, "-");
        return;
    }
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm))
        snprintf(out, 32, "?");
}

/* The master key must be there already: a new one would open none of the stored secrets. */
static int key_exists(const struct byoc_config *cfg)
{
    struct stat sb;
    char key_path[BYOC_URL_MAX];
    byoc_keys_file_path(cfg->database, key_path, sizeof key_path);
    if (!cfg->master_key && stat(key_path, &sb) != 0) {
        fprintf(stderr,
                "byocd: the master key %s is missing, so no stored secret can be opened: set "
                "BYOCD_MASTER_KEY or restore the file from the backup\n",
                key_path);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* The database as it is (never created nor migrated: a server may be running an older binary
 * on it) and the master key. */
static int open_state(struct cli *c)
{
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_store_open_existing(c->cfg->database, &c->store, why, sizeof why);
    if (e == BYOC_ERR_NOT_FOUND) {
        fprintf(stderr,
                "byocd: %s: check BYOCD_DATABASE (or --config FILE, the server's settings); "
                "byocd migrate creates a new one\n",
                why);
        return CLI_USAGE;
    }
    if (e) {
        fprintf(stderr, "byocd: cannot open the database %s: %s\n", c->cfg->database,
                why[0] ? why : byoc_strerror(e));
        return e == BYOC_ERR_STORE_SCHEMA ? CLI_USAGE : CLI_FAILED;
    }
    int rc = key_exists(c->cfg);
    if (rc != CLI_OK)
        return rc;
    bool generated = false;
    char key_path[BYOC_URL_MAX] = "";
    e = byoc_keys_load(c->cfg->master_key, c->cfg->database, &c->keys, &generated, key_path,
                       sizeof key_path, why, sizeof why);
    if (e) {
        fprintf(stderr, "byocd: cannot load the master key: %s\n", why);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int byoc_cli_main(const struct byoc_config *cfg, int argc, char **argv)
{
    struct cli c = {.cfg = cfg};
    const char *cmd = argv[0];
    bool has_verb = strcmp(cmd, "backup") != 0 && strcmp(cmd, "doctor") != 0;
    const char *verb = has_verb && argc > 1 ? argv[1] : NULL;
    if (has_verb && (!verb || strncmp(verb, "--", 2) == 0)) {
        fprintf(stderr, "byocd %s: which action? (byocd help)\n", cmd);
        return CLI_USAGE;
    }
    c.argc = argc - (has_verb ? 2 : 1);
    c.argv = argv + (has_verb ? 2 : 1);
    /* Only warnings and errors of the library reach stderr; the command prints its own. */
    byoc_log_set_level(BYOC_LOG_WARN);
    int rc = open_state(&c);
    if (rc == CLI_OK) {
        if (strcmp(cmd, "provider") == 0)
            rc = cli_provider(&c, verb);
        else if (strcmp(cmd, "channel") == 0)
            rc = cli_channel(&c, verb);
        else if (strcmp(cmd, "deliveries") == 0)
            rc = cli_deliveries(&c, verb);
        else if (strcmp(cmd, "backup") == 0)
            rc = cli_backup(&c);
        else
            rc = cli_doctor(&c);
    }
    fflush(stdout);
    byoc_store_close(c.store);
    byoc_wipe(&c.keys, sizeof c.keys);
    return rc;
}
