/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_STATUS_H
#define PB_TUNNEL_STATUS_H

#include "tunnel_int.h"

/*
 * The /peers snapshot and the tunnel counters, published into pubstate
 * (every 250 ms and on link state changes).
 */

void status_publish(struct pb_tunnel *t);

#endif
