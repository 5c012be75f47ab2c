/* byocd sandbox: byocd with a CXone simulator (agent console) and a demo bot (customer chat) in
 * the same process, wired to each other, on a fresh database in a temporary directory, so a
 * handover can be tried without a CXone tenant. main.c runs byocd as for `serve` and calls these
 * around it:
 *   byoc_sandbox_start    before the database opens: starts the simulator and the bot, points
 *                         cfg at a new temporary database, allows webhooks to loopback
 *   byoc_sandbox_connect  once byocd listens: creates the sandbox provider and channel, tells
 *                         the simulator and the bot where byocd is, prints the URLs to open
 *   byoc_sandbox_quiesce  before byocd stops: nothing held back any more
 *   byoc_sandbox_stop     after byocd stopped: stops both, removes the temporary directory
 * Threads: all three from main's thread. */
#ifndef BYOC_SANDBOX_H
#define BYOC_SANDBOX_H

#include <stdio.h>

#include "byoc/app.h"
#include "byoc/compiler.h"
#include "byoc/config.h"
#include "byoc/err.h"

#define BYOC_SANDBOX_CXONE_PORT 8081 /* default port of the CXone simulator */
#define BYOC_SANDBOX_BOT_PORT 8082   /* default port of the demo bot */

struct byoc_sandbox;

struct byoc_sandbox_options {
    int port;       /* byocd's port; -1: BYOCD_LISTEN's; 0: any free port */
    int cxone_port; /* 0: any free port */
    int bot_port;   /* 0: any free port */
};

/* Rewrites cfg's database, master key, webhook and listen settings for the sandbox. */
BYOC_MUST_USE enum byoc_err byoc_sandbox_start(const struct byoc_sandbox_options *o,
                                               struct byoc_config *cfg, struct byoc_sandbox **out,
                                               char *why, size_t why_cap);
/* cfg is the one byoc_sandbox_start rewrote (its public URL is set to the bound port); out gets
 * the URLs and the credentials a developer needs. */
BYOC_MUST_USE enum byoc_err byoc_sandbox_connect(struct byoc_sandbox *s, struct byoc_app *app,
                                                 struct byoc_config *cfg, int byocd_port, FILE *out,
                                                 char *why, size_t why_cap);
/* Before byocd stops: the simulator answers what it holds back (Misbehave's delay), so byocd's
 * calls in flight end at once. NULL ok. */
void byoc_sandbox_quiesce(struct byoc_sandbox *s);
/* NULL ok. */
void byoc_sandbox_stop(struct byoc_sandbox *s);

#endif
