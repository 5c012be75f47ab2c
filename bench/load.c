/* byocd-bench: the load tools of bench/run.sh that wrk cannot be.
 *
 *   fakes --cxone-port P --hook-port P --secret whsec_... --arrivals FILE
 *       A fake CXone (token grant, DFO message posts) and a webhook receiver on 127.0.0.1, each
 *       one libmicrohttpd thread, until SIGTERM. Every webhook's Standard Webhooks signature is
 *       checked with the secret. A bench marker (see below) in a message posted to the fake
 *       CXone, or in an agent.message webhook, is appended to FILE as "C|H <mono_us> <marker>";
 *       a webhook with a bad signature as "X <mono_us> badsig".
 *   bulk --base URL --auth "Bearer KEY" --count N --conns C --out FILE
 *       Opens N conversations (POST /v1/conversations, C in flight) and writes
 *       "<conversation id> <thread id>" per line to FILE.
 *   pace --kind agent|bot --base URL --auth "Bearer T" [--provider ID] --targets FILE
 *        --rate R --seconds S --conns C --arrivals FILE --tag C|H
 *       Open-loop load: R requests a second for S seconds over the conversations of FILE, in
 *       turn (agent: an agent reply to the box; bot: a bot message), each text carrying a
 *       unique marker. Then waits (bounded) until the marker shows up in the arrivals file with
 *       the tag, and prints the latency from the request's scheduled send time (so a stalled
 *       sender cannot hide delay) and from its 2xx answer to the arrival, p50/p99.
 *
 * Everything listens and connects on 127.0.0.1 only; every loop is bounded by a count or a
 * deadline. Times are CLOCK_MONOTONIC, which the processes share. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>

#include "byoc/banned.h"

#define MARKER_PREFIX "bmk"
#define MARKER_MAX 64                 /* bytes of a marker, terminator included */
#define BODY_CAP (256 * 1024)         /* bytes of a request body the fakes keep */
#define ANSWER_CAP (16 * 1024)        /* bytes of an answer the clients keep */
#define MAX_CONNS 1024                /* connections of one client run */
#define MAX_REQUESTS 1000000          /* requests of one paced run */
#define MAX_TARGETS 200000            /* conversations read from a targets file */
#define MAX_RATE 100000               /* requests a second */
#define MAX_SECONDS 600               /* length of a paced run */
#define ARRIVAL_WAIT_MS 20000         /* how long a paced run waits for its last arrivals */
#define ARRIVAL_POLL_MS 100           /* re-reads of the arrivals file */
#define CLIENT_TIMEOUT_MS 30000       /* one request of the clients */
#define BULK_DEADLINE_MS (30 * 60000) /* a bulk run gives up after this */
#define LATE_US 1000                  /* a request sent this late counts as a late send */
#define PORT_MAX 65535
#define SIG_MAX 1024 /* bytes of a webhook-signature header */
#define HMAC_LEN 32
#define KEY_MAX 128
#define LINE_MAX_BYTES 256
#define ID_MAX 256

/* ------------------------------------------------------------------ shared helpers */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || !end || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The value following --name in argv, or NULL. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values, in milliseconds. */
static double pct_ms(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return -1;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

/* Copies the marker that starts at p (MARKER_PREFIX ... 'z') into out; false if none. */
static bool marker_at(const char *p, const char *end, char *out)
{
    size_t n = 0;
    while (p + n < end && n + 1 < MARKER_MAX && p[n] != 'z' &&
           ((p[n] >= 'a' && p[n] <= 'y') || (p[n] >= '0' && p[n] <= '9')))
        n++;
    if (p + n >= end || p[n] != 'z' || n + 2 > MARKER_MAX)
        return false;
    memcpy(out, p, n + 1);
    out[n + 1] = '\0';
    return true;
}

static bool find_marker(const char *body, size_t len, char *out)
{
    const char *end = body + len;
    for (const char *p = body; p && p < end; p++) {
        p = memmem(p, (size_t)(end - p), MARKER_PREFIX, strlen(MARKER_PREFIX));
        if (!p)
            return false;
        if (marker_at(p, end, out))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ fakes */

struct fakes {
    FILE *arrivals;
    pthread_mutex_t mu;
    unsigned char key[KEY_MAX];
    size_t key_len;
    struct MHD_Response *token_resp, *contact_resp, *empty_resp;
    long hooks, bad_sigs, cxone_posts;
};

struct upload {
    char *data;
    size_t len;
    bool too_big;
};

static void record(struct fakes *f, char tag, const char *what)
{
    int64_t now = mono_us();
    pthread_mutex_lock(&f->mu);
    fprintf(f->arrivals, "%c %" PRId64 " %s\n", tag, now, what);
    fflush(f->arrivals);
    pthread_mutex_unlock(&f->mu);
}

/* Collects the body; true when the request is complete and *up holds it. */
static bool collect(void **con_cls, const char *upload, size_t *upload_size, struct upload **up)
{
    if (!*con_cls) {
        *con_cls = calloc(1, sizeof(struct upload));
        return false;
    }
    struct upload *u = *con_cls;
    if (*upload_size) {
        if (u->len + *upload_size > BODY_CAP) {
            u->too_big = true;
        } else {
            char *grown = realloc(u->data, u->len + *upload_size + 1);
            if (grown) {
                memcpy(grown + u->len, upload, *upload_size);
                u->data = grown;
                u->len += *upload_size;
                u->data[u->len] = '\0';
            } else {
                u->too_big = true;
            }
        }
        *upload_size = 0;
        return false;
    }
    *up = u;
    return true;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
    }
    *con_cls = NULL;
}

static enum MHD_Result cxone_access(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    (void)version;
    struct fakes *f = cls;
    struct upload *u = NULL;
    if (!collect(con_cls, upload, upload_size, &u))
        return *con_cls ? MHD_YES : MHD_NO;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/auth/token") == 0)
        return MHD_queue_response(conn, MHD_HTTP_OK, f->token_resp);
    size_t n = strlen(url), suffix = strlen("/messages");
    if (strcmp(method, "POST") == 0 && strncmp(url, "/dfo/3.0/channels/", 18) == 0 && n > suffix &&
        strcmp(url + n - suffix, "/messages") == 0) {
        char marker[MARKER_MAX];
        pthread_mutex_lock(&f->mu);
        f->cxone_posts++;
        pthread_mutex_unlock(&f->mu);
        if (u->data && find_marker(u->data, u->len, marker))
            record(f, 'C', marker);
        return MHD_queue_response(conn, MHD_HTTP_OK, f->contact_resp);
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, f->empty_resp);
}

/* Standard Webhooks: any "v1,<base64 HMAC-SHA256(key, id.ts.body)>" in the header matches. */
static bool signature_ok(const struct fakes *f, struct MHD_Connection *conn, const struct upload *u)
{
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-id");
    const char *ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-timestamp");
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-signature");
    if (!id || !ts || !sig || strlen(sig) >= SIG_MAX)
        return false;
    size_t idn = strlen(id), tsn = strlen(ts), len = idn + tsn + 2 + u->len;
    unsigned char *msg = malloc(len + 1);
    if (!msg)
        return false;
    memcpy(msg, id, idn);
    msg[idn] = '.';
    memcpy(msg + idn + 1, ts, tsn);
    msg[idn + 1 + tsn] = '.';
    if (u->len)
        memcpy(msg + idn + tsn + 2, u->data, u->len);
    unsigned char mac[HMAC_LEN];
    unsigned int mac_len = 0;
    bool made = HMAC(EVP_sha256(), f->key, (int)f->key_len, msg, len, mac, &mac_len) != NULL;
    free(msg);
    if (!made || mac_len != HMAC_LEN)
        return false;
    char want[4 * HMAC_LEN / 3 + 4];
    EVP_EncodeBlock((unsigned char *)want, mac, HMAC_LEN);
    char copy[SIG_MAX];
    snprintf(copy, sizeof copy, "%s", sig);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (strncmp(tok, "v1,", 3) == 0 && strlen(tok + 3) == strlen(want) &&
            CRYPTO_memcmp(tok + 3, want, strlen(want)) == 0)
            return true;
    return false;
}

static enum MHD_Result hook_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct fakes *f = cls;
    struct upload *u = NULL;
    if (!collect(con_cls, upload, upload_size, &u))
        return *con_cls ? MHD_YES : MHD_NO;
    if (strcmp(method, "POST") != 0) /* a readiness probe, not a webhook */
        return MHD_queue_response(conn, MHD_HTTP_OK, f->empty_resp);
    bool ok = !u->too_big && signature_ok(f, conn, u);
    pthread_mutex_lock(&f->mu);
    f->hooks++;
    f->bad_sigs += !ok;
    pthread_mutex_unlock(&f->mu);
    char marker[MARKER_MAX];
    if (!ok)
        record(f, 'X', "badsig");
    else if (u->data && strstr(u->data, "\"type\":\"agent.message\"") &&
             find_marker(u->data, u->len, marker))
        record(f, 'H', marker);
    return MHD_queue_response(conn, MHD_HTTP_OK, f->empty_resp);
}

static struct MHD_Response *json_resp(const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r && MHD_add_response_header(r, "Content-Type", "application/json") != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

static struct MHD_Daemon *listen_on(long port, MHD_AccessHandlerCallback cb, void *cls)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, cb, cls, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
                            MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_NOTIFY_COMPLETED,
                            on_done, NULL, MHD_OPTION_END);
}

static bool decode_secret(const char *secret, struct fakes *f)
{
    const char *prefix = "whsec_";
    if (!secret || strncmp(secret, prefix, strlen(prefix)) != 0)
        return false;
    const char *b64 = secret + strlen(prefix);
    size_t n = strlen(b64);
    if (n == 0 || n % 4 || n / 4 * 3 > KEY_MAX)
        return false;
    int got = EVP_DecodeBlock(f->key, (const unsigned char *)b64, (int)n);
    if (got < 0)
        return false;
    size_t pad = (b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
    f->key_len = (size_t)got - pad;
    return true;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int run_fakes(int argc, char **argv)
{
    static struct fakes f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    long cport = 0, hport = 0;
    const char *path = opt(argc, argv, "--arrivals");
    if (!parse_long(opt(argc, argv, "--cxone-port"), 1, PORT_MAX, &cport) ||
        !parse_long(opt(argc, argv, "--hook-port"), 1, PORT_MAX, &hport) || !path ||
        !decode_secret(opt(argc, argv, "--secret"), &f)) {
        fprintf(stderr, "fakes: --cxone-port, --hook-port, --secret whsec_..., --arrivals\n");
        return 2;
    }
    f.arrivals = fopen(path, "a");
    f.token_resp = json_resp("{\"access_token\":\"bench-cxone-token\",\"token_type\":\"bearer\","
                             "\"expires_in\":3600}");
    f.contact_resp = json_resp("{\"consumerContact\":{\"id\":\"bench-case\",\"contactId\":"
                               "\"700000000001\",\"interactionId\":\"bench-interaction\"}}");
    f.empty_resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!f.arrivals || !f.token_resp || !f.contact_resp || !f.empty_resp) {
        fprintf(stderr, "fakes: cannot open %s or build answers\n", path);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *cx = listen_on(cport, cxone_access, &f);
    struct MHD_Daemon *hk = listen_on(hport, hook_access, &f);
    if (!cx || !hk) {
        fprintf(stderr, "fakes: cannot listen on 127.0.0.1:%ld / %ld\n", cport, hport);
        return 1;
    }
    fprintf(stderr, "fakes: CXone on 127.0.0.1:%ld, webhooks on 127.0.0.1:%ld\n", cport, hport);
    while (!stop_requested)
        pause();
    MHD_stop_daemon(cx);
    MHD_stop_daemon(hk);
    fprintf(stderr, "fakes: %ld CXone message posts, %ld webhooks, %ld bad signatures\n",
            f.cxone_posts, f.hooks, f.bad_sigs);
    fclose(f.arrivals);
    return f.bad_sigs ? 1 : 0;
}

/* ------------------------------------------------------------------ HTTP client (libcurl multi) */

struct slot {
    CURL *easy;
    struct curl_slist *headers;
    char url[ID_MAX * 3];
    char body[1024];
    char answer[ANSWER_CAP];
    size_t answer_len;
    long index; /* request number; -1 when idle */
};

struct client {
    CURLM *multi;
    struct slot *slots;
    size_t nslots;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *cls)
{
    struct slot *s = cls;
    size_t n = size * nmemb;
    size_t room = sizeof s->answer - 1 - s->answer_len;
    size_t take = n < room ? n : room;
    memcpy(s->answer + s->answer_len, data, take);
    s->answer_len += take;
    s->answer[s->answer_len] = '\0';
    return n;
}

static bool client_init(struct client *c, size_t conns, const char *auth)
{
    c->multi = curl_multi_init();
    c->slots = calloc(conns, sizeof *c->slots);
    c->nslots = conns;
    if (!c->multi || !c->slots)
        return false;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)conns);
    char line[ID_MAX * 4];
    snprintf(line, sizeof line, "Authorization: %s", auth);
    for (size_t i = 0; i < conns; i++) {
        struct slot *s = &c->slots[i];
        s->index = -1;
        s->easy = curl_easy_init();
        s->headers = curl_slist_append(NULL, "Content-Type: application/json");
        s->headers = s->headers ? curl_slist_append(s->headers, line) : NULL;
        s->headers = s->headers ? curl_slist_append(s->headers, "Expect:") : NULL;
        if (!s->easy || !s->headers)
            return false;
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)CLIENT_TIMEOUT_MS);
        curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
    }
    return true;
}

static void client_release(struct client *c)
{
    for (size_t i = 0; c->slots && i < c->nslots; i++) {
        if (c->slots[i].index >= 0)
            curl_multi_remove_handle(c->multi, c->slots[i].easy);
        curl_easy_cleanup(c->slots[i].easy);
        curl_slist_free_all(c->slots[i].headers);
    }
    free(c->slots);
    curl_multi_cleanup(c->multi);
}

static struct slot *client_idle(struct client *c)
{
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].index < 0)
            return &c->slots[i];
    return NULL;
}

static void client_send(struct client *c, struct slot *s, long index)
{
    s->index = index;
    s->answer_len = 0;
    s->answer[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
    curl_multi_add_handle(c->multi, s->easy);
}

/* Runs transfers for up to wait_ms; calls done() for each finished one and frees its slot. */
typedef void (*done_fn)(void *cls, struct slot *s, long status);

static void client_step(struct client *c, int wait_ms, done_fn done, void *cls)
{
    int running = 0;
    curl_multi_perform(c->multi, &running);
    if (running)
        curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
    else if (wait_ms > 0)
        sleep_ms(wait_ms);
    curl_multi_perform(c->multi, &running);
    int left = 0;
    for (CURLMsg *m = curl_multi_info_read(c->multi, &left); m;
         m = curl_multi_info_read(c->multi, &left)) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        long status = 0;
        if (m->data.result == CURLE_OK)
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(c->multi, m->easy_handle);
        done(cls, s, status);
        s->index = -1;
    }
}

/* ------------------------------------------------------------------ bulk conversation opening */

struct bulk {
    FILE *out;
    long ok, failed, in_flight;
};

static void bulk_done(void *cls, struct slot *s, long status)
{
    struct bulk *b = cls;
    b->in_flight--;
    cJSON *j = status == 201 ? cJSON_Parse(s->answer) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(j, "thread_id");
    if (cJSON_IsString(id) && cJSON_IsString(thr)) {
        fprintf(b->out, "%s %s\n", id->valuestring, thr->valuestring);
        b->ok++;
    } else {
        if (b->failed < 5)
            fprintf(stderr, "bulk: %ld %.200s\n", status, s->answer);
        b->failed++;
    }
    cJSON_Delete(j);
}

static int run_bulk(int argc, char **argv)
{
    long count = 0, conns = 0;
    const char *base = opt(argc, argv, "--base"), *auth = opt(argc, argv, "--auth");
    const char *out = opt(argc, argv, "--out");
    if (!base || !auth || !out ||
        !parse_long(opt(argc, argv, "--count"), 1, MAX_REQUESTS, &count) ||
        !parse_long(opt(argc, argv, "--conns"), 1, MAX_CONNS, &conns)) {
        fprintf(stderr, "bulk: --base --auth --count --conns --out\n");
        return 2;
    }
    struct bulk b = {.out = fopen(out, "w")};
    struct client c = {0};
    if (!b.out || !client_init(&c, (size_t)conns, auth)) {
        fprintf(stderr, "bulk: cannot open %s or set up the client\n", out);
        return 1;
    }
    unsigned run = (unsigned)(mono_us() ^ ((int64_t)getpid() << 16));
    int64_t start = mono_us(), deadline = start + (int64_t)BULK_DEADLINE_MS * 1000;
    long sent = 0;
    while ((sent < count || b.in_flight > 0) && mono_us() < deadline) {
        for (struct slot *s = client_idle(&c); s && sent < count; s = client_idle(&c)) {
            snprintf(s->url, sizeof s->url, "%s/v1/conversations", base);
            snprintf(s->body, sizeof s->body,
                     "{\"end_user\":{\"id\":\"bench-%x-%ld\",\"first_name\":\"Bench\"},"
                     "\"transcript\":[{\"role\":\"user\",\"text\":\"I want a human\"},"
                     "{\"role\":\"bot\",\"text\":\"Connecting you to an agent\"}]}",
                     run, sent);
            client_send(&c, s, sent++);
            b.in_flight++;
        }
        client_step(&c, 50, bulk_done, &b);
    }
    double secs = (double)(mono_us() - start) / 1e6;
    printf("bulk_opened=%ld bulk_failed=%ld bulk_seconds=%.1f bulk_per_s=%.0f\n", b.ok, b.failed,
           secs, secs > 0 ? (double)b.ok / secs : 0);
    client_release(&c);
    fclose(b.out);
    return b.ok == count ? 0 : 1;
}

/* ------------------------------------------------------------------ paced runs */

struct target {
    char conv[ID_MAX];
    char thread[ID_MAX];
};

struct pace {
    int64_t *sched_us; /* scheduled send time per request */
    int64_t *ack_us;   /* time of the 2xx answer; 0 if none */
    long ok, failed;
    long in_flight;
};

static void pace_done(void *cls, struct slot *s, long status)
{
    struct pace *p = cls;
    p->in_flight--;
    if (status >= 200 && status < 300) {
        p->ack_us[s->index] = mono_us();
        p->ok++;
    } else {
        if (p->failed < 5)
            fprintf(stderr, "pace: request %ld: %ld %.200s\n", s->index, status, s->answer);
        p->failed++;
    }
}

static size_t read_targets(const char *path, struct target **out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    struct target *t = calloc(MAX_TARGETS, sizeof *t);
    size_t n = 0;
    char line[LINE_MAX_BYTES * 3];
    while (t && n < MAX_TARGETS && fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        sp[strcspn(sp + 1, "\r\n") + 1] = '\0';
        snprintf(t[n].conv, sizeof t[n].conv, "%.255s", line);
        snprintf(t[n].thread, sizeof t[n].thread, "%.255s", sp + 1);
        n++;
    }
    fclose(f);
    *out = t;
    return t ? n : 0;
}

/* Reads the arrivals file: for each "<tag> <us> <MARKER_PREFIX><run>x<seq>z" of this run, the
 * first arrival time into arr_us[seq]. Returns how many requests have arrived. */
static long read_arrivals(const char *path, char tag, unsigned run, long total, int64_t *arr_us)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[LINE_MAX_BYTES], want[MARKER_MAX];
    snprintf(want, sizeof want, MARKER_PREFIX "%xx", run);
    size_t wn = strlen(want);
    while (fgets(line, sizeof line, f)) {
        char t = 0, mk[MARKER_MAX];
        long long us = 0;
        if (sscanf(line, "%c %lld %63s", &t, &us, mk) != 3 || t != tag ||
            strncmp(mk, want, wn) != 0)
            continue;
        long seq = strtol(mk + wn, NULL, 10);
        if (seq >= 0 && seq < total && arr_us[seq] == 0)
            arr_us[seq] = us;
    }
    fclose(f);
    long got = 0;
    for (long i = 0; i < total; i++)
        got += arr_us[i] != 0;
    return got;
}

static void print_latency(const char *name, int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
    printf(" %s_p50_ms=%.2f %s_p99_ms=%.2f %s_max_ms=%.2f", name, pct_ms(v, n, 50), name,
           pct_ms(v, n, 99), name, n ? (double)v[n - 1] / 1000.0 : -1.0);
}

static void fill_request(struct slot *s, bool agent, const char *base, const char *provider,
                         const struct target *t, unsigned run, long i)
{
    char marker[MARKER_MAX];
    snprintf(marker, sizeof marker, MARKER_PREFIX "%xx%ldz", run, i);
    if (agent) {
        snprintf(s->url, sizeof s->url, "%s/cxone/%s/box/1.0/posts/%s/messages", base, provider,
                 t->thread);
        snprintf(s->body, sizeof s->body,
                 "{\"id\":\"%s\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":"
                 "{\"text\":\"reply %s\"}},\"thread\":{\"idOnExternalPlatform\":\"%s\"},"
                 "\"authorUser\":{\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
                 marker, marker, t->thread);
    } else {
        snprintf(s->url, sizeof s->url, "%s/v1/conversations/%s/messages", base, t->conv);
        snprintf(s->body, sizeof s->body, "{\"text\":\"end user says %s\"}", marker);
    }
}

struct pace_args {
    bool agent;
    const char *base, *auth, *provider, *arrivals;
    char tag;
    long rate, seconds, conns;
    struct target *targets;
    size_t ntargets;
};

static bool pace_args_parse(int argc, char **argv, struct pace_args *a)
{
    const char *kind = opt(argc, argv, "--kind"), *tag = opt(argc, argv, "--tag");
    a->base = opt(argc, argv, "--base");
    a->auth = opt(argc, argv, "--auth");
    a->provider = opt(argc, argv, "--provider");
    a->arrivals = opt(argc, argv, "--arrivals");
    a->agent = kind && strcmp(kind, "agent") == 0;
    const char *tfile = opt(argc, argv, "--targets");
    if (!kind || (!a->agent && strcmp(kind, "bot") != 0) || !a->base || !a->auth ||
        (a->agent && !a->provider) || !a->arrivals || !tag || strlen(tag) != 1 || !tfile ||
        !parse_long(opt(argc, argv, "--rate"), 1, MAX_RATE, &a->rate) ||
        !parse_long(opt(argc, argv, "--seconds"), 1, MAX_SECONDS, &a->seconds) ||
        !parse_long(opt(argc, argv, "--conns"), 1, MAX_CONNS, &a->conns) ||
        a->rate * a->seconds > MAX_REQUESTS)
        return false;
    a->tag = tag[0];
    a->ntargets = read_targets(tfile, &a->targets);
    return a->ntargets > 0;
}

static int run_pace(int argc, char **argv)
{
    struct pace_args a = {0};
    if (!pace_args_parse(argc, argv, &a)) {
        fprintf(stderr, "pace: --kind agent|bot --base --auth [--provider] --targets FILE "
                        "--rate --seconds --conns --arrivals --tag\n");
        return 2;
    }
    long total = a.rate * a.seconds;
    struct pace p = {.sched_us = calloc((size_t)total, sizeof(int64_t)),
                     .ack_us = calloc((size_t)total, sizeof(int64_t))};
    int64_t *arr_us = calloc((size_t)total, sizeof(int64_t));
    struct client c = {0};
    if (!p.sched_us || !p.ack_us || !arr_us || !client_init(&c, (size_t)a.conns, a.auth))
        return 1;
    unsigned run = (unsigned)(mono_us() ^ ((int64_t)getpid() << 16));
    int64_t start = mono_us() + 10000, period_ns = 1000000000LL / a.rate;
    long sent = 0, late = 0;
    int64_t end_by = start + (a.seconds + CLIENT_TIMEOUT_MS / 1000 + 5) * 1000000LL;
    while ((sent < total || p.in_flight > 0) && mono_us() < end_by) {
        int64_t now = mono_us();
        while (sent < total && start + sent * period_ns / 1000 <= now) {
            struct slot *s = client_idle(&c);
            if (!s)
                break; /* every connection is busy: it goes late, and its latency shows it */
            p.sched_us[sent] = start + sent * period_ns / 1000;
            late += now - p.sched_us[sent] > LATE_US;
            fill_request(s, a.agent, a.base, a.provider, &a.targets[(size_t)sent % a.ntargets], run,
                         sent);
            client_send(&c, s, sent++);
            p.in_flight++;
        }
        int64_t next = sent < total ? start + sent * period_ns / 1000 : now + 50000;
        int wait_ms = next > now ? (int)((next - now) / 1000) : 0;
        client_step(&c, wait_ms, pace_done, &p);
    }
    double secs = (double)(mono_us() - start) / 1e6;
    long arrived = 0;
    for (int64_t until = mono_us() + (int64_t)ARRIVAL_WAIT_MS * 1000; mono_us() < until;) {
        arrived = read_arrivals(a.arrivals, a.tag, run, sent, arr_us);
        if (arrived >= p.ok)
            break;
        sleep_ms(ARRIVAL_POLL_MS);
    }
    int64_t *e2e = calloc((size_t)total + 1, sizeof(int64_t));
    int64_t *after_ack = calloc((size_t)total + 1, sizeof(int64_t));
    int64_t *req = calloc((size_t)total + 1, sizeof(int64_t));
    size_t n = 0, nr = 0;
    int64_t last_arrival = start;
    for (long i = 0; e2e && after_ack && req && i < sent; i++) {
        if (arr_us[i] > last_arrival)
            last_arrival = arr_us[i];
        if (p.ack_us[i])
            req[nr++] = p.ack_us[i] - p.sched_us[i];
        if (!arr_us[i] || !p.ack_us[i])
            continue;
        e2e[n] = arr_us[i] - p.sched_us[i];
        after_ack[n] = arr_us[i] > p.ack_us[i] ? arr_us[i] - p.ack_us[i] : 0;
        n++;
    }
    printf("sent=%ld ok=%ld failed=%ld arrived=%ld lost=%ld late_sends=%ld achieved_per_s=%.0f",
           sent, p.ok, p.failed, arrived, p.ok - (long)n, late, secs > 0 ? (double)sent / secs : 0);
    /* how fast arrivals came: below the asked rate, a backlog grew during the run */
    printf(" arrival_per_s=%.0f",
           last_arrival > start ? (double)arrived * 1e6 / (double)(last_arrival - start) : 0.0);
    print_latency("request", req, nr);
    print_latency("e2e", e2e, n);
    print_latency("after_ack", after_ack, n);
    printf("\n");
    client_release(&c);
    free(e2e);
    free(after_ack);
    free(req);
    free(arr_us);
    free(p.sched_us);
    free(p.ack_us);
    free(a.targets);
    return p.failed == 0 && p.ok == (long)n && sent == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: byocd-bench fakes|bulk|pace ... (see bench/load.c)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "fakes") == 0)
        return run_fakes(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (strcmp(argv[1], "bulk") == 0)
        rc = run_bulk(argc, argv);
    else if (strcmp(argv[1], "pace") == 0)
        rc = run_pace(argc, argv);
    else
        fprintf(stderr, "byocd-bench: unknown command %s\n", argv[1]);
    curl_global_cleanup();
    return rc;
}
