/* SPDX-License-Identifier: MIT */
/*
 * exec_gate.c - the health gate step (docs/health-gates.md): after a host came back from its
 * reboot or toolstack restart, and before the next batch begins, the built-in checks (the host
 * live, its PBDs currently_attached, the VMs moved back to it running there; waited for up to
 * the gate's wait_s) and then the user's hook, if one is set for the pool or globally: a command
 * run with the host's facts in POOLPATCH_* environment variables, or an HTTP POST of them as
 * JSON (2xx passes), bounded by a timeout and an output limit.  A failure halts the pool before
 * the next host (the step fails with HEALTH_CHECK_FAILED / HEALTH_HOOK_FAILED and the hook's
 * output, truncated); Retry runs the gate again.  Journaled like every step: a daemon killed
 * during the gate runs it again on resume (its resume rule always sends).
 *
 * Threads: the step lives on the engine thread; the hook runs on a thread of its own (a command
 * through posix_spawn, a URL through a blocking libcurl handle) and wakes the engine's loop when
 * it ends.  Meanwhile the step holds a never-ending cache wait (its "op"), so the executor's
 * orphan and cancel rules apply to it as to a call; exec_gate_tick cancels that wait once the
 * hook ended and the wait's callback journals the outcome.
 */
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "engine/engine_webhook.h"
#include "engine/exec_drv.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------- pure parts */

static int spec_int(const json_t *in, const char *key, int64_t lo, int64_t hi, int64_t def,
                    json_t *out, struct err *e)
{
    const json_t *v = json_object_get(in, key);
    if (v && (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi))
        return err_set(e, PP_EINVAL, "health gate: %s must be a whole number from %lld to %lld",
                       key, (long long)lo, (long long)hi);
    json_object_set_new(out, key, json_integer(v ? json_integer_value(v) : def));
    return 0;
}

static int spec_command(const json_t *v, struct err *e)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > EXEC_GATE_COMMAND_MAX)
        return err_set(e, PP_EINVAL,
                       "health gate: command must be a non-empty text of at most %d bytes",
                       EXEC_GATE_COMMAND_MAX);
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return err_set(e, PP_EINVAL,
                           "health gate: command holds a control character at byte %zu",
                           (size_t)(c - s));
    return 0;
}

/* Check and complete a gate's settings (see exec_int.h). */
int exec_gate_spec_check(const json_t *in, json_t **out, struct err *e)
{
    static const char *const keys[] = {"command", "url",    "timeout_s", "output_limit",
                                       "builtin", "wait_s", NULL};
    *out = NULL;
    if (!json_is_object(in))
        return err_set(e, PP_EINVAL, "health gate: expected a JSON object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        size_t i = 0;
        while (keys[i] && !str_eq(keys[i], k))
            i++;
        if (!keys[i])
            return err_set(e, PP_EINVAL,
                           "health gate: unknown key '%s' (known: command, url, timeout_s, "
                           "output_limit, builtin, wait_s)",
                           k);
    }
    const json_t *cmd = json_object_get(in, "command"), *url = json_object_get(in, "url");
    const json_t *bi = json_object_get(in, "builtin");
    if (cmd && url)
        return err_set(e, PP_EINVAL, "health gate: give a command or a url, not both");
    if (cmd && spec_command(cmd, e) != 0)
        return PP_EINVAL;
    if (url && !json_is_string(url))
        return err_set(e, PP_EINVAL, "health gate: url must be a text");
    struct err ue = {0};
    if (url && engine_webhook_check_url(json_string_value(url), &ue) != 0)
        return err_set(e, PP_EINVAL, "health gate: %s", ue.msg);
    if (bi && !json_is_boolean(bi))
        return err_set(e, PP_EINVAL, "health gate: builtin must be true or false");
    json_t *o = json_object();
    if (cmd)
        json_object_set(o, "command", (json_t *)cmd);
    if (url)
        json_object_set(o, "url", (json_t *)url);
    json_object_set_new(o, "builtin", json_boolean(!bi || json_is_true(bi)));
    if (spec_int(in, "timeout_s", 1, EXEC_GATE_TIMEOUT_MAX_S, EXEC_GATE_TIMEOUT_S, o, e) ||
        spec_int(in, "output_limit", EXEC_GATE_OUTPUT_MIN, EXEC_GATE_OUTPUT_MAX,
                 EXEC_GATE_OUTPUT_LIMIT, o, e) ||
        spec_int(in, "wait_s", 0, EXEC_GATE_TIMEOUT_MAX_S, EXEC_GATE_WAIT_S, o, e)) {
        json_decref(o);
        return PP_EINVAL;
    }
    *out = o;
    return 0;
}

struct gate_scan {
    const char *host;
    struct buf *why;
    size_t n;
};

static bool pbd_scan(void *c, const char *ref, const struct xapi_value *rec)
{
    struct gate_scan *g = c;
    (void)ref;
    if (!str_eq(xapi_struct_str(rec, "host", ""), g->host) ||
        xapi_struct_bool(rec, "currently_attached", false))
        return true;
    g->n++;
    buf_printf(g->why, "%sthe PBD of SR %s is not attached", g->why->len ? "; " : "",
               xapi_struct_str(rec, "SR", "?"));
    return true;
}

static const char *name_of(const struct xapi_records *v, const char *cls, const char *ref)
{
    const struct xapi_value *r = v->get(v->ctx, cls, ref);
    const char *n = r ? xapi_struct_str(r, "name_label", "") : "";
    return *n ? n : ref;
}

/* The built-in gate (see exec_int.h). */
bool exec_gate_builtin(const struct xapi_records *v, const char *host, const json_t *back_vms,
                       char *why, size_t why_len)
{
    struct buf b;
    buf_init(&b);
    if (!v->get(v->ctx, "host", host))
        buf_printf(&b, "the host is not in the pool");
    else if (!exec_xv_host_live(v, host))
        buf_printf(&b, "the host is not live");
    struct gate_scan g = {.host = host, .why = &b};
    v->foreach (v->ctx, "pbd", pbd_scan, &g);
    size_t i;
    const json_t *vm;
    json_array_foreach(back_vms, i, vm)
    {
        const char *ref = json_string_value(vm);
        const struct xapi_value *r = ref ? v->get(v->ctx, "vm", ref) : NULL;
        if (!r)
            continue; /* gone: the end-state verification names it */
        if (!str_eq(xapi_struct_str(r, "power_state", ""), "Running"))
            buf_printf(&b, "%sVM %s is %s", b.len ? "; " : "", name_of(v, "vm", ref),
                       xapi_struct_str(r, "power_state", "?"));
        else if (!str_eq(xapi_struct_str(r, "resident_on", ""), host))
            buf_printf(&b, "%sVM %s does not run on the host", b.len ? "; " : "",
                       name_of(v, "vm", ref));
    }
    bool ok = b.len == 0;
    if (why && why_len)
        str_lcpy(why, b.len ? buf_str(&b) : "", why_len);
    buf_cleanup(&b);
    return ok;
}

/* The hook's environment (see exec_int.h). */
char **exec_gate_envp(const char *const *base, const json_t *facts)
{
    size_t n = 0, k = 0;
    while (base && base[n])
        n++;
    char **env = xcalloc(n + json_object_size(facts) + 1, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        if (strncmp(base[i], "POOLPATCH_", 10) != 0)
            env[k++] = xstrdup(base[i]);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)facts, key, v)
    {
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "POOLPATCH_");
        for (const char *c = key; *c; c++)
            buf_putc(&b, (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c));
        if (json_is_string(v))
            buf_printf(&b, "=%s", json_string_value(v));
        else if (json_is_integer(v))
            buf_printf(&b, "=%lld", (long long)json_integer_value(v));
        else {
            buf_cleanup(&b);
            continue;
        }
        env[k++] = buf_take(&b);
    }
    return env;
}

/* Free what exec_gate_envp returned (see exec_int.h); NULL ok. */
void exec_gate_envp_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 when not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (s[0] >= 0xF5 || len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, above U+10FFFF */
    return len;
}

/* The output as readable text (see exec_int.h). */
char *exec_gate_output_text(const char *data, size_t len, size_t total)
{
    struct buf b;
    buf_init(&b);
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        if (s[i] >= 0x80) {
            size_t l = utf8_len(s + i, len - i);
            if (l) {
                buf_append(&b, s + i, l);
                i += l;
                continue;
            }
        }
        bool ok = (s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\n' || s[i] == '\t';
        buf_putc(&b, ok ? (char)s[i] : '?');
        i++;
    }
    if (total > len)
        buf_printf(&b, "... (%zu bytes in all, truncated)", total);
    return buf_take(&b);
}

/* ---------------------------------------------------------------- the hook's thread */

struct gate_job {
    pthread_mutex_t mu;
    int refs; /* the thread's and the step's */
    bool done, pass;
    struct xapi_loop *loop; /* woken when done; NULL once the step let go */
    /* inputs (owned) */
    char *command, *url, *body;
    char **envp;
    int64_t timeout_ms;
    size_t limit;
    /* outputs */
    char detail[160];
    struct buf out;
    size_t total;
};

static void job_release(struct gate_job *j, bool step)
{
    pthread_mutex_lock(&j->mu);
    if (step)
        j->loop = NULL;
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&j->mu);
    free(j->command);
    free(j->url);
    free(j->body);
    exec_gate_envp_free(j->envp);
    buf_cleanup(&j->out);
    free(j);
}

static void job_keep(struct gate_job *j, const char *data, size_t n)
{
    j->total += n;
    size_t room = j->out.len < j->limit ? j->limit - j->out.len : 0;
    buf_append(&j->out, data, n < room ? n : room);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn_shell(struct gate_job *j, int out_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setpgroup(&at, 0); /* its own group: a timeout kills what it started too */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"/bin/sh", "-c", j->command, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, j->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Read the command's output until it closes it or the deadline; true when in time. */
static bool read_output(struct gate_job *j, int fd, int64_t deadline)
{
    char chunk[4096];
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return false;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int n = poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            return true;
        if (n <= 0)
            continue;
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return true;
        job_keep(j, chunk, (size_t)r);
    }
}

static void run_command(struct gate_job *j)
{
    int fds[2];
    pid_t pid = 0;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(j->detail, sizeof j->detail, "could not start: %s", strerror(errno));
        return;
    }
    int rc = spawn_shell(j, fds[1], &pid);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(j->detail, sizeof j->detail, "could not start /bin/sh: %s", strerror(rc));
        return;
    }
    int64_t deadline = mono_ms() + j->timeout_ms;
    bool in_time = read_output(j, fds[0], deadline);
    close(fds[0]);
    int st = 0;
    while (in_time && waitpid(pid, &st, WNOHANG) == 0) {
        if (mono_ms() >= deadline) {
            in_time = false;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!in_time) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        snprintf(j->detail, sizeof j->detail, "timed out after %lld s (killed)",
                 (long long)(j->timeout_ms / 1000));
        return;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        j->pass = true;
    else if (WIFEXITED(st))
        snprintf(j->detail, sizeof j->detail, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(j->detail, sizeof j->detail, "killed by signal %d",
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static size_t curl_keep(char *data, size_t size, size_t n, void *ctx)
{
    job_keep(ctx, data, size * n);
    return size * n;
}

static void run_url(struct gate_job *j)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(j->detail, sizeof j->detail, "could not start an HTTP request");
        return;
    }
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "User-Agent: poolpatch-health-gate");
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        snprintf(j->detail, sizeof j->detail, "timed out after %lld s",
                 (long long)(j->timeout_ms / 1000));
    else if (cc != CURLE_OK)
        snprintf(j->detail, sizeof j->detail, "%s", curl_easy_strerror(cc));
    else if (status >= 200 && status < 300)
        j->pass = true;
    else
        snprintf(j->detail, sizeof j->detail, "answered HTTP %ld", status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

static void *job_main(void *arg)
{
    struct gate_job *j = arg;
    if (j->command)
        run_command(j);
    else
        run_url(j);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    if (j->loop)
        xapi_loop_wakeup(j->loop);
    pthread_mutex_unlock(&j->mu);
    job_release(j, false);
    return NULL;
}

/* ---------------------------------------------------------------- the step */

struct exec_gate {
    json_t *spec;     /* exec_gate_spec_check's shape */
    json_t *back_vms; /* refs of the VMs moved back to the host */
    struct gate_job *job;
};

static void gate_free(struct exec_gate *g)
{
    if (!g)
        return;
    if (g->job)
        job_release(g->job, true);
    json_decref(g->spec);
    json_decref(g->back_vms);
    free(g);
}

/* The step's callback found it orphaned (executor freed): let go of the gate, free it. */
static bool gate_orphan(struct exec_step *s)
{
    if (s->p)
        return false;
    gate_free(s->gate);
    s->gate = NULL;
    exec_orphan_check(s);
    return true;
}

static bool never(void *ctx, struct xapi_client *c)
{
    (void)ctx, (void)c;
    return false;
}

/* What the hook is told: {rollout, pool, host, host_uuid, address, version, build, batch,
 * restarted}. */
static json_t *gate_facts(struct exec_step *s)
{
    struct xapi_client *c = exec_pool_client(s->p);
    const struct xapi_value *h = c ? xapi_cache_get(c, "host", s->host) : NULL;
    const struct xapi_value *sw = h ? xapi_struct_get(h, "software_version") : NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "rollout", s->p->r->id,
                     "pool", s->p->name, "host", exec_host_label(s), "host_uuid",
                     h ? xapi_struct_str(h, "uuid", "") : "", "address",
                     h ? xapi_struct_str(h, "address", "") : "", "version",
                     sw ? xapi_struct_str(sw, "product_version", "") : "", "build",
                     sw ? xapi_struct_str(sw, "build_number", "") : "", "batch",
                     (json_int_t)jsonx_int(s->params, "batch", 0), "restarted",
                     exec_pstr(s->params, "restarted"));
}

static void hook_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    (void)res;
    s->op = NULL;
    if (gate_orphan(s))
        return;
    struct exec_gate *g = s->gate;
    struct gate_job *j = g->job;
    pthread_mutex_lock(&j->mu);
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    if (!done) { /* the rollout's cancel, or the client went away */
        s->gate = NULL;
        gate_free(g);
        exec_step_fail_err(s, rc ? rc : PP_ECANCELLED, e);
        return;
    }
    char *out = exec_gate_output_text(buf_str(&j->out), j->out.len, j->total);
    const char *what = json_object_get(g->spec, "url") ? "URL" : "command";
    s->gate = NULL;
    if (j->pass) {
        exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1, "health hook passed%s%s",
                  *out ? ": " : "", out);
        exec_step_done(s, json_pack("{s:s, s:s, s:s}", "builtin",
                                    jsonx_bool(g->spec, "builtin", true) ? "ok" : "off", "hook",
                                    "passed", "output", out));
    } else {
        char *msg = xasprintf("the health hook (%s) failed on %s: %s%s%s", what, exec_host_label(s),
                              j->detail, *out ? "; its output: " : "", out);
        exec_step_fail(s, "HEALTH_HOOK_FAILED", msg);
        free(msg);
    }
    free(out);
    gate_free(g);
}

static void start_hook(struct exec_step *s)
{
    struct exec_gate *g = s->gate;
    const char *cmd = jsonx_str(g->spec, "command", NULL), *url = jsonx_str(g->spec, "url", NULL);
    if (!cmd && !url) {
        s->gate = NULL;
        gate_free(g);
        exec_step_done(s, json_pack("{s:s, s:s}", "builtin", "ok", "hook", "none"));
        return;
    }
    struct gate_job *j = xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->mu, NULL);
    j->refs = 2;
    j->loop = s->p->r->x->env.loop;
    j->timeout_ms = jsonx_int(g->spec, "timeout_s", EXEC_GATE_TIMEOUT_S) * 1000;
    j->limit = (size_t)jsonx_int(g->spec, "output_limit", EXEC_GATE_OUTPUT_LIMIT);
    buf_init(&j->out);
    json_t *facts = gate_facts(s);
    if (cmd) {
        j->command = xstrdup(cmd);
        j->envp = exec_gate_envp((const char *const *)environ, facts);
    } else {
        j->url = xstrdup(url);
        json_object_set_new(facts, "event", json_string("health_gate"));
        j->body = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(facts);
    g->job = j;
    struct err e = {0};
    s->let_end = NULL;
    int rc = xapi_cache_wait(exec_pool_client(s->p), never, NULL, 0, hook_done, s, &s->op, &e);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (rc == 0 && pthread_create(&t, &at, job_main, j) != 0) {
        rc = err_set(&e, PP_ESTATE, "could not start the health hook's thread");
        xapi_op_cancel(s->op); /* its callback sees the job not done: the step fails */
        job_release(j, false);
        pthread_attr_destroy(&at);
        return;
    }
    pthread_attr_destroy(&at);
    if (rc != 0) {
        job_release(j, false);
        s->gate = NULL;
        gate_free(g);
        exec_step_fail_err(s, rc, &e);
        return;
    }
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1, "health hook: %s %s",
              cmd ? "running" : "POST", cmd ? cmd : url);
}

static bool builtin_ok(void *ctx, struct xapi_client *c)
{
    struct exec_step *s = ctx;
    struct xapi_records v;
    xapi_records_from_client(&v, c);
    return exec_gate_builtin(&v, s->host, s->gate->back_vms, NULL, 0);
}

static void builtin_done(void *ctx, int rc, const struct xapi_value *res, const struct err *e)
{
    struct exec_step *s = ctx;
    (void)res;
    s->op = NULL;
    if (gate_orphan(s))
        return;
    if (rc == 0) {
        start_hook(s);
        return;
    }
    struct exec_gate *g = s->gate;
    s->gate = NULL;
    char why[1024] = "";
    struct xapi_client *c = exec_pool_client(s->p);
    if (rc == PP_ETIMEOUT && c) {
        struct xapi_records v;
        xapi_records_from_client(&v, c);
        exec_gate_builtin(&v, s->host, g->back_vms, why, sizeof why);
        char *msg =
            xasprintf("the built-in health check failed on %s after %lld s: %s", exec_host_label(s),
                      (long long)jsonx_int(g->spec, "wait_s", 0), *why ? why : "it did not pass");
        exec_step_fail(s, "HEALTH_CHECK_FAILED", msg);
        free(msg);
    } else {
        exec_step_fail_err(s, rc, e);
    }
    gate_free(g);
}

/* The refs of the VMs this rollout moves back to the step's host (policy return). */
static json_t *back_vms(struct exec_step *s)
{
    json_t *a = json_array();
    struct exec_pool *p = s->p;
    for (size_t i = 0; i < p->steps.n; i++) {
        const struct store_step *st = &p->steps.items[i];
        if (p->kinds[i] != EXEC_K_MIGRATE || !str_eq(st->host, s->host))
            continue;
        json_t *pj = json_loads(st->params_json ? st->params_json : "{}", 0, NULL);
        if (json_is_true(json_object_get(pj, "back")))
            json_array_append_new(a, json_string(exec_pstr(pj, "vm")));
        json_decref(pj);
    }
    return a;
}

/* Send of the health gate (the kind table's row). */
void exec_send_gate(struct exec_step *s)
{
    if (exec_intent(s, NULL, false))
        return;
    struct exec *x = s->p->r->x;
    json_t *spec = x->env.health_gate ? x->env.health_gate(x->env.ctx, s->p->name) : NULL;
    json_t *norm = NULL;
    struct err e = {0};
    if (!spec)
        spec = json_object(); /* the built-in gate with its defaults */
    if (json_object_get(spec, "unreadable")) {
        char *msg = xasprintf("the health gate's settings could not be read: %s",
                              exec_pstr(spec, "unreadable"));
        json_decref(spec);
        exec_step_fail(s, "HEALTH_HOOK_FAILED", msg);
        free(msg);
        return;
    }
    int rc = exec_gate_spec_check(spec, &norm, &e);
    json_decref(spec);
    if (rc != 0) {
        exec_step_fail(s, "HEALTH_HOOK_FAILED", e.msg);
        return;
    }
    if (!exec_pool_client(s->p)) {
        json_decref(norm);
        exec_step_fail(s, "TRANSPORT", "the pool is not connected");
        return;
    }
    struct exec_gate *g = xcalloc(1, sizeof(*g));
    g->spec = norm;
    g->back_vms = back_vms(s);
    s->gate = g;
    if (!jsonx_bool(norm, "builtin", true)) {
        start_hook(s);
        return;
    }
    exec_emit(s->p, exec_host_label(s), exec_step_name(s), -1,
              "health gate: PBDs attached, %zu VM%s back running", json_array_size(g->back_vms),
              json_array_size(g->back_vms) == 1 ? "" : "s");
    int64_t wait = jsonx_int(norm, "wait_s", EXEC_GATE_WAIT_S) * 1000;
    s->let_end = NULL;
    if (xapi_cache_wait(exec_pool_client(s->p), builtin_ok, s, wait > 0 ? wait : 1, builtin_done, s,
                        &s->op, &e) != 0) {
        s->gate = NULL;
        gate_free(g);
        exec_step_fail_err(s, PP_ESTATE, &e);
    }
}

/* Each loop turn (see exec_drv.h). */
void exec_gate_tick(struct exec *x)
{
    for (struct exec_run *r = x->runs; r; r = r->next)
        for (size_t i = 0; i < r->n_pools; i++)
            for (struct exec_step *s = r->pools[i].active; s; s = s->next) {
                if (!s->gate || !s->gate->job || !s->op)
                    continue;
                pthread_mutex_lock(&s->gate->job->mu);
                bool done = s->gate->job->done;
                pthread_mutex_unlock(&s->gate->job->mu);
                if (done)
                    xapi_op_cancel(s->op); /* hook_done journals the outcome */
            }
}
