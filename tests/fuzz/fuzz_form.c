/* application/x-www-form-urlencoded and Basic credentials: decoded text is valid UTF-8 without
 * NUL and never longer than its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/json.h"
#include "byoc/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = byoc_form_decode((const char *)data, size);
    if (!out)
        return 0;
    size_t n = strlen(out);
    if (n > size || !byoc_utf8_valid(out, n))
        abort();
    free(out);
    return 0;
}
