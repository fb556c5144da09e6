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
#include "clock.h"
#include "config.h"
#include "loop.h"
#include "record.h"
#include "stats.h"

/*
 * File sources and frames cut short by the capture's snaplen: each one is
 * delivered with the bytes the file has (caplen) and its length on the
 * wire (origlen), however large that was; only a caplen above max_frame
 * is rejected and counted. Classic pcap and pcapng files hold the same
 * frames. A pcapng file with interfaces of two link types gives each its
 * own source id and link type, also through a filter.
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

/* A new temporary file (its name in path), open for writing. */
static FILE *
temp_file(char *path)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	return f;
}

/* A classic pcap file header (magic gives the timestamp unit). */
static void
put_pcap_header(FILE *f, uint32_t magic, uint32_t snaplen, uint32_t linktype)
{
	put32(f, magic);
	put32(f, 2u | 4u << 16);
	put32(f, 0);
	put32(f, 0);
	put32(f, snaplen);
	put32(f, linktype);
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
	put_pcap_header(f, 0xa1b23c4du, snaplen, 1); /* nanoseconds, Ethernet */
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

/* Section header, no options; interface: Ethernet, snaplen, microseconds
 * (no if_tsresol). */
static void
put_shb_idb(FILE *f, uint32_t snaplen)
{
	put32(f, 0x0a0d0d0au);
	put32(f, 28);
	put32(f, 0x1a2b3c4du);
	put32(f, 1u | 0u << 16);
	put32(f, 0xffffffffu);
	put32(f, 0xffffffffu);
	put32(f, 28);
	put32(f, 1);
	put32(f, 20);
	put32(f, 1);
	put32(f, snaplen);
	put32(f, 20);
}

static void
write_pcapng(const char *path, uint32_t snaplen, int with_big)
{
	static const uint8_t zero[4];
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	put_shb_idb(f, snaplen);
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

/* Opens the source, runs env's loop until it finished (the callback sets
 * *state), closes it; returns its link type. */
static uint16_t
replay_to_end(const struct pb_capture_cfg *cfg, const struct pb_capture_env *env,
    const int *state)
{
	char err[512];
	struct pb_capture *cap = pb_capture_open(cfg, env, err, sizeof(err));
	if (!cap)
		fail_msg("%s", err);
	uint16_t lt = pb_capture_linktype(cap);
	/* Bounded in time, not in iterations: each reader wakeup is one, and
	 * a loaded host (ASan, make -j3) wakes it for few records at a time. */
	uint64_t deadline = pb_mono_ns() + 60 * PB_NSEC_PER_SEC;
	while (*state != PB_SOURCE_FINISHED && *state != PB_SOURCE_FAILED && pb_mono_ns() < deadline)
		pb_loop_run_once(env->loop, 100);
	assert_int_equal(*state, PB_SOURCE_FINISHED);
	pb_capture_close(cap, false);
	return lt;
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
	replay_to_end(&cfg, &env, &s->state);
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

/* ---- a pcapng file with interfaces of two link types -------------------- */

#define MULTI_FRAMES 40

struct multi_seen {
	unsigned n;
	uint16_t source[2 * MULTI_FRAMES], linktype[2 * MULTI_FRAMES];
	uint8_t tag[2 * MULTI_FRAMES];
	unsigned ifs_named;
	int state;
};

static void
multi_deliver(void *ctx, struct pb_record *rec)
{
	struct multi_seen *s = ctx;
	assert_true(s->n < 2 * MULTI_FRAMES);
	s->source[s->n] = rec->origin_source;
	s->linktype[s->n] = rec->linktype;
	s->tag[s->n] = rec->data[rec->caplen - 1];
	s->n++;
}

static void
multi_state(void *ctx, struct pb_capture *cap, int state)
{
	((struct multi_seen *)ctx)->state = state;
}

static int
multi_if(void *ctx, struct pb_capture *cap, uint32_t ifindex, uint16_t linktype,
    const char *ifname)
{
	struct multi_seen *s = ctx;
	assert_int_equal(ifindex, 1);
	assert_int_equal(linktype, 101);
	assert_string_equal(ifname, "tun0");
	s->ifs_named++;
	return 77;
}

/* IPv4 with protocol proto, 28 bytes, the last one a tag. */
static void
put_ip(FILE *f, uint8_t proto, uint8_t tag)
{
	uint8_t ip[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	ip[27] = tag;
	assert_int_equal(fwrite(ip, 1, sizeof(ip), f), sizeof(ip));
}

/* Interface 0 Ethernet, interface 1 (after the first packet) raw IP;
 * frame i is UDP when i % 3 != 0, else TCP; its tag is i. */
static void
write_multi(const char *path)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0 };
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	put_shb_idb(f, 0);
	for (unsigned i = 0; i < MULTI_FRAMES; i++) {
		if (i == 1) {
			/* IDB: raw IP, if_name "tun0" */
			put32(f, 1);
			put32(f, 32);
			put32(f, 101);
			put32(f, 0);
			put32(f, 2u | 4u << 16);
			assert_int_equal(fwrite("tun0", 1, 4, f), 4);
			put32(f, 0); /* opt_endofopt */
			put32(f, 32);
		}
		uint32_t ifid = i % 2, len = ifid ? 28 : 42;
		put32(f, 6);
		put32(f, 32 + len + (4 - len % 4) % 4);
		put32(f, ifid);
		put32(f, 0);
		put32(f, 1000 + i);
		put32(f, len);
		put32(f, len);
		if (!ifid)
			assert_int_equal(fwrite(eth, 1, sizeof(eth), f), sizeof(eth));
		put_ip(f, i % 3 ? 17 : 6, (uint8_t)i);
		assert_int_equal(fwrite("\0\0\0", 1, (4 - len % 4) % 4, f), (4 - len % 4) % 4);
		put32(f, 32 + len + (4 - len % 4) % 4);
	}
	assert_int_equal(fclose(f), 0);
}

/* Replays path as source source_id (loops passes, filter) into a new
 * multi_seen; the source's link type must be lt. */
static struct multi_seen *
seen_replay(const char *path, const char *filter, uint32_t loops, uint16_t source_id,
    uint16_t lt, struct pb_source_stats *st)
{
	char err[512];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	assert_non_null(loop);
	struct multi_seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	memset(st, 0, sizeof(*st));
	struct pb_capture_env env = {
		.loop = loop, .source_id = source_id, .stats = st, .deliver = multi_deliver,
		.on_state = multi_state, .on_interface = multi_if, .ctx = s,
	};
	struct pb_capture_cfg cfg = { .is_file = true, .rate = PB_RATE_MAX, .loop = loops };
	snprintf(cfg.name, sizeof(cfg.name), "multi");
	snprintf(cfg.file, sizeof(cfg.file), "%s", path);
	snprintf(cfg.filter, sizeof(cfg.filter), "%s", filter);
	assert_int_equal(replay_to_end(&cfg, &env, &s->state), lt);
	pb_loop_free(loop);
	return s;
}

static void
multi_replay(const char *filter, uint32_t loops)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_multi(path);
	struct pb_source_stats st;
	struct multi_seen *s = seen_replay(path, filter, loops, 5, 1, &st);
	/* Named once, however many passes. */
	assert_int_equal(s->ifs_named, 1);
	unsigned n = 0;
	for (uint32_t pass = 0; pass < loops; pass++) {
		for (unsigned i = 0; i < MULTI_FRAMES; i++) {
			if (filter[0] && i % 3 == 0)
				continue;
			assert_true(n < s->n);
			assert_int_equal(s->tag[n], i);
			assert_int_equal(s->source[n], i % 2 ? 77 : 5);
			assert_int_equal(s->linktype[n], i % 2 ? 101 : 1);
			n++;
		}
	}
	assert_int_equal(s->n, n);
	free(s);
	unlink(path);
}

/* Each interface has its own source id and link type. */
static void test_pcapng_two_linktypes(void **state) { multi_replay("", 1); }
/* "udp" compiled for Ethernet and for raw IP: both select the right frames. */
static void test_pcapng_filter_per_linktype(void **state) { multi_replay("udp", 1); }
/* A second pass: the same source ids, the interface not named again. */
static void test_pcapng_two_passes(void **state) { multi_replay("udp", 2); }

/*
 * A format our reader leaves to libpcap (Alexey Kuznetzov's modified pcap,
 * magic 0xa1b2cd34, 24-byte record headers) with LINKTYPE_RAW: libpcap
 * says DLT_RAW (12 here), the records carry 101 again.
 */
static void
test_libpcap_format_linktype(void **state)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	FILE *f = temp_file(path);
	put_pcap_header(f, 0xa1b2cd34u, 65535, 101);
	for (unsigned i = 0; i < 10; i++) {
		put32(f, 1700000000u + i);
		put32(f, i);
		put32(f, 28);
		put32(f, 28 + i);
		put32(f, 3);      /* ifindex */
		put32(f, 0x0800); /* protocol, pkt_type, pad */
		put_ip(f, 17, (uint8_t)i);
	}
	assert_int_equal(fclose(f), 0);

	struct pb_source_stats st;
	struct multi_seen *s = seen_replay(path, "udp", 1, 4, 101, &st);
	assert_int_equal(s->n, 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(s->linktype[i], 101);
		assert_int_equal(s->source[i], 4);
		assert_int_equal(s->tag[i], i);
	}
	assert_int_equal(pb_counter_get(&st.truncated), 9);
	free(s);
	unlink(path);
}

/*
 * Frames of 512 bytes and more go from the file's map by reference, the
 * smaller ones are copied. Over 11 MB (beyond the reference window and
 * the reader's page release steps) and three passes (the map closed and
 * opened again after the engine consumed every reference): every frame
 * in file order, byte for byte.
 */
#define NREF 8000u
#define REF_PASSES 3u

static uint32_t
ref_caplen(unsigned i)
{
	return i % 3 == 0 ? 60 + i % 100 : 512 + (i * 37) % 2500;
}

struct ref_seen {
	unsigned n, bad, wrong_len, out_of_order;
	int state;
};

static void
ref_deliver(void *ctx, struct pb_record *rec)
{
	struct ref_seen *s = ctx;
	unsigned want = s->n % NREF;
	unsigned i = rec->caplen < 4 ? UINT32_MAX : (unsigned)rec->data[0] << 24 |
	    (unsigned)rec->data[1] << 16 | (unsigned)rec->data[2] << 8 | rec->data[3];
	s->n++;
	if (i != want) {
		s->out_of_order++;
		return;
	}
	if (rec->caplen != ref_caplen(i) || rec->origlen != ref_caplen(i) + 4)
		s->wrong_len++;
	for (uint32_t k = 0; k < rec->caplen; k++)
		if (rec->data[k] != frame_byte(i, k))
			s->bad++;
}

static void
ref_state(void *ctx, struct pb_capture *cap, int state)
{
	((struct ref_seen *)ctx)->state = state;
}

static void
by_reference(int ng)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	FILE *f = temp_file(path);
	if (ng)
		put_shb_idb(f, 65535);
	else
		put_pcap_header(f, 0xa1b23c4du, 65535, 1);
	for (unsigned i = 0; i < NREF; i++) {
		uint32_t caplen = ref_caplen(i), pad = ng ? (4 - caplen % 4) % 4 : 0;
		if (ng) {
			put32(f, 6);
			put32(f, 32 + caplen + pad);
			put32(f, 0);
			put32(f, 0);
			put32(f, i);
		} else {
			put32(f, 1700000000u + i);
			put32(f, i);
		}
		put32(f, caplen);
		put32(f, caplen + 4);
		put_frame(f, i, caplen);
		if (ng) {
			static const uint8_t zero[4];
			assert_int_equal(fwrite(zero, 1, pad, f), pad);
			put32(f, 32 + caplen + pad);
		}
	}
	assert_int_equal(fclose(f), 0);

	char err[512];
	struct pb_loop *loop = pb_loop_new(err, sizeof(err));
	assert_non_null(loop);
	struct ref_seen seen = { 0 };
	struct pb_source_stats st = { 0 };
	struct pb_capture_env env = {
		.loop = loop, .source_id = 1, .stats = &st, .deliver = ref_deliver,
		.on_state = ref_state, .ctx = &seen,
	};
	struct pb_capture_cfg cfg = { .is_file = true, .rate = PB_RATE_MAX, .loop = REF_PASSES };
	snprintf(cfg.name, sizeof(cfg.name), "byref");
	snprintf(cfg.file, sizeof(cfg.file), "%s", path);
	replay_to_end(&cfg, &env, &seen.state);
	pb_loop_free(loop);
	unlink(path);
	assert_int_equal(seen.n, NREF * REF_PASSES);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(seen.wrong_len, 0);
	assert_int_equal(seen.bad, 0);
	assert_int_equal(pb_counter_get(&st.packets), NREF * REF_PASSES);
	assert_int_equal(pb_counter_get(&st.loops_done), REF_PASSES);
}

/* The by-reference frames as a classic pcap (microseconds) at path. */
static void
write_ref_pcap(char *path)
{
	FILE *f = temp_file(path);
	put_pcap_header(f, 0xa1b2c3d4u, 65535, 1);
	for (unsigned i = 0; i < NREF; i++) {
		uint32_t caplen = ref_caplen(i);
		put32(f, 1700000000u + i);
		put32(f, i);
		put32(f, caplen);
		put32(f, caplen + 4);
		put_frame(f, i, caplen);
	}
	assert_int_equal(fclose(f), 0);
}

/* A replay of path named name, on a new loop (env->loop). */
static struct pb_capture *
open_replay(const char *path, const char *name, struct pb_capture_cfg *cfg,
    struct pb_capture_env *env)
{
	char err[512];
	assert_non_null(env->loop = pb_loop_new(err, sizeof(err)));
	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	snprintf(cfg->file, sizeof(cfg->file), "%s", path);
	struct pb_capture *cap = pb_capture_open(cfg, env, err, sizeof(err));
	if (!cap)
		fail_msg("%s", err);
	return cap;
}

/*
 * Back-pressure inside a run: a classic pcap replayed at rate max goes to
 * the engine in runs of records; the engine pauses the source in the
 * middle of one (every PAUSE_EVERY records). Nothing may come while
 * paused, and after each resume the replay goes on at the next record:
 * every frame once, in order, over all passes.
 */
#define PAUSE_EVERY 777u

struct pause_seen {
	struct ref_seen r;
	struct pb_capture *cap;
	bool paused;
	unsigned while_paused, pauses;
};

static void
pause_deliver(void *ctx, struct pb_record *rec)
{
	struct pause_seen *s = ctx;
	if (s->paused)
		s->while_paused++;
	ref_deliver(&s->r, rec);
	if (s->r.n % PAUSE_EVERY == 0 && s->cap) {
		s->paused = true;
		s->pauses++;
		pb_capture_pause(s->cap, true);
	}
}

static void
pause_state(void *ctx, struct pb_capture *cap, int state)
{
	((struct pause_seen *)ctx)->r.state = state;
}

static void
test_pcap_pause_in_run(void **state)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	write_ref_pcap(path);
	struct pause_seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct pb_source_stats st = { 0 };
	struct pb_capture_env env = {
		.source_id = 1, .stats = &st, .deliver = pause_deliver, .on_state = pause_state,
		.ctx = s,
	};
	struct pb_capture_cfg cfg = { .is_file = true, .rate = PB_RATE_MAX, .loop = REF_PASSES };
	struct pb_capture *cap = open_replay(path, "paused", &cfg, &env);
	struct pb_loop *loop = env.loop;
	s->cap = cap;
	for (int i = 0; i < 20000 && s->r.state != PB_SOURCE_FINISHED &&
	    s->r.state != PB_SOURCE_FAILED; i++) {
		pb_loop_run_once(loop, 100);
		if (s->paused) {
			/* Paused: another turn of the loop delivers nothing. */
			unsigned before = s->r.n;
			pb_loop_run_once(loop, 5);
			assert_int_equal(s->r.n, before);
			s->paused = false;
			pb_capture_pause(cap, false);
		}
	}
	assert_int_equal(s->r.state, PB_SOURCE_FINISHED);
	pb_capture_close(cap, false);
	pb_loop_free(loop);
	unlink(path);
	assert_int_equal(s->while_paused, 0);
	assert_int_equal(s->pauses, NREF * REF_PASSES / PAUSE_EVERY);
	assert_int_equal(s->r.n, NREF * REF_PASSES);
	assert_int_equal(s->r.out_of_order, 0);
	assert_int_equal(s->r.wrong_len, 0);
	assert_int_equal(s->r.bad, 0);
	assert_int_equal(pb_counter_get(&st.packets), NREF * REF_PASSES);
	assert_int_equal(pb_counter_get(&st.loops_done), REF_PASSES);
	free(s);
}

/*
 * A file that shrinks while it is replayed (truncated under the map): the
 * daemon must not die of SIGBUS, no frame may carry bytes the file does
 * not have, the pass ends with a read error, and the next pass replays
 * the file as it is now, and every whole record before the cut comes.
 * The cut is inside a record header, in the middle of a page: the rest of
 * that page reads as zeros without a fault (records of length 0, unless
 * the reader notices them). The source is paused at record 1000 while the
 * file is cut at a third (the reader is then less than 2 MiB ahead).
 * Rate max takes the runs path, a paced rate the per-frame one.
 */
struct shrink_seen {
	struct pb_capture *cap;
	unsigned n, bad, disorder, passes, in_pass[4], zeros;
	unsigned last;
	bool paused;
	int state;
};

static void
shrink_deliver(void *ctx, struct pb_record *rec)
{
	struct shrink_seen *s = ctx;
	if (rec->caplen < 4) {
		/* A header read from the zeros of the file's last page. */
		s->zeros++;
		s->n++;
		return;
	}
	unsigned i = (unsigned)rec->data[0] << 24 | (unsigned)rec->data[1] << 16 |
	    (unsigned)rec->data[2] << 8 | rec->data[3];
	if (i == 0)
		s->passes++; /* every pass starts with frame 0 */
	else if (s->n == 0 || i != s->last + 1)
		s->disorder++;
	s->last = i;
	if (s->passes >= 1 && s->passes <= 4)
		s->in_pass[s->passes - 1]++;
	if (rec->caplen != ref_caplen(i) || rec->origlen != ref_caplen(i) + 4)
		s->bad++;
	for (uint32_t k = 0; k < rec->caplen; k++)
		if (rec->data[k] != frame_byte(i, k))
			s->bad++;
	if (++s->n == 1000) {
		s->paused = true;
		pb_capture_pause(s->cap, true);
	}
}

static void
shrink_state(void *ctx, struct pb_capture *cap, int state)
{
	((struct shrink_seen *)ctx)->state = state;
}

static void
shrink_while_replaying(enum pb_rate_mode rate)
{
	char path[] = "/tmp/pb-capfile-XXXXXX";
	write_ref_pcap(path);
	/* The cut: inside the header of the first record past a third. */
	long total = 24, end = 24, cut_at = 0;
	unsigned whole_after_cut = 0;
	for (unsigned i = 0; i < NREF; i++)
		total += 16 + (long)ref_caplen(i);
	for (unsigned i = 0; i < NREF && (end += 16 + (long)ref_caplen(i)) <= total / 3; i++) {
		whole_after_cut++;
		cut_at = end + 8;
	}
	struct shrink_seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct pb_source_stats st = { 0 };
	struct pb_capture_env env = {
		.source_id = 1, .stats = &st, .deliver = shrink_deliver, .on_state = shrink_state,
		.ctx = s,
	};
	struct pb_capture_cfg cfg = { .is_file = true, .rate = rate, .pps = 400000, .loop = 2 };
	struct pb_capture *cap = open_replay(path, "shrink", &cfg, &env);
	struct pb_loop *loop = env.loop;
	s->cap = cap;
	for (int i = 0; i < 20000 && s->state != PB_SOURCE_FINISHED &&
	    s->state != PB_SOURCE_FAILED; i++) {
		pb_loop_run_once(loop, 100);
		if (s->paused) {
			assert_int_equal(truncate(path, cut_at), 0);
			s->paused = false;
			pb_capture_pause(cap, false);
		}
	}
	assert_int_equal(s->state, PB_SOURCE_FINISHED);
	pb_capture_close(cap, false);
	pb_loop_free(loop);
	unlink(path);
	assert_int_equal(s->bad, 0);
	assert_int_equal(s->zeros, 0);
	assert_int_equal(s->disorder, 0);
	assert_int_equal(s->passes, 2);
	/* Both passes: every whole record before the cut, nothing after. */
	assert_int_equal(s->in_pass[0], whole_after_cut);
	assert_int_equal(s->in_pass[1], whole_after_cut);
	assert_int_equal(pb_counter_get(&st.packets), s->n);
	/* The shrink in pass 1, the cut record at the end of pass 2. */
	assert_true(pb_counter_get(&st.read_errors) >= 2);
	free(s);
}

static void test_pcap_shrinks_runs(void **state) { shrink_while_replaying(PB_RATE_MAX); }
static void test_pcap_shrinks_paced(void **state) { shrink_while_replaying(PB_RATE_PPS); }

static void test_pcap_by_reference(void **state) { by_reference(0); }
static void test_pcapng_by_reference(void **state) { by_reference(1); }

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
		cmocka_unit_test(test_pcapng_two_linktypes),
		cmocka_unit_test(test_pcapng_filter_per_linktype),
		cmocka_unit_test(test_pcapng_two_passes),
		cmocka_unit_test(test_libpcap_format_linktype),
		cmocka_unit_test(test_pcap_by_reference),
		cmocka_unit_test(test_pcapng_by_reference),
		cmocka_unit_test(test_pcap_pause_in_run),
		cmocka_unit_test(test_pcap_shrinks_runs),
		cmocka_unit_test(test_pcap_shrinks_paced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
