/* The bot conversation handed to the agent first: "Customer: …" / "Bot: …" lines, as one readable
 * message split into chunks, or one message per turn. Thread-safe. */
#ifndef BYOC_TRANSCRIPT_H
#define BYOC_TRANSCRIPT_H

#include <stddef.h>

#include "byoc/store.h"

#define BYOC_TRANSCRIPT_TURNS_MAX 500

struct byoc_turn {
    const char *role; /* "user" or "bot" */
    const char *text;
};

/* Splits text into pieces of at most max_chars characters (not bytes): at a line end when one is
 * in reach, else at a space, else between characters; never inside a UTF-8 sequence. Pieces are
 * malloc'd; free with byoc_chunks_free. text must be valid UTF-8. */
BYOC_MUST_USE enum byoc_err byoc_chunk_text(const char *text, size_t max_chars, char ***out,
                                            size_t *n);
void byoc_chunks_free(char **chunks, size_t n);

/* The messages that carry the transcript, in order (none for no turns). */
BYOC_MUST_USE enum byoc_err byoc_transcript_messages(const struct byoc_turn *turns, size_t n,
                                                     enum byoc_transcript_mode mode,
                                                     size_t max_chars, char ***out, size_t *nout);

#endif
