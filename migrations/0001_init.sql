-- Foundation schema: providers, their channels, conversations (filled by the relay),
-- agent-side messages from the integration box, and half-finished action pages.

CREATE TABLE providers (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    webhook_url                 TEXT NOT NULL,
    cxone_auth_url              TEXT NOT NULL,
    cxone_api_base_url          TEXT NOT NULL,
    cxone_client_id             TEXT NOT NULL,
    cxone_client_secret_sealed  BLOB NOT NULL,
    cxone_access_key_id         TEXT NOT NULL,
    cxone_access_key_secret_sealed BLOB NOT NULL,
    cxone_integration_id        TEXT,
    webhook_secret_sealed       BLOB NOT NULL,
    byoc_client_id              TEXT NOT NULL UNIQUE,
    byoc_client_secret_hash     BLOB NOT NULL,
    bot_api_key_hash            BLOB NOT NULL UNIQUE,
    studio_secret_hash          BLOB NOT NULL,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) STRICT;

CREATE TABLE channels (
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    channel_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    brand_id    TEXT,
    source      TEXT NOT NULL CHECK (source IN ('admin', 'action')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (provider_id, channel_id)
) STRICT;

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    provider_id      TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    channel_id       TEXT NOT NULL,
    thread_id        TEXT NOT NULL,
    cxone_contact_id TEXT,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (provider_id, thread_id)
) STRICT;

CREATE TABLE agent_messages (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    provider_id      TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    dedupe_key       TEXT NOT NULL,
    cxone_message_id TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('reply', 'outbound')),
    channel_id       TEXT,
    thread_ref       TEXT,
    post_id          TEXT,
    conversation_id  TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    text             TEXT,
    attachments      TEXT NOT NULL,
    agent_name       TEXT,
    agent_avatar_url TEXT,
    raw_body         BLOB NOT NULL,
    raw_truncated    INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    UNIQUE (provider_id, dedupe_key)
) STRICT;

CREATE INDEX agent_messages_by_provider ON agent_messages (provider_id, seq);
CREATE INDEX agent_messages_unmatched ON agent_messages (provider_id, seq)
    WHERE conversation_id IS NULL;

CREATE TABLE action_sessions (
    id_hash              BLOB PRIMARY KEY,
    provider_id          TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    action               TEXT NOT NULL,
    brand_id             TEXT,
    user_id              TEXT,
    channel_id           TEXT,
    back_url             TEXT,
    access_token_sealed  BLOB NOT NULL,
    expires_at           INTEGER NOT NULL
) STRICT;
