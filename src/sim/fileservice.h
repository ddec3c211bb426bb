/* SPDX-License-Identifier: MIT */
/*
 * fileservice.h - an emulated vendor file service, so that catalog checks and client-ID
 * downloads are tested for real over HTTP (docs/reference/xencenter.md sections 1 and 5):
 *
 *   GET  /updates.xml                   the update catalog (ETag / Last-Modified, 304)
 *   POST /api/session/token             Basic username:apikey -> 201 {token, session_id,
 *                                       expires_at}
 *   GET  /direct/v2/download/<file>.zip Basic "<username>_<session_id>:<token>" -> the update zip
 *                                       (Range resumes; 401 bad credentials, 403 an update
 *                                       restricted to support-contract customers, 404 unknown)
 *   DELETE /api/session/token/<session> invalidates a session
 *   GET  /installers/<version>/<file>   install media of a release (issue 15): .treeinfo,
 *                                       install.img, boot/vmlinuz, boot/xen.gz,
 *                                       boot/isolinux/isolinux.cfg, for each vendor.installers
 *                                       version (poolpatch sim fills it from "releases")
 *
 * Everything is generated from the scenario's "vendor" section (docs/simulator.md): server
 * versions, patches (guidance, live patch, requirements, restrictions), client IDs.  Each zip
 * holds one "<name-label>.iso" whose bytes are the simulated update image the pools accept
 * (an update.xml document, then padding), stored uncompressed.
 *
 * Threading: libmicrohttpd's internal thread serves requests; the generated content is
 * immutable after sim_fileservice_new, sessions are under a lock.
 */
#ifndef PP_SIM_FILESERVICE_H
#define PP_SIM_FILESERVICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct sim_fileservice;

/*
 * Build the content from vendor (borrowed) and serve it on bind_addr:port (port 0 = any free
 * port).  Errors: PP_EINVAL naming the bad field ("vendor.patches[2].uuid: ..."), PP_EIO when the
 * address cannot be bound.
 */
int sim_fileservice_new(const json_t *vendor, const char *bind_addr, uint16_t port,
                        struct sim_fileservice **out, struct err *e);
/* Base URL, e.g. "http://127.0.0.2:40123" (borrowed). */
const char *sim_fileservice_url(const struct sim_fileservice *fs);
/* The generated catalog (borrowed). */
const char *sim_fileservice_catalog(const struct sim_fileservice *fs, size_t *len);
/* Number of successful downloads so far (tests). */
unsigned sim_fileservice_downloads(struct sim_fileservice *fs);
/* Stop serving and free; NULL is a no-op. */
void sim_fileservice_free(struct sim_fileservice *fs);

#endif
