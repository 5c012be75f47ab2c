/* Configuration values: the input is lines KEY=VALUE, answered by a getenv stand-in. A load
 * either fails with a reason or gives a configuration whose every key has a value in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/config.h"
#include "fuzz_input.h"

#define MAX_PAIRS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *keys[MAX_PAIRS], *values[MAX_PAIRS];
static size_t npairs;

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < npairs; i++) {
        if (strcmp(keys[i], name) == 0)
            return values[i];
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    npairs = 0;
    for (char *line = text; line && npairs < MAX_PAIRS;) {
        char *next = fuzz_cut_line(line);
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            keys[npairs] = line;
            values[npairs++] = eq + 1;
        }
        line = next;
    }
    struct byoc_config cfg;
    char why[512];
    if (byoc_config_load(&cfg, NULL, fake_getenv, why, sizeof why) == BYOC_ERR_OK) {
        if (!cfg.listen_host || !cfg.database || !cfg.public_url || cfg.listen_port < 0 ||
            cfg.listen_port > 65535 || cfg.token_ttl <= 0)
            abort();
        byoc_config_release(&cfg);
    } else if (!why[0]) {
        abort(); /* every refusal names its reason */
    }
    free(text);
    return 0;
}
