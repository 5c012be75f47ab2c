/* Shared by the fuzz targets that read text: the input as a NUL-terminated copy, split in lines. */
#ifndef BYOC_FUZZ_INPUT_H
#define BYOC_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of the input (the caller frees it), or NULL when out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}

/* Ends the line that starts at *line and returns where the next starts (NULL after the last). */
static inline char *fuzz_cut_line(char *line)
{
    char *next = line ? strchr(line, '\n') : NULL;
    if (next)
        *next++ = '\0';
    return next;
}

#endif
