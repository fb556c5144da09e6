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
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "dlq_internal.h"
#include "dlq_store.h"
#include "log.h"

/*
 * Public API: open/close, the producer side of the ring, stats and the
 * management lister. The writer thread lives in dlq_writer.c; the layout is
 * described in dlq_internal.h.
 */

#define DLQ_QUEUE_DEFAULT ((size_t)64 << 20)
#define DLQ_QUEUE_MIN ((size_t)2 << 20)
#define DLQ_CTL_RESERVE ((size_t)64 << 10) /* ring space puts may not use */
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

/* Migration 2: keep identical to schema/dlq-2.sql (checked by test_dlq). */
static const char dlq_schema_v2[] =
	"-- SPDX-License-Identifier: Apache-2.0\n"
	"-- packetbroker DLQ schema, migration 2 (PRAGMA user_version = 2).\n"
	"-- server/dlq_store.c embeds this exact text (a unit test compares them).\n"
	"-- Three indexes instead of four, for faster spills and deletes: the\n"
	"-- uniqueness key now leads with origin_node, so it also serves the node\n"
	"-- filter that dlq_origin served. SQLite cannot change a constraint in\n"
	"-- place: the rows move to a new table, with their ids and the\n"
	"-- AUTOINCREMENT counter (ids are never reused).\n"
	"CREATE TABLE dlq_v2 (\n"
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
	"\tUNIQUE (origin_node, origin_epoch, origin_seq, origin_source, peer)\n"
	");\n"
	"INSERT INTO dlq_v2 SELECT id, peer, origin_node, origin_source, origin_epoch, origin_seq,\n"
	"\tcapture_ns, enqueue_ns, reason, attempts, bytes, record FROM dlq ORDER BY id;\n"
	"DELETE FROM sqlite_sequence WHERE name = 'dlq_v2';\n"
	"INSERT INTO sqlite_sequence (name, seq) SELECT 'dlq_v2', seq FROM sqlite_sequence WHERE name = 'dlq';\n"
	"DROP TABLE dlq;\n"
	"ALTER TABLE dlq_v2 RENAME TO dlq;\n"
	"CREATE INDEX dlq_peer_id ON dlq (peer, id);\n"
	"CREATE INDEX dlq_capture ON dlq (capture_ns);\n";

static const char *const dlq_migrations[PB_DLQ_SCHEMA_VERSION] = {
	dlq_schema_v1, dlq_schema_v2,
};

const char *const dlq_reason_names[PB_DLQ_REASON_COUNT] = {
	[PB_DLQ_TIMEOUT] = "timeout",
	[PB_DLQ_OVERFLOW] = "overflow",
	[PB_DLQ_SHUTDOWN] = "shutdown",
	[PB_DLQ_PEER_REMOVED] = "peer_removed",
};

const char *
pb_dlq_reason_name(int reason)
{
	return reason >= 0 && reason < PB_DLQ_REASON_COUNT ? dlq_reason_names[reason] : NULL;
}

int
pb_dlq_reason_from_name(const char *name)
{
	for (int i = 0; name && i < PB_DLQ_REASON_COUNT; i++)
		if (strcmp(name, dlq_reason_names[i]) == 0)
			return i;
	return -1;
}

const char *
pb_dlq_schema_sql(unsigned version)
{
	return version >= 1 && version <= PB_DLQ_SCHEMA_VERSION ? dlq_migrations[version - 1] : NULL;
}

/* ---- filter validation (the SQL side is in dlq_filter.c) ---- */

static int
filter_check(const struct pb_dlq_filter *f)
{
	if (memchr(f->peer, '\0', sizeof(f->peer)) == NULL ||
	    (f->by_reason && f->reason >= PB_DLQ_REASON_COUNT))
		return -1;
	return 0;
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
	char sql[192];
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
	/* ignore_check_constraints: SQLite checks `reason IN (...)` through a
	 * temporary index built for every row inserted (a sixth of the spill);
	 * pb_dlq_put admits only the four reasons. Other connections still
	 * check. */
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s; PRAGMA journal_size_limit = %d; "
				   "PRAGMA cache_size = -16384; PRAGMA ignore_check_constraints = ON",
	    cfg->sync_full ? "FULL" : "NORMAL", 64 << 20);
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
		if (uv > 0) {
			log_info("dlq", "%s: schema migrated to version %lld", cfg->path,
			    (long long)v + 1);
			d->vacuum_due = true; /* a rebuilt table leaves its old pages free */
		}
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
	    sqlite3_prepare_v3(d->db, "DELETE FROM dlq WHERE id BETWEEN ?1 AND ?2",
		-1, pf, &d->del_id, NULL) != SQLITE_OK ||
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
	sqlite3_finalize(d->ins_many);
	sqlite3_finalize(d->ins_tail);
	sqlite3_finalize(d->del_many);
	sqlite3_finalize(d->del_id);
	sqlite3_finalize(d->del_sum);
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
		dlq_res_free(d->rhead);
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
	int rc = pthread_create(&d->thread, NULL, dlq_writer_main, d);
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

uint64_t
pb_dlq_queued_bytes(struct pb_dlq *d)
{
	return LOAD(d->st.queued_bytes);
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

static int
dlq_list(const char *path, const struct pb_dlq_filter *f, uint64_t offset, uint32_t limit,
    bool blobs, pb_dlq_row_fn *each, void *arg, uint64_t *total, char *err, size_t errlen)
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
	unsigned m = dlq_filter_mask(f);
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
		if ((rc = dlq_filter_prepare(db, "SELECT count(*) FROM dlq WHERE 1%s", m, 0, &s)) ||
		    (rc = dlq_filter_bind(s, f, m)) || (rc = sqlite3_step(s)) != SQLITE_ROW)
			goto sqlerr;
		*total = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		s = NULL;
	}
	if (each) {
		rc = dlq_filter_prepare(db, blobs ?
		    "SELECT " DLQ_ROW_COLS ", length(record), record FROM dlq WHERE 1%s "
		    "ORDER BY id LIMIT ?9 OFFSET ?10" :
		    "SELECT " DLQ_ROW_COLS ", length(record) FROM dlq WHERE 1%s "
		    "ORDER BY id LIMIT ?9 OFFSET ?10", m, 0, &s);
		if (rc || (rc = dlq_filter_bind(s, f, m)))
			goto sqlerr;
		sqlite3_bind_int64(s, 9, limit ? (sqlite3_int64)limit : -1);
		sqlite3_bind_int64(s, 10, offset > INT64_MAX ? INT64_MAX : (sqlite3_int64)offset);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct pb_dlq_row row;
			dlq_row_decode(s, &row);
			n = sqlite3_column_int64(s, 11);
			row.len = (size_t)n;
			if (blobs) {
				row.blob = sqlite3_column_blob(s, 12);
				row.len = (size_t)sqlite3_column_bytes(s, 12);
			}
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

int
pb_dlq_list(const char *path, const struct pb_dlq_filter *f, uint64_t offset, uint32_t limit,
    pb_dlq_row_fn *each, void *arg, uint64_t *total, char *err, size_t errlen)
{
	return dlq_list(path, f, offset, limit, false, each, arg, total, err, errlen);
}

int
pb_dlq_list_records(const char *path, const struct pb_dlq_filter *f, uint32_t limit,
    pb_dlq_row_fn *each, void *arg, char *err, size_t errlen)
{
	return dlq_list(path, f, 0, limit, true, each, arg, NULL, err, errlen);
}
