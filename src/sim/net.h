/* SPDX-License-Identifier: MIT */
/*
 * net.h - listening sockets for the simulator's servers, bound before any server thread starts
 * (so the bound port is known while what is served is still being built).
 */
#ifndef PP_SIM_NET_H
#define PP_SIM_NET_H

#include <stdint.h>

struct err;

/*
 * A non-blocking, close-on-exec TCP socket listening on addr:port (IPv4; port 0 = any free
 * port), SO_REUSEADDR.  Returns 0 with *fd and *bound (the port bound), or PP_EINVAL (addr not
 * an IPv4 address) / PP_EIO with e naming the address.  Any thread.
 */
int sim_net_listen(const char *addr, uint16_t port, int *fd, uint16_t *bound, struct err *e);
/*
 * The local IPv4 address of a connected socket as text into out (n bytes).  Returns 0 or
 * PP_EIO.  Any thread.
 */
int sim_net_local_address(int fd, char *out, unsigned n);

#endif
