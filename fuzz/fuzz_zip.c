/* SPDX-License-Identifier: MIT */
/*
 * fuzz_zip.c - libFuzzer harness for update file validation (engine/zip.c): the input is written
 * to a file and opened as an update zip or bare image with small limits.  A refusal must say why;
 * an accepted file must read back exactly the size the first pass measured, within the limits.
 * Then the same file through the update identification (engine/update_file.c: the image's head,
 * an ISO 9660 image read with libarchive, update.xml with expat), and the image's bytes through
 * ufile_identify_image: a refusal names why, an accepted update has a uuid, name and version.
 */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/update_file.h"
#include "engine/zip.h"

static void check_identified(int rc, const struct ufile_info *fi, const struct err *e)
{
    if (rc != 0)
        FUZZ_CHECK(e->code != 0 && e->msg[0]);
    else
        FUZZ_CHECK(fi->meta.uuid[0] && fi->meta.name_label[0] && fi->meta.version[0] && fi->format);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ufile_info fi;
    char path[] = "/tmp/pp-fuzz-zip-XXXXXX";
    struct zimg_limits lim = {
        .max_image_bytes = 1 << 20, .max_total_bytes = 2 << 20, .max_ratio = 50, .max_entries = 8};
    struct zimg *z = NULL;
    struct err e = {0};
    int fd;

    if (size > (1 << 20))
        return 0;
    fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    if (zimg_open(path, &lim, &z, &e) != 0) {
        FUZZ_CHECK(e.code != 0 && e.msg[0]);
    } else {
        void *img = NULL;
        size_t len = 0;
        FUZZ_CHECK(zimg_size(z) >= 0 && zimg_size(z) <= lim.max_image_bytes);
        if (zimg_read_all(z, &img, &len, &e) == 0) {
            FUZZ_CHECK((int64_t)len == zimg_size(z));
            check_identified(ufile_identify_image(img, len, &fi, &e), &fi, &e);
        }
        free(img);
        zimg_close(z);
    }
    check_identified(ufile_identify(path, "fuzz.zip", &lim, &fi, &e), &fi, &e);
    unlink(path);
    return 0;
}
