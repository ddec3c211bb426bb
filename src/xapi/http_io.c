/* SPDX-License-Identifier: MIT */
/*
 * http_io.c - the loop's HTTP engine: one curl multi handle driven through curl's socket
 * interface (curl_multi_socket_action), so a turn touches only the connections that have
 * something to do.  curl_multi_perform would look at every transfer on every turn (a poll()
 * per idle event.from connection: 100 pools cost ~1,400 poll calls a second while idle).  curl
 * tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when its own next timeout is
 * (CURLMOPT_TIMERFUNCTION); the sockets are kept in an epoll set together with an eventfd that
 * xapi_loop_wakeup writes, from any thread, and the wait is one epoll_wait that returns only the
 * ready ones: a poll() over every socket cost each turn a look at every pool's long-poll (100
 * pools: ~40% of the idle daemon's CPU, docs/performance.md "Idle").  Transfers (calls,
 * uploads, GETs) are added and removed here; collecting finished ones is transport_http.c's job.
 *
 * Easy handles are kept for reuse: a finished transfer's handle is reset (curl_easy_reset: every
 * option back to its default, so nothing of one request - URL, TLS pins, callbacks - leaks into
 * the next) and parked in the loop's free list; the next request takes it instead of a new
 * curl_easy_init / curl_easy_cleanup pair (an idle pool's long-poll turn was ~15% of the idle
 * daemon's CPU in handle setup).  A handle serves one transfer at a time; connections are not
 * the handles' but the multi's connection cache's (kept alive per host), so reuse changes no
 * connection and no TLS decision.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "xapi/client_int.h"

#define MAX_EVENTS 64 /* sockets handled per wait; the others stay ready for the next one */
/* Reset easy handles kept for reuse; more than this many idle at once (after a burst of
 * concurrent transfers) are freed.  The daemon keeps one long-poll per pool in flight. */
#define MAX_IDLE_EASY 128

struct xapi__http {
    CURLM *multi;
    int ep;                    /* epoll set: the sockets curl wants watched, and wake_fd */
    int64_t timeout_at;        /* curl's next timeout (monotonic ms), -1 = none */
    int wake_fd;               /* eventfd: xapi__http_wakeup */
    CURL *idle[MAX_IDLE_EASY]; /* reset handles ready for the next transfer */
    int n_idle;
    uint64_t made; /* curl_easy_init calls so far */
};

/*
 * curl's socket callback: watch s for what curl asks.  A socket in the set carries a non-NULL
 * socketp (curl_multi_assign), so a kept-alive connection that a new transfer takes again is
 * added at once: an idle pool's long-poll turn cost a failed EPOLL_CTL_MOD (ENOENT) before its
 * EPOLL_CTL_ADD, curl having reported the socket removed when the previous transfer ended.
 */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    static char in_set; /* the socketp of a socket in the epoll set */
    struct xapi__http *h = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        /* ENOENT / EBADF: never added, or already closed (a closed fd leaves the set) */
        (void)epoll_ctl(h->ep, EPOLL_CTL_DEL, s, NULL);
        return 0; /* curl forgets socketp with the socket */
    }
    struct epoll_event ev = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                       ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
                             .data.fd = s};
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(h->ep, op, s, &ev) != 0) {
        /* a stale mark (ENOENT: the fd was closed and reused) or an fd still in the set */
        op = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if ((errno != ENOENT && errno != EEXIST) || epoll_ctl(h->ep, op, s, &ev) != 0)
            return -1; /* curl fails the transfers on this socket */
    }
    if (!socketp)
        curl_multi_assign(h->multi, s, &in_set);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct xapi__http *h = userp;
    (void)multi;
    h->timeout_at = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    return 0;
}

/* A multi handle driven by socket events (see client_int.h); NULL on failure. */
struct xapi__http *xapi__http_multi_new(void)
{
    struct xapi__http *h = xcalloc(1, sizeof(*h));
    h->timeout_at = -1;
    h->multi = curl_multi_init();
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->wake_fd};
    if (!h->multi || h->ep < 0 || h->wake_fd < 0 ||
        epoll_ctl(h->ep, EPOLL_CTL_ADD, h->wake_fd, &ev) != 0) {
        xapi__http_multi_free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

/* Release (see client_int.h); NULL is a no-op. */
void xapi__http_multi_free(struct xapi__http *h)
{
    if (!h)
        return;
    while (h->n_idle > 0)
        curl_easy_cleanup(h->idle[--h->n_idle]);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    if (h->ep >= 0)
        close(h->ep);
    free(h);
}

/* Interrupt the wait from any thread (see client_int.h). */
void xapi__http_wakeup(struct xapi__http *h)
{
    uint64_t one = 1;
    ssize_t n = write(h->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is already non-zero, the wait will end anyway */
}

/* The curl multi handle (borrowed). */
void *xapi__http_curlm(struct xapi__http *h)
{
    return h->multi;
}

/* An easy handle for one transfer: a reset one from the free list, or a new one (client_int.h). */
void *xapi__http_easy_take(struct xapi__http *h)
{
    if (h->n_idle > 0)
        return h->idle[--h->n_idle];
    CURL *easy = curl_easy_init();
    if (easy)
        h->made++;
    return easy;
}

/* Give back a handle no multi holds: reset and kept, or freed when enough are kept. */
static void easy_give(struct xapi__http *h, CURL *easy)
{
    if (!easy)
        return;
    if (h->n_idle == MAX_IDLE_EASY) {
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_reset(easy);
    h->idle[h->n_idle++] = easy;
}

/* Easy handles made so far by loop's transport (see client_int.h). */
uint64_t xapi__http_handles_made(struct xapi_loop *loop)
{
    return xapi__loop_int(loop)->multi->made;
}

/* Milliseconds until curl's next timeout, -1 without one (see client_int.h). */
int64_t xapi__http_next_timeout_ms(struct xapi_loop *loop)
{
    const struct xapi__http *h = xapi__loop_int(loop)->multi;
    return h->timeout_at < 0 ? -1 : h->timeout_at - clock_mono_ms();
}

/* Add w's easy handle to the loop's multi (see client_int.h). */
int xapi__http_add(struct xapi_loop *loop, struct wreq *w, struct err *e)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    if (curl_multi_add_handle(li->multi->multi, w->easy) != CURLM_OK) {
        easy_give(li->multi, w->easy);
        curl_slist_free_all(w->hdrs);
        w->easy = NULL;
        w->hdrs = NULL;
        return err_set(e, PP_ETRANSPORT, "curl_multi_add_handle failed");
    }
    w->in_multi = true;
    li->running++;
    return 0;
}

/* Take w's transfer out of the multi and free its handles (see client_int.h). */
void xapi__http_release(struct xapi_loop *loop, struct wreq *w)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    if (w->easy && w->in_multi) {
        curl_multi_remove_handle(li->multi->multi, w->easy);
        li->running--;
    }
    easy_give(li->multi, w->easy);
    w->easy = NULL;
    w->in_multi = false;
    curl_slist_free_all(w->hdrs);
    w->hdrs = NULL;
}

/* Abort w without completing it: out of the multi and out of the done queue (client_int.h). */
void xapi__http_cancel(struct xapi_loop *loop, struct wreq *w)
{
    xapi__http_release(loop, w);
    xapi__loop_done_remove(loop, w);
}

static void run_timeout(struct xapi__http *h)
{
    int still = 0;
    if (h->timeout_at >= 0 && clock_mono_ms() >= h->timeout_at) {
        h->timeout_at = -1;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    }
}

/* Let curl act on what is due now: its timeouts (new transfers start through one). */
void xapi__http_act(struct xapi__http *h)
{
    run_timeout(h);
}

/*
 * Wait up to wait_ms (bounded by curl's own next timeout) for socket activity or a wakeup, then
 * let curl act on the sockets that are ready and on its due timeouts (see client_int.h).
 */
void xapi__http_wait(struct xapi__http *h, int wait_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t w = wait_ms;
    if (h->timeout_at >= 0) {
        int64_t d = h->timeout_at - clock_mono_ms();
        if (d < w)
            w = d < 0 ? 0 : d;
    }
    int n = epoll_wait(h->ep, evs, MAX_EVENTS, (int)w);
    /* curl's callbacks may remove or close a socket of this batch: acting on a socket curl no
     * longer knows is harmless (it ignores it), and a closed fd reported here is one it closed */
    for (int i = 0; i < n; i++) {
        uint32_t re = evs[i].events;
        if (evs[i].data.fd == h->wake_fd) {
            uint64_t v;
            if (read(h->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                v = 0;
            continue;
        }
        int ev = ((re & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((re & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                 ((re & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        int still = 0;
        curl_multi_socket_action(h->multi, evs[i].data.fd, ev, &still);
    }
    run_timeout(h);
}

/*
 * Prepare w, embedded in a GET or PUT of path to c's master, and return the path with the
 * session and query ("path?session_id=S[&query]", new string), or NULL with PP_ESTATE in e when
 * the client has no session yet (see client_int.h).
 */
char *xapi__transfer_init(struct wreq *w, struct xapi_client *c, const char *method,
                          const char *path, const char *query, wreq_done_fn done, struct err *e)
{
    const char *session = xapi_client_session(c);
    const char *master = xapi_client_master(c);
    if (!session || !master || !*master) {
        err_set(e, PP_ESTATE, "%s %s: not connected to the pool yet", method, path);
        return NULL;
    }
    w->c = c;
    w->host = xstrdup(master);
    w->method = xstrdup(method);
    w->params = xapi_value_new_array();
    w->proto = XAPI_PREF_XMLRPC; /* never a JSON-RPC fallback */
    w->done = done;
    buf_init(&w->out);
    buf_init(&w->in);
    return xasprintf("%s?session_id=%s%s%s", path, session, query && *query ? "&" : "",
                     query ? query : "");
}

/* Free what an embedded wreq owns, not w itself (see client_int.h). */
void xapi__wreq_cleanup(struct wreq *w)
{
    free(w->host);
    free(w->method);
    xapi_value_free(w->params);
    xapi_response_cleanup(&w->resp);
    buf_cleanup(&w->out);
    buf_cleanup(&w->in);
}

/* A status line "HTTP/x.y NNN ..." in a header callback's buffer (see client_int.h). */
bool xapi__http_status_line(const char *buf, size_t n, long *status)
{
    if (n <= 9 || memcmp(buf, "HTTP/", 5) != 0)
        return false;
    const char *sp = memchr(buf, ' ', n);
    if (!sp || (size_t)(sp - buf) + 4 > n)
        return false;
    long st = 0;
    for (int i = 1; i <= 3; i++)
        st = st * 10 + (sp[i] >= '0' && sp[i] <= '9' ? sp[i] - '0' : 0);
    *status = st;
    return true;
}
