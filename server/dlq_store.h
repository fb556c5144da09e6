/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_DLQ_STORE_H
#define PB_DLQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * Dead letter queue: records that could not be delivered to a downstream
 * peer, kept in an SQLite file until they are replayed (and deleted after the
 * peer's ack) or purged.
 *
 * Threads
 *   - pb_dlq_open/close and the result callback: the loop thread.
 *   - pb_dlq_put/fetch/delete/purge: any thread (normally the engine). They
 *     copy into a bounded in-memory ring and return: no I/O, no malloc, no
 *     syscall (one futex wake when the writer thread sleeps). Callers are
 *     serialised by a producer-only mutex the writer never takes.
 *   - One writer thread owns the read-write connection and executes the ring
 *     in order (a delete queued after a put sees that put), batching into
 *     BEGIN IMMEDIATE..COMMIT transactions of up to batch_rows puts or
 *     batch_ms, 16 puts to an INSERT statement; a fetch ends its
 *     transaction, so its page goes out at once. Fetches, deletes and
 *     purges run on the same connection, so they never block the engine
 *     either.
 *   - pb_dlq_get_stats, pb_dlq_list: any thread. pb_dlq_list opens its own
 *     read-only connection per call (WAL: readers and the writer do not
 *     block each other; measured ~0.15-0.3 ms per call with count + 10 rows).
 *
 * Results come back on the loop thread through an eventfd, after the
 * transaction that produced them committed (or failed).
 *
 * Durability: WAL with synchronous=NORMAL (default) survives any process
 * crash, kill -9 included, for every transaction whose PUT_COMMITTED was
 * delivered; a power loss or kernel crash may roll back the last commits
 * (the file stays consistent). cfg->sync_full selects synchronous=FULL: the
 * WAL is fsync'ed on each commit, so commits also survive power loss, at
 * the cost of one fsync per batch.
 *
 * Size policy ("refuse and count", never evict): each row is accounted as
 * its blob length + PB_DLQ_ROW_OVERHEAD + strlen(peer) (the `bytes` column),
 * close to its real footprint (measured: ~285 bytes/row in the file for
 * 150-byte blobs, accounted 288); the WAL (<= 64 MiB after checkpoints) and
 * not yet reclaimed free pages come on top of max_bytes.
 * A put that would take committed + queued bytes above max_bytes is refused
 * and counted (refused_full); a put that does not fit in the ring is refused
 * and counted (refused_queue). Refusals are logged by the writer thread,
 * the first at once, then at most once per 10 s with the counts. Lifetime
 * refusal totals are persisted in the `meta` table (within ~1 s).
 *
 * Throughput (tests/bench/bench_dlq, 150-byte blobs, database in /dev/shm,
 * a 2-core VM shared with other builds): about 1.8-2.2 us of CPU per row
 * spilled and 2.4-2.9 us per row replayed (fetch + delete), down from 3.6-4
 * and 3.3-4.1 us (schema 2: three indexes; 16 rows to an INSERT without
 * RETURNING nor statement journal, the reason CHECK left to pb_dlq_put,
 * acknowledged id runs deleted as ranges, attempts written later).
 *
 * Integer columns are SQLite's signed 64-bit: uint64_t values are stored
 * bit-for-bit, so they round-trip, but range filters only order correctly
 * below 2^63 (capture times are nanoseconds: until year 2262).
 */

#define PB_DLQ_SCHEMA_VERSION 2  /* PRAGMA user_version this code writes */
#define PB_DLQ_PEER_MAX 64       /* peer name, NUL included */
#define PB_DLQ_BLOB_MAX (256u * 1024u) /* one encoded record */
#define PB_DLQ_ROW_OVERHEAD 128u /* per row besides blob + peer: columns + 3 indexes */
#define PB_DLQ_FETCH_MAX 16384u  /* max_rows of one fetch */
#define PB_DLQ_DELETE_MAX 16384u /* ids of one pb_dlq_delete() */

enum pb_dlq_reason {
	PB_DLQ_TIMEOUT = 0,
	PB_DLQ_OVERFLOW,
	PB_DLQ_SHUTDOWN,
	PB_DLQ_PEER_REMOVED,
	PB_DLQ_REASON_COUNT
};

/* "timeout", "overflow", "shutdown", "peer_removed"; NULL when out of range. */
const char *pb_dlq_reason_name(int reason);
/* enum pb_dlq_reason, or -1 when unknown. */
int pb_dlq_reason_from_name(const char *name);

struct pb_dlq_meta {
	char peer[PB_DLQ_PEER_MAX]; /* downstream peer name, non-empty */
	uint32_t origin_node;
	uint16_t origin_source;
	uint8_t reason;             /* enum pb_dlq_reason */
	uint64_t origin_epoch;
	uint64_t origin_seq;
	uint64_t capture_ns;
	uint64_t enqueue_ns;
};

struct pb_dlq_cfg {
	const char *path;     /* database file; parent directories are created */
	uint64_t max_bytes;   /* accounted bytes cap (dlq.max_mb); 0 = no cap */
	uint32_t batch_rows;  /* puts per transaction; 0 = 512 */
	uint32_t batch_ms;    /* max wait to fill a batch; 0 = 5 */
	size_t queue_bytes;   /* in-memory ring; 0 = 64 MiB (rounded up to 2^n) */
	uint32_t busy_ms;     /* sqlite3_busy_timeout; 0 = 5000 */
	bool sync_full;       /* synchronous=FULL instead of NORMAL */
};

/*
 * Row selection for fetch, purge and list. A zeroed filter matches all rows.
 * Ranges are inclusive; a max of 0 means no upper bound.
 */
struct pb_dlq_filter {
	char peer[PB_DLQ_PEER_MAX]; /* "" = any */
	bool by_node;
	uint32_t origin_node;
	bool by_reason;
	uint8_t reason;
	uint64_t capture_min_ns, capture_max_ns;
	uint64_t id_min, id_max;
};

struct pb_dlq_row {
	uint64_t id;               /* increasing, never reused (AUTOINCREMENT) */
	struct pb_dlq_meta meta;
	uint32_t attempts;         /* fetches so far (this one included) */
	uint64_t bytes;            /* accounted bytes */
	const uint8_t *blob;       /* FETCHED only (NULL in pb_dlq_list) */
	size_t len;                /* blob length */
};

enum pb_dlq_result_type {
	PB_DLQ_PUT_COMMITTED = 1,
	PB_DLQ_FETCHED,
	PB_DLQ_DELETED,
};

/*
 * Valid only during the callback.
 * PUT_COMMITTED: puts with tokens first_token..token were processed; when
 *   status is 0 they are durable (inserted, or already present: count -
 *   inserted duplicates). status -1: the transaction failed and these puts
 *   were lost (stats errors/last_error say why). Consecutive results may be
 *   merged into one.
 * FETCHED: `count` rows (ids ascending) for request_id; `more` when count
 *   reached max_rows. status -1: the fetch failed (count 0).
 * DELETED: `count` rows removed by pb_dlq_delete (request_id 0, purge false)
 *   or by pb_dlq_purge (its request_id, purge true).
 */
struct pb_dlq_result {
	enum pb_dlq_result_type type;
	int status;
	uint64_t count;
	uint64_t inserted;
	uint64_t first_token, token;
	uint64_t request_id;
	bool more;
	bool purge;
	const struct pb_dlq_row *rows;
};

typedef void pb_dlq_result_fn(void *arg, const struct pb_dlq_result *res);
/* pb_dlq_list: return 0 to continue, non-zero to stop. */
typedef int pb_dlq_row_fn(void *arg, const struct pb_dlq_row *row);

struct pb_dlq_stats_snapshot {
	uint64_t rows, bytes;            /* committed in the database */
	uint64_t queued, queued_bytes;   /* accepted puts not committed yet */
	uint64_t max_bytes;
	uint64_t inserted, duplicates;
	uint64_t refused_full, refused_queue; /* since open */
	uint64_t lifetime_refused_full, lifetime_refused_queue; /* persisted */
	uint64_t fetched, deleted;
	uint64_t commits, errors;
	char last_error[256];            /* "" when none */
};

struct pb_dlq;

/*
 * Opens (creating when needed) the database, applies migrations, starts the
 * writer thread and registers the result eventfd on `loop`. A database with
 * a newer user_version than PB_DLQ_SCHEMA_VERSION, or a non-empty SQLite file
 * without one, is refused. NULL + err on failure.
 */
struct pb_dlq *pb_dlq_open(const struct pb_dlq_cfg *cfg, struct pb_loop *loop,
    pb_dlq_result_fn *cb, void *arg, char *err, size_t errlen);

/*
 * Queues one record (blob copied). 0 and *token (may be NULL) = this put's
 * token, increasing by one per accepted put from 1. -1 when refused: errno
 * ENOSPC (max_bytes), ENOBUFS (ring full), EINVAL (bad meta or length).
 */
int pb_dlq_put(struct pb_dlq *d, const struct pb_dlq_meta *meta, const uint8_t *blob,
    size_t len, uint64_t *token);

/* Rows with id > after_id matching f, ascending, at most max_rows
 * (1..PB_DLQ_FETCH_MAX); increments their attempts. The file gets the
 * increments within ~1.2 s (when pb_dlq_close at the latest; a crash
 * before loses them), in one UPDATE once most rows were deleted; the rows
 * this and later fetches return always count them. -1 (ENOBUFS/EINVAL). */
int pb_dlq_fetch(struct pb_dlq *d, const struct pb_dlq_filter *f, uint64_t after_id,
    uint32_t max_rows, uint64_t request_id);
/* Deletes by id (n <= PB_DLQ_DELETE_MAX), one DELETED result. */
int pb_dlq_delete(struct pb_dlq *d, const uint64_t *ids, size_t n);
/* Deletes every row matching f, one DELETED result with request_id. */
int pb_dlq_purge(struct pb_dlq *d, const struct pb_dlq_filter *f, uint64_t request_id);

/* Any thread. */
void pb_dlq_get_stats(struct pb_dlq *d, struct pb_dlq_stats_snapshot *out);
/* Any thread: stats.queued_bytes alone (one atomic load, for hot paths). */
uint64_t pb_dlq_queued_bytes(struct pb_dlq *d);

/*
 * Management read, any thread, own read-only connection: metadata of the
 * rows matching f (ids ascending, skipping `offset`, at most `limit`, 0 =
 * no limit), blob NULL. *total (may be NULL) = number of matching rows.
 * 0, or -1 + err.
 */
int pb_dlq_list(const char *path, const struct pb_dlq_filter *f, uint64_t offset,
    uint32_t limit, pb_dlq_row_fn *each, void *arg, uint64_t *total, char *err,
    size_t errlen);

/*
 * The same with each row's record (blob and len set, valid during the
 * callback), ids ascending from f->id_min, at most limit (0 = no limit):
 * page through with id_min = last id + 1.
 */
int pb_dlq_list_records(const char *path, const struct pb_dlq_filter *f, uint32_t limit,
    pb_dlq_row_fn *each, void *arg, char *err, size_t errlen);

/* SQL of migration `version` (1..PB_DLQ_SCHEMA_VERSION), NULL otherwise. */
const char *pb_dlq_schema_sql(unsigned version);

/*
 * Loop thread, not from the result callback, before pb_loop_free(). Commits
 * everything queued (no put is lost; blocks while another process holds the
 * database lock), stops the writer, reclaims free pages, checkpoints and
 * closes. Results not delivered yet are dropped.
 */
void pb_dlq_close(struct pb_dlq *d);

#endif
