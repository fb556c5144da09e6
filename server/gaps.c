/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gaps.h"
#include "gaps_int.h"

/*
 * Streams live in individually allocated structs (stable pointers for the
 * one-entry cache), indexed by an open-addressing table (linear probing,
 * load <= 1/2, no deletions) and listed in a dense array for publishing.
 *
 * Missing ranges of a stream are a sorted array used as a deque: live
 * entries are r[off .. off+n). New ranges are always appended (a gap opens
 * above everything seen); fills and coalescing mostly hit the two ends, so
 * removing at either end is O(1) and a middle edit moves the shorter side.
 */

#define GAPS_INIT_TABLE 64u
#define GAPS_INIT_RANGES 4u
/* An empty range array larger than this is shrunk back after a burst. */
#define GAPS_SHRINK_RANGES 256u

const char *
pb_gap_result_name(enum pb_gap_result r)
{
	switch (r) {
	case PB_GAP_IN_ORDER:
		return "in-order";
	case PB_GAP_AHEAD:
		return "ahead";
	case PB_GAP_FILLED:
		return "filled";
	case PB_GAP_DUPLICATE:
		return "duplicate";
	case PB_GAP_INVALID:
		return "invalid";
	case PB_GAP_NO_STREAM:
		return "no-stream";
	}
	return "?";
}

static inline size_t
gaps_hash(uint32_t node, uint16_t source, uint64_t epoch)
{
	/* splitmix64 finaliser over a mix of the key: epochs are often close. */
	uint64_t h = (((uint64_t)node << 16) | source) * 0x9e3779b97f4a7c15ull;
	h ^= epoch + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (size_t)h;
}

struct pb_gaps *
pb_gaps_new(const struct pb_gaps_cfg *cfg)
{
	struct pb_gaps *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->max_streams = cfg && cfg->max_streams ? cfg->max_streams : PB_GAPS_DEFAULT_MAX_STREAMS;
	g->max_ranges = cfg && cfg->max_ranges_per_stream ? cfg->max_ranges_per_stream :
	    PB_GAPS_DEFAULT_MAX_RANGES;
	g->node_name = cfg ? cfg->node_name : NULL;
	g->node_name_arg = cfg ? cfg->node_name_arg : NULL;
	/* The deque math below keeps n, off and cap well inside 32 bits. */
	if (g->max_ranges > (1u << 28))
		g->max_ranges = 1u << 28;
	if (g->max_streams > (1u << 28))
		g->max_streams = 1u << 28;
	g->tmask = GAPS_INIT_TABLE - 1;
	g->table = calloc(GAPS_INIT_TABLE, sizeof(*g->table));
	if (!g->table) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->snap_lock, NULL);
	return g;
}

void
pb_gaps_free(struct pb_gaps *g)
{
	if (!g)
		return;
	for (uint32_t i = 0; i < g->nstreams; i++) {
		free(g->streams[i]->r);
		free(g->streams[i]->path);
		free(g->streams[i]);
	}
	free(g->streams);
	free(g->table);
	if (g->snap)
		pb_gaps_snapshot_put(&g->snap->pub);
	pthread_mutex_destroy(&g->snap_lock);
	free(g);
}

void
pb_gaps_set_now(struct pb_gaps *g, uint64_t now_ns)
{
	g->now_ns = now_ns;
}

uint32_t
pb_gaps_nstreams(const struct pb_gaps *g)
{
	return g->nstreams;
}

/* ---- stream table ---- */

static struct gap_stream *
gaps_find(const struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    size_t *slot)
{
	size_t i = gaps_hash(node, source, epoch) & g->tmask;

	for (;;) {
		struct gap_stream *s = g->table[i];
		if (!s) {
			if (slot)
				*slot = i;
			return NULL;
		}
		if (s->node == node && s->source == source && s->epoch == epoch)
			return s;
		i = (i + 1) & g->tmask;
	}
}

struct gap_stream *
pb_gaps_find(const struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch)
{
	return gaps_find(g, node, source, epoch, NULL);
}

static int
gaps_table_grow(struct pb_gaps *g)
{
	size_t nsize = (g->tmask + 1) * 2;
	struct gap_stream **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return -1;
	for (uint32_t k = 0; k < g->nstreams; k++) {
		struct gap_stream *s = g->streams[k];
		size_t i = gaps_hash(s->node, s->source, s->epoch) & (nsize - 1);
		while (nt[i])
			i = (i + 1) & (nsize - 1);
		nt[i] = s;
	}
	free(g->table);
	g->table = nt;
	g->tmask = nsize - 1;
	return 0;
}

static struct gap_stream *
gaps_lookup_create(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch)
{
	size_t slot;
	struct gap_stream *s = gaps_find(g, node, source, epoch, &slot);

	if (s)
		return s;
	if (g->nstreams >= g->max_streams)
		return NULL;
	if (((size_t)g->nstreams + 1) * 2 > g->tmask + 1) {
		if (gaps_table_grow(g) < 0)
			return NULL;
		gaps_find(g, node, source, epoch, &slot);
	}
	if (g->nstreams == g->streams_cap) {
		uint32_t ncap = g->streams_cap ? g->streams_cap * 2 : 16;
		struct gap_stream **ns = realloc(g->streams, ncap * sizeof(*ns));
		if (!ns)
			return NULL;
		g->streams = ns;
		g->streams_cap = ncap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* Never empty of storage: appending to an empty deque cannot fail. */
	s->r = calloc(GAPS_INIT_RANGES, sizeof(*s->r));
	if (!s->r) {
		free(s);
		return NULL;
	}
	s->cap = GAPS_INIT_RANGES;
	s->node = node;
	s->source = source;
	s->epoch = epoch;
	s->expected_next = 1;
	s->first_seen_ns = s->last_seen_ns = g->now_ns;
	g->table[slot] = s;
	g->streams[g->nstreams++] = s;
	return s;
}

/* ---- missing ranges (deque of sorted ranges) ---- */

/* Makes r[off+n] usable: compacts when at least half is free, else grows. */
static int
ranges_tail_room(const struct pb_gaps *g, struct gap_stream *s)
{
	if (s->off + s->n < s->cap)
		return 0;
	if (s->n < s->cap / 2) {
		memmove(s->r, rg(s, 0), s->n * sizeof(*s->r));
		s->off = 0;
		return 0;
	}
	/* n <= max + 1 here, so 2 * (max + 2) always leaves room to compact. */
	uint32_t ncap = s->cap * 2;
	if (ncap > 2 * (g->max_ranges + 2))
		ncap = 2 * (g->max_ranges + 2);
	struct pb_gap_range *nr = realloc(s->r, (size_t)ncap * sizeof(*nr));
	if (!nr)
		return -1;
	s->r = nr;
	s->cap = ncap;
	return 0;
}

static int
ranges_insert(const struct pb_gaps *g, struct gap_stream *s, uint32_t i, uint64_t lo,
    uint64_t hi)
{
	/* Move the shorter side; never shift everything to use the front slack. */
	if (s->off > 0 && i < s->n / 2) {
		memmove(&s->r[s->off - 1], rg(s, 0), i * sizeof(*s->r));
		s->off--;
	} else {
		if (ranges_tail_room(g, s) < 0)
			return -1;
		memmove(rg(s, i + 1), rg(s, i), (s->n - i) * sizeof(*s->r));
	}
	*rg(s, i) = (struct pb_gap_range){ lo, hi };
	s->n++;
	return 0;
}

static void
ranges_remove(struct gap_stream *s, uint32_t i)
{
	if (i < s->n / 2) {
		memmove(rg(s, 1), rg(s, 0), i * sizeof(*s->r));
		s->off++;
	} else {
		memmove(rg(s, i), rg(s, i + 1), (s->n - i - 1) * sizeof(*s->r));
	}
	if (--s->n == 0) {
		s->off = 0;
		if (s->cap > GAPS_SHRINK_RANGES) {
			struct pb_gap_range *nr = realloc(s->r, GAPS_INIT_RANGES * sizeof(*nr));
			if (nr) {
				s->r = nr;
				s->cap = GAPS_INIT_RANGES;
			}
		}
	}
}

/* Index of the last range with lo <= seq, or -1. */
static int64_t
ranges_find(const struct gap_stream *s, uint64_t seq)
{
	uint32_t lo = 0, hi = s->n; /* answer in [lo, hi) + 1 */

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (rg(s, mid)->lo <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo - 1;
}

/* Merges the two oldest ranges: what lies between them counts as missing. */
static void
ranges_coalesce(const struct pb_gaps *g, struct gap_stream *s)
{
	while (s->n > g->max_ranges && s->n >= 2) {
		struct pb_gap_range *a = rg(s, 0), *b = rg(s, 1);
		s->missing_total += b->lo - a->hi - 1;
		b->lo = a->lo;
		s->off++;
		s->n--;
		s->ranges_coalesced++;
	}
}

/* ---- observe ---- */

static enum pb_gap_result
gaps_ahead(struct pb_gaps *g, struct gap_stream *s, uint64_t seq)
{
	uint64_t lo = s->expected_next, hi = seq - 1;
	uint64_t k = seq - lo;

	s->missing_total = sat_add(s->missing_total, k);
	s->gap_seqs = sat_add(s->gap_seqs, k);
	s->gap_events++;
	s->received++;
	s->expected_next = seq + 1;
	/* The previous seq was received, so the new range never touches the last. */
	if (ranges_insert(g, s, s->n, lo, hi) < 0) {
		/* Out of memory (then n > 0): widen the newest range over the gap. */
		struct pb_gap_range *last = rg(s, s->n - 1);
		s->missing_total += lo - last->hi - 1;
		last->hi = hi;
		s->ranges_coalesced++;
		return PB_GAP_AHEAD;
	}
	ranges_coalesce(g, s);
	return PB_GAP_AHEAD;
}

static enum pb_gap_result
gaps_behind(struct pb_gaps *g, struct gap_stream *s, uint64_t seq)
{
	int64_t i = s->n ? ranges_find(s, seq) : -1;
	struct pb_gap_range *r;

	if (i < 0 || (r = rg(s, (uint32_t)i))->hi < seq) {
		s->duplicates++;
		return PB_GAP_DUPLICATE;
	}
	s->filled++;
	s->received++;
	if (r->lo == r->hi) {
		ranges_remove(s, (uint32_t)i);
	} else if (seq == r->lo) {
		r->lo++;
	} else if (seq == r->hi) {
		r->hi--;
	} else {
		uint64_t hi = r->hi;
		if (ranges_insert(g, s, (uint32_t)i + 1, seq + 1, hi) < 0) {
			/* Out of memory: seq stays counted as missing. */
			s->ranges_coalesced++;
			return PB_GAP_FILLED;
		}
		/* The insert may have moved the array. */
		rg(s, (uint32_t)i)->hi = seq - 1;
		s->missing_total--;
		ranges_coalesce(g, s);
		return PB_GAP_FILLED;
	}
	s->missing_total--;
	return PB_GAP_FILLED;
}

static enum pb_gap_result
gaps_observe_slow(struct pb_gaps *g, struct gap_stream *s, uint64_t seq)
{
	if (seq == 0 || seq == UINT64_MAX) {
		g->invalid++;
		return PB_GAP_INVALID;
	}
	if (seq == s->expected_next) {
		s->expected_next = seq + 1;
		s->received++;
		return PB_GAP_IN_ORDER;
	}
	if (seq > s->expected_next)
		return gaps_ahead(g, s, seq);
	return gaps_behind(g, s, seq);
}

enum pb_gap_result
pb_gaps_observe(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint64_t seq)
{
	struct gap_stream *s = g->last;

	if (__builtin_expect(!s || s->node != node || s->source != source || s->epoch != epoch,
	    0)) {
		if (seq == 0 || seq == UINT64_MAX) {
			g->invalid++;
			return PB_GAP_INVALID;
		}
		s = gaps_lookup_create(g, node, source, epoch);
		if (!s) {
			g->rejected++;
			return PB_GAP_NO_STREAM;
		}
		g->last = s;
	}
	s->last_seen_ns = g->now_ns;
	if (__builtin_expect(seq == s->expected_next && seq != UINT64_MAX, 1)) {
		s->expected_next = seq + 1;
		s->received++;
		return PB_GAP_IN_ORDER;
	}
	return gaps_observe_slow(g, s, seq);
}

uint32_t
pb_gaps_claim(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch, uint32_t via)
{
	struct gap_stream *s = g->last;

	if (!s || s->node != node || s->source != source || s->epoch != epoch) {
		s = gaps_lookup_create(g, node, source, epoch);
		if (!s)
			return 0; /* not tracked: observe() counts the rejection */
		g->last = s;
	}
	if (s->owner == 0)
		s->owner = via;
	return s->owner;
}

void
pb_gaps_set_owner(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint32_t via)
{
	struct gap_stream *s = gaps_lookup_create(g, node, source, epoch);
	if (s)
		s->owner = via;
}

int
pb_gaps_seed(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint64_t last_seq)
{
	if (last_seq >= UINT64_MAX - 1)
		return -1;
	struct gap_stream *s = gaps_lookup_create(g, node, source, epoch);
	if (!s) {
		g->rejected++;
		return -1;
	}
	s->expected_next = last_seq + 1;
	s->n = 0;
	s->off = 0;
	s->missing_total = 0;
	return 0;
}

/* ---- persistence: the missing ranges survive a restart ---- */

/*
 * Text, one stream per line: "node source epoch expected_next lo-hi ...".
 * Written by the engine (tmp file + rename) so that a restarted collector
 * still knows which records it never had, and accepts them when a DLQ
 * replay brings them instead of dropping them as duplicates.
 */
int
pb_gaps_save(const struct pb_gaps *g, FILE *f)
{
	fprintf(f, "# packetbroker gaps v1: node source epoch expected_next missing-ranges\n");
	for (uint32_t k = 0; k < g->nstreams; k++) {
		const struct gap_stream *s = g->streams[k];
		fprintf(f, "%u %u %" PRIu64 " %" PRIu64, s->node, s->source, s->epoch,
		    s->expected_next);
		for (uint32_t i = 0; i < s->n; i++)
			fprintf(f, " %" PRIu64 "-%" PRIu64, rg(s, i)->lo, rg(s, i)->hi);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

int
pb_gaps_load(struct pb_gaps *g, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	while (getline(&line, &cap, f) > 0) {
		unsigned node, source;
		uint64_t epoch, next;
		int used = 0;
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%u %u %" SCNu64 " %" SCNu64 "%n", &node, &source, &epoch, &next,
		    &used) != 4 || source > UINT16_MAX || next == 0)
			continue;
		struct gap_stream *s = gaps_lookup_create(g, node, (uint16_t)source, epoch);
		if (!s)
			break;
		s->expected_next = next;
		s->n = s->off = 0;
		s->missing_total = 0;
		const char *p = line + used;
		uint64_t lo, hi, prev = 0;
		int k;
		while (sscanf(p, " %" SCNu64 "-%" SCNu64 "%n", &lo, &hi, &k) == 2) {
			p += k;
			/* Sorted, disjoint and below expected_next, or ignored. */
			if (lo == 0 || lo > hi || hi >= next || lo <= prev)
				continue;
			if (ranges_insert(g, s, s->n, lo, hi) < 0)
				break;
			s->missing_total += hi - lo + 1;
			prev = hi;
		}
		n++;
	}
	free(line);
	g->last = NULL;
	return n;
}

void
pb_gaps_reset_counters(struct pb_gaps *g)
{
	for (uint32_t k = 0; k < g->nstreams; k++) {
		struct gap_stream *s = g->streams[k];
		s->received = s->duplicates = s->filled = 0;
		s->gap_events = s->gap_seqs = 0;
	}
	g->invalid = 0;
}
