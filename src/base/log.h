/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging to stderr (default) or a file.  Thread-safe.  Modules log; only the
 * cli and api talk to people on stdout.  Never log credentials.
 */
#ifndef PP_BASE_LOG_H
#define PP_BASE_LOG_H

#include <stdio.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_OFF };

/* Set the minimum level written (default WARN). */
void log_set_level(enum log_level lvl);
/* Current minimum level. */
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error|off"; returns 0 or PP_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* Append to path instead of stderr (NULL = back to stderr).  Returns 0 or PP_EIO. */
int log_set_file(const char *path);
/*
 * How lines are written: LOG_FMT_TEXT "TIME LEVEL [module] message" (default), or LOG_FMT_JSON
 * one JSON object a line, {"time": "...Z", "level": "...", "module": "...", "msg": "...",
 * "pid": N}, the message escaped (control characters as \u00XX, invalid UTF-8 as U+FFFD) so that
 * every line parses whatever a pool or a peer put in a name.
 */
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };
void log_set_format(enum log_format f);
/* Parse "text|json"; returns 0 or PP_EINVAL. */
int log_format_parse(const char *s, enum log_format *out);
/* Append s as the body of a JSON string (no quotes) to the stdio stream out: ", \\, control
 * characters and invalid UTF-8 escaped.  For log_msg; exposed for its tests. */
void log_json_escape(FILE *out, const char *s);
/* Write one line, as log_set_format says. */
void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A line for the person who started the program, whatever the level: plain on stderr, or a JSON
 * log line there when the format is json and the log itself goes to stderr (so that stream stays
 * one object a line).  For the cli's banners and fatal errors.
 */
void log_console(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_LVL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_LVL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_LVL_ERROR, mod, __VA_ARGS__)

#endif
