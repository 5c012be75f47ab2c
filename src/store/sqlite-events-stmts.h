/* Statements of events, subscriptions, deliveries and Studio calls (sqlite_events.c), part of
 * the backend's one statement table. */
#ifndef BYOC_SQLITE_EVENTS_STMTS_H
#define BYOC_SQLITE_EVENTS_STMTS_H

#define EV_COLS                                                                                    \
    "e.cursor, e.id, e.provider_id, e.conversation_id, e.seq, e.type, e.data, e.created_at"
#define WH_COLS                                                                                    \
    "id, provider_id, url, events, secret_sealed, old_secret_sealed, old_secret_until, "           \
    "secret_rotated_at, state, disabled_reason, failures, circuit_until, created_at, updated_at"
#define DL_COLS                                                                                    \
    "d.rowid, d.id, d.webhook_id, d.state, d.attempts, d.next_attempt_at, d.delivered_at, "        \
    "d.created_at, d.window_start, d.last_status, d.last_error, " EV_COLS

/* next_attempt_at of a delivery waiting behind an earlier one of its conversation. The pick, the
 * next-due time and the expiry name their partial index (INDEXED BY): without statistics the
 * planner would rather scan every pending delivery by state and sort. */
#define DL_HELD "9000000000000000000"
#define DL_HELD_MS 9000000000000000000LL

/* clang-format off */
#define EVENTS_STMT_MAP(X)                                                                         \
    X(EV_CONV_SEQ, "UPDATE conversations SET next_event_seq = next_event_seq + 1 WHERE id = ?1 "   \
        "RETURNING next_event_seq - 1, provider_id")                                               \
    X(EV_INSERT, "INSERT INTO events (id, provider_id, conversation_id, seq, type, data, "         \
        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                         \
    X(EV_FANOUT, "INSERT INTO deliveries (id, webhook_id, provider_id, event_cursor, "             \
        "conversation_id, seq, next_attempt_at, window_start, created_at) "                        \
        "SELECT 'dlv_' || lower(hex(randomblob(10))), w.id, w.provider_id, ?1, ?2, ?3, CASE WHEN " \
        "EXISTS (SELECT 1 FROM deliveries x WHERE x.webhook_id = w.id AND x.conversation_id = ?2 " \
        "AND x.state IN ('pending', 'sending')) THEN " DL_HELD " ELSE ?4 END, ?4, ?4 "             \
        "FROM webhooks w WHERE w.provider_id = ?5 AND w.state = 'enabled' AND (w.events IS NULL "  \
        "OR EXISTS (SELECT 1 FROM json_each(w.events) j WHERE j.value = ?6))")                     \
    X(EV_LIST_CONV, "SELECT " EV_COLS " FROM events e WHERE e.provider_id = ?1 AND "               \
        "e.conversation_id = ?2 AND e.seq > ?3 ORDER BY e.seq LIMIT ?4")                           \
    X(EV_LIST, "SELECT " EV_COLS " FROM events e WHERE e.provider_id = ?1 AND e.cursor > ?2 "      \
        "ORDER BY e.cursor LIMIT ?3")                                                              \
    X(CONV_PRE, "SELECT state, agent_name, cxone_contact_id FROM conversations WHERE id = ?1")     \
    X(CONV_SET_STATE, "UPDATE conversations SET state = ?2, updated_at = ?3, "                     \
        "skill_id = coalesce(?4, skill_id) WHERE id = ?1")                                         \
    X(OUT_FAIL_REST_TEXT, "SELECT id, client_message_id, attempts FROM outbound_messages WHERE "   \
        "conversation_id = ?1 AND state = 'queued' AND kind = 'text' ORDER BY seq")                \
    X(WH_INSERT, "INSERT INTO webhooks (id, provider_id, url, events, secret_sealed, created_at, " \
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)")                                         \
    X(WH_FROM_PROVIDER, "INSERT INTO webhooks (id, provider_id, url, events, secret_sealed, "      \
        "created_at, updated_at) SELECT 'wh_' || id, id, webhook_url, NULL, "                      \
        "webhook_secret_sealed, created_at, created_at FROM providers WHERE id = ?1 AND "          \
        "webhook_url != ''")                                                                       \
    X(WH_DELETE, "DELETE FROM webhooks WHERE id = ?1 AND provider_id = ?2")                        \
    X(WH_ROTATE, "UPDATE webhooks SET old_secret_sealed = secret_sealed, old_secret_until = ?4, "  \
        "secret_sealed = ?3, secret_rotated_at = ?5, updated_at = ?5 WHERE id = ?1 AND "           \
        "provider_id = ?2")                                                                        \
    X(WH_LIST, "SELECT " WH_COLS " FROM webhooks WHERE provider_id = ?1 ORDER BY rowid")            \
    X(WH_SUCCESS, "UPDATE webhooks SET failures = 0, circuit_until = 0 WHERE id = ?1 AND "         \
        "(failures != 0 OR circuit_until != 0)")                                                   \
    X(WH_FAILURE, "UPDATE webhooks SET failures = failures + 1, circuit_until = CASE WHEN "        \
        "failures + 1 >= ?3 THEN ?2 ELSE circuit_until END WHERE id = ?1")                         \
    X(WH_DISABLE, "UPDATE webhooks SET state = 'disabled', disabled_reason = ?2, updated_at = ?3 " \
        "WHERE id = ?1")                                                                           \
    X(WH_ENABLE, "UPDATE webhooks SET state = 'enabled', disabled_reason = NULL, failures = 0, "   \
        "circuit_until = 0, updated_at = ?2 WHERE id = ?1 AND state = 'disabled'")                 \
    X(WH_ENABLE_DEAD, "UPDATE webhooks SET state = 'enabled', disabled_reason = NULL, "            \
        "failures = 0, circuit_until = 0, updated_at = ?2 WHERE provider_id = ?1 AND "             \
        "state = 'disabled' AND EXISTS (SELECT 1 FROM deliveries d WHERE "                         \
        "d.webhook_id = webhooks.id AND d.state = 'dead')")                                        \
    X(WH_HALF_OPEN, "UPDATE webhooks SET circuit_until = ?2 WHERE id = ?1")                        \
    X(DL_PICK, "SELECT id, webhook_id, failures, busy FROM (SELECT d.id, d.webhook_id, "           \
        "w.failures, d.next_attempt_at, (SELECT count(*) FROM deliveries s WHERE "                 \
        "s.webhook_id = d.webhook_id AND s.state = 'sending') AS busy FROM deliveries d "          \
        "INDEXED BY deliveries_due JOIN webhooks w ON w.id = d.webhook_id WHERE "                  \
        "d.state = 'pending' AND d.next_attempt_at <= ?1 AND w.state = 'enabled' AND "             \
        "w.circuit_until <= ?1 AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE "                  \
        "x.webhook_id = d.webhook_id AND x.conversation_id = d.conversation_id AND "               \
        "x.state IN ('pending', 'sending') AND x.seq < d.seq) ORDER BY d.next_attempt_at) "        \
        "WHERE busy < ?3 LIMIT ?2")                                                                \
    X(DL_MARK, "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, "                \
        "lease_until = ?2 WHERE id = ?1 AND state = 'pending'")                                    \
    X(DL_JOB, "SELECT " DL_COLS ", w.url, w.secret_sealed, CASE WHEN w.old_secret_until > ?2 "     \
        "THEN w.old_secret_sealed END FROM deliveries d JOIN events e ON "                         \
        "e.cursor = d.event_cursor JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?1")        \
    X(DL_OUTCOME, "UPDATE deliveries SET state = ?2, next_attempt_at = ?3, lease_until = NULL, "   \
        "last_status = ?4, last_error = ?5, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 "    \
        "ELSE delivered_at END WHERE id = ?1 AND state = 'sending' AND attempts = ?7")             \
    X(DL_KILL_PENDING, "UPDATE deliveries SET state = 'dead', last_error = ?2 WHERE "              \
        "webhook_id = ?1 AND state = 'pending'")                                                   \
    X(DL_LEASES, "UPDATE deliveries SET state = 'pending', lease_until = NULL WHERE "              \
        "state = 'sending' AND lease_until < ?1")                                                  \
    X(DL_STATE, "SELECT state FROM deliveries WHERE id = ?1")                                      \
    X(DL_REPLAY_ONE, "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, "             \
        "window_start = ?2, last_error = NULL, attempts = 0 WHERE id = ?1 AND state = 'dead' "                   \
        "RETURNING webhook_id")                                                                    \
    X(DL_REPLAY_ALL, "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, "             \
        "window_start = ?2, last_error = NULL, attempts = 0 WHERE provider_id = ?1 AND "            \
        "state = 'dead'")          \
    X(DL_LIST, "SELECT " DL_COLS " FROM deliveries d JOIN events e ON e.cursor = d.event_cursor "  \
        "WHERE d.rowid > ?1 AND (?2 IS NULL OR d.state = ?2) AND (?3 IS NULL OR "                  \
        "d.provider_id = ?3) AND (?4 IS NULL OR d.webhook_id = ?4) ORDER BY d.rowid LIMIT ?5")     \
    X(DL_NEXT_DUE, "SELECT min(max(d.next_attempt_at, w.circuit_until)) FROM deliveries d "        \
        "INDEXED BY deliveries_due JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND "                         \
        "d.next_attempt_at < " DL_HELD " AND w.state = 'enabled'")                                 \
    X(EV_PURGE, "DELETE FROM events WHERE cursor IN (SELECT e.cursor FROM events e WHERE "         \
        "e.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "                      \
        "d.event_cursor = e.cursor AND d.state != 'delivered') ORDER BY e.created_at LIMIT ?2)")        \
    X(DL_PROMOTE_AFTER, "UPDATE deliveries SET next_attempt_at = ?2 WHERE id = (SELECT n.id FROM " \
        "deliveries n JOIN deliveries d ON d.id = ?1 WHERE n.webhook_id = d.webhook_id AND "       \
        "n.conversation_id = d.conversation_id AND n.state IN ('pending', 'sending') ORDER BY "     \
        "n.seq LIMIT 1) AND state = 'pending' AND next_attempt_at = " DL_HELD)                     \
    X(DL_PROMOTE_ALL, "UPDATE deliveries SET next_attempt_at = ?1 WHERE state = 'pending' AND "    \
        "next_attempt_at = " DL_HELD " AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE "          \
        "x.webhook_id = deliveries.webhook_id AND x.conversation_id = deliveries.conversation_id " \
        "AND x.state IN ('pending', 'sending') AND x.seq < deliveries.seq)")                       \
    X(DL_EXPIRE, "UPDATE deliveries INDEXED BY deliveries_window SET state = 'dead', last_error = 'the deadline passed before " \
        "the endpoint took it' WHERE state = 'pending' AND window_start < ?1")                     \
    X(DL_DEAD_IF_DISABLED, "UPDATE deliveries SET state = 'dead', last_error = 'the subscription " \
        "is disabled' WHERE id = ?1 AND state = 'pending' AND EXISTS (SELECT 1 FROM webhooks w "   \
        "WHERE w.id = deliveries.webhook_id AND w.state = 'disabled')")                            \
    X(STUDIO_PURGE, "DELETE FROM studio_events WHERE received_at < ?1")                            \
    X(WH_COUNT, "SELECT count(*) FROM webhooks WHERE provider_id = ?1")                            \
    X(STUDIO_INSERT, "INSERT INTO studio_events (id, provider_id, event, contact_id, thread_id, "   \
        "conversation_id, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                       \
    X(STUDIO_LIST, "SELECT seq, id, provider_id, event, contact_id, thread_id, conversation_id, "  \
        "received_at FROM studio_events WHERE provider_id = ?1 AND seq > ?2 AND "                  \
        "(?3 = 0 OR conversation_id IS NULL) ORDER BY seq LIMIT ?4")                              \
    /* a step of the wall clock (?1 ms); a held delivery stays held */                            \
    X(SHIFT_DELIVERIES, "UPDATE deliveries SET next_attempt_at = CASE WHEN next_attempt_at = "     \
        DL_HELD " THEN next_attempt_at ELSE next_attempt_at + ?1 END, lease_until = "              \
        "lease_until + ?1, window_start = window_start + ?1 WHERE state IN ('pending', 'sending')") \
    X(SHIFT_WEBHOOKS, "UPDATE webhooks SET circuit_until = CASE WHEN circuit_until > 0 THEN "      \
        "circuit_until + ?1 ELSE 0 END, old_secret_until = old_secret_until + ?1 "                 \
        "WHERE circuit_until > 0 OR old_secret_until IS NOT NULL")
/* clang-format on */

#endif
