/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_STATS_H
#define PB_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Counters written by exactly one thread (the engine, or a sink's writer
 * thread) and read by any other. Single writer, so an increment is a relaxed
 * load + relaxed store: no lock prefix on the hot path, and readers never
 * see a torn 64-bit value.
 */
typedef _Atomic uint64_t pb_counter_t;

static inline void
pb_counter_add(pb_counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline void
pb_counter_set(pb_counter_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t
pb_counter_get(const pb_counter_t *c)
{
	return atomic_load_explicit((pb_counter_t *)c, memory_order_relaxed);
}

enum pb_source_state {
	PB_SOURCE_STARTING = 0,
	PB_SOURCE_RUNNING,
	PB_SOURCE_PAUSED,   /* back-pressure from a sink */
	PB_SOURCE_FINISHED, /* file source that reached its last loop */
	PB_SOURCE_FAILED,
};
const char *pb_source_state_name(int state);

struct pb_source_stats {
	pb_counter_t packets;        /* records accepted and routed */
	pb_counter_t bytes;          /* captured bytes of those records */
	pb_counter_t pcap_received;  /* pcap_stats ps_recv (live only) */
	pb_counter_t pcap_drops;     /* pcap_stats ps_drop: kernel ring full */
	pb_counter_t pcap_ifdrops;   /* pcap_stats ps_ifdrop */
	pb_counter_t oversize;       /* frames above max_frame: rejected, never truncated */
	pb_counter_t truncated;      /* caplen < len: snaplen too small */
	pb_counter_t trailers_ok;    /* trailers that validated */
	pb_counter_t trailer_errors; /* trailers that did not validate (frame forwarded) */
	pb_counter_t loops_done;     /* file source: completed passes */
	pb_counter_t read_errors;
	_Atomic int state;           /* enum pb_source_state */
};

enum pb_sink_state {
	PB_SINK_OK = 0,
	PB_SINK_BACKLOG, /* buffers full, sources paused */
	PB_SINK_ERROR,   /* last write failed; retrying */
	PB_SINK_CLOSED,
};
const char *pb_sink_state_name(int state);

struct pb_sink_stats {
	pb_counter_t packets;       /* records accepted by the sink */
	pb_counter_t bytes;         /* frame bytes of those records */
	pb_counter_t bytes_written; /* file bytes written incl. headers (writer thread) */
	pb_counter_t write_errors;
	pb_counter_t files_opened;
	pb_counter_t files_removed; /* retention */
	pb_counter_t inject_errors;
	pb_counter_t backlog_events;/* times the sink pushed back on sources */
	_Atomic int state;          /* enum pb_sink_state */
};

#endif
