/* The ceiling of the benchmarks: the smallest libmicrohttpd server that answers every request
 * with a constant JSON body, started with the same daemon flags and options as byocd's
 * (src/http/server.c: one internal polling thread with epoll, suspend/resume allowed, the same
 * connection limit, idle timeout and per-connection memory). A request body is read and
 * dropped. Whatever byocd does per request costs throughput relative to this.
 *
 *   bench-ceiling PORT      listens on 127.0.0.1:PORT until SIGINT or SIGTERM
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "byoc/limits.h"
#include "byoc/banned.h"

#define CEILING_BODY "{\"status\":\"ok\"}"
#define CEILING_PORT_MAX 65535

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    static int first_call_marker;
    if (!*con_cls) { /* headers only: wait for the body, as byocd does */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp = cls;
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || !end || *end || port < 1 || port > CEILING_PORT_MAX) {
        fprintf(stderr, "usage: bench-ceiling PORT\n");
        return 2;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(CEILING_BODY), (void *)CEILING_BODY, MHD_RESPMEM_PERSISTENT);
    if (!resp || MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES)
        return 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, resp, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)BYOC_HTTP_MAX_CONNECTIONS_DEFAULT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)BYOC_HTTP_IDLE_TIMEOUT_DEFAULT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)BYOC_HTTP_CONN_MEMORY, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench-ceiling: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "bench-ceiling: listening on 127.0.0.1:%ld\n", port);
    while (!stop_requested)
        pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}
