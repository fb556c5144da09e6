/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_SEND_H
#define PB_TUNNEL_SEND_H

#include "tunnel_int.h"

/*
 * The sender side of a link (a downstream peer): resend buffer, ACK
 * release, expiry, DLQ spill and DLQ_NOTICE, announcing names.
 */

struct tunnel_sender *sender_new(struct pb_tunnel *t, const char *name, const char *address,
    bool configured);
void sender_free(struct tunnel_sender *p);
void sender_enqueue(struct tunnel_sender *p, const struct pb_record *rec, uint64_t token,
    uint64_t replay_row, int replay_job);
void sender_attach(struct tunnel_sender *p, struct tunnel_conn *c);
void sender_detach(struct tunnel_sender *p, const char *reason);
void sender_on_welcome(struct tunnel_sender *p, const struct pb_wire_welcome *w);
/* An ACK from the wire: one above what was sent is refused (link dropped). */
void sender_on_ack(struct tunnel_sender *p, uint64_t seq);
/* Undeclared consumers down for longer than resend.timeout: their records
 * go to the DLQ as peer_removed and the entry is freed once committed. */
void senders_sweep(struct pb_tunnel *t);
/* A consumer created again continues the numbering it had when removed. */
void sender_resume_numbering(struct tunnel_sender *p);
void sender_on_up(struct tunnel_sender *p);
int sender_fill_iov(struct tunnel_sender *p, struct iovec *iov, int max);
/* bytes written: messages completed added to *msgs; returns the bytes of
 * the message now being written that are still unwritten (0: none). */
size_t sender_sent(struct tunnel_sender *p, size_t bytes, uint64_t *msgs);
uint64_t sender_custody(const struct tunnel_sender *p);
void sender_announce(struct tunnel_sender *p);
int sender_send_node(struct pb_link *link, const struct pb_node_info *n);
void sender_spill_all(struct tunnel_sender *p, int reason);
void sender_dlq_committed(struct tunnel_sender *p, uint64_t token, int status);
/* Unacknowledged bytes a peer may hold before file captures, upstreams and
 * replays pause: resend.window_mb, at most 3/4 of resend.buffer_mb. */
uint64_t sender_window(const struct pb_tunnel *t);
bool sender_room(const struct tunnel_sender *p);
const char *sender_state(const struct tunnel_sender *p);
struct tunnel_sender *sender_find(struct pb_tunnel *t, const char *name);
/* Hysteresis on what the connected peers hold: tells env.peers_full. */
void senders_check_window(struct pb_tunnel *t);

#endif
