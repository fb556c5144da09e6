/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_H
#define PB_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunnel_env.h"

/*
 * The tunnel: links to downstream peers (we send, resend buffer, DLQ) and
 * from upstreams (we receive, custody, ACKs), DLQ replay, and the /peers
 * snapshot. The engine reaches it only through this header; the tunnel
 * reaches the engine only through struct pb_tunnel_env.
 *
 * Files, in data-path order: tunnel_listen.c (accept), tunnel_link.c
 * (link events → sender or receiver), tunnel_send.c (resend buffer, DLQ
 * spill), tunnel_recv.c (records in, origin checks), tunnel_custody.c
 * (custody token, ACK point, state files), tunnel_dir.c (node and source
 * names), tunnel_replay.c (DLQ replay, commands), tunnel_status.c
 * (snapshot), tunnel.c (this face); peer_link*.c is the link itself.
 *
 * Shutdown order (engine_shutdown, then pb_engine_free): management stops
 * first (the engine's stop hook), so nothing reads the published state
 * while it changes hands; then the sources and sinks close; then
 * pb_tunnel_stop() acknowledges what the sinks hold, spills the rest to
 * the DLQ and closes the links; the published state drops its references
 * (pb_pubstate_release) before pb_tunnel_free() frees the gap table and
 * the DLQ they point into.
 */

struct pb_cmd;
struct pb_node_info;
struct pb_record;
struct pb_source_info;
struct pb_tunnel;

/* Allocates; no socket or file is opened yet. */
struct pb_tunnel *pb_tunnel_new(const struct pb_tunnel_env *env, char *err, size_t errlen);
/* Opens the DLQ, state files, listener and links. */
int pb_tunnel_start(struct pb_tunnel *t, char *err, size_t errlen);
/* After the sinks closed: ACKs what they hold, spills the rest, closes. */
void pb_tunnel_stop(struct pb_tunnel *t);
void pb_tunnel_free(struct pb_tunnel *t);

/* A routed record (token assigned) to every peer it may go to. */
void pb_tunnel_route(struct pb_tunnel *t, const struct pb_record *rec, bool remote);
/* Every token up to it is in every sink's and peer's custody (or DLQ). */
uint64_t pb_tunnel_custody(struct pb_tunnel *t);
/* A sink made progress: ACK upstream what is now in custody. */
void pb_tunnel_progress(struct pb_tunnel *t);
/* Once per loop iteration: kick the links, re-check the window, ACK. */
void pb_tunnel_before_sleep(struct pb_tunnel *t);
/* Receiving links stop reading (back-pressure) or resume. */
void pb_tunnel_pause_rx(struct pb_tunnel *t, bool paused);
/* Records waiting for a peer's ACK (only_up: on connected peers). */
bool pb_tunnel_unacked(const struct pb_tunnel *t, bool only_up);
/* Any peer configured or connected. */
bool pb_tunnel_has_peers(const struct pb_tunnel *t);
uint64_t pb_tunnel_records_received(const struct pb_tunnel *t);
/* Names a node or source and announces it downstream; -1 when the
 * directory is full. */
int pb_tunnel_learn_node(struct pb_tunnel *t, const struct pb_node_info *n);
int pb_tunnel_learn_source(struct pb_tunnel *t, const struct pb_source_info *s);
/* A management command from the engine's command queue. */
void pb_tunnel_on_cmd(struct pb_tunnel *t, struct pb_cmd *cmd);
/* A connected socket as if accepted by the listener (-1 without listen). */
int pb_tunnel_adopt(struct pb_tunnel *t, int fd, const char *addr);
uint16_t pb_tunnel_listen_port(const struct pb_tunnel *t);

#endif
