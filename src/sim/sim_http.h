/* SPDX-License-Identifier: MIT */
/*
 * sim_http.h - serves a simulator over HTTP as xapi does: JSON-RPC at POST /jsonrpc, XML-RPC at
 * POST / and /RPC2, uploads at PUT /import_raw_vdi, on every simulated host's own 127.0.0.x
 * address with one shared port; plus the simulator-only control endpoints GET /sim/state and
 * POST /sim/fault (docs/simulator.md).  A timer thread applies scheduled changes on the sim's
 * scaled clock; event.from long-polls.  libmicrohttpd, one thread per connection.
 */
#ifndef PP_SIM_SIM_HTTP_H
#define PP_SIM_SIM_HTTP_H

#include <stdint.h>

struct err;
struct sim;
struct sim_server;

/*
 * Listen on every host address of s at port (0 = pick a free port: the first address binds
 * port 0, the others the port it got).  s must use a scaled clock (time_scale > 0) and outlive
 * the server.  Returns 0 and *out, or PP_EIO with e naming the address that failed.
 */
int sim_server_start(struct sim *s, uint16_t port, struct sim_server **out, struct err *e);
/* The port every address listens on. */
uint16_t sim_server_port(const struct sim_server *srv);
/* Stop listening, wake blocked calls, join every thread and free; NULL is a no-op. */
void sim_server_stop(struct sim_server *srv);

#endif
