/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_RECORD_H
#define PB_RECORD_H

#include <stddef.h>
#include <stdint.h>

/*
 * A record is one captured frame plus its metadata. It is a view: `data`
 * points into the source's buffer (pcap ring, file reader ring, wire
 * buffer) and is valid only for the duration of the delivery call. Sinks
 * copy what they keep, so no allocation happens per packet.
 */

#define PB_FRAME_CAP 65535u      /* hard upper bound of a frame we carry */
#define PB_JUMBO_FRAME 9018u     /* 9000 MTU + 14 Ethernet header + 4 FCS */
#define PB_QINQ_TAGS 8u          /* two 802.1Q tags */
#define PB_TRAILER_RESERVE 20u   /* bytes reserved per trailer by default */
#define PB_MIN_TRAILERS_RESERVED 4u
#define PB_MAX_TRAILERS 8u
#define PB_MAX_HOPS 32u

enum pb_trailer_type {
	PB_TRAILER_NONE = 0,
	PB_TRAILER_METAMAKO = 1, /* Arista 7130 MetaWatch/MetaApp, cPacket */
	PB_TRAILER_EXABLAZE = 2, /* Exablaze / Cisco Nexus 3550 */
	PB_TRAILER_IXIA = 3,
	PB_TRAILER_FIXED = 4,    /* opaque trailer of a configured length */
};

/* What a trailer said; the frame bytes are never changed. */
struct pb_trailer_meta {
	uint8_t type;    /* enum pb_trailer_type */
	uint8_t valid;   /* 1 = validated, fields below meaningful */
	uint8_t flags;   /* metamako flags; ixia clock type */
	uint8_t pad;
	uint16_t device; /* device id (metamako 16 bit, exablaze 8 bit) */
	uint16_t port;   /* port id */
	uint16_t len;    /* bytes this trailer occupies at the frame end */
	uint16_t offset; /* offset of the trailer's first byte in the frame */
	uint32_t pad2;
	uint64_t ts_ns;  /* trailer timestamp, ns since the Unix epoch */
};

/* One node the record passed through (the origin is not a hop). */
struct pb_hop {
	uint32_t node_id;
	uint32_t flags;
	uint64_t seq;   /* that node's sequence number for the record */
	uint64_t ts_ns; /* when that node received it, ns since the Unix epoch */
};

#define PB_REC_FCS 0x0001u /* frame ends with (possibly replaced) FCS + trailers */

struct pb_record {
	const uint8_t *data;
	uint32_t caplen;        /* bytes at data */
	uint32_t origlen;       /* length on the wire */
	uint64_t ts_ns;         /* capture timestamp, ns since the Unix epoch */
	uint64_t origin_epoch;  /* new at every start of the origin daemon */
	uint64_t origin_seq;    /* per (origin node, source, epoch), from 1 */
	uint32_t origin_node;
	uint16_t origin_source; /* source index on the origin node */
	uint16_t linktype;      /* LINKTYPE_* of the frame (linktype.h) */
	uint16_t flags;         /* PB_REC_* */
	uint8_t ntrailers;
	uint8_t nhops;
	/* Engine-internal, never on the wire: */
	uint32_t link_node;     /* received from this upstream node (0 = local capture) */
	uint64_t link_epoch;    /* that node's link epoch (HELLO epoch) */
	uint64_t link_seq;      /* its link sequence number on that upstream link */
	uint64_t token;         /* custody token: sinks report progress in tokens */
	struct pb_trailer_meta trailers[PB_MAX_TRAILERS];
	struct pb_hop hops[PB_MAX_HOPS];
};

/* Clears metadata without touching the (large) hop and trailer arrays. */
void pb_record_reset(struct pb_record *rec);

/* Appends a hop; returns -1 when PB_MAX_HOPS would be exceeded. */
int pb_record_add_hop(struct pb_record *rec, uint32_t node_id, uint64_t seq, uint64_t ts_ns);

/* 1 when node_id is the origin or any hop: a forwarding loop. */
int pb_record_has_node(const struct pb_record *rec, uint32_t node_id);

/* Default maximum frame size for a capture with `ntrailers` trailers:
 * jumbo + QinQ + max(4, ntrailers) * 20. */
uint32_t pb_record_default_max_frame(unsigned ntrailers);

#endif
