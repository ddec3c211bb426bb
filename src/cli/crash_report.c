/* SPDX-License-Identifier: MIT */
/*
 * crash_report.c - what the daemon says when it dies of a fatal signal (crash_report.h).
 *
 * CI saw `poolpatch serve` die of SIGSEGV once (session 10: e2e crash_resume, right after POST
 * /rollouts answered) with nothing in its log: the test reported only that the next CLI call could
 * not connect.  A fatal signal now writes to stderr (the daemon's log file when it has one,
 * serve.err in the e2e tests) one line naming the signal, its code, the faulting address and the
 * thread, then the thread's stack as glibc's backtrace_symbols_fd gives it (module(+offset):
 * `addr2line -f -e build/poolpatch OFFSET` names the function and line), then the signal's
 * default action runs: the same exit status (128 + N) and core file as without the handler.
 *
 * Only async-signal-safe calls in the handler: write(2), prctl, gettid, sigaction, raise, and
 * backtrace / backtrace_symbols_fd, whose first call (loading libgcc's unwinder, which allocates)
 * is made at install time.  A stack overflow has no stack left for the handler: the report is
 * then missing, the signal's default action still runs.
 */
#include "cli/crash_report.h"

#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Under AddressSanitizer / ThreadSanitizer their own handler reports, symbolized: it stays. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CRASH_REPORT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CRASH_REPORT_SANITIZED 1
#endif
#endif

#ifdef CRASH_REPORT_SANITIZED
void crash_report_install(int fd)
{
    (void)fd;
}
#else
#define CRASH_FRAMES 64

static const struct {
    int sig;
    const char *name;
} fatal[] = {{SIGSEGV, "SIGSEGV"},
             {SIGBUS, "SIGBUS"},
             {SIGFPE, "SIGFPE"},
             {SIGILL, "SIGILL"},
             {SIGABRT, "SIGABRT"}};

static int report_fd = 2;

static void put(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(report_fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* v in base 10 or 16 into buf (no allocation, no stdio: async-signal-safe). */
static const char *num(char *buf, size_t size, unsigned long long v, unsigned base)
{
    char *p = buf + size - 1;
    *p = '\0';
    do {
        *--p = "0123456789abcdef"[v % base];
        v /= base;
    } while (v && p > buf + 2);
    if (base == 16) {
        *--p = 'x';
        *--p = '0';
    }
    return p;
}

static void on_fatal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    char b1[32], b2[32], b3[32], b4[32], thread[17] = "";
    const char *name = "signal";
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (fatal[i].sig == sig)
            name = fatal[i].name;
    prctl(PR_GET_NAME, thread, 0, 0, 0);
    put("poolpatch: fatal signal ");
    put(num(b1, sizeof(b1), (unsigned)sig, 10));
    put(" (");
    put(name);
    put("), code ");
    put(num(b2, sizeof(b2), (unsigned)(si ? si->si_code : 0), 10));
    if (si && si->si_code <= 0) { /* sent (kill, raise, abort): no faulting address */
        put(", sent by pid ");
        put(num(b3, sizeof(b3), (unsigned long long)si->si_pid, 10));
    } else {
        put(", address ");
        put(num(b3, sizeof(b3), (unsigned long long)(uintptr_t)(si ? si->si_addr : NULL), 16));
    }
    put(", thread ");
    put(num(b4, sizeof(b4), (unsigned long long)syscall(SYS_gettid), 10));
    put(" (");
    put(thread);
    put("); backtrace (addr2line -f -e poolpatch OFFSET):\n");
    void *frames[CRASH_FRAMES];
    int n = backtrace(frames, CRASH_FRAMES);
    backtrace_symbols_fd(frames, n, report_fd);
    put("poolpatch: end of backtrace\n");
    /* the default action now: exit status 128 + sig, and a core file where enabled */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t un;
    sigemptyset(&un);
    sigaddset(&un, sig);
    pthread_sigmask(SIG_UNBLOCK, &un, NULL);
    raise(sig);
}

/* Install the handler (see crash_report.h). */
void crash_report_install(int fd)
{
    void *warm[1];
    report_fd = fd >= 0 ? fd : 2;
    backtrace(warm, 1); /* loads the unwinder now, not inside the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i].sig, &sa, NULL);
}
#endif
