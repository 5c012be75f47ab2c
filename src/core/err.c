#include "byoc/err.h"

#include "byoc/banned.h"

struct err_row {
    const char *name;
    const char *message;
    int status;
};

static const struct err_row err_rows[] = {
#define BYOC_ERR_ROW(e, name, msg, status) [BYOC_ERR_##e] = {name, msg, status},
    BYOC_ERR_MAP(BYOC_ERR_ROW)
#undef BYOC_ERR_ROW
};

static const struct err_row *err_row(enum byoc_err e)
{
    if ((unsigned)e >= BYOC_ERR__COUNT)
        return &err_rows[BYOC_ERR_INTERNAL];
    return &err_rows[e];
}

const char *byoc_err_name(enum byoc_err e)
{
    return err_row(e)->name;
}

const char *byoc_strerror(enum byoc_err e)
{
    return err_row(e)->message;
}

int byoc_err_http_status(enum byoc_err e)
{
    return err_row(e)->status;
}
