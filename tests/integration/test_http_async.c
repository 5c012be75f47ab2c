/* The HTTP layer's parking: a request answered before its resume (a refused background job)
 * and one resumed from another thread both complete, and nothing stays parked at stop. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byoc/http.h"
#include "harness.h"
#include "testhttp.h"

static void cont_ok(struct byoc_req *req)
{
    byoc_reply_json(req, 200, cJSON_CreateObject());
}

/* Like a task pool that refuses the job: park, answer, resume at once. */
static void h_refused(struct byoc_req *req)
{
    byoc_req_suspend(req, cont_ok);
    byoc_reply_error(req, BYOC_ERR_OVERLOADED, NULL);
    byoc_req_resume(req);
}

static void *resume_later(void *arg)
{
    usleep(100 * 1000);
    byoc_req_resume(arg);
    return NULL;
}

static void h_parked(struct byoc_req *req)
{
    pthread_t t;
    byoc_req_suspend(req, cont_ok);
    pthread_create(&t, NULL, resume_later, req);
    pthread_detach(t);
}

static const struct byoc_route routes[] = {
    {"GET", "/refused", h_refused, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
    {"GET", "/parked", h_parked, 0, BYOC_BODY_NONE, 0, BYOC_ERRSTYLE_JSON, false},
};

START_TEST(parked_requests_all_complete)
{
    struct byoc_http_config cfg = {.host = "127.0.0.1",
                                   .max_connections = 16,
                                   .idle_timeout_s = 5,
                                   .routes = routes,
                                   .nroutes = 2};
    struct byoc_http *h = NULL;
    char why[128];
    ck_assert_int_eq(byoc_http_start(&cfg, &h, why, sizeof why), BYOC_ERR_OK);
    char url[64];
    for (int i = 0; i < 5; i++) {
        struct test_resp r;
        snprintf(url, sizeof url, "http://127.0.0.1:%d/refused", byoc_http_port(h));
        ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
        ck_assert_int_eq(r.status, 503);
        test_resp_release(&r);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/parked", byoc_http_port(h));
        ck_assert(test_http("GET", url, NULL, NULL, 0, &r));
        ck_assert_int_eq(r.status, 200);
        test_resp_release(&r);
    }
    ck_assert_msg(byoc_http_stop(h), "requests were left parked"); /* clean stop */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_async");
    TCase *tc = tcase_create("parking");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parked_requests_all_complete);
    suite_add_tcase(s, tc);
    return harness_run(s, CK_NORMAL);
}
