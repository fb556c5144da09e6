/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "rng_test.h"
#include "trailer.h"

/*
 * Frames are built the way devices build them: each device takes a valid
 * frame (ending with an FCS), appends its trailer and a new FCS. Metamako
 * and Exablaze keep the incoming FCS as "orig FCS"; Ixia and fixed (tap)
 * trailers replace it. The generator records where each trailer starts
 * under the convention documented in server/trailer.c and what the parser
 * must report. The CRC and checksum here are independent bitwise
 * references, not the code under test.
 */

#define GEN_CAP 16384u

struct gen {
	uint8_t buf[GEN_CAP];
	uint32_t len;
	size_t n;
	struct pb_trailer_cfg cfg[PB_MAX_TRAILERS];
	uint32_t start[PB_MAX_TRAILERS];
	struct pb_trailer_meta want[PB_MAX_TRAILERS];
};

static struct gen g;
static struct pb_record rec;

static uint32_t
ref_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
	}
	return ~c;
}

static uint16_t
ref_cksum(const uint8_t *p, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	while (sum > 0xFFFF)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)(~sum & 0xFFFF);
}

static void
put8(uint8_t v)
{
	assert_true(g.len < GEN_CAP);
	g.buf[g.len++] = v;
}

/* Big-endian, like every trailer field. */
static void
putn(uint32_t v, int bytes)
{
	while (bytes-- > 0)
		put8((uint8_t)(v >> (8 * bytes)));
}

#define put16(v) putn((v), 2)
#define put32(v) putn((v), 4)

/* FCS on the wire: the CRC least-significant byte first. */
static void
put_fcs(void)
{
	uint32_t c = ref_crc32(g.buf, g.len);

	for (int i = 0; i < 4; i++)
		put8((uint8_t)(c >> (8 * i)));
}

/* Ethernet frame of `len` bytes before its FCS, plus the FCS. */
static void
gen_frame(uint32_t len, uint8_t seed)
{
	static const uint8_t hdr[14] = {
		0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
	};

	memset(&g, 0, sizeof(g));
	assert_true(len >= sizeof(hdr) && len + 4 <= GEN_CAP);
	memcpy(g.buf, hdr, sizeof(hdr));
	g.len = sizeof(hdr);
	while (g.len < len)
		put8((uint8_t)(seed + g.len * 7u));
	put_fcs();
}

static struct pb_trailer_meta *
gen_begin(uint8_t type, uint32_t start)
{
	assert_true(g.n < PB_MAX_TRAILERS);
	g.cfg[g.n].type = type;
	g.start[g.n] = start;
	struct pb_trailer_meta *w = &g.want[g.n++];
	memset(w, 0, sizeof(*w));
	w->type = type;
	w->valid = 1;
	return w;
}

/* tlv: words in memory order (the one read first is the last), or NULL. */
static void
gen_metamako(uint32_t sec, uint32_t nsec, uint8_t flags, uint16_t dev,
    uint8_t port, const uint32_t *tlv, size_t ntlv)
{
	struct pb_trailer_meta *w = gen_begin(PB_TRAILER_METAMAKO, g.len - 4);

	for (size_t i = 0; i < ntlv; i++)
		put32(tlv[i]);
	put32(sec);
	put32(nsec);
	put8(flags);
	put16(dev);
	put8(port);
	put_fcs();
	w->flags = flags;
	w->device = dev;
	w->port = port;
	w->ts_ns = (uint64_t)sec * 1000000000u + nsec;
}

static uint64_t
exa_ns(uint32_t sec, uint64_t frac)
{
	unsigned __int128 x = (unsigned __int128)frac * 1000000000u;

	return (uint64_t)sec * 1000000000u + (uint64_t)((x + ((unsigned __int128)1 << 39)) >> 40);
}

static void
gen_exablaze(uint32_t sec, uint64_t frac, uint8_t dev, uint8_t port)
{
	struct pb_trailer_meta *w = gen_begin(PB_TRAILER_EXABLAZE, g.len - 4);

	put8(dev);
	put8(port);
	put32(sec);
	put8((uint8_t)(frac >> 32));
	put32((uint32_t)frac);
	put8(0);
	put_fcs();
	w->device = dev;
	w->port = port;
	w->ts_ns = exa_ns(sec, frac);
}

static void
gen_ixia(uint8_t source, uint32_t sec, uint32_t nsec)
{
	g.len -= 4; /* replaces the incoming FCS */
	struct pb_trailer_meta *w = gen_begin(PB_TRAILER_IXIA, g.len);
	uint32_t at = g.len;

	put8(source);
	put8(8);
	put32(sec);
	put32(nsec);
	put8(10);
	put16(0xAF12);
	put16(ref_cksum(g.buf + at, 13));
	put_fcs();
	w->flags = source;
	w->ts_ns = (uint64_t)sec * 1000000000u + nsec;
}

static void
gen_fixed(uint16_t n)
{
	g.len -= 4; /* tap trailer before a recomputed FCS */
	gen_begin(PB_TRAILER_FIXED, g.len);
	g.cfg[g.n - 1].length = n;
	for (uint16_t i = 0; i < n; i++)
		put8((uint8_t)(0xA0 + i));
	put_fcs();
}

/* Drops the final FCS when the capture does not have it, fills lengths. */
static void
gen_finish(int fcs)
{
	if (!fcs)
		g.len -= 4;
	for (size_t i = 0; i < g.n; i++) {
		uint32_t end = i + 1 < g.n ? g.start[i + 1] : g.len;
		g.want[i].offset = (uint16_t)g.start[i];
		g.want[i].len = (uint16_t)(end - g.start[i]);
	}
}

static void
assert_meta(const struct pb_trailer_meta *got, const struct pb_trailer_meta *w)
{
	assert_int_equal(got->type, w->type);
	assert_int_equal(got->valid, w->valid);
	assert_int_equal(got->offset, w->offset);
	assert_int_equal(got->len, w->len);
	if (!w->valid)
		return;
	assert_int_equal(got->flags, w->flags);
	assert_int_equal(got->device, w->device);
	assert_int_equal(got->port, w->port);
	assert_int_equal(got->ts_ns, w->ts_ns);
}

/* Parses g (copied to an exact-size heap buffer so ASan sees any overread)
 * and checks the frame is untouched. Returns the parser's result. */
static int
parse_buf(const uint8_t *frame, uint32_t len, const struct pb_trailer_cfg *cfg,
    size_t ncfg, int fcs)
{
	uint8_t *copy = malloc(len ? len : 1);
	uint8_t *orig = malloc(len ? len : 1);

	assert_non_null(copy);
	assert_non_null(orig);
	memcpy(copy, frame, len);
	memcpy(orig, frame, len);
	pb_record_reset(&rec);
	rec.caplen = len;
	rec.origlen = len;
	int r = pb_trailers_parse(cfg, ncfg, fcs, copy, len, &rec);
	assert_memory_equal(copy, orig, len);
	free(copy);
	free(orig);
	assert_true(r >= 0 && (size_t)r <= ncfg);
	if (ncfg <= PB_MAX_TRAILERS && len <= UINT16_MAX) {
		assert_int_equal(rec.ntrailers, ncfg);
		/* The trailers tile the frame end. */
		uint32_t pos = len;
		for (size_t i = ncfg; i-- > 0;) {
			assert_true(rec.trailers[i].len <= pos);
			pos -= rec.trailers[i].len;
			assert_int_equal(rec.trailers[i].offset, pos);
		}
	}
	return r;
}

static int
parse_gen(int fcs)
{
	return parse_buf(g.buf, g.len, g.cfg, g.n, fcs);
}

/* Parses g and checks every trailer against g.want. */
static void
check_gen_bad(int fcs, int nbad)
{
	assert_int_equal(parse_gen(fcs), nbad);
	for (size_t i = 0; i < g.n; i++)
		assert_meta(&rec.trailers[i], &g.want[i]);
}

#define check_gen(fcs) check_gen_bad((fcs), 0)

/* ---- CRC ---- */

static void
test_crc32_vectors(void **state)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint8_t buf[300 + 8];

	assert_int_equal(pb_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
	assert_int_equal(pb_crc32((const uint8_t *)"", 0), 0);
	assert_int_equal(pb_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
	assert_int_equal(pb_crc32((const uint8_t *)fox, sizeof(fox) - 1), 0x414FA339u);

	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 300; n++)
			assert_int_equal(pb_crc32(buf + off, n), ref_crc32(buf + off, n));

	/* A frame with its FCS (LSB first) leaves the 802.3 residue. */
	gen_frame(60, 3);
	assert_int_equal(~pb_crc32(g.buf, g.len), 0xDEBB20E3u);
}

/* libdeflate picks its folding code by length and alignment: random
 * lengths up to a jumbo frame at 64 alignments against the bitwise
 * reference; then the FCS check, which runs the CRC in pieces, on jumbo
 * frames with stacked trailers, intact and with one bit flipped. */
static void
test_crc32_random_frames(void **state)
{
	static uint8_t buf[PB_JUMBO_FRAME + 64];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	for (int it = 0; it < 400; it++) {
		size_t off = rnd_below(64), n = rnd_below(PB_JUMBO_FRAME + 1);
		assert_int_equal(pb_crc32(buf + off, n), ref_crc32(buf + off, n));
	}
	for (int it = 0; it < 200; it++) {
		gen_frame(60 + rnd_below(PB_JUMBO_FRAME - 4 - 60 + 1), (uint8_t)rnd());
		for (unsigned t = 1 + rnd_below(3); t > 0; t--)
			gen_metamako(1700000000 + rnd_below(1000), rnd_below(1000000000),
			    (uint8_t)rnd_below(2), (uint16_t)rnd(), (uint8_t)rnd(), NULL, 0);
		gen_finish(1);
		check_gen(1);
		/* CRC-32 catches every single-bit error; the final FCS covers
		 * the whole frame, so the outermost trailer is invalid. */
		uint32_t bit = rnd_below((g.len - 4) * 8);
		g.buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(parse_gen(1) >= 1);
		assert_int_equal(rec.trailers[g.n - 1].valid, 0);
	}
}

static void
test_type_names(void **state)
{
	static const struct {
		const char *name;
		int type;
	} names[] = {
		{ "metamako", PB_TRAILER_METAMAKO }, { "cpacket", PB_TRAILER_METAMAKO },
		{ "exablaze", PB_TRAILER_EXABLAZE }, { "nexus3550", PB_TRAILER_EXABLAZE },
		{ "ixia", PB_TRAILER_IXIA }, { "fixed", PB_TRAILER_FIXED },
		{ "MetaMako", PB_TRAILER_METAMAKO }, { "arista7150", -1 }, { "", -1 },
		{ "metamakox", -1 }, { "none", -1 }, { NULL, -1 },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(pb_trailer_type_from_name(names[i].name), names[i].type);
	assert_string_equal(pb_trailer_type_name(PB_TRAILER_METAMAKO), "metamako");
	assert_string_equal(pb_trailer_type_name(PB_TRAILER_EXABLAZE), "exablaze");
	assert_string_equal(pb_trailer_type_name(PB_TRAILER_IXIA), "ixia");
	assert_string_equal(pb_trailer_type_name(PB_TRAILER_FIXED), "fixed");
	assert_string_equal(pb_trailer_type_name(PB_TRAILER_NONE), "none");
	assert_string_equal(pb_trailer_type_name(99), "unknown");
	for (int t = PB_TRAILER_METAMAKO; t <= PB_TRAILER_FIXED; t++)
		assert_int_equal(pb_trailer_type_from_name(pb_trailer_type_name(t)), t);
}

/* ---- Metamako ---- */

static void
test_metamako_single(void **state)
{
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(60, 1);
		gen_metamako(1700000000, 123456789, 0x01, 7, 3, NULL, 0);
		gen_finish(fcs);
		check_gen(fcs);
		assert_int_equal(rec.trailers[0].offset, 60);
		assert_int_equal(rec.trailers[0].len, fcs ? 20 : 16);
		assert_int_equal(rec.trailers[0].ts_ns, 1700000000123456789ull);
		assert_true(rec.trailers[0].device == 7 && rec.trailers[0].port == 3);
	}
	/* Largest device id and port, flags. */
	gen_frame(100, 9);
	gen_metamako(4000000000u, 999999999, 0x35, 0xFFFF, 0xFF, NULL, 0);
	gen_finish(1);
	check_gen(1);
}

static void
test_metamako_stacked2(void **state)
{
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(64, 2);
		gen_metamako(1700000001, 1, 0x01, 1, 10, NULL, 0);
		gen_metamako(1700000002, 2, 0x01, 2, 20, NULL, 0);
		gen_finish(fcs);
		check_gen(fcs);
		/* Inner core 16 bytes before the outer core. */
		uint32_t outer_core = g.len - (fcs ? 4u : 0u) - 12;
		assert_int_equal(rec.trailers[0].offset, 64);
		assert_int_equal(rec.trailers[0].len, 16);
		assert_int_equal(rec.trailers[1].offset, 80);
		assert_int_equal(outer_core - (rec.trailers[0].offset + 4), 16);
	}
}

static void
test_metamako_stacked3(void **state)
{
	/* inline sub-ns TLV (tag 1, final) */
	const uint32_t subns[] = { 0x00ABCDEFu << 8 | 0x20 | 1 };
	/* read order: seq (tag 0, 1 extra word), then string (tag 31, 2 words,
	 * final); memory order is the reverse, extra words before headers */
	const uint32_t chain[] = {
		0x41424344u, 0x45464700u, 0x1Fu | 0x20 | (1u << 6) | (0x0005u << 16),
		0xDEADBEEFu, 0x12340000u | (1u << 6) | 0,
	};

	for (int fcs = 0; fcs <= 1; fcs++) {
		for (int tlv = 0; tlv <= 1; tlv++) {
			gen_frame(80, 4);
			gen_metamako(1700000010, 10, 0x01, 10, 1, NULL, 0);
			gen_metamako(1700000020, 20, tlv ? 0x03 : 0x01, 20, 2,
			    tlv ? chain : NULL, tlv ? 5 : 0);
			gen_metamako(1700000030, 30, tlv ? 0x03 : 0x05, 30, 3,
			    tlv ? subns : NULL, tlv ? 1 : 0);
			gen_finish(fcs);
			check_gen(fcs);
			assert_int_equal(rec.trailers[0].len, 16);
			assert_int_equal(rec.trailers[1].len, tlv ? 36 : 16);
			assert_int_equal(rec.trailers[2].len, (tlv ? 20 : 16) + (fcs ? 4 : 0));
		}
	}
}

static void
test_metamako_tlv_bounds(void **state)
{
	/* TLV flag with a chain that never says final: zero words all the way
	 * down to the frame start. Invalid, sized as if it had no TLVs. */
	gen_frame(14, 0);
	memset(g.buf, 0, g.len); /* payload and orig FCS (never checked) */
	gen_metamako(1700000000, 5, 0x03, 1, 1, NULL, 0);
	gen_finish(1);
	g.want[0].valid = 0;
	check_gen_bad(1, 1);
	assert_int_equal(rec.trailers[0].len, 20);

	/* A secondary header claiming 1024 words in a small frame. */
	const uint32_t huge[] = { 0x1Fu | 0x20 | (0x3FFu << 6) };
	gen_frame(60, 5);
	gen_metamako(1700000000, 5, 0x03, 1, 1, huge, 1);
	gen_finish(0);
	assert_int_equal(parse_gen(0), 1);
	assert_int_equal(rec.trailers[0].valid, 0);
	assert_int_equal(rec.trailers[0].len, 16);
	assert_int_equal(rec.trailers[0].offset, g.len - 16);

	/* Tag 2 with two data words. */
	const uint32_t fit[] = { 0x11111111u, 0x22222222u, 0x20 | (2u << 6) | 2 };
	gen_frame(14, 6);
	gen_metamako(1700000000, 5, 0x03, 1, 1, fit, 3);
	gen_finish(1);
	check_gen(1);
	assert_int_equal(rec.trailers[0].offset, 14);
	assert_int_equal(rec.trailers[0].len, 32);
	/* Frame = exactly the trailer without final FCS: fits; one byte
	 * less and the orig FCS is missing. */
	assert_int_equal(parse_buf(g.buf + 14, g.len - 18, g.cfg, 1, 0), 0);
	assert_int_equal(rec.trailers[0].offset, 0);
	assert_int_equal(rec.trailers[0].len, 28);
	assert_int_equal(parse_buf(g.buf + 15, g.len - 19, g.cfg, 1, 0), 1);
}

/* ---- Exablaze, Ixia, fixed, mixes ---- */

static void
test_exablaze(void **state)
{
	static const uint64_t fracs[] = {
		0, 1, 1ull << 39, (1ull << 40) - 1, 0x123456789Aull, 1100, 1099,
	};

	for (size_t i = 0; i < sizeof(fracs) / sizeof(fracs[0]); i++) {
		for (int fcs = 0; fcs <= 1; fcs++) {
			gen_frame(60, (uint8_t)i);
			gen_exablaze(1700000000, fracs[i], 1, 2);
			gen_finish(fcs);
			check_gen(fcs);
			assert_int_equal(rec.trailers[0].len, fcs ? 20 : 16);
		}
	}
	gen_frame(60, 0);
	gen_exablaze(1700000000, 1ull << 39, 1, 2);
	gen_finish(1);
	check_gen(1);
	assert_int_equal(rec.trailers[0].ts_ns, 1700000000500000000ull);
	/* 1100 / 2^40 s = 1.0004 ns, 1099 -> 0.9995 ns: both round to 1. */
	gen_frame(60, 0);
	gen_exablaze(1700000000, 1099, 255, 254);
	gen_finish(1);
	check_gen(1);
	assert_int_equal(rec.trailers[0].ts_ns, 1700000000000000001ull);
	assert_int_equal(rec.trailers[0].device, 255);
	assert_int_equal(rec.trailers[0].port, 254);

	gen_frame(60, 0);
	gen_exablaze(3600, 5, 1, 2);
	gen_finish(1);
	assert_int_equal(parse_gen(1), 1);
}

static void
test_ixia(void **state)
{
	for (uint8_t src = 3; src <= 7; src++) {
		for (int fcs = 0; fcs <= 1; fcs++) {
			gen_frame(60, src);
			gen_ixia(src, 1700000000, 999999999);
			gen_finish(fcs);
			check_gen(fcs);
			assert_int_equal(rec.trailers[0].offset, 60);
			assert_int_equal(rec.trailers[0].len, fcs ? 19 : 15);
			assert_int_equal(rec.trailers[0].flags, src);
		}
	}
	/* Each broken field: offset into the 15-byte trailer. */
	static const struct {
		uint32_t at;
		uint8_t xor;
		int fix; /* recompute the checksum so only the field is wrong */
	} breaks[] = {
		{ 0, 0x01, 1 },  /* source 3 -> 2: unknown, not a timestamp */
		{ 1, 0x01, 1 },  /* time length 9 */
		{ 10, 0x02, 1 }, /* trailer length 8 */
		{ 11, 0x10, 1 }, /* signature */
		{ 12, 0x01, 1 }, /* signature */
		{ 13, 0x80, 0 }, /* checksum */
		{ 5, 0x01, 0 },  /* covered byte: checksum no longer matches */
	};
	for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
		gen_frame(60, 0);
		gen_ixia(3, 1700000000, 1);
		uint32_t at = g.start[0] + breaks[i].at;
		g.buf[at] ^= breaks[i].xor;
		uint16_t c = ref_cksum(g.buf + g.start[0], 13);
		if (breaks[i].fix)
			memcpy(g.buf + g.start[0] + 13, (uint8_t[]){ c >> 8, c & 0xFF }, 2);
		gen_finish(0);
		g.want[0].valid = 0;
		check_gen_bad(0, 1);
	}
	/* nsec >= 1e9 with a correct checksum. */
	gen_frame(60, 0);
	gen_ixia(4, 1700000000, 1000000000);
	gen_finish(1);
	assert_int_equal(parse_gen(1), 1);
	/* Checksum of a known trailer: RFC 1071 sum of the words 0308 0001
	 * 0000 0000 0002 0aaf 12(00) = 0x1FBA, complement 0xE045. */
	gen_frame(60, 0);
	gen_ixia(3, 1u << 16, 2);
	gen_finish(0);
	assert_int_equal(g.buf[g.len - 2], 0xE0);
	assert_int_equal(g.buf[g.len - 1], 0x45);
	check_gen(0);
}

static void
test_fixed(void **state)
{
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(60, 1);
		gen_fixed(6);
		gen_finish(fcs);
		check_gen(fcs);
		assert_int_equal(rec.trailers[0].len, fcs ? 10 : 6);

		gen_frame(60, 1);
		gen_fixed(0);
		gen_metamako(1700000000, 1, 1, 1, 1, NULL, 0);
		gen_fixed(3);
		gen_finish(fcs);
		check_gen(fcs);
	}
	/* Fixed is opaque: a broken FCS does not invalidate it. */
	gen_frame(60, 1);
	gen_fixed(8);
	gen_finish(1);
	g.buf[g.len - 1] ^= 0xFF;
	check_gen(1);
}

static void
test_mixed(void **state)
{
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(60, 1);
		gen_metamako(1700000001, 11, 0x01, 1, 1, NULL, 0);
		gen_exablaze(1700000002, 0x8000000000ull, 2, 2);
		gen_finish(fcs);
		check_gen(fcs);

		gen_frame(61, 2);
		gen_exablaze(1700000002, 0x0000000123ull, 2, 2);
		gen_metamako(1700000001, 11, 0x01, 1, 1, NULL, 0);
		gen_finish(fcs);
		check_gen(fcs);

		const uint32_t subns[] = { 0x20 | 1 | 0x800000u << 8 };
		gen_frame(62, 3);
		gen_ixia(6, 1700000003, 33);
		gen_metamako(1700000004, 44, 0x03, 4, 4, subns, 1);
		gen_exablaze(1700000005, 55, 5, 5);
		gen_metamako(1700000006, 66, 0x01, 6, 6, NULL, 0);
		gen_ixia(7, 1700000007, 77);
		gen_finish(fcs);
		check_gen(fcs);
		assert_int_equal(rec.trailers[0].offset, 62);
	}
}

static void
test_jumbo(void **state)
{
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(PB_JUMBO_FRAME - 4, 7);
		assert_int_equal(g.len, PB_JUMBO_FRAME);
		gen_metamako(1700000000, 500, 0x01, 300, 47, NULL, 0);
		gen_metamako(1700000000, 900, 0x01, 301, 48, NULL, 0);
		gen_finish(fcs);
		assert_true(g.len <= pb_record_default_max_frame(2));
		check_gen(fcs);
		assert_int_equal(rec.trailers[0].offset, PB_JUMBO_FRAME - 4);
	}
}

/* ---- validation failures ---- */

static void
test_bad_crc(void **state)
{
	/* Final FCS broken: only the outermost trailer is blamed. */
	gen_frame(60, 1);
	gen_metamako(1700000001, 1, 1, 1, 1, NULL, 0);
	gen_metamako(1700000002, 2, 1, 2, 2, NULL, 0);
	gen_finish(1);
	g.buf[g.len - 2] ^= 0x40;
	g.want[1].valid = 0;
	check_gen_bad(1, 1);
	/* Without the final FCS there is nothing to blame. */
	g.len -= 4;
	g.want[1].valid = 1;
	g.want[1].len -= 4;
	check_gen(0);

	/* Inner new FCS (= outer's orig FCS) broken, final FCS recomputed. */
	gen_frame(60, 1);
	gen_metamako(1700000001, 1, 1, 1, 1, NULL, 0);
	uint32_t fcs1 = g.len - 4;
	gen_exablaze(1700000002, 2, 2, 2);
	g.buf[fcs1] ^= 0x01;
	g.len -= 4;
	put_fcs();
	gen_finish(1);
	g.want[0].valid = 0;
	check_gen_bad(1, 1);

	/* Payload byte changed: both FCSs in the frame are wrong. */
	for (int fcs = 0; fcs <= 1; fcs++) {
		gen_frame(60, 1);
		gen_metamako(1700000001, 1, 1, 1, 1, NULL, 0);
		gen_ixia(3, 1700000002, 2);
		gen_metamako(1700000003, 3, 1, 3, 3, NULL, 0);
		gen_finish(fcs);
		g.buf[20] ^= 0x08;
		g.want[1].valid = 0;
		g.want[2].valid = !fcs;
		check_gen_bad(fcs, 1 + fcs);
	}
}

static void
test_bad_timestamps(void **state)
{
	static const struct {
		uint32_t sec, nsec;
		int valid;
	} cases[] = {
		{ 1700000000, 1000000000, 0 },
		{ 1700000000, 0xFFFFFFFFu, 0 },
		{ 3600, 0, 0 },
		{ 0, 0, 0 },
		{ 3601, 999999999, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gen_frame(60, 1);
		gen_metamako(1700000000, 1, 1, 1, 1, NULL, 0);
		gen_metamako(cases[i].sec, cases[i].nsec, 1, 2, 2, NULL, 0);
		gen_finish(1);
		g.want[1].valid = (uint8_t)cases[i].valid;
		check_gen_bad(1, !cases[i].valid);
	}
}

static void
test_short_frames(void **state)
{
	const uint32_t tlv[] = { 0x99999999u, 0x20 | (1u << 6) };
	uint8_t full[200];

	/* fcs=1: 16 + 16 + 28 = 60 trailer bytes after a 14-byte frame. */
	gen_frame(14, 1);
	gen_metamako(1700000001, 1, 1, 1, 1, NULL, 0);
	gen_exablaze(1700000002, 2, 2, 2);
	gen_metamako(1700000003, 3, 3, 3, 3, tlv, 2);
	gen_finish(1);
	assert_true(g.len <= sizeof(full));
	memcpy(full, g.buf, g.len);
	uint32_t total = g.len;
	check_gen(1);

	for (uint32_t n = 0; n <= total; n++) {
		/* the last n bytes: trailers complete only near the full size */
		int r = parse_buf(full + total - n, n, g.cfg, g.n, 1);
		if (n < total - 14)
			assert_true(r >= 1);
		if (n < 16) {
			/* the outermost claims what is left, the rest nothing */
			assert_int_equal(r, 3);
			assert_int_equal(rec.trailers[2].offset, 0);
			assert_int_equal(rec.trailers[2].len, n);
			assert_int_equal(rec.trailers[1].len, 0);
		}
		/* the first n bytes */
		r = parse_buf(full, n, g.cfg, g.n, 1);
		if (n < total)
			assert_true(r >= 1);
		else
			assert_int_equal(r, 0);
	}
	assert_int_equal(parse_buf(full, 0, g.cfg, g.n, 0), 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(rec.trailers[i].offset == 0 && rec.trailers[i].len == 0);
}

static void
test_limits(void **state)
{
	struct pb_trailer_cfg cfg[PB_MAX_TRAILERS + 1];

	gen_frame(60, 1);
	gen_metamako(1700000001, 1, 1, 1, 1, NULL, 0);
	gen_finish(1);
	assert_int_equal(parse_buf(g.buf, g.len, g.cfg, 0, 1), 0);
	assert_int_equal(rec.ntrailers, 0);

	/* Snapped frame (origlen > caplen): its end, the trailers, is gone. */
	pb_record_reset(&rec);
	rec.origlen = g.len + 100;
	assert_int_equal(pb_trailers_parse(g.cfg, g.n, 1, g.buf, g.len, &rec), 1);
	assert_int_equal(rec.trailers[0].valid, 0);
	rec.origlen = g.len;
	assert_int_equal(pb_trailers_parse(g.cfg, g.n, 1, g.buf, g.len, &rec), 0);

	for (size_t i = 0; i < PB_MAX_TRAILERS + 1; i++)
		cfg[i] = (struct pb_trailer_cfg){ .type = PB_TRAILER_FIXED, .length = 1 };
	assert_int_equal(parse_buf(g.buf, g.len, cfg, PB_MAX_TRAILERS + 1, 1),
	    PB_MAX_TRAILERS + 1);
	assert_int_equal(rec.ntrailers, 0);
	assert_int_equal(parse_buf(g.buf, g.len, cfg, PB_MAX_TRAILERS, 0), 0);

	/* Unknown type: invalid, occupies nothing, the rest still parses. */
	cfg[0] = (struct pb_trailer_cfg){ .type = 77 };
	cfg[1] = g.cfg[0];
	assert_int_equal(parse_buf(g.buf, g.len, cfg, 2, 1), 1);
	assert_int_equal(rec.trailers[0].valid, 0);
	assert_int_equal(rec.trailers[0].len, 0);
	assert_meta(&rec.trailers[1], &g.want[0]);

	/* The largest frame we carry (trailer at the end, FCS recomputed)
	 * parses; one byte more and offsets no longer fit a uint16_t. */
	uint8_t *p = calloc(1, PB_FRAME_CAP + 1);
	assert_non_null(p);
	for (uint32_t size = PB_FRAME_CAP; size <= PB_FRAME_CAP + 1; size++) {
		memcpy(p + size - g.len, g.buf, g.len);
		uint32_t c = ref_crc32(p, size - 4);
		for (int i = 0; i < 4; i++)
			p[size - 4 + i] = (uint8_t)(c >> (8 * i));
		int r = parse_buf(p, size, g.cfg, 1, 1);
		if (size == PB_FRAME_CAP) {
			assert_int_equal(r, 0);
			assert_int_equal(rec.trailers[0].offset, PB_FRAME_CAP - 20);
			assert_int_equal(rec.trailers[0].ts_ns, g.want[0].ts_ns);
		} else {
			assert_int_equal(r, 1);
		}
	}
	free(p);
}

/* ---- formatting ---- */

static void
test_format(void **state)
{
	static const char want[] =
	    "metamako ts=1700000000.123456789 dev=7 port=3 flags=0x01; "
	    "exablaze ts=1700000001.500000000 dev=1 port=2; "
	    "ixia ts=1700000002.000000007 source=5; ixia(invalid); fixed len=4";
	char buf[sizeof(want) + 8];

	gen_frame(60, 1);
	gen_metamako(1700000000, 123456789, 0x01, 7, 3, NULL, 0);
	gen_exablaze(1700000001, 1ull << 39, 1, 2);
	gen_ixia(5, 1700000002, 7);
	gen_ixia(5, 1700000003, 1000000000);
	gen_fixed(4);
	gen_finish(0);
	assert_int_equal(parse_gen(0), 1);
	assert_int_equal(pb_trailers_format(&rec, buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);

	for (size_t n = 0; n <= sizeof(want) + 1; n++) {
		memset(buf, '#', sizeof(buf));
		size_t r = pb_trailers_format(&rec, buf, n);
		size_t expect = n == 0 ? 0 : n - 1 < strlen(want) ? n - 1 : strlen(want);
		assert_int_equal(r, expect);
		if (n > 0)
			assert_int_equal(strlen(buf), expect);
		assert_memory_equal(buf, want, expect);
		assert_int_equal(buf[n], '#'); /* nothing written past buflen */
	}

	pb_record_reset(&rec);
	buf[0] = 'x';
	assert_int_equal(pb_trailers_format(&rec, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_vectors),
		cmocka_unit_test(test_crc32_random_frames),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_metamako_single),
		cmocka_unit_test(test_metamako_stacked2),
		cmocka_unit_test(test_metamako_stacked3),
		cmocka_unit_test(test_metamako_tlv_bounds),
		cmocka_unit_test(test_exablaze),
		cmocka_unit_test(test_ixia),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_jumbo),
		cmocka_unit_test(test_bad_crc),
		cmocka_unit_test(test_bad_timestamps),
		cmocka_unit_test(test_short_frames),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("trailer", tests, NULL, NULL);
}
