/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_CUSTODY_H
#define PB_TUNNEL_CUSTODY_H

#include "tunnel_int.h"

/*
 * Custody bookkeeping in one place: the custody token (what every sink and
 * peer holds), the ACK point of each upstream that follows it, and the
 * state files that survive a restart: custody-<node>.state (upstream
 * node, link epoch, last seq in custody; seeds for senders not yet back)
 * and gaps-<node>.state (missing origin ranges), plus the custody a
 * collector recovers from its own pcapng files.
 */

/* The custody token: every record up to it is in every sink's and peer's
 * custody (or in the DLQ). */
uint64_t custody_token(struct pb_tunnel *t);
/* Moves each upstream's custody point and ACKs it (force: at once). */
void custody_update(struct pb_tunnel *t, bool force_ack);
void custody_state_save(struct pb_tunnel *t, bool force);
void custody_state_init(struct pb_tunnel *t);
void custody_seeds_free(struct pb_tunnel *t);
void custody_gaps_save(struct pb_tunnel *t, bool force);
/* The gap state file, then the custody the dump files hold. */
void custody_recover(struct pb_tunnel *t);

#endif
