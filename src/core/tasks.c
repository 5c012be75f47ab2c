#include "byoc/tasks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "byoc/banned.h"

struct task {
    byoc_task_fn fn;
    void *arg;
    struct task *next;
};

struct byoc_tasks {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task *head, *tail;
    size_t queued, max_queued;
    bool stopping;
    unsigned nthreads;
    pthread_t threads[];
};

static void *tasks_main(void *arg)
{
    struct byoc_tasks *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->head && !t->stopping)
            pthread_cond_wait(&t->cv, &t->mu);
        struct task *job = t->head;
        if (!job)
            break; /* stopping and drained */
        t->head = job->next;
        if (!t->head)
            t->tail = NULL;
        t->queued--;
        pthread_mutex_unlock(&t->mu);
        job->fn(job->arg);
        free(job);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

enum byoc_err byoc_tasks_start(unsigned threads, size_t max_queued, struct byoc_tasks **out)
{
    struct byoc_tasks *t = calloc(1, sizeof *t + threads * sizeof(pthread_t));
    if (!t)
        return BYOC_ERR_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->max_queued = max_queued;
    for (; t->nthreads < threads; t->nthreads++) {
        if (pthread_create(&t->threads[t->nthreads], NULL, tasks_main, t) != 0) {
            byoc_tasks_free(t);
            return BYOC_ERR_INTERNAL;
        }
    }
    *out = t;
    return BYOC_ERR_OK;
}

enum byoc_err byoc_tasks_submit(struct byoc_tasks *t, byoc_task_fn fn, void *arg)
{
    struct task *job = malloc(sizeof *job);
    if (!job)
        return BYOC_ERR_NOMEM;
    *job = (struct task){fn, arg, NULL};
    pthread_mutex_lock(&t->mu);
    enum byoc_err e = t->stopping                  ? BYOC_ERR_SHUTTING_DOWN
                      : t->queued >= t->max_queued ? BYOC_ERR_OVERLOADED
                                                   : BYOC_ERR_OK;
    if (!e) {
        if (t->tail)
            t->tail->next = job;
        else
            t->head = job;
        t->tail = job;
        t->queued++;
        pthread_cond_signal(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    if (e)
        free(job);
    return e;
}

void byoc_tasks_stop(struct byoc_tasks *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    bool joined = t->stopping;
    t->stopping = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (unsigned i = 0; !joined && i < t->nthreads; i++)
        pthread_join(t->threads[i], NULL);
}

void byoc_tasks_free(struct byoc_tasks *t)
{
    if (!t)
        return;
    byoc_tasks_stop(t);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}
