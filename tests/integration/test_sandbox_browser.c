/* `byocd sandbox` in a real browser: the sandbox runs here (byocd, the CXone simulator and the
 * demo bot in one process), and tests/browser/sandbox_loop.mjs drives Debian's headless
 * Chromium through the whole loop: the customer asks the demo bot for an agent, the handover
 * appears in the agent console with the transcript, the agent replies, the customer sees the
 * reply with the agent's name and avatar, and ONRELEASE gives the customer back to the bot.
 * Screenshots go to $BYOCD_ARTIFACT_DIR (tests/meson.build sets it), else a new directory in
 * /tmp that is kept and named on stdout. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 90
#define NODE_TIMEOUT_MS 60000   /* the script stops itself after 45 s; this is the backstop */
#define BANNER_TIMEOUT_MS 10000 /* the URLs are printed right after byocd listens */
#define URL_MAX 256
#define SCRIPT "/tests/browser/sandbox_loop.mjs"
#define CHAT_LABEL "Customer chat (demo bot)"
#define CONSOLE_LABEL "Agent console (CXone sim)"
#define BYOCD_LABEL "byocd "
/* What the customer must see: the console's default agent, and a field the demo bot sets. */
#define AGENT_NAME "Jo Agent"
#define FIELD_IDENT "source"
#define FIELD_VALUE "sandbox demo chat"
#define REPLY_TEXT "Hi, this is Jo from support. How can I help?"

/* The sandbox runs in the runner process, so a failed check cannot leave it behind. */
static struct byocd B;

/* The loopback URL at the start of s (after blanks), up to a blank or the end of the line. */
static bool url_at(const char *s, char *url, size_t cap)
{
    s += strspn(s, " ");
    size_t n = strcspn(s, " \n");
    if (n == 0 || n >= cap || strncmp(s, "http://127.0.0.1:", 17) != 0)
        return false;
    memcpy(url, s, n);
    url[n] = '\0';
    return true;
}

/* The URL printed after label at the start of a line of out: false when no such line yet. */
static bool printed_url(const char *out, const char *label, char *url, size_t cap)
{
    for (const char *line = out; line && *line;) {
        line += strspn(line, " ");
        if (strncmp(line, label, strlen(label)) == 0 && url_at(line + strlen(label), url, cap))
            return true;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return false;
}

struct urls {
    char chat[URL_MAX], console[URL_MAX], byocd[URL_MAX];
};

/* Polls the sandbox's stdout until it names all three addresses. */
static void sandbox_urls(const struct byocd *b, struct urls *u)
{
    bool ok = false;
    char *out = NULL;
    for (long long end = harness_now_ms() + BANNER_TIMEOUT_MS; !ok && harness_now_ms() < end;) {
        free(out);
        out = byocd_stdout(b);
        ok = printed_url(out, CHAT_LABEL, u->chat, sizeof u->chat) &&
             printed_url(out, CONSOLE_LABEL, u->console, sizeof u->console) &&
             printed_url(out, BYOCD_LABEL, u->byocd, sizeof u->byocd);
        if (!ok)
            harness_sleep_ms(50);
    }
    ck_assert_msg(ok, "the sandbox did not print its three URLs; its stdout:\n%s", out);
    free(out);
}

/* scheme://host:port of url, with no path. */
static char *origin_of(const char *url)
{
    const char *host = strstr(url, "://");
    ck_assert_ptr_nonnull(host);
    size_t n = (size_t)(host + 3 - url) + strcspn(host + 3, "/");
    return strndup(url, n);
}

/* The script's argument (sandbox_loop.mjs says what each key means); malloc'd. */
static char *script_arg(const struct urls *u, const char *dir)
{
    cJSON *arg = cJSON_CreateObject(), *origins = cJSON_CreateArray();
    cJSON *field = cJSON_CreateObject();
    ck_assert(arg && origins && field);
    cJSON_AddStringToObject(arg, "chatUrl", u->chat);
    cJSON_AddStringToObject(arg, "consoleUrl", u->console);
    const char *urls[] = {u->chat, u->console, u->byocd};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *o = origin_of(urls[i]);
        cJSON_AddItemToArray(origins, cJSON_CreateString(o));
        free(o);
    }
    cJSON_AddItemToObject(arg, "origins", origins);
    cJSON_AddStringToObject(arg, "agentName", AGENT_NAME);
    cJSON_AddStringToObject(field, "ident", FIELD_IDENT);
    cJSON_AddStringToObject(field, "value", FIELD_VALUE);
    cJSON_AddItemToObject(arg, "customField", field);
    cJSON_AddStringToObject(arg, "replyText", REPLY_TEXT);
    cJSON_AddStringToObject(arg, "artifactDir", dir);
    char *text = cJSON_PrintUnformatted(arg);
    cJSON_Delete(arg);
    ck_assert_ptr_nonnull(text);
    return text;
}

static void sandbox_up(void)
{
    byocd_start_cmd(&B, NULL, NULL,
                    (const char *[]){"sandbox", "--cxone-port", "0", "--bot-port", "0", NULL});
}

/* Stops the sandbox; keeps its directory (and says so) unless it exited 0 with a clean log. */
static void sandbox_down(void)
{
    byocd_stop_and_clean(&B);
}

START_TEST(test_sandbox_loop_in_chromium)
{
    struct urls u;
    sandbox_urls(&B, &u);
    /* Three separate listeners: the browser may talk to these origins and no others. */
    ck_assert_str_ne(u.chat, u.console);
    char dir[1024];
    harness_artifact_dir(dir, sizeof dir);
    char *arg = script_arg(&u, dir);
    int status = harness_run_node(SCRIPT, arg, NODE_TIMEOUT_MS);
    free(arg);
    printf("browser screenshots: %s\n", dir);
    ck_assert_msg(status == 0, "sandbox_loop.mjs exited with %d (see its messages above)", status);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sandbox_browser");
    TCase *tc = tcase_create("loop");
    tcase_add_unchecked_fixture(tc, sandbox_up, sandbox_down);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, test_sandbox_loop_in_chromium);
    suite_add_tcase(s, tc);
    return harness_run(s, CK_ENV);
}
