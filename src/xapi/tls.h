/* SPDX-License-Identifier: MIT */
/*
 * tls.h - TLS trust for XAPI hosts: SHA-256 certificate fingerprints, a known-hosts pin store
 * (trust on first use, as XenCenter asks before it trusts a self-signed host certificate), and
 * the libcurl/OpenSSL glue that checks the leaf certificate during the handshake, before any
 * request byte (credentials included) is sent.
 *
 * Policy (see docs/xapi-client.md, docs/security.md): without a pin store, normal verification
 * (system CAs or the pool's CA file, host name checked).  With a pin store and a CA file, the
 * chain and the host name are verified and the pin is checked on top.  With a pin store alone, a
 * host that has a pin must present that exact certificate; a host without one is refused unless
 * trust-on-first-use is on, when its fingerprint is recorded.  A changed certificate is refused
 * with both fingerprints named (the client then waits for a confirmation: XAPI_CONN_UNTRUSTED,
 * session.c).  There is no "insecure" mode.  Single-threaded (the client's loop).
 */
#ifndef PP_XAPI_TLS_H
#define PP_XAPI_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct err;

/* "AB:CD:...": 32 bytes as 64 upper-case hex digits with 31 colons, plus NUL. */
#define XAPI_FP_LEN 96

/* Format a SHA-256 digest as a fingerprint. */
void xapi_tls_fp_format(const unsigned char sha256[32], char out[XAPI_FP_LEN]);
/* Fingerprint of a DER certificate. */
void xapi_tls_fp_of_der(const unsigned char *der, size_t len, char out[XAPI_FP_LEN]);
/* Fingerprint of the first certificate of a PEM file.  Returns 0 or PP_EIO / PP_EPARSE. */
int xapi_tls_fp_of_pem_file(const char *path, char out[XAPI_FP_LEN], struct err *e);
/* Normalise a user-written fingerprint (any case, colons optional, "SHA256:" prefix allowed). */
int xapi_tls_fp_normalise(const char *in, char out[XAPI_FP_LEN]);

enum pin_verdict {
    PIN_MATCH = 0, /* presented == pinned */
    PIN_LEARN,     /* no pin, trust on first use: record presented */
    PIN_MISMATCH,  /* pinned and different: refuse */
    PIN_UNKNOWN    /* no pin and no trust on first use: refuse */
};
/* The pure decision; pinned may be NULL. */
enum pin_verdict xapi_pin_decide(const char *pinned, const char *presented, bool tofu);

/* A host -> fingerprint store, optionally backed by a file of "host fingerprint" lines. */
struct xapi_pins;
/* Load path (missing file = empty store; NULL = memory only).  NULL + e on a malformed file. */
struct xapi_pins *xapi_pins_new(const char *path, struct err *e);
void xapi_pins_free(struct xapi_pins *p);
/* Borrowed fingerprint pinned for host, or NULL. */
const char *xapi_pins_get(const struct xapi_pins *p, const char *host);
/* Pin host to fp (replacing) and rewrite the file (0600, atomically), keeping the pins other
 * stores of the same file wrote meanwhile.  0 or PP_EIO. */
int xapi_pins_set(struct xapi_pins *p, const char *host, const char *fp, struct err *e);

/* Per-request TLS state, filled by the handshake callback. */
struct tls_req {
    struct xapi_pins *pins; /* NULL = CA verification only */
    const char *host;       /* borrowed from the request */
    bool tofu;
    bool verify_chain; /* a CA file was given: chain (and host name) verified before the pin */
    bool ca_system;    /* ... and it is the system bundle (XAPI_CA_SYSTEM) */
    bool chain_failed; /* the chain did not verify */
    bool checked;      /* the callback ran */
    enum pin_verdict verdict;
    char presented[XAPI_FP_LEN];
    char pinned[XAPI_FP_LEN];
};

/*
 * The ca_file value that means "the system CA bundle" (pool add --verify-ca, REST "verify_ca"):
 * the chain and host name are verified against the bundle libcurl uses by default (or the one
 * set with xapi_tls_set_system_bundle), with pinning on top, as for a CA file.
 */
#define XAPI_CA_SYSTEM "@system"
/* Use path as the system CA bundle (NULL = libcurl's built-in default).  Copied; call before any
 * connection (the daemon's start: setting ca_bundle).  Thread: any, once. */
void xapi_tls_set_system_bundle(const char *path);

/*
 * Configure a curl easy handle for TLS: verification on, ca_file when given (XAPI_CA_SYSTEM: the
 * system bundle); with t->pins the
 * handshake checks the leaf certificate against the pin instead of the CA chain (and the host
 * name), and TLS session reuse is off so every connection is checked.  Returns 0 or PP_ETLS.
 */
int xapi_tls_setup_easy(void *easy, const char *ca_file, struct tls_req *t, struct err *e);
/*
 * After a transfer failed with a TLS error: fill e with PP_ETLS and, when the pin check refused,
 * a message naming both fingerprints.  Returns PP_ETLS.
 */
int xapi_tls_explain(const struct tls_req *t, const char *curl_msg, struct err *e);

#endif
