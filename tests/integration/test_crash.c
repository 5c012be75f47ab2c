/*
 * Crash test: byocd is killed with SIGKILL at random moments while agent replies (CXone posting
 * to the integration box) and bot messages (the bot API) stream in and webhooks and CXone posts
 * go out; it is restarted on the same database and port and the streams go on. After the last
 * round the test lets byocd drain and checks, per conversation:
 *   - every agent reply that got a 200 is stored once (admin API), with the id it was answered
 *     with, and arrives as an agent.message event (events API) that reached the receiver;
 *   - every bot message that got a 202 was posted to the fake CXone and has a
 *     message.delivered event;
 *   - stored messages keep the order they were sent in, the unanswered ones included;
 *   - the events have seq 1..N without a gap, each was delivered (2xx) to the receiver, none
 *     was sent before the one before it was delivered, and a repeated delivery carries the same
 *     webhook-id and the same body bytes as the first (and a valid signature);
 *   - a message repeated to CXone keeps its idOnExternalPlatform and body and CXone took it
 *     once (the repeats got 409), and the posts follow the conversation's order.
 * Each round also fails a few webhooks (500) and CXone posts (503), so retries and backoffs are
 * pending when the kill comes, and some kills come while byocd stops after a SIGTERM.
 * A further client opens new conversations (handovers) all along: each 201 is one conversation
 * (never two for one Idempotency-Key) that escalates, its handover messages reach CXone in
 * order and its events the receiver, as above.
 * A request that got no answer (the kill cut it, or the server was down) may or may not be
 * stored: half of them are retried with the same message id / Idempotency-Key, as CXone and a
 * careful bot would, the others are given up. One acknowledged request in REPEAT_ONE_IN is sent
 * again and must get the same id back.
 *
 * BYOCD_CRASH_ROUNDS (default 4) sets the number of kills; every CRASH_ROUNDS_PER_EPOCH rounds
 * run against a fresh server and database, each checked on its own, so a long run (bench/soak)
 * stays bounded in memory. BYOCD_CRASH_SEED replays the random choices (kill moments, pacing,
 * which unanswered requests are retried); the timing of threads still differs from run to run.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/json.h"
#include "sw_verify.h"

#include "byoc/banned.h"

#define CHANNEL "chat-1"
#define HOOK "/hook"
#define CXONE_MESSAGES "/dfo/3.0/channels/" CHANNEL "/messages"

#define N_CONV 4                  /* conversations per epoch, each with two streams */
#define N_STREAMS (2 * N_CONV)    /* an agent-reply stream and a bot stream per conversation */
#define N_CLIENTS (N_STREAMS + 1) /* and one that opens new conversations */
#define CRASH_ROUNDS_DEFAULT 4    /* the short version in meson test */
#define CRASH_ROUNDS_MAX 100000   /* BYOCD_CRASH_ROUNDS upper bound */
#define CRASH_ROUNDS_PER_EPOCH 8  /* kills against one server and database */
#define EPOCH_TIMEOUT_S 90        /* Check's timeout per epoch (a loaded machine, ASan) */
#define KILL_SPAN_MS 700          /* a kill comes 0..this after the server listens ... */
#define PAST_LEASES_MS 6500       /* ... or, every LONG_GAP_EVERY rounds, this much later */
#define LONG_GAP_EVERY 4          /* (the leases below run out: cut work is resent) */
/* A client waits PACE_MIN_MS..PACE_MAX_MS between two requests: fewer events than one
 * conversation's ordered webhooks can drain, so the backlog a kill leaves is caught up. */
#define PACE_MIN_MS 40
#define PACE_MAX_MS 120
#define DOWN_RETRY_MS 15    /* pause before a client retries an unanswered request */
#define OPEN_PACE_FACTOR 4  /* new conversations come this much slower */
#define REPEAT_ONE_IN 8     /* one acknowledged request in this many is sent again */
#define RETRY_MAX 1000      /* attempts of one request, at most (~15 s down) */
#define MAX_PER_STREAM 4096 /* requests one stream sends in one epoch, at most */
#define RECEIVER_DELAY_MS 8 /* the receiver answers after this: deliveries in flight */
#define CXONE_DELAY_MS 8    /* and so does the fake CXone */
#define TERM_FIRST_ONE_IN 3 /* one kill in this many comes 0..TERM_SPAN_MS after a SIGTERM */
#define TERM_SPAN_MS 300
#define INJECTED_MAX 3 /* each round the next 0..this webhooks and CXone posts fail */
#define INJECTED_WEBHOOK_STATUS 500
#define INJECTED_CXONE_STATUS 503
#define ESCALATE_MS 20000 /* bound for a new conversation to reach CXone */
#define DRAIN_MS 45000    /* bound for the backlog to drain after the last restart */
#define POLL_MS 100       /* polling interval of the waits */
#define PAGE_LIMIT 500    /* page size of the list calls */
#define MAX_OPENED 256    /* conversations the opener asks for in one epoch, at most */
#define ID_MAX 128        /* ids kept per request */
#define SEED_TEXT_MAX 32  /* digits of a seed in the environment */

/* Short timers so a delivery cut by a kill is resent within seconds of the restart (leases:
 * relay 5 s, webhooks timeout + 5 s, both under PAST_LEASES_MS). info: the log is read on every
 * restart. */
#define ENV_COMMON                                                                                 \
    "BYOCD_RELAY_LEASE=5", "BYOCD_RELAY_RETRY_CAP=1", "BYOCD_WEBHOOK_RETRY_CAP=1",                 \
        "BYOCD_WEBHOOK_TIMEOUT=1", "BYOCD_WEBHOOK_BREAKER_COOLDOWN=1", "BYOCD_LOG_LEVEL=info"
static const char *const env_first[] = {ENV_COMMON, NULL};
static char listen_env[64]; /* BYOCD_LISTEN=127.0.0.1:<the first start's port> */
static const char *const env_again[] = {listen_env, ENV_COMMON, NULL};

/* ---------------------------------------------------------------- run parameters */

static unsigned long long seed;
static int rounds_total;
static int epoch; /* the epoch being run, for messages and ids */

static uint64_t rng_next(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static long rng_below(uint64_t *state, long n)
{
    return (long)(rng_next(state) % (uint64_t)n);
}

/* ---------------------------------------------------------------- the epoch's world */

static struct byocd b;
static struct byoc_cxsim *f;
static struct fake_receiver *rx;
static struct provider p;
static char base_url[64]; /* the clients' copy of b.base: the port stays across restarts */
static char bot_auth[256];
static char *cx_auth;

struct conv {
    char id[64];
    char thread[128];
};
/* The streamed conversations first, then the ones the opener made (found after the rounds). */
static struct conv convs[N_CONV + MAX_OPENED];
static size_t n_convs;

/* A failed check: names the seed and how to replay it, keeps the server's directory. */
__attribute__((format(printf, 2, 3))) static void expect(bool ok, const char *fmt, ...)
{
    if (ok)
        return;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    byocd_kill(&b);
    ck_abort_msg("epoch %d: %s (replay: BYOCD_CRASH_SEED=%llu BYOCD_CRASH_ROUNDS=%d; byocd's "
                 "directory %s)",
                 epoch, what, seed, rounds_total, b.dir);
}

static void kill_left_over_server(void)
{
    byocd_kill(&b); /* a failed check ends the test process: no server outlives it */
}

static bool eq(const char *x, const char *y)
{
    return x && y && strcmp(x, y) == 0;
}

static long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* ---------------------------------------------------------------- what the clients send */

enum outcome {
    UNSENT = 0,
    ACKED,     /* a 2xx: byocd promised it is stored */
    UNANSWERED /* no answer, or a retryable error, and given up: stored or not */
};

struct sent {
    enum outcome outcome;
    char id[ID_MAX];    /* byocd's id from the 2xx */
    char found[ID_MAX]; /* byocd's id as stored (filled by the checks) */
    bool stored;
};

enum kind {
    AGENT, /* agent replies to the box, in conversation convs[conv] */
    BOT,   /* bot messages, in conversation convs[conv] */
    OPEN   /* new conversations (handovers) */
};

struct stream {
    enum kind kind;
    int conv;
    uint64_t rng;
    int n; /* requests begun */
    struct sent *v;
    long attempts_failed; /* attempts without an answer or with a retryable error */
    char error[512];      /* an answer no crash explains; empty if none */
};

static struct stream streams[N_CLIENTS]; /* the last one opens conversations */
static struct stream *const opener = &streams[N_STREAMS];
static atomic_bool stop_clients;

static char kind_letter(enum kind k)
{
    return k == AGENT ? 'a' : k == BOT ? 'b' : 'o';
}

/* "<a|b|o><epoch>-<conv>-<i>": the message id (the end user's id for OPEN), read back by the
 * checks. */
static void message_key(const struct stream *st, int i, char *out, size_t cap)
{
    snprintf(out, cap, "%c%d-%d-%d", kind_letter(st->kind), epoch, st->conv, i);
}

/* i from a key of stream st, or -1 when key is not one of st's. */
static int key_index(const struct stream *st, const char *key)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%c%d-%d-", kind_letter(st->kind), epoch, st->conv);
    size_t n = strlen(prefix);
    if (!key || strncmp(key, prefix, n) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    long i = strtol(key + n, &end, 10);
    if (errno || end == key + n || *end || i < 0 || i >= st->n)
        return -1;
    return (int)i;
}

/* The path and body of request i of st. */
static void request_of(const struct stream *st, int i, char *path, size_t path_cap, char *body,
                       size_t body_cap)
{
    char key[64];
    message_key(st, i, key, sizeof key);
    const struct conv *c = &convs[st->kind == OPEN ? 0 : st->conv];
    if (st->kind == OPEN) {
        snprintf(path, path_cap, "/v1/conversations");
        snprintf(body, body_cap,
                 "{\"end_user\":{\"id\":\"%s\",\"first_name\":\"Grace\"},\"transcript\":["
                 "{\"role\":\"user\",\"text\":\"%s\"}]}",
                 key, key);
    } else if (st->kind == BOT) {
        snprintf(path, path_cap, "/v1/conversations/%s/messages", c->id);
        snprintf(body, body_cap, "{\"id\":\"%s\",\"text\":\"%s\"}", key, key);
    } else {
        snprintf(path, path_cap, "/cxone/%s/box/1.0/posts/%s/messages", p.id, c->thread);
        snprintf(body, body_cap,
                 "{\"id\":\"%s\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":"
                 "\"%s\"}},\"thread\":{\"idOnExternalPlatform\":\"%s\"},\"authorUser\":{"
                 "\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
                 key, key, c->thread);
    }
}

/* One attempt; false when nothing answered. On an answer, *status and the id byocd gave. */
static bool post_once(const struct stream *st, int i, long *status, char id[ID_MAX])
{
    char key[64], path[256], url[512], body[1024], idem[128];
    request_of(st, i, path, sizeof path, body, sizeof body);
    snprintf(url, sizeof url, "%s%s", base_url, path);
    message_key(st, i, key, sizeof key);
    snprintf(idem, sizeof idem, "Idempotency-Key: idem-%s", key);
    bool bot_api = st->kind != AGENT;
    const char *h[] = {"Content-Type: application/json", bot_api ? bot_auth : cx_auth,
                       bot_api ? idem : NULL, NULL};
    struct test_resp r;
    if (!test_http("POST", url, h, body, strlen(body), &r))
        return false;
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    const char *got = byoc_json_str(j, bot_api ? "id" : "idOnExternalPlatform");
    snprintf(id, ID_MAX, "%s", got ? got : "");
    cJSON_Delete(j);
    test_resp_release(&r);
    return true;
}

/* An answer a crash or a restart explains: try again later (409: the Idempotency-Key's first
 * request is still being handled). */
static bool retryable(long status)
{
    return status == 503 || status == 429 || status == 409;
}

/* CXone and bots send a request again when unsure it arrived: a repeat of an acknowledged
 * request must get the same id (box dedupe, Idempotency-Key), across restarts too. */
static void send_again(struct stream *st, int i)
{
    long status = 0;
    char id[ID_MAX] = "";
    if (post_once(st, i, &status, id) && status >= 200 && status < 300 &&
        strcmp(id, st->v[i].id) != 0)
        snprintf(st->error, sizeof st->error, "request %d answered as %s, sent again as %s", i,
                 st->v[i].id, id);
}

/* Sends request i of st until it is answered, or gives up when the coin says so. */
static void send_one(struct stream *st, int i)
{
    struct sent *x = &st->v[i];
    bool persist = rng_below(&st->rng, 2) == 0;
    for (int attempt = 0; attempt < RETRY_MAX; attempt++) {
        long status = 0;
        char id[ID_MAX] = "";
        bool answered = post_once(st, i, &status, id);
        if (answered && status >= 200 && status < 300) {
            x->outcome = ACKED;
            snprintf(x->id, sizeof x->id, "%s", id);
            if (!id[0])
                snprintf(st->error, sizeof st->error, "request %d: %ld without an id", i, status);
            else if (rng_below(&st->rng, REPEAT_ONE_IN) == 0)
                send_again(st, i);
            return;
        }
        if (answered && !retryable(status)) {
            snprintf(st->error, sizeof st->error, "request %d answered %ld", i, status);
            x->outcome = UNANSWERED;
            return;
        }
        st->attempts_failed++;
        if (!persist || atomic_load(&stop_clients))
            break;
        harness_sleep_ms(DOWN_RETRY_MS);
    }
    x->outcome = UNANSWERED;
}

static void *client_main(void *arg)
{
    struct stream *st = arg;
    int most = st->kind == OPEN ? MAX_OPENED : MAX_PER_STREAM;
    while (!atomic_load(&stop_clients) && st->n < most && !st->error[0]) {
        int i = st->n++;
        send_one(st, i);
        long pace = PACE_MIN_MS + rng_below(&st->rng, PACE_MAX_MS - PACE_MIN_MS + 1);
        harness_sleep_ms(st->kind == OPEN ? pace * OPEN_PACE_FACTOR : pace);
    }
    return NULL;
}

/* ---------------------------------------------------------------- setting up an epoch */

/* The receiver answers 200 after RECEIVER_DELAY_MS, the next `failures` requests 500 (the
 * oldest matching rule decides, so the failures go first). */
static void receiver_rules(int failures)
{
    fake_receiver_clear_rules(rx, HOOK);
    if (failures > 0)
        fake_receiver_fail_next(rx, HOOK, failures, INJECTED_WEBHOOK_STATUS);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = HOOK,
                                                            .action = FAKE_RECEIVER_ANSWER,
                                                            .delay_ms = RECEIVER_DELAY_MS});
}

static void open_conversations(void)
{
    for (int c = 0; c < N_CONV; c++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"end_user\":{\"id\":\"user-%d\",\"first_name\":\"Grace\"},"
                 "\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
                 c);
        cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/conversations", body, 201);
        snprintf(convs[c].id, sizeof convs[c].id, "%s", byoc_json_str(j, "id"));
        cJSON_Delete(j);
    }
    n_convs = N_CONV;
    for (int c = 0; c < N_CONV; c++) {
        char path[sizeof convs[c].id + 64];
        snprintf(path, sizeof path, "/v1/conversations/%.63s", convs[c].id);
        convs[c].thread[0] = '\0';
        for (long long end = harness_now_ms() + ESCALATE_MS;
             !convs[c].thread[0] && harness_now_ms() < end; harness_sleep_ms(POLL_MS / 4)) {
            cJSON *j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
            if (eq(byoc_json_str(j, "state"), "escalated") && byoc_json_str(j, "thread_id"))
                snprintf(convs[c].thread, sizeof convs[c].thread, "%s",
                         byoc_json_str(j, "thread_id"));
            cJSON_Delete(j);
        }
        expect(convs[c].thread[0], "conversation %s did not escalate", convs[c].id);
    }
}

static void epoch_start(void)
{
    f = test_cxsim_start();
    rx = fake_receiver_start();
    receiver_rules(0);
    byocd_start(&b, NULL, env_first);
    snprintf(base_url, sizeof base_url, "%s", b.base);
    snprintf(listen_env, sizeof listen_env, "BYOCD_LISTEN=127.0.0.1:%d", b.port);
    char hook[256];
    snprintf(hook, sizeof hook, "%s%s", fake_receiver_url(rx), HOOK);
    provider_create_hook(&b, byoc_cxsim_url(f), "int-1", NULL, hook, &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
    char *token = cxone_token(&b, &p);
    cx_auth = bearer_line(token);
    free(token);
    open_conversations();
    byoc_cxsim_set_delay_ms(f, CXONE_DELAY_MS);
}

static void epoch_end(void)
{
    for (int i = 0; i < N_CLIENTS; i++) {
        free(streams[i].v);
        streams[i].v = NULL;
    }
    provider_release(&p);
    free(cx_auth);
    cx_auth = NULL;
    byocd_stop_and_clean(&b);
    fake_receiver_stop(rx);
    byoc_cxsim_stop(f);
}

/* ---------------------------------------------------------------- the crash rounds */

static void restart(void)
{
    char dir[sizeof b.dir];
    snprintf(dir, sizeof dir, "%s", b.dir);
    int port = b.port;
    byocd_start(&b, dir, env_again);
    expect(b.port == port, "restarted on port %d, not %d", b.port, port);
}

/* How long byocd runs before kill number `round`: mostly a moment (in start-up recovery, or
 * with the work a kill cut still leased), now and then past the leases, so that work cut by
 * the last kill has been resent and new work is in flight when the next one comes. */
static long kill_delay(int round, uint64_t *rng)
{
    long at = rng_below(rng, KILL_SPAN_MS + 1);
    return round % LONG_GAP_EVERY == 1 ? PAST_LEASES_MS + at : at;
}

/* Starts the clients, kills and restarts byocd `rounds` times, stops the clients. */
static void crash_rounds(int rounds, uint64_t *rng)
{
    pthread_t t[N_CLIENTS];
    atomic_store(&stop_clients, false);
    for (int i = 0; i < N_CLIENTS; i++) {
        enum kind k = i == N_STREAMS ? OPEN : i % 2 ? BOT : AGENT;
        streams[i] = (struct stream){.kind = k, .conv = i / 2, .rng = rng_next(rng)};
        streams[i].v = calloc(MAX_PER_STREAM, sizeof *streams[i].v);
        ck_assert_ptr_nonnull(streams[i].v);
        ck_assert_int_eq(pthread_create(&t[i], NULL, client_main, &streams[i]), 0);
    }
    for (int r = 0; r < rounds; r++) {
        /* Retries in flight, backoffs scheduled: state the crash must keep as well. */
        receiver_rules((int)rng_below(rng, INJECTED_MAX + 1));
        byoc_cxsim_fail_next(f, CXONE_MESSAGES, INJECTED_CXONE_STATUS,
                             (int)rng_below(rng, INJECTED_MAX + 1), 0);
        harness_sleep_ms(kill_delay(r, rng));
        if (rng_below(rng, TERM_FIRST_ONE_IN) == 0) { /* the kill comes during a clean stop */
            kill(b.pid, SIGTERM);
            harness_sleep_ms(rng_below(rng, TERM_SPAN_MS + 1));
        }
        byocd_kill(&b);
        restart();
    }
    /* Let the last server take some traffic before the clients stop. */
    harness_sleep_ms(rng_below(rng, KILL_SPAN_MS + 1));
    atomic_store(&stop_clients, true);
    for (int i = 0; i < N_CLIENTS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < N_CLIENTS; i++)
        expect(!streams[i].error[0], "stream %d: %s", i, streams[i].error);
}

/* ---------------------------------------------------------------- reading the results */

/* Every page of a list: path?after=N&limit=PAGE_LIMIT, items under `key`, pages chained by
 * next_after. Returns one array (caller frees). */
static cJSON *list_all(const char *auth, const char *path, const char *key)
{
    cJSON *all = cJSON_CreateArray();
    ck_assert_ptr_nonnull(all);
    long after = 0;
    for (int page = 0; page < MAX_PER_STREAM * N_STREAMS; page++) {
        char url[512];
        snprintf(url, sizeof url, "%s?after=%ld&limit=%d", path, after, PAGE_LIMIT);
        cJSON *j = byocd_call_ok(&b, auth, "GET", url, NULL, 200);
        cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(j, key);
        long next = num(j, "next_after");
        cJSON_Delete(j);
        expect(cJSON_IsArray(items), "%s: no %s", path, key);
        int n = cJSON_GetArraySize(items);
        while (cJSON_GetArraySize(items) > 0)
            cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(items, 0));
        cJSON_Delete(items);
        if (n < PAGE_LIMIT || next <= after)
            return all;
        after = next;
    }
    expect(false, "%s: too many pages", path);
    return all;
}

static cJSON *conversation_events(const struct conv *c)
{
    char path[sizeof c->id + 64];
    snprintf(path, sizeof path, "/v1/conversations/%.63s/events", c->id);
    return list_all(bot_auth, path, "events");
}

/* The webhooks the receiver got, in arrival order, parsed; grows with seen_update(). */
struct seen {
    struct fake_receiver_request req;
    cJSON *env;
};

struct seen_list {
    struct seen *v;
    size_t n, cap;
};

static void seen_update(struct seen_list *l)
{
    size_t total = fake_receiver_count(rx, HOOK);
    if (total > l->cap) {
        struct seen *v = realloc(l->v, total * sizeof *v);
        ck_assert_ptr_nonnull(v);
        l->v = v;
        l->cap = total;
    }
    for (; l->n < total && fake_receiver_get(rx, HOOK, l->n, &l->v[l->n].req); l->n++)
        l->v[l->n].env = cJSON_Parse(l->v[l->n].req.body);
}

static void seen_free(struct seen_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        fake_receiver_request_release(&l->v[i].req);
        cJSON_Delete(l->v[i].env);
    }
    free(l->v);
    *l = (struct seen_list){0};
}

static bool answered_2xx(const struct seen *x)
{
    return x->req.status >= 200 && x->req.status < 300;
}

/* How many of conv's events, from seq 1 on without a gap, the receiver answered 2xx. */
static long delivered_prefix(const struct seen_list *l, const char *conv)
{
    long delivered = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct seen *x = &l->v[i];
        if (x->env && eq(byoc_json_str(x->env, "conversation_id"), conv) && answered_2xx(x) &&
            num(x->env, "seq") == delivered + 1)
            delivered++;
    }
    return delivered;
}

/* True when none of c's messages to CXone is still queued or being sent (the last 100 are
 * listed; the relay sends them in order, so earlier ones are settled too). */
static bool relay_idle(const struct conv *c)
{
    char path[sizeof c->id + 64];
    snprintf(path, sizeof path, "/v1/conversations/%.63s", c->id);
    cJSON *j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
    bool idle = true;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "messages")) idle =
        idle && !eq(byoc_json_str(m, "status"), "queued") &&
        !eq(byoc_json_str(m, "status"), "sending");
    cJSON_Delete(j);
    return idle;
}

/* True when c has no event after seq `after`. */
static bool no_event_after(const struct conv *c, long after)
{
    char path[sizeof c->id + 64];
    snprintf(path, sizeof path, "/v1/conversations/%.63s/events?after=%ld&limit=1", c->id, after);
    cJSON *j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
    bool none = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")) == 0;
    cJSON_Delete(j);
    return none;
}

/* Waits until CXone has every message and the receiver every event of every conversation;
 * false if that did not happen within DRAIN_MS (the checks then say what is missing). */
static bool drain(struct seen_list *l)
{
    long long end = harness_now_ms() + DRAIN_MS;
    for (;; harness_sleep_ms(POLL_MS)) {
        bool done = true;
        for (size_t c = 0; c < n_convs && done; c++) {
            done = relay_idle(&convs[c]);
            seen_update(l);
            done = done && no_event_after(&convs[c], delivered_prefix(l, convs[c].id));
        }
        if (done)
            return true;
        if (harness_now_ms() >= end)
            return false;
    }
}

/* ---------------------------------------------------------------- the checks */

/* Agent replies in the database (admin API): each 200 stored once with the id it was answered
 * with; stored ones in the order they were sent. */
static void check_agent_store(const cJSON *msgs, struct stream *st)
{
    const struct conv *c = &convs[st->conv];
    int last = -1;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (!eq(byoc_json_str(m, "thread_ref"), c->thread))
            continue;
        int i = key_index(st, byoc_json_str(m, "cxone_message_id"));
        expect(i >= 0, "stored agent message %s in %s was never sent",
               byoc_json_str(m, "cxone_message_id"), c->thread);
        expect(eq(byoc_json_str(m, "conversation_id"), c->id), "agent message %s not matched to %s",
               byoc_json_str(m, "id"), c->id);
        expect(i > last, "agent message %d stored after %d (twice, or out of order)", i, last);
        struct sent *x = &st->v[i];
        expect(x->outcome != ACKED || eq(x->id, byoc_json_str(m, "id")),
               "agent message %d answered as %s, stored as %s", i, x->id, byoc_json_str(m, "id"));
        x->stored = true;
        snprintf(x->found, sizeof x->found, "%s", byoc_json_str(m, "id"));
        last = i;
    }
    for (int i = 0; i < st->n; i++)
        expect(st->v[i].outcome != ACKED || st->v[i].stored,
               "agent message %d of %s got a 200 (as %s) but is not stored", i, c->id, st->v[i].id);
}

/* The events API: seq 1..N; agent.message events are the stored replies in order; every
 * acknowledged bot message has its message.delivered event, in the order sent. */
static void check_events(const cJSON *events, struct stream *agent, struct stream *bot)
{
    const char *conv = convs[agent->conv].id;
    long seq = 0;
    int last_agent = -1, last_bot = -1, agent_events = 0, agent_stored = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        seq++;
        expect(num(e, "seq") == seq, "%s: event seq %ld where %ld was due", conv, num(e, "seq"),
               seq);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data");
        const char *type = byoc_json_str(e, "type");
        expect(!eq(type, "message.failed"), "%s: message %s failed", conv,
               byoc_json_str(d, "message_id"));
        if (eq(type, "agent.message")) {
            int i = key_index(agent, byoc_json_str(d, "cxone_message_id"));
            expect(i > last_agent && agent->v[i].stored &&
                       eq(byoc_json_str(d, "message_id"), agent->v[i].found),
                   "%s: agent.message for %s (seq %ld) is not the next stored reply", conv,
                   byoc_json_str(d, "cxone_message_id"), seq);
            last_agent = i;
            agent_events++;
        }
        int i = eq(type, "message.delivered")
                    ? key_index(bot, byoc_json_str(d, "client_message_id"))
                    : -1;
        if (i < 0)
            continue; /* the handover's own messages, agent.joined, escalated */
        struct sent *x = &bot->v[i];
        expect(i > last_bot, "%s: bot message %d delivered after %d", conv, i, last_bot);
        expect(x->outcome != ACKED || eq(x->id, byoc_json_str(d, "message_id")),
               "%s: bot message %d answered as %s, delivered as %s", conv, i, x->id,
               byoc_json_str(d, "message_id"));
        x->stored = true;
        snprintf(x->found, sizeof x->found, "%s", byoc_json_str(d, "message_id"));
        last_bot = i;
    }
    for (int i = 0; i < agent->n; i++)
        agent_stored += agent->v[i].stored;
    expect(agent_events == agent_stored, "%s: %d agent.message events for %d stored replies", conv,
           agent_events, agent_stored);
    for (int i = 0; i < bot->n; i++)
        expect(bot->v[i].outcome != ACKED || bot->v[i].stored,
               "%s: bot message %d got a 202 (as %s) but was not delivered", conv, i, bot->v[i].id);
}

struct tally {
    long webhooks, webhook_repeats, posts, post_repeats, acked, unanswered, unanswered_stored,
        attempts_failed;
};

/* The receiver's view of one conversation: in order, every event delivered, repeats equal. */
static void check_webhooks(const struct seen_list *l, const cJSON *events, const char *conv,
                           struct tally *t)
{
    long n = cJSON_GetArraySize(events), delivered = 0;
    const struct seen **first = calloc((size_t)n + 1, sizeof *first);
    ck_assert_ptr_nonnull(first);
    for (size_t i = 0; i < l->n; i++) {
        const struct seen *x = &l->v[i];
        expect(x->env != NULL, "webhook %zu is not JSON", i);
        if (!eq(byoc_json_str(x->env, "conversation_id"), conv))
            continue;
        long seq = num(x->env, "seq");
        expect(seq >= 1 && seq <= n, "%s: webhook with seq %ld of %ld", conv, seq, n);
        expect(eq(x->req.webhook_id, byoc_json_str(x->env, "id")), "%s: webhook-id %s for event %s",
               conv, x->req.webhook_id, byoc_json_str(x->env, "id"));
        t->webhooks++;
        if (first[seq]) {
            t->webhook_repeats++;
            expect(strcmp(first[seq]->req.webhook_id, x->req.webhook_id) == 0 &&
                       strcmp(first[seq]->req.body, x->req.body) == 0,
                   "%s: seq %ld sent again with webhook-id %s (first %s) or another body", conv,
                   seq, x->req.webhook_id, first[seq]->req.webhook_id);
        } else {
            first[seq] = x;
            expect(cJSON_Compare(x->env, cJSON_GetArrayItem(events, (int)seq - 1), true),
                   "%s: webhook seq %ld differs from the stored event", conv, seq);
        }
        expect(seq <= delivered + 1, "%s: seq %ld sent before seq %ld was delivered", conv, seq,
               delivered + 1);
        if (answered_2xx(x) && seq == delivered + 1)
            delivered++;
    }
    free(first);
    expect(delivered == n, "%s: %ld of %ld events delivered", conv, delivered, n);
}

/* One message post the fake CXone received. */
struct post {
    char thread[128];
    char ext[ID_MAX]; /* idOnExternalPlatform */
    char text[ID_MAX];
    char *body;
    int status;
    int i; /* which message it is, set per conversation by the checks; -1: none */
};

struct posts {
    struct post *v;
    size_t n;
};

/* Every message post the fake CXone received, in arrival order. */
static struct posts load_posts(void)
{
    size_t total = byoc_cxsim_call_count(f, "POST", CXONE_MESSAGES);
    struct posts all = {.v = calloc(total + 1, sizeof *all.v)};
    ck_assert_ptr_nonnull(all.v);
    for (; all.n < total; all.n++) {
        struct byoc_cxsim_call call;
        ck_assert(byoc_cxsim_get_call(f, "POST", CXONE_MESSAGES, all.n, &call));
        cJSON *j = cJSON_Parse(call.body);
        const cJSON *payload = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "messageContent"), "payload");
        const char *thread =
            byoc_json_str(cJSON_GetObjectItemCaseSensitive(j, "thread"), "idOnExternalPlatform");
        const char *ext = byoc_json_str(j, "idOnExternalPlatform"),
                   *text = byoc_json_str(payload, "text");
        struct post *x = &all.v[all.n];
        *x = (struct post){.body = call.body, .status = call.status, .i = -1};
        snprintf(x->thread, sizeof x->thread, "%s", thread ? thread : "");
        snprintf(x->ext, sizeof x->ext, "%s", ext ? ext : "");
        snprintf(x->text, sizeof x->text, "%s", text ? text : "");
        call.body = NULL; /* kept in all */
        cJSON_Delete(j);
        byoc_cxsim_call_release(&call);
    }
    return all;
}

static void posts_free(struct posts *all)
{
    for (size_t k = 0; k < all->n; k++)
        free(all->v[k].body);
    free(all->v);
    *all = (struct posts){0};
}

/* The posts to conversation c's thread whose i (set by the caller) is >= 0 are in order (a
 * repeat only of the message just posted), CXone took each once (repeats got 409) and a repeat
 * is the same post (idOnExternalPlatform and body bytes). */
static void check_post_order(const struct posts *all, const struct conv *c, struct tally *t)
{
    const struct post *prev = NULL;
    int taken = -1;
    for (size_t k = 0; k < all->n; k++) {
        const struct post *x = &all->v[k];
        if (x->i < 0 || !eq(x->thread, c->thread))
            continue;
        t->posts++;
        expect(!prev || x->i >= prev->i, "%s: message %s posted after %s", c->id, x->ext,
               prev ? prev->ext : "");
        if (prev && x->i == prev->i) {
            t->post_repeats++;
            expect(eq(prev->ext, x->ext) && strcmp(prev->body, x->body) == 0,
                   "%s: message %d posted again as %s (first %s) or with another body", c->id, x->i,
                   x->ext, prev->ext);
        }
        if (x->status == 200) {
            expect(taken < x->i, "%s: CXone took message %s twice", c->id, x->ext);
            taken = x->i;
        } else {
            bool injected = x->status == INJECTED_CXONE_STATUS && taken < x->i;
            expect(injected || (x->status == 409 && taken == x->i),
                   "%s: message %s answered %d by CXone", c->id, x->ext, x->status);
        }
        prev = x;
    }
}

/* CXone's view of a streamed conversation's bot messages: each delivered one posted with the
 * id it was delivered as, nothing else posted, in order. */
static void check_cxone(struct posts *all, struct stream *bot, struct tally *t)
{
    const struct conv *c = &convs[bot->conv];
    for (size_t k = 0; k < all->n; k++) {
        struct post *x = &all->v[k];
        x->i = eq(x->thread, c->thread) ? key_index(bot, x->text) : -1;
        if (x->i < 0)
            continue; /* another conversation's, or the handover's */
        const struct sent *m = &bot->v[x->i];
        expect(m->stored && eq(x->ext, m->found),
               "%s: bot message %d posted as %s, delivered as %s", c->id, x->i, x->ext, m->found);
    }
    check_post_order(all, c, t);
    for (int i = 0; i < bot->n; i++) {
        bool posted = false;
        for (size_t k = 0; k < all->n && !posted; k++)
            posted = all->v[k].i == i && eq(all->v[k].thread, c->thread);
        expect(posted == bot->v[i].stored, "%s: bot message %d %s", c->id, i,
               posted ? "posted but not delivered" : "delivered but never posted");
    }
}

/* ---------------------------------------------------------------- opened conversations */

/* The conversations the opener's requests made: at most one per request (Idempotency-Key),
 * each acknowledged one with the id it was answered with. Appends them to convs. */
static void collect_opened(void)
{
    cJSON *all = list_all(bot_auth, "/v1/conversations", "items");
    const cJSON *c;
    cJSON_ArrayForEach(c, all)
    {
        const char *user = byoc_json_str(cJSON_GetObjectItemCaseSensitive(c, "end_user"), "id");
        int i = key_index(opener, user);
        if (i < 0)
            continue; /* a streamed conversation */
        struct sent *x = &opener->v[i];
        expect(!x->stored, "two conversations for opening %s: %s and %s", user, x->found,
               byoc_json_str(c, "id"));
        expect(x->outcome != ACKED || eq(x->id, byoc_json_str(c, "id")),
               "opening %s answered as %s, stored as %s", user, x->id, byoc_json_str(c, "id"));
        expect(byoc_json_str(c, "thread_id") && n_convs < N_CONV + MAX_OPENED,
               "opening %s: no thread", user);
        x->stored = true;
        snprintf(x->found, sizeof x->found, "%s", byoc_json_str(c, "id"));
        snprintf(convs[n_convs].id, sizeof convs[n_convs].id, "%s", byoc_json_str(c, "id"));
        snprintf(convs[n_convs].thread, sizeof convs[n_convs].thread, "%s",
                 byoc_json_str(c, "thread_id"));
        n_convs++;
    }
    cJSON_Delete(all);
    for (int i = 0; i < opener->n; i++)
        expect(opener->v[i].outcome != ACKED || opener->v[i].stored,
               "opening %d got a 201 (as %s) but is not stored", i, opener->v[i].id);
}

/* An opened conversation: escalated, every message to CXone delivered and posted in order,
 * every event delivered in order. */
static void check_opened(const struct conv *c, struct posts *all, const struct seen_list *l,
                         struct tally *t)
{
    char path[sizeof c->id + 64];
    snprintf(path, sizeof path, "/v1/conversations/%.63s", c->id);
    cJSON *j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
    expect(eq(byoc_json_str(j, "state"), "escalated"), "%s: state %s after the handover", c->id,
           byoc_json_str(j, "state"));
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    for (size_t k = 0; k < all->n; k++) {
        struct post *x = &all->v[k];
        if (!eq(x->thread, c->thread))
            continue;
        x->i = -1;
        int at = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            if (eq(byoc_json_str(m, "id"), x->ext))
                x->i = at;
            at++;
        }
        expect(x->i >= 0, "%s: CXone got %s, not a message of the conversation", c->id, x->ext);
    }
    check_post_order(all, c, t);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
        expect(eq(byoc_json_str(m, "status"), "delivered"), "%s: handover message %s is %s", c->id,
               byoc_json_str(m, "id"), byoc_json_str(m, "status"));
    cJSON_Delete(j);
    cJSON *events = conversation_events(c);
    const cJSON *e;
    cJSON_ArrayForEach(e, events) expect(!eq(byoc_json_str(e, "type"), "message.failed"),
                                         "%s: a handover message failed", c->id);
    check_webhooks(l, events, c->id, t);
    cJSON_Delete(events);
}

/* Every delivery carries a valid signature (the reference package, in batches). */
static void check_signatures(const struct seen_list *l)
{
    struct fake_receiver_request *reqs = calloc(l->n + 1, sizeof *reqs);
    ck_assert_ptr_nonnull(reqs);
    for (size_t i = 0; i < l->n; i++)
        reqs[i] = l->v[i].req;
    for (size_t at = 0; at < l->n; at += SW_VERIFY_MAX_BATCH) {
        size_t n = l->n - at < SW_VERIFY_MAX_BATCH ? l->n - at : SW_VERIFY_MAX_BATCH;
        int ok = sw_verify_requests(p.webhook_secret, reqs + at, n, NULL);
        expect(ok == (int)n, "%d of %zu webhooks verify", ok, n);
    }
    free(reqs);
}

static void count_outcomes(const struct stream *st, struct tally *t)
{
    t->attempts_failed += st->attempts_failed;
    for (int i = 0; i < st->n; i++) {
        t->acked += st->v[i].outcome == ACKED;
        t->unanswered += st->v[i].outcome == UNANSWERED;
        t->unanswered_stored += st->v[i].outcome == UNANSWERED && st->v[i].stored;
    }
}

static void check_all(struct seen_list *l, int rounds)
{
    struct tally t = {0};
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/agent-messages", p.id);
    cJSON *msgs = list_all(b.admin_auth, path, "items");
    struct posts posts = load_posts();
    for (int c = 0; c < N_CONV; c++) {
        struct stream *agent = &streams[2 * c], *bot = &streams[2 * c + 1];
        check_agent_store(msgs, agent);
        cJSON *events = conversation_events(&convs[c]);
        check_events(events, agent, bot);
        check_webhooks(l, events, convs[c].id, &t);
        cJSON_Delete(events);
        check_cxone(&posts, bot, &t);
    }
    for (size_t c = N_CONV; c < n_convs; c++)
        check_opened(&convs[c], &posts, l, &t);
    for (int i = 0; i < N_CLIENTS; i++)
        count_outcomes(&streams[i], &t);
    posts_free(&posts);
    cJSON_Delete(msgs);
    check_signatures(l);
    fprintf(stderr,
            "crash: epoch %d: %d kills; %ld requests acknowledged, %ld unanswered (%ld of them "
            "stored), %ld attempts failed; %zu conversations opened; %ld webhooks (%ld repeats), "
            "%ld CXone posts (%ld repeats)\n",
            epoch, rounds, t.acked, t.unanswered, t.unanswered_stored, t.attempts_failed,
            n_convs - N_CONV, t.webhooks, t.webhook_repeats, t.posts, t.post_repeats);
    /* The kills must have hit the clients, or this epoch proved nothing about crashes. */
    expect(t.attempts_failed > 0, "no request failed: the kills did not meet any traffic");
    for (int i = 0; i < N_CLIENTS; i++)
        expect(streams[i].n > 0 && streams[i].v[0].outcome != UNSENT, "stream %d sent nothing", i);
}

/* ---------------------------------------------------------------- the test */

static void run_epoch(int rounds, uint64_t *rng)
{
    epoch_start();
    crash_rounds(rounds, rng);
    collect_opened();
    struct seen_list l = {0};
    bool drained = drain(&l);
    seen_update(&l);
    check_all(&l, rounds);
    expect(drained, "the backlog did not drain within %d ms", DRAIN_MS);
    seen_free(&l);
    epoch_end();
}

START_TEST(acknowledged_data_survives_kill_9)
{
    ck_assert_int_eq(atexit(kill_left_over_server), 0);
    uint64_t rng = seed;
    int left = rounds_total;
    for (epoch = 0; left > 0; epoch++) {
        int rounds = left < CRASH_ROUNDS_PER_EPOCH ? left : CRASH_ROUNDS_PER_EPOCH;
        run_epoch(rounds, &rng);
        left -= rounds;
    }
}
END_TEST

/* A decimal number from the environment within [lo, hi], else def; a bad value stops here. */
static unsigned long long env_number(const char *name, unsigned long long def,
                                     unsigned long long lo, unsigned long long hi)
{
    const char *v = getenv(name);
    if (!v || !v[0])
        return def;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || v[0] == '-' || n < lo || n > hi || strlen(v) > SEED_TEXT_MAX) {
        fprintf(stderr, "%s=%s: want a decimal number from %llu to %llu\n", name, v, lo, hi);
        exit(EXIT_FAILURE);
    }
    return n;
}

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long fresh = ((unsigned long long)ts.tv_sec * 1000003ULL) ^
                               (unsigned long long)ts.tv_nsec ^
                               ((unsigned long long)getpid() << 32);
    seed = env_number("BYOCD_CRASH_SEED", fresh, 0, UINT64_MAX);
    rounds_total = (int)env_number("BYOCD_CRASH_ROUNDS", CRASH_ROUNDS_DEFAULT, 1, CRASH_ROUNDS_MAX);
    int epochs = (rounds_total + CRASH_ROUNDS_PER_EPOCH - 1) / CRASH_ROUNDS_PER_EPOCH;
    fprintf(stderr, "crash: BYOCD_CRASH_SEED=%llu BYOCD_CRASH_ROUNDS=%d (%d epochs)\n", seed,
            rounds_total, epochs);
    Suite *su = suite_create("crash");
    TCase *tc = tcase_create("kill -9");
    tcase_set_timeout(tc, (double)epochs * EPOCH_TIMEOUT_S);
    tcase_add_test(tc, acknowledged_data_survives_kill_9);
    suite_add_tcase(su, tc);
    return harness_run(su, CK_NORMAL);
}
