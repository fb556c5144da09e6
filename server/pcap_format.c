/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "pcap_format.h"
#include "trailer.h"

#define PB_DLT_EN10MB 1u

/* Output may sit at any offset of a buffer: store through memcpy. */
static inline void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

size_t
pb_pcap_file_header(uint8_t *buf, size_t len, uint16_t linktype, uint32_t snaplen)
{
	if (len < PB_PCAP_FILE_HDR_LEN)
		return 0;
	put32(buf, PB_PCAP_MAGIC_NSEC);
	put16(buf + 4, 2);     /* version 2.4 */
	put16(buf + 6, 4);
	put32(buf + 8, 0);     /* thiszone */
	put32(buf + 12, 0);    /* sigfigs */
	put32(buf + 16, snaplen);
	put32(buf + 20, linktype);
	return PB_PCAP_FILE_HDR_LEN;
}

size_t
pb_pcap_record(uint8_t *buf, size_t len, const struct pb_record *rec)
{
	if (rec->caplen > PB_FRAME_CAP || len < PB_PCAP_REC_HDR_LEN + (size_t)rec->caplen)
		return 0;
	put32(buf, (uint32_t)(rec->ts_ns / PB_NSEC_PER_SEC));
	put32(buf + 4, (uint32_t)(rec->ts_ns % PB_NSEC_PER_SEC));
	put32(buf + 8, rec->caplen);
	put32(buf + 12, rec->origlen);
	if (rec->caplen)
		memcpy(buf + PB_PCAP_REC_HDR_LEN, rec->data, rec->caplen);
	return PB_PCAP_REC_HDR_LEN + rec->caplen;
}

/* Appends one option (code, length, value, zero padding) at *off. */
static int
put_opt(uint8_t *buf, size_t len, size_t *off, uint16_t code, const void *val, size_t vlen)
{
	size_t need = 4 + PB_PCAPNG_PAD4(vlen);
	if (vlen > UINT16_MAX || len - *off < need)
		return -1;
	uint8_t *p = buf + *off;
	put16(p, code);
	put16(p + 2, (uint16_t)vlen);
	if (vlen)
		memcpy(p + 4, val, vlen);
	memset(p + 4 + vlen, 0, need - 4 - vlen);
	*off += need;
	return 0;
}

/* Writes the block total length at both ends once the body is complete. */
static size_t
close_block(uint8_t *buf, size_t len, size_t off)
{
	if (len - off < 4)
		return 0;
	put32(buf + 4, (uint32_t)(off + 4));
	put32(buf + off, (uint32_t)(off + 4));
	return off + 4;
}

size_t
pb_pcapng_shb(uint8_t *buf, size_t len)
{
	return pb_pcapng_shb_comment(buf, len, NULL);
}

size_t
pb_pcapng_nodes_comment(char *buf, size_t len, const struct pb_srcdir *srcdir)
{
	size_t n = srcdir ? pb_srcdir_node_count(srcdir) : 0, used = 0;
	if (!len)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct pb_node_info *ni = pb_srcdir_node_at(srcdir, i);
		int w = snprintf(buf + used, len - used, "%s%u %s%s%s%s", i ? "; " : "nodes: ",
		    ni->node_id, ni->name, ni->description[0] ? " (" : "", ni->description,
		    ni->description[0] ? ")" : "");
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0'; /* whole entries only */
			break;
		}
		used += (size_t)w;
	}
	return used;
}

size_t
pb_pcapng_shb_comment(uint8_t *buf, size_t len, const char *comment)
{
	static const char appl[] = "packetbroker " PACKAGE_VERSION;
	size_t off = 24;
	size_t clen = comment ? strnlen(comment, PB_PCAPNG_SHB_COMMENT_MAX) : 0;

	if (len < off)
		return 0;
	put32(buf, PB_PCAPNG_BT_SHB);
	put32(buf + 8, PB_PCAPNG_BYTE_ORDER_MAGIC);
	put16(buf + 12, 1); /* version 1.0 */
	put16(buf + 14, 0);
	memset(buf + 16, 0xff, 8); /* section length: not specified */
	if (put_opt(buf, len, &off, PB_PCAPNG_OPT_SHB_USERAPPL, appl, sizeof(appl) - 1) < 0 ||
	    (clen && put_opt(buf, len, &off, PB_PCAPNG_OPT_COMMENT, comment, clen) < 0) ||
	    put_opt(buf, len, &off, PB_PCAPNG_OPT_ENDOFOPT, NULL, 0) < 0)
		return 0;
	return close_block(buf, len, off);
}

int
pb_pcapng_rec_fcslen(const struct pb_record *rec)
{
	return (rec->flags & PB_REC_FCS) && rec->linktype == PB_DLT_EN10MB ? 4 : -1;
}

size_t
pb_pcapng_idb(uint8_t *buf, size_t len, uint32_t node_id, uint16_t source_id,
    uint16_t linktype, int fcslen, const struct pb_srcdir *srcdir)
{
	const struct pb_node_info *n = srcdir ? pb_srcdir_node(srcdir, node_id) : NULL;
	const struct pb_source_info *s = srcdir ? pb_srcdir_source(srcdir, node_id, source_id) : NULL;
	char name[160], desc[600];
	int nl, dl;
	size_t off = 16;

	if (len < off)
		return 0;
	put32(buf, PB_PCAPNG_BT_IDB);
	put16(buf + 8, linktype);
	put16(buf + 10, 0);
	put32(buf + 12, PB_FRAME_CAP);

	if (n && n->name[0])
		nl = snprintf(name, sizeof(name), "%.*s/", (int)sizeof(n->name), n->name);
	else
		nl = snprintf(name, sizeof(name), "node%u/", node_id);
	if (s && s->name[0])
		nl += snprintf(name + nl, sizeof(name) - (size_t)nl, "%.*s",
		    (int)sizeof(s->name), s->name);
	else
		nl += snprintf(name + nl, sizeof(name) - (size_t)nl, "src%u", (unsigned)source_id);

	const char *sd = s ? s->description : "", *nd = n ? n->description : "";
	int sdl = (int)strnlen(sd, sizeof(s->description));
	int ndl = (int)strnlen(nd, sizeof(n->description));
	if (sdl && ndl)
		dl = snprintf(desc, sizeof(desc), "%.*s (%.*s)", sdl, sd, ndl, nd);
	else
		dl = snprintf(desc, sizeof(desc), "%.*s", sdl ? sdl : ndl, sdl ? sd : nd);
	if (dl >= (int)sizeof(desc))
		dl = (int)sizeof(desc) - 1;

	uint8_t tsresol = 9, fcs = (uint8_t)(fcslen >= 0 ? fcslen : 0);
	if (put_opt(buf, len, &off, PB_PCAPNG_OPT_IF_NAME, name, (size_t)nl) < 0 ||
	    (dl > 0 && put_opt(buf, len, &off, PB_PCAPNG_OPT_IF_DESCRIPTION, desc, (size_t)dl) < 0) ||
	    put_opt(buf, len, &off, PB_PCAPNG_OPT_IF_TSRESOL, &tsresol, 1) < 0 ||
	    (fcslen >= 0 && put_opt(buf, len, &off, PB_PCAPNG_OPT_IF_FCSLEN, &fcs, 1) < 0) ||
	    put_opt(buf, len, &off, PB_PCAPNG_OPT_ENDOFOPT, NULL, 0) < 0)
		return 0;
	return close_block(buf, len, off);
}

/*
 * Comment builder: hand-rolled appends instead of one snprintf per field,
 * since this runs for every packet. Truncates silently at the end.
 */
struct sbuf {
	char *p, *end; /* end leaves room for the NUL */
};

static inline void
sb_mem(struct sbuf *b, const char *s, size_t n)
{
	size_t room = (size_t)(b->end - b->p);
	/* Two copies, so that an inlined literal's is of constant size. */
	if (n <= room) {
		memcpy(b->p, s, n);
		b->p += n;
		return;
	}
	memcpy(b->p, s, room);
	b->p += room;
}

#define sb_lit(b, s) sb_mem((b), (s), sizeof(s) - 1)

static const char sb_digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Eight digits of v < 10^8 ending at q, two at a time in 32-bit arithmetic. */
static inline char *
sb_8digits(char *q, uint32_t v)
{
	for (int k = 0; k < 4; k++) {
		q -= 2;
		memcpy(q, sb_digits2 + 2 * (v % 100), 2);
		v /= 100;
	}
	return q;
}

/* v in decimal. Per packet, so 64-bit divisions only per eight digits and
 * two digits per step. (Fixed widths: sb_9digits.) */
static void
sb_u64(struct sbuf *b, uint64_t v)
{
	/* Digits end at tmp + 24; 20 bytes from any start stay inside tmp. */
	char tmp[48], *end = tmp + 24, *q = end;
	while (v >= 100000000u) {
		q = sb_8digits(q, (uint32_t)(v % 100000000u));
		v /= 100000000u;
	}
	uint32_t w = (uint32_t)v;
	while (w >= 100) {
		q -= 2;
		memcpy(q, sb_digits2 + 2 * (w % 100), 2);
		w /= 100;
	}
	if (w >= 10) {
		q -= 2;
		memcpy(q, sb_digits2 + 2 * w, 2);
	} else {
		*--q = (char)('0' + w);
	}
	size_t n = (size_t)(end - q);
	if ((size_t)(b->end - b->p) >= 20) {
		/* One fixed-size copy; the bytes past n are overwritten next. */
		memcpy(b->p, q, 20);
		b->p += n;
	} else {
		sb_mem(b, q, n);
	}
}


/* v < 10^9 as exactly nine digits (a hop time's nanoseconds). */
static void
sb_9digits(struct sbuf *b, uint32_t v)
{
	char tmp[9];
	sb_8digits(tmp + 9, v % 100000000u);
	tmp[0] = (char)('0' + v / 100000000u);
	sb_mem(b, tmp, sizeof(tmp));
}

/* v from the memo: copied while it repeats, counted up when it is one more
 * (the usual case for a sequence number), else formatted anew. Counting
 * up changes the last digits in the memo and in the copy alike, byte by
 * byte, and never reads back a byte just stored: a wide load over a
 * narrow store costs a store-forwarding stall, three per record. */
static void
sb_u64_memo(struct sbuf *b, uint64_t v, struct pb_dec_memo *dm)
{
	if (dm->len && v == dm->v + 1 && v != 0 && (size_t)(b->end - b->p) >= sizeof(dm->txt)) {
		int i = dm->len - 1;
		while (i >= 0 && dm->txt[i] == '9')
			i--;
		if (i >= 0) {
			char *o = b->p, c = (char)(dm->txt[i] + 1);
			/* Fixed size; the bytes past len are overwritten next. */
			memcpy(o, dm->txt, sizeof(dm->txt));
			dm->txt[i] = o[i] = c;
			for (int k = i + 1; k < dm->len; k++)
				dm->txt[k] = o[k] = '0';
			dm->v = v;
			b->p += dm->len;
			return;
		}
	}
	if (!dm->len || v != dm->v) {
		/* 99..9 + 1 too: one digit more (20 at most: fits txt). */
		struct sbuf m = { dm->txt, dm->txt + sizeof(dm->txt) - 1 };
		sb_u64(&m, v);
		dm->len = (uint8_t)(m.p - dm->txt);
		dm->v = v;
	}
	sb_mem(b, dm->txt, dm->len);
}

/* "(name)": parentheses and control characters in a name (peers announce
 * arbitrary ones) become '_', so the comment stays one line that parses
 * unambiguously (custody recovery reads it back). */
/* Bytes a name shows as '_': control characters and parentheses. */
static const uint8_t sb_name_bad[256] = {
	[0x00 ... 0x1f] = 1, ['('] = 1, [')'] = 1, [0x7f] = 1,
};

static void
sb_name(struct sbuf *b, const char *name, size_t max)
{
	sb_lit(b, "(");
	if (name) {
		size_t n = strnlen(name, max), room = (size_t)(b->end - b->p);
		if (n > room)
			n = room;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)name[i];
			b->p[i] = sb_name_bad[ch] ? '_' : (char)ch;
		}
		b->p += n;
	}
	sb_lit(b, ")");
}

static void
sb_node(struct sbuf *b, uint32_t node_id, const struct pb_srcdir *srcdir)
{
	const struct pb_node_info *n = srcdir ? pb_srcdir_node(srcdir, node_id) : NULL;
	sb_u64(b, node_id);
	sb_name(b, n ? n->name : NULL, sizeof(n->name));
}

/* "pb origin=<node>(<name>) source=<sid>(<name>) epoch=<u64>" */
static void
comment_head(struct sbuf *b, const struct pb_record *rec, const struct pb_srcdir *srcdir)
{
	const struct pb_source_info *s =
	    srcdir ? pb_srcdir_source(srcdir, rec->origin_node, rec->origin_source) : NULL;

	sb_lit(b, "pb origin=");
	sb_node(b, rec->origin_node, srcdir);
	sb_lit(b, " source=");
	sb_u64(b, rec->origin_source);
	sb_name(b, s ? s->name : NULL, sizeof(s->name));
	sb_lit(b, " epoch=");
	sb_u64(b, rec->origin_epoch);
}

/* Text of fmt(b, ...) into a memo slot of size cap (its own NUL room). */
#define MEMO_FILL(slot, cap, lenp, ...)                          \
	do {                                                     \
		struct sbuf m_ = { (slot), (slot) + (cap) - 1 }; \
		__VA_ARGS__;                                     \
		*(lenp) = (size_t)(m_.p - (slot));               \
	} while (0)

/* "<node>:<epoch>:" of the link, from the memo while it repeats. */
static void
tail_link(struct sbuf *b, const struct pb_record *rec, struct pb_pcapng_memo *mm)
{
	if (!mm) {
		sb_u64(b, rec->link_node);
		sb_lit(b, ":");
		sb_u64(b, rec->link_epoch);
		sb_lit(b, ":");
		return;
	}
	if (!mm->link_len || mm->link_node != rec->link_node || mm->link_epoch != rec->link_epoch) {
		MEMO_FILL(mm->link, sizeof(mm->link), &mm->link_len,
		    sb_u64(&m_, rec->link_node); sb_lit(&m_, ":"); sb_u64(&m_, rec->link_epoch);
		    sb_lit(&m_, ":"));
		mm->link_node = rec->link_node;
		mm->link_epoch = rec->link_epoch;
	}
	sb_mem(b, mm->link, mm->link_len);
}

/* "<node>(<name>)" of a hop, from the memo while node and names repeat. */
static void
tail_hop_node(struct sbuf *b, uint32_t node_id, const struct pb_srcdir *srcdir,
    struct pb_pcapng_memo *mm)
{
	if (!mm) {
		sb_node(b, node_id, srcdir);
		return;
	}
	uint64_t gen = srcdir ? pb_srcdir_generation(srcdir) : 0;
	if (!mm->node_len || mm->node_id != node_id || mm->node_dir != srcdir ||
	    mm->node_gen != gen) {
		MEMO_FILL(mm->node, sizeof(mm->node), &mm->node_len, sb_node(&m_, node_id, srcdir));
		mm->node_id = node_id;
		mm->node_dir = srcdir;
		mm->node_gen = gen;
	}
	sb_mem(b, mm->node, mm->node_len);
}

/* "<sec>." of a hop's time, from the memo within the same second. */
static void
tail_sec(struct sbuf *b, uint64_t sec, struct pb_pcapng_memo *mm)
{
	if (!mm) {
		sb_u64(b, sec);
		sb_lit(b, ".");
		return;
	}
	if (!mm->sec_len || mm->sec != sec) {
		MEMO_FILL(mm->sec_text, sizeof(mm->sec_text), &mm->sec_len,
		    sb_u64(&m_, sec); sb_lit(&m_, "."));
		mm->sec = sec;
	}
	sb_mem(b, mm->sec_text, mm->sec_len);
}

/* "<sec>.<nsec>" of a hop's time. The records of one receive batch share
 * their time: whole from the memo while it repeats. */
static void
tail_ts(struct sbuf *b, uint64_t ts_ns, struct pb_pcapng_memo *mm)
{
	if (!mm) {
		tail_sec(b, ts_ns / PB_NSEC_PER_SEC, NULL);
		sb_9digits(b, (uint32_t)(ts_ns % PB_NSEC_PER_SEC));
		return;
	}
	if (!mm->ts_len || mm->ts != ts_ns) {
		MEMO_FILL(mm->ts_text, sizeof(mm->ts_text), &mm->ts_len,
		    tail_sec(&m_, ts_ns / PB_NSEC_PER_SEC, mm);
		    sb_9digits(&m_, (uint32_t)(ts_ns % PB_NSEC_PER_SEC)));
		mm->ts = ts_ns;
	}
	sb_mem(b, mm->ts_text, mm->ts_len);
}

/* A sequence number: from dm when there is a memo. */
static inline void
tail_seq(struct sbuf *b, uint64_t v, struct pb_dec_memo *dm)
{
	if (dm)
		sb_u64_memo(b, v, dm);
	else
		sb_u64(b, v);
}

/* " seq=<u64>[ link=...] hops=<n>[ ...] trailers=[...]", NUL-terminated. */
static void
comment_tail(struct sbuf *b, const struct pb_record *rec, const struct pb_srcdir *srcdir,
    struct pb_pcapng_memo *mm)
{
	unsigned nhops = rec->nhops < PB_MAX_HOPS ? rec->nhops : PB_MAX_HOPS;

	sb_lit(b, " seq=");
	tail_seq(b, rec->origin_seq, mm ? &mm->seq : NULL);
	if (rec->link_node) {
		/* The custody point, persisted in order with the data. */
		sb_lit(b, " link=");
		tail_link(b, rec, mm);
		tail_seq(b, rec->link_seq, mm ? &mm->link_seq : NULL);
	}
	sb_lit(b, " hops=");
	sb_u64(b, nhops);
	for (unsigned i = 0; i < nhops; i++) {
		const struct pb_hop *h = &rec->hops[i];
		sb_lit(b, " ");
		tail_hop_node(b, h->node_id, srcdir, mm);
		sb_lit(b, ":seq=");
		tail_seq(b, h->seq, mm && i < PB_PCAPNG_MEMO_HOPS ? &mm->hop_seq[i] : NULL);
		sb_lit(b, ":ts=");
		tail_ts(b, h->ts_ns, mm);
	}
	sb_lit(b, " trailers=[");
	/* Leave room for the closing bracket; nothing to format without any. */
	if (rec->ntrailers && b->end - b->p > 1) {
		/* (end - p) + NUL slot - "]" */
		size_t room = (size_t)(b->end - b->p);
		pb_trailers_format(rec, b->p, room);
		/* Trust the NUL, not the return value (snprintf-like or not). */
		b->p += strnlen(b->p, room - 1);
	}
	sb_lit(b, "]");
	*b->p = '\0';
}

/* The comment's head, tail or both into buf (NUL-terminated); strlen. */
static size_t
comment_parts(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir, bool head, bool tail, struct pb_pcapng_memo *mm)
{
	struct sbuf b = { buf, buf + (len ? len - 1 : 0) };

	if (!len)
		return 0;
	if (head)
		comment_head(&b, rec, srcdir);
	if (tail)
		comment_tail(&b, rec, srcdir, mm);
	*b.p = '\0';
	return (size_t)(b.p - buf);
}

size_t
pb_pcapng_comment(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir)
{
	return comment_parts(buf, len, rec, srcdir, true, true, NULL);
}

size_t
pb_pcapng_comment_head(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir)
{
	return comment_parts(buf, len, rec, srcdir, true, false, NULL);
}

size_t
pb_pcapng_comment_tail(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir)
{
	return comment_parts(buf, len, rec, srcdir, false, true, NULL);
}

size_t
pb_pcapng_comment_tail_memo(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir, struct pb_pcapng_memo *memo)
{
	return comment_parts(buf, len, rec, srcdir, false, true, memo);
}

/* An EPB's fixed fields and padded data; the offset after them, 0 when
 * the block with a clen-byte comment does not fit in len. */
static size_t
epb_head(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id, size_t clen)
{
	if (rec->caplen > PB_FRAME_CAP || clen > UINT16_MAX ||
	    len < PB_PCAPNG_EPB_LEN((size_t)rec->caplen, clen))
		return 0;
	put32(buf, PB_PCAPNG_BT_EPB);
	put32(buf + 8, if_id);
	put32(buf + 12, (uint32_t)(rec->ts_ns >> 32));
	put32(buf + 16, (uint32_t)rec->ts_ns);
	put32(buf + 20, rec->caplen);
	put32(buf + 24, rec->origlen);
	size_t off = 28;
	if (rec->caplen)
		memcpy(buf + off, rec->data, rec->caplen);
	memset(buf + off + rec->caplen, 0, PB_PCAPNG_PAD4(rec->caplen) - rec->caplen);
	return off + PB_PCAPNG_PAD4(rec->caplen);
}

size_t
pb_pcapng_epb_raw(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id,
    const char *comment, size_t clen)
{
	size_t off = epb_head(buf, len, rec, if_id, clen);
	if (!off)
		return 0;
	if (clen && (put_opt(buf, len, &off, PB_PCAPNG_OPT_COMMENT, comment, clen) < 0 ||
	    put_opt(buf, len, &off, PB_PCAPNG_OPT_ENDOFOPT, NULL, 0) < 0))
		return 0;
	return close_block(buf, len, off);
}

size_t
pb_pcapng_epb_around(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id,
    size_t clen)
{
	size_t off = epb_head(buf, len, rec, if_id, clen);
	if (!off)
		return 0;
	if (clen) {
		/* The text is in place: its option header and padding only. */
		put16(buf + off, PB_PCAPNG_OPT_COMMENT);
		put16(buf + off + 2, (uint16_t)clen);
		memset(buf + off + 4 + clen, 0, PB_PCAPNG_PAD4(clen) - clen);
		off += 4 + PB_PCAPNG_PAD4(clen);
		if (put_opt(buf, len, &off, PB_PCAPNG_OPT_ENDOFOPT, NULL, 0) < 0)
			return 0;
	}
	return close_block(buf, len, off);
}

size_t
pb_pcapng_epb(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id,
    const struct pb_srcdir *srcdir)
{
	char comment[PB_PCAPNG_COMMENT_MAX];
	size_t clen = pb_pcapng_comment(comment, sizeof(comment), rec, srcdir);
	return pb_pcapng_epb_raw(buf, len, rec, if_id, comment, clen);
}
