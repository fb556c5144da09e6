/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_GAPS_INT_H
#define PB_GAPS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gaps.h"

/*
 * Shared between gaps.c (stream table, missing ranges, observe,
 * persistence) and gaps_snap.c (introspection, snapshots, paths). Not for
 * other modules.
 */

static inline uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

struct gap_stream {
	uint64_t epoch;
	uint32_t node;
	uint16_t source;
	uint64_t expected_next;
	uint64_t received;
	uint64_t duplicates;
	uint64_t filled;
	uint64_t missing_total;
	uint64_t gap_events;
	uint64_t gap_seqs;
	uint64_t ranges_coalesced;
	uint64_t first_seen_ns;
	uint64_t last_seen_ns;
	uint32_t owner;            /* link node it arrives through; 0 = not yet */
	/* Path of the latest accepted record: the origin, each relay, then this
	 * node (pb_gaps_note_path). npath 0: none since this run started. */
	uint32_t *path;
	uint8_t npath, path_cap;
	struct pb_gap_range *r;
	uint32_t off, n, cap;
};

/* The published object: refs counts the engine's reference and readers'. */
struct gaps_snap {
	struct pb_gaps_snapshot pub; /* first: pb_gaps_snapshot_put casts back */
	atomic_uint refs;
};

struct pb_gaps {
	uint32_t max_streams;
	pb_gaps_namer node_name;
	void *node_name_arg;
	uint32_t max_ranges;
	uint64_t now_ns;
	struct gap_stream *last; /* one-entry lookup cache */
	struct gap_stream **table;
	size_t tmask;
	struct gap_stream **streams;
	uint32_t nstreams, streams_cap;
	uint64_t invalid;
	uint64_t rejected;
	pthread_mutex_t snap_lock; /* guards snap and taking a reference on it */
	struct gaps_snap *snap;
};

static inline struct pb_gap_range *
rg(const struct gap_stream *s, uint32_t i)
{
	return &s->r[s->off + i];
}

/* The stream, or NULL (no creation). */
struct gap_stream *pb_gaps_find(const struct pb_gaps *g, uint32_t node, uint16_t source,
    uint64_t epoch);

#endif
