/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "dlq_store.h"
#include "loop.h"
#include "dlq_test.h"

/*
 * The DLQ file's schema: the migrations' text is the schema/ files', a new
 * file gets the current schema, and a file left by an older packetbrokerd
 * is upgraded in place without losing or renumbering a row.
 */

struct fx {
	char dir[64];
	char path[PATH_MAX];
	struct pb_loop *loop;
	uint64_t token, committed, inserted;
	uint64_t fetched, fetched_id, fetched_seq;
};

static void
on_result(void *arg, const struct pb_dlq_result *r)
{
	struct fx *f = arg;
	if (r->type == PB_DLQ_PUT_COMMITTED) {
		assert_int_equal(r->status, 0);
		f->token = r->token;
		f->committed += r->count;
		f->inserted += r->inserted;
	} else if (r->type == PB_DLQ_FETCHED) {
		assert_int_equal(r->status, 0);
		f->fetched++;
		f->fetched_id = r->count ? r->rows[r->count - 1].id : 0;
		f->fetched_seq = r->count ? r->rows[r->count - 1].meta.origin_seq : 0;
	}
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/pbdlqs.XXXXXX");
	f->loop = dlq_test_begin(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/dlq.db", f->dir);
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
dlq_open(struct fx *f)
{
	char err[256] = "";
	struct pb_dlq_cfg cfg = { .path = f->path, .queue_bytes = 4 << 20 };
	struct pb_dlq *d = pb_dlq_open(&cfg, f->loop, on_result, f, err, sizeof(err));
	if (d == NULL)
		fail_msg("open: %s", err);
	return d;
}

/* Every column of every row, in id order, as one string. */
static char *
raw_dump(sqlite3 *db)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(r, ';') FROM (SELECT id || ',' "
	    "|| peer || ',' || origin_node || ',' || origin_source || ',' || origin_epoch || ',' "
	    "|| origin_seq || ',' || capture_ns || ',' || enqueue_ns || ',' || reason || ',' "
	    "|| attempts || ',' || bytes || ',' || hex(record) AS r FROM dlq ORDER BY id)", -1, &s,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	const char *t = (const char *)sqlite3_column_text(s, 0);
	assert_non_null(t);
	char *copy = strdup(t);
	assert_non_null(copy);
	sqlite3_finalize(s);
	return copy;
}

static void
test_schema_text_matches_files(void **state)
{
	const char *top = getenv("top_srcdir");
	char dir[PATH_MAX], path[PATH_MAX + 32], buf[8192];

	if (top == NULL || top[0] == '\0') {
		/* Derived from this file's path when run by hand. */
		snprintf(dir, sizeof(dir), "%s", __FILE__);
		char *p = strstr(dir, "/tests/unit/test_dlq_schema.c");
		assert_non_null(p);
		*p = '\0';
	} else {
		snprintf(dir, sizeof(dir), "%s", top);
	}
	for (unsigned v = 1; v <= PB_DLQ_SCHEMA_VERSION; v++) {
		if (v == 1)
			snprintf(path, sizeof(path), "%s/schema/dlq.sql", dir);
		else
			snprintf(path, sizeof(path), "%s/schema/dlq-%u.sql", dir, v);
		FILE *fp = fopen(path, "r");
		if (fp == NULL)
			fail_msg("%s: %s", path, strerror(errno));
		size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		assert_non_null(pb_dlq_schema_sql(v));
		assert_string_equal(buf, pb_dlq_schema_sql(v));
	}
	assert_null(pb_dlq_schema_sql(0));
	assert_null(pb_dlq_schema_sql(PB_DLQ_SCHEMA_VERSION + 1));
}

/* The indexes of the current schema: one less than migration 1 had. */
static void
check_schema(sqlite3 *db)
{
	assert_int_equal(raw_int(db, "PRAGMA user_version"), PB_DLQ_SCHEMA_VERSION);
	assert_int_equal(raw_int(db, "PRAGMA auto_vacuum"), 2); /* INCREMENTAL */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
	    "('dlq', 'meta', 'dlq_peer_id', 'dlq_capture')"), 4);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
	    "AND tbl_name = 'dlq'"), 3); /* the two above and the uniqueness key */
	/* The uniqueness key leads with origin_node: node filters use it. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_index_list('dlq') AS l, "
	    "pragma_index_info(l.name) AS i WHERE l.origin = 'u' AND i.seqno = 0 AND "
	    "i.name = 'origin_node'"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE "
	    "'%dlq_v2%' OR name = 'dlq_origin'"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_integrity_check "
	    "WHERE integrity_check <> 'ok'"), 0);
	/* The CHECK constraint guards the reason column. */
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO dlq (peer, origin_node, origin_source, "
	    "origin_epoch, origin_seq, capture_ns, enqueue_ns, reason, bytes, record) "
	    "VALUES ('p', 1, 1, 1, 1, 1, 1, 'lost', 1, x'00')", NULL, NULL, NULL), SQLITE_OK);
}

static void
test_schema_created(void **state)
{
	struct fx *f = *state;
	pb_dlq_close(dlq_open(f));
	sqlite3 *db = raw_open(f->path);
	check_schema(db);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static uint64_t
put(struct pb_dlq *d, const char *peer, uint32_t node, uint64_t seq)
{
	struct pb_dlq_meta m = { .origin_node = node, .origin_source = 1,
		.origin_epoch = 77, .origin_seq = seq, .capture_ns = seq, .enqueue_ns = 1,
		.reason = PB_DLQ_TIMEOUT };
	uint8_t blob[16];
	uint64_t tok = 0;
	snprintf(m.peer, sizeof(m.peer), "%s", peer);
	memset(blob, (int)seq, sizeof(blob));
	assert_int_equal(pb_dlq_put(d, &m, blob, sizeof(blob), &tok), 0);
	return tok;
}

/* A file as a packetbrokerd with schema version 1 left it: 300 rows, some
 * fetched, the highest id and a few others deleted. */
static void
make_v1_file(const char *path)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; "
	    "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, pb_dlq_schema_sql(1), NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1; BEGIN", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO dlq (peer, origin_node, "
	    "origin_source, origin_epoch, origin_seq, capture_ns, enqueue_ns, reason, bytes, "
	    "record) VALUES (?1, ?2, 1, 77, ?3, ?3, 1, 'overflow', ?4, ?5)", -1, &s, NULL),
	    SQLITE_OK);
	for (int i = 0; i < 300; i++) {
		uint8_t blob[40];
		memset(blob, i, sizeof(blob));
		sqlite3_bind_text(s, 1, i % 3 ? "peer-a" : "peer-b", -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, 1 + i % 4);
		sqlite3_bind_int(s, 3, i);
		sqlite3_bind_int(s, 4, 40 + 128 + 6);
		sqlite3_bind_blob(s, 5, blob, 1 + i % (int)sizeof(blob), SQLITE_STATIC);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_exec(db, "UPDATE dlq SET attempts = 2 WHERE id % 7 = 0; "
	    "DELETE FROM dlq WHERE id IN (5, 150, 300); COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'dlq'"), 300);
	sqlite3_close(db);
}

static void
test_upgrade_from_v1(void **state)
{
	struct fx *f = *state;

	make_v1_file(f->path);
	sqlite3 *db = raw_open(f->path);
	char *before = raw_dump(db);
	sqlite3_close(db);

	struct pb_dlq *d = dlq_open(f);
	struct pb_dlq_stats_snapshot st;
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 297);
	assert_int_equal(st.bytes, 297 * (40 + 128 + 6));

	db = raw_open(f->path);
	check_schema(db);
	char *after = raw_dump(db);
	assert_string_equal(after, before);
	free(after);
	/* The id counter moved with the rows: 300 was used, never again. */
	assert_int_equal(raw_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'dlq'"), 300);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_sequence"), 1);
	sqlite3_close(db);

	/* Uniqueness still holds under the new key; new ids follow 300. */
	uint64_t t = put(d, "peer-b", 1, 0); /* in the file since version 1 */
	WAIT(f, f->token == t);
	assert_int_equal(f->inserted, 0);
	t = put(d, "peer-a", 1, 0);           /* same origin, other peer */
	WAIT(f, f->token == t);
	assert_int_equal(f->inserted, 1);
	assert_int_equal(pb_dlq_fetch(d, NULL, 299, 10, 1), 0);
	WAIT(f, f->fetched == 1);
	/* > 300, not 301: SQLite spends an id on the ignored duplicate. */
	assert_true(f->fetched_id > 300);
	assert_int_equal(f->fetched_seq, 0);
	pb_dlq_close(d);

	/* Reopening a current file migrates nothing. */
	d = dlq_open(f);
	pb_dlq_get_stats(d, &st);
	assert_int_equal(st.rows, 298);
	pb_dlq_close(d);
	db = raw_open(f->path);
	check_schema(db);
	after = raw_dump(db);
	assert_int_equal(strncmp(after, before, strlen(before)), 0);
	free(after);
	free(before);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_text_matches_files),
		cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
	};
	return cmocka_run_group_tests_name("dlq_schema", tests, NULL, NULL);
}
