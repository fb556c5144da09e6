/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TEST_SINK_TEST_H
#define PB_TEST_SINK_TEST_H

/*
 * Helpers for the file sink tests (test_sink_file, test_sink_recover):
 * the real sink, a real loop, real files in a temp directory. Every
 * record carries its index in its first 4 bytes and a pattern after it,
 * so what is read back proves order, completeness and byte exactness.
 * Include after <cmocka.h>.
 */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"
#include "sink.h"
#include "srcdir.h"
#include "stats.h"

#define MAXF 256

struct ctx {
	char dir[64];
	struct pb_loop *loop;
	struct pb_srcdir *srcdir;
	struct pb_sink_stats stats;
	struct pb_sink *sink;
	struct pb_dump_cfg cfg;
	int writable_calls;
	bool tokens;          /* feed() gives record i the token i + 1 */
	int progress_calls;
	uint64_t custody;     /* as last reported */
	uint32_t verify;      /* caplen: on_progress checks the files */
	/* feed(): sets more fields of record idx (links, origins). */
	void (*decorate)(struct pb_record *rec, uint32_t idx);
};

static uint8_t frame[PB_FRAME_CAP], expect[PB_FRAME_CAP];
static struct rlimit fsize_limit; /* restored after each test */

static inline void
on_writable(struct pb_sink *sink, void *arg)
{
	struct ctx *c = arg;
	c->writable_calls++;
}

static inline uint32_t on_disk(struct ctx *c, uint32_t caplen);

/* Custody only moves forward, and only over records already in the files. */
static inline void
on_progress(struct pb_sink *sink, void *arg)
{
	struct ctx *c = arg;
	uint64_t t = sink->ops->custody(sink);

	c->progress_calls++;
	assert_true(t > c->custody);
	c->custody = t;
	if (c->verify)
		assert_true(on_disk(c, c->verify) >= t);
}

static inline int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[256];

	if (!c || getrlimit(RLIMIT_FSIZE, &fsize_limit) < 0)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/pbtest-sink-XXXXXX");
	if (!mkdtemp(c->dir) || !(c->loop = pb_loop_new(err, sizeof(err))) ||
	    !(c->srcdir = pb_srcdir_new()))
		return -1;
	struct pb_node_info ni = { .node_id = 7 };
	snprintf(ni.name, sizeof(ni.name), "n7");
	struct pb_source_info si = { .node_id = 7, .source_id = 1, .linktype = 1 };
	snprintf(si.name, sizeof(si.name), "eth1");
	if (pb_srcdir_set_node(c->srcdir, &ni) < 0 || pb_srcdir_set_source(c->srcdir, &si) < 0)
		return -1;
	snprintf(c->cfg.name, sizeof(c->cfg.name), "dump");
	c->cfg.kind = PB_DUMP_FILE;
	c->cfg.format = PB_FORMAT_PCAPNG;
	c->cfg.buffer_mb = 4;
	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/cap-%%Y%%m%%d-%%H%%M%%S.pcapng", c->dir);
	*state = c;
	return 0;
}

static inline void
rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static inline int
teardown(void **state)
{
	struct ctx *c = *state;

	setrlimit(RLIMIT_FSIZE, &fsize_limit);
	if (c->sink)
		c->sink->ops->close(c->sink);
	pb_loop_free(c->loop);
	pb_srcdir_free(c->srcdir);
	rm_rf(c->dir);
	free(c);
	return 0;
}

static inline void
open_sink(struct ctx *c)
{
	char err[256] = "";
	struct pb_sink_env env = {
		.loop = c->loop, .srcdir = c->srcdir, .stats = &c->stats,
		.on_writable = on_writable, .on_writable_arg = c,
		.on_progress = on_progress, .on_progress_arg = c,
	};

	c->custody = 0;
	c->sink = pb_sink_file_open(&c->cfg, &env, err, sizeof(err));
	if (!c->sink)
		fail_msg("open: %s", err);
}

static inline void
close_sink(struct ctx *c)
{
	c->sink->ops->close(c->sink);
	c->sink = NULL;
	assert_int_equal(c->stats.state, PB_SINK_CLOSED);
	/* Records without tokens never wake anybody. */
	if (!c->tokens)
		assert_int_equal(c->progress_calls, 0);
}

static inline void
run_for(struct ctx *c, int ms)
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end)
		pb_loop_run_once(c->loop, 5);
}

static inline void
fill_into(uint8_t *buf, uint32_t idx, uint32_t caplen)
{
	memcpy(buf, &idx, sizeof(idx));
	for (uint32_t k = sizeof(idx); k < caplen; k++)
		buf[k] = (uint8_t)(idx * 31 + k);
}

static inline void
fill(uint32_t idx, uint32_t caplen)
{
	fill_into(frame, idx, caplen);
}

static inline void
mkrec(struct pb_record *rec, uint32_t idx, uint32_t caplen, uint16_t linktype)
{
	pb_record_reset(rec);
	fill(idx, caplen);
	rec->data = frame;
	rec->caplen = caplen;
	rec->origlen = caplen;
	rec->ts_ns = 1700000000ull * PB_NSEC_PER_SEC + idx * 1001ull + 7;
	rec->origin_node = 7;
	rec->origin_source = (uint16_t)(idx % 2); /* two interfaces per file */
	rec->origin_epoch = 1;
	rec->origin_seq = idx + 1;
	rec->linktype = linktype;
}

/* Writes records [from, to) as the engine would, bounded in time. */
static inline void
feed(struct ctx *c, uint32_t from, uint32_t to, uint32_t caplen)
{
	struct pb_record rec;

	for (uint32_t i = from; i < to; i++) {
		uint64_t deadline = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;
		while (!c->sink->ops->writable(c->sink)) {
			assert_true(pb_mono_ns() < deadline);
			pb_loop_run_once(c->loop, 10);
		}
		mkrec(&rec, i, caplen, 1);
		rec.token = c->tokens ? i + 1 : 0;
		if (c->decorate)
			c->decorate(&rec, i);
		assert_int_equal(c->sink->ops->write(c->sink, &rec), 0);
		if (i % 16 == 15) {
			c->sink->ops->flush(c->sink);
			pb_loop_run_once(c->loop, 0);
		}
	}
	c->sink->ops->flush(c->sink);
}

struct run {
	uint32_t first, n;
};

static inline int
run_cmp(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Walks a file that may be growing (a partial block ends the walk). */
static inline void
walk_file(const uint8_t *b, size_t size, uint32_t caplen, struct run *r)
{
	uint32_t m, len, incl;
	size_t off, hdr;

	memcpy(&m, b, sizeof(m));
	bool ng = m == 0x0a0d0d0au;
	for (off = ng ? 0 : 24; off + 16 <= size; off += len) {
		const uint8_t *d;
		if (ng) {
			memcpy(&len, b + off + 4, 4);
			if (len < 12 || off + len > size)
				break;
			memcpy(&m, b + off, 4);
			if (m != 6)
				continue;
			hdr = 28;
			memcpy(&incl, b + off + 20, 4);
		} else {
			memcpy(&incl, b + off + 8, 4);
			hdr = 16;
			len = (uint32_t)hdr + incl;
			if (off + len > size)
				break;
		}
		d = b + off + hdr;
		uint32_t idx;
		memcpy(&idx, d, sizeof(idx));
		if (!r->n)
			r->first = idx;
		assert_int_equal(idx, r->first + r->n);
		assert_int_equal(incl, caplen);
		fill_into(expect, idx, caplen);
		assert_memory_equal(d, expect, caplen);
		r->n++;
	}
}

/* n such that records 0..n-1 are in the files, complete and byte exact. */
static inline uint32_t
on_disk(struct ctx *c, uint32_t caplen)
{
	struct run runs[MAXF];
	size_t nf = 0;
	DIR *d = opendir(c->dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		struct stat st;
		if (strncmp(e->d_name, "cap-", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", c->dir, e->d_name);
		int fd = open(p, O_RDONLY);
		assert_true(fd >= 0 && fstat(fd, &st) == 0);
		uint8_t *b = malloc((size_t)st.st_size + 1);
		assert_non_null(b);
		ssize_t got = read(fd, b, (size_t)st.st_size);
		close(fd);
		assert_true(nf < MAXF);
		runs[nf] = (struct run){ 0, 0 };
		if (got >= 24)
			walk_file(b, (size_t)got, caplen, &runs[nf]);
		free(b);
		if (runs[nf].n)
			nf++;
	}
	closedir(d);
	qsort(runs, nf, sizeof(*runs), run_cmp);
	uint32_t next = 0;
	for (size_t i = 0; i < nf && runs[i].first == next; i++)
		next += runs[i].n;
	return next;
}

static inline void
wait_custody(struct ctx *c, uint64_t token, int max_ms)
{
	uint64_t deadline = pb_mono_ns() + (uint64_t)max_ms * PB_NSEC_PER_MSEC;

	while (c->custody < token) {
		assert_true(pb_mono_ns() < deadline);
		pb_loop_run_once(c->loop, 5);
	}
}

#endif
