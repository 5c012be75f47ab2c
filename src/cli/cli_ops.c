/* byocd channel add|list|remove, deliveries list|replay, backup FILE */
#include <stdlib.h>
#include <string.h>

#include "byoc/provider.h"
#include "byoc/util.h"
#include "cli/cli-internal.h"
#include "byoc/banned.h"

#define WHY_MAX 512
#define DELIVERY_LIST_DEFAULT 50

/* ---- channels ---- */

static int channel_add(struct cli *c, const char *provider_id, const char *channel_id)
{
    bool bad = false;
    const char *name = cli_flag(c, "--name", &bad), *skill = cli_flag(c, "--skill", &bad);
    if (bad || !channel_id || !name || !byoc_name_valid(name) ||
        !byoc_external_id_valid(channel_id, BYOC_EXTERNAL_ID_MAX) ||
        (skill && !byoc_external_id_valid(skill, BYOC_EXTERNAL_ID_MAX))) {
        fprintf(stderr, "byocd channel add PROVIDER CHANNEL --name NAME [--skill SKILL]: the "
                        "channel id is CXone's (1-256 characters), the name 1-200 characters\n");
        return CLI_USAGE;
    }
    struct byoc_channel ch = {.source = BYOC_CHANNEL_ADMIN};
    byoc_strlcpy(ch.provider_id, provider_id, sizeof ch.provider_id);
    ch.channel_id = (char *)channel_id; /* borrowed: the write copies what it stores */
    ch.name = (char *)name;
    ch.skill_id = (char *)skill;
    ch.created_at = ch.updated_at = byoc_now_ms();
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_UPSERT};
    w.in.channel_upsert.channel = &ch;
    enum byoc_err e = byoc_store_write(c->store, &w);
    if (e)
        return cli_fail(e, e == BYOC_ERR_NOT_FOUND ? provider_id : "channel add");
    printf("channel %s \"%s\" is registered for %s\n", channel_id, name, provider_id);
    return CLI_OK;
}

static int channel_list(struct cli *c, const char *provider_id)
{
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(c->store, provider_id, &p);
    if (e)
        return cli_fail(e, provider_id);
    byoc_provider_release(&p);
    struct byoc_channel *chs = NULL;
    size_t n = 0;
    e = byoc_store_channel_list(c->store, provider_id, &chs, &n);
    if (e)
        return cli_fail(e, "channel list");
    printf("%-30s %-8s %-12s %-14s %s\n", "CHANNEL", "SOURCE", "BRAND", "SKILL", "NAME");
    for (size_t i = 0; i < n; i++)
        printf("%-30s %-8s %-12s %-14s %s\n", chs[i].channel_id,
               chs[i].source == BYOC_CHANNEL_ACTION ? "cxone" : "admin",
               chs[i].brand_id ? chs[i].brand_id : "-", chs[i].skill_id ? chs[i].skill_id : "-",
               chs[i].name);
    if (n == 0)
        printf("(no channel: add one in CXone with the Add action, or byocd channel add)\n");
    byoc_channel_list_free(chs, n);
    return CLI_OK;
}

static int channel_remove(struct cli *c, const char *provider_id, const char *channel_id)
{
    if (!channel_id) {
        fprintf(stderr, "byocd channel remove PROVIDER CHANNEL\n");
        return CLI_USAGE;
    }
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_DELETE};
    w.in.channel_delete.provider_id = provider_id;
    w.in.channel_delete.channel_id = channel_id;
    enum byoc_err e = byoc_store_write(c->store, &w);
    if (e)
        return cli_fail(e, e == BYOC_ERR_NOT_FOUND ? "no such channel" : "channel remove");
    printf("channel %s removed from %s (byocd only; CXone keeps its own)\n", channel_id,
           provider_id);
    return CLI_OK;
}

int cli_channel(struct cli *c, const char *verb)
{
    const char *provider_id = cli_arg(c, 0), *channel_id = cli_arg(c, 1);
    if (!provider_id) {
        fprintf(stderr, "byocd channel %s: which provider? (byocd provider list)\n", verb);
        return CLI_USAGE;
    }
    if (strcmp(verb, "add") == 0)
        return channel_add(c, provider_id, channel_id);
    if (strcmp(verb, "list") == 0)
        return channel_list(c, provider_id);
    if (strcmp(verb, "remove") == 0)
        return channel_remove(c, provider_id, channel_id);
    fprintf(stderr, "byocd channel: unknown action %s (add, list, remove)\n", verb);
    return CLI_USAGE;
}

/* ---- deliveries ---- */

/* False after saying so when the provider does not exist (or cannot be read). */
static bool provider_exists(struct cli *c, const char *id)
{
    struct byoc_provider p;
    enum byoc_err e = byoc_store_provider_get(c->store, id, &p);
    if (e) {
        cli_fail(e, id);
        return false;
    }
    byoc_provider_release(&p);
    return true;
}

static int deliveries_list(struct cli *c)
{
    bool bad = false;
    const char *state = cli_flag(c, "--state", &bad);
    const char *provider = cli_flag(c, "--provider", &bad);
    const char *webhook = cli_flag(c, "--webhook", &bad);
    const char *limit_text = cli_flag(c, "--limit", &bad);
    enum byoc_delivery_state st = BYOC_DELIVERY_DEAD;
    int64_t limit = DELIVERY_LIST_DEFAULT;
    if (bad || (state && !byoc_delivery_state_parse(state, &st)) ||
        (limit_text && !byoc_parse_i64(limit_text, 1, BYOC_LIST_PAGE_MAX, &limit))) {
        fprintf(stderr,
                "byocd deliveries list [--state pending|sending|delivered|dead] "
                "[--provider ID] [--webhook ID] [--limit 1-%d]\n",
                BYOC_LIST_PAGE_MAX);
        return CLI_USAGE;
    }
    if (provider && !provider_exists(c, provider))
        return CLI_NOT_FOUND;
    struct byoc_delivery *ds = NULL;
    size_t n = 0;
    enum byoc_err e = byoc_store_delivery_list(c->store, state ? (int)st : -1, provider, webhook, 0,
                                               (size_t)limit, &ds, &n);
    if (e)
        return cli_fail(e, "deliveries list");
    printf("%-28s %-10s %-8s %-21s %-24s %s\n", "DELIVERY", "STATE", "ATTEMPTS", "CREATED", "EVENT",
           "LAST ERROR");
    for (size_t i = 0; i < n; i++) {
        char created[32];
        cli_time(ds[i].created_at, created);
        printf("%-28s %-10s %-8lld %-21s %-24s %s\n", ds[i].id,
               byoc_delivery_state_name(ds[i].state), (long long)ds[i].attempts, created,
               ds[i].event.type ? ds[i].event.type : "-",
               ds[i].last_error ? ds[i].last_error : "-");
    }
    if (n == 0)
        printf("(none)\n");
    else if ((int64_t)n == limit)
        printf("(first %zu; --limit shows more)\n", n);
    byoc_delivery_list_free(ds, n);
    return CLI_OK;
}

static int deliveries_replay(struct cli *c)
{
    bool bad = false;
    const char *provider = cli_flag(c, "--provider", &bad), *one = cli_arg(c, 0);
    if (bad || (!provider == !one)) {
        fprintf(stderr, "byocd deliveries replay DELIVERY | --provider ID\n");
        return CLI_USAGE;
    }
    if (provider && !provider_exists(c, provider))
        return CLI_NOT_FOUND;
    struct byoc_write w = {.kind = BYOC_WRITE_DELIVERY_REPLAY};
    w.in.replay.delivery_id = one;
    w.in.replay.provider_id = provider;
    w.in.replay.now = byoc_now_ms();
    enum byoc_err e = byoc_store_write(c->store, &w);
    if (e == BYOC_ERR_CONFLICT) {
        fprintf(stderr, "byocd: %s is not dead; only dead deliveries are replayed\n", one);
        return CLI_USAGE;
    }
    if (e)
        return cli_fail(e, one ? one : provider);
    printf("%lld deliveries queued again (in their original order per conversation); a running "
           "byocd sends them within a second\n",
           (long long)w.out.replayed);
    return CLI_OK;
}

int cli_deliveries(struct cli *c, const char *verb)
{
    if (strcmp(verb, "list") == 0)
        return deliveries_list(c);
    if (strcmp(verb, "replay") == 0)
        return deliveries_replay(c);
    fprintf(stderr, "byocd deliveries: unknown action %s (list, replay)\n", verb);
    return CLI_USAGE;
}

/* ---- backup ---- */

int cli_backup(struct cli *c)
{
    const char *dest = cli_arg(c, 0);
    if (!dest) {
        fprintf(stderr, "byocd backup FILE: where to write the copy (a new file)\n");
        return CLI_USAGE;
    }
    char why[WHY_MAX] = "";
    enum byoc_err e = byoc_store_backup(c->store, dest, why, sizeof why);
    if (e) {
        fprintf(stderr, "byocd backup: %s\n", why[0] ? why : byoc_strerror(e));
        return e == BYOC_ERR_CONFLICT || e == BYOC_ERR_INVALID ? CLI_USAGE : CLI_FAILED;
    }
    printf("backed up %s to %s (the copy was checked)\n"
           "The stored CXone credentials and webhook secrets are sealed with the master key: keep "
           "%s with this copy.\nRestore: %s.\n",
           c->cfg->database, dest,
           c->cfg->master_key ? "BYOCD_MASTER_KEY" : "master.key (beside the database)",
           byoc_store_restore_hint(c->store));
    return CLI_OK;
}
