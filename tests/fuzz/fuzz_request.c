/* Whole requests through byocd's real HTTP stack, in-process: token requests (JSON, form, Basic),
 * Studio events, the bot API's bodies and agent replies, each with its content type and
 * credentials, parsed by the same code a served request goes through. Nothing leaves the
 * process (no relay, no dispatcher); the database lives in /dev/shm.
 *
 * Input: byte 0 picks the route, byte 1 the content type and credentials; the rest is the body
 * (for a Basic variant, its first line is the header's value after "Basic "). Every answer must
 * be a well-formed HTTP response with a status byocd may give: 2xx, 4xx, or 503 when storage is
 * overloaded. A 500 or another status, a dropped connection or a sanitizer report is a finding. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "byoc/app.h"
#include "byoc/json.h"
#include "byoc/log.h"
#include "byoc/provider.h"
#include "byoc/util.h"
#include "fuzz_input.h"

#define REQUEST_HEAD_MAX 4096
#define RESPONSE_MAX (256 * 1024)
#define CHANNEL_ID "chat_fuzz"
#define CONNECT_ATTEMPTS 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct byoc_config cfg;
static struct byoc_store *store;
static struct byoc_tasks *tasks;
static struct byoc_app app;
static struct byoc_http *http;
static struct byoc_provider prov;
static struct byoc_provider_secrets secrets;
static char bearer[2048];        /* a CXone token issued by byocd at start */
static char conversation_id[64]; /* an open conversation of the bot API */
static char basic_valid[1024];   /* base64 of the provider's client id and secret */
static int port, sock = -1;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_request: %s\n", what);
    abort();
}

static void sock_close(void)
{
    if (sock >= 0)
        close(sock);
    sock = -1;
}

static bool sock_open(void)
{
    sock_close();
    for (int i = 0; i < CONNECT_ATTEMPTS && sock < 0; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1; /* head and body go out at once, not after a delayed ACK */
        if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
            connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            sock = fd;
        else if (fd >= 0)
            close(fd);
    }
    return sock >= 0;
}

static bool send_all(const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(sock, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue; /* libFuzzer's -timeout alarm (SIGALRM, no SA_RESTART) */
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* The value of a header in a NUL-terminated response head, or NULL. */
static const char *header_value(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') {
            const char *v = line + 3 + n;
            while (*v == ' ')
                v++;
            return v;
        }
    }
    return NULL;
}

/* Reads one response on the connection; its status (0 if none came), body into out. */
static int read_response(char *out, size_t cap, bool *closes)
{
    size_t have = 0;
    const char *body = NULL;
    long want = -1;
    for (;;) {
        if (have + 1 >= cap)
            die("response larger than RESPONSE_MAX");
        ssize_t r = recv(sock, out + have, cap - have - 1, 0);
        if (r < 0 && errno == EINTR)
            continue; /* libFuzzer's -timeout alarm (SIGALRM, no SA_RESTART) */
        if (r <= 0)
            return 0;
        have += (size_t)r;
        out[have] = '\0';
        if (!body) {
            char *end = strstr(out, "\r\n\r\n");
            if (!end)
                continue;
            body = end + 4;
            *end = '\0'; /* the head alone, for the header search */
            const char *cl = header_value(out, "Content-Length");
            want = cl ? strtol(cl, NULL, 10) : 0;
            const char *conn = header_value(out, "Connection");
            *closes = conn && strncasecmp(conn, "close", 5) == 0;
            *end = '\r';
        }
        if ((long)(out + have - body) >= want)
            break;
    }
    int status = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

/* One request on the keep-alive connection (reopened when byocd closed it); the status. */
static int request(const char *method, const char *path, const char *headers, const void *body,
                   size_t len, char *resp, size_t cap)
{
    char head[REQUEST_HEAD_MAX];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n", method,
                     path, headers, len);
    if (n < 0 || (size_t)n >= sizeof head)
        die("request head too long");
    if (sock < 0 && !sock_open())
        die("cannot connect to byocd");
    bool closes = false;
    if (!send_all(head, (size_t)n) || !send_all(body, len)) {
        /* byocd may have closed an idle connection: one fresh attempt */
        if (!sock_open() || !send_all(head, (size_t)n) || !send_all(body, len))
            die("cannot send to byocd");
    }
    resp[0] = '\0';
    int status = read_response(resp, cap, &closes);
    if (closes || status == 0)
        sock_close();
    return status;
}

static void start_server(void)
{
    char dir[] = "/dev/shm/byocd-fuzz-XXXXXX", why[256] = "", db[96];
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(db, sizeof db, "%s/byocd.db", dir);
    if (byoc_store_open(db, &store, why, sizeof why) != BYOC_ERR_OK)
        die(why);
    cfg = (struct byoc_config){.listen_host = "127.0.0.1",
                               .public_url = "https://byocd.test",
                               .admin_token = "fuzz-admin-token",
                               .token_ttl = 3600,
                               .max_connections = 16,
                               .idle_timeout = 30};
    struct byoc_keys keys;
    memset(&keys, 9, sizeof keys);
    if (byoc_tasks_start(1, 64, &tasks) != BYOC_ERR_OK ||
        byoc_app_init(&app, &cfg, store, tasks, &keys) != BYOC_ERR_OK)
        die("app init");
    if (byoc_app_listen(&app, &http, why, sizeof why) != BYOC_ERR_OK)
        die(why);
    port = byoc_http_port(http);
}

/* A string member of a response's JSON body into out; dies when it is missing. */
static void answer_field(const char *resp, const char *key, char *out, size_t cap)
{
    const char *b = strstr(resp, "\r\n\r\n");
    cJSON *j = NULL;
    if (!b || byoc_json_parse(b + 4, strlen(b + 4), &j) != BYOC_ERR_OK)
        die("answer is not JSON");
    const char *v = byoc_json_str(j, key);
    if (!v || !byoc_strlcpy(out, v, cap))
        die(key);
    cJSON_Delete(j);
}

static void create_fixture(void)
{
    struct byoc_provider_input in = {.name = "Fuzz bot",
                                     .webhook_url = "https://bot.test/hook",
                                     .auth_url = "https://cx.test/auth/token",
                                     .api_base_url = "https://cx.test",
                                     .client_id = "c",
                                     .client_secret = "s",
                                     .access_key_id = "k",
                                     .access_key_secret = "ks"};
    if (byoc_provider_build(&app.keys, &in, byoc_now_ms(), &prov, &secrets) != BYOC_ERR_OK)
        die("provider build");
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = &prov};
    if (byoc_store_write(store, &w) != BYOC_ERR_OK)
        die("provider create");
    int64_t now = byoc_now_ms();
    struct byoc_channel ch = {.channel_id = CHANNEL_ID,
                              .name = "Fuzz channel",
                              .source = BYOC_CHANNEL_ADMIN,
                              .created_at = now,
                              .updated_at = now};
    snprintf(ch.provider_id, sizeof ch.provider_id, "%s", prov.id);
    struct byoc_write cw = {.kind = BYOC_WRITE_CHANNEL_UPSERT};
    cw.in.channel_upsert.channel = &ch;
    if (byoc_store_write(store, &cw) != BYOC_ERR_OK)
        die("channel create");

    char creds[512], path[160], hdr[1024], body[512];
    static char resp[RESPONSE_MAX];
    int cn =
        snprintf(creds, sizeof creds, "%s:%s", prov.byoc_client_id, secrets.byoc_client_secret);
    if (cn < 0 || byoc_base64_encode(creds, (size_t)cn, basic_valid, sizeof basic_valid) == 0)
        die("base64");
    snprintf(path, sizeof path, "/cxone/%s/auth/token", prov.id);
    snprintf(hdr, sizeof hdr,
             "Authorization: Basic %s\r\nContent-Type: application/x-www-form-urlencoded\r\n",
             basic_valid);
    const char *grant = "grant_type=client_credentials";
    if (request("POST", path, hdr, grant, strlen(grant), resp, sizeof resp) != 200)
        die("token");
    answer_field(resp, "access_token", bearer, sizeof bearer);

    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             secrets.bot_api_key);
    snprintf(body, sizeof body, "{\"end_user\":{\"id\":\"u1\"},\"channel_id\":\"%s\"}", CHANNEL_ID);
    if (request("POST", "/v1/conversations", hdr, body, strlen(body), resp, sizeof resp) != 201)
        die("conversation open");
    answer_field(resp, "id", conversation_id, sizeof conversation_id);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    byoc_log_set_level(BYOC_LOG_ERROR);
    start_server();
    create_fixture();
    return 0;
}

enum route_pick {
    PICK_TOKEN,
    PICK_STUDIO,
    PICK_OPEN,
    PICK_MESSAGE,
    PICK_TYPING,
    PICK_BOX,
    PICK_COUNT
};

static const char *const content_types[] = {"application/json", "application/x-www-form-urlencoded",
                                            "text/plain", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum route_pick pick = (enum route_pick)(data[0] % PICK_COUNT);
    unsigned variant = data[1];
    char *text = fuzz_text(data + 2, size - 2);
    if (!text)
        return 0;
    const char *body = text;
    size_t len = size - 2;
    const char *ct = content_types[variant % 4];
    char path[256], hdr[3072] = "", auth[2200] = "";
    switch (pick) {
    case PICK_TOKEN:
        snprintf(path, sizeof path, "/cxone/%s/auth/token", prov.id);
        if ((variant / 4) % 3 == 1) { /* the first line is a Basic credential of the input */
            char *rest = fuzz_cut_line(text);
            snprintf(auth, sizeof auth, "Authorization: Basic %.1800s\r\n", text);
            body = rest ? rest : "";
            len = strlen(body);
        } else if ((variant / 4) % 3 == 2) {
            snprintf(auth, sizeof auth, "Authorization: Basic %s\r\n", basic_valid);
        }
        break;
    case PICK_STUDIO:
        snprintf(path, sizeof path, "/cxone/%s/studio/events", prov.id);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", secrets.studio_secret);
        break;
    case PICK_OPEN:
        snprintf(path, sizeof path, "/v1/conversations");
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", secrets.bot_api_key);
        break;
    case PICK_MESSAGE:
    case PICK_TYPING:
        snprintf(path, sizeof path, "/v1/conversations/%s/%s", conversation_id,
                 pick == PICK_MESSAGE ? "messages" : "typing");
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", secrets.bot_api_key);
        break;
    default:
        snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/thr_fuzz/messages", prov.id);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", bearer);
        break;
    }
    if (ct)
        snprintf(hdr, sizeof hdr, "%sContent-Type: %s\r\n", auth, ct);
    else
        snprintf(hdr, sizeof hdr, "%s", auth);
    static char resp[RESPONSE_MAX];
    int status = request("POST", path, hdr, body, len, resp, sizeof resp);
    bool allowed =
        (status >= 200 && status < 300) || (status >= 400 && status < 500) || status == 503;
    if (!allowed) {
        fprintf(stderr, "fuzz_request: %s answered %d\n%.2000s\n", path, status, resp);
        abort();
    }
    free(text);
    return 0;
}
