/* The CXone simulator (include/byoc/cxsim.h) as tests use it: on 127.0.0.1, an ephemeral port,
 * every call recorded. */
#ifndef CXSIM_TEST_H
#define CXSIM_TEST_H

#include "byoc/cxsim.h"

/* Starts the simulator; aborts the test program (after a message on stderr) on failure. */
struct byoc_cxsim *test_cxsim_start(void);

#endif
