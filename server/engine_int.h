/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_ENGINE_INT_H
#define PB_ENGINE_INT_H

/*
 * Engine internals shared by engine.c (sources, sinks, lifecycle) and the
 * tunnel files: fwd_peer.c (downstream: we send, resend buffer, DLQ
 * spill), fwd_upstream.c (upstream: we receive, custody, ACKs, relay),
 * fwd_replay.c (DLQ replay jobs, management commands, snapshots).
 * Everything here runs on the engine thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include "pubstate.h"
#include "capture.h"
#include "clock.h"
#include "log.h"
#include "cmdq.h"
#include "config.h"
#include "dlq_store.h"
#include "engine.h"
#include "gaps.h"
#include "loop.h"
#include "peer_link.h"
#include "record.h"
#include "resend.h"
#include "sink.h"
#include "srcdir.h"
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

/* A FIFO of pairs, used for (seq, token), (dlq token, custody token) and
 * (link seq, DLQ row id). Grows by doubling. */
struct fifo2 {
	uint64_t (*v)[2];
	size_t cap, head, n;
};
int fifo2_push(struct fifo2 *f, uint64_t a, uint64_t b);
static inline uint64_t *fifo2_front(struct fifo2 *f) { return f->n ? f->v[f->head] : NULL; }
void fifo2_pop(struct fifo2 *f);
void fifo2_clear(struct fifo2 *f);
void fifo2_free(struct fifo2 *f);

struct fwd_peer;
struct fwd_upstream;

/* One link and what it is attached to once its role is known. */
struct fwd_conn {
	struct pb_engine *e;
	struct pb_link *link;
	struct fwd_peer *peer;  /* we are SENDER */
	struct fwd_upstream *up;/* we are RECEIVER */
	bool accepted;
	bool preauth;           /* accepted, handshake not done: counts in the limits */
	uint32_t expect_node;   /* dialed: node id configured for it, 0 = any */
	char ip[64];            /* accepted: the peer's address without the port */
	struct fwd_conn *next;  /* e->accepted list */
};

struct fwd_peer {
	struct pb_engine *e;
	char name[64];
	char address[160];
	bool configured;         /* from `peers` (dialed) vs a consumer that dialed us */
	bool declared;           /* from `peers` or `consumers`: never removed */
	uint32_t node_id;
	uint64_t down_since_ns;  /* undeclared consumer: when it went down, 0 = up */
	bool removing;           /* spilled as peer_removed, freed once committed */
	uint64_t noticed_seq;    /* highest link seq announced by DLQ_NOTICE */
	struct fwd_conn *conn;   /* NULL while no connection is attached */
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
	uint64_t auto_replay_job;
	uint64_t bytes_enqueued, bytes_spilled, loops_avoided;
	uint64_t notice_first, notice_last; /* DLQ_NOTICE due once UP */
};

struct fwd_upstream {
	struct pb_engine *e;
	uint32_t nodes_named, sources_named; /* directory entries this link created */
	char name[64];
	char address[160];
	bool configured;         /* from `upstreams` (dialed) vs a sender that dialed us */
	uint32_t node_id;
	struct fwd_conn *conn;
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

struct fwd_replay {
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

#define FWD_MAX_PURGES 16

/* No legitimate link or origin numbering gets near 2^63 (29 000 years at
 * 10 Mpps): anything at or above it is refused, so nothing can wrap. */
#define FWD_SEQ_LIMIT (1ull << 63)
/* Longest DLQ_NOTICE range accepted; senders split longer ones. */
#define FWD_NOTICE_MAX (1ull << 32)

#define FWD_MAX_REPLAYS PB_REPLAY_JOBS

/* Custody recovered at start (state file, pcapng) for senders that have not
 * reconnected yet: upstream node → link epoch, last seq in custody. */
struct fwd_seed {
	uint32_t node;
	uint64_t epoch, seq;
};
#define FWD_DLQ_QUEUE_BYTES (64u << 20)

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
	uint64_t hop_seq;        /* this node's sequence number in hop records */
	/* tunnel */
	struct pb_link_cfg linkcfg;
	struct pb_listener *listener;
	size_t npeers, cpeers;
	struct fwd_peer **peers;
	size_t nups, cups;
	struct fwd_upstream **ups;
	struct fwd_conn *dialed;     /* array, one per configured peer/upstream */
	size_t ndialed;
	struct fwd_conn *accepted;   /* list */
	struct pb_gaps *gaps;
	struct pb_dlq *dlq;
	struct fwd_replay replays[FWD_MAX_REPLAYS];
	struct {
		uint64_t request_id;
		struct pb_purge_request *req;
	} purges[FWD_MAX_PURGES];    /* DELETE /dlq waiting for the writer */
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
	struct fwd_seed *seeds;
	size_t nseeds;
	uint64_t dlq_del_out;        /* pb_dlq_delete requests not yet committed */
	size_t ndel;
	uint64_t del_ids[1024];      /* acked replay rows, deleted in one request */
	bool loop_logged;
	bool state_dirty;
	uint64_t state_written_ns;
};

/* engine.c */
void engine_route(struct pb_engine *e, struct pb_record *rec, bool remote);
void engine_check_peers(struct pb_engine *e);
/* Wall clock of the current loop iteration (cached monotonic + offset). */
uint64_t engine_now_real(struct pb_engine *e);
bool engine_rx_paused(const struct pb_engine *e);

/* fwd_peer.c */
struct fwd_peer *fwd_peer_new(struct pb_engine *e, const char *name, const char *address,
    bool configured);
void fwd_peer_free(struct fwd_peer *p);
void fwd_peer_enqueue(struct fwd_peer *p, const struct pb_record *rec, uint64_t token,
    uint64_t replay_row, int replay_job);
void fwd_peer_attach(struct fwd_peer *p, struct fwd_conn *c);
void fwd_peer_detach(struct fwd_peer *p, const char *reason);
void fwd_peer_on_welcome(struct fwd_peer *p, const struct pb_wire_welcome *w);
/* An ACK from the wire: one above what was sent is refused (link dropped). */
void fwd_peer_on_ack(struct fwd_peer *p, uint64_t seq);
/* Undeclared consumers down for longer than resend.timeout: their records
 * go to the DLQ as peer_removed and the entry is freed once committed. */
void fwd_peers_sweep(struct pb_engine *e);
/* A consumer created again continues the numbering it had when removed. */
void fwd_peer_resume_numbering(struct fwd_peer *p);
void fwd_peer_on_up(struct fwd_peer *p);
int fwd_peer_fill_iov(struct fwd_peer *p, struct iovec *iov, int max);
void fwd_peer_sent(struct fwd_peer *p, size_t bytes);
uint64_t fwd_peer_custody(const struct fwd_peer *p);
void fwd_peer_announce(struct fwd_peer *p);
int fwd_send_node(struct pb_link *link, const struct pb_node_info *n);
void fwd_peer_spill_all(struct fwd_peer *p, int reason);
void fwd_peer_dlq_committed(struct fwd_peer *p, uint64_t token, int status);
/* Unacknowledged bytes a peer may hold before file captures, upstreams and
 * replays pause: resend.window_mb, at most 3/4 of resend.buffer_mb. */
uint64_t fwd_peer_window(const struct pb_engine *e);
bool fwd_peer_room(const struct fwd_peer *p);
const char *fwd_peer_state(const struct fwd_peer *p);
struct fwd_peer *fwd_peer_find(struct pb_engine *e, const char *name);

/* fwd_upstream.c */
struct fwd_upstream *fwd_upstream_new(struct pb_engine *e, const char *name,
    const char *address, bool configured);
void fwd_upstream_free(struct fwd_upstream *u);
uint64_t fwd_upstream_resume(struct fwd_upstream *u, const struct pb_wire_hello *h);
void fwd_upstream_attach(struct fwd_upstream *u, struct fwd_conn *c);
void fwd_upstream_detach(struct fwd_upstream *u, const char *reason);
void fwd_upstream_on_message(struct fwd_upstream *u, const struct pb_wire_msg *m);
void fwd_custody_update(struct pb_engine *e, bool force_ack);
/* The custody token: every record up to it is in every sink's and peer's
 * custody (or in the DLQ). */
uint64_t engine_custody(struct pb_engine *e);
int64_t fwd_ack_tick(struct pb_loop *loop, void *arg);
int fwd_start(struct pb_engine *e, char *err, size_t errlen);
/* A connected socket as if accepted by the listener (pb_engine_adopt). */
int fwd_adopt(struct pb_engine *e, int fd, const char *addr);
void fwd_stop(struct pb_engine *e);
/* Adds or updates a directory entry and announces it downstream; -1 when
 * the directory is full (limits.max_nodes / max_sources). */
int fwd_learn_node(struct pb_engine *e, const struct pb_node_info *n);
int fwd_learn_source(struct pb_engine *e, const struct pb_source_info *s);
void fwd_state_save(struct pb_engine *e, bool force);
void fwd_state_init(struct pb_engine *e);
void fwd_seed_custody(struct pb_engine *e, uint32_t node, uint64_t epoch, uint64_t seq);
void fwd_seeds_free(struct pb_engine *e);
void fwd_gaps_load(struct pb_engine *e);
void fwd_gaps_save(struct pb_engine *e, bool force);

/* fwd_replay.c */
void fwd_on_dlq(void *arg, const struct pb_dlq_result *res);
void fwd_on_cmd(struct pb_cmd *cmd, void *arg);
void fwd_replay_acked(struct pb_engine *e, int job, uint64_t row_id);
void fwd_replay_flush_deletes(struct pb_engine *e);
void fwd_replay_requeued(struct pb_engine *e, int job);
void fwd_replay_auto(struct pb_engine *e, struct fwd_peer *p);
int64_t fwd_replay_tick(struct pb_loop *loop, void *arg);
int64_t fwd_publish_tick(struct pb_loop *loop, void *arg);
void fwd_publish(struct pb_engine *e);

#endif
