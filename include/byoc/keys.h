/* The master key and the keys derived from it (one per purpose, never reused). */
#ifndef BYOC_KEYS_H
#define BYOC_KEYS_H

#include <stdbool.h>

#include "byoc/crypto.h"

struct byoc_keys {
    uint8_t seal[BYOC_KEY_LEN]; /* AES-256-GCM of stored outbound credentials */
    uint8_t jwt[BYOC_KEY_LEN];  /* HS256 of tokens issued to CXone */
};

#define BYOC_KEY_FILE_NAME "master.key"

/* From configured (hex or base64, already validated by config) or, when NULL, from
 * master.key beside database_path, generating it (mode 0600) if missing. For ":memory:" with no
 * key an ephemeral one is generated. *generated tells the caller to log it; key_path receives
 * the file used ("" if none). Errors: IO (unreadable, wrong mode, bad content), CRYPTO. */
/* Where the key file of a database lives (beside it). */
void byoc_keys_file_path(const char *database_path, char *out, size_t cap);
BYOC_MUST_USE enum byoc_err byoc_keys_load(const char *configured, const char *database_path,
                                           struct byoc_keys *out, bool *generated, char *key_path,
                                           size_t key_path_cap, char *why, size_t why_cap);

#endif
