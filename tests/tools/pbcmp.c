/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

/*
 * pbcmp: compares the frame sequences of two captures (pcap or pcapng, read
 * by libpcap with nanosecond timestamps).
 *
 *   pbcmp [--ts] [--origin N] [--na K] [--count-only|--multiset|--prefix|--suffix]
 *         A [A2 ...] B [B2 ...]
 *   pbcmp [--origin N] --count FILE [FILE ...]
 *
 * Side B may be several files: they are read one after the other, as one
 * sequence (--na K makes the first K files side A, e.g. the union of
 * several inputs against a merged output) (rotated outputs compared with a single input). --prefix and
 * --suffix accept a B that is the start (output of an interrupted run) or
 * the end (what retention kept) of A.
 * --origin N keeps only the frames of pcapng files whose packetbroker EPB
 * comment starts with "pb origin=N(": a merged collector output is split
 * per origin node and each part compared in order with that node's input.
 * libpcap does not expose EPB comments, so pcapng files are then read by
 * the small reader below; classic pcap files have no metadata and are read
 * whole (the input side).
 * Exit 0 = identical, 1 = different, 2 = usage or read error.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#define PBCMP_NG_SHB 0x0a0d0d0au
#define PBCMP_NG_IDB 0x00000001u
#define PBCMP_NG_EPB 0x00000006u
#define PBCMP_NG_BOM 0x1a2b3c4du
#define PBCMP_NG_MAX_BLOCK (16u << 20)
#define PBCMP_NG_MAX_IFS 4096u

/* Own pcapng reader state (only with --origin). */
struct pbcmp_ng {
	FILE *f;
	bool swap;
	uint8_t *buf;
	size_t bufsize;
	uint64_t ifres[PBCMP_NG_MAX_IFS]; /* timestamp units per second */
	uint32_t nifs;
	struct pcap_pkthdr hdr;
};

struct pbcmp_side {
	char **files;
	int nfiles;
	int cur;
	pcap_t *p;
	bool filter;        /* --origin given */
	uint32_t origin;
	struct pbcmp_ng ng; /* open when ng.f != NULL */
	uint64_t index;     /* frames returned so far */
	const char *name;   /* file of the current frame */
	/* current frame */
	struct pcap_pkthdr *hdr;
	const u_char *data;
};

struct pbcmp_opts {
	bool ts;
	bool count_only;
	bool multiset;
	bool count;
	bool prefix;
	bool suffix;
	bool filter;
	uint32_t origin;
	int na;
};

/* ---- minimal pcapng reader, for --origin ---- */

static uint32_t
pbcmp_u32(const struct pbcmp_ng *g, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return g->swap ? __builtin_bswap32(v) : v;
}

static uint16_t
pbcmp_u16(const struct pbcmp_ng *g, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return g->swap ? __builtin_bswap16(v) : v;
}

static void
pbcmp_ng_close(struct pbcmp_ng *g)
{
	if (g->f)
		fclose(g->f);
	g->f = NULL;
}

/* The if_tsresol of an IDB's options, as units per second (default µs). */
static uint64_t
pbcmp_ng_tsresol(const struct pbcmp_ng *g, const uint8_t *opt, size_t len)
{
	while (len >= 4) {
		uint16_t code = pbcmp_u16(g, opt), olen = pbcmp_u16(g, opt + 2);
		size_t padded = ((size_t)olen + 3u) & ~(size_t)3u;
		if (code == 0 || 4 + padded > len)
			break;
		if (code == 9 && olen == 1) {
			uint8_t v = opt[4];
			uint64_t r = 1;
			unsigned e = v & 0x7f;
			if (e > ((v & 0x80) ? 63 : 19))
				return 0;
			for (unsigned i = 0; i < e; i++)
				r *= (v & 0x80) ? 2 : 10;
			return r;
		}
		opt += 4 + padded;
		len -= 4 + padded;
	}
	return 1000000;
}

/* The EPB comment option (not NUL-terminated) or NULL. */
static const uint8_t *
pbcmp_ng_comment(const struct pbcmp_ng *g, const uint8_t *opt, size_t len, size_t *clen)
{
	while (len >= 4) {
		uint16_t code = pbcmp_u16(g, opt), olen = pbcmp_u16(g, opt + 2);
		size_t padded = ((size_t)olen + 3u) & ~(size_t)3u;
		if (code == 0 || 4 + padded > len)
			break;
		if (code == 1) {
			*clen = olen;
			return opt + 4;
		}
		opt += 4 + padded;
		len -= 4 + padded;
	}
	return NULL;
}

/* Does the comment say "pb origin=<origin>("? */
static bool
pbcmp_ng_match(const uint8_t *c, size_t clen, uint32_t origin)
{
	static const char pfx[] = "pb origin=";
	char want[32];
	int n = snprintf(want, sizeof(want), "%s%" PRIu32 "(", pfx, origin);

	return c && n > 0 && clen >= (size_t)n && memcmp(c, want, (size_t)n) == 0;
}

/* 1 = a matching frame in s->hdr/s->data, 0 = end of file, -1 = error. */
static int
pbcmp_ng_next(struct pbcmp_side *s)
{
	struct pbcmp_ng *g = &s->ng;
	uint8_t head[12];

	for (;;) {
		size_t got = fread(head, 1, 8, g->f);
		if (got == 0 && feof(g->f))
			return 0;
		if (got != 8)
			goto truncated;
		uint32_t type, len;
		memcpy(&type, head, sizeof(type));
		if (type == PBCMP_NG_SHB) {
			if (fread(head + 8, 1, 4, g->f) != 4)
				goto truncated;
			uint32_t bom;
			memcpy(&bom, head + 8, sizeof(bom));
			if (bom == PBCMP_NG_BOM)
				g->swap = false;
			else if (bom == __builtin_bswap32(PBCMP_NG_BOM))
				g->swap = true;
			else {
				fprintf(stderr, "pbcmp: %s: bad pcapng byte-order magic\n", s->name);
				return -1;
			}
			g->nifs = 0;
		}
		type = pbcmp_u32(g, head);
		len = pbcmp_u32(g, head + 4);
		size_t have = type == PBCMP_NG_SHB ? 12 : 8;
		if (len < 12 || len % 4 || len > PBCMP_NG_MAX_BLOCK || len < have) {
			fprintf(stderr, "pbcmp: %s: bad pcapng block length %u\n", s->name, len);
			return -1;
		}
		if (len > g->bufsize) {
			uint8_t *nb = realloc(g->buf, len);
			if (!nb)
				return -1;
			g->buf = nb;
			g->bufsize = len;
		}
		memcpy(g->buf, head, have);
		if (fread(g->buf + have, 1, len - have, g->f) != len - have)
			goto truncated;
		const uint8_t *b = g->buf + 8;
		size_t blen = len - 12; /* body without the header and trailing length */
		if (type == PBCMP_NG_IDB) {
			if (blen < 8 || g->nifs >= PBCMP_NG_MAX_IFS)
				goto bad;
			uint64_t r = pbcmp_ng_tsresol(g, b + 8, blen - 8);
			if (r == 0)
				goto bad;
			g->ifres[g->nifs++] = r;
			continue;
		}
		if (type != PBCMP_NG_EPB)
			continue;
		if (blen < 20)
			goto bad;
		uint32_t ifid = pbcmp_u32(g, b), caplen = pbcmp_u32(g, b + 12);
		size_t padded = ((size_t)caplen + 3u) & ~(size_t)3u;
		if (ifid >= g->nifs || 20 + padded > blen)
			goto bad;
		size_t clen = 0;
		const uint8_t *c = pbcmp_ng_comment(g, b + 20 + padded, blen - 20 - padded, &clen);
		if (!pbcmp_ng_match(c, clen, s->origin))
			continue;
		uint64_t ts = (uint64_t)pbcmp_u32(g, b + 4) << 32 | pbcmp_u32(g, b + 8);
		uint64_t r = g->ifres[ifid];
		uint64_t ns = ts / r * 1000000000ULL + (ts % r) * 1000000000ULL / r;
		g->hdr.ts.tv_sec = (time_t)(ns / 1000000000ULL);
		g->hdr.ts.tv_usec = (suseconds_t)(ns % 1000000000ULL);
		g->hdr.caplen = caplen;
		g->hdr.len = pbcmp_u32(g, b + 16);
		s->hdr = &g->hdr;
		s->data = b + 20;
		return 1;
	}
truncated:
	fprintf(stderr, "pbcmp: %s: truncated pcapng block\n", s->name);
	return -1;
bad:
	fprintf(stderr, "pbcmp: %s: malformed pcapng block\n", s->name);
	return -1;
}

/* Opens the next file of the side; 0 = opened, 1 = no more, -1 = error. */
static int
pbcmp_open_next(struct pbcmp_side *s)
{
	char err[PCAP_ERRBUF_SIZE];

	if (s->p) {
		pcap_close(s->p);
		s->p = NULL;
	}
	pbcmp_ng_close(&s->ng);
	if (s->cur >= s->nfiles)
		return 1;
	s->name = s->files[s->cur++];
	if (s->filter) {
		FILE *f = fopen(s->name, "rb");
		uint32_t magic = 0;
		if (!f) {
			fprintf(stderr, "pbcmp: %s: %s\n", s->name, strerror(errno));
			return -1;
		}
		if (fread(&magic, 1, sizeof(magic), f) == sizeof(magic) &&
		    magic == PBCMP_NG_SHB && fseek(f, 0, SEEK_SET) == 0) {
			s->ng.f = f;
			return 0;
		}
		fclose(f); /* classic pcap: no metadata, read whole */
	}
	s->p = pcap_open_offline_with_tstamp_precision(s->name, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!s->p) {
		fprintf(stderr, "pbcmp: %s: %s\n", s->name, err);
		return -1;
	}
	return 0;
}

/* 1 = a frame, 0 = end of the side, -1 = error. */
static int
pbcmp_next(struct pbcmp_side *s)
{
	for (;;) {
		if (!s->p && !s->ng.f) {
			int r = pbcmp_open_next(s);
			if (r != 0)
				return r > 0 ? 0 : -1;
		}
		if (s->ng.f) {
			int r = pbcmp_ng_next(s);
			if (r == 1)
				s->index++;
			if (r != 0)
				return r;
			pbcmp_ng_close(&s->ng);
			if (s->cur >= s->nfiles)
				return 0;
			continue;
		}
		int r = pcap_next_ex(s->p, &s->hdr, &s->data);
		if (r == 1) {
			s->index++;
			return 1;
		}
		if (r == PCAP_ERROR_BREAK) { /* end of this file */
			pcap_close(s->p);
			s->p = NULL;
			if (s->cur >= s->nfiles)
				return 0;
			continue;
		}
		fprintf(stderr, "pbcmp: %s: frame %" PRIu64 ": %s\n", s->name, s->index,
		    pcap_geterr(s->p));
		return -1;
	}
}

static void
pbcmp_close(struct pbcmp_side *s)
{
	if (s->p)
		pcap_close(s->p);
	s->p = NULL;
	pbcmp_ng_close(&s->ng);
	free(s->ng.buf);
	s->ng.buf = NULL;
	s->ng.bufsize = 0;
}

static uint64_t
pbcmp_ts(const struct pcap_pkthdr *h)
{
	/* With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds. */
	return (uint64_t)h->ts.tv_sec * 1000000000ULL + (uint64_t)h->ts.tv_usec;
}

/* Counts frames of a side; -1 on error. */
static int64_t
pbcmp_count_side(struct pbcmp_side *s)
{
	int r;

	while ((r = pbcmp_next(s)) == 1)
		;
	pbcmp_close(s);
	return r < 0 ? -1 : (int64_t)s->index;
}

/* ---- in-order comparison ---- */

static int
pbcmp_sequence(struct pbcmp_side *a, struct pbcmp_side *b, const struct pbcmp_opts *o)
{
	uint64_t skip = 0;

	if (o->suffix) {
		/* Count both sides first, then skip A's head. */
		struct pbcmp_side ca = { .files = a->files, .nfiles = a->nfiles,
			.filter = a->filter, .origin = a->origin };
		struct pbcmp_side cb = { .files = b->files, .nfiles = b->nfiles,
			.filter = b->filter, .origin = b->origin };
		int64_t na = pbcmp_count_side(&ca);
		int64_t nb = na < 0 ? -1 : pbcmp_count_side(&cb);
		if (na < 0 || nb < 0)
			return 2;
		if (nb > na) {
			printf("frame count differs: B has %" PRId64 ", more than A's %" PRId64 "\n",
			    nb, na);
			return 1;
		}
		for (skip = (uint64_t)(na - nb); a->index < skip;)
			if (pbcmp_next(a) != 1)
				return 2;
	}
	for (;;) {
		int ra = pbcmp_next(a);
		int rb = ra < 0 ? -1 : pbcmp_next(b);
		if (ra < 0 || rb < 0)
			return 2;
		if (ra == 0 && rb == 0)
			break;
		if (ra == 1 && rb == 0 && o->prefix) {
			printf("%" PRIu64 " frames identical (prefix of A)\n", b->index);
			return 0;
		}
		if (ra != rb) {
			/* One side ended: count the rest for the message. */
			struct pbcmp_side *longer = ra ? a : b;
			uint64_t at = longer->index - 1;
			int64_t total = pbcmp_count_side(longer);
			printf("frame count differs: %s has %" PRIu64 ", %s has %" PRId64
			    " (first extra frame at index %" PRIu64 ")\n",
			    ra ? "B" : "A", at, ra ? "A" : "B", total, at);
			return 1;
		}
		const struct pcap_pkthdr *ha = a->hdr, *hb = b->hdr;
		uint64_t idx = a->index - 1;
		if (ha->caplen != hb->caplen || ha->len != hb->len) {
			printf("frame %" PRIu64 ": length differs: A caplen %u len %u (%s), "
			    "B caplen %u len %u (%s)\n", idx, ha->caplen, ha->len, a->name,
			    hb->caplen, hb->len, b->name);
			return 1;
		}
		if (memcmp(a->data, b->data, ha->caplen) != 0) {
			uint32_t off = 0;
			while (a->data[off] == b->data[off])
				off++;
			printf("frame %" PRIu64 ": bytes differ at offset %u: A 0x%02x, B 0x%02x "
			    "(length %u; B file %s)\n", idx, off, a->data[off], b->data[off],
			    ha->caplen, b->name);
			return 1;
		}
		if (o->ts && pbcmp_ts(ha) != pbcmp_ts(hb)) {
			printf("frame %" PRIu64 ": timestamp differs: A %" PRIu64 " ns, B %" PRIu64
			    " ns\n", idx, pbcmp_ts(ha), pbcmp_ts(hb));
			return 1;
		}
	}
	if (o->suffix)
		printf("%" PRIu64 " frames identical (suffix of A, from index %" PRIu64 ")\n",
		    b->index, skip);
	else
		printf("%" PRIu64 " frames identical\n", a->index);
	return 0;
}

/* ---- multiset comparison ---- */

struct pbcmp_key {
	uint64_t h1, h2; /* two independent hashes of length + bytes (+ ts) */
};

static int
pbcmp_key_cmp(const void *x, const void *y)
{
	const struct pbcmp_key *a = x, *b = y;

	if (a->h1 != b->h1)
		return a->h1 < b->h1 ? -1 : 1;
	if (a->h2 != b->h2)
		return a->h2 < b->h2 ? -1 : 1;
	return 0;
}

/* FNV-1a 64 and a multiply-rotate hash: 128 bits make a false match of
 * two different frames practically impossible. */
static struct pbcmp_key
pbcmp_hash(const struct pcap_pkthdr *h, const u_char *d, bool ts)
{
	uint64_t f = 0xcbf29ce484222325ULL, m = 0x9e3779b97f4a7c15ULL ^ h->caplen;

	for (uint32_t i = 0; i < h->caplen; i++) {
		f = (f ^ d[i]) * 0x100000001b3ULL;
		m = (m ^ d[i]) * 0xff51afd7ed558ccdULL;
		m = (m << 29) | (m >> 35);
	}
	f ^= (uint64_t)h->len << 32 | h->caplen;
	if (ts) {
		f ^= pbcmp_ts(h) * 0xc4ceb9fe1a85ec53ULL;
		m ^= pbcmp_ts(h);
	}
	return (struct pbcmp_key){ f, m };
}

static int
pbcmp_collect(struct pbcmp_side *s, bool ts, struct pbcmp_key **out, size_t *n)
{
	size_t cap = 4096, len = 0;
	struct pbcmp_key *k = malloc(cap * sizeof *k);
	int r;

	if (!k)
		return -1;
	while ((r = pbcmp_next(s)) == 1) {
		if (len == cap) {
			struct pbcmp_key *nk = realloc(k, 2 * cap * sizeof *k);
			if (!nk) {
				free(k);
				return -1;
			}
			k = nk;
			cap *= 2;
		}
		k[len++] = pbcmp_hash(s->hdr, s->data, ts);
	}
	pbcmp_close(s);
	if (r < 0) {
		free(k);
		return -1;
	}
	qsort(k, len, sizeof *k, pbcmp_key_cmp);
	*out = k;
	*n = len;
	return 0;
}

static int
pbcmp_multiset(struct pbcmp_side *a, struct pbcmp_side *b, const struct pbcmp_opts *o)
{
	struct pbcmp_key *ka = NULL, *kb = NULL;
	size_t na = 0, nb = 0;
	int rc = 2;

	if (pbcmp_collect(a, o->ts, &ka, &na) < 0 || pbcmp_collect(b, o->ts, &kb, &nb) < 0)
		goto out;
	if (na != nb) {
		printf("frame count differs: A has %zu, B has %zu\n", na, nb);
		rc = 1;
		goto out;
	}
	size_t only_a = 0, only_b = 0, i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : pbcmp_key_cmp(&ka[i], &kb[j]);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			only_a++;
			i++;
		} else {
			only_b++;
			j++;
		}
	}
	if (only_a || only_b) {
		printf("frames differ: %zu only in A, %zu only in B (of %zu)\n", only_a, only_b, na);
		rc = 1;
		goto out;
	}
	printf("%zu frames identical (any order)\n", na);
	rc = 0;
out:
	free(ka);
	free(kb);
	return rc;
}

static void
pbcmp_usage(FILE *f)
{
	fprintf(f,
	    "usage: pbcmp [--ts] [--origin N] [--na K] [--count-only | --multiset | --prefix | --suffix] "
	    "A B [B2 ...]\n"
	    "       pbcmp [--origin N] --count FILE [FILE ...]\n"
	    "  --ts          also compare timestamps (ns)\n"
	    "  --origin N    in pcapng files, only frames whose packetbroker comment says\n"
	    "                origin node N (pcap files are read whole)\n"
	    "  --count-only  compare only the number of frames\n"
	    "  --multiset    same frames in any order\n"
	    "  --prefix      B may be the first frames of A only\n"
	    "  --suffix      B may be the last frames of A only\n"
	    "  --count       print the number of frames in the files\n"
	    "  --na K        the first K files are side A (default 1)\n"
	    "B (and A with --na) may be several files read in sequence (rotated output).\n"
	    "exit: 0 identical, 1 different, 2 error\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ts", no_argument, NULL, 't' },
		{ "count-only", no_argument, NULL, 'c' },
		{ "multiset", no_argument, NULL, 'm' },
		{ "count", no_argument, NULL, 'n' },
		{ "prefix", no_argument, NULL, 'p' },
		{ "suffix", no_argument, NULL, 's' },
		{ "origin", required_argument, NULL, 'o' },
		{ "na", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pbcmp_opts o = { .na = 1 };
	int c;
	char *end;
	unsigned long long v;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o.ts = true; break;
		case 'c': o.count_only = true; break;
		case 'm': o.multiset = true; break;
		case 'n': o.count = true; break;
		case 'p': o.prefix = true; break;
		case 's': o.suffix = true; break;
		case 'o':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || v > UINT32_MAX || optarg[0] == '-') {
				fprintf(stderr, "pbcmp: bad --origin '%s'\n", optarg);
				return 2;
			}
			o.filter = true;
			o.origin = (uint32_t)v;
			break;
		case 'a':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 100000 || optarg[0] == '-') {
				fprintf(stderr, "pbcmp: bad --na '%s'\n", optarg);
				return 2;
			}
			o.na = (int)v;
			break;
		case 'h': pbcmp_usage(stdout); return 0;
		default: pbcmp_usage(stderr); return 2;
		}
	}
	int nfiles = argc - optind;
	if (o.count) {
		if (nfiles < 1)
			goto usage;
		struct pbcmp_side s = { .files = argv + optind, .nfiles = nfiles,
			.filter = o.filter, .origin = o.origin };
		int64_t n = pbcmp_count_side(&s);
		if (n < 0)
			return 2;
		printf("%" PRId64 "\n", n);
		return 0;
	}
	if (nfiles < o.na + 1 || o.count_only + o.multiset + o.prefix + o.suffix > 1)
		goto usage;

	struct pbcmp_side a = { .files = argv + optind, .nfiles = o.na,
		.filter = o.filter, .origin = o.origin };
	struct pbcmp_side b = { .files = argv + optind + o.na, .nfiles = nfiles - o.na,
		.filter = o.filter, .origin = o.origin };
	int rc;
	if (o.count_only) {
		int64_t na = pbcmp_count_side(&a);
		int64_t nb = na < 0 ? -1 : pbcmp_count_side(&b);
		if (na < 0 || nb < 0)
			return 2;
		if (na != nb) {
			printf("frame count differs: A has %" PRId64 ", B has %" PRId64 "\n", na, nb);
			return 1;
		}
		printf("%" PRId64 " frames in both\n", na);
		return 0;
	}
	rc = o.multiset ? pbcmp_multiset(&a, &b, &o) : pbcmp_sequence(&a, &b, &o);
	pbcmp_close(&a);
	pbcmp_close(&b);
	return rc;
usage:
	pbcmp_usage(stderr);
	return 2;
}
