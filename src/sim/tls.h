/* SPDX-License-Identifier: MIT */
/*
 * tls.h - the simulator's host certificates for `poolpatch sim --tls`: one self-signed
 * certificate per simulated host (its address as common name and IP subject alternative name),
 * generated at start with OpenSSL or read from a directory, with its SHA-256 fingerprint in
 * the client's format (xapi/tls.h), so that pinning, CA files and a changed certificate can be
 * tested end to end.  A host's certificate can be replaced while serving (sim_tls_rotate).
 *
 * Threading: a sim_tls is shared by the HTTP server's threads; every function takes its lock.
 * Replaced certificates stay allocated until sim_tls_free (a handshake may still use them).
 */
#ifndef PP_SIM_TLS_H
#define PP_SIM_TLS_H

#include <jansson.h>
#include <stddef.h>

struct err;
struct sim_tls;

/* One PEM certificate and its key, as generated or read. */
struct sim_tls_pem {
    char *cert; /* owned, NUL-terminated PEM */
    char *key;  /* owned, NUL-terminated PEM (PKCS#8, unencrypted) */
};

/*
 * Generate a self-signed certificate for address (an IPv4 address): EC P-256 key, SHA-256
 * signature, valid from a day ago for ten years, CN and IP SAN = address.  Fills *out (release
 * with sim_tls_pem_cleanup).  Returns 0 or PP_ETLS with e naming the OpenSSL step that failed.
 */
int sim_tls_pem_generate(const char *address, struct sim_tls_pem *out, struct err *e);
/* Free the PEM strings; safe on a zeroed struct. */
void sim_tls_pem_cleanup(struct sim_tls_pem *p);
/* SHA-256 fingerprint "AB:CD:..." of the first certificate of a PEM string into out (96 bytes).
 * Returns 0 or PP_EPARSE. */
int sim_tls_pem_fingerprint(const char *cert_pem, char *out, size_t n, struct err *e);

/*
 * Certificates for n host addresses (borrowed, copied).  With dir (NULL = memory only): a host
 * whose <dir>/<address>.pem and <dir>/<address>.key exist uses them (at most 64 KiB each);
 * every other host gets a generated certificate, written there (key 0600).  Returns 0 and *out,
 * or PP_EIO / PP_ETLS / PP_EPARSE with e naming the host and file.
 */
int sim_tls_new(const char *const *addresses, size_t n, const char *dir, struct sim_tls **out,
                struct err *e);
void sim_tls_free(struct sim_tls *t);
/*
 * The current certificate of address for the TLS library (gnutls_pcert_st array of one and
 * gnutls_privkey_t, as void pointers so that callers need no GnuTLS header); borrowed until
 * sim_tls_free.  Returns 0, or PP_ENOTFOUND for an unknown address.
 */
int sim_tls_lookup(struct sim_tls *t, const char *address, void **pcert, void **privkey);
/*
 * Replace address's certificate: with pem (borrowed) that one, else a newly generated one
 * (written to the directory when there is one).  Returns 0 or PP_ENOTFOUND / PP_ETLS / PP_EIO.
 */
int sim_tls_rotate(struct sim_tls *t, const char *address, const struct sim_tls_pem *pem,
                   struct err *e);
/* {"hosts":[{"address","fingerprint","certificate"}]} (new reference). */
json_t *sim_tls_json(struct sim_tls *t);

#endif
