/* SPDX-License-Identifier: MIT */
/*
 * sim_http.h - serves a simulator over HTTP(S) as xapi does: JSON-RPC at POST /jsonrpc,
 * XML-RPC at POST on any other path (/, /RPC2, /xmlrpc, ...), uploads at PUT /import_raw_vdi,
 * repository updates at GET /updates, on every simulated host's own 127.0.0.x address with one
 * shared port; plus the simulator-only control endpoints GET /sim/state, POST /sim/fault and,
 * with TLS, GET / POST /sim/tls (docs/simulator.md).
 *
 * Threads, whatever the number of hosts: one acceptor (epoll over every host's listening
 * socket), libmicrohttpd's bounded pool of poll() workers, one timer thread that applies
 * scheduled changes on the sim's scaled clock and answers event.from long-polls (suspended
 * connections, no thread each), and one short-lived thread per synchronous long call in
 * flight (VM.pool_migrate called without Async, ...).
 */
#ifndef PP_SIM_SIM_HTTP_H
#define PP_SIM_SIM_HTTP_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct sim;
struct sim_server;

struct sim_server_opts {
    uint16_t port;       /* 0 = pick a free port (the first address binds 0, the others follow) */
    bool tls;            /* HTTPS with one self-signed certificate per host (sim/tls.h) */
    const char *tls_dir; /* with tls: read <address>.pem/.key from here, write generated ones */
    unsigned threads;    /* worker threads (0 = 4) */
};

/*
 * Listen on every host address of s.  s must use a scaled clock (time_scale > 0) and outlive
 * the server.  Returns 0 and *out, or PP_EIO with e naming the address that failed (PP_ETLS
 * when a certificate cannot be made or read).
 */
int sim_server_start_opts(struct sim *s, const struct sim_server_opts *o, struct sim_server **out,
                          struct err *e);
/* sim_server_start_opts with plain HTTP on port. */
int sim_server_start(struct sim *s, uint16_t port, struct sim_server **out, struct err *e);
/* The port every address listens on. */
uint16_t sim_server_port(const struct sim_server *srv);
/* "https" or "http". */
const char *sim_server_scheme(const struct sim_server *srv);
/* Stop listening, answer long-polls, wait for calls in flight, join every thread and free;
 * NULL is a no-op. */
void sim_server_stop(struct sim_server *srv);

#endif
