/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "wire.h"

/*
 * Wire codec tests. Random inputs come from a fixed-seed xorshift so a
 * failure is reproducible; the seed is printed.
 */

/* A string literal as a wire string. */
#define S(lit) ((struct pb_wire_str){ (lit), (uint16_t)(sizeof(lit) - 1) })

#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#include "rng_test.h"

static uint8_t frame_src[PB_FRAME_CAP];
static uint8_t wbuf[PB_WIRE_MAX_MSG];
static struct pb_wire_msg msg;
static struct pb_record rec;
static uint8_t stream[4u << 20];

/* Fills rec with random metadata; trailers stay inside the frame. */
static void
random_record(struct pb_record *r, uint32_t caplen, unsigned ntr, unsigned nh)
{
	pb_record_reset(r);
	r->data = frame_src;
	r->caplen = caplen;
	r->origlen = caplen + rnd_below(100);
	r->ts_ns = rnd();
	r->origin_epoch = rnd();
	r->origin_seq = rnd();
	r->origin_node = (uint32_t)rnd();
	r->origin_source = (uint16_t)rnd();
	r->linktype = (uint16_t)rnd();
	r->flags = (uint16_t)rnd();
	r->ntrailers = (uint8_t)ntr;
	r->nhops = (uint8_t)nh;
	for (unsigned i = 0; i < ntr; i++) {
		struct pb_trailer_meta *t = &r->trailers[i];
		t->type = (uint8_t)rnd();
		t->valid = (uint8_t)rnd_below(2);
		t->flags = (uint8_t)rnd();
		t->pad = 0xaa; /* must not reach the wire */
		t->device = (uint16_t)rnd();
		t->port = (uint16_t)rnd();
		t->offset = (uint16_t)rnd_below(caplen + 1);
		t->len = (uint16_t)rnd_below(caplen - t->offset + 1);
		t->pad2 = 0xdeadbeef;
		t->ts_ns = rnd();
	}
	for (unsigned i = 0; i < nh; i++) {
		r->hops[i].node_id = (uint32_t)rnd();
		r->hops[i].flags = (uint32_t)rnd();
		r->hops[i].seq = rnd();
		r->hops[i].ts_ns = rnd();
	}
}

/* Plain comparisons, one cmocka assert per record: the every-caplen loop
 * would otherwise make ~13 million cmocka calls (slow under valgrind). */
#define DIFF(cond, ...) do { if (!(cond)) { \
	snprintf(why, whylen, __VA_ARGS__); return 1; } } while (0)

static int
record_diff(const struct pb_record *a, const struct pb_record *b, char *why, size_t whylen)
{
	DIFF(a->caplen == b->caplen, "caplen %u != %u", a->caplen, b->caplen);
	DIFF(a->origlen == b->origlen, "origlen");
	DIFF(a->ts_ns == b->ts_ns, "ts_ns");
	DIFF(a->origin_epoch == b->origin_epoch, "origin_epoch");
	DIFF(a->origin_seq == b->origin_seq, "origin_seq");
	DIFF(a->origin_node == b->origin_node, "origin_node");
	DIFF(a->origin_source == b->origin_source, "origin_source");
	DIFF(a->linktype == b->linktype, "linktype");
	DIFF(a->flags == b->flags, "flags");
	DIFF(a->ntrailers == b->ntrailers, "ntrailers %u != %u", a->ntrailers, b->ntrailers);
	DIFF(a->nhops == b->nhops, "nhops %u != %u", a->nhops, b->nhops);
	for (unsigned i = 0; i < a->ntrailers; i++) {
		const struct pb_trailer_meta *x = &a->trailers[i], *y = &b->trailers[i];
		DIFF(x->type == y->type && x->valid == y->valid && x->flags == y->flags &&
		    x->device == y->device && x->port == y->port && x->len == y->len &&
		    x->offset == y->offset && x->ts_ns == y->ts_ns, "trailer %u", i);
	}
	for (unsigned i = 0; i < a->nhops; i++) {
		const struct pb_hop *x = &a->hops[i], *y = &b->hops[i];
		DIFF(x->node_id == y->node_id && x->flags == y->flags && x->seq == y->seq &&
		    x->ts_ns == y->ts_ns, "hop %u", i);
	}
	DIFF(a->caplen == 0 || memcmp(a->data, b->data, a->caplen) == 0, "frame bytes");
	return 0;
}

static void
assert_record_equal(const struct pb_record *a, const struct pb_record *b)
{
	char why[64];

	if (record_diff(a, b, why, sizeof(why)) != 0)
		fail_msg("records differ: %s", why);
}

static enum pb_wire_status
decode(const uint8_t *buf, size_t len, size_t *consumed)
{
	char err[160] = "";
	enum pb_wire_status st = pb_wire_decode(buf, len, &msg, consumed, err, sizeof(err));
	if (st == PB_WIRE_ERROR)
		assert_true(err[0] != '\0');
	return st;
}

/* ---- the worked example of schema/wire-protocol.md ---- */

/* Hex text, as printed in the document, to bytes; returns the count. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;
	int k;

	while (n < cap && sscanf(hex, " %2x%n", &v, &k) == 1) {
		out[n++] = (uint8_t)v;
		hex += k;
	}
	return n;
}

/* §9 of the document, verbatim (without the offsets). */
static const char example_hex[] =
	"50 42 01 06 00 00 00 9c 00 00 00 00 00 00 00 07"
	"00 00 00 01 00 03 00 01 00 00 00 00 65 53 c9 f0"
	"00 00 00 00 00 00 00 2a 17 97 9c fe 3d 85 cd 15"
	"00 00 00 3c 00 00 00 3c 00 01 01 01 01 01 01 00"
	"00 07 00 03 00 14 00 28 17 97 9c fe 3d 85 ca 00"
	"00 00 00 02 00 00 00 00 00 00 00 00 00 00 03 e9"
	"17 97 9c fe 3d 86 75 e0 02 00 00 00 00 02 02 00"
	"00 00 00 01 08 00 45 00 00 1a 00 00 40 00 40 fd"
	"b5 e3 c0 00 02 01 c0 00 02 02 50 42 77 69 72 65"
	"77 9c 88 9e 65 53 f1 00 07 5b ca 00 01 00 07 03"
	"51 25 08 b7";
static uint8_t example_msg[164];
#define EXAMPLE_FRAME_OFF 104u

static void
example_record(struct pb_record *r)
{
	pb_record_reset(r);
	r->data = example_msg + EXAMPLE_FRAME_OFF;
	r->caplen = 60;
	r->origlen = 60;
	r->ts_ns = 1700000000123456789ull;
	r->origin_epoch = 1699990000ull;
	r->origin_seq = 42;
	r->origin_node = 1;
	r->origin_source = 3;
	r->linktype = 1;
	r->flags = PB_REC_FCS;
	r->ntrailers = 1;
	r->trailers[0] = (struct pb_trailer_meta){
		.type = PB_TRAILER_METAMAKO, .valid = 1, .flags = 0x01, .device = 7,
		.port = 3, .len = 20, .offset = 40, .ts_ns = 1700000000123456000ull,
	};
	assert_int_equal(pb_record_add_hop(r, 2, 1001, 1700000000123500000ull), 0);
}

static void
test_hex_example(void **state)
{
	struct pb_record want;
	size_t used;

	(void)state;
	example_record(&want);
	assert_int_equal(pb_wire_record_size(&want), sizeof(example_msg));
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &want, 7), sizeof(example_msg));
	assert_memory_equal(wbuf, example_msg, sizeof(example_msg));

	assert_int_equal(decode(example_msg, sizeof(example_msg), &used), PB_WIRE_OK);
	assert_int_equal(used, sizeof(example_msg));
	assert_int_equal(msg.type, PB_WIRE_T_RECORD);
	assert_true(msg.link_seq == 7);
	assert_ptr_equal(msg.record.data, example_msg + EXAMPLE_FRAME_OFF);
	assert_record_equal(&msg.record, &want);
	/* The frame really ends with the metamako trailer it describes. */
	assert_int_equal(example_msg[EXAMPLE_FRAME_OFF + 40 + 12], 0x01);

	/* And the ACK of the document. */
	uint8_t ack_msg[16];
	assert_int_equal(unhex("50 42 01 07 00 00 00 08 00 00 00 00 00 00 00 07", ack_msg,
	    sizeof(ack_msg)), sizeof(ack_msg));
	struct pb_wire_ack ack = { .link_seq = 7 };
	assert_int_equal(pb_wire_encode_ack(wbuf, sizeof(wbuf), &ack), sizeof(ack_msg));
	assert_memory_equal(wbuf, ack_msg, sizeof(ack_msg));
}

/* ---- RECORD round trips ---- */

static void
test_roundtrip_every_caplen(void **state)
{
	size_t used;

	(void)state;
	for (uint32_t caplen = 1; caplen <= PB_FRAME_CAP; caplen++) {
		unsigned ntr = rnd_below(PB_MAX_TRAILERS + 1), nh = rnd_below(PB_MAX_HOPS + 1);
		/* Hit the extremes regularly, not only by chance. */
		if (caplen % 97 == 0) {
			ntr = PB_MAX_TRAILERS;
			nh = PB_MAX_HOPS;
		}
		random_record(&rec, caplen, ntr, nh);
		uint64_t link_seq = rnd() | 1;
		size_t n = pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, link_seq);
		assert_int_equal(n, pb_wire_record_size(&rec));
		assert_int_equal(n, PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN +
		    ntr * PB_WIRE_REC_TRAILER_LEN + nh * PB_WIRE_REC_HOP_LEN + caplen);
		assert_int_equal(decode(wbuf, n, &used), PB_WIRE_OK);
		assert_int_equal(used, n);
		assert_true(msg.link_seq == link_seq);
		assert_ptr_equal(msg.record.data, wbuf + n - caplen);
		assert_record_equal(&msg.record, &rec);
	}
}

static void
test_record_hdr_plus_data(void **state)
{
	static uint8_t other[PB_WIRE_MAX_MSG];

	(void)state;
	random_record(&rec, 1500, 3, 5);
	size_t n = pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 99);
	size_t h = pb_wire_encode_record_hdr(other, sizeof(other), &rec, 99);
	assert_int_equal(h + rec.caplen, n);
	memcpy(other + h, rec.data, rec.caplen);
	assert_memory_equal(wbuf, other, n);
	/* Zero-length frame: allowed, data may be NULL. */
	random_record(&rec, 0, 0, 0);
	rec.data = NULL;
	n = pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1);
	assert_int_equal(n, PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN);
	size_t used;
	assert_int_equal(decode(wbuf, n, &used), PB_WIRE_OK);
	assert_int_equal(msg.record.caplen, 0);
}

static void
test_record_encode_invalid(void **state)
{
	(void)state;
	random_record(&rec, 100, 1, 1);
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 0), 0);
	rec.caplen = PB_FRAME_CAP + 1;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	random_record(&rec, 100, 1, 1);
	rec.ntrailers = PB_MAX_TRAILERS + 1;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	random_record(&rec, 100, 1, 1);
	rec.nhops = PB_MAX_HOPS + 1;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	random_record(&rec, 100, 1, 1);
	rec.trailers[0].valid = 2;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	rec.trailers[0].valid = 1;
	rec.trailers[0].offset = 90;
	rec.trailers[0].len = 11;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	assert_int_equal(pb_wire_encode_record_hdr(wbuf, sizeof(wbuf), &rec, 1), 0);
	/* Not validated, so its fields are carried as they are. */
	rec.trailers[0].valid = 0;
	assert_int_not_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
	random_record(&rec, 100, 0, 0);
	rec.data = NULL;
	assert_int_equal(pb_wire_encode_record(wbuf, sizeof(wbuf), &rec, 1), 0);
}

/* Too small a buffer: the size comes back and nothing is written. */
static void
test_encode_small_buffer(void **state)
{
	uint8_t small[256];

	(void)state;
	random_record(&rec, 200, 2, 2);
	size_t n = pb_wire_encode_record(NULL, 0, &rec, 5);
	assert_int_equal(n, pb_wire_record_size(&rec));
	memset(small, 0xee, sizeof(small));
	assert_int_equal(pb_wire_encode_record(small, sizeof(small), &rec, 5), n);
	for (size_t i = 0; i < sizeof(small); i++)
		assert_int_equal(small[i], 0xee);
	assert_int_equal(pb_wire_encode_record(wbuf, n, &rec, 5), n);

	struct pb_wire_ack ack = { .link_seq = 1 };
	assert_int_equal(pb_wire_encode_ack(small, PB_WIRE_HDR_LEN + PB_WIRE_ACK_LEN - 1, &ack),
	    PB_WIRE_HDR_LEN + PB_WIRE_ACK_LEN);
	assert_int_equal(small[0], 0xee);
	struct pb_wire_node node = { 9, S("n"), S("d") };
	assert_int_equal(pb_wire_encode_node(small, 8, &node), 8 + 4 + 3 + 3);
	assert_int_equal(small[0], 0xee);
}

/* ---- truncation ---- */

/* Every proper prefix must give NEED_MORE with the right size. The prefix
 * sits at the end of an exact allocation so ASan sees any over-read. */
static void
check_prefixes(const uint8_t *m, size_t n, size_t step_from, size_t step)
{
	uint8_t *tmp = malloc(n);
	size_t used;

	assert_non_null(tmp);
	for (size_t cut = 0; cut < n; cut += cut < step_from ? 1 : step) {
		memcpy(tmp + n - cut, m, cut);
		used = 12345;
		assert_int_equal(decode(tmp + n - cut, cut, &used), PB_WIRE_NEED_MORE);
		assert_int_equal(used, 0);
		assert_int_equal(msg.size, cut < PB_WIRE_HDR_LEN ? PB_WIRE_HDR_LEN : n);
	}
	memcpy(tmp, m, n);
	assert_int_equal(decode(tmp, n, &used), PB_WIRE_OK);
	assert_int_equal(used, n);
	free(tmp);
}

static void
test_truncation(void **state)
{
	static uint8_t m[PB_WIRE_MAX_MSG];
	size_t n;

	(void)state;
	check_prefixes(example_msg, sizeof(example_msg), SIZE_MAX, 1);
	random_record(&rec, 1514, PB_MAX_TRAILERS, PB_MAX_HOPS);
	n = pb_wire_encode_record(m, sizeof(m), &rec, 3);
	check_prefixes(m, n, SIZE_MAX, 1);
	/* The biggest record: every byte of the metadata, then strides. */
	random_record(&rec, PB_FRAME_CAP, PB_MAX_TRAILERS, PB_MAX_HOPS);
	n = pb_wire_encode_record(m, sizeof(m), &rec, 4);
	check_prefixes(m, n, 1200, 61);

	struct pb_wire_hello hello = { 1, 1, PB_WIRE_HELLO_SEND, 77, 5, { 1, 2, 3 } };
	n = pb_wire_encode_hello(m, sizeof(m), &hello);
	check_prefixes(m, n, SIZE_MAX, 1);
	struct pb_wire_source src = { 3, 4, 1, S("eth0"), S("mirror port \xc3\xa9") };
	n = pb_wire_encode_source(m, sizeof(m), &src);
	check_prefixes(m, n, SIZE_MAX, 1);
	struct pb_wire_error e = { PB_WIRE_E_AUTH, S("bad mac") };
	n = pb_wire_encode_error(m, sizeof(m), &e);
	check_prefixes(m, n, SIZE_MAX, 1);
	struct pb_wire_dlq_notice d = { 10, 20, PB_WIRE_DLQ_EXPIRED };
	n = pb_wire_encode_dlq_notice(m, sizeof(m), &d);
	check_prefixes(m, n, SIZE_MAX, 1);
}

/* ---- header errors ---- */

static void
put_hdr(uint8_t *p, uint8_t version, uint8_t type, uint32_t len)
{
	p[0] = 0x50;
	p[1] = 0x42;
	p[2] = version;
	p[3] = type;
	p[4] = (uint8_t)(len >> 24);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
}

static void
expect_error(const uint8_t *p, size_t len, enum pb_wire_errcode code)
{
	size_t used = 999;
	assert_int_equal(decode(p, len, &used), PB_WIRE_ERROR);
	assert_int_equal(used, 0);
	assert_int_equal(msg.errcode, code);
}

static void
test_header_errors(void **state)
{
	static const struct {
		uint8_t magic1, version, type;
		uint32_t len;
		size_t cut;       /* bytes given to the decoder */
		enum pb_wire_errcode code;
	} cases[] = {
		/* Each is seen at the first byte that shows it. */
		{ 0x43, 1, PB_WIRE_T_ACK, 8, 2, PB_WIRE_E_MAGIC },
		{ 0x43, 1, PB_WIRE_T_ACK, 8, 16, PB_WIRE_E_MAGIC },
		{ 0x42, 0, PB_WIRE_T_ACK, 8, 3, PB_WIRE_E_VERSION },
		{ 0x42, 2, PB_WIRE_T_ACK, 8, 3, PB_WIRE_E_VERSION },
		{ 0x42, 255, PB_WIRE_T_ACK, 8, 16, PB_WIRE_E_VERSION },
		{ 0x42, 1, 0, 0, 4, PB_WIRE_E_TYPE },
		{ 0x42, 1, 11, 0, 4, PB_WIRE_E_TYPE },
		{ 0x42, 1, 50, 0, 8, PB_WIRE_E_TYPE },
		{ 0x42, 1, 127, 0, 8, PB_WIRE_E_TYPE },
		/* Oversize for any type, even optional ones. */
		{ 0x42, 1, PB_WIRE_T_RECORD, PB_WIRE_MAX_BODY + 1, 8, PB_WIRE_E_OVERSIZE },
		{ 0x42, 1, PB_WIRE_T_HELLO, PB_WIRE_MAX_BODY + 1, 8, PB_WIRE_E_OVERSIZE },
		{ 0x42, 1, 200, PB_WIRE_MAX_BODY + 1, 8, PB_WIRE_E_OVERSIZE },
		{ 0x42, 1, 200, UINT32_MAX, 8, PB_WIRE_E_OVERSIZE },
		/* Known types with a body length their layout cannot have. */
		{ 0x42, 1, PB_WIRE_T_ACK, PB_WIRE_ACK_LEN + 1, 8, PB_WIRE_E_MALFORMED },
		{ 0x42, 1, PB_WIRE_T_AUTH, PB_WIRE_AUTH_LEN - 1, 8, PB_WIRE_E_MALFORMED },
		{ 0x42, 1, PB_WIRE_T_RECORD, PB_WIRE_REC_FIXED_LEN - 1, 8, PB_WIRE_E_MALFORMED },
		{ 0x42, 1, PB_WIRE_T_RECORD, PB_WIRE_REC_MAX_BODY + 1, 8, PB_WIRE_E_MALFORMED },
		{ 0x42, 1, PB_WIRE_T_HELLO, PB_WIRE_HELLO_LEN - 1, 8, PB_WIRE_E_MALFORMED },
		{ 0x42, 1, PB_WIRE_T_ERROR, 3, 8, PB_WIRE_E_MALFORMED },
	};
	uint8_t h[16] = { 0 };
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_hdr(h, cases[i].version, cases[i].type, cases[i].len);
		h[1] = cases[i].magic1;
		expect_error(h, cases[i].cut, cases[i].code);
	}
	expect_error((const uint8_t *)"GET / HTTP/1.1\r\n", 16, PB_WIRE_E_MAGIC);
	expect_error((const uint8_t *)"G", 1, PB_WIRE_E_MAGIC);
	/* err may be NULL. */
	assert_int_equal(pb_wire_decode(h, 8, &msg, &used, NULL, 0), PB_WIRE_ERROR);
	/* The limit itself is fine. */
	put_hdr(h, 1, 200, PB_WIRE_MAX_BODY);
	assert_int_equal(decode(h, 8, &used), PB_WIRE_NEED_MORE);
	assert_int_equal(msg.size, PB_WIRE_MAX_MSG);
}

static void
test_unknown_optional_skipped(void **state)
{
	static uint8_t m[64 + PB_WIRE_HDR_LEN + PB_WIRE_ACK_LEN];
	size_t used;

	(void)state;
	for (unsigned type = PB_WIRE_T_OPTIONAL; type <= 255; type++) {
		memset(m, 0xa5, sizeof(m));
		put_hdr(m, 1, (uint8_t)type, 40);
		struct pb_wire_ack ack = { .link_seq = type };
		size_t n = pb_wire_encode_ack(m + 48, sizeof(m) - 48, &ack);
		assert_int_equal(decode(m, 47, &used), PB_WIRE_NEED_MORE);
		assert_int_equal(msg.size, 48);
		assert_int_equal(decode(m, 48 + n, &used), PB_WIRE_SKIP);
		assert_int_equal(used, 48);
		assert_int_equal(msg.type, type);
		assert_int_equal(decode(m + used, n, &used), PB_WIRE_OK);
		assert_true(msg.ack.link_seq == type);
	}
	put_hdr(m, 1, 255, 0);
	assert_int_equal(decode(m, PB_WIRE_HDR_LEN, &used), PB_WIRE_SKIP);
	assert_int_equal(used, PB_WIRE_HDR_LEN);
}

/* ---- malformed bodies ---- */

static void
test_malformed_record(void **state)
{
	static uint8_t m[PB_WIRE_MAX_MSG];
	uint8_t *b = m + PB_WIRE_HDR_LEN;

	(void)state;
	random_record(&rec, 100, 2, 1);
	rec.trailers[0].valid = 1;
	rec.trailers[0].offset = 80;
	rec.trailers[0].len = 20;
	size_t n = pb_wire_encode_record(m, sizeof(m), &rec, 1);
	size_t used;
	assert_int_equal(decode(m, n, &used), PB_WIRE_OK);

	/* Each corruption on a fresh copy: {offset in body, new byte}. */
	static const struct {
		unsigned off;
		uint8_t val;
	} bad[] = {
		{ 7, 0 },                      /* link_seq 1 -> 0 */
		{ 50, PB_MAX_TRAILERS + 1 },
		{ 51, PB_MAX_HOPS + 1 },
		{ 41, 1 },                     /* caplen 100 + 65536 */
		{ 43, 101 },                   /* caplen 101: length mismatch */
		{ 52 + 3, 1 },                 /* trailer reserved byte */
		{ 52 + 1, 2 },                 /* valid = 2 */
		{ 52 + 9, 21 },                /* offset 80 + len 21 > caplen 100 */
	};
	memcpy(wbuf, m, n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(m, wbuf, n);
		b[bad[i].off] = bad[i].val;
		expect_error(m, n, PB_WIRE_E_MALFORMED);
		/* The fixed part alone shows bad counts, lengths, link_seq. */
		if (bad[i].off < PB_WIRE_REC_FIXED_LEN)
			expect_error(m, PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN,
			    PB_WIRE_E_MALFORMED);
	}
	b[52 + 1] = 0;                         /* out of the frame is fine when invalid */
	assert_int_equal(decode(m, n, &used), PB_WIRE_OK);
	assert_int_equal(msg.record.trailers[0].len, 21);
	/* Header length one short or long of the layout. */
	memcpy(m, wbuf, n);
	put_hdr(m, 1, PB_WIRE_T_RECORD, (uint32_t)(n - PB_WIRE_HDR_LEN - 1));
	expect_error(m, n - 1, PB_WIRE_E_MALFORMED);
	put_hdr(m, 1, PB_WIRE_T_RECORD, (uint32_t)(n - PB_WIRE_HDR_LEN + 1));
	expect_error(m, n + 1, PB_WIRE_E_MALFORMED);
}

static void
test_malformed_control(void **state)
{
	uint8_t m[2048];
	size_t used, n;

	(void)state;
	/* NODE: strings must fill the body exactly. */
	struct pb_wire_node node = { 5, S("alpha"), S("") };
	n = pb_wire_encode_node(m, sizeof(m), &node);
	m[8 + 4 + 1] = 6;                      /* name overruns */
	expect_error(m, n, PB_WIRE_E_MALFORMED);
	n = pb_wire_encode_node(m, sizeof(m), &node);
	m[7]++;                                /* one trailing byte */
	m[n] = 0;
	expect_error(m, n + 1, PB_WIRE_E_MALFORMED);
	n = pb_wire_encode_node(m, sizeof(m), &node);
	m[8 + 6 + 2] = 0;                      /* NUL inside the name */
	expect_error(m, n, PB_WIRE_E_MALFORMED);
	m[8 + 6 + 2] = 0xff;                   /* not UTF-8 */
	expect_error(m, n, PB_WIRE_E_MALFORMED);

	/* Text encoders refuse what the decoder would. */
	char big[PB_WIRE_MAX_DESCR + 1];
	memset(big, 'x', sizeof(big));
	node.name = (struct pb_wire_str){ big, PB_WIRE_MAX_NAME + 1 };
	assert_int_equal(pb_wire_encode_node(m, sizeof(m), &node), 0);
	node.name = (struct pb_wire_str){ big, PB_WIRE_MAX_NAME };
	node.descr = (struct pb_wire_str){ big, PB_WIRE_MAX_DESCR };
	n = pb_wire_encode_node(m, sizeof(m), &node);
	assert_int_equal(decode(m, n, &used), PB_WIRE_OK);
	node.descr.len++;
	assert_int_equal(pb_wire_encode_node(m, sizeof(m), &node), 0);
	struct pb_wire_source src = { 1, 1, 1, S("a\0b"), S("") };
	assert_int_equal(pb_wire_encode_source(m, sizeof(m), &src), 0);
	struct pb_wire_error e = { 1, S("\xc0\x80") };
	assert_int_equal(pb_wire_encode_error(m, sizeof(m), &e), 0);
	e.text = (struct pb_wire_str){ NULL, 3 };
	assert_int_equal(pb_wire_encode_error(m, sizeof(m), &e), 0);

	/* HELLO: version range and node id. */
	struct pb_wire_hello hello = { 1, 1, 0, 1, 0, { 0 } };
	n = pb_wire_encode_hello(m, sizeof(m), &hello);
	m[8] = 2;                              /* min 2 > max 1 */
	expect_error(m, n, PB_WIRE_E_MALFORMED);
	m[8] = 0;
	expect_error(m, n, PB_WIRE_E_MALFORMED);
	m[8] = 1;
	memset(m + 12, 0, 4);
	expect_error(m, n, PB_WIRE_E_NODE_ID);
	hello.node_id = 0;
	assert_int_equal(pb_wire_encode_hello(m, sizeof(m), &hello), 0);
	hello = (struct pb_wire_hello){ 2, 1, 0, 1, 0, { 0 } };
	assert_int_equal(pb_wire_encode_hello(m, sizeof(m), &hello), 0);

	/* DLQ_NOTICE: a non-empty range from 1. */
	struct pb_wire_dlq_notice d = { 5, 4, 1 };
	assert_int_equal(pb_wire_encode_dlq_notice(m, sizeof(m), &d), 0);
	d.first_seq = 0;
	assert_int_equal(pb_wire_encode_dlq_notice(m, sizeof(m), &d), 0);
	d = (struct pb_wire_dlq_notice){ 5, 5, 1 };
	n = pb_wire_encode_dlq_notice(m, sizeof(m), &d);
	assert_int_equal(decode(m, n, &used), PB_WIRE_OK);
	m[15] = 6;                             /* first 6 > last 5 */
	expect_error(m, n, PB_WIRE_E_MALFORMED);
}

/* A later version's longer HELLO is still read. */
static void
test_hello_extension(void **state)
{
	uint8_t m[PB_WIRE_HDR_LEN + PB_WIRE_HELLO_LEN + 16];
	size_t used;

	(void)state;
	struct pb_wire_hello hello = { 1, 3, PB_WIRE_HELLO_SEND | 0x8000, 42, 7, { 9 } };
	size_t n = pb_wire_encode_hello(m, sizeof(m), &hello);
	memset(m + n, 0x77, 16);
	put_hdr(m, 1, PB_WIRE_T_HELLO, PB_WIRE_HELLO_LEN + 16);
	assert_int_equal(decode(m, sizeof(m) - 1, &used), PB_WIRE_NEED_MORE);
	assert_int_equal(decode(m, sizeof(m), &used), PB_WIRE_OK);
	assert_int_equal(used, sizeof(m));
	assert_int_equal(msg.hello.max_version, 3);
	assert_int_equal(msg.hello.flags, PB_WIRE_HELLO_SEND | 0x8000);
	assert_int_equal(msg.hello.nonce[0], 9);
}

/* ---- other message types ---- */

static int
str_eq(struct pb_wire_str a, struct pb_wire_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Encode, decode, compare the fields, re-encode to the same bytes. */
static void
roundtrip(const struct pb_wire_msg *in)
{
	uint8_t m[4096], again[4096];
	size_t used;
	int same;

	size_t n = pb_wire_encode(m, sizeof(m), in);
	assert_true(n >= PB_WIRE_HDR_LEN && n <= sizeof(m));
	assert_int_equal(decode(m, n, &used), PB_WIRE_OK);
	assert_int_equal(used, n);
	assert_int_equal(msg.type, in->type);
	assert_int_equal(msg.version, 1);
	assert_int_equal(msg.length, n - PB_WIRE_HDR_LEN);
	const struct pb_wire_msg *o = &msg;
	switch (in->type) {
	case PB_WIRE_T_HELLO:  /* these structs have no padding */
		same = !memcmp(&o->hello, &in->hello, sizeof(in->hello));
		break;
	case PB_WIRE_T_AUTH:
		same = !memcmp(o->auth.mac, in->auth.mac, PB_WIRE_MAC_LEN);
		break;
	case PB_WIRE_T_WELCOME:
		same = !memcmp(&o->welcome, &in->welcome, sizeof(in->welcome));
		break;
	case PB_WIRE_T_NODE:
		same = o->node.node_id == in->node.node_id &&
		    str_eq(o->node.name, in->node.name) && str_eq(o->node.descr, in->node.descr) &&
		    o->node.name.ptr == (const char *)m + 14;  /* zero copy */
		break;
	case PB_WIRE_T_SOURCE:
		same = o->source.node_id == in->source.node_id &&
		    o->source.source_id == in->source.source_id &&
		    o->source.linktype == in->source.linktype &&
		    str_eq(o->source.name, in->source.name) &&
		    str_eq(o->source.descr, in->source.descr);
		break;
	case PB_WIRE_T_ACK:
		same = o->ack.link_seq == in->ack.link_seq;
		break;
	case PB_WIRE_T_HEARTBEAT:
		same = !memcmp(&o->heartbeat, &in->heartbeat, sizeof(in->heartbeat));
		break;
	case PB_WIRE_T_DLQ_NOTICE:
		same = o->dlq.first_seq == in->dlq.first_seq &&
		    o->dlq.last_seq == in->dlq.last_seq && o->dlq.reason == in->dlq.reason;
		break;
	case PB_WIRE_T_ERROR:
		same = o->error.code == in->error.code && str_eq(o->error.text, in->error.text);
		break;
	default:
		same = 0;
	}
	if (!same)
		fail_msg("%s: decoded fields differ", pb_wire_type_name(in->type));
	assert_int_equal(pb_wire_encode(again, sizeof(again), &msg), n);
	assert_memory_equal(again, m, n);
}

static void
test_control_roundtrip(void **state)
{
	const struct pb_wire_msg cases[] = {
		{ .type = PB_WIRE_T_HELLO, .hello = { 1, 1, PB_WIRE_HELLO_SEND | PB_WIRE_HELLO_RECV,
		    0xfffffffe, 0x0102030405060708ull, { 0xf0, 0xf1, [31] = 0xff } } },
		{ .type = PB_WIRE_T_AUTH, .auth = { { 0x5a, 0xa5, [16] = 0x11, [31] = 0x99 } } },
		{ .type = PB_WIRE_T_WELCOME, .welcome = { UINT64_MAX - 1, 1000, 0x80000001u } },
		{ .type = PB_WIRE_T_NODE, .node = { 17, S("node-\xe2\x82\xac\xf0\x9d\x84\x9e"),
		    S("rack 4, row B") } },
		{ .type = PB_WIRE_T_NODE, .node = { 18, S("n"), { NULL, 0 } } },
		{ .type = PB_WIRE_T_SOURCE, .source = { 17, 65535, 1, S("tap0"),
		    S("span of core-sw1 Eth1/1") } },
		{ .type = PB_WIRE_T_ACK, .ack = { 0x1122334455667788ull } },
		{ .type = PB_WIRE_T_ACK, .ack = { 0 } },  /* "nothing yet" is legal */
		{ .type = PB_WIRE_T_HEARTBEAT, .heartbeat = { 1700000000000000000ull, 1 } },
		{ .type = PB_WIRE_T_DLQ_NOTICE, .dlq = { 100, 250, PB_WIRE_DLQ_QUEUE_FULL } },
		{ .type = PB_WIRE_T_ERROR, .error = { PB_WIRE_E_VERSION,
		    S("no common version (1..1)") } },
	};
	struct pb_wire_msg bad = { .type = 99 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		roundtrip(&cases[i]);
	assert_int_equal(pb_wire_encode(wbuf, sizeof(wbuf), &bad), 0);
}

/* ---- streams ---- */

/* Builds a stream of records interleaved with control and optional
 * messages; returns its length. */
#define STREAM_RECORDS 600
static size_t
build_stream(uint8_t *s, size_t cap, uint64_t first_seq)
{
	size_t off = 0;

	for (unsigned i = 0; i < STREAM_RECORDS; i++) {
		uint32_t caplen = i % 50 == 0 ? PB_FRAME_CAP : 1 + rnd_below(2000);
		random_record(&rec, caplen, rnd_below(3), rnd_below(4));
		rec.origin_seq = i;
		rec.data = frame_src + rnd_below(PB_FRAME_CAP - caplen + 1);
		size_t n = pb_wire_encode_record(s + off, cap - off, &rec, first_seq + i);
		assert_true(n > 0 && n <= cap - off);
		off += n;
		if (i % 7 == 0) {
			struct pb_wire_ack ack = { first_seq + i };
			off += pb_wire_encode_ack(s + off, cap - off, &ack);
		}
		if (i % 11 == 0) {  /* optional type some later version sends */
			assert_true(cap - off >= PB_WIRE_HDR_LEN + 5);
			put_hdr(s + off, 1, 130, 5);
			memcpy(s + off + PB_WIRE_HDR_LEN, "later", 5);
			off += PB_WIRE_HDR_LEN + 5;
		}
	}
	return off;
}

/* Checks one decoded message against what build_stream put there. */
static void
check_stream_msg(enum pb_wire_status st, unsigned *nrec, unsigned *nack, unsigned *nskip,
    uint64_t first_seq)
{
	if (st == PB_WIRE_SKIP) {
		assert_int_equal(msg.type, 130);
		(*nskip)++;
		return;
	}
	assert_int_equal(st, PB_WIRE_OK);
	if (msg.type == PB_WIRE_T_ACK) {
		assert_true(msg.ack.link_seq == first_seq + *nrec - 1);
		(*nack)++;
		return;
	}
	assert_int_equal(msg.type, PB_WIRE_T_RECORD);
	assert_true(msg.link_seq == first_seq + *nrec);
	assert_true(msg.record.origin_seq == *nrec);
	(*nrec)++;
}

static void
test_many_records_in_order(void **state)
{
	uint8_t *s = stream;
	unsigned nrec = 0, nack = 0, nskip = 0;
	size_t len, off = 0, used;

	(void)state;
	len = build_stream(s, sizeof(stream), 1000);
	while (off < len) {
		enum pb_wire_status st = decode(s + off, len - off, &used);
		check_stream_msg(st, &nrec, &nack, &nskip, 1000);
		off += used;
	}
	assert_int_equal(off, len);
	assert_int_equal(nrec, STREAM_RECORDS);
	assert_int_equal(nack, (STREAM_RECORDS + 6) / 7);
	assert_int_equal(nskip, (STREAM_RECORDS + 10) / 11);
	assert_int_equal(decode(s + off, 0, &used), PB_WIRE_NEED_MORE);
}

/* A receiver's reassembly buffer of PB_WIRE_MAX_MSG bytes fed by reads of
 * random sizes, compacted after each round of decoding. */
static void
test_stream_random_chunks(void **state)
{
	uint8_t *s = stream;
	static uint8_t rb[PB_WIRE_MAX_MSG];
	unsigned nrec = 0, nack = 0, nskip = 0, needmore = 0;
	size_t len, fed = 0, have = 0, used;

	(void)state;
	len = build_stream(s, sizeof(stream), 1);
	while (fed < len) {
		size_t chunk = 1 + rnd_below(rnd_below(4) == 0 ? 20 : 9000);
		if (chunk > len - fed)
			chunk = len - fed;
		if (chunk > sizeof(rb) - have)
			chunk = sizeof(rb) - have;
		assert_true(chunk > 0);  /* a full buffer always holds a message */
		memcpy(rb + have, s + fed, chunk);
		have += chunk;
		fed += chunk;
		size_t off = 0;
		for (;;) {
			enum pb_wire_status st = decode(rb + off, have - off, &used);
			if (st == PB_WIRE_NEED_MORE) {
				assert_true(msg.size > have - off);
				assert_true(msg.size <= sizeof(rb));
				needmore++;
				break;
			}
			check_stream_msg(st, &nrec, &nack, &nskip, 1);
			off += used;
		}
		memmove(rb, rb + off, have - off);
		have -= off;
	}
	assert_int_equal(have, 0);
	assert_int_equal(nrec, STREAM_RECORDS);
	assert_int_equal(nskip, (STREAM_RECORDS + 10) / 11);
	assert_true(needmore > STREAM_RECORDS / 2);
}

/* ---- misc ---- */

static void
test_auth_input(void **state)
{
	/* Same vector as schema/wire-protocol.md. */
	static const char want_hex[] =
	    "7061636b657462726f6b657220617574682076310000000100000002"
	    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	uint8_t want[PB_WIRE_AUTH_INPUT_LEN];
	uint8_t sn[PB_WIRE_NONCE_LEN], vn[PB_WIRE_NONCE_LEN], out[PB_WIRE_AUTH_INPUT_LEN];

	(void)state;
	assert_int_equal(PB_WIRE_AUTH_INPUT_LEN, 92);
	assert_int_equal(unhex(want_hex, want, sizeof(want)), sizeof(want));
	for (unsigned i = 0; i < PB_WIRE_NONCE_LEN; i++) {
		sn[i] = (uint8_t)i;
		vn[i] = (uint8_t)(0x20 + i);
	}
	pb_wire_auth_input(out, 1, sn, 2, vn);
	assert_memory_equal(out, want, sizeof(want));
	/* The other direction differs: no reflection. */
	pb_wire_auth_input(out, 2, vn, 1, sn);
	assert_memory_not_equal(out, want, sizeof(want));
}

static void
test_utf8(void **state)
{
	static const char *const good[] = {
		"plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xef\xbf\xbf",
		"\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
	};
	static const char *const bad[] = {
		"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
		"\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xbf",
		"\xc3", "\xe2\x82", "\xf0\x9d\x84", "\xc3\x28", "\xe2\x28\xa1", "\xff",
	};
	uint8_t m[64];
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct pb_wire_error e = { 1, { good[i], (uint16_t)strlen(good[i]) } };
		size_t n = pb_wire_encode_error(m, sizeof(m), &e);
		assert_int_not_equal(n, 0);
		assert_int_equal(decode(m, n, &used), PB_WIRE_OK);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pb_wire_error e = { 1, { bad[i], (uint16_t)strlen(bad[i]) } };
		assert_int_equal(pb_wire_encode_error(m, sizeof(m), &e), 0);
		/* Forge it on the wire: the decoder refuses it too. */
		size_t len = strlen(bad[i]);
		put_hdr(m, 1, PB_WIRE_T_ERROR, (uint32_t)(4 + len));
		m[8] = 0;
		m[9] = 1;
		m[10] = 0;
		m[11] = (uint8_t)len;
		memcpy(m + 12, bad[i], len);
		expect_error(m, 12 + len, PB_WIRE_E_MALFORMED);
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(pb_wire_type_name(PB_WIRE_T_RECORD), "RECORD");
	assert_string_equal(pb_wire_type_name(PB_WIRE_T_DLQ_NOTICE), "DLQ_NOTICE");
	assert_string_equal(pb_wire_type_name(PB_WIRE_T_HELLO), "HELLO");
	assert_string_equal(pb_wire_type_name(0), "UNKNOWN");
	assert_string_equal(pb_wire_type_name(11), "UNKNOWN");
	assert_string_equal(pb_wire_type_name(200), "OPTIONAL");
	assert_string_equal(pb_wire_type_name(1000), "UNKNOWN");
	assert_string_equal(pb_wire_errcode_name(PB_WIRE_E_AUTH), "auth");
	assert_string_equal(pb_wire_errcode_name(PB_WIRE_E_OVERSIZE), "oversize");
	assert_string_equal(pb_wire_errcode_name(999), "unknown");
	assert_string_equal(pb_wire_status_name(PB_WIRE_NEED_MORE), "need-more");
	assert_string_equal(pb_wire_status_name(PB_WIRE_SKIP), "skip");
}

static int
setup(void **state)
{
	(void)state;
	printf("# seed 0x%016llx\n", (unsigned long long)rng_state);
	if (unhex(example_hex, example_msg, sizeof(example_msg)) != sizeof(example_msg))
		return -1;
	for (size_t i = 0; i < sizeof(frame_src); i++)
		frame_src[i] = (uint8_t)rnd();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_example),
		cmocka_unit_test(test_roundtrip_every_caplen),
		cmocka_unit_test(test_record_hdr_plus_data),
		cmocka_unit_test(test_record_encode_invalid),
		cmocka_unit_test(test_encode_small_buffer),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_unknown_optional_skipped),
		cmocka_unit_test(test_malformed_record),
		cmocka_unit_test(test_malformed_control),
		cmocka_unit_test(test_hello_extension),
		cmocka_unit_test(test_control_roundtrip),
		cmocka_unit_test(test_many_records_in_order),
		cmocka_unit_test(test_stream_random_chunks),
		cmocka_unit_test(test_auth_input),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("wire", tests, setup, NULL);
}
