/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_ENGINE_INT_H
#define PB_ENGINE_INT_H

/*
 * Engine internals: sources, sinks, the view and the published state, and
 * the tunnel behind its face (tunnel.h). Runs on the engine thread; tests
 * that step engines in one process read it too.
 */

#include <stdbool.h>
#include <stdint.h>

#include "pubstate.h"
#include "capture.h"
#include "clock.h"
#include "log.h"
#include "cmdq.h"
#include "config.h"
#include "engine.h"
#include "loop.h"
#include "record.h"
#include "sink.h"
#include "srcdir.h"
#include "tunnel.h"
#include "view.h"

struct engine_source {
	struct pb_engine *engine;
	const struct pb_capture_cfg *cfg;
	struct pb_capture *cap;
	struct pb_source_stats stats;
	uint16_t id;
	bool paused;
};

struct engine_sink {
	struct pb_sink *sink;
	struct pb_sink_stats stats;
	struct pb_js_stats js;   /* jetstream sinks */
};

struct pb_engine {
	const struct pb_config *cfg;
	const struct pb_tunnel_cfg *tc;
	struct pb_loop *loop;
	struct pb_srcdir *dir;
	struct pb_cmdq *cmdq;
	size_t nsources;
	struct engine_source *sources;
	/* Last origin_seq per local source id: the captures' own ids, then
	 * those given to the further interfaces of pcapng files. */
	uint64_t *src_seq;
	uint32_t nsrc_ids;
	size_t nsinks;
	struct engine_sink *sinks;
	struct pb_view view;
	struct pb_pubstate pubstate;
	uint64_t epoch;
	bool paused;             /* sink back-pressure: every source and upstream */
	bool peer_paused;        /* peer back-pressure: file sources and upstreams */
	bool exit_on_finish;
	uint32_t failed_sources; /* captures that failed while running */
	bool stopping;
	bool built;              /* pb_engine_new succeeded */
	bool shut_down;          /* engine_shutdown() ran */
	void (*stop_hook)(void *arg);
	void *stop_hook_arg;
	uint64_t shutdown_deadline;
	uint64_t real_offset, real_offset_at; /* realtime - monotonic, refreshed each second */
	uint64_t pauses;
	uint64_t token;          /* last custody token assigned */
	struct pb_tunnel *tunnel;
};

#endif
