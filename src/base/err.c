/* SPDX-License-Identifier: MIT */
/* err.c - struct err helpers (see err.h). */
#include "err.h"
#include "str.h"

#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
    if (!e)
        return;
    e->code = 0;
    e->xapi_code[0] = '\0';
    e->msg[0] = '\0';
}

int err_setv(struct err *e, int code, const char *fmt, va_list ap)
{
    if (!e)
        return code;
    e->code = code;
    if (code != PP_EXAPI)
        e->xapi_code[0] = '\0';
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    char pre[ERR_MSG_MAX];
    char old[ERR_MSG_MAX];
    va_list ap;

    if (!e)
        return PP_EINVAL;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    /* Truncation is acceptable: messages are bounded by design. */
    size_t n = str_lcpy(e->msg, pre, sizeof(e->msg));
    if (n < sizeof(e->msg))
        str_lcpy(e->msg + n, old, sizeof(e->msg) - n);
    return e->code;
}

const char *err_code_name(int code)
{
    switch (code) {
    case PP_OK:
        return "OK";
    case PP_ENOMEM:
        return "ENOMEM";
    case PP_EINVAL:
        return "EINVAL";
    case PP_EPARSE:
        return "EPARSE";
    case PP_EIO:
        return "EIO";
    case PP_EXAPI:
        return "EXAPI";
    case PP_ETRANSPORT:
        return "ETRANSPORT";
    case PP_ETIMEOUT:
        return "ETIMEOUT";
    case PP_ENOTFOUND:
        return "ENOTFOUND";
    case PP_ELIMIT:
        return "ELIMIT";
    case PP_ETLS:
        return "ETLS";
    case PP_ESTATE:
        return "ESTATE";
    case PP_EDB:
        return "EDB";
    case PP_EAUTH:
        return "EAUTH";
    case PP_ECANCELLED:
        return "ECANCELLED";
    default:
        return "EUNKNOWN";
    }
}
