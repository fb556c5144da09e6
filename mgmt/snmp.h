/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SNMP_H
#define PB_SNMP_H

#include <stddef.h>

#include "config.h"
#include "view.h"

/*
 * The SNMP agent (PACKETBROKER-MIB, mibs/): an embedded master agent or
 * an AgentX subagent, on its own thread. Every net-snmp call happens on
 * that thread; it reads the engine's published view and snapshots, never
 * engine-owned state, and sends notifications by comparing consecutive
 * snapshots. SET is refused.
 */

struct pb_snmp;

/*
 * Starts the agent thread and waits (up to a few seconds) for net-snmp's
 * initialisation: a master agent that cannot listen is an error (NULL and
 * err); a subagent whose master is missing is not, it keeps retrying.
 * The view must outlive the agent. One agent per process, once: net-snmp
 * keeps global state.
 */
struct pb_snmp *pb_snmp_start(const struct pb_snmp_cfg *cfg, const struct pb_view *view,
    char *err, size_t errlen);
/* Stops the thread (bounded by the AgentX timeout) and frees everything. */
void pb_snmp_stop(struct pb_snmp *s);

#endif
