/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PCAP_READER_H
#define PB_PCAP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Reads classic pcap (micro- or nanosecond magic, either byte order) and
 * pcapng (any number of sections, in either byte order, and interfaces of
 * any link types; EPB, SPB and the obsolete packet block) without a
 * per-packet read call. libpcap's offline reader does two fread()s per
 * packet, which on this kind of machine costs more than the rest of the
 * replay path, and refuses pcapng files whose interfaces have different
 * link types.
 *
 * Classic pcap is read with large preads into a 4 MiB ring mapped twice
 * in a row (so a record is always contiguous), which stays in memory:
 * first touches of file pages through an mmap cost ~1.8 us per 4 KiB on
 * the virtual machines this runs on (560-670 ms per GiB, against 80 ms
 * for pread with its copy). pcapng is read from an mmap of the file (its
 * blocks may be up to 16 MiB).
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
	const uint8_t *map;      /* pcapng: the file; NULL with a ring */
	uint8_t *ring;           /* classic pcap: file offset x at ring + x % 4 MiB */
	size_t filled;           /* ring: the file is read up to here */
	size_t keep_from;        /* ring: the caller may still read from here on */
	int load_err;            /* ring: why the last read came short (0: EOF) */
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
	/* Optional, set after open: the lowest file offset the caller may
	 * still read (frames handed on by reference, not copied), asked each
	 * time read pages are about to be given back or the ring refilled.
	 * With a ring, the caller may hold at most ~3 MiB behind the offset
	 * it reads at (else: "read window full"). */
	size_t (*held_from)(void *arg);
	void *held_arg;
	struct pb_map_guard *guard; /* the file may shrink under the map */
};

struct pb_pcap_packet {
	uint64_t ts_ns;
	uint32_t caplen;
	uint32_t origlen;
	uint32_t ifindex;    /* into r->ifs */
	int swapped;         /* written in the other byte order */
	const uint8_t *data; /* into the map or ring: valid until close, or
	                      * with a ring until held_from passes it (without
	                      * held_from: until 1 MiB further on) */
};

enum { PB_PCAP_READER_EOF = 0, PB_PCAP_READER_OK = 1, PB_PCAP_READER_ERROR = -1 };

/* 1 = opened (classic pcap or pcapng; for pcapng the interfaces before the
 * first packet are known), 0 = not a format of ours (use libpcap), -1 =
 * error (message in err: unreadable file, broken pcapng header, no
 * interface before the first packet). */
int pb_pcap_reader_open(struct pb_pcap_reader *r, const char *path, char *err, size_t errlen);
/* Back to the first packet (classic pcap only; nothing may be held). */
void pb_pcap_reader_rewind(struct pb_pcap_reader *r);
/* PB_PCAP_READER_OK, _EOF, or _ERROR for a truncated or corrupt record
 * (message in err; the packets before it were delivered). New interfaces
 * show in r->nifs before the first packet that uses them. */
int pb_pcap_reader_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err,
    size_t errlen);
void pb_pcap_reader_close(struct pb_pcap_reader *r);
/* [p, p + len) of the map was read from the file, not from the zeros a
 * file that shrank while mapped leaves (map_guard.h). Readers of the map
 * (any thread) check this after reading, before they trust the bytes. */
bool pb_pcap_reader_ok(const struct pb_pcap_reader *r, const void *p, size_t len);
/* Where the byte at file offset off is (once read: a packet's, a run's). */
const uint8_t *pb_pcap_reader_at(const struct pb_pcap_reader *r, size_t off);

/*
 * Runs: for a classic pcap file in this host's byte order, a caller may
 * take whole runs of records instead of one packet at a time (a replay
 * hands a run to another thread as one piece). pb_pcap_reader_run takes
 * the records from the current offset, as many as fit in max_bytes
 * (always the first) and max_packets, none with a caplen above
 * max_caplen; it advances past them and returns how many, with *start
 * and *bytes their extent in the map. 0: the next record is not for a run
 * (end of file, a truncated or too large record, a pcapng or byte-swapped
 * file): pb_pcap_reader_next reads it or says what is wrong.
 */
static inline int
pb_pcap_reader_can_run(const struct pb_pcap_reader *r)
{
	return (r->map != NULL || r->ring != NULL) && !r->ng && !r->swap;
}
uint32_t pb_pcap_reader_run(struct pb_pcap_reader *r, size_t max_bytes, uint32_t max_packets,
    uint32_t max_caplen, const uint8_t **start, size_t *bytes);

/* The record at p in a run; the next record's address. nsec: the file's
 * (r->nsec). The run's records were checked when it was taken. */
static inline const uint8_t *
pb_pcap_run_record(const uint8_t *p, int nsec, struct pb_pcap_packet *pkt)
{
	uint32_t h[4];

	memcpy(h, p, sizeof(h));
	pkt->ts_ns = (uint64_t)h[0] * 1000000000u + (nsec ? h[1] : (uint64_t)h[1] * 1000u);
	pkt->caplen = h[2];
	pkt->origlen = h[3];
	pkt->ifindex = 0;
	pkt->swapped = 0;
	pkt->data = p + 16;
	return p + 16 + h[2];
}

#endif
