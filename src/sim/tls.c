/* SPDX-License-Identifier: MIT */
/*
 * tls.c - per-host certificates of the simulator (tls.h): generated with OpenSSL, handed to
 * libmicrohttpd's GnuTLS through its certificate callback (http.c), fingerprinted as the
 * client prints them (xapi/tls.h).  xapi itself creates a self-signed certificate per host on
 * first boot (xen-api ocaml/gencert) and a new one on `host.reset_server_certificate`; the
 * simulator's rotation stands in for the latter.
 */
#include "sim/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "sim/hmap.h"
#include "xapi/tls.h"

#define PEM_FILE_MAX (64u * 1024)

/* One loaded certificate: the PEM, its fingerprint, and GnuTLS's forms of it. */
struct tls_cert {
    struct sim_tls_pem pem;
    char fp[XAPI_FP_LEN];
    gnutls_pcert_st pcert;
    gnutls_privkey_t key;
    struct tls_cert *retired; /* older certificates of the same host, freed at the end */
};

struct tls_host {
    char address[64];
    struct tls_cert *cur;
};

struct sim_tls {
    pthread_mutex_t mu;
    char *dir;
    struct tls_host *hosts;
    size_t n;
    struct hmap by_addr; /* address -> struct tls_host */
};

void sim_tls_pem_cleanup(struct sim_tls_pem *p)
{
    if (!p)
        return;
    free(p->cert);
    if (p->key)
        OPENSSL_cleanse(p->key, strlen(p->key));
    free(p->key);
    p->cert = p->key = NULL;
}

static char *bio_take(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = xmalloc((size_t)(n > 0 ? n : 0) + 1);
    if (n > 0)
        memcpy(s, data, (size_t)n);
    s[n > 0 ? n : 0] = '\0';
    return s;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return -1;
    int ok = X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

/* Fill x as a self-signed certificate for address, signed by k.  0 or -1 (the step in *why). */
static int build_cert(X509 *x, EVP_PKEY *k, const char *address, const char **why)
{
    unsigned char serial[16];
    char san[80];
    *why = "serial";
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return -1;
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    if (!ok)
        return -1;
    *why = "fields";
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) || !X509_set_pubkey(x, k) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"poolpatch sim",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)address, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(x, name))
        return -1;
    *why = "extensions";
    snprintf(san, sizeof(san), "IP:%s", address);
    /* Self-signed and its own trust anchor, as `openssl req -x509` makes them. */
    if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") != 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
        add_ext(x, NID_subject_alt_name, san) != 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") != 0)
        return -1;
    *why = "signature";
    return X509_sign(x, k, EVP_sha256()) > 0 ? 0 : -1;
}

int sim_tls_pem_generate(const char *address, struct sim_tls_pem *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    const char *why = "key";
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem());
    BIO *kb = BIO_new(BIO_s_mem());
    int rc = 0;
    if (!k || !x || !cb || !kb || build_cert(x, k, address, &why) != 0) {
        rc = err_set(e, PP_ETLS, "cannot make a certificate for %s (OpenSSL, %s)", address, why);
    } else if (!PEM_write_bio_X509(cb, x) ||
               !PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL)) {
        rc = err_set(e, PP_ETLS, "cannot write the certificate of %s as PEM", address);
    } else {
        out->cert = bio_take(cb);
        out->key = bio_take(kb);
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int sim_tls_pem_fingerprint(const char *cert_pem, char *out, size_t n, struct err *e)
{
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x)
        return err_set(e, PP_EPARSE, "not a PEM certificate");
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0)
        return err_set(e, PP_EPARSE, "certificate cannot be encoded");
    char fp[XAPI_FP_LEN];
    xapi_tls_fp_of_der(der, (size_t)len, fp);
    OPENSSL_free(der);
    str_lcpy(out, fp, n);
    return 0;
}

static void cert_free(struct tls_cert *c)
{
    while (c) {
        struct tls_cert *next = c->retired;
        gnutls_pcert_deinit(&c->pcert);
        gnutls_privkey_deinit(c->key);
        sim_tls_pem_cleanup(&c->pem);
        free(c);
        c = next;
    }
}

/* Load a PEM pair (copied) into GnuTLS's forms.  NULL + e when either does not parse. */
static struct tls_cert *cert_load(const struct sim_tls_pem *pem, const char *what, struct err *e)
{
    struct tls_cert *c = xcalloc(1, sizeof(*c));
    c->pem.cert = xstrdup(pem->cert);
    c->pem.key = xstrdup(pem->key);
    gnutls_datum_t cd = {(unsigned char *)c->pem.cert, (unsigned)strlen(c->pem.cert)};
    gnutls_datum_t kd = {(unsigned char *)c->pem.key, (unsigned)strlen(c->pem.key)};
    bool have_pcert = false;
    int grc = gnutls_pcert_import_x509_raw(&c->pcert, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (grc >= 0) {
        have_pcert = true;
        grc = gnutls_privkey_init(&c->key);
    }
    if (grc >= 0)
        grc = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (grc < 0 || sim_tls_pem_fingerprint(c->pem.cert, c->fp, sizeof(c->fp), e) != 0) {
        err_set(e, PP_ETLS, "%s: %s", what,
                grc < 0 ? gnutls_strerror(grc) : "certificate cannot be read");
        if (!have_pcert)
            memset(&c->pcert, 0, sizeof(c->pcert));
        else
            gnutls_pcert_deinit(&c->pcert);
        gnutls_privkey_deinit(c->key);
        sim_tls_pem_cleanup(&c->pem);
        free(c);
        return NULL;
    }
    return c;
}

/* Read a whole file of at most PEM_FILE_MAX bytes.  NULL (errno ENOENT, or e set) otherwise. */
static char *read_small(const char *path, struct err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *s = xmalloc(PEM_FILE_MAX + 1);
    size_t n = fread(s, 1, PEM_FILE_MAX + 1, f);
    fclose(f);
    if (n > PEM_FILE_MAX) {
        free(s);
        err_set(e, PP_ELIMIT, "%s: over %u bytes", path, PEM_FILE_MAX);
        errno = EFBIG;
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static int write_file(const char *path, const char *data, mode_t mode, struct err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
        }
        off += (size_t)w;
    }
    return close(fd) == 0 ? 0 : err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
}

static int pem_write(const char *dir, const char *address, const struct sim_tls_pem *p,
                     struct err *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.key", dir, address);
    int rc = write_file(path, p->key, 0600, e);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, address);
    return rc ? rc : write_file(path, p->cert, 0644, e);
}

/* The PEM pair for address: from dir when both files are there, else generated (and saved). */
static int pem_for(const char *dir, const char *address, struct sim_tls_pem *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (dir) {
        char cp[4096], kp[4096];
        snprintf(cp, sizeof(cp), "%s/%s.pem", dir, address);
        snprintf(kp, sizeof(kp), "%s/%s.key", dir, address);
        out->cert = read_small(cp, e);
        out->key = out->cert ? read_small(kp, e) : NULL;
        if (out->cert && out->key)
            return 0;
        bool missing = errno == ENOENT;
        sim_tls_pem_cleanup(out);
        if (!missing)
            return e && e->code ? e->code : err_set(e, PP_EIO, "%s: %s", cp, strerror(errno));
    }
    int rc = sim_tls_pem_generate(address, out, e);
    if (rc == 0 && dir)
        rc = pem_write(dir, address, out, e);
    if (rc != 0)
        sim_tls_pem_cleanup(out);
    return rc;
}

int sim_tls_new(const char *const *addresses, size_t n, const char *dir, struct sim_tls **out,
                struct err *e)
{
    struct sim_tls *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    sim_hmap_init(&t->by_addr);
    t->dir = dir ? xstrdup(dir) : NULL;
    t->hosts = xcalloc(n ? n : 1, sizeof(*t->hosts));
    *out = NULL;
    if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int rc = err_set(e, PP_EIO, "--tls-dir %s: %s", dir, strerror(errno));
        sim_tls_free(t);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct tls_host *h = &t->hosts[i];
        struct sim_tls_pem pem;
        str_lcpy(h->address, addresses[i], sizeof(h->address));
        t->n = i + 1;
        int rc = pem_for(dir, h->address, &pem, e);
        if (rc == 0 && !(h->cur = cert_load(&pem, h->address, e)))
            rc = PP_ETLS;
        sim_tls_pem_cleanup(&pem);
        if (rc != 0) {
            err_prefix(e, "TLS certificate of %s: ", h->address);
            sim_tls_free(t);
            return rc;
        }
        sim_hmap_put(&t->by_addr, h->address, h);
    }
    *out = t;
    return 0;
}

void sim_tls_free(struct sim_tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        cert_free(t->hosts[i].cur);
    free(t->hosts);
    sim_hmap_cleanup(&t->by_addr);
    free(t->dir);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int sim_tls_lookup(struct sim_tls *t, const char *address, void **pcert, void **privkey)
{
    pthread_mutex_lock(&t->mu);
    struct tls_host *h = sim_hmap_get(&t->by_addr, address);
    if (h) {
        *pcert = &h->cur->pcert;
        *privkey = h->cur->key;
    }
    pthread_mutex_unlock(&t->mu);
    return h ? 0 : PP_ENOTFOUND;
}

int sim_tls_rotate(struct sim_tls *t, const char *address, const struct sim_tls_pem *pem,
                   struct err *e)
{
    struct sim_tls_pem fresh = {0};
    struct tls_host *h = sim_hmap_get(&t->by_addr, address); /* the map never changes after new */
    if (!h)
        return err_set(e, PP_ENOTFOUND, "no simulated host at %s", address);
    int rc = pem ? 0 : sim_tls_pem_generate(address, &fresh, e);
    struct tls_cert *c = rc == 0 ? cert_load(pem ? pem : &fresh, address, e) : NULL;
    if (c && t->dir)
        rc = pem_write(t->dir, address, &c->pem, e);
    sim_tls_pem_cleanup(&fresh);
    if (!c || rc != 0) {
        cert_free(c);
        return rc ? rc : PP_ETLS;
    }
    pthread_mutex_lock(&t->mu);
    c->retired = h->cur;
    h->cur = c;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

json_t *sim_tls_json(struct sim_tls *t)
{
    json_t *hosts = json_array();
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++) {
        const struct tls_host *h = &t->hosts[i];
        json_array_append_new(hosts,
                              json_pack("{s:s, s:s, s:s}", "address", h->address, "fingerprint",
                                        h->cur->fp, "certificate", h->cur->pem.cert));
    }
    pthread_mutex_unlock(&t->mu);
    return json_pack("{s:o}", "hosts", hosts);
}
