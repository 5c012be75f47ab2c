/* Every limit byocd enforces, in one place. Change a value here, never inline. */
#ifndef BYOC_LIMITS_H
#define BYOC_LIMITS_H

/* --- HTTP --- */
#define BYOC_HTTP_MAX_CONNECTIONS_DEFAULT 1024 /* MHD_OPTION_CONNECTION_LIMIT */
#define BYOC_HTTP_IDLE_TIMEOUT_DEFAULT 60      /* seconds a keep-alive connection may idle */
#define BYOC_HTTP_CONN_MEMORY (32 * 1024)      /* per-connection pool (431 beyond) */
#define BYOC_HTTP_MAX_ROUTE_PARAMS 4           /* {params} per route pattern */
#define BYOC_HTTP_MAX_PATH 1024                /* request path bytes */
#define BYOC_TRUSTED_PROXIES_MAX 32            /* entries of BYOCD_TRUSTED_PROXIES */
#define BYOC_FORWARDED_FOR_MAX 2048            /* X-Forwarded-For bytes read (all lines) */
#define BYOC_METRICS_TEXT_MAX (1024 * 1024)    /* largest /metrics answer */
#define BYOC_HTTP_DRAIN_MAX (4 * 1024 * 1024)  /* body read and dropped before an early answer */
#define BYOC_REQUEST_ID_MAX 64                 /* accepted X-Request-Id length */

/* Per-route body caps (413 beyond). */
#define BYOC_BODY_MAX_SMALL (16 * 1024)        /* token, admin writes, validation */
#define BYOC_BODY_MAX_AGENT_REPLY (256 * 1024) /* box messages from CXone */
#define BYOC_BODY_MAX_FORM (8 * 1024)          /* action page form posts */
#define BYOC_BODY_MAX_HANDOVER (1024 * 1024)   /* POST /v1/conversations with its transcript */
#define BYOC_BODY_MAX_BOT_MESSAGE (128 * 1024) /* one end-user message */

/* --- JSON --- */
#define BYOC_JSON_MAX_DEPTH 32 /* nesting of objects and arrays */

/* --- Stored content --- */
#define BYOC_RAW_BODY_STORE_MAX (64 * 1024) /* raw agent-reply body kept for the admin */
#define BYOC_MESSAGE_TEXT_MAX (64 * 1024)   /* normalised message text */
#define BYOC_MAX_ATTACHMENTS 20             /* per message */
#define BYOC_NAME_MAX 200                   /* provider / channel / agent names */
#define BYOC_URL_MAX 2048                   /* any URL we store */
#define BYOC_EXTERNAL_ID_MAX 256            /* ids that come from CXone */
#define BYOC_LIST_PAGE_DEFAULT 50           /* list endpoints */
#define BYOC_LIST_PAGE_MAX 500
#define BYOC_CUSTOM_FIELDS_MAX 50                     /* per handover */
#define BYOC_REASON_MAX 1000                          /* handover reason, characters */
#define BYOC_IDEMPOTENCY_KEY_MAX 200                  /* Idempotency-Key header bytes */
#define BYOC_IDEMPOTENCY_KEEP_MS (24LL * 3600 * 1000) /* answers replayed for a day */

/* --- Store / group commit --- */
/* Pending writes before 503 overloaded (BYOCD_WRITE_QUEUE_MAX): each holds its request, and at
 * ~40k commits/s 1024 writes are ~25 ms of work; a longer queue only adds latency. */
#define BYOC_WRITE_QUEUE_MAX 1024
#define BYOC_WRITE_QUEUE_LIMIT 65536     /* largest BYOCD_WRITE_QUEUE_MAX */
#define BYOC_WRITE_BATCH_MAX 512         /* writes per transaction */
#define BYOC_READ_POOL_SIZE 4            /* reader connections */
#define BYOC_DB_BUSY_TIMEOUT_MS 5000     /* sqlite busy timeout */
#define BYOC_DB_JOURNAL_LIMIT (64 << 20) /* bytes the WAL is truncated to after checkpoints */
#define BYOC_STORE_RETRY_AFTER_S 2       /* Retry-After sent with storage 503s */

/* --- Tokens and secrets --- */
#define BYOC_TOKEN_TTL_DEFAULT 3600
#define BYOC_TOKEN_TTL_MIN 60
#define BYOC_TOKEN_TTL_MAX 86400
#define BYOC_TOKEN_MAX_LEN 2048    /* bearer token bytes accepted */
#define BYOC_JWT_CLOCK_SKEW_S 60   /* leeway for iat/nbf in the future */
#define BYOC_SECRET_MAX 512        /* any credential we accept */
#define BYOC_MASTER_KEY_LEN 32     /* bytes */
#define BYOC_AUTH_FAIL_WINDOW_S 60 /* token endpoint failure throttle window */
#define BYOC_AUTH_FAIL_MAX 20      /* failures per provider per window before 429 */

/* --- Action pages --- */
#define BYOC_ACTION_SESSION_TTL_S 900 /* an opened Add page stays usable this long */

/* --- Outbound HTTP --- */
#define BYOC_OUT_CONNECT_TIMEOUT_MS 5000
#define BYOC_OUT_TOTAL_TIMEOUT_MS 15000
#define BYOC_OUT_RESPONSE_MAX (1024 * 1024)
#define BYOC_TASK_THREADS 2 /* blocking outbound work off the HTTP thread */
#define BYOC_TASK_QUEUE_MAX 1024

/* --- Relay to CXone --- */
#define BYOC_RELAY_THREADS 2                /* conversations sent in parallel */
#define BYOC_RELAY_LEASE_DEFAULT 60         /* s: a claimed message is requeued after this */
#define BYOC_RELAY_POLL_MS 1000             /* longest sleep between looks for due work */
#define BYOC_RELAY_BACKOFF_BASE_MS 500      /* first retry delay bound, doubled per attempt */
#define BYOC_RELAY_RETRY_FLOOR_MS 250       /* shortest wait for "Retry-After: 0" */
#define BYOC_RELAY_RETRY_CAP_DEFAULT 60     /* seconds: longest delay between two attempts */
#define BYOC_RELAY_DEADLINE_DEFAULT 900     /* seconds a message may take to reach CXone */
#define BYOC_RELAY_TYPING_DEADLINE_MS 30000 /* typing is worthless later */
#define BYOC_RELAY_CLOSE_DEADLINE_MS 3600000
#define BYOC_CONVERSATION_MESSAGES_SHOWN 100 /* outbound messages in GET /v1/conversations/{id} */
#define BYOC_AVAILABILITY_CACHE_MS 5000      /* an availability answer is reused this long */
#define BYOC_AVAILABILITY_SLOTS 64           /* (provider, skill) answers kept */
#define BYOC_SIGNAL_PARAM_MAX 256            /* characters of one signal parameter (p1..p9) */
#define BYOC_ATTACHMENT_UPLOAD_MAX (5 * 1024 * 1024) /* bytes of a private attachment uploaded */
#define BYOC_VOICE_KEY_CHARS 32 /* random characters of a transcript page key */

/* --- Webhooks to bot platforms --- */
#define BYOC_WEBHOOK_DEADLINE_DEFAULT 86400       /* s: an event is retried this long */
#define BYOC_WEBHOOK_RETRY_CAP_DEFAULT 3600       /* s: longest pause between attempts */
#define BYOC_WEBHOOK_TIMEOUT_DEFAULT 15           /* s: one attempt, connect included */
#define BYOC_WEBHOOK_CONNECT_TIMEOUT_MS 5000      /* connecting to a bot */
#define BYOC_WEBHOOK_BREAKER_COOLDOWN_DEFAULT 60  /* s: an open circuit rests this long */
#define BYOC_WEBHOOK_SECRET_OVERLAP_DEFAULT 86400 /* s: the old secret signs this long */
#define BYOC_WEBHOOK_BACKOFF_BASE_MS 1000         /* first retry delay bound, doubled */
#define BYOC_WEBHOOK_RETRY_FLOOR_MS 250           /* shortest wait for "Retry-After: 0" */
#define BYOC_WEBHOOK_BREAKER_FAILURES 5           /* consecutive failures open the circuit */
#define BYOC_WEBHOOK_IN_FLIGHT 64                 /* attempts at once, all endpoints */
#define BYOC_WEBHOOK_PER_ENDPOINT 8               /* attempts at once to one subscription */
#define BYOC_WEBHOOK_LEASE_SLACK_MS 5000          /* lease = attempt timeout + this */
#define BYOC_WEBHOOK_RESPONSE_KEPT 512            /* bytes of a bot's answer kept */
#define BYOC_WEBHOOK_ERROR_MAX 320                /* characters of a stored delivery error */
#define BYOC_WEBHOOKS_PER_PROVIDER 20             /* subscriptions */
#define BYOC_EVENT_PAGE_DEFAULT 100               /* pull API page */
#define BYOC_EVENT_RETENTION_DEFAULT 2592000      /* s: events are kept 30 days */
#define BYOC_EVENT_PURGE_BATCH 1000               /* old events deleted per housekeeping round */
/* --- Clock --- */
#define BYOC_CLOCK_STEP_MS 1000     /* wall clock moving this much against monotonic: a step */
#define BYOC_CLOCK_READ_SLACK_MS 50 /* the two monotonic reads around a wall read, at most */
#define BYOC_CLOCK_READ_TRIES 3     /* reads when a preemption widened them */

/* --- Logging --- */
#define BYOC_LOG_LINE_MAX 4096

#endif
