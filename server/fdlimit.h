/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_FDLIMIT_H
#define PB_FDLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/*
 * File descriptors. Peers decide how many tunnel connections they open;
 * the daemon decides everything else (sinks, DLQ, state files, captures,
 * the API's bounded connections). So the process limit is split once at
 * start: a reserve for what the configuration needs, and a budget that
 * connections accepted from the network take from and give back. A flood
 * of connects then runs out of budget, not of descriptors: the dump can
 * still open its next file and state files can still be replaced.
 *
 * Accepting a connection (any thread):
 *
 *   if (!pb_fd_take()) { close(fd); refuse and log (rate limited); }
 *   ...
 *   close(fd); pb_fd_give();   once, when the accepted connection ends
 *
 * The check after accept() costs one descriptor for a moment, which the
 * reserve holds; it keeps a level-triggered listener from spinning on a
 * backlog it would otherwise leave alone.
 */

/* Reserve parts, descriptors (see pb_fd_reserve). */
#define PB_FD_RESERVE_BASE 64u     /* stdio, epoll, timerfd, signalfd, eventfds, syslog,
                                      listeners, state files being replaced, the
                                      descriptor of a refused connection */
#define PB_FD_PER_CAPTURE 4u       /* pcap handle or file + mmap reader + eventfd + reopen */
#define PB_FD_PER_DUMP 8u          /* file, directory, writer wakeups, a file being
                                      rotated, pruned or recovered */
#define PB_FD_PER_DIAL 2u          /* peer or upstream we dial: socket + reconnect overlap */
#define PB_FD_DLQ 16u              /* SQLite db, WAL, shm, eventfds, the API's readers */
#define PB_FD_API_BASE 8u          /* listening socket, MHD's pollers; + max_connections */
#define PB_FD_LOW_BUDGET 64u       /* fewer connections than this: warn */
#define PB_FD_HARD_LOW 4096u       /* a hard limit below this: warn */

struct pb_fd_stats {
	uint64_t soft, hard;   /* RLIMIT_NOFILE after pb_fdlimit_init (RLIM_INFINITY: UINT64_MAX) */
	uint64_t reserve;      /* kept for the daemon itself */
	uint64_t budget;       /* connections; UINT64_MAX before pb_fd_budget_init */
	uint64_t in_use;       /* taken, not given back */
	uint64_t refused;      /* pb_fd_take() that found the budget spent */
};

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (to fs.nr_open when the
 * hard limit is unlimited) and logs before and after; warns when the hard
 * limit is below PB_FD_HARD_LOW. Returns the soft limit in force (0 when
 * it is unknown).
 */
uint64_t pb_fdlimit_init(void);

/* Descriptors the daemon needs besides accepted tunnel connections. */
uint32_t pb_fd_reserve(const struct pb_config *cfg);

/*
 * budget = soft limit - reserve (0 when the reserve takes it all; a warning
 * then, or when below PB_FD_LOW_BUDGET). Call once at start, after
 * pb_fdlimit_init; again only in tests (the counters restart). Until the
 * first call the budget is unlimited.
 */
void pb_fd_budget_init(uint32_t reserve);

/* One descriptor for an accepted connection: false (and counted in
 * refused) when the budget is spent. Any thread, lock-free. */
bool pb_fd_take(void);
/* Gives back what pb_fd_take() took. */
void pb_fd_give(void);

void pb_fd_get_stats(struct pb_fd_stats *out);

#endif
