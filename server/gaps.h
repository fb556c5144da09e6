/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_GAPS_H
#define PB_GAPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Sequence gap tracker for origin streams. An origin stream is
 * (node, source, epoch); its records are numbered 1, 2, 3... The collector
 * calls pb_gaps_observe() for every record it receives and learns whether
 * the record is new (deliver it) or a duplicate (drop it), and which
 * sequence numbers are still missing.
 *
 * A restart of the origin starts a new epoch: that is a new, independent
 * stream, never a gap. The old epoch's stream is kept, since late records
 * from it may still arrive (DLQ replay).
 *
 * Threading: everything runs on the engine thread, except
 * pb_gaps_snapshot_get/put (any thread) and the snapshot objects, which
 * are immutable once published.
 */

#define PB_GAPS_DEFAULT_MAX_STREAMS 4096u
#define PB_GAPS_DEFAULT_MAX_RANGES 65536u
/* Longest path of a stream: its origin and up to PB_MAX_HOPS hops (the wire
 * format's bound, checked in gaps_snap.c). */
#define PB_GAPS_MAX_PATH 33u
#define PB_GAPS_NAME_LEN 64u

struct pb_hop;

/* A node's name for snapshots (engine thread); NULL or "" when unknown. */
typedef const char *(*pb_gaps_namer)(void *arg, uint32_t node);

struct pb_gaps_cfg {
	uint32_t max_streams;           /* 0: PB_GAPS_DEFAULT_MAX_STREAMS */
	/*
	 * Missing ranges kept per stream (0: PB_GAPS_DEFAULT_MAX_RANGES).
	 * Beyond it the two oldest ranges are merged: the sequence numbers
	 * between them (already received) then count as missing again, and a
	 * duplicate of one of them is reported FILLED instead of DUPLICATE.
	 * Each merge counts in ranges_coalesced. Memory: up to about
	 * 32 bytes * max_ranges per lossy stream.
	 */
	uint32_t max_ranges_per_stream;
	/* Names the nodes of stream paths in snapshots; NULL: all unnamed. */
	pb_gaps_namer node_name;
	void *node_name_arg;
};

enum pb_gap_result {
	PB_GAP_IN_ORDER = 0, /* seq == expected next */
	PB_GAP_AHEAD,        /* seq > expected: [expected, seq-1] now missing */
	PB_GAP_FILLED,       /* seq was missing: new, deliver it */
	PB_GAP_DUPLICATE,    /* seen before: drop it */
	PB_GAP_INVALID,      /* seq 0 or UINT64_MAX: not tracked */
	PB_GAP_NO_STREAM,    /* new stream but max_streams reached: not tracked */
};

const char *pb_gap_result_name(enum pb_gap_result r);

struct pb_gap_range {
	uint64_t lo, hi; /* inclusive */
};

struct pb_gaps_stream_info {
	uint32_t node;
	uint16_t source;
	uint64_t epoch;
	uint64_t expected_next;    /* highest seq seen + 1 (or seeded) */
	uint64_t received;         /* distinct records accepted: in order + ahead + filled */
	uint64_t duplicates;
	uint64_t filled;           /* records that filled a missing seq */
	uint64_t missing_total;    /* seqs currently missing (sum of range sizes) */
	uint64_t gap_events;       /* AHEAD results (new ranges opened) */
	uint64_t gap_seqs;         /* seqs ever declared missing: monotonic */
	uint64_t ranges_coalesced; /* merges at the range cap */
	uint64_t first_seen_ns;    /* pb_gaps_set_now() clock at creation */
	uint64_t last_seen_ns;     /* ... at the last observe */
	uint32_t nranges_total;
	uint32_t nranges_listed;
	const struct pb_gap_range *ranges; /* the nranges_listed oldest ranges */
	/*
	 * The path of the stream's latest accepted record: node ids of its
	 * origin, each relay, then this node (pb_gaps_note_path). npath 0: no
	 * record since this run started (streams restored by pb_gaps_load).
	 */
	uint32_t npath;
	const uint32_t *path;
};

struct pb_gaps_totals {
	uint64_t streams;
	uint64_t received;
	uint64_t duplicates;
	uint64_t filled;
	uint64_t missing_total;
	uint64_t gap_events;
	uint64_t gap_seqs;
	uint64_t ranges_coalesced;
	uint64_t invalid;          /* PB_GAP_INVALID results */
	uint64_t streams_rejected; /* PB_GAP_NO_STREAM results, seeds on a full table */
};

struct pb_gaps_node_name {
	uint32_t node;
	char name[PB_GAPS_NAME_LEN];
};

/* Immutable once published. Streams sorted by (node, source, epoch). */
struct pb_gaps_snapshot {
	uint64_t generated_ns; /* pb_mono_ns() at publish */
	uint32_t nstreams;
	struct pb_gaps_totals totals;
	struct pb_gaps_stream_info *streams;
	/* Names of the path nodes the namer knew at publish, sorted by node. */
	uint32_t nnames;
	const struct pb_gaps_node_name *names;
};

struct pb_gaps;

/* NULL on allocation failure. cfg may be NULL (defaults). */
struct pb_gaps *pb_gaps_new(const struct pb_gaps_cfg *cfg);
/* Snapshots still held by readers stay valid until they are put. */
void pb_gaps_free(struct pb_gaps *g);

/*
 * Timestamp copied into first_seen_ns/last_seen_ns by the following
 * observes: the engine sets it once per batch so observe stays cheap.
 */
void pb_gaps_set_now(struct pb_gaps *g, uint64_t now_ns);

/* The per-record call: O(1) for in-order records of the last stream. */
enum pb_gap_result pb_gaps_observe(struct pb_gaps *g, uint32_t node, uint16_t source,
    uint64_t epoch, uint64_t seq);

/*
 * After an accepted observe (in order, ahead or filled): the path the record
 * came by, its hop list with this node's own hop appended last (nhops <=
 * PB_MAX_HOPS; more are cut). Replaces the stream's path when it differs,
 * so a failover shows the new route. O(nhops) for the stream just observed.
 */
void pb_gaps_note_path(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    const struct pb_hop *hops, uint32_t nhops);

/*
 * Stream ownership (origin binding): the node of the link a stream first
 * arrived through. pb_gaps_claim() creates the stream if needed, makes via
 * its owner when it has none, and returns the owner (0: the stream table
 * is full, nothing tracked); it primes the cache, so the observe() that
 * follows stays O(1). pb_gaps_set_owner() hands a stream over (failover).
 */
uint32_t pb_gaps_claim(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint32_t via);
void pb_gaps_set_owner(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint32_t via);

/*
 * Recovery after a restart: the stream continues at last_seq + 1 with no
 * missing ranges (created if needed; its counters are kept if it exists).
 * Returns 0, or -1 when the stream table is full or last_seq is invalid.
 */
int pb_gaps_seed(struct pb_gaps *g, uint32_t node, uint16_t source, uint64_t epoch,
    uint64_t last_seq);

/* Engine thread. */
uint32_t pb_gaps_nstreams(const struct pb_gaps *g);
void pb_gaps_totals(const struct pb_gaps *g, struct pb_gaps_totals *t);
/*
 * Fills *info (info->ranges = NULL, nranges_listed = 0; info->path points
 * into the tracker until the stream's next pb_gaps_note_path) and copies up to
 * max_ranges oldest missing ranges into ranges. Returns the number copied,
 * or -1 if the stream does not exist.
 */
int pb_gaps_stream_get(const struct pb_gaps *g, uint32_t node, uint16_t source,
    uint64_t epoch, struct pb_gaps_stream_info *info, struct pb_gap_range *ranges,
    uint32_t max_ranges);

/*
 * Engine thread: builds a snapshot of every stream with its first
 * max_ranges_listed missing ranges and its path, names the path nodes
 * through the configured namer, and swaps it in. O(streams): callers
 * throttle it (e.g. every 500 ms). Returns 0, -1 on allocation failure
 * (the previous snapshot stays).
 */
int pb_gaps_publish(struct pb_gaps *g, uint32_t max_ranges_listed);

/*
 * Any thread: a reference on the latest snapshot (NULL before the first
 * publish). Release it with pb_gaps_snapshot_put(); it stays consistent
 * while newer ones are published.
 */
struct pb_gaps_snapshot *pb_gaps_snapshot_get(struct pb_gaps *g);
void pb_gaps_snapshot_put(struct pb_gaps_snapshot *snap);
/* Any thread: one more reference on a snapshot the caller holds one on. */
void pb_gaps_snapshot_hold(struct pb_gaps_snapshot *snap);
/* Binary search in a snapshot; NULL if absent. */
const struct pb_gaps_stream_info *pb_gaps_snapshot_find(const struct pb_gaps_snapshot *snap,
    uint32_t node, uint16_t source, uint64_t epoch);
/* A path node's name in a snapshot; NULL when the namer did not know it. */
const char *pb_gaps_snapshot_name(const struct pb_gaps_snapshot *snap, uint32_t node);

/* Persistence: every stream with its missing ranges as text (engine
 * thread). load returns the number of streams restored; it replaces the
 * state of those streams. reset_counters zeroes received/duplicates/filled
 * after a recovery replayed old records through observe(). */
int pb_gaps_save(const struct pb_gaps *g, FILE *f);
int pb_gaps_load(struct pb_gaps *g, FILE *f);
void pb_gaps_reset_counters(struct pb_gaps *g);

#endif
