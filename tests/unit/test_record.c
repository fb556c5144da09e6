/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"

static struct pb_record rec; /* ~1.3 KB: keep it off the test stack */

static void
fill_metadata(struct pb_record *r)
{
	static const uint8_t frame[4] = { 1, 2, 3, 4 };

	r->data = frame;
	r->caplen = 4;
	r->origlen = 60;
	r->ts_ns = 1700000000123456789ull;
	r->origin_epoch = 7;
	r->origin_seq = 42;
	r->origin_node = 9;
	r->origin_source = 3;
	r->linktype = 1;
	r->flags = PB_REC_FCS;
	r->ntrailers = 2;
	r->nhops = 5;
}

static void
test_reset_clears_metadata(void **state)
{
	fill_metadata(&rec);
	rec.trailers[1].ts_ns = 0x1122334455667788ull;
	rec.hops[4].node_id = 77;

	pb_record_reset(&rec);
	assert_null(rec.data);
	assert_int_equal(rec.caplen, 0);
	assert_int_equal(rec.origlen, 0);
	assert_int_equal(rec.ts_ns, 0);
	assert_int_equal(rec.origin_epoch, 0);
	assert_int_equal(rec.origin_seq, 0);
	assert_int_equal(rec.origin_node, 0);
	assert_int_equal(rec.origin_source, 0);
	assert_int_equal(rec.linktype, 0);
	assert_int_equal(rec.flags, 0);
	assert_int_equal(rec.ntrailers, 0);
	assert_int_equal(rec.nhops, 0);
	/* The big arrays are left alone (cost), only the counts reset. */
	assert_int_equal(rec.trailers[1].ts_ns, 0x1122334455667788ull);
	assert_int_equal(rec.hops[4].node_id, 77);
}

static void
test_add_hop_limit(void **state)
{
	pb_record_reset(&rec);
	for (uint32_t i = 0; i < PB_MAX_HOPS; i++) {
		assert_int_equal(pb_record_add_hop(&rec, 100 + i, 1000 + i,
		    5000000000ull + i), 0);
		assert_int_equal(rec.nhops, i + 1);
	}
	assert_int_equal(pb_record_add_hop(&rec, 999, 1, 1), -1);
	assert_int_equal(rec.nhops, PB_MAX_HOPS);
	for (uint32_t i = 0; i < PB_MAX_HOPS; i++) {
		assert_int_equal(rec.hops[i].node_id, 100 + i);
		assert_int_equal(rec.hops[i].seq, 1000 + i);
		assert_int_equal(rec.hops[i].ts_ns, 5000000000ull + i);
		assert_int_equal(rec.hops[i].flags, 0);
	}
	assert_false(pb_record_has_node(&rec, 999));

	/* After a reset the record takes hops again. */
	pb_record_reset(&rec);
	assert_int_equal(pb_record_add_hop(&rec, 1, 2, 3), 0);
	assert_int_equal(rec.nhops, 1);
}

static void
test_add_hop_clears_flags(void **state)
{
	pb_record_reset(&rec);
	rec.hops[0].flags = 0xFFFFFFFFu;
	assert_int_equal(pb_record_add_hop(&rec, 5, 6, 7), 0);
	assert_int_equal(rec.hops[0].flags, 0);
}

static void
test_has_node(void **state)
{
	pb_record_reset(&rec);
	rec.origin_node = 10;
	assert_true(pb_record_has_node(&rec, 10));
	assert_false(pb_record_has_node(&rec, 11));

	assert_int_equal(pb_record_add_hop(&rec, 11, 1, 1), 0);
	assert_int_equal(pb_record_add_hop(&rec, 12, 1, 1), 0);
	assert_true(pb_record_has_node(&rec, 11));
	assert_true(pb_record_has_node(&rec, 12));
	assert_false(pb_record_has_node(&rec, 13));

	/* Stale hop entries beyond nhops do not count. */
	rec.hops[2].node_id = 13;
	assert_false(pb_record_has_node(&rec, 13));
	pb_record_reset(&rec);
	assert_false(pb_record_has_node(&rec, 11));
	assert_true(pb_record_has_node(&rec, 0)); /* reset origin is node 0 */
}

static void
test_default_max_frame(void **state)
{
	uint32_t lowest = PB_JUMBO_FRAME + PB_MIN_TRAILERS_RESERVED * PB_TRAILER_RESERVE;

	assert_true(PB_JUMBO_FRAME >= 9018);
	for (unsigned n = 0; n <= PB_MIN_TRAILERS_RESERVED; n++) {
		assert_true(pb_record_default_max_frame(n) >= 9018 + 4 * 20);
		assert_true(pb_record_default_max_frame(n) >= lowest);
		assert_int_equal(pb_record_default_max_frame(n),
		    pb_record_default_max_frame(0));
	}
	assert_int_equal(pb_record_default_max_frame(0),
	    PB_JUMBO_FRAME + PB_QINQ_TAGS + 4 * PB_TRAILER_RESERVE);
	assert_int_equal(pb_record_default_max_frame(PB_MAX_TRAILERS),
	    PB_JUMBO_FRAME + PB_QINQ_TAGS + PB_MAX_TRAILERS * PB_TRAILER_RESERVE);
	for (unsigned n = PB_MIN_TRAILERS_RESERVED; n < PB_MAX_TRAILERS; n++)
		assert_int_equal(pb_record_default_max_frame(n + 1) -
		    pb_record_default_max_frame(n), PB_TRAILER_RESERVE);
	assert_true(pb_record_default_max_frame(PB_MAX_TRAILERS) <= PB_FRAME_CAP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_clears_metadata),
		cmocka_unit_test(test_add_hop_limit),
		cmocka_unit_test(test_add_hop_clears_flags),
		cmocka_unit_test(test_has_node),
		cmocka_unit_test(test_default_max_frame),
	};

	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
