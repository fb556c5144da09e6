/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gaps.h"
#include "record.h"

/*
 * The hop path of each origin stream (pb_gaps_note_path) and the names of
 * its nodes in published snapshots: what /api/v1/gaps shows as `path`.
 */

#define SELF 44u

/* A tiny node directory: names by id, "" for a node announced without one. */
struct dir {
	uint32_t ids[8];
	const char *names[8];
	unsigned n;
};

static const char *
dir_name(void *arg, uint32_t node)
{
	struct dir *d = arg;

	for (unsigned i = 0; i < d->n; i++)
		if (d->ids[i] == node)
			return d->names[i];
	return NULL;
}

static struct pb_gaps *
new_named(struct dir *d)
{
	struct pb_gaps_cfg c = { .node_name = dir_name, .node_name_arg = d };
	struct pb_gaps *g = pb_gaps_new(&c);

	assert_non_null(g);
	return g;
}

/* A record's hop list: the relays, then this node (as the engine appends it). */
static uint32_t
hops_of(struct pb_hop *h, const uint32_t *relays, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		h[i] = (struct pb_hop){ .node_id = relays[i], .seq = i + 1 };
	h[n] = (struct pb_hop){ .node_id = SELF };
	return n + 1;
}

/* Observes seq of (node, 0, 1) arriving through relays, notes its path if accepted. */
static enum pb_gap_result
arrive(struct pb_gaps *g, uint32_t node, uint64_t seq, const uint32_t *relays, uint32_t n)
{
	struct pb_hop h[PB_MAX_HOPS + 1];
	enum pb_gap_result r = pb_gaps_observe(g, node, 0, 1, seq);

	if (r == PB_GAP_IN_ORDER || r == PB_GAP_AHEAD || r == PB_GAP_FILLED)
		pb_gaps_note_path(g, node, 0, 1, h, hops_of(h, relays, n));
	return r;
}

static void
assert_path(const struct pb_gaps_stream_info *s, const uint32_t *want, uint32_t n)
{
	assert_non_null(s);
	assert_int_equal(s->npath, n);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(s->path[i], want[i]);
}

/* Publishes (8 ranges listed) and takes the snapshot. */
static struct pb_gaps_snapshot *
publish(struct pb_gaps *g)
{
	assert_int_equal(pb_gaps_publish(g, 8), 0);
	struct pb_gaps_snapshot *sn = pb_gaps_snapshot_get(g);
	assert_non_null(sn);
	return sn;
}

static const char *
name_or(const struct pb_gaps_snapshot *sn, uint32_t node, const char *unknown)
{
	const char *n = pb_gaps_snapshot_name(sn, node);

	return n ? n : unknown;
}

/* edge → relay1 → relay2 → collector, by id and by name. */
static void
test_relay_chain(void **state)
{
	struct dir d = { { 41, 42, 43, SELF }, { "edge", "relay1", "relay2", "collector" }, 4 };
	struct pb_gaps *g = new_named(&d);
	static const uint32_t relays[] = { 42, 43 };
	static const uint32_t want[] = { 41, 42, 43, SELF };

	for (uint64_t s = 1; s <= 5; s++)
		assert_int_equal(arrive(g, 41, s, relays, 2), PB_GAP_IN_ORDER);
	struct pb_gaps_stream_info info;
	assert_int_equal(pb_gaps_stream_get(g, 41, 0, 1, &info, NULL, 0), 0);
	assert_path(&info, want, 4);

	struct pb_gaps_snapshot *sn = publish(g);
	const struct pb_gaps_stream_info *s = pb_gaps_snapshot_find(sn, 41, 0, 1);
	assert_path(s, want, 4);
	assert_int_equal(sn->nnames, 4);
	static const char *const names[] = { "edge", "relay1", "relay2", "collector" };
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(name_or(sn, s->path[i], "?"), names[i]);
	/* The names table is sorted and deduplicated. */
	for (uint32_t i = 1; i < sn->nnames; i++)
		assert_true(sn->names[i - 1].node < sn->names[i].node);
	pb_gaps_snapshot_put(sn);
	pb_gaps_free(g);
}

/* A direct upstream: the origin, then this node. Unknown and empty names are NULL. */
static void
test_direct_and_unnamed(void **state)
{
	struct dir d = { { 7, SELF }, { "", "me" }, 2 };
	struct pb_gaps *g = new_named(&d);
	static const uint32_t relay[] = { 99 };

	arrive(g, 7, 1, NULL, 0);
	arrive(g, 8, 1, relay, 1);
	struct pb_gaps_snapshot *sn = publish(g);
	assert_path(pb_gaps_snapshot_find(sn, 7, 0, 1), (const uint32_t[]){ 7, SELF }, 2);
	assert_path(pb_gaps_snapshot_find(sn, 8, 0, 1), (const uint32_t[]){ 8, 99, SELF }, 3);
	assert_null(pb_gaps_snapshot_name(sn, 7));  /* announced without a name */
	assert_null(pb_gaps_snapshot_name(sn, 8));  /* never announced */
	assert_null(pb_gaps_snapshot_name(sn, 99));
	assert_string_equal(name_or(sn, SELF, "?"), "me");
	assert_int_equal(sn->nnames, 1);
	pb_gaps_snapshot_put(sn);
	pb_gaps_free(g);

	/* No namer at all: paths, no names. */
	g = pb_gaps_new(NULL);
	assert_non_null(g);
	arrive(g, 7, 1, relay, 1);
	sn = publish(g);
	assert_path(pb_gaps_snapshot_find(sn, 7, 0, 1), (const uint32_t[]){ 7, 99, SELF }, 3);
	assert_int_equal(sn->nnames, 0);
	assert_null(pb_gaps_snapshot_name(sn, SELF));
	pb_gaps_snapshot_put(sn);
	pb_gaps_free(g);
}

/*
 * A failover to another relay (and back to a direct link) shows the new
 * route; a snapshot published before keeps the old one; a duplicate does
 * not count as a route (the engine drops it).
 */
static void
test_route_change(void **state)
{
	struct dir d = { { 1, 2, 3, SELF }, { "o", "r1", "r2", "c" }, 4 };
	struct pb_gaps *g = new_named(&d);
	static const uint32_t via1[] = { 2 }, via2[] = { 3, 2 };

	arrive(g, 1, 1, via1, 1);
	struct pb_gaps_snapshot *old = publish(g);

	assert_int_equal(arrive(g, 1, 2, via2, 2), PB_GAP_IN_ORDER);
	struct pb_gaps_snapshot *sn = publish(g);
	assert_path(pb_gaps_snapshot_find(sn, 1, 0, 1), (const uint32_t[]){ 1, 3, 2, SELF }, 4);
	assert_path(pb_gaps_snapshot_find(old, 1, 0, 1), (const uint32_t[]){ 1, 2, SELF }, 3);
	assert_string_equal(name_or(old, 2, "?"), "r1");
	assert_null(pb_gaps_snapshot_name(old, 3)); /* not on a path then */
	pb_gaps_snapshot_put(old);
	pb_gaps_snapshot_put(sn);

	assert_int_equal(arrive(g, 1, 2, via1, 1), PB_GAP_DUPLICATE);
	assert_int_equal(arrive(g, 1, 3, NULL, 0), PB_GAP_IN_ORDER);
	struct pb_gaps_stream_info info;
	pb_gaps_stream_get(g, 1, 0, 1, &info, NULL, 0);
	assert_path(&info, (const uint32_t[]){ 1, SELF }, 2);
	pb_gaps_free(g);
}

/* Paths are per stream, even when another stream was observed in between. */
static void
test_interleaved_streams(void **state)
{
	struct pb_gaps *g = pb_gaps_new(NULL);
	struct pb_hop h[3];
	static const uint32_t a[] = { 5 }, b[] = { 6 };

	assert_non_null(g);
	pb_gaps_observe(g, 1, 0, 1, 1);
	pb_gaps_observe(g, 2, 0, 1, 1);
	/* Not the cached stream: found by lookup. */
	pb_gaps_note_path(g, 1, 0, 1, h, hops_of(h, a, 1));
	pb_gaps_note_path(g, 2, 0, 1, h, hops_of(h, b, 1));
	/* A stream that does not exist is not created by a path. */
	pb_gaps_note_path(g, 3, 0, 1, h, hops_of(h, a, 1));
	assert_int_equal(pb_gaps_nstreams(g), 2);
	struct pb_gaps_stream_info info;
	assert_int_equal(pb_gaps_stream_get(g, 3, 0, 1, &info, NULL, 0), -1);
	pb_gaps_stream_get(g, 1, 0, 1, &info, NULL, 0);
	assert_path(&info, (const uint32_t[]){ 1, 5, SELF }, 3);
	pb_gaps_stream_get(g, 2, 0, 1, &info, NULL, 0);
	assert_path(&info, (const uint32_t[]){ 2, 6, SELF }, 3);
	pb_gaps_free(g);
}

/*
 * Bounds: a path holds at most the origin and PB_MAX_HOPS hops (the wire
 * format's limit), whatever a caller passes; the names table holds named
 * nodes only, so hop lists full of made-up ids cannot grow it.
 */
static void
test_bounds(void **state)
{
	struct dir d = { { SELF }, { "c" }, 1 };
	struct pb_gaps *g = new_named(&d);
	struct pb_hop h[PB_MAX_HOPS + 8];
	uint32_t relays[PB_MAX_HOPS + 7];

	assert_int_equal(PB_GAPS_MAX_PATH, 1 + PB_MAX_HOPS);
	for (uint32_t i = 0; i < PB_MAX_HOPS + 7; i++)
		relays[i] = 1000 + i;
	for (uint32_t node = 1; node <= 200; node++) {
		pb_gaps_observe(g, node, 0, 1, 1);
		/* Each stream through its own 31 made-up relays, then this node. */
		for (uint32_t i = 0; i < PB_MAX_HOPS - 1; i++)
			relays[i] = node * 100 + i;
		pb_gaps_note_path(g, node, 0, 1, h, hops_of(h, relays, PB_MAX_HOPS - 1));
	}
	pb_gaps_observe(g, 500, 0, 1, 1);
	pb_gaps_note_path(g, 500, 0, 1, h, hops_of(h, relays, PB_MAX_HOPS + 7));
	struct pb_gaps_stream_info info;
	pb_gaps_stream_get(g, 500, 0, 1, &info, NULL, 0);
	assert_int_equal(info.npath, PB_GAPS_MAX_PATH);
	assert_int_equal(info.path[0], 500);
	assert_int_equal(info.path[PB_GAPS_MAX_PATH - 1], relays[PB_MAX_HOPS - 1]);

	struct pb_gaps_snapshot *sn = publish(g);
	assert_int_equal(sn->nnames, 1); /* only this node has a name */
	const struct pb_gaps_stream_info *s = pb_gaps_snapshot_find(sn, 200, 0, 1);
	assert_int_equal(s->npath, PB_MAX_HOPS + 1);
	assert_int_equal(s->path[PB_MAX_HOPS], SELF);
	assert_string_equal(name_or(sn, SELF, "?"), "c");
	pb_gaps_snapshot_put(sn);
	pb_gaps_free(g);
}

/* A stream restored from the state file has no path until a record arrives. */
static void
test_restored_stream(void **state)
{
	struct dir d = { { 7 }, { "edge" }, 1 };
	struct pb_gaps *g = new_named(&d);
	FILE *f = tmpfile();

	assert_non_null(f);
	fputs("7 0 1 11 3-4\n", f);
	rewind(f);
	assert_int_equal(pb_gaps_load(g, f), 1);
	fclose(f);
	struct pb_gaps_snapshot *sn = publish(g);
	const struct pb_gaps_stream_info *s = pb_gaps_snapshot_find(sn, 7, 0, 1);
	assert_non_null(s);
	assert_int_equal(s->npath, 0);
	assert_null(s->path);
	assert_int_equal(sn->nnames, 0);
	pb_gaps_snapshot_put(sn);

	assert_int_equal(arrive(g, 7, 3, NULL, 0), PB_GAP_FILLED);
	sn = publish(g);
	assert_path(pb_gaps_snapshot_find(sn, 7, 0, 1), (const uint32_t[]){ 7, SELF }, 2);
	assert_string_equal(name_or(sn, 7, "?"), "edge");
	pb_gaps_snapshot_put(sn);
	pb_gaps_free(g);
}

/* A rename shows at the next publish; a held snapshot keeps the old name. */
static void
test_rename(void **state)
{
	struct dir d = { { 7 }, { "old" }, 1 };
	struct pb_gaps *g = new_named(&d);

	arrive(g, 7, 1, NULL, 0);
	struct pb_gaps_snapshot *a = publish(g);
	d.names[0] = "new";
	struct pb_gaps_snapshot *b = publish(g);
	assert_string_equal(name_or(a, 7, "?"), "old");
	assert_string_equal(name_or(b, 7, "?"), "new");
	pb_gaps_snapshot_put(a);
	pb_gaps_snapshot_put(b);
	pb_gaps_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_chain),
		cmocka_unit_test(test_direct_and_unnamed),
		cmocka_unit_test(test_route_change),
		cmocka_unit_test(test_interleaved_streams),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_restored_stream),
		cmocka_unit_test(test_rename),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
