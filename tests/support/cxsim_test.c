#include "cxsim_test.h"

#include <stdio.h>
#include <stdlib.h>

struct byoc_cxsim *test_cxsim_start(void)
{
    struct byoc_cxsim_config cfg = {.host = "127.0.0.1", .port = 0, .record_calls = true};
    struct byoc_cxsim *f = NULL;
    char why[256] = "";
    if (byoc_cxsim_start(&cfg, &f, why, sizeof why) != BYOC_ERR_OK) {
        fprintf(stderr, "cannot start the CXone simulator: %s\n", why);
        abort();
    }
    return f;
}
