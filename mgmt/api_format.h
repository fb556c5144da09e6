/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_API_FORMAT_H
#define PB_API_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Text forms shared by every management interface (REST handlers,
 * /metrics, SNMP): times and link states. Plain C, no JSON or HTTP, so a
 * module that links neither can use it.
 */

/*
 * RFC 3339 UTC, "2024-05-01T12:00:00.123Z" with 3 fraction digits, or 9
 * when digits >= 9. Returns the length; 0 (buf "") for 0 = unset, a time
 * gmtime cannot split, or a buffer too small.
 */
size_t pb_fmt_rfc3339(uint64_t real_ns, unsigned int digits, char *buf, size_t len);

/*
 * RFC 3339 ("2024-05-01T12:00:00.123456789Z", "...+02:00") or integer
 * nanoseconds since the epoch -> ns (1970..2262). Fractions beyond ns are
 * cut; ' ' is taken as '+' before an offset (a query string's '+').
 * 0, or -1 when malformed or out of range.
 */
int pb_fmt_parse_time(const char *s, uint64_t *out);

/* Strict unsigned decimal (digits only: no sign, space or 0x) <= max. 0 or -1. */
int pb_fmt_parse_u64(const char *s, uint64_t max, uint64_t *out);

/*
 * Link state of a peer as published in its snapshot ("connecting", "up",
 * "slow", "down"), with stable numbers for MIB enumerations and gauges.
 */
enum pb_link_state_code {
	PB_LINK_STATE_UNKNOWN = 0,
	PB_LINK_STATE_CONNECTING = 1,
	PB_LINK_STATE_UP = 2,
	PB_LINK_STATE_SLOW = 3,
	PB_LINK_STATE_DOWN = 4,
};
#define PB_LINK_STATE_COUNT 5

/* The code of a state name; PB_LINK_STATE_UNKNOWN for anything else. */
enum pb_link_state_code pb_fmt_link_state(const char *name);
/* "connecting", "up", "slow", "down", or "unknown". */
const char *pb_fmt_link_state_name(int code);

#endif
