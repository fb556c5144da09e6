/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TEST_CONFIG_TEST_H
#define PB_TEST_CONFIG_TEST_H

/*
 * Helpers for the configuration unit tests: every report is recorded so
 * that tests can assert on file, line and text. Include after <cmocka.h>.
 */

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct report {
	char file[PATH_MAX];
	int line;
	char msg[1024];
};

static struct report reports[128];
static int nreports;

static inline void
record_report(void *arg, const char *file, int line, const char *msg)
{
	(void)arg;
	if (nreports < (int)(sizeof(reports) / sizeof(reports[0]))) {
		snprintf(reports[nreports].file, sizeof(reports[nreports].file), "%s", file);
		reports[nreports].line = line;
		snprintf(reports[nreports].msg, sizeof(reports[nreports].msg), "%s", msg);
	}
	nreports++;
}

static inline void
dump_reports(void)
{
	for (int i = 0; i < nreports && i < 128; i++)
		print_message("  report %s:%d: %s\n", reports[i].file, reports[i].line,
		    reports[i].msg);
}

/* Asserts that some report on `line` contains `text`. */
static inline void
expect_report(int line, const char *text)
{
	for (int i = 0; i < nreports && i < 128; i++)
		if (reports[i].line == line && strstr(reports[i].msg, text) != NULL)
			return;
	dump_reports();
	fail_msg("no error on line %d containing \"%s\"", line, text);
}

static inline bool
is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static inline int
load_str(const char *text, struct pb_config *cfg)
{
	nreports = 0;
	return pb_config_load_string(text, cfg, record_report, NULL);
}

static inline int
load_file(const char *path, struct pb_config *cfg)
{
	nreports = 0;
	return pb_config_load(path, cfg, record_report, NULL);
}

/* Loads text that must be valid. */
static inline void
load_ok(const char *text, struct pb_config *cfg)
{
	if (load_str(text, cfg) != 0) {
		dump_reports();
		fail_msg("did not load:\n%s", text);
	}
	assert_int_equal(nreports, 0);
}

/* Loads text that must give exactly one error, on `line`, containing `msg`. */
static inline void
load_bad(const char *text, int line, const char *msg)
{
	struct pb_config cfg;
	int n = load_str(text, &cfg);

	if (n != 1 || nreports != 1) {
		dump_reports();
		fail_msg("%d errors instead of 1 for:\n%s", n, text);
	}
	expect_report(line, msg);
	assert_true(is_zero(&cfg, sizeof(cfg)));
}

/* snprintf that fails the test instead of truncating. */
static inline void __attribute__((format(printf, 3, 4)))
fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < len);
}

/* $top_srcdir (set by make check), else derived from this file's path. */
static inline void
srcdir_path(char *buf, size_t len, const char *rel)
{
	const char *top = getenv("top_srcdir");
	char self[PATH_MAX], *p;

	if (top == NULL || top[0] == '\0') {
		snprintf(self, sizeof(self), "%s", __FILE__);
		p = strstr(self, "tests/unit/config_test.h");
		if (p == NULL)
			fail_msg("set top_srcdir");
		if (p == self)
			snprintf(self, sizeof(self), ".");
		else
			p[-1] = '\0';
		top = self;
	}
	fmt(buf, len, "%s/%s", top, rel);
}

struct expect {
	int line;
	const char *text;
};

/* Each bad file yields exactly the listed errors, at the listed lines. */
static inline void
check_bad_file(const char *name, const struct expect *exp, int nexp)
{
	struct pb_config cfg;
	char path[PATH_MAX];
	int n, i;

	srcdir_path(path, sizeof(path), name);
	n = load_file(path, &cfg);
	if (n != nexp || nreports != nexp)
		dump_reports();
	assert_int_equal(n, nexp);
	assert_int_equal(nreports, nexp);
	for (i = 0; i < nexp; i++)
		expect_report(exp[i].line, exp[i].text);
	for (i = 0; i < nreports; i++)
		assert_string_equal(reports[i].file, path);
	assert_true(is_zero(&cfg, sizeof(cfg)));
}

#endif
