/* Statements of the relay (sqlite_relay.c), part of the backend's one statement table. */
#ifndef BYOC_SQLITE_RELAY_STMTS_H
#define BYOC_SQLITE_RELAY_STMTS_H

#define CONV_COLS                                                                                  \
    "rowid, id, provider_id, channel_id, thread_id, end_user_id, end_user, reason, skill_id, "     \
    "state, cxone_contact_id, cxone_case_id, cxone_interaction_id, agent_name, agent_avatar_url, " \
    "ended_by, ended_reason, created_at, updated_at, ended_at, inactive_at"
#define OUT_COLS                                                                                   \
    "id, conversation_id, seq, kind, client_message_id, payload, state, attempts, "                \
    "next_attempt_at, deadline_at, delivered_at, created_at, last_error"

/* clang-format off */
#define RELAY_STMT_MAP(X)                                                                          \
    X(PROVIDER_BY_BOT, "SELECT " PROVIDER_COLS " FROM providers WHERE bot_api_key_hash = ?1")      \
    X(CONV_INSERT, "INSERT INTO conversations (id, provider_id, channel_id, thread_id, "           \
        "end_user_id, end_user, reason, skill_id, state, created_at, updated_at, next_out_seq, "    \
        "inactive_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?9, ?10, ?11)")         \
    X(CONV_GET, "SELECT " CONV_COLS " FROM conversations WHERE id = ?1 AND "                       \
        "(?2 IS NULL OR provider_id = ?2)")                                                        \
    X(CONV_LIST, "SELECT " CONV_COLS " FROM conversations WHERE provider_id = ?1 AND rowid > ?2 "  \
        "AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR end_user_id = ?4) "                     \
        "ORDER BY rowid LIMIT ?5")                                                                 \
    X(CONV_FOR_ADD, "SELECT c.state, c.next_out_seq, p.inactivity_timeout_s FROM conversations c " \
        "JOIN providers p ON p.id = c.provider_id WHERE c.id = ?1 AND "                            \
        "(?2 IS NULL OR c.provider_id = ?2)")                                                      \
    X(CONV_BUMP_SEQ, "UPDATE conversations SET next_out_seq = next_out_seq + 1, updated_at = ?2, " \
        "inactive_at = CASE WHEN ?3 > 0 THEN ?3 ELSE inactive_at END WHERE id = ?1")               \
    X(CONV_END, "UPDATE conversations SET state = 'ended', ended_by = ?2, ended_reason = ?3, "     \
        "ended_at = ?4, updated_at = ?4, inactive_at = NULL WHERE id = ?1 AND state != 'ended'")   \
    X(CONV_CONTACT, "UPDATE conversations SET cxone_contact_id = coalesce(?2, cxone_contact_id), " \
        "cxone_case_id = coalesce(?3, cxone_case_id), "                                            \
        "cxone_interaction_id = coalesce(?4, cxone_interaction_id), state = CASE WHEN "            \
        "state = 'queued' THEN 'escalated' ELSE state END, updated_at = ?5 WHERE id = ?1")         \
    X(CONV_FAIL, "UPDATE conversations SET state = 'ended', ended_by = 'failure', "               \
        "ended_reason = ?2, ended_at = ?3, updated_at = ?3, inactive_at = NULL "                   \
        "WHERE id = ?1 AND state = 'queued'")                                                      \
    X(CONV_AGENT, "UPDATE conversations SET next_agent_seq = next_agent_seq + 1, state = CASE "    \
        "WHEN state IN ('queued', 'escalated') THEN 'agent_joined' ELSE state END, "               \
        "agent_name = coalesce(?2, agent_name), agent_avatar_url = coalesce(?3, agent_avatar_url), "\
        "updated_at = ?4 WHERE id = ?1 RETURNING next_agent_seq - 1")                              \
    X(CONV_IDLE, "SELECT id FROM conversations WHERE inactive_at IS NOT NULL AND "                 \
        "inactive_at <= ?1 AND state != 'ended' LIMIT 100")                                        \
    X(OUT_INSERT, "INSERT INTO outbound_messages (id, conversation_id, seq, kind, "                \
        "client_message_id, payload, next_attempt_at, deadline_at, created_at) "                   \
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)")                                             \
    X(OUT_BY_CLIENT, "SELECT id FROM outbound_messages WHERE conversation_id = ?1 AND "            \
        "client_message_id = ?2")                                                                  \
    X(OUT_GET, "SELECT " OUT_COLS " FROM outbound_messages WHERE id = ?1")                         \
    X(OUT_LIST, "SELECT " OUT_COLS " FROM outbound_messages WHERE conversation_id = ?1 "           \
        "ORDER BY seq DESC LIMIT ?2")                                                              \
    X(OUT_PICK, "SELECT m.id FROM outbound_messages m WHERE m.state = 'queued' AND "               \
        "m.next_attempt_at <= ?1 AND NOT EXISTS (SELECT 1 FROM outbound_messages x WHERE "         \
        "x.conversation_id = m.conversation_id AND x.state IN ('queued', 'sending') AND "          \
        "x.seq < m.seq) ORDER BY m.next_attempt_at LIMIT 1")                                       \
    X(OUT_MARK_SENDING, "UPDATE outbound_messages SET state = 'sending', lease_until = ?2, "       \
        "attempts = attempts + 1 WHERE id = ?1")                                                   \
    /* "+state": look up by conversation, never through outbound_due by state, which walks every \
     * delivered message of every conversation (the bench saw 38 ms a call at 75k) */             \
    X(OUT_TEXT_DELIVERED, "SELECT EXISTS (SELECT 1 FROM outbound_messages WHERE "                  \
        "conversation_id = ?1 AND kind = 'text' AND +state = 'delivered')")                         \
    X(OUT_OUTCOME, "UPDATE outbound_messages SET state = ?2, next_attempt_at = ?3, "               \
        "lease_until = NULL, last_error = ?4, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?5 "  \
        "ELSE delivered_at END WHERE id = ?1 AND state = 'sending' AND attempts = ?6")             \
    X(OUT_FAIL_REST, "UPDATE outbound_messages SET state = 'failed', last_error = "                \
        "'the conversation could not be opened in CXone' WHERE conversation_id = ?1 AND "          \
        "state = 'queued'")                                                                        \
    X(OUT_LEASES, "UPDATE outbound_messages SET state = 'queued', lease_until = NULL "             \
        "WHERE state = 'sending' AND lease_until < ?1")                                            \
    X(OUT_NEXT_DUE, "SELECT min(m.next_attempt_at) FROM outbound_messages m WHERE "                \
        "m.state = 'queued' AND NOT EXISTS (SELECT 1 FROM outbound_messages x WHERE "              \
        "x.conversation_id = m.conversation_id AND x.state IN ('queued', 'sending') AND "          \
        "x.seq < m.seq)")                                                                          \
    X(IDEM_INSERT, "INSERT INTO idempotency_keys (provider_id, key, request_hash, status, body, "   \
        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING")                      \
    X(IDEM_GET, "SELECT request_hash, status, body FROM idempotency_keys WHERE provider_id = ?1 "  \
        "AND key = ?2")                                                                            \
    X(VOICE_PUT, "INSERT INTO voice_transcripts (key_hash, provider_id, contact_id, transcript, "  \
        "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                 \
    X(VOICE_GET, "SELECT key_hash, provider_id, contact_id, transcript, created_at, expires_at "   \
        "FROM voice_transcripts WHERE key_hash = ?1 AND expires_at > ?2")                          \
    X(VOICE_PURGE, "DELETE FROM voice_transcripts WHERE expires_at <= ?1")                         \
    X(IDEM_PURGE, "DELETE FROM idempotency_keys WHERE created_at <= ?1")                           \
    X(IDEM_FILL, "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE provider_id = ?1 AND "  \
        "key = ?2 AND status = 0")                                                                 \
    X(IDEM_RELEASE, "DELETE FROM idempotency_keys WHERE provider_id = ?1 AND key = ?2 AND "        \
        "status = 0")                                                                              \
    /* a step of the wall clock (?1 ms): pending schedules keep what they had left to wait */     \
    X(SHIFT_OUTBOUND, "UPDATE outbound_messages SET next_attempt_at = next_attempt_at + ?1, "      \
        "deadline_at = deadline_at + ?1, lease_until = lease_until + ?1 "                          \
        "WHERE state IN ('queued', 'sending')")                                                    \
    X(SHIFT_INACTIVE, "UPDATE conversations SET inactive_at = inactive_at + ?1 "                   \
        "WHERE inactive_at IS NOT NULL AND state != 'ended'")                                      \
    X(SHIFT_VOICE, "UPDATE voice_transcripts SET expires_at = expires_at + ?1")                    \
    X(SHIFT_SESSIONS, "UPDATE action_sessions SET expires_at = expires_at + ?1")
/* clang-format on */

#endif
