/*
 * sw_verify — see sw_verify.h. The messages go to Node as JSON lines in a temporary file (a
 * file rather than a pipe, so a large batch cannot deadlock against the answers); the answers
 * come back on a pipe, one line per message: "ok" or "fail <reason>".
 *
 * posix_spawn rather than fork+exec: the tests that call this run server threads, and only
 * async-signal-safe calls are allowed between fork and exec in a threaded process.
 */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "sw_verify.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SW_VERIFY_SOURCE_ROOT
#error "build with -DSW_VERIFY_SOURCE_ROOT=\"<source root>\" (tests/support/meson.build)"
#endif

#define SV_SCRIPT "/tests/webhooks/verify.mjs"
#define SV_PATH_MAX 4096
#define SV_LINE_MAX 512 /* longest answer line we expect ("fail " + a short reason) */

extern char **environ;

static const char *sv_source_root(void)
{
    const char *root = getenv("BYOCD_SOURCE_ROOT");
    return root && root[0] ? root : SW_VERIFY_SOURCE_ROOT;
}

static const char *sv_node(void)
{
    const char *node = getenv("BYOCD_NODE");
    return node && node[0] ? node : "node";
}

/* One JSON line for the script; false if out of memory. */
static bool sv_write_line(FILE *out, const struct sw_verify_msg *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return false;
    cJSON_AddStringToObject(o, "secret", m->secret ? m->secret : "");
    cJSON_AddStringToObject(o, "id", m->id ? m->id : "");
    cJSON_AddStringToObject(o, "timestamp", m->timestamp ? m->timestamp : "");
    cJSON_AddStringToObject(o, "signature", m->signature ? m->signature : "");
    cJSON_AddStringToObject(o, "body", m->body ? m->body : "");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return false;
    bool written = fprintf(out, "%s\n", text) > 0;
    free(text);
    return written;
}

/* Writes the batch to a new temporary file; its name goes to path. */
static bool sv_write_input(const struct sw_verify_msg *msgs, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/sw-verify-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    FILE *out = fdopen(fd, "w");
    if (!out) {
        close(fd);
        unlink(path);
        return false;
    }
    bool good = true;
    for (size_t i = 0; i < n && good; i++)
        good = sv_write_line(out, &msgs[i]);
    good = fclose(out) == 0 && good;
    if (!good)
        unlink(path);
    return good;
}

/* Starts node with stdin from input and stdout into out_fd. */
static bool sv_spawn(const char *input, int out_fd, pid_t *pid)
{
    char script[SV_PATH_MAX];
    int w = snprintf(script, sizeof(script), "%s%s", sv_source_root(), SV_SCRIPT);
    if (w < 0 || (size_t)w >= sizeof(script))
        return false;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return false;
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, input, O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    char *const argv[] = {(char *)sv_node(), script, NULL};
    int rc = posix_spawnp(pid, sv_node(), &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fprintf(stderr, "sw_verify: cannot run %s: %s\n", sv_node(), strerror(rc));
    return rc == 0;
}

/* Reads fd to its end, keeping at most cap - 1 bytes (NUL-terminated). */
static void sv_read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == cap - 1) { /* full: drain the rest so the child can finish */
            char sink[1024];
            while (read(fd, sink, sizeof(sink)) > 0)
                ;
            break;
        }
    }
    buf[len] = '\0';
}

/* Runs the script over the input file; its stdout into buf. False if it failed to run. */
static bool sv_run(const char *input, char *buf, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    pid_t pid;
    bool started = sv_spawn(input, fds[1], &pid);
    close(fds[1]);
    buf[0] = '\0';
    if (started)
        sv_read_all(fds[0], buf, cap);
    close(fds[0]);
    if (!started)
        return false;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sw_verify: %s exited with status %d\n", sv_node(), status);
        return false;
    }
    return true;
}

/* Counts the "ok" lines; -1 unless there is exactly one line per message. */
static int sv_tally(const char *out, size_t n, bool *ok)
{
    size_t lines = 0;
    int verified = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        bool good = len == 2 && memcmp(p, "ok", 2) == 0;
        if (!good)
            fprintf(stderr, "sw_verify: message %zu: %.*s\n", lines, (int)len, p);
        if (ok && lines < n)
            ok[lines] = good;
        verified += good;
        lines++;
        p = nl ? nl + 1 : p + len;
    }
    if (lines != n) {
        fprintf(stderr, "sw_verify: %zu answers for %zu messages\n", lines, n);
        return -1;
    }
    return verified;
}

int sw_verify(const struct sw_verify_msg *msgs, size_t n, bool *ok)
{
    if (n == 0)
        return 0;
    if (n > SW_VERIFY_MAX_BATCH)
        return -1;
    char input[64];
    if (!sv_write_input(msgs, n, input, sizeof(input)))
        return -1;
    size_t cap = n * SV_LINE_MAX + 1;
    char *out = malloc(cap);
    int result = -1;
    if (out && sv_run(input, out, cap))
        result = sv_tally(out, n, ok);
    free(out);
    unlink(input);
    return result;
}

int sw_verify_requests(const char *secret, const struct fake_receiver_request *reqs, size_t n,
                       bool *ok)
{
    if (n > SW_VERIFY_MAX_BATCH)
        return -1;
    struct sw_verify_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    if (!msgs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        msgs[i] = (struct sw_verify_msg){.secret = secret,
                                         .id = reqs[i].webhook_id,
                                         .timestamp = reqs[i].webhook_timestamp,
                                         .signature = reqs[i].webhook_signature,
                                         .body = reqs[i].body};
    }
    int result = sw_verify(msgs, n, ok);
    free(msgs);
    return result;
}
