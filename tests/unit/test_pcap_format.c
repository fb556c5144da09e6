/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "pcap_format.h"
#include "record.h"
#include "srcdir.h"
#include "trailer.h"

/*
 * Output is checked two independent ways: libpcap reads it back (every
 * byte, nanosecond timestamps), and a small block walker in this file
 * checks the pcapng structure (lengths at both ends, padding, options).
 */

#define BUF_CAP (4u << 20)

static uint8_t *buf;     /* formatted output */
static uint8_t *frames;  /* frame bytes, PB_FRAME_CAP + 128 */
static char tmpdir[64];

static uint64_t
xs64(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *st = x;
}

static int
setup(void **state)
{
	uint64_t st = 0x1234567887654321ull;

	buf = malloc(BUF_CAP);
	frames = malloc(PB_FRAME_CAP + 128);
	if (!buf || !frames)
		return -1;
	for (size_t i = 0; i < PB_FRAME_CAP + 128; i++)
		frames[i] = (uint8_t)xs64(&st);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pbtest-pcapfmt-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/out", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	free(buf);
	free(frames);
	return 0;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void
mkrec(struct pb_record *rec, uint32_t caplen, unsigned i)
{
	memset(rec, 0, sizeof(*rec));
	rec->data = frames + (i * 7) % 64;
	rec->caplen = caplen;
	rec->origlen = caplen + (i % 3);
	/* Nanoseconds that a microsecond format would lose. */
	rec->ts_ns = 1700000000ull * 1000000000ull + i * 1000000007ull + 123456789u + i;
	rec->origin_epoch = 1000 + i;
	rec->origin_seq = i + 1;
	rec->origin_node = 1 + i % 3;
	rec->origin_source = (uint16_t)(i % 2);
	if (i % 4 == 3) { /* some came over a link */
		rec->link_node = 50 + i % 3;
		rec->link_epoch = 77;
		rec->link_seq = 1000000 + i;
	}
	rec->linktype = 1;
}

/* Writes buf[0..len) to a file and opens it with libpcap in ns precision. */
static pcap_t *
reopen_with_pcap(size_t len)
{
	char path[128], eb[PCAP_ERRBUF_SIZE];
	FILE *f;

	snprintf(path, sizeof(path), "%s/out", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
	if (!p)
		fail_msg("libpcap: %s", eb);
	return p;
}

static void
check_next(pcap_t *p, const struct pb_record *rec)
{
	struct pcap_pkthdr *h;
	const u_char *data;

	assert_int_equal(pcap_next_ex(p, &h, &data), 1);
	assert_int_equal(h->caplen, rec->caplen);
	assert_int_equal(h->len, rec->origlen);
	assert_int_equal((uint64_t)h->ts.tv_sec, rec->ts_ns / 1000000000u);
	assert_int_equal((uint64_t)h->ts.tv_usec, rec->ts_ns % 1000000000u);
	assert_memory_equal(data, rec->data, rec->caplen);
}

static const uint32_t odd_lens[] = { 65, 127, 255, 1499, 1500, 1501, 1514, 9017, 9018,
    9019, PB_JUMBO_FRAME + PB_QINQ_TAGS + 4 * PB_TRAILER_RESERVE, 65533, PB_FRAME_CAP };
#define NODD (sizeof(odd_lens) / sizeof(odd_lens[0]))

static uint32_t
len_at(unsigned i)
{
	return i < 64 ? i + 1 : odd_lens[i - 64];
}

static void
test_pcap_roundtrip(void **state)
{
	struct pb_record rec;
	size_t off, n;

	n = pb_pcap_file_header(buf, BUF_CAP, 1, PB_FRAME_CAP);
	assert_int_equal(n, PB_PCAP_FILE_HDR_LEN);
	assert_int_equal(get32(buf), 0xa1b23c4du);
	assert_int_equal(get16(buf + 4), 2);
	assert_int_equal(get16(buf + 6), 4);
	assert_int_equal(get32(buf + 16), PB_FRAME_CAP);
	assert_int_equal(get32(buf + 20), 1);
	off = n;
	for (unsigned i = 0; i < 64 + NODD; i++) {
		mkrec(&rec, len_at(i), i);
		n = pb_pcap_record(buf + off, BUF_CAP - off, &rec);
		assert_int_equal(n, PB_PCAP_REC_HDR_LEN + rec.caplen);
		off += n;
	}
	pcap_t *p = reopen_with_pcap(off);
	assert_int_equal(pcap_datalink(p), 1);
	assert_int_equal(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_NANO);
	for (unsigned i = 0; i < 64 + NODD; i++) {
		mkrec(&rec, len_at(i), i);
		check_next(p, &rec);
	}
	struct pcap_pkthdr *h;
	const u_char *d;
	assert_int_equal(pcap_next_ex(p, &h, &d), PCAP_ERROR_BREAK);
	pcap_close(p);
}

static void
test_pcap_fit(void **state)
{
	struct pb_record rec;

	for (size_t l = 0; l < PB_PCAP_FILE_HDR_LEN; l++)
		assert_int_equal(pb_pcap_file_header(buf, l, 1, 100), 0);
	mkrec(&rec, 33, 1);
	for (size_t l = 0; l < PB_PCAP_REC_HDR_LEN + 33; l++)
		assert_int_equal(pb_pcap_record(buf, l, &rec), 0);
	assert_int_equal(pb_pcap_record(buf, PB_PCAP_REC_HDR_LEN + 33, &rec), PB_PCAP_REC_HDR_LEN + 33);
	rec.caplen = PB_FRAME_CAP + 1;
	assert_int_equal(pb_pcap_record(buf, BUF_CAP, &rec), 0);
}

/* ---- pcapng walker ---- */

struct opt {
	uint16_t code, len;
	const uint8_t *val;
};

/* Parses an options list ending exactly at end; returns the count. */
static size_t
parse_opts(const uint8_t *p, const uint8_t *end, struct opt *o, size_t max)
{
	size_t n = 0;

	if (p == end)
		return 0; /* no options at all */
	while (p < end) {
		assert_true(end - p >= 4);
		uint16_t code = get16(p), len = get16(p + 2);
		size_t padded = (len + 3u) & ~3u;
		assert_true((size_t)(end - p) >= 4 + padded);
		for (size_t k = len; k < padded; k++)
			assert_int_equal(p[4 + k], 0);
		if (code == 0) {
			assert_int_equal(len, 0);
			assert_ptr_equal(p + 4, end); /* opt_endofopt is last */
			return n;
		}
		assert_true(n < max);
		o[n++] = (struct opt){ code, len, p + 4 };
		p += 4 + padded;
	}
	fail_msg("options without opt_endofopt");
	return n;
}

static const struct opt *
find_opt(const struct opt *o, size_t n, uint16_t code)
{
	for (size_t i = 0; i < n; i++)
		if (o[i].code == code)
			return &o[i];
	return NULL;
}

/* Checks framing of the block at p; returns its total length. */
static uint32_t
check_block(const uint8_t *p, size_t avail)
{
	assert_true(avail >= 12);
	uint32_t tl = get32(p + 4);
	assert_true(tl >= 12 && tl <= avail);
	assert_int_equal(tl % 4, 0);
	assert_int_equal(get32(p + tl - 4), tl);
	return tl;
}

static void
check_opt_str(const struct opt *o, size_t n, uint16_t code, const char *want)
{
	const struct opt *x = find_opt(o, n, code);
	if (!want) {
		assert_null(x);
		return;
	}
	assert_non_null(x);
	assert_int_equal(x->len, strlen(want));
	assert_memory_equal(x->val, want, x->len);
}

static void
test_shb(void **state)
{
	struct opt o[8];
	size_t n = pb_pcapng_shb(buf, BUF_CAP);

	assert_true(n > 0 && n <= PB_PCAPNG_SHB_MAX);
	assert_int_equal(check_block(buf, n), n);
	assert_int_equal(get32(buf), 0x0a0d0d0au);
	assert_int_equal(get32(buf + 8), 0x1a2b3c4du);
	assert_int_equal(get16(buf + 12), 1);
	assert_int_equal(get16(buf + 14), 0);
	for (int i = 16; i < 24; i++)
		assert_int_equal(buf[i], 0xff);
	size_t no = parse_opts(buf + 24, buf + n - 4, o, 8);
	assert_int_equal(no, 1);
	check_opt_str(o, no, 4, "packetbroker " PACKAGE_VERSION);
	for (size_t l = 0; l < n; l++)
		assert_int_equal(pb_pcapng_shb(buf, l), 0);
}

static struct pb_srcdir *
mkdir_src(void)
{
	struct pb_srcdir *d = pb_srcdir_new();
	struct pb_node_info ni = { .node_id = 1 };
	struct pb_source_info si = { .node_id = 1, .source_id = 0, .linktype = 1 };

	assert_non_null(d);
	snprintf(ni.name, sizeof(ni.name), "paris");
	snprintf(ni.description, sizeof(ni.description), "Paris DC rack 4");
	assert_int_equal(pb_srcdir_set_node(d, &ni), 0);
	ni.node_id = 2;
	snprintf(ni.name, sizeof(ni.name), "lyon");
	ni.description[0] = '\0';
	assert_int_equal(pb_srcdir_set_node(d, &ni), 0);
	snprintf(si.name, sizeof(si.name), "tap0");
	snprintf(si.description, sizeof(si.description), "uplink tap");
	assert_int_equal(pb_srcdir_set_source(d, &si), 0);
	si.node_id = 2;
	si.source_id = 1;
	snprintf(si.name, sizeof(si.name), "span1");
	si.description[0] = '\0';
	assert_int_equal(pb_srcdir_set_source(d, &si), 0);
	return d;
}

static void
check_idb(uint32_t node, uint16_t src, int fcslen, const struct pb_srcdir *d,
    const char *want_name, const char *want_desc)
{
	struct opt o[8];
	size_t n = pb_pcapng_idb(buf, BUF_CAP, node, src, 1, fcslen, d);

	assert_true(n > 0 && n <= PB_PCAPNG_IDB_MAX);
	assert_int_equal(check_block(buf, n), n);
	assert_int_equal(get32(buf), 1);
	assert_int_equal(get16(buf + 8), 1);
	assert_int_equal(get32(buf + 12), PB_FRAME_CAP);
	size_t no = parse_opts(buf + 16, buf + n - 4, o, 8);
	check_opt_str(o, no, 2, want_name);
	check_opt_str(o, no, 3, want_desc);
	const struct opt *ts = find_opt(o, no, 9);
	assert_non_null(ts);
	assert_int_equal(ts->len, 1);
	assert_int_equal(ts->val[0], 9);
	const struct opt *fcs = find_opt(o, no, 13);
	if (fcslen < 0) {
		assert_null(fcs);
	} else {
		assert_non_null(fcs);
		assert_int_equal(fcs->len, 1);
		assert_int_equal(fcs->val[0], fcslen);
	}
	for (size_t l = 0; l < n; l++)
		assert_int_equal(pb_pcapng_idb(buf, l, node, src, 1, fcslen, d), 0);
}

static void
test_idb(void **state)
{
	struct pb_srcdir *d = mkdir_src();
	struct pb_record rec;

	check_idb(1, 0, -1, d, "paris/tap0", "uplink tap (Paris DC rack 4)");
	check_idb(2, 1, 4, d, "lyon/span1", NULL);
	check_idb(1, 7, 0, d, "paris/src7", "Paris DC rack 4");
	check_idb(9, 0, -1, d, "node9/src0", NULL);
	check_idb(9, 0, -1, NULL, "node9/src0", NULL);

	/* Long names and descriptions still fit the advertised maximum. */
	struct pb_node_info ni = { .node_id = 5 };
	struct pb_source_info si = { .node_id = 5, .source_id = 5 };
	memset(ni.name, 'n', sizeof(ni.name) - 1);
	memset(ni.description, 'N', sizeof(ni.description) - 1);
	memset(si.name, 's', sizeof(si.name) - 1);
	memset(si.description, 'S', sizeof(si.description) - 1);
	assert_int_equal(pb_srcdir_set_node(d, &ni), 0);
	assert_int_equal(pb_srcdir_set_source(d, &si), 0);
	assert_true(pb_pcapng_idb(buf, PB_PCAPNG_IDB_MAX, 5, 5, 1, 4, d) > 0);

	mkrec(&rec, 60, 0);
	assert_int_equal(pb_pcapng_rec_fcslen(&rec), -1);
	rec.flags = PB_REC_FCS;
	assert_int_equal(pb_pcapng_rec_fcslen(&rec), 4);
	rec.linktype = 105; /* 802.11: no Ethernet FCS semantics */
	assert_int_equal(pb_pcapng_rec_fcslen(&rec), -1);
	pb_srcdir_free(d);
}

/* Reference rendering with snprintf, independent of the builder. */
static void
ref_comment(char *out, size_t len, const struct pb_record *rec, const char *oname,
    const char *sname, const char *const *hnames)
{
	int n = snprintf(out, len, "pb origin=%u(%s) source=%u(%s) epoch=%llu seq=%llu",
	    rec->origin_node, oname, rec->origin_source, sname,
	    (unsigned long long)rec->origin_epoch, (unsigned long long)rec->origin_seq);
	if (rec->link_node)
		n += snprintf(out + n, len - (size_t)n, " link=%u:%llu:%llu", rec->link_node,
		    (unsigned long long)rec->link_epoch, (unsigned long long)rec->link_seq);
	n += snprintf(out + n, len - (size_t)n, " hops=%u", rec->nhops);
	for (unsigned i = 0; i < rec->nhops; i++)
		n += snprintf(out + n, len - (size_t)n, " %u(%s):seq=%llu:ts=%llu.%09llu",
		    rec->hops[i].node_id, hnames[i], (unsigned long long)rec->hops[i].seq,
		    (unsigned long long)(rec->hops[i].ts_ns / 1000000000u),
		    (unsigned long long)(rec->hops[i].ts_ns % 1000000000u));
	char tr[2048];
	pb_trailers_format(rec, tr, sizeof(tr));
	snprintf(out + n, len - (size_t)n, " trailers=[%s]", tr);
}

static void
add_trailers(struct pb_record *rec)
{
	rec->ntrailers = 2;
	rec->trailers[0] = (struct pb_trailer_meta){ .type = PB_TRAILER_METAMAKO, .valid = 1,
	    .flags = 1, .device = 7, .port = 3, .len = 16, .ts_ns = 1700000000000000001ull };
	rec->trailers[1] = (struct pb_trailer_meta){ .type = PB_TRAILER_IXIA, .valid = 0,
	    .len = 19 };
}

static void
test_comment(void **state)
{
	struct pb_srcdir *d = mkdir_src();
	struct pb_record rec;
	char got[PB_PCAPNG_COMMENT_MAX], want[PB_PCAPNG_COMMENT_MAX];

	mkrec(&rec, 60, 0); /* node 1 source 0: both known */
	rec.origin_epoch = UINT64_MAX;
	rec.origin_seq = 0;
	size_t n = pb_pcapng_comment(got, sizeof(got), &rec, d);
	assert_int_equal(n, strlen(got));
	ref_comment(want, sizeof(want), &rec, "paris", "tap0", NULL);
	assert_string_equal(got, want);
	assert_string_equal(got, "pb origin=1(paris) source=0(tap0) epoch=18446744073709551615 "
	    "seq=0 hops=0 trailers=[]");

	/* Unknown names, hops (incl. a zero-padded nsec), trailers. */
	rec.origin_node = 42;
	rec.origin_source = 3;
	assert_int_equal(pb_record_add_hop(&rec, 2, 77, 1700000001000000042ull), 0);
	assert_int_equal(pb_record_add_hop(&rec, 99, 0, 5), 0);
	add_trailers(&rec);
	pb_pcapng_comment(got, sizeof(got), &rec, d);
	const char *hn[] = { "lyon", "" };
	ref_comment(want, sizeof(want), &rec, "", "", hn);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, " 2(lyon):seq=77:ts=1700000001.000000042 99():seq=0:ts=0.000000005 "));

	/* Without a directory every name is empty. */
	pb_pcapng_comment(got, sizeof(got), &rec, NULL);
	hn[0] = "";
	ref_comment(want, sizeof(want), &rec, "", "", hn);
	assert_string_equal(got, want);

	/* Received from an upstream link: the custody point follows seq=. */
	rec.link_node = UINT32_MAX;
	rec.link_epoch = 0;
	rec.link_seq = UINT64_MAX;
	pb_pcapng_comment(got, sizeof(got), &rec, NULL);
	ref_comment(want, sizeof(want), &rec, "", "", hn);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, " seq=0 link=4294967295:0:18446744073709551615 hops=2 "));
	rec.link_node = 0; /* local capture: no link= even with a link_seq */
	pb_pcapng_comment(got, sizeof(got), &rec, NULL);
	assert_null(strstr(got, "link="));

	/* Names with parentheses or control characters cannot break the line. */
	struct pb_node_info odd = { .node_id = 42 };
	snprintf(odd.name, sizeof(odd.name), "a) source=9(b\nc\x7f");
	assert_int_equal(pb_srcdir_set_node(d, &odd), 0);
	rec.nhops = 0;
	rec.ntrailers = 0;
	rec.link_node = 3;
	rec.link_epoch = 5;
	rec.link_seq = 4;
	pb_pcapng_comment(got, sizeof(got), &rec, d);
	assert_string_equal(got, "pb origin=42(a_ source=9_b_c_) source=3() "
	    "epoch=18446744073709551615 seq=0 link=3:5:4 hops=0 trailers=[]");
	rec.link_node = 0;

	/* Worst case: every hop with a 63-char name still fits, untruncated. */
	struct pb_node_info ni = { .node_id = 4000000000u };
	memset(ni.name, 'x', sizeof(ni.name) - 1);
	assert_int_equal(pb_srcdir_set_node(d, &ni), 0);
	rec.origin_node = ni.node_id;
	rec.link_node = 1;
	rec.link_epoch = UINT64_MAX;
	rec.link_seq = UINT64_MAX;
	rec.nhops = 0;
	const char *big[PB_MAX_HOPS];
	for (unsigned i = 0; i < PB_MAX_HOPS; i++) {
		assert_int_equal(pb_record_add_hop(&rec, ni.node_id, UINT64_MAX, UINT64_MAX), 0);
		big[i] = ni.name;
	}
	for (unsigned i = 0; i < PB_MAX_TRAILERS; i++)
		rec.trailers[i] = rec.trailers[0];
	rec.ntrailers = PB_MAX_TRAILERS;
	n = pb_pcapng_comment(got, sizeof(got), &rec, d);
	ref_comment(want, sizeof(want), &rec, ni.name, "", big);
	assert_string_equal(got, want);
	assert_true(n < sizeof(got) - 1);

	/* Truncation keeps a NUL and never overruns. */
	for (size_t l = 1; l < 80; l++) {
		memset(got, 'Z', sizeof(got));
		n = pb_pcapng_comment(got, l, &rec, d);
		assert_true(n < l);
		assert_int_equal(got[n], '\0');
		assert_int_equal(got[l], 'Z');
	}
	assert_int_equal(pb_pcapng_comment(got, 0, &rec, d), 0);
	pb_srcdir_free(d);
}

/* EPB framing for every data length 1..64, odd ones, and comment lengths. */
static void
test_epb_lengths(void **state)
{
	struct pb_record rec;
	struct opt o[4];
	char comment[16];

	memset(comment, 'c', sizeof(comment));
	for (unsigned i = 0; i < 64 + NODD; i++) {
		for (size_t clen = 0; clen <= 9; clen++) {
			mkrec(&rec, len_at(i), i);
			size_t want = 32 + ((rec.caplen + 3u) & ~3u) + (clen ? 8 + ((clen + 3) & ~3u) : 0);
			assert_int_equal(PB_PCAPNG_EPB_LEN(rec.caplen, clen), want);
			memset(buf, 0xee, want + 8);
			size_t n = pb_pcapng_epb_raw(buf, BUF_CAP, &rec, 3, comment, clen);
			assert_int_equal(n, want);
			assert_int_equal(buf[n], 0xee); /* nothing written past the block */
			assert_int_equal(check_block(buf, n), n);
			assert_int_equal(get32(buf), 6);
			assert_int_equal(get32(buf + 8), 3);
			uint64_t ts = (uint64_t)get32(buf + 12) << 32 | get32(buf + 16);
			assert_int_equal(ts, rec.ts_ns);
			assert_int_equal(get32(buf + 20), rec.caplen);
			assert_int_equal(get32(buf + 24), rec.origlen);
			assert_memory_equal(buf + 28, rec.data, rec.caplen);
			size_t dend = 28 + ((rec.caplen + 3u) & ~3u);
			for (size_t k = 28 + rec.caplen; k < dend; k++)
				assert_int_equal(buf[k], 0);
			size_t no = parse_opts(buf + dend, buf + n - 4, o, 4);
			if (clen) {
				assert_int_equal(no, 1);
				assert_int_equal(o[0].code, 1);
				assert_int_equal(o[0].len, clen);
				assert_memory_equal(o[0].val, comment, clen);
			} else {
				assert_int_equal(dend, n - 4);
			}
			/* The same bytes around a comment already in place. */
			static uint8_t around[BUF_CAP];
			memset(around, 0xee, want + 8);
			memcpy(around + PB_PCAPNG_EPB_COMMENT_OFF(rec.caplen), comment, clen);
			assert_int_equal(pb_pcapng_epb_around(around, BUF_CAP, &rec, 3, clen), n);
			assert_memory_equal(around, buf, n + 1);
			/* Any shorter buffer is refused. */
			if (i % 8 == 0 || i >= 64)
				for (size_t l = n - 8; l < n; l++) {
					assert_int_equal(pb_pcapng_epb_raw(buf, l, &rec, 3, comment, clen), 0);
					assert_int_equal(pb_pcapng_epb_around(around, l, &rec, 3, clen), 0);
				}
		}
	}
	mkrec(&rec, PB_FRAME_CAP + 1, 0);
	assert_int_equal(pb_pcapng_epb(buf, BUF_CAP, &rec, 0, NULL), 0);
	mkrec(&rec, PB_FRAME_CAP, 0);
	assert_true(pb_pcapng_epb(buf, BUF_CAP, &rec, 0, NULL) <= PB_PCAPNG_EPB_MAX);
}

/* A whole file: SHB, three IDBs appearing as sources show up, EPBs. */
static void
test_pcapng_roundtrip(void **state)
{
	struct pb_srcdir *d = mkdir_src();
	struct pb_record rec;
	uint64_t keys[8];
	unsigned nif = 0;
	size_t off, n;
	const unsigned nrec = 64 + NODD;

	off = pb_pcapng_shb(buf, BUF_CAP);
	for (unsigned i = 0; i < nrec; i++) {
		mkrec(&rec, len_at(i), i);
		if (i == nrec - 2) {
			/* Jumbo with trailers and an FCS. */
			rec.caplen = PB_JUMBO_FRAME + 2 * 16;
			rec.origlen = rec.caplen;
			rec.flags = PB_REC_FCS;
			add_trailers(&rec);
		}
		uint64_t key = (uint64_t)rec.origin_node << 16 | rec.origin_source;
		unsigned id;
		for (id = 0; id < nif && keys[id] != key; id++)
			;
		if (id == nif) {
			keys[nif++] = key;
			n = pb_pcapng_idb(buf + off, BUF_CAP - off, rec.origin_node,
			    rec.origin_source, rec.linktype, -1, d);
			assert_true(n > 0);
			off += n;
		}
		n = pb_pcapng_epb(buf + off, BUF_CAP - off, &rec, id, d);
		assert_true(n > 0);
		off += n;
	}
	assert_int_equal(nif, 6);

	/* Walk: block order, ids and comments. */
	char want[PB_PCAPNG_COMMENT_MAX];
	struct opt o[4];
	size_t p = 0;
	unsigned shb = 0, idb = 0, epb = 0;
	while (p < off) {
		uint32_t tl = check_block(buf + p, off - p), bt = get32(buf + p);
		if (bt == 0x0a0d0d0au) {
			shb++;
		} else if (bt == 1) {
			idb++;
		} else {
			assert_int_equal(bt, 6);
			mkrec(&rec, len_at(epb), epb);
			if (epb == nrec - 2) {
				rec.caplen = PB_JUMBO_FRAME + 2 * 16;
				add_trailers(&rec);
			}
			assert_true(get32(buf + p + 8) < idb);
			size_t dend = 28 + ((get32(buf + p + 20) + 3u) & ~3u);
			assert_int_equal(parse_opts(buf + p + dend, buf + p + tl - 4, o, 4), 1);
			pb_pcapng_comment(want, sizeof(want), &rec, d);
			assert_int_equal(o[0].len, strlen(want));
			assert_memory_equal(o[0].val, want, o[0].len);
			epb++;
		}
		p += tl;
	}
	assert_int_equal(p, off);
	assert_int_equal(shb, 1);
	assert_int_equal(idb, 6);
	assert_int_equal(epb, nrec);

	pcap_t *pc = reopen_with_pcap(off);
	assert_int_equal(pcap_datalink(pc), 1);
	for (unsigned i = 0; i < nrec; i++) {
		mkrec(&rec, len_at(i), i);
		if (i == nrec - 2) {
			rec.caplen = PB_JUMBO_FRAME + 2 * 16;
			rec.origlen = rec.caplen;
		}
		check_next(pc, &rec);
	}
	struct pcap_pkthdr *h;
	const u_char *dd;
	assert_int_equal(pcap_next_ex(pc, &h, &dd), PCAP_ERROR_BREAK);
	pcap_close(pc);
	pb_srcdir_free(d);
}

/* Hop nodes are described once per file, in the section header comment. */
static void
test_shb_nodes_comment(void **state)
{
	struct pb_srcdir *d = pb_srcdir_new();
	struct pb_node_info a = { .node_id = 1, .name = "edge-ny4", .description = "NY4 edge, rack 12" };
	struct pb_node_info b = { .node_id = 7, .name = "relay-hk" };
	pb_srcdir_set_node(d, &a);
	pb_srcdir_set_node(d, &b);
	char c[256];
	size_t n = pb_pcapng_nodes_comment(c, sizeof(c), d);
	assert_string_equal(c, "nodes: 1 edge-ny4 (NY4 edge, rack 12); 7 relay-hk");
	assert_int_equal(n, strlen(c));
	/* Too small: whole entries only. */
	pb_pcapng_nodes_comment(c, 40, d);
	assert_string_equal(c, "nodes: 1 edge-ny4 (NY4 edge, rack 12)");

	uint8_t shb[512];
	n = pb_pcapng_nodes_comment(c, sizeof(c), d);
	size_t len = pb_pcapng_shb_comment(shb, sizeof(shb), c);
	assert_true(len > 0 && len % 4 == 0);
	/* Block length at both ends, and the comment text inside. */
	uint32_t l1, l2;
	memcpy(&l1, shb + 4, 4);
	memcpy(&l2, shb + len - 4, 4);
	assert_int_equal(l1, len);
	assert_int_equal(l2, len);
	assert_non_null(memmem(shb, len, c, n));
	assert_int_equal(pb_pcapng_shb_comment(shb, len - 1, c), 0);
	pb_srcdir_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shb_nodes_comment),
		cmocka_unit_test(test_pcap_roundtrip),
		cmocka_unit_test(test_pcap_fit),
		cmocka_unit_test(test_shb),
		cmocka_unit_test(test_idb),
		cmocka_unit_test(test_comment),
		cmocka_unit_test(test_epb_lengths),
		cmocka_unit_test(test_pcapng_roundtrip),
	};

	return cmocka_run_group_tests_name("pcap_format", tests, setup, teardown);
}
