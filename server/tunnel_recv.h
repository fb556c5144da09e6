/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_RECV_H
#define PB_TUNNEL_RECV_H

#include "tunnel_int.h"

/*
 * The receiver side of a link (an upstream): records in, link and origin
 * checks, loop and hop limits, DLQ_NOTICE, names announced by the sender.
 */

struct tunnel_receiver *receiver_new(struct pb_tunnel *t, const char *name,
    const char *address, bool configured);
void receiver_free(struct tunnel_receiver *u);
uint64_t receiver_resume(struct tunnel_receiver *u, const struct pb_wire_hello *h);
void receiver_attach(struct tunnel_receiver *u, struct tunnel_conn *c);
void receiver_detach(struct tunnel_receiver *u, const char *reason);
void receiver_on_message(struct tunnel_receiver *u, struct pb_wire_msg *m);

#endif
