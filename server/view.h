/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_VIEW_H
#define PB_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct pb_pubstate;
struct pb_config;

/*
 * What management threads may read. Built once at start by the engine and
 * immutable afterwards except for the atomic counters it points to, so the
 * HTTP/SNMP threads read it without locks and never call into the engine.
 */

struct pb_view_source {
	char name[64];
	char kind[16];       /* "live", "file" or "jetstream" */
	char target[4096];   /* interface name or file path */
	char filter[1024];
	const struct pb_source_stats *stats;
};

struct pb_view_sink {
	char name[64];
	char kind[16];       /* "file", "iface" or "jetstream" */
	char target[4096];   /* file pattern, interface or stream name */
	char format[16];     /* "pcapng", "pcap", "pb-wire-1" or "" */
	const struct pb_sink_stats *stats;
	const struct pb_js_stats *js; /* jetstream sinks, else NULL */
};

struct pb_view {
	uint32_t node_id;
	char node_name[64];
	char node_description[256];
	const char *version;
	uint64_t epoch;          /* origin epoch of this run */
	uint64_t started_real_ns;
	uint64_t started_mono_ns;
	size_t nsources;
	struct pb_view_source *sources;
	size_t nsinks;
	struct pb_view_sink *sinks;
	struct pb_pubstate *pubstate; /* tunnel state (server/pubstate.h) */
	/* The configuration the node runs with (immutable; may be NULL in tests):
	 * read once when management starts, never afterwards. */
	const struct pb_config *config;
};

#endif
