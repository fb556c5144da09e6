/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_holes.h"

void
pb_js_holes_init(struct pb_js_holes *h)
{
	h->high = 0;
	h->n = 0;
}

/* Index of the hole holding seq, or -1. */
static int
find(const struct pb_js_holes *h, uint64_t seq)
{
	uint32_t lo = 0, hi = h->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (h->r[mid].hi < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < h->n && h->r[lo].lo <= seq ? (int)lo : -1;
}

bool
pb_js_holes_has(const struct pb_js_holes *h, uint64_t seq)
{
	return seq == 0 || (seq <= h->high && find(h, seq) < 0);
}

/* Past the bound, the lowest hole is the one forgotten: it is the oldest,
 * the least likely to be filled still. */
static void
bound(struct pb_js_holes *h, uint64_t *forgot)
{
	if (h->n <= PB_JS_HOLES_MAX)
		return;
	memmove(&h->r[0], &h->r[1], (h->n - 1) * sizeof(h->r[0]));
	h->n--;
	(*forgot)++;
}

bool
pb_js_holes_take(struct pb_js_holes *h, uint64_t seq, uint64_t *forgot)
{
	if (seq == 0)
		return false;
	if (seq > h->high) {
		if (seq > h->high + 1) {
			h->r[h->n++] = (struct pb_js_range){ h->high + 1, seq - 1 };
			bound(h, forgot);
		}
		h->high = seq;
		return true;
	}
	int i = find(h, seq);
	if (i < 0)
		return false;
	struct pb_js_range *r = &h->r[i];
	if (r->lo == r->hi) {
		memmove(r, r + 1, (h->n - (uint32_t)i - 1) * sizeof(*r));
		h->n--;
	} else if (seq == r->lo) {
		r->lo++;
	} else if (seq == r->hi) {
		r->hi--;
	} else {
		memmove(r + 1, r, (h->n - (uint32_t)i) * sizeof(*r));
		h->n++;
		r[0].hi = seq - 1;
		r[1].lo = seq + 1;
		bound(h, forgot);
	}
	return true;
}

size_t
pb_js_holes_format(const struct pb_js_holes *h, char *buf, size_t len)
{
	size_t off = 0;
	if (len)
		buf[0] = '\0';
	for (uint32_t i = 0; i < h->n; i++) {
		int k = snprintf(buf + off, len - off, "%s%" PRIu64 "-%" PRIu64, i ? "," : "",
		    h->r[i].lo, h->r[i].hi);
		if (k < 0 || (size_t)k >= len - off) {
			if (len)
				buf[0] = '\0';
			return 0;
		}
		off += (size_t)k;
	}
	return off;
}

static int
parse_u64(const char **p, uint64_t *v)
{
	char *end;
	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(*p, &end, 10);
	if (errno)
		return -1;
	*v = (uint64_t)x;
	*p = end;
	return 0;
}

int
pb_js_holes_parse(struct pb_js_holes *h, uint64_t high, const char *s, uint64_t *forgot)
{
	struct pb_js_holes t = { .high = high };
	uint64_t dropped = 0;
	const char *p = s ? s : "";
	while (*p) {
		struct pb_js_range r;
		if (t.n && *p++ != ',')
			return -1;
		if (parse_u64(&p, &r.lo) < 0)
			return -1;
		r.hi = r.lo;
		if (*p == '-' && (++p, parse_u64(&p, &r.hi) < 0))
			return -1;
		/* Sorted, disjoint, not adjacent (as written), below high. */
		if (r.lo == 0 || r.lo > r.hi || r.hi >= high ||
		    (t.n && r.lo <= t.r[t.n - 1].hi + 1))
			return -1;
		t.r[t.n++] = r;
		bound(&t, &dropped);
	}
	*h = t;
	*forgot += dropped;
	return 0;
}
