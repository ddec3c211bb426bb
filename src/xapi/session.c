/* SPDX-License-Identifier: MIT */
/*
 * session.c - the XAPI client's sessions: the login cycle over every known address of a pool
 * (HOST_IS_SLAVE followed, emergency mode told apart, bounded jittered backoff between rounds,
 * the reconnect budget), losing the master, and the logout when a client closes.  See
 * docs/xapi-client.md, "Sessions" and "Losing the master".  Single-threaded (the loop's).
 */
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "xapi/client_int.h"

#define LOGM          "xapi"
#define MAX_REDIRECTS 4
/* The master lost this soon after a host.reboot we sent (a master's reboot: the engine updates
 * it first) is taken for that reboot.  For REBOOT_ALONE_MS of the loss the login rounds ask the
 * master alone: its supporters would only name it again (HOST_IS_SLAVE, two more logins a round,
 * eight of bench-16's 29 logins per rollout when every fourth round asked them), and a supporter
 * that took over meanwhile (HA, designate_new_master) is named by the old master once it is back.
 * Past that (twice a slow server's reboot) every round asks every host, as for any loss.  The
 * first REBOOT_SKIP steps of the backoff are skipped: a host told to reboot is not back within
 * seconds (bench-16: five logins in the first 3 s of a 300 s reboot); the first round comes
 * 2-4 s after the loss, then the backoff goes on as usual (up to backoff_max_ms). */
#define REBOOT_LOSS_MS  120000
#define REBOOT_ALONE_MS 600000
#define REBOOT_SKIP     3

/* See client_int.h. */
void xapi__client_set_state(struct xapi_client *c, enum xapi_conn_state s, const struct err *e)
{
    if (c->state == s)
        return;
    log_info(LOGM, "pool %s: %s -> %s%s%s", c->hosts.items[0], xapi_conn_state_name(c->state),
             xapi_conn_state_name(s), e ? ": " : "", e ? e->msg : "");
    c->state = s;
    xapi__changed();
    if (c->o.on_state && !c->closing)
        c->o.on_state(c->o.state_ctx, s, e);
    xapi__stream_conn_changed(c);
}

/* See client_int.h. */
void xapi__drop_session(struct xapi_client *c)
{
    free(c->session);
    c->session = NULL;
}

/* The master stopped answering (or answered as a non-master): find it again (client_int.h). */
void xapi__client_lost(struct xapi_client *c, const char *host, const struct err *e)
{
    if (c->closing)
        return;
    if (c->state == XAPI_CONN_READY && c->master && strcmp(c->master, host) == 0) {
        log_warn(LOGM, "pool %s: lost master %s: %s", c->hosts.items[0], host, e ? e->msg : "");
        c->master_rebooting =
            c->reboot_sent_ms && xapi__loop_now(c->loop) - c->reboot_sent_ms < REBOOT_LOSS_MS;
        xapi__drop_session(c);
        c->last_err = e ? *e : c->last_err;
        xapi__client_set_state(c, XAPI_CONN_RECONNECTING, e);
        xapi__client_connect(c, true);
    }
}

/* ---- connect cycle ---- */

static void cands_free(struct xapi_client *c)
{
    for (size_t i = 0; i < c->cands.n; i++)
        free(c->cands.items[i]);
    vec_free(&c->cands);
    c->cand_i = 0;
}

static void cands_add(struct xapi_client *c, const char *h, size_t at)
{
    for (size_t i = 0; i < c->cands.n; i++) {
        if (strcmp(c->cands.items[i], h) == 0) {
            if (i <= at && i < c->cand_i + 1)
                return; /* already tried in this round */
            free(c->cands.items[i]);
            vec_remove(&c->cands, i);
            break;
        }
    }
    if (at > c->cands.n)
        at = c->cands.n;
    vec_reserve(&c->cands, c->cands.n + 1);
    memmove(&c->cands.items[at + 1], &c->cands.items[at], (c->cands.n - at) * sizeof(char *));
    c->cands.items[at] = xstrdup(h);
    c->cands.n++;
}

static void round_start(struct xapi_client *c)
{
    cands_free(c);
    if (c->master)
        cands_add(c, c->master, c->cands.n);
    bool master_alone = c->master && c->master_rebooting &&
                        xapi__loop_now(c->loop) - c->cycle_start < REBOOT_ALONE_MS;
    for (size_t i = 0; i < c->hosts.n && !master_alone; i++)
        cands_add(c, c->hosts.items[i], c->cands.n);
    c->cand_i = 0;
    /* A round that asks the master alone learns nothing of the supporters: the emergency mode
     * the last full round saw still stands (else a budget ending in such a round reported a
     * pool in emergency mode as an unreachable master). */
    if (!master_alone)
        c->saw_emergency = false;
    c->redirects_in_round = 0;
    c->dead_ends_in_round = 0;
    c->n_refused = 0;
    free(c->named_master);
    c->named_master = NULL;
}

/* True when h was tried (and failed) earlier in this round. */
static bool tried_in_round(const struct xapi_client *c, const char *h)
{
    for (size_t i = 0; i < c->cand_i && i < c->cands.n; i++)
        if (strcmp(c->cands.items[i], h) == 0)
            return true;
    return false;
}

/*
 * The supporter just asked gave no new master (it named one that already failed this round, or
 * it is in emergency mode).  Two such answers end the round: the other supporters would say the
 * same (they all follow one master), and asking every host of a 16-host pool each round while
 * its master reboots costs 16 logins a round.  The next round starts with the master again.
 */
static void dead_end(struct xapi_client *c)
{
    if (++c->dead_ends_in_round >= 2)
        c->cand_i = c->cands.n;
    else
        c->cand_i++;
}

static void login_next(struct xapi_client *c);

/* See client_int.h. */
void xapi__fail_waiting(struct xapi_client *c, const struct err *e)
{
    struct xapi_op *op = c->q_head;
    while (op) {
        struct xapi_op *next = op->qnext;
        if (xapi__op_needs_session(op))
            xapi__op_finish(op, e->code ? e->code : PP_ETRANSPORT, NULL, e);
        op = next;
    }
}

static void cycle_end(struct xapi_client *c)
{
    c->cycling = false;
    c->attempt = 0;
    xapi__timer_cancel(c->loop, &c->backoff_t);
    cands_free(c);
}

static void backoff_fire(void *arg)
{
    struct xapi_client *c = arg;
    c->backoff_t = NULL;
    round_start(c);
    login_next(c);
}

/*
 * Trust across a master change (docs/security.md, "TLS to pools").  A host whose certificate
 * is neither confirmed nor vouched for by a CA was refused during the handshake, before any
 * request byte: no login, no password.  The round goes on with the other addresses (one of
 * them may be the master); when it ends without a master, the pool waits for a confirmation of
 * the host that matters: the master a supporter named, else the first refused.
 */
static void refused_note(struct xapi_client *c, const struct wreq *w)
{
    if (c->n_refused == sizeof(c->refused) / sizeof(c->refused[0]))
        return;
    struct xapi_untrusted *u = &c->refused[c->n_refused++];
    str_lcpy(u->host, w->host, sizeof(u->host));
    str_lcpy(u->presented, w->tls.presented, sizeof(u->presented));
    str_lcpy(u->pinned, w->tls.pinned, sizeof(u->pinned));
}

/* See client.h. */
size_t xapi_untrusted_pick(const struct xapi_untrusted *v, size_t n, const char *named_master,
                           const char *master)
{
    for (size_t i = 0; named_master && i < n; i++)
        if (str_eq(v[i].host, named_master))
            return i;
    for (size_t i = 0; master && i < n; i++)
        if (str_eq(v[i].host, master))
            return i;
    return 0;
}

/* The master as far as the client knows: the last it logged in to or was sent to, else the
 * pool's first address (the one the user gave). */
static const char *known_master(const struct xapi_client *c)
{
    return c->master ? c->master : c->hosts.items[0];
}

/* True when a host refused this round is the master as far as anyone said. */
static bool refused_master(const struct xapi_client *c)
{
    for (size_t i = 0; i < c->n_refused; i++)
        if ((c->named_master && str_eq(c->refused[i].host, c->named_master)) ||
            str_eq(c->refused[i].host, known_master(c)))
            return true;
    return false;
}

/* The round ended without a master and some host was refused for its certificate. */
static void round_untrusted(struct xapi_client *c, bool master)
{
    c->untrusted =
        c->refused[xapi_untrusted_pick(c->refused, c->n_refused, c->named_master, known_master(c))];
    struct xapi_untrusted *u = &c->untrusted;
    struct err e = {0};
    xapi__changed(); /* what the pool shows may change with the state unchanged (UNTRUSTED) */
    if (u->pinned[0])
        err_set(&e, PP_ETLS,
                "TLS certificate of %s changed: confirmed SHA-256 %s, presented SHA-256 %s; "
                "nothing is sent to it until its new certificate is confirmed (poolpatch pool "
                "trust NAME --fingerprint SHA256:%s, after checking it on the host)",
                u->host, u->pinned, u->presented, u->presented);
    else
        err_set(&e, PP_ETLS,
                "%s %s, whose TLS certificate (SHA-256 %s) is not confirmed; nothing is sent "
                "to it until it is (poolpatch pool trust NAME --fingerprint SHA256:%s, after "
                "checking it on the host)",
                master ? "the pool's master is" : "no master answered; not asked:", u->host,
                u->presented, u->presented);
    c->last_err = e;
    log_warn(LOGM, "pool %s: %s", c->hosts.items[0], e.msg);
    cycle_end(c);
    xapi__client_set_state(c, XAPI_CONN_UNTRUSTED, &e);
    xapi__fail_waiting(c, &e);
}

static void round_failed(struct xapi_client *c)
{
    /* the master is known and unconfirmed: wait for the operator.  Refused supporters alone
     * (the master rebooting, say) do not stop the search: the master may come back. */
    if (refused_master(c)) {
        round_untrusted(c, true);
        return;
    }
    if (c->n_refused > 0 && c->last_err.code == 0)
        err_set(&c->last_err, PP_ETLS, "%s: TLS certificate (SHA-256 %s) not confirmed",
                c->refused[0].host, c->refused[0].presented);
    struct err e = c->saw_emergency ? c->emergency_err : c->last_err;
    if (c->saw_emergency) {
        err_prefix(&e, "pool in emergency mode (no host acts as master): ");
        xapi__client_set_state(c, XAPI_CONN_EMERGENCY, &e);
    }
    int64_t now = xapi__loop_now(c->loop);
    int64_t spent = now - c->cycle_start;
    if ((c->o.reconnect_budget_ms < 0 || spent >= c->o.reconnect_budget_ms) && c->n_refused > 0 &&
        !c->saw_emergency) {
        round_untrusted(c,
                        false); /* no master found; some hosts were not asked for want of trust */
        return;
    }
    if (c->o.reconnect_budget_ms < 0 || spent >= c->o.reconnect_budget_ms) {
        if (e.code == 0)
            err_set(&e, PP_ETRANSPORT, "no address of the pool answered");
        if (!c->saw_emergency)
            err_prefix(&e, "cannot reach the pool's master: ");
        log_warn(LOGM, "pool %s: giving up: %s", c->hosts.items[0], e.msg);
        cycle_end(c);
        xapi__client_set_state(c, c->saw_emergency ? XAPI_CONN_EMERGENCY : XAPI_CONN_FAILED, &e);
        xapi__fail_waiting(c, &e);
        return;
    }
    if (c->state == XAPI_CONN_CONNECTING && c->o.on_state && !c->closing) {
        /* never logged in yet and no address answered as master: the state stays (the client
         * keeps trying for its budget), but its user learns that the pool is not reachable now
         * (an update check does not wait for it: engine_cdn.c) */
        struct err r = e;
        if (r.code == 0)
            err_set(&r, PP_ETRANSPORT, "no address of the pool answered");
        err_prefix(&r, "no master found yet (still trying): ");
        c->o.on_state(c->o.state_ctx, c->state, &r);
    }
    unsigned step = c->attempt++ + (c->master_rebooting ? REBOOT_SKIP : 0);
    int64_t d = xapi_backoff_delay(step, c->o.backoff_base_ms, c->o.backoff_max_ms, &c->rng);
    if (d > c->o.reconnect_budget_ms - spent)
        d = c->o.reconnect_budget_ms - spent;
    log_info(LOGM, "pool %s: no master yet (%s); retrying in %lld ms", c->hosts.items[0], e.msg,
             (long long)d);
    c->backoff_t = xapi__timer_add(c->loop, d, backoff_fire, c);
}

static void login_done(struct wreq *w);

static void login_next(struct xapi_client *c)
{
    if (c->cand_i >= c->cands.n) {
        round_failed(c);
        return;
    }
    const char *host = c->cands.items[c->cand_i];
    struct xapi_value *p = xapi_value_new_array();
    xapi_array_append_string(p, c->o.user);
    xapi_array_append_string(p, c->o.password);
    /* The version argument is the client's API version; xapi ignores it (ocaml/xapi/
     * xapi_session.ml binds it as ~version:_).  XenAPI.py sends "1.0"; so do we. */
    xapi_array_append_string(p, "1.0");
    xapi_array_append_string(p, c->o.originator);
    xapi__count(&c->counts, XAPI__COUNT_LOGIN, NULL);
    struct wreq *w = xapi__wreq_new(c, host, "session.login_with_password", p);
    w->done = login_done;
    w->timeout_ms = c->o.call_timeout_ms;
    c->login_w = w;
    c->loop->internal_w++;
    xapi__wreq_send(c, w);
}

/* See client_int.h. */
void xapi__client_connect(struct xapi_client *c, bool reconnect)
{
    if (c->cycling || c->closing)
        return;
    c->cycling = true;
    c->cycle_start = xapi__loop_now(c->loop);
    c->attempt = 0;
    c->saw_emergency = false; /* a new cycle: what the last one saw is not kept */
    if (reconnect)
        xapi__count(&c->counts, XAPI__COUNT_RECONNECT, NULL);
    err_clear(&c->last_err);
    xapi__client_set_state(c, reconnect ? XAPI_CONN_RECONNECTING : XAPI_CONN_CONNECTING, NULL);
    round_start(c);
    login_next(c);
}

static void login_done(struct wreq *w)
{
    struct xapi_client *c = w->c;
    c->login_w = NULL;
    c->loop->internal_w--;
    if (c->closing) {
        xapi__wreq_free(w);
        return;
    }
    if (w->rc != 0) {
        xapi__count(&c->counts, XAPI__COUNT_TRANSPORT_ERROR, NULL);
        c->last_err = w->err;
        if (w->rc == PP_ETLS && w->tls.checked && !w->tls.chain_failed &&
            (w->tls.verdict == PIN_UNKNOWN || w->tls.verdict == PIN_MISMATCH)) {
            refused_note(c, w); /* nothing was sent: try the other addresses */
            c->cand_i++;
            login_next(c);
        } else if (w->rc == PP_ETLS || w->rc == PP_ELIMIT) {
            struct err e = w->err;
            cycle_end(c);
            xapi__client_set_state(c, XAPI_CONN_FAILED, &e);
            xapi__fail_waiting(c, &e);
        } else {
            c->cand_i++;
            login_next(c);
        }
        xapi__wreq_free(w);
        return;
    }
    if (!w->resp.ok) {
        struct err e = {0};
        xapi_err_from_description(w->resp.error, &e);
        xapi__count(&c->counts, XAPI__COUNT_XAPI_ERROR, NULL);
        if (strcmp(e.xapi_code, "HOST_IS_SLAVE") == 0) {
            const char *m = xapi_value_str(xapi_array_get(w->resp.error, 1));
            log_info(LOGM, "pool %s: %s is a supporter; master is %s", c->hosts.items[0], w->host,
                     m ? m : "?");
            c->last_err = e;
            if (m && *m) {
                free(c->named_master);
                c->named_master = xstrdup(m);
            }
            if (m && *m && tried_in_round(c, m)) {
                dead_end(c);
                login_next(c);
                xapi__wreq_free(w);
                return;
            }
            if (m && *m && c->redirects_in_round < MAX_REDIRECTS) {
                c->redirects_in_round++;
                xapi_client_add_address(c, m);
                cands_add(c, m, c->cand_i + 1);
            }
            c->cand_i++;
            login_next(c);
        } else if (xapi_is_emergency_code(e.xapi_code)) {
            c->saw_emergency = true;
            c->last_err = e;
            err_prefix(&c->last_err, "%s: ", w->host);
            c->emergency_err = c->last_err;
            dead_end(c);
            login_next(c);
        } else {
            /* Refused credentials and the like do not fix themselves: report at once. */
            cycle_end(c);
            xapi__client_set_state(c, XAPI_CONN_FAILED, &e);
            xapi__fail_waiting(c, &e);
        }
        xapi__wreq_free(w);
        return;
    }
    const char *s = xapi_value_str(w->resp.value);
    if (!s || !*s) {
        c->last_err.code = 0;
        err_set(&c->last_err, PP_EPARSE, "%s: login returned no session", w->host);
        c->cand_i++;
        login_next(c);
        xapi__wreq_free(w);
        return;
    }
    free(c->session);
    c->session = xstrdup(s);
    free(c->master);
    c->master = xstrdup(w->host);
    xapi__changed();
    c->session_gen++;
    c->logins++;
    /* the master is back: a later loss is not that reboot's (it may be a partition), even
     * when the loss came before the reboot's reply (it was then taken for an ordinary one) */
    c->reboot_sent_ms = 0;
    c->master_rebooting = false;
    cycle_end(c);
    log_info(LOGM, "pool %s: logged in to master %s (%s)", c->hosts.items[0], c->master,
             c->proto == XAPI_PREF_XMLRPC ? "XML-RPC" : "JSON-RPC");
    xapi__client_set_state(c, XAPI_CONN_READY, NULL);
    xapi__wreq_free(w);
    xapi__stream_new_session(c);
    xapi__client_pump(c);
    xapi__stream_next(c);
}

static void logout_done(struct wreq *w)
{
    w->c->loop->internal_w--;
    w->c->login_w = NULL;
    xapi__wreq_free(w);
}

static void login_w_drop(struct xapi_client *c)
{
    if (!c->login_w)
        return;
    xapi__wreq_abort(c, c->login_w);
    xapi__wreq_free(c->login_w);
    c->login_w = NULL;
    c->loop->internal_w--;
}

/* Stop the login cycle (closing; see client_int.h). */
void xapi__session_stop(struct xapi_client *c)
{
    xapi__timer_cancel(c->loop, &c->backoff_t);
    login_w_drop(c);
}

/* Log out, bounded, and free the cycle's state (closing; see client_int.h). */
void xapi__session_close(struct xapi_client *c)
{
    struct xapi_loop *loop = c->loop;
    if (c->session && c->master) {
        struct xapi_value *p = xapi_value_new_array();
        xapi_array_append_string(p, c->session);
        struct wreq *w = xapi__wreq_new(c, c->master, "session.logout", p);
        w->done = logout_done;
        w->timeout_ms = 2000;
        c->login_w = w;
        loop->internal_w++;
        xapi__wreq_send(c, w);
        int64_t until = clock_mono_ms() + 2500;
        while (c->login_w && clock_mono_ms() < until) {
            if (c->o.inproc)
                xapi__inproc_run(loop);
            else
                xapi__loop_wait_nested(loop, 100);
            xapi__loop_process_done(loop);
        }
        login_w_drop(c);
    }
    cands_free(c);
    free(c->named_master);
    c->named_master = NULL;
}

/* ---- confirmation (docs/security.md, "TLS to pools") ---- */

bool xapi_client_untrusted(const struct xapi_client *c, struct xapi_untrusted *u)
{
    if (c->state != XAPI_CONN_UNTRUSTED)
        return false;
    *u = c->untrusted;
    return true;
}

int xapi_client_trust(struct xapi_client *c, const char *host, const char *fp, struct err *e)
{
    char norm[XAPI_FP_LEN];
    if (!c->pins)
        return err_set(e, PP_EINVAL, "this pool's connection keeps no pins (not https)");
    if (!host || !*host)
        host = c->hosts.items[0];
    if (xapi_tls_fp_normalise(fp, norm) != 0)
        return err_set(e, PP_EINVAL, "fingerprint: '%s' is not a SHA-256 fingerprint",
                       fp ? fp : "");
    int rc = xapi_pins_set(c->pins, host, norm, e);
    if (rc != 0)
        return rc;
    log_info(LOGM, "pool %s: %s confirmed, SHA-256 %s", c->hosts.items[0], host, norm);
    if (c->state == XAPI_CONN_UNTRUSTED || c->state == XAPI_CONN_FAILED) {
        memset(&c->untrusted, 0, sizeof(c->untrusted));
        xapi__client_set_state(c, XAPI_CONN_IDLE, NULL);
        xapi__client_connect(c, c->logins > 0);
    }
    return 0;
}

/* See client.h. */
int xapi_trust_check(const struct xapi_untrusted *pending, const char *host, const char *fp,
                     char host_out[256], struct err *e)
{
    char norm[XAPI_FP_LEN];
    host_out[0] = '\0';
    if (!fp || xapi_tls_fp_normalise(fp, norm) != 0)
        return err_set(e, PP_EINVAL,
                       "fingerprint: '%s' is not a SHA-256 fingerprint (64 hex "
                       "digits, colons optional, as SHA256:AB:CD:...)",
                       fp ? fp : "");
    if (host && *host) {
        if (pending && str_eq(pending->host, host) && !str_eq(pending->presented, norm))
            return err_set(e, PP_ETLS,
                           "%s presents the certificate SHA256:%s, not the confirmed SHA256:%s; "
                           "nothing was confirmed",
                           host, pending->presented, norm);
        str_lcpy(host_out, host, 256);
        return 0;
    }
    if (!pending)
        return err_set(e, PP_ESTATE,
                       "the pool waits for no certificate confirmation (to confirm a host's "
                       "certificate ahead of a master change, name the host)");
    if (!str_eq(pending->presented, norm))
        return err_set(e, PP_ETLS,
                       "%s presents the certificate SHA256:%s, not the confirmed SHA256:%s; "
                       "nothing was confirmed",
                       pending->host, pending->presented, norm);
    str_lcpy(host_out, pending->host, 256);
    return 0;
}

/* See client.h. */
size_t xapi_host_certificates(const struct xapi_value *certs, const struct xapi_value *hosts,
                              struct xapi_untrusted *out, size_t max)
{
    size_t n = 0;
    if (!certs || certs->type != XAPI_STRUCT)
        return 0;
    for (size_t i = 0; i < certs->u.st.n && n < max; i++) {
        const struct xapi_value *rec = certs->u.st.vals[i];
        const char *type = xapi_struct_str(rec, "type", "host");
        const char *href = xapi_struct_str(rec, "host", "");
        const char *fp = xapi_struct_str(rec, "fingerprint", "");
        const char *addr = xapi_struct_str(xapi_struct_get(hosts, href), "address", "");
        char norm[XAPI_FP_LEN];
        if (!str_eq(type, "host") || !*addr || strlen(addr) >= sizeof(out->host) ||
            xapi_tls_fp_normalise(fp, norm) != 0)
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        str_lcpy(out[n].host, addr, sizeof(out[n].host));
        str_lcpy(out[n].presented, norm, sizeof(out[n].presented));
        n++;
    }
    return n;
}

/* See client.h. */
size_t xapi_client_learn_pins(struct xapi_client *c, const struct xapi_untrusted *v, size_t n)
{
    size_t learned = 0;
    for (size_t i = 0; c->pins && i < n; i++) {
        const char *had = xapi_pins_get(c->pins, v[i].host);
        struct err e = {0};
        /* the pool adds trust for hosts never pinned; it never overrides a pin (one the user
         * confirmed, or read before): a certificate replaced since is confirmed again */
        if (had) {
            if (!str_eq(had, v[i].presented))
                log_warn(LOGM,
                         "pool %s: the pool says %s's certificate is SHA-256 %s; %s stays "
                         "pinned",
                         c->hosts.items[0], v[i].host, v[i].presented, had);
            continue;
        }
        if (xapi_pins_set(c->pins, v[i].host, v[i].presented, &e) != 0) {
            log_warn(LOGM, "pool %s: %s", c->hosts.items[0], e.msg);
            continue;
        }
        learned++;
        log_info(LOGM, "pool %s: certificate of %s read from the pool, pinned: SHA-256 %s",
                 c->hosts.items[0], v[i].host, v[i].presented);
    }
    return learned;
}
