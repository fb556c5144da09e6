/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "gaps.h"

/*
 * Gap tracker tests. Random inputs come from a fixed-seed xorshift so a
 * failure is reproducible; the seed is printed.
 */

#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "rng_test.h"

static struct pb_gaps *
new_gaps(uint32_t max_streams, uint32_t max_ranges)
{
	struct pb_gaps_cfg cfg = { .max_streams = max_streams,
		.max_ranges_per_stream = max_ranges };
	struct pb_gaps *g = pb_gaps_new(&cfg);
	assert_non_null(g);
	return g;
}

static struct pb_gaps_stream_info
info_of(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch)
{
	struct pb_gaps_stream_info info;
	assert_int_equal(pb_gaps_stream_get(g, node, source, epoch, &info, NULL, 0), 0);
	return info;
}

/* Checks the stream's ranges against a flat list {lo0, hi0, lo1, hi1...}. */
static void
check_ranges(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    const uint64_t *want, uint32_t nwant)
{
	struct pb_gap_range got[16];
	struct pb_gaps_stream_info info;
	assert_true(nwant <= 16);
	int k = pb_gaps_stream_get(g, node, source, epoch, &info, got, 16);
	assert_int_equal(k, (int)nwant);
	assert_int_equal(info.nranges_total, nwant);
	uint64_t missing = 0;
	for (uint32_t i = 0; i < nwant; i++) {
		assert_int_equal(got[i].lo, want[2 * i]);
		assert_int_equal(got[i].hi, want[2 * i + 1]);
		missing += got[i].hi - got[i].lo + 1;
	}
	assert_int_equal(info.missing_total, missing);
}

#define OBS(g, seq, want) assert_int_equal(pb_gaps_observe((g), 1, 2, 3, (seq)), (want))
#define RANGES(g, ...)                                                                   \
	do {                                                                             \
		const uint64_t w_[] = { __VA_ARGS__ };                                   \
		check_ranges((g), 1, 2, 3, w_, sizeof(w_) / sizeof(w_[0]) / 2);          \
	} while (0)
#define NO_RANGES(g) check_ranges((g), 1, 2, 3, NULL, 0)

static void
test_in_order(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	pb_gaps_set_now(g, 1000);
	OBS(g, 1, PB_GAP_IN_ORDER);
	pb_gaps_set_now(g, 2000);
	for (uint64_t s = 2; s <= 1000; s++)
		OBS(g, s, PB_GAP_IN_ORDER);
	struct pb_gaps_stream_info i = info_of(g, 1, 2, 3);
	assert_int_equal(i.expected_next, 1001);
	assert_int_equal(i.received, 1000);
	assert_int_equal(i.duplicates, 0);
	assert_int_equal(i.filled, 0);
	assert_int_equal(i.missing_total, 0);
	assert_int_equal(i.gap_events, 0);
	assert_int_equal(i.first_seen_ns, 1000);
	assert_int_equal(i.last_seen_ns, 2000);
	NO_RANGES(g);
	assert_int_equal(pb_gaps_nstreams(g), 1);
	assert_int_equal(pb_gaps_stream_get(g, 1, 2, 4, &i, NULL, 0), -1);
	pb_gaps_free(g);
}

static void
test_ahead_and_duplicates(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	OBS(g, 1, PB_GAP_IN_ORDER);
	OBS(g, 2, PB_GAP_IN_ORDER);
	OBS(g, 5, PB_GAP_AHEAD);
	RANGES(g, 3, 4);
	OBS(g, 6, PB_GAP_IN_ORDER);
	OBS(g, 100, PB_GAP_AHEAD);
	RANGES(g, 3, 4, 7, 99);
	OBS(g, 1, PB_GAP_DUPLICATE);
	OBS(g, 6, PB_GAP_DUPLICATE);
	OBS(g, 100, PB_GAP_DUPLICATE);
	OBS(g, 5, PB_GAP_DUPLICATE);
	struct pb_gaps_stream_info i = info_of(g, 1, 2, 3);
	assert_int_equal(i.expected_next, 101);
	assert_int_equal(i.received, 5);
	assert_int_equal(i.duplicates, 4);
	assert_int_equal(i.missing_total, 2 + 93);
	assert_int_equal(i.gap_events, 2);
	assert_int_equal(i.gap_seqs, 95);
	pb_gaps_free(g);
}

static void
test_fill_split(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	OBS(g, 1, PB_GAP_IN_ORDER);
	OBS(g, 11, PB_GAP_AHEAD);
	OBS(g, 20, PB_GAP_AHEAD);
	RANGES(g, 2, 10, 12, 19);
	OBS(g, 2, PB_GAP_FILLED);   /* low edge */
	RANGES(g, 3, 10, 12, 19);
	OBS(g, 10, PB_GAP_FILLED);  /* high edge */
	RANGES(g, 3, 9, 12, 19);
	OBS(g, 6, PB_GAP_FILLED);   /* middle: split */
	RANGES(g, 3, 5, 7, 9, 12, 19);
	OBS(g, 6, PB_GAP_DUPLICATE);
	OBS(g, 2, PB_GAP_DUPLICATE);
	OBS(g, 11, PB_GAP_DUPLICATE);
	OBS(g, 15, PB_GAP_FILLED);
	RANGES(g, 3, 5, 7, 9, 12, 14, 16, 19);
	OBS(g, 8, PB_GAP_FILLED);
	RANGES(g, 3, 5, 7, 7, 9, 9, 12, 14, 16, 19);
	OBS(g, 7, PB_GAP_FILLED);   /* single-seq range disappears */
	OBS(g, 9, PB_GAP_FILLED);
	RANGES(g, 3, 5, 12, 14, 16, 19);
	for (uint64_t s = 3; s <= 5; s++)
		OBS(g, s, PB_GAP_FILLED);
	RANGES(g, 12, 14, 16, 19);
	for (uint64_t s = 19; s >= 16; s--)
		OBS(g, s, PB_GAP_FILLED);
	for (uint64_t s = 12; s <= 14; s++)
		OBS(g, s, PB_GAP_FILLED);
	NO_RANGES(g);
	struct pb_gaps_stream_info i = info_of(g, 1, 2, 3);
	assert_int_equal(i.received, 20);
	assert_int_equal(i.filled, 17);
	assert_int_equal(i.duplicates, 3);
	assert_int_equal(i.gap_seqs, 17);
	for (uint64_t s = 1; s <= 20; s++)
		OBS(g, s, PB_GAP_DUPLICATE);
	OBS(g, 21, PB_GAP_IN_ORDER);
	pb_gaps_free(g);
}

static void
test_late_start_and_invalid(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	OBS(g, 42, PB_GAP_AHEAD);
	RANGES(g, 1, 41);
	OBS(g, 43, PB_GAP_IN_ORDER);
	OBS(g, 1, PB_GAP_FILLED);
	RANGES(g, 2, 41);
	/* Near the top of the sequence space. */
	assert_int_equal(pb_gaps_observe(g, 9, 9, 9, UINT64_MAX - 1), PB_GAP_AHEAD);
	struct pb_gaps_stream_info i = info_of(g, 9, 9, 9);
	assert_int_equal(i.missing_total, UINT64_MAX - 2);
	assert_int_equal(i.expected_next, UINT64_MAX);
	assert_int_equal(pb_gaps_observe(g, 9, 9, 9, UINT64_MAX), PB_GAP_INVALID);
	assert_int_equal(pb_gaps_observe(g, 9, 9, 9, 5), PB_GAP_FILLED);
	/* Invalid seqs on an unknown key create nothing. */
	assert_int_equal(pb_gaps_observe(g, 7, 7, 7, 0), PB_GAP_INVALID);
	assert_int_equal(pb_gaps_observe(g, 7, 7, 7, UINT64_MAX), PB_GAP_INVALID);
	OBS(g, 0, PB_GAP_INVALID);
	OBS(g, 44, PB_GAP_IN_ORDER);
	struct pb_gaps_totals t;
	pb_gaps_totals(g, &t);
	assert_int_equal(t.invalid, 4);
	assert_int_equal(t.received, 6);
	assert_int_equal(t.streams, 2);
	assert_string_equal(pb_gap_result_name(PB_GAP_FILLED), "filled");
	assert_string_equal(pb_gap_result_name(PB_GAP_FILLED), "filled");
	assert_string_equal(pb_gap_result_name(PB_GAP_NO_STREAM), "no-stream");
	pb_gaps_free(g);
}

static void
test_epochs(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	for (uint64_t s = 1; s <= 10; s++)
		assert_int_equal(pb_gaps_observe(g, 5, 1, 100, s), PB_GAP_IN_ORDER);
	/* The origin restarted: a new epoch starts at 1, no gap. */
	assert_int_equal(pb_gaps_observe(g, 5, 1, 200, 1), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(g, 5, 1, 200, 2), PB_GAP_IN_ORDER);
	/* Late records of the old epoch (DLQ replay) still tracked. */
	assert_int_equal(pb_gaps_observe(g, 5, 1, 100, 11), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(g, 5, 1, 100, 5), PB_GAP_DUPLICATE);
	assert_int_equal(pb_gaps_observe(g, 5, 1, 200, 3), PB_GAP_IN_ORDER);
	struct pb_gaps_stream_info a = info_of(g, 5, 1, 100), b = info_of(g, 5, 1, 200);
	assert_int_equal(a.expected_next, 12);
	assert_int_equal(a.missing_total, 0);
	assert_int_equal(a.duplicates, 1);
	assert_int_equal(b.expected_next, 4);
	assert_int_equal(b.missing_total, 0);
	assert_int_equal(pb_gaps_nstreams(g), 2);
	pb_gaps_free(g);
}

static void
test_seed(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(3, 0);

	assert_int_equal(pb_gaps_seed(g, 1, 2, 3, 100), 0);
	OBS(g, 101, PB_GAP_IN_ORDER);
	OBS(g, 50, PB_GAP_DUPLICATE);
	NO_RANGES(g);

	/* Seeding an existing stream drops its ranges, keeps its counters. */
	assert_int_equal(pb_gaps_observe(g, 4, 4, 4, 1), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(g, 4, 4, 4, 5), PB_GAP_AHEAD);
	assert_int_equal(pb_gaps_seed(g, 4, 4, 4, 10), 0);
	struct pb_gaps_stream_info i = info_of(g, 4, 4, 4);
	assert_int_equal(i.expected_next, 11);
	assert_int_equal(i.missing_total, 0);
	assert_int_equal(i.nranges_total, 0);
	assert_int_equal(i.received, 2);
	assert_int_equal(pb_gaps_observe(g, 4, 4, 4, 3), PB_GAP_DUPLICATE);
	assert_int_equal(pb_gaps_observe(g, 4, 4, 4, 11), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(g, 4, 4, 4, 13), PB_GAP_AHEAD);
	assert_int_equal(info_of(g, 4, 4, 4).missing_total, 1);

	assert_int_equal(pb_gaps_seed(g, 6, 6, 6, 0), 0); /* expects 1 */
	assert_int_equal(pb_gaps_observe(g, 6, 6, 6, 1), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_seed(g, 6, 6, 6, UINT64_MAX), -1);
	/* Table full (max_streams 3). */
	assert_int_equal(pb_gaps_seed(g, 7, 7, 7, 5), -1);
	assert_int_equal(pb_gaps_observe(g, 7, 7, 7, 1), PB_GAP_NO_STREAM);
	struct pb_gaps_totals t;
	pb_gaps_totals(g, &t);
	assert_int_equal(t.streams_rejected, 2);
	assert_int_equal(t.streams, 3);
	pb_gaps_free(g);
}

static void
test_coalesce(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 3);

	OBS(g, 1, PB_GAP_IN_ORDER);
	OBS(g, 3, PB_GAP_AHEAD);
	OBS(g, 5, PB_GAP_AHEAD);
	OBS(g, 7, PB_GAP_AHEAD);
	RANGES(g, 2, 2, 4, 4, 6, 6);
	assert_int_equal(info_of(g, 1, 2, 3).ranges_coalesced, 0);
	/* A fourth range: the two oldest merge and 3 counts as missing. */
	OBS(g, 9, PB_GAP_AHEAD);
	RANGES(g, 2, 4, 6, 6, 8, 8);
	struct pb_gaps_stream_info i = info_of(g, 1, 2, 3);
	assert_int_equal(i.ranges_coalesced, 1);
	assert_int_equal(i.missing_total, 5);
	assert_int_equal(i.gap_seqs, 4);
	/* The documented cost: a duplicate of 3 is reported FILLED... */
	OBS(g, 3, PB_GAP_FILLED);
	/* ...and the split exceeds the cap again, so 3 stays covered. */
	RANGES(g, 2, 4, 6, 6, 8, 8);
	assert_int_equal(info_of(g, 1, 2, 3).ranges_coalesced, 2);
	OBS(g, 2, PB_GAP_FILLED);
	RANGES(g, 3, 4, 6, 6, 8, 8);
	OBS(g, 3, PB_GAP_FILLED);
	OBS(g, 4, PB_GAP_FILLED);
	RANGES(g, 6, 6, 8, 8);
	OBS(g, 3, PB_GAP_DUPLICATE);
	i = info_of(g, 1, 2, 3);
	assert_int_equal(i.filled, 4);
	assert_int_equal(i.received, 9);
	assert_int_equal(i.duplicates, 1);
	assert_int_equal(i.ranges_coalesced, 2);
	/* Wide ranges: missing_total grows by exactly the seqs in between. */
	OBS(g, 20, PB_GAP_AHEAD);                /* [10,19] */
	OBS(g, 30, PB_GAP_AHEAD);                /* [21,29] -> merge [6..8] */
	RANGES(g, 6, 8, 10, 19, 21, 29);
	assert_int_equal(info_of(g, 1, 2, 3).missing_total, 3 + 10 + 9);
	OBS(g, 40, PB_GAP_AHEAD);                /* [31,39] -> merge [6..19] */
	RANGES(g, 6, 19, 21, 29, 31, 39);
	assert_int_equal(info_of(g, 1, 2, 3).missing_total, 14 + 9 + 9);
	assert_int_equal(info_of(g, 1, 2, 3).ranges_coalesced, 4);
	pb_gaps_free(g);
}

static void
test_many_ranges(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);
	enum { N = 8000 };
	static uint32_t order[N];

	/* Every even seq missing: N single-seq ranges, then filled at random. */
	OBS(g, 1, PB_GAP_IN_ORDER);
	for (uint64_t s = 3; s <= 2 * N + 1; s += 2)
		OBS(g, s, PB_GAP_AHEAD);
	assert_int_equal(info_of(g, 1, 2, 3).nranges_total, N);
	for (uint32_t k = 0; k < N; k++)
		order[k] = 2 * (k + 1);
	for (uint32_t k = N - 1; k > 0; k--) {
		uint32_t j = rnd_below(k + 1), t = order[k];
		order[k] = order[j];
		order[j] = t;
	}
	for (uint32_t k = 0; k < N; k++) {
		OBS(g, order[k], PB_GAP_FILLED);
		OBS(g, order[k], PB_GAP_DUPLICATE);
		if (k % 1000 == 0) {
			struct pb_gaps_stream_info i = info_of(g, 1, 2, 3);
			assert_int_equal(i.nranges_total, N - k - 1);
			assert_int_equal(i.missing_total, N - k - 1);
		}
	}
	NO_RANGES(g);
	/* Storage shrank back and still works. */
	OBS(g, 2 * N + 5, PB_GAP_AHEAD);
	RANGES(g, 2 * N + 2, 2 * N + 4);
	pb_gaps_free(g);
}

static void
test_many_streams(void **state)
{
	(void)state;
	enum { N = 10000 };
	struct pb_gaps *g = new_gaps(N, 0);

	/* Keys that differ in one field at a time, to stress the hash. */
#define KEY(k)                                                                           \
	uint32_t node = (k) % 7;                                                         \
	uint16_t source = (uint16_t)((k) % 13);                                          \
	uint64_t epoch = (uint64_t)(k) << 32 | ((k) % 3), seq = (k) % 5 + 1
	for (uint32_t k = 0; k < N; k++) {
		KEY(k);
		assert_int_equal(pb_gaps_observe(g, node, source, epoch, seq),
		    seq == 1 ? PB_GAP_IN_ORDER : PB_GAP_AHEAD);
	}
	assert_int_equal(pb_gaps_nstreams(g), N);
	assert_int_equal(pb_gaps_observe(g, 99, 99, 99, 1), PB_GAP_NO_STREAM);
	/* Revisit in a scattered order (cache misses) and check each state. */
	for (uint32_t n = 0; n < N; n++) {
		KEY((uint32_t)(((uint64_t)n * 7919) % N));
		struct pb_gaps_stream_info i = info_of(g, node, source, epoch);
		assert_int_equal(i.node, node);
		assert_int_equal(i.source, source);
		assert_int_equal(i.epoch, epoch);
		assert_int_equal(i.expected_next, seq + 1);
		assert_int_equal(i.missing_total, seq - 1);
		assert_int_equal(pb_gaps_observe(g, node, source, epoch, seq + 1),
		    PB_GAP_IN_ORDER);
		assert_int_equal(pb_gaps_observe(g, node, source, epoch, seq), PB_GAP_DUPLICATE);
	}
	struct pb_gaps_totals t;
	pb_gaps_totals(g, &t);
	assert_int_equal(t.streams, N);
	assert_int_equal(t.received, 2 * N);
	assert_int_equal(t.duplicates, N);
	assert_int_equal(t.missing_total, (0 + 1 + 2 + 3 + 4) * (N / 5));
	assert_int_equal(t.streams_rejected, 1);
	pb_gaps_free(g);
#undef KEY
}

/* ---- randomized model test ---- */

/* Reference: one byte per seq says "counted missing"; ranges are its runs. */
struct model {
	uint32_t node;
	uint16_t source;
	uint64_t epoch;
	uint32_t nseq;
	uint8_t *miss;   /* [0, nseq + 2) */
	uint64_t expected, received, dups, filled, nmiss, gap_events, gap_seqs, coalesced;
	uint32_t runs, low, cap;
	uint64_t *ev;    /* delivery order */
	size_t nev, pos;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Delivery: each seq gets a key (natural position + jitter) and the list is
 * sorted by key; a few seqs are lost, some are late, some are duplicated.
 */
static void
model_init(struct model *m, uint32_t node, uint16_t source, uint64_t epoch, uint32_t nseq,
    uint32_t cap)
{
	*m = (struct model){ .node = node, .source = source, .epoch = epoch, .nseq = nseq,
		.expected = 1, .low = 1, .cap = cap };
	m->miss = calloc(nseq + 2, 1);
	m->ev = calloc(2 * (size_t)nseq, sizeof(*m->ev));
	assert_non_null(m->miss);
	assert_non_null(m->ev);
	uint32_t jitter = 2 + rnd_below(32);
	for (uint32_t s = 1; s <= nseq; s++) {
		uint32_t r = rnd_below(1000);
		uint64_t key = (uint64_t)s * 16;
		if (r < 20)
			continue;
		if (r < 60)
			key += rnd_below(16 * 4000);
		else if (r < 300)
			key += rnd_below(16 * jitter);
		else
			key += rnd_below(16);
		m->ev[m->nev++] = key << 20 | s;
		if (rnd_below(100) < 4)
			m->ev[m->nev++] = ((uint64_t)s * 16 + rnd_below(16 * 3000)) << 20 | s;
	}
	qsort(m->ev, m->nev, sizeof(*m->ev), cmp_u64);
	for (size_t i = 0; i < m->nev; i++)
		m->ev[i] &= (1u << 20) - 1;
}

static void
model_coalesce(struct model *m)
{
	while (m->runs > m->cap && m->runs >= 2) {
		uint64_t a = m->low;
		while (!m->miss[a])
			a++;
		m->low = (uint32_t)a;
		uint64_t e = a;
		while (m->miss[e + 1])
			e++;
		uint64_t b = e + 1;
		while (!m->miss[b]) {
			m->miss[b] = 1;
			m->nmiss++;
			b++;
		}
		m->runs--;
		m->coalesced++;
	}
}

static enum pb_gap_result
model_observe(struct model *m, uint64_t seq)
{
	if (seq == m->expected) {
		m->expected++;
		m->received++;
		return PB_GAP_IN_ORDER;
	}
	if (seq > m->expected) {
		for (uint64_t s = m->expected; s < seq; s++)
			m->miss[s] = 1;
		m->nmiss += seq - m->expected;
		m->gap_seqs += seq - m->expected;
		m->gap_events++;
		m->runs++;
		m->expected = seq + 1;
		m->received++;
		model_coalesce(m);
		return PB_GAP_AHEAD;
	}
	if (!m->miss[seq]) {
		m->dups++;
		return PB_GAP_DUPLICATE;
	}
	m->miss[seq] = 0;
	m->nmiss--;
	m->filled++;
	m->received++;
	bool l = m->miss[seq - 1], r = m->miss[seq + 1];
	if (l && r)
		m->runs++;
	else if (!l && !r)
		m->runs--;
	model_coalesce(m);
	return PB_GAP_FILLED;
}

static void
model_check_counters(struct pb_gaps *g, const struct model *m)
{
	struct pb_gaps_stream_info i = info_of(g, m->node, m->source, m->epoch);
	assert_int_equal(i.expected_next, m->expected);
	assert_int_equal(i.received, m->received);
	assert_int_equal(i.duplicates, m->dups);
	assert_int_equal(i.filled, m->filled);
	assert_int_equal(i.missing_total, m->nmiss);
	assert_int_equal(i.gap_events, m->gap_events);
	assert_int_equal(i.gap_seqs, m->gap_seqs);
	assert_int_equal(i.ranges_coalesced, m->coalesced);
	assert_int_equal(i.nranges_total, m->runs);
}

static void
model_check_ranges(struct pb_gaps *g, const struct model *m, struct pb_gap_range *buf)
{
	struct pb_gaps_stream_info info;
	int k = pb_gaps_stream_get(g, m->node, m->source, m->epoch, &info, buf, m->nseq);
	assert_int_equal(k, (int)m->runs);
	int j = 0;
	for (uint64_t s = 1; s < m->expected; s++) {
		if (!m->miss[s] || m->miss[s - 1])
			continue;
		uint64_t e = s;
		while (m->miss[e + 1])
			e++;
		assert_true(j < k);
		assert_int_equal(buf[j].lo, s);
		assert_int_equal(buf[j].hi, e);
		j++;
	}
	assert_int_equal(j, k);
}

static void
run_model(uint32_t cap, uint32_t nseq_each, size_t min_ops)
{
	enum { NM = 3 };
	struct pb_gaps *g = new_gaps(0, cap);
	struct model m[NM];
	struct pb_gap_range *buf = calloc(nseq_each + 1, sizeof(*buf));
	uint32_t mcap = cap ? cap : PB_GAPS_DEFAULT_MAX_RANGES;
	size_t ops = 0, left = 0;
	uint64_t counts[6] = { 0 };

	assert_non_null(buf);
	/* Same node/source for two of them: epochs must stay separate. */
	model_init(&m[0], 10, 1, 1000, nseq_each, mcap);
	model_init(&m[1], 10, 1, 1001, nseq_each, mcap);
	model_init(&m[2], 11, 7, 1000, nseq_each, mcap);
	for (int k = 0; k < NM; k++)
		left += m[k].nev;
	while (left) {
		struct model *mm = &m[rnd_below(NM)];
		uint32_t burst = 1 + rnd_below(64);
		for (; burst && mm->pos < mm->nev; burst--, left--, ops++) {
			uint64_t seq = mm->ev[mm->pos++];
			enum pb_gap_result want = model_observe(mm, seq);
			enum pb_gap_result got = pb_gaps_observe(g, mm->node, mm->source,
			    mm->epoch, seq);
			if (got != want)
				fail_msg("op %zu seq %llu: got %s want %s", ops,
				    (unsigned long long)seq, pb_gap_result_name(got),
				    pb_gap_result_name(want));
			counts[got]++;
			model_check_counters(g, mm);
			if (ops % 997 == 0)
				model_check_ranges(g, mm, buf);
		}
	}
	assert_true(ops >= min_ops);
	struct pb_gaps_totals t;
	pb_gaps_totals(g, &t);
	uint64_t rec = 0, dup = 0, miss = 0, coal = 0;
	for (int k = 0; k < NM; k++) {
		model_check_ranges(g, &m[k], buf);
		rec += m[k].received;
		dup += m[k].dups;
		miss += m[k].nmiss;
		coal += m[k].coalesced;
	}
	assert_int_equal(t.received, rec);
	assert_int_equal(t.duplicates, dup);
	assert_int_equal(t.missing_total, miss);
	assert_int_equal(t.ranges_coalesced, coal);
	printf("# model cap %u: %zu ops: in-order %" PRIu64 " ahead %" PRIu64 " filled %" PRIu64
	       " dup %" PRIu64 " coalesced %" PRIu64 "\n", mcap, ops, counts[0], counts[1],
	    counts[2], counts[3], coal);
	/* The mix must exercise every path (a tiny cap turns most dups into fills). */
	for (int r = PB_GAP_IN_ORDER; r < PB_GAP_DUPLICATE; r++)
		assert_true(counts[r] > 100);
	assert_true(counts[PB_GAP_DUPLICATE] > (mcap >= 64 ? 100u : 0u));
	if (mcap < 100)
		assert_true(coal > 0);
	for (int k = 0; k < NM; k++) {
		free(m[k].miss);
		free(m[k].ev);
	}
	free(buf);
	pb_gaps_free(g);
}

static void
test_model(void **state)
{
	(void)state;
	run_model(0, 34000, 100000); /* no coalescing */
	run_model(4, 12000, 30000);
	run_model(64, 12000, 30000);
}

/* ---- snapshots ---- */

static void
test_snapshot_content(void **state)
{
	(void)state;
	struct pb_gaps *g = new_gaps(0, 0);

	assert_null(pb_gaps_snapshot_get(g));
	pb_gaps_set_now(g, 77);
	assert_int_equal(pb_gaps_observe(g, 9, 1, 1, 1), PB_GAP_IN_ORDER);
	assert_int_equal(pb_gaps_observe(g, 2, 5, 8, 3), PB_GAP_AHEAD);
	assert_int_equal(pb_gaps_observe(g, 2, 5, 8, 6), PB_GAP_AHEAD);
	assert_int_equal(pb_gaps_observe(g, 2, 5, 8, 9), PB_GAP_AHEAD);
	assert_int_equal(pb_gaps_observe(g, 2, 5, 7, 1), PB_GAP_IN_ORDER);
	uint64_t before = pb_mono_ns();
	assert_int_equal(pb_gaps_publish(g, 2), 0);
	struct pb_gaps_snapshot *a = pb_gaps_snapshot_get(g);
	assert_non_null(a);
	assert_true(a->generated_ns >= before);
	assert_int_equal(a->nstreams, 3);
	/* Sorted by key. */
	assert_int_equal(a->streams[0].epoch, 7);
	assert_int_equal(a->streams[1].epoch, 8);
	assert_int_equal(a->streams[2].node, 9);
	const struct pb_gaps_stream_info *s = pb_gaps_snapshot_find(a, 2, 5, 8);
	assert_ptr_equal(s, &a->streams[1]);
	assert_int_equal(s->nranges_total, 3);
	assert_int_equal(s->nranges_listed, 2);
	assert_int_equal(s->ranges[0].lo, 1);
	assert_int_equal(s->ranges[0].hi, 2);
	assert_int_equal(s->ranges[1].lo, 4);
	assert_int_equal(s->ranges[1].hi, 5);
	assert_int_equal(s->missing_total, 6);
	assert_int_equal(s->first_seen_ns, 77);
	assert_int_equal(a->streams[0].nranges_listed, 0);
	assert_null(a->streams[0].ranges);
	assert_null(pb_gaps_snapshot_find(a, 2, 5, 9));
	assert_null(pb_gaps_snapshot_find(a, 1, 0, 0));
	assert_int_equal(a->totals.streams, 3);
	assert_int_equal(a->totals.received, 5);
	assert_int_equal(a->totals.missing_total, 6);

	/* A newer publish leaves the held one untouched. */
	assert_int_equal(pb_gaps_observe(g, 2, 5, 8, 1), PB_GAP_FILLED);
	assert_int_equal(pb_gaps_publish(g, 10), 0);
	struct pb_gaps_snapshot *b = pb_gaps_snapshot_get(g);
	assert_ptr_not_equal(a, b);
	assert_int_equal(pb_gaps_snapshot_find(b, 2, 5, 8)->missing_total, 5);
	assert_int_equal(pb_gaps_snapshot_find(b, 2, 5, 8)->nranges_listed, 3);
	assert_int_equal(s->missing_total, 6);
	assert_int_equal(s->ranges[0].lo, 1);
	pb_gaps_snapshot_put(b);
	/* Snapshots outlive the tracker. */
	pb_gaps_free(g);
	assert_int_equal(s->ranges[1].hi, 5);
	pb_gaps_snapshot_put(a);
	pb_gaps_snapshot_put(NULL);
}

struct reader {
	struct pb_gaps *g;
	atomic_bool stop;
	atomic_uint checked;
	uint32_t max_listed;
	int bad;
};

static bool
snap_consistent(const struct pb_gaps_snapshot *sn, uint32_t max_listed)
{
	uint64_t rec = 0, miss = 0;

	for (uint32_t i = 0; i < sn->nstreams; i++) {
		const struct pb_gaps_stream_info *s = &sn->streams[i];
		if (i > 0 && sn->streams[i - 1].epoch >= s->epoch)
			return false; /* all streams share node/source here */
		if (s->nranges_listed > max_listed || s->nranges_listed > s->nranges_total)
			return false;
		uint64_t listed = 0, prev_hi = 0;
		for (uint32_t k = 0; k < s->nranges_listed; k++) {
			const struct pb_gap_range *r = &s->ranges[k];
			if (r->lo > r->hi || (k > 0 && r->lo <= prev_hi + 1) ||
			    r->hi >= s->expected_next)
				return false;
			listed += r->hi - r->lo + 1;
			prev_hi = r->hi;
		}
		if (listed > s->missing_total ||
		    (s->nranges_listed == s->nranges_total && listed != s->missing_total))
			return false;
		if (s->received > s->expected_next - 1)
			return false;
		rec += s->received;
		miss += s->missing_total;
	}
	return rec == sn->totals.received && miss == sn->totals.missing_total &&
	    sn->totals.streams == sn->nstreams;
}

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t last_gen = 0, last_rec = 0;

	while (!atomic_load(&rd->stop)) {
		struct pb_gaps_snapshot *sn = pb_gaps_snapshot_get(rd->g);
		if (!sn)
			continue;
		if (!snap_consistent(sn, rd->max_listed) || sn->generated_ns < last_gen ||
		    sn->totals.received < last_rec)
			rd->bad++;
		last_gen = sn->generated_ns;
		last_rec = sn->totals.received;
		/* Hold it across the engine's next publishes, then re-check. */
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		if (!snap_consistent(sn, rd->max_listed))
			rd->bad++;
		pb_gaps_snapshot_put(sn);
		atomic_fetch_add(&rd->checked, 1);
	}
	return NULL;
}

static void
test_snapshot_thread(void **state)
{
	(void)state;
	struct reader rd = { .g = new_gaps(0, 0), .max_listed = 4 };
	pthread_t th;
	uint64_t seq[8] = { 0 }, publishes = 0, i = 0;
	uint64_t deadline = pb_mono_ns() + 20 * PB_NSEC_PER_SEC;

	atomic_init(&rd.stop, false);
	atomic_init(&rd.checked, 0);
	assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
	while (publishes < 200 || atomic_load(&rd.checked) < 200) {
		uint32_t e = rnd_below(8);
		uint64_t next = ++seq[e];
		if (rnd_below(50) == 0)
			seq[e] += rnd_below(5) + 1; /* lose a few */
		pb_gaps_observe(rd.g, 1, 1, e, next);
		if (rnd_below(4) == 0 && seq[e] > 10)
			pb_gaps_observe(rd.g, 1, 1, e, seq[e] - rnd_below(10));
		if (++i % 500 == 0) {
			assert_int_equal(pb_gaps_publish(rd.g, rd.max_listed), 0);
			publishes++;
			/* valgrind runs one thread at a time: let the reader in. */
			if (publishes % 16 == 0)
				usleep(200);
		}
		if (pb_mono_ns() > deadline)
			break;
	}
	atomic_store(&rd.stop, true);
	pthread_join(th, NULL);
	printf("# %llu publishes, %u snapshots checked by the reader\n",
	    (unsigned long long)publishes, atomic_load(&rd.checked));
	assert_int_equal(rd.bad, 0);
	assert_true(atomic_load(&rd.checked) > 0);
	pb_gaps_free(rd.g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_ahead_and_duplicates),
		cmocka_unit_test(test_fill_split),
		cmocka_unit_test(test_late_start_and_invalid),
		cmocka_unit_test(test_epochs),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_coalesce),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_many_streams),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_snapshot_content),
		cmocka_unit_test(test_snapshot_thread),
	};
	printf("# seed 0x%016llx\n", (unsigned long long)rng_state);
	return cmocka_run_group_tests_name("gaps", tests, NULL, NULL);
}
