/* SPDX-License-Identifier: MIT */
/*
 * err.h - the project's error convention.
 *
 * Functions return 0 on success or a negative PP_E* code, and fill an optional caller-owned
 * struct err with a message a user can act on.  Foreign codes (CURLcode, SQLite, XAPI
 * ErrorDescription) are translated into these codes at the module boundary; an XAPI error keeps
 * its code and parameters verbatim in the message and in err.xapi_code.
 */
#ifndef PP_BASE_ERR_H
#define PP_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum pp_errcode {
    PP_OK = 0,
    PP_ENOMEM = -1,     /* allocation failed */
    PP_EINVAL = -2,     /* invalid argument or request */
    PP_EPARSE = -3,     /* malformed input */
    PP_EIO = -4,        /* file or socket I/O failed */
    PP_EXAPI = -5,      /* xapi answered with an ErrorDescription */
    PP_ETRANSPORT = -6, /* could not reach the peer (connect, DNS, reset) */
    PP_ETIMEOUT = -7,   /* a deadline passed */
    PP_ENOTFOUND = -8,  /* no such object */
    PP_ELIMIT = -9,     /* input over a size, depth or count limit */
    PP_ETLS = -10,      /* TLS verification or pinning failed */
    PP_ESTATE = -11,    /* operation not valid in the current state */
    PP_EDB = -12,       /* storage failure */
    PP_EAUTH = -13,     /* authentication refused */
    PP_ECANCELLED = -14 /* cancelled on request */
};

#define ERR_MSG_MAX 1024

/* Caller-owned error report.  Zero-initialise (or err_clear) before use. */
struct err {
    int code;              /* one of enum pp_errcode, 0 when clear */
    char xapi_code[96];    /* first element of an XAPI ErrorDescription, or "" */
    char msg[ERR_MSG_MAX]; /* human-readable message */
};

/* Reset e to "no error".  e may be NULL. */
void err_clear(struct err *e);

/*
 * Record an error: sets e->code = code and formats the message.  e may be NULL (then only the
 * code is returned).  Returns code, so callers can write `return err_set(e, PP_EINVAL, ...)`.
 */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* As err_set, with a va_list. */
int err_setv(struct err *e, int code, const char *fmt, va_list ap);

/*
 * Prefix the existing message with context ("loading scenario: " + old message).  Keeps the code.
 * Returns e->code (or PP_EINVAL if e is NULL).
 */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short constant name of a code, e.g. "EPARSE".  Never NULL. */
const char *err_code_name(int code);

#endif
