/* What CXone posts to the integration box, in both formats (1.0 post replies, 2.0 outbound). */
#include <stdint.h>
#include <stdlib.h>

#include "byoc/agent_reply.h"
#include "byoc/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *body = NULL;
    if (byoc_json_parse((const char *)data, size, &body) != BYOC_ERR_OK)
        return 0;
    static const enum byoc_agent_msg_kind kinds[] = {BYOC_AGENT_MSG_REPLY, BYOC_AGENT_MSG_OUTBOUND};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        struct byoc_agent_msg m = {0};
        struct byoc_reply_notes notes = {0};
        if (byoc_agent_reply_parse(body, (const char *)data, size, kinds[i], "prv_fuzz", "post-1",
                                   1795000000000, &m, &notes) == BYOC_ERR_OK)
            byoc_agent_msg_release(&m);
    }
    cJSON_Delete(body);
    return 0;
}
