/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

/*
 * Vendor timestamp trailers. Layouts follow the public decoders: Wireshark
 * packet-metamako.c, packet-exablaze.c, packet-ixiatrailer.c; fmadio
 * decap_arista7130.c for stacking.
 *
 * Byte ownership. Every device in a chain takes a valid frame (ending with
 * an FCS), appends its trailer and a new FCS. Metamako/cPacket and
 * Exablaze keep the incoming FCS as their "orig FCS"; Ixia and opaque
 * (fixed) trailers start right after the incoming payload. So a frame that
 * went through two Metamako devices and was captured with its FCS ends:
 *
 *   ... payload | FCS0 | sec1 nsec1 flags1 dev1 port1 | FCS1 |
 *                        sec2 nsec2 flags2 dev2 port2 | FCS2
 *
 * FCS0 is the original FCS, FCS1 the new FCS of device 1 (and the "orig
 * FCS" of trailer 2), FCS2 the final FCS. The trailers partition the end
 * of the frame without overlap, in each vendor's own layout:
 *
 *   trailer 1: offset = start of FCS0, len = 4 + 12            (16 bytes)
 *   trailer 2: offset = start of FCS1, len = 4 + 12 + 4        (20 bytes)
 *
 * i.e. a Metamako trailer is orig FCS + TLV words + 12-byte core, plus the
 * final FCS only when it is the outermost trailer and `fcs` is set: the
 * inner core sits 16 bytes before the outer one (fmadio decap_arista7130.c).
 * Likewise Exablaze = orig FCS + 12 (+ final FCS), Ixia = 15 (+ final FCS),
 * fixed = cfg.length (+ final FCS). Hence trailers[0].offset is where the
 * original frame ends (without its FCS) and trailers[0].offset + sum(len)
 * == caplen. An invalid trailer keeps what was read (0s when too short).
 *
 * FCS checks. Every FCS that a trailer's device computed and that is
 * still in the frame is verified, with one forward CRC pass over the frame:
 * the final FCS (outermost trailer, fcs set) and the new FCS of an inner
 * trailer, which survives as the "orig FCS" of a Metamako/Exablaze trailer
 * right after it. A mismatch invalidates the trailer whose device computed
 * it. Fixed trailers are opaque and never invalidated by a CRC. The
 * innermost orig FCS (FCS0) is the sender's, not a trailer's: not checked.
 *
 * Other invalid cases: frame shorter than the trailer (len clamped to the
 * bytes left, offset 0), rec->origlen > caplen (snapped frame: the
 * trailers were cut off), caplen > UINT16_MAX (offset not representable),
 * more than PB_MAX_TRAILERS configured (nothing parsed).
 */

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libdeflate.h>

#include "record.h"
#include "trailer.h"

#define NSEC_PER_SEC 1000000000u
#define FCS_LEN 4u
#define MM_CORE_LEN 12u   /* sec 4, nsec 4, flags 1, device 2, port 1 */
#define MM_FLAG_TLV 0x02u
#define EXA_LEN 16u       /* orig FCS 4, device 1, port 1, sec 4, frac 5, pad 1 */
#define IXIA_LEN 15u
#define IXIA_SIGNATURE 0xAF12u
#define MIN_SEC 3600u     /* Wireshark's sanity bound for a trailer time */

/* ---- CRC-32 (IEEE 802.3) ---- */

static inline uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    (uint32_t)p[3];
}

static inline uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Running state: pre-inverted, not yet complemented. libdeflate_crc32() is
 * the same CRC (zlib's convention) and folds with carry-less multiplies:
 * 13 GB/s against zlib 1.2's 2.3 GB/s here. It matters, since a jumbo
 * frame with trailers is checked once per packet.
 */
static uint32_t
crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	return ~libdeflate_crc32(~crc, p, n);
}

uint32_t
pb_crc32(const uint8_t *data, size_t len)
{
	return ~crc_update(0xFFFFFFFFu, data, len);
}

/* ---- names ---- */

static const struct {
	const char *name;
	int type;
} trailer_names[] = {
	{ "metamako", PB_TRAILER_METAMAKO },
	{ "cpacket", PB_TRAILER_METAMAKO },
	{ "exablaze", PB_TRAILER_EXABLAZE },
	{ "nexus3550", PB_TRAILER_EXABLAZE },
	{ "ixia", PB_TRAILER_IXIA },
	{ "fixed", PB_TRAILER_FIXED },
};

int
pb_trailer_type_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(trailer_names) / sizeof(trailer_names[0]); i++)
		if (strcasecmp(name, trailer_names[i].name) == 0)
			return trailer_names[i].type;
	return -1;
}

const char *
pb_trailer_type_name(int type)
{
	switch (type) {
	case PB_TRAILER_NONE:
		return "none";
	case PB_TRAILER_METAMAKO:
		return "metamako";
	case PB_TRAILER_EXABLAZE:
		return "exablaze";
	case PB_TRAILER_IXIA:
		return "ixia";
	case PB_TRAILER_FIXED:
		return "fixed";
	default:
		return "unknown";
	}
}

/* ---- per-type parsers ----
 * Each gets the end `pos` of its bytes (and `tail`, the final FCS length it
 * owns), fills m (valid, fields) and returns its first byte, or (uint32_t)-1
 * when the frame is too short. They only read frame[0 .. pos). */

#define TOO_SHORT UINT32_MAX

/* Length of the TLV words that end at `end` (read backwards from sec), or
 * -1 when the chain does not fit above `lowest`. */
static int64_t
metamako_tlv_len(const uint8_t *frame, uint32_t lowest, uint32_t end)
{
	uint32_t p = end;

	for (;;) {
		if (p - lowest < 4)
			return -1;
		uint32_t w = be32(frame + p - 4);
		p -= 4;
		uint32_t words = (w >> 6) & 0x3u;
		if ((w & 0x1Fu) == 0x1Fu) /* secondary header: long length */
			words = ((w >> 6) & 0x3FFu) + 1;
		if ((uint64_t)words * 4 > p - lowest)
			return -1;
		p -= words * 4;
		if (w & 0x20u) /* final */
			break;
	}
	return end - p;
}

static uint32_t
parse_metamako(const uint8_t *frame, uint32_t pos, uint32_t tail,
    struct pb_trailer_meta *m)
{
	if (pos < FCS_LEN + MM_CORE_LEN + tail)
		return TOO_SHORT;
	uint32_t core = pos - tail - MM_CORE_LEN;
	const uint8_t *c = frame + core;
	uint32_t sec = be32(c), nsec = be32(c + 4);

	m->flags = c[8];
	m->device = be16(c + 9);
	m->port = c[11];
	m->ts_ns = (uint64_t)sec * NSEC_PER_SEC + nsec;
	m->valid = sec > MIN_SEC && nsec < NSEC_PER_SEC;

	uint32_t tlv = 0;
	if (m->valid && (m->flags & MM_FLAG_TLV)) {
		/* The chain must leave room for the orig FCS below it. */
		int64_t n = metamako_tlv_len(frame, FCS_LEN, core);
		if (n < 0)
			m->valid = 0; /* unknown TLV size: assume none */
		else
			tlv = (uint32_t)n;
	}
	return core - tlv - FCS_LEN;
}

static uint32_t
parse_exablaze(const uint8_t *frame, uint32_t pos, uint32_t tail,
    struct pb_trailer_meta *m)
{
	if (pos < EXA_LEN + tail)
		return TOO_SHORT;
	uint32_t start = pos - tail - EXA_LEN;
	const uint8_t *c = frame + start + FCS_LEN;
	uint32_t sec = be32(c + 2);
	uint64_t frac = (uint64_t)c[6] << 32 | be32(c + 7);

	m->device = c[0];
	m->port = c[1];
	/* frac / 2^40 s in ns, rounded: 1e9 = 2^9 * 1953125, so
	 * frac * 1e9 >> 40 == frac * 1953125 >> 31 (< 2^61, no overflow). */
	m->ts_ns = (uint64_t)sec * NSEC_PER_SEC +
	    ((frac * 1953125u + (1u << 30)) >> 31);
	m->valid = sec > MIN_SEC;
	return start;
}

/* RFC 1071 Internet checksum; an odd last byte is the high-order half of
 * a zero-padded word. */
static uint16_t
inet_cksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (; n >= 2; p += 2, n -= 2)
		sum += be16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xFFFFu) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Ixia, as Wireshark's epan/dissectors/packet-ixiatrailer.c decodes it:
 * source 1 | time length 1 (8) | sec 4 | nsec 4 | trailer length 1 (10,
 * the bytes before it) | signature 0xAF12 | checksum 2, the checksum being
 * the Internet checksum (in_cksum) over the 13 bytes before it; 19 bytes
 * means an FCS follows. Wireshark only reads the timestamp for sources
 * 3..7 (local, NTP, GPS, PTP, holdover), so others are not valid here; we
 * also require nsec < 1e9. flags = the source.
 */
static uint32_t
parse_ixia(const uint8_t *frame, uint32_t pos, uint32_t tail,
    struct pb_trailer_meta *m)
{
	if (pos < IXIA_LEN + tail)
		return TOO_SHORT;
	uint32_t start = pos - tail - IXIA_LEN;
	const uint8_t *c = frame + start;
	uint32_t nsec = be32(c + 6);

	m->flags = c[0];
	m->ts_ns = (uint64_t)be32(c + 2) * NSEC_PER_SEC + nsec;
	m->valid = c[0] >= 3 && c[0] <= 7 && c[1] == 8 && c[10] == 10 &&
	    be16(c + 11) == IXIA_SIGNATURE && inet_cksum(c, 13) == be16(c + 13) &&
	    nsec < NSEC_PER_SEC;
	return start;
}

/* Types whose first 4 bytes are the previous device's FCS. */
static bool
keeps_prev_fcs(uint8_t type)
{
	return type == PB_TRAILER_METAMAKO || type == PB_TRAILER_EXABLAZE;
}

/* Types whose device's new FCS we hold it to. */
static bool
owns_fcs(uint8_t type)
{
	return type == PB_TRAILER_METAMAKO || type == PB_TRAILER_EXABLAZE ||
	    type == PB_TRAILER_IXIA;
}

/* Verifies the surviving FCSs in one forward pass. fcs_at[i] is where the
 * FCS computed by trailer i's device sits (0 = none to check); positions
 * grow with i since inner trailers come first. */
static void
check_fcs(const uint8_t *frame, const uint32_t *fcs_at, size_t n,
    struct pb_record *rec)
{
	uint32_t crc = 0xFFFFFFFFu, done = 0;

	for (size_t i = 0; i < n; i++) {
		if (fcs_at[i] == 0 || fcs_at[i] < done || !rec->trailers[i].valid)
			continue;
		crc = crc_update(crc, frame + done, fcs_at[i] - done);
		done = fcs_at[i];
		if (~crc != le32(frame + fcs_at[i]))
			rec->trailers[i].valid = 0;
	}
}

int
pb_trailers_parse(const struct pb_trailer_cfg *cfg, size_t ncfg, int fcs,
    const uint8_t *frame, uint32_t caplen, struct pb_record *rec)
{
	uint32_t fcs_at[PB_MAX_TRAILERS] = { 0 };
	uint32_t pos = caplen;
	int bad = 0;

	rec->ntrailers = 0;
	if (ncfg > PB_MAX_TRAILERS)
		return ncfg > INT_MAX ? INT_MAX : (int)ncfg;
	rec->ntrailers = (uint8_t)ncfg;
	if (caplen > UINT16_MAX)
		pos = 0; /* offsets would not fit: every trailer "too short" */

	for (size_t i = ncfg; i-- > 0;) {
		struct pb_trailer_meta *m = &rec->trailers[i];
		uint32_t tail = (i == ncfg - 1 && fcs) ? FCS_LEN : 0;
		uint32_t start;

		memset(m, 0, sizeof(*m));
		m->type = cfg[i].type;
		switch (cfg[i].type) {
		case PB_TRAILER_METAMAKO:
			start = parse_metamako(frame, pos, tail, m);
			break;
		case PB_TRAILER_EXABLAZE:
			start = parse_exablaze(frame, pos, tail, m);
			break;
		case PB_TRAILER_IXIA:
			start = parse_ixia(frame, pos, tail, m);
			break;
		case PB_TRAILER_FIXED:
			if (pos < (uint32_t)cfg[i].length + tail) {
				start = TOO_SHORT;
			} else {
				start = pos - tail - cfg[i].length;
				m->valid = 1;
			}
			break;
		default:
			start = pos; /* unknown type: occupies nothing */
			break;
		}
		if (start == TOO_SHORT) {
			memset(m, 0, sizeof(*m));
			m->type = cfg[i].type;
			start = 0;
		}
		m->offset = (uint16_t)start;
		m->len = (uint16_t)(pos - start);
		if (tail && owns_fcs(m->type) && m->len >= FCS_LEN)
			fcs_at[i] = caplen - FCS_LEN;
		/* This trailer's orig FCS is the FCS of the one before it. */
		if (i > 0 && keeps_prev_fcs(m->type) && m->len >= FCS_LEN &&
		    start > 0 && owns_fcs(cfg[i - 1].type))
			fcs_at[i - 1] = start;
		pos = start;
	}

	check_fcs(frame, fcs_at, ncfg, rec);

	/* A snapped frame lost its end: what we read is payload. */
	bool snapped = rec->origlen > caplen;
	for (size_t i = 0; i < ncfg; i++) {
		if (snapped)
			rec->trailers[i].valid = 0;
		if (!rec->trailers[i].valid)
			bad++;
	}
	return bad;
}

/* ---- formatting ---- */

size_t
pb_trailers_format(const struct pb_record *rec, char *buf, size_t buflen)
{
	size_t off = 0;

	if (buflen == 0)
		return 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < rec->ntrailers && i < PB_MAX_TRAILERS; i++) {
		const struct pb_trailer_meta *m = &rec->trailers[i];
		const char *sep = i ? "; " : "";
		const char *name = pb_trailer_type_name(m->type);
		unsigned long long s = m->ts_ns / NSEC_PER_SEC;
		unsigned ns = (unsigned)(m->ts_ns % NSEC_PER_SEC);
		int n;

		if (!m->valid)
			n = snprintf(buf + off, buflen - off, "%s%s(invalid)", sep, name);
		else if (m->type == PB_TRAILER_METAMAKO)
			n = snprintf(buf + off, buflen - off,
			    "%s%s ts=%llu.%09u dev=%u port=%u flags=0x%02x", sep, name,
			    s, ns, m->device, m->port, m->flags);
		else if (m->type == PB_TRAILER_EXABLAZE)
			n = snprintf(buf + off, buflen - off,
			    "%s%s ts=%llu.%09u dev=%u port=%u", sep, name, s, ns,
			    m->device, m->port);
		else if (m->type == PB_TRAILER_IXIA)
			n = snprintf(buf + off, buflen - off,
			    "%s%s ts=%llu.%09u source=%u", sep, name, s, ns, m->flags);
		else
			n = snprintf(buf + off, buflen - off, "%s%s len=%u", sep, name,
			    m->len);
		if (n < 0)
			break;
		if ((size_t)n >= buflen - off) {
			/* Truncated: snprintf wrote buflen - off - 1 chars + NUL. */
			return buflen - 1;
		}
		off += (size_t)n;
	}
	return off;
}
