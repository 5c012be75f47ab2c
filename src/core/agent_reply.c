#include "byoc/agent_reply.h"

#include <stdio.h>
#include <string.h>

#include "byoc/buf.h"
#include "byoc/json.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

/* Top-level keys we read or know to be harmless; anything else is noted for the log. */
/* clang-format off */
static const char *const known_keys[] = {
    "id", "messageId", "idOnExternalPlatform", "message", "messageContent", "text", "content",
    "attachments", "thread", "threadIdOnExternalPlatform", "post", "authorUser", "user", "agent",
    "author", "replyToMessage", "recipients", "endUserRecipients", "brand", "channel",
    "authorEndUserIdentity", "createdAt", "createdAtWithMilliseconds", "direction", "case",
    "contact", "tags", "isRead", "readAt", "customFields", "externalAttributes", "sender",
    "channelId", "postId", "title"};
/* clang-format on */

static void note_unexpected(const cJSON *body, struct byoc_reply_notes *notes)
{
    notes->n_unexpected = 0;
    notes->more_unexpected = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        bool known = false;
        for (size_t i = 0; !known && i < BYOC_ARRAY_LEN(known_keys); i++)
            known = strcmp(it->string, known_keys[i]) == 0;
        if (known)
            continue;
        if (notes->n_unexpected < BYOC_UNEXPECTED_KEYS_MAX)
            notes->unexpected[notes->n_unexpected++] = it->string;
        else
            notes->more_unexpected = true;
    }
}

/* First non-empty string among candidate paths (each a NULL-terminated key list). */
static const char *first_str(const cJSON *body, const char *const *const *paths)
{
    for (; *paths; paths++) {
        const cJSON *v = body;
        for (const char *const *k = *paths; v && *k; k++)
            v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, *k) : NULL;
        if (cJSON_IsString(v) && v->valuestring[0])
            return v->valuestring;
    }
    return NULL;
}

#define PATH(...) ((const char *const[]){__VA_ARGS__, NULL})
#define PATHS(...) ((const char *const *const[]){__VA_ARGS__, NULL})

static char *dup_capped(const char *s, size_t cap, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strndup(s, byoc_utf8_prefix(s, strlen(s), cap));
    if (!d)
        *ok = false;
    return d;
}

/* The message id CXone gave this message: a string or an integral number. */
static char *message_id(const cJSON *body, bool *ok)
{
    char id[BYOC_EXTERNAL_ID_MAX + 1];
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(body, "message");
    if (byoc_json_id(body, "id", id, sizeof id) || byoc_json_id(body, "messageId", id, sizeof id) ||
        (cJSON_IsObject(msg) && byoc_json_id(msg, "id", id, sizeof id)))
        return dup_capped(id, BYOC_EXTERNAL_ID_MAX, ok);
    return NULL;
}

static const cJSON *author(const cJSON *body)
{
    static const char *const keys[] = {"authorUser", "user", "agent", "author"};
    for (size_t i = 0; i < BYOC_ARRAY_LEN(keys); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        if (cJSON_IsObject(a))
            return a;
    }
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(body, "message");
    const cJSON *a =
        cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "authorUser") : NULL;
    return cJSON_IsObject(a) ? a : NULL;
}

/* "First Last", else the nickname, else the single name field. */
static char *agent_name(const cJSON *a, bool *ok)
{
    if (!a)
        return NULL;
    const char *first = byoc_json_str(a, "firstName");
    const char *last = byoc_json_str(a, "surname");
    if (!last)
        last = byoc_json_str(a, "lastName");
    if (first || last) {
        char name[2 * BYOC_NAME_MAX + 2];
        first = first ? first : "";
        last = last ? last : "";
        snprintf(name, sizeof name, "%.*s%s%.*s",
                 (int)byoc_utf8_prefix(first, strlen(first), BYOC_NAME_MAX), first,
                 *first && *last ? " " : "",
                 (int)byoc_utf8_prefix(last, strlen(last), BYOC_NAME_MAX), last);
        return dup_capped(name, BYOC_NAME_MAX, ok);
    }
    const char *nick = byoc_json_str(a, "nickname");
    return dup_capped(nick ? nick : byoc_json_str(a, "name"), BYOC_NAME_MAX, ok);
}

static const char *str_of(const cJSON *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = byoc_json_str(o, keys[i]);
        if (v && v[0])
            return v;
    }
    return NULL;
}

/* Normalised [{"name","url","mime_type"}]; entries without a URL are dropped. */
static char *attachments_json(const cJSON *body, bool *ok)
{
    static const char *const name_keys[] = {"friendlyName", "name", "fileName", "filename"};
    static const char *const url_keys[] = {"url", "href", "previewUrl"};
    static const char *const mime_keys[] = {"mimeType", "mime_type", "contentType", "type"};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "attachments");
    if (!cJSON_IsArray(list))
        list = byoc_json_path(body, "messageContent", "payload", "attachments", NULL);
    if (!cJSON_IsArray(list))
        list = NULL;
    cJSON *out = cJSON_CreateArray();
    const cJSON *it;
    size_t n = 0;
    cJSON_ArrayForEach(it, list)
    {
        const char *url = str_of(it, url_keys, BYOC_ARRAY_LEN(url_keys));
        if (!out || !url || n >= BYOC_MAX_ATTACHMENTS || strlen(url) > BYOC_URL_MAX)
            continue;
        cJSON *a = cJSON_CreateObject();
        if (!a || !cJSON_AddItemToArray(out, a) ||
            !byoc_json_add_str(a, "name", str_of(it, name_keys, BYOC_ARRAY_LEN(name_keys))) ||
            !byoc_json_add_str(a, "url", url) ||
            !byoc_json_add_str(a, "mime_type", str_of(it, mime_keys, BYOC_ARRAY_LEN(mime_keys))))
            *ok = false;
        n++;
    }
    char *text = out ? byoc_json_render(out) : NULL;
    cJSON_Delete(out);
    if (!text)
        *ok = false;
    return text;
}

static char *text_of(const cJSON *body, bool *ok)
{
    const char *t = first_str(body, PATHS(PATH("messageContent", "payload", "text"),
                                          PATH("messageContent", "text"),
                                          PATH("messageContent", "fallbackText"),
                                          PATH("message", "messageContent", "payload", "text"),
                                          PATH("message", "messageContent", "fallbackText"),
                                          PATH("message", "text"), PATH("text"), PATH("content")));
    return dup_capped(t, BYOC_MESSAGE_TEXT_MAX, ok);
}

static char *thread_of(const cJSON *body, bool *ok)
{
    const char *t = first_str(body, PATHS(PATH("thread", "idOnExternalPlatform"),
                                          PATH("threadIdOnExternalPlatform"),
                                          PATH("post", "idOnExternalPlatform"),
                                          PATH("message", "thread", "idOnExternalPlatform"),
                                          PATH("post", "threadIdOnExternalPlatform")));
    return dup_capped(t, BYOC_EXTERNAL_ID_MAX, ok);
}

static enum byoc_err dedupe_key(struct byoc_agent_msg *m, const char *path_id, const char *raw,
                                size_t raw_len)
{
    struct byoc_buf b;
    byoc_buf_init(&b, 128 + BYOC_EXTERNAL_ID_MAX);
    enum byoc_err e;
    if (m->cxone_message_id) {
        e = byoc_buf_printf(&b, "cxone:%s", m->cxone_message_id);
    } else {
        /* No id from CXone: an identical retry of the same request is the same message. */
        uint8_t h[BYOC_SHA256_LEN];
        char hex[2 * BYOC_SHA256_LEN + 1];
        struct byoc_buf in;
        byoc_buf_init(&in, raw_len + BYOC_EXTERNAL_ID_MAX + 16);
        e = byoc_buf_printf(&in, "%d|%s|", (int)m->kind, path_id ? path_id : "");
        if (!e)
            e = byoc_buf_append(&in, raw, raw_len);
        if (!e) {
            byoc_sha256(in.data, in.len, h);
            byoc_hex_encode(h, sizeof h, hex);
            e = byoc_buf_printf(&b, "sha256:%s", hex);
        }
        byoc_buf_release(&in);
    }
    m->dedupe_key = e ? NULL : byoc_buf_steal(&b, NULL);
    byoc_buf_release(&b);
    return e ? e : (m->dedupe_key ? BYOC_ERR_OK : BYOC_ERR_NOMEM);
}

enum byoc_err byoc_agent_reply_parse(const cJSON *body, const char *raw, size_t raw_len,
                                     enum byoc_agent_msg_kind kind, const char *provider_id,
                                     const char *path_id, int64_t now_ms,
                                     struct byoc_agent_msg *out, struct byoc_reply_notes *notes)
{
    if (!cJSON_IsObject(body))
        return BYOC_ERR_INVALID;
    struct byoc_agent_msg m = {.kind = kind, .received_at = now_ms};
    bool ok = byoc_strlcpy(m.provider_id, provider_id, sizeof m.provider_id);
    const cJSON *a = author(body);
    m.cxone_message_id = message_id(body, &ok);
    m.text = text_of(body, &ok);
    m.thread_ref = thread_of(body, &ok);
    m.attachments_json = attachments_json(body, &ok);
    m.agent_name = agent_name(a, &ok);
    m.agent_avatar_url =
        a ? dup_capped(str_of(a, (const char *const[]){"imageUrl", "avatarUrl", "image"}, 3),
                       BYOC_URL_MAX, &ok)
          : NULL;
    if (kind == BYOC_AGENT_MSG_REPLY)
        m.post_id = dup_capped(path_id, BYOC_EXTERNAL_ID_MAX, &ok);
    else
        m.channel_id = dup_capped(path_id, BYOC_EXTERNAL_ID_MAX, &ok);
    m.raw_truncated = raw_len > BYOC_RAW_BODY_STORE_MAX;
    m.raw_len = byoc_utf8_prefix(raw, raw_len, BYOC_RAW_BODY_STORE_MAX);
    m.raw_body = ok ? strndup(raw, m.raw_len) : NULL;
    enum byoc_err e = (ok && m.raw_body) ? dedupe_key(&m, path_id, raw, raw_len) : BYOC_ERR_NOMEM;
    if (e) {
        byoc_agent_msg_release(&m);
        return e;
    }
    note_unexpected(body, notes);
    *out = m;
    return BYOC_ERR_OK;
}
