/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "cmdq.h"
#include "loop.h"

struct order {
	int seen[8];
	int n;
	int repeats;
};

static int64_t
tick_a(struct pb_loop *loop, void *arg)
{
	struct order *o = arg;
	o->seen[o->n++] = 'a';
	return PB_TIMER_STOP;
}

static int64_t
tick_b(struct pb_loop *loop, void *arg)
{
	struct order *o = arg;
	o->seen[o->n++] = 'b';
	return PB_TIMER_STOP;
}

static int64_t
tick_repeat(struct pb_loop *loop, void *arg)
{
	struct order *o = arg;
	if (++o->repeats == 3) {
		pb_loop_stop(loop);
		return PB_TIMER_STOP;
	}
	return (int64_t)(2 * PB_NSEC_PER_MSEC);
}

static void
run_for(struct pb_loop *loop, int ms)
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end)
		pb_loop_run_once(loop, 5);
}

static void
test_timers_fire_in_order(void **state)
{
	char err[128];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	assert_non_null(loop);
	struct order o = { 0 };
	assert_true(pb_loop_add_timer(loop, 20 * PB_NSEC_PER_MSEC, tick_b, &o) != 0);
	assert_true(pb_loop_add_timer(loop, 5 * PB_NSEC_PER_MSEC, tick_a, &o) != 0);
	run_for(loop, 60);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.seen[0], 'a');
	assert_int_equal(o.seen[1], 'b');
	pb_loop_free(loop);
}

static void
test_timer_repeats_and_delete(void **state)
{
	char err[128];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	struct order o = { 0 };
	pb_timer_id gone = pb_loop_add_timer(loop, 5 * PB_NSEC_PER_MSEC, tick_a, &o);
	pb_loop_del_timer(loop, gone);
	pb_loop_add_timer(loop, 1 * PB_NSEC_PER_MSEC, tick_repeat, &o);
	uint64_t start = pb_mono_ns();
	assert_int_equal(pb_loop_run(loop), 0);
	assert_int_equal(o.repeats, 3);
	assert_int_equal(o.n, 0); /* deleted timer never ran */
	/* 1 ms + 2 × 2 ms at least */
	assert_true(pb_mono_ns() - start >= 5 * PB_NSEC_PER_MSEC);
	pb_loop_free(loop);
}

struct fdctx {
	int calls;
	uint64_t total;
};

static void
on_event(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct fdctx *c = arg;
	uint64_t v;
	assert_true(events & EPOLLIN);
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	c->calls++;
	c->total += v;
}

static void
test_fd_events_and_removal(void **state)
{
	char err[128];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	int efd = eventfd(0, EFD_NONBLOCK);
	struct fdctx c = { 0 };
	assert_int_equal(pb_loop_add_fd(loop, efd, EPOLLIN, on_event, &c), 0);
	assert_int_equal(pb_loop_add_fd(loop, efd, EPOLLIN, on_event, &c), -1); /* twice */
	uint64_t v = 5;
	assert_int_equal(write(efd, &v, sizeof(v)), sizeof(v));
	pb_loop_run_once(loop, 100);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.total, 5);
	/* Interest off: no callback although readable. */
	assert_int_equal(pb_loop_mod_fd(loop, efd, 0), 0);
	assert_int_equal(write(efd, &v, sizeof(v)), sizeof(v));
	pb_loop_run_once(loop, 20);
	assert_int_equal(c.calls, 1);
	assert_int_equal(pb_loop_mod_fd(loop, efd, EPOLLIN), 0);
	pb_loop_run_once(loop, 100);
	assert_int_equal(c.calls, 2);
	assert_int_equal(pb_loop_del_fd(loop, efd), 0);
	assert_int_equal(write(efd, &v, sizeof(v)), sizeof(v));
	pb_loop_run_once(loop, 20);
	assert_int_equal(c.calls, 2);
	close(efd);
	pb_loop_free(loop);
}

static void
on_sig(struct pb_loop *loop, int signo, void *arg)
{
	*(int *)arg = signo;
	pb_loop_stop(loop);
}

static void
test_signal_through_signalfd(void **state)
{
	char err[128];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	int got = 0;
	assert_int_equal(pb_loop_add_signal(loop, SIGUSR1, on_sig, &got), 0);
	kill(getpid(), SIGUSR1);
	assert_int_equal(pb_loop_run(loop), 0);
	assert_int_equal(got, SIGUSR1);
	pb_loop_free(loop);
}

struct qctx {
	struct pb_loop *loop;
	uint64_t sum;
	int count;
};

static void
on_cmd(struct pb_cmd *cmd, void *arg)
{
	struct qctx *q = arg;
	q->sum += cmd->arg;
	if (++q->count == 1000)
		pb_loop_stop(q->loop);
	free(cmd);
}

static void *
producer(void *arg)
{
	struct pb_cmdq *q = arg;
	for (int i = 1; i <= 1000; i++) {
		struct pb_cmd *c = calloc(1, sizeof(*c));
		c->arg = (uint64_t)i;
		pb_cmdq_push(q, c);
	}
	return NULL;
}

static void
test_cmdq_from_thread(void **state)
{
	char err[128];
	struct qctx ctx = { 0 };
	ctx.loop = pb_loop_new(err, sizeof(err));
	struct pb_cmdq *q = pb_cmdq_new(ctx.loop, on_cmd, &ctx, err, sizeof(err));
	assert_non_null(q);
	pthread_t t;
	pthread_create(&t, NULL, producer, q);
	assert_int_equal(pb_loop_run(ctx.loop), 0);
	pthread_join(t, NULL);
	assert_int_equal(ctx.count, 1000);
	assert_int_equal(ctx.sum, 1000ULL * 1001 / 2);
	/* Commands left in the queue at free time are released. */
	struct pb_cmd *c = calloc(1, sizeof(*c));
	pb_cmdq_push(q, c);
	pb_cmdq_free(q);
	pb_loop_free(ctx.loop);
}

static void *
stopper(void *arg)
{
	usleep(20000);
	pb_loop_stop(arg);
	return NULL;
}

static void
test_stop_from_other_thread(void **state)
{
	char err[128];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	pthread_t t;
	pthread_create(&t, NULL, stopper, loop);
	assert_int_equal(pb_loop_run(loop), 0);
	pthread_join(t, NULL);
	pb_loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_order),
		cmocka_unit_test(test_timer_repeats_and_delete),
		cmocka_unit_test(test_fd_events_and_removal),
		cmocka_unit_test(test_signal_through_signalfd),
		cmocka_unit_test(test_cmdq_from_thread),
		cmocka_unit_test(test_stop_from_other_thread),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
