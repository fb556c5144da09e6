/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_reader.h"

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define FILE_HDR 24u
#define REC_HDR 16u
/* libpcap's limit for a record in a file (MAXIMUM_SNAPLEN). */
#define MAX_RECORD 262144u
/* Read pages are dropped from our mapping every so often: the file stays in
 * the page cache, but the process does not look like it holds it all. */
#define RELEASE_STEP (32u << 20)

static inline uint32_t
get32(const struct pb_pcap_reader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return r->swap ? __builtin_bswap32(v) : v;
}

int
pb_pcap_reader_open(struct pb_pcap_reader *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint32_t magic;

	memset(r, 0, sizeof(*r));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < FILE_HDR) {
		close(r->fd);
		r->fd = -1;
		return 0; /* not ours to judge: libpcap reports it */
	}
	r->len = (size_t)st.st_size;
	r->map = mmap(NULL, r->len, PROT_READ, MAP_PRIVATE, r->fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		close(r->fd);
		r->fd = -1;
		return 0;
	}
	madvise((void *)r->map, r->len, MADV_SEQUENTIAL);
	memcpy(&magic, r->map, sizeof(magic));
	if (magic == MAGIC_US || magic == MAGIC_NS) {
		r->swap = 0;
	} else if (__builtin_bswap32(magic) == MAGIC_US || __builtin_bswap32(magic) == MAGIC_NS) {
		r->swap = 1;
		magic = __builtin_bswap32(magic);
	} else {
		pb_pcap_reader_close(r);
		return 0; /* pcapng or not a capture: libpcap decides */
	}
	r->nsec = magic == MAGIC_NS;
	r->snaplen = get32(r, r->map + 16);
	r->linktype = get32(r, r->map + 20) & 0x03ffffffu; /* upper bits: FCS info */
	r->off = FILE_HDR;
	return 1;
}

void
pb_pcap_reader_rewind(struct pb_pcap_reader *r)
{
	r->off = FILE_HDR;
	r->released = 0;
}

int
pb_pcap_reader_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err,
    size_t errlen)
{
	if (r->off == r->len)
		return PB_PCAP_READER_EOF;
	if (r->len - r->off < REC_HDR) {
		snprintf(err, errlen, "truncated dump file; tried to read %u header bytes, only got %zu",
		    REC_HDR, r->len - r->off);
		return PB_PCAP_READER_ERROR;
	}
	const uint8_t *h = r->map + r->off;
	uint32_t sec = get32(r, h), frac = get32(r, h + 4);
	uint32_t caplen = get32(r, h + 8), origlen = get32(r, h + 12);
	if (caplen > MAX_RECORD) {
		snprintf(err, errlen, "invalid packet capture length %" PRIu32 ", bigger than "
		    "maximum of %u", caplen, MAX_RECORD);
		return PB_PCAP_READER_ERROR;
	}
	if (r->len - r->off - REC_HDR < caplen) {
		snprintf(err, errlen, "truncated dump file; tried to read %" PRIu32
		    " captured bytes, only got %zu", caplen, r->len - r->off - REC_HDR);
		return PB_PCAP_READER_ERROR;
	}
	pkt->ts_ns = (uint64_t)sec * 1000000000u + (r->nsec ? frac : (uint64_t)frac * 1000u);
	pkt->caplen = caplen;
	pkt->origlen = origlen;
	pkt->data = h + REC_HDR;
	r->off += REC_HDR + caplen;
	/* Up to the previous step only: the packet just returned (and the few
	 * before it still in the caller's hands) stay mapped. */
	if (r->off - r->released >= 2 * RELEASE_STEP) {
		size_t upto = (r->off - RELEASE_STEP) & ~(size_t)(RELEASE_STEP - 1);
		madvise((void *)(r->map + r->released), upto - r->released, MADV_DONTNEED);
		r->released = upto;
	}
	return PB_PCAP_READER_OK;
}

void
pb_pcap_reader_close(struct pb_pcap_reader *r)
{
	/* Only an open reader owns its fd (a zeroed struct has fd 0). */
	if (r->map) {
		munmap((void *)r->map, r->len);
		close(r->fd);
	}
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}
