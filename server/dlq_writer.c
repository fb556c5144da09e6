/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "dlq_internal.h"
#include "dlq_store.h"
#include "log.h"

/*
 * The writer thread: executes the ring in order inside batched transactions
 * on its own read-write connection (cached prepared statements), keeps the
 * counters, does housekeeping, and publishes results to the loop thread.
 * See dlq_internal.h for the layout.
 */

#define DLQ_TICK_NS (1 * PB_NSEC_PER_SEC)  /* idle housekeeping period */
#define DLQ_LOG_NS (10 * PB_NSEC_PER_SEC)  /* refusal/error log rate limit */
#define DLQ_CKPT_NS (10 * PB_NSEC_PER_SEC) /* min gap between TRUNCATE checkpoints */
#define DLQ_RETRY_NS (100 * PB_NSEC_PER_MSEC)
#define DLQ_VACUUM_PAGES 256               /* free pages that trigger incremental_vacuum */
#define DLQ_INS_ROWS 16                    /* puts per multi-row INSERT */
#define DLQ_INS_COLS 10
#define DLQ_DEL_IDS 16                     /* ids per multi-id DELETE */
#define DLQ_DEL_RUN 4                      /* consecutive ids deleted as a range */

/* Work of one transaction, applied to the counters only once it committed. */
struct txn {
	uint64_t puts, put_bytes, first_token, last_token;
	uint64_t inserted, ins_bytes;
	uint64_t del_rows, del_bytes, fetched;
	bool control; /* a fetch/delete/purge waits: commit as soon as the ring drains */
	struct res *head, *tail;
	/* Puts waiting for a full multi-row INSERT; their entries stay in
	 * the ring (bound in place) until it ran. */
	const struct ent_put *pend[DLQ_INS_ROWS];
	unsigned npend;
	struct dlq_touch_txn touch;
};

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / PB_NSEC_PER_SEC),
		.tv_nsec = (long)(ns % PB_NSEC_PER_SEC) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- results to the loop thread ---- */

void
dlq_res_free(struct res *r)
{
	free(r->rows);
	free(r->buf);
	free(r);
}

void
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
		dlq_res_free(list);
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
			dlq_res_free(list);
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
			dlq_res_free(r);
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
void
dlq_w_error(struct pb_dlq *d, const char *what)
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

int
dlq_w_exec(struct pb_dlq *d, const char *sql)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	dlq_w_error(d, sql);
	return -1;
}

/* Steps a statement to completion; rows go to *sum (column 0) and *rows. */
int
dlq_w_run(struct pb_dlq *d, sqlite3_stmt *s, const char *what, uint64_t *rows, uint64_t *sum)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (rows)
			(*rows)++;
		if (sum)
			*sum += (uint64_t)sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE)
		dlq_w_error(d, what);
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

static void
w_bind_put(sqlite3_stmt *s, int base, const struct ent_put *e)
{
	const struct pb_dlq_meta *m = &e->meta;

	sqlite3_bind_text(s, base + 1, m->peer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, base + 2, m->origin_node);
	sqlite3_bind_int64(s, base + 3, m->origin_source);
	sqlite3_bind_int64(s, base + 4, (sqlite3_int64)m->origin_epoch);
	sqlite3_bind_int64(s, base + 5, (sqlite3_int64)m->origin_seq);
	sqlite3_bind_int64(s, base + 6, (sqlite3_int64)m->capture_ns);
	sqlite3_bind_int64(s, base + 7, (sqlite3_int64)m->enqueue_ns);
	sqlite3_bind_text(s, base + 8, dlq_reason_names[m->reason], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, base + 9, (sqlite3_int64)e->rowbytes);
	sqlite3_bind_blob(s, base + 10, e->blob, (int)e->len, SQLITE_STATIC);
}

/* Prepares `prefix` + `groups` parenthesised groups of `cols` numbered
 * parameters + `suffix`, once; NULL (error counted) on failure. */
static sqlite3_stmt *
w_prepare_groups(struct pb_dlq *d, sqlite3_stmt **cache, const char *prefix, int groups,
    int cols, const char *suffix)
{
	char sql[1536];
	int n;

	if (*cache)
		return *cache;
	n = snprintf(sql, sizeof(sql), "%s", prefix);
	for (int g = 0; g < groups; g++)
		for (int c = 1; c <= cols && n > 0 && (size_t)n < sizeof(sql); c++)
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s?%d%s",
			    c > 1 ? ", " : g ? ", (" : "(", g * cols + c, c < cols ? "" : ")");
	if (n > 0 && (size_t)n < sizeof(sql))
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s", suffix);
	if (n <= 0 || (size_t)n >= sizeof(sql) ||
	    sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, cache, NULL) !=
	    SQLITE_OK) {
		dlq_w_error(d, "prepare");
		return NULL;
	}
	return *cache;
}

/* INSERT of DLQ_INS_ROWS rows in one statement: the statement overhead
 * (AUTOINCREMENT counter read and write included) once per 16 rows.
 * OR IGNORE, not ON CONFLICT DO NOTHING: a statement that writes several
 * rows and may abort copies every page it touches to a statement journal
 * first (a temporary file: half of the spill's writes). Only the unique
 * key can conflict (pb_dlq_put checks the rest), and a failed statement
 * rolls the whole transaction back anyway. No RETURNING either: it
 * materialises the rows and clears a temporary table per row (a sixth of
 * the spill); sqlite3_changes() counts the new rows. */
static sqlite3_stmt *
w_ins_many(struct pb_dlq *d)
{
	return w_prepare_groups(d, &d->ins_many, "INSERT OR IGNORE INTO dlq (peer, "
	    "origin_node, origin_source, origin_epoch, origin_seq, capture_ns, enqueue_ns, "
	    "reason, bytes, record) VALUES ", DLQ_INS_ROWS, DLQ_INS_COLS, "");
}

/* Executes the pending puts: one multi-row INSERT when there are
 * DLQ_INS_ROWS of them, else one INSERT each. */
static int
w_put_flush(struct pb_dlq *d, struct txn *t)
{
	unsigned n = t->npend;
	int rc = 0;

	t->npend = 0;
	if (n == DLQ_INS_ROWS) {
		sqlite3_stmt *s = w_ins_many(d);
		if (s == NULL)
			return -1;
		for (unsigned i = 0; i < n; i++)
			w_bind_put(s, (int)i * DLQ_INS_COLS, t->pend[i]);
		if (dlq_w_run(d, s, "insert", NULL, NULL) < 0)
			return -1;
		uint64_t k = (uint64_t)sqlite3_changes(d->db);
		t->inserted += k;
		if (k == n) {
			for (unsigned i = 0; i < n; i++)
				t->ins_bytes += t->pend[i]->rowbytes;
			return 0;
		}
		/* Some were duplicates: the new rows are the k with the
		 * highest ids (AUTOINCREMENT). */
		s = w_prepare_groups(d, &d->ins_tail, "SELECT sum(bytes) FROM (SELECT bytes "
		    "FROM dlq ORDER BY id DESC LIMIT ?1)", 0, 0, "");
		if (s == NULL)
			return -1;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)k);
		return dlq_w_run(d, s, "insert", NULL, &t->ins_bytes);
	}
	for (unsigned i = 0; i < n && rc == 0; i++) {
		w_bind_put(d->ins, 0, t->pend[i]);
		rc = dlq_w_run(d, d->ins, "insert", NULL, NULL);
		if (rc == 0 && sqlite3_changes(d->db) > 0) {
			t->inserted++;
			t->ins_bytes += t->pend[i]->rowbytes;
		}
	}
	return rc;
}

static int
w_put(struct pb_dlq *d, struct txn *t, const struct ent_put *e)
{
	if (t->puts++ == 0)
		t->first_token = e->token;
	t->last_token = e->token;
	t->put_bytes += e->rowbytes;
	t->pend[t->npend++] = e;
	return t->npend == DLQ_INS_ROWS ? w_put_flush(d, t) : 0;
}

sqlite3_stmt *
dlq_w_stmt(struct pb_dlq *d, int kind, unsigned m)
{
	static const char *const fmt[Q_KINDS] = {
		[Q_FETCH] = "SELECT " DLQ_ROW_COLS ", record FROM dlq WHERE id > ?1%s "
			    "ORDER BY id LIMIT ?9",
		/* The fetched rows are exactly the matching ones in [first, last].
		 * OR IGNORE: no statement journal (see w_ins_many). */
		[Q_TOUCH] = "UPDATE OR IGNORE dlq SET attempts = attempts + 1 WHERE id BETWEEN ?1 AND ?9%s",
		[Q_PURGE] = "DELETE FROM dlq WHERE 1%s RETURNING bytes",
	};
	if (d->q[kind][m] == NULL &&
	    dlq_filter_prepare(d->db, fmt[kind], m, SQLITE_PREPARE_PERSISTENT, &d->q[kind][m]) !=
		SQLITE_OK) {
		dlq_w_error(d, "prepare");
		return NULL;
	}
	return d->q[kind][m];
}

static int
w_fetch(struct pb_dlq *d, struct txn *t, const struct ent_fetch *e)
{
	unsigned m = dlq_filter_mask(&e->f);
	sqlite3_stmt *s = dlq_w_stmt(d, Q_FETCH, m);
	struct res *r = calloc(1, sizeof(*r));
	size_t n = 0, cap = 0, used = 0, bufcap = 0;
	int rc = SQLITE_NOMEM;

	if (s == NULL || r == NULL) {
		if (s)
			dlq_w_error(d, "fetch: out of memory");
		free(r);
		return -1;
	}
	r->r.type = PB_DLQ_FETCHED;
	r->r.request_id = e->request_id;
	if (dlq_touch_overlap(d, &t->touch, e->after_id) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)e->after_id);
	sqlite3_bind_int64(s, 9, e->max_rows);
	if (dlq_filter_bind(s, &e->f, m) < 0)
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
		dlq_row_decode(s, &r->rows[n]);
		if (len)
			memcpy(r->buf + used, sqlite3_column_blob(s, 11), len);
		r->rows[n].len = len;
		r->rows[n].attempts++;
		used += len;
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		dlq_w_error(d, "fetch");
		goto out;
	}
	for (size_t i = 0, off = 0; i < n; off += r->rows[i].len, i++)
		r->rows[i].blob = r->buf + off;
	if (n && dlq_touch_defer(d, &t->touch, &e->f, e->after_id, r->rows[0].id,
	    r->rows[n - 1].id) < 0)
		goto out;
	r->r.count = n;
	r->r.rows = r->rows;
	r->r.more = n == e->max_rows;
	t->fetched += n;
	txn_add(t, r);
	return 0;
fail:
	sqlite3_reset(s);
	dlq_w_error(d, "fetch");
out:
	dlq_res_free(r);
	return -1;
}

/* Deletes ids first..last: one id, or a run of consecutive ones. The
 * rows and bytes are summed first: RETURNING would copy every deleted row
 * into a temporary table. */
static int
w_del_range(struct pb_dlq *d, struct txn *t, struct res *r, uint64_t first, uint64_t last)
{
	sqlite3_stmt *s = w_prepare_groups(d, &d->del_sum, "SELECT sum(bytes), count(*) FROM dlq "
	    "WHERE id BETWEEN ?1 AND ?2", 0, 0, "");
	if (s == NULL)
		return -1;
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *q = k ? d->del_id : s;
		sqlite3_bind_int64(q, 1, (sqlite3_int64)first);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)last);
	}
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		t->del_bytes += (uint64_t)sqlite3_column_int64(s, 0);
		r->r.count += (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		dlq_w_error(d, "delete");
		return -1;
	}
	return dlq_w_run(d, d->del_id, "delete", NULL, NULL);
}

/* A replay acknowledges runs of consecutive ids: each run is one range
 * (one seek, then the next row), other ids go DLQ_DEL_IDS to a statement
 * and the rest one by one. */
static int
w_delete(struct pb_dlq *d, struct txn *t, const struct ent_ids *e)
{
	struct res *r = calloc(1, sizeof(*r));
	uint64_t lone[DLQ_DEL_IDS];
	unsigned nlone = 0;
	if (r == NULL)
		return -1;
	r->r.type = PB_DLQ_DELETED;
	txn_add(t, r);
	for (uint32_t i = 0, j; i < e->n; i = j) {
		for (j = i + 1; j < e->n && e->ids[j] == e->ids[j - 1] + 1 && e->ids[j] <= INT64_MAX;
		     j++)
			;
		if (j - i >= DLQ_DEL_RUN) {
			if (w_del_range(d, t, r, e->ids[i], e->ids[j - 1]) < 0)
				return -1;
			continue;
		}
		for (uint32_t k = i; k < j; k++) {
			lone[nlone++] = e->ids[k];
			if (nlone < DLQ_DEL_IDS)
				continue;
			sqlite3_stmt *s = w_prepare_groups(d, &d->del_many,
			    "DELETE FROM dlq WHERE id IN ", 1, DLQ_DEL_IDS, " RETURNING bytes");
			if (s == NULL)
				return -1;
			for (unsigned x = 0; x < nlone; x++)
				sqlite3_bind_int64(s, (int)x + 1, (sqlite3_int64)lone[x]);
			nlone = 0;
			if (dlq_w_run(d, s, "delete", &r->r.count, &t->del_bytes) < 0)
				return -1;
		}
	}
	for (unsigned x = 0; x < nlone; x++)
		if (w_del_range(d, t, r, lone[x], lone[x]) < 0)
			return -1;
	t->del_rows += r->r.count;
	return 0;
}

static int
w_purge(struct pb_dlq *d, struct txn *t, const struct ent_purge *e)
{
	unsigned m = dlq_filter_mask(&e->f);
	sqlite3_stmt *s = dlq_w_stmt(d, Q_PURGE, m);
	struct res *r = calloc(1, sizeof(*r));
	if (r == NULL || s == NULL || dlq_filter_bind(s, &e->f, m) < 0) {
		free(r);
		return -1;
	}
	r->r.type = PB_DLQ_DELETED;
	r->r.purge = true;
	r->r.request_id = e->request_id;
	txn_add(t, r);
	if (dlq_w_run(d, s, "purge", &r->r.count, &t->del_bytes) < 0)
		return -1;
	t->del_rows += r->r.count;
	return 0;
}

/* Commits (or rolls back), applies the counters, publishes the results:
 * PUT_COMMITTED first, then fetch/delete results in queue order. */
static void
w_finish(struct pb_dlq *d, struct txn *t, bool ok)
{
	if (ok && dlq_w_exec(d, "COMMIT") < 0)
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
		dlq_touch_commit(d, &t->touch);
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

/* Ring consumer. PAD entries are skipped here. The space of what was read
 * goes back to the producers only once no pending put points into it. */
static void
w_release(struct pb_dlq *d)
{
	if (!d->held)
		atomic_store_explicit(&d->tail, d->tail_local, memory_order_release);
}

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
		w_release(d);
	}
}

static void
w_pop(struct pb_dlq *d, const struct ent *e)
{
	d->tail_local += e->size;
	w_release(d);
}

/* Runs the pending puts (a control command sees every put queued before
 * it) and gives their ring space back. */
static bool
w_settle(struct pb_dlq *d, struct txn *t, bool ok)
{
	if (ok && t->npend)
		ok = w_put_flush(d, t) == 0;
	t->npend = 0;
	d->held = 0;
	w_release(d);
	return ok;
}

/* One transaction: up to batch_rows puts, waiting up to batch_ms for more
 * while the ring is empty, unless a control command is waiting for us. */
static void
w_txn(struct pb_dlq *d)
{
	struct txn t = { 0 };
	bool ok = true, fetched = false;

	if (dlq_w_exec(d, "BEGIN IMMEDIATE") < 0) {
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
		if (e->type != ENT_PUT)
			ok = w_settle(d, &t, ok);
		switch (e->type) {
		case ENT_PUT:
			ok = w_put(d, &t, (const struct ent_put *)e) == 0;
			d->held = t.npend;
			break;
		case ENT_FETCH:
			ok = ok && w_fetch(d, &t, (const struct ent_fetch *)e) == 0;
			t.control = true;
			fetched = true;
			break;
		case ENT_DELETE:
			ok = ok && w_delete(d, &t, (const struct ent_ids *)e) == 0;
			t.control = true;
			break;
		case ENT_PURGE:
			ok = ok && w_purge(d, &t, (const struct ent_purge *)e) == 0;
			t.control = true;
			break;
		}
		w_pop(d, e);
		/* A replay waits for its page: the deletes its acks keep
		 * queueing must not hold the commit back. */
		if (!ok || fetched || t.puts >= d->batch_rows)
			break;
	}
	ok = w_settle(d, &t, ok);
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
	if (dlq_w_exec(d, "BEGIN IMMEDIATE") < 0)
		return;
	sqlite3_bind_text(d->meta_set, 1, "refused_full", -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->meta_set, 2, (sqlite3_int64)(d->st.base_full + full));
	int rc = dlq_w_run(d, d->meta_set, "meta", NULL, NULL);
	sqlite3_bind_text(d->meta_set, 1, "refused_queue", -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->meta_set, 2, (sqlite3_int64)(d->st.base_queue + queue));
	rc |= dlq_w_run(d, d->meta_set, "meta", NULL, NULL);
	if (rc == 0 && dlq_w_exec(d, "COMMIT") == 0) {
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
			if (dlq_w_exec(d, "PRAGMA incremental_vacuum(4096)") == 0)
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
	uint64_t wait = dlq_touch_wait(d, pb_mono_ns());
	if (wait > PB_NSEC_PER_SEC)
		wait = PB_NSEC_PER_SEC;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wait += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(wait / PB_NSEC_PER_SEC);
	ts.tv_nsec = (long)(wait % PB_NSEC_PER_SEC);
	pthread_mutex_lock(&d->wmtx);
	atomic_store(&d->writer_idle, 1);
	/* Re-checked after raising the flag: a producer publishing now sees it. */
	if (d->tail_local == atomic_load(&d->head) && !atomic_load(&d->stop))
		pthread_cond_timedwait(&d->wcond, &d->wmtx, &ts);
	atomic_store(&d->writer_idle, 0);
	pthread_mutex_unlock(&d->wmtx);
}

void *
dlq_writer_main(void *arg)
{
	struct pb_dlq *d = arg;
	pthread_setname_np(pthread_self(), "pb-dlq");
	for (;;) {
		if (w_peek(d)) {
			w_txn(d);
			dlq_touch_flush(d, false);
			w_housekeeping(d, false, false);
			continue;
		}
		if (atomic_load(&d->stop) && w_peek(d) == NULL)
			break;
		dlq_touch_flush(d, false);
		w_housekeeping(d, true, false);
		w_sleep(d);
	}
	dlq_touch_flush(d, true);
	/* Final report, counters, and up to 1 GiB of reclaim: close stays short. */
	for (int i = 0; i < 64 && d->vacuum_due; i++)
		w_housekeeping(d, true, true);
	w_housekeeping(d, true, true);
	return NULL;
}
