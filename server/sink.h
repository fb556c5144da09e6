/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_H
#define PB_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "loop.h"
#include "record.h"
#include "srcdir.h"
#include "stats.h"

/*
 * A sink takes records from the engine thread and never blocks it: file
 * sinks format into memory buffers that a writer thread writes; the
 * interface sink injects on a non-blocking socket and queues on EAGAIN.
 * When a sink cannot take one more maximum-size record, writable() is
 * false, the engine pauses its sources, and the sink calls its
 * on_writable callback (on the engine thread) once room is back.
 */

struct pb_sink;

typedef void pb_sink_writable_cb(struct pb_sink *sink, void *arg);

struct pb_sink_ops {
	/* 0 = accepted; -1 = rejected (counted). Only called when writable(). */
	int (*write)(struct pb_sink *sink, const struct pb_record *rec);
	bool (*writable)(struct pb_sink *sink);
	/* Hand partially filled buffers to the writer (end of a loop iteration). */
	void (*flush)(struct pb_sink *sink);
	/* SIGHUP: start a new output file / reopen the device. */
	void (*reopen)(struct pb_sink *sink);
	/* Shutdown: write everything accepted, fsync, close, free. May block. */
	void (*close)(struct pb_sink *sink);
	/* Custody: the highest rec->token whose bytes (and those of every
	 * earlier record) were handed to the kernel (write() returned, frame
	 * injected). Engine thread. */
	uint64_t (*custody)(struct pb_sink *sink);
};

struct pb_sink {
	const struct pb_sink_ops *ops;
	char name[PB_NAME_MAX];
	struct pb_sink_stats *stats;
	pb_sink_writable_cb *on_writable;
	void *on_writable_arg;
	pb_sink_writable_cb *on_progress;
	void *on_progress_arg;
};

struct pb_sink_env {
	struct pb_loop *loop;
	const struct pb_srcdir *srcdir; /* names for pcapng IDBs and comments */
	struct pb_sink_stats *stats;    /* owned by the caller, outlives the sink */
	pb_sink_writable_cb *on_writable;
	void *on_writable_arg;
	/* Called on the engine thread when custody() advanced (may be NULL). */
	pb_sink_writable_cb *on_progress;
	void *on_progress_arg;
	struct pb_js_stats *js_stats;   /* jetstream sinks: connection state for the API */
};

/* File sink (pcap or pcapng, rotation, retention, writer thread). */
struct pb_sink *pb_sink_file_open(const struct pb_dump_cfg *cfg, const struct pb_sink_env *env,
    char *err, size_t errlen);
/* Interface sink (pcap_inject, byte exact). */
struct pb_sink *pb_sink_iface_open(const struct pb_dump_cfg *cfg, const struct pb_sink_env *env,
    char *err, size_t errlen);

#endif
