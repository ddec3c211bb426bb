/* SPDX-License-Identifier: MIT */
/*
 * update_file.h - which update an update file holds, read from the file itself: the update.xml
 * inside the image (the .iso in a vendor zip, or a bare .iso), as xapi's pool_update.introduce
 * reads it (catalog_update_xml_parse), so that poolpatch plans, uploads and introduces exactly
 * the update the pool will see.
 *
 * Images understood: an ISO 9660 image with update.xml in its root directory (the vendor's
 * hotfixes, xen-api ocaml/xapi/xapi_pool_update.ml extract_update_info), and the simulator's
 * images (update.xml at the first byte, NUL padding: docs/simulator.md).  A legacy .xsupdate
 * (pool_patch) carries no update.xml and is refused.
 *
 * Untrusted input: the zip rules of zip.h, then at most UFILE_HEAD_MAX bytes of head, at most
 * UFILE_ISO_ENTRIES directory entries of the ISO, an update.xml of at most CAT_UPDATE_XML_MAX.
 * Thread: any (reads the file on the calling thread).  Errors of ufile_identify: PP_EINVAL
 * "LABEL: not a valid update: why" (also for a broken limit: the file is refused, not the
 * request), PP_EIO (cannot read the file).
 */
#ifndef PP_ENGINE_UPDATE_FILE_H
#define PP_ENGINE_UPDATE_FILE_H

#include "catalog/catalog.h"

#include <stdint.h>

struct err;
struct zimg_limits;

#define UFILE_HEAD_MAX    (64 * 1024)
#define UFILE_ISO_ENTRIES 4096

struct ufile_info {
    struct cat_update_meta meta;
    char image_name[256]; /* the .iso entry (or the file's own name) */
    int64_t image_size;   /* bytes uploaded to the pool */
    const char *format;   /* "iso" or "image" (the simulator's) */
};

/*
 * Identify the update in the file at path, shown to the user as label (the name it was uploaded
 * under).  lim: the zip limits (NULL = zip.h defaults).  0 and *out filled, or an error whose
 * message starts with label.
 */
int ufile_identify(const char *path, const char *label, const struct zimg_limits *lim,
                   struct ufile_info *out, struct err *e);

/*
 * The same for an image already in memory (data, len: its first bytes, at most the whole image;
 * the fuzz harness and unit tests).  Pure.
 */
int ufile_identify_image(const unsigned char *data, size_t len, struct ufile_info *out,
                         struct err *e);

#endif
