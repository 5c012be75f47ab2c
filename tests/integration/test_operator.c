/*
 * The operator's view of byocd, end to end: GET /metrics after real flows (a fake CXone, a fake
 * bot receiver and the real byocd), read back the way Prometheus reads it, checked by the real
 * `promtool check metrics`; and the log, which must stay JSON lines and never show a secret or
 * token that was used.
 *
 * The exposition is parsed here into samples (name, labels, value) and held to the text format:
 * every sample belongs to a family with a # TYPE, no series appears twice, every histogram's
 * buckets grow with `le` up to +Inf and its _count equals the +Inf bucket. Counters are then
 * compared with what the fakes saw (CXone calls by status, webhook answers by status, token
 * grants), so a counter that counts the wrong thing fails as surely as a missing one.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/json.h"
#include "byoc/banned.h"

#define CHANNEL "chat-1"
#define MESSAGES_PATH "/dfo/3.0/channels/" CHANNEL "/messages"
#define TOKEN_PATH "/auth/token"
#define HOOK "/hook" /* the provider's own webhook_url on the receiver */
#define BOX_ROUTE "/cxone/{provider_id}/box/1.0/posts/{post_id}/messages"
#define WAIT_MS 15000
#define POLL_MS 25
#define TCASE_TIMEOUT_S 60
#define PROMTOOL_DEFAULT "/usr/bin/promtool" /* Debian package prometheus */
#define PROMTOOL_OUT_MAX 8192
#define BACKLOG_HOLD_MS 1200 /* how long the backlog test lets its items age */
#define AGE_SLACK_S 0.05     /* byocd's wall clock against our monotonic one */
#define BRAND 1001
#define USER 2002
#define MAX_LABELS 8
#define MAX_FAMILIES 128
#define MAX_SECRETS 96
#define END ((const char *)NULL) /* ends a label list */

/* Short timers so retries and dead letters happen within seconds. */
#define ENV_FAST                                                                                   \
    "BYOCD_RELAY_RETRY_CAP=1", "BYOCD_WEBHOOK_RETRY_CAP=1", "BYOCD_WEBHOOK_BREAKER_COOLDOWN=1",    \
        "BYOCD_LOG_LEVEL=debug", "BYOCD_WEBHOOK_ALLOW_PRIVATE=1"
static const char *const env_flow[] = {ENV_FAST, "BYOCD_WEBHOOK_TIMEOUT=2",
                                       "BYOCD_WEBHOOK_DEADLINE=60", NULL};
/* A hung receiver holds its attempt (state sending) until the test lets it go. */
static const char *const env_hold[] = {ENV_FAST, "BYOCD_WEBHOOK_TIMEOUT=20",
                                       "BYOCD_WEBHOOK_DEADLINE=60", NULL};
/* One attempt that times out (2 s) ends past the deadline (2 s): dead by that attempt. */
static const char *const env_dead[] = {ENV_FAST, "BYOCD_WEBHOOK_TIMEOUT=2",
                                       "BYOCD_WEBHOOK_DEADLINE=2", NULL};

static struct byocd b;
static struct byoc_cxsim *f;
static struct fake_receiver *rx;
static struct provider p;
static const char *const *byocd_env;
static char bot_auth[256];
static char *cx_token; /* the CXone-side bearer byocd issued */
static char *cx_auth;
static int agent_msgs;
static time_t test_started; /* wall clock, for process_start_time_seconds */

struct conv {
    char id[64];
    char thread[128];
    char contact[64];
};

/* ---------------------------------------------------------------- small helpers */

static bool eq(const char *x, const char *y)
{
    return x && y && strcmp(x, y) == 0;
}

static bool starts_with(const char *str, const char *prefix)
{
    return str && strncmp(str, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *str, const char *suffix)
{
    size_t n = strlen(str), m = strlen(suffix);
    return n >= m && strcmp(str + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------- the exposition, parsed */

struct label {
    char key[64];
    char val[160];
};

struct sample {
    char name[128];
    struct label l[MAX_LABELS];
    int nl;
    double v;
};

struct family {
    char name[128];
    char type[16];
};

struct scrape {
    char *text;
    struct sample *s;
    size_t n;
    struct family fam[MAX_FAMILIES];
    size_t nfam;
};

static bool name_char(char c, bool first)
{
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return alpha || (!first && c >= '0' && c <= '9');
}

/* A metric or label name at *cur into out; advances *cur. */
static void take_name(const char **cur, char *out, size_t cap, bool metric, const char *line)
{
    size_t n = 0;
    while (name_char((*cur)[n], n == 0) && (metric || (*cur)[n] != ':'))
        n++;
    ck_assert_msg(n > 0 && n < cap, "bad name in: %s", line);
    memcpy(out, *cur, n);
    out[n] = '\0';
    *cur += n;
}

/* A quoted label value (escapes \\ \" \n) at *cur into out; advances *cur past the quote. */
static void take_value(const char **cur, char *out, size_t cap, const char *line)
{
    ck_assert_msg(**cur == '"', "label value not quoted in: %s", line);
    size_t n = 0;
    for ((*cur)++; **cur != '"'; (*cur)++) {
        char c = **cur;
        ck_assert_msg(c && c != '\n', "unterminated label value in: %s", line);
        if (c == '\\') {
            (*cur)++;
            ck_assert_msg(**cur == '\\' || **cur == '"' || **cur == 'n', "bad escape in: %s", line);
            c = **cur == 'n' ? '\n' : **cur;
        }
        ck_assert_msg(n + 1 < cap, "label value too long in: %s", line);
        out[n++] = c;
    }
    out[n] = '\0';
    (*cur)++;
}

static void take_labels(const char **cur, struct sample *smp, const char *line)
{
    (*cur)++; /* '{' */
    while (**cur != '}') {
        ck_assert_msg(smp->nl < MAX_LABELS, "too many labels in: %s", line);
        struct label *l = &smp->l[smp->nl++];
        take_name(cur, l->key, sizeof l->key, false, line);
        ck_assert_msg(**cur == '=', "expected = in: %s", line);
        (*cur)++;
        take_value(cur, l->val, sizeof l->val, line);
        for (int i = 0; i + 1 < smp->nl; i++)
            ck_assert_msg(strcmp(smp->l[i].key, l->key) != 0, "label twice in: %s", line);
        if (**cur == ',')
            (*cur)++;
        else
            ck_assert_msg(**cur == '}', "expected , or } in: %s", line);
    }
    (*cur)++;
}

/* "name{labels} value [timestamp]" */
static void parse_sample(const char *line, struct sample *smp)
{
    const char *cur = line;
    *smp = (struct sample){0};
    take_name(&cur, smp->name, sizeof smp->name, true, line);
    if (*cur == '{')
        take_labels(&cur, smp, line);
    ck_assert_msg(*cur == ' ', "expected a space before the value in: %s", line);
    cur++;
    char *end = NULL;
    errno = 0;
    smp->v = strtod(cur, &end);
    ck_assert_msg(end != cur && errno == 0, "bad value in: %s", line);
    if (*end == ' ') { /* an optional timestamp: an integer */
        const char *ts = end + 1;
        (void)strtoll(ts, &end, 10);
        ck_assert_msg(end != ts, "bad timestamp in: %s", line);
    }
    ck_assert_msg(*end == '\0', "trailing text in: %s", line);
}

static const struct family *family_named(const struct scrape *sc, const char *name)
{
    for (size_t i = 0; i < sc->nfam; i++) {
        if (strcmp(sc->fam[i].name, name) == 0)
            return &sc->fam[i];
    }
    return NULL;
}

/* "# TYPE name type" and "# HELP name text"; other comments are allowed and ignored. */
static void parse_comment(struct scrape *sc, const char *line)
{
    if (!starts_with(line, "# TYPE "))
        return;
    const char *cur = line + 7;
    ck_assert_uint_lt(sc->nfam, MAX_FAMILIES);
    struct family *fm = &sc->fam[sc->nfam];
    take_name(&cur, fm->name, sizeof fm->name, true, line);
    ck_assert_msg(*cur == ' ', "no type in: %s", line);
    cur++;
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool known = false;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        known = known || strcmp(cur, types[i]) == 0;
    ck_assert_msg(known, "unknown type in: %s", line);
    ck_assert_msg(!family_named(sc, fm->name), "second # TYPE for %s", fm->name);
    snprintf(fm->type, sizeof fm->type, "%s", cur);
    sc->nfam++;
}

/* The family a sample belongs to (x_bucket, x_sum and x_count belong to histogram x). */
static const struct family *family_of(const struct scrape *sc, const char *name)
{
    const struct family *fm = family_named(sc, name);
    if (fm)
        return fm;
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (!ends_with(name, parts[i]))
            continue;
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - strlen(parts[i])), name);
        fm = family_named(sc, base);
        if (fm && (eq(fm->type, "histogram") || eq(fm->type, "summary")))
            return fm;
    }
    return NULL;
}

static size_t count_lines(const char *text)
{
    size_t n = 1;
    for (const char *c = text; *c; c++)
        n += *c == '\n';
    return n;
}

static void parse_all(struct scrape *sc)
{
    sc->s = calloc(count_lines(sc->text), sizeof *sc->s);
    ck_assert_ptr_nonnull(sc->s);
    ck_assert_msg(ends_with(sc->text, "\n"), "the exposition does not end with a newline");
    char *copy = strdup(sc->text), *line = copy;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        if (line[0] == '#')
            parse_comment(sc, line);
        else if (line[0])
            parse_sample(line, &sc->s[sc->n++]);
        line = nl + 1;
    }
    free(copy);
}

static bool label_is(const struct sample *smp, const char *k, const char *v)
{
    for (int i = 0; i < smp->nl; i++) {
        if (strcmp(smp->l[i].key, k) == 0)
            return v == NULL || strcmp(smp->l[i].val, v) == 0;
    }
    return false;
}

static const char *label_of(const struct sample *smp, const char *k)
{
    for (int i = 0; i < smp->nl; i++) {
        if (strcmp(smp->l[i].key, k) == 0)
            return smp->l[i].val;
    }
    return NULL;
}

/* Same label set, leaving out `skip` (NULL: none) on both sides. */
static bool same_labels(const struct sample *a, const struct sample *c, const char *skip)
{
    int na = 0, nc = 0;
    for (int i = 0; i < a->nl; i++) {
        if (skip && strcmp(a->l[i].key, skip) == 0)
            continue;
        na++;
        if (!label_is(c, a->l[i].key, a->l[i].val))
            return false;
    }
    for (int i = 0; i < c->nl; i++)
        nc += !(skip && strcmp(c->l[i].key, skip) == 0);
    return na == nc;
}

/* Every sample has a declared family; no series twice. */
static void check_structure(const struct scrape *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        const struct sample *a = &sc->s[i];
        ck_assert_msg(family_of(sc, a->name), "%s has no # TYPE", a->name);
        for (size_t j = i + 1; j < sc->n; j++) {
            bool dup = strcmp(a->name, sc->s[j].name) == 0 && same_labels(a, &sc->s[j], NULL);
            ck_assert_msg(!dup, "series %s (sample %zu) appears twice", a->name, i);
        }
    }
}

static const struct sample *findv(const struct scrape *sc, const char *name, va_list ap)
{
    for (size_t i = 0; i < sc->n; i++) {
        if (strcmp(sc->s[i].name, name) != 0)
            continue;
        va_list aq;
        va_copy(aq, ap);
        bool all = true;
        for (const char *k = va_arg(aq, const char *); k && all; k = va_arg(aq, const char *))
            all = label_is(&sc->s[i], k, va_arg(aq, const char *));
        va_end(aq);
        if (all)
            return &sc->s[i];
    }
    return NULL;
}

/* The first sample named name whose labels include the (key, value) pairs that follow, up to
 * END; NULL if none. */
static const struct sample *find(const struct scrape *sc, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    const struct sample *smp = findv(sc, name, ap);
    va_end(ap);
    return smp;
}

/* The value of that sample; a missing series fails the test. */
static double val(const struct scrape *sc, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    const struct sample *smp = findv(sc, name, ap);
    va_end(ap);
    if (!smp) {
        char want[512] = "";
        size_t used = 0;
        va_start(ap, name);
        for (const char *k = va_arg(ap, const char *); k && used < sizeof want - 1;
             k = va_arg(ap, const char *)) {
            const char *v = va_arg(ap, const char *);
            int w = snprintf(want + used, sizeof want - used, "%s=\"%s\" ", k, v ? v : "*");
            used += w > 0 ? (size_t)w : 0;
        }
        va_end(ap);
        ck_abort_msg("no series %s {%s} in the exposition", name, want);
    }
    return smp->v;
}

/* Buckets of one series from index i: le grows to +Inf, counts never fall, _count equals the
 * +Inf bucket, _sum is there. Returns the index after the series. */
static size_t check_one_histogram(const struct scrape *sc, size_t i, const char *base)
{
    const struct sample *first = &sc->s[i];
    double prev_le = -INFINITY, prev = 0;
    size_t j = i;
    for (; j < sc->n && strcmp(sc->s[j].name, first->name) == 0 &&
           same_labels(&sc->s[j], first, "le");
         j++) {
        const char *le = label_of(&sc->s[j], "le");
        ck_assert_msg(le, "%s: a bucket without le", first->name);
        char *end = NULL;
        double bound = strtod(le, &end);
        ck_assert_msg(end != le && *end == '\0', "%s: le=\"%s\"", first->name, le);
        ck_assert_msg(bound > prev_le, "%s: le %s does not grow", first->name, le);
        ck_assert_msg(sc->s[j].v >= prev, "%s: bucket le=%s falls to %g", first->name, le,
                      sc->s[j].v);
        prev_le = bound;
        prev = sc->s[j].v;
    }
    ck_assert_msg(isinf(prev_le), "%s: the last bucket is not +Inf", first->name);
    char name[160];
    snprintf(name, sizeof name, "%s_count", base);
    const struct sample *count = NULL, *sum = NULL;
    for (size_t k = 0; k < sc->n; k++) {
        if (strcmp(sc->s[k].name, name) == 0 && same_labels(&sc->s[k], first, "le"))
            count = &sc->s[k];
    }
    snprintf(name, sizeof name, "%s_sum", base);
    for (size_t k = 0; k < sc->n; k++) {
        if (strcmp(sc->s[k].name, name) == 0 && same_labels(&sc->s[k], first, "le"))
            sum = &sc->s[k];
    }
    ck_assert_msg(count && sum, "%s: _count or _sum missing", base);
    ck_assert_msg(count->v == prev, "%s_count %g, +Inf bucket %g", base, count->v, prev);
    ck_assert_msg(sum->v >= 0, "%s_sum %g", base, sum->v);
    return j;
}

/* Checks every histogram series of the exposition; returns how many there were. */
static size_t check_histograms(const struct scrape *sc)
{
    size_t series = 0;
    for (size_t i = 0; i < sc->n;) {
        const struct family *fm = family_of(sc, sc->s[i].name);
        if (!fm || !eq(fm->type, "histogram") || !ends_with(sc->s[i].name, "_bucket")) {
            i++;
            continue;
        }
        i = check_one_histogram(sc, i, fm->name);
        series++;
    }
    return series;
}

static char *metrics_text(void)
{
    char *url = byocd_url(&b, "/metrics");
    struct test_resp r;
    ck_assert_msg(test_http("GET", url, NULL, NULL, 0, &r), "GET /metrics: no answer");
    free(url);
    ck_assert_msg(r.status == 200, "GET /metrics: %ld %s", r.status, r.body);
    char *ct = test_resp_header(&r, "Content-Type");
    ck_assert_msg(starts_with(ct, "text/plain; version=0.0.4"), "Content-Type %s", ct);
    free(ct);
    char *text = strdup(r.body);
    test_resp_release(&r);
    return text;
}

static void scrape(struct scrape *sc)
{
    *sc = (struct scrape){.text = metrics_text()};
    parse_all(sc);
    check_structure(sc);
}

static void scrape_free(struct scrape *sc)
{
    free(sc->text);
    free(sc->s);
    *sc = (struct scrape){0};
}

static double depth(const struct scrape *sc, const char *queue, const char *state)
{
    return val(sc, "byocd_outbox_depth", "queue", queue, "state", state, END);
}

static double age(const struct scrape *sc, const char *queue, const char *state)
{
    return val(sc, "byocd_outbox_oldest_age_seconds", "queue", queue, "state", state, END);
}

static double attempts(const struct scrape *sc, const char *result)
{
    return val(sc, "byocd_webhook_attempts_total", "result", result, END);
}

static double http_count(const struct scrape *sc, const char *method, const char *route,
                         const char *status)
{
    const struct sample *smp = find(sc, "byocd_http_requests_total", "method", method, "route",
                                    route, "status", status, END);
    return smp ? smp->v : 0;
}

/* The outbox and webhook attempt series in one line (for failure messages). */
static void summarize(const struct scrape *sc, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sc->n && used < cap; i++) {
        const struct sample *smp = &sc->s[i];
        bool shown = strcmp(smp->name, "byocd_outbox_depth") == 0 ||
                     strcmp(smp->name, "byocd_webhook_attempts_total") == 0;
        if (!shown)
            continue;
        const char *k = label_of(smp, "result") ? label_of(smp, "result") : label_of(smp, "state");
        int w = snprintf(out + used, cap - used, "%s%s=%g ",
                         label_of(smp, "queue") ? label_of(smp, "queue") : "attempts", k, smp->v);
        used += w > 0 ? (size_t)w : 0;
    }
}

typedef bool (*scrape_pred)(const struct scrape *sc);

/* Scrapes until pred holds (the last scrape is left in *out) or fails after WAIT_MS. */
static void wait_scrape(scrape_pred pred, struct scrape *out, const char *what)
{
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS * 4)) {
        scrape(out);
        if (pred(out))
            return;
        if (harness_now_ms() > end)
            break;
        scrape_free(out);
    }
    char state[1024];
    summarize(out, state, sizeof state);
    ck_abort_msg("%s did not happen within %d ms; last: %s", what, WAIT_MS, state);
}

static bool drained(const struct scrape *sc)
{
    return depth(sc, "relay", "queued") + depth(sc, "relay", "sending") +
               depth(sc, "webhook", "pending") + depth(sc, "webhook", "sending") ==
           0;
}

/* ---------------------------------------------------------------- promtool */

static void write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "writing to promtool: %s", strerror(errno));
        text += n;
        len -= (size_t)n;
    }
}

/* `promtool check metrics` with text on stdin; its exit status, its stdout and stderr in out. */
static int promtool_check(const char *text, char *out, size_t cap)
{
    const char *bin = getenv("PROMTOOL") ? getenv("PROMTOOL") : PROMTOOL_DEFAULT;
    ck_assert_msg(access(bin, X_OK) == 0, "%s is missing (Debian package prometheus)", bin);
    char path[] = "/tmp/byocd-promtool-XXXXXX";
    int ofd = mkstemp(path), pfd[2];
    ck_assert_int_ge(ofd, 0);
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[0], STDIN_FILENO);
        dup2(ofd, STDOUT_FILENO);
        dup2(ofd, STDERR_FILENO);
        close(pfd[1]);
        execl(bin, bin, "check", "metrics", (char *)NULL);
        _exit(127);
    }
    close(pfd[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* promtool may stop reading early */
    write_all(pfd[1], text, strlen(text));
    close(pfd[1]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    signal(SIGPIPE, old);
    ssize_t n = pread(ofd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(ofd);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_promtool_clean(const char *text)
{
    char out[PROMTOOL_OUT_MAX];
    int rc = promtool_check(text, out, sizeof out);
    ck_assert_msg(rc == 0 && out[0] == '\0', "promtool check metrics: exit %d: %s", rc, out);
}

/* ---------------------------------------------------------------- byocd, CXone, receiver */

static void up(const char *const *env)
{
    byocd_env = env;
    test_started = time(NULL);
    byocd_start(&b, NULL, env);
    char hook[256];
    snprintf(hook, sizeof hook, "%s%s", fake_receiver_url(rx), HOOK);
    provider_create_hook(&b, byoc_cxsim_url(f), "int-1", NULL, hook, &p);
    snprintf(bot_auth, sizeof bot_auth, "Authorization: Bearer %s", p.bot_api_key);
    byocd_channel_register(&b, f, p.id, CHANNEL);
    cx_token = cxone_token(&b, &p);
    cx_auth = bearer_line(cx_token);
}

static void setup(void)
{
    agent_msgs = 0;
    f = test_cxsim_start();
    rx = fake_receiver_start();
}

/* Fails the test when byocd reported a sanitizer error. */
static void assert_no_sanitizer_report(void)
{
    ck_assert_msg(!byocd_sanitizer_report(&b), "byocd reported a sanitizer error; its log is in %s",
                  b.dir);
}

/* Only reached when the test passed: its directory is not needed for a post-mortem. */
static void teardown(void)
{
    provider_release(&p);
    free(cx_token);
    free(cx_auth);
    cx_token = cx_auth = NULL;
    if (b.pid > 0)
        ck_assert_int_eq(byocd_stop(&b), 0);
    fake_receiver_stop(rx);
    byoc_cxsim_stop(f);
    if (b.dir[0]) {
        assert_no_sanitizer_report();
        byocd_remove_dir(b.dir);
    }
}

/* Opens a conversation and waits until CXone took it (escalated, thread and contact known). */
static void open_conv(struct conv *c)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/conversations",
                             "{\"end_user\":{\"id\":\"user-42\",\"first_name\":\"Grace\"},"
                             "\"transcript\":[{\"role\":\"user\",\"text\":\"hi\"}]}",
                             201);
    snprintf(c->id, sizeof c->id, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
    char path[128];
    snprintf(path, sizeof path, "/v1/conversations/%s", c->id);
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        j = byocd_call_ok(&b, bot_auth, "GET", path, NULL, 200);
        const char *contact =
            byoc_json_str(cJSON_GetObjectItemCaseSensitive(j, "cxone"), "contact_id");
        bool ready =
            eq(byoc_json_str(j, "state"), "escalated") && byoc_json_str(j, "thread_id") && contact;
        if (ready) {
            snprintf(c->thread, sizeof c->thread, "%s", byoc_json_str(j, "thread_id"));
            snprintf(c->contact, sizeof c->contact, "%s", contact);
        }
        cJSON_Delete(j);
        if (ready)
            return;
    }
    ck_abort_msg("conversation %s did not escalate", c->id);
}

/* An agent reply from CXone to the box: one agent.message event whose text is text. */
static void agent_says(const struct conv *c, const char *text)
{
    byocd_agent_reply(&b, &p, cx_auth, c->thread, ++agent_msgs, text);
}

/* A bot message relayed to CXone; waits until the fake CXone accepted it. */
static void bot_says(const struct conv *c, const char *text)
{
    size_t before = byoc_cxsim_message_count(f);
    char body[256], path[128];
    snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
    snprintf(path, sizeof path, "/v1/conversations/%s/messages", c->id);
    cJSON_Delete(byocd_call_ok(&b, bot_auth, "POST", path, body, 202));
    for (long long end = harness_now_ms() + WAIT_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        if (byoc_cxsim_message_count(f) > before)
            return;
    }
    ck_abort_msg("the bot message \"%s\" did not reach CXone", text);
}

/* Requests the receiver answered with status on path (NULL: any) whose body holds text (NULL:
 * any). */
static size_t rx_count(const char *path, const char *text, int status)
{
    size_t n = 0;
    struct fake_receiver_request req;
    for (size_t i = 0; fake_receiver_get(rx, path, i, &req); i++) {
        n += req.status == status && (!text || strstr(req.body, text));
        fake_receiver_request_release(&req);
    }
    return n;
}

static void wait_rx(const char *path, const char *text, int status, size_t n)
{
    for (long long end = harness_now_ms() + WAIT_MS; rx_count(path, text, status) < n;) {
        long long left = end - harness_now_ms();
        ck_assert_msg(left > 0, "%s never got %zu x \"%s\" answered %d", path, n, text ? text : "*",
                      status);
        fake_receiver_wait(rx, path, fake_receiver_count(rx, path) + 1,
                           (int)(left < 200 ? left : 200));
    }
}

/* Calls the fake CXone recorded (method, path prefix) that it answered with status. */
static size_t cx_calls(const char *method, const char *prefix, int status)
{
    size_t n = 0;
    struct byoc_cxsim_call c;
    for (size_t i = 0; byoc_cxsim_get_call(f, method, prefix, i, &c); i++) {
        n += c.status == status;
        byoc_cxsim_call_release(&c);
    }
    return n;
}

/* A subscription to <receiver>path for the given event types (JSON array); its id in out. */
static void subscribe(const char *path, const char *events, char out[64])
{
    char body[512];
    snprintf(body, sizeof body, "{\"url\":\"%s%s\",\"events\":%s}", fake_receiver_url(rx), path,
             events);
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/webhooks", body, 201);
    snprintf(out, 64, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- promtool itself */

/* The checker must be able to fail: a counter without _total and a broken line are reported. */
START_TEST(promtool_reports_problems)
{
    char out[PROMTOOL_OUT_MAX];
    int rc = promtool_check("# HELP x_requests requests\n# TYPE x_requests counter\n"
                            "x_requests 1\n",
                            out, sizeof out);
    ck_assert_msg(rc != 0 && strstr(out, "_total"), "promtool: exit %d: %s", rc, out);
    rc = promtool_check("x_broken{le=\n", out, sizeof out);
    ck_assert_msg(rc != 0 && out[0], "promtool accepted a broken line: %d", rc);
    rc = promtool_check("# HELP x_total things\n# TYPE x_total counter\nx_total 1\n", out,
                        sizeof out);
    ck_assert_msg(rc == 0 && out[0] == '\0', "promtool: exit %d: %s", rc, out);
}
END_TEST

/* ---------------------------------------------------------------- metrics after a flow */

/* HTTP series: exactly the requests this test made, labelled by route pattern. */
static void assert_http_series(const struct scrape *sc)
{
    ck_assert_double_eq(http_count(sc, "POST", BOX_ROUTE, "200"), 1);
    ck_assert_double_eq(http_count(sc, "*", "unmatched", "404"), 1);
    ck_assert_double_eq(http_count(sc, "POST", "/v1/conversations", "201"), 1);
    ck_assert_double_eq(
        http_count(sc, "POST", "/v1/conversations/{conversation_id}/messages", "202"), 1);
    ck_assert_double_eq(http_count(sc, "POST", "/admin/v1/providers", "201"), 1);
    ck_assert_double_eq(http_count(sc, "POST", "/cxone/{provider_id}/auth/token", "200"), 1);
    ck_assert_double_ge(http_count(sc, "GET", "/metrics", "200"), 1); /* the polls before */
    ck_assert_double_eq(
        val(sc, "byocd_http_request_duration_seconds_count", "route", BOX_ROUTE, END), 1);
    ck_assert_double_gt(val(sc, "byocd_http_request_duration_seconds_sum", "route", BOX_ROUTE, END),
                        0);
    ck_assert_double_eq(val(sc, "byocd_http_request_duration_seconds_bucket", "route", BOX_ROUTE,
                            "le", "+Inf", END),
                        1);
    /* labels are patterns: no id of this run makes a series of its own */
    ck_assert_msg(!strstr(sc->text, p.id), "a provider id is a label");
    ck_assert_msg(!strstr(sc->text, "cnv_"), "a conversation id is a label");
}

/* byocd_cxone_requests_total{endpoint, status} equals what the fake answered on path, for
 * each of the n statuses, and each status was seen at least once. */
static void assert_cxone_endpoint(const struct scrape *sc, const char *endpoint, const char *path,
                                  const int *statuses, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char st[8];
        snprintf(st, sizeof st, "%d", statuses[i]);
        size_t want = cx_calls("POST", path, statuses[i]);
        ck_assert_msg(want >= 1, "the fake saw no %s call answered %s", endpoint, st);
        ck_assert_double_eq(
            val(sc, "byocd_cxone_requests_total", "endpoint", endpoint, "status", st, END),
            (double)want);
    }
}

/* CXone series against what the fake CXone saw. */
static void assert_cxone_series(const struct scrape *sc)
{
    static const int message_statuses[] = {200, 401, 500};
    assert_cxone_endpoint(sc, "messages", MESSAGES_PATH, message_statuses,
                          sizeof message_statuses / sizeof *message_statuses);
    static const int token_statuses[] = {200, 503};
    assert_cxone_endpoint(sc, "token", TOKEN_PATH, token_statuses,
                          sizeof token_statuses / sizeof *token_statuses);
    ck_assert_double_eq(val(sc, "byocd_cxone_token_refreshes_total", "result", "ok", END),
                        (double)byoc_cxsim_token_grants(f));
    ck_assert_double_eq(val(sc, "byocd_cxone_token_refreshes_total", "result", "error", END), 1);
    ck_assert_double_ge(
        val(sc, "byocd_cxone_request_duration_seconds_count", "endpoint", "messages", END),
        (double)byoc_cxsim_call_count(f, "POST", MESSAGES_PATH));
}

/* Webhook series against what the receiver answered. */
static void assert_webhook_series(const struct scrape *sc)
{
    double delivered = attempts(sc, "delivered"), failed = attempts(sc, "failed");
    ck_assert_double_ge(delivered, 1);
    ck_assert_double_eq(delivered, (double)rx_count(NULL, NULL, 200));
    ck_assert_double_eq(failed, 1);
    ck_assert_double_eq(failed, (double)rx_count(NULL, NULL, 500));
    ck_assert_double_eq(attempts(sc, "gone"), 0);
    ck_assert_double_eq(attempts(sc, "deadline"), 0);
    ck_assert_double_eq(attempts(sc, "interrupted"), 0);
    ck_assert_double_eq(val(sc, "byocd_webhook_attempt_duration_seconds_count", END),
                        delivered + failed);
}

/* Outbox, store, database and process series after everything drained. */
static void assert_state_series(const struct scrape *sc)
{
    static const char *const kinds[][2] = {{"relay", "queued"},
                                           {"relay", "sending"},
                                           {"webhook", "pending"},
                                           {"webhook", "sending"},
                                           {"webhook", "dead"}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        ck_assert_double_eq(depth(sc, kinds[i][0], kinds[i][1]), 0);
        ck_assert_double_eq(age(sc, kinds[i][0], kinds[i][1]), 0);
    }
    double batches = val(sc, "byocd_store_commit_batch_size_count", END);
    ck_assert_double_gt(batches, 0);
    ck_assert_double_ge(val(sc, "byocd_store_commit_batch_size_sum", END), batches);
    ck_assert_double_eq(val(sc, "byocd_store_failed_commits_total", END), 0);
    ck_assert_double_ge(val(sc, "byocd_store_queued_writes", END), 0);
    ck_assert_double_gt(val(sc, "process_resident_memory_bytes", END), 0);
    double started = val(sc, "process_start_time_seconds", END);
    ck_assert_msg(started >= (double)test_started - 2 && started <= (double)time(NULL) + 1,
                  "process_start_time_seconds %f, the test started at %lld", started,
                  (long long)test_started);
    const struct sample *info = find(sc, "byocd_build_info", "version", NULL, END);
    ck_assert_msg(info && info->v == 1, "byocd_build_info{version} 1 missing");
    ck_assert_msg(strlen(label_of(info, "version")) > 0, "empty version");
}

/* The database size: positive, whole pages, not more than the file and its WAL hold. */
static void assert_db_size(const struct scrape *sc)
{
    double bytes = val(sc, "byocd_database_size_bytes", END);
    ck_assert_double_gt(bytes, 0);
    ck_assert_msg((long long)bytes % 512 == 0, "database size %f is not whole pages", bytes);
    struct stat db, wal;
    char path[300];
    snprintf(path, sizeof path, "%s/byocd.db", b.dir);
    ck_assert_int_eq(stat(path, &db), 0);
    snprintf(path, sizeof path, "%s/byocd.db-wal", b.dir);
    double on_disk = (double)db.st_size + (stat(path, &wal) == 0 ? (double)wal.st_size : 0);
    ck_assert_msg(bytes <= on_disk, "database size %f, on disk %f", bytes, on_disk);
}

START_TEST(metrics_after_a_full_flow)
{
    up(env_flow);
    byoc_cxsim_fail_next(f, MESSAGES_PATH, 500, 1, 0); /* the opening post is retried once */
    fake_receiver_add_rule(rx,
                           &(struct fake_receiver_rule){
                               .path = HOOK, .body_contains = "[a1]", .status = 500, .count = 1});
    struct conv c;
    open_conv(&c);
    agent_says(&c, "[a1]");
    wait_rx(HOOK, "[a1]", 200, 1);
    /* CXone forgets its tokens and refuses the next grant once: a 401, a failed refresh, then
     * a good one */
    byoc_cxsim_expire_tokens(f);
    byoc_cxsim_fail_next(f, TOKEN_PATH, 503, 1, 0);
    bot_says(&c, "after the expiry");
    struct test_resp r;
    char *url = byocd_url(&b, "/no/such/route");
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    free(url);
    ck_assert_int_eq(r.status, 404);
    test_resp_release(&r);
    struct scrape sc;
    wait_scrape(drained, &sc, "draining both outboxes");
    scrape_free(&sc);
    scrape(&sc);
    ck_assert_uint_ge(check_histograms(&sc), 4);
    assert_http_series(&sc);
    assert_cxone_series(&sc);
    assert_webhook_series(&sc);
    assert_state_series(&sc);
    assert_db_size(&sc);
    assert_promtool_clean(sc.text);
    scrape_free(&sc);
}
END_TEST

/* ---------------------------------------------------------------- backlog */

static bool one_sending_two_pending(const struct scrape *sc)
{
    return depth(sc, "webhook", "sending") == 1 && depth(sc, "webhook", "pending") == 2;
}

static bool failing_pending(const struct scrape *sc)
{
    return depth(sc, "webhook", "pending") + depth(sc, "webhook", "sending") == 1 &&
           attempts(sc, "failed") >= 2;
}

/* The oldest age of a state lies between lo and hi seconds. */
static void assert_age_between(const struct scrape *sc, const char *state, double lo, double hi)
{
    double a = age(sc, "webhook", state);
    ck_assert_msg(a >= lo - AGE_SLACK_S && a <= hi + AGE_SLACK_S,
                  "oldest %s age %.3f s, expected %.3f..%.3f", state, a, lo, hi);
}

START_TEST(backlog_visible_then_drained)
{
    up(env_hold);
    struct conv c;
    open_conv(&c);
    struct scrape sc;
    wait_scrape(drained, &sc, "the first events going out");
    scrape_free(&sc);
    /* a hung receiver holds [h1] (sending); the later events of the conversation wait */
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){
                .path = HOOK, .body_contains = "[h1]", .action = FAKE_RECEIVER_HANG, .count = 1});
    long long t_h1 = harness_now_ms();
    agent_says(&c, "[h1]");
    long long t_h2 = harness_now_ms();
    agent_says(&c, "[h2]");
    agent_says(&c, "[h3]");
    long long t_h3_done = harness_now_ms();
    wait_scrape(one_sending_two_pending, &sc, "one delivery sending and two pending");
    scrape_free(&sc);
    ck_assert_uint_eq(fake_receiver_hanging(rx), 1);
    harness_sleep_ms(BACKLOG_HOLD_MS);
    long long t_scrape = harness_now_ms();
    scrape(&sc);
    long long t_back = harness_now_ms();
    ck_assert(one_sending_two_pending(&sc));
    assert_age_between(&sc, "sending", (double)(t_scrape - t_h2) / 1000,
                       (double)(t_back - t_h1) / 1000);
    assert_age_between(&sc, "pending", (double)(t_scrape - t_h3_done) / 1000,
                       (double)(t_back - t_h2) / 1000);
    ck_assert_double_ge(age(&sc, "webhook", "pending"), (double)BACKLOG_HOLD_MS / 1000);
    scrape_free(&sc);
    ck_assert_uint_eq(fake_receiver_release(rx, 200), 1);
    wait_rx(HOOK, "[h3]", 200, 1);
    wait_scrape(drained, &sc, "draining after the release");
    ck_assert_double_eq(age(&sc, "webhook", "pending"), 0);
    ck_assert_double_eq(age(&sc, "webhook", "sending"), 0);
    scrape_free(&sc);
    /* a failing receiver: the delivery waits (pending) between attempts, then goes */
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = HOOK, .status = 503});
    agent_says(&c, "[f1]");
    wait_rx(HOOK, "[f1]", 503, 2);
    wait_scrape(failing_pending, &sc, "a failing delivery waiting");
    ck_assert_double_gt(age(&sc, "webhook", "pending") + age(&sc, "webhook", "sending"), 0);
    scrape_free(&sc);
    fake_receiver_clear_rules(rx, HOOK);
    wait_rx(HOOK, "[f1]", 200, 1);
    wait_scrape(drained, &sc, "draining after the failures");
    ck_assert_double_eq(attempts(&sc, "failed"), (double)rx_count(HOOK, NULL, 503));
    ck_assert_double_eq(attempts(&sc, "delivered"), (double)rx_count(HOOK, NULL, 200));
    ck_assert_double_eq(attempts(&sc, "interrupted"), 0);
    ck_assert_uint_ge(check_histograms(&sc), 3);
    assert_promtool_clean(sc.text);
    scrape_free(&sc);
}
END_TEST

/* ---------------------------------------------------------------- dead letters */

static bool both_dead(const struct scrape *sc)
{
    return attempts(sc, "gone") >= 2 && attempts(sc, "deadline") >= 1 && drained(sc);
}

static bool two_dead_left(const struct scrape *sc)
{
    return depth(sc, "webhook", "dead") == 2 && drained(sc);
}

/* The dead deliveries the admin API lists; the id of the one for webhook wh in out. */
static int dead_listed(const char *wh, char out[64])
{
    cJSON *j = byocd_call_ok(&b, b.admin_auth, "GET", "/admin/v1/deliveries?state=dead", NULL, 200);
    const cJSON *d, *list = cJSON_GetObjectItemCaseSensitive(j, "deliveries");
    ck_assert(cJSON_IsArray(list));
    out[0] = '\0';
    cJSON_ArrayForEach(d, list)
    {
        if (eq(byoc_json_str(d, "webhook_id"), wh))
            snprintf(out, 64, "%s", byoc_json_str(d, "id"));
    }
    int n = cJSON_GetArraySize(list);
    cJSON_Delete(j);
    return n;
}

START_TEST(dead_letters_counted)
{
    up(env_dead);
    char gone[64], gone2[64], late[64], dead_id[64], path[160];
    subscribe("/gone", "[\"conversation.escalated\"]", gone);
    subscribe("/gone2", "[\"conversation.escalated\"]", gone2);
    subscribe("/late", "[\"conversation.escalated\"]", late);
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/gone", .status = 410});
    fake_receiver_add_rule(rx, &(struct fake_receiver_rule){.path = "/gone2", .status = 410});
    fake_receiver_add_rule(
        rx, &(struct fake_receiver_rule){.path = "/late", .action = FAKE_RECEIVER_HANG});
    long long t_open = harness_now_ms();
    struct conv c;
    open_conv(&c);
    struct scrape sc;
    wait_scrape(both_dead, &sc, "two 410s and a deadline");
    ck_assert_double_eq(attempts(&sc, "gone"), 2); /* 2 and 1: a swap would show */
    ck_assert_double_eq(attempts(&sc, "gone"),
                        (double)(rx_count("/gone", NULL, 410) + rx_count("/gone2", NULL, 410)));
    ck_assert_double_eq(attempts(&sc, "deadline"), 1);
    ck_assert_double_eq(attempts(&sc, "failed"), 0);
    ck_assert_uint_eq(fake_receiver_count(rx, "/late"), 1);
    ck_assert_double_eq(attempts(&sc, "delivered"), (double)rx_count(HOOK, NULL, 200));
    ck_assert_double_eq(depth(&sc, "webhook", "dead"), 3);
    ck_assert_int_eq(dead_listed(late, dead_id), 3);
    double a = age(&sc, "webhook", "dead");
    ck_assert_msg(a > 0 && a <= (double)(harness_now_ms() - t_open) / 1000 + AGE_SLACK_S,
                  "dead age %f", a);
    assert_promtool_clean(sc.text);
    scrape_free(&sc);
    /* replaying the late one delivers it: the two gone ones are left */
    ck_assert_msg(dead_id[0], "no dead delivery of %s listed", late);
    fake_receiver_clear_rules(rx, "/late");
    fake_receiver_release(rx, 0);
    snprintf(path, sizeof path, "/admin/v1/deliveries/%s/replay", dead_id);
    cJSON_Delete(byocd_call_ok(&b, b.admin_auth, "POST", path, NULL, 202));
    wait_rx("/late", NULL, 200, 1);
    wait_scrape(two_dead_left, &sc, "two dead letters left after the replay");
    ck_assert_double_eq(attempts(&sc, "delivered"), (double)rx_count(NULL, NULL, 200));
    scrape_free(&sc);
}
END_TEST

/* ---------------------------------------------------------------- the log keeps secrets */

struct secrets {
    char *v[MAX_SECRETS];
    char what[MAX_SECRETS][48];
    size_t n;
};

static void secret_add(struct secrets *sec, const char *what, const char *value)
{
    ck_assert_msg(value && strlen(value) >= 6, "secret %s is missing or too short", what);
    ck_assert_uint_lt(sec->n, MAX_SECRETS);
    sec->v[sec->n] = strdup(value);
    snprintf(sec->what[sec->n], sizeof sec->what[sec->n], "%s", what);
    sec->n++;
}

/* A webhook secret, and its key part without the whsec_ prefix. */
static void secret_add_whsec(struct secrets *sec, const char *what, const char *value)
{
    ck_assert_msg(starts_with(value, "whsec_"), "%s: %s", what, value);
    secret_add(sec, what, value);
    secret_add(sec, what, value + 6);
}

/* A JWT, and its signature alone. */
static void secret_add_jwt(struct secrets *sec, const char *what, const char *value)
{
    secret_add(sec, what, value);
    const char *dot = strrchr(value, '.');
    ck_assert_msg(dot && strlen(dot + 1) >= 16, "%s is not a signed JWT", what);
    secret_add(sec, what, dot + 1);
}

static void secrets_free(struct secrets *sec)
{
    for (size_t i = 0; i < sec->n; i++)
        free(sec->v[i]);
    sec->n = 0;
}

static void assert_absent(const struct secrets *sec, const char *text, const char *where)
{
    for (size_t i = 0; i < sec->n; i++)
        ck_assert_msg(!strstr(text, sec->v[i]), "%s shows the %s (%s)", where, sec->what[i],
                      sec->v[i]);
}

static const char *json_str(const cJSON *o, const char *k)
{
    return byoc_json_str(o, k) ? byoc_json_str(o, k) : "";
}

/* Every line a JSON object with ts, level, module and msg; returns the debug lines. */
static size_t assert_json_lines(const char *log, size_t *lines)
{
    size_t debug = 0;
    *lines = 0;
    ck_assert_msg(log[0] && ends_with(log, "\n"), "the log is empty or ends mid-line");
    for (const char *line = log; *line;) {
        const char *nl = strchr(line, '\n');
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        ck_assert_msg(cJSON_IsObject(j), "not a JSON object: %.*s", (int)(nl - line), line);
        const char *level = json_str(j, "level");
        ck_assert_msg(eq(level, "debug") || eq(level, "info") || eq(level, "warn") ||
                          eq(level, "error"),
                      "level \"%s\" in %.*s", level, (int)(nl - line), line);
        ck_assert_msg(byoc_json_str(j, "ts") && byoc_json_str(j, "module") &&
                          byoc_json_str(j, "msg"),
                      "ts, module or msg missing: %.*s", (int)(nl - line), line);
        debug += eq(level, "debug");
        (*lines)++;
        cJSON_Delete(j);
        line = nl + 1;
    }
    return debug;
}

/* The fake CXone's credentials and every token it issued. */
static void collect_cxone_side(struct secrets *sec)
{
    secret_add(sec, "CXone client secret", "client-secret");
    secret_add(sec, "CXone access key secret", "key-secret");
    char *basic = test_basic_auth("client-id", "client-secret");
    secret_add(sec, "CXone Basic credentials", strstr(basic, "Basic ") + 6);
    free(basic);
    size_t grants = byoc_cxsim_token_grants(f);
    ck_assert_uint_ge(grants, 3); /* first, after the expiry, after the restart */
    for (size_t i = 1; i <= grants; i++) {
        static const char *const kinds[] = {"cx-at-%zu", "cx-rt-%zu", "cx-id-%zu"};
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            char tok[32];
            snprintf(tok, sizeof tok, kinds[k], i);
            secret_add(sec, "CXone token", tok);
        }
    }
    secret_add(sec, "CXone one-time-token access token", "ott-at-1");
}

static void collect_master_key(struct secrets *sec)
{
    char path[300], key[80] = "";
    snprintf(path, sizeof path, "%s/master.key", b.dir);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(key, sizeof key, fp));
    fclose(fp);
    key[strcspn(key, "\n")] = '\0';
    ck_assert_uint_eq(strlen(key), 64);
    secret_add(sec, "master key", key);
}

/* The Add page with a one-time token, then its form; the token and session go in sec. */
static void add_page_flow(struct secrets *sec)
{
    static const char ott[] = "ott-operator-7f3a9c21e5b8d4";
    byoc_cxsim_add_one_time_token(f, ott, BRAND, USER);
    secret_add(sec, "one-time token", ott);
    char path[256];
    snprintf(path, sizeof path, "/cxone/%s/actions/add?userId=%d&brandId=%d&token=%s", p.id, USER,
             BRAND, ott);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    free(url);
    ck_assert_msg(r.status == 200, "add page: %ld %s", r.status, r.body);
    static const char key[] = "name=\"session\" value=\"";
    const char *at = strstr(r.body, key);
    ck_assert_msg(at, "no session on the add page");
    char session[128], form[256];
    snprintf(session, sizeof session, "%.*s", (int)strcspn(at + sizeof key - 1, "\""),
             at + sizeof key - 1);
    test_resp_release(&r);
    secret_add(sec, "add page session", session);
    snprintf(form, sizeof form, "session=%s&name=Ops%%20channel", session);
    snprintf(path, sizeof path, "/cxone/%s/actions/add", p.id);
    url = byocd_url(&b, path);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    ck_assert(test_http("POST", url, h, form, strlen(form), &r));
    free(url);
    /* without a backUrl the answer is a page that says so, with one it is a redirect */
    bool done = r.status == 303 || (r.status == 200 && strstr(r.body, "channel was created"));
    ck_assert_msg(done, "add form: %ld %.300s", r.status, r.body);
    test_resp_release(&r);
}

/* Requests with credentials that are wrong: refused, and not logged either. */
static void wrong_credentials(struct secrets *sec)
{
    static const char admin[] = "wrong-admin-token-5f0c2b9e7d41", bot[] = "wrong-bot-key-81c4e0a",
                      bearer[] = "wrong-cxone-bearer-3e7719c2",
                      studio[] = "wrong-studio-a42d18e6f0",
                      client[] = "wrong-client-secret-0b9c6f3e";
    char line[256], path[160], body[512];
    long st = 0;
    snprintf(line, sizeof line, "Authorization: Bearer %s", admin);
    cJSON_Delete(byocd_call(&b, line, "GET", "/admin/v1/providers", NULL, &st));
    ck_assert_int_eq(st, 401);
    snprintf(line, sizeof line, "Authorization: Bearer %s", bot);
    cJSON_Delete(byocd_call(&b, line, "GET", "/v1/conversations", NULL, &st));
    ck_assert_int_eq(st, 401);
    snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/x/messages", p.id);
    cJSON_Delete(byocd_call(&b, line, "POST", path, "{}", &st));
    ck_assert_int_eq(st, 401);
    snprintf(line, sizeof line, "Authorization: Bearer %s", studio);
    snprintf(path, sizeof path, "/cxone/%s/studio/events", p.id);
    cJSON_Delete(
        byocd_call(&b, line, "POST", path, "{\"event\":\"ESCALATE\",\"contactId\":\"1\"}", &st));
    ck_assert_int_eq(st, 401);
    snprintf(path, sizeof path, "/cxone/%s/auth/token", p.id);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":"
             "\"client_credentials\"}",
             p.client_id, client);
    cJSON_Delete(byocd_call(&b, NULL, "POST", path, body, &st));
    ck_assert_int_eq(st, 401);
    secret_add(sec, "wrong admin token", admin);
    secret_add(sec, "wrong bot key", bot);
    secret_add(sec, "wrong CXone bearer", bearer);
    secret_add(sec, "wrong Studio secret", studio);
    secret_add(sec, "wrong client secret", client);
}

/* Both rotations of the provider's subscription, and a new subscription's secret. */
static void webhook_secrets(struct secrets *sec)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "GET", "/v1/webhooks", NULL, 200);
    char wh[64], path[256], spare[64];
    snprintf(wh, sizeof wh, "%s",
             byoc_json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "webhooks"), 0),
                           "id"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/v1/webhooks/%s/rotate-secret", wh);
    j = byocd_call_ok(&b, bot_auth, "POST", path, NULL, 200);
    secret_add_whsec(sec, "rotated webhook secret", byoc_json_str(j, "secret"));
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/admin/v1/providers/%s/webhooks/%s/rotate-secret", p.id, wh);
    j = byocd_call_ok(&b, b.admin_auth, "POST", path, NULL, 200);
    secret_add_whsec(sec, "webhook secret rotated by the admin", byoc_json_str(j, "secret"));
    cJSON_Delete(j);
    char body[256];
    snprintf(body, sizeof body, "{\"url\":\"%s/spare\"}", fake_receiver_url(rx));
    j = byocd_call_ok(&b, bot_auth, "POST", "/v1/webhooks", body, 201);
    secret_add_whsec(sec, "new subscription's secret", byoc_json_str(j, "secret"));
    snprintf(spare, sizeof spare, "%s", byoc_json_str(j, "id"));
    cJSON_Delete(j);
    ck_assert(spare[0]);
}

/* A voice handoff: its transcript key is a secret in a URL path. */
static void voice_flow(struct secrets *sec)
{
    cJSON *j = byocd_call_ok(&b, bot_auth, "POST", "/v1/voice/handoffs",
                             "{\"contact_id\":\"4242\",\"transcript\":[{\"role\":\"user\",\"text\":"
                             "\"my bill\"}]}",
                             201);
    char path[160];
    snprintf(path, sizeof path, "/transcripts/%s", byoc_json_str(j, "key"));
    secret_add(sec, "transcript key", byoc_json_str(j, "key"));
    cJSON_Delete(j);
    char *url = byocd_url(&b, path);
    struct test_resp r;
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    free(url);
    ck_assert_int_eq(r.status, 200);
    test_resp_release(&r);
}

static void studio_flow(const struct conv *c)
{
    char line[256], path[160], body[256];
    snprintf(line, sizeof line, "Authorization: Bearer %s", p.studio_secret);
    snprintf(path, sizeof path, "/cxone/%s/studio/events", p.id);
    snprintf(body, sizeof body, "{\"event\":\"END ESCALATION\",\"contactId\":\"%s\"}", c->contact);
    cJSON_Delete(byocd_call_ok(&b, line, "POST", path, body, 200));
    snprintf(body, sizeof body, "{\"event\":\"ESCALATE\",\"contactId\":\"%s\"}", c->contact);
    cJSON_Delete(byocd_call_ok(&b, line, "POST", path, body, 200));
}

static void restart(void)
{
    char dir[sizeof b.dir];
    snprintf(dir, sizeof dir, "%s", b.dir);
    ck_assert_int_eq(byocd_stop(&b), 0);
    byocd_start(&b, dir, byocd_env);
}

static void provider_secrets(struct secrets *sec)
{
    secret_add(sec, "admin token", HARNESS_ADMIN_TOKEN);
    secret_add(sec, "client secret", p.client_secret);
    secret_add(sec, "bot API key", p.bot_api_key);
    secret_add_whsec(sec, "webhook secret", p.webhook_secret);
    secret_add(sec, "Studio secret", p.studio_secret);
    secret_add_jwt(sec, "CXone-side bearer token", cx_token);
}

/* Stops byocd and checks its whole stderr and stdout. */
static void assert_log_clean(const struct secrets *sec)
{
    ck_assert_int_eq(byocd_stop(&b), 0);
    char *log = byocd_log(&b), *out = byocd_stdout(&b);
    size_t lines = 0, debug = assert_json_lines(log, &lines);
    ck_assert_msg(debug >= 1, "no debug line in %zu lines: the debug level is not covered", lines);
    ck_assert_msg(strstr(log, p.id), "the log does not mention the provider: wrong log?");
    ck_assert_msg(strstr(out, p.id), "stdout does not list the provider after the restart");
    assert_absent(sec, log, "the log");
    assert_absent(sec, out, "stdout");
    ck_assert_msg(!strstr(log, "Bearer ") && !strstr(log, "Basic "), "an Authorization value");
    free(log);
    free(out);
}

START_TEST(log_shows_no_secret)
{
    struct secrets sec = {0};
    up(env_flow);
    provider_secrets(&sec);
    struct conv c;
    open_conv(&c);
    agent_says(&c, "[s1]");
    wait_rx(HOOK, "[s1]", 200, 1);
    studio_flow(&c);
    wrong_credentials(&sec);
    webhook_secrets(&sec);
    byoc_cxsim_expire_tokens(f);
    bot_says(&c, "after the expiry");
    agent_says(&c, "[s2]");
    wait_rx(HOOK, "[s2]", 200, 1);
    add_page_flow(&sec);
    voice_flow(&sec);
    restart();
    free(cx_token);
    free(cx_auth);
    cx_token = cxone_token(&b, &p);
    cx_auth = bearer_line(cx_token);
    secret_add_jwt(&sec, "CXone-side bearer token after the restart", cx_token);
    bot_says(&c, "after the restart");
    agent_says(&c, "[s3]");
    wait_rx(HOOK, "[s3]", 200, 1);
    collect_cxone_side(&sec);
    collect_master_key(&sec);
    assert_log_clean(&sec);
    secrets_free(&sec);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("operator");
    TCase *tool = tcase_create("promtool");
    tcase_set_timeout(tool, TCASE_TIMEOUT_S);
    tcase_add_test(tool, promtool_reports_problems);
    suite_add_tcase(su, tool);
    TCase *metrics = tcase_create("metrics");
    tcase_set_timeout(metrics, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(metrics, setup, teardown);
    tcase_add_test(metrics, metrics_after_a_full_flow);
    tcase_add_test(metrics, backlog_visible_then_drained);
    tcase_add_test(metrics, dead_letters_counted);
    suite_add_tcase(su, metrics);
    TCase *logs = tcase_create("log");
    tcase_set_timeout(logs, TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(logs, setup, teardown);
    tcase_add_test(logs, log_shows_no_secret);
    suite_add_tcase(su, logs);
    return su;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
