/*
 * `byocd sandbox` as a developer runs it: the real binary with the CXone simulator and the demo
 * bot on ephemeral ports, its URLs and credentials read from what it prints, and the whole loop
 * driven over HTTP the way the two pages do (no browser): the customer chats with the bot, asks
 * for an agent, the contact appears in the agent console with the transcript, the agent replies
 * and the chat shows it with the agent's name, ONRELEASE gives the customer back to the bot. Also
 * byocd's retries against a misbehaving simulator, the bot API key, a clean SIGTERM that removes
 * the temporary database, and the ways the command refuses to start.
 *
 * Each sandbox runs with TMPDIR set to a directory of its own, so "nothing left behind" is
 * checked by that directory being empty after the exit. Waits are polls with a deadline.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 120
#define WAIT_MS 15000        /* anything that should happen at once */
#define RETRY_WAIT_MS 30000  /* through byocd's retries with backoff */
#define RUN_TIMEOUT_MS 20000 /* a byocd that must exit on its own */
#define STOP_WAIT_MS 15000   /* a leftover byocd asked to stop */
#define POLL_MS 25
#define URL_CAP 256
#define PATH_CAP 512
#define OUT_MAX (256 * 1024) /* stdout or stderr kept of a run */
#define CHANNEL "chat_sandbox"
#define AGENT "Jo Agent"
#define GREETING                                                                                   \
    "Hi, I'm the demo bot. Ask me about opening hours or an order, or type 'agent' to talk to "    \
    "a person."

/* ================================================================ leftovers
 *
 * A failing check leaves Check's forked child through _exit(), without the teardown, and a
 * timeout kills it: the byocd it started would run on. What each test starts is noted in memory
 * the runner shares with its children, and the next test's setup (or main, at the end) stops it
 * and removes its directories. */

struct leftovers {
    pid_t pid;
    char dir[PATH_CAP];    /* the harness's directory (log, stdout) */
    char tmpdir[PATH_CAP]; /* the TMPDIR the sandbox ran with */
};

static struct leftovers *left;

static void leftovers_clean(void)
{
    if (left->pid > 0 && kill(left->pid, SIGTERM) == 0) {
        long long end = harness_now_ms() + STOP_WAIT_MS;
        while (kill(left->pid, 0) == 0 && harness_now_ms() < end)
            harness_sleep_ms(POLL_MS);
        if (kill(left->pid, 0) == 0)
            kill(left->pid, SIGKILL);
        waitpid(left->pid, NULL, WNOHANG); /* our own child when Check does not fork */
    }
    if (left->dir[0])
        byocd_remove_dir(left->dir);
    if (left->tmpdir[0])
        byocd_remove_dir(left->tmpdir);
    memset(left, 0, sizeof *left);
}

/* A new private directory under /tmp into out (noted as a leftover when note is set). */
static void make_tmpdir(char *out, size_t cap, bool note)
{
    snprintf(out, cap, "/tmp/byocd-sbxtmp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
    if (note)
        snprintf(left->tmpdir, sizeof left->tmpdir, "%s", out);
}

/* Number of entries in dir (not . and ..); -1 when it cannot be read. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static bool dir_exists(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ================================================================ the sandbox process */

struct sandbox {
    char chat[URL_CAP];  /* the demo bot's base URL, no trailing slash */
    char sim[URL_CAP];   /* the simulator's base URL */
    char byocd[URL_CAP]; /* byocd's base URL */
    char provider[64], bot_key[128], studio_secret[128], webhook_secret[128];
    char database[PATH_CAP];
    char tmpdir[PATH_CAP];
};

static struct byocd B;
static struct sandbox S;

/* The value after label up to the end of its line (and before `until`, when given). */
static void field(const char *text, const char *label, const char *until, char *out, size_t cap)
{
    const char *p = strstr(text, label);
    ck_assert_msg(p != NULL, "no \"%s\" in:\n%s", label, text);
    p += strlen(label);
    p += strspn(p, " ");
    size_t n = strcspn(p, "\n");
    const char *stop = until ? strstr(p, until) : NULL;
    if (stop && (size_t)(stop - p) < n)
        n = (size_t)(stop - p);
    ck_assert_uint_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Drops suffix from the end of s; fails when s does not end with it. */
static void chop(char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    ck_assert_msg(n >= k && strcmp(s + n - k, suffix) == 0, "\"%s\" does not end with %s", s,
                  suffix);
    s[n - k] = '\0';
}

/* Waits for the whole announcement on stdout (its last line names the database). */
static char *wait_announcement(void)
{
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        char *out = byocd_stdout(&B);
        if (strstr(out, "(removed on exit)"))
            return out;
        ck_assert_msg(harness_now_ms() < end, "no sandbox announcement on stdout:\n%s", out);
        free(out);
    }
}

static void parse_announcement(const char *out)
{
    field(out, "Customer chat (demo bot)", NULL, S.chat, sizeof S.chat);
    chop(S.chat, "/");
    field(out, "Agent console (CXone sim)", NULL, S.sim, sizeof S.sim);
    chop(S.sim, "/console");
    field(out, "\n  byocd ", NULL, S.byocd, sizeof S.byocd);
    field(out, "  provider  ", NULL, S.provider, sizeof S.provider);
    field(out, "  bot API key  ", NULL, S.bot_key, sizeof S.bot_key);
    field(out, "  Studio secret  ", NULL, S.studio_secret, sizeof S.studio_secret);
    field(out, "  webhook secret  ", NULL, S.webhook_secret, sizeof S.webhook_secret);
    field(out, "  database  ", " (removed on exit)", S.database, sizeof S.database);
}

static void sandbox_start(void)
{
    leftovers_clean();
    memset(&S, 0, sizeof S);
    make_tmpdir(S.tmpdir, sizeof S.tmpdir, true);
    char env_tmp[PATH_CAP + 16];
    snprintf(env_tmp, sizeof env_tmp, "TMPDIR=%s", S.tmpdir);
    const char *const env[] = {env_tmp, NULL};
    const char *const args[] = {"sandbox", "--cxone-port", "0", "--bot-port", "0", NULL};
    byocd_start_cmd(&B, NULL, env, args);
    left->pid = B.pid;
    snprintf(left->dir, sizeof left->dir, "%s", B.dir);
    char *out = wait_announcement();
    parse_announcement(out);
    free(out);
}

static void sandbox_stop(void)
{
    if (B.pid > 0)
        ck_assert_int_eq(byocd_stop(&B), 0);
    ck_assert_msg(!byocd_sanitizer_report(&B), "sanitizer report in %s/stderr.log", B.dir);
    ck_assert_msg(dir_entries(S.tmpdir) == 0, "the sandbox left files in %s", S.tmpdir);
    byocd_remove_dir(B.dir);
    byocd_remove_dir(S.tmpdir);
    memset(left, 0, sizeof *left);
}

/* ================================================================ HTTP */

/* method base+path with an optional JSON body and "Authorization: ..." line; the status, the
 * parsed answer into *out when given. */
static long call(const char *method, const char *base, const char *path, const char *json,
                 const char *auth, cJSON **out)
{
    char url[URL_CAP * 2];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct test_resp r;
    ck_assert_msg(http_json(method, url, auth, json, &r), "%s %s: no answer", method, url);
    if (out)
        *out = test_resp_json(&r);
    long status = r.status;
    test_resp_release(&r);
    return status;
}

static const char *str_at(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_str(const cJSON *obj, const char *name, const char *want)
{
    const char *have = str_at(obj, name);
    ck_assert_msg(have && strcmp(have, want) == 0, "%s: \"%s\", not \"%s\"", name,
                  have ? have : "(missing)", want);
}

/* A JSON object {"text": text} (caller frees). */
static char *text_body(const char *text)
{
    cJSON *o = cJSON_CreateObject();
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(o, "text", text));
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ck_assert_ptr_nonnull(json);
    return json;
}

/* ---------------------------------------------------------------- the customer (demo bot) */

static void new_chat(char *id, size_t cap)
{
    cJSON *a = NULL;
    ck_assert_int_eq(call("POST", S.chat, "/api/chats", "{}", NULL, &a), 201);
    ck_assert_ptr_nonnull(str_at(a, "id"));
    snprintf(id, cap, "%s", str_at(a, "id"));
    cJSON_Delete(a);
}

static void say(const char *chat, const char *text)
{
    char path[160];
    snprintf(path, sizeof path, "/api/chats/%s/messages", chat);
    char *json = text_body(text);
    ck_assert_int_eq(call("POST", S.chat, path, json, NULL, NULL), 202);
    free(json);
}

static cJSON *chat_view(const char *chat)
{
    char path[160];
    snprintf(path, sizeof path, "/api/chats/%s", chat);
    cJSON *v = NULL;
    ck_assert_int_eq(call("GET", S.chat, path, NULL, NULL, &v), 200);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* The first message from `from` with exactly `text` (any text when NULL), or NULL; *count
 * (when given) gets how many messages are from `from`. */
static const cJSON *chat_find(const cJSON *view, const char *from, const char *text, int *count)
{
    const cJSON *m = NULL, *found = NULL;
    int n = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(view, "messages"))
    {
        const char *f = str_at(m, "from"), *t = str_at(m, "text");
        if (!f || strcmp(f, from) != 0)
            continue;
        n++;
        if (!found && (!text || (t && strcmp(t, text) == 0)))
            found = m;
    }
    if (count)
        *count = n;
    return found;
}

/* Waits until the chat has a message from `from` with `text`; a copy of it (caller deletes). */
static cJSON *wait_chat(const char *chat, const char *from, const char *text)
{
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        cJSON *v = chat_view(chat);
        const cJSON *m = chat_find(v, from, text, NULL);
        if (m) {
            cJSON *copy = cJSON_Duplicate(m, true);
            cJSON_Delete(v);
            return copy;
        }
        char *all = harness_now_ms() < end ? NULL : cJSON_PrintUnformatted(v);
        cJSON_Delete(v);
        ck_assert_msg(!all, "no %s message \"%s\" in %s", from, text, all);
    }
}

/* Waits until the chat has at least n messages from `from`. */
static void wait_chat_count(const char *chat, const char *from, int n)
{
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        cJSON *v = chat_view(chat);
        int have = 0;
        chat_find(v, from, NULL, &have);
        cJSON_Delete(v);
        if (have >= n)
            return;
        ck_assert_msg(harness_now_ms() < end, "%d %s messages, not %d", have, from, n);
    }
}

static void wait_chat_mode(const char *chat, const char *mode)
{
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        cJSON *v = chat_view(chat);
        char have[32];
        snprintf(have, sizeof have, "%s", str_at(v, "mode") ? str_at(v, "mode") : "(none)");
        cJSON_Delete(v);
        if (strcmp(have, mode) == 0)
            return;
        ck_assert_msg(harness_now_ms() < end, "chat mode %s, not %s", have, mode);
    }
}

/* ---------------------------------------------------------------- the agent (console) */

static cJSON *console_root(void)
{
    cJSON *root = NULL;
    ck_assert_int_eq(call("GET", S.sim, "/console/api/contacts", NULL, NULL, &root), 200);
    ck_assert_ptr_nonnull(root);
    return root;
}

/* The newest contact of this customer chat in a console answer, or NULL. */
static const cJSON *contact_of(const cJSON *root, const char *chat)
{
    const cJSON *c = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "contacts"))
    {
        const char *who = str_at(cJSON_GetObjectItemCaseSensitive(c, "customer"), "id");
        if (who && strcmp(who, chat) == 0)
            return c;
    }
    return NULL;
}

/* The first message of contact c in `direction` whose text contains `text`, or NULL. */
static const cJSON *contact_message(const cJSON *c, const char *direction, const char *text)
{
    const cJSON *m = NULL;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, "messages"))
    {
        const char *d = str_at(m, "direction"), *t = str_at(m, "text");
        if (d && t && strcmp(d, direction) == 0 && strstr(t, text))
            return m;
    }
    return NULL;
}

/* Waits until the chat's contact shows an inbound message containing text; a copy of the
 * contact (caller deletes). */
static cJSON *wait_contact(const char *chat, const char *text, int timeout_ms)
{
    for (long long end = harness_now_ms() + timeout_ms;; harness_sleep_ms(POLL_MS)) {
        cJSON *root = console_root();
        const cJSON *c = contact_of(root, chat);
        if (c && contact_message(c, "inbound", text)) {
            cJSON *copy = cJSON_Duplicate(c, true);
            cJSON_Delete(root);
            return copy;
        }
        char *all = harness_now_ms() < end ? NULL : cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        ck_assert_msg(!all, "no contact of %s with \"%s\": %s", chat, text, all);
    }
}

static unsigned long contact_id(const cJSON *c)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
    ck_assert(cJSON_IsNumber(id));
    return (unsigned long)id->valuedouble;
}

/* POST /console/api/contacts/{id}/{what}: asserts 202, the item's id into item. */
static void console_act(unsigned long id, const char *what, const char *json, char *item,
                        size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/console/api/contacts/%lu/%s", id, what);
    cJSON *a = NULL;
    ck_assert_int_eq(call("POST", S.sim, path, json, NULL, &a), 202);
    ck_assert_ptr_nonnull(str_at(a, "id"));
    snprintf(item, cap, "%s", str_at(a, "id"));
    cJSON_Delete(a);
}

/* Waits until item (in the contact's "messages" or "events") has state; a copy of the contact.
 * Fails at once when the item reaches another final state (sent, failed, done). */
static cJSON *wait_item(const char *chat, const char *list, const char *item, const char *state)
{
    char last[300] = "(none)";
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        cJSON *root = console_root();
        const cJSON *c = contact_of(root, chat), *m = NULL;
        bool final = false;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, list))
        {
            const char *id = str_at(m, "id"), *st = str_at(m, "state");
            if (!id || strcmp(id, item) != 0 || !st)
                continue;
            const char *detail = str_at(m, "detail");
            snprintf(last, sizeof last, "%s (%s)", st, detail ? detail : "");
            if (strcmp(st, state) == 0) {
                cJSON *copy = cJSON_Duplicate(c, true);
                cJSON_Delete(root);
                return copy;
            }
            final = strcmp(st, "sent") == 0 || strcmp(st, "failed") == 0 || strcmp(st, "done") == 0;
        }
        cJSON_Delete(root);
        ck_assert_msg(harness_now_ms() < end && !final, "%s %s: %s, not %s", list, item, last,
                      state);
    }
}

static cJSON *misbehave(const char *json)
{
    cJSON *m = NULL;
    ck_assert_int_eq(call("POST", S.sim, "/console/api/misbehave", json, NULL, &m), 200);
    ck_assert_ptr_nonnull(m);
    return m;
}

static int num_at(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", name);
    return (int)v->valuedouble;
}

/* ---------------------------------------------------------------- byocd's log */

/* The end of the first line at or after `from` that is the simulator's access line for path
 * (NULL: any) with status, or NULL. */
static const char *sim_line(const char *from, const char *path, int status)
{
    char want_path[URL_CAP], want_status[32];
    snprintf(want_path, sizeof want_path, "\"path\":\"%s\"", path ? path : "");
    snprintf(want_status, sizeof want_status, "\"status\":%d,", status);
    for (const char *line = from; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char *copy = strndup(line, len);
        ck_assert_ptr_nonnull(copy);
        bool hit = strstr(copy, "\"module\":\"cxsim\"") && (!path || strstr(copy, want_path)) &&
                   strstr(copy, want_status);
        free(copy);
        if (hit)
            return line + len;
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static int sim_lines(const char *log, const char *path, int status)
{
    int n = 0;
    for (const char *p = sim_line(log, path, status); p; p = sim_line(p, path, status))
        n++;
    return n;
}

/* ================================================================ the whole loop */

/* The customer asks for an agent; returns the contact the console shows (caller deletes). */
static cJSON *hand_over(const char *chat, int timeout_ms)
{
    say(chat, "hello");
    wait_chat_count(chat, "bot", 2);
    say(chat, "I want an agent");
    cJSON_Delete(wait_chat(chat, "bot", "Connecting you to an agent\xE2\x80\xA6"));
    return wait_contact(chat, "Customer: I want an agent", timeout_ms);
}

START_TEST(prints_what_a_developer_needs)
{
    ck_assert_str_eq(S.byocd, B.base);
    ck_assert_msg(strncmp(S.chat, "http://127.0.0.1:", 17) == 0, "chat %s", S.chat);
    ck_assert_msg(strncmp(S.sim, "http://127.0.0.1:", 17) == 0, "console %s", S.sim);
    ck_assert_str_ne(S.chat, S.sim);
    ck_assert_msg(strncmp(S.provider, "prv_", 4) == 0, "provider %s", S.provider);
    ck_assert_msg(strncmp(S.bot_key, "byk_", 4) == 0, "bot key %s", S.bot_key);
    ck_assert_msg(strncmp(S.studio_secret, "bys_", 4) == 0, "studio %s", S.studio_secret);
    ck_assert_msg(strncmp(S.webhook_secret, "whsec_", 6) == 0, "webhook %s", S.webhook_secret);
    /* the database lives in a new directory under TMPDIR */
    char prefix[PATH_CAP + 32];
    snprintf(prefix, sizeof prefix, "%s/byocd-sandbox-", S.tmpdir);
    ck_assert_msg(strncmp(S.database, prefix, strlen(prefix)) == 0, "database %s", S.database);
    char dir[PATH_CAP];
    snprintf(dir, sizeof dir, "%s", S.database);
    chop(dir, "/byocd.db");
    ck_assert(dir_exists(dir));
    struct stat st;
    ck_assert_int_eq(stat(S.database, &st), 0);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 077, 0); /* a private directory (mkdtemp) */
    /* both pages answer; the simulator knows where byocd is */
    struct test_resp r;
    char url[URL_CAP * 2];
    snprintf(url, sizeof url, "%s/console", S.sim);
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "<html") != NULL);
    test_resp_release(&r);
    snprintf(url, sizeof url, "%s/", S.chat);
    ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "<html") != NULL);
    test_resp_release(&r);
    cJSON *root = console_root();
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "byocd")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "contacts")), 0);
    cJSON_Delete(root);
}
END_TEST

/* The conversation byocd keeps for the chat's handover, via the bot API (caller deletes). */
static cJSON *only_conversation(void)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", S.bot_key);
    cJSON *page = NULL;
    ck_assert_int_eq(call("GET", S.byocd, "/v1/conversations", NULL, auth, &page), 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 1);
    cJSON *conv = cJSON_Duplicate(cJSON_GetArrayItem(items, 0), true);
    cJSON_Delete(page);
    return conv;
}

/* bot -> 'agent' -> the contact in the console, with the transcript; its number. */
static unsigned long step_handover(const char *chat)
{
    cJSON *v = chat_view(chat);
    assert_str(v, "mode", "bot");
    ck_assert_ptr_nonnull(chat_find(v, "bot", GREETING, NULL));
    cJSON_Delete(v);
    cJSON *c = hand_over(chat, WAIT_MS);
    assert_str(c, "channel_id", CHANNEL);
    ck_assert_msg(strncmp(str_at(c, "thread_id"), "thr_", 4) == 0, "thread %s",
                  str_at(c, "thread_id"));
    assert_str(c, "status", "new");
    ck_assert_ptr_nonnull(contact_message(c, "inbound", "Customer: hello"));
    ck_assert_ptr_nonnull(contact_message(c, "inbound", "Bot: Hello!"));
    unsigned long id = contact_id(c);
    cJSON *conv = only_conversation();
    assert_str(conv, "thread_id", str_at(c, "thread_id"));
    assert_str(conv, "channel_id", CHANNEL);
    cJSON_Delete(conv);
    cJSON_Delete(c);
    wait_chat_mode(chat, "waiting");
    return id;
}

/* The agent replies: the chat shows it with the agent's name and avatar; the customer's answer
 * reaches the console. */
static void step_agent_reply(const char *chat, unsigned long id)
{
    char item[64], avatar[URL_CAP + 32], json[URL_CAP * 2];
    snprintf(avatar, sizeof avatar, "%s/console/avatar.svg", S.sim);
    snprintf(json, sizeof json,
             "{\"text\":\"Hi, I'm Jo. How can I help?\",\"agent\":{\"name\":\"" AGENT
             "\",\"avatar_url\":\"%s\"}}",
             avatar);
    console_act(id, "messages", json, item, sizeof item);
    cJSON *c = wait_item(chat, "messages", item, "sent");
    assert_str(c, "status", "open");
    cJSON_Delete(c);
    cJSON *m = wait_chat(chat, "agent", "Hi, I'm Jo. How can I help?");
    assert_str(m, "agent_name", AGENT);
    assert_str(m, "avatar_url", avatar);
    cJSON_Delete(m);
    cJSON_Delete(wait_chat(chat, "system", AGENT " joined"));
    wait_chat_mode(chat, "agent");
    cJSON *v = chat_view(chat);
    assert_str(cJSON_GetObjectItemCaseSensitive(v, "agent"), "name", AGENT);
    cJSON_Delete(v);
    say(chat, "My order is late");
    cJSON_Delete(wait_contact(chat, "My order is late", WAIT_MS));
}

/* ONRELEASE: the contact closes, the customer is back with the bot, which answers again. */
static void step_release(const char *chat, unsigned long id)
{
    char item[64];
    console_act(id, "events", "{\"event\":\"ONRELEASE\"}", item, sizeof item);
    cJSON *c = wait_item(chat, "events", item, "done");
    assert_str(c, "status", "closed");
    cJSON_Delete(c);
    cJSON_Delete(wait_chat(chat, "system", "The agent closed the conversation."));
    cJSON_Delete(wait_chat(chat, "system", "You're back with the demo bot."));
    wait_chat_mode(chat, "bot");
    cJSON *v = chat_view(chat);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(v, "agent")));
    int bot_before = 0;
    chat_find(v, "bot", NULL, &bot_before);
    cJSON_Delete(v);
    cJSON *conv = only_conversation();
    assert_str(conv, "state", "ended");
    cJSON_Delete(conv);
    say(chat, "thanks");
    cJSON_Delete(wait_chat(chat, "bot", "You're welcome! Anything else?"));
    wait_chat_count(chat, "bot", bot_before + 1);
}

START_TEST(customer_bot_agent_and_back)
{
    char chat[128];
    new_chat(chat, sizeof chat);
    unsigned long id = step_handover(chat);
    step_agent_reply(chat, id);
    step_release(chat, id);
}
END_TEST

START_TEST(handover_survives_injected_503s)
{
    cJSON *m = misbehave("{\"fail\":{\"status\":503,\"count\":3}}");
    ck_assert_int_eq(num_at(m, "failures_left"), 3);
    ck_assert_int_eq(num_at(m, "fail_status"), 503);
    cJSON_Delete(m);
    char chat[128];
    new_chat(chat, sizeof chat);
    cJSON *c = hand_over(chat, RETRY_WAIT_MS);
    cJSON_Delete(c);
    /* byocd met all three failures and tried again */
    cJSON *root = console_root();
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(root, "misbehave");
    ck_assert_int_eq(num_at(mb, "failures_left"), 0);
    ck_assert_int_eq(num_at(mb, "fail_status"), 0);
    cJSON_Delete(root);
    int injected = 0; /* access lines are written when the answer is complete: poll */
    for (long long end = harness_now_ms() + WAIT_MS; injected < 3 && harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        char *log = byocd_log(&B);
        injected = sim_lines(log, NULL, 503);
        free(log);
    }
    ck_assert_int_eq(injected, 3);
    wait_chat_mode(chat, "waiting");
}
END_TEST

/* What is missing in byocd's log from the sequence an expired CXone token should cause, or
 * NULL when it is all there. */
static const char *token_renewal_missing(void)
{
    static const char *const dfo = "/dfo/3.0/channels/" CHANNEL "/messages";
    char *log = byocd_log(&B);
    const char *missing = NULL, *p = sim_line(log, "/console/api/misbehave", 200);
    if (!p)
        missing = "no misbehave line";
    else if (!(p = sim_line(p, dfo, 401)))
        missing = "byocd's old token was not refused";
    else if (!(p = sim_line(p, "/auth/token", 200)))
        missing = "byocd fetched no new token";
    else if (!sim_line(p, dfo, 200))
        missing = "the message was not sent again";
    free(log);
    return missing;
}

START_TEST(expired_cxone_token_is_renewed)
{
    char chat[128];
    new_chat(chat, sizeof chat);
    cJSON_Delete(hand_over(chat, WAIT_MS));
    cJSON *m = misbehave("{\"expire_tokens\":true}");
    cJSON_Delete(m);
    say(chat, "are you still there?");
    cJSON_Delete(wait_contact(chat, "are you still there?", RETRY_WAIT_MS));
    /* in the simulator's access log, after the expiry: refused, a new token, accepted (an
     * access line is written when its answer is complete: poll) */
    const char *missing = "";
    for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(POLL_MS)) {
        missing = token_renewal_missing();
        if (!missing || harness_now_ms() >= end)
            break;
    }
    ck_assert_msg(!missing, "simulator's access log: %s", missing);
}
END_TEST

START_TEST(bot_api_key_works_against_byocd)
{
    char auth[256];
    cJSON *page = NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", S.bot_key);
    ck_assert_int_eq(call("GET", S.byocd, "/v1/conversations", NULL, auth, &page), 200);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(page, "items")));
    cJSON_Delete(page);
    snprintf(auth, sizeof auth, "Authorization: Bearer %sx", S.bot_key);
    ck_assert_int_eq(call("GET", S.byocd, "/v1/conversations", NULL, auth, NULL), 401);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", S.studio_secret);
    ck_assert_int_eq(call("GET", S.byocd, "/v1/conversations", NULL, auth, NULL), 401);
}
END_TEST

START_TEST(sigterm_exits_0_and_removes_the_database)
{
    char dir[PATH_CAP];
    snprintf(dir, sizeof dir, "%s", S.database);
    chop(dir, "/byocd.db");
    char chat[128];
    new_chat(chat, sizeof chat); /* something written, so there is something to remove */
    cJSON_Delete(hand_over(chat, WAIT_MS));
    ck_assert(dir_exists(dir));
    ck_assert_int_gt(dir_entries(dir), 0);
    ck_assert_int_eq(byocd_stop(&B), 0);
    struct stat st;
    ck_assert_msg(stat(dir, &st) != 0 && errno == ENOENT, "%s is still there", dir);
    ck_assert_int_eq(dir_entries(S.tmpdir), 0);
    char *log = byocd_log(&B);
    ck_assert_msg(strstr(log, "\"msg\":\"stopped\"") != NULL, "no \"stopped\" line");
    free(log);
}
END_TEST

/* Ctrl-C while the simulator holds byocd's calls back (Misbehave's delay) stops at once: the
 * sandbox lets go of them before byocd waits for its calls. */
START_TEST(a_stop_does_not_wait_for_held_answers)
{
    cJSON_Delete(misbehave("{\"delay_ms\":10000}"));
    char chat[128];
    new_chat(chat, sizeof chat);
    say(chat, "I want an agent"); /* byocd's post of the transcript is now held for 10 s */
    harness_sleep_ms(1000);
    long long t0 = harness_now_ms();
    ck_assert_int_eq(byocd_stop(&B), 0);
    long long took = harness_now_ms() - t0;
    ck_assert_msg(took < 8000, "stopping took %lld ms: it waited for the held answers", took);
}
END_TEST

/* BYOCD_LISTEN on every interface still gives a sandbox on loopback only: it prints an admin
 * token and lets webhooks reach private addresses. */
START_TEST(listens_on_loopback_whatever_byocd_listen_says)
{
    char tmp[PATH_CAP], env_tmp[PATH_CAP + 16];
    make_tmpdir(tmp, sizeof tmp, true);
    snprintf(env_tmp, sizeof env_tmp, "TMPDIR=%s", tmp);
    const char *const env[] = {env_tmp, "BYOCD_LISTEN=0.0.0.0:0", NULL};
    const char *const args[] = {"sandbox", "--cxone-port", "0", "--bot-port", "0", NULL};
    struct byocd b;
    byocd_start_cmd(&b, NULL, env, args);
    char *log = byocd_log(&b);
    bool loopback = strstr(log, "\"msg\":\"listening\",\"host\":\"127.0.0.1\"") != NULL;
    free(log);
    ck_assert_int_eq(byocd_stop(&b), 0);
    byocd_remove_dir(b.dir);
    ck_assert_int_eq(dir_entries(tmp), 0);
    byocd_remove_dir(tmp);
    ck_assert_msg(loopback, "byocd sandbox did not listen on 127.0.0.1 only");
}
END_TEST

/* ================================================================ refusing to start */

struct run {
    int code; /* exit status, or -1 when it had to be killed */
    char out[OUT_MAX];
    char err[OUT_MAX];
};

static void read_file_into(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void run_child(const char *outdir, const char *tmp, const char *const *args)
{
    char out[PATH_CAP + 16], err[PATH_CAP + 16], env_tmp[PATH_CAP + 16];
    snprintf(out, sizeof out, "%s/stdout.txt", outdir);
    snprintf(err, sizeof err, "%s/stderr.txt", outdir);
    snprintf(env_tmp, sizeof env_tmp, "TMPDIR=%s", tmp);
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
        _exit(127);
    char *argv[16] = {getenv("BYOCD_TEST_BINARY")};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    char *envp[] = {"PATH=/usr/bin:/bin", "BYOCD_LISTEN=127.0.0.1:0", env_tmp, NULL};
    execve(argv[0], argv, envp);
    _exit(127);
}

/* Runs `byocd ARGS` (NULL-terminated) with TMPDIR=tmp until it exits (bounded). */
static void run_byocd(struct run *r, const char *tmp, const char *const *args)
{
    ck_assert_ptr_nonnull(getenv("BYOCD_TEST_BINARY"));
    char outdir[PATH_CAP];
    make_tmpdir(outdir, sizeof outdir, false);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        run_child(outdir, tmp, args);
    int status = 0;
    r->code = -1;
    for (long long end = harness_now_ms() + RUN_TIMEOUT_MS; harness_now_ms() < end;
         harness_sleep_ms(POLL_MS)) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
    }
    if (r->code == -1 && kill(pid, SIGKILL) == 0)
        waitpid(pid, NULL, 0);
    char path[PATH_CAP + 16];
    snprintf(path, sizeof path, "%s/stdout.txt", outdir);
    read_file_into(path, r->out, sizeof r->out);
    snprintf(path, sizeof path, "%s/stderr.txt", outdir);
    read_file_into(path, r->err, sizeof r->err);
    byocd_remove_dir(outdir);
    ck_assert_msg(!strstr(r->err, "Sanitizer") && !strstr(r->err, "runtime error:"), "%s", r->err);
}

static void assert_usage_error(const char *tmp, const char *const *args)
{
    static struct run r;
    run_byocd(&r, tmp, args);
    ck_assert_msg(r.code == 2, "%s %s: exit %d\n%s", args[0], args[1], r.code, r.err);
    ck_assert_msg(strstr(r.err, "usage: byocd") != NULL, "no usage on stderr:\n%s", r.err);
    ck_assert_int_eq(dir_entries(tmp), 0);
}

START_TEST(bad_options_are_usage_errors)
{
    char tmp[PATH_CAP];
    make_tmpdir(tmp, sizeof tmp, true);
    assert_usage_error(tmp, (const char *const[]){"sandbox", "--port", "x", NULL});
    assert_usage_error(tmp, (const char *const[]){"sandbox", "--cxone-port", NULL});
    assert_usage_error(tmp, (const char *const[]){"sandbox", "--bot-port", "65536", NULL});
    assert_usage_error(tmp, (const char *const[]){"sandbox", "--cxone-port", "-1", NULL});
    assert_usage_error(tmp, (const char *const[]){"serve", "--cxone-port", "0", NULL});
    assert_usage_error(tmp, (const char *const[]){"sandbox", "--nope", NULL});
    byocd_remove_dir(tmp);
    memset(left, 0, sizeof *left);
}
END_TEST

/* A listening TCP socket on 127.0.0.1 (a port in use); its port into *port. */
static int occupy_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* `byocd sandbox` with `option` on a port in use: a non-zero exit, a message naming the port,
 * nothing printed for the developer, nothing left in TMPDIR. */
static void assert_port_refused(const char *option, const char *message)
{
    int port = 0, fd = occupy_port(&port);
    char tmp[PATH_CAP], value[16], where[64];
    make_tmpdir(tmp, sizeof tmp, true);
    snprintf(value, sizeof value, "%d", port);
    const char *args[] = {"sandbox", "--cxone-port", "0", "--bot-port", "0", NULL, NULL, NULL};
    if (strcmp(option, "--port") == 0) {
        args[5] = option;
        args[6] = value;
    } else {
        args[strcmp(option, "--cxone-port") == 0 ? 2 : 4] = value;
    }
    static struct run r;
    run_byocd(&r, tmp, args);
    close(fd);
    ck_assert_msg(r.code > 0, "%s %d in use: exit %d\n%s", option, port, r.code, r.err);
    snprintf(where, sizeof where, "127.0.0.1:%d (in use", port);
    ck_assert_msg(strstr(r.err, message) && strstr(r.err, where),
                  "%s %d in use: no \"%s\" naming the port on stderr:\n%s", option, port, message,
                  r.err);
    ck_assert_msg(!strstr(r.out, "Agent console"), "announced anyway:\n%s", r.out);
    ck_assert_msg(dir_entries(tmp) == 0, "%s %d in use: files left in %s", option, port, tmp);
    byocd_remove_dir(tmp);
    memset(left, 0, sizeof *left);
}

START_TEST(a_port_in_use_stops_the_start_cleanly)
{
    assert_port_refused("--cxone-port", "cannot start the sandbox");
    assert_port_refused("--bot-port", "cannot start the sandbox");
    /* byocd's own port fails after the database was made: it must go too */
    assert_port_refused("--port", "cannot listen");
}
END_TEST

/* ================================================================ suite */

static Suite *suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, sandbox_start, sandbox_stop);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, prints_what_a_developer_needs);
    tcase_add_test(tc, customer_bot_agent_and_back);
    tcase_add_test(tc, handover_survives_injected_503s);
    tcase_add_test(tc, expired_cxone_token_is_renewed);
    tcase_add_test(tc, bot_api_key_works_against_byocd);
    tcase_add_test(tc, sigterm_exits_0_and_removes_the_database);
    tcase_add_test(tc, a_stop_does_not_wait_for_held_answers);
    suite_add_tcase(s, tc);

    tc = tcase_create("start");
    tcase_add_checked_fixture(tc, leftovers_clean, NULL);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, bad_options_are_usage_errors);
    tcase_add_test(tc, a_port_in_use_stops_the_start_cleanly);
    tcase_add_test(tc, listens_on_loopback_whatever_byocd_listen_says);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    left = mmap(NULL, sizeof *left, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (left == MAP_FAILED) {
        perror("mmap");
        return EXIT_FAILURE;
    }
    memset(left, 0, sizeof *left);
    int rc = harness_run(suite(), CK_NORMAL);
    leftovers_clean();
    return rc;
}
