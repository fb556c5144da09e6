/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PCAP_READER_H
#define PB_PCAP_READER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads classic pcap (micro- or nanosecond magic, either byte order) and
 * pcapng (any number of sections, in either byte order, and interfaces of
 * any link types; EPB, SPB and the obsolete packet block) straight from an
 * mmap of the file: no stdio copy, no per-packet read call. libpcap's
 * offline reader does two fread()s per packet, which on this kind of
 * machine costs more than the rest of the replay path, and refuses pcapng
 * files whose interfaces have different link types.
 *
 * Frames come as the file holds them: every captured byte (also beyond an
 * interface's snaplen) and the original length. Interfaces are numbered in
 * file order across sections (a classic pcap file has interface 0 only);
 * link types are the file's LINKTYPE_* values. Anything else (other magic
 * numbers) is left to libpcap: pb_pcap_reader_open says so.
 */

#define PB_PCAP_READER_MAX_IFS 4096u

struct pb_pcap_if {
	uint32_t linktype;      /* LINKTYPE_* as in the file */
	uint32_t snaplen;       /* 0 = none */
	uint64_t ts_units;      /* timestamp units per second (pcapng if_tsresol) */
	int64_t ts_offset;      /* seconds added (pcapng if_tsoffset) */
	char name[64];          /* if_name, "" when the file names none */
};

struct pb_pcap_reader {
	int fd;
	const uint8_t *map;
	size_t len;
	size_t off;
	size_t released;  /* pages before this offset were given back */
	int ng;          /* pcapng */
	int swap;        /* (current section's) byte order differs from ours */
	int nsec;        /* classic pcap: nanosecond magic */
	uint32_t linktype;  /* interface 0's */
	uint32_t snaplen;
	struct pb_pcap_if *ifs; /* every interface seen so far, in file order */
	uint32_t nifs;
	uint32_t section_base;  /* index of the current section's interface 0 */
	uint32_t ifcap;
	/* Optional, set after open: the lowest map offset the caller may
	 * still read (frames handed on by reference, not copied), asked each
	 * time read pages are about to be given back. */
	size_t (*held_from)(void *arg);
	void *held_arg;
};

struct pb_pcap_packet {
	uint64_t ts_ns;
	uint32_t caplen;
	uint32_t origlen;
	uint32_t ifindex;    /* into r->ifs */
	int swapped;         /* written in the other byte order */
	const uint8_t *data; /* into the map: valid until close */
};

enum { PB_PCAP_READER_EOF = 0, PB_PCAP_READER_OK = 1, PB_PCAP_READER_ERROR = -1 };

/* 1 = opened (classic pcap or pcapng; for pcapng the interfaces before the
 * first packet are known), 0 = not a format of ours (use libpcap), -1 =
 * error (message in err: unreadable file, broken pcapng header, no
 * interface before the first packet). */
int pb_pcap_reader_open(struct pb_pcap_reader *r, const char *path, char *err, size_t errlen);
/* Back to the first packet (classic pcap only). */
void pb_pcap_reader_rewind(struct pb_pcap_reader *r);
/* PB_PCAP_READER_OK, _EOF, or _ERROR for a truncated or corrupt record
 * (message in err; the packets before it were delivered). New interfaces
 * show in r->nifs before the first packet that uses them. */
int pb_pcap_reader_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err,
    size_t errlen);
void pb_pcap_reader_close(struct pb_pcap_reader *r);

#endif
