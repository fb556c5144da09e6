/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "srcdir.h"

/* The node/source directory: O(1) lookups over many entries, caps that
 * peers cannot exceed, and names cut only at UTF-8 character boundaries. */

static void
test_many_and_caps(void **state)
{
	struct pb_srcdir *d = pb_srcdir_new_limited(5000, 20000);
	(void)state;
	assert_non_null(d);
	for (uint32_t i = 1; i <= 5000; i++) {
		struct pb_node_info n = { .node_id = i * 2654435761u, .named_by = i };
		snprintf(n.name, sizeof(n.name), "n%u", i);
		assert_int_equal(pb_srcdir_set_node(d, &n), 0);
	}
	for (uint32_t i = 0; i < 20000; i++) {
		struct pb_source_info s = { .node_id = i / 100 + 1, .source_id = (uint16_t)(i % 100) };
		snprintf(s.name, sizeof(s.name), "s%u", i);
		assert_int_equal(pb_srcdir_set_source(d, &s), 0);
	}
	assert_int_equal(pb_srcdir_node_count(d), 5000);
	assert_int_equal(pb_srcdir_source_count(d), 20000);
	for (uint32_t i = 1; i <= 5000; i++) {
		const struct pb_node_info *n = pb_srcdir_node(d, i * 2654435761u);
		char want[16];
		assert_non_null(n);
		snprintf(want, sizeof(want), "n%u", i);
		assert_string_equal(n->name, want);
		assert_int_equal(n->named_by, i);
	}
	assert_null(pb_srcdir_node(d, 12345));
	const struct pb_source_info *s = pb_srcdir_source(d, 200, 99);
	assert_non_null(s);
	assert_string_equal(s->name, "s19999");
	assert_null(pb_srcdir_source(d, 201, 0));
	/* Updates of known entries are always fine; new ones past the cap not. */
	struct pb_node_info upd = { .node_id = 2654435761u, .name = "renamed" };
	assert_int_equal(pb_srcdir_set_node(d, &upd), 0);
	assert_string_equal(pb_srcdir_node(d, 2654435761u)->name, "renamed");
	struct pb_node_info extra = { .node_id = 7 };
	errno = 0;
	assert_int_equal(pb_srcdir_set_node(d, &extra), -1);
	assert_int_equal(errno, ENOSPC);
	struct pb_source_info sx = { .node_id = 999, .source_id = 1 };
	assert_int_equal(pb_srcdir_set_source(d, &sx), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(pb_srcdir_node_count(d), 5000);
	/* Iteration in insertion order. */
	assert_int_equal(pb_srcdir_node_at(d, 0)->node_id, 2654435761u);
	assert_null(pb_srcdir_node_at(d, 5000));
	pb_srcdir_free(d);
}

static void
test_copy_name(void **state)
{
	char dst[8];
	(void)state;
	pb_srcdir_copy_name(dst, sizeof(dst), "abc", 3);
	assert_string_equal(dst, "abc");
	pb_srcdir_copy_name(dst, sizeof(dst), "abcdefghij", 10);
	assert_string_equal(dst, "abcdefg");
	/* "aé" x 3 = 9 bytes: 7 would cut the last é in half. */
	pb_srcdir_copy_name(dst, sizeof(dst), "a\xc3\xa9" "a\xc3\xa9" "a\xc3\xa9", 9);
	assert_string_equal(dst, "a\xc3\xa9" "a\xc3\xa9" "a");
	/* A 4-byte character at the edge goes whole. */
	pb_srcdir_copy_name(dst, sizeof(dst), "abcde\xf0\x9f\x98\x80", 9);
	assert_string_equal(dst, "abcde");
	pb_srcdir_copy_name(dst, sizeof(dst), "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9);
	assert_string_equal(dst, "\xe2\x82\xac\xe2\x82\xac");
	pb_srcdir_copy_name(dst, sizeof(dst), "", 0);
	assert_string_equal(dst, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_and_caps),
		cmocka_unit_test(test_copy_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
