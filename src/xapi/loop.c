/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the XAPI client's event loop: a heap of timers on the loop clock, the queue of
 * completed wire requests, and the one place the loop waits.  Waiting is always one poll()
 * over curl's sockets and a wakeup eventfd (http_io.c) until the earliest of: socket activity,
 * the next timer (real or scaled clock), the caller's timeout, or xapi_loop_wakeup from any
 * thread (the engine's request queue, engine stop, an in-process handler whose world moved).  An
 * idle loop therefore sleeps: no turn runs unless something is due (as libuv's uv_run blocks in
 * epoll until its next timer).
 *
 * On a virtual clock nothing is waited for: the idle hook moves virtual time instead.
 * Threading: everything runs on the loop's thread except xapi_loop_wakeup.
 */
#include <stdatomic.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"
#include "xapi/client_int.h"

/* A handler that cannot say when its world moved is asked again this often (real ms). */
#define UNWATCHED_POLL_MS 20

struct xapi__timer {
    int64_t when;
    uint64_t seq; /* ties broken in the order of creation */
    size_t idx;   /* position in the heap */
    void (*fn)(void *arg);
    void *arg;
};

/* ---- timers: a binary min-heap on (when, seq) ---- */

static bool t_less(const struct xapi__timer *a, const struct xapi__timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void t_set(struct xapi_loop *loop, size_t i, struct xapi__timer *t)
{
    loop->timers.items[i] = t;
    t->idx = i;
}

static void t_sift_up(struct xapi_loop *loop, size_t i)
{
    struct xapi__timer *t = loop->timers.items[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!t_less(t, loop->timers.items[p]))
            break;
        t_set(loop, i, loop->timers.items[p]);
        i = p;
    }
    t_set(loop, i, t);
}

static void t_sift_down(struct xapi_loop *loop, size_t i)
{
    size_t n = loop->timers.n;
    struct xapi__timer *t = loop->timers.items[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct xapi__timer *best = t;
        if (l < n && t_less(loop->timers.items[l], best)) {
            m = l;
            best = loop->timers.items[l];
        }
        if (r < n && t_less(loop->timers.items[r], best))
            m = r;
        if (m == i)
            break;
        t_set(loop, i, loop->timers.items[m]);
        i = m;
    }
    t_set(loop, i, t);
}

/* Take the timer at heap position i out of the heap (not freed). */
static void t_remove_at(struct xapi_loop *loop, size_t i)
{
    struct xapi__timer *last = loop->timers.items[--loop->timers.n];
    if (i == loop->timers.n)
        return;
    t_set(loop, i, last);
    t_sift_down(loop, i);
    t_sift_up(loop, last->idx);
}

/* Run fn(arg) after delay_ms on the loop clock (see client_int.h). */
struct xapi__timer *xapi__timer_add(struct xapi_loop *loop, int64_t delay_ms, void (*fn)(void *),
                                    void *arg)
{
    struct xapi__timer *t = xcalloc(1, sizeof(*t));
    t->when = xapi__loop_now(loop) + (delay_ms > 0 ? delay_ms : 0);
    t->seq = loop->timer_seq++;
    t->fn = fn;
    t->arg = arg;
    vec_push(&loop->timers, t);
    t_sift_up(loop, loop->timers.n - 1);
    return t;
}

/* Cancel *tp if set and clear it (see client_int.h). */
void xapi__timer_cancel(struct xapi_loop *loop, struct xapi__timer **tp)
{
    struct xapi__timer *t = *tp;
    if (!t)
        return;
    t_remove_at(loop, t->idx);
    free(t);
    *tp = NULL;
}

/* A user's timer (client.h): the loop's timer runs user_fire, which frees this first. */
struct xapi_timer {
    struct xapi__timer *t;
    void (*fn)(void *arg);
    void *arg;
};

static void user_fire(void *arg)
{
    struct xapi_timer *u = arg;
    void (*fn)(void *) = u->fn;
    void *fa = u->arg;
    free(u);
    fn(fa);
}

/* See client.h. */
struct xapi_timer *xapi_timer_add(struct xapi_loop *loop, int64_t delay_ms, void (*fn)(void *arg),
                                  void *arg)
{
    struct xapi_timer *u = xcalloc(1, sizeof(*u));
    u->fn = fn;
    u->arg = arg;
    u->t = xapi__timer_add(loop, delay_ms, user_fire, u);
    return u;
}

/* See client.h. */
void xapi_timer_cancel(struct xapi_loop *loop, struct xapi_timer **tp)
{
    struct xapi_timer *u = *tp;
    if (!u)
        return;
    xapi__timer_cancel(loop, &u->t);
    free(u);
    *tp = NULL;
}

static int fire_timers(struct xapi_loop *loop)
{
    int n = 0;
    int64_t now = xapi__loop_now(loop);
    while (loop->timers.n > 0 && loop->timers.items[0]->when <= now) {
        struct xapi__timer *t = loop->timers.items[0];
        t_remove_at(loop, 0);
        void (*fn)(void *) = t->fn;
        void *arg = t->arg;
        free(t);
        fn(arg); /* fn clears its own pointer to t first thing (see the *_fire functions) */
        n++;
    }
    return n;
}

/* ---- the loop ---- */

/* Now on the loop's clock (see client_int.h). */
int64_t xapi__loop_now(const struct xapi_loop *loop)
{
    return loop->clock ? clock_now_ms(loop->clock) : clock_mono_ms();
}

/* Now on the loop's clock (see client.h). */
int64_t xapi_loop_now(const struct xapi_loop *loop)
{
    return xapi__loop_now(loop);
}

/* Create a loop (see client.h).  Owned by the caller; free with xapi_loop_free. */
struct xapi_loop *xapi_loop_new(struct pp_clock *clock, struct err *e)
{
    if (xapi__http_global_init(e) != 0)
        return NULL;
    struct xapi_loop *loop = xcalloc(1, sizeof(*loop));
    loop->clock = clock;
    atomic_init(&loop->woken, false);
    loop->li.multi = xapi__http_multi_new();
    if (!loop->li.multi) {
        free(loop);
        err_set(e, PP_ETRANSPORT, "curl_multi_init failed");
        return NULL;
    }
    return loop;
}

/* Free a loop whose clients were all freed (see client.h). */
void xapi_loop_free(struct xapi_loop *loop)
{
    if (!loop)
        return;
    for (size_t i = 0; i < loop->timers.n; i++) {
        struct xapi__timer *t = loop->timers.items[i];
        if (t->fn == user_fire)
            free(t->arg); /* a user's timer still pending: its wrapper (xapi_timer_add) */
        free(t);
    }
    vec_free(&loop->timers);
    xapi__http_multi_free(loop->li.multi);
    free(loop);
}

/* Install the idle hook for virtual time (see client.h). */
void xapi_loop_set_idle(struct xapi_loop *loop, int (*idle)(void *ctx, int64_t next_ms), void *ctx)
{
    loop->idle = idle;
    loop->idle_ctx = ctx;
}

/* True while operations are pending (see client.h). */
bool xapi_loop_busy(const struct xapi_loop *loop)
{
    return loop->live_ops > 0 || loop->internal_w > 0;
}

/*
 * Wake the loop from any thread (see client.h).  Only the first wake between two turns writes
 * to the wakeup eventfd; the loop clears the flag once it is awake.
 */
void xapi_loop_wakeup(struct xapi_loop *loop)
{
    if (!atomic_exchange(&loop->woken, true))
        xapi__http_wakeup(loop->li.multi);
}

/* The loop this thread is running (xapi_loop_run), if any. */
static _Thread_local struct xapi_loop *running_loop;

/*
 * The in-process handler's wake callback (xapi_inproc_handler.watch).  A change made from the
 * loop's own thread (its in-process calls, the idle hook) needs no wake: the loop is awake and
 * asks its parked long-polls again itself.  Waking it anyway would make every parked re-ask
 * wake the loop again, a spin.
 */
void xapi__loop_wake_cb(void *loop)
{
    if (running_loop != loop)
        xapi_loop_wakeup(loop);
}

/*
 * A wait outside the loop's own turn (the logout in xapi_client_free): a wakeup it consumed is
 * passed on, so that the next turn does not sleep through it (see client_int.h).
 */
void xapi__loop_wait_nested(struct xapi_loop *loop, int wait_ms)
{
    xapi__http_run(loop, wait_ms);
    if (atomic_exchange(&loop->woken, false))
        xapi_loop_wakeup(loop);
}

/* Queue w's completion (see client_int.h). */
void xapi__loop_wreq_complete(struct xapi_loop *loop, struct wreq *w)
{
    w->next = NULL;
    if (loop->li.done_tail)
        loop->li.done_tail->next = w;
    else
        loop->li.done_head = w;
    loop->li.done_tail = w;
}

/* Run the completion of every finished wire request (see client_int.h). */
int xapi__loop_process_done(struct xapi_loop *loop)
{
    int n = 0;
    while (loop->li.done_head) {
        struct wreq *w = loop->li.done_head;
        loop->li.done_head = w->next;
        if (!loop->li.done_head)
            loop->li.done_tail = NULL;
        w->next = NULL;
        w->done(w);
        n++;
    }
    return n;
}

/* Take w out of the done queue if it is there (see client_int.h). */
void xapi__loop_done_remove(struct xapi_loop *loop, struct wreq *w)
{
    struct xapi_loop_int *li = &loop->li;
    struct wreq **pp = &li->done_head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (li->done_tail == w)
                li->done_tail = prev;
            w->next = NULL;
            return;
        }
    }
}

static int64_t next_deadline(const struct xapi_loop *loop)
{
    int64_t t = xapi__inproc_next_deadline(loop);
    if (loop->timers.n > 0 && loop->timers.items[0]->when < t)
        t = loop->timers.items[0]->when;
    return t;
}

static bool is_virtual(const struct xapi_loop *loop)
{
    return loop->clock && clock_get_kind(loop->clock) == CLOCK_KIND_VIRTUAL;
}

/* Virtual time: let the idle hook move the clock to the next deadline.  -1: nothing can move. */
static int wait_virtual(struct xapi_loop *loop)
{
    int64_t next = next_deadline(loop);
    if (!loop->idle || loop->idle(loop->idle_ctx, next) < 0) {
        if (xapi__loop_now(loop) < next)
            return -1;
    }
    xapi__inproc_unpark(loop);
    return 0;
}

/*
 * Real or scaled time: one poll() (http_io.c) until socket activity, the next deadline, timeout_ms
 * or a wakeup.  Parked in-process long-polls are asked again afterwards (the handler's world may
 * have moved); a handler that cannot wake the loop is asked every UNWATCHED_POLL_MS.
 */
static void wait_real(struct xapi_loop *loop, int timeout_ms)
{
    int64_t w = timeout_ms > 0 ? timeout_ms : 0;
    int64_t now = xapi__loop_now(loop);
    int64_t next = next_deadline(loop);
    int64_t hd = is_virtual(loop) ? INT64_MAX : xapi__inproc_handler_deadline(loop);
    if (hd < next)
        next = hd;
    if (!is_virtual(loop) && next != INT64_MAX) {
        int64_t real = loop->clock ? clock_real_ms_for(loop->clock, next - now) : next - now;
        if (real < w)
            w = real < 0 ? 0 : real;
    }
    if (xapi__inproc_has_unwatched_parked(loop) && w > UNWATCHED_POLL_MS)
        w = UNWATCHED_POLL_MS;
    loop->polls++;
    xapi__http_run(loop, (int)w);
    /* The poll consumed any wakeup: the next xapi_loop_wakeup must write again.  A wake between
     * the poll and this store is not lost: its caller queued its work before waking, and this
     * turn returns to the caller, who looks at its queue. */
    atomic_store(&loop->woken, false);
    if (xapi__inproc_has_parked(loop))
        xapi__inproc_unpark(loop);
}

static int loop_turn(struct xapi_loop *loop, int timeout_ms)
{
    int n = 0;
    fire_timers(loop);
    xapi__loop_process_done(loop);
    if (xapi__inproc_run(loop) > 0) {
        xapi__loop_process_done(loop);
        xapi__inproc_unpark(loop); /* the simulated world may have changed */
    }
    xapi__loop_process_done(loop);
    n += xapi__ops_deliver(loop);
    if (n > 0 || xapi__inproc_has_queued(loop) || loop->li.done_head || loop->fin_head) {
        xapi__http_run(loop, 0);
        xapi__loop_process_done(loop);
        return n;
    }
    bool waiting_time = loop->timers.n > 0 || xapi__inproc_has_parked(loop);
    if (is_virtual(loop) && !xapi__http_busy(loop)) {
        if (!waiting_time)
            return 0;
        if (wait_virtual(loop) < 0)
            return -1; /* nothing can move virtual time */
    } else {
        wait_real(loop, timeout_ms);
    }
    fire_timers(loop);
    xapi__loop_process_done(loop);
    n += xapi__ops_deliver(loop);
    return n;
}

/* One turn (see client.h); marks the thread as running loop (nested runs restore it). */
int xapi_loop_run(struct xapi_loop *loop, int timeout_ms)
{
    struct xapi_loop *outer = running_loop;
    running_loop = loop;
    int n = loop_turn(loop, timeout_ms);
    running_loop = outer;
    return n;
}

/* How many times the loop waited (see client.h). */
uint64_t xapi_loop_wait_count(const struct xapi_loop *loop)
{
    return loop->polls;
}

/* The loop's transport state (see client_int.h). */
struct xapi_loop_int *xapi__loop_int(struct xapi_loop *loop)
{
    return &loop->li;
}

const struct xapi_loop_int *xapi__loop_int_c(const struct xapi_loop *loop)
{
    return &loop->li;
}
