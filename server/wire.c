/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

/*
 * Wire codec: see schema/wire-protocol.md. Everything goes through
 * memcpy-based big-endian accessors, so no alignment is assumed and the
 * compiler turns each into one load/store plus a byte swap.
 */

static inline void
put8(uint8_t *p, uint8_t v)
{
	*p = v;
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t
get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t
get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t
get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* HELLO and ERROR always carry version 1 (their layout is frozen) so that
 * a peer of any version can read them; the rest carry the current one. */
static void
put_hdr(uint8_t *p, uint8_t type, uint32_t body_len)
{
	put16(p, PB_WIRE_MAGIC);
	put8(p + 2, type == PB_WIRE_T_HELLO || type == PB_WIRE_T_ERROR ? 1 : PB_WIRE_VERSION);
	put8(p + 3, type);
	put32(p + 4, body_len);
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF)
 * without NUL: text ends up in logs and JSON, which need valid UTF-8. */
static int
text_ok(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;      /* overlong */
			else if (c == 0xed)
				hi = 0x9f;      /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;      /* overlong */
			else if (c == 0xf4)
				hi = 0x8f;      /* above U+10FFFF */
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

static int
str_ok(const struct pb_wire_str *s, size_t max)
{
	if (s->len > max)
		return 0;
	if (s->len == 0)
		return 1;
	return s->ptr != NULL && text_ok((const uint8_t *)s->ptr, s->len);
}

/* Writes u16 length + bytes; returns the bytes written. */
static size_t
put_str(uint8_t *p, const struct pb_wire_str *s)
{
	put16(p, s->len);
	if (s->len > 0)
		memcpy(p + 2, s->ptr, s->len);
	return 2u + s->len;
}

/* ---- RECORD ---- */

static size_t
record_body_len(unsigned ntrailers, unsigned nhops, uint32_t caplen)
{
	return PB_WIRE_REC_FIXED_LEN + (size_t)ntrailers * PB_WIRE_REC_TRAILER_LEN +
	    (size_t)nhops * PB_WIRE_REC_HOP_LEN + caplen;
}

size_t
pb_wire_record_size(const struct pb_record *rec)
{
	return PB_WIRE_HDR_LEN + record_body_len(rec->ntrailers, rec->nhops, rec->caplen);
}

static int
trailer_ok(const struct pb_trailer_meta *t, uint32_t caplen)
{
	if (t->valid > 1)
		return 0;
	/* A valid trailer must lie inside the frame: receivers index with it. */
	return !t->valid || (uint32_t)t->offset + t->len <= caplen;
}

static int
record_ok(const struct pb_record *rec, uint64_t link_seq)
{
	if (link_seq == 0 || rec->caplen > PB_FRAME_CAP ||
	    rec->ntrailers > PB_MAX_TRAILERS || rec->nhops > PB_MAX_HOPS)
		return 0;
	if (rec->caplen > 0 && rec->data == NULL)
		return 0;
	for (unsigned i = 0; i < rec->ntrailers; i++)
		if (!trailer_ok(&rec->trailers[i], rec->caplen))
			return 0;
	return 1;
}

/* Writes everything but the frame bytes; returns the bytes written. */
static size_t
put_record_hdr(uint8_t *buf, const struct pb_record *rec, uint64_t link_seq)
{
	size_t body = record_body_len(rec->ntrailers, rec->nhops, rec->caplen);
	uint8_t *p = buf + PB_WIRE_HDR_LEN;

	put_hdr(buf, PB_WIRE_T_RECORD, (uint32_t)body);
	put64(p + 0, link_seq);
	put32(p + 8, rec->origin_node);
	put16(p + 12, rec->origin_source);
	put16(p + 14, rec->linktype);
	put64(p + 16, rec->origin_epoch);
	put64(p + 24, rec->origin_seq);
	put64(p + 32, rec->ts_ns);
	put32(p + 40, rec->caplen);
	put32(p + 44, rec->origlen);
	put16(p + 48, rec->flags);
	put8(p + 50, rec->ntrailers);
	put8(p + 51, rec->nhops);
	p += PB_WIRE_REC_FIXED_LEN;
	for (unsigned i = 0; i < rec->ntrailers; i++) {
		const struct pb_trailer_meta *t = &rec->trailers[i];
		put8(p + 0, t->type);
		put8(p + 1, t->valid);
		put8(p + 2, t->flags);
		put8(p + 3, 0);
		put16(p + 4, t->device);
		put16(p + 6, t->port);
		put16(p + 8, t->len);
		put16(p + 10, t->offset);
		put64(p + 12, t->ts_ns);
		p += PB_WIRE_REC_TRAILER_LEN;
	}
	for (unsigned i = 0; i < rec->nhops; i++) {
		const struct pb_hop *h = &rec->hops[i];
		put32(p + 0, h->node_id);
		put32(p + 4, h->flags);
		put64(p + 8, h->seq);
		put64(p + 16, h->ts_ns);
		p += PB_WIRE_REC_HOP_LEN;
	}
	return (size_t)(p - buf);
}

size_t
pb_wire_encode_record_hdr(uint8_t *buf, size_t buflen, const struct pb_record *rec,
    uint64_t link_seq)
{
	if (!record_ok(rec, link_seq))
		return 0;
	size_t n = pb_wire_record_size(rec) - rec->caplen;
	if (n <= buflen)
		put_record_hdr(buf, rec, link_seq);
	return n;
}

size_t
pb_wire_encode_record(uint8_t *buf, size_t buflen, const struct pb_record *rec,
    uint64_t link_seq)
{
	if (!record_ok(rec, link_seq))
		return 0;
	size_t n = pb_wire_record_size(rec);
	if (n <= buflen) {
		size_t h = put_record_hdr(buf, rec, link_seq);
		if (rec->caplen > 0)
			memcpy(buf + h, rec->data, rec->caplen);
	}
	return n;
}

/* ---- other types ---- */

size_t
pb_wire_encode_hello(uint8_t *buf, size_t buflen, const struct pb_wire_hello *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_HELLO_LEN;

	if (m->node_id == 0 || m->min_version == 0 || m->min_version > m->max_version)
		return 0;
	if (n > buflen)
		return n;
	uint8_t *p = buf + PB_WIRE_HDR_LEN;
	put_hdr(buf, PB_WIRE_T_HELLO, PB_WIRE_HELLO_LEN);
	put8(p + 0, m->min_version);
	put8(p + 1, m->max_version);
	put16(p + 2, m->flags);
	put32(p + 4, m->node_id);
	put64(p + 8, m->epoch);
	memcpy(p + 16, m->nonce, PB_WIRE_NONCE_LEN);
	return n;
}

size_t
pb_wire_encode_auth(uint8_t *buf, size_t buflen, const struct pb_wire_auth *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_AUTH_LEN;

	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_AUTH, PB_WIRE_AUTH_LEN);
	memcpy(buf + PB_WIRE_HDR_LEN, m->mac, PB_WIRE_MAC_LEN);
	return n;
}

size_t
pb_wire_encode_welcome(uint8_t *buf, size_t buflen, const struct pb_wire_welcome *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_WELCOME_LEN;

	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_WELCOME, PB_WIRE_WELCOME_LEN);
	put64(buf + 8, m->resume_seq);
	put32(buf + 16, m->heartbeat_ms);
	put32(buf + 20, m->flags);
	return n;
}

size_t
pb_wire_encode_node(uint8_t *buf, size_t buflen, const struct pb_wire_node *m)
{
	if (!str_ok(&m->name, PB_WIRE_MAX_NAME) || !str_ok(&m->descr, PB_WIRE_MAX_DESCR))
		return 0;
	size_t body = 4u + 2u + m->name.len + 2u + m->descr.len;
	size_t n = PB_WIRE_HDR_LEN + body;
	if (n > buflen)
		return n;
	uint8_t *p = buf + PB_WIRE_HDR_LEN;
	put_hdr(buf, PB_WIRE_T_NODE, (uint32_t)body);
	put32(p, m->node_id);
	p += 4;
	p += put_str(p, &m->name);
	put_str(p, &m->descr);
	return n;
}

size_t
pb_wire_encode_source(uint8_t *buf, size_t buflen, const struct pb_wire_source *m)
{
	if (!str_ok(&m->name, PB_WIRE_MAX_NAME) || !str_ok(&m->descr, PB_WIRE_MAX_DESCR))
		return 0;
	size_t body = 8u + 2u + m->name.len + 2u + m->descr.len;
	size_t n = PB_WIRE_HDR_LEN + body;
	if (n > buflen)
		return n;
	uint8_t *p = buf + PB_WIRE_HDR_LEN;
	put_hdr(buf, PB_WIRE_T_SOURCE, (uint32_t)body);
	put32(p, m->node_id);
	put16(p + 4, m->source_id);
	put16(p + 6, m->linktype);
	p += 8;
	p += put_str(p, &m->name);
	put_str(p, &m->descr);
	return n;
}

size_t
pb_wire_encode_ack(uint8_t *buf, size_t buflen, const struct pb_wire_ack *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_ACK_LEN;

	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_ACK, PB_WIRE_ACK_LEN);
	put64(buf + 8, m->link_seq);
	return n;
}

size_t
pb_wire_encode_heartbeat(uint8_t *buf, size_t buflen, const struct pb_wire_heartbeat *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_HEARTBEAT_LEN;

	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_HEARTBEAT, PB_WIRE_HEARTBEAT_LEN);
	put64(buf + 8, m->ts_ns);
	put64(buf + 16, m->echo_ns);
	return n;
}

size_t
pb_wire_encode_dlq_notice(uint8_t *buf, size_t buflen, const struct pb_wire_dlq_notice *m)
{
	size_t n = PB_WIRE_HDR_LEN + PB_WIRE_DLQ_NOTICE_LEN;

	if (m->first_seq == 0 || m->first_seq > m->last_seq)
		return 0;
	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_DLQ_NOTICE, PB_WIRE_DLQ_NOTICE_LEN);
	put64(buf + 8, m->first_seq);
	put64(buf + 16, m->last_seq);
	put32(buf + 24, m->reason);
	return n;
}

size_t
pb_wire_encode_error(uint8_t *buf, size_t buflen, const struct pb_wire_error *m)
{
	if (!str_ok(&m->text, PB_WIRE_MAX_TEXT))
		return 0;
	size_t body = 2u + 2u + m->text.len;
	size_t n = PB_WIRE_HDR_LEN + body;
	if (n > buflen)
		return n;
	put_hdr(buf, PB_WIRE_T_ERROR, (uint32_t)body);
	put16(buf + 8, m->code);
	put_str(buf + 10, &m->text);
	return n;
}

size_t
pb_wire_encode(uint8_t *buf, size_t buflen, const struct pb_wire_msg *msg)
{
	switch (msg->type) {
	case PB_WIRE_T_HELLO:
		return pb_wire_encode_hello(buf, buflen, &msg->hello);
	case PB_WIRE_T_AUTH:
		return pb_wire_encode_auth(buf, buflen, &msg->auth);
	case PB_WIRE_T_WELCOME:
		return pb_wire_encode_welcome(buf, buflen, &msg->welcome);
	case PB_WIRE_T_NODE:
		return pb_wire_encode_node(buf, buflen, &msg->node);
	case PB_WIRE_T_SOURCE:
		return pb_wire_encode_source(buf, buflen, &msg->source);
	case PB_WIRE_T_RECORD:
		return pb_wire_encode_record(buf, buflen, &msg->record, msg->link_seq);
	case PB_WIRE_T_ACK:
		return pb_wire_encode_ack(buf, buflen, &msg->ack);
	case PB_WIRE_T_HEARTBEAT:
		return pb_wire_encode_heartbeat(buf, buflen, &msg->heartbeat);
	case PB_WIRE_T_DLQ_NOTICE:
		return pb_wire_encode_dlq_notice(buf, buflen, &msg->dlq);
	case PB_WIRE_T_ERROR:
		return pb_wire_encode_error(buf, buflen, &msg->error);
	default:
		return 0;
	}
}

void
pb_wire_auth_input(uint8_t out[PB_WIRE_AUTH_INPUT_LEN], uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN])
{
	static const char label[] = PB_WIRE_AUTH_LABEL;
	uint8_t *p = out;

	/* Both node ids and the direction are bound in, so a MAC can be
	 * neither reflected back to its signer nor replayed elsewhere. */
	memcpy(p, label, sizeof(label) - 1);
	p += sizeof(label) - 1;
	put32(p, signer_node);
	put32(p + 4, verifier_node);
	p += 8;
	memcpy(p, verifier_nonce, PB_WIRE_NONCE_LEN);
	memcpy(p + PB_WIRE_NONCE_LEN, signer_nonce, PB_WIRE_NONCE_LEN);
}

/* ---- decoding ---- */

static enum pb_wire_status
fail(struct pb_wire_msg *msg, size_t *consumed, enum pb_wire_errcode code, char *err,
    size_t errlen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static enum pb_wire_status
fail(struct pb_wire_msg *msg, size_t *consumed, enum pb_wire_errcode code, char *err,
    size_t errlen, const char *fmt, ...)
{
	msg->errcode = (uint16_t)code;
	*consumed = 0;
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return PB_WIRE_ERROR;
}

#define FAIL(code, ...) fail(msg, consumed, (code), err, errlen, __VA_ARGS__)

/* Smallest and largest body length of each known type, checked from the
 * header alone so that garbage is refused before its body is waited for.
 * HELLO may grow in later versions; max 0 = unknown type. */
static const struct {
	uint32_t min, max;
} body_bounds[] = {
	[PB_WIRE_T_HELLO] = { PB_WIRE_HELLO_LEN, PB_WIRE_MAX_BODY },
	[PB_WIRE_T_AUTH] = { PB_WIRE_AUTH_LEN, PB_WIRE_AUTH_LEN },
	[PB_WIRE_T_WELCOME] = { PB_WIRE_WELCOME_LEN, PB_WIRE_WELCOME_LEN },
	[PB_WIRE_T_NODE] = { 4 + 2 + 2, 4 + 2 + 2 + PB_WIRE_MAX_NAME + PB_WIRE_MAX_DESCR },
	[PB_WIRE_T_SOURCE] = { 8 + 2 + 2, 8 + 2 + 2 + PB_WIRE_MAX_NAME + PB_WIRE_MAX_DESCR },
	[PB_WIRE_T_RECORD] = { PB_WIRE_REC_FIXED_LEN, PB_WIRE_REC_MAX_BODY },
	[PB_WIRE_T_ACK] = { PB_WIRE_ACK_LEN, PB_WIRE_ACK_LEN },
	[PB_WIRE_T_HEARTBEAT] = { PB_WIRE_HEARTBEAT_LEN, PB_WIRE_HEARTBEAT_LEN },
	[PB_WIRE_T_DLQ_NOTICE] = { PB_WIRE_DLQ_NOTICE_LEN, PB_WIRE_DLQ_NOTICE_LEN },
	[PB_WIRE_T_ERROR] = { 2 + 2, 2 + 2 + PB_WIRE_MAX_TEXT },
};

/* Checks the RECORD fixed part against the body length; 0 = ok. */
static int
record_fixed_check(const uint8_t *b, uint32_t length, char *err, size_t errlen)
{
	uint64_t link_seq = get64(b);
	uint32_t caplen = get32(b + 40);
	unsigned ntr = b[50], nh = b[51];

	if (link_seq == 0)
		snprintf(err, errlen, "RECORD: link_seq 0");
	else if (caplen > PB_FRAME_CAP)
		snprintf(err, errlen, "RECORD: caplen %u above %u", caplen, PB_FRAME_CAP);
	else if (ntr > PB_MAX_TRAILERS)
		snprintf(err, errlen, "RECORD: %u trailers, at most %u", ntr, PB_MAX_TRAILERS);
	else if (nh > PB_MAX_HOPS)
		snprintf(err, errlen, "RECORD: %u hops, at most %u", nh, PB_MAX_HOPS);
	else if (record_body_len(ntr, nh, caplen) != length)
		snprintf(err, errlen, "RECORD: body length %u, layout needs %zu", length,
		    record_body_len(ntr, nh, caplen));
	else
		return 0;
	return -1;
}

static enum pb_wire_status
decode_record(const uint8_t *b, struct pb_wire_msg *msg, size_t *consumed, char *err,
    size_t errlen)
{
	struct pb_record *rec = &msg->record;
	char why[96];

	if (record_fixed_check(b, msg->length, why, sizeof(why)) != 0)
		return FAIL(PB_WIRE_E_MALFORMED, "%s", why);
	msg->link_seq = get64(b);
	rec->origin_node = get32(b + 8);
	rec->origin_source = get16(b + 12);
	rec->linktype = get16(b + 14);
	rec->origin_epoch = get64(b + 16);
	rec->origin_seq = get64(b + 24);
	rec->ts_ns = get64(b + 32);
	rec->caplen = get32(b + 40);
	rec->origlen = get32(b + 44);
	rec->flags = get16(b + 48);
	rec->ntrailers = b[50];
	rec->nhops = b[51];
	const uint8_t *p = b + PB_WIRE_REC_FIXED_LEN;
	for (unsigned i = 0; i < rec->ntrailers; i++) {
		struct pb_trailer_meta *t = &rec->trailers[i];
		if (p[3] != 0)
			return FAIL(PB_WIRE_E_MALFORMED, "RECORD: trailer %u reserved byte 0x%02x",
			    i, p[3]);
		t->type = p[0];
		t->valid = p[1];
		t->flags = p[2];
		t->pad = 0;
		t->device = get16(p + 4);
		t->port = get16(p + 6);
		t->len = get16(p + 8);
		t->offset = get16(p + 10);
		t->pad2 = 0;
		t->ts_ns = get64(p + 12);
		if (!trailer_ok(t, rec->caplen))
			return FAIL(PB_WIRE_E_MALFORMED,
			    "RECORD: trailer %u (valid %u, offset %u, len %u) outside %u-byte frame",
			    i, t->valid, t->offset, t->len, rec->caplen);
		p += PB_WIRE_REC_TRAILER_LEN;
	}
	for (unsigned i = 0; i < rec->nhops; i++) {
		struct pb_hop *h = &rec->hops[i];
		h->node_id = get32(p + 0);
		h->flags = get32(p + 4);
		h->seq = get64(p + 8);
		h->ts_ns = get64(p + 16);
		p += PB_WIRE_REC_HOP_LEN;
	}
	rec->data = p;
	return PB_WIRE_OK;
}

/* Reads a u16-length-prefixed string at *off; checks the length fits in
 * the body and the limit, and the text is UTF-8 without NUL. */
static int
get_str(const uint8_t *b, uint32_t length, uint32_t *off, size_t max,
    struct pb_wire_str *s)
{
	if (length - *off < 2)
		return -1;
	uint16_t n = get16(b + *off);
	*off += 2;
	if (n > max || length - *off < n || !text_ok(b + *off, n))
		return -1;
	s->ptr = (const char *)(b + *off);
	s->len = n;
	*off += n;
	return 0;
}

static enum pb_wire_status
decode_body(const uint8_t *b, struct pb_wire_msg *msg, size_t *consumed, char *err,
    size_t errlen)
{
	uint32_t off;

	switch (msg->type) {
	case PB_WIRE_T_HELLO: {
		struct pb_wire_hello *m = &msg->hello;
		m->min_version = b[0];
		m->max_version = b[1];
		m->flags = get16(b + 2);
		m->node_id = get32(b + 4);
		m->epoch = get64(b + 8);
		memcpy(m->nonce, b + 16, PB_WIRE_NONCE_LEN);
		if (m->min_version == 0 || m->min_version > m->max_version)
			return FAIL(PB_WIRE_E_MALFORMED, "HELLO: bad version range %u..%u",
			    m->min_version, m->max_version);
		if (m->node_id == 0)
			return FAIL(PB_WIRE_E_NODE_ID, "HELLO: node id 0");
		/* Bytes past the v1 layout belong to later versions: ignored. */
		return PB_WIRE_OK;
	}
	case PB_WIRE_T_AUTH:
		memcpy(msg->auth.mac, b, PB_WIRE_MAC_LEN);
		return PB_WIRE_OK;
	case PB_WIRE_T_WELCOME:
		msg->welcome.resume_seq = get64(b);
		msg->welcome.heartbeat_ms = get32(b + 8);
		msg->welcome.flags = get32(b + 12);
		return PB_WIRE_OK;
	case PB_WIRE_T_NODE:
		msg->node.node_id = get32(b);
		off = 4;
		if (get_str(b, msg->length, &off, PB_WIRE_MAX_NAME, &msg->node.name) != 0 ||
		    get_str(b, msg->length, &off, PB_WIRE_MAX_DESCR, &msg->node.descr) != 0)
			break;
		if (off != msg->length)
			break;
		return PB_WIRE_OK;
	case PB_WIRE_T_SOURCE:
		msg->source.node_id = get32(b);
		msg->source.source_id = get16(b + 4);
		msg->source.linktype = get16(b + 6);
		off = 8;
		if (get_str(b, msg->length, &off, PB_WIRE_MAX_NAME, &msg->source.name) != 0 ||
		    get_str(b, msg->length, &off, PB_WIRE_MAX_DESCR, &msg->source.descr) != 0)
			break;
		if (off != msg->length)
			break;
		return PB_WIRE_OK;
	case PB_WIRE_T_RECORD:
		return decode_record(b, msg, consumed, err, errlen);
	case PB_WIRE_T_ACK:
		msg->ack.link_seq = get64(b);
		return PB_WIRE_OK;
	case PB_WIRE_T_HEARTBEAT:
		msg->heartbeat.ts_ns = get64(b);
		msg->heartbeat.echo_ns = get64(b + 8);
		return PB_WIRE_OK;
	case PB_WIRE_T_DLQ_NOTICE:
		msg->dlq.first_seq = get64(b);
		msg->dlq.last_seq = get64(b + 8);
		msg->dlq.reason = get32(b + 16);
		if (msg->dlq.first_seq == 0 || msg->dlq.first_seq > msg->dlq.last_seq)
			return FAIL(PB_WIRE_E_MALFORMED, "DLQ_NOTICE: bad range %llu..%llu",
			    (unsigned long long)msg->dlq.first_seq,
			    (unsigned long long)msg->dlq.last_seq);
		return PB_WIRE_OK;
	case PB_WIRE_T_ERROR:
		msg->error.code = get16(b);
		off = 2;
		if (get_str(b, msg->length, &off, PB_WIRE_MAX_TEXT, &msg->error.text) != 0)
			break;
		if (off != msg->length)
			break;
		return PB_WIRE_OK;
	default:
		break;
	}
	return FAIL(PB_WIRE_E_MALFORMED,
	    "%s: strings do not match the body length %u or are not UTF-8 text",
	    pb_wire_type_name(msg->type), msg->length);
}

enum pb_wire_status
pb_wire_decode(const uint8_t *buf, size_t len, struct pb_wire_msg *msg, size_t *consumed,
    char *err, size_t errlen)
{
	*consumed = 0;
	msg->errcode = PB_WIRE_E_NONE;
	msg->size = PB_WIRE_HDR_LEN;

	/* Judge each header byte as soon as it is there: a peer speaking
	 * something else is refused without waiting for more input. */
	if (len >= 1 && buf[0] != (PB_WIRE_MAGIC >> 8))
		return FAIL(PB_WIRE_E_MAGIC, "bad magic byte 0x%02x", buf[0]);
	if (len >= 2 && buf[1] != (PB_WIRE_MAGIC & 0xff))
		return FAIL(PB_WIRE_E_MAGIC, "bad magic 0x%04x", get16(buf));
	if (len >= 3 && buf[2] != PB_WIRE_VERSION)
		return FAIL(PB_WIRE_E_VERSION, "unsupported version %u", buf[2]);
	if (len < 4)
		return PB_WIRE_NEED_MORE;
	msg->version = buf[2];
	msg->type = buf[3];
	uint32_t min = 0, max = PB_WIRE_MAX_BODY;
	int known = msg->type < sizeof(body_bounds) / sizeof(body_bounds[0]) &&
	    body_bounds[msg->type].max != 0;
	if (known) {
		min = body_bounds[msg->type].min;
		max = body_bounds[msg->type].max;
	}
	if (!known && msg->type < PB_WIRE_T_OPTIONAL)
		return FAIL(PB_WIRE_E_TYPE, "unknown mandatory message type %u", msg->type);
	if (len < PB_WIRE_HDR_LEN)
		return PB_WIRE_NEED_MORE;

	msg->length = get32(buf + 4);
	if (msg->length > PB_WIRE_MAX_BODY)
		return FAIL(PB_WIRE_E_OVERSIZE, "%s: body length %u above %u",
		    pb_wire_type_name(msg->type), msg->length, PB_WIRE_MAX_BODY);
	if (msg->length < min || msg->length > max)
		return FAIL(PB_WIRE_E_MALFORMED, "%s: body length %u outside %u..%u",
		    pb_wire_type_name(msg->type), msg->length, min, max);
	msg->size = (size_t)PB_WIRE_HDR_LEN + msg->length;

	const uint8_t *b = buf + PB_WIRE_HDR_LEN;
	if (len < msg->size) {
		/* A RECORD's counts tell its exact length early. */
		char why[96];
		if (msg->type == PB_WIRE_T_RECORD &&
		    len >= PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN &&
		    record_fixed_check(b, msg->length, why, sizeof(why)) != 0)
			return FAIL(PB_WIRE_E_MALFORMED, "%s", why);
		return PB_WIRE_NEED_MORE;
	}
	if (!known) {
		*consumed = msg->size;
		return PB_WIRE_SKIP;
	}
	enum pb_wire_status st = decode_body(b, msg, consumed, err, errlen);
	if (st == PB_WIRE_OK)
		*consumed = msg->size;
	return st;
}

/* ---- names ---- */

const char *
pb_wire_type_name(unsigned type)
{
	static const char *const names[] = {
		[PB_WIRE_T_HELLO] = "HELLO",
		[PB_WIRE_T_AUTH] = "AUTH",
		[PB_WIRE_T_WELCOME] = "WELCOME",
		[PB_WIRE_T_NODE] = "NODE",
		[PB_WIRE_T_SOURCE] = "SOURCE",
		[PB_WIRE_T_RECORD] = "RECORD",
		[PB_WIRE_T_ACK] = "ACK",
		[PB_WIRE_T_HEARTBEAT] = "HEARTBEAT",
		[PB_WIRE_T_DLQ_NOTICE] = "DLQ_NOTICE",
		[PB_WIRE_T_ERROR] = "ERROR",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	return type >= PB_WIRE_T_OPTIONAL && type <= 255 ? "OPTIONAL" : "UNKNOWN";
}

const char *
pb_wire_errcode_name(unsigned code)
{
	static const char *const names[] = {
		[PB_WIRE_E_NONE] = "none",
		[PB_WIRE_E_MALFORMED] = "malformed",
		[PB_WIRE_E_MAGIC] = "magic",
		[PB_WIRE_E_VERSION] = "version",
		[PB_WIRE_E_TYPE] = "type",
		[PB_WIRE_E_OVERSIZE] = "oversize",
		[PB_WIRE_E_AUTH] = "auth",
		[PB_WIRE_E_NODE_ID] = "node-id",
		[PB_WIRE_E_UNEXPECTED] = "unexpected",
		[PB_WIRE_E_SHUTDOWN] = "shutdown",
		[PB_WIRE_E_TIMEOUT] = "timeout",
		[PB_WIRE_E_INTERNAL] = "internal",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code] != NULL)
		return names[code];
	return "unknown";
}

const char *
pb_wire_status_name(enum pb_wire_status st)
{
	switch (st) {
	case PB_WIRE_OK:
		return "ok";
	case PB_WIRE_NEED_MORE:
		return "need-more";
	case PB_WIRE_SKIP:
		return "skip";
	case PB_WIRE_ERROR:
		return "error";
	}
	return "unknown";
}
