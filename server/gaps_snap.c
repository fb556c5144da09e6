/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gaps.h"
#include "gaps_int.h"
#include "record.h"

/*
 * What the tracker shows: per-stream introspection, the published
 * snapshots, and the path each stream's records arrived by, with the names
 * of its nodes.
 */

_Static_assert(PB_GAPS_MAX_PATH == 1 + PB_MAX_HOPS, "a path is the origin plus every hop");
_Static_assert(PB_GAPS_MAX_PATH <= UINT8_MAX, "npath is a uint8_t");

void
pb_gaps_snapshot_put(struct pb_gaps_snapshot *snap)
{
	struct gaps_snap *s = (struct gaps_snap *)snap;

	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		free(s);
}

void
pb_gaps_snapshot_hold(struct pb_gaps_snapshot *snap)
{
	struct gaps_snap *s = (struct gaps_snap *)snap;

	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

/* ---- paths ---- */

static bool
path_same(const struct gap_stream *s, const struct pb_hop *hops, uint32_t nhops)
{
	if (s->npath != nhops + 1)
		return false;
	for (uint32_t i = 0; i < nhops; i++)
		if (s->path[i + 1] != hops[i].node_id)
			return false;
	return true;
}

void
pb_gaps_note_path(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    const struct pb_hop *hops, uint32_t nhops)
{
	struct gap_stream *s = g->last;

	if (!s || s->node != node || s->source != source || s->epoch != epoch) {
		if (!(s = pb_gaps_find(g, node, source, epoch)))
			return; /* not tracked (table full) */
	}
	if (nhops > PB_MAX_HOPS)
		nhops = PB_MAX_HOPS;
	if (path_same(s, hops, nhops))
		return; /* the common case: the route did not change */
	if (s->path_cap < nhops + 1) {
		uint32_t *np = realloc(s->path, (nhops + 1) * sizeof(*np));
		if (!np) {
			s->npath = 0; /* unknown rather than stale */
			return;
		}
		s->path = np;
		s->path_cap = (uint8_t)(nhops + 1);
	}
	s->path[0] = node;
	for (uint32_t i = 0; i < nhops; i++)
		s->path[i + 1] = hops[i].node_id;
	s->npath = (uint8_t)(nhops + 1);
}

/* ---- introspection and snapshots ---- */

static void
gaps_info(const struct gap_stream *s, struct pb_gaps_stream_info *info)
{
	*info = (struct pb_gaps_stream_info){
		.node = s->node,
		.source = s->source,
		.epoch = s->epoch,
		.expected_next = s->expected_next,
		.received = s->received,
		.duplicates = s->duplicates,
		.filled = s->filled,
		.missing_total = s->missing_total,
		.gap_events = s->gap_events,
		.gap_seqs = s->gap_seqs,
		.ranges_coalesced = s->ranges_coalesced,
		.first_seen_ns = s->first_seen_ns,
		.last_seen_ns = s->last_seen_ns,
		.nranges_total = s->n,
		.npath = s->npath,
		.path = s->npath ? s->path : NULL,
	};
}

int
pb_gaps_stream_get(const struct pb_gaps *g, uint32_t node, uint16_t source,
    uint64_t epoch, struct pb_gaps_stream_info *info, struct pb_gap_range *ranges,
    uint32_t max_ranges)
{
	const struct gap_stream *s = pb_gaps_find(g, node, source, epoch);

	if (!s)
		return -1;
	gaps_info(s, info);
	uint32_t k = s->n < max_ranges ? s->n : max_ranges;
	if (k)
		memcpy(ranges, rg(s, 0), k * sizeof(*ranges));
	return (int)(k > INT32_MAX ? INT32_MAX : k);
}

void
pb_gaps_totals(const struct pb_gaps *g, struct pb_gaps_totals *t)
{
	*t = (struct pb_gaps_totals){
		.streams = g->nstreams,
		.invalid = g->invalid,
		.streams_rejected = g->rejected,
	};
	for (uint32_t i = 0; i < g->nstreams; i++) {
		const struct gap_stream *s = g->streams[i];
		t->received += s->received;
		t->duplicates += s->duplicates;
		t->filled += s->filled;
		/* Hostile origins can open huge ranges: saturate, never wrap. */
		t->missing_total = sat_add(t->missing_total, s->missing_total);
		t->gap_events += s->gap_events;
		t->gap_seqs = sat_add(t->gap_seqs, s->gap_seqs);
		t->ranges_coalesced += s->ranges_coalesced;
	}
}

static int
gaps_key_cmp(uint32_t an, uint16_t as, uint64_t ae, uint32_t bn, uint16_t bs, uint64_t be)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	if (as != bs)
		return as < bs ? -1 : 1;
	if (ae != be)
		return ae < be ? -1 : 1;
	return 0;
}

static int
gaps_info_cmp(const void *a, const void *b)
{
	const struct pb_gaps_stream_info *x = a, *y = b;

	return gaps_key_cmp(x->node, x->source, x->epoch, y->node, y->source, y->epoch);
}

static int
node_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static const char *
gaps_name(const struct pb_gaps *g, uint32_t node)
{
	const char *n = g->node_name ? g->node_name(g->node_name_arg, node) : NULL;

	return n && n[0] ? n : NULL;
}

/*
 * The distinct named nodes of every path, sorted, into *out (malloc'd,
 * NULL when none). Nodes without a name are left out, so the table stays
 * within the node directory's size whatever ids hop lists carry. Returns
 * the count, or -1 on allocation failure.
 */
static int64_t
gaps_named_nodes(const struct pb_gaps *g, size_t npath_total, uint32_t **out)
{
	uint32_t *ids = NULL;
	size_t n = 0;

	*out = NULL;
	if (npath_total == 0 || !g->node_name)
		return 0;
	if (!(ids = malloc(npath_total * sizeof(*ids))))
		return -1;
	for (uint32_t i = 0; i < g->nstreams; i++) {
		const struct gap_stream *s = g->streams[i];
		for (uint32_t k = 0; k < s->npath; k++)
			if ((n == 0 || ids[n - 1] != s->path[k]) && gaps_name(g, s->path[k]))
				ids[n++] = s->path[k];
	}
	if (n > 1)
		qsort(ids, n, sizeof(*ids), node_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || ids[u - 1] != ids[i])
			ids[u++] = ids[i];
	if (u == 0) {
		free(ids);
		return 0;
	}
	*out = ids;
	return (int64_t)u;
}

int
pb_gaps_publish(struct pb_gaps *g, uint32_t max_ranges_listed)
{
	size_t nranges = 0, npath = 0;

	for (uint32_t i = 0; i < g->nstreams; i++) {
		nranges += g->streams[i]->n < max_ranges_listed ? g->streams[i]->n :
		    max_ranges_listed;
		npath += g->streams[i]->npath;
	}
	uint32_t *named;
	int64_t nnames = gaps_named_nodes(g, npath, &named);
	if (nnames < 0)
		return -1;

	/* One block: header, stream array, listed ranges, names, then paths. */
	size_t sz = sizeof(struct gaps_snap) +
	    (size_t)g->nstreams * sizeof(struct pb_gaps_stream_info) +
	    nranges * sizeof(struct pb_gap_range) +
	    (size_t)nnames * sizeof(struct pb_gaps_node_name) + npath * sizeof(uint32_t);
	struct gaps_snap *sn = malloc(sz);
	if (!sn) {
		free(named);
		return -1;
	}
	memset(&sn->pub, 0, sizeof(sn->pub));
	atomic_init(&sn->refs, 1);
	sn->pub.generated_ns = pb_mono_ns();
	sn->pub.nstreams = g->nstreams;
	sn->pub.streams = (struct pb_gaps_stream_info *)(sn + 1);
	struct pb_gap_range *rp = (struct pb_gap_range *)(sn->pub.streams + g->nstreams);
	struct pb_gaps_node_name *np = (struct pb_gaps_node_name *)(rp + nranges);
	uint32_t *pp = (uint32_t *)(np + nnames);

	for (int64_t i = 0; i < nnames; i++) {
		np[i].node = named[i];
		snprintf(np[i].name, sizeof(np[i].name), "%s", gaps_name(g, named[i]));
	}
	free(named);
	sn->pub.nnames = (uint32_t)nnames;
	sn->pub.names = nnames ? np : NULL;
	for (uint32_t i = 0; i < g->nstreams; i++) {
		const struct gap_stream *s = g->streams[i];
		struct pb_gaps_stream_info *info = &sn->pub.streams[i];
		uint32_t k = s->n < max_ranges_listed ? s->n : max_ranges_listed;

		gaps_info(s, info);
		info->nranges_listed = k;
		info->ranges = k ? rp : NULL;
		if (k)
			memcpy(rp, rg(s, 0), k * sizeof(*rp));
		rp += k;
		info->path = s->npath ? pp : NULL;
		if (s->npath)
			memcpy(pp, s->path, s->npath * sizeof(*pp));
		pp += s->npath;
	}
	if (g->nstreams > 1)
		qsort(sn->pub.streams, g->nstreams, sizeof(*sn->pub.streams), gaps_info_cmp);
	pb_gaps_totals(g, &sn->pub.totals);

	pthread_mutex_lock(&g->snap_lock);
	struct gaps_snap *old = g->snap;
	g->snap = sn;
	pthread_mutex_unlock(&g->snap_lock);
	if (old)
		pb_gaps_snapshot_put(&old->pub);
	return 0;
}

struct pb_gaps_snapshot *
pb_gaps_snapshot_get(struct pb_gaps *g)
{
	struct gaps_snap *sn;

	/* Under the lock: publish cannot drop its reference in between. */
	pthread_mutex_lock(&g->snap_lock);
	sn = g->snap;
	if (sn)
		atomic_fetch_add_explicit(&sn->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&g->snap_lock);
	return sn ? &sn->pub : NULL;
}

const struct pb_gaps_stream_info *
pb_gaps_snapshot_find(const struct pb_gaps_snapshot *snap, uint32_t node, uint16_t source,
    uint64_t epoch)
{
	uint32_t lo = 0, hi = snap->nstreams;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct pb_gaps_stream_info *x = &snap->streams[mid];
		int c = gaps_key_cmp(x->node, x->source, x->epoch, node, source, epoch);
		if (c == 0)
			return x;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
pb_gaps_snapshot_name(const struct pb_gaps_snapshot *snap, uint32_t node)
{
	uint32_t lo = 0, hi = snap->nnames;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (snap->names[mid].node == node)
			return snap->names[mid].name;
		if (snap->names[mid].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
