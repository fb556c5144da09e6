/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_INT_H
#define PB_TUNNEL_INT_H

/*
 * The tunnel's state, shared by its files (tunnel.h lists them). Types
 * only: each file's functions are declared in its own header. Everything
 * here runs on the engine thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dlq_store.h"
#include "gaps.h"
#include "loop.h"
#include "state_writer.h"
#include "peer_link.h"
#include "pubstate.h"
#include "record.h"
#include "resend.h"
#include "srcdir.h"
#include "tunnel_env.h"
#include "tunnel_fifo.h"

struct tunnel_sender;
struct tunnel_receiver;

/* One link and what it is attached to once its role is known. */
struct tunnel_conn {
	struct pb_tunnel *t;
	struct pb_link *link;
	struct tunnel_sender *peer;   /* we are SENDER */
	struct tunnel_receiver *up;   /* we are RECEIVER */
	bool accepted;
	bool preauth;                 /* accepted, handshake not done: counts in the limits */
	uint32_t expect_node;         /* dialed: node id configured for it, 0 = any */
	char ip[64];                  /* accepted: the peer's address without the port */
	struct tunnel_conn *next;     /* t->accepted list */
};

struct tunnel_sender {
	struct pb_tunnel *t;
	char name[64];
	char address[160];
	bool configured;         /* from `peers` (dialed) vs a consumer that dialed us */
	bool declared;           /* from `peers` or `consumers`: never removed */
	uint32_t node_id;
	uint64_t down_since_ns;  /* undeclared consumer: when it went down, 0 = up */
	bool removing;           /* spilled as peer_removed, freed once committed */
	uint64_t noticed_seq;    /* highest link seq announced by DLQ_NOTICE */
	struct tunnel_conn *conn;   /* NULL while no connection is attached */
	bool up;
	bool kick;               /* data queued since the last kick */
	bool resumed;            /* WELCOME seen on the current connection */
	struct pb_resend *rs;
	uint64_t next_seq;       /* link seq of the next record */
	uint64_t acked_seq;
	uint64_t acked_change_ns;
	uint64_t sent_seq;       /* highest link seq fully written so far */
	struct fifo2 toks;       /* (link seq, custody token) per buffered record */
	struct fifo2 spills;     /* (dlq put token, custody token) not yet committed */
	struct fifo2 replays;    /* (link seq, DLQ row id) of replayed records */
	struct fifo2 replay_job; /* (link seq, job index) parallel to replays */
	size_t announced_nodes, announced_sources;
	pb_timer_id expiry_timer;
	/* counters (engine thread; published in the pubstate snapshot) */
	uint64_t records_sent, bytes_sent, records_acked, bytes_acked;
	uint64_t resent, to_dlq, dlq_refused, replayed, notices;
	uint64_t replay_kept;     /* replayed records expired: back to their DLQ rows, not copied */
	uint64_t auto_replay_job;
	uint64_t bytes_enqueued, bytes_spilled, loops_avoided;
	uint64_t notice_first, notice_last; /* DLQ_NOTICE due once UP */
};

struct tunnel_receiver {
	struct pb_tunnel *t;
	uint32_t nodes_named, sources_named; /* directory entries this link created */
	char name[64];
	char address[160];
	bool configured;         /* from `upstreams` (dialed) vs a sender that dialed us */
	uint32_t node_id;
	struct tunnel_conn *conn;
	bool up;
	uint64_t epoch;          /* sender's link epoch the seqs below refer to */
	uint64_t expected;       /* next link seq expected */
	uint64_t custody_seq;    /* all records up to it are in our custody */
	uint64_t acked_sent;     /* last ACK sent */
	uint64_t last_ack_ns;
	struct fifo2 pending;    /* (link seq, custody token) not yet in custody */
	uint64_t records_received, bytes_received, link_duplicates, link_lost;
	uint64_t origin_duplicates, loops, hop_limit, dlq_announced;
	uint64_t acked_elsewhere;      /* DLQ_NOTICE reason 4: another receiver's custody */
};

struct tunnel_job {
	bool active;
	uint64_t id;
	struct pb_dlq_filter filter;
	char target[64];
	double rate;
	uint64_t after_id;
	bool fetching, exhausted, is_auto;
	uint64_t pending;        /* replayed, not yet acked or requeued */
	uint64_t last_fetch_ns;  /* last token refill (monotonic) */
	double tokens;           /* token bucket: rows we may fetch now */
	uint32_t asked;          /* rows of the fetch in flight */
	uint32_t wait_s;         /* fail once the peer was down this long */
	uint64_t down_since_ns;  /* monotonic, 0 = peer up (or not yet looked) */
	int slot;                /* pubstate->jobs index */
	/* progress, copied into the pubstate's job table */
	int state;
	uint64_t fetched, sent, acked, deleted, skipped, errors;
	uint64_t finished_ns;
	char error[256];
};

#define TUNNEL_MAX_PURGES 16

/* No legitimate link or origin numbering gets near 2^63 (29 000 years at
 * 10 Mpps): anything at or above it is refused, so nothing can wrap. */
#define TUNNEL_SEQ_LIMIT (1ull << 63)
/* Longest DLQ_NOTICE range accepted; senders split longer ones. */
#define TUNNEL_NOTICE_MAX (1ull << 32)

#define TUNNEL_MAX_JOBS PB_REPLAY_JOBS

/* Custody recovered at start (state file, pcapng) for senders that have not
 * reconnected yet: upstream node → link epoch, last seq in custody. */
struct tunnel_seed {
	uint32_t node;
	uint64_t epoch, seq;
};
#define TUNNEL_DLQ_QUEUE_BYTES (64u << 20)

struct pb_tunnel;

/* Upward notices of the sender, set by tunnel.c to the replay's handlers
 * (the replay sits above the sender). */
struct tunnel_hooks {
	/* A replayed row was acknowledged: delete it from the DLQ. */
	void (*replay_acked)(struct pb_tunnel *t, int job, uint64_t row_id);
	/* A replayed record went back to the DLQ: its row stays. */
	void (*replay_requeued)(struct pb_tunnel *t, int job);
	/* Send the deletes gathered by replay_acked. */
	void (*replay_flush)(struct pb_tunnel *t);
};

struct pb_tunnel {
	struct pb_tunnel_env env;
	struct tunnel_hooks hooks;
	const struct pb_config *cfg;
	const struct pb_tunnel_cfg *tc;
	struct pb_loop *loop;
	struct pb_srcdir *dir;
	struct pb_pubstate *pubstate;
	uint64_t epoch;
	uint64_t hop_seq;            /* this node's sequence number in hop records */
	bool peers_full;             /* last verdict given to env.peers_full */
	struct pb_link_cfg linkcfg;
	struct pb_listener *listener;
	size_t npeers, cpeers;
	struct tunnel_sender **peers;
	size_t nups, cups;
	struct tunnel_receiver **ups;
	struct tunnel_conn *dialed;     /* array, one per configured peer/upstream */
	size_t ndialed;
	struct tunnel_conn *accepted;   /* list */
	struct pb_gaps *gaps;
	struct pb_dlq *dlq;
	struct tunnel_job replays[TUNNEL_MAX_JOBS];
	struct {
		uint64_t request_id;
		struct pb_purge_request *req;
	} purges[TUNNEL_MAX_PURGES];    /* DELETE /dlq waiting for the writer */
	/* names announced downstream, in the order learned */
	size_t nknown_nodes, cknown_nodes;
	uintptr_t *known_nodes;      /* node ids */
	size_t nknown_sources, cknown_sources;
	uintptr_t *known_sources;    /* node << 16 | source */
	pb_timer_id ack_timer, publish_timer, replay_timer;
	uint64_t loops_dropped, hop_limit_dropped, origin_duplicates;
	uint64_t refused_auth, refused_protocol; /* accepted connections */
	uint32_t npreauth;           /* accepted connections still in the handshake */
	/* Removed consumers' link numbering: our link epoch stays the same,
	 * so a consumer that comes back must continue where it stopped. */
	struct { uint32_t node; uint64_t next_seq; char name[64]; } removed[64];
	size_t nremoved;
	struct pb_refusals refused;
	uint64_t gaps_saved_sig;
	char *gaps_snap;             /* gap state captured, waiting for custody */
	size_t gaps_snap_len;
	uint64_t gaps_snap_token;    /* custody must reach it before the write */
	struct tunnel_seed *seeds;
	size_t nseeds;
	uint64_t dlq_del_out;        /* pb_dlq_delete requests not yet committed */
	size_t ndel;
	uint64_t del_ids[1024];      /* acked replay rows, deleted in one request */
	bool state_dirty;
	struct pb_state_writer *statew; /* custody and gap files, off the engine thread */
	uint64_t state_written_ns;
	bool loop_logged;
};

#endif
