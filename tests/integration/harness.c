#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 15000
#define MAX_ENV 32
#define MAX_WRAPPER_ARGS 32
#define MAX_COMMAND_ARGS 16      /* byocd arguments after the binary */
#define WRAPPED_TIMEOUT_FACTOR 6 /* under valgrind byocd starts and stops this much slower */

/* ---------------------------------------------------------------- response validation
 *
 * Every integration program links this file, so this is where each one gets its answers
 * checked against openapi/byocd.yaml: before main() a constructor points BYOCD_RESPONSE_LOG
 * (testhttp.h) at a new file in /tmp unless the caller already set one, so test_http() and
 * the fake bot receiver record every answer and webhook of the run, in Check's forked
 * children too; at exit, in this process only (not in those children, which also run atexit
 * handlers), tests/openapi/validate_responses.mjs checks the file (byocd_start() adds a line
 * naming the server's address, so answers to paths without an operation are checked as
 * well), and a mismatch makes the program exit with a failure after the report. A file named
 * here is removed when everything matched, and kept (its path is printed) when something did
 * not. */

static pid_t response_log_owner;
static bool response_log_made;
static char response_log_path[512];

static void response_log_check(void)
{
    if (getpid() != response_log_owner)
        return;
    if (response_log_made && access(response_log_path, F_OK) != 0)
        return; /* nothing was recorded (raw sockets only, a browser): nothing to check */
    fflush(NULL);
    int rc = test_http_log_validate(response_log_path, false);
    if (rc != 0) {
        fprintf(stderr,
                "harness: the answers recorded in %s do not all match openapi/byocd.yaml "
                "(validate_responses.mjs exited with %d)\n",
                response_log_path, rc);
        fflush(NULL);
        _exit(EXIT_FAILURE); /* exit() must not be called again from an atexit handler */
    }
    if (response_log_made)
        unlink(response_log_path);
}

__attribute__((constructor)) static void response_log_setup(void)
{
    const char *set = getenv(TEST_HTTP_LOG_ENV);
    if (set && set[0]) {
        snprintf(response_log_path, sizeof response_log_path, "%s", set);
    } else {
        /* Named now, created by the first line recorded: a helper process that records
         * nothing and is killed leaves no empty file behind. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(response_log_path, sizeof response_log_path, "/tmp/byocd-responses-%s-%ld-%09ld",
                 program_invocation_short_name, (long)getpid(), ts.tv_nsec);
        if (setenv(TEST_HTTP_LOG_ENV, response_log_path, 1) != 0) {
            perror("harness: response log");
            abort();
        }
        response_log_made = true;
    }
    response_log_owner = getpid();
    if (atexit(response_log_check) != 0)
        abort();
}

/* ---------------------------------------------------------------- byocd process */

/* base, or longer when byocd runs under BYOCD_TEST_WRAPPER. */
static long long wait_ms(long long base)
{
    const char *wrap = getenv("BYOCD_TEST_WRAPPER");
    return wrap && wrap[0] ? base * WRAPPED_TIMEOUT_FACTOR : base;
}

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
    fclose(f);
    if (s)
        s[got] = '\0';
    return s;
}

static char *path_in(const struct byocd *b, const char *name)
{
    size_t n = strlen(b->dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", b->dir, name);
    return p;
}

char *byocd_log(const struct byocd *b)
{
    char *p = path_in(b, "stderr.log");
    char *s = slurp(p);
    free(p);
    return s;
}

char *byocd_stdout(const struct byocd *b)
{
    char *p = path_in(b, "stdout.txt");
    char *s = slurp(p);
    free(p);
    return s;
}

static void child_exec(const struct byocd *b, const char *const *extra_env, const char *const *args)
{
    static char env_store[MAX_ENV][512];
    char *envp[MAX_ENV + 1];
    int n = 0;
    /* The caller's settings first: getenv returns the first match, so they override ours. */
    for (int i = 0; extra_env && extra_env[i] && n < MAX_ENV / 2; i++)
        snprintf(env_store[n++], 512, "%s", extra_env[i]);
    snprintf(env_store[n++], 512, "PATH=/usr/bin:/bin");
    snprintf(env_store[n++], 512, "BYOCD_LISTEN=127.0.0.1:0");
    snprintf(env_store[n++], 512, "BYOCD_DATABASE=%s/byocd.db", b->dir);
    snprintf(env_store[n++], 512, "BYOCD_ADMIN_TOKEN=%s", HARNESS_ADMIN_TOKEN);
    snprintf(env_store[n++], 512, "BYOCD_PUBLIC_URL=%s", HARNESS_PUBLIC_URL);
    snprintf(env_store[n++], 512, "BYOCD_LOG_LEVEL=debug");
    /* Tests deliver webhooks to receivers on loopback; a caller's "=0" above wins. */
    snprintf(env_store[n++], 512, "BYOCD_WEBHOOK_ALLOW_PRIVATE=1");
    static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) { /* sanitizer runs reach byocd */
        const char *v = getenv(pass[i]);
        if (v && n < MAX_ENV)
            snprintf(env_store[n++], 512, "%s=%s", pass[i], v);
    }
    for (int i = 0; i < n; i++)
        envp[i] = env_store[i];
    envp[n] = NULL;
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/stdout.txt", b->dir);
    snprintf(err, sizeof err, "%s/stderr.log", b->dir);
    int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fo, STDOUT_FILENO);
    dup2(fe, STDERR_FILENO);
    /* BYOCD_TEST_WRAPPER: a command with arguments, separated by spaces, to run byocd under
     * (valgrind: the test setup "valgrindbyocd" in tests/meson.build). */
    static char wrapper[1024];
    char *argv[MAX_WRAPPER_ARGS + MAX_COMMAND_ARGS + 3];
    int argc = 0;
    const char *wrap = getenv("BYOCD_TEST_WRAPPER");
    snprintf(wrapper, sizeof wrapper, "%s", wrap ? wrap : "");
    for (char *w = wrapper; *w && argc < MAX_WRAPPER_ARGS;) {
        size_t len = strcspn(w, " ");
        if (len)
            argv[argc++] = w;
        w += len;
        if (*w)
            *w++ = '\0';
    }
    argv[argc++] = (char *)getenv("BYOCD_TEST_BINARY");
    static const char *const serve[] = {"serve", NULL};
    for (int i = 0; (args ? args : serve)[i] && i < MAX_COMMAND_ARGS; i++)
        argv[argc++] = (char *)(args ? args : serve)[i];
    argv[argc] = NULL;
    execve(argv[0], argv, envp);
    _exit(127);
}

/* Port from the newest "listening" line, or 0. */
static int listening_port(const struct byocd *b)
{
    char *log = byocd_log(b);
    int port = 0;
    for (char *p = strstr(log, "\"msg\":\"listening\""); p;
         p = strstr(p + 1, "\"msg\":\"listening\"")) {
        char *q = strstr(p, "\"port\":");
        if (q)
            port = (int)strtol(q + 7, NULL, 10);
    }
    free(log);
    return port;
}

void byocd_start(struct byocd *b, const char *dir, const char *const *extra_env)
{
    byocd_start_cmd(b, dir, extra_env, NULL);
}

void byocd_start_cmd(struct byocd *b, const char *dir, const char *const *extra_env,
                     const char *const *args)
{
    ck_assert_msg(getenv("BYOCD_TEST_BINARY"), "BYOCD_TEST_BINARY is not set");
    if (dir) {
        snprintf(b->dir, sizeof b->dir, "%s", dir);
    } else {
        snprintf(b->dir, sizeof b->dir, "/tmp/byocd-itest-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(b->dir));
    }
    char *log = byocd_log(b); /* on restart, ignore the previous run's lines */
    size_t old_len = strlen(log);
    free(log);
    b->pid = fork();
    ck_assert_int_ge(b->pid, 0);
    if (b->pid == 0)
        child_exec(b, extra_env, args);
    b->port = 0;
    for (long long end = harness_now_ms() + wait_ms(START_TIMEOUT_MS);
         harness_now_ms() < end && !b->port;) {
        usleep(20 * 1000);
        char *all = byocd_log(b);
        if (strlen(all) > old_len && strstr(all + old_len, "\"msg\":\"listening\""))
            b->port = listening_port(b);
        free(all);
        int status;
        ck_assert_msg(waitpid(b->pid, &status, WNOHANG) == 0, "byocd exited during start-up");
    }
    ck_assert_msg(b->port > 0, "byocd did not start listening in time");
    snprintf(b->base, sizeof b->base, "http://127.0.0.1:%d", b->port);
    snprintf(b->admin_auth, sizeof b->admin_auth, "Authorization: Bearer %s", HARNESS_ADMIN_TOKEN);
    /* Tells the validator this address is byocd's: its answers to paths no operation has are
     * checked too (404 with the error body). */
    cJSON *line = cJSON_CreateObject();
    ck_assert(line && cJSON_AddStringToObject(line, "kind", "server") &&
              cJSON_AddStringToObject(line, "base", b->base));
    test_http_log_append(line);
    cJSON_Delete(line);
}

int byocd_stop(struct byocd *b)
{
    if (b->pid <= 0)
        return -1;
    kill(b->pid, SIGTERM);
    int status = 0;
    for (long long end = harness_now_ms() + wait_ms(STOP_TIMEOUT_MS); harness_now_ms() < end;) {
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(20 * 1000);
    }
    byocd_kill(b);
    return -1;
}

void byocd_kill(struct byocd *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

char *byocd_url(const struct byocd *b, const char *path)
{
    size_t n = strlen(b->base) + strlen(path) + 1;
    char *u = malloc(n);
    snprintf(u, n, "%s%s", b->base, path);
    return u;
}

bool http_json(const char *method, const char *url, const char *auth_header, const char *body,
               struct test_resp *out)
{
    const char *headers[3] = {0};
    int n = 0;
    if (body)
        headers[n++] = "Content-Type: application/json";
    if (auth_header)
        headers[n++] = auth_header;
    return test_http(method, url, headers, body, body ? strlen(body) : 0, out);
}

static void copy_str(char *dst, size_t cap, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsString(v), "created provider lacks %s", key);
    snprintf(dst, cap, "%s", v->valuestring);
}

void provider_create(const struct byocd *b, const char *cxone_base, const char *integration_id,
                     struct provider *out)
{
    provider_create_with(b, cxone_base, integration_id, NULL, out);
}

void provider_create_with(const struct byocd *b, const char *cxone_base, const char *integration_id,
                          const char *settings, struct provider *out)
{
    provider_create_hook(b, cxone_base, integration_id, settings, "http://127.0.0.1:9/hook", out);
}

void provider_create_hook(const struct byocd *b, const char *cxone_base, const char *integration_id,
                          const char *settings, const char *webhook_url, struct provider *out)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"name\":\"Test bot\",\"webhook_url\":\"%s\","
             "\"cxone\":{\"auth_url\":\"%s/auth/token\",\"api_base_url\":\"%s\","
             "\"client_id\":\"client-id\",\"client_secret\":\"client-secret\","
             "\"access_key_id\":\"key-id\",\"access_key_secret\":\"key-secret\"%s%s%s}%s%s}",
             webhook_url, cxone_base, cxone_base, integration_id ? ",\"integration_id\":\"" : "",
             integration_id ? integration_id : "", integration_id ? "\"" : "",
             settings ? ",\"settings\":" : "", settings ? settings : "");
    char *url = byocd_url(b, "/admin/v1/providers");
    struct test_resp r;
    ck_assert(http_json("POST", url, b->admin_auth, body, &r));
    free(url);
    ck_assert_msg(r.status == 201, "provider create: %ld %s", r.status, r.body);
    out->created = test_resp_json(&r);
    test_resp_release(&r);
    const cJSON *byoc = cJSON_GetObjectItemCaseSensitive(out->created, "byoc");
    copy_str(out->id, sizeof out->id, out->created, "id");
    copy_str(out->client_id, sizeof out->client_id, byoc, "client_id");
    copy_str(out->client_secret, sizeof out->client_secret, byoc, "client_secret");
    copy_str(out->bot_api_key, sizeof out->bot_api_key, out->created, "bot_api_key");
    copy_str(out->webhook_secret, sizeof out->webhook_secret, out->created, "webhook_secret");
    copy_str(out->studio_secret, sizeof out->studio_secret, out->created, "studio_secret");
}

void provider_release(struct provider *p)
{
    cJSON_Delete(p->created);
    p->created = NULL;
}

char *cxone_token(const struct byocd *b, const struct provider *p)
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/cxone/%s/auth/token", p->id);
    snprintf(
        body, sizeof body,
        "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":\"client_credentials\"}",
        p->client_id, p->client_secret);
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, NULL, body, &r));
    free(url);
    ck_assert_msg(r.status == 200, "token: %ld %s", r.status, r.body);
    cJSON *j = test_resp_json(&r);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    ck_assert(cJSON_IsString(t));
    char *tok = strdup(t->valuestring);
    cJSON_Delete(j);
    test_resp_release(&r);
    return tok;
}

char *bearer_line(const char *token)
{
    size_t n = strlen(token) + 32;
    char *s = malloc(n);
    snprintf(s, n, "Authorization: Bearer %s", token);
    return s;
}

/* ---------------------------------------------------------------- helpers the suites share */

cJSON *byocd_call(const struct byocd *b, const char *auth, const char *method, const char *path,
                  const char *body, long *status)
{
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert_msg(http_json(method, url, auth, body, &r), "%s %s: no answer", method, path);
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    test_resp_release(&r);
    return j;
}

cJSON *byocd_call_ok(const struct byocd *b, const char *auth, const char *method, const char *path,
                     const char *body, long want)
{
    long st = 0;
    cJSON *j = byocd_call(b, auth, method, path, body, &st);
    if (st != want) {
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        ck_abort_msg("%s %s: %ld, not %ld: %s", method, path, st, want, text ? text : "");
    }
    return j;
}

void byocd_channel_register(const struct byocd *b, struct byoc_cxsim *f, const char *provider_id,
                            const char *channel_id)
{
    char path[160], body[256];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", provider_id);
    snprintf(body, sizeof body, "{\"channel_id\":\"%s\",\"name\":\"Chat\"}", channel_id);
    cJSON_Delete(byocd_call_ok(b, b->admin_auth, "POST", path, body, 201));
    byoc_cxsim_add_channel(f, channel_id, "Chat", "int-1");
}

bool byocd_sanitizer_report(const struct byocd *b)
{
    char *log = byocd_log(b);
    bool found = strstr(log, "Sanitizer") || strstr(log, "runtime error:");
    free(log);
    return found;
}

void byocd_stop_and_clean(struct byocd *b)
{
    int status = byocd_stop(b);
    bool sanitizer = byocd_sanitizer_report(b);
    if (status == 0 && !sanitizer) {
        byocd_remove_dir(b->dir);
        return;
    }
    fprintf(stderr, "byocd exited with %d%s; its log is kept in %s\n", status,
            sanitizer ? " after a sanitizer report" : "", b->dir);
    harness_fail_run();
}

void byocd_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            byocd_remove_dir(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void harness_pct_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

static bool run_failed;

void harness_fail_run(void)
{
    run_failed = true;
}

int harness_run(Suite *s, enum print_output mode)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, mode);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed || run_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void byocd_agent_reply(const struct byocd *b, const struct provider *p, const char *auth,
                       const char *thread, int n, const char *text)
{
    char body[1024], path[256];
    snprintf(body, sizeof body,
             "{\"id\":\"agent-msg-%d\",\"messageContent\":{\"type\":\"TEXT\",\"payload\":"
             "{\"text\":\"%s\"}},\"thread\":{\"idOnExternalPlatform\":\"%s\"},"
             "\"authorUser\":{\"firstName\":\"Ada\",\"surname\":\"Agent\"}}",
             n, text, thread);
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/%s/messages", p->id, thread);
    cJSON_Delete(byocd_call_ok(b, auth, "POST", path, body, 200));
}

void harness_artifact_dir(char *out, size_t cap)
{
    const char *dir = getenv("BYOCD_ARTIFACT_DIR");
    if (dir && *dir) {
        snprintf(out, cap, "%s", dir);
        return;
    }
    snprintf(out, cap, "/tmp/byocd-browser-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

int harness_run_node(const char *script, const char *arg, long long timeout_ms)
{
    const char *root = getenv("BYOCD_SOURCE_ROOT");
    const char *node = getenv("BYOCD_NODE");
    ck_assert_msg(root && *root, "BYOCD_SOURCE_ROOT is not set");
    node = node && *node ? node : "node";
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, script);
    char *const argv[] = {(char *)node, path, (char *)arg, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, node, NULL, NULL, argv, environ);
    ck_assert_msg(rc == 0, "cannot run %s: %s", node, strerror(rc));
    int status = 0;
    for (long long end = harness_now_ms() + timeout_ms; harness_now_ms() < end;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        ck_assert_msg(got == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        harness_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}
