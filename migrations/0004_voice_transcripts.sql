-- Voice handoffs: the bot's transcript kept for the agent's pop-up page, addressed by a random
-- key (only its hash is stored) that the Studio script receives through the contact signal.
CREATE TABLE voice_transcripts (
    key_hash    BLOB PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    contact_id  TEXT NOT NULL,
    transcript  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX voice_transcripts_expiry ON voice_transcripts (expires_at);
