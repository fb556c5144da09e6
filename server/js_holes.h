/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_JS_HOLES_H
#define PB_JS_HOLES_H

/*
 * Which origin sequence numbers of one origin stream are taken (stored in
 * the jetstream sink's subject, or batched for it): everything from 1 to
 * `high` except a sorted set of holes. A record above high+1 opens the
 * hole [high+1, seq-1]; a late record inside a hole fills it (the hole
 * shrinks or splits). At most PB_JS_HOLES_MAX holes are kept: beyond that
 * the lowest is forgotten (its numbers count as taken from then on), so the
 * set and its header form stay small. Pure, no I/O (schema/jetstream.md §5).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_JS_HOLES_MAX 64u
/* "lo-hi" per hole, comma separated, plus the NUL. */
#define PB_JS_HOLES_STRMAX (PB_JS_HOLES_MAX * 42u + 1u)

struct pb_js_range {
	uint64_t lo, hi;         /* inclusive */
};

struct pb_js_holes {
	uint64_t high;           /* highest seq taken, 0: none */
	uint32_t n;
	/* ascending, disjoint, not adjacent, all below high; one spare slot
	 * for the moment before the lowest is forgotten */
	struct pb_js_range r[PB_JS_HOLES_MAX + 1];
};

void pb_js_holes_init(struct pb_js_holes *h);
/* seq is taken (0 always is: it never names a record). */
bool pb_js_holes_has(const struct pb_js_holes *h, uint64_t seq);
/* Takes seq. Returns true if it was not taken yet; adds the number of
 * holes forgotten to *forgot (at most one per call). */
bool pb_js_holes_take(struct pb_js_holes *h, uint64_t seq, uint64_t *forgot);
/* The holes as "lo-hi,lo-hi" ("" for none); buf of PB_JS_HOLES_STRMAX
 * always suffices. Returns the length, or 0 when none or it does not fit. */
size_t pb_js_holes_format(const struct pb_js_holes *h, char *buf, size_t len);
/* Reads the set with the given high and holes string (as formatted; a
 * single number is a one-number hole). Holes beyond PB_JS_HOLES_MAX drop
 * the lowest (counted in *forgot). Returns -1, h untouched, when the
 * string is malformed, unsorted, overlapping or not below high. */
int pb_js_holes_parse(struct pb_js_holes *h, uint64_t high, const char *s, uint64_t *forgot);

#endif
