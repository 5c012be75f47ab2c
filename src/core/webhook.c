#include "byoc/webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/crypto.h"
#include "byoc/json.h"
#include "byoc/util.h"
#include "byoc/banned.h"

#define SECRET_PREFIX "whsec_"
#define SIGNED_HEAD_MAX 96 /* "id.timestamp." */

enum byoc_err byoc_webhook_secret_new(char out[BYOC_WEBHOOK_SECRET_MAX])
{
    uint8_t key[BYOC_WEBHOOK_SECRET_BYTES];
    char b64[48];
    enum byoc_err e = byoc_random_bytes(key, sizeof key);
    if (!e && byoc_base64_encode(key, sizeof key, b64, sizeof b64) == 0)
        e = BYOC_ERR_INTERNAL;
    if (!e)
        snprintf(out, BYOC_WEBHOOK_SECRET_MAX, SECRET_PREFIX "%s", b64);
    byoc_wipe(key, sizeof key);
    return e;
}

enum byoc_err byoc_webhook_sign(const char *secret, const char *msg_id, int64_t ts,
                                const char *body, size_t len, char out[BYOC_WEBHOOK_SIGNATURE_MAX])
{
    size_t plen = sizeof SECRET_PREFIX - 1;
    if (!secret || strncmp(secret, SECRET_PREFIX, plen) != 0)
        return BYOC_ERR_INVALID;
    uint8_t key[64], mac[BYOC_SHA256_LEN];
    size_t key_len = 0;
    enum byoc_err e =
        byoc_base64_decode(secret + plen, strlen(secret + plen), key, sizeof key, &key_len);
    if (e || key_len == 0) {
        byoc_wipe(key, sizeof key);
        return BYOC_ERR_INVALID;
    }
    char head[SIGNED_HEAD_MAX];
    int n = snprintf(head, sizeof head, "%s.%" PRId64 ".", msg_id, ts);
    struct byoc_buf signed_text;
    byoc_buf_init(&signed_text, (size_t)SIZE_MAX / 2);
    e = (n > 0 && (size_t)n < sizeof head) ? byoc_buf_append(&signed_text, head, (size_t)n)
                                           : BYOC_ERR_INVALID;
    if (!e)
        e = byoc_buf_append(&signed_text, body, len);
    if (!e) {
        byoc_hmac_sha256(key, key_len, signed_text.data, signed_text.len, mac);
        memcpy(out, "v1,", 4);
        if (byoc_base64_encode(mac, sizeof mac, out + 3, BYOC_WEBHOOK_SIGNATURE_MAX - 3) == 0)
            e = BYOC_ERR_INTERNAL;
    }
    byoc_buf_release(&signed_text);
    byoc_wipe(key, sizeof key);
    return e;
}

cJSON *byoc_event_view(const struct byoc_event *e)
{
    cJSON *v = cJSON_CreateObject(), *data = NULL;
    const char *text = e->data_json ? e->data_json : "{}";
    if (byoc_json_parse(text, strlen(text), &data) != BYOC_ERR_OK)
        data = cJSON_CreateObject();
    char iso[BYOC_TIME_ISO_MAX];
    byoc_time_iso(e->created_at, iso);
    bool ok = v && data && byoc_json_add_str(v, "id", e->id) &&
              byoc_json_add_str(v, "type", e->type) && byoc_json_add_str(v, "created_at", iso) &&
              byoc_json_add_str(v, "provider_id", e->provider_id) &&
              byoc_json_add_str(v, "conversation_id", e->conversation_id) &&
              cJSON_AddNumberToObject(v, "seq", (double)e->seq);
    if (ok && cJSON_AddItemToObject(v, "data", data))
        return v;
    cJSON_Delete(data);
    cJSON_Delete(v);
    return NULL;
}

char *byoc_event_envelope(const struct byoc_event *e)
{
    cJSON *v = byoc_event_view(e);
    char *text = v ? byoc_json_render(v) : NULL;
    cJSON_Delete(v);
    return text;
}
