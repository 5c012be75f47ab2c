/* A small pool of threads for blocking work (outbound HTTP), so the HTTP thread never blocks. */
#ifndef BYOC_TASKS_H
#define BYOC_TASKS_H

#include <stddef.h>

#include "byoc/compiler.h"
#include "byoc/err.h"

struct byoc_tasks;
typedef void (*byoc_task_fn)(void *arg);

BYOC_MUST_USE enum byoc_err byoc_tasks_start(unsigned threads, size_t max_queued,
                                             struct byoc_tasks **out);
/* Runs fn(arg) on a pool thread. OVERLOADED when the queue is full, SHUTTING_DOWN after stop
 * began; then fn is not called and arg stays the caller's. Any thread. */
BYOC_MUST_USE enum byoc_err byoc_tasks_submit(struct byoc_tasks *t, byoc_task_fn fn, void *arg);
/* Refuses new tasks (SHUTTING_DOWN), runs every queued one, joins the threads. The pool stays
 * valid for submit calls until byoc_tasks_free. NULL ok. */
void byoc_tasks_stop(struct byoc_tasks *t);
/* Stops (if not yet) and frees the pool. NULL ok. */
void byoc_tasks_free(struct byoc_tasks *t);

#endif
