/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TRAILER_H
#define PB_TRAILER_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/*
 * Vendor timestamp trailers. A capture has an ordered list of trailers as
 * they sit in the frame from the innermost (added first, by the first
 * device) to the outermost (added last, at the very end of the frame).
 * Parsing walks from the frame end backwards and never modifies the frame.
 */

struct pb_trailer_cfg {
	uint8_t type;    /* enum pb_trailer_type */
	uint16_t length; /* only for PB_TRAILER_FIXED */
};

/* "metamako" → PB_TRAILER_METAMAKO ...; -1 for an unknown name. */
int pb_trailer_type_from_name(const char *name);
const char *pb_trailer_type_name(int type);

/*
 * Parses the configured trailers of `frame`. `fcs` says whether the frame
 * ends with an FCS (i.e. the outermost trailer ends with a new FCS).
 * Fills rec->trailers / rec->ntrailers (one entry per configured trailer,
 * valid=0 for one that did not validate). Returns the number of trailers
 * that did not validate (0 = all good).
 */
int pb_trailers_parse(const struct pb_trailer_cfg *cfg, size_t ncfg, int fcs,
    const uint8_t *frame, uint32_t caplen, struct pb_record *rec);

/* Human/tshark-friendly one-line rendering of rec->trailers into buf
 * (e.g. "metamako ts=1700000000.123456789 dev=7 port=3 flags=0x01").
 * Returns the length written (always NUL-terminated, truncated if needed). */
size_t pb_trailers_format(const struct pb_record *rec, char *buf, size_t buflen);

/* Ethernet CRC-32 (IEEE 802.3) as transmitted: reflected, ~ at the end.
 * Exposed for tests and for building trailers. */
uint32_t pb_crc32(const uint8_t *data, size_t len);

#endif
