/* SPDX-License-Identifier: MIT */
/*
 * exec_upload.c - the upload step: task.create, PUT /import_raw_vdi streamed from the update zip,
 * the task's result (the VDI) journaled; after a restart the task of the last run is looked up
 * first.
 */
#include <string.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/exec_drv.h"
#include "engine/zip.h"
#include "xapi/codec.h"
#include "xapi/upload.h"

/* ---------------------------------------------------------------- upload */

static ssize_t up_read(void *ctx, void *buf, size_t n, struct err *e)
{
    struct exec_step *s = ctx;
    return zimg_read(s->z, buf, n, e);
}

static void up_progress(void *ctx, int64_t sent, int64_t total)
{
    struct exec_step *s = ctx;
    if (!s->p || total <= 0)
        return;
    int pct = (int)(sent * 100 / total);
    if (pct >= s->last_pct + 10 || (pct == 100 && s->last_pct < 100)) {
        s->last_pct = pct;
        exec_emit(s->p, NULL, exec_step_name(s), pct, "uploading %s: %d%%", zimg_name(s->z), pct);
    }
}

static void up_task_poll(struct exec_step *s);
static void up_task_expired(struct exec_step *s, struct xapi_client *c);

/* A task's error_info ([CODE, params...]) as an err: code kept, message "CODE [p, ...]". */
static int err_from_info(const struct xapi_value *ei, const char *status, struct err *e)
{
    size_t n = xapi_array_len(ei);
    if (n == 0)
        return err_set(e, PP_EXAPI, "upload task %s", status);
    struct buf b;
    buf_init(&b);
    const char *code = xapi_value_str(xapi_array_get(ei, 0));
    buf_puts(&b, code ? code : "");
    for (size_t i = 1; i < n; i++) {
        const char *p = xapi_value_str(xapi_array_get(ei, i));
        buf_printf(&b, "%s%s", i == 1 ? " [" : ", ", p ? p : "");
    }
    if (n > 1)
        buf_putc(&b, ']');
    int rc = err_set(e, PP_EXAPI, "%s", buf_str(&b));
    str_lcpy(e->xapi_code, code ? code : "", sizeof(e->xapi_code));
    buf_cleanup(&b);
    return rc;
}

static void start_upload_fresh(struct exec_step *s);

/* The upload's task ended: rc 0 with vdi (the task's result), or the task's error e. */
static void up_task_outcome(struct exec_step *s, int rc, const char *vdi, const struct err *e)
{
    if (rc != 0 && s->prev_task) {
        /* the upload of the attempt before the restart did not complete: upload again */
        s->prev_task = false;
        free(s->task);
        s->task = NULL;
        s->deadline_ms = 0;
        json_object_del(s->params, "task");
        start_upload_fresh(s);
        return;
    }
    if (rc != 0) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    if (!vdi || !*vdi) {
        exec_step_fail(s, "INVALID_UPDATE", "the upload task returned no VDI");
        return;
    }
    exec_step_done(s, json_pack("{s:s, s:I}", "vdi", vdi, "bytes", (json_int_t)s->size));
}

/* The upload's task as a record (task.get_record after a restart, or made up). */
static void up_task_final(struct exec_step *s, const struct xapi_value *rec)
{
    const char *status = xapi_struct_str(rec, "status", "");
    struct err e = {0};
    if (!str_eq(status, "success")) {
        int rc = err_from_info(xapi_struct_get(rec, "error_info"), status, &e);
        up_task_outcome(s, rc, NULL, &e);
        return;
    }
    const char *res = xapi_struct_str(rec, "result", "");
    struct xapi_value *v = NULL;
    struct xapi_limits lim;
    xapi_limits_response(&lim);
    if (*res)
        xapi_xmlrpc_decode_value(res, strlen(res), &lim, &v, &e);
    struct xapi_client *c = exec_pool_client(s->p);
    if (c && xapi_value_str(v) && *xapi_value_str(v))
        xapi_call_async(c, "task.destroy", exec_params_v(1, s->task), NULL, NULL, NULL, NULL, NULL);
    up_task_outcome(s, 0, xapi_value_str(v), NULL);
    xapi_value_free(v);
}

/* xapi_task_wait's answer: the VDI, the task's error, or the wait's deadline. */
static void up_waited(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    struct xapi_client *c = exec_pool_client(s->p);
    if (rc == PP_ETIMEOUT && c) {
        up_task_expired(s, c);
        return;
    }
    up_task_outcome(s, rc, rc == 0 ? xapi_value_str(res) : NULL, e);
}

/* The upload task is still pending at its deadline: cancel it, then upload again (the task
 * of a run before a restart: nobody sends its body any more) or fail with UPLOAD_TIMEOUT. */
static void up_task_expired(struct exec_step *s, struct xapi_client *c)
{
    int64_t waited = (clock_now_ms(s->p->r->x->env.clock) - s->deadline_ms) / 1000 +
                     (s->prev_task ? EXEC_UPLOAD_PREV_WAIT_MS : EXEC_EFFECT_WAIT_MS) / 1000;
    xapi_call_async(c, "task.cancel", exec_params_v(1, s->task), NULL, NULL, NULL, NULL, NULL);
    if (s->prev_task) {
        exec_emit(s->p, NULL, exec_step_name(s), -1,
                  "the upload task of the last run stayed pending %lld s: cancelled, uploading "
                  "again",
                  (long long)waited);
        struct xapi_value *gone = xapi_value_new_struct();
        xapi_struct_set_string(gone, "status", "cancelled");
        up_task_final(s, gone);
        xapi_value_free(gone);
        return;
    }
    char m[300];
    snprintf(m, sizeof(m), "the upload task stayed pending %lld s after the image was sent",
             (long long)waited);
    exec_step_fail(s, "UPLOAD_TIMEOUT", m);
}

/* Wait for the upload's task through the pool's event stream (xapi_task_wait), up to its
 * deadline. */
static void up_task_poll(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    if (!c) {
        exec_step_fail(s, "TRANSPORT", "the pool is not connected");
        return;
    }
    int64_t now = clock_now_ms(s->p->r->x->env.clock);
    if (s->deadline_ms == 0)
        s->deadline_ms = now + (s->prev_task ? EXEC_UPLOAD_PREV_WAIT_MS : EXEC_EFFECT_WAIT_MS);
    if (now >= s->deadline_ms) {
        up_task_expired(s, c);
        return;
    }
    struct err e = {0};
    s->let_end = NULL;
    if (xapi_task_wait(c, s->task, s->deadline_ms - now, NULL, up_waited, s, &s->op, &e) != 0)
        exec_step_fail_err(s, e.code, &e);
}

/* The PUT was refused or cut: the task says why when xapi failed it (SR_BACKEND_FAILURE_44:
 * the SR is full — storage, not the network); else the transport error stands. */
static void up_put_failed_task(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)e;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    const char *status = rc == 0 ? xapi_struct_str(res, "status", "") : "";
    if (str_eq(status, "failure") && xapi_array_len(xapi_struct_get(res, "error_info")) > 0) {
        up_task_final(s, res);
        return;
    }
    exec_step_fail(s, "TRANSPORT", s->last_err);
}

static void up_put_done(void *ctx, int rc, const struct err *e)
{
    struct exec_step *s = ctx;
    s->up = NULL;
    if (exec_orphan_check(s))
        return;
    zimg_close(s->z);
    s->z = NULL;
    if (rc != 0 && rc == PP_ETRANSPORT && s->task) {
        str_lcpy(s->last_err, e && e->msg[0] ? e->msg : "upload failed", sizeof(s->last_err));
        exec_send_call(s, "task.get_record", exec_params_v(1, s->task), false, up_put_failed_task);
        return;
    }
    if (rc != 0) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    up_task_poll(s);
}

static void up_task_created(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    if (rc != 0) {
        exec_step_fail_err(s, rc, e);
        return;
    }
    s->task = xstrdup(xapi_value_str(res) ? xapi_value_str(res) : "");
    /* journal the task: after a restart its result (the VDI) spares a second upload */
    json_object_set_new(s->params, "task", json_string(s->task));
    if (exec_intent(s, NULL, true) != 0)
        return;
    char *q = xasprintf("sr_id=%s&task_id=%s", exec_pstr(s->params, "sr"), s->task);
    struct err ue = {0};
    struct xapi_client *c = exec_pool_client(s->p);
    int r = c ? xapi_upload_start(c, "/import_raw_vdi", q, s->size, up_read, up_progress,
                                  up_put_done, s, &s->up, &ue)
              : err_set(&ue, PP_ETRANSPORT, "the pool is not connected");
    free(q);
    if (r != 0)
        exec_step_fail_err(s, r, &ue);
}

static void up_prev_task(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    (void)e;
    struct exec_step *s = ctx;
    s->op = NULL;
    if (exec_orphan_check(s))
        return;
    s->prev_task = true;
    s->task = xstrdup(exec_pstr(s->params, "task"));
    if (rc != 0) { /* the task is gone (xapi restarted, or destroyed): upload again */
        struct xapi_value *gone = xapi_value_new_struct();
        xapi_struct_set_string(gone, "status", "failure");
        up_task_final(s, gone);
        xapi_value_free(gone);
        return;
    }
    if (str_eq(xapi_struct_str(res, "status", ""), "pending") && s->retrying) {
        /* the step failed with its PUT abandoned (the master lost...): nobody sends this task's
         * body any more, it can only stall; cancel it and upload again at once */
        exec_emit(s->p, NULL, exec_step_name(s), -1,
                  "retry: the failed attempt's upload task is still pending; cancelling it and "
                  "uploading again");
        xapi_call_async(exec_pool_client(s->p), "task.cancel", exec_params_v(1, s->task), NULL,
                        NULL, NULL, NULL, NULL);
        struct xapi_value *gone = xapi_value_new_struct();
        xapi_struct_set_string(gone, "status", "cancelled");
        up_task_final(s, gone);
        xapi_value_free(gone);
        return;
    }
    if (str_eq(xapi_struct_str(res, "status", ""), "pending")) {
        exec_emit(s->p, NULL, exec_step_name(s), -1,
                  "resumed: waiting for the upload task of the last run");
        up_task_poll(s);
        return;
    }
    if (str_eq(xapi_struct_str(res, "status", ""), "success"))
        exec_emit(s->p, NULL, exec_step_name(s), -1,
                  "resumed: the last run's upload had completed");
    up_task_final(s, res);
}

/* upload: reuse the task of an attempt before a restart when it completed; else upload. */
void exec_send_upload(struct exec_step *s)
{
    const struct store_step_list *l = &s->p->steps;
    for (size_t i = 0; s->p->steps_ok && i < l->n; i++)
        if (l->items[i].seq == s->seq)
            s->retrying = l->items[i].state == STORE_STEP_FAILED;
    if (exec_intent(s, NULL, false))
        return;
    const char *task = exec_pstr(s->params, "task");
    if (*task) {
        exec_send_call(s, "task.get_record", exec_params_v(1, task), false, up_prev_task);
        return;
    }
    start_upload_fresh(s);
}

static void start_upload_fresh(struct exec_step *s)
{
    struct err e = {0};
    if (zimg_open(exec_pstr(s->params, "path"), NULL, &s->z, &e) != 0) {
        exec_step_fail(s, "INVALID_UPDATE_FILE", e.msg);
        return;
    }
    s->size = zimg_size(s->z);
    exec_emit(s->p, NULL, exec_step_name(s), 0, "uploading %s (%lld bytes)", zimg_name(s->z),
              (long long)s->size);
    char *label = xasprintf("poolpatch upload %s", exec_pstr(s->params, "uuid"));
    exec_send_call(s, "task.create", exec_params_v(2, label, "update image upload"), false,
                   up_task_created);
    free(label);
}
