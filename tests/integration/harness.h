/* Integration harness: runs the real byocd binary on 127.0.0.1 (port 0) with its own database
 * directory, captures its log, and offers helpers the suites share.
 *
 * Linking it also checks the program's answers against openapi/byocd.yaml: everything
 * test_http() receives and every webhook the fake bot receiver gets is recorded
 * (BYOCD_RESPONSE_LOG, testhttp.h), and at exit tests/openapi/validate_responses.mjs checks
 * the record; a mismatch makes the program fail after the validator's report. */
#ifndef BYOCD_TEST_HARNESS_H
#define BYOCD_TEST_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "cxsim_test.h"
#include "testhttp.h"

#define HARNESS_ADMIN_TOKEN "test-admin-token-0123456789abcdef"
#define HARNESS_PUBLIC_URL "https://byocd.example.test"

struct byocd {
    pid_t pid;
    int port;
    char dir[256];        /* holds byocd.db, master.key, stdout.txt, stderr.log */
    char base[64];        /* http://127.0.0.1:PORT */
    char admin_auth[128]; /* "Authorization: Bearer ..." */
};

/* Starts byocd. dir NULL: a new temporary directory; else reuse (restart). extra_env: NULL or a
 * NULL-terminated list of "KEY=VALUE". Aborts the test on failure. */
void byocd_start(struct byocd *b, const char *dir, const char *const *extra_env);
/* byocd_start() running `byocd ARGS...` (args: NULL-terminated, at most 16; NULL:
 * "serve"), e.g. {"sandbox", "--cxone-port", "0", "--bot-port", "0", NULL}. */
void byocd_start_cmd(struct byocd *b, const char *dir, const char *const *extra_env,
                     const char *const *args);
/* SIGTERM and wait; returns the exit status (or -1 if it had to be killed). */
int byocd_stop(struct byocd *b);
/* SIGKILL and wait (crash). */
void byocd_kill(struct byocd *b);
/* Full URL for a path, malloc'd. */
char *byocd_url(const struct byocd *b, const char *path);
/* The whole stderr log so far, malloc'd. */
char *byocd_log(const struct byocd *b);
/* The whole stdout so far, malloc'd. */
char *byocd_stdout(const struct byocd *b);

/* method path on b with auth ("Authorization: ..." line or NULL) and a JSON body (or NULL); fails
 * the test when nothing answers. Writes the status; returns the parsed body (NULL when it is not
 * JSON), which the caller frees. */
cJSON *byocd_call(const struct byocd *b, const char *auth, const char *method, const char *path,
                  const char *body, long *status);
/* byocd_call() that fails the test (with the body) unless the status is want. */
cJSON *byocd_call_ok(const struct byocd *b, const char *auth, const char *method, const char *path,
                     const char *body, long want);
/* Registers channel_id (named "Chat") with the provider in byocd (admin API, asserts 201) and at
 * the fake CXone, so that conversations can open on it. */
void byocd_channel_register(const struct byocd *b, struct byoc_cxsim *f, const char *provider_id,
                            const char *channel_id);
/* True when b's log so far holds a sanitizer report (ASan, LSan or UBSan). */
bool byocd_sanitizer_report(const struct byocd *b);
/* Teardown of an unchecked fixture (runner process): stops b, removes its directory when it
 * exited 0 with no sanitizer report; else keeps it, names it on stderr and harness_fail_run(). */
void byocd_stop_and_clean(struct byocd *b);
/* Removes dir with every file and subdirectory below it; best effort (a missing dir is fine). */
void byocd_remove_dir(const char *dir);

/* Where a test leaves files for people to look at (screenshots): $BYOCD_ARTIFACT_DIR, else a new
 * directory under /tmp. */
void harness_artifact_dir(char *out, size_t cap);
/* Runs node on $BYOCD_SOURCE_ROOT/script (e.g. "/tests/browser/x.mjs") with one argument
 * ($BYOCD_NODE or node from PATH); its exit status, or -1 when it was killed after timeout_ms.
 * posix_spawn, not fork: the caller's threads (a CXone simulator) keep running. */
int harness_run_node(const char *script, const char *arg, long long timeout_ms);
/* CLOCK_MONOTONIC in milliseconds, for bounded waits. */
long long harness_now_ms(void);
/* Sleeps ms milliseconds (a signal may cut it short). */
void harness_sleep_ms(long ms);
/* Percent-encodes all but RFC 3986 unreserved characters of in into out (cap bytes, always
 * NUL-terminated; stops early rather than overflow). */
void harness_pct_encode(const char *in, char *out, size_t cap);
/* Marks this process's run failed though every test may pass (a fixture found a mess); call
 * from the runner process, i.e. unchecked fixtures or main(). */
void harness_fail_run(void);
/* Runs s with srunner_run_all(mode); EXIT_SUCCESS when every test passed and nothing called
 * harness_fail_run(), else EXIT_FAILURE. Frees s. */
int harness_run(Suite *s, enum print_output mode);

/* JSON request with optional bearer ("Authorization: ..." header line or NULL). */
bool http_json(const char *method, const char *url, const char *auth_header, const char *body,
               struct test_resp *out);

/* A provider created through the admin API, pointing its CXone URLs at cxone_base. */
struct provider {
    char id[64], client_id[64], client_secret[128], bot_api_key[128], webhook_secret[128],
        studio_secret[128];
    cJSON *created; /* the whole 201 body */
};
void provider_create(const struct byocd *b, const char *cxone_base, const char *integration_id,
                     struct provider *out);
/* The same with a "settings" object (JSON text, or NULL). */
void provider_create_with(const struct byocd *b, const char *cxone_base, const char *integration_id,
                          const char *settings, struct provider *out);
/* The same with the provider's webhook_url (its first webhook subscription; the others point
 * at http://127.0.0.1:9/hook, where nothing listens). */
void provider_create_hook(const struct byocd *b, const char *cxone_base, const char *integration_id,
                          const char *settings, const char *webhook_url, struct provider *out);
void provider_release(struct provider *p);
/* Token from /cxone/{id}/auth/token with JSON client credentials; malloc'd. */
char *cxone_token(const struct byocd *b, const struct provider *p);
/* "Authorization: Bearer <token>" line, malloc'd. */
char *bearer_line(const char *token);
/* An agent's text reply as CXone posts it to p's box in thread, message id "agent-msg-<n>",
 * agent "Ada Agent"; auth is the CXone bearer line. Fails the test unless byocd answers 200. */
void byocd_agent_reply(const struct byocd *b, const struct provider *p, const char *auth,
                       const char *thread, int n, const char *text);

#endif
