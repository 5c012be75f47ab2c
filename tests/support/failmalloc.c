/*
 * failmalloc — see failmalloc.h.
 *
 * glibc documents how a program replaces its allocator ("Replacing malloc" in its manual):
 * define malloc, free, calloc and realloc, and also every other function that allocates
 * (aligned_alloc, memalign, posix_memalign, pvalloc, valloc), since a block from one of those
 * would otherwise reach this free() uncounted. glibc's own functions (strdup, fopen, ...)
 * call malloc through the symbol table, so they come here too. Here each definition counts,
 * maybe refuses, and calls glibc's exported real implementation, so blocks are ordinary glibc
 * blocks (malloc_usable_size, which SQLite uses, keeps working).
 */
#include "failmalloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* glibc's allocator under its exported internal names (GLIBC_2.2.5). Declared here, not
 * taken from a header, because no header declares them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* The prototypes of the definitions below, for -Wmissing-prototypes (stdlib.h and malloc.h are
 * not included: their declarations carry attributes these definitions need not repeat). */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void *reallocarray(void *p, size_t n, size_t size);
void free(void *p);
void *memalign(size_t alignment, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
int posix_memalign(void **out, size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);

static atomic_llong live;         /* blocks allocated and not yet freed, all threads */
static atomic_llong allocations;  /* successful allocations ever, all threads */
static atomic_long armed_at;      /* 0: disarmed; else the allocation number to refuse */
static atomic_long armed_count;   /* allocations of non-exempt threads since failmalloc_arm */
static atomic_long failures;      /* refused on purpose */
static _Thread_local bool exempt; /* this thread is never refused */

/* True when this allocation is the one to refuse (errno is then ENOMEM). */
static bool refuse(void)
{
    long at = atomic_load(&armed_at);
    if (at == 0 || exempt)
        return false;
    if (atomic_fetch_add(&armed_count, 1) + 1 != at)
        return false;
    atomic_fetch_add(&failures, 1);
    errno = ENOMEM;
    return true;
}

static void *counted(void *p)
{
    if (p) {
        atomic_fetch_add(&live, 1);
        atomic_fetch_add(&allocations, 1);
    }
    return p;
}

void *malloc(size_t size)
{
    return refuse() ? NULL : counted(__libc_malloc(size));
}

void *calloc(size_t n, size_t size)
{
    return refuse() ? NULL : counted(__libc_calloc(n, size));
}

void *realloc(void *p, size_t size)
{
    if (!p)
        return malloc(size);
    if (size == 0) { /* glibc frees the block and returns NULL */
        free(p);
        return NULL;
    }
    if (refuse())
        return NULL; /* the block stays as it was, as after a real failure */
    return __libc_realloc(p, size);
}

void *reallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n * size);
}

void free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&live, 1);
    __libc_free(p);
}

void *memalign(size_t alignment, size_t size)
{
    return refuse() ? NULL : counted(__libc_memalign(alignment, size));
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    /* A power of two and a multiple of sizeof(void *), as POSIX asks. */
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = memalign(alignment, size);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    return refuse() ? NULL : counted(__libc_valloc(size));
}

void *pvalloc(size_t size)
{
    return refuse() ? NULL : counted(__libc_pvalloc(size));
}

bool failmalloc_active(void)
{
    /* Through another library: glibc's strdup allocates with whatever malloc the process
     * resolved, so this tells whether the libraries byocd uses reach the definitions above. */
    char *(*volatile dup)(const char *) = strdup;
    long long before = atomic_load(&allocations);
    char *p = dup("x");
    bool ours = atomic_load(&allocations) != before;
    free(p);
    return ours;
}

void failmalloc_exempt_this_thread(void)
{
    exempt = true;
}

void failmalloc_arm(long n)
{
    atomic_store(&armed_at, 0);
    atomic_store(&armed_count, 0);
    atomic_store(&armed_at, n);
}

long failmalloc_disarm(void)
{
    atomic_store(&armed_at, 0);
    return atomic_load(&armed_count);
}

long failmalloc_failures(void)
{
    return atomic_load(&failures);
}

long long failmalloc_live(void)
{
    return atomic_load(&live);
}
