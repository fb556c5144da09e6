/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PUBSTATE_H
#define PB_PUBSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlq_store.h"

/*
 * What the engine shares with management threads for the tunnel: a peer
 * table snapshot the engine republishes (every 250 ms and on state
 * changes), the replay job table, and the command queue for requests.
 * Management never calls into the engine: it reads these under the lock
 * and pushes commands.
 */

struct pb_gaps;
struct pb_cmdq;

struct pb_peer_snap {
	char name[64];
	char direction[12];     /* "downstream" (we send) or "upstream" (we receive) */
	char origin[8];         /* "dial" (configured) or "accept" */
	char state[16];         /* connecting, up, slow, down */
	char address[192];      /* configured host:port or the accepted peer's address */
	uint32_t node_id;       /* 0 until known */
	char node_name[64];
	uint64_t connected_since_ns; /* realtime, 0 when not up */
	int tls;                /* 1 TLS, 0 plain TCP, -1 no link to ask */
	char last_error[256];
	uint64_t rtt_ns;
	uint64_t reconnects, failovers, auth_failures, protocol_errors;
	/* downstream */
	uint64_t records_sent, bytes_sent, records_acked, bytes_acked;
	uint64_t in_flight, in_flight_bytes, resent, to_dlq, dlq_refused, replayed;
	uint64_t buffer_used, buffer_capacity, oldest_unacked_age_ms;
	uint64_t next_seq, acked_seq;
	/* upstream */
	uint64_t records_received, bytes_received, link_duplicates, link_lost;
	uint64_t origin_duplicates, loops, hop_limit, dlq_announced, acked_elsewhere;
	uint64_t custody_seq, epoch;
};

/* Protocol invariants and bounds a peer broke: each one refused (ERROR and
 * close, or the record dropped unacknowledged) and counted here. */
struct pb_refusals {
	uint64_t ack_ahead;           /* ACK above the highest link seq sent */
	uint64_t resume_ahead;        /* WELCOME resume_seq above our next link seq */
	uint64_t notice_invalid;      /* DLQ_NOTICE not at the expected seq, or longer than possible */
	uint64_t seq_wrap;            /* link_seq or origin_seq out of range (>= 2^63, or 0) */
	uint64_t seq_jump;            /* RECORD ahead of the expected link seq, no DLQ_NOTICE */
	uint64_t origin_unbound;      /* origin is not the link's node, nor is the last hop */
	uint64_t stream_owned;        /* origin stream owned by another link */
	uint64_t unknown_node;        /* HELLO from a node id we hold no key for */
	uint64_t undeclared_consumer; /* consumer not in `consumers` */
	uint64_t preauth_limit;       /* connection over the pre-auth limits */
	uint64_t node_cap, source_cap;/* node/source directory full */
	uint64_t rename;              /* NODE/SOURCE the link may not (re)name */
	uint64_t unexpected;          /* message not allowed in the link's state */
};

enum pb_replay_state { PB_REPLAY_QUEUED, PB_REPLAY_RUNNING, PB_REPLAY_DONE, PB_REPLAY_FAILED };
const char *pb_replay_state_name(int state);

#define PB_REPLAY_JOBS 64
/* A job whose peer stays down longer than its wait_s fails (request field). */
#define PB_REPLAY_WAIT_DEFAULT_S 60u
#define PB_REPLAY_WAIT_MAX_S 86400u

struct pb_replay_job {
	uint64_t id;              /* 0 = free slot */
	int state;                /* enum pb_replay_state */
	struct pb_dlq_filter filter;
	char target[64];          /* "" = each row's own peer */
	double rate;              /* records/s */
	uint32_t wait_s;          /* longest wait for a down peer */
	uint64_t created_ns, finished_ns; /* realtime */
	uint64_t fetched, sent, acked, deleted, skipped, errors;
	char error[256];
};

struct pb_pubstate {
	pthread_mutex_t lock;
	/* peers snapshot (replaced wholesale) */
	struct pb_peer_snap *peers;
	size_t npeers;
	uint64_t peers_generated_ns;
	/* tunnel-wide counters */
	uint64_t loops_dropped, hop_limit_dropped, origin_duplicates, link_records;
	uint64_t auth_failures, protocol_errors; /* on accepted connections */
	struct pb_refusals refused;
	/* replay jobs: written by the engine, read by management */
	struct pb_replay_job jobs[PB_REPLAY_JOBS];
	/* DLQ statistics (pb_pubstate_publish_dlq) */
	bool dlq_published;
	struct pb_dlq_stats_snapshot dlq_stats;
	/* set once at start, then read-only */
	struct pb_gaps_snapshot *gaps; /* latest gaps snapshot (pb_pubstate_publish_gaps) */
	char dlq_path[4096];        /* for pb_dlq_list() on the management thread */
	struct pb_cmdq *cmdq;
	_Atomic uint64_t next_request;
};

/* Commands from management to the engine (struct pb_cmd.type). */
enum {
	PB_CMD_REPLAY = 1, /* ptr: struct pb_replay_request * (shared, see below) */
	PB_CMD_PURGE = 2,  /* ptr: struct pb_purge_request * (shared, see below) */
};

/* The engine's answer to a replay request. */
enum pb_replay_verdict {
	PB_REPLAY_ACCEPTED = 0,  /* job `id` tabled */
	PB_REPLAY_DUPLICATE = 1, /* an active job has the same target and filter: `existing` */
	PB_REPLAY_TABLE_FULL = 2,/* PB_REPLAY_JOBS jobs active */
	PB_REPLAY_REFUSED = 3,   /* no DLQ, or the engine is stopping */
};

/*
 * A synchronous request to the engine (replay, purge): the management
 * thread waits on cond (bounded) for the engine's answer. Requester and
 * engine each hold a reference (refs 2): whichever lets go last frees, so
 * a requester that timed out never races with a late engine answer. The
 * engine writes the answer, then done, under lock; once a waiter saw done
 * the answer no longer changes.
 */
struct pb_request_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool done;
};
/* refs 2, a CLOCK_MONOTONIC cond. 0, or -1. */
int pb_request_sync_init(struct pb_request_sync *s);
/* Drops a reference: true when it was the last (lock and cond destroyed,
 * the caller frees the request). */
bool pb_request_sync_put(struct pb_request_sync *s);
/* Engine side, under s->lock after writing the answer: done, wake the requester. */
void pb_request_sync_done(struct pb_request_sync *s);
/* Requester side: waits up to ms for done; returns done. */
bool pb_request_sync_wait(struct pb_request_sync *s, uint32_t ms);

struct pb_replay_request {
	struct pb_request_sync sync;
	int verdict;              /* enum pb_replay_verdict, once done */
	uint64_t existing;        /* PB_REPLAY_DUPLICATE: the active job's id */
	/* set by the requester */
	uint64_t id;
	struct pb_dlq_filter filter;
	char target[64];
	double rate;              /* 0 = dlq.replay_rate */
	uint32_t wait_s;          /* 0 = PB_REPLAY_WAIT_DEFAULT_S */
};
/* Refcount 2; NULL on allocation failure. */
struct pb_replay_request *pb_replay_request_new(void);
void pb_replay_request_put(struct pb_replay_request *r);
/* Engine side: publish the verdict, wake the requester, drop the engine's ref. */
void pb_replay_request_answer(struct pb_replay_request *r, int verdict, uint64_t existing);

/* A synchronous purge: the engine answers once the DLQ writer deleted the rows. */
struct pb_purge_request {
	struct pb_request_sync sync;
	int status;               /* 0, or -1 (failed, refused or stopping) */
	uint64_t deleted;
	struct pb_dlq_filter filter;
};
/* Refcount 2, filter copied; NULL on allocation failure. */
struct pb_purge_request *pb_purge_request_new(const struct pb_dlq_filter *f);
void pb_purge_request_put(struct pb_purge_request *r);
/* Engine side: publish the result, wake the requester, drop the engine's ref. */
void pb_purge_request_answer(struct pb_purge_request *r, int status, uint64_t deleted);

/*
 * Engine thread: publishes the DLQ's statistics (d NULL: no DLQ open, the
 * last figures stay). Management reads them with pb_pubstate_dlq_stats and
 * never touches the DLQ handle itself, which the engine closes at shutdown.
 */
void pb_pubstate_publish_dlq(struct pb_pubstate *b, struct pb_dlq *d);
/* Any thread: the last published statistics; false when none were. */
bool pb_pubstate_dlq_stats(struct pb_pubstate *b, struct pb_dlq_stats_snapshot *out);

/*
 * Engine thread: makes snap (a reference the caller gives away; NULL
 * keeps the current one) the gaps snapshot management reads, releasing
 * the previous one. pb_pubstate_gaps: a reference on the current one (NULL
 * before the first), to release with pb_gaps_snapshot_put(). At teardown
 * pb_pubstate_release drops the pubstate's own references.
 */
void pb_pubstate_publish_gaps(struct pb_pubstate *b, struct pb_gaps_snapshot *snap);
struct pb_gaps_snapshot *pb_pubstate_gaps(struct pb_pubstate *b);
void pb_pubstate_release(struct pb_pubstate *b);

#endif
