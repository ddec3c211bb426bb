/* SPDX-License-Identifier: MIT */
/* net.c - listening sockets and local addresses for the simulator's servers (net.h). */
#include "sim/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"

int sim_net_listen(const char *addr, uint16_t port, int *fd, uint16_t *bound, struct err *e)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    *fd = -1;
    if (!addr || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return err_set(e, PP_EINVAL, "\"%s\" is not an IPv4 address", addr ? addr : "(null)");
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return err_set(e, PP_EIO, "socket: %s", strerror(errno));
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 128) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &len) != 0) {
        int err = errno;
        close(s);
        return err_set(e, PP_EIO, "cannot listen on %s:%u: %s", addr, (unsigned)port,
                       strerror(err));
    }
    *fd = s;
    *bound = ntohs(sa.sin_port);
    return 0;
}

int sim_net_local_address(int fd, char *out, unsigned n)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 || sa.sin_family != AF_INET ||
        !inet_ntop(AF_INET, &sa.sin_addr, out, n))
        return PP_EIO;
    return 0;
}
