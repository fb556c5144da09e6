/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_MGMT_SNAP_H
#define PB_MGMT_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_format.h"
#include "pubstate.h"
#include "dlq_store.h"
#include "view.h"

/*
 * What every management face (REST API, SNMP agent) derives the same way
 * from the engine's published state, so that they show the same truth:
 * the peer table copied out under the pubstate lock, peer states as numbers,
 * and the node-wide totals. Any thread; nothing here calls into the engine.
 */

/* Peer link states are enum pb_link_state_code (api_format.h), whose numbers
 * are PACKETBROKER-MIB's pbPeerState. Records flow: up or slow. */
bool pb_link_state_is_up(enum pb_link_state_code s);

/*
 * The peer table as last published: a malloc'ed copy (free() it) with every
 * string terminated, its count and when it was generated (realtime ns).
 * 0, or -1 on allocation failure. No pubstate: 0 peers.
 */
int pb_mgmt_peers_copy(struct pb_pubstate *b, struct pb_peer_snap **out, size_t *n,
    uint64_t *generated_ns);

/* The node-wide totals (PACKETBROKER-MIB pbTotals). */
struct pb_mgmt_totals {
	uint64_t records_captured;  /* sum of sources' packets */
	uint64_t records_forwarded; /* sum of downstream peers' records_acked */
	uint64_t records_delivered; /* sum of sinks' packets */
	uint64_t capture_drops;     /* sum of sources' pcap_drops + pcap_ifdrops */
	uint64_t dlq_rows;          /* committed DLQ rows (0 without a DLQ) */
	uint64_t dlq_bytes;         /* their accounted bytes */
	uint64_t dlq_refusals;      /* refused_full + refused_queue since start */
};

/* dlq may be NULL (no DLQ). Source and sink counters are read now. */
void pb_mgmt_totals(const struct pb_view *v, const struct pb_peer_snap *peers, size_t npeers,
    const struct pb_dlq_stats_snapshot *dlq, struct pb_mgmt_totals *t);

#endif
