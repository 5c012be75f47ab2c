/* Prints byocd's route table, one "METHOD PATTERN" line per route, in table order, exactly as
 * the table spells them. check_routes.mjs compares this with openapi/byocd.yaml. */
#include <stdio.h>
#include <stdlib.h>

#include "byoc/app.h"
#include "byoc/banned.h"

int main(void)
{
    size_t n = 0;
    const struct byoc_route *routes = byoc_app_routes(&n);
    if (!routes || n == 0) {
        fputs("dump_routes: the route table is empty\n", stderr);
        return EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!routes[i].method || !routes[i].pattern) {
            fprintf(stderr, "dump_routes: route %zu has no method or pattern\n", i);
            return EXIT_FAILURE;
        }
        printf("%s %s\n", routes[i].method, routes[i].pattern);
    }
    /* A short write (full disk, closed pipe) must not pass for a shorter table. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("dump_routes: stdout");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
