/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_LOG_H
#define PB_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/*
 * Rate-limited lines, for call sites that a peer, a client or the traffic
 * can repeat at will (failed handshakes, refused connections, per-packet
 * errors): each call site prints a burst of LOG_RL_BURST lines, then at
 * most one per LOG_RL_INTERVAL_NS. The next line that gets through ends
 * with "(N similar messages suppressed)"; log_rl_flush() reports counts
 * left behind by a flood that stopped.
 *
 *   log_warnx_rl("tunnel", "%s: authentication failed", peer);
 *
 * Opt-in rather than on every log_*(): one-off lines (start, state
 * changes, configuration) must never be dropped, and a site that can
 * flood is better marked where it is written. Each expansion owns a
 * static struct log_rl: lock-free, no malloc, any thread. The token must
 * outlive the process (a string literal): log_rl_flush() prints it.
 */
#define LOG_RL_BURST 10u
#define LOG_RL_INTERVAL_NS 1000000000ull

struct log_rl {
	_Atomic uint64_t tat;        /* GCRA theoretical arrival time, ns */
	_Atomic uint64_t suppressed; /* dropped since the last line printed */
	_Atomic uint64_t last_drop;  /* time of the latest drop, ns */
	_Atomic int listed;          /* on the flush list */
	struct log_rl *next;         /* flush list, written before publication */
	const char *token;
	int prio;
	const char *file;
	int line;
};

#define LOG_RL_INIT { .file = __FILE__, .line = __LINE__ }

#define log_warn_rl(token, ...) LOG_RL_CALL(log_rl_warn, token, __VA_ARGS__)
#define log_warnx_rl(token, ...) LOG_RL_CALL(log_rl_warnx, token, __VA_ARGS__)
#define log_info_rl(token, ...) LOG_RL_CALL(log_rl_info, token, __VA_ARGS__)
#define LOG_RL_CALL(fn, token, ...)                                  \
	do {                                                         \
		static struct log_rl log_rl_site_ = LOG_RL_INIT;     \
		fn(&log_rl_site_, token, __VA_ARGS__);               \
	} while (0)

/* Behind the macros; rl is the call site's state. */
void log_rl_warn(struct log_rl *rl, const char *token, const char *fmt, ...) PB_PRINTF(3, 4);
void log_rl_warnx(struct log_rl *rl, const char *token, const char *fmt, ...) PB_PRINTF(3, 4);
void log_rl_info(struct log_rl *rl, const char *token, const char *fmt, ...) PB_PRINTF(3, 4);

/*
 * One line per call site whose suppressed lines were not reported yet:
 * with all = false only sites quiet for LOG_RL_INTERVAL_NS (a flood still
 * going on reports through its next line), with all = true every one (at
 * exit). Any thread; meant for a periodic timer (about once a second).
 * Returns the number of lines written.
 */
unsigned log_rl_flush(bool all);

/* Test hook: the clock of the rate limiter (NULL = CLOCK_MONOTONIC). */
void log_rl_set_clock(uint64_t (*now_ns)(void));

#endif
