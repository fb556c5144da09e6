/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pcap_format.h"
#include "sink_file_names.h"
#include "sink_file_recover.h"

#include "sink_test.h"

/*
 * Dumps written by the real sink (sink_test.h), then recovered: the
 * maxima must be exactly those of the records fed, complete ones only.
 */

#define MAXE 64

struct expect {
	size_t nlinks, nstreams;
	struct pb_recovery_link links[MAXE];
	struct pb_recovery_stream streams[MAXE];
};

/* Record idx: 4 of 5 came over one of three links, in link seq order,
 * the upstreams restarting their link numbering (new link epoch, lower
 * seqs) at record 600; origins: two nodes (one with a hostile name),
 * three sources, and a new epoch every 150 records. */
static void
deco_links(struct pb_record *rec, uint32_t idx)
{
	rec->origin_node = 7 + idx % 2;
	rec->origin_source = (uint16_t)(idx % 3);
	rec->origin_epoch = 1 + idx / 150;
	rec->origin_seq = 1000 + idx;
	if (idx % 5) {
		rec->link_node = 100 + idx % 3;
		rec->link_epoch = idx < 600 ? 1700000000000000001ull : 1700000000000000002ull;
		rec->link_seq = idx < 600 ? 5000000000ull + idx : idx - 590;
	}
}

/* Only link 101, seqs going on. */
static void
deco_one_link(struct pb_record *rec, uint32_t idx)
{
	rec->origin_epoch = 50;
	rec->link_node = 101;
	rec->link_epoch = 3;
	rec->link_seq = 7000000000ull + idx;
}

/* Local capture: no link=, one epoch per 100 records. */
static void
deco_local(struct pb_record *rec, uint32_t idx)
{
	rec->origin_epoch = 900 + idx / 100;
}

static void
expect_add(struct expect *e, void (*deco)(struct pb_record *, uint32_t), uint32_t from,
    uint32_t to)
{
	struct pb_record rec;
	size_t i;

	for (uint32_t idx = from; idx < to; idx++) {
		mkrec(&rec, idx, 64, 1);
		deco(&rec, idx);
		for (i = 0; i < e->nstreams; i++)
			if (e->streams[i].node == rec.origin_node &&
			    e->streams[i].source == rec.origin_source &&
			    e->streams[i].epoch == rec.origin_epoch)
				break;
		if (i == e->nstreams) {
			assert_true(e->nstreams < MAXE);
			e->streams[e->nstreams++] = (struct pb_recovery_stream){ rec.origin_node,
			    rec.origin_source, rec.origin_epoch, 0 };
		}
		if (rec.origin_seq > e->streams[i].seq)
			e->streams[i].seq = rec.origin_seq;
		if (!rec.link_node)
			continue;
		for (i = 0; i < e->nlinks && e->links[i].node != rec.link_node; i++)
			;
		if (i == e->nlinks) {
			assert_true(e->nlinks < MAXE);
			e->links[e->nlinks++] = (struct pb_recovery_link){ rec.link_node,
			    rec.link_epoch, rec.link_seq };
		}
		/* The latest link epoch wins, then the highest seq in it. */
		if (rec.link_epoch != e->links[i].epoch)
			e->links[i] = (struct pb_recovery_link){ rec.link_node, rec.link_epoch,
			    rec.link_seq };
		else if (rec.link_seq > e->links[i].seq)
			e->links[i].seq = rec.link_seq;
	}
}

static int
link_cmp(const void *a, const void *b)
{
	const struct pb_recovery_link *x = a, *y = b;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int
stream_cmp(const void *a, const void *b)
{
	const struct pb_recovery_stream *x = a, *y = b;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

static void
check_recovery(const struct pb_recovery *r, struct expect *e)
{
	qsort(e->links, e->nlinks, sizeof(e->links[0]), link_cmp);
	qsort(e->streams, e->nstreams, sizeof(e->streams[0]), stream_cmp);
	assert_int_equal(r->nlinks, e->nlinks);
	for (size_t i = 0; i < e->nlinks; i++) {
		assert_int_equal(r->links[i].node, e->links[i].node);
		assert_int_equal(r->links[i].epoch, e->links[i].epoch);
		assert_int_equal(r->links[i].seq, e->links[i].seq);
	}
	assert_int_equal(r->nstreams, e->nstreams);
	for (size_t i = 0; i < e->nstreams; i++) {
		assert_int_equal(r->streams[i].node, e->streams[i].node);
		assert_int_equal(r->streams[i].source, e->streams[i].source);
		assert_int_equal(r->streams[i].epoch, e->streams[i].epoch);
		assert_int_equal(r->streams[i].seq, e->streams[i].seq);
	}
}

static void
recover(struct ctx *c, struct pb_recovery *r)
{
	char err[256] = "x";

	if (pb_sink_file_recover(&c->cfg, r, err, sizeof(err)) != 0)
		fail_msg("recover: %s", err);
	assert_string_equal(err, "");
}

/* Sink setup plus a node whose name tries to fake the comment's fields. */
static int
setup_rc(void **state)
{
	if (setup(state) < 0)
		return -1;
	struct ctx *c = *state;
	struct pb_node_info ni = { .node_id = 8 };
	snprintf(ni.name, sizeof(ni.name), "x) epoch=9 seq=9 link=1:2:3 (");
	return pb_srcdir_set_node(c->srcdir, &ni);
}

static void
dump(struct ctx *c, void (*deco)(struct pb_record *, uint32_t), uint32_t from, uint32_t to)
{
	c->decorate = deco;
	open_sink(c);
	feed(c, from, to, 64);
	close_sink(c);
}

/* The newest file of the dump (there is one unless rotated). */
static void
only_file(struct ctx *c, char *path, size_t len)
{
	struct pb_fnames_list l;

	assert_int_equal(pb_fnames_list(c->cfg.file, &l), 0);
	assert_true(l.n >= 1);
	snprintf(path, len, "%s", l.files[l.n - 1].path);
	pb_fnames_list_free(&l);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	uint8_t *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void
put_file(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static off_t
file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void
test_recover_exact(void **state)
{
	struct ctx *c = *state;
	struct pb_recovery r;
	struct expect e = { 0 };
	char path[PATH_MAX];

	dump(c, deco_links, 0, 1000);
	only_file(c, path, sizeof(path));
	off_t size = file_size(path);
	recover(c, &r);
	expect_add(&e, deco_links, 0, 1000);
	assert_int_equal(e.nlinks, 3);
	assert_true(e.links[0].seq < 1000); /* the restarted numbering */
	assert_int_equal(e.nstreams, 2 * 3 * 7);
	check_recovery(&r, &e);
	assert_int_equal(r.files_scanned, 1);
	assert_int_equal(r.records, 1000);
	assert_int_equal(r.bytes_truncated, 0);
	assert_int_equal(file_size(path), size); /* a complete file is not touched */
	pb_recovery_free(&r);
	assert_null(r.links);
	assert_int_equal(r.nstreams, 0);
}

/* Offset of the last block of a pcapng image, and the block count. */
static size_t
last_block(const uint8_t *b, size_t len, unsigned *nblocks)
{
	size_t off = 0, last = 0;
	uint32_t bl;

	*nblocks = 0;
	while (off < len) {
		memcpy(&bl, b + off + 4, 4);
		last = off;
		off += bl;
		(*nblocks)++;
	}
	assert_int_equal(off, len);
	return last;
}

/* A crash cut the last block anywhere, header included: it goes, the
 * complete records count. */
static void
test_recover_truncated(void **state)
{
	struct ctx *c = *state;
	struct pb_recovery r;
	char path[PATH_MAX];
	size_t len;
	unsigned nb;
	const uint32_t N = 300;

	dump(c, deco_links, 0, N);
	only_file(c, path, sizeof(path));
	uint8_t *orig = slurp(path, &len);
	size_t last = last_block(orig, len, &nb);
	size_t bl = len - last;
	assert_true(bl > 64 + 32);
	struct expect all_but_last = { 0 };
	expect_add(&all_but_last, deco_links, 0, N - 1);

	const size_t cuts[] = { 1, 3, 4, 7, 8, 11, 12, 20, 28, 60, bl / 2, bl - 8, bl - 4, bl - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		put_file(path, orig, last + cuts[i]);
		recover(c, &r);
		assert_int_equal(file_size(path), last);
		assert_int_equal(r.bytes_truncated, cuts[i]);
		assert_int_equal(r.records, N - 1);
		struct expect e = all_but_last;
		check_recovery(&r, &e);
		pb_recovery_free(&r);
	}

	/* Lengths that disagree: trailer, or a header claiming more. */
	uint8_t *bad = malloc(len + (256u << 10));
	assert_non_null(bad);
	memcpy(bad, orig, len);
	bad[len - 4] ^= 0x10;
	put_file(path, bad, len);
	recover(c, &r);
	assert_int_equal(file_size(path), last);
	assert_int_equal(r.records, N - 1);
	pb_recovery_free(&r);
	memcpy(bad, orig, len);
	bad[last + 5] ^= 0x01;
	put_file(path, bad, len);
	recover(c, &r);
	assert_int_equal(file_size(path), last);
	pb_recovery_free(&r);

	/* A zero-filled tail (power loss) of any size goes too. */
	memcpy(bad, orig, len);
	memset(bad + len, 0, 256u << 10);
	put_file(path, bad, len + (256u << 10));
	recover(c, &r);
	assert_int_equal(file_size(path), len);
	assert_int_equal(r.bytes_truncated, 256u << 10);
	assert_int_equal(r.records, N);
	pb_recovery_free(&r);

	/* Damage far from the end is not a crash: the file stays as is, the
	 * records before it count. */
	memcpy(bad, orig, len);
	size_t off = 0;
	uint32_t l;
	for (unsigned k = 0; k < nb / 3; k++) {
		memcpy(&l, bad + off + 4, 4);
		off += l;
	}
	memcpy(&l, bad + off + 4, 4);
	bad[off + l - 1] ^= 0xff;
	memset(bad + len, 0x55, 256u << 10);
	put_file(path, bad, len + (256u << 10));
	recover(c, &r);
	assert_int_equal(file_size(path), (off_t)(len + (256u << 10)));
	assert_int_equal(r.bytes_truncated, 0);
	assert_true(r.records > 0 && r.records < N / 2);
	pb_recovery_free(&r);

	/* Not even a complete SHB. */
	put_file(path, orig, 10);
	recover(c, &r);
	assert_int_equal(file_size(path), 0);
	assert_int_equal(r.nstreams, 0);
	pb_recovery_free(&r);
	free(bad);
	free(orig);
}

static void
set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* The newest file holds no link records: scanning goes on to the newest
 * that does, and stops there. */
static void
test_recover_rotated(void **state)
{
	struct ctx *c = *state;
	struct pb_recovery r;
	struct pb_fnames_list l;

	dump(c, deco_links, 0, 300);     /* links 100..102 */
	dump(c, deco_one_link, 300, 400); /* link 101 only */
	dump(c, deco_local, 400, 650);   /* no links */
	assert_int_equal(pb_fnames_list(c->cfg.file, &l), 0);
	assert_int_equal(l.n, 3);
	/* Same second: order by name, "x" < "x-1" < "x-2"; make it explicit. */
	for (size_t i = 0; i < 3; i++)
		set_mtime(l.files[i].path, 1600000000 + (time_t)i);
	pb_fnames_list_free(&l);

	recover(c, &r);
	assert_int_equal(r.files_scanned, 2);
	assert_int_equal(r.records, 350);
	struct expect e = { 0 };
	expect_add(&e, deco_one_link, 300, 400);
	expect_add(&e, deco_local, 400, 650);
	assert_int_equal(e.nlinks, 1);
	check_recovery(&r, &e);
	pb_recovery_free(&r);

	/* At most PB_RECOVER_MAX_FILES files when none has link records. */
	for (uint32_t k = 0; k < 3; k++)
		dump(c, deco_local, 1000 + 100 * k, 1100 + 100 * k);
	assert_int_equal(pb_fnames_list(c->cfg.file, &l), 0);
	assert_int_equal(l.n, 6);
	pb_fnames_list_free(&l);
	recover(c, &r);
	assert_int_equal(r.files_scanned, PB_RECOVER_MAX_FILES);
	assert_int_equal(r.nlinks, 0);
	e = (struct expect){ 0 };
	expect_add(&e, deco_local, 400, 650);
	expect_add(&e, deco_local, 1000, 1300);
	check_recovery(&r, &e);
	pb_recovery_free(&r);
}

/* Classic pcap: nothing to recover from, and it says so. */
static void
test_recover_pcap(void **state)
{
	struct ctx *c = *state;
	struct pb_recovery r;
	char err[256] = "";

	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/cap-%%s.pcap", c->dir);
	c->cfg.format = PB_FORMAT_PCAP;
	dump(c, deco_links, 0, 50);
	assert_int_equal(pb_sink_file_recover(&c->cfg, &r, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "pcapng"));
	assert_int_equal(r.nlinks, 0);
	assert_int_equal(r.nstreams, 0);
	assert_int_equal(r.files_scanned, 0);
	pb_recovery_free(&r);
}

/* Appends v big-endian in n bytes (2 or 4). */
static void
be(uint8_t *b, size_t *o, uint32_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		b[(*o)++] = (uint8_t)(v >> (8 * i));
}

/* No files, foreign files: nothing recovered, nothing touched. */
static void
test_recover_foreign(void **state)
{
	struct ctx *c = *state;
	struct pb_recovery r;
	char p[PATH_MAX];
	static const char junk[] = "hello, not a capture";

	recover(c, &r);
	assert_int_equal(r.files_scanned, 0);
	assert_int_equal(r.nstreams, 0);
	pb_recovery_free(&r);

	snprintf(p, sizeof(p), "%s/cap-x-junk.pcapng", c->dir);
	put_file(p, (const uint8_t *)junk, sizeof(junk));
	snprintf(p, sizeof(p), "%s/cap-x-short.pcapng", c->dir);
	put_file(p, (const uint8_t *)"\x0a\x0d\x0e", 3);
	recover(c, &r);
	assert_int_equal(r.files_scanned, 0);
	assert_int_equal(file_size(p), 3);
	snprintf(p, sizeof(p), "%s/cap-x-junk.pcapng", c->dir);
	assert_int_equal(file_size(p), sizeof(junk));
	pb_recovery_free(&r);

	/* A big-endian pcapng (another writer) parses the same. */
	uint8_t b[256];
	size_t o = 0;
	static const char cm[] = "pb origin=3(a) source=2() epoch=4 seq=5 link=6:8:7 hops=0";
	be(b, &o, PB_PCAPNG_BT_SHB, 4);
	be(b, &o, 28, 4);
	be(b, &o, PB_PCAPNG_BYTE_ORDER_MAGIC, 4);
	be(b, &o, 1, 2);
	be(b, &o, 0, 2);
	be(b, &o, UINT32_MAX, 4);
	be(b, &o, UINT32_MAX, 4);
	be(b, &o, 28, 4);
	uint32_t epbl = 32 + 4 + 4 + (uint32_t)PB_PCAPNG_PAD4(sizeof(cm) - 1) + 4;
	be(b, &o, PB_PCAPNG_BT_EPB, 4);
	be(b, &o, epbl, 4);
	for (int k = 0; k < 3; k++)
		be(b, &o, 0, 4); /* interface, timestamp */
	be(b, &o, 2, 4);         /* caplen, origlen */
	be(b, &o, 2, 4);
	be(b, &o, 0xaabb0000u, 4);
	be(b, &o, PB_PCAPNG_OPT_COMMENT, 2);
	be(b, &o, sizeof(cm) - 1, 2);
	memset(b + o, 0, PB_PCAPNG_PAD4(sizeof(cm) - 1));
	memcpy(b + o, cm, sizeof(cm) - 1);
	o += PB_PCAPNG_PAD4(sizeof(cm) - 1);
	be(b, &o, 0, 4);         /* end of options */
	be(b, &o, epbl, 4);
	assert_int_equal(o, 28 + epbl);
	snprintf(p, sizeof(p), "%s/cap-x-be.pcapng", c->dir);
	put_file(p, b, o);
	recover(c, &r);
	assert_int_equal(r.files_scanned, 1);
	assert_int_equal(r.nlinks, 1);
	assert_int_equal(r.links[0].node, 6);
	assert_int_equal(r.links[0].epoch, 8);
	assert_int_equal(r.links[0].seq, 7);
	assert_int_equal(r.nstreams, 1);
	assert_int_equal(r.streams[0].node, 3);
	assert_int_equal(r.streams[0].source, 2);
	assert_int_equal(r.streams[0].epoch, 4);
	assert_int_equal(r.streams[0].seq, 5);
	pb_recovery_free(&r);
}

/* The naming helpers shared by the sink and the recovery. */
static void
test_fnames(void **state)
{
	struct ctx *c = *state;
	char g[PATH_MAX], p[PATH_MAX];
	struct pb_fnames_list l;
	struct pb_fnames_last last = { "", 0 };

	assert_int_equal(pb_fnames_glob("/d/cap-%Y%m%d-%H%M%S.pcapng", g, sizeof(g)), 0);
	assert_string_equal(g, "/d/cap-*-*.pcapng");
	assert_int_equal(pb_fnames_glob("/d/[x]%%-%-d%5Ey*.pcap", g, sizeof(g)), 0);
	assert_string_equal(g, "/d/\\[x\\]%-*\\*.pcap");
	assert_int_equal(pb_fnames_glob("/d/%Y.pcapng", g, 8), -1);
	assert_int_equal(pb_fnames_ext_pos("/a.b/c"), strlen("/a.b/c"));
	assert_int_equal(pb_fnames_ext_pos("/a/.hidden"), strlen("/a/.hidden"));
	assert_int_equal(pb_fnames_ext_pos("/a/x.tar.gz"), strlen("/a/x.tar"));

	/* Collisions get "-N"; same mtime orders "x" < "x-1" < "x-2" < "x-10". */
	snprintf(c->cfg.file, sizeof(c->cfg.file), "%s/sub/fixed.pcapng", c->dir);
	for (unsigned i = 0; i < 11; i++) {
		int fd = pb_fnames_create(c->cfg.file, 0, &last, p, sizeof(p));
		assert_true(fd >= 0);
		close(fd);
		set_mtime(p, 1600000000);
	}
	assert_non_null(strstr(p, "/sub/fixed-10.pcapng"));
	snprintf(p, sizeof(p), "%s/sub/fixed-x.pcapng", c->dir); /* not ours */
	put_file(p, (const uint8_t *)"x", 1);
	assert_int_equal(pb_fnames_list(c->cfg.file, &l), 0);
	assert_int_equal(l.n, 11);
	for (unsigned i = 0; i < 11; i++)
		assert_int_equal(l.files[i].suffix, i);
	assert_non_null(strstr(l.files[2].path, "/fixed-2.pcapng"));
	assert_non_null(strstr(l.files[10].path, "/fixed-10.pcapng"));
	pb_fnames_list_free(&l);
	/* Retention keeps the newest and the one in use. */
	struct stat keep;
	snprintf(p, sizeof(p), "%s/sub/fixed.pcapng", c->dir);
	assert_int_equal(stat(p, &keep), 0);
	assert_int_equal(pb_fnames_retention(c->cfg.file, 3, 0, 0, &keep, "t"), 8);
	assert_int_equal(pb_fnames_list(c->cfg.file, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.files[0].suffix, 0);
	assert_int_equal(l.files[1].suffix, 9);
	assert_int_equal(l.files[2].suffix, 10);
	pb_fnames_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recover_exact, setup_rc, teardown),
		cmocka_unit_test_setup_teardown(test_recover_truncated, setup_rc, teardown),
		cmocka_unit_test_setup_teardown(test_recover_rotated, setup_rc, teardown),
		cmocka_unit_test_setup_teardown(test_recover_pcap, setup_rc, teardown),
		cmocka_unit_test_setup_teardown(test_recover_foreign, setup_rc, teardown),
		cmocka_unit_test_setup_teardown(test_fnames, setup_rc, teardown),
	};

	return cmocka_run_group_tests_name("sink_recover", tests, NULL, NULL);
}
