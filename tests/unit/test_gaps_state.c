/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gaps.h"

/* A restarted collector must still know what it never received. */
static void
test_save_load_keeps_missing_ranges(void **state)
{
	struct pb_gaps *g = pb_gaps_new(NULL);
	/* stream A: 1..10, 20..30, 40 → missing 11-19, 31-39 */
	for (uint64_t s = 1; s <= 10; s++)
		pb_gaps_observe(g, 7, 1, 99, s);
	for (uint64_t s = 20; s <= 30; s++)
		pb_gaps_observe(g, 7, 1, 99, s);
	pb_gaps_observe(g, 7, 1, 99, 40);
	/* stream B: in order, no gap */
	for (uint64_t s = 1; s <= 5; s++)
		pb_gaps_observe(g, 8, 0, 5, s);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(pb_gaps_save(g, f), 0);
	rewind(f);
	struct pb_gaps *h = pb_gaps_new(NULL);
	assert_int_equal(pb_gaps_load(h, f), 2);
	fclose(f);

	struct pb_gaps_stream_info info;
	struct pb_gap_range r[4];
	assert_int_equal(pb_gaps_stream_get(h, 7, 1, 99, &info, r, 4), 2);
	assert_int_equal(info.expected_next, 41);
	assert_int_equal(info.missing_total, 9 + 9);
	assert_int_equal(r[0].lo, 11);
	assert_int_equal(r[0].hi, 19);
	assert_int_equal(r[1].lo, 31);
	assert_int_equal(r[1].hi, 39);
	assert_int_equal(pb_gaps_stream_get(h, 8, 0, 5, &info, r, 4), 0);
	assert_int_equal(info.expected_next, 6);

	/* Behaviour after the restore: holes fill, the rest is a duplicate. */
	assert_int_equal(pb_gaps_observe(h, 7, 1, 99, 15), PB_GAP_FILLED);
	assert_int_equal(pb_gaps_observe(h, 7, 1, 99, 25), PB_GAP_DUPLICATE);
	assert_int_equal(pb_gaps_observe(h, 7, 1, 99, 41), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(h, 8, 0, 5, 3), PB_GAP_DUPLICATE);
	pb_gaps_reset_counters(h);
	assert_int_equal(pb_gaps_stream_get(h, 7, 1, 99, &info, r, 4), 3);
	assert_int_equal(info.duplicates, 0);
	assert_int_equal(info.missing_total, 17);
	pb_gaps_free(g);
	pb_gaps_free(h);
}

static void
test_load_ignores_garbage(void **state)
{
	FILE *f = tmpfile();
	fputs("# comment\nnot a line\n1 70000 3 10 2-3\n2 1 3 10 5-4 2-3 3-4 8-20 6-7\n", f);
	rewind(f);
	struct pb_gaps *g = pb_gaps_new(NULL);
	assert_int_equal(pb_gaps_load(g, f), 1); /* source 70000 is out of range */
	fclose(f);
	struct pb_gaps_stream_info info;
	struct pb_gap_range r[4];
	/* 5-4 reversed, 3-4 overlaps, 8-20 beyond expected, 6-7 kept */
	assert_int_equal(pb_gaps_stream_get(g, 2, 1, 3, &info, r, 4), 2);
	assert_int_equal(r[0].lo, 2);
	assert_int_equal(r[1].lo, 6);
	assert_int_equal(info.missing_total, 4);
	pb_gaps_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_load_keeps_missing_ranges),
		cmocka_unit_test(test_load_ignores_garbage),
	};
	return cmocka_run_group_tests_name("gaps_state", tests, NULL, NULL);
}
