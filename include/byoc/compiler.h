/* Compiler helpers shared by every module. */
#ifndef BYOC_COMPILER_H
#define BYOC_COMPILER_H

#include <stdlib.h>

#define BYOC_MUST_USE __attribute__((warn_unused_result))
#define BYOC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BYOC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Scope cleanup: `BYOC_AUTOFREE char *p = NULL;` frees p when the scope ends.
 * Hand ownership out with BYOC_TAKE_PTR(p), which returns p and leaves NULL behind. */
static inline void byoc_freep(void *p)
{
    free(*(void **)p);
}
#define BYOC_AUTOFREE __attribute__((cleanup(byoc_freep)))
#define BYOC_TAKE_PTR(p)                                                                           \
    ({                                                                                             \
        __typeof__(p) byoc_take_tmp_ = (p);                                                        \
        (p) = NULL;                                                                                \
        byoc_take_tmp_;                                                                            \
    })

#endif
