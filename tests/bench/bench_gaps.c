/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "gaps.h"

/*
 * Gap tracker throughput on the receive path's common case, in-order
 * records: one stream, then 16 streams in bursts of 32 (mostly cache hits,
 * one lookup per burst). Each phase runs at least 200 ms. Prints rates;
 * fails only when a record is not seen as in order. Run by `make bench`.
 */

#define PHASE_NS (200 * PB_NSEC_PER_MSEC)

int
main(void)
{
	struct pb_gaps_cfg cfg = { 0 };
	struct pb_gaps *g = pb_gaps_new(&cfg);
	uint64_t n = 0, t0, t;
	unsigned long bad = 0;

	if (!g) {
		fprintf(stderr, "bench_gaps: out of memory\n");
		return 1;
	}
	t0 = pb_mono_ns();
	do {
		for (int k = 0; k < 1000000; k++)
			bad += pb_gaps_observe(g, 1, 2, 3, ++n) != PB_GAP_IN_ORDER;
		t = pb_mono_ns() - t0;
	} while (t < PHASE_NS);
	printf("in-order observe, one stream: %.1f M/s (%" PRIu64 " in %.3f s)\n",
	    (double)n * 1e3 / (double)t, n, (double)t / 1e9);

	uint64_t seq[16] = { 0 }, m = 0;
	t0 = pb_mono_ns();
	do {
		for (int k = 0; k < 1000000; k += 32) {
			uint16_t st = (uint16_t)((k / 32) % 16);
			for (int b = 0; b < 32; b++, m++)
				bad += pb_gaps_observe(g, 7, st, 1, ++seq[st]) != PB_GAP_IN_ORDER;
		}
		t = pb_mono_ns() - t0;
	} while (t < PHASE_NS);
	printf("in-order observe, 16 streams in bursts of 32: %.1f M/s (%" PRIu64 " in %.3f s)\n",
	    (double)m * 1e3 / (double)t, m, (double)t / 1e9);
	pb_gaps_free(g);
	if (bad) {
		fprintf(stderr, "bench_gaps: %lu in-order records not seen as in order\n", bad);
		return 1;
	}
	return 0;
}
