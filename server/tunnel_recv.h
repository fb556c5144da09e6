/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_RECV_H
#define PB_TUNNEL_RECV_H

#include "tunnel_int.h"

/*
 * The receiver side of a link (an upstream): records in, link and origin
 * checks, loop and hop limits, DLQ_NOTICE, names announced by the sender.
 */

struct fwd_upstream *fwd_upstream_new(struct pb_tunnel *t, const char *name,
    const char *address, bool configured);
void fwd_upstream_free(struct fwd_upstream *u);
uint64_t fwd_upstream_resume(struct fwd_upstream *u, const struct pb_wire_hello *h);
void fwd_upstream_attach(struct fwd_upstream *u, struct fwd_conn *c);
void fwd_upstream_detach(struct fwd_upstream *u, const char *reason);
void fwd_upstream_on_message(struct fwd_upstream *u, const struct pb_wire_msg *m);

#endif
