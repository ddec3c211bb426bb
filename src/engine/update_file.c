/* SPDX-License-Identifier: MIT */
/*
 * update_file.c - identify the update an update file holds from its own update.xml (see
 * update_file.h): the image comes out of the zip through zimg (zip.c, which enforces the
 * archive rules), its head tells the format, and an ISO is read with libarchive's iso9660
 * reader fed from that same stream (nothing is written to disk).
 */
#include "engine/update_file.h"

#include "base/err.h"
#include "base/str.h"
#include "engine/zip.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#define ISO_MAGIC_OFF 32769 /* "CD001" of the primary volume descriptor (sector 16, byte 1) */

/* The image as a stream: the head already read, then the rest from z (NULL: head only). */
struct isrc {
    const unsigned char *head;
    size_t head_len, head_off;
    struct zimg *z;
    unsigned char buf[65536];
    struct err zerr; /* a failure of z */
};

static la_ssize_t src_read(struct archive *a, void *ud, const void **out)
{
    struct isrc *s = ud;
    ssize_t got;

    (void)a;
    if (s->head_off < s->head_len) {
        *out = s->head + s->head_off;
        got = (ssize_t)(s->head_len - s->head_off);
        s->head_off = s->head_len;
        return got;
    }
    if (!s->z)
        return 0;
    got = zimg_read(s->z, s->buf, sizeof s->buf, &s->zerr);
    if (got < 0)
        return -1;
    *out = s->buf;
    return got;
}

static bool is_iso(const unsigned char *h, size_t n)
{
    return n >= ISO_MAGIC_OFF + 5 && memcmp(h + ISO_MAGIC_OFF, "CD001", 5) == 0;
}

/* update.xml of an ISO 9660 image, in the root directory (as xapi mounts the image and reads
 * update.xml at its top). */
static int iso_update_xml(struct isrc *s, struct cat_update_meta *m, struct err *e)
{
    struct archive *a = archive_read_new();
    struct archive_entry *en;
    int rc = 1, n = 0;

    if (!a)
        return err_set(e, PP_ENOMEM, "libarchive: out of memory");
    archive_read_support_format_iso9660(a);
    if (archive_read_open(a, s, NULL, src_read, NULL) != ARCHIVE_OK) {
        rc = err_set(e, PP_EINVAL, "the ISO image cannot be read: %s",
                     s->zerr.msg[0] ? s->zerr.msg : archive_error_string(a));
        goto out;
    }
    while (rc == 1) {
        int r = archive_read_next_header(a, &en);
        if (r == ARCHIVE_EOF) {
            rc = err_set(e, PP_EINVAL, "the ISO image has no update.xml (not a hotfix image)");
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = err_set(e, PP_EINVAL, "the ISO image cannot be read: %s",
                         s->zerr.msg[0] ? s->zerr.msg : archive_error_string(a));
            break;
        }
        if (++n > UFILE_ISO_ENTRIES) {
            rc = err_set(e, PP_ELIMIT, "the ISO image has more than %d entries before update.xml",
                         UFILE_ISO_ENTRIES);
            break;
        }
        const char *name = archive_entry_pathname(en);
        if (!name || archive_entry_filetype(en) != AE_IFREG ||
            !(str_eq_nocase(name, "update.xml") || str_eq_nocase(name, "./update.xml")))
            continue;
        int64_t size = archive_entry_size(en);
        if (size <= 0 || size > CAT_UPDATE_XML_MAX) {
            rc = err_set(e, PP_ELIMIT, "update.xml in the ISO image is %lld bytes (limit %d)",
                         (long long)size, CAT_UPDATE_XML_MAX);
            break;
        }
        char *xml = malloc((size_t)size);
        la_ssize_t got = xml ? archive_read_data(a, xml, (size_t)size) : -1;
        rc = got == size ? catalog_update_xml_parse(xml, (size_t)size, m, e)
                         : err_set(e, PP_EINVAL, "update.xml in the ISO image cannot be read");
        free(xml);
    }
out:
    archive_read_free(a);
    return rc;
}

/* Identify from the head (and, for an ISO, the rest of the stream). */
static int identify(struct isrc *s, struct ufile_info *out, struct err *e)
{
    const unsigned char *h = s->head;
    size_t n = s->head_len, i = 0;

    while (i < n && i < 64 && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
        i++;
    if (i < n && h[i] == '<') {
        /* the simulator's image: update.xml at the first byte, then NUL padding */
        const unsigned char *nul = memchr(h, 0, n);
        size_t len = nul ? (size_t)(nul - h) : n;
        if (!nul && s->z && zimg_size(s->z) > (int64_t)n)
            return err_set(e, PP_ELIMIT, "update.xml at the start of the image is over %d bytes",
                           CAT_UPDATE_XML_MAX);
        out->format = "image";
        return catalog_update_xml_parse((const char *)h, len, &out->meta, e);
    }
    if (is_iso(h, n)) {
        out->format = "iso";
        return iso_update_xml(s, &out->meta, e);
    }
    return err_set(e, PP_EINVAL,
                   "the image is neither an ISO 9660 image nor an update image (no update.xml)");
}

/* See update_file.h. */
int ufile_identify_image(const unsigned char *data, size_t len, struct ufile_info *out,
                         struct err *e)
{
    struct isrc *s = calloc(1, sizeof *s);
    int rc;

    memset(out, 0, sizeof *out);
    if (!s)
        return err_set(e, PP_ENOMEM, "out of memory");
    s->head = data;
    s->head_len = len;
    out->image_size = (int64_t)len;
    str_lcpy(out->image_name, "image", sizeof out->image_name);
    rc = len ? identify(s, out, e) : err_set(e, PP_EINVAL, "the image is empty");
    free(s);
    return rc;
}

/* See update_file.h. */
int ufile_identify(const char *path, const char *label, const struct zimg_limits *lim,
                   struct ufile_info *out, struct err *e)
{
    struct zimg *z = NULL;
    struct isrc *s = NULL;
    unsigned char *head = NULL;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (!label)
        label = path;
    rc = zimg_open(path, lim, &z, e);
    if (rc == 0) {
        str_lcpy(out->image_name, zimg_name(z), sizeof out->image_name);
        out->image_size = zimg_size(z);
        head = malloc(UFILE_HEAD_MAX);
        s = calloc(1, sizeof *s);
        if (!head || !s)
            rc = err_set(e, PP_ENOMEM, "out of memory");
    }
    while (rc == 0 && n < UFILE_HEAD_MAX && (int64_t)n < out->image_size) {
        ssize_t got = zimg_read(z, head + n, UFILE_HEAD_MAX - n, e);
        if (got < 0)
            rc = (int)got;
        else
            n += (size_t)got;
    }
    if (rc == 0 && n == 0)
        rc = err_set(e, PP_EINVAL, "the image %s is empty", out->image_name);
    if (rc == 0) {
        s->head = head;
        s->head_len = n;
        s->z = z;
        rc = identify(s, out, e);
    }
    if (rc != 0) {
        /* zip.c's messages start with the path (the state directory's name for it): say the
         * name the user knows, and that this is not an update pool_update.introduce accepts */
        const char *msg = e ? e->msg : "";
        if (str_has_prefix(msg, path))
            msg += strlen(path) + (msg[strlen(path)] == ':' ? 1 : 0);
        while (*msg == ' ')
            msg++;
        if (e) {
            char tail[sizeof e->msg];
            str_lcpy(tail, msg, sizeof tail);
            rc = err_set(e, rc == PP_EIO ? PP_EIO : PP_EINVAL, "%s: not a valid update: %s", label,
                         tail);
        } else {
            rc = rc == PP_EIO ? PP_EIO : PP_EINVAL;
        }
    }
    free(s);
    free(head);
    zimg_close(z);
    return rc;
}
