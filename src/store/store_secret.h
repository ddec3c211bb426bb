/* SPDX-License-Identifier: MIT */
/*
 * store_secret.h - secrets at rest: pool passwords, the vendor API key and the file-service
 * token are stored encrypted (AES-256-GCM through OpenSSL's EVP AEAD interface) with a key kept
 * in a separate owner-only file, by default "<database>.key".  docs/security.md.
 *
 * Stored form: "ppenc1:<key id>:<base64(nonce | ciphertext | tag)>"; a value without the prefix
 * is a plaintext from an older database and is sealed on the next open (store_secret_migrate).
 * The key file holds "ppkey1 <id> <64 hex digits>" lines; the first is the current key, others
 * still decrypt (a rotation in progress).  Thread: as the store connection.
 */
#ifndef PP_STORE_STORE_SECRET_H
#define PP_STORE_STORE_SECRET_H

#include <stdbool.h>

struct store;
struct err;

#define STORE_SECRET_PREFIX "ppenc1:"

/*
 * Load the key file at path (NULL = "<database>.key"); when it does not exist and create is
 * true, make one (0600, O_EXCL) with a random key.  A key file readable by others is refused.
 * Errors: PP_EIO, PP_EPARSE (malformed), PP_EINVAL (mode).
 */
int store_secret_load(struct store *s, const char *path, bool create, struct err *e);
/* True when s has a key (secrets are sealed). */
bool store_secret_enabled(const struct store *s);
/* Seal plain (NULL stays NULL) with the current key: a new string.  Without a key, a copy. */
char *store_secret_seal(struct store *s, const char *plain);
/*
 * Replace *value (heap, may be NULL) by its plaintext when it is sealed.  Errors: PP_EAUTH (no
 * key with that id, or the value does not authenticate: wrong key file), PP_EPARSE.
 */
int store_secret_unseal(struct store *s, char **value, struct err *e);
/* Seal every secret still stored in plaintext (one transaction).  0 or PP_EDB. */
int store_secret_migrate(struct store *s, struct err *e);
/*
 * Rotate: a new key first in the key file (the old one kept), every secret re-sealed with it in
 * one transaction, then the old key dropped from the file.  A crash at any point leaves a key
 * file that still opens every stored value.  0, PP_EIO or PP_EDB.
 */
int store_secret_rotate(struct store *s, struct err *e);
/* Copy the key file to "<db_path>.key" (a backup of the database goes with its key). */
int store_secret_copy_key(struct store *s, const char *db_path, struct err *e);
/* Forget the keys (store_close). */
void store_secret_cleanup(struct store *s);

#endif
