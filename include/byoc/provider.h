/* Provider domain rules: validation of what an admin submits, minting of ids and secrets,
 * sealing of outbound credentials, and the URLs an admin pastes into CXone. Thread-safe. */
#ifndef BYOC_PROVIDER_H
#define BYOC_PROVIDER_H

#include "byoc/cxone.h"
#include "byoc/keys.h"
#include "byoc/limits.h"
#include "byoc/store.h"

#define BYOC_SECRET_CHARS 40 /* random base62 characters in each minted secret (~238 bits) */

struct byoc_provider_input {
    const char *name, *webhook_url;
    const char *auth_url, *api_base_url, *client_id, *client_secret;
    const char *access_key_id, *access_key_secret, *integration_id; /* integration_id optional */
    const char *tenant_id; /* with no api_base_url: the API host is discovered for this tenant */
    /* Relay settings; NULL, 0 or -1 take the defaults below. */
    const char *transcript_mode;  /* "combined" (default) or "per_turn" */
    int64_t transcript_chunk_max; /* characters per transcript message */
    int64_t inactivity_timeout_s; /* 0: off (default) */
};

#define BYOC_TRANSCRIPT_CHUNK_DEFAULT 4000
#define BYOC_TRANSCRIPT_CHUNK_MIN 200
#define BYOC_TRANSCRIPT_CHUNK_MAX 100000
#define BYOC_INACTIVITY_MIN_S 5
#define BYOC_INACTIVITY_MAX_S 86400

/* Shown once to the admin, never stored in clear. */
/* Room for any minted provider secret: a prefix ("byk_", "bys_" or none) + chars + NUL. */
#define BYOC_PROVIDER_SECRET_MAX (BYOC_SECRET_CHARS + 5)

struct byoc_provider_secrets {
    char byoc_client_secret[BYOC_PROVIDER_SECRET_MAX];
    char bot_api_key[BYOC_PROVIDER_SECRET_MAX];   /* "byk_" + chars */
    char studio_secret[BYOC_PROVIDER_SECRET_MAX]; /* "bys_" + chars */
    char webhook_secret[64];                      /* "whsec_" + base64(32 bytes) */
};

struct byoc_provider_urls {
    char box[BYOC_URL_MAX + 64];
    char token[BYOC_URL_MAX + 64];
    char add[BYOC_URL_MAX + 64];
    char reconnect[BYOC_URL_MAX + 64];
    char remove[BYOC_URL_MAX + 64];
};

/* INVALID with why naming the offending field. */
/* Reads the admin API's provider body (name, webhook_url, cxone{...}, settings{...}); in points
 * into b. Check the result with byoc_provider_input_check. */
void byoc_provider_input_from_json(const cJSON *b, struct byoc_provider_input *in);
BYOC_MUST_USE enum byoc_err byoc_provider_input_check(const struct byoc_provider_input *in,
                                                      char *why, size_t why_cap);
/* Fills out (release with byoc_provider_release) and secrets. */
BYOC_MUST_USE enum byoc_err byoc_provider_build(const struct byoc_keys *keys,
                                                const struct byoc_provider_input *in,
                                                int64_t now_ms, struct byoc_provider *out,
                                                struct byoc_provider_secrets *secrets);
void byoc_provider_secrets_wipe(struct byoc_provider_secrets *s);
/* A new secret of one kind (with its prefix) and the hash byocd keeps of it. */
BYOC_MUST_USE enum byoc_err byoc_provider_secret_new(enum byoc_provider_secret which,
                                                     char out[BYOC_PROVIDER_SECRET_MAX],
                                                     uint8_t hash[BYOC_SHA256_LEN]);
/* "client_secret", "bot_api_key", "studio_secret" (the names of the creation answer). */
const char *byoc_provider_secret_name(enum byoc_provider_secret which);
bool byoc_provider_secret_parse(const char *name, enum byoc_provider_secret *out);

/* Which sealed field to open. */
enum byoc_sealed_field {
    BYOC_SEALED_CXONE_CLIENT_SECRET,
    BYOC_SEALED_ACCESS_KEY_SECRET,
    BYOC_SEALED_WEBHOOK_SECRET,
    BYOC_SEALED_ACTION_TOKEN
};
/* Seals/unseals value bound to (owner id, field). *out is the caller's. */
BYOC_MUST_USE enum byoc_err byoc_seal_field(const struct byoc_keys *keys, const char *owner_id,
                                            enum byoc_sealed_field f, const char *value,
                                            struct byoc_blob *out);
BYOC_MUST_USE enum byoc_err byoc_unseal_field(const struct byoc_keys *keys, const char *owner_id,
                                              enum byoc_sealed_field f,
                                              const struct byoc_blob *sealed, char **out);

/* The provider's CXone login with its secrets unsealed; release wipes them. */
struct byoc_cxone_login {
    struct byoc_cxone_creds creds; /* points into the provider and the fields below */
    char *client_secret, *access_key_secret;
};
BYOC_MUST_USE enum byoc_err byoc_cxone_login_open(const struct byoc_keys *keys,
                                                  const struct byoc_provider *p,
                                                  struct byoc_cxone_login *out);
void byoc_cxone_login_release(struct byoc_cxone_login *l);

void byoc_provider_urls(const char *public_url, const char *provider_id,
                        struct byoc_provider_urls *out);

/* True for a name of 1..BYOC_NAME_MAX characters (not bytes) of UTF-8 with no controls. */
bool byoc_name_valid(const char *s);

#endif
