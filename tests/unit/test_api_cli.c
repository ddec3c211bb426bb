/* SPDX-License-Identifier: MIT */
/*
 * test_api_cli.c - unit tests of the CLI's daemon-facing side: the SSE parser, the renderers
 * (tables, plan, rollout bars, event lines) on sample daemon JSON, and the commands themselves
 * (pool, updates, plan, apply, rollout --watch, retry, cancel; `serve` in a child process)
 * against a real api server on 127.0.0.1 whose engine is the test double in engine_seam.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/render.h"
#include "cli/rest.h"
#include "engine_seam.h"

#define TOKEN "feedfacefeedfacefeedfacefeedface"

/* ------------------------------------------------------------------ SSE parser */

struct got {
    struct buf log;
    int stop_after;
    int n;
};

static int got_event(void *ud, const char *event, const char *data)
{
    struct got *g = ud;
    buf_printf(&g->log, "[%s|%s]", event, data);
    return ++g->n == g->stop_after;
}

static int got_comment(void *ud, const char *text)
{
    struct got *g = ud;
    buf_printf(&g->log, "(%s)", text);
    return 0;
}

/* cli_first_line: the first line without its end, a long line cut, errors naming the option and
 * the file; the shared option parsers take their codes and only theirs. */
static void test_cli_opts(void **state)
{
    (void)state;
    char dir[] = "/tmp/pp-cliopts-XXXXXX", path[64], buf[8];
    struct err e = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pw", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret\r\nsecond line\n", f);
    fclose(f);
    assert_int_equal(cli_first_line("--password-file", path, buf, sizeof buf, &e), 0);
    assert_string_equal(buf, "s3cret");
    f = fopen(path, "w");
    fputs("0123456789\n", f);
    fclose(f);
    assert_int_equal(cli_first_line("--password-file", path, buf, sizeof buf, &e), 0);
    assert_string_equal(buf, "0123456");
    f = fopen(path, "w");
    fputs("\nnot the first\n", f);
    fclose(f);
    assert_int_equal(cli_first_line("--secret-file", path, buf, sizeof buf, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "--secret-file"));
    assert_non_null(strstr(e.msg, "the first line is empty"));
    unlink(path);
    err_clear(&e);
    assert_int_equal(cli_first_line("--password-file", path, buf, sizeof buf, &e), PP_EIO);
    assert_non_null(strstr(e.msg, path));
    rmdir(dir);

    bool on = false;
    assert_int_equal(cli_on_off("--live-patching", "on", &on, &e), 0);
    assert_true(on);
    assert_int_equal(cli_on_off("--live-patching", "Off", &on, &e), 0);
    assert_false(on);
    assert_int_equal(cli_on_off("--live-patching", "1", &on, &e), 0);
    assert_true(on);
    assert_int_equal(cli_on_off("--live-patching", "no", &on, &e), 0);
    assert_false(on);
    assert_int_equal(cli_on_off("--live-patching", "enabled", &on, &e), PP_EINVAL);
    assert_non_null(strstr(e.msg, "--live-patching: 'enabled' is neither on nor off"));
    assert_int_equal(cli_on_off("--live-patching", "", &on, &e), PP_EINVAL);

    struct cli_daemon d = {0};
    struct cli_xapi x = {0};
    optarg = (char *)"http://d";
    assert_true(cli_daemon_opt(&d, 'S'));
    assert_string_equal(d.server, "http://d");
    assert_true(cli_daemon_opt(&d, 'j'));
    assert_true(d.json);
    assert_false(cli_daemon_opt(&d, 'u'));
    assert_false(cli_daemon_opt(&d, 'h'));
    optarg = (char *)"https://pool";
    assert_true(cli_xapi_opt(&x, 'u'));
    assert_string_equal(x.url, "https://pool");
    assert_false(cli_xapi_opt(&x, 'S'));
    assert_null(x.user);
}

static void test_sse_parser(void **state)
{
    static const char stream[] = "retry: 3000\n: connected\n\nid: 1\nevent: progress\n"
                                 "data: {\"a\":1}\n\nid: 2\r\nevent: progress\r\ndata: x\r\n"
                                 "data: y\r\n\r\n: keepalive\n\ndata:nospace\n\n";
    (void)state;
    /* Every split of the stream gives the same events. */
    for (size_t cut = 0; cut < sizeof stream - 1; cut++) {
        struct got g = {.stop_after = -1};
        struct sse_parser p;
        buf_init(&g.log);
        sse_parser_init(&p, got_event, got_comment, &g);
        assert_int_equal(sse_parser_feed(&p, stream, cut), 0);
        assert_int_equal(sse_parser_feed(&p, stream + cut, sizeof stream - 1 - cut), 0);
        assert_string_equal(buf_str(&g.log), "(connected)[progress|{\"a\":1}][progress|x\ny]"
                                             "(keepalive)[message|nospace]");
        sse_parser_cleanup(&p);
        buf_cleanup(&g.log);
    }
    /* A callback's nonzero result stops the parser. */
    struct got g = {.stop_after = 1};
    struct sse_parser p;
    buf_init(&g.log);
    sse_parser_init(&p, got_event, NULL, &g);
    assert_int_equal(sse_parser_feed(&p, stream, sizeof stream - 1), 1);
    assert_string_equal(buf_str(&g.log), "[progress|{\"a\":1}]");
    sse_parser_cleanup(&p);
    buf_cleanup(&g.log);
}

/* ------------------------------------------------------------------ renderers */

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fprintf(stderr, "bad sample JSON: %s at %d\n", je.text, je.position);
    assert_non_null(v);
    return v;
}

/* Issue 13 finding 4: outside strings reach the terminal only escaped. */
static void test_render_terminal_safe(void **state)
{
    struct buf b;
    json_t *v;
    (void)state;

    buf_init(&b);
    render_safe_text(&b, "a\033]0;x\007\033[2J\r\nb\xc2\x9b\xe2\x80\xae"
                         "c\xff\tz é");
    assert_string_equal(buf_str(&b),
                        "a\\x1b]0;x\\x07\\x1b[2J\\x0d\\x0ab\\u{9b}\\u{202e}c\\xff\\x09z é");
    /* idempotent: escaping escaped text changes nothing */
    {
        struct buf b2;
        buf_init(&b2);
        render_safe_text(&b2, buf_str(&b));
        assert_string_equal(buf_str(&b2), buf_str(&b));
        buf_cleanup(&b2);
    }
    buf_reset(&b);
    render_safe_message(&b, "line one\nline\033two");
    assert_string_equal(buf_str(&b), "line one\nline\\x1btwo");
    /* a host name with a forged row: one table row, no raw control byte */
    buf_reset(&b);
    v = load("{\"pools\":[{\"name\":\"lab\\r\\nfake  FIXED\",\"url\":\"https://x/\",\"connected\":"
             "true,\"master\":\"h\\u001b[2J\\u202e\",\"hosts\":1,\"version\":\"8\"}]}");
    render_pools(&b, v);
    json_decref(v);
    assert_non_null(strstr(buf_str(&b), "lab\\x0d\\x0afake  FIXED"));
    assert_non_null(strstr(buf_str(&b), "h\\x1b[2J\\u{202e}"));
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20 || b.data[i] == '\n');
    assert_null(strstr(buf_str(&b), "\xe2\x80\xae"));
    buf_cleanup(&b);
}

static void test_render_tables(void **state)
{
    struct buf b;
    json_t *v;
    (void)state;

    buf_init(&b);
    v = load("{\"pools\":[{\"name\":\"lab\",\"url\":\"https://10.0.0.1/\",\"connected\":true,"
             "\"master\":\"h1\",\"hosts\":4,\"version\":\"8.2.1\"},{\"name\":\"édge\",\"url\":"
             "\"https://10.0.0.2/\",\"connected\":false,\"error\":\"HOST_OFFLINE\"}]}");
    render_pools(&b, v);
    assert_string_equal(buf_str(&b),
                        "NAME  URL                MASTER  HOSTS  VERSION  STATUS\n"
                        "lab   https://10.0.0.1/  h1      4      8.2.1    connected\n"
                        "édge  https://10.0.0.2/  -       -      -        error: HOST_OFFLINE\n");
    json_decref(v);
    buf_reset(&b);
    v = load("{\"pools\":[]}");
    render_pools(&b, v);
    assert_non_null(strstr(buf_str(&b), "poolpatch pool add"));
    json_decref(v);

    buf_reset(&b);
    v = load("{\"view\":\"by-server\",\"checking\":{\"automatic\":false,\"last_check\":null},"
             "\"servers\":[{\"pool\":\"lab\",\"server\":\"h1\",\"version\":\"8.2.1\","
             "\"status\":\"Out of date\",\"required\":[{\"id\":\"u1\",\"name\":\"XS82E001\"},"
             "{\"id\":\"u2\",\"name\":\"XS82E002\"}],\"installed\":[]},{\"pool\":\"lab\","
             "\"server\":\"h2\",\"version\":\"8.2.1\",\"status\":\"Up to date\","
             "\"required\":[],\"installed\":[{\"id\":\"u1\",\"name\":\"XS82E001\"}]}]}");
    render_by_server(&b, v);
    assert_string_equal(buf_str(&b),
                        "POOL  SERVER  VERSION  STATUS       REQUIRED            INSTALLED\n"
                        "lab   h1      8.2.1    Out of date  XS82E001, XS82E002  -\n"
                        "lab   h2      8.2.1    Up to date   -                   XS82E001\n"
                        "Automatic checking is off; check now with 'poolpatch updates check'; "
                        "last check: never.\n");
    json_decref(v);

    buf_reset(&b);
    v = load("{\"view\":\"by-update\",\"checking\":{\"automatic\":true,\"interval_s\":86400,"
             "\"last_check\":\"2026-11-21T20:00:00Z\"},\"updates\":[{\"id\":\"u9\",\"name\":"
             "\"XS82ECU1001\",\"kind\":\"cumulative\",\"date\":\"2026-10-01T00:00:00Z\","
             "\"guidance\":[\"restartHost\"],\"livepatch\":false,\"restricted\":true,"
             "\"servers\":[{\"pool\":\"lab\",\"server\":\"h1\"},{\"pool\":\"lab\",\"server\":"
             "\"h2\"}]},{\"id\":\"u1\",\"name\":\"XS82E001\",\"kind\":\"hotfix\",\"date\":"
             "\"2026-09-01T00:00:00Z\",\"guidance\":[],\"livepatch\":true,\"dismissed\":true,"
             "\"servers\":[{\"pool\":\"lab\",\"server\":\"h1\"}]}]}");
    render_by_update(&b, v);
    assert_string_equal(buf_str(&b),
                        "UPDATE                          KIND        DATE        AFTER APPLY  "
                        "APPLIES TO\n"
                        "XS82ECU1001 (support contract)  cumulative  2026-10-01  restartHost  "
                        "lab/h1, lab/h2\n"
                        "XS82E001 (dismissed)            hotfix      2026-09-01  live patch   "
                        "lab/h1\n"
                        "Automatic checking is on (every 1d00h); last check: "
                        "2026-11-21T20:00:00Z.\n");
    json_decref(v);

    buf_reset(&b);
    v = load("{\"rollouts\":[{\"id\":\"r-2\",\"state\":\"halted\",\"created\":\"2026-11-21\","
             "\"pools\":[\"lab\",\"edge\"],\"counters\":{\"hosts_done\":3,\"hosts_total\":8},"
             "\"error\":{\"code\":\"HOST_OFFLINE\",\"message\":\"m\"}}]}");
    render_rollouts(&b, v);
    assert_string_equal(buf_str(&b),
                        "ID   STATE   CREATED     POOLS      PROGRESS   ERROR\n"
                        "r-2  halted  2026-11-21  lab, edge  3/8 hosts  HOST_OFFLINE\n");
    json_decref(v);
    /* the executor's current shape: epoch-ms times, steps, errors per pool */
    buf_reset(&b);
    v = load(
        "{\"rollouts\":[{\"id\":\"958c\",\"state\":\"halted\",\"created\":1795296272666,"
        "\"steps_done\":37,\"steps_total\":38,\"error\":\"a pool halted\",\"pools\":[{\"name\":"
        "\"prod\",\"error\":{\"code\":\"NOT_IMPLEMENTED\",\"message\":\"m\"}}]}]}");
    render_rollouts(&b, v);
    assert_string_equal(buf_str(&b),
                        "ID    STATE   CREATED               POOLS  PROGRESS     ERROR\n"
                        "958c  halted  2026-11-21 21:24:32Z  prod   37/38 steps  "
                        "NOT_IMPLEMENTED\n");
    json_decref(v);
    buf_reset(&b);
    v = load("{\"id\":\"958c\",\"state\":\"halted\",\"window_s\":3.5,\"steps_done\":37,"
             "\"steps_total\":38,\"error\":\"a pool halted at a failed step\",\"counters\":{"
             "\"migrations\":10,\"reboots\":4},\"pools\":[{\"name\":\"prod\",\"state\":\"halted\","
             "\"step\":\"undo\",\"error\":{\"code\":\"NOT_IMPLEMENTED\",\"explanation\":\"XAPI "
             "refused.\",\"message\":\"NOT_IMPLEMENTED [VM.resume_on]\"},\"hosts\":[{\"name\":"
             "\"prod-1\",\"step\":\"done\",\"percent\":100,\"state\":\"done\"}]}]}");
    render_rollout(&b, v, false);
    assert_string_equal(buf_str(&b),
                        "Rollout 958c: halted, predicted window 3s, step 37 of 38\n"
                        "  prod: halted, undo\n"
                        "    prod-1  100%  done     done\n"
                        "  Hosts 1/1 done; 10 migrations, 4 reboots, 0 toolstack restarts, "
                        "0 live-patched\n"
                        "  Error in prod: NOT_IMPLEMENTED: NOT_IMPLEMENTED [VM.resume_on]\n"
                        "  What it means: XAPI refused.\n"
                        "  a pool halted at a failed step\n"
                        "  Next: 'poolpatch retry 958c' continues from the failed step; "
                        "'poolpatch cancel 958c' reverts and stops.\n");
    json_decref(v);
    buf_cleanup(&b);
}

static void test_render_durations_bars(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b);
    render_duration(&b, 45);
    buf_putc(&b, ' ');
    render_duration(&b, 330);
    buf_putc(&b, ' ');
    render_duration(&b, 3720);
    buf_putc(&b, ' ');
    render_duration(&b, 183600);
    buf_putc(&b, ' ');
    render_duration(&b, -1);
    assert_string_equal(buf_str(&b), "45s 5m30s 1h02m 2d03h -");
    buf_reset(&b);
    render_bar(&b, 50, 10);
    render_bar(&b, 150, 4);
    render_bar(&b, -3, 2);
    assert_string_equal(buf_str(&b), "[#####-----][####][--]");
    buf_cleanup(&b);
}

static const char PLAN_JSON[] =
    "{\"policy\":\"minimal\",\"automated\":true,\"pools\":[{\"name\":\"lab\",\"updates\":[{\"id\":"
    "\"u9\",\"name\":\"XS82ECU1001\"}],\"prechecks\":[{\"id\":\"ha\",\"host\":null,\"severity\":"
    "\"warning\",\"message\":\"HA is enabled\",\"resolution\":{\"action\":\"disable HA\","
    "\"undo\":\"re-enable HA\"}},{\"id\":\"cd\",\"host\":\"h1\",\"severity\":\"error\","
    "\"message\":\"VM web1 has a local CD\",\"resolution\":null}],\"hosts\":[{\"name\":\"h1\","
    "\"batch\":1,\"actions\":[{\"kind\":\"evacuate\",\"description\":\"evacuate\"},{\"kind\":"
    "\"apply\",\"update\":\"XS82ECU1001\"},\"reboot\"],\"migrations\":[{\"vm\":\"web1\",\"from\":"
    "\"h1\",\"to\":\"h2\"}]},{\"name\":\"h2\",\"batch\":2,\"actions\":[]}],\"totals\":{"
    "\"migrations\":1,\"reboots\":1,\"toolstack_restarts\":0,\"live_patched\":0,\"window_s\":900,"
    "\"lower_bound_s\":600}}],\"totals\":{\"migrations\":1,\"reboots\":1,"
    "\"toolstack_restarts\":0,\"live_patched\":0,\"window_s\":900,\"lower_bound_s\":600}}";

static void test_render_plan(void **state)
{
    struct buf b;
    json_t *v = load(PLAN_JSON);
    (void)state;

    buf_init(&b);
    render_plan(&b, v);
    assert_string_equal(
        buf_str(&b),
        "Plan: automated updates (minimal set per host), policy minimal\n"
        "\n"
        "Pool lab\n"
        "  Updates: XS82ECU1001\n"
        "  Prechecks:\n"
        "    WARNING HA is enabled\n"
        "            resolution: disable HA (undone afterwards: re-enable HA)\n"
        "    ERROR   h1: VM web1 has a local CD\n"
        "  Hosts, in order:\n"
        "    1. h1 [batch 1]: evacuate, apply XS82ECU1001, reboot\n"
        "         VM web1: h1 -> h2\n"
        "    2. h2 [batch 2]: nothing to do\n"
        "  1 migration, 1 reboot, 0 toolstack restarts, 0 live-patched; predicted window 15m00s "
        "(lower bound 10m00s)\n"
        "\n"
        "Total: 1 migration, 1 reboot, 0 toolstack restarts, 0 live-patched; predicted window "
        "15m00s (lower bound 10m00s)\n");
    buf_cleanup(&b);
    json_decref(v);
}

/* The engine's REST shape (engine_plan.c) carries each migration twice, in the host's
 * "migrations" and in its action's: the dry run prints each line once (it printed both). */
static void test_render_plan_migrations_once(void **state)
{
    struct buf b;
    json_t *v =
        load("{\"pools\":[{\"name\":\"rpu\",\"mode\":\"upgrade\",\"policy\":\"minimal\","
             "\"upgrade\":{\"to\":\"8.4.0\",\"url\":\"http://m/\",\"manual\":false},"
             "\"hosts\":[{\"name\":\"rpu-1\",\"actions\":[{\"kind\":\"evacuate\",\"migrations\":"
             "[{\"vm\":\"app-1\",\"from\":\"rpu-1\",\"to\":\"rpu-2\"},{\"vm\":\"db-1\",\"from\":"
             "\"rpu-1\",\"to\":\"rpu-3\"}]},{\"kind\":\"upgrade\"}],\"migrations\":[{\"vm\":"
             "\"app-1\",\"from\":\"rpu-1\",\"to\":\"rpu-2\"},{\"vm\":\"db-1\",\"from\":\"rpu-1\","
             "\"to\":\"rpu-3\"}]}]}]}");
    (void)state;

    buf_init(&b);
    render_plan(&b, v);
    const char *txt = buf_str(&b);
    const char *l1 = "         VM app-1: rpu-1 -> rpu-2\n",
               *l2 = "         VM db-1: rpu-1 -> rpu-3\n";
    assert_non_null(strstr(txt, l1));
    assert_null(strstr(strstr(txt, l1) + 1, l1)); /* once */
    assert_non_null(strstr(txt, l2));
    assert_null(strstr(strstr(txt, l2) + 1, l2));
    assert_non_null(strstr(txt, "Plan: rolling pool upgrade to 8.4.0 (automatic from http://m/)"));
    buf_cleanup(&b);
    json_decref(v);
}

/* An upgrade's report (GET /rollouts/{id}) names the VMs whose guest tools to upgrade, per pool
 * (seed step 12); an update rollout's has no such line. */
static void test_render_upgrade_report_tools(void **state)
{
    struct buf b;
    json_t *v = load("{\"id\":\"r-9\",\"state\":\"done\",\"pools\":[{\"name\":\"rpu\","
                     "\"state\":\"done\",\"upgrade\":{\"to\":\"8.4.0\",\"tools_vm_names\":"
                     "[\"app-1\",\"db-1\"]},\"hosts\":[{\"name\":\"rpu-1\",\"state\":\"done\","
                     "\"percent\":100}]},{\"name\":\"lab\",\"state\":\"done\",\"hosts\":[]}]}");
    (void)state;

    buf_init(&b);
    render_rollout(&b, v, false);
    const char *txt = buf_str(&b);
    const char *line = "  rpu: done\n    rpu-1  100%  done     -\n"
                       "    Upgrade the guest tools of: app-1, db-1\n  lab: done\n";
    if (!strstr(txt, line))
        fail_msg("no guest-tools line where expected in:\n%s", txt);
    assert_null(strstr(strstr(txt, "lab: done"), "guest tools"));
    buf_cleanup(&b);
    json_decref(v);
}

/* The planner's own JSON (plan_to_json) as the engine may pass it: refs, checks, nested
 * migrations, hosts outside the rollout. */
static void test_render_plan_to_json_shape(void **state)
{
    struct buf b;
    json_t *v = load(
        "{\"pools\":[{\"pool\":\"lab\",\"mode\":\"automated\",\"policy\":\"return\",\"checks\":[{"
        "\"id\":\"ha\",\"severity\":\"blocking\","
        "\"host\":\"OpaqueRef:h1\",\"message\":\"HA on\",\"fix\":{\"kind\":\"disable_ha\"}}],"
        "\"upload\":{\"updates\":[\"XS82E001\"]},\"hosts\":[{\"ref\":\"OpaqueRef:h1\",\"name\":"
        "\"lab-1\",\"order\":0,\"batch\":0,\"actions\":[{\"kind\":\"evacuate\",\"migrations\":"
        "[{\"vm\":\"OpaqueRef:v\",\"vm_name\":\"web1\",\"from\":\"OpaqueRef:h1\",\"to\":"
        "\"OpaqueRef:h2\"}]},{\"kind\":\"apply\",\"update\":\"u\",\"name\":\"XS82E001\"}]},"
        "{\"ref\":\"OpaqueRef:h2\",\"name\":\"lab-2\",\"order\":-1,\"batch\":-1,\"actions\":[]}],"
        "\"totals\":{\"migrations\":1,\"reboots\":0,\"livepatched_hosts\":1,\"window_s\":60.5,"
        "\"bound\":{\"window_s\":30.0}}}]}");
    (void)state;

    buf_init(&b);
    render_plan(&b, v);
    assert_string_equal(buf_str(&b),
                        "Plan: automated updates (minimal set per host), policy return\n"
                        "\n"
                        "Pool lab (BLOCKED by prechecks)\n"
                        "  Updates: XS82E001\n"
                        "  Prechecks:\n"
                        "    BLOCKING lab-1: HA on\n"
                        "            resolution: disable_ha\n"
                        "  Hosts, in order:\n"
                        "    1. lab-1 [batch 0]: evacuate, apply XS82E001\n"
                        "         VM web1: lab-1 -> lab-2\n"
                        "  1 migration, 0 reboots, 0 toolstack restarts, 1 live-patched; predicted "
                        "window 1m00s (lower bound 30s)\n");
    json_decref(v);
    /* By Server rows as XenCenter's text (pool rows, joined strings) */
    v = load("{\"servers\":[{\"is_pool\":true,\"pool\":\"lab\",\"server\":\"lab\",\"status\":"
             "\"\",\"required\":\"\",\"installed\":\"\"},{\"pool\":\"lab\",\"server\":\"lab-1\","
             "\"version\":\"8.2\",\"status\":\"Out of date\",\"required\":\"XS82E001, XS82E002\","
             "\"installed\":\"\"}]}");
    buf_reset(&b);
    render_by_server(&b, v);
    assert_string_equal(buf_str(&b),
                        "POOL  SERVER      VERSION  STATUS       REQUIRED            INSTALLED\n"
                        "lab   lab (pool)  -        -            -                   -\n"
                        "lab   lab-1       8.2      Out of date  XS82E001, XS82E002  -\n");
    json_decref(v);
    buf_cleanup(&b);
}

static const char ROLLOUT_RUNNING[] =
    "{\"id\":\"r-0001\",\"state\":\"running\",\"pools\":[{\"name\":\"lab\",\"state\":\"running\","
    "\"hosts\":[{\"name\":\"h1\",\"step\":\"apply\",\"percent\":50,\"state\":\"running\"},"
    "{\"name\":\"host-two\",\"step\":\"waiting\",\"percent\":0,\"state\":\"waiting\"}]}],"
    "\"counters\":{\"hosts_done\":0,\"hosts_total\":2,\"migrations\":3,\"reboots\":0,"
    "\"toolstack_restarts\":0,\"live_patched\":0}}";

static void test_render_rollout_and_events(void **state)
{
    struct buf b;
    json_t *v = load(ROLLOUT_RUNNING), *ev;
    (void)state;

    buf_init(&b);
    render_rollout(&b, v, true);
    assert_string_equal(buf_str(&b),
                        "Rollout r-0001: running\n"
                        "  lab: running\n"
                        "    h1        [##########----------]  50%  running  apply\n"
                        "    host-two  [--------------------]   0%  waiting  waiting\n"
                        "  Hosts 0/2 done; 3 migrations, 0 reboots, 0 toolstack restarts, "
                        "0 live-patched\n");
    /* Events update the document; other rollouts' events are ignored. */
    ev = load("{\"rollout\":\"r-0001\",\"pool\":\"lab\",\"host\":\"host-two\",\"step\":"
              "\"evacuate\",\"percent\":30,\"message\":\"2 of 7 VMs\",\"state\":\"running\","
              "\"time\":\"2026-11-21T21:00:05Z\"}");
    assert_true(render_apply_event(v, ev));
    buf_reset(&b);
    setenv("TZ", "UTC0", 1);
    tzset();
    render_event_line(&b, ev);
    assert_string_equal(buf_str(&b), "21:00:05 r-0001 lab/host-two evacuate 30% 2 of 7 VMs\n");
    /* local time, and a rollout uuid shortened to its first 8 hex digits */
    setenv("TZ", "CET-1", 1);
    tzset();
    json_t *ev3 = load("{\"rollout\":\"0f3c2a9e-5b1d-4e2f-8a7c-1234567890ab\",\"step\":\"resolve\","
                       "\"time\":\"2026-11-21T21:00:05Z\",\"state\":\"running\"}");
    buf_reset(&b);
    render_event_line(&b, ev3);
    assert_string_equal(buf_str(&b), "22:00:05 0f3c2a9e resolve [running]\n");
    json_decref(ev3);
    unsetenv("TZ");
    tzset();
    buf_reset(&b);
    json_t *ev2 = load("{\"rollout\":\"r\",\"pool\":\"p\",\"host\":\"h\",\"step\":\"migrate\","
                       "\"percent\":-1,\"message\":\"migrating vm1\"}");
    render_event_line(&b, ev2);
    assert_string_equal(buf_str(&b), "r p/h migrate migrating vm1\n"); /* -1: no percentage */
    json_decref(ev2);
    json_decref(ev);
    ev = load("{\"rollout\":\"r-0001\",\"pool\":\"edge\",\"host\":\"e1\",\"step\":\"precheck\","
              "\"percent\":100}");
    assert_true(render_apply_event(v, ev));
    json_decref(ev);
    ev = load("{\"rollout\":\"r-0002\",\"pool\":\"lab\",\"host\":\"h1\",\"percent\":99}");
    assert_false(render_apply_event(v, ev));
    json_decref(ev);
    ev = load("{\"rollout\":\"r-0001\",\"pool\":null,\"host\":null,\"step\":\"done\","
              "\"state\":\"done\"}");
    assert_true(render_apply_event(v, ev));
    json_decref(ev);
    buf_reset(&b);
    render_rollout(&b, v, false);
    assert_string_equal(buf_str(&b),
                        "Rollout r-0001: done\n"
                        "  lab: running\n"
                        "    h1         50%  running  apply\n"
                        "    host-two   30%  running  evacuate - 2 of 7 VMs\n"
                        "  edge: running\n"
                        "    e1        100%  running  precheck\n" /* progress without a state */
                        "  Hosts 0/2 done; 3 migrations, 0 reboots, 0 toolstack restarts, "
                        "0 live-patched\n");
    buf_reset(&b);
    render_rollout_ex(&b, v, false, true); /* compact: only hosts at work */
    assert_string_equal(buf_str(&b),
                        "Rollout r-0001: done\n"
                        "  lab: running\n"
                        "    h1         50%  running  apply\n"
                        "    host-two   30%  running  evacuate - 2 of 7 VMs\n"
                        "  edge: running\n"
                        "    e1        100%  running  precheck\n"
                        "  Hosts 0/2 done; 3 migrations, 0 reboots, 0 toolstack restarts, "
                        "0 live-patched\n");
    json_t *hosts = json_object_get(json_array_get(json_object_get(v, "pools"), 0), "hosts");
    json_object_set_new(json_array_get(hosts, 0), "state", json_string("done"));
    json_object_set_new(json_array_get(hosts, 1), "state", json_string("waiting"));
    buf_reset(&b);
    render_rollout_ex(&b, v, false, true);
    assert_non_null(strstr(buf_str(&b), "  lab: running\n    (2 more: 1 done, 1 not started)\n"));
    assert_true(render_state_final("done"));
    assert_true(render_state_final("halted"));
    assert_false(render_state_final("running"));
    assert_false(render_state_final(NULL));
    /* A halted rollout says what it means and what to do. */
    json_object_set_new(v, "state", json_string("halted"));
    json_object_set_new(v, "error",
                        json_pack("{s:s s:s s:s s:s}", "code", "HOST_OFFLINE", "message",
                                  "h1 did not come back", "explanation",
                                  "The host did not return within 20 minutes.", "host", "h1"));
    buf_reset(&b);
    render_rollout(&b, v, false);
    assert_non_null(strstr(buf_str(&b), "  Error on h1: HOST_OFFLINE: h1 did not come back\n"
                                        "  What it means: The host did not return within 20 "
                                        "minutes.\n  Next: 'poolpatch retry r-0001'"));
    buf_cleanup(&b);
    json_decref(v);
}

/* ------------------------------------------------------------------ commands over HTTP */

struct fx {
    struct api_server *srv;
    char home[64];
    char token_path[128];
    char url[64];
};

static int setup(void **state)
{
    struct fx *fx = xcalloc(1, sizeof *fx);
    /* no heartbeat during a test: watchers then re-read the rollout only on events */
    struct api_config cfg = {.bind_addr = "127.0.0.1", .token = TOKEN, .heartbeat_ms = 60000};
    struct engine *eng;
    int fd;

    seam_reset();
    str_lcpy(fx->home, "/tmp/pp-cli-XXXXXX", sizeof fx->home);
    if (!mkdtemp(fx->home))
        return -1;
    snprintf(fx->token_path, sizeof fx->token_path, "%s/api-token", fx->home);
    fd = open(fx->token_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, TOKEN "\n", strlen(TOKEN) + 1) < 0)
        return -1;
    close(fd);
    engine_new(NULL, &eng, NULL);
    if (api_server_new(&cfg, eng, &fx->srv, NULL) != 0)
        return -1;
    snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%u", api_server_port(fx->srv));
    setenv("POOLPATCH_HOME", fx->home, 1);
    setenv("POOLPATCH_SERVER", fx->url, 1);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    char path[128];

    api_server_free(fx->srv);
    unlink(fx->token_path);
    snprintf(path, sizeof path, "%s/out.csv", fx->home);
    unlink(path);
    snprintf(path, sizeof path, "%s/pw", fx->home);
    unlink(path);
    rmdir(fx->home);
    free(fx);
    seam_reset();
    unsetenv("POOLPATCH_SERVER");
    unsetenv("POOLPATCH_HOME");
    return 0;
}

struct run {
    int status;
    char *out;
    char *err;
};

static char *slurp_fd(int fd)
{
    struct buf b;
    char tmp[4096];
    ssize_t n;

    buf_init(&b);
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        buf_append(&b, tmp, (size_t)n);
    buf_putc(&b, '\0');
    return buf_take(&b);
}

/* Run a cmd_* with stdout and stderr captured in temporary files (stdout is not a tty). */
static void run_cmd(int (*cmd)(int, char **), const char *const *args, struct run *r)
{
    char *argv[32];
    int argc = 0;
    FILE *fo = tmpfile(), *fe = tmpfile();
    int save_out = dup(1), save_err = dup(2);

    for (; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    r->status = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    r->out = slurp_fd(fileno(fo));
    r->err = slurp_fd(fileno(fe));
    fclose(fo);
    fclose(fe);
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void test_cmd_pools(void **state)
{
    struct fx *fx = *state;
    struct run r;
    char pw[128];

    seam_set_answer(load("{\"pools\":[{\"name\":\"lab\",\"url\":\"https://10.0.0.1/\","
                         "\"connected\":true,\"master\":\"h1\",\"hosts\":2,\"version\":"
                         "\"8.2.1\"}]}"));
    run_cmd(cmd_pool, (const char *const[]){"pool", "list", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "NAME  URL                MASTER  HOSTS  VERSION  STATUS\n"
                               "lab   https://10.0.0.1/  h1      2      8.2.1    connected\n");
    run_free(&r);
    run_cmd(cmd_pool, (const char *const[]){"pool", "list", "--json", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"master\": \"h1\""));
    run_free(&r);

    snprintf(pw, sizeof pw, "%s/pw", fx->home);
    FILE *f = fopen(pw, "w");
    fputs("s3cret\n", f);
    fclose(f);
    seam_set_answer(load("{\"name\":\"lab\",\"hosts\":2,\"version\":\"8.2.1\"}"));
    run_cmd(cmd_pool,
            (const char *const[]){"pool", "add", "lab", "--url", "http://127.0.0.9/", "--user",
                                  "root", "--password-file", pw, NULL},
            &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "Pool lab added (2 hosts, version 8.2.1).\n");
    assert_string_equal(seam.last_password, "s3cret");
    assert_string_equal(seam.last_url, "http://127.0.0.9/");
    run_free(&r);
    run_cmd(cmd_pool, (const char *const[]){"pool", "add", "lab", "--user", "root", NULL}, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--url"));
    run_free(&r);

    run_cmd(cmd_pool, (const char *const[]){"pool", "remove", "lab one", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_id, "lab one"); /* escaped on the way, decoded by the server */
    run_free(&r);

    /* Engine errors reach the user with their words and a failing status. */
    seam.rc = PP_ENOTFOUND;
    str_lcpy(seam.msg, "no pool named 'x'", sizeof seam.msg);
    run_cmd(cmd_pool, (const char *const[]){"pool", "remove", "x", NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "poolpatch pool remove: no pool named 'x'\n");
    run_free(&r);
}

/* `pool set NAME --live-patching on|off`: PATCH /pools/NAME with live_patching_disabled, the
 * answer in words; a bad value or no option never reaches the daemon. */
static void test_cmd_pool_set(void **state)
{
    struct run r;
    (void)state;

    seam_set_answer(load("{\"name\":\"lab one\",\"live_patching_disabled\":true}"));
    run_cmd(cmd_pool,
            (const char *const[]){"pool", "set", "lab one", "--live-patching", "off", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_call, "pool_set");
    assert_string_equal(seam.last_id, "lab one");
    assert_int_equal(seam.last_int, 1);
    assert_string_equal(r.out, "Pool lab one: live patching is off; updates that could be "
                               "live-patched need their reboot.\n");
    run_free(&r);
    seam_set_answer(load("{\"name\":\"lab\",\"live_patching_disabled\":false}"));
    run_cmd(cmd_pool, (const char *const[]){"pool", "set", "lab", "--live-patching", "ON", NULL},
            &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(seam.last_int, 0);
    assert_non_null(strstr(r.out, "live patching is on"));
    run_free(&r);
    int calls = seam_calls();
    run_cmd(cmd_pool, (const char *const[]){"pool", "set", "lab", "--live-patching", "maybe", NULL},
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--live-patching: 'maybe' is neither on nor off"));
    run_free(&r);
    run_cmd(cmd_pool, (const char *const[]){"pool", "set", "lab", NULL}, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--live-patching on|off"));
    run_free(&r);
    assert_int_equal(seam_calls(), calls);
    /* the pool's refusal reaches the user in its words */
    seam.rc = PP_EXAPI;
    str_lcpy(seam.msg, "pool lab: the account may not change the pool's properties",
             sizeof seam.msg);
    run_cmd(cmd_pool, (const char *const[]){"pool", "set", "lab", "--live-patching", "off", NULL},
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "may not change the pool's properties"));
    run_free(&r);
    seam.rc = 0;
    /* pool list says so for a pool with live patching off */
    seam_set_answer(load("{\"pools\":[{\"name\":\"lab\",\"url\":\"http://127.0.0.9/\","
                         "\"connected\":true,\"live_patching_disabled\":true}]}"));
    run_cmd(cmd_pool, (const char *const[]){"pool", "list", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "lab: live patching is off: updates that could be "
                                  "live-patched need their reboot"));
    run_free(&r);
}

static void test_cmd_updates(void **state)
{
    struct fx *fx = *state;
    struct run r;
    char csv[128];

    seam_set_answer(load("{\"view\":\"by-server\",\"checking\":{\"automatic\":false},"
                         "\"servers\":[{\"pool\":\"lab\",\"server\":\"h1\",\"version\":\"8.2\","
                         "\"status\":\"Up to date\",\"required\":[],\"installed\":[]}]}"));
    run_cmd(cmd_updates, (const char *const[]){"updates", "--by-server", "--sort", "pool", NULL},
            &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(seam.last_view, ENGINE_VIEW_BY_SERVER);
    assert_int_equal(seam.last_sort, ENGINE_SORT_POOL);
    assert_true(str_has_prefix(r.out, "POOL  SERVER  VERSION  STATUS      REQUIRED  INSTALLED\n"
                                      "lab   h1      8.2      Up to date  -         -\n"));
    run_free(&r);

    seam.csv = "\"Server\",\"Pool\"\r\n\"h1\",\"lab\"\r\n";
    snprintf(csv, sizeof csv, "%s/out.csv", fx->home);
    run_cmd(cmd_updates, (const char *const[]){"updates", "--export-csv", csv, NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(seam.last_view, ENGINE_VIEW_BY_UPDATE);
    run_free(&r);
    int fd = open(csv, O_RDONLY);
    char *text = slurp_fd(fd);
    close(fd);
    assert_string_equal(text, seam.csv); /* byte for byte, CRLF kept */
    free(text);

    run_cmd(cmd_updates, (const char *const[]){"updates", "dismiss", "u1", "u2", NULL}, &r);
    assert_int_equal(r.status, 0);
    char *j = json_dumps(seam.last_req, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(j, "{\"all\":false,\"ids\":[\"u1\",\"u2\"]}");
    free(j);
    run_free(&r);
    run_cmd(cmd_updates, (const char *const[]){"updates", "dismiss", "--all", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_true(json_is_true(json_object_get(seam.last_req, "all")));
    run_free(&r);
    run_cmd(cmd_updates, (const char *const[]){"updates", "dismiss", NULL}, &r);
    assert_int_equal(r.status, 2);
    run_free(&r);
    run_cmd(cmd_updates, (const char *const[]){"updates", "restore", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_call, "updates_restore");
    run_free(&r);

    seam_set_answer(load("{\"checked_at\":\"2026-11-21T21:00:00Z\",\"catalog_changed\":true,"
                         "\"updates\":3,\"pools\":[{\"name\":\"lab\",\"error\":null},{\"name\":"
                         "\"edge\",\"error\":\"HOST_OFFLINE\"}]}"));
    run_cmd(cmd_updates, (const char *const[]){"updates", "check", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_true(str_has_prefix(r.out, "Checked at 2026-11-21T21:00:00Z: 3 updates available "
                                      "(the catalog changed).\n  pool edge: HOST_OFFLINE\n"));
    run_free(&r);

    seam_set_answer(load("{\"updates\":[{\"id\":\"u1\",\"name\":\"XS82E001\",\"url\":"
                         "\"https://support.example/XS82E001\"}]}"));
    run_cmd(cmd_updates, (const char *const[]){"updates", "web-page", "XS82E001", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "https://support.example/XS82E001\n");
    run_free(&r);
    run_cmd(cmd_updates, (const char *const[]){"updates", "web-page", "nope", NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no update nope"));
    run_free(&r);
}

static void test_cmd_plan_apply(void **state)
{
    struct run r;
    (void)state;

    seam_set_answer(load(PLAN_JSON));
    run_cmd(cmd_plan,
            (const char *const[]){"plan", "lab", "edge", "--update", "u9", "--policy", "return",
                                  "--stay-on-release", NULL},
            &r);
    assert_int_equal(r.status, 0);
    assert_true(str_has_prefix(r.out, "Plan: automated updates"));
    char *j = json_dumps(seam.last_req, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(j, "{\"automated\":false,\"file\":null,\"policy\":\"return\","
                           "\"pools\":[\"lab\",\"edge\"],\"stay_on_release\":true,"
                           "\"updates\":[\"u9\"]}");
    free(j);
    run_free(&r);
    run_cmd(cmd_plan, (const char *const[]){"plan", "--automated", "--update", "x", NULL}, &r);
    assert_int_equal(r.status, 2);
    run_free(&r);
    /* --max-parallel N is sent as max_parallel; a bad N is a usage error naming the option */
    run_cmd(cmd_plan, (const char *const[]){"plan", "lab", "--max-parallel", "1", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_integer_value(json_object_get(seam.last_req, "max_parallel")), 1);
    run_free(&r);
    run_cmd(cmd_plan, (const char *const[]){"plan", "--max-parallel", "two", NULL}, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--max-parallel"));
    run_free(&r);
    run_cmd(cmd_plan, (const char *const[]){"plan", "--yes", NULL}, &r);
    assert_int_equal(r.status, 2);
    run_free(&r);

    /* apply needs --yes when nobody can be asked (stdin of a test is not a terminal) */
    if (!isatty(0)) {
        run_cmd(cmd_apply, (const char *const[]){"apply", "lab", NULL}, &r);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "--yes"));
        run_free(&r);
    }
    run_cmd(cmd_apply,
            (const char *const[]){"apply", "lab", "--automated", "--yes", "--no-follow", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_call, "rollout_start");
    assert_non_null(strstr(r.out, "Pool lab\n"));
    assert_non_null(strstr(r.out, "Rollout r-0001 started."));
    run_free(&r);

    seam.rc = PP_EXAPI;
    str_lcpy(seam.msg, "SR_FULL: not enough space to upload the update", sizeof seam.msg);
    str_lcpy(seam.xapi_code, "SR_FULL", sizeof seam.xapi_code);
    run_cmd(cmd_apply, (const char *const[]){"apply", "--yes", NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "SR_FULL: not enough space"));
    run_free(&r);
}

struct watch {
    int status;
    struct run r;
};

static void *watch_thread(void *ud)
{
    struct watch *w = ud;
    run_cmd(cmd_rollout, (const char *const[]){"rollout", "r-0001", "--watch", NULL}, &w->r);
    return NULL;
}

static void test_cmd_watch(void **state)
{
    struct fx *fx = *state;
    struct watch w = {0};
    pthread_t t;

    seam_set_answer(load(ROLLOUT_RUNNING));
    pthread_create(&t, NULL, watch_thread, &w);
    /* wait until the watcher is attached and has read the rollout once */
    for (int i = 0; i < 500 && (api_server_sse_clients(fx->srv) == 0 || seam_calls() == 0); i++)
        usleep(10000);
    assert_int_equal(api_server_sse_clients(fx->srv), 1);
    seam_emit("{\"rollout\":\"r-0001\",\"pool\":\"lab\",\"host\":\"h1\",\"step\":\"apply\","
              "\"percent\":75,\"state\":\"running\",\"time\":\"2026-11-21T21:00:01Z\"}");
    seam_emit("{\"rollout\":\"r-0009\",\"pool\":\"lab\",\"host\":\"zz\",\"step\":\"apply\"}");
    seam_set_answer(load("{\"id\":\"r-0001\",\"state\":\"done\",\"pools\":[]}"));
    seam_emit("{\"rollout\":\"r-0001\",\"pool\":null,\"host\":null,\"step\":\"finished\","
              "\"state\":\"done\",\"time\":\"2026-11-21T21:00:09Z\"}");
    pthread_join(t, NULL);
    assert_int_equal(w.r.status, 0);
    assert_string_equal(w.r.out, "21:00:01 r-0001 lab/h1 apply 75%\n"
                                 "21:00:09 r-0001 finished [done]\n"
                                 "Rollout r-0001: done\n");
    run_free(&w.r);
}

/* The daemon restarts under a watcher: it reconnects and still sees the end. */
static void test_cmd_watch_reconnect(void **state)
{
    struct fx *fx = *state;
    struct watch w = {0};
    struct api_config cfg = {.bind_addr = "127.0.0.1", .token = TOKEN, .heartbeat_ms = 60000};
    struct engine *eng;
    pthread_t t;

    cfg.port = api_server_port(fx->srv);
    seam_set_answer(load(ROLLOUT_RUNNING));
    pthread_create(&t, NULL, watch_thread, &w);
    for (int i = 0; i < 500 && (api_server_sse_clients(fx->srv) == 0 || seam_calls() == 0); i++)
        usleep(10000);
    assert_int_equal(api_server_sse_clients(fx->srv), 1);
    api_server_free(fx->srv); /* the daemon goes away... */
    fx->srv = NULL;
    engine_new(NULL, &eng, NULL);
    for (int i = 0; i < 200 && api_server_new(&cfg, eng, &fx->srv, NULL) != 0; i++)
        usleep(10000); /* ...and comes back on the same port */
    assert_non_null(fx->srv);
    for (int i = 0; i < 1000 && api_server_sse_clients(fx->srv) == 0; i++)
        usleep(10000);
    assert_int_equal(api_server_sse_clients(fx->srv), 1);
    seam_set_answer(load("{\"id\":\"r-0001\",\"state\":\"done\",\"pools\":[]}"));
    seam_emit("{\"rollout\":\"r-0001\",\"pool\":null,\"host\":null,\"state\":\"done\"}");
    pthread_join(t, NULL);
    assert_int_equal(w.r.status, 0);
    assert_non_null(strstr(w.r.err, "lost the daemon"));
    assert_non_null(strstr(w.r.out, "Rollout r-0001: done"));
    run_free(&w.r);
}

struct tty_watch {
    int status;
    int slave;
    int finished; /* set (atomically) when cmd_rollout returned */
};

static void *tty_watch_thread(void *ud)
{
    struct tty_watch *w = ud;
    int save = dup(1);
    char *argv[] = {"rollout", "r-0001", "--watch", NULL};

    fflush(stdout);
    dup2(w->slave, 1);
    w->status = cmd_rollout(3, argv);
    fflush(stdout);
    dup2(save, 1);
    close(save);
    __atomic_store_n(&w->finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* On a terminal, --watch redraws the rollout with a bar per host. */
static void test_cmd_watch_tty(void **state)
{
    struct fx *fx = *state;
    struct tty_watch w = {0};
    pthread_t t;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    struct buf out;
    char tmp[4096];

    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    w.slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(w.slave >= 0);
    seam_set_answer(load(ROLLOUT_RUNNING));
    pthread_create(&t, NULL, tty_watch_thread, &w);
    for (int i = 0; i < 500 && (api_server_sse_clients(fx->srv) == 0 || seam_calls() == 0); i++)
        usleep(10000);
    seam_emit("{\"rollout\":\"r-0001\",\"pool\":\"lab\",\"host\":\"h1\",\"step\":\"reboot\","
              "\"percent\":80,\"state\":\"running\"}");
    seam_set_answer(load("{\"id\":\"r-0001\",\"state\":\"done\",\"pools\":[]}"));
    seam_emit("{\"rollout\":\"r-0001\",\"pool\":null,\"host\":null,\"state\":\"done\"}");
    /* drain the terminal while the watcher runs (a full pty would block its writes) */
    buf_init(&out);
    for (int idle = 0; idle < 2;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        ssize_t n = poll(&p, 1, 100) > 0 ? read(master, tmp, sizeof tmp) : 0;
        if (n > 0)
            buf_append(&out, tmp, (size_t)n);
        else if (__atomic_load_n(&w.finished, __ATOMIC_SEQ_CST))
            idle++;
    }
    pthread_join(t, NULL);
    assert_int_equal(w.status, 0);
    /* first drawing, then redrawn in place (cursor up, clear) with the new percentage */
    assert_non_null(strstr(buf_str(&out), "h1        [##########----------]  50%  running  apply"));
    assert_non_null(strstr(buf_str(&out), "\033[5A\033[J"));
    assert_non_null(
        strstr(buf_str(&out), "h1        [################----]  80%  running  reboot"));
    assert_non_null(strstr(buf_str(&out), "Rollout r-0001: done"));
    buf_cleanup(&out);
    close(w.slave);
    close(master);
}

static void test_cmd_retry_cancel_rollouts(void **state)
{
    struct run r;
    (void)state;

    run_cmd(cmd_retry, (const char *const[]){"retry", "r-7", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_call, "rollout_retry");
    assert_string_equal(seam.last_id, "r-7");
    run_free(&r);
    seam.rc = PP_ESTATE;
    str_lcpy(seam.msg, "rollout r-7 is done; nothing to cancel", sizeof seam.msg);
    run_cmd(cmd_cancel, (const char *const[]){"cancel", "r-7", NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "poolpatch cancel: rollout r-7 is done; nothing to cancel\n");
    run_free(&r);
    seam.rc = 0;
    seam_set_answer(load("{\"rollouts\":[]}"));
    run_cmd(cmd_rollouts, (const char *const[]){"rollouts", NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "No rollouts yet"));
    run_free(&r);
}

static void test_cmd_client_id(void **state)
{
    struct fx *fx = *state;
    struct run r;
    char path[128];

    snprintf(path, sizeof path, "%s/pw", fx->home); /* removed by teardown */
    FILE *f = fopen(path, "w");
    fputs("{\"username\":\"ops\",\"apikey\":\"abc\"}\n", f);
    fclose(f);
    run_cmd(cmd_client_id, (const char *const[]){"client-id", "import", path, NULL}, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(seam.last_call, "client_id_import");
    assert_non_null(strstr(seam.last_id, "\"apikey\":\"abc\""));
    run_free(&r);
    f = fopen(path, "w");
    fputs("{\"username\":", f);
    fclose(f);
    run_cmd(cmd_client_id, (const char *const[]){"client-id", "import", path, NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "line"));
    run_free(&r);
    run_cmd(cmd_client_id, (const char *const[]){"client-id", "export", path, NULL}, &r);
    assert_int_equal(r.status, 2);
    run_free(&r);
}

static void test_cmd_auth_and_unreachable(void **state)
{
    struct fx *fx = *state;
    struct run r;
    char wrong[160];

    snprintf(wrong, sizeof wrong, "%s/wrong-token", fx->home);
    FILE *f = fopen(wrong, "w");
    fputs("0000000000000000000000000000\n", f);
    fclose(f);
    chmod(wrong, 0600);
    run_cmd(cmd_rollouts, (const char *const[]){"rollouts", "--token-file", wrong, NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "refused the API token"));
    run_free(&r);
    unlink(wrong);
    run_cmd(cmd_rollouts, (const char *const[]){"rollouts", "--server", "http://127.0.0.1:1", NULL},
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot reach the poolpatch daemon at http://127.0.0.1:1"));
    assert_non_null(strstr(r.err, "poolpatch serve"));
    run_free(&r);
}

/* ------------------------------------------------------------------ serve, in a child */

static void test_serve_child(void **state)
{
    char home[] = "/tmp/pp-serve-XXXXXX", conf[128], errpath[128], tok[128];
    pid_t pid;
    (void)state;

    assert_non_null(mkdtemp(home));
    snprintf(conf, sizeof conf, "%s/poolpatch.conf", home);
    snprintf(errpath, sizeof errpath, "%s/stderr", home);
    snprintf(tok, sizeof tok, "%s/state/api-token", home);
    FILE *f = fopen(conf, "w");
    fprintf(f, "# test\nlisten = 127.0.0.1:0\ntoken_file = %s\ndb = %s/state/pp.db\n", tok, home);
    fclose(f);

    /* a bad settings file is refused with FILE:LINE */
    struct run r;
    char bad[128];
    snprintf(bad, sizeof bad, "%s/bad.conf", home);
    f = fopen(bad, "w");
    fputs("listen = 127.0.0.1:0\nlisten_backlog = 5\n", f);
    fclose(f);
    run_cmd(cmd_serve, (const char *const[]){"serve", "--config", bad, NULL}, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "bad.conf:2: unknown setting 'listen_backlog'"));
    run_free(&r);
    unlink(bad);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        seam_reset();
        _exit(cmd_serve(3, (char *[]){"serve", "--config", conf, NULL}));
    }
    /* the daemon says where it listens */
    char *text = NULL;
    unsigned port = 0;
    for (int i = 0; i < 500 && !port; i++) {
        usleep(10000);
        int fd = open(errpath, O_RDONLY);
        if (fd < 0)
            continue;
        free(text);
        text = slurp_fd(fd);
        close(fd);
        const char *p = strstr(text, "http://127.0.0.1:");
        if (p)
            sscanf(p, "http://127.0.0.1:%u/", &port);
    }
    assert_true(port > 0);
    assert_non_null(strstr(text, tok));
    free(text);
    struct stat st;
    assert_int_equal(stat(tok, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* the CLI finds the daemon with the token the daemon wrote */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    run_cmd(cmd_rollouts,
            (const char *const[]){"rollouts", "--server", url, "--token-file", tok, "--json", NULL},
            &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "{}\n"); /* the test double answers {} */
    run_free(&r);

    int status = 0;
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    char path[160];
    unlink(tok);
    snprintf(path, sizeof path, "%s/state", home);
    rmdir(path);
    unlink(conf);
    unlink(errpath);
    rmdir(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_parser),
        cmocka_unit_test(test_cli_opts),
        cmocka_unit_test(test_render_tables),
        cmocka_unit_test(test_render_terminal_safe),
        cmocka_unit_test(test_render_durations_bars),
        cmocka_unit_test(test_render_plan),
        cmocka_unit_test(test_render_plan_to_json_shape),
        cmocka_unit_test(test_render_plan_migrations_once),
        cmocka_unit_test(test_render_upgrade_report_tools),
        cmocka_unit_test(test_render_rollout_and_events),
        cmocka_unit_test_setup_teardown(test_cmd_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_pool_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_plan_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_watch_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_watch_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_retry_cancel_rollouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_client_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_auth_and_unreachable, setup, teardown),
        cmocka_unit_test(test_serve_child),
    };
    log_set_level(LOG_LVL_OFF);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
