/* SPDX-License-Identifier: MIT */
/* log.c - leveled, thread-safe logging (see log.h). */
#include "log.h"
#include "err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_min = LOG_LVL_WARN;
static FILE *log_fp; /* NULL = stderr */

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level lvl)
{
    pthread_mutex_lock(&log_lock);
    log_min = lvl;
    pthread_mutex_unlock(&log_lock);
}

enum log_level log_get_level(void)
{
    enum log_level l;
    pthread_mutex_lock(&log_lock);
    l = log_min;
    pthread_mutex_unlock(&log_lock);
    return l;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_LVL_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return PP_EINVAL;
}

int log_set_file(const char *path)
{
    FILE *fp = NULL;

    if (path) {
        /* owner-only: the log names pools, hosts and VMs */
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) != 0 || !(fp = fdopen(fd, "a"))) {
            if (fd >= 0)
                close(fd);
            return PP_EIO;
        }
        setvbuf(fp, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;
    FILE *out;

    pthread_mutex_lock(&log_lock);
    if (lvl < log_min || lvl >= LOG_LVL_OFF) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    out = log_fp ? log_fp : stderr;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(out, "%s.%03ldZ %-5s [%s] ", ts, now.tv_nsec / 1000000L, level_names[lvl],
            module ? module : "-");
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    pthread_mutex_unlock(&log_lock);
}
