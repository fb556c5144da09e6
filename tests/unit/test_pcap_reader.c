/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "pcap_reader.h"

/* Writes a classic pcap by hand: magic, byte order and precision vary. */
static void
put32(FILE *f, uint32_t v, int swap)
{
	if (swap)
		v = __builtin_bswap32(v);
	fwrite(&v, 4, 1, f);
}

static void
write_file(const char *path, uint32_t magic, int swap, unsigned n, int truncate_last)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	put32(f, magic, swap);
	uint16_t ver[2] = { 2, 4 };
	if (swap) {
		ver[0] = __builtin_bswap16(ver[0]);
		ver[1] = __builtin_bswap16(ver[1]);
	}
	fwrite(ver, 2, 2, f);
	put32(f, 0, swap);
	put32(f, 0, swap);
	put32(f, 65535, swap);
	put32(f, 1, swap); /* DLT_EN10MB */
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = 60 + i * 37 % 1400;
		put32(f, 1700000000 + i, swap);
		put32(f, magic == 0xa1b23c4du ? 123456789u - i : 123456u + i, swap);
		put32(f, len, swap);
		put32(f, len + (i & 1), swap);
		uint8_t buf[2048];
		for (uint32_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(i * 7 + k);
		fwrite(buf, 1, truncate_last && i == n - 1 ? len / 2 : len, f);
	}
	fclose(f);
}

/*
 * Reads r and p (nanosecond precision) to their end, record by record:
 * the same frames, the same end (EOF or error). With nifs, packet n must
 * come from interface n % nifs. Returns the number of frames.
 */
static unsigned
same_as_libpcap(struct pb_pcap_reader *r, pcap_t *p, uint32_t nifs)
{
	char err[256];
	for (unsigned n = 0;; n++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		struct pb_pcap_packet pk;
		int lr = pcap_next_ex(p, &h, &d);
		int rr = pb_pcap_reader_next(r, &pk, err, sizeof(err));
		if (lr != 1) {
			assert_int_equal(rr, lr == PCAP_ERROR_BREAK ? PB_PCAP_READER_EOF : PB_PCAP_READER_ERROR);
			return n;
		}
		assert_int_equal(rr, PB_PCAP_READER_OK);
		if (nifs)
			assert_int_equal(pk.ifindex, n % nifs);
		assert_int_equal(pk.caplen, h->caplen);
		assert_int_equal(pk.origlen, h->len);
		assert_int_equal(pk.ts_ns, (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec);
		assert_memory_equal(pk.data, d, h->caplen);
	}
}

/* A file of 300 records (write_file) at path, opened by r and by libpcap
 * (nanosecond precision). */
static pcap_t *
open_both(char *path, uint32_t magic, int swap, int truncate_last, struct pb_pcap_reader *r)
{
	char err[256], ebuf[PCAP_ERRBUF_SIZE];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, magic, swap, 300, truncate_last);
	assert_int_equal(pb_pcap_reader_open(r, path, err, sizeof(err)), 1);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	assert_non_null(p);
	return p;
}

/* Our reader must agree with libpcap (nanosecond precision) record by record. */
static void
compare_with_libpcap(uint32_t magic, int swap, int truncate_last)
{
	char path[] = "/tmp/pb-reader-XXXXXX", err[256];
	struct pb_pcap_reader r;
	pcap_t *p = open_both(path, magic, swap, truncate_last, &r);
	assert_int_equal(r.linktype, 1);
	unsigned n = same_as_libpcap(&r, p, 0);
	assert_int_equal(n, truncate_last ? 299 : 300);
	pb_pcap_reader_rewind(&r);
	struct pb_pcap_packet pk;
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_OK);
	assert_int_equal(pk.ts_ns / 1000000000u, 1700000000u);
	pcap_close(p);
	pb_pcap_reader_close(&r);
	unlink(path);
}

/*
 * Runs (pb_pcap_reader_run, then pb_pcap_run_record) give what libpcap
 * gives, record by record, whatever the limits; a record a run cannot
 * take (too large, truncated, end of file) comes from pb_pcap_reader_next
 * as before. A byte-swapped file has no runs.
 */
static void
runs_vs_libpcap(uint32_t magic, int swap, int truncate_last, size_t max_bytes,
    uint32_t max_packets, uint32_t max_caplen)
{
	char path[] = "/tmp/pb-reader-XXXXXX", err[256];
	struct pb_pcap_reader r;
	pcap_t *p = open_both(path, magic, swap, truncate_last, &r);
	assert_int_equal(pb_pcap_reader_can_run(&r), !swap);
	unsigned n = 0, in_runs = 0, nruns = 0, single = 0;
	int end = 0;
	while (!end) {
		const uint8_t *start;
		size_t bytes;
		uint32_t k = pb_pcap_reader_run(&r, max_bytes, max_packets, max_caplen, &start,
		    &bytes);
		struct pcap_pkthdr *h;
		const u_char *d;
		if (k > 0) {
			assert_true(k <= max_packets);
			assert_true(k == 1 || bytes <= max_bytes);
			assert_ptr_equal(start, pb_pcap_reader_at(&r, r.off - bytes));
			const uint8_t *q = start;
			for (uint32_t j = 0; j < k; j++, n++) {
				struct pb_pcap_packet pk;
				q = pb_pcap_run_record(q, r.nsec, &pk);
				assert_int_equal(pcap_next_ex(p, &h, &d), 1);
				assert_true(pk.caplen <= max_caplen);
				assert_int_equal(pk.caplen, h->caplen);
				assert_int_equal(pk.origlen, h->len);
				assert_int_equal(pk.ts_ns, (uint64_t)h->ts.tv_sec * 1000000000u +
				    (uint64_t)h->ts.tv_usec);
				assert_memory_equal(pk.data, d, h->caplen);
			}
			assert_ptr_equal(q, start + bytes);
			in_runs += k;
			nruns++;
			continue;
		}
		/* Not for a run: one record the usual way, or the end. */
		struct pb_pcap_packet pk;
		int lr = pcap_next_ex(p, &h, &d);
		int rr = pb_pcap_reader_next(&r, &pk, err, sizeof(err));
		if (lr != 1) {
			assert_int_equal(rr, lr == PCAP_ERROR_BREAK ? PB_PCAP_READER_EOF : PB_PCAP_READER_ERROR);
			end = 1;
			break;
		}
		assert_int_equal(rr, PB_PCAP_READER_OK);
		assert_int_equal(pk.caplen, h->caplen);
		assert_memory_equal(pk.data, d, h->caplen);
		if (!swap)
			assert_true(pk.caplen > max_caplen);
		single++;
		n++;
	}
	assert_int_equal(n, truncate_last ? 299 : 300);
	if (swap) {
		assert_int_equal(in_runs, 0);
	} else {
		assert_true(in_runs > 0);
		assert_true(nruns > 1);
	}
	pcap_close(p);
	pb_pcap_reader_close(&r);
	unlink(path);
}

static void test_runs_usec(void **s) { runs_vs_libpcap(0xa1b2c3d4u, 0, 0, 65536, 1024, 65535); }
static void test_runs_nsec_truncated(void **s) { runs_vs_libpcap(0xa1b23c4du, 0, 1, 65536, 7, 65535); }
/* Frames are 60..1459 bytes: runs of one, and frames too large for a run. */
static void test_runs_small_limits(void **s) { runs_vs_libpcap(0xa1b23c4du, 0, 0, 100, 1024, 700); }
static void test_runs_swapped(void **s) { runs_vs_libpcap(0xa1b2c3d4u, 1, 0, 65536, 1024, 65535); }

static void test_usec_native(void **s) { compare_with_libpcap(0xa1b2c3d4u, 0, 0); }
static void test_nsec_native(void **s) { compare_with_libpcap(0xa1b23c4du, 0, 0); }
static void test_usec_swapped(void **s) { compare_with_libpcap(0xa1b2c3d4u, 1, 0); }
static void test_nsec_swapped_truncated(void **s) { compare_with_libpcap(0xa1b23c4du, 1, 1); }

static void
test_not_ours(void **state)
{
	char path[] = "/tmp/pb-reader-XXXXXX";
	int fd = mkstemp(path);
	static const char gif[32] = "GIF89a, not a capture at all...";
	assert_int_equal(write(fd, gif, sizeof(gif)), (ssize_t)sizeof(gif));
	close(fd);
	char err[128];
	struct pb_pcap_reader r;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 0);
	pb_pcap_reader_close(&r); /* harmless on a reader that did not open */
	assert_int_equal(pb_pcap_reader_open(&r, "/nonexistent/x.pcap", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	unlink(path);
}

/* ---- classic pcap through the read ring ----------------------------------- */

/* Record i of write_big: its length and byte k. Every 50th record has the
 * largest caplen a pcap record may have, so records cross the ring's end. */
#define BIG_N 2000u
#define BIG_MAX 262144u

static uint32_t
big_len(unsigned i)
{
	return i % 50 == 0 ? BIG_MAX - i % 7 : 60 + i * 37 % 1400;
}

static uint8_t
big_byte(unsigned i, uint32_t k)
{
	return (uint8_t)(i * 7 + k + (k >> 8));
}

/* ~12 MiB: three times the ring. */
static void
write_big(char *path)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "wb");
	assert_non_null(f);
	uint32_t hdr[6] = { 0xa1b23c4du, 2u | 4u << 16, 0, 0, BIG_MAX, 1 };
	fwrite(hdr, sizeof(hdr), 1, f);
	static uint8_t buf[BIG_MAX];
	for (unsigned i = 0; i < BIG_N; i++) {
		uint32_t len = big_len(i), rh[4] = { 1700000000u + i, i, len, len };
		for (uint32_t k = 0; k < len; k++)
			buf[k] = big_byte(i, k);
		fwrite(rh, sizeof(rh), 1, f);
		fwrite(buf, 1, len, f);
	}
	fclose(f);
}

/* Frame i as write_big wrote it. */
static bool
big_ok(const struct pb_pcap_packet *pk, unsigned i)
{
	if (pk->caplen != big_len(i) || pk->ts_ns != (1700000000u + (uint64_t)i) * 1000000000u + i)
		return false;
	for (uint32_t k = 0; k < pk->caplen; k++)
		if (pk->data[k] != big_byte(i, k))
			return false;
	return true;
}

/* The consumer of test_ring_held: the runs it still holds, oldest first. */
#define HOLD 256
#define HOLD_BYTES (5u << 19) /* 2.5 MiB */
struct holder {
	const uint8_t *start[HOLD];
	size_t off[HOLD], bytes[HOLD];
	unsigned first[HOLD], k[HOLD];
	unsigned n, checked;
	size_t fixed; /* held_from's answer when not 0 */
};

static size_t
holder_from(void *arg)
{
	struct holder *h = arg;
	return h->fixed ? h->fixed : h->n ? h->off[0] : SIZE_MAX;
}

/* The oldest held run is let go: its bytes must still be the file's. */
static void
holder_release(struct holder *h, int nsec)
{
	const uint8_t *q = h->start[0];
	for (unsigned j = 0; j < h->k[0]; j++) {
		struct pb_pcap_packet pk;
		q = pb_pcap_run_record(q, nsec, &pk);
		assert_true(big_ok(&pk, h->first[0] + j));
		h->checked++;
	}
	assert_ptr_equal(q, h->start[0] + h->bytes[0]);
	h->n--;
	memmove(h->start, h->start + 1, h->n * sizeof(h->start[0]));
	memmove(h->off, h->off + 1, h->n * sizeof(h->off[0]));
	memmove(h->bytes, h->bytes + 1, h->n * sizeof(h->bytes[0]));
	memmove(h->first, h->first + 1, h->n * sizeof(h->first[0]));
	memmove(h->k, h->k + 1, h->n * sizeof(h->k[0]));
}

/* Runs held by reference (the last 2.5 MiB of them, more than the 1 MiB
 * the ring keeps without held_from) stay intact while the ring reads
 * ahead, and the whole file comes, by runs and one by one across the
 * ring's end. (test_ring_window_full shows that held_from is obeyed.) */
static void
test_ring_held(void **state)
{
	(void)state;
	char path[] = "/tmp/pb-reader-XXXXXX", err[256];
	struct pb_pcap_reader r;
	struct holder h = { .n = 0 };
	unsigned i = 0, single = 0;

	write_big(path);
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	assert_non_null(r.ring);
	r.held_from = holder_from;
	r.held_arg = &h;
	while (i < BIG_N) {
		const uint8_t *start;
		size_t bytes, at = r.off;
		uint32_t k = pb_pcap_reader_run(&r, 65536, 1024, BIG_MAX - 3, &start, &bytes);
		if (k == 0) {
			struct pb_pcap_packet pk;
			assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_OK);
			assert_true(big_ok(&pk, i));
			i++;
			single++;
			continue;
		}
		/* What is held spans from the oldest run to this one's end. */
		while (h.n == HOLD || (h.n && at + bytes - h.off[0] > HOLD_BYTES))
			holder_release(&h, r.nsec);
		h.start[h.n] = start;
		h.off[h.n] = at;
		h.bytes[h.n] = bytes;
		h.first[h.n] = i;
		h.k[h.n] = k;
		h.n++;
		i += k;
	}
	while (h.n)
		holder_release(&h, r.nsec);
	struct pb_pcap_packet pk;
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_EOF);
	assert_int_equal(h.checked + single, BIG_N);
	assert_true(single > 0); /* the largest records, beyond max_caplen */
	assert_true(h.checked > BIG_N / 2);
	pb_pcap_reader_close(&r);
	unlink(path);
}

/* A caller that holds everything from the start: the ring refuses to read
 * over it and says so, after delivering what fits. */
static void
test_ring_window_full(void **state)
{
	(void)state;
	char path[] = "/tmp/pb-reader-XXXXXX", err[256] = "";
	struct pb_pcap_reader r;
	struct holder h = { .fixed = 24 };
	struct pb_pcap_packet pk;
	unsigned i = 0;
	int rc;

	write_big(path);
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	r.held_from = holder_from;
	r.held_arg = &h;
	while ((rc = pb_pcap_reader_next(&r, &pk, err, sizeof(err))) == PB_PCAP_READER_OK)
		assert_true(big_ok(&pk, i++));
	assert_int_equal(rc, PB_PCAP_READER_ERROR);
	assert_non_null(strstr(err, "read window"));
	assert_true(r.off <= 24 + (4u << 20) && r.off > (3u << 20));
	assert_true(i > 10 && i < BIG_N);
	pb_pcap_reader_close(&r);
	unlink(path);
}

/* Cut after open: what was read before still comes, then a truncation
 * that says the file shrank; nothing past the new end. */
static void
test_ring_shrinks(void **state)
{
	(void)state;
	char path[] = "/tmp/pb-reader-XXXXXX", err[256] = "";
	struct pb_pcap_reader r;
	struct pb_pcap_packet pk;
	unsigned i = 0;
	int rc;

	write_big(path);
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_OK);
	assert_true(big_ok(&pk, i++));
	/* Half-way, inside a record. */
	assert_int_equal(truncate(path, (off_t)(r.len / 2)), 0);
	while ((rc = pb_pcap_reader_next(&r, &pk, err, sizeof(err))) == PB_PCAP_READER_OK) {
		assert_true(big_ok(&pk, i++));
		assert_true(r.off <= r.len / 2);
	}
	assert_int_equal(rc, PB_PCAP_READER_ERROR);
	assert_non_null(strstr(err, "shrank"));
	assert_true(i > 1);
	pb_pcap_reader_close(&r);
	unlink(path);
}

/* ---- pcapng ------------------------------------------------------------- */

struct ng {
	uint8_t buf[1 << 16];
	size_t len;
	int swap;
};

static void
ng_raw(struct ng *g, const void *p, size_t n)
{
	assert_true(g->len + n <= sizeof(g->buf));
	if (n)
		memcpy(g->buf + g->len, p, n);
	g->len += n;
}

static void
ng32(struct ng *g, uint32_t v)
{
	if (g->swap)
		v = __builtin_bswap32(v);
	ng_raw(g, &v, 4);
}

static void
ng16(struct ng *g, uint16_t v)
{
	if (g->swap)
		v = __builtin_bswap16(v);
	ng_raw(g, &v, 2);
}

/* Opens a block: returns its start; ng_end writes both lengths. */
static size_t
ng_begin(struct ng *g, uint32_t type)
{
	size_t at = g->len;
	ng32(g, type);
	ng32(g, 0);
	return at;
}

static void
ng_pad(struct ng *g)
{
	static const uint8_t zero[4];
	ng_raw(g, zero, (4 - g->len % 4) % 4);
}

static void
ng_end(struct ng *g, size_t at)
{
	ng_pad(g);
	uint32_t n = (uint32_t)(g->len - at + 4);
	ng32(g, n);
	if (g->swap)
		n = __builtin_bswap32(n);
	memcpy(g->buf + at + 4, &n, 4);
}

static void
ng_opt(struct ng *g, uint16_t code, const void *v, uint16_t len)
{
	ng16(g, code);
	ng16(g, len);
	ng_raw(g, v, len);
	ng_pad(g);
}

static void
ng_shb(struct ng *g, int swap)
{
	g->swap = swap;
	size_t at = ng_begin(g, 0x0a0d0d0au);
	ng32(g, 0x1a2b3c4du);
	ng16(g, 1);
	ng16(g, 0);
	ng32(g, 0xffffffffu);
	ng32(g, 0xffffffffu);
	ng_end(g, at);
}

static void
ng_idb(struct ng *g, uint16_t lt, uint32_t snaplen, const char *name, int tsresol,
    int64_t tsoffset)
{
	size_t at = ng_begin(g, 1);
	ng16(g, lt);
	ng16(g, 0);
	ng32(g, snaplen);
	if (name)
		ng_opt(g, 2, name, (uint16_t)strlen(name));
	if (tsresol >= 0) {
		uint8_t b = (uint8_t)tsresol;
		ng_opt(g, 9, &b, 1);
	}
	if (tsoffset) {
		uint64_t v = (uint64_t)tsoffset;
		if (g->swap)
			v = __builtin_bswap64(v);
		ng_opt(g, 14, &v, 8);
	}
	ng_opt(g, 0, NULL, 0);
	ng_end(g, at);
}

static const uint8_t payload[200] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };

/* type 6 EPB, 2 obsolete packet block */
static void
ng_epb(struct ng *g, uint32_t type, uint32_t ifid, uint64_t ts, uint32_t caplen,
    uint32_t origlen)
{
	size_t at = ng_begin(g, type);
	if (type == 2) {
		ng16(g, (uint16_t)ifid);
		ng16(g, 0);
	} else {
		ng32(g, ifid);
	}
	ng32(g, (uint32_t)(ts >> 32));
	ng32(g, (uint32_t)ts);
	ng32(g, caplen);
	ng32(g, origlen);
	ng_raw(g, payload, caplen);
	ng_end(g, at);
}

static void
ng_spb(struct ng *g, uint32_t origlen, uint32_t stored)
{
	size_t at = ng_begin(g, 3);
	ng32(g, origlen);
	ng_raw(g, payload, stored);
	ng_end(g, at);
}

static void
ng_other(struct ng *g, uint32_t type)
{
	size_t at = ng_begin(g, type);
	ng32(g, 0x01020304u);
	ng_end(g, at);
}

static char *
ng_file(const struct ng *g)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/pb-reader-ng-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, g->buf, g->len), (ssize_t)g->len);
	close(fd);
	return path;
}

static void
expect(struct pb_pcap_reader *r, uint32_t ifindex, uint64_t ts, uint32_t caplen,
    uint32_t origlen, int swapped)
{
	char err[256];
	struct pb_pcap_packet pk;
	int rc = pb_pcap_reader_next(r, &pk, err, sizeof(err));
	if (rc != PB_PCAP_READER_OK)
		fail_msg("next: %d %s", rc, rc < 0 ? err : "");
	assert_int_equal(pk.ifindex, ifindex);
	assert_int_equal(pk.ts_ns, ts);
	assert_int_equal(pk.caplen, caplen);
	assert_int_equal(pk.origlen, origlen);
	assert_int_equal(pk.swapped, swapped);
	assert_memory_equal(pk.data, payload, caplen);
}

/* Two sections in both byte orders, five interfaces of four link types,
 * every packet block kind, timestamp resolutions and offsets, blocks to
 * skip, an interface described after packets of others. */
static void
test_pcapng_sections(void **state)
{
	struct ng *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	ng_shb(g, 0);
	ng_idb(g, 1, 64, "eth", -1, 0);        /* microseconds */
	ng_idb(g, 101, 0, "raw", 9, 0);        /* nanoseconds */
	ng_other(g, 4);                        /* name resolution block */
	ng_spb(g, 100, 64);                    /* interface 0, cut by its snaplen */
	ng_epb(g, 6, 1, 1700000000123456789ull, 40, 40);
	ng_idb(g, 113, 0, NULL, 0x80 | 10, 5); /* 1/1024 s, +5 s */
	ng_epb(g, 2, 2, 3ull * 1024 + 512, 30, 90);
	ng_other(g, 5);                        /* statistics */
	ng_epb(g, 6, 0, 1700000000000001ull, 20, 20);
	ng_shb(g, 1);
	ng_idb(g, 239, 0, "nflog", 9, 0);
	ng_idb(g, 276, 0, "sll2", 6, -10);
	ng_epb(g, 6, 1, 20000000ull, 50, 60);
	ng_epb(g, 6, 0, 7, 10, 10);
	ng_spb(g, 3, 3);
	char *path = ng_file(g);

	char err[256];
	struct pb_pcap_reader r;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	assert_true(r.ng);
	assert_int_equal(r.linktype, 1);
	assert_int_equal(r.nifs, 2); /* those before the first packet */
	expect(&r, 0, 0, 64, 100, 0);
	expect(&r, 1, 1700000000123456789ull, 40, 40, 0);
	expect(&r, 2, 8500000000ull, 30, 90, 0);
	assert_int_equal(r.nifs, 3);
	assert_int_equal(r.ifs[2].linktype, 113);
	assert_string_equal(r.ifs[2].name, "");
	expect(&r, 0, 1700000000000001000ull, 20, 20, 0);
	expect(&r, 4, 10000000000ull, 50, 60, 1); /* 20 s - 10 s */
	expect(&r, 3, 7, 10, 10, 1);
	expect(&r, 3, 0, 3, 3, 1);
	assert_int_equal(r.nifs, 5);
	assert_int_equal(r.ifs[3].linktype, 239);
	assert_string_equal(r.ifs[3].name, "nflog");
	assert_int_equal(r.ifs[4].linktype, 276);
	struct pb_pcap_packet pk;
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_EOF);
	pb_pcap_reader_close(&r);
	unlink(path);
	free(g);
}

/* One link type, both byte orders: the same frames as libpcap reads. */
static void
ng_vs_libpcap(int swap)
{
	struct ng *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	ng_shb(g, swap);
	ng_idb(g, 105, 0, "wlan", 9, 0);
	ng_idb(g, 105, 0, "wlan2", -1, 0);
	for (uint32_t i = 0; i < 100; i++)
		ng_epb(g, 6, i % 2, 1700000000ull * (i % 2 ? 1000000u : 1000000000u) + i * 1001,
		    i % 150 + 1, i % 150 + 1 + i % 3);
	char *path = ng_file(g);
	char err[256], ebuf[PCAP_ERRBUF_SIZE];
	struct pb_pcap_reader r;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	assert_non_null(p);
	assert_int_equal(pcap_datalink(p), 105);
	assert_int_equal(same_as_libpcap(&r, p, 2), 100);
	pcap_close(p);
	pb_pcap_reader_close(&r);
	unlink(path);
	free(g);
}

static void test_pcapng_native_vs_libpcap(void **state) { ng_vs_libpcap(0); }
static void test_pcapng_swapped_vs_libpcap(void **state) { ng_vs_libpcap(1); }

/* g's file: one packet, then an error saying `why`. */
static void
one_then_error(const struct ng *g, const char *why)
{
	char err[256], *path = ng_file(g);
	struct pb_pcap_reader r;
	struct pb_pcap_packet pk;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_OK);
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_ERROR);
	assert_non_null(strstr(err, why));
	pb_pcap_reader_close(&r);
	unlink(path);
}

/* Broken files: a clear error, the packets before it delivered. */
static void
test_pcapng_broken(void **state)
{
	struct ng *g = calloc(1, sizeof(*g));
	char err[256];
	struct pb_pcap_reader r;
	assert_non_null(g);

	/* A packet before any interface. */
	ng_shb(g, 0);
	ng_epb(g, 6, 0, 1, 10, 10);
	char *path = ng_file(g);
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "interface 0, the section has 0"));
	unlink(path);

	/* Version 2: not ours to guess. */
	g->len = 0;
	ng_shb(g, 0);
	g->buf[12] = 2;
	path = ng_file(g);
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unsupported version 2.0"));
	unlink(path);

	/* A packet for an interface of another section; then a cut block. */
	g->len = 0;
	ng_shb(g, 0);
	ng_idb(g, 1, 0, NULL, -1, 0);
	ng_idb(g, 1, 0, NULL, -1, 0);
	ng_epb(g, 6, 1, 1, 10, 10);
	ng_shb(g, 1);
	ng_idb(g, 1, 0, NULL, -1, 0);
	ng_epb(g, 6, 1, 1, 10, 10);
	one_then_error(g, "interface 1, the section has 1");
	g->len -= 7;
	one_then_error(g, "truncated block");
	free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_usec),
		cmocka_unit_test(test_runs_nsec_truncated),
		cmocka_unit_test(test_runs_small_limits),
		cmocka_unit_test(test_runs_swapped),
		cmocka_unit_test(test_usec_native),
		cmocka_unit_test(test_nsec_native),
		cmocka_unit_test(test_usec_swapped),
		cmocka_unit_test(test_nsec_swapped_truncated),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_ring_held),
		cmocka_unit_test(test_ring_window_full),
		cmocka_unit_test(test_ring_shrinks),
		cmocka_unit_test(test_pcapng_sections),
		cmocka_unit_test(test_pcapng_native_vs_libpcap),
		cmocka_unit_test(test_pcapng_swapped_vs_libpcap),
		cmocka_unit_test(test_pcapng_broken),
	};
	return cmocka_run_group_tests_name("pcap_reader", tests, NULL, NULL);
}
