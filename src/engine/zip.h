/* SPDX-License-Identifier: MIT */
/*
 * zip.h - the update image of a rollout, read out of a vendor update zip (or taken as a bare
 * .iso / .xsupdate / simulator image file) with libarchive, validated before a byte is sent:
 * no absolute paths, no "..", no links or devices, bounded entry count, size and compression
 * ratio, and exactly one .iso / .xsupdate entry.  The image is then streamed (no temp file).
 *
 * Ownership: struct zimg is owned by the caller (zimg_close).  Thread: one user at a time.
 * Errors: PP_EIO (cannot open/read), PP_EPARSE (not a readable archive), PP_EINVAL (an entry
 * breaks a rule: the message names it), PP_ELIMIT (a size / ratio / count limit).
 */
#ifndef PP_ENGINE_ZIP_H
#define PP_ENGINE_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct zimg;

struct zimg_limits {
    int64_t max_image_bytes; /* 0 = 4 GiB */
    int64_t max_total_bytes; /* all entries uncompressed; 0 = 8 GiB */
    double max_ratio;        /* uncompressed / compressed of the image; 0 = 200 */
    int max_entries;         /* 0 = 64 */
};

/* Open path: a zip (by content, "PK\3\4") holding one image, or a bare image file.  Validates
 * the whole archive (a first pass that decompresses the image to measure it) and positions the
 * stream at the image's first byte.  *out on success. */
int zimg_open(const char *path, const struct zimg_limits *lim, struct zimg **out, struct err *e);
/* Size in bytes of the image (exact; the upload's Content-Length). */
int64_t zimg_size(const struct zimg *z);
/* Name of the image entry (the file name for a bare image); borrowed. */
const char *zimg_name(const struct zimg *z);
/* Read up to n bytes; returns the count, 0 at the end, or a negative PP_E* with e set (also
 * when the stream differs from what the first pass measured). */
ssize_t zimg_read(struct zimg *z, void *buf, size_t n, struct err *e);
/* Read everything (small images: the in-process transport).  *data owned by the caller. */
int zimg_read_all(struct zimg *z, void **data, size_t *len, struct err *e);
/* Close; NULL is a no-op. */
void zimg_close(struct zimg *z);

#endif
