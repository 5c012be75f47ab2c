/* byoc_json_parse: every request body byocd reads goes through it (UTF-8, depth, trailing
 * bytes). Accepted input must render back to JSON that parses to the same tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = NULL;
    if (byoc_json_parse((const char *)data, size, &j) != BYOC_ERR_OK || !j)
        return 0;
    char *text = byoc_json_render(j);
    cJSON *again = NULL;
    if (text && (byoc_json_parse(text, strlen(text), &again) != BYOC_ERR_OK ||
                 !cJSON_Compare(j, again, true)))
        abort(); /* what byocd writes it must read back */
    cJSON_Delete(again);
    free(text);
    cJSON_Delete(j);
    return 0;
}
