/* SPDX-License-Identifier: MIT */
/*
 * http_io.c - the loop's HTTP engine: one curl multi handle driven through curl's socket
 * interface (curl_multi_socket_action), so a turn touches only the connections that have
 * something to do.  curl_multi_perform would look at every transfer on every turn (a poll()
 * per idle event.from connection: 100 pools cost ~1,400 poll calls a second while idle).  curl
 * tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when its own next timeout is
 * (CURLMOPT_TIMERFUNCTION); the wait is one poll() over those sockets plus an eventfd that
 * xapi_loop_wakeup writes, from any thread.  Transfers (calls, uploads, GETs) are added and
 * removed here; collecting finished ones is transport_http.c's job.
 */
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "base/vec.h"
#include "xapi/client_int.h"

struct xapi__http {
    CURLM *multi;
    struct VEC(struct pollfd) fds; /* the sockets curl wants watched */
    struct VEC(struct pollfd) scratch;
    int64_t timeout_at; /* curl's next timeout (monotonic ms), -1 = none */
    int wake_fd;        /* eventfd: xapi__http_wakeup */
};

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct xapi__http *h = userp;
    (void)easy;
    (void)socketp;
    size_t i = 0;
    while (i < h->fds.n && h->fds.items[i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < h->fds.n)
            vec_remove(&h->fds, i);
        return 0;
    }
    short ev =
        (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    if (i == h->fds.n)
        vec_push(&h->fds, ((struct pollfd){.fd = s, .events = ev}));
    else
        h->fds.items[i].events = ev;
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
    h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!h->multi || h->wake_fd < 0) {
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
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    vec_free(&h->fds);
    vec_free(&h->scratch);
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

/* Add w's easy handle to the loop's multi (see client_int.h). */
int xapi__http_add(struct xapi_loop *loop, struct wreq *w, struct err *e)
{
    struct xapi_loop_int *li = xapi__loop_int(loop);
    if (curl_multi_add_handle(li->multi->multi, w->easy) != CURLM_OK) {
        curl_easy_cleanup(w->easy);
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
    if (w->easy)
        curl_easy_cleanup(w->easy);
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
    int64_t w = wait_ms;
    if (h->timeout_at >= 0) {
        int64_t d = h->timeout_at - clock_mono_ms();
        if (d < w)
            w = d < 0 ? 0 : d;
    }
    h->scratch.n = 0;
    for (size_t i = 0; i < h->fds.n; i++)
        vec_push(&h->scratch, h->fds.items[i]);
    vec_push(&h->scratch, ((struct pollfd){.fd = h->wake_fd, .events = POLLIN}));
    int n = poll(h->scratch.items, h->scratch.n, (int)w);
    if (n > 0) {
        /* the copy is stable while curl's callbacks change fds */
        for (size_t i = 0; i + 1 < h->scratch.n; i++) {
            const struct pollfd *p = &h->scratch.items[i];
            if (!p->revents)
                continue;
            int ev = ((p->revents & POLLIN) ? CURL_CSELECT_IN : 0) |
                     ((p->revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                     ((p->revents & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
            int still = 0;
            curl_multi_socket_action(h->multi, p->fd, ev, &still);
        }
        uint64_t v;
        if (h->scratch.items[h->scratch.n - 1].revents && read(h->wake_fd, &v, sizeof(v)) < 0 &&
            errno != EAGAIN)
            v = 0;
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
