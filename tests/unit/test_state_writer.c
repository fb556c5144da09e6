/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "loop.h"
#include "state_writer.h"

#define NDONE 256

struct fx {
	char dir[64];
	struct pb_loop *loop;
	struct pb_state_writer *w;
	pthread_t loop_thread;
	int ndone;
	int err[NDONE]; /* by submit index */
	bool called[NDONE];
	bool off_thread; /* a done() ran on another thread */
};

struct done_arg {
	struct fx *fx;
	int idx;
};

static struct done_arg args[NDONE];

static void
on_done(void *arg, int err)
{
	struct done_arg *a = arg;
	struct fx *fx = a->fx;
	if (!pthread_equal(pthread_self(), fx->loop_thread))
		fx->off_thread = true;
	assert_false(fx->called[a->idx]);
	fx->called[a->idx] = true;
	fx->err[a->idx] = err;
	fx->ndone++;
}

static struct done_arg *
arg_for(struct fx *fx, int idx)
{
	args[idx].fx = fx;
	args[idx].idx = idx;
	return &args[idx];
}

static void
rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			chmod(p, 0700);
			rm_rf(p);
		} else {
			unlink(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];
	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/pbtest-statew-XXXXXX");
	if (!mkdtemp(fx->dir) || !(fx->loop = pb_loop_new(err, sizeof(err))) ||
	    !(fx->w = pb_state_writer_new(fx->loop, err, sizeof(err))))
		return -1;
	fx->loop_thread = pthread_self();
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	pb_state_writer_free(fx->w);
	pb_loop_free(fx->loop);
	rm_rf(fx->dir);
	free(fx);
	return 0;
}

/* Runs the loop until n done() calls arrived (5 s at most). */
static void
wait_done(struct fx *fx, int n)
{
	uint64_t end = pb_mono_ns() + 5 * PB_NSEC_PER_SEC;
	while (fx->ndone < n && pb_mono_ns() < end)
		pb_loop_run_once(fx->loop, 20);
	assert_int_equal(fx->ndone, n);
}

static size_t
slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	return n;
}

static void
path_in(const struct fx *fx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fx->dir, name);
}

static bool
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void
test_write_and_replace(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], tmp[PATH_MAX + 8], got[256];
	path_in(fx, "custody-1.state", p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);

	const char *v1 = "1 10 100\n2 20 200\n";
	assert_int_equal(pb_state_writer_submit(fx->w, p, v1, strlen(v1), on_done, arg_for(fx, 0)), 0);
	assert_int_equal(fx->ndone, 0); /* never from inside submit */
	wait_done(fx, 1);
	assert_int_equal(fx->err[0], 0);
	size_t n = slurp(p, got, sizeof(got));
	assert_int_equal(n, strlen(v1));
	assert_memory_equal(got, v1, n);
	assert_false(exists(tmp));

	/* Shorter content: the old bytes must not survive past the end. */
	const char *v2 = "3 4 5\n";
	assert_int_equal(pb_state_writer_submit(fx->w, p, v2, strlen(v2), on_done, arg_for(fx, 1)), 0);
	wait_done(fx, 2);
	assert_int_equal(fx->err[1], 0);
	n = slurp(p, got, sizeof(got));
	assert_int_equal(n, strlen(v2));
	assert_memory_equal(got, v2, n);
	assert_false(exists(tmp));

	/* Empty content is a valid state file. */
	assert_int_equal(pb_state_writer_submit(fx->w, p, "", 0, on_done, arg_for(fx, 2)), 0);
	wait_done(fx, 3);
	assert_int_equal(fx->err[2], 0);
	assert_int_equal(slurp(p, got, sizeof(got)), 0);
	assert_false(fx->off_thread);
}

struct fill_ctx {
	int lines;
	bool fail;
};

static int
fill_lines(void *ctx, FILE *f)
{
	struct fill_ctx *c = ctx;
	for (int i = 0; i < c->lines; i++)
		fprintf(f, "line %d\n", i);
	return c->fail ? -1 : 0;
}

static void
test_submit_fill(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], got[4096];
	path_in(fx, "gaps-1.state", p, sizeof(p));

	struct fill_ctx c = { .lines = 3 };
	assert_int_equal(pb_state_writer_submit_fill(fx->w, p, fill_lines, &c, on_done,
	    arg_for(fx, 0)), 0);
	wait_done(fx, 1);
	assert_int_equal(fx->err[0], 0);
	size_t n = slurp(p, got, sizeof(got));
	assert_int_equal(n, strlen("line 0\nline 1\nline 2\n"));
	assert_memory_equal(got, "line 0\nline 1\nline 2\n", n);

	/* A failing fill queues nothing, keeps the file, never calls done. */
	struct fill_ctx bad = { .lines = 50, .fail = true };
	assert_int_equal(pb_state_writer_submit_fill(fx->w, p, fill_lines, &bad, on_done,
	    arg_for(fx, 1)), -1);
	pb_state_writer_flush(fx->w);
	assert_int_equal(fx->ndone, 1);
	assert_false(fx->called[1]);
	assert_int_equal(slurp(p, got, sizeof(got)), n);
	assert_false(fx->off_thread);
}

/*
 * The worker is held in open() of a FIFO standing where the first job's
 * .tmp goes, so every later submit is queued while it is busy: the
 * outcome does not depend on timing.
 */
static void
test_coalescing(void **state)
{
	struct fx *fx = *state;
	char blk[PATH_MAX], fifo[PATH_MAX + 8], p[PATH_MAX], q[PATH_MAX], got[64];
	path_in(fx, "blocker", blk, sizeof(blk));
	snprintf(fifo, sizeof(fifo), "%s.tmp", blk);
	path_in(fx, "custody-2.state", p, sizeof(p));
	path_in(fx, "gaps-2.state", q, sizeof(q));
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(pb_state_writer_submit(fx->w, blk, "x", 1, on_done, arg_for(fx, 0)), 0);
	enum { N = 100 };
	for (int i = 1; i <= N; i++) {
		char v[32];
		int len = snprintf(v, sizeof(v), "version %d\n", i);
		assert_int_equal(pb_state_writer_submit(fx->w, p, v, (size_t)len, on_done, arg_for(fx, i)), 0);
		/* Another path in between keeps its own single pending slot. */
		if (i == 50)
			assert_int_equal(pb_state_writer_submit(fx->w, q, "q\n", 2, on_done,
			    arg_for(fx, N + 1)), 0);
	}
	/* Superseded completions arrive while the worker is still stuck. */
	wait_done(fx, N - 1);
	for (int i = 1; i < N; i++)
		assert_int_equal(fx->err[i], PB_STATE_SUPERSEDED);
	assert_false(fx->called[N]);

	/* Release the worker: it writes "x" into the FIFO, fsync fails there. */
	/* Non-blocking with a poll: a worker that never opens it fails, not hangs. */
	int fd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	ssize_t r = read(fd, got, sizeof(got));
	assert_int_equal(r, 1);
	assert_int_equal(got[0], 'x');
	close(fd);

	wait_done(fx, N + 2);
	assert_true(fx->err[0] > 0);     /* errno from the FIFO */
	assert_false(exists(fifo));      /* a failed .tmp is removed */
	assert_false(exists(blk));
	assert_int_equal(fx->err[N], 0); /* the newest version was written */
	assert_int_equal(fx->err[N + 1], 0);
	size_t n = slurp(p, got, sizeof(got));
	assert_int_equal(n, strlen("version 100\n"));
	assert_memory_equal(got, "version 100\n", n);
	n = slurp(q, got, sizeof(got));
	assert_int_equal(n, 2);
	assert_false(fx->off_thread);
}

static void
test_errors(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], file[PATH_MAX];
	path_in(fx, "missing/custody-1.state", p, sizeof(p));
	assert_int_equal(pb_state_writer_submit(fx->w, p, "a\n", 2, on_done, arg_for(fx, 0)), 0);
	path_in(fx, "plain", file, sizeof(file));
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	path_in(fx, "plain/gaps-1.state", p, sizeof(p));
	assert_int_equal(pb_state_writer_submit(fx->w, p, "b\n", 2, on_done, arg_for(fx, 1)), 0);
	bool nonroot = geteuid() != 0;

	/* Permissions bind only without root. */
	char ro[PATH_MAX], rofile[PATH_MAX], got[16];
	path_in(fx, "ro", ro, sizeof(ro));
	path_in(fx, "ro/custody-1.state", rofile, sizeof(rofile));
	assert_int_equal(mkdir(ro, 0700), 0);
	assert_int_equal(pb_state_writer_submit(fx->w, rofile, "old\n", 4, on_done, arg_for(fx, 2)), 0);
	wait_done(fx, 3);
	assert_int_equal(fx->err[2], 0);
	if (nonroot) {
		assert_int_equal(chmod(ro, 0500), 0);
		assert_int_equal(pb_state_writer_submit(fx->w, rofile, "new\n", 4, on_done,
		    arg_for(fx, 3)), 0);
		wait_done(fx, 4);
	}
	assert_int_equal(fx->err[0], ENOENT);
	assert_int_equal(fx->err[1], ENOTDIR);
	if (nonroot) {
		assert_int_equal(fx->err[3], EACCES);
		assert_int_equal(slurp(rofile, got, sizeof(got)), 4);
		assert_memory_equal(got, "old\n", 4);
	}

	/* A name too long for its .tmp is refused at once. */
	char longp[PATH_MAX];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	errno = 0;
	assert_int_equal(pb_state_writer_submit(fx->w, longp, "c", 1, on_done, arg_for(fx, 4)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	pb_state_writer_flush(fx->w);
	assert_false(fx->called[4]);
	assert_false(fx->off_thread);
}

/* Shutdown: flush waits for the disk and runs done() without the loop. */
static void
test_flush(void **state)
{
	struct fx *fx = *state;
	char p[8][PATH_MAX], got[64];
	for (int i = 0; i < 8; i++) {
		char name[32], v[32];
		snprintf(name, sizeof(name), "f%d.state", i);
		path_in(fx, name, p[i], sizeof(p[i]));
		int len = snprintf(v, sizeof(v), "content %d\n", i);
		assert_int_equal(pb_state_writer_submit(fx->w, p[i], v, (size_t)len, on_done,
		    arg_for(fx, i)), 0);
	}
	pb_state_writer_flush(fx->w);
	assert_int_equal(fx->ndone, 8);
	for (int i = 0; i < 8; i++) {
		char v[32];
		int len = snprintf(v, sizeof(v), "content %d\n", i);
		assert_int_equal(fx->err[i], 0);
		assert_int_equal(slurp(p[i], got, sizeof(got)), (size_t)len);
		assert_memory_equal(got, v, (size_t)len);
	}
	/* free() flushes too: a last write at exit is not lost. */
	assert_int_equal(pb_state_writer_submit(fx->w, p[0], "last\n", 5, on_done, arg_for(fx, 8)), 0);
	pb_state_writer_free(fx->w);
	fx->w = NULL;
	assert_true(fx->called[8]);
	assert_int_equal(fx->err[8], 0);
	assert_int_equal(slurp(p[0], got, sizeof(got)), 5);
	assert_memory_equal(got, "last\n", 5);
	assert_false(fx->off_thread);
}

/* Version v: (1 + v % 7) KiB of the letter 'a' + v % 26. */
static size_t
version_len(int letter)
{
	return 1024 * (size_t)(1 + (letter - 'a') % 7);
}

struct reader {
	const char *path;
	atomic_bool stop;
	atomic_int reads;
	int bad;
};

/* Every read must find one complete version, never a mix or a gap. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	static char buf[16384];
	while (!atomic_load(&r->stop)) {
		int fd = open(r->path, O_RDONLY);
		if (fd < 0) {
			r->bad++;
			continue;
		}
		size_t n = 0;
		ssize_t k;
		while (n < sizeof(buf) && (k = read(fd, buf + n, sizeof(buf) - n)) > 0)
			n += (size_t)k;
		close(fd);
		atomic_fetch_add(&r->reads, 1);
		if (n == 0 || buf[0] < 'a' || buf[0] > 'z' || n != version_len(buf[0])) {
			r->bad++;
			continue;
		}
		for (size_t i = 1; i < n; i++)
			if (buf[i] != buf[0]) {
				r->bad++;
				break;
			}
	}
	return NULL;
}

static void
test_atomic_replace(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	static char v[8192];
	path_in(fx, "custody-3.state", p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);

	memset(v, 'a', version_len('a'));
	assert_int_equal(pb_state_writer_submit(fx->w, p, v, version_len('a'), on_done,
	    arg_for(fx, 0)), 0);
	wait_done(fx, 1);

	struct reader r = { .path = p };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	/* The reader must be running before the replacements start (on a
	 * loaded machine it may not be scheduled until they are all done). */
	for (int spin = 0; atomic_load(&r.reads) == 0 && spin < 5000; spin++)
		usleep(1000);
	enum { N = 120 };
	for (int i = 1; i <= N; i++) {
		int letter = 'a' + i % 26;
		memset(v, letter, version_len(letter));
		assert_int_equal(pb_state_writer_submit(fx->w, p, v, version_len(letter), on_done,
		    arg_for(fx, i)), 0);
		if (i % 4 == 0)
			pb_loop_run_once(fx->loop, 1);
	}
	wait_done(fx, N + 1);
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);

	assert_true(atomic_load(&r.reads) > 0);
	assert_int_equal(r.bad, 0);
	int written = 0;
	for (int i = 1; i <= N; i++) {
		assert_true(fx->err[i] == 0 || fx->err[i] == PB_STATE_SUPERSEDED);
		written += fx->err[i] == 0;
	}
	assert_int_equal(fx->err[N], 0);
	assert_true(written >= 1);
	static char got[8192];
	int last = 'a' + N % 26;
	assert_int_equal(slurp(p, got, sizeof(got)), version_len(last));
	assert_int_equal(got[0], last);
	assert_false(exists(tmp));
	assert_false(fx->off_thread);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
	};
	return cmocka_run_group_tests_name("state_writer", tests, NULL, NULL);
}
