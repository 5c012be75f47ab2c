/*
 * failmalloc — fails the Nth heap allocation on purpose (curl's "torture" idea) and counts live
 * allocations, for tests that drive a whole request through byocd with one allocation refused.
 *
 * failmalloc.c defines malloc, calloc, realloc, reallocarray, free and the aligned allocators.
 * Compiled into a test executable (never into a library the other tests link), those
 * definitions interpose over glibc's for every library of the process (libmicrohttpd, libcurl,
 * cJSON, SQLite, OpenSSL and byocd's own code); they hand the work to glibc's allocator
 * (__libc_malloc and friends), so the heap itself is glibc's.
 *
 * It cannot be combined with AddressSanitizer or valgrind, which replace malloc themselves;
 * failmalloc_active() tells whether these definitions are the ones the process uses.
 *
 * Counting: every thread's allocations and frees count towards failmalloc_live(). Failing:
 * while armed, allocations of threads that did not call failmalloc_exempt_this_thread() are
 * numbered from 1, and number N (only that one) returns NULL with errno ENOMEM. A test exempts
 * its own thread, so its HTTP client and checks never see a failure, and arms around one
 * request: only the server's threads are refused.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef FAILMALLOC_H
#define FAILMALLOC_H

#include <stdbool.h>

/* True when this file's malloc is the process's malloc (false under ASan or valgrind). */
bool failmalloc_active(void);
/* The calling thread's allocations never fail (they still count as live). */
void failmalloc_exempt_this_thread(void);
/* From now on, the nth (n >= 1) allocation of a non-exempt thread fails; the count restarts. */
void failmalloc_arm(long n);
/* Stops failing; returns how many allocations non-exempt threads asked for while armed (so a
 * result below n means the armed failure was never reached). */
long failmalloc_disarm(void);
/* Allocations refused on purpose since the process started. */
long failmalloc_failures(void);
/* Blocks currently allocated (allocations minus frees, every thread). */
long long failmalloc_live(void);

#endif /* FAILMALLOC_H */
