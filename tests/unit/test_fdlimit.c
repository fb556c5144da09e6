/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "fdlimit.h"

/*
 * The descriptor budget against real (lowered) RLIMIT_NOFILE soft limits:
 * lowering the soft limit needs no privilege. Changing the hard limit is
 * done in a child process, and skipped where it is refused (valgrind
 * pins it).
 */

static void
set_soft(rlim_t soft)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = soft;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static rlim_t
get_soft(void)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return rl.rlim_cur;
}

/* Runs fn with stderr in a temp file; the output in buf. */
static void
capture(void (*fn)(void), char *buf, size_t len)
{
	char path[] = "/tmp/pb-fdlimit-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
}

/* Must run first: nothing initialised the budget yet. */
static void
test_unlimited_before_init(void **state)
{
	struct pb_fd_stats st;
	for (int i = 0; i < 100000; i++)
		assert_true(pb_fd_take());
	pb_fd_get_stats(&st);
	assert_int_equal(st.budget, UINT64_MAX);
	assert_int_equal(st.in_use, 100000);
	assert_int_equal(st.refused, 0);
	for (int i = 0; i < 100000; i++)
		pb_fd_give();
	pb_fd_get_stats(&st);
	assert_int_equal(st.in_use, 0);
}

static uint32_t budget_reserve;
static void budget_init(void) { pb_fd_budget_init(budget_reserve); }

static void
test_budget(void **state)
{
	struct pb_fd_stats st;
	char out[4096];
	rlim_t old = get_soft();

	set_soft(200);
	budget_reserve = 64;
	capture(budget_init, out, sizeof(out));
	assert_non_null(strstr(out, "up to 136 tunnel connection(s) (limit 200, 64 kept"));
	for (int i = 0; i < 136; i++)
		assert_true(pb_fd_take());
	assert_false(pb_fd_take());
	assert_false(pb_fd_take());
	pb_fd_get_stats(&st);
	assert_int_equal(st.soft, 200);
	assert_int_equal(st.reserve, 64);
	assert_int_equal(st.budget, 136);
	assert_int_equal(st.in_use, 136);
	assert_int_equal(st.refused, 2);
	pb_fd_give();
	assert_true(pb_fd_take());
	assert_false(pb_fd_take());
	for (int i = 0; i < 136; i++)
		pb_fd_give();
	/* One give too many is refused, not wrapped around. */
	capture(pb_fd_give, out, sizeof(out));
	assert_non_null(strstr(out, "not taken"));
	pb_fd_get_stats(&st);
	assert_int_equal(st.in_use, 0);
	assert_true(pb_fd_take());
	pb_fd_give();
	set_soft(old);
}

static void
test_reserve_takes_everything(void **state)
{
	struct pb_fd_stats st;
	char out[4096];
	rlim_t old = get_soft();

	set_soft(100);
	budget_reserve = 150;
	capture(budget_init, out, sizeof(out));
	assert_non_null(strstr(out, "WARN"));
	assert_non_null(strstr(out, "leaves 0 descriptor(s) for tunnel connections"));
	assert_false(pb_fd_take());
	pb_fd_get_stats(&st);
	assert_int_equal(st.budget, 0);
	assert_int_equal(st.in_use, 0);
	/* A small budget works, with a warning. */
	budget_reserve = 90;
	capture(budget_init, out, sizeof(out));
	assert_non_null(strstr(out, "leaves 10 descriptor(s)"));
	for (int i = 0; i < 10; i++)
		assert_true(pb_fd_take());
	assert_false(pb_fd_take());
	for (int i = 0; i < 10; i++)
		pb_fd_give();
	set_soft(old);
}

#define THREADS 4

static void *
grab(void *arg)
{
	unsigned *got = arg;
	while (pb_fd_take())
		(*got)++;
	return NULL;
}

/* Racing takers get exactly the budget between them. */
static void
test_threads(void **state)
{
	pthread_t t[THREADS];
	unsigned got[THREADS] = { 0 }, sum = 0;
	struct pb_fd_stats st;
	char out[4096];
	rlim_t old = get_soft();

	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t lim = rl.rlim_max < 20000 ? rl.rlim_max : 20000;
	if (lim < 200)
		skip();
	set_soft(lim);
	budget_reserve = 100;
	capture(budget_init, out, sizeof(out));
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, grab, &got[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		sum += got[i];
	}
	assert_int_equal(sum, lim - 100);
	pb_fd_get_stats(&st);
	assert_int_equal(st.in_use, lim - 100);
	assert_int_equal(st.refused, THREADS);
	for (unsigned i = 0; i < sum; i++)
		pb_fd_give();
	pb_fd_get_stats(&st);
	assert_int_equal(st.in_use, 0);
	set_soft(old);
}

static void limit_init(void) { pb_fdlimit_init(); }

static void
test_raises_soft_to_hard(void **state)
{
	struct rlimit rl;
	char out[4096], want[128];

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 64)
		skip();
	rlim_t old = rl.rlim_cur;
	set_soft(64);
	capture(limit_init, out, sizeof(out));
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY)
		assert_int_equal(rl.rlim_cur, rl.rlim_max);
	else
		assert_true(rl.rlim_cur > 64);
	snprintf(want, sizeof(want), "soft limit raised from 64 to %llu",
	    (unsigned long long)rl.rlim_cur);
	assert_non_null(strstr(out, want));
	struct pb_fd_stats st;
	pb_fd_get_stats(&st);
	assert_int_equal(st.soft, rl.rlim_cur);
	/* Already there: said so, nothing changed. */
	capture(limit_init, out, sizeof(out));
	assert_non_null(strstr(out, "open files: soft limit"));
	assert_null(strstr(out, "raised"));
	set_soft(old);
}

/* Child: hard limit 512 (as `ulimit -n 512` leaves it), then init. */
static void
low_hard_child(const char *path)
{
	struct rlimit rl = { .rlim_cur = 256, .rlim_max = 512 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(77);
	FILE *f = freopen(path, "w", stderr);
	if (!f)
		_exit(2);
	uint64_t soft = pb_fdlimit_init();
	fflush(stderr);
	_exit(soft == 512 ? 0 : 1);
}

static void
test_low_hard_limit_warns(void **state)
{
	char path[] = "/tmp/pb-fdlimit-XXXXXX", out[4096] = "";
	int fd = mkstemp(path), status;
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		low_hard_child(path);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* the hard limit could not be changed here */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	out[n] = '\0';
	assert_non_null(strstr(out, "soft limit raised from 256 to 512 (hard limit 512)"));
	assert_non_null(strstr(out, "WARN  [main] open files: hard limit 512 is low"));
}

static void
test_reserve_follows_config(void **state)
{
	struct pb_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(pb_fd_reserve(&cfg), PB_FD_RESERVE_BASE);
	cfg.ncaptures = 2;
	cfg.ndumps = 3;
	cfg.tunnel.npeers = 4;
	cfg.tunnel.nupstreams = 1;
	assert_int_equal(pb_fd_reserve(&cfg), PB_FD_RESERVE_BASE + 2 * PB_FD_PER_CAPTURE +
	    3 * PB_FD_PER_DUMP + 5 * PB_FD_PER_DIAL);
	uint32_t r = pb_fd_reserve(&cfg);
	snprintf(cfg.tunnel.dlq.path, sizeof(cfg.tunnel.dlq.path), "dlq.db");
	assert_int_equal(pb_fd_reserve(&cfg), r + PB_FD_DLQ);
	cfg.api.enabled = true;
	cfg.api.max_connections = 200;
	assert_int_equal(pb_fd_reserve(&cfg), r + PB_FD_DLQ + PB_FD_API_BASE + 200);
	cfg.api.max_connections = 0; /* unset: the API's default of 64 */
	assert_int_equal(pb_fd_reserve(&cfg), r + PB_FD_DLQ + PB_FD_API_BASE + 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited_before_init),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_reserve_takes_everything),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_raises_soft_to_hard),
		cmocka_unit_test(test_low_hard_limit_warns),
		cmocka_unit_test(test_reserve_follows_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
