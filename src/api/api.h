/* SPDX-License-Identifier: MIT */
/*
 * api.h - the daemon's HTTP face: the REST API (/api/v1/...), the Server-Sent Events stream of
 * progress and the embedded web UI, served by libmicrohttpd in front of one struct engine.
 *
 * Also the pieces `poolpatch serve` and the CLI share: the settings file, the default state
 * paths, the API token (generated once, stored 0600) and its constant-time comparison.
 * The request/response JSON shapes are documented in docs/rest-api.md.
 *
 * Threading: api_server_* run libmicrohttpd with one thread per connection (see
 * docs/rest-api.md, "Threads"); every other function here is pure or touches only its
 * arguments and is safe from any thread.
 */
#ifndef PP_API_API_H
#define PP_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct engine;
struct api_server;

#define API_DEFAULT_PORT             7480
#define API_TOKEN_MAX                128 /* bytes of a token, including the NUL */
#define API_DEFAULT_MAX_BODY         (1024 * 1024)
#define API_DEFAULT_MAX_CONNECTIONS  512
#define API_DEFAULT_MAX_PER_IP       48
#define API_DEFAULT_CONN_TIMEOUT_S   30
#define API_DEFAULT_HEADER_TIMEOUT_S 10
#define API_DEFAULT_WORKERS          8
#define API_DEFAULT_HEARTBEAT_MS     15000
#define API_DEFAULT_SSE_QUEUE        512 /* events queued per SSE client before it is dropped */

/* ---- the server ---- */
struct api_config {
    const char *bind_addr;     /* numeric IPv4 or IPv6 address; NULL = 127.0.0.1 */
    uint16_t port;             /* 0 = any free port (see api_server_port) */
    const char *token;         /* required Bearer token (not copied past api_server_new) */
    const char *read_token;    /* optional read-only token (views, plans, status); NULL = none */
    const char *server_names;  /* extra Host header names accepted, comma separated; NULL ok */
    const char *db_path;       /* the database, for the audit log; NULL = no audit log */
    unsigned max_per_ip;       /* connections per client address; 0 = API_DEFAULT_MAX_PER_IP */
    unsigned header_timeout_s; /* request headers must arrive within; 0 = default */
    unsigned workers;          /* request worker threads; 0 = API_DEFAULT_WORKERS */
    const char *web_root;      /* serve web assets from this folder instead; NULL = embedded */
    unsigned max_connections;  /* 0 = API_DEFAULT_MAX_CONNECTIONS */
    unsigned conn_timeout_s;   /* idle connection timeout; 0 = API_DEFAULT_CONN_TIMEOUT_S */
    size_t max_body;           /* request body limit; 0 = API_DEFAULT_MAX_BODY */
    unsigned heartbeat_ms;     /* SSE heartbeat comment interval; 0 = default */
    unsigned sse_queue;        /* per-client SSE queue length; 0 = default */
};

/*
 * Start serving eng (borrowed; must outlive the server) as described by cfg.  Subscribes to the
 * engine's progress events.  *out owned by the caller (api_server_free).  Errors: PP_EINVAL
 * (bad address, missing token), PP_EIO (cannot bind; the message names the address).
 */
int api_server_new(const struct api_config *cfg, struct engine *eng, struct api_server **out,
                   struct err *e);
/* The TCP port actually bound (useful with port 0). */
uint16_t api_server_port(const struct api_server *srv);
/* Number of SSE clients currently attached (for tests and logs).  Thread-safe. */
unsigned api_server_sse_clients(struct api_server *srv);
/* Stop: ends SSE streams, unsubscribes, waits for connection threads, frees.  NULL ok. */
void api_server_free(struct api_server *srv);

/* ---- routing (pure) ---- */
enum api_route_id {
    API_R_NONE = 0,
    API_R_POOLS,            /* GET, POST   /api/v1/pools */
    API_R_POOL,             /* PATCH, DELETE /api/v1/pools/{name} */
    API_R_UPDATES,          /* GET         /api/v1/updates */
    API_R_UPDATES_CHECK,    /* POST        /api/v1/updates/check */
    API_R_UPDATES_CSV,      /* GET         /api/v1/updates/export.csv */
    API_R_UPDATES_DISMISS,  /* POST        /api/v1/updates/dismiss */
    API_R_UPDATES_RESTORE,  /* POST        /api/v1/updates/restore */
    API_R_PLANS,            /* POST        /api/v1/plans */
    API_R_ROLLOUTS,         /* GET, POST   /api/v1/rollouts */
    API_R_ROLLOUT,          /* GET         /api/v1/rollouts/{id} */
    API_R_ROLLOUT_RETRY,    /* POST        /api/v1/rollouts/{id}/retry */
    API_R_ROLLOUT_CANCEL,   /* POST        /api/v1/rollouts/{id}/cancel */
    API_R_EVENTS,           /* GET         /api/v1/events (SSE) */
    API_R_CLIENT_ID,        /* POST        /api/v1/client-id */
    API_R_UPDATES_DOWNLOAD, /* POST       /api/v1/updates/download */
    API_R_AUDIT,            /* GET         /api/v1/audit */
    API_R_WEBHOOKS,         /* GET, POST   /api/v1/webhooks */
    API_R_WEBHOOK,          /* DELETE      /api/v1/webhooks/{id} */
    API_R_WEBHOOK_LOG,      /* GET         /api/v1/webhook-deliveries */
    API_R_OPENAPI,          /* GET         /api/v1/openapi.json */
    API_R_FILES,            /* GET, POST   /api/v1/files (POST: the update file streamed) */
    API_R_FILE,             /* DELETE      /api/v1/files/{id} */
    API_R_METRICS,          /* GET         /metrics (Prometheus; token required) */
    API_R_SETTINGS,         /* GET, PUT    /api/v1/settings */
    API_R_UPGRADES,         /* POST        /api/v1/upgrades */
    API_R_UPGRADE_HOST,     /* POST        /api/v1/rollouts/{id}/upgrade-host */
    API_R_HOST_FORGET,      /* POST        /api/v1/pools/{name}/forget-host */
    API_R_POOL_TRUST,       /* POST        /api/v1/pools/{name}/trust */
    API_R_WINDOWS,          /* GET, POST   /api/v1/windows */
    API_R_WINDOW,           /* DELETE      /api/v1/windows/{name} */
    API_R_SCHEDULES,        /* GET, POST   /api/v1/schedules */
    API_R_SCHEDULE,         /* DELETE      /api/v1/schedules/{name} */
    API_R_GATES,            /* GET, PUT, DELETE /api/v1/health-gates (DELETE: the global one) */
    API_R_GATE,             /* DELETE      /api/v1/health-gates/{pool} */
    API_R_STATIC,           /* GET, HEAD   anything outside /api/ */
};

#define API_PARAM_MAX 256

struct api_match {
    enum api_route_id route;
    char param[API_PARAM_MAX]; /* {name} or {id}, percent-decoded; "" when none */
    const char *allow;         /* the methods the path accepts, e.g. "GET, POST" */
};

/*
 * Match method + path (path without the query string, as received; MHD has already decoded
 * it).  Returns 200 and fills m; 404 for unknown paths (m->route = API_R_NONE); 405 when the
 * path exists but not for this method (m->allow says which).  A path parameter that is empty,
 * too long or contains '/' is 404.
 */
int api_route(const char *method, const char *path, struct api_match *m);
/* True when method changes state (anything but GET and HEAD). */
bool api_method_mutates(const char *method);

/* ---- errors (pure) ---- */
/* The HTTP status for a PP_E* code (PP_EINVAL -> 400, PP_ENOTFOUND -> 404, ...). */
int api_status_for(int pp_code);
/* Stable lowercase error code for a status/PP code pair ("bad_request", "xapi_error", ...). */
const char *api_error_code(int status, int pp_code);
/*
 * Append {"error":{"code":...,"message":...[,"xapi_code":...]}} to out.  xapi_code may be NULL or
 * "".  Never fails.
 */
void api_error_json(struct buf *out, const char *code, const char *message, const char *xapi_code);

/* Whether a failed mutating request took effect, for its error body ("took_effect"). */
enum api_took { API_TOOK_NONE = 0, API_TOOK_NO, API_TOOK_YES, API_TOOK_UNKNOWN };
/* api_error_json plus "took_effect": false / true / "unknown" (API_TOOK_NONE: left out). */
void api_error_json_ex(struct buf *out, const char *code, const char *message,
                       const char *xapi_code, enum api_took took);

/*
 * CSV injection defence: a new copy of csv (quoted or unquoted fields, a UTF-8 BOM kept) where
 * every field that starts with = + - @ (or tab / CR) and has more after it gets a leading "'",
 * so that a spreadsheet shows it as text instead of running it.  docs/security.md.
 */
char *api_csv_neutralise(const char *csv);

/* ---- auth (pure) ---- */
enum api_role { API_ROLE_NONE = 0, API_ROLE_READ, API_ROLE_ADMIN };
/*
 * The role an Authorization header grants: the admin token, the read-only token (read may be
 * NULL), or none.  Both comparisons are constant-time.
 */
enum api_role api_auth_role(const char *admin, const char *read, const char *authorization);
/*
 * DNS rebinding defence: is a Host header value (with or without ":port") an IP literal,
 * "localhost" or one of names (comma separated, case-insensitive)?  NULL host is true.
 */
bool api_host_allowed(const char *host, const char *names);
/*
 * Compare a presented token with the expected one in time independent of where they differ
 * (only the expected length leaks).  NULL presented is false.
 */
bool api_token_equal(const char *expected, const char *presented);
/*
 * Check an Authorization header value ("Bearer <token>", scheme case-insensitive).  Returns 0
 * when it carries the expected token, 401 otherwise (missing, malformed or wrong).
 */
int api_check_auth(const char *expected, const char *authorization);

/* ---- SSE framing (pure) ---- */
/*
 * Append one SSE event: "id: <id>\nevent: <event>\ndata: <line>\n...\n\n".  Every line of data
 * becomes its own data: field (CR, LF and CRLF all split).  id 0 omits the id field.
 */
void api_sse_format(struct buf *out, uint64_t id, const char *event, const char *data);
/* Append a heartbeat comment ": keepalive\n\n". */
void api_sse_heartbeat(struct buf *out);

/* ---- static assets ---- */
struct api_asset {
    const char *path; /* URL path below /, e.g. "app.js" */
    const char *mime;
    const char *etag; /* quoted, e.g. "\"5f1c...\"" */
    const unsigned char *data;
    size_t len;
};
/* The embedded table (generated from web/ at build time) and its length. */
extern const struct api_asset api_embedded_assets[];
extern const size_t api_embedded_assets_count;
/* Find an embedded asset by URL path ("/" is index.html).  Borrowed; NULL when absent. */
const struct api_asset *api_asset_find(const char *url_path);
/* MIME type for a file name by extension ("application/octet-stream" when unknown). */
const char *api_mime_for(const char *name);
/* Quoted strong ETag of the bytes (FNV-1a 64, hex) written to out (at least 20 bytes). */
void api_etag_for(const void *data, size_t len, char *out, size_t outsz);
/*
 * True when an If-None-Match header value matches etag (exact, weak "W/" prefix or "*"; lists
 * separated by commas).  NULL header is false.
 */
bool api_etag_matches(const char *if_none_match, const char *etag);
/*
 * The age of data a request's Cache-Control header accepts, in ms (RFC 9111 request directive
 * max-age=N seconds, at most one hour): 0 without the header, without max-age, with a bad value
 * or with no-cache / no-store (then the answer must be current).  Pure.
 */
int64_t api_cache_max_age_ms(const char *cache_control);

/* ---- settings file, paths and the token file ---- */
struct api_settings {
    char listen[128]; /* "127.0.0.1:7480" */
    char db[1024];
    char token_file[1024];
    char web_root[1024];        /* "" = embedded assets */
    char catalog_url[2048];     /* "" = the engine's setting */
    char vendor_origins[1024];  /* client-ID allow-list; "" = the vendor's file service */
    char read_token_file[1024]; /* the read-only API token; "" = none */
    char server_names[1024];    /* extra Host names accepted (comma separated) */
    char ca_bundle[1024];       /* the system CA bundle for --verify-ca pools; "" = libcurl's */
    unsigned max_per_ip;        /* connections per client address */
    char log_level[16];         /* "" = default */
    char log_file[1024];
    char log_format[8];     /* "text" (default) or "json" */
    int check_interval_s;   /* -1 = the engine's setting / default */
    char default_policy[8]; /* "return" / "minimal"; "" = the engine's stored setting */
    unsigned max_connections;
    unsigned conn_timeout_s;
    size_t max_body;
    int request_timeout_ms;
    int host_return_timeout_s;  /* setting host_return_timeout (seconds; 0 = engine default) */
    int webhook_retry_base_s;   /* setting webhook_retry_base (seconds; 0 = engine default) */
    int64_t max_upload;         /* setting max_upload: update file limit (0 = engine default) */
    char update_file_dir[1024]; /* setting update_file_dir: files taken by name ("" = none) */
    /* testing: the daemon's clock runs clock_scale times real time (0 = real time), starting at
     * clock_start_ms (0 = now); docs/windows.md */
    double clock_scale;
    int64_t clock_start_ms;
};

/* Fill s with the defaults (state directory paths from api_state_dir). */
void api_settings_defaults(struct api_settings *s);
/*
 * Read a settings file of `key = value` lines ('#' comments, blank lines; keys listed in
 * docs/rest-api.md) over s.  Errors (unknown key, bad value, over-long line) are PP_EPARSE with
 * "FILE:LINE: ..." in e; an unreadable file is PP_EIO.
 */
int api_settings_load(struct api_settings *s, const char *path, struct err *e);
/* Apply one key = value (the file loader's core).  Returns 0, PP_EINVAL or PP_ELIMIT. */
int api_settings_set(struct api_settings *s, const char *key, const char *value, struct err *e);
/*
 * Split "HOST:PORT", "[V6]:PORT" or ":PORT"/"PORT" (host 127.0.0.1) into host and port.
 * Returns 0 or PP_EINVAL.
 */
int api_parse_listen(const char *s, char *host, size_t hostsz, uint16_t *port, struct err *e);
/*
 * The state directory: $POOLPATCH_HOME, else $XDG_STATE_HOME/poolpatch, else
 * $HOME/.local/state/poolpatch.  Written to out; returns 0 or PP_EINVAL when nothing is set.
 */
int api_state_dir(char *out, size_t outsz, struct err *e);
/* Create dir (and its parents) with mode 0700 if missing.  Returns 0 or PP_EIO. */
int api_mkdir_p(const char *dir, struct err *e);
/*
 * Read the token from path; when the file does not exist and create is true, generate 32
 * random bytes (getrandom), write them hex-encoded 0600 (O_EXCL) and return them.  A token
 * file readable by group or others is refused (PP_EAUTH, the message says `chmod 600`).
 * out must hold API_TOKEN_MAX bytes.  Errors: PP_EIO, PP_ENOTFOUND (missing, !create),
 * PP_EPARSE (empty or malformed).
 */
int api_token_load(const char *path, bool create, char *out, size_t outsz, struct err *e);

#endif
