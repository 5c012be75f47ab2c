/* The operator commands (byocd provider|channel|deliveries|backup|doctor) against the database
 * of a byocd that is serving at the same time: what they print, their exit codes, and that the
 * server sees what they changed. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxsim_test.h"
#include "fake_receiver.h"
#include "harness.h"
#include "byoc/banned.h"

#define TCASE_TIMEOUT_S 90
#define OUT_MAX (256 * 1024)
#define CHANNEL "chat-1"
#define WAIT_MS 15000

static struct byocd B;
static struct byoc_cxsim *F;
static struct fake_receiver *R;
static const char *db_override; /* another BYOCD_DATABASE for the next commands, or NULL */

struct run {
    int code;
    char out[OUT_MAX]; /* stdout and stderr together */
};

/* Runs the byocd binary with args (NULL-terminated) in the server's configuration. */
static void cli(struct run *r, const char *const *args)
{
    char path[512], env_db[600], env_url[128];
    snprintf(path, sizeof path, "%s/cli-out.txt", B.dir);
    if (db_override)
        snprintf(env_db, sizeof env_db, "BYOCD_DATABASE=%s", db_override);
    else
        snprintf(env_db, sizeof env_db, "BYOCD_DATABASE=%s/byocd.db", B.dir);
    snprintf(env_url, sizeof env_url, "BYOCD_PUBLIC_URL=%s", HARNESS_PUBLIC_URL);
    const char *bin = getenv("BYOCD_TEST_BINARY");
    ck_assert_ptr_nonnull(bin);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[32] = {(char *)bin};
        int n = 1;
        for (; args[n - 1] && n < 31; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        char *envp[] = {env_db, env_url, "BYOCD_WEBHOOK_ALLOW_PRIVATE=1",
                        "BYOCD_LISTEN=127.0.0.1:9", NULL};
        execve(bin, argv, envp);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(r->out, 1, OUT_MAX - 1, f);
    r->out[n] = '\0';
    fclose(f);
    ck_assert_msg(!strstr(r->out, "Sanitizer") && !strstr(r->out, "runtime error:"), "%s", r->out);
}

#define CLI(r, ...)                                                                                \
    do {                                                                                           \
        const char *const args_[] = {__VA_ARGS__, NULL};                                           \
        cli(r, args_);                                                                             \
    } while (0)

/* The value after "label" up to the end of its line, into out. */
static void field(const char *text, const char *label, char *out, size_t cap)
{
    const char *p = strstr(text, label);
    ck_assert_msg(p != NULL, "no \"%s\" in:\n%s", label, text);
    p += strlen(label);
    p += strspn(p, " ");
    size_t n = strcspn(p, "\n");
    ck_assert_uint_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static long status_of(const char *method, const char *path, const char *auth, const char *body)
{
    char *url = byocd_url(&B, path);
    struct test_resp r;
    ck_assert_msg(http_json(method, url, auth, body, &r), "%s %s", method, path);
    free(url);
    long st = r.status;
    test_resp_release(&r);
    return st;
}

static long token_status(const char *provider, const char *client_id, const char *secret)
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/cxone/%s/auth/token", provider);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"grant_type\":"
             "\"client_credentials\"}",
             client_id, secret);
    return status_of("POST", path, NULL, body);
}

static long bot_status(const char *key)
{
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    return status_of("GET", "/v1/conversations", auth, NULL);
}

struct created {
    char id[64], client_id[64], client_secret[128], bot_key[128];
};

/* byocd provider create --json FILE with the fake CXone and the receiver's /hook. */
static void create_provider(struct created *c)
{
    char json[1024], path[512];
    snprintf(json, sizeof json,
             "{\"name\":\"CLI bot\",\"webhook_url\":\"%s/hook\",\"cxone\":{\"auth_url\":"
             "\"%s/auth/token\",\"api_base_url\":\"%s\",\"client_id\":\"client-id\","
             "\"client_secret\":\"client-secret\",\"access_key_id\":\"key-id\","
             "\"access_key_secret\":\"key-secret\"}}",
             fake_receiver_url(R), byoc_cxsim_url(F), byoc_cxsim_url(F));
    snprintf(path, sizeof path, "%s/provider.json", B.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    static struct run r;
    CLI(&r, "provider", "create", "--json", path);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.out);
    field(r.out, "created provider", c->id, sizeof c->id);
    field(r.out, "Client ID", c->client_id, sizeof c->client_id);
    field(r.out, "Client Secret", c->client_secret, sizeof c->client_secret);
    field(r.out, "Bot API key", c->bot_key, sizeof c->bot_key);
    char url[256];
    snprintf(url, sizeof url, HARNESS_PUBLIC_URL "/cxone/%s/box", c->id);
    ck_assert_msg(strstr(r.out, url), "no box URL in:\n%s", r.out);
}

static void setup(void)
{
    F = test_cxsim_start();
    R = fake_receiver_start();
    byocd_start(&B, NULL, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(byocd_stop(&B), 0);
    fake_receiver_stop(R);
    byoc_cxsim_stop(F);
}

START_TEST(provider_create_list_show_delete)
{
    struct created c;
    create_provider(&c);
    /* the running server accepts what the CLI printed */
    ck_assert_int_eq(token_status(c.id, c.client_id, c.client_secret), 200);
    ck_assert_int_eq(bot_status(c.bot_key), 200);
    static struct run r;
    CLI(&r, "provider", "list");
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, c.id) && strstr(r.out, "CLI bot"), "%s", r.out);
    CLI(&r, "provider", "show", c.id);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "/actions/add") && strstr(r.out, "shown once"), "%s", r.out);
    ck_assert_msg(!strstr(r.out, c.client_secret), "show printed the secret");
    CLI(&r, "provider", "show", "prv_missing");
    ck_assert_int_eq(r.code, 3);
    CLI(&r, "provider", "delete", c.id);
    ck_assert_int_eq(r.code, 2); /* needs --yes */
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s", c.id);
    ck_assert_int_eq(status_of("GET", path, B.admin_auth, NULL), 200);
    CLI(&r, "provider", "delete", c.id, "--yes");
    ck_assert_msg(r.code == 0, "%s", r.out);
    ck_assert_int_eq(status_of("GET", path, B.admin_auth, NULL), 404);
}
END_TEST

START_TEST(bad_input_changes_nothing)
{
    static struct run r;
    CLI(&r, "provider");
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "provider", "frobnicate");
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "provider", "create");
    ck_assert_int_eq(r.code, 2);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", B.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\":\"x\",\"webhook_url\":\"ftp://nope\"}", f);
    fclose(f);
    CLI(&r, "provider", "create", "--json", path);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.out, "provider create:"), "%s", r.out);
    CLI(&r, "provider", "list");
    ck_assert_msg(strstr(r.out, "no provider"), "%s", r.out);
    CLI(&r, "--help");
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "doctor") && strstr(r.out, "Exit codes"), "%s", r.out);
}
END_TEST

/* Sets the schema version of the served database (a server reads it only at start). */
static void set_user_version(int v)
{
    char path[600], sql[64];
    snprintf(path, sizeof path, "%s/byocd.db", B.dir);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int get_user_version(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/byocd.db", B.dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

START_TEST(older_schema_is_not_migrated_under_the_server)
{
    static struct run r;
    CLI(&r, "provider", "list");
    ck_assert_int_eq(r.code, 0);
    int current = get_user_version();
    ck_assert_int_gt(current, 1);
    set_user_version(1); /* as if this binary were newer than the database */
    CLI(&r, "doctor");
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.out, "byocd migrate"), "%s", r.out);
    ck_assert_int_eq(get_user_version(), 1); /* left as it was */
    set_user_version(current);
    CLI(&r, "provider", "list");
    ck_assert_int_eq(r.code, 0);
}
END_TEST

START_TEST(missing_database_or_key_is_not_created)
{
    char other[512], key[600];
    snprintf(other, sizeof other, "%s/elsewhere/typo.db", B.dir);
    db_override = other;
    static struct run r;
    CLI(&r, "doctor");
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.out, "no database at"), "%s", r.out);
    ck_assert_int_ne(access(other, F_OK), 0);
    /* a database whose key is gone: refused, and no new key is written */
    snprintf(other, sizeof other, "%s/copy.db", B.dir);
    CLI(&r, "provider", "list"); /* still refused: copy.db does not exist yet */
    ck_assert_int_eq(r.code, 2);
    db_override = NULL;
    CLI(&r, "backup", other);
    ck_assert_int_eq(r.code, 0);
    char moved[600];
    snprintf(moved, sizeof moved, "%s/sub", B.dir);
    ck_assert_int_eq(mkdir(moved, 0700), 0);
    snprintf(moved, sizeof moved, "%s/sub/copy.db", B.dir);
    ck_assert_int_eq(rename(other, moved), 0);
    db_override = moved;
    CLI(&r, "provider", "list");
    db_override = NULL;
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.out, "master key"), "%s", r.out);
    snprintf(key, sizeof key, "%s/sub/master.key", B.dir);
    ck_assert_int_ne(access(key, F_OK), 0);
}
END_TEST

START_TEST(rotate_secrets)
{
    struct created c;
    create_provider(&c);
    static struct run r;
    char fresh[128];
    CLI(&r, "provider", "rotate-secret", c.id);
    ck_assert_msg(r.code == 0, "%s", r.out);
    field(r.out, "Client Secret", fresh, sizeof fresh);
    ck_assert_str_ne(fresh, c.client_secret);
    ck_assert_int_eq(token_status(c.id, c.client_id, c.client_secret), 401);
    ck_assert_int_eq(token_status(c.id, c.client_id, fresh), 200);
    CLI(&r, "provider", "rotate-secret", c.id, "--secret", "bot");
    ck_assert_msg(r.code == 0, "%s", r.out);
    const char *key = strstr(r.out, "byk_");
    ck_assert_ptr_nonnull(key);
    snprintf(fresh, strcspn(key, "\n") + 1, "%s", key);
    ck_assert_int_eq(bot_status(c.bot_key), 401);
    ck_assert_int_eq(bot_status(fresh), 200);
    CLI(&r, "provider", "rotate-secret", c.id, "--secret", "everything");
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "provider", "rotate-secret", "prv_missing");
    ck_assert_int_eq(r.code, 3);
}
END_TEST

START_TEST(channels_seen_by_the_server)
{
    struct created c;
    create_provider(&c);
    static struct run r;
    CLI(&r, "channel", "add", c.id, CHANNEL, "--name", "Web chat", "--skill", "4711");
    ck_assert_msg(r.code == 0, "%s", r.out);
    CLI(&r, "channel", "list", c.id);
    ck_assert_msg(strstr(r.out, CHANNEL) && strstr(r.out, "Web chat") && strstr(r.out, "4711"),
                  "%s", r.out);
    char path[128];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/channels", c.id);
    char *url = byocd_url(&B, path);
    struct test_resp resp;
    ck_assert(http_json("GET", url, B.admin_auth, NULL, &resp));
    ck_assert_msg(strstr(resp.body, CHANNEL), "%s", resp.body);
    test_resp_release(&resp);
    CLI(&r, "channel", "add", c.id, "has space", "--name", "x");
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "channel", "add", "prv_missing", CHANNEL, "--name", "x");
    ck_assert_int_eq(r.code, 3);
    CLI(&r, "channel", "remove", c.id, CHANNEL);
    ck_assert_int_eq(r.code, 0);
    CLI(&r, "channel", "remove", c.id, CHANNEL);
    ck_assert_int_eq(r.code, 3);
    ck_assert(http_json("GET", url, B.admin_auth, NULL, &resp));
    ck_assert_msg(!strstr(resp.body, CHANNEL), "%s", resp.body);
    test_resp_release(&resp);
    free(url);
}
END_TEST

/* A conversation opened through the bot API: CXone accepts it, so an event goes out. */
static void open_conversation(const struct created *c)
{
    static struct run r;
    CLI(&r, "channel", "add", c->id, CHANNEL, "--name", "Chat");
    ck_assert_int_eq(r.code, 0);
    byoc_cxsim_add_channel(F, CHANNEL, "Chat", NULL);
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->bot_key);
    ck_assert_int_eq(status_of("POST", "/v1/conversations", auth,
                               "{\"end_user\":{\"id\":\"u-1\"},\"transcript\":[{\"role\":\"user\","
                               "\"text\":\"agent please\"}]}"),
                     201);
}

START_TEST(dead_deliveries_listed_and_replayed)
{
    struct created c;
    create_provider(&c);
    fake_receiver_fail_next(R, "/hook", 1, 410); /* the first event kills the subscription */
    open_conversation(&c);
    static struct run r;
    bool dead = false;
    for (int i = 0; i < WAIT_MS / 100 && !dead; i++) {
        CLI(&r, "deliveries", "list", "--state", "dead", "--provider", c.id);
        dead = strstr(r.out, "conversation.") != NULL;
        if (!dead)
            usleep(100 * 1000);
    }
    ck_assert_msg(dead, "no dead delivery listed:\n%s", r.out);
    ck_assert_msg(strstr(r.out, "410"), "the last error is not shown:\n%s", r.out);
    size_t before = fake_receiver_count(R, "/hook");
    CLI(&r, "deliveries", "replay", "--provider", c.id);
    ck_assert_msg(r.code == 0, "%s", r.out);
    ck_assert_msg(!strstr(r.out, "\n0 deliveries") && strncmp(r.out, "0 ", 2) != 0, "%s", r.out);
    /* the running server picks the replay up by itself */
    ck_assert(fake_receiver_wait(R, "/hook", before + 1, WAIT_MS));
    CLI(&r, "deliveries", "replay", "--provider", "prv_missing");
    ck_assert_int_eq(r.code, 3);
    CLI(&r, "deliveries", "list", "--provider", "prv_missing");
    ck_assert_int_eq(r.code, 3);
    CLI(&r, "deliveries", "replay", "dlv_missing");
    ck_assert_int_eq(r.code, 3);
    CLI(&r, "deliveries", "replay");
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "deliveries", "list", "--state", "gone");
    ck_assert_int_eq(r.code, 2);
}
END_TEST

START_TEST(backup_while_serving)
{
    struct created c;
    create_provider(&c);
    open_conversation(&c);
    char dest[512];
    snprintf(dest, sizeof dest, "%s/copy.db", B.dir);
    static struct run r;
    CLI(&r, "backup", dest);
    ck_assert_msg(r.code == 0, "%s", r.out);
    ck_assert_msg(strstr(r.out, "master.key"), "%s", r.out);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM providers), (SELECT count(*) "
                                        "FROM conversations)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    ck_assert_int_eq(sqlite3_column_int(st, 1), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CLI(&r, "backup", dest); /* never overwrites */
    ck_assert_int_eq(r.code, 2);
    CLI(&r, "backup");
    ck_assert_int_eq(r.code, 2);
}
END_TEST

START_TEST(doctor_passes_then_names_the_fix)
{
    struct created c;
    create_provider(&c);
    static struct run r;
    CLI(&r, "channel", "add", c.id, CHANNEL, "--name", "Chat");
    CLI(&r, "doctor", c.id);
    ck_assert_msg(r.code == 0, "exit %d:\n%s", r.code, r.out);
    ck_assert_msg(strstr(r.out, "PASS  CXone token") && strstr(r.out, "PASS  CXone API") &&
                      strstr(r.out, "PASS  webhook") && strstr(r.out, "PASS  database"),
                  "%s", r.out);
    ck_assert_uint_ge(fake_receiver_count(R, "/hook"), 1); /* the signed ping */
    /* a webhook that fails and credentials CXone refuses: FAIL lines with a fix, exit 4 */
    fake_receiver_fail_next(R, "/hook", 1, 500);
    byoc_cxsim_fail_next(F, "/auth/token", 401, 1, 0);
    CLI(&r, "doctor", c.id);
    ck_assert_msg(r.code == 4, "exit %d:\n%s", r.code, r.out);
    ck_assert_msg(strstr(r.out, "FAIL  CXone token") && strstr(r.out, "FAIL  webhook") &&
                      strstr(r.out, "fix: "),
                  "%s", r.out);
    CLI(&r, "doctor", "prv_missing");
    ck_assert_int_eq(r.code, 4);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_test(tc, provider_create_list_show_delete);
    tcase_add_test(tc, bad_input_changes_nothing);
    tcase_add_test(tc, rotate_secrets);
    tcase_add_test(tc, missing_database_or_key_is_not_created);
    tcase_add_test(tc, older_schema_is_not_migrated_under_the_server);
    tcase_add_test(tc, channels_seen_by_the_server);
    tcase_add_test(tc, dead_deliveries_listed_and_replayed);
    tcase_add_test(tc, backup_while_serving);
    tcase_add_test(tc, doctor_passes_then_names_the_fix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(cli_suite(), CK_NORMAL);
}
