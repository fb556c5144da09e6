/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dlq_store.h"
#include "loop.h"

/*
 * DLQ store throughput, without the engine: N puts of 150-byte blobs
 * (default 200000, or argv[1], or PB_DLQ_BENCH_ROWS) until committed, then
 * fetch + delete pages of 4096 until the table is empty. Prints rows/s and
 * CPU per row; fails only when rows go missing. Run by `make bench`.
 */

struct bench {
	struct pb_loop *loop;
	struct pb_dlq *d;
	uint64_t committed_token, failed;
	bool replaying, replay_done;
	uint64_t replayed;
};

static void
on_result(void *arg, const struct pb_dlq_result *r)
{
	struct bench *b = arg;
	if (r->type == PB_DLQ_PUT_COMMITTED) {
		b->committed_token = r->token;
		if (r->status != 0)
			b->failed += r->count;
	} else if (r->type == PB_DLQ_FETCHED && b->replaying) {
		uint64_t ids[PB_DLQ_FETCH_MAX];
		if (r->status != 0 || r->count == 0) {
			b->replay_done = true;
			return;
		}
		for (size_t i = 0; i < r->count; i++)
			ids[i] = r->rows[i].id;
		b->replayed += r->count;
		/* Delete what came and ask for the next page at once. */
		if (pb_dlq_delete(b->d, ids, r->count) < 0 ||
		    pb_dlq_fetch(b->d, NULL, ids[r->count - 1], (uint32_t)r->count, 0) < 0)
			b->replay_done = true;
	}
}

static uint64_t
cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * PB_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int
run(struct bench *b, const char *path, uint64_t n)
{
	struct pb_dlq_cfg cfg = { .path = path };
	struct pb_dlq_stats_snapshot st;
	struct pb_dlq_meta m = { .origin_node = 7, .reason = PB_DLQ_OVERFLOW };
	uint8_t blob[150];
	uint64_t tok = 0, retries = 0;
	char err[256];

	if (!(b->d = pb_dlq_open(&cfg, b->loop, on_result, b, err, sizeof(err)))) {
		fprintf(stderr, "bench_dlq: %s\n", err);
		return -1;
	}
	snprintf(m.peer, sizeof(m.peer), "peer-bench");
	memset(blob, 0xab, sizeof(blob));
	uint64_t c0 = cpu_ns(), t0 = pb_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		m.origin_seq = i;
		m.capture_ns = i;
		while (pb_dlq_put(b->d, &m, blob, sizeof(blob), &tok) < 0) {
			retries++;
			pb_loop_run_once(b->loop, 1);
		}
		if ((i & 1023) == 0)
			pb_loop_run_once(b->loop, 0);
	}
	uint64_t t1 = pb_mono_ns();
	while (b->committed_token < tok)
		pb_loop_run_once(b->loop, 20);
	uint64_t t2 = pb_mono_ns(), c1 = cpu_ns();
	pb_dlq_get_stats(b->d, &st);
	if (st.rows != n || b->failed) {
		fprintf(stderr, "bench_dlq: %" PRIu64 " rows committed of %" PRIu64 " (%" PRIu64
		    " failed): %s\n", st.rows, n, b->failed, st.last_error);
		return -1;
	}
	printf("spill: %" PRIu64 " rows in %.3f s = %.0f rows/s committed (put side %.0f ns/put,"
	       " %.2f us CPU/row, %" PRIu64 " commits, %" PRIu64 " queue-full retries)\n",
	    n, (double)(t2 - t0) / 1e9, (double)n * 1e9 / (double)(t2 - t0),
	    (double)(t1 - t0) / (double)n, (double)(c1 - c0) / 1e3 / (double)n, st.commits,
	    retries);
	struct stat sb;
	if (stat(path, &sb) == 0)
		printf("database file: %.0f bytes/row on disk (+ WAL), %.0f accounted/row\n",
		    (double)sb.st_size / (double)n, (double)st.bytes / (double)n);

	b->replaying = true;
	c0 = cpu_ns();
	t0 = pb_mono_ns();
	if (pb_dlq_fetch(b->d, NULL, 0, 4096, 0) < 0)
		return -1;
	while (!b->replay_done)
		pb_loop_run_once(b->loop, 20);
	uint64_t end = pb_mono_ns() + 60 * PB_NSEC_PER_SEC;
	do { /* the last delete's result */
		pb_loop_run_once(b->loop, 10);
		pb_dlq_get_stats(b->d, &st);
	} while (st.rows != 0 && pb_mono_ns() < end);
	t1 = pb_mono_ns();
	c1 = cpu_ns();
	if (b->replayed != n || st.deleted != n) {
		fprintf(stderr, "bench_dlq: %" PRIu64 " rows replayed, %" PRIu64 " deleted, of %"
		    PRIu64 "\n", b->replayed, st.deleted, n);
		return -1;
	}
	printf("replay: %" PRIu64 " rows fetched + deleted in %.3f s = %.0f rows/s (%.2f us"
	       " CPU/row)\n", n, (double)(t1 - t0) / 1e9, (double)n * 1e9 / (double)(t1 - t0),
	    (double)(c1 - c0) / 1e3 / (double)n);
	pb_dlq_close(b->d);
	b->d = NULL;
	if (stat(path, &sb) == 0)
		printf("file size after replay, vacuum and checkpoint: %lld bytes\n",
		    (long long)sb.st_size);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *env = getenv("PB_DLQ_BENCH_ROWS");
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : env ? strtoull(env, NULL, 10) : 200000;
	const char *base = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
	struct bench b = { 0 };

	if (n == 0) {
		fprintf(stderr, "usage: bench_dlq [ROWS]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/pb-bench-dlq-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("bench_dlq: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/dlq.db", dir);
	if (!(b.loop = pb_loop_new(err, sizeof(err)))) {
		fprintf(stderr, "bench_dlq: %s\n", err);
		return 1;
	}
	int rc = run(&b, path, n);
	if (b.d)
		pb_dlq_close(b.d);
	pb_loop_free(b.loop);
	/* The database and what SQLite keeps next to it. */
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char f[PATH_MAX + 32];
		snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
		unlink(f);
	}
	rmdir(dir);
	return rc == 0 ? 0 : 1;
}
