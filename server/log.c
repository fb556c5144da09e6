/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_MAX_TOKENS 32

static struct {
	bool syslog;
	int verbose;
	bool debug_all;
	size_t ntokens;
	char tokens[LOG_MAX_TOKENS][32];
} logger = { .verbose = 0 };

void
log_init(const char *progname, bool use_syslog, int verbose)
{
	logger.syslog = use_syslog;
	logger.verbose = verbose;
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_debug_enable(const char *tokens)
{
	const char *p = tokens;

	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == 3 && strncmp(p, "all", 3) == 0)
			logger.debug_all = true;
		else if (len > 0 && logger.ntokens < LOG_MAX_TOKENS &&
		    len < sizeof(logger.tokens[0])) {
			memcpy(logger.tokens[logger.ntokens], p, len);
			logger.tokens[logger.ntokens][len] = '\0';
			logger.ntokens++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return (logger.debug_all || logger.ntokens > 0) ? 0 : -1;
}

bool
log_debug_enabled(const char *token)
{
	if (logger.debug_all)
		return true;
	for (size_t i = 0; i < logger.ntokens; i++)
		if (strcmp(logger.tokens[i], token) == 0)
			return true;
	return false;
}

static void PB_PRINTF(3, 0)
log_vwrite(int prio, const char *token, const char *fmt, va_list ap, int errnum)
{
	static const char *names[] = {
		[LOG_CRIT] = "FATAL", [LOG_ERR] = "ERROR", [LOG_WARNING] = "WARN",
		[LOG_INFO] = "INFO", [LOG_DEBUG] = "DEBUG",
	};
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(errnum));

	if (logger.syslog) {
		syslog(prio, "[%s] %s", token, msg);
		return;
	}
	char line[2304];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	int len = snprintf(line, sizeof(line), "%s.%03ld %-5s [%s] %s\n", when,
	    ts.tv_nsec / 1000000, names[prio] ? names[prio] : "?", token, msg);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line)) {
		len = (int)sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	/* One write per line keeps lines whole across threads. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)len);
	(void)w;
}

#define LOG_BODY(prio, errnum)                                   \
	do {                                                     \
		va_list ap;                                      \
		va_start(ap, fmt);                               \
		log_vwrite(prio, token, fmt, ap, errnum);        \
		va_end(ap);                                      \
	} while (0)

void
log_warn(const char *token, const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_WARNING, saved);
	errno = saved;
}

void
log_warnx(const char *token, const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
log_info(const char *token, const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0);
}

void
log_debug(const char *token, const char *fmt, ...)
{
	if (!log_debug_enabled(token))
		return;
	LOG_BODY(LOG_DEBUG, 0);
}

void
fatal(const char *token, const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_CRIT, saved);
	exit(1);
}

void
fatalx(const char *token, const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}
