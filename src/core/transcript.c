#include "byoc/transcript.h"

#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

static enum byoc_err push(char ***list, size_t *n, const char *s, size_t len)
{
    char **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return BYOC_ERR_NOMEM;
    *list = grown;
    grown[*n] = strndup(s, len);
    if (!grown[*n])
        return BYOC_ERR_NOMEM;
    (*n)++;
    return BYOC_ERR_OK;
}

/* Byte length of the next piece of s (len bytes) holding at most max_chars characters, and the
 * bytes to skip after it (the newline or space it was cut at). */
static size_t next_piece(const char *s, size_t len, size_t max_chars, size_t *skip)
{
    size_t i = 0, chars = 0, last_nl = 0, last_sp = 0;
    *skip = 0;
    while (i < len && chars < max_chars) {
        size_t step = byoc_utf8_seq_len(s + i, len - i);
        if (step == 0)
            step = 1; /* callers pass valid UTF-8; never loop forever on a bad byte */
        if (s[i] == '\n')
            last_nl = i;
        else if (s[i] == ' ')
            last_sp = i;
        i += step;
        chars++;
    }
    if (i >= len)
        return len;
    /* The cut falls on a separator: drop it, unless a line end in reach is the better cut. */
    if (s[i] == '\n' || (s[i] == ' ' && !last_nl)) {
        *skip = 1;
        return i;
    }
    size_t cut = last_nl ? last_nl : last_sp;
    if (cut) {
        *skip = 1;
        return cut;
    }
    return i;
}

enum byoc_err byoc_chunk_text(const char *text, size_t max_chars, char ***out, size_t *n)
{
    char **list = NULL;
    size_t count = 0, len = strlen(text), skip = 0;
    enum byoc_err e = max_chars ? BYOC_ERR_OK : BYOC_ERR_INVALID;
    while (!e && len > 0) {
        size_t piece = next_piece(text, len, max_chars, &skip);
        if (piece)
            e = push(&list, &count, text, piece);
        text += piece + skip;
        len -= piece + skip;
    }
    if (e) {
        byoc_chunks_free(list, count);
        return e;
    }
    *out = list;
    *n = count;
    return BYOC_ERR_OK;
}

void byoc_chunks_free(char **chunks, size_t n)
{
    for (size_t i = 0; chunks && i < n; i++)
        free(chunks[i]);
    free(chunks);
}

static const char *label(const char *role)
{
    return strcmp(role, "bot") == 0 ? "Bot" : "Customer";
}

static enum byoc_err per_turn(const struct byoc_turn *turns, size_t n, size_t max_chars,
                              char ***out, size_t *nout)
{
    enum byoc_err e = BYOC_ERR_OK;
    for (size_t i = 0; !e && i < n; i++) {
        struct byoc_buf line;
        byoc_buf_init(&line, BYOC_MESSAGE_TEXT_MAX + 32);
        char **pieces = NULL;
        size_t np = 0;
        e = byoc_buf_printf(&line, "%s: %s", label(turns[i].role), turns[i].text);
        if (!e)
            e = byoc_chunk_text(byoc_buf_str(&line), max_chars, &pieces, &np);
        for (size_t k = 0; !e && k < np; k++)
            e = push(out, nout, pieces[k], strlen(pieces[k]));
        byoc_chunks_free(pieces, np);
        byoc_buf_release(&line);
    }
    return e;
}

enum byoc_err byoc_transcript_messages(const struct byoc_turn *turns, size_t n,
                                       enum byoc_transcript_mode mode, size_t max_chars,
                                       char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    enum byoc_err e;
    if (mode == BYOC_TRANSCRIPT_PER_TURN) {
        e = per_turn(turns, n, max_chars, out, nout);
    } else {
        struct byoc_buf all;
        byoc_buf_init(&all, (size_t)BYOC_TRANSCRIPT_TURNS_MAX * (BYOC_MESSAGE_TEXT_MAX + 16));
        e = BYOC_ERR_OK;
        for (size_t i = 0; !e && i < n; i++)
            e = byoc_buf_printf(&all, "%s%s: %s", i ? "\n" : "", label(turns[i].role),
                                turns[i].text);
        if (!e && all.len)
            e = byoc_chunk_text(byoc_buf_str(&all), max_chars, out, nout);
        byoc_buf_release(&all);
    }
    if (e) {
        byoc_chunks_free(*out, *nout);
        *out = NULL;
        *nout = 0;
    }
    return e;
}
