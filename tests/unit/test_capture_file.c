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

#include "capture.h"
#include "config.h"
#include "loop.h"
#include "record.h"
#include "stats.h"

/*
 * File sources and frames cut short by the capture's snaplen: each one is
 * delivered with the bytes the file has (caplen) and its length on the
 * wire (origlen), however large that was; only a caplen above max_frame
 * is rejected and counted. Classic pcap (our mmap reader) and pcapng
 * (libpcap) files hold the same frames.
 */

#define NFRAMES 300
#define SNAP 96u
#define WIRE 65535u
#define BIG 12000u /* above the default max_frame (9106) */

/* Frame i: the n-th big one every 50 frames, else origlen WIRE cut to SNAP
 * bytes, and a few whole short frames. */
static void
frame_shape(unsigned i, uint32_t *caplen, uint32_t *origlen, int with_big)
{
	if (with_big && i % 50 == 49) {
		*caplen = *origlen = BIG;
	} else if (i % 10 == 3) {
		*caplen = *origlen = 60;
	} else {
		*caplen = SNAP;
		*origlen = WIRE;
	}
}

/* Byte k of frame i: its index in the first four bytes, then a pattern. */
static uint8_t
frame_byte(unsigned i, uint32_t k)
{
	return k < 4 ? (uint8_t)(i >> (24 - 8 * k)) : (uint8_t)(i * 13 + k);
}

static void
put32(FILE *f, uint32_t v)
{
	assert_int_equal(fwrite(&v, 4, 1, f), 1);
}

static void
put_frame(FILE *f, unsigned i, uint32_t caplen)
{
	static uint8_t buf[BIG];
	for (uint32_t k = 0; k < caplen; k++)
		buf[k] = frame_byte(i, k);
	assert_int_equal(fwrite(buf, 1, caplen, f), caplen);
}

static void
write_pcap(const char *path, uint32_t snaplen, int with_big)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	put32(f, 0xa1b23c4du); /* nanoseconds */
	put32(f, 2u | 4u << 16);
	put32(f, 0);
	put32(f, 0);
	put32(f, snaplen);
	put32(f, 1); /* DLT_EN10MB */
	for (unsigned i = 0; i < NFRAMES; i++) {
		uint32_t caplen, origlen;
		frame_shape(i, &caplen, &origlen, with_big);
		put32(f, 1700000000u + i);
		put32(f, i * 1000u);
		put32(f, caplen);
		put32(f, origlen);
		put_frame(f, i, caplen);
	}
	assert_int_equal(fclose(f), 0);
}

static void
write_pcapng(const char *path, uint32_t snaplen, int with_big)
{
	static const uint8_t zero[4];
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	/* Section header, no options. */
	put32(f, 0x0a0d0d0au);
	put32(f, 28);
	put32(f, 0x1a2b3c4du);
	put32(f, 1u | 0u << 16);
	put32(f, 0xffffffffu);
	put32(f, 0xffffffffu);
	put32(f, 28);
	/* Interface: Ethernet, snaplen, microseconds (no if_tsresol). */
	put32(f, 1);
	put32(f, 20);
	put32(f, 1);
	put32(f, snaplen);
	put32(f, 20);
	for (unsigned i = 0; i < NFRAMES; i++) {
		uint32_t caplen, origlen;
		frame_shape(i, &caplen, &origlen, with_big);
		uint32_t pad = (4 - caplen % 4) % 4;
		uint64_t us = (1700000000ull + i) * 1000000u + i;
		put32(f, 6);
		put32(f, 32 + caplen + pad);
		put32(f, 0);
		put32(f, (uint32_t)(us >> 32));
		put32(f, (uint32_t)us);
		put32(f, caplen);
		put32(f, origlen);
		put_frame(f, i, caplen);
		assert_int_equal(fwrite(zero, 1, pad, f), pad);
		put32(f, 32 + caplen + pad);
	}
	assert_int_equal(fclose(f), 0);
}

struct seen {
	unsigned n;
	uint32_t caplen[NFRAMES], origlen[NFRAMES];
	unsigned index[NFRAMES]; /* frame index, from the first data byte */
	int state;
	int bad_bytes;
};

static void
deliver(void *ctx, struct pb_record *rec)
{
	struct seen *s = ctx;
	assert_true(s->n < NFRAMES);
	assert_true(rec->caplen >= 4);
	unsigned i = (unsigned)rec->data[0] << 24 | (unsigned)rec->data[1] << 16 |
	    (unsigned)rec->data[2] << 8 | rec->data[3];
	for (uint32_t k = 0; k < rec->caplen; k++)
		if (rec->data[k] != frame_byte(i, k))
			s->bad_bytes++;
	s->index[s->n] = i;
	s->caplen[s->n] = rec->caplen;
	s->origlen[s->n] = rec->origlen;
	s->n++;
}

static void
on_state(void *ctx, struct pb_capture *cap, int state)
{
	struct seen *s = ctx;
	s->state = state;
}

/* Replays path once; max_frame 0 = the default. */
static void
replay(const char *path, uint32_t max_frame, struct seen *s, struct pb_source_stats *st)
{
	char err[512];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	assert_non_null(loop);
	struct pb_capture_env env = {
		.loop = loop, .source_id = 1, .stats = st, .deliver = deliver,
		.on_state = on_state, .ctx = s,
	};
	struct pb_capture_cfg cfg = { .is_file = true, .rate = PB_RATE_MAX, .loop = 1,
		.max_frame = max_frame };
	snprintf(cfg.name, sizeof(cfg.name), "snapped");
	snprintf(cfg.file, sizeof(cfg.file), "%s", path);
	memset(s, 0, sizeof(*s));
	memset(st, 0, sizeof(*st));
	struct pb_capture *cap = pb_capture_open(&cfg, &env, err, sizeof(err));
	if (!cap)
		fail_msg("%s", err);
	for (int i = 0; i < 1000 && s->state != PB_SOURCE_FINISHED && s->state != PB_SOURCE_FAILED; i++)
		pb_loop_run_once(loop, 100);
	assert_int_equal(s->state, PB_SOURCE_FINISHED);
	pb_capture_close(cap, false);
	pb_loop_free(loop);
	assert_int_equal(s->bad_bytes, 0);
}

/* Every frame of the file in order, as the file has it, but those whose
 * caplen is above max_frame: counted as oversize. */
static unsigned
check_frames(const struct seen *s, const struct pb_source_stats *st, int with_big,
    uint32_t max_frame)
{
	unsigned n = 0, snapped = 0, oversize = 0;
	for (unsigned i = 0; i < NFRAMES; i++) {
		uint32_t caplen, origlen;
		frame_shape(i, &caplen, &origlen, with_big);
		if (caplen > max_frame) {
			oversize++;
			continue;
		}
		assert_true(n < s->n);
		assert_int_equal(s->index[n], i);
		assert_int_equal(s->caplen[n], caplen);
		assert_int_equal(s->origlen[n], origlen);
		snapped += caplen < origlen;
		n++;
	}
	assert_int_equal(s->n, n);
	assert_int_equal(pb_counter_get(&st->packets), n);
	assert_int_equal(pb_counter_get(&st->truncated), snapped);
	assert_int_equal(pb_counter_get(&st->oversize), oversize);
	return snapped;
}

/* snapped: how many cut frames must come through. */
static void
run_case(int ng, uint32_t snaplen, int with_big, uint32_t max_frame, unsigned snapped)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	if (ng)
		write_pcapng(path, snaplen, with_big);
	else
		write_pcap(path, snaplen, with_big);
	struct seen *s = calloc(1, sizeof(*s));
	struct pb_source_stats st;
	assert_non_null(s);
	replay(path, max_frame, s, &st);
	assert_int_equal(check_frames(s, &st, with_big,
	    max_frame ? max_frame : pb_record_default_max_frame(0)), snapped);
	free(s);
	unlink(path);
}

/* A snaplen-96 capture of 64 KiB frames: every frame delivered. */
static void test_pcap_snapped(void **state) { run_case(0, SNAP, 0, 0, 270); }
static void test_pcapng_snapped(void **state) { run_case(1, SNAP, 0, 0, 270); }
/* Frames whose captured bytes are above max_frame: rejected, counted. */
static void test_pcap_big_rejected(void **state) { run_case(0, 65535, 1, 0, 264); }
static void test_pcapng_big_rejected(void **state) { run_case(1, 65535, 1, 0, 264); }
/* max_frame below the snaplen: the cut frames are too big now. */
static void test_pcap_small_max_frame(void **state) { run_case(0, SNAP, 0, 80, 0); }
static void test_pcapng_small_max_frame(void **state) { run_case(1, SNAP, 0, 80, 0); }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcap_snapped),
		cmocka_unit_test(test_pcapng_snapped),
		cmocka_unit_test(test_pcap_big_rejected),
		cmocka_unit_test(test_pcapng_big_rejected),
		cmocka_unit_test(test_pcap_small_max_frame),
		cmocka_unit_test(test_pcapng_small_max_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
