/* SPDX-License-Identifier: MIT */
/* wire.c - runs `poolpatch sim` and calls it over HTTP with libcurl (see wire.h). */
#include "wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/str.h"
#include "simtest.h"

int wire_start(struct wire_sim *w, const char *scenario, const char *time_scale)
{
    memset(w, 0, sizeof(*w));
    const char *exe = getenv("POOLPATCH");
    if (!exe) {
        fprintf(stderr, "wire: POOLPATCH is not set\n");
        return -1;
    }
    char rel[256];
    snprintf(rel, sizeof(rel), "scenarios/%s", scenario);
    char path[1024];
    str_lcpy(path, st_src(rel), sizeof(path));
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(exe, exe, "sim", "--scenario", path, "--port", "0", "--time-scale", time_scale,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    w->pid = pid;
    w->out_fd = fds[0];
    char line[512];
    size_t ll = 0;
    int64_t deadline = clock_mono_ms() + 10000;
    for (;;) {
        struct pollfd p = {w->out_fd, POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        char ch;
        ssize_t n = read(w->out_fd, &ch, 1);
        if (n <= 0)
            break;
        if (ch != '\n') {
            if (ll + 1 < sizeof(line))
                line[ll++] = ch;
            continue;
        }
        line[ll] = '\0';
        ll = 0;
        if (strcmp(line, "ready") == 0)
            return 0;
        char name[64], url[128];
        if (sscanf(line, "pool %63s master %127s", name, url) == 2 && w->npools < WIRE_MAX_POOLS) {
            str_lcpy(w->pool_name[w->npools], name, sizeof(w->pool_name[0]));
            str_lcpy(w->pool_url[w->npools], url, sizeof(w->pool_url[0]));
            const char *colon = strrchr(url, ':');
            w->port = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
            w->npools++;
        }
    }
    wire_stop(w);
    return -1;
}

int wire_stop(struct wire_sim *w)
{
    if (w->pid <= 0)
        return -1;
    kill(w->pid, SIGTERM);
    int st = 0;
    while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    close(w->out_fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void wire_url(const struct wire_sim *w, const char *addr, char *out, size_t n)
{
    snprintf(out, n, "http://%s:%u/", addr, w->port);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

int wire_http(const char *method, const char *url, const char *body, size_t len, long *status,
              struct buf *resp)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    *status = 0;
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

int wire_call(const char *url, enum xapi_proto proto, const char *method,
              const struct xapi_value *params, struct xapi_response *out, long *status)
{
    struct buf req, resp;
    char full[256];
    long st = 0;
    buf_init(&req);
    buf_init(&resp);
    memset(out, 0, sizeof(*out));
    if (proto == XAPI_PROTO_XMLRPC) {
        snprintf(full, sizeof(full), "%s", url);
        xapi_xmlrpc_encode_call(&req, method, params);
    } else {
        snprintf(full, sizeof(full), "%sjsonrpc", url);
        json_t *id = json_integer(7);
        xapi_jsonrpc_encode_call(&req, proto, method, params, id);
        json_decref(id);
    }
    int rc = wire_http("POST", full, req.data, req.len, &st, &resp);
    if (status)
        *status = st;
    if (rc == 0 && st == 200) {
        struct xapi_limits lim;
        struct err e;
        err_clear(&e);
        xapi_limits_response(&lim);
        rc = proto == XAPI_PROTO_XMLRPC
                 ? xapi_xmlrpc_decode_response(buf_str(&resp), resp.len, &lim, out, &e)
                 : xapi_jsonrpc_decode_response(buf_str(&resp), resp.len, &lim, out, NULL, &e);
        if (rc != 0) {
            fprintf(stderr, "wire: cannot decode %s: %s\n", buf_str(&resp), e.msg);
            rc = -1;
        }
    } else {
        rc = -1;
    }
    buf_cleanup(&req);
    buf_cleanup(&resp);
    return rc;
}
