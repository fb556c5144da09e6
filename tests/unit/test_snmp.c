/* SPDX-License-Identifier: Apache-2.0 */
/* The SNMP agent's pure parts: gap row indexes, the MIB laid out in OID
 * order (GET/GETNEXT lookups), the snapshot comparison that decides the
 * notifications, and the `snmp` configuration section. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_test.h"
#include "snmp_int.h"

/* ---- gap row index ---- */

static void
test_gap_index(void **state)
{
	uint32_t idx[PB_SNMP_GAP_INDEX_LEN], node;
	uint16_t source;
	uint64_t epoch;

	(void)state;
	assert_int_equal(pb_snmp_gap_index(51, 3, 0x18ee871365ee7ffbull, idx),
	    PB_SNMP_GAP_INDEX_LEN);
	assert_int_equal(idx[0], 51);
	assert_int_equal(idx[1], 3);
	assert_int_equal(idx[2], 0x18);
	assert_int_equal(idx[9], 0xfb);
	assert_int_equal(pb_snmp_gap_index_parse(idx, PB_SNMP_GAP_INDEX_LEN, &node, &source,
	    &epoch), 0);
	assert_int_equal(node, 51);
	assert_int_equal(source, 3);
	assert_true(epoch == 0x18ee871365ee7ffbull);
	/* Not an index: wrong length, node 0, source or byte out of range. */
	assert_int_equal(pb_snmp_gap_index_parse(idx, 9, &node, &source, &epoch), -1);
	idx[9] = 256;
	assert_int_equal(pb_snmp_gap_index_parse(idx, 10, &node, &source, &epoch), -1);
	idx[9] = 0;
	idx[1] = 65536;
	assert_int_equal(pb_snmp_gap_index_parse(idx, 10, &node, &source, &epoch), -1);
	idx[1] = 0;
	idx[0] = 0;
	assert_int_equal(pb_snmp_gap_index_parse(idx, 10, &node, &source, &epoch), -1);
}

/* Numeric order of (node, source, epoch) is OID order, the epoch included:
 * a big-endian byte string compares like the number. */
static void
test_gap_index_order(void **state)
{
	static const struct { uint32_t node; uint16_t source; uint64_t epoch; } k[] = {
		{ 1, 0, 0 }, { 1, 0, 255 }, { 1, 0, 256 }, { 1, 0, UINT64_MAX - 1 },
		{ 1, 1, 0 }, { 1, 65535, 7 }, { 2, 0, 1 }, { UINT32_MAX, 0, 0 },
	};
	uint32_t a[PB_SNMP_GAP_INDEX_LEN], b[PB_SNMP_GAP_INDEX_LEN];

	(void)state;
	for (size_t i = 1; i < sizeof(k) / sizeof(k[0]); i++) {
		pb_snmp_gap_index(k[i - 1].node, k[i - 1].source, k[i - 1].epoch, a);
		pb_snmp_gap_index(k[i].node, k[i].source, k[i].epoch, b);
		assert_int_equal(pb_snmp_oid_cmp(a, 10, b, 10), -1);
		assert_int_equal(pb_snmp_oid_cmp(b, 10, a, 10), 1);
	}
	/* A prefix comes first. */
	assert_int_equal(pb_snmp_oid_cmp(a, 3, a, 10), -1);
	assert_int_equal(pb_snmp_oid_cmp(a, 10, a, 10), 0);
}

/* ---- fixtures: a view and data as the engine would publish them ---- */

static struct pb_view_source view_sources[2];
static struct pb_view fx_view;
static struct pb_gaps_stream_info streams[3];
static struct pb_gaps_snapshot gsnap;

static void
fx_init(void)
{
	memset(&fx_view, 0, sizeof(fx_view));
	memset(view_sources, 0, sizeof(view_sources));
	fx_view.node_id = 9;
	snprintf(fx_view.node_name, sizeof(fx_view.node_name), "collector");
	fx_view.epoch = 0x0102030405060708ull;
	fx_view.version = "1.2.3";
	snprintf(view_sources[0].name, sizeof(view_sources[0].name), "tap");
	snprintf(view_sources[0].kind, sizeof(view_sources[0].kind), "live");
	snprintf(view_sources[1].name, sizeof(view_sources[1].name), "replay");
	snprintf(view_sources[1].kind, sizeof(view_sources[1].kind), "file");
	fx_view.sources = view_sources;
	fx_view.nsources = 2;
}

static void
peer(struct pb_peer_snap *p, const char *name, const char *state, uint32_t node,
    const char *node_name)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->state, sizeof(p->state), "%s", state);
	snprintf(p->direction, sizeof(p->direction), "downstream");
	snprintf(p->address, sizeof(p->address), "10.0.0.%u:7152", node);
	snprintf(p->node_name, sizeof(p->node_name), "%s", node_name);
	p->node_id = node;
	p->records_acked = 1000u * node;
}

/* d with the given peers (copied) and gap snapshot; no engine involved. */
static void
data(struct pb_snmp_data *d, const struct pb_peer_snap *peers, size_t n,
    struct pb_gaps_snapshot *g, uint32_t uptime)
{
	memset(d, 0, sizeof(*d));
	d->uptime_cs = uptime;
	d->peers = calloc(n ? n : 1, sizeof(*d->peers));
	d->peer_state = calloc(n ? n : 1, sizeof(int));
	assert_non_null(d->peers);
	assert_non_null(d->peer_state);
	if (n > 0)
		memcpy(d->peers, peers, n * sizeof(*peers));
	d->npeers = n;
	for (size_t i = 0; i < n; i++)
		d->peer_state[i] = pb_fmt_link_state(peers[i].state);
	d->gaps = g;
}

static void
data_free(struct pb_snmp_data *d)
{
	free(d->peers);
	free(d->peer_state);
	free(d->sources);
}

static const struct pb_snmp_event *
event(const struct pb_snmp_tracker *t, size_t i, int type, const char *peer_name)
{
	assert_true(i < t->nevents);
	assert_int_equal(t->events[i].type, type);
	if (peer_name != NULL)
		assert_string_equal(t->peers[t->events[i].peer].name, peer_name);
	return &t->events[i];
}

/* ---- notifications ---- */

static void
test_track_peers(void **state)
{
	struct pb_snmp_tracker t;
	struct pb_snmp_data d1, d2, d3, d4;
	struct pb_peer_snap p[3];
	const struct pb_snmp_peer *a, *b;

	(void)state;
	pb_snmp_tracker_init(&t, 0);
	/* Baseline: b is down already; no event for how things are. */
	peer(&p[0], "b", "down", 2, "");
	peer(&p[1], "a", "up", 1, "edge-a");
	data(&d1, p, 2, NULL, 100);
	assert_int_equal(pb_snmp_track(&t, NULL, &d1), 0);
	assert_int_equal(t.nevents, 0);
	/* Indexes in the order first seen, whatever the name order. */
	b = pb_snmp_tracker_find(&t, "b");
	a = pb_snmp_tracker_find(&t, "a");
	assert_int_equal(b->index, 1);
	assert_int_equal(a->index, 2);
	assert_int_equal(a->last_change_cs, 0);

	/* a goes down, b comes up (slow counts as up), c is accepted up. */
	peer(&p[0], "b", "slow", 2, "");
	peer(&p[1], "a", "connecting", 1, "edge-a");
	peer(&p[2], "c", "up", 3, "edge-c");
	data(&d2, p, 3, NULL, 200);
	assert_int_equal(pb_snmp_track(&t, &d1, &d2), 0);
	assert_int_equal(t.nevents, 3);
	event(&t, 0, PB_SNMP_EV_PEER_UP, "b");
	event(&t, 1, PB_SNMP_EV_PEER_DOWN, "a");
	event(&t, 2, PB_SNMP_EV_PEER_UP, "c");
	assert_int_equal(pb_snmp_tracker_find(&t, "a")->last_change_cs, 200);
	assert_int_equal(pb_snmp_tracker_find(&t, "a")->index, 2);
	assert_int_equal(pb_snmp_tracker_find(&t, "c")->index, 3);

	/* slow -> up is no event; c's connection goes away while up: down. */
	peer(&p[0], "b", "up", 2, "");
	peer(&p[1], "a", "connecting", 1, "edge-a");
	data(&d3, p, 2, NULL, 300);
	assert_int_equal(pb_snmp_track(&t, &d2, &d3), 0);
	assert_int_equal(t.nevents, 1);
	event(&t, 0, PB_SNMP_EV_PEER_DOWN, "c");
	assert_int_equal(t.peers[t.events[0].peer].state, PB_LINK_STATE_DOWN);
	assert_string_equal(t.peers[t.events[0].peer].address, "10.0.0.3:7152");

	/* c comes back: same index, up again. */
	peer(&p[2], "c", "up", 3, "edge-c");
	data(&d4, p, 3, NULL, 400);
	assert_int_equal(pb_snmp_track(&t, &d3, &d4), 0);
	assert_int_equal(t.nevents, 1);
	event(&t, 0, PB_SNMP_EV_PEER_UP, "c");
	assert_int_equal(pb_snmp_tracker_find(&t, "c")->index, 3);
	assert_int_equal(t.next_index, 4);
	data_free(&d1);
	data_free(&d2);
	data_free(&d3);
	data_free(&d4);
	pb_snmp_tracker_free(&t);
}

/* An accepted upstream is "node51" until its node announces its name:
 * the rename keeps its row (index, state) and sends no trap. An upstream
 * of the same node from another address is another link: the old one
 * goes down, the new one comes up. */
static void
upstream(struct pb_peer_snap *p, const char *name, uint32_t node, const char *addr)
{
	peer(p, name, "up", node, "");
	snprintf(p->direction, sizeof(p->direction), "upstream");
	snprintf(p->address, sizeof(p->address), "%s", addr);
}

static void
test_track_rename(void **state)
{
	struct pb_snmp_tracker t;
	struct pb_snmp_data d1, d2, d3, d4;
	struct pb_peer_snap p[2];

	(void)state;
	pb_snmp_tracker_init(&t, 0);
	peer(&p[0], "zeta", "up", 9, "zeta");
	upstream(&p[1], "node51", 51, "10.0.0.51:40000");
	data(&d1, p, 2, NULL, 100);
	assert_int_equal(pb_snmp_track(&t, NULL, &d1), 0);
	/* The baseline is taken; from now on changes are events. */
	data(&d2, p, 2, NULL, 150);
	assert_int_equal(pb_snmp_track(&t, &d1, &d2), 0);
	assert_int_equal(t.nevents, 0);
	uint32_t idx = pb_snmp_tracker_find(&t, "node51")->index;

	upstream(&p[1], "edge", 51, "10.0.0.51:40000");
	data(&d3, p, 2, NULL, 200);
	assert_int_equal(pb_snmp_track(&t, &d2, &d3), 0);
	assert_int_equal(t.nevents, 0);
	assert_null(pb_snmp_tracker_find(&t, "node51"));
	assert_non_null(pb_snmp_tracker_find(&t, "edge"));
	assert_int_equal(pb_snmp_tracker_find(&t, "edge")->index, idx);
	assert_int_equal(pb_snmp_tracker_find(&t, "edge")->state, PB_LINK_STATE_UP);
	assert_non_null(pb_snmp_tracker_find(&t, "zeta")); /* still sorted */

	/* node 60 comes up from one address, then is named from another. */
	upstream(&p[1], "node60", 60, "10.0.0.60:40000");
	data(&d4, p, 2, NULL, 300);
	assert_int_equal(pb_snmp_track(&t, &d3, &d4), 0);
	data_free(&d3);
	upstream(&p[1], "edge60", 60, "10.0.0.60:40001");
	data(&d3, p, 2, NULL, 400);
	assert_int_equal(pb_snmp_track(&t, &d4, &d3), 0);
	assert_int_equal(t.nevents, 2);
	event(&t, 0, PB_SNMP_EV_PEER_UP, "edge60");
	event(&t, 1, PB_SNMP_EV_PEER_DOWN, "node60");
	data_free(&d1);
	data_free(&d2);
	data_free(&d3);
	data_free(&d4);
	pb_snmp_tracker_free(&t);
}

static void
stream(struct pb_gaps_stream_info *s, uint32_t node, uint16_t source, uint64_t epoch,
    uint64_t gap_events)
{
	memset(s, 0, sizeof(*s));
	s->node = node;
	s->source = source;
	s->epoch = epoch;
	s->gap_events = gap_events;
	s->missing_total = gap_events * 10;
	s->nranges_total = (uint32_t)gap_events;
	s->received = 5000;
}

static void
test_track_gaps(void **state)
{
	struct pb_gaps_stream_info s1[2], s2[3], many[20];
	struct pb_gaps_snapshot g1 = { .nstreams = 2, .streams = s1 };
	struct pb_gaps_snapshot g2 = { .nstreams = 3, .streams = s2 };
	struct pb_gaps_snapshot g3 = { .nstreams = 20, .streams = many };
	struct pb_snmp_tracker t;
	struct pb_snmp_data d1, d2, d3;

	(void)state;
	pb_snmp_tracker_init(&t, 0);
	stream(&s1[0], 1, 0, 5, 1); /* a gap before the agent looked: no event */
	stream(&s1[1], 2, 0, 5, 0);
	data(&d1, NULL, 0, &g1, 0);
	assert_int_equal(pb_snmp_track(&t, NULL, &d1), 0);
	assert_int_equal(t.nevents, 0);
	/* A new stream born with a gap, and an existing one with a new gap. */
	stream(&s2[0], 1, 0, 5, 1);
	stream(&s2[1], 1, 1, 9, 2);
	stream(&s2[2], 2, 0, 5, 1);
	data(&d2, NULL, 0, &g2, 0);
	assert_int_equal(pb_snmp_track(&t, &d1, &d2), 0);
	assert_int_equal(t.nevents, 2);
	assert_int_equal(event(&t, 0, PB_SNMP_EV_GAP, NULL)->stream, 1);
	assert_int_equal(event(&t, 1, PB_SNMP_EV_GAP, NULL)->stream, 2);
	/* A flood: at most PB_SNMP_GAP_EVENTS_MAX, the rest counted. */
	for (uint32_t i = 0; i < 20; i++)
		stream(&many[i], 100 + i, 0, 1, 1);
	data(&d3, NULL, 0, &g3, 0);
	assert_int_equal(pb_snmp_track(&t, &d2, &d3), 0);
	assert_int_equal(t.nevents, PB_SNMP_GAP_EVENTS_MAX);
	assert_int_equal(t.gap_suppressed, 20 - PB_SNMP_GAP_EVENTS_MAX);
	data_free(&d1);
	data_free(&d2);
	data_free(&d3);
	pb_snmp_tracker_free(&t);
}

static void
test_track_dlq(void **state)
{
	static const uint64_t depth[] = { 0, 50, 100, 150, 95, 89, 120, 0 };
	static const size_t want[] = { 0, 0, 1, 0, 0, 0, 1, 0 };
	struct pb_snmp_tracker t;
	struct pb_snmp_data d[2];

	(void)state;
	pb_snmp_tracker_init(&t, 100);
	for (size_t i = 0; i < sizeof(depth) / sizeof(depth[0]); i++) {
		data(&d[i % 2], NULL, 0, NULL, 0);
		d[i % 2].totals.dlq_rows = depth[i];
		assert_int_equal(pb_snmp_track(&t, i ? &d[(i + 1) % 2] : NULL, &d[i % 2]), 0);
		assert_int_equal(t.nevents, want[i]);
		if (want[i])
			event(&t, 0, PB_SNMP_EV_DLQ, NULL);
		if (i > 0)
			data_free(&d[(i + 1) % 2]);
	}
	data_free(&d[(sizeof(depth) / sizeof(depth[0]) - 1) % 2]);
	pb_snmp_tracker_free(&t);
	/* Threshold 0: never. */
	pb_snmp_tracker_init(&t, 0);
	data(&d[0], NULL, 0, NULL, 0);
	d[0].totals.dlq_rows = UINT64_MAX;
	assert_int_equal(pb_snmp_track(&t, NULL, &d[0]), 0);
	assert_int_equal(t.nevents, 0);
	data_free(&d[0]);
	pb_snmp_tracker_free(&t);
}

/* ---- the model ---- */

static const struct pb_snmp_var *
get(const struct pb_snmp_model *m, const uint32_t *oid, size_t len)
{
	const struct pb_snmp_var *x = pb_snmp_model_get(m, oid, len);

	assert_non_null(x);
	return x;
}

static void
test_model(void **state)
{
	struct pb_snmp_tracker t;
	struct pb_snmp_model m;
	struct pb_snmp_data d;
	struct pb_peer_snap p[3];
	uint32_t oid[PB_SNMP_SUFFIX_MAX];
	const struct pb_snmp_var *x;
	size_t ncells = 0;

	(void)state;
	fx_init();
	peer(&p[0], "zeta", "up", 7, "edge-z");
	peer(&p[1], "alpha", "down", 8, "");
	peer(&p[2], "zeta", "down", 7, "edge-z"); /* a name twice: first shown */
	stream(&streams[0], 7, 0, 0x1ff, 0);
	stream(&streams[1], 7, 2, 1, 3);
	stream(&streams[2], 9, 0, 2, 0);
	gsnap = (struct pb_gaps_snapshot){ .nstreams = 3, .streams = streams };
	data(&d, p, 3, &gsnap, 4242);
	d.nsources = 2;
	d.sources = calloc(2, sizeof(*d.sources));
	assert_non_null(d.sources);
	d.sources[0] = (struct pb_snmp_source){ .name = "tap", .kind = 1, .state = 2,
		.records = 10, .drops = 3 };
	d.sources[1] = (struct pb_snmp_source){ .name = "replay", .kind = 2, .state = 4,
		.records = UINT64_MAX };
	d.totals.records_captured = 77;
	pb_snmp_tracker_init(&t, 500);
	assert_int_equal(pb_snmp_track(&t, NULL, &d), 0);
	assert_int_equal(pb_snmp_model_build(&m, &fx_view, &d, &t), 0);
	ncells = 6 + 8 + 9 * 2 + 18 * 2 + 7 * 3;
	assert_int_equal(m.n, ncells);
	for (size_t i = 1; i < m.n; i++)
		assert_int_equal(pb_snmp_oid_cmp(m.vars[i - 1].oid, m.vars[i - 1].len,
		    m.vars[i].oid, m.vars[i].len), -1);

	/* Scalars. */
	x = get(&m, (uint32_t[]){ 1, 1, 2, 0 }, 4);
	assert_int_equal(x->type, PB_SNMP_STRING);
	assert_memory_equal(x->str, "collector", x->slen);
	x = get(&m, (uint32_t[]){ 1, 1, 5, 0 }, 4);
	assert_int_equal(x->type, PB_SNMP_TIMETICKS);
	assert_int_equal(x->num, 4242);
	x = get(&m, (uint32_t[]){ 1, 1, 6, 0 }, 4);
	assert_int_equal(x->type, PB_SNMP_RUN_EPOCH);
	assert_true(x->num == 0x0102030405060708ull);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 2, 1, 0 }, 4)->num, 77);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 2, 8, 0 }, 4)->num, 500);
	assert_null(pb_snmp_model_get(&m, (uint32_t[]){ 1, 1, 1 }, 3));
	assert_null(pb_snmp_model_get(&m, (uint32_t[]){ 1, 1, 7, 0 }, 4));
	/* Sources by position; Counter64 at its maximum. */
	assert_true(get(&m, (uint32_t[]){ 1, 3, 1, 5, 2 }, 5)->num == UINT64_MAX);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 3, 1, 7, 1 }, 5)->num, 3);
	/* Peers by index (zeta 1, alpha 2), rows in index order. */
	x = get(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_NAME, 1 }, 5);
	assert_memory_equal(x->str, "zeta", 4);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_STATE, 1 }, 5)->num, PB_LINK_STATE_UP);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_STATE, 2 }, 5)->num,
	    PB_LINK_STATE_DOWN);
	assert_int_equal(get(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_RECORDS_ACKED, 2 }, 5)->num,
	    8000);
	assert_null(pb_snmp_model_get(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_NAME, 3 }, 5));
	/* Gaps by (node, source, epoch bytes); the name from the peer table or
	 * this node. */
	oid[0] = 1, oid[1] = 5, oid[2] = 1, oid[3] = PB_SNMP_G_NAME;
	pb_snmp_gap_index(7, 0, 0x1ff, &oid[4]);
	x = get(&m, oid, 14);
	assert_memory_equal(x->str, "edge-z", 6);
	pb_snmp_gap_index(9, 0, 2, &oid[4]);
	assert_memory_equal(get(&m, oid, 14)->str, "collector", 9);
	oid[3] = PB_SNMP_G_EVENTS;
	pb_snmp_gap_index(7, 2, 1, &oid[4]);
	assert_int_equal(get(&m, oid, 14)->num, 3);

	/* GETNEXT: from nothing, between rows, past a column, past the end. */
	x = pb_snmp_model_next(&m, NULL, 0);
	assert_ptr_equal(x, &m.vars[0]);
	x = pb_snmp_model_next(&m, (uint32_t[]){ 1, 1, 6, 0 }, 4);
	assert_int_equal(pb_snmp_oid_cmp(x->oid, x->len, (uint32_t[]){ 1, 2, 1, 0 }, 4), 0);
	x = pb_snmp_model_next(&m, (uint32_t[]){ 1, 4, 1, PB_SNMP_P_NAME, 2 }, 5);
	assert_int_equal(pb_snmp_oid_cmp(x->oid, x->len,
	    (uint32_t[]){ 1, 4, 1, PB_SNMP_P_DIRECTION, 1 }, 5), 0);
	x = pb_snmp_model_next(&m, (uint32_t[]){ 1, 3, 1, 5 }, 4);
	assert_int_equal(pb_snmp_oid_cmp(x->oid, x->len, (uint32_t[]){ 1, 3, 1, 5, 1 }, 5), 0);
	assert_null(pb_snmp_model_next(&m, m.vars[m.n - 1].oid, m.vars[m.n - 1].len));
	assert_null(pb_snmp_model_next(&m, (uint32_t[]){ 2 }, 1));
	pb_snmp_model_free(&m);
	data_free(&d);
	pb_snmp_tracker_free(&t);
}

/* ---- configuration ---- */

static const char base[] =
    "node = { id = 1; };\n"
    "captures = ( { name = \"f\"; file = \"/dev/null\"; } );\n"
    "dump = { file = \"/tmp/x.pcapng\"; };\n";

static void
conf(char *buf, size_t len, const char *snmp)
{
	fmt(buf, len, "%s%s\n", base, snmp);
}

static void
test_config(void **state)
{
	static const struct {
		const char *snmp, *error;
	} bad[] = {
		{ "snmp = { listen = \"udp:127.0.0.1:1161\"; };", "missing required key 'community'" },
		{ "snmp = { community = \"two words\"; };", "printable ASCII without spaces" },
		{ "snmp = { community = \"\"; };", "must not be empty" },
		{ "snmp = { community = \"c\"; listen = \"udp:1.2.3.4:1 ; rm\"; };",
		  "expected a transport address" },
		{ "snmp = { community = \"c\"; trap_sinks = ( \"a b\" ); };",
		  "expected HOST or HOST:PORT" },
		{ "snmp = { agentx = \"/x\"; community = \"c\"; };", "not with agentx" },
		{ "snmp = { agentx = \"/x\"; agentx_timeout = 0; };", "agentx_timeout" },
		{ "snmp = { community = \"c\"; trap = 1; };", "trap" },
	};
	struct pb_config cfg;
	char text[2048];

	(void)state;
	conf(text, sizeof(text), "");
	load_ok(text, &cfg);
	assert_false(cfg.snmp.enabled);
	pb_config_free(&cfg);

	conf(text, sizeof(text), "snmp = { community = \"s3cret\"; trap_sinks = ( "
	    "\"127.0.0.1:11162\", \"[::1]\", \"nms.example\" ); dlq_threshold = 1000; };");
	load_ok(text, &cfg);
	assert_true(cfg.snmp.enabled);
	assert_false(cfg.snmp.agentx);
	assert_string_equal(cfg.snmp.listen, "udp:127.0.0.1:1161");
	assert_string_equal(cfg.snmp.community, "s3cret");
	assert_string_equal(cfg.snmp.trap_community, "s3cret");
	assert_int_equal(cfg.snmp.nsinks, 3);
	assert_int_equal(cfg.snmp.sinks[0].port, 11162);
	assert_true(cfg.snmp.sinks[1].v6);
	assert_string_equal(cfg.snmp.sinks[1].host, "::1");
	assert_int_equal(cfg.snmp.sinks[1].port, 162);
	assert_true(cfg.snmp.dlq_threshold == 1000);
	pb_config_free(&cfg);

	conf(text, sizeof(text), "snmp = { agentx = \"/var/agentx/master\"; agentx_timeout = 2; };");
	load_ok(text, &cfg);
	assert_true(cfg.snmp.agentx);
	assert_string_equal(cfg.snmp.agentx_socket, "/var/agentx/master");
	assert_int_equal(cfg.snmp.agentx_timeout_s, 2);
	assert_int_equal(cfg.snmp.agentx_retry_s, 5);
	pb_config_free(&cfg);

	conf(text, sizeof(text), "snmp = { enabled = false; };");
	load_ok(text, &cfg);
	assert_false(cfg.snmp.enabled);
	pb_config_free(&cfg);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf(text, sizeof(text), bad[i].snmp);
		load_bad(text, 4, bad[i].error);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gap_index),
		cmocka_unit_test(test_gap_index_order),
		cmocka_unit_test(test_track_peers),
		cmocka_unit_test(test_track_rename),
		cmocka_unit_test(test_track_gaps),
		cmocka_unit_test(test_track_dlq),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
