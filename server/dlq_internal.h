/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_DLQ_INTERNAL_H
#define PB_DLQ_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "dlq_store.h"
#include "loop.h"

/*
 * Internals shared by dlq_store.c (public API: open/close, the producer side
 * of the ring, stats, pb_dlq_list) and dlq_writer.c (the writer thread and
 * result publication).
 *
 * Layout: producers append variable-size entries to a byte ring (single
 * consumer: the writer thread); the writer executes them in order inside
 * batched transactions and publishes results to a mutex-protected list that
 * the loop thread drains on an eventfd. See dlq_store.h for the contract.
 */

/* Ring entries; sizes are multiples of 8 so every entry stays aligned. */
enum { ENT_PAD = 1, ENT_PUT, ENT_FETCH, ENT_DELETE, ENT_PURGE };
struct ent {
	uint32_t type, size;
} __attribute__((aligned(8)));
struct ent_put {
	struct ent h;
	uint32_t len, pad;
	uint64_t token, rowbytes;
	struct pb_dlq_meta meta;
	uint8_t blob[];
};
struct ent_fetch {
	struct ent h;
	uint32_t max_rows, pad;
	uint64_t after_id, request_id;
	struct pb_dlq_filter f;
};
struct ent_ids {
	struct ent h;
	uint32_t n, pad;
	uint64_t ids[];
};
struct ent_purge {
	struct ent h;
	uint64_t request_id;
	struct pb_dlq_filter f;
};

struct res {
	struct res *next;
	struct pb_dlq_result r;
	struct pb_dlq_row *rows;
	uint8_t *buf;
};

/* Filter bits: each combination gets its own (cached) statement, so SQLite
 * can pick the matching index. */
enum { M_PEER = 1, M_NODE = 2, M_REASON = 4, M_CAP = 8, M_ID = 16, M_ALL = 32 };
enum { Q_FETCH, Q_TOUCH, Q_PURGE, Q_KINDS };

/* Fetched rows whose attempts increment is still to be written: the ids
 * first..last matching f (dlq_touch.c). */
#define DLQ_TOUCH_MAX 16
struct dlq_touch {
	uint64_t after, first, last;
	uint64_t born_ns, since_ns; /* first and last fetch merged into it */
	struct pb_dlq_filter f;
};
/* One transaction's fetches, and how many of d->touch it wrote. */
struct dlq_touch_txn {
	struct dlq_touch r[DLQ_TOUCH_MAX];
	unsigned n, done;
};

struct dlq_stats {
	_Atomic uint64_t rows, bytes, queued, queued_bytes, inserted, duplicates;
	_Atomic uint64_t refused_full, refused_queue, fetched, deleted, commits, errors;
	uint64_t base_full, base_queue; /* lifetime totals loaded from meta */
};

struct pb_dlq {
	/* Producer side (pmtx). */
	pthread_mutex_t pmtx;
	uint64_t phead, next_token;
	bool closing;
	uint8_t *ring;
	size_t cap;
	uint64_t max_bytes;
	_Atomic uint64_t head __attribute__((aligned(64)));
	_Atomic uint64_t tail __attribute__((aligned(64)));
	_Atomic int writer_idle, stop;
	pthread_mutex_t wmtx;
	pthread_cond_t wcond;

	struct dlq_stats st;
	pthread_mutex_t emtx;
	char last_error[256];

	/* Writer thread only. */
	sqlite3 *db;
	sqlite3_stmt *ins, *ins_many, *ins_tail, *del_id, *del_sum, *del_many, *meta_set;
	sqlite3_stmt *q[Q_KINDS][M_ALL];
	unsigned held; /* puts read but not executed: their ring space stays */
	struct dlq_touch touch[DLQ_TOUCH_MAX]; /* committed fetches, oldest first */
	unsigned ntouch;
	uint32_t batch_rows;
	uint64_t batch_ns, tail_local;
	int busy_ms;
	uint64_t last_tick, last_log, logged_refused, last_err_log, last_ckpt;
	uint64_t saved_full, saved_queue;
	bool dirty, vacuum_due;
	pthread_t thread;
	bool started;

	/* Results to the loop thread. */
	pthread_mutex_t rmtx;
	struct res *rhead, *rtail;
	int efd;
	struct pb_loop *loop;
	pb_dlq_result_fn *cb;
	void *cbarg;
};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define SUB(x, n) atomic_fetch_sub_explicit(&(x), (n), memory_order_relaxed)

#define DLQ_ROW_COLS "id, peer, origin_node, origin_source, origin_epoch, origin_seq, " \
	"capture_ns, enqueue_ns, reason, attempts, bytes"

/* dlq_store.c */
extern const char *const dlq_reason_names[PB_DLQ_REASON_COUNT];

/* dlq_filter.c: filters, shared by the writer and pb_dlq_list. */
unsigned dlq_filter_mask(const struct pb_dlq_filter *f);
int dlq_filter_prepare(sqlite3 *db, const char *fmt, unsigned m, unsigned flags,
    sqlite3_stmt **out);
int dlq_filter_bind(sqlite3_stmt *s, const struct pb_dlq_filter *f, unsigned m);
/* Columns DLQ_ROW_COLS, in that order. */
void dlq_row_decode(sqlite3_stmt *s, struct pb_dlq_row *r);

/* dlq_touch.c, writer thread: the attempts of fetched rows, written later.
 * Before a fetch of ids > after (in its transaction): */
int dlq_touch_overlap(struct pb_dlq *d, struct dlq_touch_txn *t, uint64_t after);
/* The fetch returned first..last: */
int dlq_touch_defer(struct pb_dlq *d, struct dlq_touch_txn *t, const struct pb_dlq_filter *f,
    uint64_t after, uint64_t first, uint64_t last);
/* Once the transaction committed: */
void dlq_touch_commit(struct pb_dlq *d, struct dlq_touch_txn *t);
/* Nanoseconds until a range is due: 0 now, UINT64_MAX none. */
uint64_t dlq_touch_wait(const struct pb_dlq *d, uint64_t now);
/* Writes the ranges, when one is due or `all`, in a transaction of their own. */
void dlq_touch_flush(struct pb_dlq *d, bool all);

/* dlq_writer.c, writer thread: errors (counted, logged rate-limited),
 * statements run to completion (rows to *rows, column 0 summed to *sum),
 * the cached statement of a Q_* kind and filter mask. */
void dlq_w_error(struct pb_dlq *d, const char *what);
int dlq_w_exec(struct pb_dlq *d, const char *sql);
int dlq_w_run(struct pb_dlq *d, sqlite3_stmt *s, const char *what, uint64_t *rows,
    uint64_t *sum);
sqlite3_stmt *dlq_w_stmt(struct pb_dlq *d, int kind, unsigned m);

/* dlq_writer.c: results and the writer thread. */
void dlq_res_free(struct res *r);
/* Loop thread: eventfd handler that delivers published results. */
void dlq_on_results(struct pb_loop *loop, int fd, uint32_t events, void *arg);
/* pthread_create start routine; arg is the struct pb_dlq. */
void *dlq_writer_main(void *arg);

#endif
