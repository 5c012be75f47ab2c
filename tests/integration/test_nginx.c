/* deploy/nginx/byocd.conf in front of the real byocd: Debian's nginx serves the shipped file
 * (only its addresses, ports, certificate and log path replaced) with a throw-away certificate
 * on 127.0.0.2, connects to byocd from 127.0.0.2 (BYOCD_TRUSTED_PROXIES), and the clients speak
 * from 127.0.0.3 — so byocd's log can tell client, proxy and a direct caller apart. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "byoc/limits.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 60
#define NGINX_BIN "/usr/sbin/nginx"
#define OPENSSL_BIN "/usr/bin/openssl"
#define PROXY_ADDR "127.0.0.2"  /* nginx listens here and connects to byocd from here */
#define CLIENT_ADDR "127.0.0.3" /* every client below, unless it says otherwise */
#define SERVER_NAME "byocd.example.com"
#define NO_CXONE "http://127.0.0.1:9"
#define CMD_TIMEOUT_MS 10000
#define NGINX_START_MS 5000
#define NGINX_STOP_MS 5000
#define POLL_MS 10
#define LOG_WAIT_MS 3000
#define XFER_TIMEOUT_MS 10000L

static struct byocd B;
static char nginx_dir[128]; /* nginx.conf, byocd.conf, cert, logs, pid, temp dirs */
static char ca_path[192];   /* the self-signed certificate, also the clients' only CA */
static int tls_port, http_port;
static pid_t nginx_pid;
static char tls_base[64], http_base[64];

/* Whole file, malloc'd and NUL-terminated, or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    for (size_t got = 1; s && got > 0;) {
        if (cap - len < 2) {
            char *bigger = realloc(s, cap * 2);
            if (!bigger) {
                free(s);
                s = NULL;
                break;
            }
            s = bigger;
            cap *= 2;
        }
        got = fread(s + len, 1, cap - len - 1, f);
        len += got;
    }
    fclose(f);
    if (s)
        s[len] = '\0';
    return s;
}

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void in_dir(char *out, size_t cap, const char *name)
{
    ck_assert_int_lt(snprintf(out, cap, "%s/%s", nginx_dir, name), (int)cap);
}

/* ---- child processes ---- */

/* Child side: output to `out`, die with the parent (a test runner killed by a timeout must not
 * leave nginx behind), then exec. */
static void exec_child(char *const argv[], const char *out)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execv(argv[0], argv);
    _exit(127);
}

/* Runs argv to completion within CMD_TIMEOUT_MS; its exit status, or -1. */
static int run_cmd(char *const argv[], const char *out)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exec_child(argv, out);
    for (long long end = harness_now_ms() + CMD_TIMEOUT_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* A port nothing listens on at PROXY_ADDR just now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, PROXY_ADDR, &sa.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, PROXY_ADDR, &sa.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* ---- the configuration under test ---- */

/* text with every `from` replaced by `to` (malloc'd; frees text); *count says how many. */
static char *replace_all(char *text, const char *from, const char *to, int *count)
{
    size_t flen = strlen(from), tlen = strlen(to), n = 0;
    for (const char *p = strstr(text, from); p; p = strstr(p + flen, from))
        n++;
    *count = (int)n;
    char *out = malloc(strlen(text) + n * tlen + 1);
    ck_assert_ptr_nonnull(out);
    char *w = out;
    const char *r = text;
    for (const char *p = strstr(r, from); p; p = strstr(r, from)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, to, tlen);
        w += tlen;
        r = p + flen;
    }
    memcpy(w, r, strlen(r) + 1);
    free(text);
    return out;
}

static char *shipped_conf(void)
{
    const char *root = getenv("BYOCD_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "BYOCD_SOURCE_ROOT is not set");
    char path[512];
    snprintf(path, sizeof path, "%s/deploy/nginx/byocd.conf", root);
    char *text = read_text(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

/* The shipped file with this run's addresses. Each replaced string must be there exactly as
 * often as expected, so the test cannot silently drift away from the file. False with the
 * reason in why. */
static bool write_site_conf(char *why, size_t why_cap)
{
    char upstream[64], listen_http[64], listen_tls[64], cert[192], key[192], access[192];
    snprintf(upstream, sizeof upstream, "server 127.0.0.1:%d;", B.port);
    snprintf(listen_http, sizeof listen_http, "listen %s:%d;", PROXY_ADDR, http_port);
    snprintf(listen_tls, sizeof listen_tls, "listen %s:%d ssl http2;", PROXY_ADDR, tls_port);
    in_dir(cert, sizeof cert, "cert.pem");
    in_dir(key, sizeof key, "key.pem");
    in_dir(access, sizeof access, "access.log");
    const struct {
        const char *from, *to;
        int times;
    } subst[] = {
        {"server 127.0.0.1:8080;", upstream, 1},
        {"listen 80;", listen_http, 1},
        {"listen [::]:80;", "", 1}, /* IPv6 and the real ports are not ours to take here */
        {"listen 443 ssl http2;", listen_tls, 1},
        {"listen [::]:443 ssl http2;", "", 1},
        {"/etc/ssl/byocd/fullchain.pem", cert, 1},
        {"/etc/ssl/byocd/privkey.pem", key, 1},
        {"/var/log/nginx/byocd.access.log", access, 2},
    };
    char *text = shipped_conf();
    for (size_t i = 0; i < sizeof subst / sizeof subst[0]; i++) {
        int n = 0;
        text = replace_all(text, subst[i].from, subst[i].to, &n);
        if (n != subst[i].times) {
            snprintf(why, why_cap, "deploy/nginx/byocd.conf has \"%s\" %d times, not %d",
                     subst[i].from, n, subst[i].times);
            free(text);
            return false;
        }
    }
    char path[192];
    in_dir(path, sizeof path, "byocd.conf");
    bool ok = write_text(path, text);
    free(text);
    if (!ok)
        snprintf(why, why_cap, "cannot write %s", path);
    return ok;
}

/* What /etc/nginx/nginx.conf gives a conf.d file, in this directory and in the foreground. One
 * process (master_process off): nothing forks away from the test. proxy_bind makes nginx's
 * connections to byocd come from PROXY_ADDR. */
static bool write_main_conf(char *why, size_t why_cap)
{
    char conf[2048], path[192];
    snprintf(conf, sizeof conf,
             "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
             "events { worker_connections 128; }\n"
             "http {\n  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
             "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
             "  scgi_temp_path %s/scgi;\n  proxy_bind %s;\n  include %s/byocd.conf;\n}\n",
             nginx_dir, nginx_dir, nginx_dir, nginx_dir, nginx_dir, nginx_dir, nginx_dir,
             PROXY_ADDR, nginx_dir);
    in_dir(path, sizeof path, "nginx.conf");
    if (write_text(path, conf))
        return true;
    snprintf(why, why_cap, "cannot write %s", path);
    return false;
}

static void make_certificate(void)
{
    char key[192], out[192], san[96];
    in_dir(key, sizeof key, "key.pem");
    in_dir(ca_path, sizeof ca_path, "cert.pem");
    in_dir(out, sizeof out, "openssl.out");
    snprintf(san, sizeof san, "subjectAltName=DNS:localhost,IP:%s", PROXY_ADDR);
    char *const argv[] = {OPENSSL_BIN,
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:P-256",
                          "-nodes",
                          "-days",
                          "2",
                          "-subj",
                          "/CN=localhost",
                          "-addext",
                          san,
                          "-keyout",
                          key,
                          "-out",
                          ca_path,
                          NULL};
    ck_assert_msg(run_cmd(argv, out) == 0, "openssl req failed (see %s)", out);
}

static char *nginx_errors(void)
{
    char path[192];
    in_dir(path, sizeof path, "error.log");
    char *s = read_text(path);
    return s ? s : strdup("(no error.log)");
}

/* Starts nginx and waits until both ports accept; false with the reason in why. */
static bool nginx_start(char *why, size_t why_cap)
{
    char conf[192], out[192], errlog[192], prefix[160];
    in_dir(conf, sizeof conf, "nginx.conf");
    in_dir(out, sizeof out, "nginx.out");
    in_dir(errlog, sizeof errlog, "error.log");
    snprintf(prefix, sizeof prefix, "%s/", nginx_dir);
    char *const argv[] = {NGINX_BIN, "-p", prefix, "-e", errlog, "-c", conf, NULL};
    nginx_pid = fork();
    ck_assert_int_ge(nginx_pid, 0);
    if (nginx_pid == 0)
        exec_child(argv, out);
    for (long long end = harness_now_ms() + NGINX_START_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        int status;
        if (waitpid(nginx_pid, &status, WNOHANG) == nginx_pid) {
            nginx_pid = 0;
            char *errors = nginx_errors();
            snprintf(why, why_cap, "nginx exited at start: %s", errors);
            free(errors);
            return false;
        }
        if (port_open(tls_port) && port_open(http_port))
            return true;
    }
    snprintf(why, why_cap, "nginx did not listen within %d ms", NGINX_START_MS);
    return false;
}

/* SIGTERM (nginx's fast shutdown), then SIGKILL; false if it had to be killed. */
static bool nginx_stop(void)
{
    if (nginx_pid <= 0)
        return true;
    kill(nginx_pid, SIGTERM);
    for (long long end = harness_now_ms() + NGINX_STOP_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid) {
            nginx_pid = 0;
            return true;
        }
    }
    kill(nginx_pid, SIGKILL);
    waitpid(nginx_pid, NULL, 0);
    nginx_pid = 0;
    return false;
}

/* ---- fixture: one byocd and one nginx for the whole TCase, in the runner process ---- */

static void proxy_up(void)
{
    static const char *const env[] = {"BYOCD_TRUSTED_PROXIES=" PROXY_ADDR, NULL};
    snprintf(nginx_dir, sizeof nginx_dir, "/tmp/byocd-itest-nginx-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(nginx_dir));
    make_certificate();
    tls_port = free_port();
    do {
        http_port = free_port();
    } while (http_port == tls_port);
    snprintf(tls_base, sizeof tls_base, "https://%s:%d", PROXY_ADDR, tls_port);
    snprintf(http_base, sizeof http_base, "http://%s:%d", PROXY_ADDR, http_port);
    byocd_start(&B, NULL, env);
    /* from here on a failure must not leave byocd (or nginx) running */
    char why[2048] = "";
    if (write_site_conf(why, sizeof why) && write_main_conf(why, sizeof why) &&
        nginx_start(why, sizeof why))
        return;
    nginx_stop();
    byocd_kill(&B);
    harness_fail_run();
    ck_abort_msg("%s (files kept in %s)", why, nginx_dir);
}

static void proxy_down(void)
{
    bool nginx_clean = nginx_stop();
    int status = byocd_stop(&B);
    if (nginx_clean && status == 0) {
        byocd_remove_dir(nginx_dir);
        byocd_remove_dir(B.dir);
        return;
    }
    fprintf(stderr, "nginx %s, byocd exited with %d; kept %s and %s\n",
            nginx_clean ? "stopped" : "had to be killed", status, nginx_dir, B.dir);
    harness_fail_run();
}

/* ---- a client that can choose its source address and trusts only our certificate ---- */

struct call {
    const char *method; /* NULL: GET */
    const char *url;
    const char *from; /* source address; NULL: CLIENT_ADDR */
    const char *headers[8];
    const char *body;
    size_t body_len;
    bool path_as_is; /* send "/x/../y" and "//y" as they are */
};

struct sink {
    char *data;
    size_t len, cap;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t len = size * n;
    if (s->len + len + 1 > s->cap) {
        size_t cap = (s->len + len + 1) * 2;
        char *d = realloc(s->data, cap);
        if (!d)
            return 0;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, p, len);
    s->len += len;
    s->data[s->len] = '\0';
    return len;
}

/* A header block starts over at each status line (a 100 Continue precedes the answer). */
static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        s->len = 0;
    return on_data(p, size, n, userdata);
}

static void call_setup(CURL *c, const struct call *q, struct curl_slist *hdrs, char *iface)
{
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, XFER_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca_path);
    curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, q->path_as_is ? 1L : 0L);
    if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    }
}

/* Performs q; the answer goes to *out (test_resp_release() it). Fails the test on a transport
 * error. */
static void call(const struct call *q, struct test_resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; q->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, q->headers[i]);
    char iface[64];
    snprintf(iface, sizeof iface, "host!%s", q->from ? q->from : CLIENT_ADDR);
    struct sink body = {0}, head = {0};
    call_setup(c, q, hdrs, iface);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", q->method ? q->method : "GET", q->url,
                  curl_easy_strerror(rc));
    out->body = body.data ? body.data : strdup("");
    out->body_len = body.len;
    out->headers = head.data ? head.data : strdup("");
}

static char *url_of(const char *base, const char *path)
{
    size_t n = strlen(base) + strlen(path) + 1;
    char *u = malloc(n);
    ck_assert_ptr_nonnull(u);
    snprintf(u, n, "%s%s", base, path);
    return u;
}

/* ---- byocd's access log ---- */

/* byocd's access-log line of the request with this id, parsed, or NULL. */
static cJSON *find_access_line(const char *request_id)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", request_id);
    char *log = byocd_log(&B);
    cJSON *found = NULL;
    for (char *line = log; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(line, "\"msg\":\"request\"") && strstr(line, needle))
            found = cJSON_Parse(line);
        line = nl ? nl + 1 : NULL;
    }
    free(log);
    return found;
}

/* The line is written when byocd has finished the answer: wait for it, bounded. */
static cJSON *access_line(const char *request_id)
{
    cJSON *j = NULL;
    for (long long end = harness_now_ms() + LOG_WAIT_MS; !j && harness_now_ms() < end;
         harness_sleep_ms(POLL_MS))
        j = find_access_line(request_id);
    ck_assert_msg(j != NULL, "no access-log line for %s", request_id);
    return j;
}

static const char *field(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* remote, peer and proto of a request's line (NULL: absent); also its status. */
static void expect_client(const char *request_id, const char *remote, const char *peer,
                          const char *proto, long status)
{
    cJSON *j = access_line(request_id);
    char *text = cJSON_PrintUnformatted(j);
    const char *got[3] = {field(j, "remote"), field(j, "peer"), field(j, "proto")};
    const char *want[3] = {remote, peer, proto};
    static const char *const names[3] = {"remote", "peer", "proto"};
    for (int i = 0; i < 3; i++) {
        if (!want[i])
            ck_assert_msg(got[i] == NULL, "%s: %s present in %s", request_id, names[i], text);
        else
            ck_assert_msg(got[i] && strcmp(got[i], want[i]) == 0, "%s: %s is not %s in %s",
                          request_id, names[i], want[i], text);
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    ck_assert_msg(cJSON_IsNumber(st) && (long)st->valuedouble == status, "%s: status in %s",
                  request_id, text);
    free(text);
    cJSON_Delete(j);
}

/* ---- small flows ---- */

static cJSON *json_of(const struct test_resp *r)
{
    cJSON *j = test_resp_json(r);
    ck_assert_msg(j != NULL, "not JSON (%ld): %s", r->status, r->body);
    return j;
}

static char *string_at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    ck_assert_msg(cJSON_IsString(v), "no %s%s%s", a, b ? "." : "", b ? b : "");
    return strdup(v->valuestring);
}

/* The error code of a byocd-shaped JSON error. */
static void expect_error(const struct test_resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "%ld, not %ld: %s", r->status, status, r->body);
    cJSON *j = json_of(r);
    char *got = string_at(j, "error", "code");
    ck_assert_str_eq(got, code);
    free(got);
    cJSON_Delete(j);
}

/* POSTs a JSON body to base + path with the request id rid; auth NULL or a header line. */
static void post_json(const char *base, const char *path, const char *auth, const char *body,
                      const char *rid, struct test_resp *r)
{
    char *url = url_of(base, path), rid_line[96];
    snprintf(rid_line, sizeof rid_line, "X-Request-Id: %s", rid);
    struct call q = {.method = "POST", .url = url, .body = body, .body_len = strlen(body)};
    size_t n = 0;
    if (auth)
        q.headers[n++] = auth;
    q.headers[n++] = "Content-Type: application/json";
    q.headers[n] = rid_line;
    call(&q, r);
    free(url);
}

/* A provider created through nginx with the admin API; its id, client id and secret. */
static void flow_create(char **id, char **client_id, char **secret)
{
    char body[1024], admin[160];
    snprintf(admin, sizeof admin, "Authorization: Bearer %s", HARNESS_ADMIN_TOKEN);
    snprintf(body, sizeof body,
             "{\"name\":\"Proxied bot\",\"webhook_url\":\"https://bot.example/hook\",\"cxone\":{"
             "\"auth_url\":\"%s/auth/token\",\"api_base_url\":\"%s\",\"client_id\":\"c\","
             "\"client_secret\":\"s\",\"access_key_id\":\"k\",\"access_key_secret\":\"ks\"}}",
             NO_CXONE, NO_CXONE);
    struct test_resp r;
    post_json(tls_base, "/admin/v1/providers", admin, body, "flow-create", &r);
    ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
    cJSON *created = json_of(&r);
    test_resp_release(&r);
    *id = string_at(created, "id", NULL);
    *client_id = string_at(created, "byoc", "client_id");
    *secret = string_at(created, "byoc", "client_secret");
    cJSON_Delete(created);
}

/* CXone's token request through nginx; the "Authorization: Bearer" line it allows. */
static char *flow_token(const char *id, const char *client_id, const char *secret)
{
    char path[256], body[512];
    snprintf(path, sizeof path, "/cxone/%s/auth/token", id);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":"
             "\"client_credentials\"}",
             client_id, secret);
    struct test_resp r;
    post_json(tls_base, path, NULL, body, "flow-token", &r);
    ck_assert_msg(r.status == 200, "token: %ld %s", r.status, r.body);
    cJSON *tok = json_of(&r);
    test_resp_release(&r);
    char *access = string_at(tok, "access_token", NULL);
    char *type = string_at(tok, "token_type", NULL);
    ck_assert_str_eq(type, "Bearer");
    cJSON_Delete(tok);
    char *auth = bearer_line(access);
    free(access);
    free(type);
    return auth;
}

static const char agent_reply[] =
    "{\"id\":\"cx-nginx-1\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":{\"text\":"
    "\"Hello through nginx\"}},\"thread\":{\"idOnExternalPlatform\":\"thread-nginx\"}}";

/* The agent reply posted to the box at base; byocd's id for it (malloc'd). */
static char *flow_box(const char *base, const char *id, const char *auth, const char *rid)
{
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/thread-nginx/messages", id);
    struct test_resp r;
    post_json(base, path, auth, agent_reply, rid, &r);
    ck_assert_msg(r.status == 200, "box: %ld %s", r.status, r.body);
    cJSON *j = json_of(&r);
    char *msg = string_at(j, "idOnExternalPlatform", NULL);
    cJSON_Delete(j);
    test_resp_release(&r);
    return msg;
}

/* ---- tests ---- */

START_TEST(test_flow_through_proxy)
{
    char *id, *client_id, *secret;
    flow_create(&id, &client_id, &secret);
    char *auth = flow_token(id, client_id, secret);
    /* the same agent reply through nginx and directly: byocd deduplicates it, so both paths
     * reach the same state */
    char *via_proxy = flow_box(tls_base, id, auth, "flow-box");
    char *direct = flow_box(B.base, id, auth, "flow-box-direct");
    ck_assert_ptr_nonnull(strstr(via_proxy, "msg_"));
    ck_assert_str_eq(via_proxy, direct);

    /* the health probe, and what nginx adds on the way back */
    char *url = url_of(tls_base, "/healthz");
    struct test_resp r;
    call(&(struct call){.url = url, .headers = {"X-Request-Id: flow-health", NULL}}, &r);
    free(url);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    char *echoed = test_resp_header(&r, "X-Request-Id");
    ck_assert_str_eq(echoed, "flow-health");
    char *hsts = test_resp_header(&r, "Strict-Transport-Security");
    ck_assert_ptr_nonnull(hsts);
    test_resp_release(&r);

    /* byocd saw the client, the proxy and https; the direct call only its own peer */
    expect_client("flow-create", CLIENT_ADDR, PROXY_ADDR, "https", 201);
    expect_client("flow-token", CLIENT_ADDR, PROXY_ADDR, "https", 200);
    expect_client("flow-box", CLIENT_ADDR, PROXY_ADDR, "https", 200);
    expect_client("flow-health", CLIENT_ADDR, PROXY_ADDR, "https", 200);
    expect_client("flow-box-direct", CLIENT_ADDR, NULL, NULL, 200);
    free(echoed);
    free(hsts);
    free(via_proxy);
    free(direct);
    free(auth);
    free(id);
    free(client_id);
    free(secret);
}
END_TEST

START_TEST(test_forged_forwarding_through_proxy)
{
    /* nginx appends the real client to X-Forwarded-For and replaces X-Forwarded-Proto */
    char *url = url_of(tls_base, "/healthz");
    struct test_resp r;
    call(&(struct call){.url = url,
                        .headers = {"X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: http",
                                    "X-Request-Id: forged-1", NULL}},
         &r);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    /* naming the proxy itself on the left does not help either */
    call(&(struct call){.url = url,
                        .headers = {"X-Forwarded-For: 203.0.113.9, " PROXY_ADDR,
                                    "X-Request-Id: forged-2", NULL}},
         &r);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    free(url);
    expect_client("forged-1", CLIENT_ADDR, PROXY_ADDR, "https", 200);
    expect_client("forged-2", CLIENT_ADDR, PROXY_ADDR, "https", 200);
}
END_TEST

START_TEST(test_forwarding_headers_ignored_direct)
{
    char *url = url_of(B.base, "/healthz");
    struct test_resp r;
    call(&(struct call){.url = url,
                        .headers = {"X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https",
                                    "X-Request-Id: direct-forged", NULL}},
         &r);
    free(url);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
    expect_client("direct-forged", CLIENT_ADDR, NULL, NULL, 200);
}
END_TEST

/* "1088k", "2m", "1048576" -> bytes. */
static long long size_value(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    ck_assert_msg(end != s && v > 0, "bad size %s", s);
    if (*end == 'k' || *end == 'K')
        return v * 1024;
    if (*end == 'm' || *end == 'M')
        return v * 1024 * 1024;
    return v;
}

/* client_max_body_size of the shipped file's TLS server, in bytes. */
static long long nginx_body_limit(void)
{
    char *text = shipped_conf();
    const char *key = "\n    client_max_body_size ";
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "no client_max_body_size in deploy/nginx/byocd.conf");
    ck_assert_msg(strstr(p + 1, key) == NULL, "client_max_body_size set twice");
    long long limit = size_value(p + strlen(key));
    free(text);
    return limit;
}

static void post_bytes(const char *path, const char *auth, size_t n, const char *rid,
                       struct test_resp *r)
{
    char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    memset(body, ' ', n); /* JSON whitespace: the size alone decides */
    body[0] = '{';
    body[n - 1] = '}';
    char *url = url_of(tls_base, path), rid_line[96];
    snprintf(rid_line, sizeof rid_line, "X-Request-Id: %s", rid);
    call(&(struct call){.method = "POST",
                        .url = url,
                        .headers = {auth, "Content-Type: application/json", rid_line, NULL},
                        .body = body,
                        .body_len = n},
         r);
    free(url);
    free(body);
}

/* largest of byocd's per-route body caps */
static long long largest_body_cap(void)
{
    const long long caps[] = {BYOC_BODY_MAX_SMALL, BYOC_BODY_MAX_AGENT_REPLY, BYOC_BODY_MAX_FORM,
                              BYOC_BODY_MAX_HANDOVER, BYOC_BODY_MAX_BOT_MESSAGE};
    long long largest = 0;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        largest = caps[i] > largest ? caps[i] : largest;
    return largest;
}

START_TEST(test_body_limit_in_nginx)
{
    /* nginx lets byocd's largest body through, and not much more */
    long long largest = largest_body_cap(), limit = nginx_body_limit();
    ck_assert_msg(limit > largest && limit <= largest + 256 * 1024,
                  "client_max_body_size %lld is not a little above byocd's largest body %lld",
                  limit, largest);
    struct provider p;
    provider_create(&B, NO_CXONE, NULL, &p);
    char *auth = bearer_line(p.bot_api_key);
    struct test_resp r;
    /* the largest size byocd accepts passes nginx (byocd then judges the JSON) */
    post_bytes("/v1/conversations", auth, (size_t)largest, "big-fits", &r);
    long status = r.status;
    ck_assert_msg(status != 413 && status < 500, "%ld %s", r.status, r.body);
    test_resp_release(&r);
    expect_client("big-fits", CLIENT_ADDR, PROXY_ADDR, "https", status);
    /* over nginx's limit: nginx answers, in byocd's shape, and byocd never sees it */
    post_bytes("/v1/conversations", auth, (size_t)limit + 1, "big-nginx", &r);
    expect_error(&r, 413, "body_too_large");
    cJSON *j = json_of(&r);
    char *rid = string_at(j, "request_id", NULL);
    ck_assert_str_eq(rid, "big-nginx");
    cJSON_Delete(j);
    test_resp_release(&r);
    /* a later request's line is there, the refused one's is not */
    post_bytes("/v1/conversations", auth, 2, "big-after", &r);
    test_resp_release(&r);
    cJSON_Delete(access_line("big-after"));
    cJSON *line = find_access_line("big-nginx");
    ck_assert_msg(line == NULL, "byocd saw the request nginx refused");
    free(rid);
    free(auth);
    provider_release(&p);
}
END_TEST

/* byocd answers a body it will refuse as soon as it has the headers. Through nginx, which
 * writes the whole body before it reads, that answer must still arrive: a 502 instead would
 * make a bot platform retry an oversized request forever. Several rounds, since whether the
 * body still sits in the socket when byocd answers is a race. */
START_TEST(test_early_answers_reach_client)
{
    long long largest = largest_body_cap();
    struct provider p;
    provider_create(&B, NO_CXONE, NULL, &p);
    char *auth = bearer_line(p.bot_api_key), admin[160], rid[64];
    snprintf(admin, sizeof admin, "Authorization: Bearer %s", HARNESS_ADMIN_TOKEN);
    const struct {
        const char *path, *auth, *code;
        size_t size;
        long status;
    } cases[] = {
        {"/v1/conversations", auth, "body_too_large", (size_t)largest + 1, 413},
        {"/admin/v1/providers", admin, "body_too_large", 256 * 1024, 413},
        {"/v1/conversations", "Authorization: Bearer byk_wrong", "unauthorized", (size_t)largest,
         401},
    };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(rid, sizeof rid, "early-%d-%zu", round, i);
            struct test_resp r;
            post_bytes(cases[i].path, cases[i].auth, cases[i].size, rid, &r);
            ck_assert_msg(r.status == cases[i].status, "%s (%zu bytes to %s): %ld, not %ld", rid,
                          cases[i].size, cases[i].path, r.status, cases[i].status);
            expect_error(&r, cases[i].status, cases[i].code);
            test_resp_release(&r);
            expect_client(rid, CLIENT_ADDR, PROXY_ADDR, "https", cases[i].status);
        }
    }
    free(auth);
    provider_release(&p);
}
END_TEST

START_TEST(test_http_redirects_to_https)
{
    const char *const paths[] = {"/healthz?probe=1", "/cxone/prv_x/auth/token"};
    for (size_t i = 0; i < 2; i++) {
        char *url = url_of(http_base, paths[i]);
        struct test_resp r;
        call(&(struct call){.method = i ? "POST" : NULL,
                            .url = url,
                            .headers = {"Host: evil.example", NULL},
                            .body = i ? "{}" : NULL,
                            .body_len = i ? 2 : 0},
             &r);
        free(url);
        ck_assert_int_eq(r.status, 301);
        char *loc = test_resp_header(&r, "Location");
        char want[128];
        snprintf(want, sizeof want, "https://%s%s", SERVER_NAME, paths[i]);
        ck_assert_msg(loc && strcmp(loc, want) == 0, "Location %s", loc ? loc : "(none)");
        free(loc);
        test_resp_release(&r);
    }
}
END_TEST

START_TEST(test_metrics_only_from_this_host)
{
    /* 127.0.0.3 is on loopback too, but not one of the allowed addresses: it stands for any
     * outside client. Spellings nginx normalises before matching land in the same location. */
    const char *const paths[] = {"/metrics", "/metrics?x=1", "/%6Detrics", "//metrics",
                                 "/x/../metrics"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *url = url_of(tls_base, paths[i]);
        struct test_resp r;
        call(&(struct call){.url = url, .path_as_is = true, .headers = {NULL}}, &r);
        free(url);
        ck_assert_msg(r.status == 403, "%s: %ld", paths[i], r.status);
        ck_assert_ptr_null(strstr(r.body, "byocd_http_requests_total"));
        test_resp_release(&r);
    }
    /* from this host itself, through nginx, and for the operator directly */
    const char *const bases[] = {tls_base, B.base};
    const char *const from[] = {"127.0.0.1", CLIENT_ADDR};
    for (size_t i = 0; i < 2; i++) {
        char *url = url_of(bases[i], "/metrics");
        struct test_resp r;
        call(&(struct call){.url = url, .from = from[i], .headers = {NULL}}, &r);
        free(url);
        ck_assert_msg(r.status == 200, "%s from %s: %ld", bases[i], from[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "byocd_http_requests_total"));
        test_resp_release(&r);
    }
}
END_TEST

static char *nginx_access_log(void)
{
    char path[192];
    in_dir(path, sizeof path, "access.log");
    char *s = read_text(path);
    return s ? s : strdup("");
}

/* nginx's access log once it holds `needle` (bounded wait), malloc'd. */
static char *nginx_log_with(const char *needle)
{
    for (long long end = harness_now_ms() + LOG_WAIT_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        char *log = nginx_access_log();
        if (strstr(log, needle))
            return log;
        free(log);
    }
    ck_abort_msg("nginx's access log never showed %s", needle);
    return NULL;
}

static bool all_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

START_TEST(test_request_ids_and_logs)
{
    /* without a usable id of its own, a request gets nginx's, in both logs */
    char *url = url_of(tls_base, "/healthz");
    const char *const sent[] = {NULL, "X-Request-Id: bad id\"}"};
    for (size_t i = 0; i < 2; i++) {
        struct test_resp r;
        call(&(struct call){.url = url, .headers = {sent[i], NULL}}, &r);
        ck_assert_int_eq(r.status, 200);
        char *rid = test_resp_header(&r, "X-Request-Id");
        ck_assert_msg(rid && all_lower_hex(rid, 32), "X-Request-Id %s", rid ? rid : "(none)");
        test_resp_release(&r);
        expect_client(rid, CLIENT_ADDR, PROXY_ADDR, "https", 200);
        char needle[64];
        snprintf(needle, sizeof needle, "rid=%s", rid);
        free(nginx_log_with(needle));
        free(rid);
    }
    free(url);
    /* no query string (CXone's page token) and no transcript key in nginx's log */
    const char *const secret_paths[] = {"/cxone/prv_nginx/actions/add?token=SECRET-QUERY-77",
                                        "/transcripts/SECRET-KEY-88"};
    for (size_t i = 0; i < 2; i++) {
        url = url_of(tls_base, secret_paths[i]);
        struct test_resp r;
        char rid[64];
        snprintf(rid, sizeof rid, "X-Request-Id: secret-%zu", i);
        call(&(struct call){.url = url, .headers = {rid, NULL}}, &r);
        ck_assert_msg(r.status >= 200 && r.status < 500, "%s: %ld", url, r.status);
        test_resp_release(&r);
        free(url);
    }
    /* the transcript request is not logged at all: wait for a later one instead */
    url = url_of(tls_base, "/healthz");
    struct test_resp r;
    call(&(struct call){.url = url, .headers = {"X-Request-Id: after-secrets", NULL}}, &r);
    test_resp_release(&r);
    free(url);
    char *log = nginx_log_with("rid=after-secrets");
    ck_assert_ptr_nonnull(strstr(log, "\"GET /cxone/prv_nginx/actions/add\""));
    ck_assert_ptr_nonnull(strstr(log, "rid=secret-0"));
    ck_assert_ptr_null(strstr(log, "SECRET-QUERY-77"));
    ck_assert_ptr_null(strstr(log, "SECRET-KEY-88"));
    ck_assert_ptr_null(strstr(log, "rid=secret-1"));
    ck_assert_ptr_nonnull(strstr(log, CLIENT_ADDR " ["));
    free(log);
}
END_TEST

/* Local ports of the ESTABLISHED connections from PROXY_ADDR to byocd (/proc/net/tcp); how
 * many there are. */
static int upstream_ports(unsigned *ports, int max)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_ptr_nonnull(f);
    char line[512], want_remote[16];
    snprintf(want_remote, sizeof want_remote, "0100007F:%04X", (unsigned)B.port);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char remote[64], state[8];
        unsigned port;
        /* addresses in host byte order: 127.0.0.2 is 0200007F */
        if (sscanf(line, " %*[0-9]: 0200007F:%X %63s %7s", &port, remote, state) != 3)
            continue;
        if (strcmp(remote, want_remote) == 0 && strcmp(state, "01") == 0 && n < max)
            ports[n++] = port;
    }
    fclose(f);
    return n;
}

START_TEST(test_upstream_keepalive)
{
    /* clients one after another, each on its own connection to nginx: nginx sends them all
     * down one kept-alive connection to byocd (without keepalive each would get a new one,
     * closed after its answer) */
    char *url = url_of(tls_base, "/healthz");
    unsigned first = 0;
    for (int i = 0; i < 5; i++) {
        struct test_resp r;
        call(&(struct call){.url = url, .headers = {NULL}}, &r);
        ck_assert_int_eq(r.status, 200);
        test_resp_release(&r);
        unsigned ports[8];
        int n = upstream_ports(ports, 8);
        ck_assert_msg(n == 1, "request %d: %d connections from nginx to byocd are open", i, n);
        if (i == 0)
            first = ports[0];
        ck_assert_msg(ports[0] == first, "request %d: new upstream connection (port %u, not %u)", i,
                      ports[0], first);
    }
    free(url);
}
END_TEST

static Suite *nginx_suite(void)
{
    Suite *s = suite_create("nginx");
    TCase *tc = tcase_create("proxy");
    tcase_add_unchecked_fixture(tc, proxy_up, proxy_down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, test_flow_through_proxy);
    tcase_add_test(tc, test_forged_forwarding_through_proxy);
    tcase_add_test(tc, test_forwarding_headers_ignored_direct);
    tcase_add_test(tc, test_body_limit_in_nginx);
    tcase_add_test(tc, test_early_answers_reach_client);
    tcase_add_test(tc, test_http_redirects_to_https);
    tcase_add_test(tc, test_metrics_only_from_this_host);
    tcase_add_test(tc, test_request_ids_and_logs);
    tcase_add_test(tc, test_upstream_keepalive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = harness_run(nginx_suite(), CK_ENV);
    curl_global_cleanup();
    return rc;
}
