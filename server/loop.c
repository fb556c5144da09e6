/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"

/*
 * Timers are few (per sink, per source, per peer), so they live in an
 * unsorted array scanned once per expiry; the earliest arms one timerfd.
 * epoll data carries fd + generation so an event for an fd that was
 * removed (and maybe reused) during the same epoll batch is ignored.
 */

struct fd_entry {
	pb_fd_cb *cb;
	void *arg;
	uint32_t events;
	uint32_t gen;
};

struct timer {
	pb_timer_id id;
	uint64_t when;
	pb_timer_cb *cb;
	void *arg;
};

struct sig_entry {
	int signo;
	pb_signal_cb *cb;
	void *arg;
};

struct pb_loop {
	int epfd;
	int timerfd;
	int sigfd;
	int stopfd;
	atomic_bool stop;
	uint64_t now;
	struct fd_entry *fds;
	size_t nfds;
	struct timer *timers;
	size_t ntimers, ctimers;
	pb_timer_id next_id;
	uint64_t armed; /* expiry the timerfd is armed for, 0 = disarmed */
	sigset_t sigmask;
	struct sig_entry sigs[16];
	size_t nsigs;
	pb_hook_cb *before_sleep;
	void *before_sleep_arg;
};

static void on_timerfd(struct pb_loop *loop, int fd, uint32_t events, void *arg);
static void on_sigfd(struct pb_loop *loop, int fd, uint32_t events, void *arg);
static void on_stopfd(struct pb_loop *loop, int fd, uint32_t events, void *arg);

struct pb_loop *
pb_loop_new(char *err, size_t errlen)
{
	struct pb_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		snprintf(err, errlen, "loop: out of memory");
		return NULL;
	}
	loop->epfd = loop->timerfd = loop->sigfd = loop->stopfd = -1;
	loop->next_id = 1;
	sigemptyset(&loop->sigmask);
	loop->now = pb_mono_ns();

	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (loop->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "loop: %s", strerror(errno));
		pb_loop_free(loop);
		return NULL;
	}
	if (pb_loop_add_fd(loop, loop->timerfd, EPOLLIN, on_timerfd, NULL) < 0 ||
	    pb_loop_add_fd(loop, loop->stopfd, EPOLLIN, on_stopfd, NULL) < 0) {
		snprintf(err, errlen, "loop: epoll_ctl: %s", strerror(errno));
		pb_loop_free(loop);
		return NULL;
	}
	return loop;
}

void
pb_loop_free(struct pb_loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	if (loop->stopfd >= 0)
		close(loop->stopfd);
	free(loop->fds);
	free(loop->timers);
	free(loop);
}

static inline uint64_t
ev_data(int fd, uint32_t gen)
{
	return (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32);
}

int
pb_loop_add_fd(struct pb_loop *loop, int fd, uint32_t events, pb_fd_cb *cb, void *arg)
{
	if (fd < 0 || !cb) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)fd >= loop->nfds) {
		size_t n = loop->nfds ? loop->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fd_entry *p = realloc(loop->fds, n * sizeof(*p));
		if (!p)
			return -1;
		memset(p + loop->nfds, 0, (n - loop->nfds) * sizeof(*p));
		loop->fds = p;
		loop->nfds = n;
	}
	struct fd_entry *e = &loop->fds[fd];
	if (e->cb) {
		errno = EEXIST;
		return -1;
	}
	e->gen++;
	struct epoll_event ev = { .events = events, .data.u64 = ev_data(fd, e->gen) };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	e->cb = cb;
	e->arg = arg;
	e->events = events;
	return 0;
}

int
pb_loop_mod_fd(struct pb_loop *loop, int fd, uint32_t events)
{
	if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].cb) {
		errno = ENOENT;
		return -1;
	}
	struct fd_entry *e = &loop->fds[fd];
	if (e->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.u64 = ev_data(fd, e->gen) };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -1;
	e->events = events;
	return 0;
}

int
pb_loop_del_fd(struct pb_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].cb) {
		errno = ENOENT;
		return -1;
	}
	struct fd_entry *e = &loop->fds[fd];
	e->cb = NULL;
	e->arg = NULL;
	e->gen++;
	/* The fd may already be closed; epoll dropped it then. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
	    errno != ENOENT)
		return -1;
	return 0;
}

static void
timers_rearm(struct pb_loop *loop)
{
	uint64_t earliest = 0;
	for (size_t i = 0; i < loop->ntimers; i++)
		if (!earliest || loop->timers[i].when < earliest)
			earliest = loop->timers[i].when;
	if (earliest == loop->armed)
		return;
	struct itimerspec its = { 0 };
	if (earliest) {
		its.it_value.tv_sec = (time_t)(earliest / PB_NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(earliest % PB_NSEC_PER_SEC);
	}
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_warn("loop", "timerfd_settime");
		return;
	}
	loop->armed = earliest;
}

pb_timer_id
pb_loop_add_timer(struct pb_loop *loop, uint64_t delay_ns, pb_timer_cb *cb, void *arg)
{
	if (loop->ntimers == loop->ctimers) {
		size_t n = loop->ctimers ? loop->ctimers * 2 : 16;
		struct timer *p = realloc(loop->timers, n * sizeof(*p));
		if (!p)
			return 0;
		loop->timers = p;
		loop->ctimers = n;
	}
	struct timer *t = &loop->timers[loop->ntimers++];
	t->id = loop->next_id++;
	/* Never 0: an absolute 0 would disarm the timerfd. */
	t->when = pb_mono_ns() + (delay_ns ? delay_ns : 1);
	t->cb = cb;
	t->arg = arg;
	timers_rearm(loop);
	return t->id;
}

void
pb_loop_del_timer(struct pb_loop *loop, pb_timer_id id)
{
	for (size_t i = 0; i < loop->ntimers; i++) {
		if (loop->timers[i].id == id) {
			loop->timers[i] = loop->timers[--loop->ntimers];
			timers_rearm(loop);
			return;
		}
	}
}

static void
timers_run(struct pb_loop *loop)
{
	uint64_t now = pb_mono_ns();
	loop->now = now;
	/* Callbacks may add or delete timers: rescan after each call. */
	for (;;) {
		size_t due = loop->ntimers;
		for (size_t i = 0; i < loop->ntimers; i++) {
			if (loop->timers[i].when <= now &&
			    (due == loop->ntimers || loop->timers[i].when < loop->timers[due].when))
				due = i;
		}
		if (due == loop->ntimers)
			break;
		pb_timer_id id = loop->timers[due].id;
		/* Park it in the far future while it runs so it is not rerun. */
		loop->timers[due].when = UINT64_MAX;
		int64_t next = loop->timers[due].cb(loop, loop->timers[due].arg);
		for (size_t i = 0; i < loop->ntimers; i++) {
			if (loop->timers[i].id != id)
				continue;
			if (next < 0)
				loop->timers[i] = loop->timers[--loop->ntimers];
			else
				loop->timers[i].when = pb_mono_ns() + (next ? (uint64_t)next : 1);
			break;
		}
	}
	loop->armed = UINT64_MAX; /* force timerfd_settime */
	timers_rearm(loop);
}

static void
on_timerfd(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t expirations;
	ssize_t r = read(fd, &expirations, sizeof(expirations));
	(void)r;
	timers_run(loop);
}

static void
on_sigfd(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (size_t i = 0; i < loop->nsigs; i++)
			if (loop->sigs[i].signo == (int)si.ssi_signo)
				loop->sigs[i].cb(loop, (int)si.ssi_signo, loop->sigs[i].arg);
	}
}

static void
on_stopfd(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
}

int
pb_loop_add_signal(struct pb_loop *loop, int signo, pb_signal_cb *cb, void *arg)
{
	if (loop->nsigs >= sizeof(loop->sigs) / sizeof(loop->sigs[0])) {
		errno = ENOSPC;
		return -1;
	}
	sigaddset(&loop->sigmask, signo);
	if (pthread_sigmask(SIG_BLOCK, &loop->sigmask, NULL) != 0)
		return -1;
	int fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		if (pb_loop_add_fd(loop, fd, EPOLLIN, on_sigfd, NULL) < 0)
			return -1;
	}
	loop->sigs[loop->nsigs].signo = signo;
	loop->sigs[loop->nsigs].cb = cb;
	loop->sigs[loop->nsigs].arg = arg;
	loop->nsigs++;
	return 0;
}

void
pb_loop_set_before_sleep(struct pb_loop *loop, pb_hook_cb *cb, void *arg)
{
	loop->before_sleep = cb;
	loop->before_sleep_arg = arg;
}

int
pb_loop_run_once(struct pb_loop *loop, int timeout_ms)
{
	struct epoll_event evs[64];

	if (loop->before_sleep)
		loop->before_sleep(loop, loop->before_sleep_arg);
	int n = epoll_wait(loop->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		log_warn("loop", "epoll_wait");
		return -1;
	}
	loop->now = pb_mono_ns();
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		if ((size_t)fd >= loop->nfds)
			continue;
		struct fd_entry *e = &loop->fds[fd];
		if (!e->cb || e->gen != gen)
			continue;
		e->cb(loop, fd, evs[i].events, e->arg);
	}
	return n;
}

int
pb_loop_run(struct pb_loop *loop)
{
	while (!atomic_load(&loop->stop)) {
		if (pb_loop_run_once(loop, -1) < 0)
			return -1;
	}
	atomic_store(&loop->stop, false);
	return 0;
}

void
pb_loop_stop(struct pb_loop *loop)
{
	uint64_t one = 1;
	atomic_store(&loop->stop, true);
	ssize_t r = write(loop->stopfd, &one, sizeof(one));
	(void)r;
}

uint64_t
pb_loop_now(const struct pb_loop *loop)
{
	return loop->now;
}
