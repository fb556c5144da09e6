/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "dlq_store.h"
#include "loop.h"
#include "dlq_test.h"

#define MAXROWS 512

struct got_row {
	uint64_t id;
	struct pb_dlq_meta meta;
	uint32_t attempts;
	uint8_t blob[64];
	size_t len;
};

/* What the result callback saw. */
struct ctx {
	uint64_t token, committed, inserted, failed_puts, commit_results;
	int fetches;
	uint64_t fetch_request;
	bool more;
	size_t nrows;
	struct got_row rows[MAXROWS];
	int deletes;
	uint64_t deleted, delete_request;
	bool purge;
};

struct fx {
	char dir[64];
	char path[PATH_MAX];
	struct pb_loop *loop;
	struct ctx c;
};

static void
on_result(void *arg, const struct pb_dlq_result *r)
{
	struct ctx *c = arg;
	switch (r->type) {
	case PB_DLQ_PUT_COMMITTED:
		assert_true(r->token >= r->first_token);
		assert_true(r->first_token > c->token); /* in order, no overlap */
		assert_int_equal(r->token - r->first_token + 1, r->count);
		c->token = r->token;
		c->commit_results++;
		if (r->status == 0) {
			c->committed += r->count;
			c->inserted += r->inserted;
		} else {
			c->failed_puts += r->count;
		}
		break;
	case PB_DLQ_FETCHED:
		assert_int_equal(r->status, 0);
		c->fetches++;
		c->fetch_request = r->request_id;
		c->more = r->more;
		c->nrows = 0;
		for (size_t i = 0; i < r->count && i < MAXROWS; i++) {
			struct got_row *g = &c->rows[c->nrows++];
			g->id = r->rows[i].id;
			g->meta = r->rows[i].meta;
			g->attempts = r->rows[i].attempts;
			g->len = r->rows[i].len;
			memcpy(g->blob, r->rows[i].blob,
			    g->len < sizeof(g->blob) ? g->len : sizeof(g->blob));
			if (i > 0)
				assert_true(r->rows[i].id > r->rows[i - 1].id);
		}
		break;
	case PB_DLQ_DELETED:
		assert_int_equal(r->status, 0);
		c->deletes++;
		c->deleted += r->count;
		c->delete_request = r->request_id;
		c->purge = r->purge;
		break;
	}
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/pbdlq.XXXXXX");
	f->loop = dlq_test_begin(f->dir);
	/* A nested path: pb_dlq_open creates the directories. */
	snprintf(f->path, sizeof(f->path), "%s/var/dlq/dlq.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	dlq_test_end(f->dir, f->loop);
	free(f);
	return 0;
}

static struct pb_dlq *
open_cfg(struct fx *f, const struct pb_dlq_cfg *cfg0)
{
	char err[256] = "";
	struct pb_dlq_cfg cfg = cfg0 ? *cfg0 : (struct pb_dlq_cfg){ .queue_bytes = 4 << 20 };
	cfg.path = f->path;
	struct pb_dlq *d = pb_dlq_open(&cfg, f->loop, on_result, &f->c, err, sizeof(err));
	if (d == NULL)
		fail_msg("open: %s", err);
	return d;
}

static void
meta_for(struct pb_dlq_meta *m, const char *peer, uint32_t node, uint64_t seq, int reason)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->peer, sizeof(m->peer), "%s", peer);
	m->origin_node = node;
	m->origin_source = (uint16_t)(seq % 7);
	m->origin_epoch = 1000 + node;
	m->origin_seq = seq;
	m->capture_ns = 1000000 + seq * 10;
	m->enqueue_ns = 5000000 + seq;
	m->reason = (uint8_t)reason;
}

/* Puts one record whose blob encodes seq; returns its token. */
static uint64_t
put_seq(struct pb_dlq *d, const char *peer, uint32_t node, uint64_t seq, int reason)
{
	struct pb_dlq_meta m;
	uint8_t blob[24];
	uint64_t tok = 0;
	meta_for(&m, peer, node, seq, reason);
	memset(blob, (int)(seq & 0xff), sizeof(blob));
	memcpy(blob, &seq, sizeof(seq));
	assert_int_equal(pb_dlq_put(d, &m, blob, sizeof(blob), &tok), 0);
	return tok;
}

static void
test_reason_names(void **state)
{
	for (int r = 0; r < PB_DLQ_REASON_COUNT; r++)
		assert_int_equal(pb_dlq_reason_from_name(pb_dlq_reason_name(r)), r);
	assert_string_equal(pb_dlq_reason_name(PB_DLQ_PEER_REMOVED), "peer_removed");
	assert_null(pb_dlq_reason_name(PB_DLQ_REASON_COUNT));
	assert_int_equal(pb_dlq_reason_from_name("bogus"), -1);
	assert_int_equal(pb_dlq_reason_from_name(NULL), -1);
}

struct list_acc {
	size_t n;
	struct pb_dlq_row rows[MAXROWS];
};

static int
list_each(void *arg, const struct pb_dlq_row *row)
{
	struct list_acc *a = arg;
	assert_null(row->blob);
	if (a->n < MAXROWS)
		a->rows[a->n++] = *row;
	return 0;
}

static void
test_put_commit_and_list(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = open_cfg(f, NULL);
	uint64_t last = 0;
	for (uint64_t i = 0; i < 10; i++) {
		uint64_t t = put_seq(d, "peer-a", 3, i, PB_DLQ_OVERFLOW);
		assert_true(t == last + 1);
		last = t;
	}
	WAIT(f, f->c.token == last);
	assert_int_equal(f->c.committed, 10);
	assert_int_equal(f->c.inserted, 10);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 10);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.bytes, 10 * (24 + PB_DLQ_ROW_OVERHEAD + strlen("peer-a")));
	assert_string_equal(st.last_error, "");

	/* Invalid puts are rejected, not counted as refusals. */
	struct pb_dlq_meta m;
	uint8_t b = 1;
	meta_for(&m, "", 1, 1, 0);
	assert_int_equal(pb_dlq_put(d, &m, &b, 1, NULL), -1);
	assert_int_equal(errno, EINVAL);
	meta_for(&m, "x", 1, 1, PB_DLQ_REASON_COUNT);
	assert_int_equal(pb_dlq_put(d, &m, &b, 1, NULL), -1);
	meta_for(&m, "x", 1, 1, 0);
	assert_int_equal(pb_dlq_put(d, &m, &b, 0, NULL), -1);

	struct list_acc *a = calloc(1, sizeof(*a));
	char err[256];
	uint64_t total = 0;
	assert_int_equal(pb_dlq_list(f->path, NULL, 2, 5, list_each, a, &total, err, sizeof(err)), 0);
	assert_int_equal(total, 10);
	assert_int_equal(a->n, 5);
	assert_int_equal(a->rows[0].meta.origin_seq, 2);
	assert_string_equal(a->rows[0].meta.peer, "peer-a");
	assert_int_equal(a->rows[0].meta.origin_node, 3);
	assert_int_equal(a->rows[0].meta.origin_source, 2);
	assert_int_equal(a->rows[0].meta.origin_epoch, 1003);
	assert_int_equal(a->rows[0].meta.capture_ns, 1000020);
	assert_int_equal(a->rows[0].meta.enqueue_ns, 5000002);
	assert_int_equal(a->rows[0].meta.reason, PB_DLQ_OVERFLOW);
	assert_int_equal(a->rows[0].len, 24);
	assert_int_equal(a->rows[0].attempts, 0);
	assert_true(a->rows[4].id > a->rows[0].id);
	free(a);
	pb_dlq_close(d);
}

static void
test_duplicate_put_idempotent(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = open_cfg(f, NULL);
	put_seq(d, "p", 1, 42, PB_DLQ_TIMEOUT);
	put_seq(d, "p", 1, 42, PB_DLQ_TIMEOUT); /* same key, same batch */
	uint64_t t = put_seq(d, "q", 1, 42, PB_DLQ_TIMEOUT); /* other peer: distinct */
	WAIT(f, f->c.token == t);
	t = put_seq(d, "p", 1, 42, PB_DLQ_SHUTDOWN); /* re-spill after commit */
	WAIT(f, f->c.token == t);
	assert_int_equal(f->c.committed, 4);
	assert_int_equal(f->c.inserted, 2);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 2);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.bytes, 2 * (24 + PB_DLQ_ROW_OVERHEAD + 1));

	/* Puts are inserted 16 to a statement: duplicates inside one (and of
	 * rows already stored), blobs of different sizes, are accounted
	 * row by row. */
	struct pb_dlq_meta m;
	uint8_t blob[100] = { 0 };
	uint64_t want = st.bytes, fresh = 0;
	for (uint64_t i = 0; i < 100; i++) {
		uint64_t seq = i % 3 == 2 ? i - 1 : i; /* every third repeats */
		if (i == 99)
			seq = 42; /* stored by the puts above (so is i == 42) */
		meta_for(&m, "p", 1, seq, PB_DLQ_TIMEOUT);
		size_t len = 1 + seq % sizeof(blob);
		assert_int_equal(pb_dlq_put(d, &m, blob, len, &t), 0);
		if (seq == i && seq != 42) {
			want += len + PB_DLQ_ROW_OVERHEAD + 1;
			fresh++;
		}
	}
	WAIT(f, f->c.token == t);
	assert_int_equal(f->c.committed, 104);
	assert_int_equal(f->c.inserted, 2 + fresh);
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 2 + fresh);
	assert_int_equal(st.bytes, want);
	sqlite3 *db = raw_open(f->path);
	assert_int_equal(raw_int(db, "SELECT sum(bytes) FROM dlq"), (int64_t)want);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM dlq WHERE length(record) <> "
	    "1 + origin_seq % 100 AND peer = 'p' AND origin_seq <> 42"), 0);
	sqlite3_close(db);
	pb_dlq_close(d);
}

/* 40 rows: peers a/b alternate, node = seq % 4 + 1, reason = seq % 4. */
static struct pb_dlq *
fill40(struct fx *f)
{
	struct pb_dlq *d = open_cfg(f, NULL);
	uint64_t t = 0;
	for (uint64_t i = 0; i < 40; i++)
		t = put_seq(d, i % 2 ? "b" : "a", (uint32_t)(i % 4 + 1), i, (int)(i % 4));
	WAIT(f, f->c.token == t);
	return d;
}

static size_t
fetch_all(struct fx *f, struct pb_dlq *d, const struct pb_dlq_filter *flt, uint64_t req)
{
	int before = f->c.fetches;
	assert_int_equal(pb_dlq_fetch(d, flt, 0, 100, req), 0);
	WAIT(f, f->c.fetches == before + 1);
	assert_int_equal(f->c.fetch_request, req);
	return f->c.nrows;
}

static void
test_fetch_filters_and_pages(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = fill40(f);
	struct pb_dlq_filter flt = { 0 };

	assert_int_equal(fetch_all(f, d, &flt, 1), 40);
	for (size_t i = 0; i < 40; i++) {
		uint64_t seq;
		memcpy(&seq, f->c.rows[i].blob, sizeof(seq));
		assert_int_equal(seq, i);
		assert_int_equal(f->c.rows[i].meta.origin_seq, i);
		assert_int_equal(f->c.rows[i].len, 24);
		assert_int_equal(f->c.rows[i].blob[23], i);
		assert_int_equal(f->c.rows[i].attempts, 1);
	}
	uint64_t id0 = f->c.rows[0].id;
	assert_int_equal(fetch_all(f, d, &flt, 2), 40);
	assert_int_equal(f->c.rows[0].attempts, 2); /* attempts counted per fetch */

	snprintf(flt.peer, sizeof(flt.peer), "b");
	assert_int_equal(fetch_all(f, d, &flt, 3), 20);
	for (size_t i = 0; i < 20; i++)
		assert_string_equal(f->c.rows[i].meta.peer, "b");

	flt = (struct pb_dlq_filter){ .by_node = true, .origin_node = 2 };
	assert_int_equal(fetch_all(f, d, &flt, 4), 10);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(f->c.rows[i].meta.origin_node, 2);

	flt = (struct pb_dlq_filter){ .by_reason = true, .reason = PB_DLQ_PEER_REMOVED };
	assert_int_equal(fetch_all(f, d, &flt, 5), 10);
	assert_int_equal(f->c.rows[0].meta.origin_seq, 3);

	/* capture_ns = 1000000 + 10 * seq: seq 5..9 inclusive. */
	flt = (struct pb_dlq_filter){ .capture_min_ns = 1000050, .capture_max_ns = 1000090 };
	assert_int_equal(fetch_all(f, d, &flt, 6), 5);
	assert_int_equal(f->c.rows[0].meta.origin_seq, 5);
	flt = (struct pb_dlq_filter){ .capture_min_ns = 1000350 };
	assert_int_equal(fetch_all(f, d, &flt, 7), 5);

	flt = (struct pb_dlq_filter){ .id_min = id0 + 10, .id_max = id0 + 12 };
	assert_int_equal(fetch_all(f, d, &flt, 8), 3);
	assert_int_equal(f->c.rows[0].id, id0 + 10);

	/* Combined filters. */
	flt = (struct pb_dlq_filter){ .by_node = true, .origin_node = 2, .id_max = id0 + 20 };
	snprintf(flt.peer, sizeof(flt.peer), "b");
	assert_int_equal(fetch_all(f, d, &flt, 9), 5); /* seq 1, 5, 9, 13, 17 */

	/* Pagination with after_id. */
	uint64_t after = 0, seen = 0;
	int pages = 0;
	do {
		int before = f->c.fetches;
		assert_int_equal(pb_dlq_fetch(d, NULL, after, 7, 10), 0);
		WAIT(f, f->c.fetches == before + 1);
		for (size_t i = 0; i < f->c.nrows; i++)
			assert_int_equal(f->c.rows[i].meta.origin_seq, seen + i);
		seen += f->c.nrows;
		if (f->c.nrows)
			after = f->c.rows[f->c.nrows - 1].id;
		pages++;
	} while (f->c.more);
	assert_int_equal(seen, 40);
	assert_int_equal(pages, 6); /* 5 full pages of 7 + 5 */

	assert_int_equal(pb_dlq_fetch(d, NULL, 0, 0, 1), -1);
	assert_int_equal(pb_dlq_fetch(d, NULL, 0, PB_DLQ_FETCH_MAX + 1, 1), -1);
	pb_dlq_close(d);
}

/* Sum of the attempts pb_dlq_list shows (rows: how many rows). */
static uint64_t
listed_attempts(struct fx *f, uint64_t *rows)
{
	struct list_acc *a = calloc(1, sizeof(*a));
	char err[256];
	uint64_t sum = 0;
	assert_int_equal(pb_dlq_list(f->path, NULL, 0, 0, list_each, a, NULL, err, sizeof(err)), 0);
	for (size_t i = 0; i < a->n; i++)
		sum += a->rows[i].attempts;
	*rows = a->n;
	free(a);
	return sum;
}

static void
test_attempts_written_later(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = fill40(f);
	uint64_t after = 0, ids[12], rows = 0;

	/* A replay's pages, the first one acknowledged and deleted. */
	for (int page = 0; page < 4; page++) {
		int before = f->c.fetches;
		assert_int_equal(pb_dlq_fetch(d, NULL, after, 10, 1), 0);
		WAIT(f, f->c.fetches == before + 1);
		assert_int_equal(f->c.nrows, 10);
		assert_int_equal(f->c.rows[0].attempts, 1);
		after = f->c.rows[9].id;
		for (int i = 0; page == 0 && i < 10; i++)
			ids[i] = f->c.rows[i].id;
	}
	/* A run of ids is one range; a repeated and an unknown id count not. */
	ids[10] = ids[9];
	ids[11] = 999999;
	assert_int_equal(pb_dlq_delete(d, ids, 12), 0);
	WAIT(f, f->c.deletes == 1);
	assert_int_equal(f->c.deleted, 10);
	/* Written without another command, within about a second. */
	WAIT(f, listed_attempts(f, &rows) == 30);
	assert_int_equal(rows, 30);
	/* Fetched twice: counted twice; close writes what still waits. */
	assert_int_equal(fetch_all(f, d, NULL, 2), 30);
	assert_int_equal(f->c.rows[0].attempts, 2);
	assert_int_equal(fetch_all(f, d, NULL, 3), 30);
	assert_int_equal(f->c.rows[29].attempts, 3);
	pb_dlq_close(d);
	assert_int_equal(listed_attempts(f, &rows), 90);
}

static void
test_delete_and_purge(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = fill40(f);
	struct pb_dlq_filter flt = { .by_node = true, .origin_node = 1 };

	assert_int_equal(fetch_all(f, d, &flt, 1), 10);
	uint64_t ids[11];
	for (size_t i = 0; i < 10; i++)
		ids[i] = f->c.rows[i].id;
	ids[10] = 999999; /* unknown id: ignored */
	assert_int_equal(pb_dlq_delete(d, ids, 11), 0);
	WAIT(f, f->c.deletes == 1);
	assert_int_equal(f->c.deleted, 10);
	assert_false(f->c.purge);
	assert_int_equal(fetch_all(f, d, &flt, 2), 0);

	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 30);
	assert_int_equal(st.deleted, 10);
	assert_int_equal(st.bytes, 30 * (24 + PB_DLQ_ROW_OVERHEAD + 1));

	flt = (struct pb_dlq_filter){ 0 };
	snprintf(flt.peer, sizeof(flt.peer), "a");
	assert_int_equal(pb_dlq_purge(d, &flt, 77), 0);
	WAIT(f, f->c.deletes == 2);
	assert_true(f->c.purge);
	assert_int_equal(f->c.delete_request, 77);
	/* peer a = even seqs, of which node 1 (seq % 4 == 0) was already deleted */
	assert_int_equal(f->c.deleted, 10 + 10);
	assert_int_equal(fetch_all(f, d, NULL, 3), 20);
	for (size_t i = 0; i < 20; i++)
		assert_string_equal(f->c.rows[i].meta.peer, "b");

	/* Ids go 16 to a statement: repeated and unknown ids among them
	 * count once and not at all. */
	uint64_t many[43];
	for (size_t i = 0; i < 40; i++)
		many[i] = f->c.rows[i % 20].id;
	many[40] = 0;
	many[41] = 999999;
	many[42] = UINT64_MAX;
	assert_int_equal(pb_dlq_delete(d, many, 43), 0);
	WAIT(f, f->c.deletes == 3);
	assert_int_equal(f->c.deleted, 20 + 20);
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.deleted, 40);

	assert_int_equal(pb_dlq_purge(d, NULL, 78), 0);
	WAIT(f, f->c.deletes == 4);
	assert_int_equal(f->c.deleted, 40);
	pb_dlq_close(d);

	sqlite3 *db = raw_open(f->path);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM dlq"), 0);
	sqlite3_close(db);
}

static void
test_max_bytes_refused(void **state)
{
	struct fx *f = *state;
	const uint64_t row = 24 + PB_DLQ_ROW_OVERHEAD + 1;
	struct pb_dlq_cfg cfg = { .max_bytes = 10 * row + row / 2 };
	struct pb_dlq *d = open_cfg(f, &cfg);
	struct pb_dlq_meta m;
	uint8_t blob[24] = { 0 };
	uint64_t tok = 0;
	int ok = 0, refused = 0;

	for (uint64_t i = 0; i < 15; i++) {
		meta_for(&m, "p", 1, i, 0);
		if (pb_dlq_put(d, &m, blob, sizeof(blob), &tok) == 0) {
			ok++;
		} else {
			assert_int_equal(errno, ENOSPC);
			refused++;
		}
	}
	assert_int_equal(ok, 10); /* queued bytes count against the cap too */
	assert_int_equal(refused, 5);
	WAIT(f, f->c.token == tok);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.refused_full, 5);
	assert_int_equal(st.rows, 10);
	assert_true(st.bytes <= cfg.max_bytes);

	/* Space freed by a delete is usable again. */
	assert_int_equal(fetch_all(f, d, NULL, 1), 10);
	uint64_t id = f->c.rows[0].id;
	assert_int_equal(pb_dlq_delete(d, &id, 1), 0);
	WAIT(f, f->c.deletes == 1);
	meta_for(&m, "p", 1, 100, 0);
	assert_int_equal(pb_dlq_put(d, &m, blob, sizeof(blob), &tok), 0);
	meta_for(&m, "p", 1, 101, 0);
	assert_int_equal(pb_dlq_put(d, &m, blob, sizeof(blob), NULL), -1);
	WAIT(f, f->c.token == tok);
	pb_dlq_close(d);

	sqlite3 *db = raw_open(f->path);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM dlq"), 10);
	assert_true((uint64_t)raw_int(db, "SELECT sum(bytes) FROM dlq") <= cfg.max_bytes);
	sqlite3_close(db);

	/* Lifetime refusals survive the restart. */
	d = open_cfg(f, &cfg);
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.refused_full, 0);
	assert_int_equal(st.lifetime_refused_full, 6);
	assert_int_equal(st.rows, 10);
	pb_dlq_close(d);
}

static void
test_queue_full_refused_then_drained(void **state)
{
	struct fx *f = *state;
	struct pb_dlq_cfg cfg = { .queue_bytes = 1, .busy_ms = 50 }; /* rounded up to 2 MiB */
	struct pb_dlq *d = open_cfg(f, &cfg);
	struct pb_dlq_meta m;
	static uint8_t blob[4000];
	uint64_t tok = 0, accepted = 0, refused = 0;

	/* Another connection holds the write lock: the writer cannot commit. */
	sqlite3 *db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (uint64_t i = 0; i < 1000; i++) {
		meta_for(&m, "p", 1, i, 0);
		if (pb_dlq_put(d, &m, blob, sizeof(blob), &tok) == 0) {
			accepted++;
		} else {
			assert_int_equal(errno, ENOBUFS);
			refused++;
		}
	}
	assert_true(accepted > 100 && accepted < 600);
	assert_int_equal(accepted + refused, 1000);
	/* Control commands still fit in the reserve. */
	assert_int_equal(pb_dlq_fetch(d, NULL, 0, 1, 5), 0);
	/* Hold the lock until the writer has failed to take it: a fixed wait
	 * can end before a descheduled writer even tried (loaded machine). */
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	uint64_t end = pb_mono_ns() + 30 * PB_NSEC_PER_SEC;
	while (st.errors == 0 && pb_mono_ns() < end) {
		pb_loop_run_once(f->loop, 20);
		pb_dlq_get_stats(d, &st);
	}
	assert_int_equal(f->c.token, 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	WAIT(f, f->c.token == tok && f->c.fetches == 1);
	assert_int_equal(f->c.committed, accepted);
	assert_int_equal(f->c.failed_puts, 0);
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.refused_queue, refused);
	assert_int_equal(st.rows, accepted);
	assert_true(st.errors > 0); /* BEGIN IMMEDIATE timed out at least once */
	assert_non_null(strstr(st.last_error, "locked"));
	pb_dlq_close(d);
}

static void
test_close_commits_queued_and_reopen(void **state)
{
	struct fx *f = *state;
	struct pb_dlq_cfg cfg = { .batch_ms = 50, .batch_rows = 100000, .sync_full = true };
	struct pb_dlq *d = open_cfg(f, &cfg);
	for (uint64_t i = 0; i < 300; i++)
		put_seq(d, "p", 9, i, PB_DLQ_SHUTDOWN);
	pb_dlq_close(d); /* without waiting for the commit */

	d = open_cfg(f, NULL);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 300);
	assert_int_equal(st.bytes, 300 * (24 + PB_DLQ_ROW_OVERHEAD + 1));
	/* Ids keep increasing across restarts. */
	assert_int_equal(fetch_all(f, d, NULL, 1), 100);
	uint64_t last = f->c.rows[99].id;
	uint64_t t = put_seq(d, "p", 9, 1000, PB_DLQ_SHUTDOWN);
	WAIT(f, f->c.token == t);
	struct pb_dlq_filter flt = { .id_min = last + 1 };
	assert_int_equal(fetch_all(f, d, &flt, 2), 100);
	pb_dlq_close(d);
}

static void
test_crash_durability(void **state)
{
	struct fx *f = *state;
	const uint64_t n = 2000, extra = 3000;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		struct ctx *c = calloc(1, sizeof(*c));
		struct pb_loop *loop = pb_loop_new(err, sizeof(err));
		struct pb_dlq_cfg cfg = { .path = f->path };
		struct pb_dlq *d = loop && c ? pb_dlq_open(&cfg, loop, on_result, c, err, sizeof(err))
					     : NULL;
		struct pb_dlq_meta m;
		uint8_t blob[150] = { 0 };
		if (d == NULL)
			_exit(2);
		for (uint64_t i = 0; i < n + extra; i++) {
			meta_for(&m, "crash", 1, i, PB_DLQ_TIMEOUT);
			while (pb_dlq_put(d, &m, blob, sizeof(blob), NULL) < 0)
				pb_loop_run_once(loop, 1);
			/* Once the first n are durable, die mid-stream like kill -9. */
			if (i == n - 1) {
				uint64_t end = pb_mono_ns() + 30 * PB_NSEC_PER_SEC;
				while (c->token < n && pb_mono_ns() < end)
					pb_loop_run_once(loop, 10);
				if (c->token < n || c->committed != c->token)
					_exit(3);
			}
		}
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("child exited with %d", WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	/* The management reader copes with the hot WAL left by the crash. */
	char err[256];
	uint64_t total = 0;
	if (pb_dlq_list(f->path, NULL, 0, 0, NULL, NULL, &total, err, sizeof(err)) < 0)
		fail_msg("list after crash: %s", err);
	assert_true(total >= n);

	struct pb_dlq *d = open_cfg(f, NULL);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, total);
	printf("# crash: %llu rows committed before kill -9 (%llu acknowledged)\n",
	    (unsigned long long)st.rows, (unsigned long long)n);
	assert_true(st.rows >= n && st.rows <= n + extra);
	pb_dlq_close(d);
	sqlite3 *db = raw_open(f->path);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM dlq WHERE origin_seq < 2000"), n);
	assert_int_equal(raw_int(db, "SELECT max(origin_seq) + 1 - count(*) FROM dlq"), 0);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void
test_refuses_foreign_or_newer_db(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct pb_dlq_cfg cfg = { .path = f->path };
	pb_dlq_close(open_cfg(f, NULL));

	sqlite3 *db = raw_open(f->path);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", PB_DLQ_SCHEMA_VERSION + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(pb_dlq_open(&cfg, f->loop, on_result, &f->c, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
	err[0] = '\0';
	assert_int_equal(pb_dlq_list(f->path, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "newer"));

	/* An unrelated SQLite database, and a file that is not SQLite at all. */
	snprintf(f->path, sizeof(f->path), "%s/other.db", f->dir);
	cfg.path = f->path;
	db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(pb_dlq_open(&cfg, f->loop, on_result, &f->c, err, sizeof(err)));
	assert_non_null(strstr(err, "without a packetbroker"));

	snprintf(f->path, sizeof(f->path), "%s/junk.db", f->dir);
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", fp);
	fclose(fp);
	assert_null(pb_dlq_open(&cfg, f->loop, on_result, &f->c, err, sizeof(err)));
	assert_non_null(strstr(err, "not a database"));
	assert_int_equal(pb_dlq_list(f->dir, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)), -1);
}

struct lister {
	const char *path;
	atomic_int stop;
	int calls, errors, disorder;
	uint64_t last_total, max_rows;
};

struct order_chk {
	uint64_t prev;
	int bad, n;
};

static int
lister_row(void *arg, const struct pb_dlq_row *row)
{
	struct order_chk *o = arg;
	if (row->id <= o->prev)
		o->bad++;
	o->prev = row->id;
	o->n++;
	return 0;
}

static void *
lister_main(void *arg)
{
	struct lister *l = arg;
	char err[256];
	do {
		uint64_t total = 0;
		struct order_chk o = { 0 };
		if (pb_dlq_list(l->path, NULL, 0, 200, lister_row, &o, &total, err,
			sizeof(err)) < 0) {
			l->errors++;
			fprintf(stderr, "list: %s\n", err);
		}
		if (total < l->last_total || o.bad || o.n != (int)(total < 200 ? total : 200))
			l->disorder++;
		l->last_total = total;
		l->calls++;
	} while (!atomic_load(&l->stop));
	return NULL;
}

static void
test_list_while_writing(void **state)
{
	struct fx *f = *state;
	struct pb_dlq *d = open_cfg(f, NULL);
	struct lister l = { .path = f->path };
	pthread_t th;
	uint64_t t = 0;
	assert_int_equal(pthread_create(&th, NULL, lister_main, &l), 0);
	for (uint64_t i = 0; i < 5000; i++) {
		t = put_seq(d, "p", 2, i, PB_DLQ_OVERFLOW);
		if (i % 250 == 0)
			pb_loop_run_once(f->loop, 2);
	}
	WAIT(f, f->c.token == t);
	atomic_store(&l.stop, 1);
	pthread_join(th, NULL);
	assert_int_equal(l.errors, 0);
	assert_int_equal(l.disorder, 0);
	assert_true(l.calls > 0);

	/* Cost of the open-per-call design. */
	char err[256];
	uint64_t total = 0, t0 = pb_mono_ns();
	for (int i = 0; i < 50; i++) {
		struct order_chk o = { 0 };
		assert_int_equal(pb_dlq_list(f->path, NULL, 0, 10, lister_row, &o, &total, err,
					 sizeof(err)), 0);
		assert_int_equal(o.n, 10);
	}
	assert_int_equal(total, 5000);
	printf("# list: %d concurrent calls; %.0f us per call (open + count + 10 rows)\n",
	    l.calls, (double)(pb_mono_ns() - t0) / 50 / 1000);
	pb_dlq_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test_setup_teardown(test_put_commit_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_put_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_filters_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_written_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_bytes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full_refused_then_drained, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_commits_queued_and_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_foreign_or_newer_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_while_writing, setup, teardown),
	};
	return cmocka_run_group_tests_name("dlq", tests, NULL, NULL);
}
