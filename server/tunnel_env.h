/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_ENV_H
#define PB_TUNNEL_ENV_H

#include <stdbool.h>
#include <stdint.h>

/*
 * What the tunnel needs from the engine that runs it, given once at
 * pb_tunnel_new(): the loop, configuration, directory and published state
 * it shares, and callbacks for the rest. The tunnel never sees struct
 * pb_engine; every callback gets ctx and runs on the engine thread.
 */

struct pb_config;
struct pb_loop;
struct pb_pubstate;
struct pb_record;
struct pb_srcdir;

struct pb_tunnel_env {
	struct pb_loop *loop;
	const struct pb_config *cfg;
	struct pb_srcdir *dir;         /* node and source names, shared */
	struct pb_pubstate *pubstate;  /* what management reads */
	uint64_t epoch;                /* this run's link epoch */
	void *ctx;
	/* A received record, to every sink and (pb_tunnel_route) peer. */
	void (*route)(void *ctx, struct pb_record *rec, bool remote);
	/* Custody tokens: the last one assigned, and a new one (replays). */
	uint64_t (*last_token)(void *ctx);
	uint64_t (*next_token)(void *ctx);
	/* Every token up to it is in every sink's custody. */
	uint64_t (*local_custody)(void *ctx);
	/* Receiving links wait while this is true (back-pressure). */
	bool (*rx_paused)(void *ctx);
	/* Shutting down: no new replay jobs or purges. */
	bool (*stopping)(void *ctx);
	/* The connected peers hold more than the window, or the DLQ's write
	 * queue is half full (or, once paused, not yet back below 2/3 of the
	 * window and a quarter of the queue): file sources and receivers wait. */
	void (*peers_full)(void *ctx, bool full);
	/* Wall clock of the current loop iteration. */
	uint64_t (*now_real)(void *ctx);
};

#endif
