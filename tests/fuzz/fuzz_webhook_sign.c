/* Standard Webhooks signing: any secret is refused or signs deterministically; the signature
 * depends on the body. Input: secret line, message id line, body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/webhook.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    char *id = fuzz_cut_line(text);
    char *body = fuzz_cut_line(id);
    const char *msg_id = id ? id : "msg_1";
    const char *payload = body ? body : "{}";
    char a[BYOC_WEBHOOK_SIGNATURE_MAX], b[BYOC_WEBHOOK_SIGNATURE_MAX];
    enum byoc_err e1 = byoc_webhook_sign(text, msg_id, 1795000000, payload, strlen(payload), a);
    enum byoc_err e2 = byoc_webhook_sign(text, msg_id, 1795000000, payload, strlen(payload), b);
    if (e1 != e2 || (e1 == BYOC_ERR_OK && strcmp(a, b) != 0))
        abort();
    if (e1 == BYOC_ERR_OK) {
        if (strncmp(a, "v1,", 3) != 0)
            abort();
        char other[BYOC_WEBHOOK_SIGNATURE_MAX];
        size_t n = strlen(payload);
        char *changed = malloc(n + 2);
        if (changed) {
            memcpy(changed, payload, n);
            changed[n] = 'x';
            changed[n + 1] = '\0';
            if (byoc_webhook_sign(text, msg_id, 1795000000, changed, n + 1, other) != BYOC_ERR_OK ||
                strcmp(a, other) == 0)
                abort();
            free(changed);
        }
    }
    free(text);
    return 0;
}
