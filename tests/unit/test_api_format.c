/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api_format.h"
#include "clock.h"

/* The text forms every management interface shares (mgmt/api_format.h). */

static void
test_rfc3339(void **state)
{
	char buf[64];

	(void)state;
	/* 2023-11-14T22:13:20.123456789Z */
	assert_int_equal(pb_fmt_rfc3339(1700000000123456789ull, 9, buf, sizeof(buf)), 30);
	assert_string_equal(buf, "2023-11-14T22:13:20.123456789Z");
	assert_int_equal(pb_fmt_rfc3339(1700000000123456789ull, 3, buf, sizeof(buf)), 24);
	assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
	/* 0 is "unset", not 1970 */
	assert_int_equal(pb_fmt_rfc3339(0, 3, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* too small a buffer: nothing half-written */
	assert_int_equal(pb_fmt_rfc3339(1700000000123456789ull, 9, buf, 30), 0);
	assert_string_equal(buf, "");
	assert_int_equal(pb_fmt_rfc3339(1, 9, buf, sizeof(buf)), 30);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000001Z");
}

static void
test_parse_time(void **state)
{
	uint64_t ns = 0;
	char buf[64];

	(void)state;
	assert_int_equal(pb_fmt_parse_time("2023-11-14T22:13:20.123456789Z", &ns), 0);
	assert_true(ns == 1700000000123456789ull);
	/* offsets, ' ' for a decoded '+', lower case t/z, fractions cut at ns */
	assert_int_equal(pb_fmt_parse_time("2023-11-15T00:13:20.5+02:00", &ns), 0);
	assert_true(ns == 1700000000500000000ull);
	assert_int_equal(pb_fmt_parse_time("2023-11-15T00:13:20 02:00", &ns), 0);
	assert_true(ns == 1700000000000000000ull);
	assert_int_equal(pb_fmt_parse_time("2023-11-14t22:13:20.1234567891z", &ns), 0);
	assert_true(ns == 1700000000123456789ull);
	assert_int_equal(pb_fmt_parse_time("1700000000000000000", &ns), 0);
	assert_true(ns == 1700000000000000000ull);
	/* round trip */
	pb_fmt_rfc3339(1234567890987654321ull, 9, buf, sizeof(buf));
	assert_int_equal(pb_fmt_parse_time(buf, &ns), 0);
	assert_true(ns == 1234567890987654321ull);
	/* refused */
	static const char *const bad[] = {
		"", "2023-11-14", "2023-13-14T22:13:20Z", "2023-02-29T00:00:00Z",
		"2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20",
		"2023-11-14T22:13:20+2:00", "1969-12-31T23:59:59Z", "2263-01-01T00:00:00Z",
		"-5", "0x10", "99999999999999999999", "2023-11-14T22:13:20Zjunk",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pb_fmt_parse_time(bad[i], &ns) == 0)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(pb_fmt_parse_time("2024-02-29T00:00:00Z", &ns), 0); /* leap year */
}

static void
test_parse_u64(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(pb_fmt_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(pb_fmt_parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
	assert_int_equal(pb_fmt_parse_u64("1001", 1000, &v), -1);
	assert_int_equal(pb_fmt_parse_u64("1000", 1000, &v), 0);
	assert_int_equal(pb_fmt_parse_u64("+1", 1000, &v), -1);
	assert_int_equal(pb_fmt_parse_u64(" 1", 1000, &v), -1);
	assert_int_equal(pb_fmt_parse_u64("", 1000, &v), -1);
	assert_int_equal(pb_fmt_parse_u64(NULL, 1000, &v), -1);
}

static void
test_link_states(void **state)
{
	static const char *const names[] = { "connecting", "up", "slow", "down" };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		enum pb_link_state_code c = pb_fmt_link_state(names[i]);

		assert_int_not_equal(c, PB_LINK_STATE_UNKNOWN);
		assert_string_equal(pb_fmt_link_state_name(c), names[i]);
	}
	/* numbers are stable: MIB enumerations and gauges use them */
	assert_int_equal(pb_fmt_link_state("up"), 2);
	assert_int_equal(pb_fmt_link_state("down"), 4);
	assert_int_equal(pb_fmt_link_state("UP"), PB_LINK_STATE_UNKNOWN);
	assert_int_equal(pb_fmt_link_state(""), PB_LINK_STATE_UNKNOWN);
	assert_string_equal(pb_fmt_link_state_name(-1), "unknown");
	assert_string_equal(pb_fmt_link_state_name(PB_LINK_STATE_COUNT), "unknown");
	assert_string_equal(pb_fmt_link_state_name(0), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_link_states),
	};

	return cmocka_run_group_tests_name("api_format", tests, NULL, NULL);
}
