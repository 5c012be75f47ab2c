/* Operator commands: byocd provider|channel|deliveries|backup|doctor. */
#ifndef BYOC_CLI_H
#define BYOC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "byoc/config.h"
#include "byoc/provider.h"

/* True for the first word of an operator command. */
bool byoc_cli_is_command(const char *word);
/* Runs the command in argv[0..argc) (argv[0] is its first word, global options already taken
 * out) with the loaded configuration; returns the process exit code. */
int byoc_cli_main(const struct byoc_config *cfg, int argc, char **argv);
/* The block an admin pastes into CXone's BYOC form (client_secret NULL: say it was shown once). */
void byoc_cli_print_provider(FILE *out, const struct byoc_config *cfg,
                             const struct byoc_provider *p, const char *client_secret);
/* The secrets minted with a provider, shown once. */
void byoc_cli_print_secrets(FILE *out, const struct byoc_provider_secrets *s);
/* Usage of the operator commands, for `byocd help`. */
void byoc_cli_usage(FILE *out);

#endif
