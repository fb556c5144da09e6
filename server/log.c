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

#include "clock.h"
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

/* dropped: lines this call site suppressed before this one (rate limit). */
static void PB_PRINTF(3, 0)
log_vwrite(int prio, const char *token, const char *fmt, va_list ap, int errnum,
    uint64_t dropped)
{
	static const char *names[] = {
		[LOG_CRIT] = "FATAL", [LOG_ERR] = "ERROR", [LOG_WARNING] = "WARN",
		[LOG_INFO] = "INFO", [LOG_DEBUG] = "DEBUG",
	};
	char msg[2048], tail[64] = "";

	/* Room for the count is kept even when the message is cut. */
	if (dropped)
		snprintf(tail, sizeof(tail), " (%llu similar message%s suppressed)",
		    (unsigned long long)dropped, dropped == 1 ? "" : "s");
	size_t room = sizeof(msg) - strlen(tail);
	int n = vsnprintf(msg, room, fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n >= room)
		n = (int)room - 1;
	if (errnum && (size_t)n + 1 < room)
		n += snprintf(msg + n, room - (size_t)n, ": %s", strerror(errnum));
	if ((size_t)n >= room)
		n = (int)room - 1;
	memcpy(msg + n, tail, strlen(tail) + 1);

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
		log_vwrite(prio, token, fmt, ap, errnum, 0);     \
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

/* ---- rate limit ---------------------------------------------------------- */

/*
 * GCRA, the token bucket as one timestamp: tat is when the bucket would be
 * full again. A line passes while tat - now <= (burst - 1) * interval and
 * pushes tat one interval on; one CAS, so threads never take a lock here.
 * Sites that dropped a line go on a push-only list (they are statics:
 * never freed, so no ABA) that log_rl_flush() walks.
 */

static uint64_t (*_Atomic rl_clock)(void);
static struct log_rl *_Atomic rl_list;

void
log_rl_set_clock(uint64_t (*now_ns)(void))
{
	atomic_store(&rl_clock, now_ns);
}

static uint64_t
rl_now(void)
{
	uint64_t (*fn)(void) = atomic_load_explicit(&rl_clock, memory_order_relaxed);
	return fn ? fn() : pb_mono_ns();
}

static void
rl_drop(struct log_rl *rl, const char *token, int prio, uint64_t now)
{
	atomic_fetch_add(&rl->suppressed, 1);
	atomic_store(&rl->last_drop, now);
	if (atomic_load_explicit(&rl->listed, memory_order_relaxed) ||
	    atomic_exchange(&rl->listed, 1))
		return;
	rl->token = token;
	rl->prio = prio;
	struct log_rl *head = atomic_load(&rl_list);
	do
		rl->next = head;
	while (!atomic_compare_exchange_weak(&rl_list, &head, rl));
}

/* True when the line may go out; *dropped = lines suppressed before it. */
static bool
rl_admit(struct log_rl *rl, const char *token, int prio, uint64_t *dropped)
{
	const uint64_t tau = (LOG_RL_BURST - 1) * LOG_RL_INTERVAL_NS;
	uint64_t now = rl_now();
	uint64_t tat = atomic_load(&rl->tat);

	for (;;) {
		uint64_t base = tat > now ? tat : now;
		if (base - now > tau) {
			rl_drop(rl, token, prio, now);
			return false;
		}
		if (atomic_compare_exchange_weak(&rl->tat, &tat, base + LOG_RL_INTERVAL_NS))
			break;
	}
	*dropped = atomic_exchange(&rl->suppressed, 0);
	return true;
}

#define LOG_RL_BODY(prio, errnum)                                        \
	do {                                                             \
		uint64_t dropped;                                        \
		if (!rl_admit(rl, token, prio, &dropped))                \
			break;                                           \
		va_list ap;                                              \
		va_start(ap, fmt);                                       \
		log_vwrite(prio, token, fmt, ap, errnum, dropped);       \
		va_end(ap);                                              \
	} while (0)

void
log_rl_warn(struct log_rl *rl, const char *token, const char *fmt, ...)
{
	int saved = errno;
	LOG_RL_BODY(LOG_WARNING, saved);
	errno = saved;
}

void
log_rl_warnx(struct log_rl *rl, const char *token, const char *fmt, ...)
{
	int saved = errno;
	LOG_RL_BODY(LOG_WARNING, 0);
	errno = saved;
}

void
log_rl_info(struct log_rl *rl, const char *token, const char *fmt, ...)
{
	int saved = errno;
	LOG_RL_BODY(LOG_INFO, 0);
	errno = saved;
}

static void PB_PRINTF(3, 4)
rl_line(int prio, const char *token, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(prio, token, fmt, ap, 0, 0);
	va_end(ap);
}

unsigned
log_rl_flush(bool all)
{
	uint64_t now = rl_now();
	unsigned lines = 0;

	for (struct log_rl *rl = atomic_load(&rl_list); rl; rl = rl->next) {
		if (atomic_load(&rl->suppressed) == 0)
			continue;
		/* A flood still going on reports with its next line. */
		if (!all && now < atomic_load(&rl->last_drop) + LOG_RL_INTERVAL_NS)
			continue;
		uint64_t n = atomic_exchange(&rl->suppressed, 0);
		if (n == 0)
			continue;
		const char *file = strrchr(rl->file, '/');
		rl_line(rl->prio, rl->token, "%llu similar message%s suppressed (%s:%d)",
		    (unsigned long long)n, n == 1 ? "" : "s", file ? file + 1 : rl->file, rl->line);
		lines++;
	}
	return lines;
}
