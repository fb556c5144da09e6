/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink_file_sync.h"

/*
 * Fsync behind: every file handed over is fsynced and closed, its bytes
 * untouched; never more than depth files wait (the writer waits instead);
 * a failing fsync is counted and its descriptor still closed; freeing
 * waits for every pending file.
 */

#define NFILES 12
#define FILE_BYTES (512u << 10)

struct fx {
	char dir[256];
	char path[NFILES][300];
	int fd[NFILES];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *t = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/pbfsyncb.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < NFILES; i++)
		if (f->path[i][0])
			unlink(f->path[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* File i with FILE_BYTES of dirty data (an fsync that takes some time). */
static int
make_file(struct fx *f, int i)
{
	static unsigned char buf[FILE_BYTES];

	memset(buf, 'a' + i, sizeof(buf));
	char path[sizeof(f->path[i])];
	snprintf(path, sizeof(path), "%s/f%d", f->dir, i);
	memcpy(f->path[i], path, sizeof(path));
	int fd = open(f->path[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	return fd;
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void
check_file(const struct fx *f, int i)
{
	struct stat st;
	unsigned char c;

	assert_int_equal(stat(f->path[i], &st), 0);
	assert_int_equal(st.st_size, FILE_BYTES);
	int fd = open(f->path[i], O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, FILE_BYTES - 1), 1);
	assert_int_equal(c, 'a' + i);
	close(fd);
}

/* depth 1 and 2: every file closed once freed, never more than depth of
 * the handed files open when pb_fsyncb_close returns. */
static void
run_depth(struct fx *f, unsigned depth)
{
	struct pb_fsyncb *b = pb_fsyncb_new("test", depth);
	assert_non_null(b);
	for (int i = 0; i < NFILES; i++) {
		f->fd[i] = make_file(f, i);
		pb_fsyncb_close(b, f->fd[i], f->path[i]);
		/* A number taken again by a later file was closed before. */
		unsigned open_now = 0;
		for (int j = 0; j <= i; j++) {
			bool reused = false;
			for (int k = j + 1; k <= i; k++)
				reused |= f->fd[k] == f->fd[j];
			open_now += !reused && fd_open(f->fd[j]);
		}
		assert_true(open_now <= depth);
	}
	pb_fsyncb_free(b);
	for (int i = 0; i < NFILES; i++) {
		assert_false(fd_open(f->fd[i]));
		check_file(f, i);
		unlink(f->path[i]);
		f->path[i][0] = '\0';
	}
}

static void
test_depth_1(void **state)
{
	run_depth(*state, 1);
}

static void
test_depth_2(void **state)
{
	run_depth(*state, 2);
}

/* fsync on a pipe fails (EINVAL): counted, logged, the fd still closed,
 * and the files after it go on. */
static void
test_failure_counted(void **state)
{
	struct fx *f = *state;
	int p[2];
	struct pb_fsyncb *b = pb_fsyncb_new("test", 2);

	assert_non_null(b);
	assert_int_equal(pipe(p), 0);
	pb_fsyncb_close(b, p[1], "a pipe");
	f->fd[0] = make_file(f, 0);
	pb_fsyncb_close(b, f->fd[0], f->path[0]);
	pb_fsyncb_free(b);
	assert_false(fd_open(p[1]));
	assert_false(fd_open(f->fd[0]));
	check_file(f, 0);
	close(p[0]);

	b = pb_fsyncb_new("test", 1);
	assert_int_equal(pb_fsyncb_failures(b), 0);
	assert_int_equal(pipe(p), 0);
	pb_fsyncb_close(b, p[1], "a pipe");
	pb_fsyncb_close(b, p[0], "the other end");
	/* depth 1: the first is done once the second is taken. */
	assert_false(fd_open(p[1]));
	pb_fsyncb_free(b);
	assert_false(fd_open(p[0]));
}

/* depth 1: once a file is handed over, the one before it is done, so the
 * count is exact without waiting. */
static void
test_failures_value(void **state)
{
	struct fx *f = *state;
	int p[2];
	struct pb_fsyncb *b = pb_fsyncb_new("test", 1);

	assert_non_null(b);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pipe(p), 0);
		pb_fsyncb_close(b, p[0], "pipe r");
		pb_fsyncb_close(b, p[1], "pipe w");
	}
	f->fd[0] = make_file(f, 0);
	pb_fsyncb_close(b, f->fd[0], f->path[0]);
	assert_int_equal(pb_fsyncb_failures(b), 6);
	pb_fsyncb_free(b);
	check_file(f, 0);
}

/* Never used: no thread, nothing to wait for; NULL is a no-op. */
static void
test_unused(void **state)
{
	(void)state;
	pb_fsyncb_free(pb_fsyncb_new("test", 2));
	pb_fsyncb_free(NULL);
	struct pb_fsyncb *b = pb_fsyncb_new("test", 0); /* taken as 1 */
	assert_non_null(b);
	pb_fsyncb_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_depth_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_value, setup, teardown),
		cmocka_unit_test(test_unused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
