/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"

/*
 * The rate limiter on a fake clock; what the logger writes to stderr is
 * captured in a temp file. Every call site below is its own function, so
 * that the tests do not share rate-limit state.
 */

#define SEC PB_NSEC_PER_SEC

static _Atomic uint64_t fake_now = 1000 * SEC;

static uint64_t
fake_clock(void)
{
	return atomic_load(&fake_now);
}

static void
advance(uint64_t ns)
{
	atomic_fetch_add(&fake_now, ns);
}

/* ---- stderr capture ---- */

static int saved_stderr = -1;
static char cap_path[64];
static char out[1 << 20];

static void
capture_begin(void)
{
	snprintf(cap_path, sizeof(cap_path), "/tmp/pb-log-XXXXXX");
	int fd = mkstemp(cap_path);
	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Restores stderr (cmocka reports there) and returns what was written. */
static const char *
capture_end(void)
{
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	FILE *f = fopen(cap_path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(cap_path);
	return out;
}

static unsigned
count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static unsigned
count_str(const char *s, const char *needle)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static int
setup(void **state)
{
	log_rl_set_clock(fake_clock);
	advance(100 * SEC); /* every bucket full again */
	return 0;
}

static int
teardown(void **state)
{
	capture_begin();
	log_rl_flush(true); /* nothing left over for the next test */
	capture_end();
	return 0;
}

/* ---- call sites ---- */

static void site_a(int i) { log_warnx_rl("test", "site a line %d", i); }
static void site_b(int i) { log_warnx_rl("test", "site b line %d", i); }
static void site_c(int i) { log_info_rl("other", "site c line %d", i); }
static int site_d_line;
static void site_d(int i) { site_d_line = __LINE__; log_warnx_rl("test", "site d line %d", i); }
static void site_e(const char *s) { log_warn_rl("test", "site e %s", s); }
static void site_f(const char *m) { log_warnx_rl("test", "%s", m); }
static void site_g(int i) { log_warnx_rl("test", "site g line %d", i); }

/* ---- tests ---- */

static void
test_burst_then_one_per_second(void **state)
{
	const char *s;

	capture_begin();
	for (int i = 0; i < 25; i++)
		site_a(i);
	s = capture_end();
	assert_int_equal(count_lines(s), LOG_RL_BURST);
	assert_non_null(strstr(s, "WARN  [test] site a line 0\n"));
	assert_non_null(strstr(s, "site a line 9\n"));
	assert_null(strstr(s, "site a line 10"));
	assert_null(strstr(s, "suppressed"));

	/* One interval later one line passes and says what was dropped. */
	capture_begin();
	advance(SEC);
	site_a(25);
	advance(SEC / 2);
	site_a(26);
	advance(SEC / 2);
	site_a(27);
	s = capture_end();
	assert_int_equal(count_lines(s), 2);
	assert_non_null(strstr(s, "site a line 25 (15 similar messages suppressed)\n"));
	assert_null(strstr(s, "line 26"));
	assert_non_null(strstr(s, "site a line 27 (1 similar message suppressed)\n"));

	/* Quiet for 5 s: 5 lines' worth came back, no more. */
	capture_begin();
	advance(5 * SEC);
	for (int i = 28; i < 36; i++)
		site_a(i);
	s = capture_end();
	assert_int_equal(count_lines(s), 5);
	assert_non_null(strstr(s, "site a line 32\n"));
	assert_null(strstr(s, "line 33"));

	/* Long quiet: the bucket holds a burst, never more. */
	capture_begin();
	advance(3600 * SEC);
	for (int i = 0; i < 3 * (int)LOG_RL_BURST; i++)
		site_a(i);
	s = capture_end();
	assert_int_equal(count_lines(s), LOG_RL_BURST);
	/* The 3 left from before are reported with the first line. */
	assert_non_null(strstr(s, "site a line 0 (3 similar messages suppressed)\n"));
}

static void
test_sites_are_independent(void **state)
{
	capture_begin();
	for (int i = 0; i < 50; i++)
		site_b(i);
	for (int i = 0; i < 3; i++)
		site_c(i);
	const char *s = capture_end();
	assert_int_equal(count_str(s, "site b line"), LOG_RL_BURST);
	assert_int_equal(count_str(s, "site c line"), 3);
	assert_non_null(strstr(s, "INFO  [other] site c line 2\n"));
}

static void
test_flush_reports_a_stopped_flood(void **state)
{
	char want[128];
	const char *s;

	capture_begin();
	for (int i = 0; i < 15; i++)
		site_d(i);
	/* Still flooding: the next line will carry the count. */
	advance(SEC / 2);
	assert_int_equal(log_rl_flush(false), 0);
	s = capture_end();
	assert_int_equal(count_lines(s), LOG_RL_BURST);

	capture_begin();
	advance(SEC / 2);
	assert_int_equal(log_rl_flush(false), 1);
	assert_int_equal(log_rl_flush(false), 0); /* reported once */
	advance(SEC);
	site_d(99);
	s = capture_end();
	snprintf(want, sizeof(want), "WARN  [test] 5 similar messages suppressed (test_log.c:%d)\n",
	    site_d_line);
	assert_non_null(strstr(s, want));
	assert_non_null(strstr(s, "site d line 99\n")); /* no count: already reported */
	assert_int_equal(count_lines(s), 2);

	/* At exit every count goes out, quiet or not. */
	capture_begin();
	for (int i = 0; i < 20; i++)
		site_d(i);
	assert_int_equal(log_rl_flush(false), 0);
	assert_int_equal(log_rl_flush(true), 1);
	s = capture_end();
	assert_non_null(strstr(s, "similar messages suppressed (test_log.c:"));
}

static void
test_warn_keeps_errno(void **state)
{
	capture_begin();
	errno = ENOENT;
	site_e("open");
	assert_int_equal(errno, ENOENT);
	for (int i = 0; i < 20; i++)
		site_e("again");
	assert_int_equal(errno, ENOENT); /* dropped lines keep it too */
	advance(SEC);
	errno = EACCES;
	site_e("later");
	const char *s = capture_end();
	assert_non_null(strstr(s, "site e open: No such file or directory\n"));
	assert_non_null(strstr(s, "site e later: Permission denied (11 similar messages suppressed)\n"));
}

static void
test_long_line_keeps_the_count(void **state)
{
	static char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	capture_begin();
	for (int i = 0; i < (int)LOG_RL_BURST + 2; i++)
		site_f(big);
	advance(SEC);
	site_f(big);
	const char *s = capture_end();
	assert_int_equal(count_lines(s), LOG_RL_BURST + 1);
	/* The message is cut, the count at its end is not. */
	const char *last = strstr(s, "x (2 similar messages suppressed)\n");
	assert_non_null(last);
	assert_int_equal(last[strlen("x (2 similar messages suppressed)\n")], '\0');
}

#define THREADS 4
#define PER_THREAD 20000

static void *
hammer(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++)
		site_g(i);
	return NULL;
}

/* Concurrent callers: exactly one burst passes, every drop is counted once. */
static void
test_threads(void **state)
{
	pthread_t t[THREADS];

	capture_begin();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(log_rl_flush(true), 1);
	const char *s = capture_end();
	char want[96];
	snprintf(want, sizeof(want), "%u similar messages suppressed",
	    THREADS * PER_THREAD - LOG_RL_BURST);
	assert_int_equal(count_str(s, "site g line"), LOG_RL_BURST);
	assert_non_null(strstr(s, want));
	assert_int_equal(count_lines(s), LOG_RL_BURST + 1);
	/* Whole lines only: each starts with a timestamp. */
	for (const char *p = s; *p; p = strchr(p, '\n') + 1)
		assert_true(p[0] >= '0' && p[0] <= '9' && p[4] == '-');
}

/* The real clock: a quick loop still gets exactly its burst. */
static void
test_monotonic_clock(void **state)
{
	log_rl_set_clock(NULL);
	capture_begin();
	for (int i = 0; i < 100; i++)
		log_warnx_rl("test", "real clock %d", i);
	const char *s = capture_end();
	/* Unless this loop took a second or more (a stalled machine). */
	assert_in_range(count_lines(s), LOG_RL_BURST, LOG_RL_BURST + 1);
	log_rl_set_clock(fake_clock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_burst_then_one_per_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sites_are_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_reports_a_stopped_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warn_keeps_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_keeps_the_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monotonic_clock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
