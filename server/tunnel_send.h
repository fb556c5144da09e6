/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_SEND_H
#define PB_TUNNEL_SEND_H

#include "tunnel_int.h"

/*
 * The sender side of a link (a downstream peer): resend buffer, ACK
 * release, expiry, DLQ spill and DLQ_NOTICE, announcing names.
 */

struct fwd_peer *fwd_peer_new(struct pb_tunnel *t, const char *name, const char *address,
    bool configured);
void fwd_peer_free(struct fwd_peer *p);
void fwd_peer_enqueue(struct fwd_peer *p, const struct pb_record *rec, uint64_t token,
    uint64_t replay_row, int replay_job);
void fwd_peer_attach(struct fwd_peer *p, struct fwd_conn *c);
void fwd_peer_detach(struct fwd_peer *p, const char *reason);
void fwd_peer_on_welcome(struct fwd_peer *p, const struct pb_wire_welcome *w);
/* An ACK from the wire: one above what was sent is refused (link dropped). */
void fwd_peer_on_ack(struct fwd_peer *p, uint64_t seq);
/* Undeclared consumers down for longer than resend.timeout: their records
 * go to the DLQ as peer_removed and the entry is freed once committed. */
void fwd_peers_sweep(struct pb_tunnel *t);
/* A consumer created again continues the numbering it had when removed. */
void fwd_peer_resume_numbering(struct fwd_peer *p);
void fwd_peer_on_up(struct fwd_peer *p);
int fwd_peer_fill_iov(struct fwd_peer *p, struct iovec *iov, int max);
void fwd_peer_sent(struct fwd_peer *p, size_t bytes);
uint64_t fwd_peer_custody(const struct fwd_peer *p);
void fwd_peer_announce(struct fwd_peer *p);
int fwd_send_node(struct pb_link *link, const struct pb_node_info *n);
void fwd_peer_spill_all(struct fwd_peer *p, int reason);
void fwd_peer_dlq_committed(struct fwd_peer *p, uint64_t token, int status);
/* Unacknowledged bytes a peer may hold before file captures, upstreams and
 * replays pause: resend.window_mb, at most 3/4 of resend.buffer_mb. */
uint64_t fwd_peer_window(const struct pb_tunnel *t);
bool fwd_peer_room(const struct fwd_peer *p);
const char *fwd_peer_state(const struct fwd_peer *p);
struct fwd_peer *fwd_peer_find(struct pb_tunnel *t, const char *name);
/* Hysteresis on what the connected peers hold: tells env.peers_full. */
void fwd_peers_check_window(struct pb_tunnel *t);

#endif
