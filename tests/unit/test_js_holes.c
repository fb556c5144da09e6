/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "js_holes.h"
#include "rng_test.h"

/* The hole set of the jetstream sink (server/js_holes.c). */

static void
check_str(const struct pb_js_holes *h, const char *want)
{
	char buf[PB_JS_HOLES_STRMAX];
	pb_js_holes_format(h, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
test_fill_and_split(void **state)
{
	struct pb_js_holes h;
	uint64_t forgot = 0;
	(void)state;
	pb_js_holes_init(&h);
	assert_true(pb_js_holes_has(&h, 0));
	assert_false(pb_js_holes_has(&h, 1));
	assert_true(pb_js_holes_take(&h, 1, &forgot));
	assert_false(pb_js_holes_take(&h, 1, &forgot));
	assert_true(pb_js_holes_take(&h, 10, &forgot));
	check_str(&h, "2-9");
	assert_true(pb_js_holes_take(&h, 5, &forgot));
	check_str(&h, "2-4,6-9");
	assert_true(pb_js_holes_take(&h, 2, &forgot));
	assert_true(pb_js_holes_take(&h, 9, &forgot));
	check_str(&h, "3-4,6-8");
	assert_false(pb_js_holes_take(&h, 5, &forgot));
	assert_false(pb_js_holes_take(&h, 10, &forgot));
	assert_true(pb_js_holes_take(&h, 3, &forgot));
	assert_true(pb_js_holes_take(&h, 4, &forgot));
	check_str(&h, "6-8");
	assert_true(pb_js_holes_has(&h, 5));
	assert_false(pb_js_holes_has(&h, 7));
	assert_false(pb_js_holes_has(&h, 11));
	assert_int_equal(h.high, 10);
	assert_int_equal(forgot, 0);
	assert_false(pb_js_holes_take(&h, 0, &forgot));
}

static void
test_bound(void **state)
{
	struct pb_js_holes h;
	uint64_t forgot = 0;
	(void)state;
	pb_js_holes_init(&h);
	/* Every second number: one hole each. */
	for (uint64_t s = 2; s <= 2 * (PB_JS_HOLES_MAX + 3); s += 2)
		assert_true(pb_js_holes_take(&h, s, &forgot));
	assert_int_equal(h.n, PB_JS_HOLES_MAX);
	assert_int_equal(forgot, 3);
	/* The lowest three are forgotten: taken from now on. */
	assert_true(pb_js_holes_has(&h, 1));
	assert_true(pb_js_holes_has(&h, 5));
	assert_false(pb_js_holes_take(&h, 5, &forgot));
	assert_false(pb_js_holes_has(&h, 7));
	assert_int_equal(h.r[0].lo, 7);
	/* A split at the bound forgets the lowest again. */
	pb_js_holes_init(&h);
	forgot = 0;
	for (uint64_t s = 10; s <= 10 * PB_JS_HOLES_MAX; s += 10)
		pb_js_holes_take(&h, s, &forgot);
	assert_int_equal(h.n, PB_JS_HOLES_MAX);
	assert_true(pb_js_holes_take(&h, 5, &forgot));
	assert_int_equal(forgot, 1);
	char buf[PB_JS_HOLES_STRMAX];
	pb_js_holes_format(&h, buf, sizeof(buf));
	assert_true(strncmp(buf, "6-9,11-19,", 10) == 0);
}

static void
test_parse(void **state)
{
	struct pb_js_holes h, g;
	uint64_t forgot = 0;
	char buf[PB_JS_HOLES_STRMAX];
	(void)state;
	assert_int_equal(pb_js_holes_parse(&h, 300, "100-200,250-260", &forgot), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.high, 300);
	pb_js_holes_format(&h, buf, sizeof(buf));
	assert_string_equal(buf, "100-200,250-260");
	assert_int_equal(pb_js_holes_parse(&h, 9, "", &forgot), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(pb_js_holes_parse(&h, 9, NULL, &forgot), 0);
	assert_int_equal(pb_js_holes_parse(&h, 9, "4", &forgot), 0);
	assert_false(pb_js_holes_has(&h, 4));
	static const char *bad[] = { "5-4", "1-9", "0-2", "3-4,4-5", "3-4,5-6", "4-5,1-2",
		"1-2,", ",1-2", "a", "1-2;3-4", "1--2", "-1", "1-2 ", "99999999999999999999-1" };
	g = h;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pb_js_holes_parse(&h, 9, bad[i], &forgot), -1);
		assert_memory_equal(&h, &g, sizeof(h));
	}
	assert_int_equal(forgot, 0);
	/* Too small a buffer: nothing rather than a cut list. */
	assert_int_equal(pb_js_holes_parse(&h, 300, "100-200,250-260", &forgot), 0);
	assert_int_equal(pb_js_holes_format(&h, buf, 10), 0);
	assert_string_equal(buf, "");
}

/* The reference: a bitmap, with its lowest holes filled while there are
 * more than the bound (what forgetting means). */
#define MODEL_N 3000u
struct model {
	uint8_t taken[MODEL_N + 1];
	uint64_t high, forgot;
};

static uint32_t
model_holes(const struct model *m, struct pb_js_range *out)
{
	uint32_t n = 0;
	for (uint64_t s = 1; s <= m->high; s++) {
		if (m->taken[s])
			continue;
		if (n && out[n - 1].hi == s - 1)
			out[n - 1].hi = s;
		else
			out[n++] = (struct pb_js_range){ s, s };
	}
	return n;
}

static bool
model_take(struct model *m, uint64_t s)
{
	bool fresh = s != 0 && !m->taken[s];
	if (fresh)
		m->taken[s] = 1;
	if (s > m->high)
		m->high = s;
	struct pb_js_range r[MODEL_N];
	uint32_t n = model_holes(m, r);
	for (uint32_t i = 0; n - i > PB_JS_HOLES_MAX; i++) {
		for (uint64_t x = r[i].lo; x <= r[i].hi; x++)
			m->taken[x] = 1;
		m->forgot++;
	}
	return fresh;
}

static void
test_model(void **state)
{
	static struct model m;
	struct pb_js_holes h;
	uint64_t forgot = 0, forgot_all = 0;
	(void)state;
	printf("seed %#llx\n", (unsigned long long)TEST_RNG_SEED);
	for (int round = 0; round < 20; round++) {
		memset(&m, 0, sizeof(m));
		m.taken[0] = 1;
		pb_js_holes_init(&h);
		forgot = 0;
		uint64_t next = 1;
		while (next < MODEL_N - 20) {
			uint64_t s;
			uint32_t k = rnd_below(10);
			if (k < 5)
				s = next++;                           /* in order */
			else if (k < 7)
				s = (next += 1 + rnd_below(round < 10 ? 8 : 2)); /* a gap */
			else
				s = 1 + rnd_below((uint32_t)next);    /* late, or again */
			bool want = model_take(&m, s);
			assert_int_equal(pb_js_holes_take(&h, s, &forgot), want);
			assert_int_equal(h.high, m.high);
			assert_int_equal(forgot, m.forgot);
			if (rnd_below(50) == 0 || next >= MODEL_N - 20) {
				for (uint64_t x = 0; x <= m.high + 1 && x <= MODEL_N; x++)
					assert_int_equal(pb_js_holes_has(&h, x), x <= m.high && m.taken[x]);
				struct pb_js_range r[MODEL_N];
				uint32_t n = model_holes(&m, r);
				assert_int_equal(h.n, n);
				assert_memory_equal(h.r, r, n * sizeof(r[0]));
				/* What a reader of the headers learns is the same set. */
				char buf[PB_JS_HOLES_STRMAX];
				struct pb_js_holes g;
				uint64_t f2 = 0;
				pb_js_holes_format(&h, buf, sizeof(buf));
				assert_int_equal(pb_js_holes_parse(&g, h.high, buf, &f2), 0);
				assert_int_equal(f2, 0);
				assert_int_equal(g.n, h.n);
				assert_memory_equal(g.r, h.r, h.n * sizeof(h.r[0]));
			}
		}
		forgot_all += forgot;
	}
	/* The bound was reached, and the rounds with short gaps filled some. */
	assert_true(forgot_all > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_and_split),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
