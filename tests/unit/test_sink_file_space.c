/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink_file_space.h"

/*
 * The file sink's space reservation: blocks reserved ahead of the writes
 * in steps, never past the rotate size unless a write goes there, the
 * file's size and bytes only what was written, and the unused rest given
 * back at close. Reserving is on for ext4 only; elsewhere (and where the
 * test directory is not ext4) the file is left as plain writes make it.
 */

#define MIB ((uint64_t)1 << 20)

static const char *
test_dir(void)
{
	const char *d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}

static bool
is_ext4(const char *dir)
{
	struct statfs sf;
	return statfs(dir, &sf) == 0 && sf.f_type == 0xEF53;
}

static uint64_t
allocated(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t
file_size(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

/* Writes n bytes of pattern byte b through fs, as the sink does. */
static void
put(struct pb_fspace *fs, int fd, uint64_t n, uint64_t limit, uint8_t b)
{
	static uint8_t buf[1 << 20];
	memset(buf, b, sizeof(buf));
	pb_fspace_reserve(fs, fd, n, limit);
	while (n) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		assert_int_equal(write(fd, buf, k), (ssize_t)k);
		pb_fspace_wrote(fs, k);
		n -= k;
	}
}

static int
temp_fd(char *path, size_t len, const char *dir)
{
	snprintf(path, len, "%s/pb-fspace-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

/* A temporary file in the test directory, its reservation opened. */
struct fixture {
	char path[4096];
	int fd;
	struct pb_fspace fs;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->fd = temp_fd(f->path, sizeof(f->path), test_dir());
	pb_fspace_open(&f->fs, f->fd);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

static void
test_reserve_and_give_back(void **state)
{
	struct fixture *f = *state;
	struct pb_fspace *fs = &f->fs;
	int fd = f->fd;

	assert_int_equal(fs->on, is_ext4(test_dir()));
	if (!fs->on) {
		/* Plain writes: nothing reserved, nothing to give back. */
		put(fs, fd, MIB + 5, 0, 'a');
		assert_int_equal(fs->reserved, 0);
		assert_int_equal(pb_fspace_close(fs, fd), 0);
		assert_int_equal(file_size(fd), MIB + 5);
		print_message("%s is not ext4: reserving stays off there\n", test_dir());
		return;
	}
	put(fs, fd, MIB + 5, 0, 'a');
	/* One step reserved, the size is what was written. */
	assert_int_equal(fs->reserved, PB_FSPACE_STEP);
	assert_int_equal(file_size(fd), MIB + 5);
	assert_true(allocated(fd) >= PB_FSPACE_STEP);
	put(fs, fd, 5 * MIB, 0, 'b');
	assert_int_equal(fs->reserved, 2 * PB_FSPACE_STEP);
	assert_true(allocated(fd) >= 2 * PB_FSPACE_STEP);
	/* Given back at close: blocks for the written bytes only. */
	assert_int_equal(pb_fspace_close(fs, fd), 0);
	assert_int_equal(file_size(fd), 6 * MIB + 5);
	assert_true(allocated(fd) < 6 * MIB + 5 + 64 * 1024);
	/* The bytes are the written ones, in order. */
	uint8_t b[2];
	assert_int_equal(pread(fd, b, 1, MIB + 4), 1);
	assert_int_equal(pread(fd, b + 1, 1, MIB + 5), 1);
	assert_int_equal(b[0], 'a');
	assert_int_equal(b[1], 'b');
}

/* Not past the rotate size, unless a write itself goes beyond it. */
static void
test_limit(void **state)
{
	struct fixture *f = *state;
	struct pb_fspace *fs = &f->fs;

	if (!fs->on) {
		print_message("%s is not ext4: skipped\n", test_dir());
		skip();
	}
	put(fs, f->fd, 1000, 3 * MIB, 'a');
	assert_int_equal(fs->reserved, 3 * MIB);
	put(fs, f->fd, 3 * MIB, 3 * MIB, 'b'); /* beyond the limit: just what it needs */
	assert_int_equal(fs->reserved, 3 * MIB + 1000);
	assert_int_equal(pb_fspace_close(fs, f->fd), 0);
	assert_int_equal(file_size(f->fd), 3 * MIB + 1000);
}

/* A reservation that fails turns reserving off; the writes go on. */
static void
test_failure_turns_off(void **state)
{
	(void)state;
	char path[4096];
	struct pb_fspace fs;
	const char *dir = test_dir();
	int fd = temp_fd(path, sizeof(path), dir);

	close(fd);
	int rfd = open(path, O_RDONLY); /* fallocate: EBADF */
	assert_true(rfd >= 0);
	pb_fspace_open(&fs, rfd);
	fs.on = true;
	pb_fspace_reserve(&fs, rfd, MIB, 0);
	assert_false(fs.on);
	assert_int_equal(fs.reserved, 0);
	pb_fspace_wrote(&fs, MIB);
	assert_int_equal(pb_fspace_close(&fs, rfd), 0); /* nothing reserved: no ftruncate */
	close(rfd);
	unlink(path);
}

/* tmpfs got slower with it (it zeroes the pages): off there. */
static void
test_tmpfs_off(void **state)
{
	(void)state;
	struct statfs sf;
	char path[4096];
	struct pb_fspace fs;

	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != 0x01021994) {
		print_message("/dev/shm is not tmpfs: skipped\n");
		skip();
	}
	int fd = temp_fd(path, sizeof(path), "/dev/shm");
	pb_fspace_open(&fs, fd);
	assert_false(fs.on);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserve_and_give_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test(test_failure_turns_off),
		cmocka_unit_test(test_tmpfs_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
