/* Shared inside src/cli/ only: the operator commands run against the database directly (the
 * server may be running; SQLite's locking and busy timeout keep the two apart). */
#ifndef BYOC_CLI_INTERNAL_H
#define BYOC_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "byoc/config.h"
#include "byoc/keys.h"
#include "byoc/store.h"

/* Exit codes of every command (README, `byocd help`). */
enum cli_exit {
    CLI_OK = 0,
    CLI_FAILED = 1,    /* the database, CXone or the network failed */
    CLI_USAGE = 2,     /* bad arguments or configuration */
    CLI_NOT_FOUND = 3, /* the provider, channel or delivery does not exist */
    CLI_CHECKS = 4,    /* doctor: at least one check failed */
};

struct cli {
    const struct byoc_config *cfg;
    struct byoc_store *store;
    struct byoc_keys keys;
    int argc; /* the arguments after the command's words */
    char **argv;
};

/* Value of --name in c->argv (NULL if absent); a flag without a value is a usage error. */
const char *cli_flag(struct cli *c, const char *name, bool *bad);
bool cli_has(struct cli *c, const char *name);
/* The n-th argument that is neither a flag nor a flag's value (NULL if absent). */
const char *cli_arg(struct cli *c, int n);
/* Prints the error for e (with what) and returns the matching exit code. */
int cli_fail(enum byoc_err e, const char *what);
/* "2026-11-21 10:00:00Z" or "-" for 0. */
void cli_time(int64_t unix_ms, char out[32]);

int cli_provider(struct cli *c, const char *verb);
int cli_channel(struct cli *c, const char *verb);
int cli_deliveries(struct cli *c, const char *verb);
int cli_backup(struct cli *c);
int cli_doctor(struct cli *c);

#endif
