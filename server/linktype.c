/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stddef.h>
#include <string.h>

#include <pcap/pcap.h>

#include "linktype.h"

/* LINKTYPE_* values whose DLT_* differs on some platform: libpcap's
 * pcap-common.c (1.10), map[] and the two special cases before it. */
#define LT_PPP_HDLC 50
#define LT_PPP_ETHER 51
#define LT_SYMANTEC_FIREWALL 99
#define LT_SLIP_BSDOS 102
#define LT_PPP_BSDOS 103
#define LT_C_HDLC 104
#define LT_PFSYNC 246
#define LT_PKTAP 258
#define LT_MATCHING_MIN 104 /* from here on DLT == LINKTYPE, but for the above */

static const struct {
	int dlt, linktype;
} lt_map[] = {
	/* Same number everywhere. */
	{ DLT_NULL, 0 }, { DLT_EN10MB, 1 }, { DLT_EN3MB, 2 }, { DLT_AX25, 3 },
	{ DLT_PRONET, 4 }, { DLT_CHAOS, 5 }, { DLT_IEEE802, 6 }, { DLT_ARCNET, 7 },
	{ DLT_SLIP, 8 }, { DLT_PPP, 9 }, { DLT_FDDI, 10 },
	{ DLT_SYMANTEC_FIREWALL, LT_SYMANTEC_FIREWALL },
	/* Platform-dependent DLTs. */
#ifdef DLT_FR
	{ DLT_FR, 107 },
#endif
	{ DLT_ATM_RFC1483, PB_LINKTYPE_ATM_RFC1483 },
	{ DLT_RAW, PB_LINKTYPE_RAW },
	{ DLT_SLIP_BSDOS, LT_SLIP_BSDOS },
	{ DLT_PPP_BSDOS, LT_PPP_BSDOS },
	{ DLT_C_HDLC, LT_C_HDLC },
	{ DLT_ATM_CLIP, PB_LINKTYPE_ATM_CLIP },
	{ DLT_PPP_SERIAL, LT_PPP_HDLC },
	{ DLT_PPP_ETHER, LT_PPP_ETHER },
};

int
pb_linktype_from_dlt(int dlt)
{
	if (dlt == DLT_PFSYNC)
		return LT_PFSYNC;
	if (dlt == DLT_PKTAP)
		return LT_PKTAP;
	if (dlt >= DLT_MATCHING_MIN && dlt <= DLT_MATCHING_MAX)
		return dlt;
	for (size_t i = 0; i < sizeof(lt_map) / sizeof(lt_map[0]); i++)
		if (lt_map[i].dlt == dlt)
			return lt_map[i].linktype;
	return -1;
}

int
pb_linktype_to_dlt(int linktype)
{
	if (linktype == LT_PFSYNC)
		return DLT_PFSYNC;
	if (linktype == LT_PKTAP)
		return DLT_PKTAP;
	/* ATM_CLIP is in the matching range but its DLT is 19. */
	if (linktype >= LT_MATCHING_MIN && linktype <= DLT_MATCHING_MAX &&
	    linktype != PB_LINKTYPE_ATM_CLIP)
		return linktype;
	for (size_t i = 0; i < sizeof(lt_map) / sizeof(lt_map[0]); i++)
		if (lt_map[i].linktype == linktype)
			return lt_map[i].dlt;
	return linktype;
}

const char *
pb_linktype_name(int linktype)
{
	return pcap_datalink_val_to_name(pb_linktype_to_dlt(linktype));
}

/* ---- pseudo-headers in the writer's byte order --------------------------- */

#define SLL_HDR_LEN 16u
#define SLL_P_CAN 0x000cu
#define SLL_P_CANFD 0x000du
#define USB_HDR_LEN 48u
#define USB_MMAPPED_HDR_LEN 64u
#define USB_ISODESC_LEN 16u
#define URB_ISOCHRONOUS 0u
#define NFLOG_HDR_LEN 4u
#define NFLOG_TLV_LEN 4u

static void
swap16_at(uint8_t *p)
{
	uint8_t t = p[0];
	p[0] = p[1];
	p[1] = t;
}

static void
swap32_at(uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	v = __builtin_bswap32(v);
	memcpy(p, &v, sizeof(v));
}

static void
swap64_at(uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	v = __builtin_bswap64(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t
host32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* A SocketCAN id behind a Linux cooked header. */
static void
swap_sll(uint8_t *d, uint32_t caplen, uint32_t origlen)
{
	if (caplen < SLL_HDR_LEN + 4 || origlen < SLL_HDR_LEN + 4)
		return;
	unsigned proto = (unsigned)d[14] << 8 | d[15];
	if (proto == SLL_P_CAN || proto == SLL_P_CANFD)
		swap32_at(d + SLL_HDR_LEN);
}

/*
 * pcap_usb_header(_mmapped): each field is swapped only when it was
 * captured whole, as libpcap does.
 */
static void
swap_usb(uint8_t *d, uint32_t caplen, int mmapped)
{
	static const struct {
		uint8_t off, len;
	} fixed[] = {
		{ 0, 8 }, { 12, 2 }, { 16, 8 }, { 24, 4 }, { 28, 4 }, { 32, 4 }, { 36, 4 },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (caplen < (uint32_t)fixed[i].off + fixed[i].len)
			return;
		uint8_t *p = d + fixed[i].off;
		if (fixed[i].len == 8)
			swap64_at(p);
		else if (fixed[i].len == 4)
			swap32_at(p);
		else
			swap16_at(p);
	}
	int iso = d[9] == URB_ISOCHRONOUS;
	if (iso) {
		/* s.iso.error_count, s.iso.numdesc; else the setup bytes. */
		for (uint32_t off = 40; off < USB_HDR_LEN; off += 4) {
			if (caplen < off + 4)
				return;
			swap32_at(d + off);
		}
	}
	if (!mmapped)
		return;
	/* interval, start_frame, xfer_flags, ndesc */
	for (uint32_t off = USB_HDR_LEN; off < USB_MMAPPED_HDR_LEN; off += 4) {
		if (caplen < off + 4)
			return;
		swap32_at(d + off);
	}
	if (!iso)
		return;
	uint32_t ndesc = host32_at(d + 60);
	uint32_t off = USB_MMAPPED_HDR_LEN;
	for (uint32_t i = 0; i < ndesc; i++, off += USB_ISODESC_LEN) {
		/* status, offset, len; then 4 bytes of padding */
		for (uint32_t f = 0; f < 12; f += 4) {
			if (caplen < off + f + 4)
				return;
			swap32_at(d + off + f);
		}
	}
}

/* NFLOG: big-endian fixed header, then TLVs whose type and length are in
 * host byte order. */
static void
swap_nflog(uint8_t *d, uint32_t caplen, uint32_t origlen)
{
	if (caplen < NFLOG_HDR_LEN || origlen < NFLOG_HDR_LEN || d[1] != 0)
		return;
	caplen -= NFLOG_HDR_LEN;
	origlen -= NFLOG_HDR_LEN;
	uint8_t *p = d + NFLOG_HDR_LEN;
	while (caplen >= NFLOG_TLV_LEN) {
		swap16_at(p);     /* tlv_length */
		swap16_at(p + 2); /* tlv_type */
		uint16_t size;
		memcpy(&size, p, sizeof(size));
		uint32_t padded = ((uint32_t)size + 3u) & ~3u;
		if (padded < NFLOG_TLV_LEN || caplen < padded || origlen < padded)
			return;
		caplen -= padded;
		origlen -= padded;
		p += padded;
	}
}

int
pb_linktype_has_host_order_fields(int linktype)
{
	return linktype == PB_LINKTYPE_LINUX_SLL || linktype == PB_LINKTYPE_USB_LINUX ||
	    linktype == PB_LINKTYPE_USB_LINUX_MMAPPED || linktype == PB_LINKTYPE_NFLOG;
}

void
pb_linktype_swap_pseudo(int linktype, uint8_t *data, uint32_t caplen, uint32_t origlen)
{
	switch (linktype) {
	case PB_LINKTYPE_LINUX_SLL:
		swap_sll(data, caplen, origlen);
		break;
	case PB_LINKTYPE_USB_LINUX:
		swap_usb(data, caplen, 0);
		break;
	case PB_LINKTYPE_USB_LINUX_MMAPPED:
		swap_usb(data, caplen, 1);
		break;
	case PB_LINKTYPE_NFLOG:
		swap_nflog(data, caplen, origlen);
		break;
	default:
		break;
	}
}
