/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PCAP_FORMAT_H
#define PB_PCAP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "srcdir.h"

/*
 * Pure formatting of capture files into memory, no I/O: the file sink
 * formats on the engine thread into big buffers that a writer thread
 * writes. Everything is in host byte order (readers detect it from the
 * magic numbers). Every function returns the number of bytes written, or 0
 * when the output does not fit in `len` (nothing useful is left in buf) or
 * the record is invalid (caplen above PB_FRAME_CAP).
 */

/* Classic pcap with nanosecond timestamps. */
#define PB_PCAP_MAGIC_NSEC 0xa1b23c4du
#define PB_PCAP_FILE_HDR_LEN 24u
#define PB_PCAP_REC_HDR_LEN 16u
#define PB_PCAP_REC_MAX (PB_PCAP_REC_HDR_LEN + PB_FRAME_CAP)

size_t pb_pcap_file_header(uint8_t *buf, size_t len, uint16_t linktype, uint32_t snaplen);
size_t pb_pcap_record(uint8_t *buf, size_t len, const struct pb_record *rec);

/* pcapng: one SHB per file, one IDB per origin (node, source, linktype), EPBs. */
#define PB_PCAPNG_BT_SHB 0x0a0d0d0au
#define PB_PCAPNG_BT_IDB 0x00000001u
#define PB_PCAPNG_BT_EPB 0x00000006u
#define PB_PCAPNG_BYTE_ORDER_MAGIC 0x1a2b3c4du
#define PB_PCAPNG_OPT_ENDOFOPT 0
#define PB_PCAPNG_OPT_COMMENT 1
#define PB_PCAPNG_OPT_SHB_USERAPPL 4
#define PB_PCAPNG_OPT_IF_NAME 2
#define PB_PCAPNG_OPT_IF_DESCRIPTION 3
#define PB_PCAPNG_OPT_IF_TSRESOL 9
#define PB_PCAPNG_OPT_IF_FCSLEN 13

#define PB_PCAPNG_PAD4(n) (((n) + 3u) & ~(size_t)3u)
/* Upper bounds, for sizing buffers. */
#define PB_PCAPNG_SHB_COMMENT_MAX 4096u /* node list in the SHB comment */
#define PB_PCAPNG_SHB_MAX (128u + PB_PCAPNG_SHB_COMMENT_MAX)
#define PB_PCAPNG_IDB_MAX 1024u
/* Comment text incl. its NUL; longer comments are truncated. */
#define PB_PCAPNG_COMMENT_MAX 8192u
/* 8 header + 20 fixed + data + comment option + end of options + 4 trailer. */
#define PB_PCAPNG_EPB_LEN(caplen, clen) \
	(32u + PB_PCAPNG_PAD4(caplen) + ((clen) ? 8u + PB_PCAPNG_PAD4(clen) : 0u))
#define PB_PCAPNG_EPB_MAX PB_PCAPNG_EPB_LEN(PB_FRAME_CAP, PB_PCAPNG_COMMENT_MAX)

/* SHB with shb_userappl "packetbroker <version>", section length unknown. */
size_t pb_pcapng_shb(uint8_t *buf, size_t len);
/* Same with an opt_comment (NULL/"" = none; cut at PB_PCAPNG_SHB_COMMENT_MAX). */
size_t pb_pcapng_shb_comment(uint8_t *buf, size_t len, const char *comment);
/* "nodes: 1 edge-ny4 (NY4 edge, rack 12); 2 relay-hk (...)" for every node
 * the directory knows: names and descriptions of origins and hops, once per
 * file instead of in every packet. Returns the length (NUL-terminated). */
size_t pb_pcapng_nodes_comment(char *buf, size_t len, const struct pb_srcdir *srcdir);

/*
 * IDB for the origin (node_id, source_id): if_name "<node>/<source>"
 * (names from srcdir, "node<id>"/"src<id>" when unknown), if_description
 * "<source description> (<node description>)", if_tsresol 9 (ns), and
 * if_fcslen when fcslen >= 0 (pass -1 when unknown). srcdir may be NULL.
 */
size_t pb_pcapng_idb(uint8_t *buf, size_t len, uint32_t node_id, uint16_t source_id,
    uint16_t linktype, int fcslen, const struct pb_srcdir *srcdir);

/* The if_fcslen the IDB of rec's source should carry: 4 for Ethernet
 * frames flagged PB_REC_FCS, else -1 (unknown: option omitted). */
int pb_pcapng_rec_fcslen(const struct pb_record *rec);

/*
 * packetbroker metadata as one line (tshark's frame.comment):
 *   pb origin=<node>(<name>) source=<sid>(<name>) epoch=<u64> seq=<u64>
 *   [ link=<node>:<epoch>:<seq>] hops=<n>
 *   [ <node>(<name>):seq=<u64>:ts=<sec>.<nsec 9 digits>]... trailers=[<pb_trailers_format>]
 * link= (only when rec->link_node != 0) is the upstream node, its link
 * epoch and the link sequence number the record came with: the custody
 * point, recovered from the file by pb_sink_file_recover(). Unknown names are empty "()"; '(',
 * ')' and control characters in names are written as '_'. Always
 * NUL-terminated; returns strlen.
 */
size_t pb_pcapng_comment(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir);
/*
 * The same comment in two parts, for callers that cache the head per
 * origin: head ("pb origin=... source=... epoch=<u64>") depends only on
 * (origin_node, origin_source, origin_epoch) and the directory's names;
 * head followed by tail, written into one buffer of the same size, is
 * pb_pcapng_comment's text (truncation included). Both NUL-terminate and
 * return strlen.
 */
#define PB_PCAPNG_COMMENT_HEAD_MAX 256u /* 10 + 10 + 66 + 8 + 5 + 66 + 7 + 20 + NUL */
size_t pb_pcapng_comment_head(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir);
size_t pb_pcapng_comment_tail(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir);
/*
 * The tail's parts that repeat from record to record (the link's node and
 * epoch, a hop's "<node>(<name>)", a hop's time, the sequence numbers,
 * which mostly count up by one), kept as text
 * by a caller that formats many tails: pb_pcapng_comment_tail_memo writes
 * the same bytes as pb_pcapng_comment_tail. Zero-initialise; one per thread.
 */
/* A number's decimal text, kept while it repeats or counts up by one (a
 * sequence number, from record to record: one digit changes, usually). */
struct pb_dec_memo {
	uint64_t v;
	uint8_t len;    /* 0: empty */
	char txt[23];
};
#define PB_PCAPNG_MEMO_HOPS 4u /* hops whose seq is kept as text */
struct pb_pcapng_memo {
	struct pb_dec_memo seq;      /* origin_seq */
	struct pb_dec_memo link_seq;
	struct pb_dec_memo hop_seq[PB_PCAPNG_MEMO_HOPS];
	uint64_t ts;                 /* a hop's time, whole, while it repeats */
	size_t ts_len;
	char ts_text[32];            /* "<sec>.<nsec>" */
	uint32_t link_node;
	uint64_t link_epoch;
	size_t link_len; /* 0: empty */
	char link[40];   /* "<node>:<epoch>:" */
	uint32_t node_id;
	const struct pb_srcdir *node_dir;
	uint64_t node_gen; /* the directory's generation when formatted */
	size_t node_len;
	char node[80];   /* "<node>(<name>)" */
	uint64_t sec;
	size_t sec_len;
	char sec_text[24]; /* "<sec>." */
};
size_t pb_pcapng_comment_tail_memo(char *buf, size_t len, const struct pb_record *rec,
    const struct pb_srcdir *srcdir, struct pb_pcapng_memo *memo);

/* EPB with an already formatted comment (clen 0 = no option). */
/* Where an EPB's comment text starts: after the fixed fields, the padded
 * data and the option's own header. */
#define PB_PCAPNG_EPB_COMMENT_OFF(caplen) (28u + PB_PCAPNG_PAD4(caplen) + 4u)
/* pb_pcapng_epb_raw's bytes with the comment already at buf +
 * PB_PCAPNG_EPB_COMMENT_OFF(rec->caplen): formatted where it goes, not
 * copied there. */
size_t pb_pcapng_epb_around(uint8_t *buf, size_t len, const struct pb_record *rec,
    uint32_t if_id, size_t clen);
size_t pb_pcapng_epb_raw(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id,
    const char *comment, size_t clen);
/* EPB with the packetbroker comment. */
size_t pb_pcapng_epb(uint8_t *buf, size_t len, const struct pb_record *rec, uint32_t if_id,
    const struct pb_srcdir *srcdir);

#endif
