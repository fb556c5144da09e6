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

#include "config.h"
#include "config_test.h"
#include "linktype.h"

/*
 * The DLT <-> LINKTYPE table and the pseudo-header swapping, checked
 * against libpcap itself: the link type it writes into a file header for
 * a DLT, the DLT it reports for a file's link type, and the bytes it hands
 * out for a frame of a file written in the other byte order.
 */

#define MAX_TYPE 300

static char *
tmp_path(void)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/pb-linktype-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

/* What libpcap writes for dlt: the LINKTYPE, or -1 when it refuses. */
static int
libpcap_linktype_of(int dlt, const char *path)
{
	pcap_t *p = pcap_open_dead(dlt, 65535);
	assert_non_null(p);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	if (!d) {
		pcap_close(p);
		return -1;
	}
	pcap_dump_close(d);
	pcap_close(p);
	FILE *f = fopen(path, "rb");
	uint32_t hdr[6];
	assert_non_null(f);
	assert_int_equal(fread(hdr, sizeof(hdr), 1, f), 1);
	fclose(f);
	return (int)(hdr[5] & 0x03ffffffu);
}

static void
test_from_dlt_as_libpcap(void **state)
{
	char *path = tmp_path();
	for (int dlt = 0; dlt <= MAX_TYPE; dlt++) {
		int want = libpcap_linktype_of(dlt, path);
		if (pb_linktype_from_dlt(dlt) != want)
			fail_msg("DLT %d: ours %d, libpcap %d", dlt, pb_linktype_from_dlt(dlt), want);
	}
	unlink(path);
	/* The ones that differ on Linux, by name. */
	assert_int_equal(pb_linktype_from_dlt(DLT_RAW), 101);
	assert_int_equal(pb_linktype_from_dlt(DLT_ATM_RFC1483), 100);
	assert_int_equal(pb_linktype_from_dlt(DLT_ATM_CLIP), 106);
	assert_int_equal(pb_linktype_from_dlt(DLT_LINUX_SLL2), 276);
	assert_int_equal(pb_linktype_from_dlt(DLT_EN10MB), 1);
}

static void
write_pcap_header(const char *path, uint32_t linktype, int swap)
{
	uint32_t h[6] = { 0xa1b2c3d4u, 2u | 4u << 16, 0, 0, 65535, linktype };
	if (swap) {
		for (int i = 0; i < 6; i++)
			h[i] = __builtin_bswap32(h[i]);
		/* version: two 16-bit fields */
		h[1] = (uint32_t)__builtin_bswap16(2) | (uint32_t)__builtin_bswap16(4) << 16;
	}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(h, sizeof(h), 1, f), 1);
	fclose(f);
}

static void
test_to_dlt_as_libpcap(void **state)
{
	char *path = tmp_path(), ebuf[PCAP_ERRBUF_SIZE];
	int checked = 0;
	for (int lt = 0; lt <= MAX_TYPE; lt++) {
		write_pcap_header(path, (uint32_t)lt, 0);
		pcap_t *p = pcap_open_offline(path, ebuf);
		if (!p)
			continue; /* libpcap has no DLT for it either */
		if (pb_linktype_to_dlt(lt) != pcap_datalink(p))
			fail_msg("LINKTYPE %d: ours %d, libpcap %d", lt, pb_linktype_to_dlt(lt),
			    pcap_datalink(p));
		/* And back, where the registry has the type; 11, 12, 15, 16 and
		 * 19 are this platform's DLTs of registry types 100..106, not
		 * registry numbers: libpcap reads a file that has them as
		 * those DLTs. */
		int back = pb_linktype_from_dlt(pcap_datalink(p));
		int platform = lt == 11 || lt == 12 || lt == 15 || lt == 16 || lt == 19;
		if (back >= 0 && !platform && back != lt)
			fail_msg("LINKTYPE %d -> DLT %d -> %d", lt, pcap_datalink(p), back);
		pcap_close(p);
		checked++;
	}
	unlink(path);
	assert_true(checked > 200);
	assert_int_equal(pb_linktype_to_dlt(101), DLT_RAW);
	assert_int_equal(pb_linktype_to_dlt(106), DLT_ATM_CLIP);
	assert_string_equal(pb_linktype_name(101), "RAW");
	assert_string_equal(pb_linktype_name(276), "LINUX_SLL2");
}

/* ---- pseudo-headers: our swap against libpcap's reading ------------------ */

static void
be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

static void
be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

/* A frame of lt as a big-endian host writes it; returns its length. */
static uint32_t
make_frame(int lt, int variant, uint8_t *f, size_t cap)
{
	memset(f, 0, cap);
	for (size_t i = 0; i < cap; i++)
		f[i] = (uint8_t)(i * 7 + 3);
	switch (lt) {
	case PB_LINKTYPE_LINUX_SLL:
		be16(f + 14, variant ? 0x000c : 0x0800); /* CAN, or IPv4 (untouched) */
		be32(f + 16, 0x12345678);
		return 40;
	case PB_LINKTYPE_USB_LINUX:
	case PB_LINKTYPE_USB_LINUX_MMAPPED: {
		be64(f, 0x1122334455667788ull);
		f[8] = 'S';
		f[9] = variant ? 0 : 2; /* isochronous, or control */
		be16(f + 12, 3);
		be64(f + 16, 1700000000);
		be32(f + 24, 123456);
		be32(f + 28, 0xfffffffeu);
		be32(f + 32, 100);
		be32(f + 36, 100);
		be32(f + 40, 1);
		be32(f + 44, 2);
		if (lt == PB_LINKTYPE_USB_LINUX)
			return 60;
		be32(f + 48, 8);
		be32(f + 52, 9);
		be32(f + 56, 0x200);
		be32(f + 60, 2); /* ndesc */
		for (int d = 0; d < 2; d++) {
			be32(f + 64 + 16 * d, (uint32_t)d);
			be32(f + 68 + 16 * d, 100u * (uint32_t)d);
			be32(f + 72 + 16 * d, 50);
		}
		return 110;
	}
	case PB_LINKTYPE_NFLOG: {
		f[0] = 2;
		f[1] = 0;
		be16(f + 2, 7);
		be16(f + 4, 8); /* TLV: length, type (host order of the writer) */
		be16(f + 6, 1);
		be16(f + 12, 30);
		be16(f + 14, 9);
		be16(f + 44, 5);
		be16(f + 46, 10);
		return 52;
	}
	default:
		return 32;
	}
}

/* Every cut of the frame (caplen 0..len, origlen len): libpcap reading a
 * big-endian file and our swap of the same bytes agree. */
static void
swap_case(int lt, int variant)
{
	char *path = tmp_path(), ebuf[PCAP_ERRBUF_SIZE];
	uint8_t frame[160];
	uint32_t len = make_frame(lt, variant, frame, sizeof(frame));

	write_pcap_header(path, (uint32_t)lt, 1);
	FILE *f = fopen(path, "ab");
	assert_non_null(f);
	for (uint32_t cap = 0; cap <= len; cap++) {
		uint32_t rh[4] = { __builtin_bswap32(1700000000u), 0, __builtin_bswap32(cap),
			__builtin_bswap32(len + 1000) };
		assert_int_equal(fwrite(rh, sizeof(rh), 1, f), 1);
		assert_int_equal(fwrite(frame, 1, cap, f), cap);
	}
	fclose(f);
	pcap_t *p = pcap_open_offline(path, ebuf);
	assert_non_null(p);
	assert_true(pb_linktype_has_host_order_fields(lt));
	for (uint32_t cap = 0; cap <= len; cap++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		assert_int_equal(pcap_next_ex(p, &h, &d), 1);
		assert_int_equal(h->caplen, cap);
		uint8_t ours[160];
		memcpy(ours, frame, cap);
		pb_linktype_swap_pseudo(lt, ours, cap, len + 1000);
		if (cap && memcmp(ours, d, cap) != 0)
			fail_msg("link type %d variant %d caplen %u: our swap differs from libpcap's",
			    lt, variant, cap);
	}
	pcap_close(p);
	unlink(path);
}

static void test_swap_sll_can(void **state) { swap_case(PB_LINKTYPE_LINUX_SLL, 1); }
static void test_swap_sll_ip(void **state) { swap_case(PB_LINKTYPE_LINUX_SLL, 0); }
static void test_swap_usb(void **state) { swap_case(PB_LINKTYPE_USB_LINUX, 0); }
static void test_swap_usb_iso(void **state) { swap_case(PB_LINKTYPE_USB_LINUX, 1); }
static void test_swap_usb_mmapped(void **state) { swap_case(PB_LINKTYPE_USB_LINUX_MMAPPED, 0); }
static void test_swap_usb_mmapped_iso(void **state) { swap_case(PB_LINKTYPE_USB_LINUX_MMAPPED, 1); }
static void test_swap_nflog(void **state) { swap_case(PB_LINKTYPE_NFLOG, 0); }

static void
test_no_swap_elsewhere(void **state)
{
	uint8_t f[64], g[64];
	for (size_t i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)i;
	memcpy(g, f, sizeof(f));
	int types[] = { 0, 1, 101, 105, 127, 228, 229, 276 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_false(pb_linktype_has_host_order_fields(types[i]));
		pb_linktype_swap_pseudo(types[i], g, sizeof(g), sizeof(g));
		assert_memory_equal(f, g, sizeof(f));
	}
}

/* captures.linktype: a libpcap name or a LINKTYPE number, live only. */
static void
test_config_key(void **state)
{
	static const struct {
		const char *value;
		uint16_t linktype;
	} good[] = {
		{ "\"LINUX_SLL2\"", 276 }, { "\"linux_sll\"", 113 }, { "\"RAW\"", 101 },
		{ "\"EN10MB\"", 1 }, { "101", 101 }, { "0", 0 }, { "65535", 65535 },
	};
	struct pb_config cfg;
	char buf[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "node = { id = 1; };\ncaptures = ( { name = \"a\"; "
		    "interface = \"any\"; linktype = %s; } );\n", good[i].value);
		if (load_str(buf, &cfg) != 0) {
			dump_reports();
			fail_msg("linktype = %s refused", good[i].value);
		}
		assert_true(cfg.captures[0].has_linktype);
		assert_int_equal(cfg.captures[0].linktype, good[i].linktype);
		pb_config_free(&cfg);
	}
	assert_int_equal(load_str("node = { id = 1; };\ncaptures = ( { name = \"a\"; "
	    "interface = \"any\"; } );\n", &cfg), 0);
	assert_false(cfg.captures[0].has_linktype);
	pb_config_free(&cfg);
	assert_int_equal(load_str("node = { id = 1; };\ncaptures = (\n"
	    "{ name = \"a\"; interface = \"any\"; linktype = \"nosuch\"; },\n"
	    "{ name = \"b\"; interface = \"any\"; linktype = 65536; },\n"
	    "{ name = \"c\"; interface = \"any\"; linktype = true; },\n"
	    "{ name = \"d\"; file = \"/dev/null\"; linktype = 1; } );\n", &cfg), 4);
	expect_report(3, "captures[0].linktype: unknown link type \"nosuch\"");
	expect_report(4, "captures[1].linktype: link type 65536 outside 0..65535");
	expect_report(5, "captures[2].linktype: expected a link type name");
	expect_report(6, "captures[3].linktype: only applies to interface captures");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_dlt_as_libpcap),
		cmocka_unit_test(test_to_dlt_as_libpcap),
		cmocka_unit_test(test_swap_sll_can),
		cmocka_unit_test(test_swap_sll_ip),
		cmocka_unit_test(test_swap_usb),
		cmocka_unit_test(test_swap_usb_iso),
		cmocka_unit_test(test_swap_usb_mmapped),
		cmocka_unit_test(test_swap_usb_mmapped_iso),
		cmocka_unit_test(test_swap_nflog),
		cmocka_unit_test(test_no_swap_elsewhere),
		cmocka_unit_test(test_config_key),
	};
	return cmocka_run_group_tests_name("linktype", tests, NULL, NULL);
}
