/* SPDX-License-Identifier: MIT */
/*
 * rest.h - the CLI's client of the daemon's REST API (libcurl): JSON requests with the API
 * token, error bodies turned into struct err, and the Server-Sent Events stream.  One client
 * per thread.  The SSE parser is pure and usable on its own.
 */
#ifndef PP_CLI_REST_H
#define PP_CLI_REST_H

#include "api/api.h"
#include "base/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct err;

#define REST_DEFAULT_SERVER "http://127.0.0.1:7480"

struct rest_client {
    char base[512]; /* server URL without trailing slash */
    char token[API_TOKEN_MAX];
    char token_path[1024];
    void *curl;     /* CURL * */
    long timeout_s; /* per request (not for the event stream) */
};

/*
 * Prepare a client for server (NULL = $POOLPATCH_SERVER or REST_DEFAULT_SERVER) with the token
 * read from token_file (NULL = the state directory's api-token).  Errors name the file and
 * say how to get a token.  rest_cleanup after success.
 */
int rest_init(struct rest_client *rc, const char *server, const char *token_file, struct err *e);
void rest_cleanup(struct rest_client *rc);

/*
 * One request: method and path ("/api/v1/pools"), an optional JSON body (borrowed).  On a 2xx
 * answer returns 0 and, when out is not NULL, the parsed JSON (NULL for an empty body) or, when
 * raw is not NULL, the body bytes.  Otherwise a PP_E* code mapped from the HTTP status with the
 * server's message (and XAPI code) in e; PP_ETRANSPORT when the daemon cannot be reached, with
 * the URL and how to start it.
 */
int rest_call(struct rest_client *rc, const char *method, const char *path, const json_t *body,
              json_t **out, struct buf *raw, struct err *e);

/*
 * POST the open file f (size bytes) to path as application/octet-stream, streamed (the update
 * file intake, POST /api/v1/files?name=...).  No overall timeout; a transfer stalled for five
 * minutes fails.  *out the parsed answer; errors as rest_call.
 */
int rest_upload(struct rest_client *rc, const char *path, FILE *f, int64_t size, json_t **out,
                struct err *e);

/* The PP_E* code for an HTTP error status (and whether the body named an XAPI code). */
int rest_code_for_status(long status, bool xapi);

/* ---- Server-Sent Events ---- */
struct sse_parser {
    struct buf line; /* the current, incomplete line */
    struct buf data; /* data: lines of the current event, joined by \n */
    char event[64];
    bool has_data;
    bool last_cr; /* the previous byte was CR */
    /* called per complete event; return nonzero to stop */
    int (*on_event)(void *ud, const char *event, const char *data);
    /* called per comment line (": connected", heartbeats); return nonzero to stop */
    int (*on_comment)(void *ud, const char *text);
    void *ud;
};

/* Initialise with the callbacks (either may be NULL). */
void sse_parser_init(struct sse_parser *p, int (*on_event)(void *, const char *, const char *),
                     int (*on_comment)(void *, const char *), void *ud);
void sse_parser_cleanup(struct sse_parser *p);
/*
 * Feed n bytes of the stream (any split).  Returns 0, or the first nonzero callback result
 * (parsing stops there).  Lines end in LF, CRLF or CR (split CRLF across feeds is handled).
 */
int sse_parser_feed(struct sse_parser *p, const char *data, size_t n);

/*
 * Follow GET /api/v1/events until a callback returns nonzero (then 0 is returned) or the
 * stream fails (PP_ETRANSPORT / HTTP errors as rest_call).  Blocks the calling thread.
 */
int rest_events(struct rest_client *rc, struct sse_parser *p, struct err *e);

#endif
