/* SPDX-License-Identifier: MIT */
/*
 * tls.c - certificate fingerprints, the known-hosts pin store and the handshake-time pin check
 * (libcurl's CURLOPT_SSL_CTX_FUNCTION with OpenSSL's certificate verification callback, so the
 * decision is taken before any request byte is sent).  See tls.h for the policy.
 */
#include "xapi/tls.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

void xapi_tls_fp_format(const unsigned char sha256[32], char out[XAPI_FP_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (int i = 0; i < 32; i++) {
        if (i)
            out[o++] = ':';
        out[o++] = hex[sha256[i] >> 4];
        out[o++] = hex[sha256[i] & 15];
    }
    out[o] = '\0';
}

void xapi_tls_fp_of_der(const unsigned char *der, size_t len, char out[XAPI_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(der, len, md, &n, EVP_sha256(), NULL);
    xapi_tls_fp_format(md, out);
}

static int fp_of_x509(X509 *x, char out[XAPI_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
        return PP_ETLS;
    xapi_tls_fp_format(md, out);
    return 0;
}

int xapi_tls_fp_of_pem_file(const char *path, char out[XAPI_FP_LEN], struct err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return err_set(e, PP_EPARSE, "%s: no PEM certificate", path);
    int rc = fp_of_x509(x, out);
    X509_free(x);
    return rc ? err_set(e, rc, "%s: cannot digest certificate", path) : 0;
}

int xapi_tls_fp_normalise(const char *in, char out[XAPI_FP_LEN])
{
    unsigned char md[32];
    int nib = 0, k = 0;
    if (!in)
        return PP_EINVAL;
    if (strncasecmp(in, "SHA256:", 7) == 0 || strncasecmp(in, "SHA-256:", 8) == 0)
        in = strchr(in, ':') + 1;
    for (const char *p = in; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else if (*p == ':' || *p == ' ')
            continue;
        else
            return PP_EINVAL;
        if (k >= 32)
            return PP_EINVAL;
        if (nib == 0) {
            md[k] = (unsigned char)(v << 4);
            nib = 1;
        } else {
            md[k++] |= (unsigned char)v;
            nib = 0;
        }
    }
    if (k != 32 || nib)
        return PP_EINVAL;
    xapi_tls_fp_format(md, out);
    return 0;
}

enum pin_verdict xapi_pin_decide(const char *pinned, const char *presented, bool tofu)
{
    if (pinned && *pinned)
        return strcmp(pinned, presented) == 0 ? PIN_MATCH : PIN_MISMATCH;
    return tofu ? PIN_LEARN : PIN_UNKNOWN;
}

/* ---- pin store ---- */

struct pin {
    char *host;
    char fp[XAPI_FP_LEN];
};

struct xapi_pins {
    char *path;
    struct pin *v;
    size_t n, cap;
};

static void pins_put(struct xapi_pins *p, const char *host, const char *fp)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].host, host) == 0) {
            str_lcpy(p->v[i].fp, fp, XAPI_FP_LEN);
            return;
        }
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
    }
    p->v[p->n].host = xstrdup(host);
    str_lcpy(p->v[p->n].fp, fp, XAPI_FP_LEN);
    p->n++;
}

struct xapi_pins *xapi_pins_new(const char *path, struct err *e)
{
    struct xapi_pins *p = xcalloc(1, sizeof(*p));
    p->path = xstrdup(path);
    if (!path)
        return p;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return p;
        err_set(e, PP_EIO, "known hosts %s: %s", path, strerror(errno));
        xapi_pins_free(p);
        return NULL;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        char *host = strtok(s, " \t\r\n");
        char *fp = strtok(NULL, " \t\r\n");
        char norm[XAPI_FP_LEN];
        if (!host || !fp || xapi_tls_fp_normalise(fp, norm) != 0) {
            err_set(e, PP_EPARSE, "known hosts %s:%d: expected 'host SHA-256-fingerprint'", path,
                    lineno);
            fclose(f);
            xapi_pins_free(p);
            return NULL;
        }
        pins_put(p, host, norm);
    }
    fclose(f);
    return p;
}

void xapi_pins_free(struct xapi_pins *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].host);
    free(p->v);
    free(p->path);
    free(p);
}

const char *xapi_pins_get(const struct xapi_pins *p, const char *host)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (strcmp(p->v[i].host, host) == 0)
            return p->v[i].fp;
    return NULL;
}

int xapi_pins_set(struct xapi_pins *p, const char *host, const char *fp, struct err *e)
{
    if (p->path) {
        /* Every pool's client keeps its own copy of the one known-hosts file: take in what the
         * others wrote since, so that rewriting the file loses none of their pins. */
        struct err le = {0};
        struct xapi_pins *now = xapi_pins_new(p->path, &le);
        for (size_t i = 0; now && i < now->n; i++)
            if (!str_eq(now->v[i].host, host))
                pins_put(p, now->v[i].host, now->v[i].fp);
        xapi_pins_free(now);
    }
    pins_put(p, host, fp);
    if (!p->path)
        return 0;
    struct buf tmp;
    buf_init(&tmp);
    buf_printf(&tmp, "%s.tmp.%ld", p->path, (long)getpid());
    FILE *f = fopen(buf_str(&tmp), "w");
    if (!f) {
        int rc = err_set(e, PP_EIO, "known hosts %s: %s", buf_str(&tmp), strerror(errno));
        buf_cleanup(&tmp);
        return rc;
    }
    (void)fchmod(fileno(f), 0600);
    fprintf(f, "# poolpatch known XAPI hosts: host SHA-256 certificate fingerprint\n");
    for (size_t i = 0; i < p->n; i++)
        fprintf(f, "%s %s\n", p->v[i].host, p->v[i].fp);
    int bad = ferror(f);
    bad |= fclose(f);
    if (bad || rename(buf_str(&tmp), p->path) != 0) {
        int rc = err_set(e, PP_EIO, "known hosts %s: %s", p->path, strerror(errno));
        unlink(buf_str(&tmp));
        buf_cleanup(&tmp);
        return rc;
    }
    buf_cleanup(&tmp);
    return 0;
}

/* ---- handshake glue ---- */

/*
 * Replaces OpenSSL's chain verification for pinned hosts: the identity of a self-signed XAPI
 * host is its certificate, so the leaf's SHA-256 must equal the pin (or be learned on first use).
 */
static int pin_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
    struct tls_req *t = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
    t->checked = true;
    /* with a CA file the chain must verify first (libcurl checks the host name after the
     * handshake, CURLOPT_SSL_VERIFYHOST 2); the pin is an extra check on top */
    if (t->verify_chain && X509_verify_cert(xctx) <= 0) {
        t->chain_failed = true;
        if (leaf)
            fp_of_x509(leaf, t->presented);
        return 0;
    }
    if (!leaf || fp_of_x509(leaf, t->presented) != 0) {
        X509_STORE_CTX_set_error(xctx, X509_V_ERR_UNSPECIFIED);
        t->verdict = PIN_UNKNOWN;
        return 0;
    }
    const char *pinned = xapi_pins_get(t->pins, t->host);
    str_lcpy(t->pinned, pinned ? pinned : "", sizeof(t->pinned));
    t->verdict = xapi_pin_decide(pinned, t->presented, t->tofu);
    if (t->verdict == PIN_MATCH || t->verdict == PIN_LEARN)
        return 1;
    X509_STORE_CTX_set_error(xctx, X509_V_ERR_CERT_REJECTED);
    return 0;
}

static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *userp)
{
    (void)curl;
    SSL_CTX_set_cert_verify_callback((SSL_CTX *)sslctx, pin_verify_cb, userp);
    return CURLE_OK;
}

static char *system_bundle; /* NULL: libcurl's default */

void xapi_tls_set_system_bundle(const char *path)
{
    free(system_bundle);
    system_bundle = path && *path ? xstrdup(path) : NULL;
}

int xapi_tls_setup_easy(void *easy, const char *ca_file, struct tls_req *t, struct err *e)
{
    CURL *h = easy;
    CURLcode cc = CURLE_OK;
    t->checked = false;
    t->presented[0] = t->pinned[0] = '\0';
    t->chain_failed = false;
    t->verify_chain = ca_file != NULL;
    t->ca_system = ca_file && str_eq(ca_file, XAPI_CA_SYSTEM);
    cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    if (t->ca_system && system_bundle)
        cc |= curl_easy_setopt(h, CURLOPT_CAINFO, system_bundle);
    else if (ca_file && !t->ca_system)
        cc |= curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
    if (t->pins) {
        /* Without a CA file the pin is the host's identity (self-signed XAPI certificates rarely
         * name the IP); with one, the chain and the host name are verified as well. */
        cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, t->verify_chain ? 2L : 0L);
        cc |= curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        cc |= curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
        cc |= curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, t);
    } else {
        cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (cc != CURLE_OK)
        return err_set(e, PP_ETLS, "libcurl lacks the TLS options pinning needs (OpenSSL build)");
    return 0;
}

int xapi_tls_explain(const struct tls_req *t, const char *curl_msg, struct err *e)
{
    if (t->pins && t->checked && t->chain_failed && t->ca_system)
        return err_set(e, PP_ETLS,
                       "TLS certificate of %s (SHA-256 %s) is not signed by a CA of the system "
                       "CA bundle%s%s; refusing to connect (give the pool's CA with --ca-file, or "
                       "confirm its fingerprint instead of --verify-ca)",
                       t->host ? t->host : "host", t->presented, system_bundle ? " " : "",
                       system_bundle ? system_bundle : "");
    if (t->pins && t->checked && t->chain_failed)
        return err_set(e, PP_ETLS,
                       "TLS certificate of %s (SHA-256 %s) is not signed by the CA file's "
                       "certificates; refusing to connect (check --ca-file)",
                       t->host ? t->host : "host", t->presented);
    if (t->pins && t->checked && t->verdict == PIN_MISMATCH)
        return err_set(e, PP_ETLS,
                       "TLS certificate of %s changed: pinned SHA-256 %s, presented SHA-256 %s; "
                       "refusing to connect (if the host's certificate was replaced on purpose, "
                       "remove its line from the known hosts file)",
                       t->host, t->pinned, t->presented);
    if (t->pins && t->checked && t->verdict == PIN_UNKNOWN)
        return err_set(e, PP_ETLS,
                       "TLS certificate of %s (SHA-256 %s) is not pinned and trust on first use "
                       "is off; refusing to connect",
                       t->host, t->presented);
    return err_set(e, PP_ETLS, "TLS verification of %s failed: %s", t->host ? t->host : "host",
                   curl_msg ? curl_msg : "unknown error");
}
