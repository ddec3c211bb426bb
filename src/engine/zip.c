/* SPDX-License-Identifier: MIT */
/*
 * zip.c - update zips read with libarchive: validation pass, then the image streamed out.
 * See zip.h for the rules.
 */
#include "engine/zip.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"

#define ZIMG_BLOCK  65536
#define RATIO_SLACK (1024 * 1024) /* tiny images compress well: allow 1 MiB before judging */

struct zimg {
    char *path;
    char *name;
    int64_t size;
    int64_t pos;
    int fd;            /* bare image */
    struct archive *a; /* zip */
    int index;         /* image entry's index in the archive */
    struct zimg_limits lim;
};

static void limits_fill(struct zimg_limits *l, const struct zimg_limits *in)
{
    memset(l, 0, sizeof(*l));
    if (in)
        *l = *in;
    if (l->max_image_bytes <= 0)
        l->max_image_bytes = 4LL << 30;
    if (l->max_total_bytes <= 0)
        l->max_total_bytes = 8LL << 30;
    if (l->max_ratio <= 0)
        l->max_ratio = 200.0;
    if (l->max_entries <= 0)
        l->max_entries = 64;
}

static bool is_image_name(const char *name)
{
    size_t n = strlen(name);
    const char *exts[] = {".iso", ".xsupdate"};
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && str_eq_nocase(name + n - k, exts[i]))
            return true;
    }
    return false;
}

/* The rule an entry name breaks, or NULL when it is safe. */
static const char *bad_name(const char *name)
{
    if (!name || !*name)
        return "an entry has no name";
    if (name[0] == '/' || name[0] == '\\')
        return "absolute path";
    if (strlen(name) >= 2 && name[1] == ':')
        return "drive letter in path";
    if (strlen(name) > 1024)
        return "name too long";
    const char *p = name;
    while (*p) {
        size_t len = strcspn(p, "/\\");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return "'..' in path";
        p += len;
        if (*p)
            p++;
    }
    return NULL;
}

static bool is_zip_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && m[0] == 'P' && m[1] == 'K' && m[2] == 3 && m[3] == 4;
}

static int open_archive(const char *path, struct archive **out, struct err *e)
{
    struct archive *a = archive_read_new();
    if (!a)
        return err_set(e, PP_ENOMEM, "libarchive: out of memory");
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, path, ZIMG_BLOCK) != ARCHIVE_OK) {
        int rc = err_set(e, PP_EPARSE, "%s: not a readable update zip: %s", path,
                         archive_error_string(a) ? archive_error_string(a) : "unknown error");
        archive_read_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static const char *entry_name(struct archive_entry *en)
{
    const char *n = archive_entry_pathname_utf8(en);
    return n ? n : archive_entry_pathname(en);
}

/*
 * libarchive converts an entry name to the calling thread's locale; in the daemon's "C" locale a
 * non-ASCII UTF-8 name cannot be converted and the entry comes back nameless (so a zip with
 * "XS82-ü.iso" was refused as "an entry has no name").  The header passes therefore run with
 * a thread-local C.UTF-8 LC_CTYPE (uselocale: no other thread is affected); names that are not
 * valid UTF-8 still fail the conversion and are refused by name_unreadable's message.
 */
static locale_t utf8_enter(void)
{
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (l == (locale_t)0)
        return (locale_t)0;
    return uselocale(l);
}

static void utf8_leave(locale_t old)
{
    if (old == (locale_t)0)
        return;
    locale_t cur = uselocale(old);
    if (cur != (locale_t)0 && cur != LC_GLOBAL_LOCALE)
        freelocale(cur);
}

/* Decompress the current entry to count its bytes, enforcing the size and ratio limits. */
static int measure(struct archive *a, const char *path, const char *name,
                   const struct zimg_limits *l, int64_t *size, struct err *e)
{
    int64_t start_raw = archive_filter_bytes(a, -1);
    int64_t total = 0;
    char *blk = xmalloc(ZIMG_BLOCK);
    int rc = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, blk, ZIMG_BLOCK);
        if (n < 0) {
            rc = err_set(e, PP_EPARSE, "%s: %s: %s", path, name, archive_error_string(a));
            break;
        }
        if (n == 0)
            break;
        total += n;
        if (total > l->max_image_bytes) {
            rc = err_set(e, PP_ELIMIT, "%s: %s is larger than %lld bytes", path, name,
                         (long long)l->max_image_bytes);
            break;
        }
        int64_t raw = archive_filter_bytes(a, -1) - start_raw;
        if (raw < 1)
            raw = 1;
        if (total > RATIO_SLACK && (double)total / (double)raw > l->max_ratio) {
            rc = err_set(e, PP_ELIMIT, "%s: %s expands more than %.0f times (a zip bomb?); refused",
                         path, name, l->max_ratio);
            break;
        }
    }
    free(blk);
    *size = total;
    return rc;
}

/* First pass: check every entry, find the single image, measure it. */
static int validate(struct zimg *z, struct err *e)
{
    struct archive *a = NULL;
    int rc = open_archive(z->path, &a, e);
    if (rc)
        return rc;
    struct archive_entry *en;
    int idx = -1, n_images = 0, count = 0;
    int64_t total = 0;
    char *first = NULL, *second = NULL;
    for (;;) {
        int r = archive_read_next_header(a, &en);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = err_set(e, PP_EPARSE, "%s: damaged zip: %s", z->path, archive_error_string(a));
            goto out;
        }
        if (++count > z->lim.max_entries) {
            rc = err_set(e, PP_ELIMIT, "%s: more than %d entries", z->path, z->lim.max_entries);
            goto out;
        }
        const char *name = entry_name(en);
        if (!name && r == ARCHIVE_WARN) {
            rc = err_set(e, PP_EINVAL, "%s: entry %d refused: its name is not valid UTF-8 (%s)",
                         z->path, count, archive_error_string(a) ? archive_error_string(a) : "");
            goto out;
        }
        const char *why = bad_name(name);
        if (why) {
            rc = err_set(e, PP_EINVAL, "%s: entry \"%s\" refused: %s", z->path, name ? name : "",
                         why);
            goto out;
        }
        mode_t type = archive_entry_filetype(en);
        if (type == AE_IFDIR)
            continue;
        if (type != AE_IFREG || archive_entry_hardlink(en) || archive_entry_symlink(en)) {
            rc = err_set(e, PP_EINVAL, "%s: entry \"%s\" refused: not a regular file", z->path,
                         name);
            goto out;
        }
        if (archive_entry_size_is_set(en)) {
            total += archive_entry_size(en);
            if (total > z->lim.max_total_bytes) {
                rc = err_set(e, PP_ELIMIT, "%s: entries add up to more than %lld bytes", z->path,
                             (long long)z->lim.max_total_bytes);
                goto out;
            }
        }
        if (!is_image_name(name)) {
            archive_read_data_skip(a);
            continue;
        }
        n_images++;
        if (n_images == 1) {
            first = xstrdup(name);
            idx = count - 1;
            rc = measure(a, z->path, name, &z->lim, &z->size, e);
            if (rc)
                goto out;
        } else {
            second = xstrdup(name);
            archive_read_data_skip(a);
        }
    }
    if (n_images == 0) {
        rc = err_set(e, PP_EINVAL, "%s: no .iso or .xsupdate file in the zip", z->path);
        goto out;
    }
    if (n_images > 1) {
        rc = err_set(e, PP_EINVAL,
                     "%s: %d update images in the zip (%s, %s...): expected exactly one", z->path,
                     n_images, first, second);
        goto out;
    }
    z->name = first;
    first = NULL;
    z->index = idx;
out:
    free(first);
    free(second);
    archive_read_free(a);
    return rc;
}

/* Second pass: open again and stop at the image entry. */
static int position(struct zimg *z, struct err *e)
{
    int rc = open_archive(z->path, &z->a, e);
    if (rc)
        return rc;
    struct archive_entry *en = NULL;
    for (int i = 0; i <= z->index; i++) {
        int r = archive_read_next_header(z->a, &en);
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return err_set(e, PP_EPARSE, "%s: changed while reading", z->path);
    }
    if (!en || !str_eq(entry_name(en), z->name))
        return err_set(e, PP_EPARSE, "%s: changed while reading", z->path);
    return 0;
}

/*
 * Open an update file (see zip.h).  *out owned by the caller (zimg_close).  Thread: any.
 */
int zimg_open(const char *path, const struct zimg_limits *lim, struct zimg **out, struct err *e)
{
    *out = NULL;
    if (!path || !*path)
        return err_set(e, PP_EINVAL, "no update file given");
    struct zimg *z = xcalloc(1, sizeof(*z));
    z->fd = -1;
    z->path = xstrdup(path);
    limits_fill(&z->lim, lim);
    int rc;
    if (is_zip_file(path)) {
        locale_t old = utf8_enter();
        rc = validate(z, e);
        if (rc == 0)
            rc = position(z, e);
        utf8_leave(old);
    } else {
        z->fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (z->fd < 0 || fstat(z->fd, &st) != 0) {
            rc = err_set(e, PP_EIO, "%s: %s", path, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            rc = err_set(e, PP_EINVAL, "%s: not a regular file", path);
        } else if (st.st_size > z->lim.max_image_bytes) {
            rc = err_set(e, PP_ELIMIT, "%s is larger than %lld bytes", path,
                         (long long)z->lim.max_image_bytes);
        } else {
            const char *slash = strrchr(path, '/');
            z->name = xstrdup(slash ? slash + 1 : path);
            z->size = st.st_size;
            rc = 0;
        }
    }
    if (rc) {
        zimg_close(z);
        return rc;
    }
    *out = z;
    return 0;
}

/* Size of the image (see zip.h). */
int64_t zimg_size(const struct zimg *z)
{
    return z->size;
}

/* Name of the image (borrowed). */
const char *zimg_name(const struct zimg *z)
{
    return z->name;
}

/* Read the next bytes of the image (see zip.h). */
ssize_t zimg_read(struct zimg *z, void *buf, size_t n, struct err *e)
{
    if (z->pos >= z->size)
        return 0;
    if ((int64_t)n > z->size - z->pos)
        n = (size_t)(z->size - z->pos);
    ssize_t got;
    if (z->fd >= 0) {
        do {
            got = read(z->fd, buf, n);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            return err_set(e, PP_EIO, "%s: %s", z->path, strerror(errno));
    } else {
        got = archive_read_data(z->a, buf, n);
        if (got < 0)
            return err_set(e, PP_EPARSE, "%s: %s", z->path, archive_error_string(z->a));
    }
    if (got == 0)
        return err_set(e, PP_EIO, "%s: ended after %lld of %lld bytes", z->path, (long long)z->pos,
                       (long long)z->size);
    z->pos += got;
    return got;
}

/* Read the whole image into memory; *data owned by the caller (free). */
int zimg_read_all(struct zimg *z, void **data, size_t *len, struct err *e)
{
    char *p = xmalloc(z->size > 0 ? (size_t)z->size : 1);
    size_t off = 0;
    while ((int64_t)off < z->size) {
        ssize_t n = zimg_read(z, p + off, (size_t)(z->size - (int64_t)off), e);
        if (n < 0) {
            free(p);
            return (int)n;
        }
        off += (size_t)n;
    }
    *data = p;
    *len = off;
    return 0;
}

/* Release; NULL ok. */
void zimg_close(struct zimg *z)
{
    if (!z)
        return;
    if (z->fd >= 0)
        close(z->fd);
    if (z->a)
        archive_read_free(z->a);
    free(z->path);
    free(z->name);
    free(z);
}
