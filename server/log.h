/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_LOG_H
#define PB_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/*
 * Logger with a subsystem token first, after lldpd:
 *   log_warn("peer", ...)  appends strerror(errno)
 *   log_warnx("peer", ...) does not
 *   log_debug("peer", ...) only prints when the token was enabled with -d
 * Thread safe: one write(2) per line.
 */

#define PB_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(const char *progname, bool use_syslog, int verbose);
/* Comma-separated subsystem tokens, or "all". Returns -1 on an empty token list. */
int log_debug_enable(const char *tokens);
bool log_debug_enabled(const char *token);

void log_warn(const char *token, const char *fmt, ...) PB_PRINTF(2, 3);
void log_warnx(const char *token, const char *fmt, ...) PB_PRINTF(2, 3);
void log_info(const char *token, const char *fmt, ...) PB_PRINTF(2, 3);
void log_debug(const char *token, const char *fmt, ...) PB_PRINTF(2, 3);
void fatal(const char *token, const char *fmt, ...) PB_PRINTF(2, 3) __attribute__((noreturn));
void fatalx(const char *token, const char *fmt, ...) PB_PRINTF(2, 3) __attribute__((noreturn));

/* Debug check without formatting cost on the hot path. */
#define log_debug_on(token) log_debug_enabled(token)

#endif
