/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pcap_format.h"
#include "record.h"
#include "rng_test.h"
#include "sink_file_pcapng.h"
#include "srcdir.h"

/*
 * The file sink's per-origin pcapng state: the cached comment must give
 * pb_pcapng_comment's bytes whatever changed since it was cached (epoch,
 * names, another origin in the same cache slot), and interface ids are
 * per file.
 */

static void
name_node(struct pb_srcdir *d, uint32_t node, const char *name)
{
	struct pb_node_info n = { .node_id = node };
	snprintf(n.name, sizeof(n.name), "%s", name);
	assert_int_equal(pb_srcdir_set_node(d, &n), 0);
}

static void
name_source(struct pb_srcdir *d, uint32_t node, uint16_t source, const char *name)
{
	struct pb_source_info s = { .node_id = node, .source_id = source };
	snprintf(s.name, sizeof(s.name), "%s", name);
	assert_int_equal(pb_srcdir_set_source(d, &s), 0);
}

static void
random_rec(struct pb_record *rec)
{
	pb_record_reset(rec);
	/* Few origins and epochs: the cache hits, misses and collides. */
	rec->origin_node = 1 + rnd_below(200);
	rec->origin_source = (uint16_t)rnd_below(3);
	rec->origin_epoch = rnd_below(4) ? 1700000000123456789ull : rnd();
	rec->origin_seq = rnd() >> rnd_below(64);
	if (!rnd_below(4)) {
		rec->link_node = 1 + rnd_below(5);
		rec->link_epoch = rnd();
		rec->link_seq = rnd_below(1000);
	}
	for (unsigned i = rnd_below(8) ? 0 : rnd_below(4); i > 0; i--)
		assert_int_equal(pb_record_add_hop(rec, rnd_below(300), rnd(), rnd()), 0);
	if (!rnd_below(8)) {
		rec->ntrailers = 1;
		rec->trailers[0] = (struct pb_trailer_meta){ .type = PB_TRAILER_METAMAKO,
		    .valid = 1, .device = 7, .port = 3, .len = 16, .ts_ns = rnd() };
	}
}

static void
test_comment_matches(void **state)
{
	struct pb_srcdir *d = pb_srcdir_new();
	struct pb_ngorigins *o = pb_ngorigins_new(d);
	struct pb_record rec;
	char got[PB_PCAPNG_COMMENT_MAX], want[PB_PCAPNG_COMMENT_MAX];

	assert_non_null(d);
	assert_non_null(o);
	name_node(d, 1, "paris");
	name_source(d, 1, 0, "tap0");
	for (unsigned i = 0; i < 20000; i++) {
		random_rec(&rec);
		if (!rnd_below(50)) {
			/* Renames reach the next comment of a cached origin. */
			char nm[32];
			snprintf(nm, sizeof(nm), "n%u-%u", rec.origin_node, i);
			if (rnd_below(2))
				name_node(d, rec.origin_node, nm);
			else
				name_source(d, rec.origin_node, rec.origin_source, nm);
		}
		size_t len = rnd_below(16) ? sizeof(got) : 1 + rnd_below(400);
		memset(got, 'Z', sizeof(got));
		size_t n = pb_ngorigins_comment(o, got, len, &rec);
		size_t w = pb_pcapng_comment(want, len, &rec, d);
		assert_int_equal(n, w);
		assert_string_equal(got, want);
		if (len < sizeof(got))
			assert_int_equal(got[len], 'Z');
	}
	pb_ngorigins_free(o);
	pb_srcdir_free(d);
}

/*
 * Sequence numbers that count up across every carry, wraps to 0, jumps
 * back and forth and repeats, hop times that repeat or not: always
 * pb_pcapng_comment's bytes. Mixed hops exercise the tail memo; one
 * stream (one hop, no trailers) the whole-comment template, also with
 * renames, names that look like its fields, a second origin in between
 * and short buffers.
 */
static void
comment_counting(bool one_stream)
{
	static const uint64_t starts[] = { 0, 1, 7, 95, 9990, 999999990ull, 99999999999999990ull,
		9999999999999999990ull, UINT64_MAX - 12 };
	struct pb_srcdir *d = pb_srcdir_new();
	struct pb_ngorigins *o = pb_ngorigins_new(d);
	struct pb_record rec;
	char got[PB_PCAPNG_COMMENT_MAX], want[PB_PCAPNG_COMMENT_MAX];

	assert_non_null(o);
	name_node(d, 1, one_stream ? "edge :ts= hops=" : "edge");
	name_node(d, 2, one_stream ? "collector:seq=1" : "relay");
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		uint64_t seq = starts[k], ts = 1700000000999999990ull;
		for (unsigned i = 0; i < 4000; i++) {
			pb_record_reset(&rec);
			rec.origin_node = one_stream && !rnd_below(50) ? 3 : 1;
			rec.origin_epoch = 42;
			rec.origin_seq = seq;
			rec.link_node = 1;
			rec.link_epoch = 42;
			rec.link_seq = seq + k * (one_stream ? 3 : 1);
			unsigned nh = one_stream ? 1 : 1 + i % 6; /* beyond the memo's hops too */
			for (unsigned h = 0; h < nh; h++)
				assert_int_equal(pb_record_add_hop(&rec, 2 + h % 2,
				    one_stream ? seq + k : seq * (h + 1), ts + h), 0);
			size_t len = !one_stream || rnd_below(32) ? sizeof(got) : 257 + rnd_below(200);
			size_t n = pb_ngorigins_comment(o, got, len, &rec);
			assert_int_equal(n, pb_pcapng_comment(want, len, &rec, d));
			assert_string_equal(got, want);
			if (one_stream && !rnd_below(500))
				name_node(d, 2, rnd_below(2) ? "collector" : "collector-b");
			switch (rnd_below(one_stream ? 64 : 16)) {
			case 0: seq = starts[rnd_below(sizeof(starts) / sizeof(starts[0]))]; break;
			case 1: break;                   /* the same number again */
			case 2: seq = seq ? seq - 1 : 0; break;
			default: seq = seq == UINT64_MAX ? 0 : seq + 1; break;
			}
			if (!rnd_below(one_stream ? 100 : 3))
				ts += rnd_below(4) ? 1 + rnd_below(20) : 1000000000ull;
		}
	}
	pb_ngorigins_free(o);
	pb_srcdir_free(d);
}

static void test_comment_counting(void **state) { comment_counting(false); }
static void test_comment_template(void **state) { comment_counting(true); }

/* The two halves are the comment; a rename shows in the next one. */
static void
test_head_tail(void **state)
{
	struct pb_srcdir *d = pb_srcdir_new();
	struct pb_ngorigins *o = pb_ngorigins_new(d);
	struct pb_record rec;
	char head[PB_PCAPNG_COMMENT_HEAD_MAX], tail[PB_PCAPNG_COMMENT_MAX];
	char both[PB_PCAPNG_COMMENT_MAX], got[PB_PCAPNG_COMMENT_MAX];

	pb_record_reset(&rec);
	rec.origin_node = 4000000000u;
	rec.origin_source = UINT16_MAX;
	rec.origin_epoch = UINT64_MAX;
	rec.origin_seq = 5;
	struct pb_node_info ni = { .node_id = rec.origin_node };
	memset(ni.name, 'x', sizeof(ni.name) - 1);
	struct pb_source_info si = { .node_id = rec.origin_node, .source_id = UINT16_MAX };
	memset(si.name, 'y', sizeof(si.name) - 1);
	assert_int_equal(pb_srcdir_set_node(d, &ni), 0);
	assert_int_equal(pb_srcdir_set_source(d, &si), 0);
	/* The longest head fits its bound. */
	size_t hl = pb_pcapng_comment_head(head, sizeof(head), &rec, d);
	assert_true(hl < sizeof(head) - 1);
	pb_pcapng_comment_tail(tail, sizeof(tail), &rec, d);
	memcpy(both, head, hl);
	memcpy(both + hl, tail, strlen(tail) + 1);
	pb_pcapng_comment(got, sizeof(got), &rec, d);
	assert_string_equal(both, got);
	assert_string_equal(tail, " seq=5 hops=0 trailers=[]");

	pb_ngorigins_comment(o, got, sizeof(got), &rec);
	assert_string_equal(both, got);
	name_node(d, rec.origin_node, "renamed");
	pb_ngorigins_comment(o, got, sizeof(got), &rec);
	assert_non_null(strstr(got, "origin=4000000000(renamed) "));
	pb_ngorigins_free(o);
	pb_srcdir_free(d);
}

static void
test_interfaces(void **state)
{
	struct pb_ngorigins *o = pb_ngorigins_new(NULL);
	struct pb_record rec;
	uint32_t id;

	pb_record_reset(&rec);
	/* More origins than the initial table: ids survive its growth. */
	for (int file = 0; file < 2; file++) {
		for (uint32_t i = 0; i < 100; i++) {
			rec.origin_node = i / 3;
			rec.origin_source = (uint16_t)(i % 3);
			rec.linktype = 1;
			assert_int_equal(pb_ngorigins_if(o, &rec), PB_NGIF_NONE);
			assert_int_equal(pb_ngorigins_add_if(o, &rec, &id), 0);
			assert_int_equal(id, i);
			rec.linktype = 105; /* another linktype is another interface */
			assert_int_equal(pb_ngorigins_if(o, &rec), PB_NGIF_NONE);
		}
		for (uint32_t i = 0; i < 100; i++) {
			rec.origin_node = i / 3;
			rec.origin_source = (uint16_t)(i % 3);
			rec.linktype = 1;
			assert_int_equal(pb_ngorigins_if(o, &rec), i);
		}
		pb_ngorigins_new_file(o);
	}
	pb_ngorigins_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comment_matches),
		cmocka_unit_test(test_comment_counting),
		cmocka_unit_test(test_comment_template),
		cmocka_unit_test(test_head_tail),
		cmocka_unit_test(test_interfaces),
	};

	return cmocka_run_group_tests_name("sink_file_pcapng", tests, NULL, NULL);
}
