-- Handover relay: conversations opened by bot platforms, their ordered queue of messages to
-- CXone, per-provider relay settings, and idempotency records of the bot API.

ALTER TABLE providers ADD COLUMN transcript_mode TEXT NOT NULL DEFAULT 'combined'
    CHECK (transcript_mode IN ('combined', 'per_turn'));
ALTER TABLE providers ADD COLUMN transcript_chunk_max INTEGER NOT NULL DEFAULT 4000;
ALTER TABLE providers ADD COLUMN inactivity_timeout_s INTEGER NOT NULL DEFAULT 0;

ALTER TABLE conversations ADD COLUMN end_user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN end_user TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN reason TEXT;
ALTER TABLE conversations ADD COLUMN skill_id TEXT;
ALTER TABLE conversations ADD COLUMN cxone_case_id TEXT;
ALTER TABLE conversations ADD COLUMN cxone_interaction_id TEXT;
ALTER TABLE conversations ADD COLUMN agent_name TEXT;
ALTER TABLE conversations ADD COLUMN agent_avatar_url TEXT;
ALTER TABLE conversations ADD COLUMN ended_by TEXT;
ALTER TABLE conversations ADD COLUMN ended_reason TEXT;
ALTER TABLE conversations ADD COLUMN ended_at INTEGER;
ALTER TABLE conversations ADD COLUMN next_out_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN next_agent_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN inactive_at INTEGER;

CREATE INDEX conversations_by_end_user ON conversations (provider_id, end_user_id, created_at);
CREATE INDEX conversations_by_state ON conversations (provider_id, state, created_at);
CREATE INDEX conversations_inactive ON conversations (inactive_at) WHERE inactive_at IS NOT NULL;
CREATE INDEX conversations_by_contact ON conversations (provider_id, cxone_contact_id);

ALTER TABLE agent_messages ADD COLUMN conversation_seq INTEGER;

-- One row per thing to tell CXone, in order per conversation (seq).
CREATE TABLE outbound_messages (
    id                TEXT PRIMARY KEY,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    kind              TEXT NOT NULL
        CHECK (kind IN ('text', 'typing', 'close', 'routing')),
    client_message_id TEXT,
    payload           TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_until       INTEGER,
    deadline_at       INTEGER NOT NULL,
    last_error        TEXT,
    delivered_at      INTEGER,
    created_at        INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_message_id)
) STRICT;

CREATE INDEX outbound_due ON outbound_messages (state, next_attempt_at);
CREATE INDEX outbound_open ON outbound_messages (conversation_id, seq)
    WHERE state IN ('queued', 'sending');

-- The first answer to each Idempotency-Key, replayed to retries.
CREATE TABLE idempotency_keys (
    provider_id  TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (provider_id, key)
) STRICT;
