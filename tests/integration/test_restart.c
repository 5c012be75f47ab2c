/* Restarts keep everything: providers, channels, messages, the master key (so tokens issued
 * before the restart stay valid), and dedupe across the restart. A 200 survives a crash. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *post_reply(const struct byocd *b, const struct provider *p, const char *auth,
                        const char *body, long *status)
{
    char path[160];
    snprintf(path, sizeof path, "/cxone/%s/box/1.0/posts/t/messages", p->id);
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert(http_json("POST", url, auth, body, &r));
    free(url);
    *status = r.status;
    cJSON *j = test_resp_json(&r);
    const cJSON *id = cJSON_GetObjectItem(j, "idOnExternalPlatform");
    char *s = cJSON_IsString(id) ? strdup(id->valuestring) : NULL;
    cJSON_Delete(j);
    test_resp_release(&r);
    return s;
}

static int count_messages(const struct byocd *b, const struct provider *p)
{
    char path[160];
    snprintf(path, sizeof path, "/admin/v1/providers/%s/agent-messages?limit=500", p->id);
    char *url = byocd_url(b, path);
    struct test_resp r;
    ck_assert(http_json("GET", url, b->admin_auth, NULL, &r));
    ck_assert_int_eq(r.status, 200);
    cJSON *j = test_resp_json(&r);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
    cJSON_Delete(j);
    test_resp_release(&r);
    free(url);
    return n;
}

START_TEST(graceful_restart_keeps_everything)
{
    struct byocd b;
    struct provider p;
    byocd_start(&b, NULL, NULL);
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char *token = cxone_token(&b, &p), *auth = bearer_line(token);
    long status = 0;
    char *id1 = post_reply(&b, &p, auth, "{\"id\":\"r-1\",\"text\":\"before\"}", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(byocd_stop(&b), 0);

    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, NULL);
    char *again = post_reply(&b, &p, auth, "{\"id\":\"r-1\",\"text\":\"retry\"}", &status);
    ck_assert_int_eq(status, 200); /* the old token is still valid: same master key */
    ck_assert_str_eq(id1, again);  /* dedupe survives the restart */
    ck_assert_int_eq(count_messages(&b, &p), 1);
    char *fresh = cxone_token(&b, &p); /* the client secret still matches its stored hash */
    ck_assert_int_eq(byocd_stop(&b), 0);
    free(fresh);
    free(again);
    free(id1);
    free(token);
    free(auth);
    provider_release(&p);
}
END_TEST

START_TEST(acknowledged_reply_survives_a_crash)
{
    struct byocd b;
    struct provider p;
    byocd_start(&b, NULL, NULL);
    provider_create(&b, "http://127.0.0.1:9", NULL, &p);
    char *token = cxone_token(&b, &p), *auth = bearer_line(token);
    long status = 0;
    char *ids[20];
    for (int i = 0; i < 20; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"id\":\"crash-%d\",\"text\":\"m\"}", i);
        ids[i] = post_reply(&b, &p, auth, body, &status);
        ck_assert_int_eq(status, 200);
    }
    byocd_kill(&b); /* SIGKILL right after the last 200 */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    byocd_start(&b, dir, NULL);
    ck_assert_int_eq(count_messages(&b, &p), 20);
    char *again = post_reply(&b, &p, auth, "{\"id\":\"crash-19\",\"text\":\"m\"}", &status);
    ck_assert_str_eq(again, ids[19]);
    ck_assert_int_eq(byocd_stop(&b), 0);
    for (int i = 0; i < 20; i++)
        free(ids[i]);
    free(again);
    free(token);
    free(auth);
    provider_release(&p);
}
END_TEST

START_TEST(master_key_file_private)
{
    struct byocd b;
    byocd_start(&b, NULL, NULL);
    char path[300];
    snprintf(path, sizeof path, "%s/master.key", b.dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char *log = byocd_log(&b);
    ck_assert_ptr_nonnull(strstr(log, "generated a new master key"));
    free(log);
    ck_assert_int_eq(byocd_stop(&b), 0);
    chmod(path, 0644); /* byocd refuses a key others can read */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", b.dir);
    pid_t pid = fork();
    if (pid == 0) {
        char db[300];
        snprintf(db, sizeof db, "BYOCD_DATABASE=%s/byocd.db", dir);
        char *env[] = {"BYOCD_LISTEN=127.0.0.1:0", db, NULL};
        char *args[] = {getenv("BYOCD_TEST_BINARY"), "serve", NULL};
        if (!freopen("/dev/null", "w", stderr))
            _exit(126);
        execve(args[0], args, env);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("restart");
    TCase *tc = tcase_create("restart");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, graceful_restart_keeps_everything);
    tcase_add_test(tc, acknowledged_reply_survives_a_crash);
    tcase_add_test(tc, master_key_file_private);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run(suite(), CK_NORMAL);
}
