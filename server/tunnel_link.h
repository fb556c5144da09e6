/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_LINK_H
#define PB_TUNNEL_LINK_H

#include "tunnel_int.h"

/*
 * Link events (peer_link.h) to the tunnel: checks the peer's identity,
 * attaches a connection to its sender or receiver once its role is known,
 * and hands on messages, sends and downs.
 */

extern const struct pb_link_ops tunnel_link_ops;
/* Leaves the pre-authentication count (handshake done or link gone). */
void conn_preauth_end(struct tunnel_conn *c);
/* Frees an accepted connection (its link is closed). */
void conn_free(struct tunnel_conn *c);

#endif
