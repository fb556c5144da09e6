/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "map_guard.h"
#include "pcap_reader.h"

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define FILE_HDR 24u
#define REC_HDR 16u
/* libpcap's limit for a record in a file (MAXIMUM_SNAPLEN). */
#define MAX_RECORD 262144u
/* Read pages are dropped from our mapping every so often: the file stays in
 * the page cache, but the process does not look like it holds it all. Each
 * step costs one madvise; 2 MiB keeps at most 4 MiB of the file resident. */
#define RELEASE_STEP (2u << 20)
/* Classic pcap is read with pread into a ring of RING_BYTES mapped twice
 * in a row, so that any RING_BYTES - 1 bytes from any offset are
 * contiguous. Each pread fills READ_STEP ahead. A caller may hold what
 * held_from says plus RING_LAG behind the current offset: the file
 * capture holds at most ~1.4 MiB (MAP_WINDOW, a run, a record), the rest
 * is room to read ahead. */
#define RING_BYTES (4u << 20)
#define RING_LAG (1u << 20)
#define READ_STEP (256u << 10)

/* pcapng */
#define NG_SHB 0x0a0d0d0au
#define NG_IDB 0x00000001u
#define NG_OPB 0x00000002u      /* obsolete packet block */
#define NG_SPB 0x00000003u
#define NG_EPB 0x00000006u
#define NG_BOM 0x1a2b3c4du
#define NG_MIN_BLOCK 12u
#define NG_MAX_BLOCK (16u << 20) /* libpcap's limit too */
#define NG_OPT_IF_NAME 2u
#define NG_OPT_IF_TSRESOL 9u
#define NG_OPT_IF_TSOFFSET 14u

/* ---- classic pcap: the read ring ---------------------------------------- */

/* The ring: one memfd mapped twice, back to back. */
static int
ring_open(struct pb_pcap_reader *r)
{
	int fd = memfd_create("pb-pcap-reader", MFD_CLOEXEC);
	uint8_t *base = MAP_FAILED;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, RING_BYTES) == 0)
		base = mmap(NULL, 2 * (size_t)RING_BYTES, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base != MAP_FAILED &&
	    (mmap(base, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(base + RING_BYTES, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
	    0) == MAP_FAILED)) {
		munmap(base, 2 * (size_t)RING_BYTES);
		base = MAP_FAILED;
	}
	close(fd); /* the mappings keep it */
	if (base == MAP_FAILED)
		return -1;
	r->ring = base;
	return 0;
}

/* The byte at file offset off (loaded or about to be). */
static inline const uint8_t *
at(const struct pb_pcap_reader *r, size_t off)
{
	return r->ring ? r->ring + off % RING_BYTES : r->map + off;
}

/* Reads ahead until [off, off + n) is in the ring. False, with load_err,
 * when the file ends before (0: it shrank), a read fails (errno) or the
 * ring is full of what the caller still holds (ENOBUFS). */
static bool
ring_load(struct pb_pcap_reader *r, size_t off, size_t n)
{
	size_t lower = r->keep_from, want = off + n;

	if (r->held_from) {
		size_t h = r->held_from(r->held_arg);
		if (h < lower)
			lower = h;
	}
	if (want < r->filled + READ_STEP)
		want = r->filled + READ_STEP;
	if (want > r->len)
		want = r->len;
	if (want > lower + RING_BYTES)
		want = lower + RING_BYTES;
	r->load_err = 0;
	while (r->filled < want) {
		ssize_t k = pread(r->fd, r->ring + r->filled % RING_BYTES, want - r->filled,
		    (off_t)r->filled);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r->load_err = errno;
		if (k <= 0)
			break;
		r->filled += (size_t)k;
	}
	if (off + n <= r->filled)
		return true;
	if (!r->load_err && r->filled == want && want < r->len)
		r->load_err = ENOBUFS;
	return false;
}

/* [off, off + n) readable: already loaded (the usual case) or loaded now. */
static inline bool
have(struct pb_pcap_reader *r, size_t off, size_t n)
{
	return !r->ring || off + n <= r->filled || ring_load(r, off, n);
}

static inline uint32_t
get32(const struct pb_pcap_reader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return r->swap ? __builtin_bswap32(v) : v;
}

static inline uint16_t
get16(const struct pb_pcap_reader *r, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return r->swap ? __builtin_bswap16(v) : v;
}

static int
add_if(struct pb_pcap_reader *r, uint32_t linktype, uint32_t snaplen, uint64_t units)
{
	if (r->nifs >= PB_PCAP_READER_MAX_IFS)
		return -1;
	if (r->nifs == r->ifcap) {
		uint32_t cap = r->ifcap ? r->ifcap * 2 : 4;
		struct pb_pcap_if *n = realloc(r->ifs, cap * sizeof(*n));
		if (!n)
			return -1;
		r->ifs = n;
		r->ifcap = cap;
	}
	struct pb_pcap_if *i = &r->ifs[r->nifs++];
	memset(i, 0, sizeof(*i));
	i->linktype = linktype;
	i->snaplen = snaplen;
	i->ts_units = units;
	return 0;
}

/* Units per second of an if_tsresol byte; 0 when we cannot represent it. */
static uint64_t
tsresol_units(uint8_t b)
{
	unsigned e = b & 0x7fu;
	uint64_t u = 1;
	if (b & 0x80u)
		return e < 64 ? (uint64_t)1 << e : 0;
	if (e > 19)
		return 0;
	while (e--)
		u *= 10;
	return u;
}

static uint64_t
units_to_ns(uint64_t ts, const struct pb_pcap_if *i)
{
	uint64_t u = i->ts_units;
	unsigned __int128 frac = (unsigned __int128)(ts % u) * 1000000000u / u;
	__int128 ns = (__int128)(ts / u) * 1000000000 + (__int128)frac +
	    (__int128)i->ts_offset * 1000000000;
	if (ns < 0)
		return 0;
	return ns > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

/* The IDB at b (blen bytes, checked): a new interface of this section. */
static int
ng_idb(struct pb_pcap_reader *r, const uint8_t *b, uint32_t blen, char *err, size_t errlen)
{
	if (blen < 20) {
		snprintf(err, errlen, "pcapng: interface description block of %" PRIu32 " bytes",
		    blen);
		return -1;
	}
	if (add_if(r, get16(r, b + 8), get32(r, b + 12), 1000000u) < 0) {
		snprintf(err, errlen, "pcapng: more than %u interfaces", PB_PCAP_READER_MAX_IFS);
		return -1;
	}
	struct pb_pcap_if *i = &r->ifs[r->nifs - 1];
	uint32_t off = 16, end = blen - 4;
	while (off + 4 <= end) {
		uint16_t code = get16(r, b + off), len = get16(r, b + off + 2);
		const uint8_t *v = b + off + 4;
		if (code == 0 || (uint32_t)len > end - off - 4)
			break;
		if (code == NG_OPT_IF_NAME) {
			size_t n = len < sizeof(i->name) - 1 ? len : sizeof(i->name) - 1;
			memcpy(i->name, v, n);
			i->name[n] = '\0';
		} else if (code == NG_OPT_IF_TSRESOL && len >= 1) {
			if (!(i->ts_units = tsresol_units(v[0]))) {
				snprintf(err, errlen, "pcapng: interface %" PRIu32 ": if_tsresol 0x%02x "
				    "not supported", r->nifs - 1 - r->section_base, v[0]);
				return -1;
			}
		} else if (code == NG_OPT_IF_TSOFFSET && len >= 8) {
			uint64_t s;
			memcpy(&s, v, sizeof(s));
			i->ts_offset = (int64_t)(r->swap ? __builtin_bswap64(s) : s);
		}
		off += 4 + ((len + 3u) & ~3u);
	}
	return 0;
}

/* An SHB at r->off: byte order, checks; a new section. */
static int
ng_shb(struct pb_pcap_reader *r, char *err, size_t errlen)
{
	const uint8_t *b = r->map + r->off;
	uint32_t bom;

	if (r->len - r->off < 28) {
		snprintf(err, errlen, "pcapng: truncated section header block");
		return -1;
	}
	memcpy(&bom, b + 8, sizeof(bom));
	if (bom == NG_BOM)
		r->swap = 0;
	else if (__builtin_bswap32(bom) == NG_BOM)
		r->swap = 1;
	else {
		snprintf(err, errlen, "pcapng: bad byte-order magic 0x%08" PRIx32, bom);
		return -1;
	}
	if (get16(r, b + 12) != 1) {
		snprintf(err, errlen, "pcapng: unsupported version %u.%u", get16(r, b + 12),
		    get16(r, b + 14));
		return -1;
	}
	r->section_base = r->nifs;
	return 0;
}

#define NG_TAKEN 2 /* ng_block: a block other than a packet was taken in */

/* One block of a pcapng file at r->off: a packet, or NG_TAKEN for an SHB,
 * an IDB or a block we skip. */
static int
ng_block(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err, size_t errlen)
{
	if (r->off == r->len)
		return PB_PCAP_READER_EOF;
	size_t left = r->len - r->off;
	if (left < NG_MIN_BLOCK) {
		snprintf(err, errlen, "pcapng: truncated block header (%zu bytes left)", left);
		return PB_PCAP_READER_ERROR;
	}
	const uint8_t *b = r->map + r->off;
	uint32_t type;
	memcpy(&type, b, sizeof(type)); /* the SHB type reads the same both ways */
	if (type == NG_SHB && ng_shb(r, err, errlen) < 0)
		return PB_PCAP_READER_ERROR;
	type = get32(r, b);
	uint32_t blen = get32(r, b + 4);
	if (blen < NG_MIN_BLOCK || blen % 4 || blen > NG_MAX_BLOCK) {
		snprintf(err, errlen, "pcapng: block of type 0x%08" PRIx32 " with length %" PRIu32,
		    type, blen);
		return PB_PCAP_READER_ERROR;
	}
	if (blen > left) {
		snprintf(err, errlen, "pcapng: truncated block of type 0x%08" PRIx32 " (%" PRIu32
		    " bytes, %zu left)", type, blen, left);
		return PB_PCAP_READER_ERROR;
	}
	if (get32(r, b + blen - 4) != blen) {
		snprintf(err, errlen, "pcapng: block of type 0x%08" PRIx32 ": trailing length %"
		    PRIu32 " differs from %" PRIu32, type, get32(r, b + blen - 4), blen);
		return PB_PCAP_READER_ERROR;
	}
	if (type == NG_IDB && ng_idb(r, b, blen, err, errlen) < 0)
		return PB_PCAP_READER_ERROR;
	r->off += blen;
	if (type != NG_EPB && type != NG_SPB && type != NG_OPB)
		return NG_TAKEN;

	uint32_t nsec_ifs = r->nifs - r->section_base, ifid, caplen, origlen, hdr;
	uint64_t ts = 0;
	if (blen < (type == NG_SPB ? 16u : 32u)) {
		snprintf(err, errlen, "pcapng: packet block of type %" PRIu32 " with %" PRIu32
		    " bytes", type, blen);
		return PB_PCAP_READER_ERROR;
	}
	if (type == NG_SPB) {
		hdr = 12;
		ifid = 0;
		origlen = get32(r, b + 8);
		caplen = blen - 16;
		if (caplen > origlen)
			caplen = origlen; /* the rest is padding */
	} else {
		hdr = 28;
		ifid = type == NG_OPB ? get16(r, b + 8) : get32(r, b + 8);
		ts = (uint64_t)get32(r, b + 12) << 32 | get32(r, b + 16);
		caplen = get32(r, b + 20);
		origlen = get32(r, b + 24);
	}
	if (ifid >= nsec_ifs) {
		snprintf(err, errlen, "pcapng: packet for interface %" PRIu32 ", the section has %"
		    PRIu32, ifid, nsec_ifs);
		return PB_PCAP_READER_ERROR;
	}
	const struct pb_pcap_if *i = &r->ifs[r->section_base + ifid];
	/* An SPB holds min(original length, snaplen) bytes. */
	if (type == NG_SPB && i->snaplen && caplen > i->snaplen)
		caplen = i->snaplen;
	if (caplen > blen - hdr - 4) {
		snprintf(err, errlen, "pcapng: captured length %" PRIu32 " above the %" PRIu32
		    "-byte block", caplen, blen);
		return PB_PCAP_READER_ERROR;
	}
	pkt->ts_ns = type == NG_SPB ? 0 : units_to_ns(ts, i);
	pkt->caplen = caplen;
	pkt->origlen = origlen;
	pkt->ifindex = r->section_base + ifid;
	pkt->swapped = r->swap;
	pkt->data = b + hdr;
	return PB_PCAP_READER_OK;
}

static int
ng_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err, size_t errlen)
{
	int rc;
	while ((rc = ng_block(r, pkt, err, errlen)) == NG_TAKEN)
		;
	return rc;
}

/* Opens a pcapng file: its blocks up to the first packet, which is left
 * for ng_next; at least one interface must be known by then. */
static int
ng_open(struct pb_pcap_reader *r, char *err, size_t errlen)
{
	struct pb_pcap_packet pk;
	int rc;

	r->ng = 1;
	for (;;) {
		size_t at = r->off;
		rc = ng_block(r, &pk, err, errlen);
		if (rc == PB_PCAP_READER_OK)
			r->off = at;
		if (rc != NG_TAKEN)
			break;
	}
	if (rc == PB_PCAP_READER_ERROR)
		return -1;
	if (!r->nifs) {
		snprintf(err, errlen, "pcapng: no interface description block before the first "
		    "packet");
		return -1;
	}
	r->linktype = r->ifs[0].linktype;
	r->snaplen = r->ifs[0].snaplen;
	return 1;
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
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < NG_MIN_BLOCK) {
		close(r->fd);
		r->fd = -1;
		return 0; /* not ours to judge: libpcap reports it */
	}
	r->len = (size_t)st.st_size;
	if (pread(r->fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic)) {
		close(r->fd);
		r->fd = -1;
		return 0;
	}
	bool classic = magic == MAGIC_US || magic == MAGIC_NS ||
	    __builtin_bswap32(magic) == MAGIC_US || __builtin_bswap32(magic) == MAGIC_NS;
	if (classic && r->len >= FILE_HDR && ring_open(r) == 0) {
		if (!have(r, 0, FILE_HDR)) {
			pb_pcap_reader_close(r);
			return 0; /* it shrank already: libpcap says so */
		}
	} else {
		r->map = mmap(NULL, r->len, PROT_READ, MAP_PRIVATE, r->fd, 0);
		/* Unguarded, a file truncated under the map would kill us:
		 * libpcap's stdio reads it then. */
		if (r->map == MAP_FAILED || !(r->guard = pb_map_guard_add(r->map, r->len))) {
			if (r->map != MAP_FAILED)
				munmap((void *)r->map, r->len);
			r->map = NULL;
			close(r->fd);
			r->fd = -1;
			return 0;
		}
		madvise((void *)r->map, r->len, MADV_SEQUENTIAL);
	}
	if (magic == NG_SHB) {
		int rc = ng_open(r, err, errlen);
		if (rc != 1)
			pb_pcap_reader_close(r);
		return rc;
	}
	if (r->len < FILE_HDR) {
		pb_pcap_reader_close(r);
		return 0;
	}
	if (magic == MAGIC_US || magic == MAGIC_NS) {
		r->swap = 0;
	} else if (__builtin_bswap32(magic) == MAGIC_US || __builtin_bswap32(magic) == MAGIC_NS) {
		r->swap = 1;
		magic = __builtin_bswap32(magic);
	} else {
		pb_pcap_reader_close(r);
		return 0; /* not a capture we know: libpcap decides */
	}
	r->nsec = magic == MAGIC_NS;
	r->snaplen = get32(r, at(r, 16));
	r->linktype = get32(r, at(r, 20)) & 0x03ffffffu; /* upper bits: FCS info */
	if (add_if(r, r->linktype, r->snaplen, r->nsec ? 1000000000u : 1000000u) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		pb_pcap_reader_close(r);
		return -1;
	}
	r->off = FILE_HDR;
	return 1;
}

void
pb_pcap_reader_rewind(struct pb_pcap_reader *r)
{
	r->off = FILE_HDR;
	r->released = 0;
	/* The header was parsed at open; nothing before it is read again. */
	r->filled = r->keep_from = FILE_HDR;
}

/* A record the ring could not load (ring_load's load_err). */
static int
short_read(const struct pb_pcap_reader *r, size_t from, size_t want, char *err, size_t errlen)
{
	if (r->load_err == ENOBUFS)
		snprintf(err, errlen, "read window of %u bytes full at offset %zu", RING_BYTES,
		    from);
	else if (r->load_err)
		snprintf(err, errlen, "read error at offset %zu: %s", r->filled,
		    strerror(r->load_err));
	else
		snprintf(err, errlen, "truncated dump file; tried to read %zu bytes at offset %zu, "
		    "only got %zu (the file shrank)", want, from, r->filled - from);
	return PB_PCAP_READER_ERROR;
}

static int
classic_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err, size_t errlen)
{
	if (r->off == r->len)
		return PB_PCAP_READER_EOF;
	if (r->len - r->off < REC_HDR) {
		snprintf(err, errlen, "truncated dump file; tried to read %u header bytes, only got %zu",
		    REC_HDR, r->len - r->off);
		return PB_PCAP_READER_ERROR;
	}
	r->keep_from = r->off > RING_LAG ? r->off - RING_LAG : 0;
	if (!have(r, r->off, REC_HDR))
		return short_read(r, r->off, REC_HDR, err, errlen);
	const uint8_t *h = at(r, r->off);
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
	if (!have(r, r->off, REC_HDR + caplen))
		return short_read(r, r->off, REC_HDR + caplen, err, errlen);
	pkt->ts_ns = (uint64_t)sec * 1000000000u + (r->nsec ? frac : (uint64_t)frac * 1000u);
	pkt->caplen = caplen;
	pkt->origlen = origlen;
	pkt->ifindex = 0;
	pkt->swapped = r->swap;
	pkt->data = h + REC_HDR;
	r->off += REC_HDR + caplen;
	return PB_PCAP_READER_OK;
}

/* Gives back read pages up to the previous step only: the packets just
 * returned (and the few before them still in the caller's hands) stay
 * mapped. */
static void
reader_release(struct pb_pcap_reader *r)
{
	if (!r->ring && r->off - r->released >= 2 * RELEASE_STEP) {
		size_t upto = (r->off - RELEASE_STEP) & ~(size_t)(RELEASE_STEP - 1);
		if (r->held_from) {
			size_t held = r->held_from(r->held_arg) & ~(size_t)(RELEASE_STEP - 1);
			if (held < upto)
				upto = held;
		}
		if (upto > r->released) {
			madvise((void *)(r->map + r->released), upto - r->released, MADV_DONTNEED);
			r->released = upto;
		}
	}
}

int
pb_pcap_reader_next(struct pb_pcap_reader *r, struct pb_pcap_packet *pkt, char *err,
    size_t errlen)
{
	int rc = r->ng ? ng_next(r, pkt, err, errlen) : classic_next(r, pkt, err, errlen);
	if (rc != PB_PCAP_READER_OK)
		return rc;
	reader_release(r);
	return PB_PCAP_READER_OK;
}

uint32_t
pb_pcap_reader_run(struct pb_pcap_reader *r, size_t max_bytes, uint32_t max_packets,
    uint32_t max_caplen, const uint8_t **start, size_t *bytes)
{
	size_t off = r->off;
	uint32_t k = 0;

	if (!pb_pcap_reader_can_run(r))
		return 0;
	if (max_caplen > MAX_RECORD)
		max_caplen = MAX_RECORD;
	r->keep_from = r->off > RING_LAG ? r->off - RING_LAG : 0;
	/* Exactly classic_next's checks, record by record (a record the ring
	 * cannot load ends the run: classic_next says why). */
	while (k < max_packets && r->len - off >= REC_HDR && have(r, off, REC_HDR)) {
		uint32_t caplen;
		memcpy(&caplen, at(r, off) + 8, sizeof(caplen));
		if (caplen > max_caplen || r->len - off - REC_HDR < caplen)
			break;
		size_t next = off + REC_HDR + caplen;
		if (k > 0 && next - r->off > max_bytes)
			break;
		if (!have(r, off, REC_HDR + caplen))
			break;
		off = next;
		k++;
	}
	if (k == 0)
		return 0;
	*start = at(r, r->off);
	*bytes = off - r->off;
	r->off = off;
	reader_release(r);
	return k;
}

void
pb_pcap_reader_close(struct pb_pcap_reader *r)
{
	/* Only an open reader owns its fd (a zeroed struct has fd 0). */
	if (r->ring) {
		munmap(r->ring, 2 * (size_t)RING_BYTES);
		close(r->fd);
	} else if (r->map) {
		pb_map_guard_remove(r->guard);
		munmap((void *)r->map, r->len);
		close(r->fd);
	}
	free(r->ifs);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

const uint8_t *
pb_pcap_reader_at(const struct pb_pcap_reader *r, size_t off)
{
	return at(r, off);
}

bool
pb_pcap_reader_ok(const struct pb_pcap_reader *r, const void *p, size_t len)
{
	return pb_map_guard_ok(r->guard, p, len);
}
