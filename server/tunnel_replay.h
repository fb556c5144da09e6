/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_REPLAY_H
#define PB_TUNNEL_REPLAY_H

#include "tunnel_int.h"

/*
 * DLQ replay jobs, DLQ results and purges, and the management commands
 * that start them.
 */

struct pb_cmd;

void replay_on_dlq(void *arg, const struct pb_dlq_result *res);
void replay_on_cmd(struct pb_tunnel *t, struct pb_cmd *cmd);
void replay_row_acked(struct pb_tunnel *t, int job, uint64_t row_id);
void replay_flush_deletes(struct pb_tunnel *t);
void replay_row_requeued(struct pb_tunnel *t, int job);
void replay_auto(struct pb_tunnel *t, struct tunnel_sender *p);
int64_t replay_tick(struct pb_loop *loop, void *arg);
/* Copies the running jobs' progress into the published job table. */
void replay_sync(struct pb_tunnel *t);

#endif
