/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PCAP_READER_H
#define PB_PCAP_READER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads classic pcap files (micro- or nanosecond magic, either byte order)
 * straight from an mmap of the file: no stdio copy, no per-packet read
 * call. libpcap's offline reader does two fread()s per packet, which on
 * this kind of machine costs more than the rest of the replay path.
 * pcapng and anything else stay with libpcap (pb_pcap_reader_open says so).
 */

struct pb_pcap_reader {
	int fd;
	const uint8_t *map;
	size_t len;
	size_t off;
	size_t released;  /* pages before this offset were given back */
	int swap;        /* file byte order differs from ours */
	int nsec;        /* nanosecond magic */
	uint32_t linktype;
	uint32_t snaplen;
};

struct pb_pcap_packet {
	uint64_t ts_ns;
	uint32_t caplen;
	uint32_t origlen;
	const uint8_t *data; /* into the map: valid until close */
};

enum { PB_PCAP_READER_EOF = 0, PB_PCAP_READER_OK = 1, PB_PCAP_READER_ERROR = -1 };

/* 1 = opened (classic pcap), 0 = not a classic pcap file (use libpcap),
 * -1 = error (message in err). */
int pb_pcap_reader_open(struct pb_pcap_reader *r, const char *path, char *err, size_t errlen);
/* Back to the first packet. */
void pb_pcap_reader_rewind(struct pb_pcap_reader *r);
/* PB_PCAP_READER_OK, _EOF, or _ERROR for a truncated or corrupt record
 * (message in err; the packets before it were delivered). */
int pb_pcap_reader_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err,
    size_t errlen);
void pb_pcap_reader_close(struct pb_pcap_reader *r);

#endif
