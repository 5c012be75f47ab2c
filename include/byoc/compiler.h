/* Compiler helpers shared by every module. */
#ifndef BYOC_COMPILER_H
#define BYOC_COMPILER_H

#define BYOC_MUST_USE __attribute__((warn_unused_result))
#define BYOC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BYOC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
