/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TEST_ENGINE_TEST_H
#define PB_TEST_ENGINE_TEST_H

/*
 * Fixture of test_engine: engines made from configuration text in one
 * process, stepped in turn from the test thread (pb_engine_run_once), a
 * pcap input whose frame i carries i (so origin seq i must carry it too),
 * and a reader of the pcapng the collectors write (EPB comments: origin,
 * seq, hop list). Included by that one test only, after <cmocka.h>.
 */

#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "config.h"
#include "engine.h"
#include "engine_int.h"
#include "tunnel_int.h"
#include "pcap_format.h"

#define MAX_FRAMES 4000
#define MAX_NODES 4

struct node {
	const char *name;
	struct pb_config cfg;
	struct pb_engine *e;
	bool frozen;           /* not stepped: a receiver that stopped reading */
};

static char tmp[64];
static struct node nodes[MAX_NODES];
/* Another loop stepped with the engines (a hand-made sender). */
static struct pb_loop *extra_loop;

static void
report_cfg(void *arg, const char *file, int line, const char *msg)
{
	(void)arg;
	print_message("config %s:%d: %s\n", file, line, msg);
}

/* A random port below the kernel's ephemeral range (0 when that range
 * starts too low). A collector is stopped and started again on its port
 * while the edge keeps reconnecting to it: a port from the ephemeral
 * range could meanwhile be taken as some connection's source port, even
 * the edge's own (a socket connected to itself). */
static uint16_t
quiet_port(unsigned attempt)
{
	unsigned lo = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%u", &lo) != 1)
			lo = 32768;
		fclose(f);
	}
	if (lo < 12000)
		return 0;
	return (uint16_t)(10000 + (pb_mono_ns() / 1000 + attempt * 7919u) % (lo - 10000));
}

/* Starts n from printf-style configuration text. listen_port replaces the
 * text's port when it has `listen` (0: a free one of quiet_port's). */
static void
node_start(struct node *n, int listen_port, const char *fmt, ...) PB_PRINTF(3, 4);

static void
node_start(struct node *n, int listen_port, const char *fmt, ...)
{
	char text[4096], err[1024] = "";
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_true(len > 0 && (size_t)len < sizeof(text));
	assert_int_equal(pb_config_load_string(text, &n->cfg, report_cfg, NULL), 0);
	bool pick = n->cfg.tunnel.listen.enabled && listen_port == 0;
	assert_null(n->e); /* stopped, or never started */
	for (unsigned attempt = 0; !n->e && attempt < 50; attempt++) {
		if (n->cfg.tunnel.listen.enabled)
			n->cfg.tunnel.listen.port = pick ? quiet_port(attempt) : (uint16_t)listen_port;
		n->e = pb_engine_new(&n->cfg, err, sizeof(err));
		if (!n->e && !(pick && strstr(err, "in use")))
			break;
	}
	if (!n->e)
		fail_msg("%s: pb_engine_new: %s", n->name, err);
	n->frozen = false;
}

/* Frees the engine as a shutdown would (sinks flushed, links closed). */
static void
node_stop(struct node *n)
{
	pb_engine_free(n->e);
	n->e = NULL;
	pb_config_free(&n->cfg);
}

static void
step(void)
{
	for (int i = 0; i < MAX_NODES; i++)
		if (nodes[i].e && !nodes[i].frozen)
			pb_engine_run_once(nodes[i].e, 1);
	if (extra_loop)
		pb_loop_run_once(extra_loop, 1);
}

/* Steps every running engine until cond holds; 60 s for valgrind. */
#define WAIT_FOR(cond)                                                                \
	do {                                                                          \
		uint64_t end_ = pb_mono_ns() + 60 * PB_NSEC_PER_SEC;                   \
		while (!(cond)) {                                                     \
			if (pb_mono_ns() > end_)                                      \
				fail_msg("timeout waiting for %s", #cond);            \
			step();                                                       \
		}                                                                     \
	} while (0)

/* Steps for ms milliseconds: time for something that must not happen. */
static void
step_for(unsigned ms)
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end)
		step();
}

static struct tunnel_sender *
peer_of(const struct node *n, uint32_t node_id)
{
	for (size_t i = 0; i < n->e->tunnel->npeers; i++)
		if (n->e->tunnel->peers[i]->node_id == node_id)
			return n->e->tunnel->peers[i];
	return NULL;
}

static struct tunnel_receiver *
up_of(const struct node *n, uint32_t node_id)
{
	for (size_t i = 0; i < n->e->tunnel->nups; i++)
		if (n->e->tunnel->ups[i]->node_id == node_id)
			return n->e->tunnel->ups[i];
	return NULL;
}

static uint64_t
sink_packets(const struct node *n)
{
	return pb_counter_get(&n->e->sinks[0].stats.packets);
}

/* ---- the input: frame i holds i at offset 14 (after the Ethernet header) ---- */

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
write_input(const char *path, uint32_t nframes)
{
	FILE *f = fopen(path, "wb");
	uint8_t hdr[24] = { 0 }, rec[16], frame[64];
	assert_non_null(f);
	put32(hdr, 0xa1b2c3d4);
	hdr[4] = 2;
	hdr[6] = 4;
	put32(hdr + 16, 65535);
	put32(hdr + 20, 1); /* Ethernet */
	assert_int_equal(fwrite(hdr, sizeof(hdr), 1, f), 1);
	for (uint32_t i = 1; i <= nframes; i++) {
		memset(frame, 0, sizeof(frame));
		memset(frame, 0xff, 6);
		frame[6] = 0x02;
		frame[11] = 0x01;
		frame[12] = 0x88; /* local experimental ethertype */
		frame[13] = 0xb5;
		frame[14] = (uint8_t)(i >> 24);
		frame[15] = (uint8_t)(i >> 16);
		frame[16] = (uint8_t)(i >> 8);
		frame[17] = (uint8_t)i;
		put32(rec, 1700000000 + i / 1000);
		put32(rec + 4, (i % 1000) * 1000);
		put32(rec + 8, sizeof(frame));
		put32(rec + 12, sizeof(frame));
		assert_int_equal(fwrite(rec, sizeof(rec), 1, f), 1);
		assert_int_equal(fwrite(frame, sizeof(frame), 1, f), 1);
	}
	assert_int_equal(fclose(f), 0);
}

/* ---- the output: packetbroker's pcapng, in host byte order ---- */

struct hop_want {
	uint32_t node;
	const char *name;
};

struct scan {
	uint32_t origin;           /* records of other origins are counted apart */
	const struct hop_want *hops; /* the hop list every record must carry */
	unsigned nhops;
	uint32_t records, others, bad;
	uint32_t count[MAX_FRAMES + 1]; /* per origin seq */
	uint64_t last_hop_seq[PB_MAX_HOPS];
	char why[256];             /* the first problem */
};

static void
scan_bad(struct scan *s, const char *fmt, ...) PB_PRINTF(2, 3);

static void
scan_bad(struct scan *s, const char *fmt, ...)
{
	va_list ap;
	if (s->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* One EPB comment, e.g. "pb origin=41(edge) source=0(in) epoch=E seq=7
 * link=42:L:7 hops=2 42(relay):seq=7:ts=... 43(collector):seq=7:ts=..." */
static void
scan_record(struct scan *s, const char *c, const uint8_t *data, uint32_t caplen)
{
	unsigned origin;
	if (sscanf(c, "pb origin=%u(", &origin) != 1)
		return scan_bad(s, "no origin in \"%s\"", c);
	if (origin != s->origin) {
		s->others++;
		return;
	}
	const char *ep = strstr(c, " epoch="), *sq = ep ? strstr(ep, " seq=") : NULL;
	const char *hp = strstr(c, " hops=");
	if (!sq || !hp)
		return scan_bad(s, "malformed \"%s\"", c);
	uint64_t seq = strtoull(sq + 5, NULL, 10);
	if (seq == 0 || seq > MAX_FRAMES || caplen < 18)
		return scan_bad(s, "seq %" PRIu64 " out of range", seq);
	uint32_t carried = (uint32_t)data[14] << 24 | (uint32_t)data[15] << 16 |
	    (uint32_t)data[16] << 8 | data[17];
	if (carried != seq)
		return scan_bad(s, "record seq %" PRIu64 " carries frame %u", seq, carried);
	s->count[seq]++;
	s->records++;
	char *p;
	unsigned long nh = strtoul(hp + 6, &p, 10);
	if (nh != s->nhops)
		return scan_bad(s, "seq %" PRIu64 ": %lu hops, want %u: \"%s\"", seq, nh,
		    s->nhops, c);
	for (unsigned i = 0; i < s->nhops; i++) {
		char want[96];
		int n = snprintf(want, sizeof(want), " %u(%s):seq=", s->hops[i].node,
		    s->hops[i].name);
		if (strncmp(p, want, (size_t)n) != 0)
			return scan_bad(s, "seq %" PRIu64 ": hop %u is not %s: \"%s\"", seq, i,
			    want, c);
		uint64_t hs = strtoull(p + n, &p, 10);
		/* Each node numbers the records it passes on, in order. */
		if (hs <= s->last_hop_seq[i])
			return scan_bad(s, "seq %" PRIu64 ": hop %u seq %" PRIu64 " after %" PRIu64,
			    seq, i, hs, s->last_hop_seq[i]);
		s->last_hop_seq[i] = hs;
		p += strcspn(p, " ");
	}
}

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void
scan_file(struct scan *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	uint8_t *b = malloc((size_t)len + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	memset(s->last_hop_seq, 0, sizeof(s->last_hop_seq));
	size_t off = 0;
	if (len >= 12)
		assert_int_equal(rd32(b + 8), 0x1a2b3c4d); /* written in our byte order */
	while (off + 12 <= (size_t)len) {
		uint32_t type = rd32(b + off), blen = rd32(b + off + 4);
		if (blen < 12 || off + blen > (size_t)len)
			break; /* the writer is behind: the block is not all there yet */
		if (type == 6 && blen >= 32) {
			const uint8_t *body = b + off + 8, *end = b + off + blen - 4;
			uint32_t caplen = rd32(body + 12);
			const uint8_t *o = body + 20 + PB_PCAPNG_PAD4(caplen);
			while (o + 4 <= end) {
				uint16_t code, olen;
				memcpy(&code, o, 2);
				memcpy(&olen, o + 2, 2);
				if (code == 0 || o + 4 + olen > end)
					break;
				if (code == 1) {
					char c[PB_PCAPNG_COMMENT_MAX];
					size_t cl = olen < sizeof(c) - 1 ? olen : sizeof(c) - 1;
					memcpy(c, o + 4, cl);
					c[cl] = '\0';
					scan_record(s, c, body + 20, caplen);
				}
				o += 4 + PB_PCAPNG_PAD4(olen);
			}
		}
		off += blen;
	}
	free(b);
}

/* Every .pcapng file in dir (a restarted collector starts a new file). */
static void
scan_dir(struct scan *s, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];
	if (!d)
		return; /* nothing written yet */
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 7 || strcmp(de->d_name + l - 7, ".pcapng") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		scan_file(s, path);
	}
	closedir(d);
}

/* Records of origin `origin` in dir, whatever their hops. */
static uint32_t
count_in(const char *dir, uint32_t origin)
{
	static struct scan s;
	memset(&s, 0, sizeof(s));
	s.origin = origin;
	s.nhops = PB_MAX_HOPS + 1; /* hop lists not checked */
	scan_dir(&s, dir);
	return s.records;
}

/* Each of origin seq 1..n exactly once, none other, hop lists as wanted. */
static void
expect_exactly_once(const char *dir, uint32_t origin, uint32_t n, const struct hop_want *hops,
    unsigned nhops)
{
	static struct scan s;
	memset(&s, 0, sizeof(s));
	s.origin = origin;
	s.hops = hops;
	s.nhops = nhops;
	scan_dir(&s, dir);
	if (s.bad)
		fail_msg("%s: %u bad record(s), first: %s", dir, s.bad, s.why);
	uint32_t missing = 0, dups = 0;
	for (uint32_t i = 1; i <= n; i++) {
		missing += s.count[i] == 0;
		dups += s.count[i] > 1 ? s.count[i] - 1 : 0;
	}
	if (missing || dups || s.records != n)
		fail_msg("%s: %u records of origin %u: %u of %u missing, %u duplicate(s)", dir,
		    s.records, origin, missing, n, dups);
	assert_int_equal(s.others, 0);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/pb-engine-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	memset(nodes, 0, sizeof(nodes));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_NODES; i++)
		if (nodes[i].e)
			node_stop(&nodes[i]);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

#endif
