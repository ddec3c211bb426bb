/* SPDX-License-Identifier: MIT */
/*
 * store_audit.h - the audit log of mutating REST requests (who / which token, what, when,
 * result), kept in the database beside the journal.  docs/security.md.
 *
 * Thread: like every store function, one connection is used by one thread at a time.
 */
#ifndef PP_STORE_STORE_AUDIT_H
#define PP_STORE_STORE_AUDIT_H

#include <jansson.h>
#include <stdint.h>

struct store;
struct err;

struct store_audit_entry {
    const char *role;     /* "admin" or "read" */
    const char *token_id; /* a short hash naming the token, never the token */
    const char *client;   /* the client's address */
    const char *method;   /* HTTP method */
    const char *path;     /* request path (no query) */
    int status;           /* HTTP status of the answer */
    const char *outcome;  /* "done", "refused", "failed", "withdrawn", "unknown" */
    const char *detail;   /* error message or "" */
};

/* Append one entry (commits).  Returns 0, PP_ESTATE (read-only connection) or PP_EDB. */
int store_audit_add(struct store *s, const struct store_audit_entry *a, struct err *e);
/*
 * The newest entries first, at most limit (1..1000): *out = {"entries":[{id,time,role,token,
 * client,method,path,status,outcome,detail}]} (new reference).  0 or PP_EDB.
 */
int store_audit_list(struct store *s, int limit, json_t **out, struct err *e);

#endif
