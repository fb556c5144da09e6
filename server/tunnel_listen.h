/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_LISTEN_H
#define PB_TUNNEL_LISTEN_H

#include "tunnel_int.h"

/*
 * The listener: accepted connections, within the descriptor budget and the
 * pre-authentication limits (listen.max_handshakes, _per_ip).
 */

void listen_on_accept(struct pb_listener *lst, int fd, const char *addr, void *arg);
/* A connected socket as if accepted by the listener. */
int listen_adopt(struct pb_tunnel *t, int fd, const char *addr);

#endif
