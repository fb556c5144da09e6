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

/* Our reader must agree with libpcap (nanosecond precision) record by record. */
static void
compare_with_libpcap(uint32_t magic, int swap, int truncate_last)
{
	char path[] = "/tmp/pb-reader-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, magic, swap, 300, truncate_last);

	char err[256], ebuf[PCAP_ERRBUF_SIZE];
	struct pb_pcap_reader r;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 1);
	assert_int_equal(r.linktype, 1);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	assert_non_null(p);
	unsigned n = 0;
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *d;
		struct pb_pcap_packet pk;
		int lr = pcap_next_ex(p, &h, &d);
		int rr = pb_pcap_reader_next(&r, &pk, err, sizeof(err));
		if (lr != 1) {
			assert_int_equal(rr, lr == PCAP_ERROR_BREAK ? PB_PCAP_READER_EOF : PB_PCAP_READER_ERROR);
			break;
		}
		assert_int_equal(rr, PB_PCAP_READER_OK);
		assert_int_equal(pk.caplen, h->caplen);
		assert_int_equal(pk.origlen, h->len);
		assert_int_equal(pk.ts_ns, (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec);
		assert_memory_equal(pk.data, d, h->caplen);
		n++;
	}
	assert_int_equal(n, truncate_last ? 299 : 300);
	pb_pcap_reader_rewind(&r);
	struct pb_pcap_packet pk;
	assert_int_equal(pb_pcap_reader_next(&r, &pk, err, sizeof(err)), PB_PCAP_READER_OK);
	assert_int_equal(pk.ts_ns / 1000000000u, 1700000000u);
	pcap_close(p);
	pb_pcap_reader_close(&r);
	unlink(path);
}

static void test_usec_native(void **s) { compare_with_libpcap(0xa1b2c3d4u, 0, 0); }
static void test_nsec_native(void **s) { compare_with_libpcap(0xa1b23c4du, 0, 0); }
static void test_usec_swapped(void **s) { compare_with_libpcap(0xa1b2c3d4u, 1, 0); }
static void test_nsec_swapped_truncated(void **s) { compare_with_libpcap(0xa1b23c4du, 1, 1); }

static void
test_not_classic_pcap(void **state)
{
	char path[] = "/tmp/pb-reader-XXXXXX";
	int fd = mkstemp(path);
	/* pcapng section header block type */
	static const uint8_t shb[28] = { 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a };
	assert_int_equal(write(fd, shb, sizeof(shb)), (ssize_t)sizeof(shb));
	close(fd);
	char err[128];
	struct pb_pcap_reader r;
	assert_int_equal(pb_pcap_reader_open(&r, path, err, sizeof(err)), 0);
	pb_pcap_reader_close(&r); /* harmless on a reader that did not open */
	assert_int_equal(pb_pcap_reader_open(&r, "/nonexistent/x.pcap", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usec_native),
		cmocka_unit_test(test_nsec_native),
		cmocka_unit_test(test_usec_swapped),
		cmocka_unit_test(test_nsec_swapped_truncated),
		cmocka_unit_test(test_not_classic_pcap),
	};
	return cmocka_run_group_tests_name("pcap_reader", tests, NULL, NULL);
}
