/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

/*
 * pbgen: writes a deterministic nanosecond pcap (DLT_EN10MB) for tests and
 * benchmarks. Every frame carries its index right after the L4 header, so
 * reordering, loss and duplication are detectable; the rest of the payload
 * comes from a seeded PRNG. Frames are IPv4/UDP by default (checksums
 * valid) so that bytes past the IP length are seen as an Ethernet trailer
 * by Wireshark, which is where the Metamako heuristic looks.
 *
 * Sizes are frame lengths without trailers; with --fcs they include the
 * 4-byte FCS. Each Metamako trailer re-uses the previous FCS as its
 * "original FCS" and adds 16 bytes (12 bytes of data + a new FCS), so a
 * 9018-byte frame with two trailers is 9050 bytes long.
 *
 * It carries its own CRC-32 on purpose: the daemon's pb_crc32() is then
 * checked against an independent implementation by the integration tests.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBGEN_MAX_FRAME 65535u
#define PBGEN_MAX_SIZES 64
#define PBGEN_MAX_TRAILERS 8
#define PBGEN_SNAPLEN 262144u
#define PBGEN_MAGIC_NS 0xa1b23c4du
#define PBGEN_TRAILER_LEN 16u /* added per stacked metamako trailer */
#define PBGEN_IOBUF (8u << 20)

/* Tag written right after the L4 header: "PBGN" + index, big-endian. */
static const uint8_t pbgen_tag[4] = { 'P', 'B', 'G', 'N' };

struct pbgen_opts {
	uint64_t count;
	uint32_t sizes[PBGEN_MAX_SIZES];
	size_t nsizes;
	bool mix;
	int vlan;        /* -1 = none */
	int qinq_outer;  /* -1 = none */
	int qinq_inner;
	bool fcs;
	unsigned ntrailers;
	uint64_t gap_ns;
	uint64_t start_ts;
	uint64_t seed;
	uint32_t snaplen;   /* 0 = whole frames */
	const char *out;
	const char *trailer_log;
};

/* Shape of one frame before it is built. */
enum pbgen_kind { K_UDP4, K_TCP4, K_ICMP4, K_UDP6, K_TCP6, K_ARP };

struct pbgen_frame {
	enum pbgen_kind kind;
	uint32_t size;   /* without trailers, with FCS when fcs */
	int outer;       /* 802.1ad outer VLAN or -1 */
	int vlan;        /* 802.1Q VLAN or -1 */
};

/* ---- CRC-32 (IEEE 802.3, reflected), slice-by-8 ---- */

static uint32_t crc_tab[8][256];

static void
pbgen_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

/* Running state: start with 0xffffffff, the FCS value is ~state. Keeping the
 * state lets stacked trailers extend the CRC instead of recomputing it. */
static uint32_t
pbgen_crc_update(uint32_t c, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t a = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24);
		c = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		    crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
		    crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

/* ---- PRNG (xorshift64*), deterministic across platforms ---- */

static uint64_t
pbgen_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void
pbgen_fill(uint64_t *s, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t r = pbgen_rand(s);
		memcpy(p, &r, sizeof r);
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t r = pbgen_rand(s);
		memcpy(p, &r, len);
	}
}

/* ---- byte helpers ---- */

static void
pbgen_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
pbgen_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
pbgen_put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* One's complement sum, folded later. */
static uint32_t
pbgen_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	while (len >= 2) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t
pbgen_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- frame construction ---- */

static const uint8_t mac_dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t mac_src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
/* Documentation prefixes (RFC 5737 / RFC 3849): never routable. */
static const uint8_t ip4_src[4] = { 192, 0, 2, 1 };
static const uint8_t ip4_dst[4] = { 198, 51, 100, 2 };
static const uint8_t ip6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t ip6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

static size_t
pbgen_l2(uint8_t *f, const struct pbgen_frame *fr, uint16_t ethertype)
{
	size_t off = 12;

	memcpy(f, mac_dst, 6);
	memcpy(f + 6, mac_src, 6);
	if (fr->outer >= 0) {
		pbgen_put16(f + off, 0x88a8);
		pbgen_put16(f + off + 2, (uint16_t)fr->outer);
		off += 4;
	}
	if (fr->vlan >= 0) {
		pbgen_put16(f + off, 0x8100);
		pbgen_put16(f + off + 2, (uint16_t)((3u << 13) | (unsigned)fr->vlan));
		off += 4;
	}
	pbgen_put16(f + off, ethertype);
	return off + 2;
}

/* Index tag + PRNG bytes; returns the L4 payload length written. */
static void
pbgen_payload(uint8_t *p, size_t len, uint64_t idx, uint64_t *rng)
{
	uint8_t tag[8];

	memcpy(tag, pbgen_tag, 4);
	pbgen_put32(tag + 4, (uint32_t)idx);
	/* Short frames (e.g. a 64-byte QinQ TCP) still keep as much as fits. */
	memcpy(p, tag, len < sizeof tag ? len : sizeof tag);
	if (len > sizeof tag)
		pbgen_fill(rng, p + sizeof tag, len - sizeof tag);
}

/* L4 header for UDP/TCP/ICMP into p (plen bytes incl. payload), checksum
 * over the pseudo-header sum ph. */
static void
pbgen_l4(uint8_t *p, size_t plen, int proto, uint32_t ph, uint64_t idx, uint64_t *rng)
{
	size_t hl = proto == 6 ? 20 : 8;
	uint16_t ck;

	memset(p, 0, hl);
	pbgen_payload(p + hl, plen - hl, idx, rng);
	if (proto == 17) {
		/* Ephemeral → discard: no dissector misreads the random payload. */
		pbgen_put16(p, (uint16_t)(49152 + idx % 16384));
		pbgen_put16(p + 2, 9);
		pbgen_put16(p + 4, (uint16_t)plen);
		ck = pbgen_fold(pbgen_sum(ph, p, plen));
		pbgen_put16(p + 6, ck == 0 ? 0xffff : ck);
	} else if (proto == 6) {
		pbgen_put16(p, (uint16_t)(49152 + idx % 16384));
		pbgen_put16(p + 2, 9);
		pbgen_put32(p + 4, (uint32_t)(idx * 1460u + 1));
		pbgen_put32(p + 8, 0x10000000u);
		p[12] = 5 << 4;
		p[13] = 0x18; /* PSH ACK */
		pbgen_put16(p + 14, 502);
		pbgen_put16(p + 16, pbgen_fold(pbgen_sum(ph, p, plen)));
	} else { /* ICMP / ICMPv6 echo request */
		p[0] = proto == 58 ? 128 : 8;
		pbgen_put16(p + 4, 0x7062);
		pbgen_put16(p + 6, (uint16_t)idx);
		pbgen_put16(p + 2, pbgen_fold(pbgen_sum(ph, p, plen)));
	}
}

/* Builds the frame body (without FCS/trailers); returns its length. */
static size_t
pbgen_build(uint8_t *f, const struct pbgen_frame *fr, bool fcs, uint64_t idx, uint64_t *rng)
{
	size_t len = fr->size - (fcs ? 4 : 0);
	size_t off;

	if (fr->kind == K_ARP) {
		off = pbgen_l2(f, fr, 0x0806);
		uint8_t *a = f + off;
		pbgen_put16(a, 1);
		pbgen_put16(a + 2, 0x0800);
		a[4] = 6;
		a[5] = 4;
		pbgen_put16(a + 6, 1);
		memcpy(a + 8, mac_src, 6);
		memcpy(a + 14, ip4_src, 4);
		memset(a + 18, 0, 6);
		memcpy(a + 24, ip4_dst, 4);
		a[27] = (uint8_t)(2 + idx % 250);
		/* Padding keeps the index so even ARP frames are unique. */
		pbgen_payload(a + 28, len - off - 28, idx, rng);
		return len;
	}
	if (fr->kind == K_UDP6 || fr->kind == K_TCP6) {
		int proto = fr->kind == K_UDP6 ? 17 : 6;
		off = pbgen_l2(f, fr, 0x86dd);
		uint8_t *ip = f + off;
		size_t plen = len - off - 40;
		pbgen_put32(ip, 0x60000000u | (uint32_t)(idx & 0xfffff));
		pbgen_put16(ip + 4, (uint16_t)plen);
		ip[6] = (uint8_t)proto;
		ip[7] = 64;
		memcpy(ip + 8, ip6_src, 16);
		memcpy(ip + 24, ip6_dst, 16);
		uint32_t ph = pbgen_sum(0, ip + 8, 32) + (uint32_t)plen + (uint32_t)proto;
		pbgen_l4(ip + 40, plen, proto, ph, idx, rng);
		return len;
	}
	int proto = fr->kind == K_UDP4 ? 17 : fr->kind == K_TCP4 ? 6 : 1;
	off = pbgen_l2(f, fr, 0x0800);
	uint8_t *ip = f + off;
	size_t tot = len - off;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	pbgen_put16(ip + 2, (uint16_t)tot);
	pbgen_put16(ip + 4, (uint16_t)idx);
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	memcpy(ip + 12, ip4_src, 4);
	memcpy(ip + 16, ip4_dst, 4);
	pbgen_put16(ip + 10, pbgen_fold(pbgen_sum(0, ip, 20)));
	uint32_t ph = proto == 1 ? 0 :
	    pbgen_sum(0, ip + 12, 8) + (uint32_t)(tot - 20) + (uint32_t)proto;
	pbgen_l4(ip + 20, tot - 20, proto, ph, idx, rng);
	return len;
}

/* Bytes needed before the payload tag for a frame shape. */
static uint32_t
pbgen_min_size(const struct pbgen_frame *fr, bool fcs)
{
	uint32_t l2 = 14 + (fr->outer >= 0 ? 4 : 0) + (fr->vlan >= 0 ? 4 : 0);
	uint32_t l3;

	switch (fr->kind) {
	case K_ARP: l3 = 28; break;
	case K_UDP6: l3 = 48; break;
	case K_TCP6: l3 = 60; break;
	case K_TCP4: l3 = 40; break;
	default: l3 = 28; break;
	}
	return l2 + l3 + 8 + (fcs ? 4 : 0);
}

/* Realistic mix for the bundled sample: mostly IPv4, some IPv6, ARP,
 * tagged traffic and the odd jumbo frame. */
static void
pbgen_pick_mix(struct pbgen_frame *fr, uint64_t *rng, bool fcs)
{
	static const uint32_t sizes[] = { 64, 64, 64, 128, 256, 576, 590, 1024, 1514, 1518, 1518 };
	uint64_t r = pbgen_rand(rng);
	unsigned p = (unsigned)(r % 100);
	uint32_t size = sizes[(r >> 8) % (sizeof sizes / sizeof sizes[0])];

	fr->outer = -1;
	fr->vlan = -1;
	if (p < 5) {
		fr->kind = K_ARP;
		size = 64;
	} else if (p < 38) {
		fr->kind = K_TCP4;
	} else if (p < 65) {
		fr->kind = K_UDP4;
	} else if (p < 70) {
		fr->kind = K_ICMP4;
		size = 102; /* a default ping */
	} else if (p < 78) {
		fr->kind = K_TCP6;
	} else if (p < 84) {
		fr->kind = K_UDP6;
	} else if (p < 92) {
		fr->kind = (r >> 16) & 1 ? K_UDP4 : K_TCP4;
		fr->vlan = (int)(100 + (r >> 20) % 10);
		size += 4;
	} else if (p < 98) {
		fr->kind = K_UDP4;
		fr->outer = (int)(200 + (r >> 20) % 4);
		fr->vlan = (int)(10 + (r >> 24) % 4);
		size += 8;
	} else {
		fr->kind = K_UDP4;
		size = 9018;
	}
	if (!fcs)
		size -= 4; /* the sizes above count the FCS */
	uint32_t min = pbgen_min_size(fr, fcs);
	fr->size = size < min ? min : size;
}

/* ---- output ---- */

struct pbgen_out {
	FILE *f;
	uint8_t *buf;
	size_t used;
};

static int
pbgen_flush(struct pbgen_out *o)
{
	if (o->used && fwrite(o->buf, 1, o->used, o->f) != o->used)
		return -1;
	o->used = 0;
	return 0;
}

static uint8_t *
pbgen_reserve(struct pbgen_out *o, size_t len)
{
	if (PBGEN_IOBUF - o->used < len && pbgen_flush(o) < 0)
		return NULL;
	return o->buf + o->used;
}

static void
pbgen_put_u32(uint8_t *p, uint32_t v)
{
	/* pcap records are host-endian; the magic tells readers which. */
	memcpy(p, &v, sizeof v);
}

static int
pbgen_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*v = x;
	return 0;
}

static int
pbgen_parse_sizes(const char *s, struct pbgen_opts *o)
{
	char tmp[512];
	char *save = NULL;

	if (strlen(s) >= sizeof tmp)
		return -1;
	memcpy(tmp, s, strlen(s) + 1);
	o->nsizes = 0;
	for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (o->nsizes == PBGEN_MAX_SIZES || pbgen_parse_u64(t, &v) < 0 ||
		    v > PBGEN_MAX_FRAME)
			return -1;
		o->sizes[o->nsizes++] = (uint32_t)v;
	}
	return o->nsizes ? 0 : -1;
}

static int
pbgen_parse_trailers(const char *s, struct pbgen_opts *o)
{
	char tmp[512];
	char *save = NULL;

	if (strlen(s) >= sizeof tmp)
		return -1;
	memcpy(tmp, s, strlen(s) + 1);
	o->ntrailers = 0;
	for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "metamako") != 0 || o->ntrailers == PBGEN_MAX_TRAILERS)
			return -1;
		o->ntrailers++;
	}
	return 0;
}

static void
pbgen_usage(FILE *f)
{
	fprintf(f,
	    "usage: pbgen [options] -o FILE\n"
	    "  --count N            frames (default 1000)\n"
	    "  --size BYTES         frame length without trailers, FCS included with --fcs (default 64)\n"
	    "  --sizes A,B,...      cycle through these sizes\n"
	    "  --mix                realistic mix (ARP, IPv4 UDP/TCP/ICMP, IPv6, 802.1Q, QinQ, jumbo)\n"
	    "  --vlan ID            802.1Q tag (not with --mix, which picks its own)\n"
	    "  --qinq OUTER,INNER   802.1ad + 802.1Q tags (not with --mix)\n"
	    "  --fcs                append a correct Ethernet FCS\n"
	    "  --trailers metamako[,metamako...]  append stacked Metamako trailers (implies --fcs)\n"
	    "  --gap-ns N           timestamp spacing (default 1000)\n"
	    "  --start-ts SEC       first timestamp (default 1700000000)\n"
	    "  --seed S             PRNG seed (default 1)\n"
	    "  --snaplen N          keep the first N bytes of each frame (caplen), its length\n"
	    "                       stays in origlen, as a snaplen-limited capture has it\n"
	    "  --trailer-log FILE   write 'index sec.nsec dev port flags' per trailer\n"
	    "  -o FILE              output pcap (nanosecond, DLT_EN10MB); '-' = stdout\n");
}

static int
pbgen_options(int argc, char **argv, struct pbgen_opts *o)
{
	enum { O_COUNT = 256, O_SIZE, O_SIZES, O_MIX, O_VLAN, O_QINQ, O_FCS, O_TRAILERS,
		O_GAP, O_START, O_SEED, O_TLOG, O_SNAPLEN };
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, O_COUNT },
		{ "size", required_argument, NULL, O_SIZE },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "mix", no_argument, NULL, O_MIX },
		{ "vlan", required_argument, NULL, O_VLAN },
		{ "qinq", required_argument, NULL, O_QINQ },
		{ "fcs", no_argument, NULL, O_FCS },
		{ "trailers", required_argument, NULL, O_TRAILERS },
		{ "gap-ns", required_argument, NULL, O_GAP },
		{ "start-ts", required_argument, NULL, O_START },
		{ "seed", required_argument, NULL, O_SEED },
		{ "trailer-log", required_argument, NULL, O_TLOG },
		{ "snaplen", required_argument, NULL, O_SNAPLEN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v, w;
	char *comma;
	int c;

	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_COUNT:
			if (pbgen_parse_u64(optarg, &o->count) < 0)
				goto bad;
			break;
		case O_SIZE:
		case O_SIZES:
			if (pbgen_parse_sizes(optarg, o) < 0)
				goto bad;
			break;
		case O_MIX:
			o->mix = true;
			break;
		case O_VLAN:
			if (pbgen_parse_u64(optarg, &v) < 0 || v > 4095)
				goto bad;
			o->vlan = (int)v;
			break;
		case O_QINQ:
			comma = strchr(optarg, ',');
			if (!comma)
				goto bad;
			*comma = '\0';
			if (pbgen_parse_u64(optarg, &v) < 0 || pbgen_parse_u64(comma + 1, &w) < 0 ||
			    v > 4095 || w > 4095)
				goto bad;
			o->qinq_outer = (int)v;
			o->qinq_inner = (int)w;
			break;
		case O_FCS:
			o->fcs = true;
			break;
		case O_TRAILERS:
			if (pbgen_parse_trailers(optarg, o) < 0)
				goto bad;
			break;
		case O_GAP:
			if (pbgen_parse_u64(optarg, &o->gap_ns) < 0)
				goto bad;
			break;
		case O_START:
			if (pbgen_parse_u64(optarg, &o->start_ts) < 0 || o->start_ts > UINT32_MAX)
				goto bad;
			break;
		case O_SEED:
			if (pbgen_parse_u64(optarg, &o->seed) < 0)
				goto bad;
			break;
		case O_TLOG:
			o->trailer_log = optarg;
			break;
		case O_SNAPLEN:
			if (pbgen_parse_u64(optarg, &v) < 0 || v == 0 || v > PBGEN_SNAPLEN)
				goto bad;
			o->snaplen = (uint32_t)v;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'h':
			pbgen_usage(stdout);
			exit(0);
		default:
			pbgen_usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !o->out) {
		pbgen_usage(stderr);
		return -1;
	}
	if (o->ntrailers)
		o->fcs = true; /* a trailer starts with the original FCS */
	return 0;
bad:
	fprintf(stderr, "pbgen: invalid argument for --%s: %s\n",
	    longopts[c - O_COUNT].name, optarg);
	return -1;
}

/* Appends FCS and trailers after the body of length len; returns the new
 * length. The trailer log gets one line per trailer. */
static size_t
pbgen_finish(uint8_t *f, size_t len, const struct pbgen_opts *o, uint64_t idx, uint64_t ts,
    uint64_t *rng, FILE *tlog)
{
	if (!o->fcs)
		return len;
	uint32_t st = pbgen_crc_update(0xffffffffu, f, len);
	pbgen_put32le(f + len, ~st);
	st = pbgen_crc_update(st, f + len, 4);
	len += 4;
	for (unsigned k = 0; k < o->ntrailers; k++) {
		/* The innermost device stamps first: a few µs before the capture,
		 * with some jitter, each later device a bit after. */
		uint64_t back = (uint64_t)(o->ntrailers - k) * 1500u + pbgen_rand(rng) % 400u;
		uint64_t tts = ts > back ? ts - back : ts;
		uint32_t sec = (uint32_t)(tts / 1000000000u);
		uint32_t nsec = (uint32_t)(tts % 1000000000u);
		uint16_t dev = (uint16_t)(7 + k);
		uint8_t port = (uint8_t)(1 + (idx + k) % 48);
		uint8_t flags = 0x01; /* original FCS valid */
		uint8_t *t = f + len;
		pbgen_put32(t, sec);
		pbgen_put32(t + 4, nsec);
		t[8] = flags;
		pbgen_put16(t + 9, dev);
		t[11] = port;
		st = pbgen_crc_update(st, t, 12);
		pbgen_put32le(t + 12, ~st);
		st = pbgen_crc_update(st, t + 12, 4);
		len += PBGEN_TRAILER_LEN;
		if (tlog)
			fprintf(tlog, "%" PRIu64 " %u %" PRIu32 ".%09" PRIu32 " %u %u 0x%02x\n",
			    idx, k, sec, nsec, dev, port, flags);
	}
	return len;
}

int
main(int argc, char **argv)
{
	struct pbgen_opts o = {
		.count = 1000, .sizes = { 64 }, .nsizes = 1, .vlan = -1, .qinq_outer = -1,
		.qinq_inner = -1, .gap_ns = 1000, .start_ts = 1700000000, .seed = 1,
	};
	struct pbgen_out out = { 0 };
	FILE *tlog = NULL;
	static uint8_t frame[PBGEN_MAX_FRAME + 16 * PBGEN_MAX_TRAILERS];
	int rc = 1;

	if (pbgen_options(argc, argv, &o) < 0)
		return 2;
	pbgen_crc_init();
	/* splitmix64 of the seed: xorshift must not start at 0. */
	uint64_t rng = o.seed + 0x9e3779b97f4a7c15ULL;
	rng = (rng ^ (rng >> 30)) * 0xbf58476d1ce4e5b9ULL;
	rng = (rng ^ (rng >> 27)) * 0x94d049bb133111ebULL;
	rng ^= rng >> 31;
	if (rng == 0)
		rng = 1;

	struct pbgen_frame fixed = {
		.kind = K_UDP4,
		.outer = o.qinq_outer,
		.vlan = o.qinq_outer >= 0 ? o.qinq_inner : o.vlan,
	};
	for (size_t i = 0; !o.mix && i < o.nsizes; i++) {
		uint32_t min = pbgen_min_size(&fixed, o.fcs);
		if (o.sizes[i] < min) {
			fprintf(stderr, "pbgen: size %u too small for this frame shape (min %u)\n",
			    o.sizes[i], min);
			return 2;
		}
		if (o.sizes[i] + PBGEN_TRAILER_LEN * o.ntrailers > PBGEN_MAX_FRAME) {
			fprintf(stderr, "pbgen: size %u too large\n", o.sizes[i]);
			return 2;
		}
	}

	out.f = strcmp(o.out, "-") == 0 ? stdout : fopen(o.out, "wb");
	if (!out.f) {
		fprintf(stderr, "pbgen: %s: %s\n", o.out, strerror(errno));
		return 1;
	}
	if (o.trailer_log && !(tlog = fopen(o.trailer_log, "w"))) {
		fprintf(stderr, "pbgen: %s: %s\n", o.trailer_log, strerror(errno));
		goto out;
	}
	out.buf = malloc(PBGEN_IOBUF);
	if (!out.buf) {
		fprintf(stderr, "pbgen: out of memory\n");
		goto out;
	}

	uint8_t *h = out.buf;
	pbgen_put_u32(h, PBGEN_MAGIC_NS);
	uint16_t ver[2] = { 2, 4 };
	memcpy(h + 4, ver, sizeof ver);
	memset(h + 8, 0, 8);
	pbgen_put_u32(h + 16, o.snaplen ? o.snaplen : PBGEN_SNAPLEN);
	pbgen_put_u32(h + 20, 1); /* DLT_EN10MB */
	out.used = 24;

	uint64_t ts = o.start_ts * 1000000000ULL;
	for (uint64_t i = 0; i < o.count; i++, ts += o.gap_ns) {
		struct pbgen_frame fr = fixed;
		if (o.mix)
			pbgen_pick_mix(&fr, &rng, o.fcs);
		else
			fr.size = o.sizes[i % o.nsizes];
		size_t len = pbgen_build(frame, &fr, o.fcs, i, &rng);
		len = pbgen_finish(frame, len, &o, i, ts, &rng, tlog);

		size_t caplen = o.snaplen && len > o.snaplen ? o.snaplen : len;
		uint8_t *r = pbgen_reserve(&out, 16 + caplen);
		if (!r) {
			fprintf(stderr, "pbgen: %s: write: %s\n", o.out, strerror(errno));
			goto out;
		}
		pbgen_put_u32(r, (uint32_t)(ts / 1000000000ULL));
		pbgen_put_u32(r + 4, (uint32_t)(ts % 1000000000ULL));
		pbgen_put_u32(r + 8, (uint32_t)caplen);
		pbgen_put_u32(r + 12, (uint32_t)len);
		memcpy(r + 16, frame, caplen);
		out.used += 16 + caplen;
	}
	if (pbgen_flush(&out) < 0 || fflush(out.f) != 0) {
		fprintf(stderr, "pbgen: %s: write: %s\n", o.out, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (tlog && fclose(tlog) != 0)
		rc = 1;
	if (out.f && out.f != stdout && fclose(out.f) != 0) {
		fprintf(stderr, "pbgen: %s: close: %s\n", o.out, strerror(errno));
		rc = 1;
	}
	free(out.buf);
	return rc;
}
