/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "dlq_store.h"
#include "log.h"

/*
 * Layout: producers append variable-size entries to a byte ring (single
 * consumer: the writer thread); the writer executes them in order inside
 * batched transactions and publishes results to a mutex-protected list that
 * the loop thread drains on an eventfd. See dlq_store.h for the contract.
 */

#define DLQ_QUEUE_DEFAULT ((size_t)64 << 20)
#define DLQ_QUEUE_MIN ((size_t)2 << 20)
#define DLQ_CTL_RESERVE ((size_t)64 << 10) /* ring space puts may not use */
#define DLQ_TICK_NS (1 * PB_NSEC_PER_SEC)  /* idle housekeeping period */
#define DLQ_LOG_NS (10 * PB_NSEC_PER_SEC)  /* refusal/error log rate limit */
#define DLQ_CKPT_NS (10 * PB_NSEC_PER_SEC) /* min gap between TRUNCATE checkpoints */
#define DLQ_RETRY_NS (100 * PB_NSEC_PER_MSEC)
#define DLQ_VACUUM_PAGES 256               /* free pages that trigger incremental_vacuum */
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

/* Migration 1: keep identical to schema/dlq.sql (checked by test_dlq). */
static const char dlq_schema_v1[] =
	"-- SPDX-License-Identifier: Apache-2.0\n"
	"-- packetbroker DLQ schema, migration 1 (PRAGMA user_version = 1).\n"
	"-- server/dlq_store.c embeds this exact text (a unit test compares them).\n"
	"-- auto_vacuum=INCREMENTAL and journal_mode=WAL are set by the code first.\n"
	"CREATE TABLE dlq (\n"
	"\tid INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"\tpeer TEXT NOT NULL,\n"
	"\torigin_node INTEGER NOT NULL,\n"
	"\torigin_source INTEGER NOT NULL,\n"
	"\torigin_epoch INTEGER NOT NULL,\n"
	"\torigin_seq INTEGER NOT NULL,\n"
	"\tcapture_ns INTEGER NOT NULL,\n"
	"\tenqueue_ns INTEGER NOT NULL,\n"
	"\treason TEXT NOT NULL CHECK (reason IN ('timeout', 'overflow', 'shutdown', 'peer_removed')),\n"
	"\tattempts INTEGER NOT NULL DEFAULT 0,\n"
	"\tbytes INTEGER NOT NULL,\n"
	"\trecord BLOB NOT NULL,\n"
	"\tUNIQUE (peer, origin_node, origin_source, origin_epoch, origin_seq)\n"
	");\n"
	"CREATE INDEX dlq_peer_id ON dlq (peer, id);\n"
	"CREATE INDEX dlq_origin ON dlq (origin_node, origin_epoch, origin_seq);\n"
	"CREATE INDEX dlq_capture ON dlq (capture_ns);\n"
	"CREATE TABLE meta (\n"
	"\tkey TEXT PRIMARY KEY,\n"
	"\tvalue INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n";

static const char *const dlq_migrations[PB_DLQ_SCHEMA_VERSION] = { dlq_schema_v1 };

static const char *const reason_names[PB_DLQ_REASON_COUNT] = {
	[PB_DLQ_TIMEOUT] = "timeout",
	[PB_DLQ_OVERFLOW] = "overflow",
	[PB_DLQ_SHUTDOWN] = "shutdown",
	[PB_DLQ_PEER_REMOVED] = "peer_removed",
};

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

/* Work of one transaction, applied to the counters only once it committed. */
struct txn {
	uint64_t puts, put_bytes, first_token, last_token;
	uint64_t inserted, ins_bytes;
	uint64_t del_rows, del_bytes, fetched;
	bool control; /* a fetch/delete/purge waits: commit as soon as the ring drains */
	struct res *head, *tail;
};

/* Filter bits: each combination gets its own (cached) statement, so SQLite
 * can pick the matching index. */
enum { M_PEER = 1, M_NODE = 2, M_REASON = 4, M_CAP = 8, M_ID = 16, M_ALL = 32 };
enum { Q_FETCH, Q_TOUCH, Q_PURGE, Q_KINDS };

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
	sqlite3_stmt *ins, *del_id, *meta_set, *q[Q_KINDS][M_ALL];
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

const char *
pb_dlq_reason_name(int reason)
{
	return reason >= 0 && reason < PB_DLQ_REASON_COUNT ? reason_names[reason] : NULL;
}

int
pb_dlq_reason_from_name(const char *name)
{
	for (int i = 0; name && i < PB_DLQ_REASON_COUNT; i++)
		if (strcmp(name, reason_names[i]) == 0)
			return i;
	return -1;
}

const char *
pb_dlq_schema_sql(unsigned version)
{
	return version >= 1 && version <= PB_DLQ_SCHEMA_VERSION ? dlq_migrations[version - 1] : NULL;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / PB_NSEC_PER_SEC),
		.tv_nsec = (long)(ns % PB_NSEC_PER_SEC) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- filters, shared by the writer and pb_dlq_list ---- */

static int
filter_check(const struct pb_dlq_filter *f)
{
	if (memchr(f->peer, '\0', sizeof(f->peer)) == NULL ||
	    (f->by_reason && f->reason >= PB_DLQ_REASON_COUNT))
		return -1;
	return 0;
}

static unsigned
filter_mask(const struct pb_dlq_filter *f)
{
	return (f->peer[0] ? M_PEER : 0) | (f->by_node ? M_NODE : 0) |
	    (f->by_reason ? M_REASON : 0) |
	    (f->capture_min_ns || f->capture_max_ns ? M_CAP : 0) |
	    (f->id_min || f->id_max ? M_ID : 0);
}

/* `fmt` has one %s where the conditions go; parameters are numbered: ?1
 * after_id, ?2..?8 filter, ?9 limit, ?10 offset. */
static int
filter_prepare(sqlite3 *db, const char *fmt, unsigned m, unsigned flags, sqlite3_stmt **out)
{
	char where[256], sql[768];
	snprintf(where, sizeof(where), "%s%s%s%s%s", m & M_PEER ? " AND peer = ?2" : "",
	    m & M_NODE ? " AND origin_node = ?3" : "", m & M_REASON ? " AND reason = ?4" : "",
	    m & M_CAP ? " AND capture_ns BETWEEN ?5 AND ?6" : "",
	    m & M_ID ? " AND id BETWEEN ?7 AND ?8" : "");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(sql, sizeof(sql), fmt, where);
#pragma GCC diagnostic pop
	return sqlite3_prepare_v3(db, sql, -1, flags, out, NULL);
}

static int
filter_bind(sqlite3_stmt *s, const struct pb_dlq_filter *f, unsigned m)
{
	int bad = 0;
	if (m & M_PEER)
		bad |= sqlite3_bind_text(s, 2, f->peer, -1, SQLITE_STATIC);
	if (m & M_NODE)
		bad |= sqlite3_bind_int64(s, 3, f->origin_node);
	if (m & M_REASON)
		bad |= sqlite3_bind_text(s, 4, reason_names[f->reason], -1, SQLITE_STATIC);
	if (m & M_CAP) {
		bad |= sqlite3_bind_int64(s, 5, (sqlite3_int64)f->capture_min_ns);
		bad |= sqlite3_bind_int64(s, 6, f->capture_max_ns ? (sqlite3_int64)f->capture_max_ns
								: INT64_MAX);
	}
	if (m & M_ID) {
		bad |= sqlite3_bind_int64(s, 7, (sqlite3_int64)f->id_min);
		bad |= sqlite3_bind_int64(s, 8, f->id_max ? (sqlite3_int64)f->id_max : INT64_MAX);
	}
	return bad ? -1 : 0;
}

#define ROW_COLS "id, peer, origin_node, origin_source, origin_epoch, origin_seq, " \
	"capture_ns, enqueue_ns, reason, attempts, bytes"

static void
row_decode(sqlite3_stmt *s, struct pb_dlq_row *r)
{
	const unsigned char *peer = sqlite3_column_text(s, 1);
	int reason = pb_dlq_reason_from_name((const char *)sqlite3_column_text(s, 8));

	memset(r, 0, sizeof(*r));
	r->id = (uint64_t)sqlite3_column_int64(s, 0);
	snprintf(r->meta.peer, sizeof(r->meta.peer), "%s", peer ? (const char *)peer : "");
	r->meta.origin_node = (uint32_t)sqlite3_column_int64(s, 2);
	r->meta.origin_source = (uint16_t)sqlite3_column_int64(s, 3);
	r->meta.origin_epoch = (uint64_t)sqlite3_column_int64(s, 4);
	r->meta.origin_seq = (uint64_t)sqlite3_column_int64(s, 5);
	r->meta.capture_ns = (uint64_t)sqlite3_column_int64(s, 6);
	r->meta.enqueue_ns = (uint64_t)sqlite3_column_int64(s, 7);
	r->meta.reason = (uint8_t)(reason < 0 ? 0 : reason);
	r->attempts = (uint32_t)sqlite3_column_int64(s, 9);
	r->bytes = (uint64_t)sqlite3_column_int64(s, 10);
}

/* ---- producer side: the ring ---- */

/* Called with pmtx held. Returns where to write `size` bytes, leaving
 * `reserve` bytes free, or NULL when the ring is too full. */
static void *
ring_reserve(struct pb_dlq *d, size_t size, size_t reserve)
{
	uint64_t head = d->phead;
	uint64_t tail = atomic_load_explicit(&d->tail, memory_order_acquire);
	size_t off = (size_t)(head & (d->cap - 1));
	size_t contig = d->cap - off;
	size_t need = size + (contig < size ? contig : 0);

	if (d->closing || d->cap - (size_t)(head - tail) < need + reserve)
		return NULL;
	if (contig < size) {
		struct ent *pad = (struct ent *)(void *)(d->ring + off);
		pad->type = ENT_PAD;
		pad->size = (uint32_t)contig;
		head += contig;
		off = 0;
	}
	d->phead = head + size;
	return d->ring + off;
}

/* Publishes everything reserved so far, then wakes the writer if it sleeps
 * (the only syscall on this path, at most once per writer batch). */
static void
ring_publish(struct pb_dlq *d)
{
	atomic_store(&d->head, d->phead);
	pthread_mutex_unlock(&d->pmtx);
	if (atomic_load(&d->writer_idle)) {
		pthread_mutex_lock(&d->wmtx);
		pthread_cond_signal(&d->wcond);
		pthread_mutex_unlock(&d->wmtx);
	}
}

int
pb_dlq_put(struct pb_dlq *d, const struct pb_dlq_meta *meta, const uint8_t *blob, size_t len,
    uint64_t *token)
{
	size_t peerlen = meta ? strnlen(meta->peer, sizeof(meta->peer)) : 0;
	if (peerlen == 0 || peerlen == sizeof(meta->peer) || meta->reason >= PB_DLQ_REASON_COUNT ||
	    blob == NULL || len == 0 || len > PB_DLQ_BLOB_MAX) {
		errno = EINVAL;
		return -1;
	}
	uint64_t rowbytes = len + PB_DLQ_ROW_OVERHEAD + peerlen;
	size_t size = ALIGN8(sizeof(struct ent_put) + len);

	pthread_mutex_lock(&d->pmtx);
	if (d->max_bytes &&
	    LOAD(d->st.bytes) + LOAD(d->st.queued_bytes) + rowbytes > d->max_bytes) {
		ADD(d->st.refused_full, 1);
		pthread_mutex_unlock(&d->pmtx);
		errno = ENOSPC;
		return -1;
	}
	struct ent_put *e = ring_reserve(d, size, DLQ_CTL_RESERVE);
	if (e == NULL) {
		ADD(d->st.refused_queue, 1);
		pthread_mutex_unlock(&d->pmtx);
		errno = ENOBUFS;
		return -1;
	}
	e->h.type = ENT_PUT;
	e->h.size = (uint32_t)size;
	e->len = (uint32_t)len;
	e->token = ++d->next_token;
	e->rowbytes = rowbytes;
	e->meta = *meta;
	memcpy(e->blob, blob, len);
	if (token)
		*token = e->token;
	ADD(d->st.queued, 1);
	ADD(d->st.queued_bytes, rowbytes);
	ring_publish(d);
	return 0;
}

/* Control commands may use the reserve that puts leave free. */
static void *
ctl_reserve(struct pb_dlq *d, uint32_t type, size_t size)
{
	pthread_mutex_lock(&d->pmtx);
	struct ent *e = ring_reserve(d, ALIGN8(size), 0);
	if (e == NULL) {
		pthread_mutex_unlock(&d->pmtx);
		errno = ENOBUFS;
		return NULL;
	}
	e->type = type;
	e->size = (uint32_t)ALIGN8(size);
	return e;
}

int
pb_dlq_fetch(struct pb_dlq *d, const struct pb_dlq_filter *f, uint64_t after_id,
    uint32_t max_rows, uint64_t request_id)
{
	static const struct pb_dlq_filter all;
	if (f == NULL)
		f = &all;
	if (filter_check(f) < 0 || max_rows == 0 || max_rows > PB_DLQ_FETCH_MAX) {
		errno = EINVAL;
		return -1;
	}
	struct ent_fetch *e = ctl_reserve(d, ENT_FETCH, sizeof(*e));
	if (e == NULL)
		return -1;
	e->max_rows = max_rows;
	e->after_id = after_id;
	e->request_id = request_id;
	e->f = *f;
	ring_publish(d);
	return 0;
}

int
pb_dlq_delete(struct pb_dlq *d, const uint64_t *ids, size_t n)
{
	if ((n && ids == NULL) || n > PB_DLQ_DELETE_MAX) {
		errno = EINVAL;
		return -1;
	}
	struct ent_ids *e = ctl_reserve(d, ENT_DELETE, sizeof(*e) + n * sizeof(ids[0]));
	if (e == NULL)
		return -1;
	e->n = (uint32_t)n;
	if (n)
		memcpy(e->ids, ids, n * sizeof(ids[0]));
	ring_publish(d);
	return 0;
}

int
pb_dlq_purge(struct pb_dlq *d, const struct pb_dlq_filter *f, uint64_t request_id)
{
	static const struct pb_dlq_filter all;
	if (f == NULL)
		f = &all;
	if (filter_check(f) < 0) {
		errno = EINVAL;
		return -1;
	}
	struct ent_purge *e = ctl_reserve(d, ENT_PURGE, sizeof(*e));
	if (e == NULL)
		return -1;
	e->request_id = request_id;
	e->f = *f;
	ring_publish(d);
	return 0;
}

/* ---- results to the loop thread ---- */

static void
res_free(struct res *r)
{
	free(r->rows);
	free(r->buf);
	free(r);
}

static void
dlq_on_results(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct pb_dlq *d = arg;
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;

	pthread_mutex_lock(&d->rmtx);
	struct res *list = d->rhead;
	d->rhead = d->rtail = NULL;
	pthread_mutex_unlock(&d->rmtx);
	while (list) {
		struct res *next = list->next;
		d->cb(d->cbarg, &list->r);
		res_free(list);
		list = next;
	}
}

/* Appends in order; a PUT_COMMITTED right after another one is merged. */
static void
w_publish(struct pb_dlq *d, struct res *list)
{
	if (list == NULL)
		return;
	if (d->efd < 0) {
		while (list) {
			struct res *next = list->next;
			res_free(list);
			list = next;
		}
		return;
	}
	pthread_mutex_lock(&d->rmtx);
	while (list) {
		struct res *r = list, *t = d->rtail;
		list = list->next;
		r->next = NULL;
		if (t && r->r.type == PB_DLQ_PUT_COMMITTED && t->r.type == PB_DLQ_PUT_COMMITTED &&
		    t->r.status == r->r.status) {
			t->r.count += r->r.count;
			t->r.inserted += r->r.inserted;
			t->r.token = r->r.token;
			res_free(r);
		} else if (t) {
			d->rtail = t->next = r;
		} else {
			d->rhead = d->rtail = r;
		}
	}
	pthread_mutex_unlock(&d->rmtx);
	uint64_t one = 1;
	if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("dlq", "eventfd write");
}

/* ---- writer thread ---- */

/* Counts an error, keeps its text for the stats, logs rate-limited. */
static void
w_error(struct pb_dlq *d, const char *what)
{
	uint64_t now = pb_mono_ns(), n = ADD(d->st.errors, 1) + 1;
	pthread_mutex_lock(&d->emtx);
	snprintf(d->last_error, sizeof(d->last_error), "%s: %s", what, sqlite3_errmsg(d->db));
	if (d->last_err_log == 0 || now - d->last_err_log >= DLQ_LOG_NS) {
		log_warnx("dlq", "%s (%llu errors so far)", d->last_error, (unsigned long long)n);
		d->last_err_log = now;
	}
	pthread_mutex_unlock(&d->emtx);
}

static int
w_exec(struct pb_dlq *d, const char *sql)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	w_error(d, sql);
	return -1;
}

/* Steps a statement to completion; rows go to *sum (column 0) and *rows. */
static int
w_run(struct pb_dlq *d, sqlite3_stmt *s, const char *what, uint64_t *rows, uint64_t *sum)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (rows)
			(*rows)++;
		if (sum)
			*sum += (uint64_t)sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE)
		w_error(d, what);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
txn_add(struct txn *t, struct res *r)
{
	if (t->tail)
		t->tail = t->tail->next = r;
	else
		t->head = t->tail = r;
}

static int
w_put(struct pb_dlq *d, struct txn *t, const struct ent_put *e)
{
	sqlite3_stmt *s = d->ins;
	const struct pb_dlq_meta *m = &e->meta;

	if (t->puts++ == 0)
		t->first_token = e->token;
	t->last_token = e->token;
	t->put_bytes += e->rowbytes;
	sqlite3_bind_text(s, 1, m->peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, m->origin_node);
	sqlite3_bind_int64(s, 3, m->origin_source);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)m->origin_epoch);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)m->origin_seq);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)m->capture_ns);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)m->enqueue_ns);
	sqlite3_bind_text(s, 8, reason_names[m->reason], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)e->rowbytes);
	sqlite3_bind_blob(s, 10, e->blob, (int)e->len, SQLITE_STATIC);
	if (w_run(d, s, "insert", NULL, NULL) < 0)
		return -1;
	if (sqlite3_changes(d->db) > 0) {
		t->inserted++;
		t->ins_bytes += e->rowbytes;
	}
	return 0;
}

static sqlite3_stmt *
w_stmt(struct pb_dlq *d, int kind, unsigned m)
{
	static const char *const fmt[Q_KINDS] = {
		[Q_FETCH] = "SELECT " ROW_COLS ", record FROM dlq WHERE id > ?1%s "
			    "ORDER BY id LIMIT ?9",
		/* The fetched rows are exactly the matching ones in [first, last]. */
		[Q_TOUCH] = "UPDATE dlq SET attempts = attempts + 1 WHERE id BETWEEN ?1 AND ?9%s",
		[Q_PURGE] = "DELETE FROM dlq WHERE 1%s RETURNING bytes",
	};
	if (d->q[kind][m] == NULL &&
	    filter_prepare(d->db, fmt[kind], m, SQLITE_PREPARE_PERSISTENT, &d->q[kind][m]) !=
		SQLITE_OK) {
		w_error(d, "prepare");
		return NULL;
	}
	return d->q[kind][m];
}

static int
w_fetch(struct pb_dlq *d, struct txn *t, const struct ent_fetch *e)
{
	unsigned m = filter_mask(&e->f);
	sqlite3_stmt *s = w_stmt(d, Q_FETCH, m);
	struct res *r = calloc(1, sizeof(*r));
	size_t n = 0, cap = 0, used = 0, bufcap = 0;
	int rc = SQLITE_NOMEM;

	if (s == NULL || r == NULL) {
		if (s)
			w_error(d, "fetch: out of memory");
		free(r);
		return -1;
	}
	r->r.type = PB_DLQ_FETCHED;
	r->r.request_id = e->request_id;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)e->after_id);
	sqlite3_bind_int64(s, 9, e->max_rows);
	if (filter_bind(s, &e->f, m) < 0)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(s, 11);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			void *p = realloc(r->rows, cap * sizeof(*r->rows));
			if (p == NULL)
				goto fail;
			r->rows = p;
		}
		if (used + len > bufcap) {
			bufcap = (used + len) * 2;
			void *p = realloc(r->buf, bufcap);
			if (p == NULL)
				goto fail;
			r->buf = p;
		}
		row_decode(s, &r->rows[n]);
		if (len)
			memcpy(r->buf + used, sqlite3_column_blob(s, 11), len);
		r->rows[n].len = len;
		r->rows[n].attempts++;
		used += len;
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		w_error(d, "fetch");
		goto out;
	}
	for (size_t i = 0, off = 0; i < n; off += r->rows[i].len, i++)
		r->rows[i].blob = r->buf + off;
	if (n) {
		sqlite3_stmt *u = w_stmt(d, Q_TOUCH, m);
		if (u == NULL || filter_bind(u, &e->f, m) < 0)
			goto out;
		sqlite3_bind_int64(u, 1, (sqlite3_int64)r->rows[0].id);
		sqlite3_bind_int64(u, 9, (sqlite3_int64)r->rows[n - 1].id);
		if (w_run(d, u, "fetch attempts", NULL, NULL) < 0)
			goto out;
	}
	r->r.count = n;
	r->r.rows = r->rows;
	r->r.more = n == e->max_rows;
	t->fetched += n;
	txn_add(t, r);
	return 0;
fail:
	sqlite3_reset(s);
	w_error(d, "fetch");
out:
	res_free(r);
	return -1;
}

static int
w_delete(struct pb_dlq *d, struct txn *t, const struct ent_ids *e)
{
	struct res *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->r.type = PB_DLQ_DELETED;
	txn_add(t, r);
	for (uint32_t i = 0; i < e->n; i++) {
		sqlite3_bind_int64(d->del_id, 1, (sqlite3_int64)e->ids[i]);
		if (w_run(d, d->del_id, "delete", &r->r.count, &t->del_bytes) < 0)
			return -1;
	}
	t->del_rows += r->r.count;
	return 0;
}

static int
w_purge(struct pb_dlq *d, struct txn *t, const struct ent_purge *e)
{
	unsigned m = filter_mask(&e->f);
	sqlite3_stmt *s = w_stmt(d, Q_PURGE, m);
	struct res *r = calloc(1, sizeof(*r));
	if (r == NULL || s == NULL || filter_bind(s, &e->f, m) < 0) {
		free(r);
		return -1;
	}
	r->r.type = PB_DLQ_DELETED;
	r->r.purge = true;
	r->r.request_id = e->request_id;
	txn_add(t, r);
	if (w_run(d, s, "purge", &r->r.count, &t->del_bytes) < 0)
		return -1;
	t->del_rows += r->r.count;
	return 0;
}

/* Commits (or rolls back), applies the counters, publishes the results:
 * PUT_COMMITTED first, then fetch/delete results in queue order. */
static void
w_finish(struct pb_dlq *d, struct txn *t, bool ok)
{
	if (ok && w_exec(d, "COMMIT") < 0)
		ok = false;
	if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	if (ok) {
		ADD(d->st.bytes, t->ins_bytes);
		ADD(d->st.rows, t->inserted);
		SUB(d->st.bytes, t->del_bytes);
		SUB(d->st.rows, t->del_rows);
		ADD(d->st.inserted, t->inserted);
		ADD(d->st.duplicates, t->puts - t->inserted);
		ADD(d->st.deleted, t->del_rows);
		ADD(d->st.fetched, t->fetched);
		ADD(d->st.commits, 1);
		d->dirty = true;
		if (t->del_rows)
			d->vacuum_due = true;
	}
	/* After the bytes moved to st.bytes: the refusal check never undercounts. */
	SUB(d->st.queued, t->puts);
	SUB(d->st.queued_bytes, t->put_bytes);
	for (struct res *r = t->head; r && !ok; r = r->next) {
		r->r.status = -1;
		r->r.count = 0;
		r->r.rows = NULL;
	}
	if (t->puts) {
		struct res *r = calloc(1, sizeof(*r));
		if (r) {
			r->r.type = PB_DLQ_PUT_COMMITTED;
			r->r.status = ok ? 0 : -1;
			r->r.count = t->puts;
			r->r.inserted = ok ? t->inserted : 0;
			r->r.first_token = t->first_token;
			r->r.token = t->last_token;
			r->next = t->head;
			t->head = r;
		} else {
			log_warnx("dlq", "out of memory: commit of tokens up to %llu not notified",
			    (unsigned long long)t->last_token);
		}
	}
	w_publish(d, t->head);
}

/* Ring consumer. PAD entries are skipped here. */
static struct ent *
w_peek(struct pb_dlq *d)
{
	for (;;) {
		if (d->tail_local == atomic_load(&d->head))
			return NULL;
		struct ent *e = (struct ent *)(void *)(d->ring + (d->tail_local & (d->cap - 1)));
		if (e->type != ENT_PAD)
			return e;
		d->tail_local += e->size;
		atomic_store_explicit(&d->tail, d->tail_local, memory_order_release);
	}
}

static void
w_pop(struct pb_dlq *d, const struct ent *e)
{
	d->tail_local += e->size;
	atomic_store_explicit(&d->tail, d->tail_local, memory_order_release);
}

/* One transaction: up to batch_rows puts, waiting up to batch_ms for more
 * while the ring is empty, unless a control command is waiting for us. */
static void
w_txn(struct pb_dlq *d)
{
	struct txn t = { 0 };
	bool ok = true;

	if (w_exec(d, "BEGIN IMMEDIATE") < 0) {
		sleep_ns(DLQ_RETRY_NS); /* entries stay queued; retried */
		return;
	}
	uint64_t deadline = pb_mono_ns() + d->batch_ns;
	for (;;) {
		struct ent *e = w_peek(d);
		if (e == NULL) {
			uint64_t now = pb_mono_ns();
			if (t.control || atomic_load(&d->stop) || now >= deadline)
				break;
			sleep_ns(deadline - now < PB_NSEC_PER_MSEC ? deadline - now : PB_NSEC_PER_MSEC);
			continue;
		}
		switch (e->type) {
		case ENT_PUT:
			ok = w_put(d, &t, (const struct ent_put *)e) == 0;
			break;
		case ENT_FETCH:
			ok = w_fetch(d, &t, (const struct ent_fetch *)e) == 0;
			t.control = true;
			break;
		case ENT_DELETE:
			ok = w_delete(d, &t, (const struct ent_ids *)e) == 0;
			t.control = true;
			break;
		case ENT_PURGE:
			ok = w_purge(d, &t, (const struct ent_purge *)e) == 0;
			t.control = true;
			break;
		}
		w_pop(d, e);
		if (!ok || t.puts >= d->batch_rows)
			break;
	}
	w_finish(d, &t, ok);
	if (!ok)
		sleep_ns(DLQ_RETRY_NS);
}

static void
w_save_meta(struct pb_dlq *d)
{
	uint64_t full = LOAD(d->st.refused_full), queue = LOAD(d->st.refused_queue);
	if (full == d->saved_full && queue == d->saved_queue)
		return;
	if (w_exec(d, "BEGIN IMMEDIATE") < 0)
		return;
	sqlite3_bind_text(d->meta_set, 1, "refused_full", -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->meta_set, 2, (sqlite3_int64)(d->st.base_full + full));
	int rc = w_run(d, d->meta_set, "meta", NULL, NULL);
	sqlite3_bind_text(d->meta_set, 1, "refused_queue", -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->meta_set, 2, (sqlite3_int64)(d->st.base_queue + queue));
	rc |= w_run(d, d->meta_set, "meta", NULL, NULL);
	if (rc == 0 && w_exec(d, "COMMIT") == 0) {
		d->saved_full = full;
		d->saved_queue = queue;
		d->dirty = true;
	}
	if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

static int64_t
w_pragma_int(struct pb_dlq *d, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;
	if (sqlite3_prepare_v2(d->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Refusal log, persisted counters, and (when idle) space reclaim. */
static void
w_housekeeping(struct pb_dlq *d, bool idle, bool force)
{
	uint64_t now = pb_mono_ns();
	uint64_t full = LOAD(d->st.refused_full), queue = LOAD(d->st.refused_queue);

	if (full + queue != d->logged_refused &&
	    (d->last_log == 0 || now - d->last_log >= DLQ_LOG_NS || force)) {
		log_warnx("dlq", "REFUSED %llu records since the last report (policy: refuse and "
			  "count, nothing evicted); since start: %llu over max_bytes %llu, %llu queue full",
		    (unsigned long long)(full + queue - d->logged_refused), (unsigned long long)full,
		    (unsigned long long)d->max_bytes, (unsigned long long)queue);
		d->logged_refused = full + queue;
		d->last_log = now;
	}
	if (!force && now - d->last_tick < DLQ_TICK_NS)
		return;
	d->last_tick = now;
	w_save_meta(d);
	if (!idle)
		return;
	if (d->vacuum_due) {
		int64_t freepages = w_pragma_int(d, "PRAGMA freelist_count");
		d->vacuum_due = false;
		if (freepages >= DLQ_VACUUM_PAGES || (force && freepages > 0)) {
			/* Bounded steps (16 MiB) so a big reclaim does not hold up puts. */
			if (w_exec(d, "PRAGMA incremental_vacuum(4096)") == 0)
				d->vacuum_due = freepages > 4096;
			d->dirty = true;
		}
	}
	if (d->dirty && (force || now - d->last_ckpt >= DLQ_CKPT_NS)) {
		/* Shrinks the WAL file; a long reader makes it BUSY: try later. */
		sqlite3_busy_timeout(d->db, 0);
		if (sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
		    SQLITE_OK)
			d->dirty = false;
		sqlite3_busy_timeout(d->db, d->busy_ms);
		d->last_ckpt = now;
	}
}

static void
w_sleep(struct pb_dlq *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 1;
	pthread_mutex_lock(&d->wmtx);
	atomic_store(&d->writer_idle, 1);
	/* Re-checked after raising the flag: a producer publishing now sees it. */
	if (d->tail_local == atomic_load(&d->head) && !atomic_load(&d->stop))
		pthread_cond_timedwait(&d->wcond, &d->wmtx, &ts);
	atomic_store(&d->writer_idle, 0);
	pthread_mutex_unlock(&d->wmtx);
}

static void *
w_main(void *arg)
{
	struct pb_dlq *d = arg;
	for (;;) {
		if (w_peek(d)) {
			w_txn(d);
			w_housekeeping(d, false, false);
			continue;
		}
		if (atomic_load(&d->stop) && w_peek(d) == NULL)
			break;
		w_housekeeping(d, true, false);
		w_sleep(d);
	}
	/* Final report, counters, and up to 1 GiB of reclaim: close stays short. */
	for (int i = 0; i < 64 && d->vacuum_due; i++)
		w_housekeeping(d, true, true);
	w_housekeeping(d, true, true);
	return NULL;
}

/* ---- open / close ---- */

static int
mkdirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "dlq: path too long");
		return -1;
	}
	for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "dlq: mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static int
db_int(sqlite3 *db, const char *sql, int64_t *a, int64_t *b)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*a = sqlite3_column_int64(s, 0);
		if (b)
			*b = sqlite3_column_int64(s, 1);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* Schema version check shared by the writer and the read-only lister. */
static int
db_check_version(sqlite3 *db, const char *path, int64_t *uv, char *err, size_t errlen)
{
	if (db_int(db, "PRAGMA user_version", uv, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "dlq: %s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	if (*uv > PB_DLQ_SCHEMA_VERSION) {
		snprintf(err, errlen, "dlq: %s has schema version %lld, newer than the %d this "
				      "packetbrokerd knows; refusing to use it (upgrade, or move the file away)",
		    path, (long long)*uv, PB_DLQ_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

static int
db_setup(struct pb_dlq *d, const struct pb_dlq_cfg *cfg, char *err, size_t errlen)
{
	int64_t uv, n, sum;
	char sql[128];
	const char *journal = NULL;
	sqlite3_stmt *s = NULL;

	int rc = sqlite3_open_v2(cfg->path, &d->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_busy_timeout(d->db, d->busy_ms);
	if (db_check_version(d->db, cfg->path, &uv, err, errlen) < 0)
		return -1;
	if (uv == 0) {
		if (db_int(d->db, "SELECT count(*) FROM sqlite_schema", &n, NULL) != SQLITE_OK)
			goto sqlerr;
		if (n > 0) {
			snprintf(err, errlen, "dlq: %s is an SQLite database without a packetbroker "
					      "DLQ schema (user_version 0); refusing to use it", cfg->path);
			return -1;
		}
		/* Must precede the first CREATE TABLE to take effect. */
		if (sqlite3_exec(d->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL))
			goto sqlerr;
	}
	if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		goto sqlerr;
	if (sqlite3_step(s) == SQLITE_ROW)
		journal = (const char *)sqlite3_column_text(s, 0);
	if (journal == NULL || strcmp(journal, "wal") != 0) {
		snprintf(err, errlen, "dlq: %s: cannot enable WAL (journal_mode %s)", cfg->path,
		    journal ? journal : sqlite3_errmsg(d->db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s; PRAGMA journal_size_limit = %d; "
				   "PRAGMA cache_size = -16384", cfg->sync_full ? "FULL" : "NORMAL", 64 << 20);
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto sqlerr;
	for (int64_t v = uv; v < PB_DLQ_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)v + 1);
		if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(d->db, dlq_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "dlq: %s: migration to version %lld: %s", cfg->path,
			    (long long)v + 1, sqlite3_errmsg(d->db));
			return -1;
		}
		if (v > 0)
			log_info("dlq", "%s: schema migrated to version %lld", cfg->path,
			    (long long)v + 1);
	}
	if (db_int(d->db, "SELECT count(*), coalesce(sum(bytes), 0) FROM dlq", &n, &sum) !=
	    SQLITE_OK)
		goto sqlerr;
	atomic_store(&d->st.rows, (uint64_t)n);
	atomic_store(&d->st.bytes, (uint64_t)sum);
	if (db_int(d->db, "SELECT coalesce((SELECT value FROM meta WHERE key = 'refused_full'), 0),"
			  " coalesce((SELECT value FROM meta WHERE key = 'refused_queue'), 0)",
		&n, &sum) != SQLITE_OK)
		goto sqlerr;
	d->st.base_full = (uint64_t)n;
	d->st.base_queue = (uint64_t)sum;

	const unsigned pf = SQLITE_PREPARE_PERSISTENT;
	if (sqlite3_prepare_v3(d->db, "INSERT INTO dlq (peer, origin_node, origin_source, "
				      "origin_epoch, origin_seq, capture_ns, enqueue_ns, reason, bytes, record) "
				      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
		-1, pf, &d->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(d->db, "DELETE FROM dlq WHERE id = ?1 RETURNING bytes", -1, pf,
		&d->del_id, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(d->db, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
				      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		-1, pf, &d->meta_set, NULL) != SQLITE_OK)
		goto sqlerr;
	return 0;
sqlerr:
	snprintf(err, errlen, "dlq: %s: %s", cfg->path,
	    d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
	return -1;
}

static void
dlq_free(struct pb_dlq *d)
{
	sqlite3_finalize(d->ins);
	sqlite3_finalize(d->del_id);
	sqlite3_finalize(d->meta_set);
	for (int k = 0; k < Q_KINDS; k++)
		for (int m = 0; m < M_ALL; m++)
			sqlite3_finalize(d->q[k][m]);
	if (d->db)
		sqlite3_close_v2(d->db);
	if (d->efd >= 0) {
		if (d->loop)
			pb_loop_del_fd(d->loop, d->efd);
		close(d->efd);
	}
	while (d->rhead) {
		struct res *next = d->rhead->next;
		res_free(d->rhead);
		d->rhead = next;
	}
	pthread_mutex_destroy(&d->pmtx);
	pthread_mutex_destroy(&d->wmtx);
	pthread_mutex_destroy(&d->emtx);
	pthread_mutex_destroy(&d->rmtx);
	pthread_cond_destroy(&d->wcond);
	free(d->ring);
	free(d);
}

/* SQLite's default memory statistics take a global mutex on every malloc;
 * the DLQ is the only SQLite user in the process, so turn them off (must
 * happen before the library initialises; a no-op otherwise). */
static void
dlq_sqlite_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct pb_dlq *
pb_dlq_open(const struct pb_dlq_cfg *cfg, struct pb_loop *loop, pb_dlq_result_fn *cb, void *arg,
    char *err, size_t errlen)
{
	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0') {
		snprintf(err, errlen, "dlq: no database path");
		return NULL;
	}
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, dlq_sqlite_init);
	size_t sz = (sizeof(struct pb_dlq) + 63) & ~(size_t)63;
	struct pb_dlq *d = aligned_alloc(64, sz);
	if (d == NULL) {
		snprintf(err, errlen, "dlq: out of memory");
		return NULL;
	}
	memset(d, 0, sz);
	d->efd = -1;
	d->max_bytes = cfg->max_bytes;
	d->batch_rows = cfg->batch_rows ? cfg->batch_rows : 512;
	d->batch_ns = (cfg->batch_ms ? cfg->batch_ms : 5) * PB_NSEC_PER_MSEC;
	d->busy_ms = cfg->busy_ms ? (int)cfg->busy_ms : 5000;
	d->cap = DLQ_QUEUE_MIN;
	while (d->cap < (cfg->queue_bytes ? cfg->queue_bytes : DLQ_QUEUE_DEFAULT))
		d->cap <<= 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&d->pmtx, NULL);
	pthread_mutex_init(&d->wmtx, NULL);
	pthread_mutex_init(&d->emtx, NULL);
	pthread_mutex_init(&d->rmtx, NULL);
	/* malloc, not calloc: untouched ring pages cost no memory. */
	if ((d->ring = malloc(d->cap)) == NULL) {
		snprintf(err, errlen, "dlq: out of memory (queue of %zu bytes)", d->cap);
		goto fail;
	}
	if (mkdirs(cfg->path, err, errlen) < 0 || db_setup(d, cfg, err, errlen) < 0)
		goto fail;
	if (loop && cb) {
		d->loop = loop;
		d->cb = cb;
		d->cbarg = arg;
		if ((d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    pb_loop_add_fd(loop, d->efd, EPOLLIN, dlq_on_results, d) < 0) {
			snprintf(err, errlen, "dlq: eventfd: %s", strerror(errno));
			d->loop = NULL;
			goto fail;
		}
	}
	int rc = pthread_create(&d->thread, NULL, w_main, d);
	if (rc != 0) {
		snprintf(err, errlen, "dlq: pthread_create: %s", strerror(rc));
		goto fail;
	}
	d->started = true;
	log_debug("dlq", "%s: %llu rows, %llu bytes, max %llu", cfg->path,
	    (unsigned long long)LOAD(d->st.rows), (unsigned long long)LOAD(d->st.bytes),
	    (unsigned long long)d->max_bytes);
	return d;
fail:
	dlq_free(d);
	return NULL;
}

void
pb_dlq_close(struct pb_dlq *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->pmtx);
	d->closing = true;
	pthread_mutex_unlock(&d->pmtx);
	pthread_mutex_lock(&d->wmtx);
	atomic_store(&d->stop, 1);
	pthread_cond_signal(&d->wcond);
	pthread_mutex_unlock(&d->wmtx);
	if (d->started)
		pthread_join(d->thread, NULL);
	dlq_free(d);
}

void
pb_dlq_get_stats(struct pb_dlq *d, struct pb_dlq_stats_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	out->rows = LOAD(d->st.rows);
	out->bytes = LOAD(d->st.bytes);
	out->queued = LOAD(d->st.queued);
	out->queued_bytes = LOAD(d->st.queued_bytes);
	out->max_bytes = d->max_bytes;
	out->inserted = LOAD(d->st.inserted);
	out->duplicates = LOAD(d->st.duplicates);
	out->refused_full = LOAD(d->st.refused_full);
	out->refused_queue = LOAD(d->st.refused_queue);
	out->lifetime_refused_full = d->st.base_full + out->refused_full;
	out->lifetime_refused_queue = d->st.base_queue + out->refused_queue;
	out->fetched = LOAD(d->st.fetched);
	out->deleted = LOAD(d->st.deleted);
	out->commits = LOAD(d->st.commits);
	out->errors = LOAD(d->st.errors);
	pthread_mutex_lock(&d->emtx);
	memcpy(out->last_error, d->last_error, sizeof(out->last_error));
	pthread_mutex_unlock(&d->emtx);
}

/* ---- management reads ---- */

int
pb_dlq_list(const char *path, const struct pb_dlq_filter *f, uint64_t offset, uint32_t limit,
    pb_dlq_row_fn *each, void *arg, uint64_t *total, char *err, size_t errlen)
{
	static const struct pb_dlq_filter all;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t uv, n;
	int rc, ret = -1;

	if (f == NULL)
		f = &all;
	if (filter_check(f) < 0) {
		snprintf(err, errlen, "dlq: bad filter");
		return -1;
	}
	unsigned m = filter_mask(f);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_busy_timeout(db, 2000);
	/* One read transaction: the count and the rows see the same snapshot. */
	if ((rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlerr;
	if (db_check_version(db, path, &uv, err, errlen) < 0)
		goto out;
	if (uv < 1) {
		snprintf(err, errlen, "dlq: %s: no DLQ schema", path);
		goto out;
	}
	if (total) {
		if ((rc = filter_prepare(db, "SELECT count(*) FROM dlq WHERE 1%s", m, 0, &s)) ||
		    (rc = filter_bind(s, f, m)) || (rc = sqlite3_step(s)) != SQLITE_ROW)
			goto sqlerr;
		*total = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		s = NULL;
	}
	if (each) {
		rc = filter_prepare(db, "SELECT " ROW_COLS ", length(record) FROM dlq WHERE 1%s "
					"ORDER BY id LIMIT ?9 OFFSET ?10", m, 0, &s);
		if (rc || (rc = filter_bind(s, f, m)))
			goto sqlerr;
		sqlite3_bind_int64(s, 9, limit ? (sqlite3_int64)limit : -1);
		sqlite3_bind_int64(s, 10, offset > INT64_MAX ? INT64_MAX : (sqlite3_int64)offset);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct pb_dlq_row row;
			row_decode(s, &row);
			n = sqlite3_column_int64(s, 11);
			row.len = (size_t)n;
			if (each(arg, &row) != 0)
				break;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto sqlerr;
	}
	ret = 0;
	goto out;
sqlerr:
	snprintf(err, errlen, "dlq: %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
out:
	sqlite3_finalize(s);
	sqlite3_close_v2(db);
	return ret;
}
