/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_DLQ_TEST_H
#define PB_DLQ_TEST_H

/*
 * Shared by the DLQ unit tests: a temporary directory per test, a raw
 * SQLite look at the file, and waiting on the loop for a condition.
 * Include after cmocka.h.
 */

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "clock.h"
#include "loop.h"

/* Runs the loop until `cond` holds; fails after 30 s (valgrind is slow). */
#define WAIT(f, cond)                                                                 \
	do {                                                                          \
		uint64_t end_ = pb_mono_ns() + 30 * PB_NSEC_PER_SEC;                   \
		while (!(cond)) {                                                     \
			if (pb_mono_ns() > end_)                                      \
				fail_msg("timeout waiting for %s", #cond);            \
			pb_loop_run_once((f)->loop, 20);                              \
		}                                                                     \
	} while (0)

static inline int
dlq_test_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

/* Creates dir (a mkdtemp template, e.g. "/tmp/pbdlq.XXXXXX") and a loop. */
static inline struct pb_loop *
dlq_test_begin(char *dir)
{
	char err[256];
	assert_non_null(mkdtemp(dir));
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	assert_non_null(loop);
	return loop;
}

static inline void
dlq_test_end(const char *dir, struct pb_loop *loop)
{
	pb_loop_free(loop);
	nftw(dir, dlq_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline sqlite3 *
raw_open(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static inline int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

#endif
