/* SPDX-License-Identifier: MIT */
/*
 * fuzz_settings.c - libFuzzer harness for `poolpatch serve`'s settings file: the input is written
 * to a file and loaded over the defaults.  A failure must name the file and line; a success must
 * leave every field NUL-terminated within its buffer and every number within its documented range.
 */
#include "fuzz_common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/pp-fuzz-settings-XXXXXX";
    struct api_settings s;
    struct err e = {0};
    int fd, rc;

    if (size > 65536)
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
    api_settings_defaults(&s);
    rc = api_settings_load(&s, path, &e);
    unlink(path);
    if (rc != 0) {
        FUZZ_CHECK(e.code == rc && e.msg[0]);
        FUZZ_CHECK(rc == PP_EIO || strstr(e.msg, path) != NULL);
        return 0;
    }
    FUZZ_CHECK(memchr(s.listen, '\0', sizeof s.listen) && memchr(s.db, '\0', sizeof s.db));
    FUZZ_CHECK(memchr(s.vendor_origins, '\0', sizeof s.vendor_origins));
    FUZZ_CHECK(s.max_connections >= 1 && s.max_connections <= 4096);
    FUZZ_CHECK(s.max_per_ip >= 1 && s.max_per_ip <= 4096);
    FUZZ_CHECK(s.max_body >= 1024 && s.max_body <= 64 * 1024 * 1024);
    FUZZ_CHECK(s.check_interval_s >= -1 && s.check_interval_s <= 30 * 86400);
    return 0;
}
