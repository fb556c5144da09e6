/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "clock.h"
#include "loop.h"
#include "sink.h"
#include "srcdir.h"
#include "stats.h"

/* libpcap reads back what the sink wrote (helpers: sink_test.h). */

#include "sink_test.h"

struct file_info {
	char path[PATH_MAX];
	uint64_t size;
	unsigned nrec;
	uint32_t first;
	int linktype;
};

static int
file_cmp(const void *a, const void *b)
{
	const struct file_info *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Reads every file of the directory whose name starts with prefix. */
static size_t
read_files(struct ctx *c, const char *prefix, struct file_info *fi, uint32_t caplen)
{
	DIR *d = opendir(c->dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		assert_true(n < MAXF);
		struct file_info *f = &fi[n++];
		char eb[PCAP_ERRBUF_SIZE];
		struct stat st;
		snprintf(f->path, sizeof(f->path), "%s/%s", c->dir, e->d_name);
		assert_int_equal(stat(f->path, &st), 0);
		f->size = (uint64_t)st.st_size;
		f->nrec = 0;
		pcap_t *p = pcap_open_offline_with_tstamp_precision(f->path,
		    PCAP_TSTAMP_PRECISION_NANO, eb);
		if (!p)
			fail_msg("%s: %s", f->path, eb);
		f->linktype = pcap_datalink(p);
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc;
		while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
			uint32_t idx;
			memcpy(&idx, data, sizeof(idx));
			if (!f->nrec)
				f->first = idx;
			assert_int_equal(idx, f->first + f->nrec);
			if (caplen) {
				assert_int_equal(h->caplen, caplen);
				fill(idx, caplen);
				assert_memory_equal(data, frame, caplen);
			}
			assert_int_equal((uint64_t)h->ts.tv_sec * PB_NSEC_PER_SEC +
			    (uint64_t)h->ts.tv_usec, 1700000000ull * PB_NSEC_PER_SEC +
			    idx * 1001ull + 7);
			f->nrec++;
		}
		/* A complete file ends cleanly: no record cut at a boundary. */
		assert_int_equal(rc, PCAP_ERROR_BREAK);
		pcap_close(p);
	}
	closedir(d);
	qsort(fi, n, sizeof(*fi), file_cmp);
	return n;
}

/* Files hold 0..total-1 in order, each file starting with a pcapng SHB. */
static void
check_sequence(struct file_info *fi, size_t n, uint32_t total, bool pcapng)
{
	uint32_t next = 0;

	for (size_t i = 0; i < n; i++) {
		if (!fi[i].nrec)
			continue;
		assert_int_equal(fi[i].first, next);
		next += fi[i].nrec;
		uint8_t magic[4];
		FILE *f = fopen(fi[i].path, "rb");
		assert_non_null(f);
		assert_int_equal(fread(magic, 1, 4, f), 4);
		fclose(f);
		uint32_t m;
		memcpy(&m, magic, sizeof(m));
		assert_int_equal(m, pcapng ? 0x0a0d0d0au : 0xa1b23c4du);
	}
	assert_int_equal(next, total);
}

static void
test_rotate_size(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];
	const uint32_t N = 3000, caplen = 1000;

	c->cfg.rotate_bytes = 200000;
	c->cfg.fsync = true;
	open_sink(c);
	feed(c, 0, N, caplen);
	close_sink(c);
	size_t n = read_files(c, "cap-", fi, caplen);
	assert_true(n >= 14 && n <= 20);
	check_sequence(fi, n, N, true);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(fi[i].size <= c->cfg.rotate_bytes);
		/* Rotation only when the next record did not fit. */
		if (i + 1 < n)
			assert_true(fi[i].size + caplen + 200 > c->cfg.rotate_bytes);
		total += fi[i].size;
	}
	assert_int_equal(c->stats.packets, N);
	assert_int_equal(c->stats.bytes, (uint64_t)N * caplen);
	assert_int_equal(c->stats.bytes_written, total);
	assert_int_equal(c->stats.files_opened, n);
	assert_int_equal(c->stats.write_errors, 0);
}

/* A record above rotate_bytes gets a file of its own, never split. */
static void
test_rotate_big_records(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];

	c->cfg.rotate_bytes = 50000;
	open_sink(c);
	feed(c, 0, 20, PB_FRAME_CAP);
	close_sink(c);
	size_t n = read_files(c, "cap-", fi, PB_FRAME_CAP);
	assert_int_equal(n, 20);
	check_sequence(fi, n, 20, true);
}

static int
open_fds_in(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char p[300], target[PATH_MAX];
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		ssize_t l = readlink(p, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (strncmp(target, dir, strlen(dir)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
test_rotate_time(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];
	uint32_t i = 0;

	c->cfg.rotate_seconds = 1;
	open_sink(c);
	uint64_t end = pb_mono_ns() + 2500 * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end) {
		feed(c, i, i + 1, 100);
		i++;
		run_for(c, 20);
	}
	assert_int_equal(open_fds_in(c->dir), 1);
	/* Idle: the timer closes the file on time, no empty file follows. */
	run_for(c, 1400);
	assert_int_equal(open_fds_in(c->dir), 0);
	uint64_t opened = c->stats.files_opened;
	assert_true(opened >= 3 && opened <= 4);
	run_for(c, 1200);
	assert_int_equal(c->stats.files_opened, opened);
	feed(c, i, i + 1, 100);
	i++;
	close_sink(c);
	size_t n = read_files(c, "cap-", fi, 100);
	assert_int_equal(n, opened + 1);
	check_sequence(fi, n, i, true);
}

static void
test_reopen(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];

	open_sink(c);
	feed(c, 0, 10, 60);
	c->sink->ops->reopen(c->sink);
	c->sink->ops->reopen(c->sink); /* no file open: nothing to do */
	feed(c, 10, 25, 60);
	c->sink->ops->reopen(c->sink);
	close_sink(c);
	size_t n = read_files(c, "cap-", fi, 60);
	assert_int_equal(n, 2);
	assert_int_equal(fi[0].nrec, 10);
	assert_int_equal(fi[1].nrec, 15);
	check_sequence(fi, n, 25, true);
	assert_int_equal(c->stats.files_opened, 2);
}

/* Data reaches the disk before close(), driven by the flush timer. */
static void
test_flush_latency(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];

	open_sink(c);
	feed(c, 0, 5, 60);
	run_for(c, 400);
	assert_int_equal(read_files(c, "cap-", fi, 60), 1);
	assert_int_equal(fi[0].nrec, 5);
	feed(c, 5, 9, 60);
	/* close() writes what flush() kept back. */
	close_sink(c);
	assert_int_equal(read_files(c, "cap-", fi, 60), 1);
	assert_int_equal(fi[0].nrec, 9);
}

static void
mkold(struct ctx *c, const char *name, time_t mtime, size_t size)
{
	char p[PATH_MAX];
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	snprintf(p, sizeof(p), "%s/%s", c->dir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static bool
exists(struct ctx *c, const char *name)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", c->dir, name);
	return access(p, F_OK) == 0;
}

static void
test_retention_files(void **state)
{
	struct ctx *c = *state;

	mkold(c, "cap-20200101-000003.pcapng", 1577836803, 10);
	mkold(c, "cap-20200101-000001.pcapng", 1577836801, 10);
	mkold(c, "cap-20200101-000002-1.pcapng", 1577836802, 10); /* collision name */
	mkold(c, "cap-20200101-000002.pcapng", 1577836802, 10);   /* same mtime: by name */
	mkold(c, "cap-20200101-000004.pcapng", 1577836804, 10);
	mkold(c, "other.pcapng", 1000, 10);
	mkold(c, "cap-notes.txt", 1000, 10);
	c->cfg.max_files = 4;
	open_sink(c);
	feed(c, 0, 5, 60);
	close_sink(c);
	/* 5 old + 1 new = 6 > 4: the two oldest go; "x" is older than "x-1". */
	assert_int_equal(c->stats.files_removed, 2);
	assert_false(exists(c, "cap-20200101-000001.pcapng"));
	assert_false(exists(c, "cap-20200101-000002.pcapng"));
	assert_true(exists(c, "cap-20200101-000002-1.pcapng"));
	assert_true(exists(c, "cap-20200101-000003.pcapng"));
	assert_true(exists(c, "cap-20200101-000004.pcapng"));
	assert_true(exists(c, "other.pcapng"));
	assert_true(exists(c, "cap-notes.txt"));

	/* Across rotations: never more than max_files, the current one kept. */
	open_sink(c);
	for (uint32_t i = 0; i < 6; i++) {
		feed(c, i * 3, i * 3 + 3, 60);
		c->sink->ops->reopen(c->sink);
	}
	close_sink(c);
	struct file_info fi[MAXF];
	size_t n = read_files(c, "cap-2", fi, 60);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fi[i].first, 6 + 3 * i);
		assert_int_equal(fi[i].nrec, 3);
	}
	assert_false(exists(c, "cap-20200101-000002-1.pcapng"));
	assert_false(exists(c, "cap-20200101-000003.pcapng"));
	assert_false(exists(c, "cap-20200101-000004.pcapng"));
	assert_true(exists(c, "other.pcapng"));
	/* One removal per new file once at the limit. */
	assert_int_equal(c->stats.files_removed, 2 + 6);
}

static void
test_retention_bytes(void **state)
{
	struct ctx *c = *state;

	mkold(c, "cap-20200101-000001.pcapng", 1577836801, 10000);
	mkold(c, "cap-20200101-000002.pcapng", 1577836802, 10000);
	mkold(c, "cap-20200101-000003.pcapng", 1577836803, 10000);
	mkold(c, "cap-20200101-000004.pcapng", 1577836804, 10000);
	c->cfg.max_total_bytes = 25000;
	open_sink(c);
	feed(c, 0, 5, 60);
	close_sink(c);
	assert_int_equal(c->stats.files_removed, 2);
	assert_false(exists(c, "cap-20200101-000001.pcapng"));
	assert_false(exists(c, "cap-20200101-000002.pcapng"));
	assert_true(exists(c, "cap-20200101-000003.pcapng"));
	assert_true(exists(c, "cap-20200101-000004.pcapng"));

	/* With size rotation the new file's future size is reserved:
	 * 20000 + ~1000 (first run's file) + 10000 > 25000. */
	c->cfg.rotate_bytes = 10000;
	open_sink(c);
	feed(c, 5, 10, 60);
	close_sink(c);
	assert_int_equal(c->stats.files_removed, 3);
	assert_false(exists(c, "cap-20200101-000003.pcapng"));
	assert_true(exists(c, "cap-20200101-000004.pcapng"));
}

static void
test_no_overwrite(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];

	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/sub/dir/fixed.pcapng", c->dir);
	open_sink(c); /* creates sub/dir */
	close_sink(c);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/sub/dir/fixed.pcapng", c->dir);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);

	open_sink(c);
	feed(c, 0, 4, 60);
	c->sink->ops->reopen(c->sink);
	feed(c, 4, 8, 60);
	close_sink(c);
	open_sink(c);
	feed(c, 8, 12, 60);
	close_sink(c);

	char buf[16] = "";
	f = fopen(p, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8);
	fclose(f);
	assert_string_equal(buf, "precious");
	snprintf(c->dir + strlen(c->dir), sizeof(c->dir) - strlen(c->dir), "/sub/dir");
	size_t n = read_files(c, "fixed-", fi, 60);
	c->dir[strlen(c->dir) - strlen("/sub/dir")] = '\0';
	assert_int_equal(n, 3);
	check_sequence(fi, n, 12, true);
	assert_non_null(strstr(fi[0].path, "/fixed-1.pcapng"));
	assert_non_null(strstr(fi[1].path, "/fixed-2.pcapng"));
	assert_non_null(strstr(fi[2].path, "/fixed-3.pcapng"));
}

static void
test_pcap_classic(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];
	struct pb_record rec;

	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/cap-%%s.pcap", c->dir);
	c->cfg.format = PB_FORMAT_PCAP;
	c->cfg.rotate_bytes = 10000;
	open_sink(c);
	feed(c, 0, 100, 500);
	/* One linktype per pcap file: others are refused. */
	mkrec(&rec, 100, 500, 105);
	assert_int_equal(c->sink->ops->write(c->sink, &rec), -1);
	close_sink(c);
	size_t n = read_files(c, "cap-", fi, 500);
	assert_true(n >= 5);
	check_sequence(fi, n, 100, false);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fi[i].linktype, 1);
		assert_true(fi[i].size <= 10000);
	}
	assert_int_equal(c->stats.packets, 100);
}

/*
 * Writes fail (RLIMIT_FSIZE → EFBIG), buffers fill, writable() goes false;
 * once the limit is lifted the writer resumes exactly where it stopped and
 * on_writable fires.
 */
static void
test_backpressure_and_errors(void **state)
{
	struct ctx *c = *state;
	struct file_info fi[MAXF];
	struct pb_record rec;
	struct rlimit old, lim;
	uint32_t i = 0;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	c->cfg.buffer_mb = 2;
	open_sink(c);
	lim = old;
	lim.rlim_cur = 300000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* Write until the writer fails and the buffers are full. */
	uint64_t deadline = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;
	for (;;) {
		assert_true(pb_mono_ns() < deadline);
		if (!c->sink->ops->writable(c->sink)) {
			if (c->stats.write_errors)
				break;
			pb_loop_run_once(c->loop, 10);
			continue;
		}
		mkrec(&rec, i, 20000, 1);
		assert_int_equal(c->sink->ops->write(c->sink, &rec), 0);
		i++;
		c->sink->ops->flush(c->sink);
		pb_loop_run_once(c->loop, 0);
	}
	assert_true(i >= 52); /* at least a full 1 MiB chunk */
	assert_true(c->stats.backlog_events >= 1);
	int calls = c->writable_calls;
	run_for(c, 1300);
	assert_int_equal(c->stats.state, PB_SINK_ERROR);
	assert_int_equal(c->writable_calls, calls);
	assert_false(c->sink->ops->writable(c->sink));

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	deadline = pb_mono_ns() + 5 * PB_NSEC_PER_SEC;
	while (c->writable_calls == calls) {
		assert_true(pb_mono_ns() < deadline);
		pb_loop_run_once(c->loop, 50);
	}
	assert_true(c->sink->ops->writable(c->sink));
	run_for(c, 200);
	assert_int_equal(c->stats.state, PB_SINK_OK);
	feed(c, i, i + 10, 20000);
	close_sink(c);
	signal(SIGXFSZ, SIG_DFL);
	size_t n = read_files(c, "cap-", fi, 20000);
	assert_int_equal(n, 1);
	check_sequence(fi, n, i + 10, true);
	assert_int_equal(c->stats.bytes_written, fi[0].size);
}

/* ---- custody ---------------------------------------------------------- */

/* Every on_progress re-reads the files: custody never runs ahead of them.
 * Size rotation makes tokens cross files. */
static void
test_custody_rotation(void **state)
{
	struct ctx *c = *state;
	const uint32_t N = 1500, caplen = 1000;

	c->tokens = true;
	c->verify = caplen;
	c->cfg.rotate_bytes = 200000;
	open_sink(c);
	for (uint32_t i = 0; i < N; i += 100) {
		feed(c, i, i + 100, caplen);
		run_for(c, 5);
	}
	wait_custody(c, N, 5000);
	assert_int_equal(c->sink->ops->custody(c->sink), N);
	assert_true(c->progress_calls >= 10);
	assert_true(c->stats.files_opened >= 7);
	assert_int_equal(on_disk(c, caplen), N);
	close_sink(c);
}

/*
 * The writer fails (RLIMIT_FSIZE): custody stays on what write() really
 * took, even with a chunk half written, and resumes with the writer.
 */
static void
test_custody_write_errors(void **state)
{
	struct ctx *c = *state;
	struct rlimit old, lim;
	const uint32_t N = 200, caplen = 20000;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	c->tokens = true;
	c->verify = caplen;
	open_sink(c);
	lim = old;
	lim.rlim_cur = 1500000; /* in the middle of the second chunk */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	feed(c, 0, N, caplen);
	uint64_t deadline = pb_mono_ns() + 5 * PB_NSEC_PER_SEC;
	while (!c->stats.write_errors) {
		assert_true(pb_mono_ns() < deadline);
		pb_loop_run_once(c->loop, 10);
	}
	run_for(c, 300);
	uint64_t stuck = c->custody;
	assert_true(stuck >= 1 && stuck < N);
	assert_int_equal(c->sink->ops->custody(c->sink), stuck);
	/* More on disk than in custody: the partial chunk does not count. */
	assert_true(c->stats.bytes_written > stuck * (caplen + 28));
	run_for(c, 1200);
	assert_int_equal(c->custody, stuck);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	wait_custody(c, N, 5000);
	assert_int_equal(on_disk(c, caplen), N);
	close_sink(c);
	signal(SIGXFSZ, SIG_DFL);
}

/* A lone record reaches custody in a few ms, not at the 100 ms flush. */
static void
test_custody_latency(void **state)
{
	struct ctx *c = *state;
	uint64_t dts[10], worst = 0;

	c->tokens = true;
	c->verify = 60;
	open_sink(c);
	for (uint32_t i = 0; i < 10; i++) {
		run_for(c, 7 * (int)i); /* different phases of the 100 ms tick */
		uint64_t t0 = pb_mono_ns();
		feed(c, i, i + 1, 60);
		wait_custody(c, i + 1, 1000);
		dts[i] = pb_mono_ns() - t0;
		worst = dts[i] > worst ? dts[i] : worst;
	}
	/* A lone record must not wait for the 100 ms flush tick. The median,
	 * not the worst: a busy machine may deschedule the writer once. */
	for (int i = 1; i < 10; i++)
		for (int j = i; j > 0 && dts[j - 1] > dts[j]; j--) {
			uint64_t t = dts[j];
			dts[j] = dts[j - 1];
			dts[j - 1] = t;
		}
	print_message("custody latency: median %.1f ms, worst %.1f ms\n", (double)dts[5] / 1e6,
	    (double)worst / 1e6);
	assert_true(dts[5] < 50 * PB_NSEC_PER_MSEC);
	assert_int_equal(c->progress_calls, 10);
	close_sink(c);
}

/* Rejected records do not hold custody back; token 0 is not tracked. */
static void
test_custody_rejected(void **state)
{
	struct ctx *c = *state;
	struct pb_record rec;

	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/cap-%%s.pcap", c->dir);
	c->cfg.format = PB_FORMAT_PCAP;
	open_sink(c);
	feed(c, 0, 20, 100); /* no tokens */
	run_for(c, 300);
	assert_int_equal(c->progress_calls, 0);
	assert_int_equal(c->sink->ops->custody(c->sink), 0);

	c->tokens = true; /* no verify: token 22 has no bytes */
	mkrec(&rec, 20, 100, 1);
	rec.token = 21;
	assert_int_equal(c->sink->ops->write(c->sink, &rec), 0);
	mkrec(&rec, 21, 100, 105); /* other linktype: rejected by a pcap file */
	rec.token = 22;
	assert_int_equal(c->sink->ops->write(c->sink, &rec), -1);
	c->sink->ops->flush(c->sink);
	wait_custody(c, 22, 1000);
	assert_int_equal(on_disk(c, 100), 21);
	/* Nothing pending: a rejection is in custody at the next flush. */
	rec.token = 23;
	assert_int_equal(c->sink->ops->write(c->sink, &rec), -1);
	c->sink->ops->flush(c->sink);
	assert_int_equal(c->custody, 23);
	close_sink(c);
}

static void
test_open_errors(void **state)
{
	struct ctx *c = *state;
	char err[256] = "";
	struct pb_sink_env env = { .loop = c->loop, .stats = &c->stats };

	c->cfg.file[0] = '\0';
	assert_null(pb_sink_file_open(&c->cfg, &env, err, sizeof(err)));
	assert_true(err[0] != '\0');
	/* A directory that cannot be created is reported at open. */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/plainfile", c->dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/plainfile/x.pcapng", c->dir);
	err[0] = '\0';
	assert_null(pb_sink_file_open(&c->cfg, &env, err, sizeof(err)));
	assert_non_null(strstr(err, "plainfile"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rotate_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_big_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_latency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcap_classic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custody_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custody_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custody_latency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custody_rejected, setup, teardown),
	};

	return cmocka_run_group_tests_name("sink_file", tests, NULL, NULL);
}
