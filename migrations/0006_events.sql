-- Events for bot platforms: a transactional outbox (events written in the same transaction as
-- the state change that causes them), subscriptions (webhooks), one delivery per subscription
-- and event, and the Studio script's calls.

ALTER TABLE conversations ADD COLUMN next_event_seq INTEGER NOT NULL DEFAULT 1;

-- cursor is the global commit order (GET /v1/events); seq the per-conversation order.
-- AUTOINCREMENT: a cursor is never reused, even after retention emptied the table.
CREATE TABLE events (
    cursor          INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    provider_id     TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
) STRICT;

CREATE INDEX events_by_provider ON events (provider_id, cursor);
CREATE INDEX events_by_time ON events (created_at);

-- events: NULL = every type, else a JSON array of type names.
CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    provider_id         TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    url                 TEXT NOT NULL,
    events              TEXT,
    secret_sealed       BLOB NOT NULL,
    old_secret_sealed   BLOB,
    old_secret_until    INTEGER,
    secret_rotated_at   INTEGER,
    state               TEXT NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    disabled_reason     TEXT,
    failures            INTEGER NOT NULL DEFAULT 0,
    circuit_until       INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX webhooks_by_provider ON webhooks (provider_id, created_at);

-- next_attempt_at is HELD (9e18) while an earlier delivery of the same subscription and
-- conversation is open: only heads of line are ever due.
CREATE TABLE deliveries (
    n               INTEGER PRIMARY KEY AUTOINCREMENT, -- list cursor, never reused
    id              TEXT NOT NULL UNIQUE,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    provider_id     TEXT NOT NULL,
    event_cursor    INTEGER NOT NULL REFERENCES events(cursor) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    window_start    INTEGER NOT NULL, -- the retry deadline counts from here
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (webhook_id, event_cursor)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_window ON deliveries (window_start) WHERE state = 'pending';
CREATE INDEX deliveries_open ON deliveries (webhook_id, conversation_id, seq)
    WHERE state IN ('pending', 'sending');
CREATE INDEX deliveries_sending ON deliveries (webhook_id) WHERE state = 'sending';
CREATE INDEX deliveries_by_state ON deliveries (state, provider_id, created_at);
CREATE INDEX deliveries_by_event ON deliveries (event_cursor);

-- Every call of a Studio script; conversation_id NULL when its contact was unknown.
CREATE TABLE studio_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    provider_id     TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    thread_id       TEXT,
    conversation_id TEXT,
    received_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX studio_events_by_provider ON studio_events (provider_id, seq);
CREATE INDEX studio_events_by_time ON studio_events (received_at);

-- The webhook URL given when a provider was created is its first subscription, with the same
-- secret (sealed for the provider, so the delivery worker unseals it as the provider's).
INSERT INTO webhooks (id, provider_id, url, events, secret_sealed, created_at, updated_at)
    SELECT 'wh_' || id, id, webhook_url, NULL, webhook_secret_sealed, created_at, created_at
    FROM providers WHERE webhook_url != '';
