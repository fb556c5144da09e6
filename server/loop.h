/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_LOOP_H
#define PB_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

/*
 * The engine's event loop: one epoll, all timers on one timerfd (monotonic),
 * signals on one signalfd. Single-threaded: only the thread running
 * pb_loop_run() may call these functions (except pb_loop_stop()).
 */

struct pb_loop;

/* fd readiness; events are EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits. */
typedef void pb_fd_cb(struct pb_loop *loop, int fd, uint32_t events, void *arg);

/* Timer callback: returns the next interval in nanoseconds, or PB_TIMER_STOP
 * to remove the timer (the id becomes invalid). */
#define PB_TIMER_STOP (-1)
typedef int64_t pb_timer_cb(struct pb_loop *loop, void *arg);

typedef void pb_signal_cb(struct pb_loop *loop, int signo, void *arg);

/* Called once per loop iteration before sleeping (flush batched output). */
typedef void pb_hook_cb(struct pb_loop *loop, void *arg);

typedef uint64_t pb_timer_id; /* 0 is never a valid id */

struct pb_loop *pb_loop_new(char *err, size_t errlen);
void pb_loop_free(struct pb_loop *loop);

int pb_loop_add_fd(struct pb_loop *loop, int fd, uint32_t events, pb_fd_cb *cb, void *arg);
int pb_loop_mod_fd(struct pb_loop *loop, int fd, uint32_t events);
int pb_loop_del_fd(struct pb_loop *loop, int fd);

/* First expiry after delay_ns (0 = next iteration). */
pb_timer_id pb_loop_add_timer(struct pb_loop *loop, uint64_t delay_ns, pb_timer_cb *cb, void *arg);
void pb_loop_del_timer(struct pb_loop *loop, pb_timer_id id);

/* Blocks the signal in the calling thread (call before starting other
 * threads so they inherit the mask) and delivers it through the signalfd. */
int pb_loop_add_signal(struct pb_loop *loop, int signo, pb_signal_cb *cb, void *arg);

void pb_loop_set_before_sleep(struct pb_loop *loop, pb_hook_cb *cb, void *arg);

/* Runs until pb_loop_stop(). Returns 0, or -1 on a fatal epoll error. */
int pb_loop_run(struct pb_loop *loop);
/* Thread-safe and async-signal-safe. */
void pb_loop_stop(struct pb_loop *loop);
/* One iteration, waiting at most timeout_ms (-1 forever). For tests. */
int pb_loop_run_once(struct pb_loop *loop, int timeout_ms);

/* Cached monotonic time of the current iteration. */
uint64_t pb_loop_now(const struct pb_loop *loop);

#endif
