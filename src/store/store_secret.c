/* SPDX-License-Identifier: MIT */
/*
 * store_secret.c - encryption of the secrets the store keeps (AES-256-GCM, OpenSSL EVP), the
 * key file beside the database, migration of plaintext rows and key rotation.
 */
#include "store/store_secret.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "store/store.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN     32
#define NONCE_LEN   12
#define TAG_LEN     16
#define KEYS_MAX    4
#define SECRET_MAX  4096 /* bytes of one plaintext secret */
#define KEYFILE_TAG "ppkey1"

struct store_key {
    char id[9]; /* 8 hex digits */
    unsigned char k[KEY_LEN];
};

struct store_keyring {
    char *path;
    struct store_key keys[KEYS_MAX]; /* [0] is current */
    int n;
};

/* The (table, column) pairs that hold secrets. */
static const char *const secret_cols[][2] = {
    {"pools", "password"},
    {"client_id", "apikey"},
    {"client_id", "token"},
    {"client_id", "session_id"},
};

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_key_line(const char *line, struct store_key *k)
{
    char tag[8], id[16], hex[80];

    if (sscanf(line, "%7s %15s %79s", tag, id, hex) != 3 || !str_eq(tag, KEYFILE_TAG) ||
        strlen(id) != 8 || strlen(hex) != 2 * KEY_LEN)
        return -1;
    for (int i = 0; i < 8; i++) {
        if (hexval(id[i]) < 0)
            return -1;
    }
    for (int i = 0; i < KEY_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        k->k[i] = (unsigned char)(hi << 4 | lo);
    }
    str_lcpy(k->id, id, sizeof k->id);
    return 0;
}

static int new_key(struct store_key *k, struct err *e)
{
    unsigned char id[4];

    if (RAND_bytes(k->k, KEY_LEN) != 1 || RAND_bytes(id, sizeof id) != 1)
        return err_set(e, PP_EIO, "cannot get random bytes for a secrets key");
    snprintf(k->id, sizeof k->id, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
    return 0;
}

/*
 * Write the keys to path atomically (temporary file 0600, fsync, then rename; or link when
 * exclusive, so that of two processes creating the first key only one wins: PP_ESTATE).
 */
static int write_keys_ex(const char *path, const struct store_key *keys, int n, bool exclusive,
                         struct err *e)
{
    char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = 0;

    if (!f) {
        if (fd >= 0)
            close(fd);
        rc = err_set(e, PP_EIO, "cannot write the secrets key file %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    fchmod(fd, 0600);
    fprintf(f, "# poolpatch secrets key (keep it apart from database backups; 0600)\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s %s ", KEYFILE_TAG, keys[i].id);
        for (int j = 0; j < KEY_LEN; j++)
            fprintf(f, "%02x", keys[i].k[j]);
        fputc('\n', f);
    }
    if (fflush(f) != 0 || fsync(fd) != 0)
        rc = err_set(e, PP_EIO, "writing %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, PP_EIO, "writing %s: %s", tmp, strerror(errno));
    if (rc == 0 && exclusive && link(tmp, path) != 0)
        rc = errno == EEXIST ? PP_ESTATE
                             : err_set(e, PP_EIO, "cannot create %s: %s", path, strerror(errno));
    else if (rc == 0 && !exclusive && rename(tmp, path) != 0)
        rc = err_set(e, PP_EIO, "cannot replace %s: %s", path, strerror(errno));
    if (rc != 0 || exclusive)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int write_keys(const char *path, const struct store_key *keys, int n, struct err *e)
{
    return write_keys_ex(path, keys, n, false, e);
}

static int read_keys(struct store_keyring *kr, FILE *f, struct err *e)
{
    char line[256];
    int lineno = 0;

    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (kr->n == KEYS_MAX || parse_key_line(line, &kr->keys[kr->n]) != 0)
            return err_set(e, PP_EPARSE, "%s:%d: expected '%s ID 64-HEX-DIGITS'", kr->path, lineno,
                           KEYFILE_TAG);
        kr->n++;
    }
    if (kr->n == 0)
        return err_set(e, PP_EPARSE, "%s: no key in the secrets key file", kr->path);
    return 0;
}

int store_secret_load(struct store *s, const char *path, bool create, struct err *e)
{
    struct store_keyring *kr = xcalloc(1, sizeof *kr);
    struct stat sb;
    FILE *f;
    int rc = 0;

    kr->path = path ? xstrdup(path) : xasprintf("%s.key", store_path(s));
    if (stat(kr->path, &sb) != 0 && errno == ENOENT && create) {
        rc = new_key(&kr->keys[0], e);
        if (rc == 0)
            rc = write_keys_ex(kr->path, kr->keys, 1, true, e);
        kr->n = 1;
    }
    if (rc == PP_ESTATE) { /* another process made it first: use that one */
        rc = 0;
        kr->n = 0;
    }
    if (kr->n == 1) {
    } else if (!(f = fopen(kr->path, "re"))) {
        rc = err_set(e, PP_EIO, "cannot read the secrets key file %s: %s", kr->path,
                     strerror(errno));
    } else {
        if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077))
            rc = err_set(e, PP_EINVAL,
                         "the secrets key file %s is accessible by group or others (mode "
                         "%04o); fix with: chmod 600 %s",
                         kr->path, (unsigned)(sb.st_mode & 07777), kr->path);
        else
            rc = read_keys(kr, f, e);
        fclose(f);
    }
    store_secret_cleanup(s);
    if (rc != 0) {
        explicit_bzero(kr->keys, sizeof kr->keys);
        free(kr->path);
        free(kr);
        return rc;
    }
    s->keys = kr;
    return 0;
}

bool store_secret_enabled(const struct store *s)
{
    return s->keys && s->keys->n > 0;
}

void store_secret_cleanup(struct store *s)
{
    if (!s->keys)
        return;
    explicit_bzero(s->keys->keys, sizeof s->keys->keys);
    free(s->keys->path);
    free(s->keys);
    s->keys = NULL;
}

/* AES-256-GCM in one direction; out holds len bytes.  1 on success. */
static int gcm(bool enc, const struct store_key *k, const unsigned char *nonce,
               const unsigned char *in, int len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c != NULL;

    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, k->k, nonce, enc) == 1;
    /* the key id is authenticated too */
    ok = ok && EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)k->id, 8) == 1;
    ok = ok && EVP_CipherUpdate(c, out, &n, in, len) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + n, &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static char *seal_with(const struct store_key *k, const char *plain)
{
    int len = (int)strnlen(plain, SECRET_MAX);
    size_t raw_len = NONCE_LEN + (size_t)len + TAG_LEN;
    unsigned char *raw = xmalloc(raw_len);
    char *b64 = xmalloc(4 * ((raw_len + 2) / 3) + 1), *out = NULL;

    if (RAND_bytes(raw, NONCE_LEN) == 1 && gcm(true, k, raw, (const unsigned char *)plain, len,
                                               raw + NONCE_LEN, raw + NONCE_LEN + len)) {
        EVP_EncodeBlock((unsigned char *)b64, raw, (int)raw_len);
        out = xasprintf(STORE_SECRET_PREFIX "%s:%s", k->id, b64);
    }
    explicit_bzero(raw, raw_len);
    free(raw);
    free(b64);
    return out;
}

char *store_secret_seal(struct store *s, const char *plain)
{
    char *out;

    if (!plain)
        return NULL;
    if (!store_secret_enabled(s) || str_has_prefix(plain, STORE_SECRET_PREFIX))
        return xstrdup(plain);
    out = seal_with(&s->keys->keys[0], plain);
    if (!out)
        abort(); /* the cipher is built in: failing here is not recoverable */
    return out;
}

static const struct store_key *key_by_id(const struct store *s, const char *id)
{
    for (int i = 0; s->keys && i < s->keys->n; i++) {
        if (strncmp(s->keys->keys[i].id, id, 8) == 0)
            return &s->keys->keys[i];
    }
    return NULL;
}

int store_secret_unseal(struct store *s, char **value, struct err *e)
{
    const char *v = *value, *b64;
    const struct store_key *k;
    unsigned char *raw;
    int raw_len, len;

    if (!v || !str_has_prefix(v, STORE_SECRET_PREFIX))
        return 0;
    v += strlen(STORE_SECRET_PREFIX);
    b64 = strchr(v, ':');
    if (!b64 || b64 - v != 8)
        return err_set(e, PP_EPARSE, "a stored secret is malformed");
    if (!(k = key_by_id(s, v)))
        return err_set(e, PP_EAUTH,
                       "a stored secret was sealed with key %.8s, which is not in the secrets key "
                       "file%s%s: restore the key file that belongs to this database",
                       v, s->keys ? " " : "", s->keys ? s->keys->path : "");
    b64++;
    raw = xmalloc(strlen(b64) + 4);
    raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    /* EVP_DecodeBlock counts the padding as bytes: take them off */
    for (size_t n = strlen(b64); raw_len > 0 && n > 0 && b64[n - 1] == '='; n--)
        raw_len--;
    len = raw_len - NONCE_LEN - TAG_LEN;
    if (len < 0) {
        free(raw);
        return err_set(e, PP_EPARSE, "a stored secret is malformed");
    }
    char *plain = xmalloc((size_t)len + 1);
    if (!gcm(false, k, raw, raw + NONCE_LEN, len, (unsigned char *)plain, raw + NONCE_LEN + len)) {
        free(raw);
        free(plain);
        return err_set(e, PP_EAUTH, "a stored secret does not decrypt with key %s (damaged)",
                       k->id);
    }
    plain[len] = '\0';
    free(raw);
    explicit_bzero(*value, strlen(*value));
    free(*value);
    *value = plain;
    return 0;
}

/* Re-seal every secret column; only plaintext ones unless all. */
static int reseal_all(struct store *s, bool all, struct err *e)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof secret_cols / sizeof secret_cols[0]; i++) {
        char *sel = sqlite3_mprintf("SELECT rowid, %s FROM %s WHERE %s IS NOT NULL",
                                    secret_cols[i][1], secret_cols[i][0], secret_cols[i][1]);
        char *upd = sqlite3_mprintf("UPDATE %s SET %s = ?1 WHERE rowid = ?2", secret_cols[i][0],
                                    secret_cols[i][1]);
        sqlite3_stmt *qs = NULL, *us = NULL;
        int src = sqlite3_prepare_v2(s->db, sel, -1, &qs, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_prepare_v2(s->db, upd, -1, &us, NULL);
        while (src == SQLITE_OK && (src = sqlite3_step(qs)) == SQLITE_ROW) {
            char *v = store_col_dup(qs, 1), *sealed = NULL;
            src = SQLITE_OK;
            if (!all && str_has_prefix(v, STORE_SECRET_PREFIX)) {
                free(v);
                continue;
            }
            if ((rc = store_secret_unseal(s, &v, e)) == 0) {
                sealed = seal_with(&s->keys->keys[0], v);
                sqlite3_bind_text(us, 1, sealed, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(us, 2, sqlite3_column_int64(qs, 0));
                src = sqlite3_step(us) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
                sqlite3_reset(us);
            }
            explicit_bzero(v, strlen(v));
            free(v);
            free(sealed);
            if (rc != 0)
                break;
        }
        if (rc == 0 && src != SQLITE_DONE && src != SQLITE_OK)
            rc = store_dberr(s, e, src, "sealing the stored secrets");
        sqlite3_finalize(qs);
        sqlite3_finalize(us);
        sqlite3_free(sel);
        sqlite3_free(upd);
    }
    return rc;
}

int store_secret_migrate(struct store *s, struct err *e)
{
    bool owned;
    int rc;

    if (!store_secret_enabled(s) || store_is_readonly(s))
        return 0;
    if ((rc = store_wbegin(s, &owned, "sealing the stored secrets", e)) != 0)
        return rc;
    rc = reseal_all(s, false, e);
    return store_wend(s, owned, rc, "sealing the stored secrets", e);
}

int store_secret_copy_key(struct store *s, const char *db_path, struct err *e)
{
    char *dst;
    int rc;

    if (!store_secret_enabled(s))
        return 0;
    dst = xasprintf("%s.key", db_path);
    rc = write_keys_ex(dst, s->keys->keys, s->keys->n, true, e);
    if (rc == PP_ESTATE)
        rc = err_set(e, PP_EINVAL, "%s already exists", dst);
    free(dst);
    return rc;
}

int store_secret_rotate(struct store *s, struct err *e)
{
    struct store_key ring[KEYS_MAX];
    bool owned;
    int rc, n;

    if (!store_secret_enabled(s))
        return err_set(e, PP_ESTATE, "no secrets key is loaded");
    n = s->keys->n < KEYS_MAX ? s->keys->n : KEYS_MAX - 1;
    memcpy(ring + 1, s->keys->keys, (size_t)n * sizeof ring[0]);
    if ((rc = new_key(&ring[0], e)) != 0 || (rc = write_keys(s->keys->path, ring, n + 1, e)) != 0)
        return rc;
    memcpy(s->keys->keys, ring, (size_t)(n + 1) * sizeof ring[0]);
    s->keys->n = n + 1;
    if ((rc = store_wbegin(s, &owned, "re-sealing the stored secrets", e)) == 0) {
        rc = reseal_all(s, true, e);
        rc = store_wend(s, owned, rc, "re-sealing the stored secrets", e);
    }
    if (rc == 0 && (rc = write_keys(s->keys->path, ring, 1, e)) == 0)
        s->keys->n = 1;
    explicit_bzero(ring, sizeof ring);
    return rc;
}
