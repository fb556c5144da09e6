/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_format.h"
#include "clock.h"

size_t
pb_fmt_rfc3339(uint64_t real_ns, unsigned int digits, char *buf, size_t len)
{
	time_t sec = (time_t)(real_ns / PB_NSEC_PER_SEC);
	unsigned int frac = (unsigned int)(real_ns % PB_NSEC_PER_SEC);
	struct tm tm;
	char day[32];
	int n;

	if (len > 0)
		buf[0] = '\0';
	if (real_ns == 0 || gmtime_r(&sec, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return 0;
	if (digits >= 9)
		n = snprintf(buf, len, "%s.%09uZ", day, frac);
	else
		n = snprintf(buf, len, "%s.%03uZ", day, frac / (unsigned int)PB_NSEC_PER_MSEC);
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

int
pb_fmt_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned int d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned int)(*s - '0');
		if (v > max / 10 || d > max - v * 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* n digits exactly. */
static int
pb_fmt_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static bool
pb_fmt_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
pb_fmt_parse_time(const char *s, uint64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	uint64_t frac = 0, secs;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s))
		return pb_fmt_parse_u64(s, INT64_MAX, out);
	if (strlen(s) < 20 || pb_fmt_digits(s, 4, &y) < 0 || s[4] != '-' ||
	    pb_fmt_digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
	    pb_fmt_digits(s + 8, 2, &d) < 0 || (s[10] != 'T' && s[10] != 't') ||
	    pb_fmt_digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
	    pb_fmt_digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
	    pb_fmt_digits(s + 17, 2, &sec) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && pb_fmt_leap(y) ? 1 : 0) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (uint64_t)(*p - '0');
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			frac *= 10;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == ' ' || *p == '-') && strlen(p) == 6 &&
	    pb_fmt_digits(p + 1, 2, &oh) == 0 && p[3] == ':' &&
	    pb_fmt_digits(p + 4, 2, &om) == 0 && oh <= 23 && om <= 59) {
		sign = *p == '-' ? -1 : 1;
	} else {
		return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec; /* a leap second 60 normalises to the next minute */
	if ((t = timegm(&tm)) == (time_t)-1 && y != 1969)
		return -1;
	t -= (time_t)sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -1;
	secs = (uint64_t)t;
	if (secs > ((uint64_t)INT64_MAX - frac) / PB_NSEC_PER_SEC)
		return -1;
	*out = secs * PB_NSEC_PER_SEC + frac;
	return 0;
}

static const char *const pb_fmt_link_states[PB_LINK_STATE_COUNT] = {
	[PB_LINK_STATE_UNKNOWN] = "unknown",
	[PB_LINK_STATE_CONNECTING] = "connecting",
	[PB_LINK_STATE_UP] = "up",
	[PB_LINK_STATE_SLOW] = "slow",
	[PB_LINK_STATE_DOWN] = "down",
};

enum pb_link_state_code
pb_fmt_link_state(const char *name)
{
	for (int i = 1; i < PB_LINK_STATE_COUNT; i++)
		if (strcmp(name, pb_fmt_link_states[i]) == 0)
			return (enum pb_link_state_code)i;
	return PB_LINK_STATE_UNKNOWN;
}

const char *
pb_fmt_link_state_name(int code)
{
	if (code < 0 || code >= PB_LINK_STATE_COUNT)
		return pb_fmt_link_states[PB_LINK_STATE_UNKNOWN];
	return pb_fmt_link_states[code];
}
