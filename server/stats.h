/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_STATS_H
#define PB_STATS_H

#include <pthread.h>
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
	pb_counter_t foreign;        /* jetstream: messages skipped, not ours or malformed */
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

/* A jetstream sink's connection, shown by /api/v1/sinks. */
enum pb_js_state {
	PB_JS_CONNECTING = 0, /* no server reached yet */
	PB_JS_CONNECTED,      /* connected, stream ready */
	PB_JS_RECONNECTING,   /* lost the server, libnats retries the list */
	PB_JS_STREAM_ERROR,   /* connected, but the stream is missing or refused */
	PB_JS_CLOSED,
};
const char *pb_js_state_name(int state);

struct pb_js_stats {
	_Atomic int state;            /* enum pb_js_state */
	pb_counter_t pending_acks;    /* messages published, PubAck not yet in */
	pb_counter_t buffered;        /* batches filling or waiting to be published */
	pb_counter_t last_stream_seq; /* stream sequence of the last PubAck */
	pb_counter_t messages;        /* messages stored (PubAcks) */
	pb_counter_t records;         /* records in them */
	pb_counter_t duplicates;      /* records the stream already had: dropped */
	pb_counter_t errors;          /* failed publishes and lookups (each retried) */
	pb_counter_t lookups;         /* resume points read from the stream */
	pb_counter_t late;            /* records stored below their stream's high (holes filled) */
	pb_counter_t holes_forgotten; /* holes past the bound: fills below them count as duplicates */
	pb_counter_t streams;         /* origin streams whose state the sink keeps now */
	pb_counter_t streams_evicted; /* idle ones forgotten (max_streams, idle time): looked up again */
	pthread_mutex_t lock;         /* for the two strings */
	char server[256];             /* URL in use, "" = none */
	char last_error[256];
};

#endif
