/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_LINKTYPE_H
#define PB_LINKTYPE_H

#include <stdint.h>

/*
 * Link-layer header types. Everything packetbroker stores or sends (pcap
 * and pcapng files, the RECORD and SOURCE messages of the tunnel) carries
 * LINKTYPE_* values, the numbers of the tcpdump.org link-layer header type
 * registry, which mean the same on every platform. libpcap speaks DLT_*
 * values, the platform's own numbers (pcap_datalink(), pcap_open_dead());
 * they differ for a handful of types (DLT_RAW is 12 on Linux and 14 on
 * OpenBSD, where 12 is DLT_LOOP; LINKTYPE_RAW is 101). libpcap maps them
 * internally (dlt_to_linktype() / linktype_to_dlt() in pcap-common.c) but
 * does not export the mapping, so this is the same table, converted at the
 * libpcap boundary.
 */

#define PB_LINKTYPE_NULL 0
#define PB_LINKTYPE_ETHERNET 1
#define PB_LINKTYPE_ATM_RFC1483 100
#define PB_LINKTYPE_RAW 101
#define PB_LINKTYPE_ATM_CLIP 106
#define PB_LINKTYPE_LINUX_SLL 113
#define PB_LINKTYPE_USB_LINUX 189
#define PB_LINKTYPE_USB_LINUX_MMAPPED 220
#define PB_LINKTYPE_NFLOG 239
#define PB_LINKTYPE_LINUX_SLL2 276

/* The LINKTYPE_* of a DLT_* value from libpcap; -1 when the registry has
 * none (libpcap then cannot write it to a file either). */
int pb_linktype_from_dlt(int dlt);
/* The DLT_* value libpcap wants for a LINKTYPE_* (pcap_open_dead(), BPF);
 * values it does not know are returned as they are, like libpcap does. */
int pb_linktype_to_dlt(int linktype);
/* "RAW", "EN10MB"...: libpcap's name of the type, or NULL. */
const char *pb_linktype_name(int linktype);

/*
 * Some link types carry pseudo-header fields in the byte order of the host
 * that wrote the file (Linux USB, NFLOG TLV headers, the CAN id behind a
 * Linux cooked header). Reading a file written in the other byte order,
 * libpcap and Wireshark swap them so that the frame means the same on this
 * host; packetbroker's output files are in host byte order, so a file
 * source does the same (swap_pseudo_headers() in libpcap's pcap-common.c).
 * Returns 1 when the type has such fields.
 */
int pb_linktype_has_host_order_fields(int linktype);
void pb_linktype_swap_pseudo(int linktype, uint8_t *data, uint32_t caplen, uint32_t origlen);

#endif
