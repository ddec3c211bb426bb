/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging to stderr (default) or a file.  Thread-safe.  Modules log; only the
 * cli and api talk to people on stdout.  Never log credentials.
 */
#ifndef PP_BASE_LOG_H
#define PP_BASE_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_OFF };

/* Set the minimum level written (default WARN). */
void log_set_level(enum log_level lvl);
/* Current minimum level. */
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error|off"; returns 0 or PP_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* Append to path instead of stderr (NULL = back to stderr).  Returns 0 or PP_EIO. */
int log_set_file(const char *path);
/* Write one line "TIME LEVEL [module] message". */
void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_LVL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_LVL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_LVL_ERROR, mod, __VA_ARGS__)

#endif
